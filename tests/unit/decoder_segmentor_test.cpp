// The segmentor wrapper: full-size shapes (random weights, reduced spatial size), argument errors, and
// the branch-dependent checkpoint key of `logit_scale`.
#include <gtest/gtest.h>

#include <unistd.h>

#include <cstdio>
#include <string>

#include <torch/torch.h>

#include "core/config.h"
#include "core/error.h"
#include "io/safetensors.h"
#include "io/weights.h"
#include "models/mask2former.h"
#include "support/golden.h"

using namespace xsam;

namespace {

// Connector-like outputs for a canvas of `canvas` pixels: strides 8, 16, 32 with the config's channels.
std::vector<torch::Tensor> random_features(const Mask2FormerConfig& c, int64_t canvas, int64_t batch) {
  std::vector<torch::Tensor> f;
  const auto strides = std::vector<int>(c.feature_strides.end() - c.num_feature_levels, c.feature_strides.end());
  for (size_t i = 0; i < c.feature_channels.size(); ++i)
    f.push_back(torch::randn({batch, c.feature_channels[i], canvas / strides[i], canvas / strides[i]}));
  return f;
}

template <typename F>
std::string error_of(F&& f) {
  try {
    f();
  } catch (const Failure& e) {
    return e.what();
  }
  return "";
}

}  // namespace

TEST(DecoderSegmentor, FullSizeShapes) {
  torch::set_num_threads(1);
  torch::NoGradGuard no_grad;
  torch::manual_seed(0);
  const ModelConfig config = size_preset("full");
  const auto& c = config.mask2former;
  Mask2Former m(c, config.class_head);
  m->eval();
  EXPECT_EQ(m->pixel_decoder()->num_fpn_levels(), 1);
  EXPECT_EQ(m->transformer_decoder()->num_layers(), 9);

  // A 128-pixel canvas instead of 1024: levels 4², 8², 16² instead of 32², 64², 128².
  auto pixels = m->encode(random_features(c, 128, 1));
  ASSERT_EQ(pixels.multi_scale_features.size(), 3u);
  EXPECT_EQ(pixels.multi_scale_features[0].sizes(), (at::IntArrayRef{1, 256, 4, 4}));
  EXPECT_EQ(pixels.multi_scale_features[1].sizes(), (at::IntArrayRef{1, 256, 8, 8}));
  EXPECT_EQ(pixels.multi_scale_features[2].sizes(), (at::IntArrayRef{1, 256, 16, 16}));
  EXPECT_EQ(pixels.mask_features.sizes(), (at::IntArrayRef{1, 256, 16, 16}));  // stride 8

  // Referring with two <SEG>: two decoder rows on repeated features, 3 phrases + background.
  auto out = m->decode(pixels, torch::randn({2, 4, 256}), torch::randn({2, 1, 256}), torch::Tensor(), 2, true);
  EXPECT_EQ(out.class_logits.sizes(), (at::IntArrayRef{2, 200, 4}));
  EXPECT_EQ(out.mask_logits.sizes(), (at::IntArrayRef{2, 200, 16, 16}));
  ASSERT_EQ(out.decoder.hidden_states.size(), 10u);  // 9 layers + the initial prediction
  EXPECT_EQ(out.decoder.hidden_states[9].sizes(), (at::IntArrayRef{200, 2, 256}));
  ASSERT_EQ(out.decoder.fully_masked_rows.size(), 10u);
  EXPECT_EQ(out.decoder.fully_masked_rows[0].sizes(), (at::IntArrayRef{2 * 8, 200}));
  EXPECT_TRUE(torch::isfinite(out.mask_logits).all().item<bool>());
  EXPECT_TRUE(torch::isfinite(out.class_logits).all().item<bool>());
  // Only the last step is kept by default.
  auto last = m->decode(pixels, torch::randn({1, 3, 256}), torch::randn({1, 1, 256}), torch::ones({1, 3}));
  EXPECT_EQ(last.decoder.mask_logits.size(), 1u);
  EXPECT_EQ(last.decoder.fully_masked_rows.size(), 0u);
  // Upsampling to the SAM canvas, one query at a time if the caller wishes.
  EXPECT_EQ(m->upsample_masks(out.mask_logits.narrow(1, 0, 1)).sizes(), (at::IntArrayRef{2, 1, 1024, 1024}));

  // bf16 runtime at full size: the same shapes, bf16 masks, fp32 class logits.
  m->to(torch::kBFloat16);
  auto b = m->decode(m->encode(random_features(c, 64, 1)), torch::randn({1, 3, 256}), torch::randn({1, 1, 256}),
                     torch::Tensor());
  EXPECT_EQ(b.mask_logits.scalar_type(), torch::kBFloat16);
  EXPECT_EQ(b.mask_logits.sizes(), (at::IntArrayRef{1, 200, 8, 8}));
  EXPECT_EQ(b.class_logits.scalar_type(), torch::kFloat32);
  EXPECT_TRUE(torch::isfinite(b.class_logits).all().item<bool>());
}

