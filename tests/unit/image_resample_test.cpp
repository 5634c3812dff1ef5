// PIL-exact resizing, checked against PIL 9.4 itself: tests/data/pil/pil_cases.safetensors holds the
// outputs of Image.resize on deterministic noise for 40 size pairs (BILINEAR + BICUBIC, down and up,
// one axis kept, 1-pixel extremes) and 64 NEAREST size pairs (tests/data/pil/make_pil_cases.py).
#include <algorithm>
#include <array>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <string>

#include <gtest/gtest.h>

#include "core/error.h"
#include "image/resample.h"
#include "io/safetensors.h"
#include "support/golden.h"

namespace {

// The generator's source_pixels: top byte of lowbias32(idx + case * 0x9E3779B9 + 1) over the HWC index.
std::vector<uint8_t> source_pixels(uint32_t case_id, int h, int w, int c) {
  std::vector<uint8_t> out(size_t(h) * size_t(w) * size_t(c));
  const uint32_t offset = case_id * 0x9E3779B9u + 1u;
  for (size_t i = 0; i < out.size(); ++i) {
    uint32_t x = uint32_t(i) + offset;
    x ^= x >> 16;
    x *= 0x7FEB352Du;
    x ^= x >> 15;
    x *= 0x846CA68Bu;
    x ^= x >> 16;
    out[i] = uint8_t(x >> 24);
  }
  return out;
}

const std::map<std::string, torch::Tensor>& pil_cases() {
  static const auto cases = xsam::load_safetensors(xsam::test::data_dir() + "/pil/pil_cases.safetensors");
  return cases;
}

struct Diff {
  int64_t differing = 0;
  int max_abs = 0;
};

Diff diff(const std::vector<uint8_t>& ours, const torch::Tensor& pil) {
  Diff d;
  auto ref = pil.contiguous();
  const uint8_t* r = ref.data_ptr<uint8_t>();
  EXPECT_EQ(int64_t(ours.size()), ref.numel());
  for (size_t i = 0; i < ours.size() && int64_t(i) < ref.numel(); ++i) {
    const int e = std::abs(int(ours[i]) - int(r[i]));
    d.differing += e != 0;
    d.max_abs = std::max(d.max_abs, e);
  }
  return d;
}

std::array<int64_t, 4> sizes_of(const std::string& key) {
  auto t = pil_cases().at(key).to(torch::kInt64);
  return {t[0].item<int64_t>(), t[1].item<int64_t>(), t[2].item<int64_t>(), t[3].item<int64_t>()};
}

}  // namespace

TEST(ImageResample, ConvolutionMatchesPilBitExact) {
  int n_cases = 0, identical = 0, worst = 0;
  for (int i = 0; pil_cases().count("resize." + std::to_string(i) + ".sizes"); ++i) {
    const auto [in_w, in_h, out_w, out_h] = sizes_of("resize." + std::to_string(i) + ".sizes");
    const auto src = source_pixels(uint32_t(i), int(in_h), int(in_w), 3);
    for (auto [name, filter] : {std::pair<const char*, xsam::Resample>{"bilinear", xsam::Resample::Bilinear},
                                {"bicubic", xsam::Resample::Bicubic}}) {
      const auto ours = xsam::pil_resize(src.data(), int(in_w), int(in_h), 3, int(out_w), int(out_h), filter);
      const Diff d = diff(ours, pil_cases().at("resize." + std::to_string(i) + "." + name));
      EXPECT_EQ(d.differing, 0) << name << " case " << i << ": " << in_w << "x" << in_h << " -> " << out_w << "x"
                                << out_h << ", max abs diff " << d.max_abs;
      ++n_cases;
      identical += d.differing == 0;
      worst = std::max(worst, d.max_abs);
    }
  }
  EXPECT_EQ(n_cases, 80);
  std::printf("[parity] PIL BILINEAR/BICUBIC resize: %d/%d identical, max abs diff %d (uint8)\n", identical, n_cases,
              worst);
}

