// y = x·Wᵀ + b for the models' linear layers, on whichever kernel suits the operands and the CPU path.
//
// Two situations matter for speed:
// - Few rows (decoding is one row at a time): the product is bound by how fast the weights stream from
//   memory. libtorch 1.13's bf16 product with one row (oneDNN) streamed the weights at 12.6 GB/s where our
//   GEMV (gemv.h) reaches 15–17 on the same loaded machine, its fp32 addmm at a quarter of the GEMV's rate
//   for 1–63 rows (a prompt's continuation after a cached prefix).
// - bf16 weights with fp32 math (the "mixed" runtime, for CPUs without native bf16 dot products, where
//   libtorch's bf16 GEMM is ~100x slower than its fp32 one): the weights stay bf16 in memory — half the
//   bytes of fp32 — and are widened on the fly: in registers by the GEMV for few rows, else panel by panel
//   into a reused fp32 scratch buffer that libtorch's fp32 GEMM then reads. Widening is exact, so the result
//   is the fp32 model's up to the order of the sums.
#pragma once
#include <cstdint>

#include <torch/types.h>

namespace xsam {

// Rows up to which the GEMV is used when weights and inputs share a dtype: fp32 (where it beat BLAS at every
// row count measured) and bf16 (where oneDNN catches up from a few rows on).
constexpr int64_t kFastLinearMaxRows = 63;
constexpr int64_t kFastLinearMaxRowsBf16 = 2;
// Rows up to which bf16 weights × fp32 inputs take the GEMV; above, widened panels + the fp32 GEMM.
constexpr int64_t kMixedGemvMaxRows = 63;

// x [..., K] (rows = x.numel() / K), w [N, K], optional bias [N]; all the same dtype. Returns [..., N].
torch::Tensor fast_linear(const torch::Tensor& x, const torch::Tensor& w, const torch::Tensor& bias = {});

// Whether fast_linear would take its own kernel for these operands (tests, the benchmark).
bool fast_linear_applies(const torch::Tensor& x, const torch::Tensor& w);

// The models' linear: fast_linear when x and w share a dtype; fp32 math over bf16 weights when x is fp32
// and w bf16 (bias, if any, of either dtype; the result is fp32).
torch::Tensor linear(const torch::Tensor& x, const torch::Tensor& w, const torch::Tensor& bias = {});

// Bytes of one widening panel (the scratch buffer each calling thread keeps for mixed GEMMs).
constexpr int64_t kWidenPanelBytes = int64_t{16} << 20;

}  // namespace xsam
