#include "models/transformer_decoder.h"

#include <cmath>
#include <string>

#include <ATen/ATen.h>
#include <torch/nn/modules/container/modulelist.h>

#include "core/error.h"
#include "kernels/softmax.h"
#include "models/mask2former_ops.h"

namespace xsam {

namespace {

// (L, B, D) → (B·heads, L, head_dim): the layout of nn.MultiheadAttention (index b·heads + h).
torch::Tensor split_heads(const torch::Tensor& x, int64_t heads) {
  return x.contiguous().view({x.size(0), x.size(1) * heads, x.size(2) / heads}).transpose(0, 1);
}

// (B·heads, L, head_dim) → (L, B, D)
torch::Tensor merge_heads(const torch::Tensor& x, int64_t batch) {
  return x.transpose(0, 1).contiguous().view({x.size(1), batch, -1});
}

torch::nn::LayerNorm make_layer_norm(int64_t dim) {
  return torch::nn::LayerNorm(torch::nn::LayerNormOptions({dim}));
}

}  // namespace

torch::Tensor masked_attention_blocked(const torch::Tensor& mask_logits, int64_t height, int64_t width,
                                       int64_t num_heads) {
  // sigmoid rounds to exactly 0.5 for tiny negative logits, so `logit < 0` would block more keys.
  // The probability is rounded to the model dtype first, as upstream computes it in that dtype.
  auto resized = m2f::resize_bilinear(mask_logits, height, width);
  auto prob = at::sigmoid(resized.to(at::kFloat)).to(mask_logits.scalar_type());
  auto blocked = (prob < 0.5).flatten(2);  // (B, Q, h·w)
  const int64_t batch = blocked.size(0), queries = blocked.size(1), keys = blocked.size(2);
  // contiguous(): the rows are reset in place later, which must not write through an expanded view.
  return blocked.unsqueeze(1).expand({batch, num_heads, queries, keys}).reshape({batch * num_heads, queries, keys}).contiguous();
}

torch::Tensor unblock_fully_masked_rows(torch::Tensor& blocked) {
  auto full = blocked.all(-1);
  blocked.masked_fill_(full.unsqueeze(-1), false);
  return full;
}

// ---------------------------------------------------------------------------------------------------
PackedMultiheadAttentionImpl::PackedMultiheadAttentionImpl(int64_t dim, int64_t num_heads)
    : dim_(dim), num_heads_(num_heads) {
  in_proj_weight_ = register_parameter("in_proj_weight", at::zeros({3 * dim, dim}));
  in_proj_bias_ = register_parameter("in_proj_bias", at::zeros({3 * dim}));
  out_proj_ = register_module("out_proj", torch::nn::Linear(dim, dim));
}

torch::Tensor PackedMultiheadAttentionImpl::forward(const torch::Tensor& query, const torch::Tensor& key,
                                                    const torch::Tensor& value, const torch::Tensor& blocked) {
  const int64_t batch = query.size(1), head_dim = dim_ / num_heads_;
  auto w = in_proj_weight_.chunk(3, 0);  // rows [W_q; W_k; W_v]
  auto b = in_proj_bias_.chunk(3, 0);
  auto q = split_heads(at::linear(query, w[0], b[0]), num_heads_);
  auto k = split_heads(at::linear(key, w[1], b[1]), num_heads_);
  auto v = split_heads(at::linear(value, w[2], b[2]), num_heads_);
  // Upstream adds an additive mask (0 or −inf) to the scores; adding 0 changes nothing and −inf stays
  // −inf, so the fused softmax applies the boolean mask directly (no mask-sized additive tensor).
  auto scores = at::bmm(q / std::sqrt(static_cast<double>(head_dim)), k.transpose(1, 2));
  masked_attention_softmax_(scores, blocked);
  return out_proj_->forward(merge_heads(at::bmm(scores, v), batch));
}

// ---------------------------------------------------------------------------------------------------
QueryAttentionImpl::QueryAttentionImpl(int64_t dim, int64_t num_heads) : dim_(dim), num_heads_(num_heads) {
  q_proj_ = register_module("q_proj", torch::nn::Linear(dim, dim));
  k_proj_ = register_module("k_proj", torch::nn::Linear(dim, dim));
  v_proj_ = register_module("v_proj", torch::nn::Linear(dim, dim));
  out_proj_ = register_module("out_proj", torch::nn::Linear(dim, dim));
}

torch::Tensor QueryAttentionImpl::forward(const torch::Tensor& hidden, const torch::Tensor& position) {
  const int64_t batch = hidden.size(1), head_dim = dim_ / num_heads_;
  auto with_pos = hidden + position;
  auto q = split_heads(q_proj_->forward(with_pos) * std::pow(static_cast<double>(head_dim), -0.5), num_heads_);
  auto k = split_heads(k_proj_->forward(with_pos), num_heads_);
  auto v = split_heads(v_proj_->forward(hidden), num_heads_);
  auto probs = m2f::softmax_fp32(at::bmm(q, k.transpose(1, 2)), -1);
  return out_proj_->forward(merge_heads(at::bmm(probs, v), batch));
}

// ---------------------------------------------------------------------------------------------------
MaskedAttentionLayerImpl::MaskedAttentionLayerImpl(const Mask2FormerConfig& c) : eps_(c.layer_norm_eps) {
  // Registration order follows the checkpoint's layout for readability; names are what matter.
  self_attn_ = register_module("self_attn", QueryAttention(c.hidden_dim, c.num_heads));
  self_attn_layer_norm_ = register_module("self_attn_layer_norm", make_layer_norm(c.hidden_dim));
  cross_attn_ = register_module("cross_attn", PackedMultiheadAttention(c.hidden_dim, c.num_heads));
  cross_attn_layer_norm_ = register_module("cross_attn_layer_norm", make_layer_norm(c.hidden_dim));
  fc1_ = register_module("fc1", torch::nn::Linear(c.hidden_dim, c.dim_feedforward));
  fc2_ = register_module("fc2", torch::nn::Linear(c.dim_feedforward, c.hidden_dim));
  final_layer_norm_ = register_module("final_layer_norm", make_layer_norm(c.hidden_dim));
}

torch::Tensor MaskedAttentionLayerImpl::forward(const torch::Tensor& hidden, const torch::Tensor& query_pos,
                                                const torch::Tensor& features, const torch::Tensor& feature_pos,
                                                const torch::Tensor& blocked) {
  // Masked cross-attention: queries (+ position) look at this level's features (+ position).
  auto h = hidden + cross_attn_->forward(hidden + query_pos, features + feature_pos, features, blocked);
  h = m2f::layer_norm_fp32(h, cross_attn_layer_norm_->weight, cross_attn_layer_norm_->bias, eps_);
  // Self-attention among the queries.
  h = h + self_attn_->forward(h, query_pos);
  h = m2f::layer_norm_fp32(h, self_attn_layer_norm_->weight, self_attn_layer_norm_->bias, eps_);
  // FFN (ReLU).
  h = h + fc2_->forward(at::relu(fc1_->forward(h)));
  return m2f::layer_norm_fp32(h, final_layer_norm_->weight, final_layer_norm_->bias, eps_);
}

// ---------------------------------------------------------------------------------------------------
TransformerDecoderImpl::TransformerDecoderImpl(const Mask2FormerConfig& config) : config_(config) {
  const auto& c = config_;
  if (c.feature_size != c.hidden_dim)
    fail(Status::Model, "mask2former.feature_size (" + std::to_string(c.feature_size) +
                            ") must equal hidden_dim (" + std::to_string(c.hidden_dim) +
                            "): the decoder's input projections are identities");
  if (c.decoder_layers < 2) fail(Status::Model, "mask2former.decoder_layers must be >= 2");
  queries_embedder_ = register_module("queries_embedder", torch::nn::Embedding(c.num_queries, c.hidden_dim));
  queries_features_ = register_module("queries_features", torch::nn::Embedding(c.num_queries, c.hidden_dim));
  level_embed_ = register_module("level_embed", torch::nn::Embedding(c.num_feature_levels, c.hidden_dim));

  auto decoder = register_module("decoder", std::make_shared<torch::nn::Module>());
  layernorm_ = decoder->register_module("layernorm", make_layer_norm(c.hidden_dim));
  auto predictor = decoder->register_module("mask_predictor", std::make_shared<torch::nn::Module>());
  auto mlp = predictor->register_module("mask_embedder", std::make_shared<torch::nn::Module>());
  const int64_t mlp_out[3] = {c.hidden_dim, c.hidden_dim, c.mask_feature_size};
  for (int i = 0; i < 3; ++i) {  // each block is `Sequential(Linear, activation)`: the Linear is `.0`
    auto block = mlp->register_module(std::to_string(i), std::make_shared<torch::nn::Module>());
    mask_embedder_.push_back(block->register_module("0", torch::nn::Linear(c.hidden_dim, mlp_out[i])));
  }
  // HF counts the prediction on the initial queries as a layer: decoder_layers − 1 real layers.
  auto layers = decoder->register_module("layers", torch::nn::ModuleList());
  for (int i = 0; i < c.decoder_layers - 1; ++i) {
    MaskedAttentionLayer layer(c);
    layers->push_back(layer);
    layers_.push_back(layer);
  }
}

torch::Tensor TransformerDecoderImpl::predict_masks(const torch::Tensor& normed, const torch::Tensor& mask_features) {
  auto e = normed.transpose(0, 1);  // (B, Q, D)
  for (size_t i = 0; i < mask_embedder_.size(); ++i) {
    e = mask_embedder_[i]->forward(e);
    if (i + 1 < mask_embedder_.size()) e = at::relu(e);
  }
  // einsum("bqc,bchw->bqhw")
  const int64_t batch = mask_features.size(0), height = mask_features.size(2), width = mask_features.size(3);
  return at::bmm(e, mask_features.flatten(2)).view({batch, e.size(1), height, width});
}

TransformerDecoderOutput TransformerDecoderImpl::forward(const std::vector<torch::Tensor>& multi_scale_features,
                                                         const torch::Tensor& mask_features,
                                                         const torch::Tensor& seg_embeddings, bool keep_all_layers) {
  const auto& c = config_;
  const int64_t levels = c.num_feature_levels;
  if (static_cast<int64_t>(multi_scale_features.size()) != levels)
    fail(Status::InvalidArgument, "transformer_decoder: expected " + std::to_string(levels) +
                                      " multi-scale features, got " + std::to_string(multi_scale_features.size()));
  const auto& weight = queries_features_->weight;
  const auto dtype = weight.scalar_type();
  const int64_t batch = mask_features.size(0);
  if (seg_embeddings.dim() != 3 || seg_embeddings.size(0) != batch || seg_embeddings.size(1) != 1 ||
      seg_embeddings.size(2) != c.hidden_dim)
    fail(Status::InvalidArgument, "transformer_decoder: seg_embeddings must be (" + std::to_string(batch) + ", 1, " +
                                      std::to_string(c.hidden_dim) + "): exactly one <SEG> per decoder row");

  // Per level: sequence-first features (+ level embedding) and sine positions.
  std::vector<torch::Tensor> features, positions;
  std::vector<std::pair<int64_t, int64_t>> sizes;
  for (int64_t l = 0; l < levels; ++l) {
    auto x = multi_scale_features[static_cast<size_t>(l)].to(weight.device(), dtype);
    if (x.size(0) != batch)
      fail(Status::InvalidArgument, "transformer_decoder: multi-scale feature " + std::to_string(l) +
                                        " has batch " + std::to_string(x.size(0)) + ", mask features " +
                                        std::to_string(batch));
    sizes.emplace_back(x.size(2), x.size(3));
    positions.push_back(m2f::sine_position_embedding(x, c.hidden_dim / 2).flatten(2).permute({2, 0, 1}));
    features.push_back((x.flatten(2) + level_embed_->weight[l].view({1, -1, 1})).permute({2, 0, 1}));
  }
  auto pixels = mask_features.to(weight.device(), dtype);

  // Queries: learned positions; learned content + <SEG>. (Q, B, D)
  auto query_pos = queries_embedder_->weight.unsqueeze(1).repeat({1, batch, 1});
  auto hidden = weight.unsqueeze(1).repeat({1, batch, 1}) + seg_embeddings.to(weight.device(), dtype).transpose(0, 1);

  TransformerDecoderOutput out;
  auto record = [&](const torch::Tensor& normed, const torch::Tensor& masks) {
    if (!keep_all_layers) {
      out.hidden_states.clear();
      out.mask_logits.clear();
    }
    out.hidden_states.push_back(normed);
    out.mask_logits.push_back(masks);
  };
  auto normalise = [&](const torch::Tensor& h) {
    return m2f::layer_norm_fp32(h, layernorm_->weight, layernorm_->bias, c.layer_norm_eps);
  };
  // The attention mask of layer idx comes from the prediction before it, at the size of level idx % L.
  auto next_blocked = [&](const torch::Tensor& masks, int64_t level) {
    const auto& size = sizes[static_cast<size_t>(level)];
    auto blocked = masked_attention_blocked(masks, size.first, size.second, c.num_heads);
    auto cleared = unblock_fully_masked_rows(blocked);
    if (keep_all_layers) out.fully_masked_rows.push_back(cleared);
    return blocked;
  };

  auto normed = normalise(hidden);
  auto masks = predict_masks(normed, pixels);
  record(normed, masks);
  for (size_t idx = 0; idx < layers_.size(); ++idx) {
    const int64_t level = static_cast<int64_t>(idx) % levels;
    auto blocked = next_blocked(masks, level);
    hidden = layers_[idx]->forward(hidden, query_pos, features[static_cast<size_t>(level)],
                                   positions[static_cast<size_t>(level)], blocked);
    normed = normalise(hidden);
    masks = predict_masks(normed, pixels);
    record(normed, masks);
  }
  // The last prediction's attention mask feeds no layer; computed only for the record.
  if (keep_all_layers) next_blocked(masks, static_cast<int64_t>(layers_.size()) % levels);
  return out;
}

}  // namespace xsam
