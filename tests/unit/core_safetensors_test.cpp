#include <gtest/gtest.h>

#include <cstdio>
#include <fstream>
#include <map>

#include <nlohmann/json.hpp>
#include <torch/torch.h>

#include "core/error.h"
#include "io/safetensors.h"
#include "io/weights.h"

using namespace xsam;

namespace {

std::string tmp_path(const std::string& name) { return ::testing::TempDir() + "xsam_st_" + name; }

std::string read_all(const std::string& p) {
  std::ifstream in(p, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

void write_all(const std::string& p, const std::string& bytes) {
  std::ofstream out(p, std::ios::binary | std::ios::trunc);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

// A file with a hand-written header (and `data_bytes` zero bytes of payload).
std::string with_header(const std::string& name, const std::string& header, size_t data_bytes) {
  std::string bytes(8, '\0');
  uint64_t n = header.size();
  for (int i = 0; i < 8; ++i) bytes[i] = static_cast<char>((n >> (8 * i)) & 0xff);
  bytes += header;
  bytes += std::string(data_bytes, '\0');
  std::string p = tmp_path(name);
  write_all(p, bytes);
  return p;
}

// Expects an xsam::Failure of `status` whose message contains every needle.
template <class F>
void expect_error(F f, Status status, std::vector<std::string> needles) {
  try {
    f();
    ADD_FAILURE() << "no error";
  } catch (const Failure& e) {
    EXPECT_EQ(static_cast<int>(e.status()), static_cast<int>(status)) << e.what();
    for (const auto& n : needles) EXPECT_NE(std::string(e.what()).find(n), std::string::npos) << e.what();
  }
}

}  // namespace

TEST(Safetensors, RoundTripAllDtypes) {
  std::vector<std::pair<std::string, torch::Tensor>> ts = {
      {"f32", torch::randn({3, 4})},
      {"bf16", torch::randn({5}).to(torch::kBFloat16)},
      {"f16", torch::randn({2, 2}).to(torch::kFloat16)},
      {"i64", torch::arange(7, torch::kInt64)},
      {"i32", torch::arange(3, torch::kInt32)},
      {"u8", torch::tensor({1, 2, 255}, torch::kUInt8)},
      {"bool", torch::tensor({true, false})},
      {"empty", torch::zeros({0, 3})},
  };
  std::string p = tmp_path("roundtrip.safetensors");
  save_safetensors(p, ts, {{"note", "hello"}});
  SafetensorsFile f(p);
  EXPECT_EQ(f.header().metadata.at("note"), "hello");
  for (const auto& [name, t] : ts) {
    auto back = f.tensor(name);
    EXPECT_EQ(back.scalar_type(), t.scalar_type()) << name;
    EXPECT_TRUE(torch::equal(back, t)) << name;
  }
  // Zero-copy tensors keep the mapping alive after the file object is gone.
  torch::Tensor kept;
  {
    SafetensorsFile g(p);
    kept = g.tensor("f32");
  }
  EXPECT_TRUE(torch::equal(kept, ts[0].second));
}

TEST(Safetensors, MissingFile) {
  expect_error([] { SafetensorsFile f("/nonexistent/x.safetensors"); }, Status::Io, {"/nonexistent/x.safetensors"});
}

TEST(Safetensors, ZeroSizeAndTinyFiles) {
  std::string p = tmp_path("zero.safetensors");
  write_all(p, "");
  expect_error([&] { SafetensorsFile f(p); }, Status::Format, {p, "too small"});
  write_all(p, "abc");
  expect_error([&] { SafetensorsFile f(p); }, Status::Format, {p});
}

TEST(Safetensors, TruncatedFile) {
  std::string p = tmp_path("trunc.safetensors");
  save_safetensors(p, {{"a", torch::randn({100})}, {"b", torch::randn({100})}});
  std::string bytes = read_all(p);
  write_all(p, bytes.substr(0, bytes.size() - 10));
  expect_error([&] { SafetensorsFile f(p); }, Status::Format, {p, "'b'", "outside the data area"});
  write_all(p, bytes.substr(0, 20));  // cut inside the header
  expect_error([&] { SafetensorsFile f(p); }, Status::Format, {p, "exceeds the file size"});
}

TEST(Safetensors, LyingHeaderLength) {
  std::string p = tmp_path("lying.safetensors");
  std::string bytes(8, '\xff');
  bytes += "{}";
  write_all(p, bytes);
  expect_error([&] { SafetensorsFile f(p); }, Status::Format, {p, "implausible header length"});
}

TEST(Safetensors, HeaderNotJson) {
  auto p = with_header("notjson.safetensors", "{\"a\": [", 0);
  expect_error([&] { SafetensorsFile f(p); }, Status::Format, {p, "not valid JSON"});
  p = with_header("array.safetensors", "[1,2]", 0);
  expect_error([&] { SafetensorsFile f(p); }, Status::Format, {p, "JSON object"});
}

TEST(Safetensors, UnknownDtype) {
  auto p = with_header("dtype.safetensors", R"({"w":{"dtype":"F64","shape":[1],"data_offsets":[0,8]}})", 8);
  expect_error([&] { SafetensorsFile f(p); }, Status::Format, {p, "'w'", "unsupported dtype 'F64'"});
}

TEST(Safetensors, ByteLengthMismatch) {
  auto p = with_header("len.safetensors", R"({"w":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}})", 8);
  expect_error([&] { SafetensorsFile f(p); }, Status::Format, {p, "'w'", "byte length 8"});
}

TEST(Safetensors, OverlappingTensors) {
  auto p = with_header("overlap.safetensors",
                       R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}})",
                       12);
  expect_error([&] { SafetensorsFile f(p); }, Status::Format, {p, "overlap", "'a'", "'b'"});
}

