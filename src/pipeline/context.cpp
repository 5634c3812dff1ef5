#include "pipeline/context.h"

#include <sys/stat.h>
#include <unistd.h>

#include <cctype>
#include <chrono>
#include <fstream>
#include <set>

#include <nlohmann/json.hpp>
#include <torch/torch.h>

#include "core/cpu_path.h"
#include "core/error.h"
#include "io/sha256.h"
#include "io/weights.h"
#include "pipeline/memory_plan.h"
#include "text/tokenizer_json_check.h"

namespace xsam {

int default_thread_count() {
  // Physical cores: distinct (physical id, core id) pairs of /proc/cpuinfo.
  std::ifstream in("/proc/cpuinfo");
  std::set<std::pair<int, int>> cores;
  std::string line;
  int phys = 0, core = -1;
  while (std::getline(in, line)) {
    if (line.rfind("physical id", 0) == 0) phys = std::atoi(line.substr(line.find(':') + 1).c_str());
    if (line.rfind("core id", 0) == 0) {
      core = std::atoi(line.substr(line.find(':') + 1).c_str());
      cores.insert({phys, core});
    }
  }
  long logical = sysconf(_SC_NPROCESSORS_ONLN);
  int n = cores.empty() ? static_cast<int>(logical) : static_cast<int>(cores.size());
  return std::max(1, n);
}

void verify_model_checksums(const std::string& dir) {
  std::string path = dir + "/checksums.json";
  std::ifstream in(path);
  if (!in) fail(Status::Io, path + ": missing (needed to verify the weights)");
  nlohmann::json j;
  try {
    in >> j;
  } catch (const std::exception& e) {
    fail(Status::Format, path + ": invalid JSON: " + e.what());
  }
  if (!j.is_object() || j.empty()) fail(Status::Format, path + ": must be an object {file: sha256}");
  // Every weight file must be listed: a checksums.json that names none of them would verify nothing.
  const WeightStore weights = WeightStore::open_dir(dir);
  for (const auto& f : weights.files()) {
    const std::string name = f->path().substr(f->path().find_last_of('/') + 1);
    if (!j.contains(name)) fail(Status::Format, path + ": does not list the weight file '" + name + "'");
  }
  for (auto it = j.begin(); it != j.end(); ++it) {
    if (!it->is_string()) fail(Status::Format, path + ": entry '" + it.key() + "' must be a hex string");
    if (it.key().find('/') != std::string::npos) fail(Status::Format, path + ": entry '" + it.key() + "' is not a plain file name");
    // Hex digits are case-insensitive: sha256sum writes lower case, other tools upper case.
    std::string expected = it->get<std::string>();
    for (char& c : expected) c = char(std::tolower(static_cast<unsigned char>(c)));
    std::string actual = sha256_file(dir + "/" + it.key());
    if (actual != expected)
      fail(Status::Format, dir + "/" + it.key() + ": sha256 mismatch (corrupt weight file): expected " +
                               it->get<std::string>() + ", got " + actual);
  }
}

const char* Runtime::name() const { return math == torch::kBFloat16 ? "bf16" : bf16_weights ? "mixed" : "fp32"; }

Runtime resolve_runtime(const LoadOptions& options) {
  Runtime r;
  if (options.dtype_auto) {
    const bool native_bf16 = !options.device.is_cpu() || cpu_path_active() >= CpuPath::Avx512Bf16;
    r.math = native_bf16 ? torch::kBFloat16 : torch::kFloat32;
    r.bf16_weights = !native_bf16;
  } else {
    r.math = options.dtype;
    r.bf16_weights = options.bf16_weights && r.math == torch::kFloat32 && options.device.is_cpu();
  }
  return r;
}

std::shared_ptr<LoadedModel> load_model(const std::string& dir, const LoadOptions& options) {
  auto t0 = std::chrono::steady_clock::now();
  struct stat st {};
  if (::stat(dir.c_str(), &st) != 0 || !S_ISDIR(st.st_mode)) fail(Status::Io, dir + ": model directory not found");
  torch::set_num_threads(options.threads > 0 ? options.threads : default_thread_count());
  set_cpu_path(options.cpu, "params.cpu");
  const Runtime runtime = resolve_runtime(options);
  const torch::Dtype dtype = runtime.math;
  const bool bf16_weights = runtime.bf16_weights;
  auto m = std::make_shared<LoadedModel>();
  m->dir = dir;
  m->config = load_model_config(dir + "/config.json");
  if (options.preset) {
    // Behaviour presets change behaviour, not sizes: keep the file's sizes and tokenizer mode.
    ModelConfig c = m->config;
    apply_preset(c, *options.preset);
    m->config.behaviour = c.behaviour;
    m->config.class_head = c.class_head;
    m->config.sampler = c.sampler;
    m->config.preprocess.expand_to_square = c.preprocess.expand_to_square;
  }
  if (options.sliding_window_keys >= 0) m->config.llm.sliding_window_keys = options.sliding_window_keys;
  std::vector<std::string> skipped_layers;
  if (options.llm_layers > 0 && options.llm_layers < m->config.llm.num_layers) {
    for (int i = options.llm_layers; i < m->config.llm.num_layers; ++i)
      skipped_layers.push_back("llm.model.layers." + std::to_string(i) + ".");
    m->config.llm.num_layers = options.llm_layers;
  }
  if (options.verify_checksums) verify_model_checksums(dir);
  TokenizerOptions topts;
  topts.mode = m->config.tokenizer.mode;
  topts.plugin_path = options.tokenizer_plugin;
  // Golden sets keep the HF tokenizer files in tokenizer/; model directories keep them at the top.
  struct stat ts {};
  const bool nested = ::stat((dir + "/tokenizer.model").c_str(), &ts) != 0 && ::stat((dir + "/tokenizer/tokenizer.model").c_str(), &ts) == 0;
  m->tok = Tokenizer::from_directory(nested ? dir + "/tokenizer" : dir, topts);
  check_tokenizer_json(nested ? dir + "/tokenizer" : dir, m->tokenizer());  // the structure xsam implements, or refused
  if (m->tokenizer().vocab_size() > m->config.llm.vocab_size)
    fail(Status::Model, dir + ": tokenizer has " + std::to_string(m->tokenizer().vocab_size()) +
                            " tokens but the LLM vocabulary (config llm.vocab_size) has " +
                            std::to_string(m->config.llm.vocab_size));
  for (auto [name, id] : {std::pair<const char*, int64_t>{"<SEG>", m->config.tokens.seg},
                          {"<p>", m->config.tokens.p_start}, {"</p>", m->config.tokens.p_end}}) {
    auto found = m->tokenizer().find_token_id(name);
    if (!found || *found != id)
      fail(Status::Model, dir + ": tokenizer id of " + name + " does not match config tokens (" + std::to_string(id) + ")");
  }
  {
    WeightStore store = WeightStore::open_dir(dir);
    for (const auto& f : store.files()) {
      struct stat fs {};
      if (::stat(f->path().c_str(), &fs) == 0) m->weight_bytes += fs.st_size;
    }
    m->memory = plan_memory(store, dtype, bf16_weights, skipped_layers);
    require_fits(m->memory, dir, dtype, bf16_weights);
    m->net = std::make_unique<XSamModel>(m->config, store, dtype, options.device, skipped_layers, bf16_weights);
  }  // weights already in the runtime dtype keep their part of the mapping alive; the rest is released
  m->load_seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  return m;
}

Context::Context(std::shared_ptr<const LoadedModel> model, const ContextOptions& options)
    : model_(std::move(model)),
      options_(options),
      cache_(model_->config.llm,
             options.max_context_tokens > 0 ? options.max_context_tokens : model_->config.llm.max_position_embeddings,
             model_->net->dtype(), model_->net->device()) {}

const ImageFeatures* Context::find_image(const std::string& key) {
  for (auto it = images_.begin(); it != images_.end(); ++it)
    if (it->first == key) {
      images_.splice(images_.begin(), images_, it);  // most recent first
      return &images_.front().second;
    }
  return nullptr;
}

void Context::store_image(const std::string& key, ImageFeatures features) {
  if (options_.image_cache_entries <= 0) return;
  images_.emplace_front(key, std::move(features));
  while (static_cast<int>(images_.size()) > options_.image_cache_entries) images_.pop_back();
}

void Context::ensure_prefix(const std::string& key, const torch::Tensor& prefix_rows) {
  if (prefix_key_ == key && cache_.length() >= prefix_len_) {
    cache_.truncate(prefix_len_);
    return;
  }
  cache_.clear();
  prefix_key_.clear();
  Phi3ForwardOptions options;
  options.logits_last = 0;
  model_->net->llm().forward(prefix_rows, 0, &cache_, options);
  prefix_key_ = key;
  prefix_len_ = prefix_rows.size(1);
}

}  // namespace xsam
