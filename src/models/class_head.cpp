#include "models/class_head.h"

#include <string>

#include <ATen/ATen.h>

#include "core/error.h"

namespace xsam {

namespace {

// F.normalize(x, dim=-1): x / max(‖x‖₂, 1e-12).
torch::Tensor l2_normalise(const torch::Tensor& x) {
  return x / x.norm(2, {-1}, /*keepdim=*/true).clamp_min(1e-12);
}

}  // namespace

torch::Tensor class_logits(const torch::Tensor& queries, const torch::Tensor& conditions,
                           const torch::Tensor& logit_scale, const torch::Tensor& embed_masks,
                           const ClassHeadConfig& config) {
  if (queries.dim() != 3 || conditions.dim() != 3 || queries.size(0) != conditions.size(0) ||
      queries.size(2) != conditions.size(2))
    fail(Status::InvalidArgument, "class_head: queries (B, Q, D) and cond_embeddings (B, C+1, D) disagree");
  auto q = l2_normalise(queries.to(at::kFloat));
  auto c = l2_normalise(conditions.to(queries.device(), at::kFloat));
  // The scale is exponentiated but not clamped; only the product is clamped.
  auto logits = at::bmm(q, c.transpose(1, 2)) * logit_scale.to(queries.device(), at::kFloat).exp();
  logits = logits.clamp(-config.logit_clamp, config.logit_clamp);
  if (embed_masks.defined()) {
    if (embed_masks.dim() != 2 || embed_masks.size(0) != logits.size(0) || embed_masks.size(1) != logits.size(2))
      fail(Status::InvalidArgument, "class_head: embed_masks must be (" + std::to_string(logits.size(0)) + ", " +
                                        std::to_string(logits.size(2)) + ")");
    auto masked = (embed_masks.to(logits.device()) == 0).unsqueeze(1);  // (B, 1, C+1)
    logits = logits.masked_fill(masked, config.masked_fill);
  }
  return logits;
}

}  // namespace xsam