TEST(DecoderSegmentor, ArgumentErrorsNameTheArgument) {
  torch::NoGradGuard no_grad;
  const ModelConfig config = size_preset("tiny");
  const auto& c = config.mask2former;
  Mask2Former m(c, config.class_head);
  auto features = random_features(c, 64, 1);
  auto wrong = features;
  wrong[1] = torch::randn({1, 7, 4, 4});
  EXPECT_NE(error_of([&] { m->encode(wrong); }).find("pixel_decoder: feature 1"), std::string::npos);
  EXPECT_NE(error_of([&] { m->encode({features[0]}); }).find("pixel_decoder: expected 3"), std::string::npos);

  auto pixels = m->encode(features);
  auto cond = torch::randn({1, 3, 32});
  // Two <SEG> in one row: upstream produces no masks for that; the model refuses it.
  EXPECT_NE(error_of([&] { m->decode(pixels, cond, torch::randn({1, 2, 32}), torch::Tensor()); }).find("<SEG>"),
            std::string::npos);
  EXPECT_NE(error_of([&] { m->decode(pixels, cond, torch::randn({2, 1, 32}), torch::Tensor()); })
                .find("seg_embeddings"),
            std::string::npos);
  EXPECT_NE(error_of([&] { m->decode(pixels, cond, torch::randn({1, 1, 32}), torch::Tensor(), 2); })
                .find("cond_embeddings"),
            std::string::npos);
  EXPECT_NE(error_of([&] { m->decode(pixels, cond, torch::randn({1, 1, 32}), torch::ones({1, 2})); })
                .find("embed_masks"),
            std::string::npos);
}

TEST(DecoderSegmentor, LogitScaleKeyFollowsThePreset) {
  // The golden checkpoint's segmentor keys with `logit_scale` stored under the main branch's name.
  auto store = WeightStore::open_file(test::golden_dir() + "/model.safetensors");
  std::vector<std::pair<std::string, torch::Tensor>> tensors;
  for (const auto& name : store.names()) {
    if (name.rfind("segmentor.", 0) != 0) continue;
    const std::string key = name == "segmentor.logit_scale" ? "segmentor.class_predictor.logit_scale" : name;
    tensors.emplace_back(key, store.get(name).clone());
  }
  const std::string path = "/tmp/xsam_decoder_main_keys_" + std::to_string(getpid()) + ".safetensors";
  save_safetensors(path, tensors);
  auto main_store = WeightStore::open_file(path);

  ModelConfig config = test::golden_config();
  apply_preset(config, "main");
  EXPECT_EQ(config.behaviour.key_logit_scale, "segmentor.class_predictor.logit_scale");
  Mask2Former m(config.mask2former, config.class_head);
  auto report = bind_module(*m, main_store, "segmentor.", segmentor_weight_aliases(config.behaviour));
  EXPECT_TRUE(report.missing.empty());
  EXPECT_TRUE(report.mismatched.empty());
  EXPECT_EQ(m->logit_scale().item<double>(), store.get("segmentor.logit_scale").item<double>());
  EXPECT_TRUE(report.used.count("segmentor.class_predictor.logit_scale"));

  // With the aaai26 key the main checkpoint's scale is missing, and the report says which key.
  ModelConfig aaai = test::golden_config();
  Mask2Former a(aaai.mask2former, aaai.class_head);
  auto missing = bind_module(*a, main_store, "segmentor.", segmentor_weight_aliases(aaai.behaviour)).missing;
  EXPECT_EQ(missing, std::vector<std::string>{"segmentor.logit_scale"});
  std::remove(path.c_str());
}
