// The naive vision sampler (docs/design/upstream-facts.md#vision-sampler): turns visual-prompt masks into <region>
// tokens by sampling the seg-projector feature map at random mask pixels. No parameters.
//
// Per mask, in order: nonzero pixels (row-major) → divide by the canvas (H, W) in fp32 → exactly
// `num_sample_point` points (randint(0, n, (N-n,)) extra repeats when n < N, randperm(n)[:N] when
// n > N) → flip to (x, y), cast to the feature dtype, 2p-1 → fp32 bilinear grid_sample with
// align_corners=True on the (g × g) feature grid → max over the samples (aaai26: one token) or
// AvgPool1d(k) over the ordered samples (main: N/k tokens).
//
// Randomness (docs/design/decisions.md#randomness-and-libtorch-version): every draw comes from an explicit CPU
// generator passed in or created per call with at::detail::createCPUGenerator(seed) — the same numbers as
// torch.manual_seed(seed) followed by the global generator, and independent across threads. All masks of one call
// draw from the same generator one after the other, as upstream's per-mask loop does.
#pragma once
#include <cstdint>

#include <ATen/core/Generator.h>
#include <torch/nn/module.h>
#include <torch/types.h>

#include "core/config.h"

namespace xsam {

class VisionSampler : public torch::nn::Module {
 public:
  explicit VisionSampler(const SamplerConfig& config) : config_(config) {}

  // features: seg-projector output (g·g, C) or (1, g·g, C), row-major grid; masks: (N, H, W), any
  // dtype, non-zero = inside, on the padded SAM canvas. Returns (N, tokens_per_region, C) in the
  // feature dtype and on the feature device. Throws InvalidArgument for an empty mask.
  torch::Tensor forward(const torch::Tensor& features, const torch::Tensor& masks, at::Generator generator) const;
  torch::Tensor forward(const torch::Tensor& features, const torch::Tensor& masks, uint64_t seed = 0) const;

  const SamplerConfig& config() const { return config_; }

 private:
  SamplerConfig config_;
};

// A fresh CPU generator seeded like torch.manual_seed(seed).
at::Generator make_cpu_generator(uint64_t seed);

}  // namespace xsam
