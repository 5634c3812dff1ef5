#include "models/projector.h"

#include <string>

#include <torch/torch.h>

#include "core/error.h"
#include "models/pixel_shuffle.h"

namespace xsam {

Projector::Projector(const ProjectorConfig& config, torch::Dtype dtype) : config_(config), dtype_(dtype) {
  if (config.depth < 1) fail(Status::InvalidArgument, "projector: depth must be >= 1, got " + std::to_string(config.depth));
  auto model = layers::add_group(*this, "model");
  // upstream: [Linear(in_dim, out)] + depth-1 × [GELU, Linear(out, out)] in one nn.Sequential.
  int64_t in = config.input_dim();
  for (int i = 0; i < config.depth; ++i) {
    auto linear = std::make_shared<layers::Linear>(in, config.out_features, config.bias);
    linears_.push_back(model->register_module(std::to_string(2 * i), linear));
    in = config.out_features;
  }
}

torch::Tensor Projector::forward(const torch::Tensor& input) const {
  auto x = input.to(dtype_);
  if (x.dim() == 4) {
    if (config_.downsample_ratio != 1.0) {
      // Upstream shuffles without padding (and would fail on an odd grid); padding first is what the
      // connector does and what ModelConfig::sam_llm_tokens() counts. A no-op on even grids.
      x = pixel_shuffle(maybe_pad(x), config_.downsample_ratio);
    }
    x = x.reshape({x.size(0), -1, x.size(-1)});
  }
  if (x.size(-1) != config_.input_dim())
    fail(Status::InvalidArgument, "projector: input has " + std::to_string(x.size(-1)) + " features, expected " +
                                      std::to_string(config_.input_dim()));
  x = (*linears_[0])(x);
  for (size_t i = 1; i < linears_.size(); ++i) x = (*linears_[i])(at::gelu(x));  // exact erf GELU (ACT2FN["gelu"])
  return x;
}

}  // namespace xsam
