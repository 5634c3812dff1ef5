// Greedy generation on every predict-mode golden case: the ids must equal
// upstream's `generate.sequences` (stop token included) and the prompt + per-step final-norm hidden states
// must equal `generate.step_last_hidden` (docs/design/upstream-facts.md#generation).
#include <gtest/gtest.h>
#include <torch/torch.h>

#include "core/error.h"
#include "golden/llm_test_model.h"
#include "generate/generate.h"
#include "models/phi3_kv_cache.h"
#include "support/a1_compare.h"
#include "support/golden.h"

namespace xsam::test {
namespace {

// As many new tokens as upstream generated: where it stopped at the end token, so do we (earlier, with
// the same ids); where it hit its own limit, this is that limit.
int64_t golden_new_tokens(const GoldenCase& c) { return c.get("generate.sequences").numel(); }

GenerateOptions golden_generate_options(const GoldenCase& c) {
  auto options = GenerateOptions::from_config(golden_config());
  options.max_new_tokens = golden_new_tokens(c);
  options.record_top2_margins = true;  // for the id near-tie rule
  return options;
}

// The golden cases run in predict mode (generation): teacher_forced false and generate.sequences stored.
std::vector<std::string> predict_cases() {
  std::vector<std::string> out;
  for (const auto& name : golden_case_names()) {
    GoldenCase c(name);
    if (!c.json().value("teacher_forced", true) && c.has("generate.sequences")) out.push_back(name);
  }
  return out;
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
  Phi3KvCache cache(model->config(), T + golden_new_tokens(c), model->dtype());

  std::vector<int64_t> streamed;
  auto options = golden_generate_options(c);
  options.on_token = [&](int64_t token, int64_t index) {
    EXPECT_EQ(index, static_cast<int64_t>(streamed.size()));
    streamed.push_back(token);
    return true;
  };
  auto result = phi3_generate(*model, cache, embeds, options);

  auto expected = to_ids(c.get("generate.sequences"));
  EXPECT_TRUE(report(diff_ids(result.ids, expected, result.top2_margins), c.name() + ": generated ids", "A1 ids"));
  EXPECT_EQ(streamed, result.ids) << c.name() << ": callback saw every token";
  if (result.ids != expected) return;  // an allowed near-tie: the rest follows another path
  const bool ended = expected.back() == golden_config().tokens.end;
  EXPECT_EQ(result.stop, ended ? StopReason::EndToken : StopReason::MaxNewTokens) << c.name();
  EXPECT_EQ(result.generated_hidden.size(1), static_cast<int64_t>(result.ids.size()) - 1);
  EXPECT_EQ(cache.length(), T + static_cast<int64_t>(result.ids.size()) - 1);
  XSAM_EXPECT_CLOSE(result.prompt_hidden, c.get("llm.final_norm_hidden"), 1e-4, c.name() + ": llm.final_norm_hidden");
  XSAM_EXPECT_CLOSE(result.all_hidden(), c.get("generate.step_last_hidden"), 1e-4,
                    c.name() + ": generate.step_last_hidden");
  XSAM_EXPECT_CLOSE(result.prompt_last_logits.logsumexp(-1).reshape({1, 1}), c.get("llm.logits_logsumexp"), 1e-4,
                    c.name() + ": llm.logits_logsumexp");
}

INSTANTIATE_TEST_SUITE_P(PredictCases, LlmGenerateCase,
                         ::testing::ValuesIn(predict_cases()),
                         [](const ::testing::TestParamInfo<std::string>& info) { return info.param; });

// The same generation with the image prefix prefilled first (as the per-image cache does) and the rest of
// the prompt handed to phi3_generate.
TEST(LlmGenerate, CachedImagePrefixGivesTheSameResult) {
  XSAM_NAMED_CASE(c, "refseg_gen");
  const auto& model = golden_llm();
  auto embeds = c.get("llm.inputs_embeds");
  const int64_t T = embeds.size(1);
  const int64_t image_at = c.json()["sentinels"]["image(-200)"][0].get<int64_t>();
  const int64_t prefix = image_at + golden_config().image_tokens();
  ASSERT_LT(prefix, T);

  Phi3KvCache cache(model->config(), T + golden_new_tokens(c), model->dtype());
  Phi3ForwardOptions no_logits;
  no_logits.logits_last = 0;
  auto head = model->forward(embeds.narrow(1, 0, prefix), 0, &cache, no_logits);
  auto result = phi3_generate(*model, cache, embeds.narrow(1, prefix, T - prefix), golden_generate_options(c));

  const auto expected = to_ids(c.get("generate.sequences"));
  EXPECT_TRUE(report(diff_ids(result.ids, expected, result.top2_margins), "refseg_gen (cached prefix): ids", "A1 ids"));
  if (result.ids != expected) return;  // an allowed near-tie: the hidden states follow another path
  auto all = torch::cat({head.last_hidden, result.all_hidden()}, 1);
  XSAM_EXPECT_CLOSE(all, c.get("generate.step_last_hidden"), 1e-4, "refseg_gen (cached prefix): generate.step_last_hidden");
}

TEST(LlmGenerate, CallbackCancels) {
  XSAM_NAMED_CASE(c, "gcgseg_gen");
  const auto& model = golden_llm();
  auto embeds = c.get("llm.inputs_embeds");
  Phi3KvCache cache(model->config(), embeds.size(1) + golden_new_tokens(c), model->dtype());
  auto options = golden_generate_options(c);
  options.on_token = [](int64_t, int64_t index) { return index < 2; };
  try {
    phi3_generate(*model, cache, embeds, options);
    FAIL() << "expected Status::Cancelled";
  } catch (const xsam::Failure& e) {
    EXPECT_EQ(e.status(), Status::Cancelled) << e.what();
  }
}

TEST(LlmGenerate, StopsAtMaxNewTokens) {
  XSAM_NAMED_CASE(c, "gcgseg_gen");
  const auto& model = golden_llm();
  auto embeds = c.get("llm.inputs_embeds");
  auto expected = to_ids(c.get("generate.sequences"));
  if (expected.size() <= 3) GTEST_SKIP() << "gcgseg_gen generated only " << expected.size() << " ids";
  Phi3KvCache cache(model->config(), embeds.size(1) + 3, model->dtype());
  auto options = golden_generate_options(c);
  options.max_new_tokens = 3;
  auto result = phi3_generate(*model, cache, embeds, options);
  EXPECT_EQ(result.stop, StopReason::MaxNewTokens);
  EXPECT_EQ(result.ids, std::vector<int64_t>(expected.begin(), expected.begin() + 3));
  EXPECT_EQ(result.generated_hidden.size(1), 2);
  XSAM_EXPECT_CLOSE(result.all_hidden(), c.get("generate.step_last_hidden").narrow(1, 0, embeds.size(1) + 2), 1e-4,
                    "gcgseg_gen (max_new_tokens 3): generate.step_last_hidden");
}

TEST(LlmGenerate, RefusesACacheTooSmall) {
  XSAM_NAMED_CASE(c, "gcgseg_gen");
  const auto& model = golden_llm();
  auto embeds = c.get("llm.inputs_embeds");
  Phi3KvCache cache(model->config(), embeds.size(1) + 4, model->dtype());  // not from the set: too small on purpose
  auto options = golden_generate_options(c);
  options.max_new_tokens = 16;  // not from the set: needs T + 15 positions
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
  XSAM_NAMED_CASE(c, "imgconv_gen");
  const auto& model = golden_llm();
  auto embeds = c.get("llm.inputs_embeds");
  auto run = [&](SamplingOptions s) {
    Phi3KvCache cache(model->config(), embeds.size(1) + golden_new_tokens(c), model->dtype());
    auto options = golden_generate_options(c);
    options.sampling = s;
    return phi3_generate(*model, cache, embeds, options).ids;
  };
  SamplingOptions hot;
  hot.do_sample = true;
  hot.temperature = 50.0;  // flat enough that the biased chain is left
  hot.seed = 7;  // not from the set: the test's own sampling seeds
  auto a = run(hot), b = run(hot);
  EXPECT_EQ(a, b);
  hot.seed = 8;  // not from the set: the test's own sampling seeds
  EXPECT_NE(run(hot), a) << "another seed should draw other tokens at this temperature";
  SamplingOptions top1;
  top1.do_sample = true;
  top1.top_k = 1;
  EXPECT_EQ(run(top1), to_ids(c.get("generate.sequences")));
}

}  // namespace
}  // namespace xsam::test