TEST(ImageResample, NearestMatchesPilBitExact) {
  int n_cases = 0, identical = 0;
  for (int i = 0; pil_cases().count("nearest." + std::to_string(i) + ".sizes"); ++i) {
    const auto [in_w, in_h, out_w, out_h] = sizes_of("nearest." + std::to_string(i) + ".sizes");
    const auto src = source_pixels(uint32_t(1000 + i), int(in_h), int(in_w), 1);
    const auto ours = xsam::pil_resize(src.data(), int(in_w), int(in_h), 1, int(out_w), int(out_h),
                                       xsam::Resample::Nearest);
    const Diff d = diff(ours, pil_cases().at("nearest." + std::to_string(i) + ".out"));
    EXPECT_EQ(d.differing, 0) << "nearest case " << i << ": " << in_w << "x" << in_h << " -> " << out_w << "x" << out_h;
    ++n_cases;
    identical += d.differing == 0;
  }
  EXPECT_EQ(n_cases, 64);
  std::printf("[parity] PIL NEAREST resize: %d/%d identical\n", identical, n_cases);
}

// 240 -> 171 rows, d = 85: (85.5 · 240/171) is exactly 120, but PIL's running sum reaches
// 119.99999999999984 and takes row 119. The closed form would say 120
// (docs/design/upstream-facts.md#visual-prompts).
TEST(ImageResample, NearestUsesTheRunningSumNotTheClosedForm) {
  const auto idx = xsam::pil_nearest_indices(240, 171);
  EXPECT_EQ(idx[85], 119);
  int closed_form_differs = 0;
  for (int d = 0; d < 171; ++d) closed_form_differs += idx[size_t(d)] != int((d + 0.5) * 240.0 / 171.0);
  EXPECT_GT(closed_form_differs, 0);
  // Identity and the extremes.
  EXPECT_EQ(xsam::pil_nearest_indices(5, 5), (std::vector<int>{0, 1, 2, 3, 4}));
  EXPECT_EQ(xsam::pil_nearest_indices(7, 1), (std::vector<int>{3}));
  EXPECT_EQ(xsam::pil_nearest_indices(1, 3), (std::vector<int>{0, 0, 0}));
}

TEST(ImageResample, SameSizeIsACopyAndImagesAndMasksWrapTheRawFunction) {
  const auto src = source_pixels(77, 9, 11, 3);
  xsam::Image img{11, 9, src};
  EXPECT_EQ(xsam::pil_resize(img, 11, 9, xsam::Resample::Bicubic).rgb, src);
  const auto small = xsam::pil_resize(img, 4, 3, xsam::Resample::Bilinear);
  EXPECT_EQ(small.width, 4);
  EXPECT_EQ(small.height, 3);
  EXPECT_EQ(small.rgb, xsam::pil_resize(src.data(), 11, 9, 3, 4, 3, xsam::Resample::Bilinear));
  xsam::Mask m(3, 2);
  m.data = {0, 1, 0, 1, 1, 0};
  const auto up = xsam::pil_resize(m, 6, 4, xsam::Resample::Nearest);
  EXPECT_EQ(up.data, (std::vector<uint8_t>{0, 0, 1, 1, 0, 0, 0, 0, 1, 1, 0, 0, 1, 1, 1, 1, 0, 0, 1, 1, 1, 1, 0, 0}));
}

TEST(ImageResample, RejectsBadSizes) {
  const uint8_t px[3] = {1, 2, 3};
  for (auto [iw, ih, ow, oh, ch] : {std::array<int, 5>{0, 1, 1, 1, 3}, {1, 1, 0, 1, 3}, {1, 1, 1, -2, 3}, {1, 1, 2, 2, 0}}) {
    try {
      xsam::pil_resize(px, iw, ih, ch, ow, oh, xsam::Resample::Bilinear);
      ADD_FAILURE() << "no error for " << iw << "x" << ih << " -> " << ow << "x" << oh << " channels " << ch;
    } catch (const xsam::Failure& e) {
      EXPECT_EQ(e.status(), xsam::Status::InvalidArgument);
      EXPECT_NE(std::string(e.what()).find("pil_resize"), std::string::npos) << e.what();
    }
  }
  EXPECT_THROW(xsam::pil_nearest_indices(0, 3), xsam::Failure);
}
