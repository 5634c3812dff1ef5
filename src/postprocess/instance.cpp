// Instance segmentation (docs/design/upstream-facts.md#post-processing): upstream _instance_genseg_postprocess.
#include "postprocess/scoring.h"

#include <string>

#include "core/error.h"

namespace xsam {
namespace postprocess_detail {

PostprocessResult assemble_instances(const Prediction& p, int64_t row, const InstanceAssembly& how) {
  const PostprocessGeometry& g = p.geometry;
  const std::vector<TopkEntry> entries = topk_entries(p, row);
  QueryMasks masks(p, row);
  auto dropped = [&](int64_t label) {
    return !how.dropped_labels.empty() && how.dropped_labels[size_t(label)];
  };

  std::vector<int64_t> needed;
  for (const TopkEntry& e : entries)
    if (!dropped(e.label) && may_reach(e, how.threshold)) needed.push_back(e.query);
  masks.compute(needed);

  PostprocessResult r;
  r.map = LabelMap(g.height, g.width, how.background);
  r.map_background = how.background;
  int32_t next_id = 0;
  for (const TopkEntry& e : entries) {
    if (dropped(e.label) || !may_reach(e, how.threshold)) continue;
    const QueryMask& m = masks.get(e.query);
    const float score = entry_score(e, m);
    // The canvas and segments_info compare the Python float score.item() (double) ...
    if (!m.empty && double(score) >= how.threshold) {
      for (size_t i = 0; i < m.mask.pixels.size(); ++i)
        if (m.mask.pixels[i]) r.map.values[i] = next_id;
      Segment s;
      s.id = next_id++;
      s.label = int(e.label);
      s.score = score;
      s.isthing = true;
      s.area = m.mask.area();
      r.segments.push_back(s);
    }
    // ... the instances compare the fp32 tensor (keep = pred_scores >= threshold), empty masks included.
    if (score >= static_cast<float>(how.threshold)) {
      MaskEntry me;
      me.mask = m.mask;
      me.label = int(e.label);
      me.score = score;
      me.query = int(e.query);
      me.row = int(row);
      me.box = tight_box(m.mask);
      r.masks.push_back(std::move(me));
    }
  }
  return r;
}

}  // namespace postprocess_detail

PostprocessResult postprocess_instance(const DecoderPrediction& prediction, const PostprocessGeometry& geometry,
                                       const InstanceParams& params) {
  using namespace postprocess_detail;
  Prediction p = prepare(prediction, geometry, "instance");
  if (p.rows() != 1)
    fail(Status::InvalidArgument, "postprocess instance: expected one decoder row, got " + std::to_string(p.rows()));
  InstanceAssembly how;
  how.threshold = params.threshold;
  how.background = -1;
  if (params.things_only) {
    how.dropped_labels.assign(size_t(p.classes()), false);
    for (int label : params.stuff_labels) {
      if (label < 0 || label >= p.classes())
        fail(Status::InvalidArgument, "postprocess instance: stuff label " + std::to_string(label) +
                                          " outside 0.." + std::to_string(p.classes() - 1));
      how.dropped_labels[size_t(label)] = true;
    }
  }
  return assemble_instances(p, 0, how);
}

}  // namespace xsam
