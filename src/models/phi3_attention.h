// Causal self-attention of Phi-3 over absolute positions, chunked over queries so that a long prefill
// (T = 2142 in golden genseg_long, ~2000 with a full-size image) never holds a [heads, T, T] score matrix.
//
// Sliding window (docs/design/upstream-facts.md#sliding-window, docs/design/decisions.md#sliding-window):
// `window_keys` = W is the number of keys a query may see, itself included: key k is visible to query q iff 0 ≤ q − k
// ≤ W − 1 (W = 0: no window, 0 ≤ q − k).
//   W = 2048 → 0 ≤ q − k ≤ 2047: FA2 in the transformers releases of the AAAI26 era and xtuner's
//              phi3_attn_forward (window_size = (2047, 2047)), i.e. what upstream ran on GPU; `aaai26` preset.
//   W = 2047 → 0 ≤ q − k ≤ 2046: current HF masking_utils (`kv_idx > q_idx − sliding_window`).
//   W = 0    → plain causal: transformers 4.45.1's eager path, which ignores `sliding_window` (golden sets).
// Counting visible keys (rather than repeating HF's `sliding_window` field) makes the one number mean the
// same thing in prefill and in cached decoding, where HF's different code paths disagreed.
//
// Numerics: q·kᵀ in the activation dtype (fp32 accumulation inside the GEMM), then the scores are fp32:
// divided by sqrt(head_dim) (HF eager divides, it does not multiply by the reciprocal), masked, softmax in
// fp32, probabilities cast back to the activation dtype before ·v (HF eager: softmax(dtype=float32).to(v)).
// In bf16 the GEMM output is therefore rounded to bf16 once, as in HF eager (FA2 keeps it in fp32); an fp32
// q·kᵀ would need an fp32 copy of the visible cached keys per layer and token, which the bandwidth-bound
// decode step cannot afford. The fp32 runtime is unaffected.
#pragma once
#include <cstdint>

#include <torch/types.h>

namespace xsam {

struct Phi3AttentionShape {
  int64_t num_heads = 0;
  int64_t num_kv_heads = 0;
  int64_t head_dim = 0;
};

// q: [heads, T, head_dim] (RoPE applied), query i at absolute position q_pos0 + i.
// keys/values: [kv_heads, K, head_dim] (may be strided views of the KV cache), key j at position k_pos0 + j,
// covering at least every query position; keys before k_pos0 are treated as absent.
// chunk_rows: query rows per chunk (0 = chosen so the scores of one step stay within ~1 Mi elements, in the
// cache; steps also split the kv heads when a chunk of all heads would be larger).
// Returns [T, heads·head_dim] in the activation dtype (head h occupies columns [h·d, (h+1)·d), as HF).
torch::Tensor phi3_causal_attention(const torch::Tensor& q, const torch::Tensor& keys, const torch::Tensor& values,
                                    int64_t q_pos0, int64_t k_pos0, int64_t window_keys,
                                    const Phi3AttentionShape& shape, int64_t chunk_rows = 0);

}  // namespace xsam
