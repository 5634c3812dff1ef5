// The geometry half of post-processing (docs/design/upstream-facts.md#post-processing-resize), shared by the task
// files: decoder resolution → canvas (bilinear, align_corners=False, as XSegmentor), crop of the scaled region,
// → original size (bilinear, align_corners=False, upstream sem_seg_postprocess), and the prompt masks'
// legacy-nearest resize. All on CPU fp32 with the ATen ops upstream calls, so every pixel matches.
#pragma once
#include <torch/types.h>

#include "postprocess/postprocess.h"

namespace xsam::postprocess_detail {

// The prediction as CPU fp32 tensors, checked against the geometry (errors name `task` and the field).
struct Prediction {
  torch::Tensor class_logits;  // [B, Q, C+1]
  torch::Tensor mask_logits;   // [B, Q, s, s]
  PostprocessGeometry geometry;
  int64_t rows() const { return class_logits.size(0); }
  int64_t queries() const { return class_logits.size(1); }
  int64_t classes() const { return class_logits.size(2) - 1; }
};
Prediction prepare(const DecoderPrediction& prediction, const PostprocessGeometry& geometry, const char* task);

// Softmax over classes with the background column dropped afterwards: [Q, C] for one row.
torch::Tensor class_probabilities(const Prediction& p, int64_t row);

// Mask logits of all queries of one row on the canvas: [Q, S, S] (one upsampling call, as upstream).
torch::Tensor canvas_logits(const Prediction& p, int64_t row);

// Some queries' mask logits at the original size: [k, H, W] (decoder → canvas → crop → original size).
// Upstream resizes all Q queries in one call; per pixel that equals a call on any subset of two or more
// queries, but NOT a call on a single one: ATen 1.13 treats a [1, 1, h, w] tensor as channels-last
// contiguous and takes its channels-last kernel, which rounds differently (≤ 1 ulp; measured on
// genseg_pan). So a lone query is resized beside a copy of itself. Callers process queries in chunks
// (kQueryChunk) to keep the memory at a few maps instead of Q.
constexpr int64_t kQueryChunk = 16;
torch::Tensor image_logits(const Prediction& p, int64_t row, const std::vector<int64_t>& queries);
inline torch::Tensor image_logits(const Prediction& p, int64_t row, int64_t query) {
  return image_logits(p, row, std::vector<int64_t>{query})[0];
}

// upstream sem_seg_postprocess(mode="bilinear"): [N, S, S] → crop [:, :h_s, :w_s] → [N, H, W].
torch::Tensor crop_and_resize(const torch::Tensor& canvas_maps, const PostprocessGeometry& g);

// upstream sem_seg_postprocess(mode="nearest") of the prompt masks: [n, S, S] (any dtype) → [n, H, W]
// fp32, PyTorch legacy nearest (src = min(floor(dst · float(in/out)), in − 1) in float32).
torch::Tensor resize_prompt_masks(const torch::Tensor& prompt_masks, const PostprocessGeometry& g, const char* task);

// [H, W] tensor → bitmap (nonzero = 1) / integer map.
Bitmap to_bitmap(const torch::Tensor& hw);
LabelMap to_label_map(const torch::Tensor& hw);

}  // namespace xsam::postprocess_detail
