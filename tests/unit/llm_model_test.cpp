// Phi3Model on a random tiny GQA config: checkpoint names, embed(), the cache path vs one forward (with
// and without a window), per-call options.
#include <set>

#include <gtest/gtest.h>
#include <torch/torch.h>

#include "core/error.h"
#include "models/phi3.h"
#include "generate/generate.h"
#include "models/phi3_kv_cache.h"
#include "support/golden.h"
#include "unit/llm_random_model.h"

namespace xsam::test {
namespace {

TEST(LlmModel, ParametersCarryTheCheckpointNames) {
  auto config = tiny_gqa_config();
  Phi3Model model(config);
  std::set<std::string> names;
  for (const auto& p : model->named_parameters()) names.insert(p.key());
  std::set<std::string> expected = {"model.embed_tokens.weight", "model.norm.weight", "lm_head.weight"};
  for (int i = 0; i < config.num_layers; ++i) {
    auto l = "model.layers." + std::to_string(i) + ".";
    for (const char* n : {"input_layernorm", "self_attn.qkv_proj", "self_attn.o_proj", "post_attention_layernorm",
                          "mlp.gate_up_proj", "mlp.down_proj"})
      expected.insert(l + n + ".weight");
  }
  EXPECT_EQ(names, expected);
  EXPECT_TRUE(model->named_buffers().is_empty());
  // Fused shapes: qkv rows = (heads + 2·kv_heads)·head_dim, gate_up rows = 2·intermediate.
  EXPECT_EQ(model->model->layers[0]->self_attn->qkv_proj->weight.sizes(), torch::IntArrayRef({(4 + 2 * 2) * 8, 32}));
  EXPECT_EQ(model->model->layers[0]->mlp->gate_up_proj->weight.sizes(), torch::IntArrayRef({96, 32}));
  Phi3Model bf16(config, torch::kBFloat16);
  EXPECT_EQ(bf16->dtype(), torch::kBFloat16);
}

TEST(LlmModel, EmbedReturnsTheTableRows) {
  Phi3Model model(tiny_gqa_config());
  fill_random(*model, 1);
  auto ids = torch::tensor({3L, 0L, 96L});
  auto e = model->embed(ids);
  ASSERT_EQ(e.sizes(), torch::IntArrayRef({1, 3, 32}));
  EXPECT_TRUE(torch::equal(e[0][2], model->model->embed_tokens->weight[96]));
  EXPECT_TRUE(torch::equal(model->embed(ids.unsqueeze(0)), e));
  try {
    model->embed(torch::tensor({5L, -200L}));
    FAIL() << "a sentinel id must be rejected";
  } catch (const xsam::Failure& e) {
    EXPECT_EQ(e.status(), Status::InvalidArgument);
    EXPECT_NE(std::string(e.what()).find("-200"), std::string::npos) << e.what();
  }
}

TEST(LlmModel, CachedPiecesEqualOneForwardWithAndWithoutWindow) {
  auto config = tiny_gqa_config();
  Phi3Model model(config);
  fill_random(*model, 2);
  torch::manual_seed(0);
  const int64_t T = 40;
  auto embeds = torch::randn({1, T, config.hidden_size});
  for (int64_t window : {0, 9}) {
    Phi3ForwardOptions all;
    all.logits_last = Phi3ForwardOptions::kAllPositions;
    all.sliding_window_keys = window;
    all.output_hidden_states = true;
    auto full = model->forward(embeds, 0, nullptr, all);
    ASSERT_EQ(full.hidden_states.size(), size_t(config.num_layers + 1));
    EXPECT_TRUE(torch::equal(full.hidden_states.back(), full.last_hidden));
    EXPECT_TRUE(torch::equal(full.hidden_states.front(), embeds));

    Phi3KvCache cache(config, T, torch::kFloat32);
    all.output_hidden_states = false;
    std::vector<torch::Tensor> h, l;
    for (auto [from, n] : std::vector<std::pair<int64_t, int64_t>>{{0, 17}, {17, 13}}) {
      auto out = model->forward(embeds.narrow(1, from, n), from, &cache, all);
      h.push_back(out.last_hidden);
      l.push_back(out.logits);
    }
    for (int64_t p = 30; p < T; ++p) {
      auto out = model->forward(embeds.narrow(1, p, 1), p, &cache, all);
      h.push_back(out.last_hidden);
      l.push_back(out.logits);
    }
    auto w = " (window " + std::to_string(window) + ")";
    XSAM_EXPECT_CLOSE(torch::cat(h, 1), full.last_hidden, 1e-5, "tiny GQA cached vs full: hidden" + w);
    XSAM_EXPECT_CLOSE(torch::cat(l, 1), full.logits, 1e-5, "tiny GQA cached vs full: logits" + w);
  }
  // The window must change something once the sequence is longer than it.
  Phi3ForwardOptions a, b;
  b.sliding_window_keys = 9;
  auto d = (model->forward(embeds, 0, nullptr, a).last_hidden - model->forward(embeds, 0, nullptr, b).last_hidden).abs();
  EXPECT_EQ(d.narrow(1, 0, 9).max().item<double>(), 0.0);
  EXPECT_GT(d.narrow(1, 9, T - 9).max().item<double>(), 1e-3);
}

TEST(LlmModel, LogitsOnlyForTheRowsAsked) {
  Phi3Model model(tiny_gqa_config());
  fill_random(*model, 3);
  auto embeds = torch::randn({1, 6, 32}, at::detail::createCPUGenerator(30));
  Phi3ForwardOptions o;
  EXPECT_EQ(model->forward(embeds, 0, nullptr, o).logits.sizes(), torch::IntArrayRef({1, 1, 97}));
  o.logits_last = 0;
  EXPECT_FALSE(model->forward(embeds, 0, nullptr, o).logits.defined());
  o.logits_last = 3;
  auto three = model->forward(embeds, 0, nullptr, o).logits;
  o.logits_last = Phi3ForwardOptions::kAllPositions;
  auto all = model->forward(embeds, 0, nullptr, o).logits;
  // 3 rows vs 6 rows through the GEMMs: OpenBLAS's fp32 bits depend on the row count, so a bound relative
  // to the largest logit (allclose's absolute 1e-8 failed on logits near 0 on AVX2-only CPUs).
  XSAM_EXPECT_CLOSE(three, all.narrow(1, 3, 3), 1e-5, "logits of the last 3 rows vs all rows");
  o.logits_last = 7;
  EXPECT_THROW(model->forward(embeds, 0, nullptr, o), xsam::Failure);
}

TEST(LlmModel, GenerateOnAnEosStops) {
  auto config = tiny_gqa_config();
  Phi3Model model(config);
  fill_random(*model, 4);
  auto embeds = torch::randn({1, 5, 32});
  Phi3KvCache probe(config, 5, torch::kFloat32);
  const int64_t first = model->forward(embeds, 0, &probe).logits.argmax().item<int64_t>();
  Phi3KvCache cache(config, 5 + 8, torch::kFloat32);
  GenerateOptions options;
  options.max_new_tokens = 8;
  options.end_token = -1;
  options.eos_token = first;  // the first greedy token is the EOS
  auto result = phi3_generate(*model, cache, embeds, options);
  EXPECT_EQ(result.ids, std::vector<int64_t>{first});
  EXPECT_EQ(result.stop, StopReason::Eos);
  EXPECT_EQ(result.generated_hidden.size(1), 0);
  EXPECT_EQ(cache.length(), 5);
}

}  // namespace
}  // namespace xsam::test
