// phi3_causal_attention against a dense reference, and the meaning of sliding_window_keys made explicit.
#include <cmath>
#include <limits>

#include <gtest/gtest.h>
#include <torch/torch.h>

#include "models/phi3_attention.h"
#include "support/golden.h"

namespace xsam::test {
namespace {

// Straightforward attention: every (query, key) pair, mask, softmax — no chunking, no key narrowing.
torch::Tensor dense_attention(const torch::Tensor& q, const torch::Tensor& k, const torch::Tensor& v, int64_t q_pos0,
                              int64_t k_pos0, int64_t window) {
  const int64_t heads = q.size(0), kv = k.size(0), T = q.size(1), K = k.size(1), d = q.size(2);
  auto out = torch::zeros({T, heads * d});
  for (int64_t h = 0; h < heads; ++h) {
    auto kh = k[h / (heads / kv)], vh = v[h / (heads / kv)];
    auto scores = torch::matmul(q[h], kh.t()) / std::sqrt(static_cast<double>(d));
    for (int64_t i = 0; i < T; ++i)
      for (int64_t j = 0; j < K; ++j) {
        const int64_t diff = (q_pos0 + i) - (k_pos0 + j);
        if (diff < 0 || (window > 0 && diff >= window)) scores[i][j] = -std::numeric_limits<float>::infinity();
      }
    out.narrow(1, h * d, d).copy_(torch::matmul(torch::softmax(scores, -1), vh));
  }
  return out;
}

TEST(LlmAttention, MatchesDenseReference) {
  torch::manual_seed(3);
  for (int64_t groups : {1, 2}) {
    const int64_t kv = 2, heads = kv * groups, d = 8, T = 11, start = 6;
    Phi3AttentionShape shape{heads, kv, d};
    auto q = torch::randn({heads, T, d});
    auto k = torch::randn({kv, start + T, d}), v = torch::randn({kv, start + T, d});
    for (int64_t window : {0, 1, 3, 7}) {
      auto ref = dense_attention(q, k, v, start, 0, window);
      for (int64_t chunk : {0, 1, 4, 11}) {
        auto got = phi3_causal_attention(q, k, v, start, 0, window, shape, chunk);
        auto what = "groups " + std::to_string(groups) + " window " + std::to_string(window) + " chunk " + std::to_string(chunk);
        XSAM_EXPECT_CLOSE(got, ref, 1e-6, "attention " + what);
      }
    }
    // Without a cache the keys start at the queries' own first position.
    auto kq = k.narrow(1, start, T), vq = v.narrow(1, start, T);
    XSAM_EXPECT_CLOSE(phi3_causal_attention(q, kq, vq, start, start, 0, shape), dense_attention(q, kq, vq, start, start, 0),
                      1e-6, "attention without cache");
  }
}

// With q = 0 every visible key gets the same weight, so the output is the mean of the visible keys'
// positions: W visible keys, the query itself included (0 ≤ q − k ≤ W − 1).
TEST(LlmAttention, WindowCountsVisibleKeysIncludingTheQuery) {
  const int64_t d = 2, K = 30;
  Phi3AttentionShape shape{1, 1, d};
  auto positions = torch::arange(K, torch::kFloat32);
  auto v = positions.view({1, K, 1}).expand({1, K, d}).contiguous();
  auto k = torch::zeros({1, K, d});
  auto q = torch::zeros({1, 1, d});
  auto mean_seen = [&](int64_t pos, int64_t window) {
    return phi3_causal_attention(q, k.narrow(1, 0, pos + 1), v.narrow(1, 0, pos + 1), pos, 0, window, shape)[0][0]
        .item<double>();
  };
  EXPECT_NEAR(mean_seen(20, 0), 10.0, 1e-5);   // keys 0..20
  EXPECT_NEAR(mean_seen(20, 4), 18.5, 1e-5);   // keys 17..20 (q − k ≤ 3)
  EXPECT_NEAR(mean_seen(20, 3), 19.0, 1e-5);   // keys 18..20 (q − k ≤ 2)
  EXPECT_NEAR(mean_seen(20, 1), 20.0, 1e-5);   // itself only
  EXPECT_NEAR(mean_seen(2, 4), 1.0, 1e-5);     // window longer than the history
  // The same rule for a multi-row (masked) chunk.
  auto qs = torch::zeros({1, 3, d});
  auto rows = phi3_causal_attention(qs, k.narrow(1, 0, 21), v.narrow(1, 0, 21), 18, 0, 4, shape);
  EXPECT_NEAR(rows[0][0].item<double>(), 16.5, 1e-5);  // query 18: keys 15..18
  EXPECT_NEAR(rows[2][0].item<double>(), 18.5, 1e-5);  // query 20: keys 17..20
}

}  // namespace
}  // namespace xsam::test
