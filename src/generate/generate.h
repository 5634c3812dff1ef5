// Autoregressive generation with Phi3Model and a Phi3KvCache (docs/design/upstream-facts.md#generation,
// #llm-to-decoder-embeddings predict mode).
//
// phi3_generate prefills `inputs_embeds` (the prompt after whatever the cache already holds — e.g. the
// cached image prefix), then picks tokens one at a time and feeds each back through the same forward.
// It stops after a stop token (`<|end|>` = tokens.end, or EOS = tokens.eos), which is kept in `ids` as in
// upstream's `sequences`, or after max_new_tokens. No forward runs for the last token, so — as upstream —
// there are N − 1 generated hidden states for N ids: generated_hidden row j is the final-norm state of the
// position whose input is ids[j].
#pragma once
#include <cstdint>
#include <functional>
#include <vector>

#include <torch/types.h>

#include "core/config.h"
#include "models/phi3.h"
#include "generate/sampling.h"

namespace xsam {

class Phi3KvCache;

// Called after every generated token (stop token included) with the id and its index (0-based).
// Returning false cancels: phi3_generate throws xsam::Failure(Status::Cancelled).
using TokenCallback = std::function<bool(int64_t token, int64_t index)>;

enum class StopReason { EndToken, Eos, MaxNewTokens };

struct GenerateOptions {
  int64_t max_new_tokens = 512;  // upstream [A]; the goldens use 16
  // The stop ids come from the model config (from_config: tokens.end = <|end|>, tokens.eos = EOS);
  // -1 = no such stop token.
  int64_t end_token = -1;
  int64_t eos_token = -1;
  SamplingOptions sampling;      // greedy by default
  TokenCallback on_token;        // optional
  int64_t sliding_window_keys = -1;  // >= 0 overrides the config (Phi3ForwardOptions)
  // Fill GenerateResult::top2_margins (a top-2 pass over the vocabulary per token: only for parity checks).
  bool record_top2_margins = false;

  // max_new_tokens (behaviour preset) and the stop ids from the model config.
  static GenerateOptions from_config(const ModelConfig& config);
};

struct GenerateResult {
  std::vector<int64_t> ids;          // generated ids, stop token included
  torch::Tensor prompt_hidden;       // [1, T, hidden] final-norm states of the prefilled rows
  torch::Tensor prompt_last_logits;  // [vocab] fp32, logits of the last prompt row
  torch::Tensor generated_hidden;    // [1, N − 1, hidden]
  // With record_top2_margins, per generated id: (top logit − second logit) / max|logit| of the logits it was
  // chosen from. The parity tests allow another id only where this is below 1e-4 (a near-tie that last-bit
  // differences can flip).
  std::vector<float> top2_margins;
  StopReason stop = StopReason::MaxNewTokens;

  // prompt_hidden then generated_hidden: upstream's cat(hidden_states[t][-1]) (golden step_last_hidden
  // when the whole prompt was prefilled here).
  torch::Tensor all_hidden() const;
};

// inputs_embeds [1, T ≥ 1, hidden] at positions [cache.length(), cache.length() + T). The cache must hold
// room for T + max_new_tokens − 1 more positions (checked up front: Status::Limit).
GenerateResult phi3_generate(const Phi3ModelImpl& model, Phi3KvCache& cache, const torch::Tensor& inputs_embeds,
                             const GenerateOptions& options);

}  // namespace xsam
