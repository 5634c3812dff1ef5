// The golden set's LLM, loaded once per test process (fp32 and bf16), and helpers shared by the LLM
// golden tests.
#pragma once
#include <cstdio>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <torch/torch.h>

#include "io/weights.h"
#include "models/phi3.h"
#include "support/golden.h"

namespace xsam::test {

// Phi3Model(golden config.llm) bound to model.safetensors under "llm.", with a clean bind report: nothing
// missing, no shape mismatch, every "llm." tensor used.
inline Phi3Model load_golden_llm(torch::Dtype dtype) {
  auto config = golden_config();
  Phi3Model model(config.llm, dtype);
  auto store = WeightStore::open_file(golden_dir() + "/model.safetensors");
  auto report = bind_module(*model, store, "llm.");
  std::vector<std::string> other_parts;
  for (const auto& name : store.names())
    if (name.rfind("llm.", 0) != 0) other_parts.push_back(name);
  check_bind_report(report, store, other_parts);  // throws on any missing / mismatched / unused llm. key
  return model;
}

inline const Phi3Model& golden_llm() {
  static Phi3Model m = load_golden_llm(torch::kFloat32);
  return m;
}

inline const Phi3Model& golden_llm_bf16() {
  static Phi3Model m = load_golden_llm(torch::kBFloat16);
  return m;
}

inline bool is_generation_case(const GoldenCase& c) { return c.has("generate.sequences"); }

// argmax ids must be identical except where our top two logits are within 1e-4 × max|logit| of each other
// (docs/design/decisions.md#tolerances); such positions are listed.
inline void expect_argmax_matches(const torch::Tensor& logits /*[1,n,V] fp32*/, const torch::Tensor& ref_ids /*[1,n]*/,
                                  const std::string& what) {
  ASSERT_EQ(logits.size(1), ref_ids.size(1)) << what;
  auto ours = logits.argmax(-1);
  auto mismatch = (ours != ref_ids).nonzero();
  int64_t near_ties = 0;
  const double scale = logits.abs().max().item<double>();
  for (int64_t i = 0; i < mismatch.size(0); ++i) {
    const int64_t pos = mismatch[i][1].item<int64_t>();
    auto row = logits[0][pos];
    const int64_t a = ours[0][pos].item<int64_t>(), b = ref_ids[0][pos].item<int64_t>();
    const double gap = (row[a] - row[b]).item<double>();
    const bool tie = gap < 1e-4 * scale;
    std::printf("[parity] %s: position %lld argmax %lld vs golden %lld, gap %.3g (%s)\n", what.c_str(),
                static_cast<long long>(pos), static_cast<long long>(a), static_cast<long long>(b), gap,
                tie ? "near-tie, allowed" : "MISMATCH");
    EXPECT_TRUE(tie) << what << ": argmax differs at position " << pos;
    near_ties += tie;
  }
  std::printf("[parity] %-60s %lld positions, %lld differ (near-ties %lld)\n", what.c_str(),
              static_cast<long long>(ref_ids.size(1)), static_cast<long long>(mismatch.size(0)),
              static_cast<long long>(near_ties));
}

}  // namespace xsam::test
