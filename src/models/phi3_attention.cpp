#include "models/phi3_attention.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include <ATen/ATen.h>

#include "core/error.h"
#include "kernels/attention.h"
#include "kernels/flash.h"
#include "kernels/softmax.h"

namespace xsam {

namespace {

// Score elements of one step (group rows × keys of one kv head): 1 Mi elements (2 MiB in bf16) keeps the
// scores, the fused scale + mask + softmax pass and the product with v in the cache.
constexpr int64_t kScoreBudget = int64_t(1) << 20;

// Query rows from which the fused bf16 kernel is used (it packs every key and value of the call once).
constexpr int64_t kFlashMinRows = kDecodeAttentionMaxRows + 1;

// First visible key position of query position p.
int64_t first_visible(int64_t p, int64_t window_keys) {
  return window_keys > 0 ? std::max<int64_t>(0, p - window_keys + 1) : 0;
}

}  // namespace

torch::Tensor phi3_causal_attention(const torch::Tensor& q, const torch::Tensor& keys, const torch::Tensor& values,
                                    int64_t q_pos0, int64_t k_pos0, int64_t window_keys,
                                    const Phi3AttentionShape& shape, int64_t chunk_rows) {
  const int64_t heads = shape.num_heads, kv = shape.num_kv_heads, d = shape.head_dim;
  const int64_t groups = heads / kv;  // query heads per key/value head (GQA); head h uses kv head h / groups
  const int64_t T = q.size(1);
  const int64_t K = keys.size(1);
  if (q.size(0) != heads || q.size(2) != d || keys.size(0) != kv || keys.size(2) != d || values.sizes() != keys.sizes())
    fail(Status::Internal, "phi3_causal_attention: q/keys/values shapes do not match the head layout");
  if (window_keys < 0) fail(Status::InvalidArgument, "phi3_causal_attention: window_keys must be >= 0");
  if (T == 0) return at::empty({0, heads * d}, q.options());
  if (q_pos0 < k_pos0 || q_pos0 + T > k_pos0 + K)
    fail(Status::Internal, "phi3_causal_attention: every query needs its own key (keys must cover the query positions)");

  // A few rows (decoding, short continuations): read keys and values in place, no GEMM set-up or copies.
  if (T <= kDecodeAttentionMaxRows && chunk_rows <= 0 && decode_attention_applies(q, keys))
    return decode_attention(q, keys, values, q_pos0, k_pos0, window_keys, std::sqrt(static_cast<double>(d)));

  // Long prompts in bf16 with AVX512-BF16: the fused kernel (kernels/flash.h). Short ones keep the GEMMs, whose
  // per-head key reads need no packing.
  if (T >= kFlashMinRows && chunk_rows <= 0 && flash_attention_applies(q))
    return flash_causal_attention(q, keys, values, q_pos0, k_pos0, window_keys, std::sqrt(static_cast<double>(d)))
        .transpose(0, 1)
        .reshape({T, heads * d});

  const int64_t keys_per_row = window_keys > 0 ? std::min(window_keys, K) : K;
  if (chunk_rows <= 0) chunk_rows = std::max<int64_t>(1, kScoreBudget / std::max<int64_t>(1, groups * keys_per_row));
  chunk_rows = std::min(chunk_rows, T);
  const double scale_div = std::sqrt(static_cast<double>(d));

  // Per kv head and chunk of query rows, 2-D products: a kv head's keys are a plain [K, d] matrix even
  // when they are a view of the cache, and its transpose is a layout the GEMMs take without a copy.
  // Results land in a heads-first buffer, transposed to [T, heads·d] once at the end.
  auto out = at::empty({heads, T, d}, q.options());
  for (int64_t g = 0; g < kv; ++g) {
    const auto kg = keys[g], vg = values[g];  // [K, d]
    for (int64_t r0 = 0; r0 < T; r0 += chunk_rows) {
      const int64_t rows = std::min(chunk_rows, T - r0);
      const int64_t p0 = q_pos0 + r0, p1 = p0 + rows;  // absolute query positions [p0, p1)
      // Keys any query of the chunk can see: [lo, p1). Keys before k_pos0 do not exist here (no cache).
      const int64_t lo = std::max(k_pos0, first_visible(p0, window_keys));
      const int64_t n_keys = p1 - lo;
      auto k = kg.narrow(0, lo - k_pos0, n_keys), v = vg.narrow(0, lo - k_pos0, n_keys);
      // The query rows of the kv head's group: [groups·rows, d] (a view when groups = 1).
      auto qc = q.narrow(0, g * groups, groups).narrow(1, r0, rows).reshape({groups * rows, d});
      auto scores = at::mm(qc, k.t());  // [groups·rows, n_keys] in the activation dtype
      // fp32: ÷ sqrt(d), causal / window mask, softmax; probabilities rounded back to the activation dtype.
      causal_attention_softmax_(scores, rows, p0, lo, window_keys, scale_div);
      if (groups == 1) {
        auto dst = out[g].narrow(0, r0, rows);
        at::mm_out(dst, scores, v);
      } else {
        out.narrow(0, g * groups, groups).narrow(1, r0, rows).copy_(at::mm(scores, v).view({groups, rows, d}));
      }
    }
  }
  return out.transpose(0, 1).reshape({T, heads * d});
}

}  // namespace xsam
