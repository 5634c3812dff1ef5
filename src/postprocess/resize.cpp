#include "postprocess/resize.h"

#include <cstring>
#include <string>

#include "core/error.h"

namespace xsam::postprocess_detail {
namespace {

std::string shape_of(const torch::Tensor& t) {
  if (!t.defined()) return "(undefined)";
  std::string s = "[";
  for (int64_t i = 0; i < t.dim(); ++i) s += (i ? ", " : "") + std::to_string(t.size(i));
  return s + "]";
}

// Bilinear, align_corners=False, sizes given (no scale factors): what F.interpolate calls.
torch::Tensor bilinear(const torch::Tensor& nchw, int64_t height, int64_t width) {
  std::vector<int64_t> size{height, width};
  return at::upsample_bilinear2d(nchw, size, /*align_corners=*/false, c10::nullopt, c10::nullopt);
}

}  // namespace

Prediction prepare(const DecoderPrediction& prediction, const PostprocessGeometry& g, const char* task) {
  const std::string where = std::string("postprocess ") + task + ": ";
  const auto& cls = prediction.class_logits;
  const auto& masks = prediction.mask_logits;
  if (!cls.defined() || cls.dim() != 3 || cls.size(2) < 2)
    fail(Status::InvalidArgument, where + "class_logits must be [B_dec, Q, C+1] with C >= 1, got " + shape_of(cls));
  if (!masks.defined() || masks.dim() != 4 || masks.size(0) != cls.size(0) || masks.size(1) != cls.size(1) ||
      masks.size(2) != masks.size(3) || masks.size(2) < 1)
    fail(Status::InvalidArgument, where + "mask_logits must be [B_dec, Q, s, s] matching class_logits " +
                                      shape_of(cls) + ", got " + shape_of(masks));
  if (cls.size(1) < 1) fail(Status::InvalidArgument, where + "no queries in class_logits " + shape_of(cls));
  if (g.canvas < 1 || g.height < 1 || g.width < 1 || g.scaled_height < 1 || g.scaled_width < 1 ||
      g.scaled_height > g.canvas || g.scaled_width > g.canvas)
    fail(Status::InvalidArgument,
         where + "geometry: canvas " + std::to_string(g.canvas) + ", scaled size " + std::to_string(g.scaled_height) +
             "x" + std::to_string(g.scaled_width) + ", image " + std::to_string(g.height) + "x" +
             std::to_string(g.width) + " (need 1 <= scaled <= canvas, image >= 1)");
  if (masks.size(2) > g.canvas)
    fail(Status::InvalidArgument, where + "mask_logits side " + std::to_string(masks.size(2)) +
                                      " is larger than the canvas " + std::to_string(g.canvas));
  Prediction p;
  p.class_logits = cls.detach().to(torch::kCPU, torch::kFloat32).contiguous();
  p.mask_logits = masks.detach().to(torch::kCPU, torch::kFloat32).contiguous();
  p.geometry = g;
  return p;
}

torch::Tensor class_probabilities(const Prediction& p, int64_t row) {
  // upstream: F.softmax(mask_cls, dim=-1)[:, :-1] — the background column is dropped after the softmax.
  return torch::softmax(p.class_logits[row], -1).slice(1, 0, p.classes());
}

torch::Tensor canvas_logits(const Prediction& p, int64_t row) {
  torch::Tensor m = p.mask_logits[row];  // [Q, s, s]
  if (m.size(1) == p.geometry.canvas) return m;
  return bilinear(m.unsqueeze(0), p.geometry.canvas, p.geometry.canvas)[0];
}

torch::Tensor image_logits(const Prediction& p, int64_t row, const std::vector<int64_t>& queries) {
  std::vector<int64_t> picked = queries;
  // A lone query would take ATen's channels-last kernel (see the header); upstream never resizes a lone
  // query unless the model has only one.
  const bool paired = picked.size() == 1 && p.queries() >= 2;
  if (paired) picked.push_back(picked[0]);
  torch::Tensor index = torch::tensor(picked, torch::kInt64);
  torch::Tensor m = p.mask_logits[row].index_select(0, index);  // [k, s, s]
  if (m.size(1) != p.geometry.canvas) m = bilinear(m.unsqueeze(0), p.geometry.canvas, p.geometry.canvas)[0];
  torch::Tensor out = crop_and_resize(m, p.geometry);
  return paired ? out.slice(0, 0, 1) : out;
}

torch::Tensor crop_and_resize(const torch::Tensor& canvas_maps, const PostprocessGeometry& g) {
  // upstream: result[:, :h_s, :w_s].expand(1, -1, -1, -1) then F.interpolate(bilinear, align_corners=False).
  torch::Tensor cropped = canvas_maps.slice(1, 0, g.scaled_height).slice(2, 0, g.scaled_width).unsqueeze(0);
  return bilinear(cropped, g.height, g.width)[0];
}

torch::Tensor resize_prompt_masks(const torch::Tensor& prompt_masks, const PostprocessGeometry& g, const char* task) {
  if (!prompt_masks.defined() || prompt_masks.dim() != 3 || prompt_masks.size(0) < 1 ||
      prompt_masks.size(1) != g.canvas || prompt_masks.size(2) != g.canvas)
    fail(Status::InvalidArgument, std::string("postprocess ") + task + ": prompt_masks must be [n, " +
                                      std::to_string(g.canvas) + ", " + std::to_string(g.canvas) +
                                      "] with n >= 1, got " + shape_of(prompt_masks));
  // upstream: result[:, :h_s, :w_s].expand(1, ...) → F.interpolate(result.float(), size, mode="nearest").
  torch::Tensor cropped = prompt_masks.detach()
                              .to(torch::kCPU)
                              .slice(1, 0, g.scaled_height)
                              .slice(2, 0, g.scaled_width)
                              .unsqueeze(0)
                              .to(torch::kFloat32);
  std::vector<int64_t> size{g.height, g.width};
  return at::upsample_nearest2d(cropped, size, c10::nullopt, c10::nullopt)[0];
}

Bitmap to_bitmap(const torch::Tensor& hw) {
  torch::Tensor t = hw.ne(0).to(torch::kUInt8).contiguous();
  Bitmap b(int(t.size(0)), int(t.size(1)));
  std::memcpy(b.pixels.data(), t.data_ptr<uint8_t>(), b.pixels.size());
  return b;
}

LabelMap to_label_map(const torch::Tensor& hw) {
  torch::Tensor t = hw.to(torch::kInt32).contiguous();
  LabelMap m(int(t.size(0)), int(t.size(1)), 0);
  std::memcpy(m.values.data(), t.data_ptr<int32_t>(), m.values.size() * sizeof(int32_t));
  return m;
}

}  // namespace xsam::postprocess_detail
