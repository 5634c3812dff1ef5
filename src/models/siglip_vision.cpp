#include "models/siglip_vision.h"

#include <algorithm>
#include <cmath>

#include <torch/torch.h>

#include "core/error.h"
#include "kernels/flash.h"
#include "kernels/softmax.h"

namespace xsam {

SiglipEncoderLayer::SiglipEncoderLayer(const SiglipConfig& c) : num_heads_(c.num_heads) {
  const int64_t d = c.hidden_size;
  layer_norm1_ = register_module("layer_norm1", std::make_shared<layers::LayerNorm>(d, c.layer_norm_eps));
  auto attn = layers::add_group(*this, "self_attn");
  q_proj_ = attn->register_module("q_proj", std::make_shared<layers::Linear>(d, d, true));
  k_proj_ = attn->register_module("k_proj", std::make_shared<layers::Linear>(d, d, true));
  v_proj_ = attn->register_module("v_proj", std::make_shared<layers::Linear>(d, d, true));
  out_proj_ = attn->register_module("out_proj", std::make_shared<layers::Linear>(d, d, true));
  layer_norm2_ = register_module("layer_norm2", std::make_shared<layers::LayerNorm>(d, c.layer_norm_eps));
  auto mlp = layers::add_group(*this, "mlp");
  fc1_ = mlp->register_module("fc1", std::make_shared<layers::Linear>(d, c.intermediate_size, true));
  fc2_ = mlp->register_module("fc2", std::make_shared<layers::Linear>(c.intermediate_size, d, true));
}

torch::Tensor SiglipEncoderLayer::forward(const torch::Tensor& x) const {
  const int64_t b = x.size(0), t = x.size(1), d = x.size(2), hd = d / num_heads_;
  // HF eager attention: (q kᵀ)·d^-½, softmax in fp32, cast back, · v.
  auto y = (*layer_norm1_)(x);
  // Heads-first and contiguous, [b·heads, t, hd], so that every product below is a plain bmm.
  auto heads = [&](const torch::Tensor& z) {
    return z.view({b, t, num_heads_, hd}).transpose(1, 2).contiguous().view({b * num_heads_, t, hd});
  };
  auto q = heads((*q_proj_)(y)), k = heads((*k_proj_)(y)), v = heads((*v_proj_)(y));
  const double scale = std::pow(static_cast<double>(hd), -0.5);
  const int64_t n = b * num_heads_;
  if (flash_attention_applies(q)) {  // bf16 with AVX512-BF16: the fused kernel (kernels/flash.h)
    auto out = flash_plain_attention(q, k, v, scale);
    auto h = x + (*out_proj_)(out.view({b, num_heads_, t, hd}).transpose(1, 2).reshape({b, t, d}));
    return h + (*fc2_)(at::gelu((*fc1_)((*layer_norm2_)(h)), "tanh"));
  }
  // A few heads per step (~1 Mi score elements) keep the scores and the fused softmax in the cache.
  const int64_t step = std::clamp<int64_t>((int64_t(1) << 20) / (t * t), 1, n);
  auto out = at::empty({n, t, hd}, y.options());
  for (int64_t h0 = 0; h0 < n; h0 += step) {
    const int64_t h1 = std::min<int64_t>(n, h0 + step);
    auto scores = at::bmm(q.slice(0, h0, h1), k.slice(0, h0, h1).transpose(1, 2)).mul_(scale);  // (q kᵀ)·scale
    attention_softmax_(scores);  // softmax in fp32, back to the dtype
    auto dst = out.slice(0, h0, h1);
    at::bmm_out(dst, scores, v.slice(0, h0, h1));
  }
  auto attn = out.view({b, num_heads_, t, hd}).transpose(1, 2).reshape({b, t, d});
  auto h = x + (*out_proj_)(attn);
  // MLP: fc2(gelu_tanh(fc1(LN(h)))) — SigLIP's "gelu_pytorch_tanh", not the erf GELU.
  return h + (*fc2_)(at::gelu((*fc1_)((*layer_norm2_)(h)), "tanh"));
}

SiglipVision::SiglipVision(const SiglipConfig& c) : config_(c) {
  if (c.select_hidden_state < 0 || c.select_hidden_state > c.num_layers)
    fail(Status::InvalidArgument, "siglip: select_hidden_state " + std::to_string(c.select_hidden_state) +
                                      " outside [0, num_layers=" + std::to_string(c.num_layers) + "]");
  auto model = layers::add_group(*this, "vision_model");
  auto emb = layers::add_group(*model, "embeddings");
  patch_embedding_ = emb->register_module(
      "patch_embedding",
      std::make_shared<layers::Conv2d>(c.num_channels, c.hidden_size, c.patch_size, c.patch_size, 0, true));
  auto pos = layers::add_group(*emb, "position_embedding");
  position_embedding_ = pos->register_parameter("weight", torch::empty({c.num_tokens(), c.hidden_size}), false);
  auto layer_list = layers::add_group(*layers::add_group(*model, "encoder"), "layers");
  for (int i = 0; i < c.layers_to_run(); ++i)
    layers_.push_back(layer_list->register_module(std::to_string(i), std::make_shared<SiglipEncoderLayer>(c)));
}

torch::Tensor SiglipVision::embed(const torch::Tensor& pixel_values) const {
  const auto& c = config_;
  if (pixel_values.dim() != 4 || pixel_values.size(1) != c.num_channels || pixel_values.size(2) != c.image_size ||
      pixel_values.size(3) != c.image_size)
    fail(Status::InvalidArgument, "siglip: pixel_values must be (B, " + std::to_string(c.num_channels) + ", " +
                                      std::to_string(c.image_size) + ", " + std::to_string(c.image_size) + ")");
  // "valid" conv: pixels beyond grid·patch on the right/bottom are ignored; token t = row·grid + col.
  auto x = (*patch_embedding_)(pixel_values.to(position_embedding_.scalar_type()));
  x = x.flatten(2).transpose(1, 2);
  return x + position_embedding_;  // position ids 0..T-1, no interpolation
}

std::vector<torch::Tensor> SiglipVision::hidden_states(const torch::Tensor& pixel_values) const {
  std::vector<torch::Tensor> hs{embed(pixel_values)};
  for (const auto& layer : layers_) hs.push_back(layer->forward(hs.back()));
  return hs;
}

torch::Tensor SiglipVision::forward(const torch::Tensor& pixel_values) const {
  auto x = embed(pixel_values);
  for (const auto& layer : layers_) x = layer->forward(x);
  return config_.select_token_start == 0 ? x : x.slice(1, config_.select_token_start);
}

}  // namespace xsam
