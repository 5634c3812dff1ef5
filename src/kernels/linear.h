// y = x·Wᵀ for the few-row case that decoding is made of.
//
// Why: one decoding step multiplies a single row by every LLM weight, so it is bound by how fast the
// weights stream from memory. libtorch 1.13's bf16 product with one row (oneDNN) streamed the weights at
// 12.6 GB/s where this kernel reaches 15–17 (development machine, loaded), its fp32 addmm at a quarter of
// this kernel's rate for 1–63 rows (a prompt's continuation after a cached prefix). For those row counts
// and a contiguous [N, K] weight, this kernel reads each weight row once, multiplies it with every input
// row with fp32 accumulation (vdpbf16ps for bf16 where the CPU has it) and rounds once to the output
// dtype, as the oneDNN bf16 kernel does; each output's sum runs in the same order whatever the number of
// rows. Other inputs (prefills), dtypes, devices and CPUs without AVX-512 go to at::linear.
#pragma once
#include <cstdint>

#include <torch/types.h>

namespace xsam {

// Rows up to which this kernel is used: fp32 (where it beat BLAS at every row count measured) and bf16
// (where oneDNN catches up from a few rows on).
constexpr int64_t kFastLinearMaxRows = 63;
constexpr int64_t kFastLinearMaxRowsBf16 = 2;

// x [..., K] (rows = x.numel() / K), w [N, K], optional bias [N]; all the same dtype. Returns [..., N].
torch::Tensor fast_linear(const torch::Tensor& x, const torch::Tensor& w, const torch::Tensor& bias = {});

// Whether fast_linear would take its own kernel for these operands (tests, the benchmark).
bool fast_linear_applies(const torch::Tensor& x, const torch::Tensor& w);

}  // namespace xsam
