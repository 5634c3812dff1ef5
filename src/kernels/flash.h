// Fused bf16 attention for CPUs with AVX512-BF16 (vdpbf16ps): per head and block of four query rows,
// scores = q·kᵀ, the model's pre-softmax operations, softmax, probabilities·v — without materialising
// the [rows, keys] score matrix in memory and without a GEMM call per chunk.
//
// Why: libtorch 1.13's oneDNN runs attention-shaped products (reduction over a head of 64–96) at about
// a third of its rate for the model's linear layers, and each chunk's scores take a round trip through
// memory between the product, the softmax and the second product. Here keys and values of a head are
// packed once into the pair-interleaved layout vdpbf16ps reads, stay in the cache, and each query block
// streams over them twice (scores, then the weighted sum).
//
// Rounding points are upstream's bf16 ones: the product q·kᵀ accumulates in fp32 and is rounded to bf16
// (as the GEMM's output), the pre-softmax operations round where the unfused ops do, the softmax is fp32,
// the probabilities are rounded to bf16, and probabilities·v accumulates in fp32 and is rounded once.
// Differences from the GEMM path: the order of the fp32 sums (and the exponential, kernels/simd.h).
// Only bf16 tensors on CPUs with AVX512-BF16 take it; callers keep their GEMM path otherwise.
#pragma once
#include <cstdint>

#include <torch/types.h>

namespace xsam {

// bf16 CPU tensor and a CPU with AVX512-BF16.
bool flash_attention_applies(const torch::Tensor& q);

// SigLIP / HF eager: q, k, v [B, N, hd] (contiguous); scores = R(R(q·kᵀ)·scale); returns [B, N, hd].
torch::Tensor flash_plain_attention(const torch::Tensor& q, const torch::Tensor& k, const torch::Tensor& v, double scale);

// SAM (docs/design/upstream-facts.md#sam-encoder): q_scaled = R(q·scale) and the unscaled q, k, v: [B, M, hd] with M = Qh·Qw queries of a
// grid (query m at row m / Qw, column m % Qw) and N = Kh·Kw keys; rel_h_table [Qh, Kh, hd],
// rel_w_table [Qw, Kw, hd] (relative_positions()). v_ij = R(R(s_ij + rel_h) + rel_w) as
// sam_attention_softmax_ (kernels/softmax.h). Returns [B, M, hd].
torch::Tensor flash_sam_attention(const torch::Tensor& q_scaled, const torch::Tensor& q, const torch::Tensor& k,
                                  const torch::Tensor& v, const torch::Tensor& rel_h_table,
                                  const torch::Tensor& rel_w_table, int64_t query_columns);

// Phi-3 (phi3_attention.h): q [H, T, d] (contiguous), keys/values [KV, K, d] (any row stride, unit stride in
// d); query t at position q_pos0 + t, key j at k_pos0 + j; scores R(q·kᵀ) ÷ scale_div in fp32 with the
// causal / sliding-window mask. Returns [H, T, d].
torch::Tensor flash_causal_attention(const torch::Tensor& q, const torch::Tensor& keys, const torch::Tensor& values,
                                     int64_t q_pos0, int64_t k_pos0, int64_t window_keys, double scale_div);

}  // namespace xsam
