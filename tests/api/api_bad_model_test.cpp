// Bad-input matrix, model directories (docs/reliability.md §2): a copy of the tiny random model damaged
// one way per test — missing files, corrupt or lying safetensors headers, tensors of the wrong dtype or
// shape, configs with missing or absurd values, a broken tokenizer — and bad load parameters. Each must
// fail with its documented status and a message naming the file and the field/tensor at fault; never load.
#include <sys/stat.h>
#include <unistd.h>

#include <nlohmann/json.hpp>

#include "api_support.h"

using namespace api_test;
using nlohmann::json;

namespace {

// Loads `dir` and expects failure; frees anything that was (wrongly) returned.
xsam_status load_fails(const std::string& dir, bool verify = false) {
  xsam_model* m = nullptr;
  xsam_status s = load(dir, &m, verify);
  EXPECT_EQ(m, nullptr) << "a failed load must not hand out a model";
  if (s == XSAM_OK) xsam_model_free(m);
  return s;
}

json read_json(const std::string& path) { return json::parse(read_file(path)); }
void write_json(const std::string& path, const json& j) { write_file(path, j.dump(2)); }

// Edits config.json of a fresh copy of the tiny model.
template <class F>
std::string with_config(const std::string& tag, F edit) {
  std::string d = copy_model(tag);
  json c = read_json(d + "/config.json");
  edit(c);
  write_json(d + "/config.json", c);
  return d;
}

// Edits the safetensors header (JSON) of a fresh copy; the data area is kept byte for byte.
template <class F>
std::string with_header(const std::string& tag, F edit) {
  std::string d = copy_model(tag);
  Safetensors st = read_safetensors(d + "/model.safetensors");
  json h = json::parse(st.header);
  edit(h);
  write_safetensors(d + "/model.safetensors", h.dump(), st.data);
  return d;
}

// A non-square 2-D float tensor of the checkpoint whose name starts with `prefix`, for the dtype/shape tests.
std::string some_matrix(const json& h, const std::string& prefix = "") {
  for (auto it = h.begin(); it != h.end(); ++it)
    if (it.key() != "__metadata__" && it.key().rfind(prefix, 0) == 0 && (*it)["shape"].size() == 2 &&
        (*it)["shape"][0] != (*it)["shape"][1] && (*it)["dtype"] == "F32")
      return it.key();
  return "";
}

}  // namespace

TEST(BadModel, TheUndamagedCopyLoads) {
  // Control: every failure below comes from its one damage.
  xsam_model* m = nullptr;
  ASSERT_EQ(load(copy_model("control"), &m, /*verify=*/true), XSAM_OK) << xsam_last_error();
  xsam_model_free(m);
}

TEST(BadModel, MissingDirectoryIsIo) {
  XSAM_EXPECT_FAIL(load_fails("/nonexistent/model"), XSAM_ERR_IO, "/nonexistent/model", "not found");
}

TEST(BadModel, MissingConfigIsIo) {
  std::string d = copy_model("noconfig");
  remove_file(d + "/config.json");
  XSAM_EXPECT_FAIL(load_fails(d), XSAM_ERR_IO, "config.json");
}

TEST(BadModel, ConfigNotJsonIsFormat) {
  std::string d = copy_model("badjson");
  write_file(d + "/config.json", "{\"format\": \"xsam-model\", ");
  XSAM_EXPECT_FAIL(load_fails(d), XSAM_ERR_FORMAT, "config.json", "invalid JSON");
}

TEST(BadModel, ConfigThatIsADeviceIsIoNotAnEndlessRead) {
  std::string d = copy_model("devconfig");
  remove_file(d + "/config.json");
  ASSERT_EQ(::symlink("/dev/zero", (d + "/config.json").c_str()), 0);
  XSAM_EXPECT_FAIL(load_fails(d), XSAM_ERR_IO, "config.json", "not a regular file");
}

