// Attention softmax with the operations that precede it fused in, one pass per row over data that stays
// in the cache (the attention code calls it on chunks of queries).
//
// Why: upstream takes each softmax in fp32 and casts the probabilities back to the runtime dtype. As
// separate ATen ops that is a widening copy, the softmax and a narrowing copy (plus, in SAM, two
// broadcast adds of the relative-position terms, in Phi-3 a scale and a mask), each a full pass over
// score tensors of up to 16 heads × 4096² elements. Here each row is widened once into an fp32 scratch
// row, the pre-ops applied with upstream's rounding points, the softmax taken in fp32 and the row written
// back rounded to the scores' dtype, in place.
//
// Rounding: identical to the unfused ops except the exponential, an AVX-512 polynomial within ~2 ulp
// of ATen's (Sleef) expf, and the order of the row sum; rows end up within ~1e-7 of the unfused result.
// CPUs without AVX-512 (or other dtypes/devices) get the unfused ATen ops.
#pragma once
#include <cstdint>

#include <torch/types.h>

namespace xsam {

// Whether the fused kernels run on this CPU (otherwise the callers' ATen paths run).
bool fast_softmax_available();

// Plain (SigLIP, HF eager): scores (bf16 or fp32, contiguous, modified in place and returned) →
// softmax_fp32 over the last dim, rounded to the dtype.
torch::Tensor attention_softmax_(torch::Tensor& scores);

// SAM (docs/design/upstream-facts.md#sam-encoder), with the decomposed relative-position terms computed here too: scores [B, Q, Kh·Kw]
// (bf16 or fp32, contiguous, modified in place and returned) of the queries of grid rows
// [first_row, first_row + Q / Qw) (Qw query columns, query i at row first_row + i / Qw, column i % Qw);
// q [B, Q, hd] the UNSCALED queries; rel_h_table [rows, Kh, hd], rel_w_table [Qw, Kw, hd]
// (relative_positions() of the tables), all in the scores' dtype. Per query and key (i, j):
//   rel_h[i] = R(q · rel_h_table[row, i]), rel_w[j] = R(q · rel_w_table[col, j])   (as the einsums' GEMMs)
//   v = R(R(s + rel_h[i]) + rel_w[j])                                           (two in-place adds)
//   p = R(softmax_fp32(v)), R = rounding to the dtype.
torch::Tensor sam_attention_softmax_(torch::Tensor& scores, const torch::Tensor& q, const torch::Tensor& rel_h_table,
                                     const torch::Tensor& rel_w_table, int64_t first_row, int64_t query_columns);

// Mask2Former masked cross-attention: scores [N, Q, K] (bf16 or fp32, contiguous, modified in place and
// returned), blocked [N, Q, K] bool (contiguous): v = -inf where blocked, else float(s) (what the additive
// −inf mask of baddbmm gives); p = R(softmax_fp32(v)). Rows must not be entirely blocked.
torch::Tensor masked_attention_softmax_(torch::Tensor& scores, const torch::Tensor& blocked);

// Phi-3 (HF eager + the causal / sliding-window mask): scores [G, groups·rows, K] (bf16 or fp32,
// contiguous, modified in place and returned) of query rows at absolute positions q_pos0 + (r % rows)
// against keys at positions k_pos0 + j:
//   v = float(s) / scale_div, or -inf when key > query or (window > 0 and query - key >= window)
//   p = softmax_fp32(v) rounded to the dtype.
torch::Tensor causal_attention_softmax_(torch::Tensor& scores, int64_t rows, int64_t q_pos0, int64_t k_pos0,
                                       int64_t window, double scale_div);

}  // namespace xsam
