// Panoptic segmentation (docs/design/upstream-facts.md#post-processing): upstream _panoptic_genseg_postprocess →
// compute_segments (copied from HF DETR), including its segment-id reuse quirk, replicated literally.
#include <algorithm>
#include <map>
#include <string>
#include <tuple>

#include "core/error.h"
#include "postprocess/resize.h"

namespace xsam {

PostprocessResult postprocess_panoptic(const DecoderPrediction& prediction, const PostprocessGeometry& geometry,
                                       const PanopticParams& params) {
  using namespace postprocess_detail;
  Prediction p = prepare(prediction, geometry, "panoptic");
  if (p.rows() != 1)
    fail(Status::InvalidArgument, "postprocess panoptic: expected one decoder row, got " + std::to_string(p.rows()));
  std::vector<bool> is_stuff(size_t(p.classes()), false);
  for (int label : params.stuff_labels) {
    if (label < 0 || label >= p.classes())
      fail(Status::InvalidArgument, "postprocess panoptic: stuff label " + std::to_string(label) + " outside 0.." +
                                        std::to_string(p.classes() - 1));
    is_stuff[size_t(label)] = true;
  }
  const int height = geometry.height, width = geometry.width;
  const size_t pixels = size_t(height) * size_t(width);

  // pred_score, pred_label = softmax[:, :-1].max(-1); keep = score > threshold (fp32 tensor comparison;
  // the label != C half is always true once the background column is dropped).
  torch::Tensor best_score, best_label;
  std::tie(best_score, best_label) = class_probabilities(p, 0).max(-1);
  best_score = best_score.contiguous();
  best_label = best_label.contiguous();
  struct Kept {
    int64_t query;
    int label;
    float score;
  };
  std::vector<Kept> kept;
  for (int64_t q = 0; q < p.queries(); ++q) {
    const float s = best_score.data_ptr<float>()[q];
    if (s > static_cast<float>(params.threshold)) kept.push_back({q, int(best_label.data_ptr<int64_t>()[q]), s});
  }

  PostprocessResult r;
  r.map = LabelMap(height, width, 0);  // 0 = void
  r.map_background = 0;
  if (kept.empty()) return r;

  // Weighted probabilities P_k = sigmoid(resized logits) · score_k, one kept query at a time:
  //   owner = argmax_k P_k (first on ties: a strict '>' in ascending k gives the same answer), and
  //   original_area_k = #(P_k >= mask_threshold) — the weighting comes BEFORE this test, as upstream.
  // (compute_segments' second bilinear resize to (H, W) is a same-size copy and is skipped.)
  std::vector<float> best(pixels);
  std::vector<int32_t> owner(pixels, 0);
  std::vector<int64_t> original_area(kept.size(), 0);
  const float mask_threshold = static_cast<float>(params.mask_threshold);
  torch::Tensor chunk_probs;
  for (size_t k = 0; k < kept.size(); ++k) {
    if (k % size_t(kQueryChunk) == 0) {
      std::vector<int64_t> chunk;
      for (size_t j = k; j < std::min(kept.size(), k + size_t(kQueryChunk)); ++j) chunk.push_back(kept[j].query);
      chunk_probs = image_logits(p, 0, chunk).sigmoid();
    }
    torch::Tensor prob = chunk_probs[int64_t(k % size_t(kQueryChunk))];
    prob.mul_(kept[k].score);  // mask_probs *= pred_scores.view(-1, 1, 1), fp32
    const float* v = prob.data_ptr<float>();
    int64_t area = 0;
    for (size_t i = 0; i < pixels; ++i) {
      area += v[i] >= mask_threshold;
      if (k == 0 || v[i] > best[i]) {
        best[i] = v[i];
        owner[i] = int32_t(k);
      }
    }
    original_area[k] = area;
  }
  std::vector<int64_t> won_area(kept.size(), 0);
  for (size_t i = 0; i < pixels; ++i) ++won_area[size_t(owner[i])];

  int32_t current_id = 0;
  std::map<int, int32_t> stuff_ids;  // stuff class → the id its first segment got
  for (size_t k = 0; k < kept.size(); ++k) {
    const int64_t area = won_area[k], original = original_area[k];
    if (area <= 0 || original <= 0) continue;
    // area_ratio = mask_k_area / original_area: int64 tensors → fp32 true division, then .item() > 0.8.
    const float ratio = static_cast<float>(area) / static_cast<float>(original);
    if (!(double(ratio) > params.overlap_threshold)) continue;
    const int label = kept[k].label;
    auto remembered = stuff_ids.find(label);
    // The quirk: reusing a stuff id also rewinds the running counter to it.
    current_id = remembered != stuff_ids.end() ? remembered->second : current_id + 1;

    MaskEntry e;
    e.mask = Bitmap(height, width);
    for (size_t i = 0; i < pixels; ++i)
      if (owner[i] == int32_t(k)) {
        r.map.values[i] = current_id;
        e.mask.pixels[i] = 1;
      }
    e.label = label;
    e.score = kept[k].score;
    e.query = int(kept[k].query);
    e.box = tight_box(e.mask);
    r.masks.push_back(std::move(e));

    Segment s;
    s.id = current_id;
    s.label = label;
    s.score = kept[k].score;
    s.isthing = !is_stuff[size_t(label)];
    s.area = area;
    r.segments.push_back(s);
    if (is_stuff[size_t(label)]) stuff_ids[label] = current_id;
  }
  return r;
}

}  // namespace xsam
