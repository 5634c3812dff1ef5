// Vision sampler: RNG contract (docs/design/decisions.md#randomness-and-libtorch-version), geometry against an
// independent bilinear reference, and every golden case with visual prompts, replaying the draws
// (docs/design/upstream-facts.md#vision-sampler).
#include <cmath>

#include "golden/vision_common.h"
#include "models/sampler.h"

namespace {

using namespace xsam;
namespace tv = xsam::test::vision;

std::vector<int64_t> to_vector(const torch::Tensor& t) {
  auto c = t.contiguous();
  return std::vector<int64_t>(c.data_ptr<int64_t>(), c.data_ptr<int64_t>() + c.numel());
}

// A per-call generator draws what torch.manual_seed(seed) + the global generator draws, in C++ and in
// Python (values printed by Debian's python3-torch 1.13.1: torch.manual_seed(0); torch.randperm(1000)[:10];
// torch.randint(0, 77, (300,))[:10]; then another randint(0, 77, (300,))[-5:]).
// not from the set: synthetic inputs and draws
TEST(VisionSampler, GeneratorDrawsLikeManualSeed) {
  torch::manual_seed(0);
  auto perm_global = torch::randperm(1000);
  auto ints_global = torch::randint(0, 77, {300});
  auto gen = make_cpu_generator(0);
  auto perm = at::randperm(1000, gen, at::TensorOptions().dtype(at::kLong));
  auto ints = at::randint(0, 77, {300}, gen, at::TensorOptions().dtype(at::kLong));
  auto ints2 = at::randint(0, 77, {300}, gen, at::TensorOptions().dtype(at::kLong));
  EXPECT_TRUE(torch::equal(perm, perm_global));
  EXPECT_TRUE(torch::equal(ints, ints_global));
  EXPECT_EQ(to_vector(perm.slice(0, 0, 10)), (std::vector<int64_t>{44, 37, 675, 775, 947, 209, 719, 500, 561, 264}));
  EXPECT_EQ(to_vector(ints.slice(0, 0, 10)), (std::vector<int64_t>{4, 59, 5, 44, 49, 41, 75, 37, 23, 2}));
  EXPECT_EQ(to_vector(ints2.slice(0, 295)), (std::vector<int64_t>{17, 68, 1, 38, 54}));
  auto other = make_cpu_generator(12345);
  EXPECT_EQ(to_vector(at::randint(0, 1000, {5}, other, at::TensorOptions().dtype(at::kLong))),
            (std::vector<int64_t>{690, 381, 685, 553, 284}));
  EXPECT_EQ(to_vector(at::randperm(300, other, at::TensorOptions().dtype(at::kLong)).slice(0, 0, 5)),
            (std::vector<int64_t>{37, 204, 16, 225, 206}));
}

// Independent reference: bilinear interpolation with align_corners=True, feature coordinate
// = index / canvas · (g - 1), in double precision.
torch::Tensor bilinear_reference(const torch::Tensor& feat /*(g*g, C)*/, int64_t g, double y, double x) {
  auto f = feat.to(torch::kFloat64).reshape({g, g, -1});
  int64_t y0 = static_cast<int64_t>(std::floor(y)), x0 = static_cast<int64_t>(std::floor(x));
  double wy = y - y0, wx = x - x0;
  auto cell = [&](int64_t yy, int64_t xx) {
    return (yy < g && xx < g) ? f[yy][xx] : torch::zeros({f.size(2)}, torch::kFloat64);
  };
  return cell(y0, x0) * (1 - wy) * (1 - wx) + cell(y0, x0 + 1) * (1 - wy) * wx + cell(y0 + 1, x0) * wy * (1 - wx) +
         cell(y0 + 1, x0 + 1) * wy * wx;
}

// not from the set: synthetic inputs and draws
TEST(VisionSampler, GeometryMatchesAlignCornersBilinear) {
  const int64_t g = 8, channels = 5, canvas = 256;
  auto feat = torch::randn({g * g, channels}, torch::TensorOptions().dtype(torch::kFloat32));
  // Exactly 256 = num_sample_point pixels: no random draw, points in row-major nonzero order.
  auto masks = torch::zeros({1, canvas, canvas}, torch::kUInt8);
  masks.index_put_({0, torch::indexing::Slice(37, 53), torch::indexing::Slice(101, 117)}, 7);
  std::vector<torch::Tensor> samples;
  for (int64_t r = 37; r < 53; ++r)
    for (int64_t c = 101; c < 117; ++c)
      samples.push_back(bilinear_reference(feat, g, double(r) / canvas * (g - 1), double(c) / canvas * (g - 1)));
  auto ref = torch::stack(samples);  // (256, C)

  SamplerConfig max_cfg;  // aaai26: max over all samples → one token
  auto out_max = VisionSampler(max_cfg).forward(feat, masks, 0);
  ASSERT_EQ(out_max.sizes(), (std::vector<int64_t>{1, 1, channels}));
  XSAM_EXPECT_CLOSE(out_max[0][0], std::get<0>(ref.max(0)), 1e-6, "sampler max pooling vs bilinear reference");

  SamplerConfig mean_cfg;  // main: AvgPool1d(4) over the ordered samples → 64 tokens
  mean_cfg.pooling = RegionPooling::Mean;
  mean_cfg.pooling_kernel = 4;
  auto out_mean = VisionSampler(mean_cfg).forward(feat.unsqueeze(0), masks, 0);
  ASSERT_EQ(out_mean.sizes(), (std::vector<int64_t>{1, 64, channels}));
  XSAM_EXPECT_CLOSE(out_mean[0], ref.reshape({64, 4, channels}).mean(1), 1e-6, "sampler mean pooling vs reference");
  auto out_mean_bf16 = VisionSampler(mean_cfg).forward(feat.to(torch::kBFloat16), masks, 0);
  EXPECT_EQ(out_mean_bf16.scalar_type(), torch::kBFloat16);
  XSAM_EXPECT_CLOSE(out_mean_bf16[0].to(torch::kFloat32), ref.reshape({64, 4, channels}).mean(1), 5e-2,
                    "bf16 sampler mean pooling vs reference");
}

// not from the set: synthetic inputs and draws
TEST(VisionSampler, RejectsEmptyMasksAndAcceptsNone) {
  SamplerConfig cfg;
  auto feat = torch::randn({64, 3});
  auto masks = torch::zeros({2, 32, 32}, torch::kInt64);
  masks.index_put_({0, 3, 4}, 1);
  EXPECT_THROW(VisionSampler(cfg).forward(feat, masks, 0), xsam::Failure);  // mask 1 is empty
  EXPECT_EQ(VisionSampler(cfg).forward(feat, masks.slice(0, 0, 0), 0).sizes(), (std::vector<int64_t>{0, 1, 3}));
  EXPECT_THROW(VisionSampler(cfg).forward(torch::randn({63, 3}), masks.slice(0, 0, 1), 0), xsam::Failure);
}

class SamplerGolden : public ::testing::TestWithParam<std::string> {};

TEST_P(SamplerGolden, RegionTokensWithReplayedDraws) {
  const auto& c = tv::golden_case(GetParam());
  if (!c.has("vision_sampler.output.0")) {
    // Cases without visual prompts have nothing to sample (and no masks to feed the sampler).
    EXPECT_FALSE(c.has("prepared.vprompt_masks")) << c.name() << " has prompt masks but no sampler output";
    return;
  }
  auto config = test::golden_config();
  VisionSampler sampler(config.sampler);
  auto feats = c.get("vision_sampler.input_feats");
  auto masks = c.get("prepared.vprompt_masks");
  auto ref = c.get("vision_sampler.output.0");
  // The sampler reads the seg projector's output.
  XSAM_EXPECT_CLOSE(feats, c.get("seg_projector.output"), 0.0, c.name() + " vision_sampler.input_feats");
  // Golden replay: one generator seeded with the case's seed for the whole case, masks in region order.
  const uint64_t seed = c.json().at("seed").get<uint64_t>();
  auto out = sampler.forward(feats, masks, seed);
  ASSERT_EQ(out.size(1), 1);
  XSAM_EXPECT_CLOSE(out.squeeze(1), ref, tv::kFp32Tol, c.name() + " vision_sampler.output.0");
  auto out_bf16 = sampler.forward(feats.to(torch::kBFloat16), masks, seed);
  XSAM_EXPECT_CLOSE(out_bf16.squeeze(1).to(torch::kFloat32), ref, test::bf16_bound(test::Bf16Stage::Sampler),
                    c.name() + " bf16 vision_sampler.output.0");
  // Masks with more than num_sample_point pixels depend on the draws: another seed must differ.
  bool random_subset = false;
  for (int64_t i = 0; i < masks.size(0); ++i)
    random_subset = random_subset || masks[i].nonzero().size(0) > config.sampler.num_sample_point;
  if (random_subset) {
    auto other = test::compare(sampler.forward(feats, masks, seed + 1).squeeze(1), ref);
    std::printf("[info] %s: seed %llu instead of %llu gives rel err %.3g\n", c.name().c_str(),
                (unsigned long long)(seed + 1), (unsigned long long)seed, other.rel());
    EXPECT_GT(other.rel(), 1e-3) << "the draws do not matter?";
  }
}

INSTANTIATE_TEST_SUITE_P(AllCases, SamplerGolden, ::testing::ValuesIn(test::golden_case_names()),
                         tv::case_param_name);

}  // namespace
