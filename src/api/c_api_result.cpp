// xsam_result accessors. Out-of-range indices return neutral values (NULL / 0 / -1) rather than
// crashing; functions with a status report them as XSAM_ERR_INVALID_ARGUMENT.
#include <nlohmann/json.hpp>

#include "api/handles.h"
#include "core/error.h"
#include "image/rle.h"

using namespace xsam;

namespace {
Task task_of(Task t) { return t; }
bool has_mask(const xsam_result* r, size_t i) { return r && i < r->r.masks.size(); }
}  // namespace

extern "C" {

void xsam_result_free(xsam_result* result) { delete result; }

xsam_task xsam_result_task(const xsam_result* r) {
  if (!r) return XSAM_TASK_AUTO;
  return static_cast<xsam_task>(static_cast<int>(task_of(r->r.task)));
}

const char* xsam_result_text(const xsam_result* r) { return r ? r->r.text.c_str() : nullptr; }
const char* xsam_result_raw_text(const xsam_result* r) { return r ? r->r.raw_text.c_str() : nullptr; }
size_t xsam_result_n_masks(const xsam_result* r) { return r ? r->r.masks.size() : 0; }
int xsam_result_width(const xsam_result* r) { return r ? r->r.width : 0; }
int xsam_result_height(const xsam_result* r) { return r ? r->r.height : 0; }

const uint8_t* xsam_result_mask(const xsam_result* r, size_t i) {
  return has_mask(r, i) ? r->r.masks[i].mask.pixels.data() : nullptr;
}

xsam_status xsam_result_mask_rle(const xsam_result* r, size_t i, char** out_counts) {
  return api::run_guarded("xsam_result_mask_rle", [&] {
    if (!r) fail(Status::InvalidArgument, "result is NULL");
    if (!out_counts) fail(Status::InvalidArgument, "out_counts is NULL");
    if (i >= r->r.masks.size())
      fail(Status::InvalidArgument, "index " + std::to_string(i) + " out of range (" + std::to_string(r->r.masks.size()) + " masks)");
    *out_counts = api::duplicate(coco_rle_counts_to_string(coco_rle_encode(r->r.masks[i].mask).counts));
  });
}

const char* xsam_result_label(const xsam_result* r, size_t i) { return has_mask(r, i) ? r->r.masks[i].label.c_str() : nullptr; }
int xsam_result_label_id(const xsam_result* r, size_t i) { return has_mask(r, i) ? r->r.masks[i].label_id : -1; }
float xsam_result_score(const xsam_result* r, size_t i) { return has_mask(r, i) ? r->r.masks[i].score : 0.0f; }

void xsam_result_box(const xsam_result* r, size_t i, float box[4]) {
  if (!box) return;
  for (int k = 0; k < 4; ++k) box[k] = has_mask(r, i) ? r->r.masks[i].box[k] : 0.0f;
}

const int32_t* xsam_result_semantic_map(const xsam_result* r) {
  return r && !r->r.semantic_map.empty() ? r->r.semantic_map.data() : nullptr;
}
const int32_t* xsam_result_panoptic_map(const xsam_result* r) {
  return r && !r->r.panoptic_map.empty() ? r->r.panoptic_map.data() : nullptr;
}

double xsam_result_timing(const xsam_result* r, const char* stage) {
  if (!r || !stage) return -1;
  auto it = r->r.timings.find(stage);
  return it == r->r.timings.end() ? -1 : it->second;
}

xsam_status xsam_result_json(const xsam_result* r, char** out_json) {
  return api::run_guarded("xsam_result_json", [&] {
    if (!r) fail(Status::InvalidArgument, "result is NULL");
    if (!out_json) fail(Status::InvalidArgument, "out_json is NULL");
    *out_json = api::duplicate(result_to_json(r->r).dump());
  });
}

}  // extern "C"
