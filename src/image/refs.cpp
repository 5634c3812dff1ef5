#include "image/refs.h"

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <utility>

#include "core/error.h"

namespace xsam {
namespace {

struct Pixel {
  int x, y;
};

[[noreturn]] void ref_error(size_t index, RefKind kind, const std::string& problem) {
  fail(Status::InvalidArgument, "visual ref " + std::to_string(index) + " (" + to_string(kind) + "): " + problem);
}

std::string fmt(float v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%g", double(v));
  return buf;
}

// The pixel containing (x, y); it must lie inside the image.
Pixel pixel_at(float x, float y, int w, int h, size_t index, RefKind kind, size_t vertex) {
  if (!std::isfinite(x) || !std::isfinite(y))
    ref_error(index, kind, "coordinate " + std::to_string(vertex) + " is not a finite number");
  const double fx = std::floor(double(x)), fy = std::floor(double(y));
  if (fx < 0 || fx >= w || fy < 0 || fy >= h)
    ref_error(index, kind, "point " + std::to_string(vertex) + " (" + fmt(x) + ", " + fmt(y) +
                               ") is outside the image (0 <= x < " + std::to_string(w) + ", 0 <= y < " +
                               std::to_string(h) + ")");
  return {int(fx), int(fy)};
}

std::vector<Pixel> parse_vertices(const VisualRef& ref, int w, int h, size_t index) {
  if (ref.xy.empty() || ref.xy.size() % 2 != 0)
    ref_error(index, ref.kind, "expects (x, y) pairs, got " + std::to_string(ref.xy.size()) + " coordinates");
  std::vector<Pixel> out;
  for (size_t i = 0; i < ref.xy.size(); i += 2) out.push_back(pixel_at(ref.xy[i], ref.xy[i + 1], w, h, index, ref.kind, i / 2));
  return out;
}

// Upstream draw_circle: every pixel with sqrt(dx² + dy²) <= radius (integers: dx² + dy² <= r²), clipped.
void stamp_disk(Mask& m, Pixel c, int radius) {
  const int r2 = radius * radius;
  for (int dy = -radius; dy <= radius; ++dy) {
    const int y = c.y + dy;
    if (y < 0 || y >= m.height) continue;
    for (int dx = -radius; dx <= radius; ++dx) {
      const int x = c.x + dx;
      if (x < 0 || x >= m.width || dx * dx + dy * dy > r2) continue;
      m.at(x, y) = 1;
    }
  }
}

// Bresenham's line, both end points included.
template <typename Visit>
void for_each_line_pixel(Pixel a, Pixel b, Visit visit) {
  const int dx = std::abs(b.x - a.x), sx = a.x < b.x ? 1 : -1;
  const int dy = -std::abs(b.y - a.y), sy = a.y < b.y ? 1 : -1;
  int err = dx + dy;
  Pixel p = a;
  while (true) {
    visit(p);
    if (p.x == b.x && p.y == b.y) break;
    const int e2 = 2 * err;
    if (e2 >= dy) { err += dy; p.x += sx; }
    if (e2 <= dx) { err += dx; p.y += sy; }
  }
}

Mask rasterize_points(const VisualRef& ref, int w, int h, size_t index, const RefRasterOptions& opt) {
  Mask m(w, h);
  for (Pixel p : parse_vertices(ref, w, h, index)) stamp_disk(m, p, opt.point_radius);
  return m;
}

Mask rasterize_scribble(const VisualRef& ref, int w, int h, size_t index, const RefRasterOptions& opt) {
  // Bounded work whatever the caller sends: at most kMaxScribbleVertices segments of at most w + h line
  // pixels each, and one disk per distinct line pixel (a long scribble crosses itself again and again).
  if (ref.xy.size() / 2 > kMaxScribbleVertices)
    fail(Status::Limit, "visual ref " + std::to_string(index) + " (scribble): " + std::to_string(ref.xy.size() / 2) +
                            " vertices, at most " + std::to_string(kMaxScribbleVertices));
  const std::vector<Pixel> v = parse_vertices(ref, w, h, index);
  Mask m(w, h);
  Mask centres(w, h);
  auto stamp_once = [&](Pixel p) {
    uint8_t& seen = centres.at(p.x, p.y);
    if (!seen) stamp_disk(m, p, opt.scribble_radius);
    seen = 1;
  };
  if (v.size() == 1) stamp_once(v[0]);
  for (size_t i = 1; i < v.size(); ++i) for_each_line_pixel(v[i - 1], v[i], stamp_once);
  return m;
}

// Round half up: floor(v + 0.5).
int round_corner(float v) { return int(std::floor(double(v) + 0.5)); }

Mask rasterize_box(const VisualRef& ref, int w, int h, size_t index) {
  if (ref.xy.size() != 4)
    ref_error(index, ref.kind, "expects 4 coordinates (x0, y0, x1, y1), got " + std::to_string(ref.xy.size()));
  for (size_t i = 0; i < 4; ++i) {
    const float v = ref.xy[i];
    const int limit = i % 2 == 0 ? w : h;
    if (!std::isfinite(v)) ref_error(index, ref.kind, "coordinate " + std::to_string(i) + " is not a finite number");
    if (v < 0 || v > limit)
      ref_error(index, ref.kind, std::string(i % 2 == 0 ? "x" : "y") + " = " + fmt(v) + " is outside [0, " +
                                     std::to_string(limit) + "]");
  }
  int x0 = round_corner(ref.xy[0]), y0 = round_corner(ref.xy[1]);
  int x1 = round_corner(ref.xy[2]), y1 = round_corner(ref.xy[3]);
  if (x0 > x1) std::swap(x0, x1);
  if (y0 > y1) std::swap(y0, y1);
  if (x0 == x1 || y0 == y1)
    ref_error(index, ref.kind, "degenerate box (" + fmt(ref.xy[0]) + ", " + fmt(ref.xy[1]) + ", " + fmt(ref.xy[2]) +
                                   ", " + fmt(ref.xy[3]) + "): zero area after rounding to [" + std::to_string(x0) +
                                   ", " + std::to_string(x1) + ") x [" + std::to_string(y0) + ", " +
                                   std::to_string(y1) + ")");
  Mask m(w, h);
  for (int y = y0; y < y1; ++y)
    for (int x = x0; x < x1; ++x) m.at(x, y) = 1;
  return m;
}

Mask rasterize_mask(const VisualRef& ref, int w, int h, size_t index) {
  const Mask& in = ref.mask;
  if (in.width != w || in.height != h)
    ref_error(index, ref.kind, "mask is " + std::to_string(in.width) + "x" + std::to_string(in.height) +
                                   " but the image is " + std::to_string(w) + "x" + std::to_string(h));
  if (in.data.size() != size_t(w) * size_t(h))
    ref_error(index, ref.kind, "mask holds " + std::to_string(in.data.size()) + " bytes, expected " +
                                   std::to_string(size_t(w) * size_t(h)));
  Mask m(w, h);
  for (size_t i = 0; i < m.data.size(); ++i) m.data[i] = in.data[i] != 0;
  return m;
}

}  // namespace

const char* to_string(RefKind kind) {
  switch (kind) {
    case RefKind::Point: return "point";
    case RefKind::Box: return "box";
    case RefKind::Scribble: return "scribble";
    case RefKind::Mask: return "mask";
  }
  return "unknown";
}

Mask rasterize_ref(const VisualRef& ref, int image_width, int image_height, size_t index,
                   const RefRasterOptions& options) {
  if (image_width <= 0 || image_height <= 0)
    ref_error(index, ref.kind, "image size " + std::to_string(image_width) + "x" + std::to_string(image_height) +
                                   " is not positive");
  if (options.point_radius < 0 || options.scribble_radius < 0)
    ref_error(index, ref.kind, "negative point or scribble radius");
  Mask m;
  switch (ref.kind) {
    case RefKind::Point: m = rasterize_points(ref, image_width, image_height, index, options); break;
    case RefKind::Box: m = rasterize_box(ref, image_width, image_height, index); break;
    case RefKind::Scribble: m = rasterize_scribble(ref, image_width, image_height, index, options); break;
    case RefKind::Mask: m = rasterize_mask(ref, image_width, image_height, index); break;
    default: fail(Status::InvalidArgument, "visual ref " + std::to_string(index) + ": unknown kind " +
                                               std::to_string(int(ref.kind)));
  }
  if (m.count_nonzero() == 0) ref_error(index, ref.kind, "selects no pixel (empty region)");
  return m;
}

std::vector<Mask> rasterize_refs(const std::vector<VisualRef>& refs, int image_width, int image_height,
                                 const RefRasterOptions& options) {
  std::vector<Mask> out;
  out.reserve(refs.size());
  for (size_t i = 0; i < refs.size(); ++i) out.push_back(rasterize_ref(refs[i], image_width, image_height, i, options));
  return out;
}

}  // namespace xsam