TEST(BadModel, ConfigMissingFieldIsFormatNamingIt) {
  std::string d = with_config("nofield", [](json& c) { c["llm"].erase("hidden_size"); });
  XSAM_EXPECT_FAIL(load_fails(d), XSAM_ERR_FORMAT, "config.json", "llm.hidden_size", "missing");
}

TEST(BadModel, ConfigWrongTypeIsFormat) {
  std::string d = with_config("wrongtype", [](json& c) { c["sam"]["num_layers"] = "four"; });
  XSAM_EXPECT_FAIL(load_fails(d), XSAM_ERR_FORMAT, "sam.num_layers", "integer");
}

TEST(BadModel, ConfigZeroOrNegativeSizeIsFormat) {
  std::string d = with_config("zero", [](json& c) { c["llm"]["num_heads"] = 0; });
  XSAM_EXPECT_FAIL(load_fails(d), XSAM_ERR_FORMAT, "llm.num_heads", "got 0");
  d = with_config("negative", [](json& c) { c["mask2former"]["num_queries"] = -8; });
  XSAM_EXPECT_FAIL(load_fails(d), XSAM_ERR_FORMAT, "mask2former.num_queries", "got -8");
}

TEST(BadModel, ConfigAbsurdlyLargeSizeIsFormat) {
  std::string d = with_config("huge", [](json& c) { c["siglip"]["image_size"] = 1000000000; });
  XSAM_EXPECT_FAIL(load_fails(d), XSAM_ERR_FORMAT, "siglip.image_size", "1000000000");
}

TEST(BadModel, ConfigHugeGridIsFormatNotAnOverflow) {
  // Each value is within range, but the patch grid (2^20 / 1)² would overflow the token count.
  std::string d = with_config("grid", [](json& c) {
    c["siglip"]["image_size"] = 1048576;
    c["siglip"]["patch_size"] = 1;
    c["preprocess"]["siglip_size"] = 1048576;
  });
  XSAM_EXPECT_FAIL(load_fails(d), XSAM_ERR_FORMAT, "config.json", "siglip");
}

TEST(BadModel, ConfigInconsistentSizesIsFormat) {
  std::string d = with_config("indivisible", [](json& c) { c["llm"]["num_heads"] = 5; });  // 64 % 5 != 0
  XSAM_EXPECT_FAIL(load_fails(d), XSAM_ERR_FORMAT, "llm.hidden_size must be divisible by llm.num_heads");
}

TEST(BadModel, ConfigAbsurdFloatIsFormat) {
  std::string d = with_config("ratio", [](json& c) { c["seg_projector"]["downsample_ratio"] = 1e-300; });
  XSAM_EXPECT_FAIL(load_fails(d), XSAM_ERR_FORMAT, "seg_projector.downsample_ratio");
  d = with_config("mean", [](json& c) { c["preprocess"]["sam_mean"] = {1e300, 0.5, 0.5}; });
  XSAM_EXPECT_FAIL(load_fails(d), XSAM_ERR_FORMAT, "preprocess.sam_mean");
}

TEST(BadModel, ConfigUnknownFormatVersionIsUnsupported) {
  std::string d = with_config("version", [](json& c) { c["format_version"] = 2; });
  XSAM_EXPECT_FAIL(load_fails(d), XSAM_ERR_UNSUPPORTED, "format_version 2");
}

TEST(BadModel, ConfigValidButNotTheWeightsIsModelNamingTheTensor) {
  std::string d = with_config("mismatch", [](json& c) { c["llm"]["intermediate_size"] = 256; });
  XSAM_EXPECT_FAIL(load_fails(d), XSAM_ERR_MODEL, "model.safetensors", "shape mismatch", "mlp");
}

TEST(BadModel, MissingWeightsIsIo) {
  std::string d = copy_model("noweights");
  remove_file(d + "/model.safetensors");
  XSAM_EXPECT_FAIL(load_fails(d), XSAM_ERR_IO, "no model.safetensors");
}

