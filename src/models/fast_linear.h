// y = x·Wᵀ for the few-row case that decoding is made of.
//
// Why: one decoding step multiplies a single row by every LLM weight, so it is bound by how fast the
// weights stream from memory. libtorch 1.13's bf16 [1, K] × [K, N] product (oneDNN) streamed them at about
// half the rate this kernel does on the development machine (7.5 vs 13.8 GB/s, both loaded), and its fp32
// addmm with one row at a quarter. For a single row (a decoding step) and a contiguous [N, K] weight,
// this kernel reads each weight row once, multiplies it with fp32 accumulation and rounds once to the
// output dtype (as the oneDNN bf16 kernel does). Prompt rows, other dtypes, non-CPU tensors and CPUs
// without AVX-512 go to at::linear, so every prompt takes the same path whatever its length.
#pragma once
#include <cstdint>

#include <torch/types.h>

namespace xsam {

constexpr int64_t kFastLinearMaxRows = 1;

// x [..., K] (rows = x.numel() / K), w [N, K], optional bias [N]; all the same dtype. Returns [..., N].
torch::Tensor fast_linear(const torch::Tensor& x, const torch::Tensor& w, const torch::Tensor& bias = {});

// Whether fast_linear would take its own kernel for these operands (tests, the benchmark).
bool fast_linear_applies(const torch::Tensor& x, const torch::Tensor& w);

}  // namespace xsam
