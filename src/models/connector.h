// X-SAM's conv connector (docs/design/upstream-facts.md#connector): turns SAM hidden states into the multi-scale
// feature maps of the Mask2Former pixel decoder. Per level l with scale s_l (2, 1, 0.5 at full size):
//   maybe_pad → NHWC→NCHW → 1×1 conv (C_enc→hidden) → LN2d → 3×3 conv (pad 1) → LN2d
//   → 1×1 conv (hidden → int(C_enc·s)) → LN2d → pixel shuffle (channels-first) by s.
// No activation anywhere; convs have no bias unless config.bias. LN2d: fp32 statistics, / sqrt.
// Parameter names relative to the part prefix ("seg_connector."): model.L.model.{0,2,4}.weight (convs),
// model.L.model.{1,3,5}.{weight,bias} (LN2d).
#pragma once
#include <memory>
#include <vector>

#include <torch/nn/module.h>
#include <torch/types.h>

#include "core/config.h"
#include "models/layers.h"

namespace xsam {

class ConnectorLevel : public torch::nn::Module {
 public:
  ConnectorLevel(int64_t in_channels, int64_t hidden_channels, double scale, bool bias, double eps);
  // (B, H, W, C_enc) channels-last → (B, int(C_enc·s)/s², H'·s, W'·s) channels-first (H', W' = H, W
  // rounded up to even).
  torch::Tensor forward(const torch::Tensor& x) const;

 private:
  double scale_;
  std::shared_ptr<layers::Conv2d> conv0_, conv2_, conv4_;
  std::shared_ptr<layers::LayerNorm2d> norm1_, norm3_, norm5_;
};

class Connector : public torch::nn::Module {
 public:
  explicit Connector(const ConnectorConfig& config);
  // One channels-last SAM hidden state per level (in level order) → one channels-first map per level.
  // Inputs are cast to the module dtype.
  std::vector<torch::Tensor> forward(const std::vector<torch::Tensor>& hidden_states) const;
  const ConnectorConfig& config() const { return config_; }

 private:
  ConnectorConfig config_;
  std::vector<std::shared_ptr<ConnectorLevel>> levels_;
};

}  // namespace xsam
