// Next-token choice: greedy (first index on ties), seeded sampling, HF-order warpers, option validation.
#include <cmath>
#include <limits>
#include <set>

#include <gtest/gtest.h>
#include <torch/torch.h>

#include "core/error.h"
#include "generate/sampling.h"

namespace xsam::test {
namespace {

TEST(LlmSampling, GreedyTakesTheFirstMaximum) {
  TokenSampler greedy(SamplingOptions{});
  EXPECT_EQ(greedy.next(torch::tensor({0.5f, 2.0f, 1.0f, 2.0f})), 1);
}

TEST(LlmSampling, SameSeedSameDraws) {
  SamplingOptions s;
  s.do_sample = true;
  s.seed = 42;
  auto logits = torch::zeros({50});
  std::vector<int64_t> a, b, c;
  TokenSampler x(s), y(s);
  for (int i = 0; i < 20; ++i) a.push_back(x.next(logits)), b.push_back(y.next(logits));
  EXPECT_EQ(a, b);
  s.seed = 43;
  TokenSampler z(s);
  for (int i = 0; i < 20; ++i) c.push_back(z.next(logits));
  EXPECT_NE(a, c);
}

TEST(LlmSampling, DrawsFollowTheProbabilities) {
  SamplingOptions s;
  s.do_sample = true;
  TokenSampler sampler(s);
  auto logits = torch::tensor({std::log(0.25f), std::log(0.75f)});
  int ones = 0;
  for (int i = 0; i < 4000; ++i) ones += sampler.next(logits) == 1;
  EXPECT_NEAR(ones / 4000.0, 0.75, 0.03);
}

// Found by the C API fuzzer: logits / 1e-30 overflow to inf and softmax gave NaN (multinomial threw).
// The limit of a vanishing temperature is greedy; with top-k / top-p too.
TEST(LlmSampling, TinyTemperatureIsTheGreedyLimitNotNaN) {
  auto logits = torch::tensor({1.0f, 3.0f, -2.0f, 2.5f, -std::numeric_limits<float>::infinity()});
  for (double t : {1e-30, 1e-38, 1e-45, 1e-300}) {
    for (int top_k : {0, 2}) {
      SamplingOptions s;
      s.do_sample = true;
      s.temperature = t;
      s.top_k = top_k;
      s.top_p = top_k ? 0.9 : 1.0;
      TokenSampler sampler(s);
      for (int i = 0; i < 20; ++i) EXPECT_EQ(sampler.next(logits), 1) << "temperature " << t << " top_k " << top_k;
    }
  }
  // An ordinary temperature still samples (both of two equal tokens drawn).
  SamplingOptions s;
  s.do_sample = true;
  s.temperature = 0.5;
  TokenSampler sampler(s);
  std::set<int64_t> seen;
  for (int i = 0; i < 200; ++i) seen.insert(sampler.next(torch::tensor({2.0f, 2.0f, -30.0f})));
  EXPECT_EQ(seen, (std::set<int64_t>{0, 1}));
}

TEST(LlmSampling, TopKAndTopPRestrictTheCandidates) {
  auto logits = torch::tensor({1.0f, 3.0f, 2.0f, 2.9f});
  SamplingOptions k2;
  k2.do_sample = true;
  k2.top_k = 2;
  k2.temperature = 100.0;  // nearly uniform over what survives
  TokenSampler top_k(k2);
  std::set<int64_t> seen;
  for (int i = 0; i < 200; ++i) seen.insert(top_k.next(logits));
  EXPECT_EQ(seen, (std::set<int64_t>{1, 3}));

  SamplingOptions p;
  p.do_sample = true;
  p.top_p = 0.01;  // only the most likely token survives
  TokenSampler top_p(p);
  for (int i = 0; i < 50; ++i) EXPECT_EQ(top_p.next(logits), 1);
}

TEST(LlmSampling, RejectsBadOptions) {
  auto status = [](SamplingOptions s) {
    s.do_sample = true;
    try {
      TokenSampler t(s);
    } catch (const xsam::Failure& e) {
      return e.status();
    }
    return Status::Ok;
  };
  SamplingOptions s;
  s.temperature = 0;
  EXPECT_EQ(status(s), Status::InvalidArgument);
  s = {};
  s.top_p = 0;
  EXPECT_EQ(status(s), Status::InvalidArgument);
  s = {};
  s.top_k = -1;
  EXPECT_EQ(status(s), Status::InvalidArgument);
  EXPECT_EQ(status(SamplingOptions{}), Status::Ok);
}

}  // namespace
}  // namespace xsam::test
