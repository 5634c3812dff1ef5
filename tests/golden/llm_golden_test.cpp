// Phi-3 parity on every golden case: the model run on the stored llm.inputs_embeds must reproduce the
// final-norm hidden states, per-layer hidden states, argmax/logsumexp of the logits and the stored full
// logits (docs/design/decisions.md#tolerances: 1e-4 relative; argmax identical except listed near-ties).
#include <gtest/gtest.h>
#include <torch/torch.h>

#include "golden/llm_test_model.h"
#include "models/phi3.h"
#include "support/golden.h"

namespace xsam::test {
namespace {

class LlmGoldenCase : public ::testing::TestWithParam<std::string> {};

TEST_P(LlmGoldenCase, ForwardMatchesUpstream) {
  GoldenCase c(GetParam());
  const auto& model = golden_llm();
  auto embeds = c.get("llm.inputs_embeds");
  const int64_t T = embeds.size(1);
  const std::string p = c.name() + ": ";

  Phi3ForwardOptions options;
  // Predict cases store logits of the last prompt position only (HF generate's first forward).
  options.logits_last = is_generation_case(c) ? 1 : Phi3ForwardOptions::kAllPositions;
  options.output_hidden_states = c.has("llm.hidden_states.0");
  auto out = model->forward(embeds, 0, nullptr, options);

  XSAM_EXPECT_CLOSE(out.last_hidden, c.get("llm.final_norm_hidden"), 1e-4, p + "llm.final_norm_hidden");
  for (size_t i = 0; i < out.hidden_states.size(); ++i) {
    auto name = "llm.hidden_states." + std::to_string(i);
    ASSERT_TRUE(c.has(name)) << p << name;
    XSAM_EXPECT_CLOSE(out.hidden_states[i], c.get(name), 1e-4, p + name);
  }
  if (options.output_hidden_states) EXPECT_FALSE(c.has("llm.hidden_states." + std::to_string(out.hidden_states.size())));

  expect_argmax_matches(out.logits, c.get("llm.logits_argmax"), p + "llm.logits_argmax");
  XSAM_EXPECT_CLOSE(out.logits.logsumexp(-1), c.get("llm.logits_logsumexp"), 1e-4, p + "llm.logits_logsumexp");
  for (int64_t n : c.numbered("llm.logits_last")) {
    auto name = "llm.logits_last" + std::to_string(n);
    if (c.has(name)) XSAM_EXPECT_CLOSE(out.logits.narrow(1, T - n, n), c.get(name), 1e-4, p + name);
  }
}

INSTANTIATE_TEST_SUITE_P(AllCases, LlmGoldenCase, ::testing::ValuesIn(golden_case_names()),
                         [](const ::testing::TestParamInfo<std::string>& info) { return info.param; });

// Every llm.* tensor of the checkpoint binds to a parameter of the right shape, and every parameter is filled.
TEST(LlmGolden, BindReportIsClean) {
  auto config = golden_config();
  Phi3Model model(config.llm);
  auto store = WeightStore::open_file(golden_dir() + "/model.safetensors");
  auto report = bind_module(*model, store, "llm.");
  EXPECT_TRUE(report.missing.empty());
  EXPECT_TRUE(report.mismatched.empty());
  size_t llm_keys = 0;
  for (const auto& name : store.names()) llm_keys += name.rfind("llm.", 0) == 0;
  EXPECT_EQ(report.used.size(), llm_keys);
  EXPECT_EQ(llm_keys, size_t(3 + 6 * config.llm.num_layers));  // not from the set: Phi-3's layout (3 + 6 per layer)
  // X-SAM's resized vocabulary: the config's size, which the checkpoint's embedding must have.
  EXPECT_EQ(model->model->embed_tokens->weight.size(0), config.llm.vocab_size);
  EXPECT_EQ(store.info("llm.model.embed_tokens.weight").shape.at(0), config.llm.vocab_size);
}

// genseg_long (T = 2142 > 2047): the window variants of docs/design/decisions.md#sliding-window, computed upstream
// with explicit masks.
TEST(LlmGolden, SlidingWindowVariantsOfGensegLong) {
  XSAM_NAMED_CASE(c, "genseg_long");
  const auto& model = golden_llm();
  auto embeds = c.get("llm.inputs_embeds");
  const int64_t T = embeds.size(1);
  const int64_t tail_start = c.json()["checks"]["sliding_window"]["tail_start"].get<int64_t>();
  // The case exists to exceed both windows; a set where it does not would test nothing here.
  ASSERT_GT(T, 2048) << "genseg_long must be longer than the 2048-key window";
  for (int window : {2048, 2047}) {  // not from the set: the two windows the library implements
    const std::string key = "llm_swa" + std::to_string(window) + ".";  // the set's tensor prefix
    const std::string p = "genseg_long " + key;
    Phi3ForwardOptions options;
    options.logits_last = Phi3ForwardOptions::kAllPositions;
    options.sliding_window_keys = window;
    auto out = model->forward(embeds, 0, nullptr, options);
    XSAM_EXPECT_CLOSE(out.last_hidden.narrow(1, tail_start, T - tail_start),
                      c.get(key + "final_norm_hidden_tail"), 1e-4, p + "final_norm_hidden_tail");
    for (int64_t n : c.numbered(key + "logits_last"))
      XSAM_EXPECT_CLOSE(out.logits.narrow(1, T - n, n), c.get(key + "logits_last" + std::to_string(n)), 1e-4,
                        p + "logits_last" + std::to_string(n));
    expect_argmax_matches(out.logits, c.get(key + "logits_argmax"), p + "logits_argmax");
    // The window must matter here: the no-window result differs from it at the tail.
    auto diff = (out.last_hidden.narrow(1, T - 1, 1) - c.get("llm.final_norm_hidden").narrow(1, T - 1, 1)).abs().max();
    EXPECT_GT(diff.item<double>(), 1e-2) << p << "window had no effect";
  }
}

}  // namespace
}  // namespace xsam::test
