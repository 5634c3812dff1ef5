// Referring and reasoning segmentation (docs/design/upstream-facts.md#post-processing): upstream
// refseg_postprocess_fn, applied per decoder row with row i reading class column i
// (docs/design/decisions.md#where-upstream-fails; upstream asserts one phrase).
#include <string>
#include <tuple>

#include "core/error.h"
#include "postprocess/resize.h"

namespace xsam {

PostprocessResult postprocess_referring(const DecoderPrediction& prediction, const PostprocessGeometry& geometry,
                                        double mask_threshold) {
  using namespace postprocess_detail;
  Prediction p = prepare(prediction, geometry, "referring");
  if (p.rows() != p.classes())
    fail(Status::InvalidArgument, "postprocess referring: " + std::to_string(p.rows()) + " decoder rows for " +
                                      std::to_string(p.classes()) + " phrases (row i must belong to phrase i)");
  PostprocessResult r;
  for (int64_t i = 0; i < p.rows(); ++i) {
    // top_score, top_index = scores.max(dim=0) over the phrase's column: first max.
    torch::Tensor top_score, top_query;
    std::tie(top_score, top_query) = class_probabilities(p, i).slice(1, i, i + 1).max(0);
    const float score = top_score.item<float>();
    torch::Tensor prob = image_logits(p, i, top_query.item<int64_t>()).sigmoid();
    MaskEntry e;
    e.mask = to_bitmap(prob.gt(mask_threshold));  // strict, fp32 comparison
    e.label = int(i);
    e.score = score;
    e.row = int(i);
    e.query = int(top_query.item<int64_t>());
    e.box = tight_box(e.mask);
    Segment s;
    s.id = int(i);
    s.label = int(i);
    s.score = score;
    s.area = e.mask.area();
    r.masks.push_back(std::move(e));
    r.segments.push_back(s);
  }
  return r;
}

}  // namespace xsam
