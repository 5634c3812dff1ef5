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
// Rows up to which bf16 weights × fp32 inputs take the GEMV; above, the weight is widened and libtorch's fp32
// GEMM runs. Measured crossovers at the LLM's shapes (2-core Zen 4): the AVX-512 GEMV (four weight rows per
// pass) beats widen + GEMM up to ~60 rows, the AVX2 one (one weight row per pass) up to ~8, the portable one
// only for a row or two.
constexpr int64_t kMixedGemvMaxRows = 63;
constexpr int64_t kMixedGemvMaxRowsAvx2 = 8;
constexpr int64_t kMixedGemvMaxRowsGeneric = 2;
// The limit of the active CPU path.
int64_t mixed_gemv_max_rows();

// x [..., K] (rows = x.numel() / K), w [N, K], optional bias [N]; all the same dtype. Returns [..., N].
torch::Tensor fast_linear(const torch::Tensor& x, const torch::Tensor& w, const torch::Tensor& bias = {});

// Whether fast_linear would take its own kernel for these operands (tests, the benchmark).
bool fast_linear_applies(const torch::Tensor& x, const torch::Tensor& w);

// The models' linear: fast_linear when x and w share a dtype; fp32 math over bf16 weights when x is fp32
// and w bf16 (bias, if any, of either dtype; the result is fp32).
torch::Tensor linear(const torch::Tensor& x, const torch::Tensor& w, const torch::Tensor& bias = {});

// bf16 weights × fp32 inputs through widening and libtorch's fp32 GEMM whatever the row count, in panels of
// at most `panel_bytes` of fp32 weight rows (what linear() does above mixed_gemv_max_rows(); tests use small
// panels). x [..., K] fp32, w [N, K] bf16, optional bias [N]; returns [..., N] fp32.
torch::Tensor widened_linear(const torch::Tensor& x, const torch::Tensor& w, const torch::Tensor& bias,
                             int64_t panel_bytes);

// Bytes of one widening panel (the scratch buffer each calling thread keeps for mixed GEMMs). Large enough for
// every weight of the model but lm_head in one panel: splitting a GEMM into panels repacks the input and
// copies the output per panel, measured 10–30 % slower with 16 MB panels at the LLM's prefill shapes.
constexpr int64_t kWidenPanelBytes = int64_t{256} << 20;

}  // namespace xsam
