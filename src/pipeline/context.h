// A loaded model (config + tokenizer + modules; immutable, shared by contexts) and a context (one per
// thread: the LLM KV cache and the per-image cache, DECISIONS A10).
#pragma once
#include <cstdint>
#include <list>
#include <memory>
#include <optional>
#include <string>

#include <torch/types.h>

#include "core/config.h"
#include "models/phi3_kv_cache.h"
#include "models/xsam_model.h"
#include "text/tokenizer.h"

namespace xsam {

struct LoadOptions {
  torch::Dtype dtype = torch::kFloat32;
  // The runtime dtype follows the CPU: bf16 where the kernel path has AVX-512 (oneDNN's bf16 GEMMs), fp32
  // below (libtorch's bf16 GEMMs there are ~100x slower than fp32); `dtype` is then ignored.
  bool dtype_auto = false;
  std::string cpu;                    // kernel path cap ("", "auto", "generic", "avx2", "avx512", "avx512bf16")
  torch::Device device = torch::kCPU;
  int threads = 0;                    // <= 0: physical cores
  bool verify_checksums = false;      // sha256 of weight files vs checksums.json (DECISIONS B7)
  std::string tokenizer_plugin;       // empty: beside libxsam / $XSAM_TOKENIZER_PLUGIN
  std::optional<std::string> preset;  // behaviour override ("aaai26" / "main")
  int sliding_window_keys = -1;       // >= 0 overrides config llm.sliding_window_keys
  // > 0: build only the first llm_layers decoder layers of the LLM (the benchmark's way to time an fp32
  // model whose weights do not fit in memory; the answers are meaningless). 0: all.
  int llm_layers = 0;
};

struct LoadedModel {
  std::string dir;
  ModelConfig config;
  std::optional<Tokenizer> tok;  // always set once loaded
  std::unique_ptr<XSamModel> net;
  const Tokenizer& tokenizer() const { return *tok; }
  int64_t weight_bytes = 0;   // bytes of the weight files
  double load_seconds = 0;
};

std::shared_ptr<LoadedModel> load_model(const std::string& dir, const LoadOptions& options);

// Checks every weight file against checksums.json; throws Status::Format naming the first mismatch.
void verify_model_checksums(const std::string& dir);

// Physical cores (falls back to logical ones); the default thread count.
int default_thread_count();

struct ContextOptions {
  int64_t max_context_tokens = 0;  // <= 0: llm.max_position_embeddings
  int image_cache_entries = 1;     // encoder outputs kept for this many images
  int64_t max_image_pixels = 178956970;
};

class Context {
 public:
  Context(std::shared_ptr<const LoadedModel> model, const ContextOptions& options);
  const LoadedModel& model() const { return *model_; }
  const ContextOptions& options() const { return options_; }
  Phi3KvCache& kv_cache() { return cache_; }

  // Per-image cache: encoder features by image key.
  const ImageFeatures* find_image(const std::string& key);
  void store_image(const std::string& key, ImageFeatures features);

  // The KV cache holds a valid prefix when its key equals `prefix_key_` (then its length is prefix_len_).
  std::string prefix_key_;
  int64_t prefix_len_ = 0;

 private:
  std::shared_ptr<const LoadedModel> model_;
  ContextOptions options_;
  Phi3KvCache cache_;
  std::list<std::pair<std::string, ImageFeatures>> images_;  // most recent first
};

}  // namespace xsam
