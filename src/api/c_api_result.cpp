// xsam_result accessors. Out-of-range indices return neutral values (NULL / 0 / -1) rather than
// crashing; functions with a status report them as XSAM_ERR_INVALID_ARGUMENT.
#include <nlohmann/json.hpp>

#include "api/handles.h"
#include "core/error.h"
#include "postprocess/rle.h"

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

// ---- pictures
#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <iomanip>
#include <sstream>

#include "image/decode.h"
#include "image/overlay.h"

namespace {
xsam_status png_out(const std::vector<uint8_t>& png, uint8_t** out, size_t* size) {
  auto* p = static_cast<uint8_t*>(std::malloc(png.size()));
  if (!p) throw std::bad_alloc();
  std::memcpy(p, png.data(), png.size());
  *out = p;
  *size = png.size();
  return XSAM_OK;
}
}  // namespace

extern "C" xsam_status xsam_result_overlay_png(const xsam_result* r, const xsam_image* image, uint8_t** out_png,
                                               size_t* out_size) {
  return api::run_guarded("xsam_result_overlay_png", [&] {
    if (!r || !image || !out_png || !out_size) fail(Status::InvalidArgument, "result, image, out_png and out_size must not be NULL");
    if (!image->pixels) fail(Status::InvalidArgument, "image.pixels is NULL");
    PixelFormat f;
    switch (api::enum_int(image->format)) {
      case XSAM_PIXEL_RGB8: f = PixelFormat::RGB; break;
      case XSAM_PIXEL_RGBA8: f = PixelFormat::RGBA; break;
      case XSAM_PIXEL_BGR8: f = PixelFormat::BGR; break;
      case XSAM_PIXEL_GRAY8: f = PixelFormat::Gray; break;
      default: fail(Status::InvalidArgument, "image.format: unknown pixel format " + std::to_string(api::enum_int(image->format)));
    }
    Image img = image_from_pixels(image->pixels, image->width, image->height, image->stride, f, 0);
    if (img.width != r->r.width || img.height != r->r.height)
      fail(Status::InvalidArgument, "image: " + std::to_string(img.width) + "x" + std::to_string(img.height) +
                                        " is not the size of the result (" + std::to_string(r->r.width) + "x" +
                                        std::to_string(r->r.height) + ")");
    std::vector<OverlayMask> masks;
    for (const auto& m : r->r.masks) {
      OverlayMask o;
      o.mask = m.mask.pixels.data();
      std::ostringstream cap;
      cap << m.label << " " << std::fixed << std::setprecision(2) << m.score;
      o.caption = cap.str();
      for (int k = 0; k < 4; ++k) o.box[k] = static_cast<int>(m.box[k]);
      masks.push_back(o);
    }
    png_out(encode_png(render_overlay(img, masks)), out_png, out_size);
  });
}

extern "C" xsam_status xsam_result_mask_png(const xsam_result* r, size_t i, uint8_t** out_png, size_t* out_size) {
  return api::run_guarded("xsam_result_mask_png", [&] {
    if (!r || !out_png || !out_size) fail(Status::InvalidArgument, "result, out_png and out_size must not be NULL");
    if (i >= r->r.masks.size()) fail(Status::InvalidArgument, "index " + std::to_string(i) + " out of range");
    std::vector<uint8_t> g(r->r.masks[i].mask.pixels.size());
    for (size_t k = 0; k < g.size(); ++k) g[k] = r->r.masks[i].mask.pixels[k] ? 255 : 0;
    png_out(encode_png_gray(g.data(), r->r.width, r->r.height), out_png, out_size);
  });
}

extern "C" xsam_status xsam_result_map_png(const xsam_result* r, uint8_t** out_png, size_t* out_size) {
  return api::run_guarded("xsam_result_map_png", [&] {
    if (!r || !out_png || !out_size) fail(Status::InvalidArgument, "result, out_png and out_size must not be NULL");
    const bool semantic = !r->r.semantic_map.empty();
    const auto& map = semantic ? r->r.semantic_map : r->r.panoptic_map;
    if (map.empty()) fail(Status::InvalidArgument, "result: this task has no semantic or panoptic map");
    std::vector<uint16_t> v(map.size());
    for (size_t k = 0; k < v.size(); ++k) {
      int32_t x = semantic ? map[k] + 1 : map[k];
      v[k] = static_cast<uint16_t>(std::clamp<int32_t>(x, 0, 65535));
    }
    png_out(encode_png_gray16(v.data(), r->r.width, r->r.height), out_png, out_size);
  });
}
