// X-SAM's open-vocabulary class head (docs/design/upstream-facts.md#transformer-decoder): cosine
// similarity between the decoder queries and the condition embeddings (phrases / categories / regions, background
// last), scaled by exp(logit_scale), clamped, masked columns filled. It has no parameters of its own: the
// scale belongs to the segmentor (its checkpoint key depends on the upstream branch).
#pragma once
#include <torch/types.h>

#include "core/config.h"

namespace xsam {

// queries (B, Q, D), conditions (B, C+1, D), logit_scale (1) (log of the scale); embed_masks (B, C+1)
// or undefined: columns where it is 0 get config.masked_fill. Computed in fp32; returns (B, Q, C+1) fp32.
torch::Tensor class_logits(const torch::Tensor& queries, const torch::Tensor& conditions,
                           const torch::Tensor& logit_scale, const torch::Tensor& embed_masks,
                           const ClassHeadConfig& config);

}  // namespace xsam
