// Phi3Model — the X-SAM language model (Phi-3 decoder + lm_head; docs/design/upstream-facts.md#phi-3), a torch::nn::Module whose
// parameter names are the checkpoint's, relative to `llm.`:
//   model.embed_tokens.weight, model.layers.N.{input_layernorm, self_attn.qkv_proj, self_attn.o_proj,
//   post_attention_layernorm, mlp.gate_up_proj, mlp.down_proj}.weight, model.norm.weight, lm_head.weight
//
// Built for the pipeline: the input is `inputs_embeds` (text rows from embed(ids), image/region rows from
// the vision side) plus the absolute position of its first row; the output is the final-norm hidden state
// of every input row (what the LLM→decoder projector reads, docs/design/upstream-facts.md#llm-to-decoder-embeddings) and fp32 logits for only the
// positions asked for. With a Phi3KvCache the same call serves the image-prefix prefill, the prefill of
// the rest of the prompt and per-token decoding. Runtime dtype fp32 or bf16 (fp32 islands: RMSNorm
// statistics, RoPE tables, attention scores/softmax, logits; docs/design/numerics.md).
#pragma once
#include <cstdint>
#include <memory>
#include <vector>

#include <torch/nn/module.h>
#include <torch/nn/pimpl.h>
#include <torch/types.h>

#include "core/config.h"
#include "models/phi3_layers.h"
#include "models/phi3_rope.h"

namespace xsam {

class Phi3KvCache;

struct Phi3ForwardOptions {
  static constexpr int64_t kAllPositions = -1;
  // Logits for the last n input rows (1: next-token prediction; kAllPositions: every row; 0: none).
  int64_t logits_last = 1;
  // Also return hs[0..num_layers] (hs[0] = input, hs[num_layers] = final-norm output, as HF).
  bool output_hidden_states = false;
  // Overrides config.sliding_window_keys when >= 0 (golden genseg_long checks 2048 and 2047).
  int64_t sliding_window_keys = -1;
  // Query rows per attention chunk; 0 = bounded automatically (phi3_attention.h).
  int64_t attention_chunk_rows = 0;
};

struct Phi3Output {
  torch::Tensor last_hidden;                 // [1, T, hidden], final-norm output, runtime dtype
  torch::Tensor logits;                      // [1, n, vocab] fp32 for the last n rows (undefined if n = 0)
  std::vector<torch::Tensor> hidden_states;  // output_hidden_states only: num_layers + 1 × [1, T, hidden]
};

// `model.` part: embeddings, decoder layers, final norm.
class Phi3BodyImpl : public torch::nn::Module {
 public:
  Phi3BodyImpl(const Phi3Config& config, const torch::TensorOptions& options);
  Phi3Embedding embed_tokens{nullptr};
  std::vector<Phi3DecoderLayer> layers;
  Phi3RMSNorm norm{nullptr};
};
TORCH_MODULE(Phi3Body);

class Phi3ModelImpl : public torch::nn::Module {
 public:
  // Parameters are allocated in `dtype` (kFloat32 or kBFloat16) and left for bind_module to fill.
  explicit Phi3ModelImpl(const Phi3Config& config, torch::Dtype dtype = torch::kFloat32);

  // Text rows of inputs_embeds: ids int64 [T] or [1, T] → [1, T, hidden] (runtime dtype).
  torch::Tensor embed(const torch::Tensor& ids) const;

  // inputs_embeds [1, T, hidden] at absolute positions [start, start + T). With a cache, start must equal
  // cache->length(): keys/values of these rows are appended and every earlier cached position is visible.
  // Without one, the rows attend only to each other.
  Phi3Output forward(const torch::Tensor& inputs_embeds, int64_t start, Phi3KvCache* cache,
                     const Phi3ForwardOptions& options = {}) const;

  // fp32 logits of hidden rows [..., hidden] (lm_head; HF casts logits to float).
  torch::Tensor logits(const torch::Tensor& hidden) const;

  const Phi3Config& config() const { return config_; }
  torch::Dtype dtype() const;
  torch::Device device() const;

  Phi3Body model{nullptr};
  Phi3Linear lm_head{nullptr};

 private:
  Phi3Config config_;
  Phi3Rope rope_;
};
TORCH_MODULE(Phi3Model);

}  // namespace xsam
