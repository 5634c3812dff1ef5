// RoPE tables and the rotate_half layout (docs/design/upstream-facts.md#phi-3).
#include <cmath>

#include <gtest/gtest.h>
#include <torch/torch.h>

#include "models/phi3_rope.h"
#include "support/golden.h"

namespace xsam::test {
namespace {

TEST(LlmRope, TablesFollowTheFormula) {
  const int64_t d = 16;
  Phi3Rope rope(d, 10000.0, 8);
  auto [cos, sin] = rope.tables(5, 20, torch::kFloat32, torch::kCPU);  // grows past the initial 8 positions
  ASSERT_EQ(cos.sizes(), torch::IntArrayRef({20, d}));
  auto expected_cos = torch::empty({20, d}, torch::kFloat64), expected_sin = torch::empty({20, d}, torch::kFloat64);
  for (int64_t p = 0; p < 20; ++p)
    for (int64_t j = 0; j < d; ++j) {
      const double inv_freq = 1.0 / std::pow(10000.0, 2.0 * (j % (d / 2)) / d);  // emb = cat(freqs, freqs)
      expected_cos[p][j] = std::cos((p + 5) * inv_freq);
      expected_sin[p][j] = std::sin((p + 5) * inv_freq);
    }
  XSAM_EXPECT_CLOSE(cos, expected_cos, 1e-5, "rope cos");
  XSAM_EXPECT_CLOSE(sin, expected_sin, 1e-5, "rope sin");
  // bf16 tables are the fp32 tables rounded once (HF: computed in fp32, then cast).
  auto [cos16, sin16] = rope.tables(5, 20, torch::kBFloat16, torch::kCPU);
  EXPECT_TRUE(torch::equal(cos16, cos.to(torch::kBFloat16)));
  EXPECT_TRUE(torch::equal(sin16, sin.to(torch::kBFloat16)));
}

TEST(LlmRope, RotatesNonInterleavedHalves) {
  const int64_t d = 8;
  Phi3Rope rope(d, 10000.0, 16);
  auto [cos, sin] = rope.tables(3, 1, torch::kFloat32, torch::kCPU);
  // x = e_1: dimension 1 pairs with dimension 1 + d/2 (GPT-NeoX), not with dimension 0 (interleaved).
  auto x = torch::zeros({1, 1, d});
  x[0][0][1] = 1.0;
  auto y = Phi3Rope::apply(x, cos, sin)[0][0];
  const double angle = 3.0 / std::pow(10000.0, 2.0 * 1 / d);
  EXPECT_NEAR(y[1].item<double>(), std::cos(angle), 1e-6);
  EXPECT_NEAR(y[1 + d / 2].item<double>(), std::sin(angle), 1e-6);
  EXPECT_EQ(y[0].item<double>(), 0.0);
  EXPECT_EQ(y[2].item<double>(), 0.0);
}

}  // namespace
}  // namespace xsam::test
