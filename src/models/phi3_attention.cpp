#include "models/phi3_attention.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include <ATen/ATen.h>

#include "core/error.h"

namespace xsam {

namespace {

// fp32 score elements of one chunk (heads × rows × keys): 16 Mi floats = 64 MiB, plus as much for softmax.
constexpr int64_t kScoreBudget = int64_t(16) << 20;

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

  if (chunk_rows <= 0) {
    const int64_t keys_per_row = window_keys > 0 ? std::min(window_keys, K) : K;
    chunk_rows = std::max<int64_t>(1, kScoreBudget / std::max<int64_t>(1, heads * keys_per_row));
  }
  chunk_rows = std::min(chunk_rows, T);
  const double scale_div = std::sqrt(static_cast<double>(d));
  const auto dtype = q.scalar_type();

  // One chunk writes its rows of `out`; with a single chunk the result is returned directly.
  torch::Tensor out;
  if (chunk_rows < T) out = at::empty({T, heads * d}, q.options());

  for (int64_t r0 = 0; r0 < T; r0 += chunk_rows) {
    const int64_t rows = std::min(chunk_rows, T - r0);
    const int64_t p0 = q_pos0 + r0, p1 = p0 + rows;  // absolute query positions [p0, p1)
    // Keys any query of the chunk can see: [lo, p1). Keys before k_pos0 do not exist here (no cache).
    const int64_t lo = std::max(k_pos0, first_visible(p0, window_keys));
    const int64_t n_keys = p1 - lo;
    auto k = keys.narrow(1, lo - k_pos0, n_keys);    // [kv, n_keys, d]
    auto v = values.narrow(1, lo - k_pos0, n_keys);
    // Queries grouped by their kv head: [kv, groups·rows, d] (a view when the chunk is all of q).
    auto qc = q.narrow(1, r0, rows).reshape({kv, groups * rows, d});

    auto scores = at::matmul(qc, k.transpose(1, 2));  // [kv, groups·rows, n_keys]
    if (scores.scalar_type() != at::kFloat) scores = scores.to(at::kFloat);
    scores.div_(scale_div);
    // A single query row sees exactly [lo, p1) by construction; several rows need the causal/window mask.
    if (rows > 1) {
      auto opts = at::TensorOptions().dtype(at::kLong).device(q.device());
      auto qpos = at::arange(p0, p1, opts).unsqueeze(1);     // [rows, 1]
      auto kpos = at::arange(lo, p1, opts).unsqueeze(0);     // [1, n_keys]
      auto diff = qpos - kpos;
      auto hidden = diff < 0;
      if (window_keys > 0) hidden = hidden.logical_or(diff >= window_keys);
      scores.view({kv, groups, rows, n_keys}).masked_fill_(hidden, -std::numeric_limits<float>::infinity());
    }
    auto probs = at::softmax(scores, -1).to(dtype);
    auto a = at::matmul(probs, v);                             // [kv, groups·rows, d]
    auto rows_first = a.view({heads, rows, d}).transpose(0, 1);  // [rows, heads, d]
    if (chunk_rows >= T) return rows_first.reshape({T, heads * d});
    out.narrow(0, r0, rows).view({rows, heads, d}).copy_(rows_first);
  }
  return out;
}

}  // namespace xsam
