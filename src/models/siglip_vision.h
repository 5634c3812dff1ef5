// SigLIP vision tower, only as far as X-SAM reads it (docs/design/upstream-facts.md#siglip): patch conv ("valid"),
// learned positions, pre-LN encoder layers (separate q/k/v/out projections, fp32 softmax, tanh-GELU MLP).
// The feature is hidden state `select_hidden_state` (hs[0] = embeddings); the layers after it, the
// post-layernorm and the attention-pooling head are neither constructed nor run — their checkpoint
// keys are in the checkpoint layout's unused groups (models/checkpoint_layout.h), which the loader accepts
// knowingly.
//
// Parameter names relative to the part prefix ("visual_encoder."):
//   vision_model.embeddings.patch_embedding.{weight,bias}
//   vision_model.embeddings.position_embedding.weight
//   vision_model.encoder.layers.N.{layer_norm1,self_attn.{q,k,v,out}_proj,layer_norm2,mlp.fc1,mlp.fc2}.*
#pragma once
#include <memory>
#include <string>
#include <vector>

#include <torch/nn/module.h>
#include <torch/types.h>

#include "core/config.h"
#include "models/layers.h"

namespace xsam {

class SiglipEncoderLayer : public torch::nn::Module {
 public:
  SiglipEncoderLayer(const SiglipConfig& config);
  torch::Tensor forward(const torch::Tensor& x) const;  // (B, T, C) → (B, T, C)

 private:
  int num_heads_;
  std::shared_ptr<layers::LayerNorm> layer_norm1_, layer_norm2_;
  std::shared_ptr<layers::Linear> q_proj_, k_proj_, v_proj_, out_proj_, fc1_, fc2_;
};

class SiglipVision : public torch::nn::Module {
 public:
  explicit SiglipVision(const SiglipConfig& config);

  // pixel_values (B, C, S, S), S = image_size (cast to the module dtype) → the selected hidden state
  // hs[select_hidden_state][:, select_token_start:]  (B, T, hidden).
  torch::Tensor forward(const torch::Tensor& pixel_values) const;

  // hs[0 .. select_hidden_state] (all computed hidden states, for tests and inspection).
  std::vector<torch::Tensor> hidden_states(const torch::Tensor& pixel_values) const;

  const SiglipConfig& config() const { return config_; }

 private:
  torch::Tensor embed(const torch::Tensor& pixel_values) const;

  SiglipConfig config_;
  std::shared_ptr<layers::Conv2d> patch_embedding_;
  torch::Tensor position_embedding_;
  std::vector<std::shared_ptr<SiglipEncoderLayer>> layers_;
};

}  // namespace xsam
