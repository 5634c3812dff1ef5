// X-SAM's copy of the SAM ViT image encoder (docs/design/upstream-facts.md#sam-encoder), without the neck.
//
// hs[0] = patch embedding + absolute positions (channels-last (B, G, G, C)), hs[i] = output of block
// i-1. Windowed blocks zero-pad the *normalised* tokens to a multiple of the window (padded tokens
// take part in attention unmasked, as upstream) and run all windows in one batched matmul; global
// blocks attend over the whole grid. Attention adds the decomposed relative-position terms computed
// from the UNSCALED query to (q·scale)·kᵀ and takes the softmax in fp32.
//
// Only blocks up to the highest hidden state asked for are constructed and run. The neck (whose
// output X-SAM discards) is not constructed: its keys are an unused group of models/checkpoint_layout.h.
//
// Parameter names relative to the part prefix ("segmentor.encoder."):
//   patch_embed.projection.{weight,bias}, pos_embed,
//   layers.N.{layer_norm1,attn.qkv,attn.proj,layer_norm2,mlp.lin1,mlp.lin2}.{weight,bias},
//   layers.N.attn.rel_pos_h, layers.N.attn.rel_pos_w
#pragma once
#include <memory>
#include <string>
#include <vector>

#include <torch/nn/module.h>
#include <torch/types.h>

#include "core/config.h"
#include "models/layers.h"

namespace xsam {

class SamVisionAttention : public torch::nn::Module {
 public:
  // `size` = side of the token grid this attention sees: the window, or the whole grid (global).
  SamVisionAttention(const SamEncoderConfig& config, int size);
  torch::Tensor forward(const torch::Tensor& x) const;  // (Bw, h, w, C) → (Bw, h, w, C)

 private:
  int num_heads_;
  bool use_rel_pos_;
  std::shared_ptr<layers::Linear> qkv_, proj_;
  torch::Tensor rel_pos_h_, rel_pos_w_;  // (2·size-1, head_dim)
};

class SamVisionBlock : public torch::nn::Module {
 public:
  SamVisionBlock(const SamEncoderConfig& config, int window_size);  // window_size 0 = global
  torch::Tensor forward(const torch::Tensor& x) const;              // (B, G, G, C) → (B, G, G, C)
  int window_size() const { return window_size_; }

 private:
  int window_size_;
  std::shared_ptr<layers::LayerNorm> layer_norm1_, layer_norm2_;
  std::shared_ptr<SamVisionAttention> attn_;
  std::shared_ptr<layers::Linear> lin1_, lin2_;
};

class SamEncoder : public torch::nn::Module {
 public:
  // Constructs blocks 0 .. max(needed)-1 where needed = config's llm_hidden_state and
  // connector_hidden_states plus `extra_hidden_states` (e.g. tests that want every hidden state).
  explicit SamEncoder(const SamEncoderConfig& config, const std::vector<int>& extra_hidden_states = {});

  // The hidden-state indices the config needs: llm_hidden_state then connector_hidden_states.
  std::vector<int> needed_hidden_states() const;

  // pixel_values (B, C, S, S), S = image_size (cast to the module dtype). Returns a vector of
  // max(keep)+1 entries: entry i = hs[i] (channels-last (B, G, G, C)) for i in `keep`, undefined
  // otherwise. Blocks after max(keep) are not run. Default `keep` = needed_hidden_states().
  std::vector<torch::Tensor> forward(const torch::Tensor& pixel_values) const;
  std::vector<torch::Tensor> forward(const torch::Tensor& pixel_values, const std::vector<int>& keep) const;

  int num_blocks_built() const { return static_cast<int>(blocks_.size()); }
  const SamEncoderConfig& config() const { return config_; }

 private:
  SamEncoderConfig config_;
  std::shared_ptr<layers::Conv2d> patch_embed_;
  torch::Tensor pos_embed_;  // (1, G, G, C), undefined when use_abs_pos is false
  std::vector<std::shared_ptr<SamVisionBlock>> blocks_;
};

}  // namespace xsam
