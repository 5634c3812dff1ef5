// The building blocks of the Phi-3 decoder (docs/design/upstream-facts.md#phi-3). Each holds its parameters under the checkpoint's
// own names; Phi3Model (phi3.h) strings them together and owns the position/cache bookkeeping.
//
// Parameters are allocated, not initialised: bind_module() fills them from the checkpoint (and reports
// anything missing), `xsam random-model` and the tests fill them with random values. This keeps loading
// the 3.8 B-parameter LLM from spending seconds on an initialisation that is overwritten anyway.
#pragma once
#include <cstdint>
#include <memory>

#include <torch/nn/module.h>
#include <torch/nn/pimpl.h>
#include <torch/types.h>

#include "core/config.h"
#include "models/phi3_attention.h"

namespace xsam {

class Phi3KvCache;

// A bias-free Linear: `weight` [out, in].
class Phi3LinearImpl : public torch::nn::Module {
 public:
  Phi3LinearImpl(int64_t in_features, int64_t out_features, const torch::TensorOptions& options);
  torch::Tensor forward(const torch::Tensor& x) const;
  torch::Tensor weight;
};
TORCH_MODULE(Phi3Linear);

// Token embedding table: `weight` [vocab, hidden]; no scaling (Phi-3).
class Phi3EmbeddingImpl : public torch::nn::Module {
 public:
  Phi3EmbeddingImpl(int64_t vocab, int64_t hidden, const torch::TensorOptions& options);
  // ids (int64, any shape) → [..., hidden]; throws InvalidArgument naming the first id out of range.
  torch::Tensor forward(const torch::Tensor& ids) const;
  torch::Tensor weight;  // may stay bf16 under fp32 math (the mixed runtime): Phi3Model::embed widens the rows
};
TORCH_MODULE(Phi3Embedding);

// Phi3RMSNorm: statistics and normalisation in fp32, cast back to the input dtype *before* ×weight.
class Phi3RMSNormImpl : public torch::nn::Module {
 public:
  Phi3RMSNormImpl(int64_t hidden, double eps, const torch::TensorOptions& options);
  torch::Tensor forward(const torch::Tensor& x) const;
  torch::Tensor weight;
  double eps;
};
TORCH_MODULE(Phi3RMSNorm);

// Everything one attention call needs besides its input: where the tokens are and where keys live.
struct Phi3AttentionContext {
  int64_t start = 0;             // absolute position of the first input row
  Phi3KvCache* cache = nullptr;  // null: attend only within the input rows
  int64_t window_keys = 0;       // phi3_attention.h
  int64_t chunk_rows = 0;
  torch::Tensor cos, sin;        // RoPE tables for the input rows, [T, head_dim], activation dtype
};

// Self-attention with the fused qkv_proj (rows [q | k | v], heads contiguous) and o_proj.
class Phi3AttentionImpl : public torch::nn::Module {
 public:
  Phi3AttentionImpl(const Phi3Config& config, int64_t layer_index, const torch::TensorOptions& options);
  // x: [T, hidden] → [T, hidden]
  torch::Tensor forward(const torch::Tensor& x, const Phi3AttentionContext& ctx) const;
  Phi3Linear qkv_proj{nullptr}, o_proj{nullptr};

 private:
  Phi3AttentionShape shape_;
  int64_t layer_index_;
};
TORCH_MODULE(Phi3Attention);

// MLP with the fused gate_up_proj (rows [gate | up]): down(up · silu(gate)).
class Phi3MlpImpl : public torch::nn::Module {
 public:
  Phi3MlpImpl(const Phi3Config& config, const torch::TensorOptions& options);
  torch::Tensor forward(const torch::Tensor& x) const;
  Phi3Linear gate_up_proj{nullptr}, down_proj{nullptr};

 private:
  int64_t intermediate_;
};
TORCH_MODULE(Phi3Mlp);

// Pre-norm residual block: h + attn(norm(h)), then h + mlp(norm(h)).
class Phi3DecoderLayerImpl : public torch::nn::Module {
 public:
  Phi3DecoderLayerImpl(const Phi3Config& config, int64_t layer_index, const torch::TensorOptions& options);
  torch::Tensor forward(const torch::Tensor& h, const Phi3AttentionContext& ctx) const;
  Phi3RMSNorm input_layernorm{nullptr}, post_attention_layernorm{nullptr};
  Phi3Attention self_attn{nullptr};
  Phi3Mlp mlp{nullptr};
};
TORCH_MODULE(Phi3DecoderLayer);

}  // namespace xsam