TEST(Safetensors, BadShapesAndOffsets) {
  auto p = with_header("neg.safetensors", R"({"w":{"dtype":"F32","shape":[-1],"data_offsets":[0,4]}})", 4);
  expect_error([&] { SafetensorsFile f(p); }, Status::Format, {"'w'", "non-negative"});
  p = with_header("offs.safetensors", R"({"w":{"dtype":"F32","shape":[1],"data_offsets":[4]}})", 4);
  expect_error([&] { SafetensorsFile f(p); }, Status::Format, {"'w'", "data_offsets"});
  p = with_header("rev.safetensors", R"({"w":{"dtype":"F32","shape":[1],"data_offsets":[4,0]}})", 4);
  expect_error([&] { SafetensorsFile f(p); }, Status::Format, {"'w'", "end < begin"});
  p = with_header("huge.safetensors", R"({"w":{"dtype":"F32","shape":[4294967296,4294967296],"data_offsets":[0,4]}})", 4);
  expect_error([&] { SafetensorsFile f(p); }, Status::Format, {"'w'"});
}

TEST(Safetensors, MissingTensorIsNamed) {
  std::string p = tmp_path("named.safetensors");
  save_safetensors(p, {{"a", torch::randn({2})}});
  SafetensorsFile f(p);
  expect_error([&] { f.tensor("nope"); }, Status::Model, {p, "'nope'"});
}

TEST(WeightStore, ShardedIndex) {
  std::string dir = ::testing::TempDir() + "xsam_shards";
  std::system(("rm -rf " + dir + " && mkdir -p " + dir).c_str());
  auto a = torch::randn({3}), b = torch::randn({2, 2});
  save_safetensors(dir + "/model-00001-of-00002.safetensors", {{"a", a}});
  save_safetensors(dir + "/model-00002-of-00002.safetensors", {{"b", b}});
  nlohmann::json idx = {{"weight_map", {{"a", "model-00001-of-00002.safetensors"}, {"b", "model-00002-of-00002.safetensors"}}}};
  write_all(dir + "/model.safetensors.index.json", idx.dump());
  auto store = WeightStore::open_dir(dir);
  EXPECT_TRUE(torch::equal(store.get("a"), a));
  EXPECT_TRUE(torch::equal(store.get("b"), b));
  idx["weight_map"]["c"] = "model-00002-of-00002.safetensors";
  write_all(dir + "/model.safetensors.index.json", idx.dump());
  expect_error([&] { WeightStore::open_dir(dir); }, Status::Format, {"'c'", "not in the shard"});
  idx["weight_map"].erase("c");
  idx["weight_map"]["a"] = "../evil.safetensors";
  write_all(dir + "/model.safetensors.index.json", idx.dump());
  expect_error([&] { WeightStore::open_dir(dir); }, Status::Format, {"outside the directory"});
}

struct TinyNet : torch::nn::Module {
  TinyNet() {
    fc = register_module("fc", torch::nn::Linear(3, 2));
    scale = register_parameter("scale", torch::ones({1}));
  }
  torch::nn::Linear fc{nullptr};
  torch::Tensor scale;
};

TEST(WeightStore, StrictBindingReportsEverythingAtOnce) {
  std::string p = tmp_path("bind.safetensors");
  save_safetensors(p, {{"net.fc.weight", torch::randn({2, 4})},  // wrong shape
                       {"net.extra", torch::randn({1})},          // unexpected
                       {"net.unused.x", torch::randn({1})}});     // allowed unused
  auto store = WeightStore::open_file(p);
  TinyNet net;
  auto report = bind_module(net, store, "net.");
  EXPECT_EQ(report.missing.size(), 2u);  // fc.bias, scale
  EXPECT_EQ(report.mismatched.size(), 1u);
  expect_error([&] { check_bind_report(report, store, {"net.unused."}); }, Status::Model,
               {p, "net.fc.bias", "net.scale", "net.fc.weight: checkpoint [2,4] vs model [2,3]", "net.extra"});
}

TEST(WeightStore, BindConvertsDtypeAndAliases) {
  std::string p = tmp_path("bind2.safetensors");
  auto w = torch::randn({2, 3}).to(torch::kBFloat16);
  save_safetensors(p, {{"fc.weight", w}, {"fc.bias", torch::zeros({2}, torch::kFloat16)},
                       {"other.scale", torch::full({1}, 3.0)}});
  auto store = WeightStore::open_file(p);
  TinyNet net;
  auto report = bind_module(net, store, "", {{"scale", "other.scale"}});
  EXPECT_TRUE(report.missing.empty());
  check_bind_report(report, store, {});
  EXPECT_TRUE(torch::equal(net.fc->weight, w.to(torch::kFloat32)));
  EXPECT_EQ(net.scale.item<float>(), 3.0f);
}
