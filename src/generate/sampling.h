// Choosing the next token from fp32 logits (docs/design/upstream-facts.md#generation): greedy argmax (the default,
// first index on ties), or sampling after HF's warpers in HF's order — temperature, top-k, top-p — from a generator
// created per call with an explicit seed (docs/design/decisions.md#randomness-and-libtorch-version:
// at::detail::createCPUGenerator(seed)).
#pragma once
#include <cstdint>

#include <ATen/core/Generator.h>
#include <torch/types.h>

namespace xsam {

struct SamplingOptions {
  bool do_sample = false;    // false: greedy (upstream's GenerationConfig)
  double temperature = 1.0;  // > 0
  int64_t top_k = 0;         // 0: off
  double top_p = 1.0;        // in (0, 1]; 1: off
  uint64_t seed = 0;
};

class TokenSampler {
 public:
  explicit TokenSampler(const SamplingOptions& options);  // validates; throws InvalidArgument naming the field
  // logits: [vocab] fp32 (any device) → the chosen id.
  int64_t next(const torch::Tensor& logits);

 private:
  SamplingOptions options_;
  at::Generator generator_;  // CPU, seeded once per generation
};

}  // namespace xsam
