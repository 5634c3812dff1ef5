// This machine's limits, measured with the same libtorch kernels the model calls: the matmul rate of
// GEMMs shaped like the model's (at::matmul of [M, K] × [K, N]) and the memory bandwidth of a GEMV over
// matrices far larger than the last-level cache (what each decoding step is). `xsam bench` divides the
// stages' FLOP and byte counts by these.
#pragma once
#include <string>
#include <vector>

#include <torch/types.h>

#include "core/config.h"

namespace xsam::bench {

struct GemmRate {
  std::string name;  // e.g. "llm.gate_up 1792x3072x16384"
  int64_t m = 0, k = 0, n = 0;
  double gflops = 0;  // best of the repetitions
};

struct MachineLimits {
  std::vector<GemmRate> bf16, fp32;
  double matmul_bf16_gflops = 0;  // best over the shapes
  double matmul_fp32_gflops = 0;
  double gemv_bf16_gbs = 0;       // bytes of the matrices read per second
  double gemv_fp32_gbs = 0;
  double read_gbs = 0;            // a plain reduction over the same bytes (what the memory gives at all)
  double seconds = 0;             // time spent measuring
  double bandwidth_gbs() const;   // the best of the three
  double matmul_gflops(torch::Dtype dtype) const;
};

// GEMM shapes of the model's heaviest layers (config sizes; `llm_rows` = rows of a typical prefill).
std::vector<GemmRate> model_gemm_shapes(const ModelConfig& config, int64_t llm_rows);

// Measures every shape in bf16 and fp32 (best of `repeats`) and the GEMV bandwidth over
// `gemv_bytes` of matrices per dtype. Runs on the current torch thread setting.
MachineLimits measure_limits(const ModelConfig& config, int64_t llm_rows, int repeats = 3,
                             int64_t gemv_bytes = int64_t(512) << 20);

// The larger of each field (limits measured before and after the pipeline runs).
MachineLimits best_of(const MachineLimits& a, const MachineLimits& b);

}  // namespace xsam::bench
