// Unit tests of the decoder's building blocks against their definitions (docs/design/upstream-facts.md,
// sections #deformable-attention, #pixel-decoder, #transformer-decoder),
// including the rules the golden set does not exercise: the class-logit clamp, the masked-column fill
// and the `sigmoid < 0.5` band of the attention mask.
#include <gtest/gtest.h>

#include <cmath>

#include <torch/torch.h>

#include "core/config.h"
#include "models/class_head.h"
#include "models/mask2former_ops.h"
#include "models/ms_deform_attn.h"
#include "models/transformer_decoder.h"

using namespace xsam;

namespace {

// Bilinear sample of value level (H×W, channel d of head h) at normalised (x, y), zeros outside,
// pixel centres at (i + 0.5) / size — written out from the definition.
double bilinear(const torch::Tensor& value, int64_t b, int64_t start, int64_t height, int64_t width, int64_t head,
                int64_t d, double x_norm, double y_norm) {
  const double x = x_norm * width - 0.5, y = y_norm * height - 0.5;
  const int64_t x0 = static_cast<int64_t>(std::floor(x)), y0 = static_cast<int64_t>(std::floor(y));
  double sum = 0;
  for (int64_t dy = 0; dy <= 1; ++dy)
    for (int64_t dx = 0; dx <= 1; ++dx) {
      const int64_t xi = x0 + dx, yi = y0 + dy;
      if (xi < 0 || yi < 0 || xi >= width || yi >= height) continue;
      const double wx = dx ? x - x0 : 1 - (x - x0), wy = dy ? y - y0 : 1 - (y - y0);
      sum += wx * wy * value[b][start + yi * width + xi][head][d].item<double>();
    }
  return sum;
}

}  // namespace

TEST(DecoderOps, DeformableSamplingMatchesBilinearDefinition) {
  torch::manual_seed(0);
  const std::vector<LevelShape> shapes = {{3, 4}, {2, 5}};
  const int64_t batch = 2, heads = 2, head_dim = 3, queries = 5, levels = 2, points = 3;
  auto value = torch::randn({batch, 12 + 10, heads, head_dim});
  // Some locations fall outside [0, 1]: those corners contribute zero.
  auto locations = torch::rand({batch, queries, heads, levels, points, 2}) * 1.4 - 0.2;
  auto weights = torch::softmax(torch::randn({batch, queries, heads, levels * points}), -1)
                     .view({batch, queries, heads, levels, points});
  auto out = ms_deform_attn_sample(value, shapes, locations, weights);
  ASSERT_EQ(out.sizes(), (at::IntArrayRef{batch, queries, heads * head_dim}));
  double worst = 0;
  for (int64_t b = 0; b < batch; ++b)
    for (int64_t q = 0; q < queries; ++q)
      for (int64_t h = 0; h < heads; ++h)
        for (int64_t d = 0; d < head_dim; ++d) {
          double expected = 0;
          int64_t start = 0;
          for (int64_t l = 0; l < levels; ++l) {
            const auto& s = shapes[static_cast<size_t>(l)];
            for (int64_t p = 0; p < points; ++p) {
              auto loc = locations[b][q][h][l][p];
              expected += weights[b][q][h][l][p].item<double>() *
                          bilinear(value, b, start, s.height, s.width, h, d, loc[0].item<double>(),
                                   loc[1].item<double>());
            }
            start += s.size();
          }
          worst = std::max(worst, std::abs(out[b][q][h * head_dim + d].item<double>() - expected));
        }
  std::printf("[unit] deformable sampling vs definition: max abs err %.3g\n", worst);
  EXPECT_LT(worst, 1e-5);
}

TEST(DecoderOps, DeformableAttentionOffsetsAreInPixelsOfTheTargetLevel) {
  // With zero offset weights, the sampling offsets are the bias: (+1 pixel in x) on every level. Each
  // query then samples its own level at (x + 1) — value without position embedding, one softmax over
  // levels × points (uniform here).
  torch::NoGradGuard no_grad;
  const std::vector<LevelShape> shapes = {{2, 2}, {4, 4}};
  const int64_t d_model = 4, heads = 1, levels = 2, points = 1;
  MsDeformAttn attn(d_model, heads, levels, points);
  for (auto& p : attn->named_parameters()) p.value().zero_();
  auto params = attn->named_parameters();
  params["sampling_offsets.bias"].copy_(torch::tensor({1.f, 0.f, 1.f, 0.f}));  // [level][point][xy]
  params["value_proj.weight"].copy_(torch::eye(d_model));
  params["output_proj.weight"].copy_(torch::eye(d_model));
  auto hidden = torch::arange(20 * d_model, torch::kFloat32).view({1, 20, d_model});
  auto position = torch::randn({1, 20, d_model});  // must not change anything: weights/offsets are biases
  // Query 0 sits at the centre of pixel (0, 0) of level 0.
  auto reference = torch::full({1, 20, levels, 2}, 0.25f);
  auto out = attn->forward(hidden, position, reference, shapes);
  // Level 0 (2×2): x = 0.25 + 1/2 → pixel coordinate (1.0, 0.0) = token 1. Level 1 (4×4): x = 0.25 + 1/4
  // → pixel coordinate (1.5, 0.5): the mean of pixels (1..2, 0..1) = tokens 4 + {1, 2, 5, 6}.
  auto expected = 0.5 * hidden[0][1] + 0.5 * (hidden[0][4 + 1] + hidden[0][4 + 2] + hidden[0][4 + 5] +
                                               hidden[0][4 + 6]) / 4;
  EXPECT_LT((out[0][0] - expected).abs().max().item<double>(), 1e-5);
}

