// This machine's limits, measured with the kernels the model calls on the path it takes: the matmul rate
// of GEMMs shaped like the model's in the math dtype (at::matmul of [M, K] × [K, N]; never a dtype the run
// does not use — libtorch's bf16 GEMM without AVX-512 would take hours at full size), and the memory
// bandwidth of the decoding GEMV (kernels/linear.h) over weights in the weight dtype, far larger than the
// last-level cache. `xsam bench` divides the stages' FLOP and byte counts by these.
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
  torch::Dtype math_dtype = torch::kFloat32;    // of the GEMMs measured
  torch::Dtype weight_dtype = torch::kFloat32;  // of the GEMV's weights
  std::vector<GemmRate> gemms;
  double matmul_gflops = 0;       // best over the shapes
  double gemv_gbs = 0;            // weight bytes the decoding GEMV reads per second
  double read_gbs = 0;            // a plain reduction over the same bytes (what the memory gives at all)
  double seconds = 0;             // time spent measuring
  double bandwidth_gbs() const;   // the better of the two
};

// GEMM shapes of the model's heaviest layers (config sizes; `llm_rows` = rows of a typical prefill).
std::vector<GemmRate> model_gemm_shapes(const ModelConfig& config, int64_t llm_rows);

// Measures every shape in `math_dtype` (best of `repeats`), the GEMV over `gemv_bytes` of weights in
// `weight_dtype` with one input row in `math_dtype`, and a plain read. Runs on the current torch thread
// setting and CPU path.
MachineLimits measure_limits(const ModelConfig& config, int64_t llm_rows, torch::Dtype math_dtype,
                             torch::Dtype weight_dtype, int repeats = 3, int64_t gemv_bytes = int64_t(512) << 20);

// The larger of each field (limits measured before and after the pipeline runs).
MachineLimits best_of(const MachineLimits& a, const MachineLimits& b);

}  // namespace xsam::bench
