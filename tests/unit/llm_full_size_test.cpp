// One full-size Phi-3 layer (size_preset("full").llm with num_layers = 1, random weights): shapes, finite
// values, and the cache path agreeing with one forward at the real widths (hidden 3072, 32 heads of 96,
// intermediate 8192, vocab 32014). docs/design/decisions.md#full-size-tests.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include "models/phi3.h"
#include "generate/generate.h"
#include "models/phi3_kv_cache.h"
#include "support/golden.h"
#include "unit/llm_random_model.h"

namespace xsam::test {
namespace {

TEST(LlmFullSize, OneLayerShapesAndCacheAgreement) {
  torch::NoGradGuard no_grad;
  auto config = size_preset("full").llm;
  ASSERT_EQ(config.hidden_size, 3072);
  ASSERT_EQ(config.head_dim(), 96);
  config.num_layers = 1;
  Phi3Model model(config);
  fill_random(*model, 11);
  const int64_t T = 64;
  torch::manual_seed(1);
  auto embeds = torch::randn({1, T, config.hidden_size}) * 0.02;

  Phi3ForwardOptions all;
  all.logits_last = Phi3ForwardOptions::kAllPositions;
  auto full = model->forward(embeds, 0, nullptr, all);
  ASSERT_EQ(full.last_hidden.sizes(), torch::IntArrayRef({1, T, 3072}));
  ASSERT_EQ(full.logits.sizes(), torch::IntArrayRef({1, T, 32014}));
  EXPECT_TRUE(torch::isfinite(full.logits).all().item<bool>());

  // Prefix 40, rest 20, then 4 rows one by one through the cache.
  Phi3KvCache cache(config, T + 8, torch::kFloat32);
  EXPECT_EQ(cache.bytes(), size_t(2) * 32 * (T + 8) * 96 * 4);
  std::vector<torch::Tensor> h, l;
  auto take = [&](int64_t from, int64_t n) {
    auto out = model->forward(embeds.narrow(1, from, n), from, &cache, all);
    h.push_back(out.last_hidden);
    l.push_back(out.logits);
  };
  take(0, 40);
  take(40, 20);
  for (int64_t p = 60; p < T; ++p) take(p, 1);
  XSAM_EXPECT_CLOSE(torch::cat(h, 1), full.last_hidden, 1e-5, "full-size layer cached vs full: hidden");
  XSAM_EXPECT_CLOSE(torch::cat(l, 1), full.logits, 1e-5, "full-size layer cached vs full: logits");

  // Generation through the same cache: two tokens, one generated hidden state.
  cache.truncate(40);
  GenerateOptions options;
  options.max_new_tokens = 2;
  options.end_token = options.eos_token = -1;
  auto result = phi3_generate(*model, cache, embeds.narrow(1, 40, 24), options);
  EXPECT_EQ(result.ids.size(), 2u);
  EXPECT_EQ(result.ids[0], full.logits[0][T - 1].argmax().item<int64_t>());
  EXPECT_EQ(result.generated_hidden.sizes(), torch::IntArrayRef({1, 1, 3072}));
}

}  // namespace
}  // namespace xsam::test
