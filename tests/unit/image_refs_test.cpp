// Visual-ref rasterisation (docs/design/decisions.md#visual-refs, docs/visual-refs.md) and the prompt-mask resize/pad.
// The goldens hold only raster masks; these tests pin the geometry rules themselves.
#include <algorithm>
#include <cmath>
#include <functional>
#include <string>

#include <gtest/gtest.h>

#include "core/error.h"
#include "image/decode.h"
#include "image/prompt_mask.h"
#include "image/refs.h"
#include "support/golden.h"

namespace {

using xsam::Mask;
using xsam::RefKind;
using xsam::VisualRef;

VisualRef ref(RefKind kind, std::vector<float> xy) {
  VisualRef r;
  r.kind = kind;
  r.xy = std::move(xy);
  return r;
}

// Expects xsam::Failure(InvalidArgument) whose message names the ref index and contains `needle`.
void expect_ref_error(const std::function<void()>& f, size_t index, const std::string& needle) {
  try {
    f();
    ADD_FAILURE() << "no error (expected '" << needle << "')";
  } catch (const xsam::Failure& e) {
    EXPECT_EQ(e.status(), xsam::Status::InvalidArgument) << e.what();
    const std::string msg = e.what();
    EXPECT_NE(msg.find("visual ref " + std::to_string(index)), std::string::npos) << msg;
    EXPECT_NE(msg.find(needle), std::string::npos) << msg << " lacks '" << needle << "'";
  }
}

// Upstream draw_circle, literally: sqrt((x - cx)^2 + (y - cy)^2) <= r in double.
Mask upstream_disks(int w, int h, const std::vector<std::pair<int, int>>& centres, int r) {
  Mask m(w, h);
  for (auto [cx, cy] : centres)
    for (int y = 0; y < h; ++y)
      for (int x = 0; x < w; ++x)
        if (std::sqrt(double((x - cx) * (x - cx) + (y - cy) * (y - cy))) <= r) m.at(x, y) = 1;
  return m;
}

}  // namespace

TEST(ImageRefs, PointIsUpstreamsRadius10Disk) {
  const auto m = xsam::rasterize_ref(ref(RefKind::Point, {50.7f, 40.2f}), 100, 80, 0);
  EXPECT_EQ(m.count_nonzero(), 317u);  // lattice points with dx² + dy² <= 100
  EXPECT_EQ(m.data, upstream_disks(100, 80, {{50, 40}}, 10).data);  // the pixel containing (50.7, 40.2)
  EXPECT_EQ(m.at(60, 40), 1);
  EXPECT_EQ(m.at(61, 40), 0);
  EXPECT_EQ(m.at(57, 47), 1);  // 49 + 49 = 98 <= 100
  EXPECT_EQ(m.at(58, 46), 1);  // 64 + 36 = 100: the boundary is included
  EXPECT_EQ(m.at(58, 47), 0);  // 64 + 49 = 113
  // Two points in one ref: the union; a point at the corner is clipped.
  const auto two = xsam::rasterize_ref(ref(RefKind::Point, {0.f, 0.f, 99.5f, 79.5f}), 100, 80, 0);
  EXPECT_EQ(two.data, upstream_disks(100, 80, {{0, 0}, {99, 79}}, 10).data);
  // Another radius.
  xsam::RefRasterOptions opt;
  opt.point_radius = 3;
  EXPECT_EQ(xsam::rasterize_ref(ref(RefKind::Point, {5, 5}), 20, 20, 0, opt).count_nonzero(), 29u);
}

