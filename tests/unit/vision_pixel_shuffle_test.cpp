// Pixel shuffle index order (docs/design/upstream-facts.md#projectors), maybe_pad, and the projector's shuffle
// path.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include "core/config.h"
#include "core/error.h"
#include "models/pixel_shuffle.h"
#include "models/projector.h"

namespace {

using namespace xsam;
using torch::indexing::Slice;

TEST(VisionPixelShuffle, HalfFoldsRowOffsetMostSignificant) {
  const int64_t h = 6, w = 4, c = 3;
  auto x = torch::arange(h * w * c, torch::kFloat32).reshape({1, h, w, c});
  auto y = pixel_shuffle(x, 0.5);
  ASSERT_EQ(y.sizes(), (std::vector<int64_t>{1, h / 2, w / 2, 4 * c}));
  for (int64_t i = 0; i < h / 2; ++i)
    for (int64_t j = 0; j < w / 2; ++j)
      for (int64_t dy = 0; dy < 2; ++dy)
        for (int64_t dx = 0; dx < 2; ++dx)
          for (int64_t k = 0; k < c; ++k)
            ASSERT_EQ(y[0][i][j][dy * 2 * c + dx * c + k].item<float>(), x[0][2 * i + dy][2 * j + dx][k].item<float>());
  // Not torch's pixel_unshuffle (channel-major c·4 + dy·2 + dx).
  auto torch_order = torch::pixel_unshuffle(x.permute({0, 3, 1, 2}), 2).permute({0, 2, 3, 1});
  EXPECT_FALSE(torch::equal(y, torch_order));
}

TEST(VisionPixelShuffle, DoubleUnfoldsColumnOffsetMostSignificant) {
  const int64_t h = 3, w = 5, c = 8;
  auto x = torch::arange(h * w * c, torch::kFloat32).reshape({1, h, w, c});
  auto y = pixel_shuffle(x, 2.0);
  ASSERT_EQ(y.sizes(), (std::vector<int64_t>{1, 2 * h, 2 * w, c / 4}));
  for (int64_t i = 0; i < h; ++i)
    for (int64_t j = 0; j < w; ++j)
      for (int64_t a = 0; a < 2; ++a)
        for (int64_t e = 0; e < 2; ++e)
          for (int64_t k = 0; k < c / 4; ++k)
            ASSERT_EQ(y[0][2 * i + a][2 * j + e][k].item<float>(), x[0][i][j][e * c / 2 + a * c / 4 + k].item<float>());
}

TEST(VisionPixelShuffle, SpecWorkedExamplesAndIdentity) {
  auto x = torch::randn({1, 8, 12, 1024});
  auto y = pixel_shuffle(x, 0.5);
  EXPECT_TRUE(torch::equal(y[0][3][5].slice(0, 2048 + 7, 2048 + 8), x[0][7][10].slice(0, 7, 8)));
  EXPECT_TRUE(torch::equal(y[0][0][0].slice(0, 3072, 4096), x[0][1][1]));
  auto z = torch::randn({1, 2, 2, 2048});
  auto u = pixel_shuffle(z, 2.0);
  EXPECT_EQ(u[0][0][1][5].item<float>(), z[0][0][0][1024 + 5].item<float>());
  EXPECT_EQ(u[0][1][0][5].item<float>(), z[0][0][0][512 + 5].item<float>());
  EXPECT_EQ(u[0][1][1][5].item<float>(), z[0][0][0][1536 + 5].item<float>());
  EXPECT_TRUE(torch::equal(pixel_shuffle(x, 1.0), x));
  // channels-first is the same shuffle wrapped in layout permutes.
  auto cf = pixel_shuffle_channels_first(x.permute({0, 3, 1, 2}), 0.5);
  EXPECT_TRUE(torch::equal(cf, y.permute({0, 3, 1, 2})));
  EXPECT_THROW(pixel_shuffle(torch::randn({1, 3, 3, 4}), 0.5), xsam::Failure);
}

TEST(VisionPixelShuffle, MaybePadPadsOddSidesBottomRight) {
  auto even = torch::randn({1, 4, 6, 2});
  EXPECT_TRUE(maybe_pad(even).is_same(even));
  auto odd = torch::randn({1, 5, 7, 2});
  auto p = maybe_pad(odd);
  ASSERT_EQ(p.sizes(), (std::vector<int64_t>{1, 6, 8, 2}));
  EXPECT_TRUE(torch::equal(p.index({Slice(), Slice(0, 5), Slice(0, 7)}), odd));
  EXPECT_EQ(p.index({Slice(), 5}).abs().sum().item<float>(), 0.f);
  EXPECT_EQ(p.index({Slice(), Slice(), 7}).abs().sum().item<float>(), 0.f);
}

// An odd SAM grid: padded, shuffled and projected; the token count is what ModelConfig counts.
TEST(VisionProjector, OddGridPadsBeforeShuffleAndMatchesHandComputation) {
  ProjectorConfig cfg{4, 3, 0.5, 2, true};
  Projector projector(cfg, torch::kFloat32);
  for (auto& p : projector.parameters()) p.normal_(0, 0.5);
  auto x = torch::randn({1, 5, 5, 4});
  auto y = projector.forward(x);
  ModelConfig model = size_preset("tiny");
  model.sam.image_size = 5 * model.sam.patch_size;
  ASSERT_EQ(y.sizes(), (std::vector<int64_t>{1, model.sam_llm_tokens(), 3}));
  auto named = projector.named_parameters();
  auto tokens = pixel_shuffle(maybe_pad(x), 0.5).reshape({1, 9, 16});
  auto hidden = torch::gelu(torch::linear(tokens, named["model.0.weight"], named["model.0.bias"]));
  auto ref = torch::linear(hidden, named["model.2.weight"], named["model.2.bias"]);
  EXPECT_TRUE(torch::allclose(y, ref, 1e-6, 1e-6));
  EXPECT_EQ(named.size(), 4u);  // model.{0,2}.{weight,bias}
  EXPECT_THROW(projector.forward(torch::randn({1, 7, 5})), xsam::Failure);
}

}  // namespace
