#include "models/phi3_layers.h"

#include <string>

#include <ATen/ATen.h>

#include "core/error.h"
#include "kernels/attention.h"
#include "kernels/elementwise.h"
#include "kernels/linear.h"
#include "models/phi3_kv_cache.h"
#include "models/phi3_rope.h"

namespace xsam {

Phi3LinearImpl::Phi3LinearImpl(int64_t in_features, int64_t out_features, const torch::TensorOptions& options) {
  weight = register_parameter("weight", at::empty({out_features, in_features}, options), /*requires_grad=*/false);
}

// Decoding steps (a row or a few) take the memory-bound GEMV of kernels/linear.h; prefill takes oneDNN/BLAS
// (bf16 weights under fp32 math: widened panel by panel first).
torch::Tensor Phi3LinearImpl::forward(const torch::Tensor& x) const { return xsam::linear(x, weight); }

Phi3EmbeddingImpl::Phi3EmbeddingImpl(int64_t vocab, int64_t hidden, const torch::TensorOptions& options) {
  weight = register_parameter("weight", at::empty({vocab, hidden}, options), /*requires_grad=*/false);
}

torch::Tensor Phi3EmbeddingImpl::forward(const torch::Tensor& ids) const {
  if (ids.scalar_type() != at::kLong)
    fail(Status::InvalidArgument, "Phi3Model::embed: token ids must be int64");
  if (ids.numel() > 0) {
    const int64_t lo = ids.min().item<int64_t>(), hi = ids.max().item<int64_t>();
    const int64_t vocab = weight.size(0);
    if (lo < 0 || hi >= vocab)
      fail(Status::InvalidArgument, "Phi3Model::embed: token id " + std::to_string(lo < 0 ? lo : hi) +
                                        " outside the vocabulary [0, " + std::to_string(vocab) +
                                        ") of llm.model.embed_tokens.weight (sentinels must be replaced first)");
  }
  return at::embedding(weight, ids.to(weight.device()));
}

Phi3RMSNormImpl::Phi3RMSNormImpl(int64_t hidden, double eps_, const torch::TensorOptions& options) : eps(eps_) {
  weight = register_parameter("weight", at::empty({hidden}, options), /*requires_grad=*/false);
}

torch::Tensor Phi3RMSNormImpl::forward(const torch::Tensor& x) const {
  // HF Phi3RMSNorm: x32 · rsqrt(mean(x32²) + eps), cast to the input dtype, then × weight (one fused pass).
  return fast_rms_norm(x, weight, eps);
}

Phi3AttentionImpl::Phi3AttentionImpl(const Phi3Config& c, int64_t layer_index, const torch::TensorOptions& options)
    : layer_index_(layer_index) {
  shape_.num_heads = c.num_heads;
  shape_.num_kv_heads = c.num_kv_heads;
  shape_.head_dim = c.head_dim();
  const int64_t qkv_rows = (c.num_heads + 2 * c.num_kv_heads) * c.head_dim();
  qkv_proj = register_module("qkv_proj", Phi3Linear(c.hidden_size, qkv_rows, options));
  o_proj = register_module("o_proj", Phi3Linear(c.num_heads * c.head_dim(), c.hidden_size, options));
}

torch::Tensor Phi3AttentionImpl::forward(const torch::Tensor& x, const Phi3AttentionContext& ctx) const {
  const int64_t T = x.size(0);
  const int64_t heads = shape_.num_heads, kv = shape_.num_kv_heads, d = shape_.head_dim;
  // qkv rows [q | k | v] → contiguous heads-first q, k (RoPE applied) and v, in one pass (kernels/attention.h).
  QkvHeads h = rope_split_qkv(qkv_proj->forward(x), ctx.cos, ctx.sin, heads, kv, d);

  torch::Tensor keys = h.k, values = h.v;
  int64_t k_pos0 = ctx.start;
  if (ctx.cache) {
    // Append this call's rows at [start, start + T); attend over the whole cached range. A call that starts
    // at 0 attends to exactly its own (contiguous) k and v, which avoids strided views of the cache.
    auto ck = ctx.cache->keys(layer_index_), cv = ctx.cache->values(layer_index_);
    ck.narrow(1, ctx.start, T).copy_(h.k);
    cv.narrow(1, ctx.start, T).copy_(h.v);
    if (ctx.start > 0) {
      keys = ck.narrow(1, 0, ctx.start + T);
      values = cv.narrow(1, 0, ctx.start + T);
      k_pos0 = 0;
    }
  }
  auto a = phi3_causal_attention(h.q, keys, values, ctx.start, k_pos0, ctx.window_keys, shape_, ctx.chunk_rows);
  return o_proj->forward(a);
}

Phi3MlpImpl::Phi3MlpImpl(const Phi3Config& c, const torch::TensorOptions& options)
    : intermediate_(c.intermediate_size) {
  gate_up_proj = register_module("gate_up_proj", Phi3Linear(c.hidden_size, 2 * c.intermediate_size, options));
  down_proj = register_module("down_proj", Phi3Linear(c.intermediate_size, c.hidden_size, options));
}

torch::Tensor Phi3MlpImpl::forward(const torch::Tensor& x) const {
  // [T, 2·I]: gate = first half (SiLU), up = second half; up · silu(gate) in one fused pass.
  return down_proj->forward(fast_silu_mul(gate_up_proj->forward(x)));
}

Phi3DecoderLayerImpl::Phi3DecoderLayerImpl(const Phi3Config& c, int64_t layer_index,
                                           const torch::TensorOptions& options) {
  input_layernorm = register_module("input_layernorm", Phi3RMSNorm(c.hidden_size, c.rms_norm_eps, options));
  self_attn = register_module("self_attn", Phi3Attention(c, layer_index, options));
  post_attention_layernorm =
      register_module("post_attention_layernorm", Phi3RMSNorm(c.hidden_size, c.rms_norm_eps, options));
  mlp = register_module("mlp", Phi3Mlp(c, options));
}

torch::Tensor Phi3DecoderLayerImpl::forward(const torch::Tensor& h, const Phi3AttentionContext& ctx) const {
  auto x = h + self_attn->forward(input_layernorm->forward(h), ctx);
  return x + mlp->forward(post_attention_layernorm->forward(x));
}

}  // namespace xsam
