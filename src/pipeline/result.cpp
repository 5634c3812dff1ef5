#include "pipeline/result.h"

#include <nlohmann/json.hpp>

#include "postprocess/rle.h"
#include "prompt/tasks.h"

namespace xsam {

nlohmann::json result_to_json(const SegmentResult& r) {
  using nlohmann::json;
  json j;
  j["task"] = task_name(r.task);
  j["mode"] = r.mode == Mode::Generate ? "generate" : "teacher_forced";
  j["width"] = r.width;
  j["height"] = r.height;
  j["text"] = r.text;
  j["raw_text"] = r.raw_text;
  j["generated_ids"] = r.generated_ids;
  j["prompt_tokens"] = r.prompt_ids.size();
  j["classes"] = r.class_names;
  json masks = json::array();
  for (const auto& m : r.masks) {
    CocoRle rle = coco_rle_encode(m.mask);
    masks.push_back({{"label", m.label},
                     {"label_id", m.label_id},
                     {"score", m.score},
                     {"box", {m.box[0], m.box[1], m.box[2], m.box[3]}},
                     {"area", m.mask.area()},
                     {"segmentation",
                      {{"size", {r.height, r.width}}, {"counts", coco_rle_counts_to_string(rle.counts)}}}});
  }
  j["masks"] = masks;
  json segments = json::array();
  for (const auto& s : r.segments)
    segments.push_back({{"id", s.id}, {"label_id", s.label}, {"score", s.score}, {"isthing", s.isthing}, {"area", s.area}});
  j["segments"] = segments;
  j["has_semantic_map"] = !r.semantic_map.empty();
  j["has_panoptic_map"] = !r.panoptic_map.empty();
  if (!r.note.empty()) j["note"] = r.note;
  j["image_cache_hit"] = r.image_cache_hit;
  j["timings"] = r.timings;
  if (!r.cpu_path.empty())
    j["runtime"] = {{"cpu_path", r.cpu_path}, {"weight_dtype", r.weight_dtype}, {"math_dtype", r.math_dtype}};
  return j;
}

}  // namespace xsam
