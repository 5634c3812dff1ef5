#include "models/connector.h"

#include <string>

#include <torch/torch.h>

#include "core/error.h"
#include "models/pixel_shuffle.h"

namespace xsam {

ConnectorLevel::ConnectorLevel(int64_t in_channels, int64_t hidden_channels, double scale, bool bias, double eps)
    : scale_(scale) {
  // The last conv's width is int(C_enc · s) whatever hidden_channels is (upstream ConvConnectorLayer).
  const int64_t out_channels = static_cast<int64_t>(in_channels * scale);
  auto model = layers::add_group(*this, "model");
  conv0_ = model->register_module("0", std::make_shared<layers::Conv2d>(in_channels, hidden_channels, 1, 1, 0, bias));
  norm1_ = model->register_module("1", std::make_shared<layers::LayerNorm2d>(hidden_channels, eps));
  conv2_ = model->register_module("2", std::make_shared<layers::Conv2d>(hidden_channels, hidden_channels, 3, 1, 1, bias));
  norm3_ = model->register_module("3", std::make_shared<layers::LayerNorm2d>(hidden_channels, eps));
  conv4_ = model->register_module("4", std::make_shared<layers::Conv2d>(hidden_channels, out_channels, 1, 1, 0, bias));
  norm5_ = model->register_module("5", std::make_shared<layers::LayerNorm2d>(out_channels, eps));
}

torch::Tensor ConnectorLevel::forward(const torch::Tensor& input) const {
  auto x = maybe_pad(input.to(conv0_->weight.scalar_type())).permute({0, 3, 1, 2}).contiguous();
  x = (*norm1_)((*conv0_)(x));
  x = (*norm3_)((*conv2_)(x));
  x = (*norm5_)((*conv4_)(x));
  return pixel_shuffle_channels_first(x, scale_);
}

Connector::Connector(const ConnectorConfig& c) : config_(c) {
  if (c.in_channels.size() != c.scale_factors.size())
    fail(Status::InvalidArgument, "connector: in_channels and scale_factors must have the same length");
  auto model = layers::add_group(*this, "model");
  for (size_t l = 0; l < c.in_channels.size(); ++l)
    levels_.push_back(model->register_module(
        std::to_string(l), std::make_shared<ConnectorLevel>(c.in_channels[l], c.hidden_channels, c.scale_factors[l],
                                                            c.bias, c.layer_norm_eps)));
}

std::vector<torch::Tensor> Connector::forward(const std::vector<torch::Tensor>& hidden_states) const {
  if (hidden_states.size() != levels_.size())
    fail(Status::InvalidArgument, "connector: got " + std::to_string(hidden_states.size()) + " hidden states for " +
                                      std::to_string(levels_.size()) + " levels");
  std::vector<torch::Tensor> out;
  for (size_t l = 0; l < levels_.size(); ++l) {
    const auto& h = hidden_states[l];
    if (h.dim() != 4 || h.size(3) != config_.in_channels[l])
      fail(Status::InvalidArgument, "connector: level " + std::to_string(l) + " input must be (B, H, W, " +
                                        std::to_string(config_.in_channels[l]) + ") channels-last");
    out.push_back(levels_[l]->forward(h));
  }
  return out;
}

}  // namespace xsam