TEST(DecoderOps, SinePositionEmbeddingMatchesDefinition) {
  const int64_t npf = 8, height = 3, width = 5;
  auto pos = m2f::sine_position_embedding(torch::zeros({2, 7, height, width}), npf);
  ASSERT_EQ(pos.sizes(), (at::IntArrayRef{2, 2 * npf, height, width}));
  double worst = 0;
  for (int64_t k = 0; k < npf; ++k) {
    const double dim_t = std::pow(10000.0, 2.0 * (k / 2) / npf);
    for (int64_t i = 0; i < height; ++i)
      for (int64_t j = 0; j < width; ++j) {
        const double y = (i + 1) / (height + 1e-6) * 2 * M_PI, x = (j + 1) / (width + 1e-6) * 2 * M_PI;
        const double ey = k % 2 ? std::cos(y / dim_t) : std::sin(y / dim_t);
        const double ex = k % 2 ? std::cos(x / dim_t) : std::sin(x / dim_t);
        worst = std::max(worst, std::abs(pos[1][k][i][j].item<double>() - ey));        // y block first
        worst = std::max(worst, std::abs(pos[1][npf + k][i][j].item<double>() - ex));  // then x
      }
  }
  EXPECT_LT(worst, 1e-6);
}

TEST(DecoderOps, ClassHeadIsScaledCosine) {
  auto q = torch::tensor({3.f, 4.f, 0.f, 0.f, 0.f, 0.f}).view({1, 2, 3});  // second query is zero
  auto c = torch::tensor({1.f, 0.f, 0.f, 0.f, 2.f, 0.f}).view({1, 2, 3});
  ClassHeadConfig cfg;
  auto logits = class_logits(q, c, torch::tensor({std::log(10.f)}), torch::Tensor(), cfg);
  // cos = (0.6, 0.8) for query 0; F.normalize keeps the zero vector zero (norm clamped to 1e-12).
  auto expected = torch::tensor({6.f, 8.f, 0.f, 0.f}).view({1, 2, 2});
  EXPECT_LT((logits - expected).abs().max().item<double>(), 1e-5);
}

TEST(DecoderOps, ClassHeadClampAndMaskedFillPerPreset) {
  auto q = torch::tensor({1.f, 0.f, -1.f, 0.f}).view({1, 2, 2});
  auto c = torch::tensor({1.f, 0.f, 1.f, 0.f, 0.f, 1.f}).view({1, 3, 2});
  auto mask = torch::tensor({1.f, 0.f, 1.f}).view({1, 3});
  for (const char* preset : {"aaai26", "main"}) {
    ModelConfig config = size_preset("tiny");
    apply_preset(config, preset);
    const auto& cfg = config.class_head;
    // exp(logit_scale) = 1e4: the product is clamped, the scale itself is not.
    auto logits = class_logits(q, c, torch::tensor({std::log(1e4f)}), mask, cfg);
    const double clamp = std::string(preset) == "aaai26" ? 500 : 50;
    const double fill = std::string(preset) == "aaai26" ? -1e9 : -1e6;
    EXPECT_EQ(cfg.logit_clamp, clamp);
    EXPECT_EQ(cfg.masked_fill, fill);
    EXPECT_FLOAT_EQ(logits[0][0][0].item<float>(), clamp) << preset;
    EXPECT_FLOAT_EQ(logits[0][1][0].item<float>(), -clamp) << preset;
    EXPECT_FLOAT_EQ(logits[0][0][1].item<float>(), fill) << preset;  // masked column
    EXPECT_FLOAT_EQ(logits[0][1][1].item<float>(), fill) << preset;
    EXPECT_NEAR(logits[0][0][2].item<float>(), 0.0, 1e-3) << preset;  // orthogonal
  }
}

TEST(DecoderOps, AttentionMaskIsStrictSigmoidBelowHalf) {
  // Query 0: logit −1e-8 (sigmoid rounds to exactly 0.5 in fp32: not blocked, although < 0) and +1;
  // query 1: −1e-3 (blocked) and −5 (blocked) → blocked everywhere → reset; one logit of 0 is not blocked.
  auto logits = torch::tensor({-1e-8f, 1.f, -1e-8f, 1.f, -1e-3f, -5.f, -1e-3f, -5.f}).view({1, 2, 2, 2});
  ASSERT_EQ(torch::sigmoid(torch::tensor({-1e-8f})).item<float>(), 0.5f);
  auto blocked = masked_attention_blocked(logits, 2, 2, /*num_heads=*/3);
  ASSERT_EQ(blocked.sizes(), (at::IntArrayRef{3, 2, 4}));
  EXPECT_FALSE(blocked.select(1, 0).any().item<bool>());
  EXPECT_TRUE(blocked.select(1, 1).all().item<bool>());
  auto cleared = unblock_fully_masked_rows(blocked);
  EXPECT_TRUE(torch::equal(cleared, torch::tensor({false, true}).view({1, 2}).expand({3, 2})));
  EXPECT_FALSE(blocked.any().item<bool>());
  // A partially blocked row is kept as it is.
  auto partial = masked_attention_blocked(torch::tensor({-1.f, 1.f, -1.f, -1.f}).view({1, 1, 2, 2}), 2, 2, 1);
  auto none = unblock_fully_masked_rows(partial);
  EXPECT_FALSE(none.any().item<bool>());
  EXPECT_EQ(partial.sum().item<int64_t>(), 3);
}
