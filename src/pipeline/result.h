// The result of one xsam_segment call, and its JSON form (docs/result-json.md).
#pragma once
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "postprocess/types.h"
#include "prompt/tasks.h"

namespace xsam {

struct ResultMask {
  Bitmap mask;          // original image size, 0/1
  int label_id = 0;     // class / phrase / region index
  std::string label;    // class name, phrase text, or "region k"
  float score = 0;
  float box[4] = {0, 0, 0, 0};  // x0, y0, x1, y1 in pixels, max corner exclusive; zeros for an empty mask
};

struct SegmentResult {
  Task task = Task::Chat;
  Mode mode = Mode::TeacherForced;
  int width = 0, height = 0;
  std::string text;      // cleaned as upstream's demo (docs/design/upstream-facts.md#output-text)
  std::string raw_text;  // decoded generated ids (or the teacher-forced answer)
  std::vector<int64_t> prompt_ids;
  std::vector<int64_t> generated_ids;
  std::vector<ResultMask> masks;
  std::vector<int32_t> semantic_map;  // class index per pixel (-1 none); empty unless semantic
  std::vector<int32_t> panoptic_map;  // segment id per pixel (0 void); empty unless panoptic
  std::vector<Segment> segments;      // upstream segments_info
  std::vector<std::string> class_names;
  std::string note;                   // why no masks were produced, when none were
  bool image_cache_hit = false;
  std::map<std::string, double> timings;  // seconds per stage
  // What computed it, next to the timings: the CPU kernel path ("avx2", …, or "cuda"), the dtype of the
  // weights in memory and of the math ("bf16" / "fp32"). Empty where not set (no "runtime" in the JSON).
  std::string cpu_path, weight_dtype, math_dtype;
};

nlohmann::json result_to_json(const SegmentResult& result);

}  // namespace xsam
