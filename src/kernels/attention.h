// Fused pieces of Phi-3's attention for the CPU (see kernels/simd.h).
//
// rope_split_qkv: the fused qkv_proj output [T, (H + 2·KV)·d] → heads-first, contiguous q [H, T, d],
// k [KV, T, d] (both with RoPE applied) and v [KV, T, d], in one pass instead of the narrow / transpose /
// rotate_half / cat / four arithmetic ops and the copies that make them contiguous. RoPE is HF's
// (x·cos) + (rotate_half(x)·sin) with cos/sin in the activation dtype and every product and the sum
// rounded to that dtype — the same roundings, so the result is bitwise what the unfused ops give.
//
// decode_attention: attention of a few query rows (decoding steps, short continuations) against keys and
// values read in place from the KV cache (no GEMM set-up per head, no copy): per head and row,
// s_j = q·k_j (fp32 accumulation, rounded to the dtype as the GEMM rounds its output), ÷ sqrt(d),
// causal / window mask, softmax in fp32 rounded to the dtype, then Σ p_j·v_j with fp32 accumulation
// rounded to the dtype. Only the summation order differs from the GEMM path.
#pragma once
#include <cstdint>

#include <torch/types.h>

namespace xsam {

struct QkvHeads {
  torch::Tensor q, k, v;
};

// qkv [T, (heads + 2·kv_heads)·head_dim]; cos/sin [T, head_dim] in qkv's dtype.
QkvHeads rope_split_qkv(const torch::Tensor& qkv, const torch::Tensor& cos, const torch::Tensor& sin, int64_t heads,
                        int64_t kv_heads, int64_t head_dim);

// Rows for which decode_attention is used instead of GEMMs: decoding steps and short continuations (the
// rest of a prompt after a cached prefix). Each row is computed the same way whatever the number of rows,
// so prompts below the limit agree bitwise however they are split (tests/golden/llm_kv_cache_test.cpp).
constexpr int64_t kDecodeAttentionMaxRows = 63;

// Whether decode_attention runs on these operands (CPU with AVX-512, fp32/bf16, keys/values with
// unit stride in head_dim).
bool decode_attention_applies(const torch::Tensor& q, const torch::Tensor& keys);

// q [H, R, d] (query r at absolute position q_pos0 + r); keys/values [KV, K, d] (strided views allowed,
// unit stride in d), key j at position k_pos0 + j. Returns [R, H·d] in q's dtype.
torch::Tensor decode_attention(const torch::Tensor& q, const torch::Tensor& keys, const torch::Tensor& values,
                               int64_t q_pos0, int64_t k_pos0, int64_t window_keys, double scale_div);

}  // namespace xsam