TEST(BadModel, ZeroSizeWeightsIsFormat) {
  std::string d = copy_model("zeroweights");
  write_file(d + "/model.safetensors", "");
  XSAM_EXPECT_FAIL(load_fails(d), XSAM_ERR_FORMAT, "model.safetensors", "too small");
}

TEST(BadModel, TruncatedWeightsIsFormat) {
  std::string d = copy_model("truncated");
  std::string bytes = read_file(d + "/model.safetensors");
  write_file(d + "/model.safetensors", bytes.substr(0, bytes.size() / 2));
  XSAM_EXPECT_FAIL(load_fails(d), XSAM_ERR_FORMAT, "model.safetensors", "outside the data area");
}

TEST(BadModel, TruncatedInsideTheHeaderIsFormat) {
  std::string d = copy_model("truncheader");
  std::string bytes = read_file(d + "/model.safetensors");
  write_file(d + "/model.safetensors", bytes.substr(0, 100));
  XSAM_EXPECT_FAIL(load_fails(d), XSAM_ERR_FORMAT, "model.safetensors", "truncated");
}

TEST(BadModel, LyingHeaderLengthIsFormat) {
  std::string d = copy_model("lyinglen");
  std::string bytes = read_file(d + "/model.safetensors");
  bytes[6] = '\x7f';  // header length ~ 2^54
  write_file(d + "/model.safetensors", bytes);
  XSAM_EXPECT_FAIL(load_fails(d), XSAM_ERR_FORMAT, "model.safetensors", "implausible header length");
}

TEST(BadModel, HeaderNotJsonIsFormat) {
  std::string d = copy_model("headerjunk");
  std::string bytes = read_file(d + "/model.safetensors");
  bytes[8] = '[';
  bytes[9] = '!';
  write_file(d + "/model.safetensors", bytes);
  XSAM_EXPECT_FAIL(load_fails(d), XSAM_ERR_FORMAT, "model.safetensors", "not valid JSON");
}

TEST(BadModel, OffsetsBeyondTheFileAreFormat) {
  std::string name;
  std::string d = with_header("beyond", [&](json& h) {
    name = some_matrix(h);
    uint64_t end = h[name]["data_offsets"][1];
    h[name]["data_offsets"] = {end + (1ull << 40), end + (1ull << 40) + (end - h[name]["data_offsets"][0].get<uint64_t>())};
  });
  XSAM_EXPECT_FAIL(load_fails(d), XSAM_ERR_FORMAT, name, "outside the data area");
}

TEST(BadModel, OverlappingTensorsAreFormat) {
  std::string a, b;
  std::string d = with_header("overlap", [&](json& h) {
    // Point the second tensor of equal byte length at the first one's bytes.
    std::vector<std::string> names;
    for (auto it = h.begin(); it != h.end(); ++it)
      if (it.key() != "__metadata__") names.push_back(it.key());
    for (size_t i = 0; i < names.size() && a.empty(); ++i)
      for (size_t j = i + 1; j < names.size(); ++j) {
        auto li = h[names[i]]["data_offsets"][1].get<uint64_t>() - h[names[i]]["data_offsets"][0].get<uint64_t>();
        auto lj = h[names[j]]["data_offsets"][1].get<uint64_t>() - h[names[j]]["data_offsets"][0].get<uint64_t>();
        if (li == lj && li > 0) {
          a = names[i];
          b = names[j];
          h[b]["data_offsets"] = h[a]["data_offsets"];
          break;
        }
      }
  });
  ASSERT_FALSE(a.empty());
  XSAM_EXPECT_FAIL(load_fails(d), XSAM_ERR_FORMAT, "model.safetensors", "overlap");
}

TEST(BadModel, ByteLengthNotMatchingTheShapeIsFormat) {
  std::string name;
  std::string d = with_header("bytelen", [&](json& h) {
    name = some_matrix(h);
    h[name]["shape"][0] = h[name]["shape"][0].get<int64_t>() + 1;
  });
  XSAM_EXPECT_FAIL(load_fails(d), XSAM_ERR_FORMAT, name, "does not match shape");
}

