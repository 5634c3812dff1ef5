// Mask2Former pixel decoder (docs/design/upstream-facts.md#pixel-decoder): input projections, a deformable-attention
// encoder over the levels in low → high resolution order, extra FPN level(s) and the mask projection.
// Parameter names are relative to `segmentor.pixel_decoder.` of the checkpoint.
#pragma once
#include <cstdint>
#include <vector>

#include <torch/nn/module.h>
#include <torch/nn/modules/conv.h>
#include <torch/nn/modules/linear.h>
#include <torch/nn/modules/normalization.h>
#include <torch/nn/pimpl.h>

#include "core/config.h"
#include "models/ms_deform_attn.h"

namespace xsam {

struct PixelDecoderOutput {
  // The encoder outputs per level, low → high resolution (stride 32, 16, 8 at full size), (B, D, h, w).
  std::vector<torch::Tensor> multi_scale_features;
  // mask_projection of the last FPN level: (B, mask_feature_size, H, W) at the finest FPN resolution.
  torch::Tensor mask_features;
};

// `Sequential(Conv2d, GroupNorm[, ReLU])` with the checkpoint's names `0` (conv) and `1` (norm); the
// GroupNorm statistics are computed in fp32.
class ConvGroupNormImpl : public torch::nn::Module {
 public:
  ConvGroupNormImpl(int64_t in_channels, int64_t out_channels, int64_t kernel, bool conv_bias, int64_t groups,
                    bool relu);
  torch::Tensor forward(const torch::Tensor& x);

 private:
  torch::nn::Conv2d conv_{nullptr};
  torch::nn::GroupNorm norm_{nullptr};
  int64_t groups_;
  bool relu_;
};
TORCH_MODULE(ConvGroupNorm);

// One post-norm encoder layer: h = LN(h + MSDA(h, pos)); h = LN(h + fc2(relu(fc1(h)))).
class DeformableEncoderLayerImpl : public torch::nn::Module {
 public:
  DeformableEncoderLayerImpl(const Mask2FormerConfig& config);
  torch::Tensor forward(const torch::Tensor& hidden, const torch::Tensor& position, const torch::Tensor& reference,
                        const std::vector<LevelShape>& shapes);

 private:
  double eps_;
  MsDeformAttn self_attn_{nullptr};
  torch::nn::LayerNorm self_attn_layer_norm_{nullptr};
  torch::nn::Linear fc1_{nullptr}, fc2_{nullptr};
  torch::nn::LayerNorm final_layer_norm_{nullptr};
};
TORCH_MODULE(DeformableEncoderLayer);

class PixelDecoderImpl : public torch::nn::Module {
 public:
  explicit PixelDecoderImpl(const Mask2FormerConfig& config);

  // `features`: the connector outputs, high → low resolution (strides 8, 16, 32 at full size), with
  // config.feature_channels channels; cast to the module's dtype.
  PixelDecoderOutput forward(const std::vector<torch::Tensor>& features);

  // Number of extra FPN levels: log2(min transformer stride) − log2(common_stride) (1 at full size).
  int64_t num_fpn_levels() const { return num_fpn_levels_; }

 private:
  Mask2FormerConfig config_;
  int64_t num_fpn_levels_ = 0;
  torch::Tensor level_embed_;                 // (levels, D), added to the positions
  std::vector<ConvGroupNorm> input_projections_;  // [k] projects level k of the low → high order
  std::vector<DeformableEncoderLayer> layers_;
  std::vector<ConvGroupNorm> adapters_;       // adapter_{i+1}: lateral conv of features[i]
  std::vector<ConvGroupNorm> fpn_outputs_;    // layer_{i+1}: 3×3 output conv + GroupNorm + ReLU
  torch::nn::Conv2d mask_projection_{nullptr};
};
TORCH_MODULE(PixelDecoder);

}  // namespace xsam
