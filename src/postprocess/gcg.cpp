// Grounded conversation generation (docs/design/upstream-facts.md#post-processing): upstream gcgseg_postprocess_fn.
#include <map>
#include <string>
#include <tuple>

#include "core/error.h"
#include "postprocess/resize.h"

namespace xsam {

PostprocessResult postprocess_gcg(const DecoderPrediction& prediction, const PostprocessGeometry& geometry,
                                  double mask_threshold) {
  using namespace postprocess_detail;
  Prediction p = prepare(prediction, geometry, "gcg");
  if (p.rows() != 1)
    fail(Status::InvalidArgument, "postprocess gcg: expected one decoder row, got " + std::to_string(p.rows()));
  // Per phrase: the query with the highest probability of that phrase (first max).
  torch::Tensor top_scores, top_queries;
  std::tie(top_scores, top_queries) = class_probabilities(p, 0).max(0);
  top_scores = top_scores.contiguous();
  top_queries = top_queries.contiguous();

  PostprocessResult r;
  r.map = LabelMap(geometry.height, geometry.width, 255);  // 255 = ignore / background
  r.map_background = 255;
  std::map<int64_t, Bitmap> by_query;  // phrases may pick the same query
  for (int64_t c = 0; c < p.classes(); ++c) {
    const int64_t q = top_queries.data_ptr<int64_t>()[c];
    auto it = by_query.find(q);
    if (it == by_query.end())
      it = by_query.emplace(q, to_bitmap(image_logits(p, 0, q).sigmoid().gt(mask_threshold))).first;
    const Bitmap& mask = it->second;
    const int32_t id = int32_t(c + 1);
    for (size_t i = 0; i < mask.pixels.size(); ++i)
      if (mask.pixels[i]) r.map.values[i] = id;  // later phrases overwrite earlier ones
    const float score = top_scores.data_ptr<float>()[c];
    MaskEntry e;
    e.mask = mask;
    e.label = int(c);
    e.score = score;
    e.query = int(q);
    e.box = tight_box(mask);
    Segment s;
    s.id = id;
    s.label = int(c);
    s.score = score;
    s.isthing = true;
    s.area = mask.area();
    r.masks.push_back(std::move(e));
    r.segments.push_back(s);
  }
  return r;
}

}  // namespace xsam
