#include "models/pixel_decoder.h"

#include <algorithm>
#include <string>

#include <ATen/ATen.h>
#include <torch/nn/modules/container/modulelist.h>

#include "core/error.h"
#include "models/mask2former_ops.h"

namespace xsam {

namespace {

// Upstream's GroupNorm eps is the PyTorch default; LayerNorm eps comes from the config.
constexpr double kGroupNormEps = 1e-5;

int64_t log2_exact(int64_t v, const char* what) {
  int64_t n = 0;
  while (v > 1 && v % 2 == 0) {
    v /= 2;
    ++n;
  }
  if (v != 1) fail(Status::Model, std::string("mask2former.") + what + " must be a power of two");
  return n;
}

// Reference points: pixel centres ((j+0.5)/W, (i+0.5)/H) of every level, flattened level after level.
// Valid ratios are all 1 (no padding inside the decoder), so the same point serves every target level.
torch::Tensor reference_points(const std::vector<LevelShape>& shapes, int64_t batch, int64_t levels,
                               const torch::TensorOptions& options) {
  std::vector<torch::Tensor> per_level;
  auto f32 = options.dtype(at::kFloat);
  for (const auto& s : shapes) {
    auto ys = at::linspace(0.5, s.height - 0.5, s.height, f32).to(options.dtype()) / static_cast<double>(s.height);
    auto xs = at::linspace(0.5, s.width - 0.5, s.width, f32).to(options.dtype()) / static_cast<double>(s.width);
    auto grid_y = ys.view({s.height, 1}).expand({s.height, s.width}).reshape({-1});
    auto grid_x = xs.view({1, s.width}).expand({s.height, s.width}).reshape({-1});
    per_level.push_back(at::stack({grid_x, grid_y}, -1));  // (H·W, 2) as (x, y)
  }
  auto ref = at::cat(per_level, 0);                        // (N, 2)
  return ref.view({1, -1, 1, 2}).expand({batch, ref.size(0), levels, 2});
}

}  // namespace

ConvGroupNormImpl::ConvGroupNormImpl(int64_t in_channels, int64_t out_channels, int64_t kernel, bool conv_bias,
                                     int64_t groups, bool relu)
    : groups_(groups), relu_(relu) {
  conv_ = register_module(
      "0", torch::nn::Conv2d(
               torch::nn::Conv2dOptions(in_channels, out_channels, kernel).padding(kernel / 2).bias(conv_bias)));
  norm_ = register_module("1", torch::nn::GroupNorm(torch::nn::GroupNormOptions(groups, out_channels)));
}

torch::Tensor ConvGroupNormImpl::forward(const torch::Tensor& x) {
  auto y = m2f::group_norm_fp32(conv_->forward(x), groups_, norm_->weight, norm_->bias, kGroupNormEps);
  return relu_ ? at::relu(y) : y;
}

DeformableEncoderLayerImpl::DeformableEncoderLayerImpl(const Mask2FormerConfig& c) : eps_(c.layer_norm_eps) {
  self_attn_ = register_module("self_attn",
                               MsDeformAttn(c.feature_size, c.num_heads, c.num_feature_levels, c.num_points));
  self_attn_layer_norm_ = register_module(
      "self_attn_layer_norm", torch::nn::LayerNorm(torch::nn::LayerNormOptions({c.feature_size})));
  fc1_ = register_module("fc1", torch::nn::Linear(c.feature_size, c.encoder_feedforward_dim));
  fc2_ = register_module("fc2", torch::nn::Linear(c.encoder_feedforward_dim, c.feature_size));
  final_layer_norm_ =
      register_module("final_layer_norm", torch::nn::LayerNorm(torch::nn::LayerNormOptions({c.feature_size})));
}

torch::Tensor DeformableEncoderLayerImpl::forward(const torch::Tensor& hidden, const torch::Tensor& position,
                                                  const torch::Tensor& reference,
                                                  const std::vector<LevelShape>& shapes) {
  auto h = hidden + self_attn_->forward(hidden, position, reference, shapes);
  h = m2f::layer_norm_fp32(h, self_attn_layer_norm_->weight, self_attn_layer_norm_->bias, eps_);
  auto ffn = fc2_->forward(at::relu(fc1_->forward(h)));
  return m2f::layer_norm_fp32(h + ffn, final_layer_norm_->weight, final_layer_norm_->bias, eps_);
}

PixelDecoderImpl::PixelDecoderImpl(const Mask2FormerConfig& config) : config_(config) {
  const auto& c = config_;
  const int64_t levels = c.num_feature_levels;
  if (levels < 1 || static_cast<int64_t>(c.feature_channels.size()) < levels)
    fail(Status::Model, "mask2former.feature_channels must have num_feature_levels entries");
  if (static_cast<int64_t>(c.feature_strides.size()) < levels)
    fail(Status::Model, "mask2former.feature_strides must have at least num_feature_levels entries");

  // The transformer levels are the last `levels` inputs; the FPN adds levels down to common_stride.
  const int min_stride =
      *std::min_element(c.feature_strides.end() - levels, c.feature_strides.end());
  num_fpn_levels_ = log2_exact(min_stride, "feature_strides") - log2_exact(c.common_stride, "common_stride");
  if (num_fpn_levels_ < 0 || num_fpn_levels_ > static_cast<int64_t>(c.feature_channels.size()))
    fail(Status::Model, "mask2former: common_stride " + std::to_string(c.common_stride) +
                            " is incompatible with feature_strides (min transformer stride " +
                            std::to_string(min_stride) + ")");

  const std::vector<int> transformer_channels(c.feature_channels.end() - levels, c.feature_channels.end());
  auto projections = register_module("input_projections", torch::nn::ModuleList());
  for (int64_t k = 0; k < levels; ++k) {  // reversed: level 0 is the lowest resolution
    ConvGroupNorm p(transformer_channels[static_cast<size_t>(levels - 1 - k)], c.feature_size, 1, true,
                    c.group_norm_groups, false);
    projections->push_back(p);
    input_projections_.push_back(p);
  }
  level_embed_ = register_parameter("level_embed", at::zeros({levels, c.feature_size}));

  auto encoder = register_module("encoder", std::make_shared<torch::nn::Module>());
  auto layers = encoder->register_module("layers", torch::nn::ModuleList());
  for (int i = 0; i < c.encoder_layers; ++i) {
    DeformableEncoderLayer layer(c);
    layers->push_back(layer);
    layers_.push_back(layer);
  }

  for (int64_t i = 0; i < num_fpn_levels_; ++i) {
    const std::string n = std::to_string(i + 1);
    adapters_.push_back(register_module(
        "adapter_" + n, ConvGroupNorm(c.feature_channels[static_cast<size_t>(i)], c.feature_size, 1, false,
                                      c.group_norm_groups, false)));
    fpn_outputs_.push_back(register_module(
        "layer_" + n, ConvGroupNorm(c.feature_size, c.feature_size, 3, false, c.group_norm_groups, true)));
  }
  mask_projection_ = register_module(
      "mask_projection", torch::nn::Conv2d(torch::nn::Conv2dOptions(c.feature_size, c.mask_feature_size, 1)));
}

PixelDecoderOutput PixelDecoderImpl::forward(const std::vector<torch::Tensor>& features_in) {
  const auto& c = config_;
  const int64_t levels = c.num_feature_levels;
  if (static_cast<int64_t>(features_in.size()) != static_cast<int64_t>(c.feature_channels.size()))
    fail(Status::InvalidArgument, "pixel_decoder: expected " + std::to_string(c.feature_channels.size()) +
                                      " feature maps, got " + std::to_string(features_in.size()));
  const auto dtype = level_embed_.scalar_type();
  std::vector<torch::Tensor> features;
  for (size_t i = 0; i < features_in.size(); ++i) {
    const auto& f = features_in[i];
    if (f.dim() != 4 || f.size(1) != c.feature_channels[i])
      fail(Status::InvalidArgument, "pixel_decoder: feature " + std::to_string(i) + " must be (B, " +
                                        std::to_string(c.feature_channels[i]) + ", H, W)");
    features.push_back(f.to(level_embed_.device(), dtype));
  }
  const int64_t batch = features[0].size(0);

  // Levels low → high resolution: level k is features[n-1-k].
  std::vector<torch::Tensor> tokens, positions;
  std::vector<LevelShape> shapes;
  const int64_t n = static_cast<int64_t>(features.size());
  for (int64_t k = 0; k < levels; ++k) {
    const auto& x = features[static_cast<size_t>(n - 1 - k)];
    auto projected = input_projections_[static_cast<size_t>(k)]->forward(x);
    shapes.push_back({projected.size(2), projected.size(3)});
    tokens.push_back(projected.flatten(2).transpose(1, 2));  // (B, h·w, D), row-major
    // The position embedding is computed on the raw input map; the level embedding goes on the position.
    auto pos = m2f::sine_position_embedding(x, c.feature_size / 2).flatten(2).transpose(1, 2);
    positions.push_back(pos + level_embed_[k].view({1, 1, -1}));
  }
  auto hidden = at::cat(tokens, 1);
  auto position = at::cat(positions, 1);
  auto reference = reference_points(shapes, batch, levels, hidden.options());
  for (auto& layer : layers_) hidden = layer->forward(hidden, position, reference, shapes);

  // Back to maps, one per level.
  std::vector<torch::Tensor> outputs;
  int64_t start = 0;
  for (const auto& s : shapes) {
    outputs.push_back(hidden.narrow(1, start, s.size()).transpose(1, 2).reshape({batch, -1, s.height, s.width}));
    start += s.size();
  }

  // FPN levels, coarsest first: features[i] with adapter_{i+1} / layer_{i+1}, i = num_fpn − 1 … 0.
  for (int64_t i = num_fpn_levels_ - 1; i >= 0; --i) {
    auto lateral = adapters_[static_cast<size_t>(i)]->forward(features[static_cast<size_t>(i)]);
    auto up = m2f::resize_bilinear(outputs.back(), lateral.size(2), lateral.size(3));
    outputs.push_back(fpn_outputs_[static_cast<size_t>(i)]->forward(lateral + up));
  }

  PixelDecoderOutput out;
  out.multi_scale_features.assign(outputs.begin(), outputs.begin() + levels);
  out.mask_features = mask_projection_->forward(outputs.back());
  return out;
}

}  // namespace xsam
