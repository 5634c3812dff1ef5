// Mask2Former masked-attention transformer decoder (docs/design/upstream-facts.md#transformer-decoder). Parameter
// names are relative to `segmentor.decoder.` of the checkpoint: `queries_embedder`, `queries_features`,
// `level_embed.weight`, `decoder.layernorm`, `decoder.mask_predictor.mask_embedder.{0,1,2}.0`,
// `decoder.layers.N.*`.
#pragma once
#include <cstdint>
#include <vector>

#include <torch/nn/module.h>
#include <torch/nn/modules/embedding.h>
#include <torch/nn/modules/linear.h>
#include <torch/nn/modules/normalization.h>
#include <torch/nn/pimpl.h>

#include "core/config.h"

namespace xsam {

struct TransformerDecoderOutput {
  // Per prediction step (num_layers + 1 entries, or only the last when not all layers are kept):
  std::vector<torch::Tensor> hidden_states;  // decoder.layernorm(h): (Q, B, D), sequence-first
  std::vector<torch::Tensor> mask_logits;    // (B, Q, H, W) at mask-feature resolution
  // Per mask-predictor call (kept only with all layers): bool (B·heads, Q), true where the attention
  // mask for the next layer blocked every key before the fully-masked-row reset. The last call's mask
  // feeds no layer.
  std::vector<torch::Tensor> fully_masked_rows;
};

// The attention mask a layer gets from the previous prediction (docs/design/upstream-facts.md#transformer-decoder):
// mask logits (B, Q, H, W) resized bilinearly to the layer's level (h, w), then `sigmoid < 0.5` (strict; resize
// first, then sigmoid — not `logit < 0`), identical for every head. Returns bool (B·heads, Q, h·w),
// index b·heads + head, true = may not attend.
torch::Tensor masked_attention_blocked(const torch::Tensor& mask_logits, int64_t height, int64_t width,
                                       int64_t num_heads);

// A query blocked from every key would attend to nothing (NaN): such rows are cleared so that the query
// attends to the whole level. Returns the rows that were cleared, bool (B·heads, Q).
torch::Tensor unblock_fully_masked_rows(torch::Tensor& blocked);

// nn.MultiheadAttention's parameters (packed q/k/v projection) and its math, sequence-first.
class PackedMultiheadAttentionImpl : public torch::nn::Module {
 public:
  PackedMultiheadAttentionImpl(int64_t dim, int64_t num_heads);
  // query (Lq, B, D), key/value (Lk, B, D); blocked: bool (B·heads, Lq, Lk), true = may not attend.
  torch::Tensor forward(const torch::Tensor& query, const torch::Tensor& key, const torch::Tensor& value,
                        const torch::Tensor& blocked);

 private:
  int64_t dim_, num_heads_;
  torch::Tensor in_proj_weight_, in_proj_bias_;
  torch::nn::Linear out_proj_{nullptr};
};
TORCH_MODULE(PackedMultiheadAttention);

// Mask2FormerAttention: separate q/k/v/out projections, q scaled by head_dim^-0.5, no mask.
class QueryAttentionImpl : public torch::nn::Module {
 public:
  QueryAttentionImpl(int64_t dim, int64_t num_heads);
  // hidden (L, B, D) is the value; hidden + position is the query and key.
  torch::Tensor forward(const torch::Tensor& hidden, const torch::Tensor& position);

 private:
  int64_t dim_, num_heads_;
  torch::nn::Linear q_proj_{nullptr}, k_proj_{nullptr}, v_proj_{nullptr}, out_proj_{nullptr};
};
TORCH_MODULE(QueryAttention);

// cross-attention → self-attention → FFN, each with a residual and a post-norm LayerNorm.
class MaskedAttentionLayerImpl : public torch::nn::Module {
 public:
  explicit MaskedAttentionLayerImpl(const Mask2FormerConfig& config);
  // hidden (Q, B, D); features/feature_pos (HW, B, D) of this layer's level; blocked (B·heads, Q, HW).
  torch::Tensor forward(const torch::Tensor& hidden, const torch::Tensor& query_pos, const torch::Tensor& features,
                        const torch::Tensor& feature_pos, const torch::Tensor& blocked);

 private:
  double eps_;
  PackedMultiheadAttention cross_attn_{nullptr};
  torch::nn::LayerNorm cross_attn_layer_norm_{nullptr};
  QueryAttention self_attn_{nullptr};
  torch::nn::LayerNorm self_attn_layer_norm_{nullptr};
  torch::nn::Linear fc1_{nullptr}, fc2_{nullptr};
  torch::nn::LayerNorm final_layer_norm_{nullptr};
};
TORCH_MODULE(MaskedAttentionLayer);

class TransformerDecoderImpl : public torch::nn::Module {
 public:
  explicit TransformerDecoderImpl(const Mask2FormerConfig& config);

  // multi_scale_features: (B, D, h_l, w_l), low → high resolution; mask_features (B, M, H, W);
  // seg_embeddings (B, 1, D): the <SEG> vector added to every content query. With keep_all_layers the
  // output holds every prediction step (tests, debugging); otherwise only the last.
  TransformerDecoderOutput forward(const std::vector<torch::Tensor>& multi_scale_features,
                                   const torch::Tensor& mask_features, const torch::Tensor& seg_embeddings,
                                   bool keep_all_layers = false);

  int64_t num_layers() const { return static_cast<int64_t>(layers_.size()); }

 private:
  // Mask logits of normed queries (Q, B, D) against mask_features.
  torch::Tensor predict_masks(const torch::Tensor& normed, const torch::Tensor& mask_features);

  Mask2FormerConfig config_;
  torch::nn::Embedding queries_embedder_{nullptr};  // query positions
  torch::nn::Embedding queries_features_{nullptr};  // query content (+ <SEG>)
  torch::nn::Embedding level_embed_{nullptr};       // added to the features of each level
  torch::nn::LayerNorm layernorm_{nullptr};          // shared by every prediction step
  std::vector<torch::nn::Linear> mask_embedder_;     // 3-layer MLP, ReLU between layers
  std::vector<MaskedAttentionLayer> layers_;
};
TORCH_MODULE(TransformerDecoder);

}  // namespace xsam
