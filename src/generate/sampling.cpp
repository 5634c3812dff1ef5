#include "generate/sampling.h"

#include <limits>
#include <string>

#include <ATen/ATen.h>
#include <ATen/CPUGeneratorImpl.h>

#include "core/error.h"

namespace xsam {

TokenSampler::TokenSampler(const SamplingOptions& options) : options_(options) {
  if (!options.do_sample) return;
  if (!(options.temperature > 0))
    fail(Status::InvalidArgument, "sampling: temperature must be > 0, got " + std::to_string(options.temperature));
  if (options.top_k < 0)
    fail(Status::InvalidArgument, "sampling: top_k must be >= 0, got " + std::to_string(options.top_k));
  if (!(options.top_p > 0 && options.top_p <= 1))
    fail(Status::InvalidArgument, "sampling: top_p must be in (0, 1], got " + std::to_string(options.top_p));
  generator_ = at::detail::createCPUGenerator(options.seed);
}

int64_t TokenSampler::next(const torch::Tensor& logits) {
  at::NoGradGuard no_grad;
  // A temperature below float's smallest denormal is 0 in the fp32 division: its limit, greedy, directly.
  if (!options_.do_sample || static_cast<float>(options_.temperature) == 0.0f) return logits.argmax().item<int64_t>();

  const float minus_inf = -std::numeric_limits<float>::infinity();
  auto scores = logits.to(at::kCPU, at::kFloat).reshape({1, -1});
  if (options_.temperature != 1.0) {
    auto divided = scores / options_.temperature;
    // A tiny temperature can overflow the largest scores to inf, and softmax then gives NaN. Dividing the
    // scores less their maximum is the same distribution in exact arithmetic and cannot overflow (the
    // best token gets 0, the others tend to -inf: the greedy limit); used only then, so that ordinary
    // temperatures keep HF's rounding bit for bit.
    if (!at::isfinite(divided.max()).item<bool>()) {
      const auto best = scores.max();
      if (at::isfinite(best).item<bool>()) divided = (scores - best) / options_.temperature;
    }
    scores = divided;
  }
  if (options_.top_k > 0) {
    // HF TopKLogitsWarper: drop scores below the k-th largest.
    const int64_t k = std::min<int64_t>(options_.top_k, scores.size(-1));
    auto kth = std::get<0>(at::topk(scores, k)).narrow(-1, k - 1, 1);
    scores = scores.masked_fill(scores < kth, minus_inf);
  }
  if (options_.top_p < 1.0) {
    // HF TopPLogitsWarper: ascending sort, drop the tokens whose cumulative probability stays <= 1 - top_p,
    // always keeping the most likely one.
    auto sorted = at::sort(scores, /*dim=*/-1, /*descending=*/false);
    auto cumulative = at::softmax(std::get<0>(sorted), -1).cumsum(-1);
    auto remove_sorted = cumulative <= (1.0 - options_.top_p);
    remove_sorted.narrow(-1, remove_sorted.size(-1) - 1, 1).fill_(false);
    auto remove = remove_sorted.scatter(1, std::get<1>(sorted), remove_sorted);
    scores = scores.masked_fill(remove, minus_inf);
  }
  auto probs = at::softmax(scores, -1);
  return at::multinomial(probs, 1, /*replacement=*/false, generator_).item<int64_t>();
}

}  // namespace xsam