TEST(BadModel, UnknownDtypeIsFormat) {
  std::string name;
  std::string d = with_header("f64", [&](json& h) {
    name = some_matrix(h);
    h[name]["dtype"] = "F64";
  });
  XSAM_EXPECT_FAIL(load_fails(d), XSAM_ERR_FORMAT, name, "unsupported dtype 'F64'");
}

TEST(BadModel, IntegerDtypeForAFloatWeightIsModel) {
  // Same byte length (F32 → I32), so only the dtype is wrong: refusing it beats converting ints to floats.
  // Two tensors: one bound by bind_module, and bg_embeds.weight, which the model reads by itself.
  for (const std::string prefix : {"llm.", "bg_embeds"}) {
    std::string name;
    std::string d = with_header("i32", [&](json& h) {
      name = some_matrix(h, prefix);
      h[name]["dtype"] = "I32";
    });
    ASSERT_FALSE(name.empty()) << prefix;
    XSAM_EXPECT_FAIL(load_fails(d), XSAM_ERR_MODEL, name, "dtype I32");
  }
}

TEST(BadModel, TransposedShapeIsModelNamingTheTensor) {
  std::string name;
  std::string d = with_header("transposed", [&](json& h) {
    name = some_matrix(h);
    auto s = h[name]["shape"];
    h[name]["shape"] = {s[1], s[0]};
  });
  XSAM_EXPECT_FAIL(load_fails(d), XSAM_ERR_MODEL, name, "shape mismatch");
}

TEST(BadModel, MissingTensorIsModelNamingIt) {
  std::string name;
  std::string d = with_header("missingtensor", [&](json& h) {
    name = some_matrix(h);
    h.erase(name);
  });
  XSAM_EXPECT_FAIL(load_fails(d), XSAM_ERR_MODEL, name, "missing tensor");
}

TEST(BadModel, UnexpectedTensorIsModelNamingIt) {
  std::string d = with_header("extratensor", [&](json& h) {
    h["language_model.model.surprise.weight"] = {{"dtype", "U8"}, {"shape", {0}}, {"data_offsets", {0, 0}}};
  });
  XSAM_EXPECT_FAIL(load_fails(d), XSAM_ERR_MODEL, "language_model.model.surprise.weight", "unexpected tensor");
}

TEST(BadModel, ShardIndexPointingOutsideTheDirectoryIsFormat) {
  std::string d = copy_model("shards");
  remove_file(d + "/model.safetensors");
  write_json(d + "/model.safetensors.index.json", {{"weight_map", {{"x.weight", "../../etc/passwd"}}}});
  XSAM_EXPECT_FAIL(load_fails(d), XSAM_ERR_FORMAT, "model.safetensors.index.json", "outside the directory");
}

TEST(BadModel, BitFlipIsCaughtByVerifyChecksums) {
  // Payload bit flips are invisible to the header checks; verify_checksums finds them
  // (docs/design/decisions.md#corrupt-weights).
  std::string d = copy_model("bitflip");
  std::string bytes = read_file(d + "/model.safetensors");
  bytes[bytes.size() - 1000] ^= 0x10;
  write_file(d + "/model.safetensors", bytes);
  XSAM_EXPECT_FAIL(load_fails(d, /*verify=*/true), XSAM_ERR_FORMAT, "model.safetensors", "sha256 mismatch");
  // Without verification the (documented) fast path loads it: the header is intact.
  xsam_model* m = nullptr;
  EXPECT_EQ(load(d, &m, /*verify=*/false), XSAM_OK) << xsam_last_error();
  xsam_model_free(m);
}

TEST(BadModel, VerifyWithoutChecksumsFileIsIo) {
  std::string d = copy_model("nochecksums");
  remove_file(d + "/checksums.json");
  XSAM_EXPECT_FAIL(load_fails(d, /*verify=*/true), XSAM_ERR_IO, "checksums.json", "missing");
}

