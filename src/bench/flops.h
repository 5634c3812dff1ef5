// The work of each stage of one X-SAM call, counted from the config alone: the FLOP floor that
// `xsam bench` compares measured times against (docs/performance.md lists the formulas).
//
// Conventions: a multiply-add is 2 FLOPs; only the matrix products (linear layers, convolutions,
// attention scores and weighted sums, relative-position terms) are counted — norms, softmax,
// activations and resampling are O(elements) and go into the measured time, not the floor. Counts
// follow the model's definition, not this library's kernels: SAM's windowed blocks include the zero-padded
// tokens (upstream attends over them too), causal attention counts only the visible keys (a chunked
// kernel that computes the masked triangle does not get credit for it).
#pragma once
#include <cstdint>
#include <vector>

#include "core/config.h"

namespace xsam::bench {

// ---- per image
double siglip_flops(const ModelConfig& c);            // patch embedding + the layers that run
double visual_projector_flops(const ModelConfig& c);  // SigLIP tokens → LLM rows
double sam_flops(const ModelConfig& c);               // patch embedding + the blocks that run
double seg_projector_flops(const ModelConfig& c);     // pixel-shuffled SAM tokens → LLM rows
double connector_flops(const ModelConfig& c);         // the three conv levels
double pixel_decoder_flops(const ModelConfig& c);     // input projections, deformable encoder, FPN, mask projection
double vision_flops(const ModelConfig& c);            // all of the above

// ---- per prompt: the LLM
// Visible keys of the query at absolute position p (causal, optional sliding window).
int64_t visible_keys(const Phi3Config& l, int64_t position);
// Linear-layer FLOPs of one token through all decoder layers (no attention scores, no lm_head).
double llm_linear_flops_per_token(const Phi3Config& l);
// Prefill of `tokens` rows at absolute positions [start, start + tokens) with logits for `logits_rows`.
double llm_prefill_flops(const Phi3Config& l, int64_t start, int64_t tokens, int64_t logits_rows = 0);
// One decoding step of the token at `position` (its logits included).
double llm_decode_flops(const Phi3Config& l, int64_t position);
// Bytes one decoding step must read at least: every decoder-layer weight, the final norm, lm_head, and
// the cached keys/values it attends to; bytes per weight element (2: bf16, also the mixed runtime's) and per
// cached key/value element (the math dtype's: 4 for fp32 and mixed).
double llm_decode_bytes(const Phi3Config& l, int64_t position, int64_t weight_bytes, int64_t kv_bytes);
// Bytes of the LLM weights (embedding table included), for reporting.
double llm_weight_bytes(const Phi3Config& l, int64_t element_bytes);

// ---- per prompt: from LLM states to masks
double llm_projector_flops(const ModelConfig& c, int64_t rows);
// Transformer decoder (all layers, every intermediate mask prediction) + class head for `decoder_rows`
// rows (one per <SEG>) and `classes` condition embeddings per row (background included).
double mask_decoder_flops(const ModelConfig& c, int64_t decoder_rows, int64_t classes);

// Side length and channels of each connector output (the pixel decoder's inputs), high → low resolution.
struct FeatureMap {
  int64_t side = 0;
  int64_t channels = 0;
};
std::vector<FeatureMap> connector_outputs(const ModelConfig& c);

}  // namespace xsam::bench