TEST(ImageRefs, BoxIsFilledWithExclusiveFarEdge) {
  const auto m = xsam::rasterize_ref(ref(RefKind::Box, {2, 3, 5, 7}), 10, 10, 0);
  EXPECT_EQ(m.count_nonzero(), 12u);  // x 2..4, y 3..6
  EXPECT_EQ(m.at(2, 3), 1);
  EXPECT_EQ(m.at(4, 6), 1);
  EXPECT_EQ(m.at(5, 6), 0);
  EXPECT_EQ(m.at(4, 7), 0);
  // Corners in any order; rounding half up; the whole image.
  EXPECT_EQ(xsam::rasterize_ref(ref(RefKind::Box, {5, 7, 2, 3}), 10, 10, 0).data, m.data);
  EXPECT_EQ(xsam::rasterize_ref(ref(RefKind::Box, {1.5f, 2.5f, 4.6f, 7.4f}), 10, 10, 0).data, m.data);
  EXPECT_EQ(xsam::rasterize_ref(ref(RefKind::Box, {0, 0, 10, 10}), 10, 10, 0).count_nonzero(), 100u);
  // The golden vp_box.png (upstream's box prompt) is a filled inclusive rectangle: our box with the far
  // edge one past its last pixel is exactly it. Its corners are read from the file, whatever set it is.
  const auto golden = xsam::decode_mask_file(xsam::test::golden_dir() + "/images/vp_box.png");
  int x0 = golden.width, y0 = golden.height, x1 = -1, y1 = -1;
  for (int y = 0; y < golden.height; ++y)
    for (int x = 0; x < golden.width; ++x)
      if (golden.at(x, y)) x0 = std::min(x0, x), y0 = std::min(y0, y), x1 = std::max(x1, x), y1 = std::max(y1, y);
  ASSERT_GE(x1, x0) << "vp_box.png is empty";
  const auto box = ref(RefKind::Box, {float(x0), float(y0), float(x1 + 1), float(y1 + 1)});
  EXPECT_EQ(xsam::rasterize_ref(box, golden.width, golden.height, 0).data, golden.data);
}

TEST(ImageRefs, ScribbleIsRadius5DisksAlongBresenhamLines) {
  const auto m = xsam::rasterize_ref(ref(RefKind::Scribble, {20, 20, 40, 20, 40, 30}), 64, 48, 0);
  std::vector<std::pair<int, int>> line;
  for (int x = 20; x <= 40; ++x) line.push_back({x, 20});
  for (int y = 21; y <= 30; ++y) line.push_back({40, y});
  EXPECT_EQ(m.data, upstream_disks(64, 48, line, 5).data);
  EXPECT_EQ(m.at(30, 15), 1);
  EXPECT_EQ(m.at(30, 14), 0);  // 11-px wide stroke
  // A diagonal: every Bresenham pixel carries a disk, so the stroke has no gaps.
  const auto diag = xsam::rasterize_ref(ref(RefKind::Scribble, {0, 0, 30, 10}), 40, 20, 0);
  for (int x = 0; x <= 30; ++x) EXPECT_EQ(diag.at(x, int(x / 3.0 + 0.5)), 1) << x;
  // One vertex: one disk of radius 5 (81 pixels).
  EXPECT_EQ(xsam::rasterize_ref(ref(RefKind::Scribble, {10, 10}), 30, 30, 0).count_nonzero(), 81u);
}

TEST(ImageRefs, MaskNonzeroIsSet) {
  VisualRef r;
  r.kind = RefKind::Mask;
  r.mask = Mask(3, 2);
  r.mask.data = {0, 7, 255, 0, 0, 1};
  EXPECT_EQ(xsam::rasterize_ref(r, 3, 2, 0).data, (std::vector<uint8_t>{0, 1, 1, 0, 0, 1}));
}

TEST(ImageRefs, RefsKeepTheirOrder) {
  const auto masks = xsam::rasterize_refs({ref(RefKind::Box, {0, 0, 2, 2}), ref(RefKind::Point, {5, 5})}, 20, 20);
  ASSERT_EQ(masks.size(), 2u);
  EXPECT_EQ(masks[0].count_nonzero(), 4u);
  EXPECT_EQ(masks[1].at(5, 5), 1);
  EXPECT_EQ(masks[1].at(19, 19), 0);
}

