// Post-processing: from the mask decoder's class and mask logits to masks, maps and segment lists at
// the original image size, one function per task (docs/design/upstream-facts.md#post-processing-resize,
// #post-processing, #topk-order).
//
// Every function reproduces upstream AAAI26_Archive (and, where config `behaviour` says so, main)
// exactly, calling the same ATen ops on CPU fp32 tensors so that the order of `topk(sorted=false)`
// (docs/design/upstream-facts.md#topk-order, docs/design/decisions.md#randomness-and-libtorch-version) and every
// rounding match. Results are plain structs (postprocess/types.h).
//
// Memory: masks are processed query by query (decoder resolution → canvas → crop → original size), so
// the peak is a few canvas-sized and image-sized maps rather than Q of them. The exceptions are the
// semantic task (both orders combine all Q queries in one einsum, as upstream) and the interactive task
// (it needs every query's score).
#pragma once
#include <torch/types.h>

#include "core/config.h"
#include "postprocess/types.h"

namespace xsam {

// Where the mask logits live and where the image is in them.
struct PostprocessGeometry {
  int canvas = 0;         // SAM canvas side S (config mask2former.mask_image_size)
  int scaled_height = 0;  // h_s × w_s: the resized image in the top-left of the canvas (SAM preprocessing)
  int scaled_width = 0;
  int height = 0;         // original image size H × W
  int width = 0;
};

// The decoder's last prediction (any float dtype, any device: converted to CPU fp32 first).
struct DecoderPrediction {
  torch::Tensor class_logits;  // [B_dec, Q, C+1], background column last
  // [B_dec, Q, s, s]: either s = canvas (upsampled as upstream XSegmentor does) or the decoder's own
  // resolution, which is upsampled here query by query with the same op (bilinear, align_corners=False).
  torch::Tensor mask_logits;
};

// Semantic (docs/design/upstream-facts.md#post-processing). map = argmax class index per pixel (first index on ties),
// no background. masks: one per class present, ascending class, score = mean of that class's score map over the
// pixels it wins (xsam's addition: upstream gives no score). Order from config `behaviour.semantic_order`:
// ProbsThenResize (aaai26: softmax[..., :-1] × sigmoid(masks) at the canvas, then crop + resize) or
// ResizeLogitsThenProbs (main: crop + resize the logits, then sigmoid and einsum).
PostprocessResult postprocess_semantic(const DecoderPrediction& prediction, const PostprocessGeometry& geometry,
                                       SemanticOrder order);

struct InstanceParams {
  double threshold = 0.5;           // score threshold (`>=`); upstream demo default 0.5, eval 0.0
  bool things_only = false;         // config behaviour.instance_things_only (main)
  std::vector<int> stuff_labels;    // with things_only: classes dropped from the result
};

// Instance (docs/design/upstream-facts.md#post-processing, #topk-order). masks = upstream `instances` (every top-k
// entry with score >= threshold, in top-k order; an entry may repeat a query with another label); map = upstream
// canvas: segment ids 0, 1, … painted in top-k order over −1; segments = upstream segments_info (non-empty masks
// only). postprocess/rle.h turns the canvas into upstream's instance "RLE".
PostprocessResult postprocess_instance(const DecoderPrediction& prediction, const PostprocessGeometry& geometry,
                                       const InstanceParams& params);

struct PanopticParams {
  double threshold = 0.5;          // class score, strict `>`
  double mask_threshold = 0.5;     // score-weighted probability `>=` for the "original area"
  double overlap_threshold = 0.8;  // area / original area, strict `>`
  std::vector<int> stuff_labels;   // label_ids_to_fuse: stuff classes (segments share one id per class)
};

// Panoptic (docs/design/upstream-facts.md#post-processing). map = segment ids, 0 = void; segments = upstream
// segments_info including its id-reuse quirk (a repeated stuff class reuses its id, and the next new segment
// continues from the reused id, so ids may collide; fused stuff gives one entry per query); masks = one per segment
// entry (the pixels that query won).
PostprocessResult postprocess_panoptic(const DecoderPrediction& prediction, const PostprocessGeometry& geometry,
                                       const PanopticParams& params);

// Referring / reasoning (docs/design/upstream-facts.md#post-processing). Row i of the decoder output belongs to
// phrase i and is read from class column i (docs/design/decisions.md#where-upstream-fails: upstream asserts a single
// phrase; with one phrase this is upstream exactly). masks[i]: the query with the highest class probability (first on
// ties), pixels with sigmoid > mask_threshold (strict); segments[i] = {id i, label i, score}. No map: upstream's map
// is masks[0] with 1 = foreground, 255 = background.
PostprocessResult postprocess_referring(const DecoderPrediction& prediction, const PostprocessGeometry& geometry,
                                        double mask_threshold = 0.5);

// Grounded caption (docs/design/upstream-facts.md#post-processing). Per phrase c: the query with the highest
// probability of class c; map paints phrase c as c + 1 in phrase order (later phrases overwrite earlier ones), 255 =
// background; masks[c] = phrase c's own mask before any overwrite; segments = upstream segments_info.
PostprocessResult postprocess_gcg(const DecoderPrediction& prediction, const PostprocessGeometry& geometry,
                                  double mask_threshold = 0.5);

struct InteractiveParams {
  double threshold = 0.5;              // keep = score >= threshold OR score == max
  IntsegIou iou = IntsegIou::Box;      // config behaviour.intseg_iou
};

// Interactive (docs/design/upstream-facts.md#post-processing, #post-processing-resize). prompt_masks: [1, S, S] on
// the canvas (nonzero = inside), one region (upstream asserts one class and one prompt). masks[0] = the kept entry
// whose mask best matches the prompt (tight-box IoU with exclusive max corner, or mask IoU; first max, so top-k order
// breaks ties); segments[0] = {id 0, label, score}; prompt_masks[0] = the prompt resized with PyTorch legacy
// nearest. No map: upstream's float map is masks[0] with 1 = foreground, 255 = background.
PostprocessResult postprocess_interactive(const DecoderPrediction& prediction, const PostprocessGeometry& geometry,
                                          const torch::Tensor& prompt_masks, const InteractiveParams& params);

// Visual grounding (docs/design/upstream-facts.md#post-processing): instance post-processing with class c = region c,
// the canvas starting at 255 instead of −1, and the prompt masks [n, S, S] resized (legacy nearest) into
// prompt_masks.
PostprocessResult postprocess_vgd(const DecoderPrediction& prediction, const PostprocessGeometry& geometry,
                                  const torch::Tensor& prompt_masks, double threshold = 0.5);

}  // namespace xsam