TEST(BadModel, MissingTokenizerModelIsIo) {
  std::string d = copy_model("notokenizer");
  remove_file(d + "/tokenizer.model");
  XSAM_EXPECT_FAIL(load_fails(d), XSAM_ERR_IO, "tokenizer.model");
}

TEST(BadModel, CorruptTokenizerModelIsFormat) {
  std::string d = copy_model("badtokenizer");
  write_file(d + "/tokenizer.model", std::string(4096, '\x07'));
  XSAM_EXPECT_FAIL(load_fails(d), XSAM_ERR_FORMAT, "tokenizer.model");
}

TEST(BadModel, TokenizerFilesThatAreDevicesOrFifosAreIo) {
  std::string d = copy_model("devtokenizer");
  remove_file(d + "/tokenizer.model");
  ASSERT_EQ(::symlink("/dev/zero", (d + "/tokenizer.model").c_str()), 0);
  XSAM_EXPECT_FAIL(load_fails(d), XSAM_ERR_IO, "tokenizer.model", "not a regular file");
  d = copy_model("fifotokens");
  remove_file(d + "/added_tokens.json");
  ASSERT_EQ(::mkfifo((d + "/added_tokens.json").c_str(), 0600), 0);
  XSAM_EXPECT_FAIL(load_fails(d), XSAM_ERR_IO, "added_tokens.json", "not a regular file");
}

TEST(BadModel, CorruptAddedTokensIsFormat) {
  std::string d = copy_model("badadded");
  write_file(d + "/added_tokens.json", "{\"<SEG>\": ");
  XSAM_EXPECT_FAIL(load_fails(d), XSAM_ERR_FORMAT, "added_tokens.json");
}

TEST(BadModel, ConfigTokenIdsNotTheTokenizersAreModel) {
  std::string d = with_config("tokenids", [](json& c) { c["tokens"]["seg"] = 5; });
  XSAM_EXPECT_FAIL(load_fails(d), XSAM_ERR_MODEL, "<SEG>", "config tokens");
}

TEST(BadModelParams, BadLoadParametersAreInvalidArgumentOrUnsupported) {
  const std::string d = tiny_model_dir();
  xsam_model* m = nullptr;
  xsam_model_params p = xsam_model_default_params();
  p.n_threads = -2;
  XSAM_EXPECT_FAIL(xsam_model_load(d.c_str(), &p, &m), XSAM_ERR_INVALID_ARGUMENT, "params.n_threads");
  p = xsam_model_default_params();
  p.dtype = static_cast<xsam_dtype>(9);
  XSAM_EXPECT_FAIL(xsam_model_load(d.c_str(), &p, &m), XSAM_ERR_INVALID_ARGUMENT, "params.dtype");
  p = xsam_model_default_params();
  p.device = static_cast<xsam_device>(7);
  XSAM_EXPECT_FAIL(xsam_model_load(d.c_str(), &p, &m), XSAM_ERR_INVALID_ARGUMENT, "params.device");
  p = xsam_model_default_params();
  p.preset = "nightly";
  XSAM_EXPECT_FAIL(xsam_model_load(d.c_str(), &p, &m), XSAM_ERR_INVALID_ARGUMENT, "preset", "nightly");
  p = xsam_model_default_params();
  p.sliding_window_keys = -5;
  XSAM_EXPECT_FAIL(xsam_model_load(d.c_str(), &p, &m), XSAM_ERR_INVALID_ARGUMENT, "sliding_window_keys");
  p = xsam_model_default_params();
  p.tokenizer_plugin = "/nonexistent/libxsam_tokenizer.so";
  XSAM_EXPECT_FAIL(xsam_model_load(d.c_str(), &p, &m), XSAM_ERR_IO, "/nonexistent/libxsam_tokenizer.so");
  EXPECT_EQ(m, nullptr);
}
