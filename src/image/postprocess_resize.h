// The geometry half of post-processing (spec §4.4, §8.28, §8.34), shared by the task files:
// decoder resolution → canvas (bilinear, align_corners=False, as XSegmentor), crop of the scaled region,
// → original size (bilinear, align_corners=False, upstream sem_seg_postprocess), and the prompt masks'
// legacy-nearest resize. All on CPU fp32 with the ATen ops upstream calls, so every pixel matches.
#pragma once
#include <torch/types.h>

#include "image/postprocess.h"

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

// Mask logits of all queries of one row on the canvas: [Q, S, S].
torch::Tensor canvas_logits(const Prediction& p, int64_t row);
// One query's mask logits at the original size: [H, W] (decoder → canvas → crop → original size).
torch::Tensor image_logits(const Prediction& p, int64_t row, int64_t query);

// upstream sem_seg_postprocess(mode="bilinear"): [N, S, S] → crop [:, :h_s, :w_s] → [N, H, W].
torch::Tensor crop_and_resize(const torch::Tensor& canvas_maps, const PostprocessGeometry& g);

// upstream sem_seg_postprocess(mode="nearest") of the prompt masks: [n, S, S] (any dtype) → [n, H, W]
// fp32, PyTorch legacy nearest (src = min(floor(dst · float(in/out)), in − 1) in float32).
torch::Tensor resize_prompt_masks(const torch::Tensor& prompt_masks, const PostprocessGeometry& g, const char* task);

// [H, W] tensor → bitmap (nonzero = 1) / integer map.
Bitmap to_bitmap(const torch::Tensor& hw);
LabelMap to_label_map(const torch::Tensor& hw);

}  // namespace xsam::postprocess_detail
