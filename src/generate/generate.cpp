#include "generate/generate.h"

#include <string>

#include <ATen/ATen.h>

#include "core/error.h"
#include "models/phi3_kv_cache.h"

namespace xsam {

GenerateOptions GenerateOptions::from_config(const ModelConfig& config) {
  GenerateOptions o;
  o.max_new_tokens = config.behaviour.max_new_tokens;
  o.end_token = config.tokens.end;
  o.eos_token = config.tokens.eos;
  return o;
}

torch::Tensor GenerateResult::all_hidden() const {
  if (!generated_hidden.defined() || generated_hidden.size(1) == 0) return prompt_hidden;
  return at::cat({prompt_hidden, generated_hidden}, 1);
}

namespace {

float top2_margin(const torch::Tensor& logits) {
  if (logits.numel() < 2) return 1.0f;
  const auto l = logits.to(torch::kFloat32);
  const auto top = std::get<0>(l.topk(2));
  const float scale = l.abs().max().item<float>();
  const float gap = top[0].item<float>() - top[1].item<float>();
  return scale > 0 ? gap / scale : gap;
}

}  // namespace

GenerateResult phi3_generate(const Phi3ModelImpl& model, Phi3KvCache& cache, const torch::Tensor& inputs_embeds,
                             const GenerateOptions& options) {
  at::NoGradGuard no_grad;
  if (options.max_new_tokens < 1)
    fail(Status::InvalidArgument, "generate: max_new_tokens must be >= 1, got " + std::to_string(options.max_new_tokens));
  if (inputs_embeds.dim() != 3 || inputs_embeds.size(1) < 1)
    fail(Status::InvalidArgument, "generate: inputs_embeds must be [1, T >= 1, hidden]");
  const int64_t T = inputs_embeds.size(1);
  const int64_t needed = cache.length() + T + options.max_new_tokens - 1;
  if (needed > cache.capacity())
    fail(Status::Limit, "generate: prompt (" + std::to_string(cache.length() + T) + " positions) + max_new_tokens (" +
                            std::to_string(options.max_new_tokens) + ") needs a KV cache of " + std::to_string(needed) +
                            " positions, the context has " + std::to_string(cache.capacity()));
  TokenSampler sampler(options.sampling);

  Phi3ForwardOptions fwd;
  fwd.logits_last = 1;
  fwd.sliding_window_keys = options.sliding_window_keys;
  GenerateResult result;
  auto prefill = model.forward(inputs_embeds, cache.length(), &cache, fwd);
  result.prompt_hidden = prefill.last_hidden;
  result.prompt_last_logits = prefill.logits[0][0];

  const int64_t H = model.config().hidden_size;
  // One row per generated token that is fed back; filled in place, no per-step concatenation.
  auto generated = at::empty({1, options.max_new_tokens - 1, H}, inputs_embeds.options());
  const auto& embedding = model.model->embed_tokens->weight;  // decode input = a view of one row

  torch::Tensor logits = result.prompt_last_logits;
  for (int64_t step = 0;; ++step) {
    const int64_t token = sampler.next(logits);
    result.ids.push_back(token);
    if (options.record_top2_margins) result.top2_margins.push_back(top2_margin(logits));
    if (options.on_token && !options.on_token(token, step))
      fail(Status::Cancelled, "generate: cancelled by the token callback after " + std::to_string(step + 1) +
                                  " token(s)");
    if (token == options.end_token) { result.stop = StopReason::EndToken; break; }
    if (token == options.eos_token) { result.stop = StopReason::Eos; break; }
    if (step + 1 >= options.max_new_tokens) { result.stop = StopReason::MaxNewTokens; break; }
    // [1, 1, H]; widened (exactly) where the table stays bf16 under fp32 math, else the view itself.
    auto input = embedding.narrow(0, token, 1).unsqueeze(0).to(inputs_embeds.scalar_type());
    auto out = model.forward(input, cache.length(), &cache, fwd);
    generated.select(1, step).copy_(out.last_hidden.select(1, 0));
    logits = out.logits[0][0];
  }
  result.generated_hidden = generated.narrow(1, 0, static_cast<int64_t>(result.ids.size()) - 1);
  return result;
}

}  // namespace xsam
