// A loaded model (config + tokenizer + modules; immutable, shared by contexts) and a context (one per
// thread: the LLM KV cache and the per-image cache, docs/design/decisions.md#per-image-cache).
#pragma once
#include <cstdint>
#include <list>
#include <memory>
#include <optional>
#include <string>

#include <torch/types.h>

#include "core/config.h"
#include "image/decode.h"
#include "models/phi3_kv_cache.h"
#include "models/xsam_model.h"
#include "pipeline/memory_plan.h"
#include "text/tokenizer.h"

namespace xsam {

struct LoadOptions {
  torch::Dtype dtype = torch::kFloat32;  // the math dtype
  // With fp32 math: keep the bulk weights bf16 in memory as the file stores them (the mixed runtime).
  bool bf16_weights = false;
  // The runtime dtype follows the CPU: bf16 where the kernel path has native bf16 dot products (avx512bf16,
  // or CUDA), else the mixed runtime (libtorch's bf16 GEMMs there are ~100x slower than fp32, and fp32
  // weights need twice the memory); `dtype` and `bf16_weights` are then ignored.
  bool dtype_auto = false;
  std::string cpu;                    // kernel path cap ("", "auto", "generic", "avx2", "avx512", "avx512bf16")
  torch::Device device = torch::kCPU;
  int threads = 0;                    // <= 0: physical cores
  bool verify_checksums = false;      // sha256 of weight files vs checksums.json (docs/design/decisions.md#corrupt-weights)
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
  MemoryPlan memory;          // the memory the load planned for (checked against MemAvailable first)
  double load_seconds = 0;
};

// What a load runs in: the math dtype, and whether the bulk weights stay bf16 (the mixed runtime).
struct Runtime {
  torch::Dtype math = torch::kFloat32;
  bool bf16_weights = false;
  const char* name() const;  // "bf16" | "fp32" | "mixed"
};
// `options`' dtype request resolved for the active CPU path (AUTO: bf16 with native bf16 dot products or
// on CUDA, else mixed).
Runtime resolve_runtime(const LoadOptions& options);

std::shared_ptr<LoadedModel> load_model(const std::string& dir, const LoadOptions& options);

// Checks every weight file against checksums.json; throws Status::Format naming the first mismatch.
void verify_model_checksums(const std::string& dir);

// Physical cores (falls back to logical ones); the default thread count.
int default_thread_count();

struct ContextOptions {
  int64_t max_context_tokens = 0;  // <= 0: llm.max_position_embeddings
  int image_cache_entries = 1;     // encoder outputs kept for this many images
  int64_t max_image_pixels = kDefaultMaxPixels;
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

  // Afterwards the KV cache holds exactly the prefix named `key` (the image and the prompt before it):
  // truncated back to it when it is already there, else prefilled from `prefix_rows` ([1, P, H]).
  // Cached and uncached calls prefill in the same segments (docs/design/decisions.md#per-image-cache).
  void ensure_prefix(const std::string& key, const torch::Tensor& prefix_rows);

 private:
  std::shared_ptr<const LoadedModel> model_;
  ContextOptions options_;
  Phi3KvCache cache_;
  // The KV cache holds a valid prefix when its key equals prefix_key_ (then its length is prefix_len_).
  std::string prefix_key_;
  int64_t prefix_len_ = 0;
  std::list<std::pair<std::string, ImageFeatures>> images_;  // most recent first
};

}  // namespace xsam