TEST(ImageRefs, BadRefsNameIndexAndProblem) {
  const int w = 20, h = 10;
  auto raster = [&](std::vector<VisualRef> refs) { return [refs, w, h] { xsam::rasterize_refs(refs, w, h); }; };
  const auto ok = ref(RefKind::Point, {1, 1});
  expect_ref_error(raster({ok, ref(RefKind::Point, {20, 5})}), 1, "outside the image");
  expect_ref_error(raster({ref(RefKind::Point, {-0.1f, 5})}), 0, "outside the image");
  expect_ref_error(raster({ref(RefKind::Point, {5, 10})}), 0, "outside the image");
  expect_ref_error(raster({ref(RefKind::Point, {NAN, 5})}), 0, "not a finite number");
  expect_ref_error(raster({ref(RefKind::Point, {})}), 0, "(x, y) pairs");
  expect_ref_error(raster({ref(RefKind::Point, {1, 2, 3})}), 0, "(x, y) pairs");
  expect_ref_error(raster({ok, ok, ref(RefKind::Scribble, {1, 1, 25, 3})}), 2, "outside the image");
  expect_ref_error(raster({ref(RefKind::Box, {1, 1, 5})}), 0, "4 coordinates");
  expect_ref_error(raster({ref(RefKind::Box, {1, 1, 21, 5})}), 0, "outside [0, 20]");
  expect_ref_error(raster({ref(RefKind::Box, {1, -1, 5, 5})}), 0, "outside [0, 10]");
  expect_ref_error(raster({ref(RefKind::Box, {3, 1, 3, 5})}), 0, "degenerate box");
  expect_ref_error(raster({ref(RefKind::Box, {3.2f, 1, 3.4f, 5})}), 0, "zero area");
  expect_ref_error(raster({ref(RefKind::Box, {1, 1, INFINITY, 5})}), 0, "not a finite number");
  VisualRef wrong_size;
  wrong_size.kind = RefKind::Mask;
  wrong_size.mask = Mask(w + 1, h, 1);
  expect_ref_error(raster({ok, wrong_size}), 1, "21x10");
  VisualRef empty_mask;
  empty_mask.kind = RefKind::Mask;
  empty_mask.mask = Mask(w, h, 0);
  expect_ref_error(raster({empty_mask}), 0, "empty region");
  VisualRef short_mask = empty_mask;
  short_mask.mask.data.resize(5);
  expect_ref_error(raster({short_mask}), 0, "bytes");
  expect_ref_error([] { xsam::rasterize_ref(ref(RefKind::Point, {1, 1}), 0, 5, 3); }, 3, "image size");
}

TEST(ImagePromptMask, NearestResizeThenZeroPad) {
  // 240 rows → 171 (docs/design/upstream-facts.md#visual-prompts): row d = 85 reads source row 119
  // (running sum), not 120.
  Mask m(2, 240);
  for (int x = 0; x < 2; ++x) m.at(x, 119) = 1;
  const auto out = xsam::resize_prompt_mask(m, 171, 2, 256);
  EXPECT_EQ(out.width, 256);
  EXPECT_EQ(out.height, 256);
  EXPECT_EQ(out.at(0, 85), 1);
  EXPECT_EQ(out.at(1, 85), 1);
  EXPECT_EQ(out.count_nonzero(), 2u);
  // Values kept, padding 0.
  Mask v(2, 2);
  v.data = {0, 3, 200, 1};
  const auto up = xsam::resize_prompt_mask(v, 4, 4, 6);
  EXPECT_EQ(up.at(3, 0), 3);
  EXPECT_EQ(up.at(0, 3), 200);
  EXPECT_EQ(up.at(4, 0), 0);
  EXPECT_EQ(up.at(0, 4), 0);
  // Bad sizes.
  EXPECT_THROW(xsam::resize_prompt_mask(v, 7, 4, 6), xsam::Failure);
  EXPECT_THROW(xsam::resize_prompt_mask(v, 0, 4, 6), xsam::Failure);
  EXPECT_THROW(xsam::resize_prompt_mask(Mask(), 4, 4, 6), xsam::Failure);
}
