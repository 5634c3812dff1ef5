// The benchmark behind `xsam bench`: one run in one runtime dtype on this machine. A tool on top of the
// library's layers (linked statically into the CLI, as the tests are), not part of libxsam or its C API.
//
// It measures the machine's limits on the kernel path the run takes (bench/limits.h), loads the model, runs
// three calls on one image — a referring request (first call: preprocessing, every encoder, prefill, mask decoder,
// post-processing), a second referring request on the same image (per-image + prefix KV cache), a
// generating chat request (decode tokens/s) — measures the limits again, and reports every stage's time
// against its FLOP count (bench/flops.h) or, for decoding, against its bytes, as JSON
// (docs/performance.md describes every key).
#pragma once
#include <functional>
#include <string>

#include <nlohmann/json_fwd.hpp>
#include <torch/types.h>

namespace xsam {

struct BenchOptions {
  std::string dtype = "auto";  // "auto" | "bf16" | "fp32" | "mixed" (xsam_dtype's names)
  int threads = 0;           // <= 0: physical cores
  std::string image_path;    // empty: a synthetic 640×480 image
  int decode_tokens = 32;    // tokens the chat request generates
  // LLM decoder layers to build: -1 = all of them when the weights fit in available memory, otherwise as
  // many as fit, with the LLM's times extrapolated to all layers (reported as such); 0 = all; > 0 = that many.
  int llm_layers = -1;
  bool measure_limits = true;
  bool warm_page_cache = true;  // read the weight files once before timing the load (a warm-cache load)
  std::function<void(const std::string&)> log;  // progress lines (may be empty)
};

// Options from JSON: {"dtype": "auto"|"bf16"|"fp32"|"mixed", "threads", "image", "decode_tokens", "llm_layers",
// "limits", "warm_page_cache", "progress" (progress lines on stderr)}; unknown keys are an error naming the key.
BenchOptions bench_options_from_json(const nlohmann::json& j);

nlohmann::json run_benchmark(const std::string& model_dir, const BenchOptions& options);

}  // namespace xsam
