// Visual references (points, boxes, scribbles, masks) rasterised into 0/1 masks at the ORIGINAL image
// size (docs/design/decisions.md#visual-refs), which then go through the same path as upstream's prompt masks
// (image/prompt_mask.h). Upstream itself only ever receives raster masks; the geometry below follows
// its dataset generators (xsam/dataset/utils/vprompt.py) so that a point or a scribble looks like the
// prompts the model was trained on. The full rules, with pictures in words, are in docs/visual-refs.md.
//
// Coordinates are image pixels, x to the right, y down, as floats; pixel (c, r) covers [c, c+1)×[r, r+1).
//   POINT     one or more (x, y) pairs; each selects the pixel (floor(x), floor(y)), which must lie in
//             the image, and sets every pixel whose centre-to-centre distance is <= point_radius
//             (upstream `draw_circle`: sqrt(dx² + dy²) <= r, here dx² + dy² <= r² in integers; default
//             radius 10 = upstream's point_radius). Disks are clipped at the image border.
//   BOX       exactly (x0, y0, x1, y1), corners in either order, each in [0, W] resp. [0, H]; corners are
//             rounded to the nearest integer (halves up) and the filled rectangle x0 <= x < x1,
//             y0 <= y < y1 is set (upstream's `mask[min_row:max_row, min_col:max_col] = 1`: the far edge
//             is exclusive). Zero width or height after rounding is an error.
//   SCRIBBLE  a polyline of one or more (x, y) vertices (each must lie in the image, as for points);
//             consecutive vertices are joined by Bresenham lines (like skimage.draw.line) and a disk of
//             scribble_radius (default 5 = upstream's scribble_radius, i.e. an 11-px wide stroke) is set
//             around every line pixel. One vertex draws a single disk.
//   MASK      width×height bytes, same size as the image; nonzero = set.
// Errors are Status::InvalidArgument naming the ref index and the problem: coordinates out of range or
// not finite, wrong coordinate count, degenerate boxes, mask size mismatch, an empty result; a scribble of
// more than kMaxScribbleVertices vertices is Status::Limit.
#pragma once
#include <cstddef>
#include <vector>

#include "image/image.h"

namespace xsam {

enum class RefKind { Point, Box, Scribble, Mask };
const char* to_string(RefKind kind);

struct VisualRef {
  RefKind kind = RefKind::Point;
  std::vector<float> xy;  // Point / Scribble: x0, y0, x1, y1, ...; Box: x0, y0, x1, y1
  Mask mask;              // RefKind::Mask only
};

// A scribble with more vertices is refused (Status::Limit): it bounds the rasterisation work.
constexpr size_t kMaxScribbleVertices = 32768;

struct RefRasterOptions {
  int point_radius = 10;    // upstream generate_point_vprompt: point_radius = 10
  int scribble_radius = 5;  // upstream generate_scribble_vprompt: scribble_radius = 5
};

// One ref → a {0,1} mask of image_width × image_height. `index` only names the ref in messages.
Mask rasterize_ref(const VisualRef& ref, int image_width, int image_height, size_t index,
                   const RefRasterOptions& options = {});

// Every ref, in order (region k of the prompt = refs[k]).
std::vector<Mask> rasterize_refs(const std::vector<VisualRef>& refs, int image_width, int image_height,
                                 const RefRasterOptions& options = {});

}  // namespace xsam
