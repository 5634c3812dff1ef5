// DynamicProjector (docs/design/upstream-facts.md#projectors): Linear → exact-erf GELU → Linear (depth 2; deeper configs add
// GELU → Linear pairs), optionally preceded by the pixel shuffle for 4-D channels-last input.
// Used three times: visual_projector (SigLIP → LLM), seg_projector (SAM hs → LLM, shuffle 0.5) and
// llm_projector (LLM → decoder). Parameter names relative to the part prefix: model.0.*, model.2.*, …
#pragma once
#include <memory>
#include <vector>

#include <torch/nn/module.h>
#include <torch/types.h>

#include "core/config.h"
#include "models/layers.h"

namespace xsam {

class Projector : public torch::nn::Module {
 public:
  // `dtype`: the math dtype its input is cast to (the weights may stay bf16 under fp32 math).
  Projector(const ProjectorConfig& config, torch::Dtype dtype);

  // (B, T, in_features) → (B, T, out_features); or (B, H, W, in_features) channels-last →
  // pad to even H/W (maybe_pad) when shuffling, pixel-shuffle by downsample_ratio, flatten row-major
  // to (B, H·W·r², out_features). The input is cast to the math dtype.
  torch::Tensor forward(const torch::Tensor& x) const;

  const ProjectorConfig& config() const { return config_; }

 private:
  ProjectorConfig config_;
  torch::Dtype dtype_;
  std::vector<std::shared_ptr<layers::Linear>> linears_;  // at Sequential indices 0, 2, 4, …
};

}  // namespace xsam
