// Interactive segmentation (docs/design/upstream-facts.md#post-processing, #post-processing-resize): upstream
// intseg_postprocess_fn (aaai26: tight-box IoU) or img_intseg_postprocess_fn (main: mask IoU), chosen by config
// behaviour.intseg_iou.
#include <algorithm>
#include <string>

#include "core/error.h"
#include "postprocess/scoring.h"

namespace xsam {
namespace {

// detectron2 pairwise_iou on two boxes, in fp32 as upstream: zero when the boxes do not intersect.
float box_iou(const Box& a, const Box& b) {
  const float area_a = float(a.x1 - a.x0) * float(a.y1 - a.y0);
  const float area_b = float(b.x1 - b.x0) * float(b.y1 - b.y0);
  const float w = std::max(0.0f, float(std::min(a.x1, b.x1)) - float(std::max(a.x0, b.x0)));
  const float h = std::max(0.0f, float(std::min(a.y1, b.y1)) - float(std::max(a.y0, b.y0)));
  const float inter = w * h;
  return inter > 0 ? inter / (area_a + area_b - inter) : 0.0f;
}

// main's pairwise_mask_iou: inter / max(union, 1e-6) in fp32. Prompt pixels count as 1 when nonzero
// (xsam's prompt masks are {0, 1}; upstream would weight app masks holding 255).
float mask_iou(const Bitmap& a, const Bitmap& b) {
  int64_t inter = 0, area_a = 0, area_b = 0;
  for (size_t i = 0; i < a.pixels.size(); ++i) {
    area_a += a.pixels[i] != 0;
    area_b += b.pixels[i] != 0;
    inter += a.pixels[i] != 0 && b.pixels[i] != 0;
  }
  const float uni = float(area_a) + float(area_b) - float(inter);
  return float(inter) / std::max(uni, 1e-6f);
}

}  // namespace

PostprocessResult postprocess_interactive(const DecoderPrediction& prediction, const PostprocessGeometry& geometry,
                                          const torch::Tensor& prompt_masks, const InteractiveParams& params) {
  using namespace postprocess_detail;
  Prediction p = prepare(prediction, geometry, "interactive");
  if (p.rows() != 1)
    fail(Status::InvalidArgument,
         "postprocess interactive: expected one decoder row, got " + std::to_string(p.rows()));
  if (p.classes() != 1)
    fail(Status::Unsupported, "postprocess interactive: one region per call (upstream asserts num_classes == 1), got " +
                                  std::to_string(p.classes()));
  torch::Tensor resized = resize_prompt_masks(prompt_masks, geometry, "interactive");
  if (resized.size(0) != 1)
    fail(Status::Unsupported, "postprocess interactive: one prompt mask per call, got " +
                                  std::to_string(resized.size(0)));
  const Bitmap prompt = to_bitmap(resized[0]);

  // Every entry's score is needed: keep = score >= threshold OR score == max(score).
  const std::vector<TopkEntry> entries = topk_entries(p, 0);
  QueryMasks masks(p, 0);
  std::vector<int64_t> all;
  for (const TopkEntry& e : entries) all.push_back(e.query);
  masks.compute(all);
  std::vector<float> scores;
  for (const TopkEntry& e : entries) scores.push_back(entry_score(e, masks.get(e.query)));
  const float max_score = *std::max_element(scores.begin(), scores.end());

  const Box prompt_box = tight_box(prompt);
  size_t best = entries.size();
  float best_iou = 0;
  for (size_t j = 0; j < entries.size(); ++j) {
    if (!(scores[j] >= static_cast<float>(params.threshold) || scores[j] == max_score)) continue;
    const Bitmap& m = masks.get(entries[j].query).mask;
    const float iou = params.iou == IntsegIou::Box ? box_iou(tight_box(m), prompt_box) : mask_iou(m, prompt);
    if (best == entries.size() || iou > best_iou) {  // argmax: first kept entry among equals
      best = j;
      best_iou = iou;
    }
  }

  PostprocessResult r;
  const TopkEntry& e = entries[best];
  MaskEntry me;
  me.mask = masks.get(e.query).mask;
  me.query = int(e.query);
  me.label = int(e.label);
  me.score = scores[best];
  me.box = tight_box(me.mask);
  Segment s;
  s.id = 0;
  s.label = int(e.label);
  s.score = scores[best];
  s.area = me.mask.area();
  r.masks.push_back(std::move(me));
  r.segments.push_back(s);
  r.prompt_masks.push_back(prompt);
  return r;
}

}  // namespace xsam
