// Greedy generation on the three predict-mode golden cases (max_new_tokens = 16): the ids must equal
// upstream's `generate.sequences` (stop token included) and the prompt + per-step final-norm hidden states
// must equal `generate.step_last_hidden` (spec §2.8, §6).
#include <gtest/gtest.h>
#include <torch/torch.h>

#include "core/error.h"
#include "golden/llm_test_model.h"
#include "models/phi3_generate.h"
#include "models/phi3_kv_cache.h"
#include "support/golden.h"

namespace xsam::test {
namespace {

constexpr int64_t kGoldenMaxNewTokens = 16;  // the golden generator's GenerationConfig

GenerateOptions golden_generate_options() {
  auto options = GenerateOptions::from_config(golden_config());
  options.max_new_tokens = kGoldenMaxNewTokens;
  return options;
}

std::vector<int64_t> to_ids(const torch::Tensor& t) {
  auto flat = t.reshape({-1}).contiguous();
  return std::vector<int64_t>(flat.data_ptr<int64_t>(), flat.data_ptr<int64_t>() + flat.numel());
}

class LlmGenerateCase : public ::testing::TestWithParam<std::string> {};

TEST_P(LlmGenerateCase, GreedyMatchesUpstream) {
  GoldenCase c(GetParam());
  const auto& model = golden_llm();
  auto embeds = c.get("llm.inputs_embeds");
  const int64_t T = embeds.size(1);
  Phi3KvCache cache(model->config(), T + kGoldenMaxNewTokens, model->dtype());

  std::vector<int64_t> streamed;
  auto options = golden_generate_options();
  options.on_token = [&](int64_t token, int64_t index) {
    EXPECT_EQ(index, static_cast<int64_t>(streamed.size()));
    streamed.push_back(token);
    return true;
  };
  auto result = phi3_generate(*model, cache, embeds, options);

  auto expected = to_ids(c.get("generate.sequences"));
  EXPECT_EQ(result.ids, expected) << c.name() << ": generated ids";
  EXPECT_EQ(streamed, result.ids) << c.name() << ": callback saw every token";
  EXPECT_EQ(result.stop, StopReason::EndToken) << c.name();
  EXPECT_EQ(result.ids.back(), golden_config().tokens.end);
  EXPECT_EQ(result.generated_hidden.size(1), static_cast<int64_t>(result.ids.size()) - 1);
  EXPECT_EQ(cache.length(), T + static_cast<int64_t>(result.ids.size()) - 1);
  XSAM_EXPECT_CLOSE(result.prompt_hidden, c.get("llm.final_norm_hidden"), 1e-4, c.name() + ": llm.final_norm_hidden");
  XSAM_EXPECT_CLOSE(result.all_hidden(), c.get("generate.step_last_hidden"), 1e-4,
                    c.name() + ": generate.step_last_hidden");
  XSAM_EXPECT_CLOSE(result.prompt_last_logits.logsumexp(-1).reshape({1, 1}), c.get("llm.logits_logsumexp"), 1e-4,
                    c.name() + ": llm.logits_logsumexp");
}

INSTANTIATE_TEST_SUITE_P(PredictCases, LlmGenerateCase,
                         ::testing::Values("imgconv_gen", "gcgseg_gen", "refseg_gen"),
                         [](const ::testing::TestParamInfo<std::string>& info) { return info.param; });

// The same generation with the image prefix prefilled first (as the per-image cache does) and the rest of
// the prompt handed to phi3_generate.
TEST(LlmGenerate, CachedImagePrefixGivesTheSameResult) {
  GoldenCase c("refseg_gen");
  const auto& model = golden_llm();
  auto embeds = c.get("llm.inputs_embeds");
  const int64_t T = embeds.size(1);
  const int64_t image_at = c.json()["sentinels"]["image(-200)"][0].get<int64_t>();
  const int64_t prefix = image_at + golden_config().image_tokens();
  ASSERT_LT(prefix, T);

  Phi3KvCache cache(model->config(), T + kGoldenMaxNewTokens, model->dtype());
  Phi3ForwardOptions no_logits;
  no_logits.logits_last = 0;
  auto head = model->forward(embeds.narrow(1, 0, prefix), 0, &cache, no_logits);
  auto result = phi3_generate(*model, cache, embeds.narrow(1, prefix, T - prefix), golden_generate_options());

  EXPECT_EQ(result.ids, to_ids(c.get("generate.sequences")));
  auto all = torch::cat({head.last_hidden, result.all_hidden()}, 1);
  XSAM_EXPECT_CLOSE(all, c.get("generate.step_last_hidden"), 1e-4, "refseg_gen (cached prefix): generate.step_last_hidden");
}

TEST(LlmGenerate, CallbackCancels) {
  GoldenCase c("gcgseg_gen");
  const auto& model = golden_llm();
  auto embeds = c.get("llm.inputs_embeds");
  Phi3KvCache cache(model->config(), embeds.size(1) + kGoldenMaxNewTokens, model->dtype());
  auto options = golden_generate_options();
  options.on_token = [](int64_t, int64_t index) { return index < 2; };
  try {
    phi3_generate(*model, cache, embeds, options);
    FAIL() << "expected Status::Cancelled";
  } catch (const xsam::Failure& e) {
    EXPECT_EQ(e.status(), Status::Cancelled) << e.what();
  }
}

TEST(LlmGenerate, StopsAtMaxNewTokens) {
  GoldenCase c("gcgseg_gen");
  const auto& model = golden_llm();
  auto embeds = c.get("llm.inputs_embeds");
  auto expected = to_ids(c.get("generate.sequences"));
  Phi3KvCache cache(model->config(), embeds.size(1) + 3, model->dtype());
  auto options = golden_generate_options();
  options.max_new_tokens = 3;
  auto result = phi3_generate(*model, cache, embeds, options);
  EXPECT_EQ(result.stop, StopReason::MaxNewTokens);
  EXPECT_EQ(result.ids, std::vector<int64_t>(expected.begin(), expected.begin() + 3));
  EXPECT_EQ(result.generated_hidden.size(1), 2);
  XSAM_EXPECT_CLOSE(result.all_hidden(), c.get("generate.step_last_hidden").narrow(1, 0, embeds.size(1) + 2), 1e-4,
                    "gcgseg_gen (max_new_tokens 3): generate.step_last_hidden");
}

TEST(LlmGenerate, RefusesACacheTooSmall) {
  GoldenCase c("gcgseg_gen");
  const auto& model = golden_llm();
  auto embeds = c.get("llm.inputs_embeds");
  Phi3KvCache cache(model->config(), embeds.size(1) + 4, model->dtype());
  auto options = golden_generate_options();  // needs T + 15
  try {
    phi3_generate(*model, cache, embeds, options);
    FAIL() << "expected Status::Limit";
  } catch (const xsam::Failure& e) {
    EXPECT_EQ(e.status(), Status::Limit) << e.what();
    EXPECT_EQ(cache.length(), 0);
  }
}

// Seeded sampling: same seed, same ids; top_k = 1 is greedy.
TEST(LlmGenerate, SeededSamplingIsReproducible) {
  GoldenCase c("imgconv_gen");
  const auto& model = golden_llm();
  auto embeds = c.get("llm.inputs_embeds");
  auto run = [&](SamplingOptions s) {
    Phi3KvCache cache(model->config(), embeds.size(1) + kGoldenMaxNewTokens, model->dtype());
    auto options = golden_generate_options();
    options.sampling = s;
    return phi3_generate(*model, cache, embeds, options).ids;
  };
  SamplingOptions hot;
  hot.do_sample = true;
  hot.temperature = 50.0;  // flat enough that the biased chain is left
  hot.seed = 7;
  auto a = run(hot), b = run(hot);
  EXPECT_EQ(a, b);
  hot.seed = 8;
  EXPECT_NE(run(hot), a) << "another seed should draw other tokens at this temperature";
  SamplingOptions top1;
  top1.do_sample = true;
  top1.top_k = 1;
  EXPECT_EQ(run(top1), to_ids(c.get("generate.sequences")));
}

}  // namespace
}  // namespace xsam::test
