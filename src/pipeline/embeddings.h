// From prompt ids + image features to LLM input rows, and from LLM hidden states to the decoder's
// class and <SEG> embeddings (upstream's prepare_inputs_labels_for_multimodal;
// docs/design/upstream-facts.md#llm-to-decoder-embeddings).
#pragma once
#include <cstdint>
#include <optional>
#include <vector>

#include <torch/types.h>

#include "core/config.h"
#include "prompt/tasks.h"

namespace xsam {

class XSamModel;
struct ImageFeatures;

// The expanded sequence, split where the per-image cache cuts it (docs/design/decisions.md#per-image-cache): the
// prefix ends with the last image row; the rest follows. cond/seg ids are aligned to the expanded rows of the rest
// (the prefix never carries a phrase or a <SEG>: they come after <image> in every template).
struct LlmInputs {
  torch::Tensor prefix;               // [1, P, H]: text before <image> + image rows
  std::vector<int64_t> prefix_ids;    // the token ids of the prefix text (for the cache key)
  torch::Tensor rest;                 // [1, R, H]
  std::vector<int64_t> rest_cond_ids; // R entries
  std::vector<int64_t> rest_seg_ids;  // R entries
};

// ids must contain exactly one image sentinel; region sentinels take the rows of `region_rows`
// ([N, k, H], k rows each, in order; cond id = region index).
LlmInputs build_llm_inputs(const XSamModel& model, const std::vector<int64_t>& ids,
                           const std::vector<int64_t>& cond_ids, const std::vector<int64_t>& seg_ids,
                           const ImageFeatures& image, const torch::Tensor& region_rows);

// _get_index_embeds: for every distinct id >= 0 (ascending), the mean of the rows of `projected`
// ([T, D]) carrying it. Returns [n, D], n = 0 when no id is set.
torch::Tensor pool_by_ids(const torch::Tensor& projected, const std::vector<int64_t>& ids);

// What the Mask2Former decoder takes (docs/design/upstream-facts.md#llm-to-decoder-embeddings _process_embeds).
struct DecoderConditions {
  torch::Tensor cond;         // [B_dec, C+1, D], background last
  torch::Tensor seg;          // [B_dec, 1, D]
  torch::Tensor embed_masks;  // [B_dec, C+1] or undefined
  int64_t repeat = 1;         // decoder rows per image
};

// nullopt (with `why` set) when upstream would produce no masks: no phrase, no <SEG>, or a <SEG>
// count the layout cannot use.
std::optional<DecoderConditions> process_embeds(CondLayout layout, const torch::Tensor& conds, const torch::Tensor& segs,
                                                const torch::Tensor& bg, std::string* why);

}  // namespace xsam
