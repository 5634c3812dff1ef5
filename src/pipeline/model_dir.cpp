#include "pipeline/model_dir.h"

#include <dlfcn.h>
#include <sys/stat.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <system_error>

#include <nlohmann/json.hpp>
#include <torch/torch.h>

#include "core/cpu_path.h"
#include "core/config.h"
#include "core/error.h"
#include "io/random_weights.h"
#include "models/checkpoint_layout.h"
#include "pipeline/context.h"
#include "prompt/tasks.h"
#include "text/tokenizer.h"

namespace xsam {

namespace {

bool exists(const std::string& p) {
  struct stat st {};
  return ::stat(p.c_str(), &st) == 0;
}

void write_text(const std::string& path, const std::string& text) {
  std::string tmp = path + ".tmp";
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    if (!out) fail(Status::Io, tmp + ": cannot open for writing");
    out << text;
    if (!out) fail(Status::Io, tmp + ": write failed");
  }
  if (std::rename(tmp.c_str(), path.c_str()) != 0) fail(Status::Io, path + ": cannot rename from " + tmp);
}

// mkdir -p without a shell: a directory name is data, whatever quotes or `$(...)` it holds.
void create_directories(const std::string& dir) {
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec || !std::filesystem::is_directory(dir, ec))
    fail(Status::Io, dir + ": cannot create the output directory" + (ec ? ": " + ec.message() : std::string()));
}

void copy_file(const std::string& from, const std::string& to) {
  std::ifstream in(from, std::ios::binary);
  if (!in) fail(Status::Io, from + ": cannot open");
  std::string bytes((std::istreambuf_iterator<char>(in)), {});
  write_text(to, bytes);
}

std::string library_dir() {
  Dl_info info{};
  if (dladdr(reinterpret_cast<void*>(&find_tokenizer_source), &info) && info.dli_fname) {
    // Where the library really lies, a symbolic link to it resolved.
    char* real = ::realpath(info.dli_fname, nullptr);
    std::string p = real ? real : info.dli_fname;
    std::free(real);
    auto slash = p.rfind('/');
    if (slash != std::string::npos) return p.substr(0, slash);
  }
  return ".";
}

}  // namespace

std::string find_tokenizer_source(const std::string& explicit_dir) {
  std::vector<std::string> tried;
  auto ok = [&](const std::string& d) {
    tried.push_back(d);
    return exists(d + "/tokenizer.model");
  };
  if (!explicit_dir.empty()) {
    if (ok(explicit_dir)) return explicit_dir;
    fail(Status::Io, explicit_dir + ": no tokenizer.model in the tokenizer directory");
  }
  if (const char* e = std::getenv("XSAM_TOKENIZER_DIR"); e && *e && ok(e)) return e;
  // Relative to the library, as installed and as in the build tree (lib/xsam/tokenizer): no path of the
  // source tree is compiled in.
  const std::string lib = library_dir();
  for (const std::string& d : {lib + "/xsam/tokenizer", lib + "/../lib/xsam/tokenizer"})
    if (ok(d)) return d;
  std::string list;
  for (const auto& t : tried) list += "\n  " + t;
  fail(Status::Io, "no Phi-3 tokenizer files found (set --tokenizer or XSAM_TOKENIZER_DIR); tried:" + list);
}

void write_random_model(const std::string& out_dir, const std::string& size_preset_name, torch::Dtype dtype,
                        uint64_t seed, const std::string& tokenizer_dir) {
  ModelConfig config = size_preset(size_preset_name);
  std::string src = find_tokenizer_source(tokenizer_dir);
  // tokenizer.json may sit in the source directory or its parent (the test-data layout).
  std::string tokenizer_json;
  for (const std::string& cand : {src + "/tokenizer.json", src + "/../tokenizer.json"})
    if (exists(cand)) {
      tokenizer_json = cand;
      break;
    }
  config.tokenizer.mode = tokenizer_json.empty() ? TokenizerMode::Slow : TokenizerMode::Fast;
  create_directories(out_dir);

  TokenizerOptions topts;
  topts.mode = config.tokenizer.mode;
  Tokenizer tok = Tokenizer::from_directory(src, topts);
  if (tok.vocab_size() != config.llm.vocab_size)
    fail(Status::Model, src + ": tokenizer has " + std::to_string(tok.vocab_size()) + " tokens, the " + size_preset_name +
                            " preset expects " + std::to_string(config.llm.vocab_size));
  tok.save_model_files(out_dir);
  for (const char* f : {"tokenizer_config.json", "special_tokens_map.json"})
    if (exists(src + "/" + f)) copy_file(src + "/" + f, out_dir + "/" + f);
  if (!tokenizer_json.empty()) copy_file(tokenizer_json, out_dir + "/tokenizer.json");

  std::vector<NamedShape> tensors;
  for (const auto& t : checkpoint_layout(config)) tensors.push_back({t.name, t.shape});
  std::string sha = write_random_checkpoint(out_dir + "/model.safetensors", tensors, dtype, seed);
  write_text(out_dir + "/checksums.json", nlohmann::json{{"model.safetensors", sha}}.dump(2) + "\n");
  // config.json last: a directory without it is visibly incomplete.
  write_text(out_dir + "/config.json", model_config_to_json(config).dump(2) + "\n");
}

void convert_upstream_config(const std::string& upstream_path, const std::string& out_path) {
  ModelConfig c = load_model_config(upstream_path);
  write_text(out_path, model_config_to_json(c).dump(2) + "\n");
}

// The CPU's features and the kernel path in effect (core/cpu_path.h).
nlohmann::json cpu_info() {
  return {{"features", cpu_features()},
          {"supported_path", cpu_path_name(cpu_path_supported())},
          {"path", cpu_path_name(cpu_path_active())}};
}

nlohmann::json model_info(const LoadedModel& m) {
  using nlohmann::json;
  const auto& c = m.config;
  json parts = json::array();
  for (const auto& p : m.net->parts()) parts.push_back({{"name", p.name}, {"parameters", p.parameters}});
  json tasks = json::array();
  for (Task t : {Task::Chat, Task::Semantic, Task::Instance, Task::Panoptic, Task::Referring, Task::Reasoning, Task::Gcg,
                 Task::Interactive, Task::Vgd, Task::OpenVocab})
    tasks.push_back(task_name(t));
  json j = model_config_to_json(c);
  return {{"model_dir", m.dir},
          {"dtype", m.net->dtype() == torch::kBFloat16               ? "bf16"
                    : m.net->weight_dtype() == torch::kBFloat16 ? "mixed"
                                                                : "fp32"},
          {"math_dtype", m.net->dtype() == torch::kBFloat16 ? "bf16" : "fp32"},
          {"weight_dtype", m.net->weight_dtype() == torch::kBFloat16 ? "bf16" : "fp32"},
          {"memory", m.memory.describe()},
          {"device", m.net->device().str()},
          {"threads", torch::get_num_threads()},
          {"cpu", cpu_info()},
          {"parameters", m.net->parameter_count()},
          {"weight_bytes", m.weight_bytes},
          {"load_seconds", m.load_seconds},
          {"parts", parts},
          {"image_tokens", c.image_tokens()},
          {"tokenizer", {{"mode", to_string(c.tokenizer.mode)}, {"vocab_size", m.tokenizer().vocab_size()}}},
          {"preset", c.behaviour.preset},
          {"presets", {"aaai26", "main"}},
          {"tasks", tasks},
          {"config", j}};
}

}  // namespace xsam
