#include "models/phi3.h"

#include <string>
#include <tuple>

#include <ATen/ATen.h>

#include "core/error.h"
#include "models/phi3_kv_cache.h"

namespace xsam {

namespace {

void check_config(const Phi3Config& c) {
  auto positive = [](int v, const char* name) {
    if (v <= 0) fail(Status::InvalidArgument, std::string("Phi3Model: llm.") + name + " must be positive");
  };
  positive(c.vocab_size, "vocab_size");
  positive(c.hidden_size, "hidden_size");
  positive(c.intermediate_size, "intermediate_size");
  positive(c.num_layers, "num_layers");
  positive(c.num_heads, "num_heads");
  positive(c.num_kv_heads, "num_kv_heads");
  if (c.hidden_size % c.num_heads != 0 || c.head_dim() % 2 != 0)
    fail(Status::InvalidArgument, "Phi3Model: llm.hidden_size / llm.num_heads must be an even head_dim");
  if (c.num_heads % c.num_kv_heads != 0)
    fail(Status::InvalidArgument, "Phi3Model: llm.num_heads must be a multiple of llm.num_kv_heads");
  if (c.sliding_window_keys < 0) fail(Status::InvalidArgument, "Phi3Model: llm.sliding_window_keys must be >= 0");
}

torch::TensorOptions param_options(torch::Dtype dtype) {
  if (dtype != torch::kFloat32 && dtype != torch::kBFloat16)
    fail(Status::Unsupported, "Phi3Model: runtime dtype must be float32 or bfloat16");
  return torch::TensorOptions().dtype(dtype);
}

}  // namespace

Phi3BodyImpl::Phi3BodyImpl(const Phi3Config& c, const torch::TensorOptions& options) {
  embed_tokens = register_module("embed_tokens", Phi3Embedding(c.vocab_size, c.hidden_size, options));
  // Layers are children "0", "1", ... of a plain holder named "layers", as in the checkpoint.
  auto holder = register_module("layers", std::make_shared<torch::nn::Module>());
  for (int i = 0; i < c.num_layers; ++i)
    layers.push_back(holder->register_module(std::to_string(i), Phi3DecoderLayer(c, i, options)));
  norm = register_module("norm", Phi3RMSNorm(c.hidden_size, c.rms_norm_eps, options));
}

Phi3ModelImpl::Phi3ModelImpl(const Phi3Config& config, torch::Dtype dtype)
    : config_((check_config(config), config)),
      rope_(config.head_dim(), config.rope_theta, config.max_position_embeddings) {
  auto options = param_options(dtype);
  model = register_module("model", Phi3Body(config_, options));
  lm_head = register_module("lm_head", Phi3Linear(config_.hidden_size, config_.vocab_size, options));
}

// The math dtype: the final norm's (the linear layers' weights may stay bf16 under fp32 math).
torch::Dtype Phi3ModelImpl::dtype() const { return model->norm->weight.scalar_type(); }
torch::Device Phi3ModelImpl::device() const { return lm_head->weight.device(); }

torch::Tensor Phi3ModelImpl::embed(const torch::Tensor& ids) const {
  at::NoGradGuard no_grad;
  // In the mixed runtime the table stays bf16: only the looked-up rows are widened (exactly) to the math dtype.
  if (ids.dim() == 2 && ids.size(0) == 1) return model->embed_tokens->forward(ids).to(dtype());
  if (ids.dim() == 1) return model->embed_tokens->forward(ids).unsqueeze(0).to(dtype());
  fail(Status::InvalidArgument, "Phi3Model::embed: ids must be [T] or [1, T]");
}

torch::Tensor Phi3ModelImpl::logits(const torch::Tensor& hidden) const {
  at::NoGradGuard no_grad;
  return lm_head->forward(hidden).to(at::kFloat);
}

Phi3Output Phi3ModelImpl::forward(const torch::Tensor& inputs_embeds, int64_t start, Phi3KvCache* cache,
                                  const Phi3ForwardOptions& options) const {
  at::NoGradGuard no_grad;
  const int64_t H = config_.hidden_size;
  if (inputs_embeds.dim() != 3 || inputs_embeds.size(0) != 1 || inputs_embeds.size(2) != H)
    fail(Status::InvalidArgument, "Phi3Model::forward: inputs_embeds must be [1, T, " + std::to_string(H) +
                                      "], got " + std::to_string(inputs_embeds.dim()) + "-d");
  if (inputs_embeds.scalar_type() != dtype() || inputs_embeds.device() != device())
    fail(Status::InvalidArgument, "Phi3Model::forward: inputs_embeds must have the model's dtype and device");
  const int64_t T = inputs_embeds.size(1);
  if (start < 0) fail(Status::InvalidArgument, "Phi3Model::forward: negative start position");
  if (cache) {
    if (start != cache->length())
      fail(Status::InvalidArgument, "Phi3Model::forward: start position " + std::to_string(start) +
                                        " must equal the KV cache length " + std::to_string(cache->length()));
    if (start + T > cache->capacity())
      fail(Status::Limit, "Phi3Model::forward: " + std::to_string(start + T) +
                              " positions exceed the KV cache capacity " + std::to_string(cache->capacity()));
    if (cache->num_layers() != config_.num_layers || cache->dtype() != dtype() || cache->device() != device())
      fail(Status::InvalidArgument, "Phi3Model::forward: KV cache built for another layer count, dtype or device");
  }
  int64_t n_logits = options.logits_last == Phi3ForwardOptions::kAllPositions ? T : options.logits_last;
  if (n_logits < 0 || n_logits > T)
    fail(Status::InvalidArgument, "Phi3Model::forward: logits_last = " + std::to_string(options.logits_last) +
                                      " outside [0, T = " + std::to_string(T) + "]");

  Phi3AttentionContext ctx;
  ctx.start = start;
  ctx.cache = cache;
  ctx.window_keys = options.sliding_window_keys >= 0 ? options.sliding_window_keys : config_.sliding_window_keys;
  ctx.chunk_rows = options.attention_chunk_rows;
  std::tie(ctx.cos, ctx.sin) = rope_.tables(start, T, dtype(), device());

  Phi3Output out;
  auto h = inputs_embeds.select(0, 0);  // [T, H]: B = 1 throughout
  if (options.output_hidden_states) out.hidden_states.push_back(inputs_embeds);
  for (const auto& layer : model->layers) {
    h = layer->forward(h, ctx);
    if (options.output_hidden_states) out.hidden_states.push_back(h.unsqueeze(0));
  }
  h = model->norm->forward(h);
  if (options.output_hidden_states) out.hidden_states.back() = h.unsqueeze(0);  // HF: hs[-1] is after the norm
  if (cache) cache->set_length(start + T);
  out.last_hidden = h.unsqueeze(0);
  if (n_logits > 0) out.logits = logits(h.narrow(0, T - n_logits, n_logits)).unsqueeze(0);
  return out;
}

}  // namespace xsam
