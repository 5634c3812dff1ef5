// A literal port of the arithmetic of Pillow's Resample.c (convolution resize) and Geometry.c
// (ImagingScaleAffine, the NEAREST path of Image.resize), written from the algorithm description in
// docs/design/upstream-facts.md#preprocessing, #visual-prompts. Every cast and rounding step below is deliberate:
// change one and the output is no longer bit-identical to PIL (tests/unit/image_resample_test.cpp checks it against
// PIL itself).
#include "image/resample.h"

#include <cmath>
#include <string>

#include "core/error.h"

namespace xsam {
namespace {

constexpr int kPrecisionBits = 32 - 8 - 2;  // Pillow's PRECISION_BITS for 8-bit images

double bilinear_filter(double x) {
  if (x < 0.0) x = -x;
  if (x < 1.0) return 1.0 - x;
  return 0.0;
}

double bicubic_filter(double x) {
  constexpr double a = -0.5;
  if (x < 0.0) x = -x;
  if (x < 1.0) return ((a + 2.0) * x - (a + 3.0)) * x * x + 1;
  if (x < 2.0) return (((x - 5) * x + 8) * x - 4) * a;
  return 0.0;
}

// Taps of one axis: output i reads in[bounds[i].first .. + bounds[i].second) with weights
// coeffs[i * ksize + j] in 22-bit fixed point.
struct AxisCoefficients {
  int ksize = 0;
  std::vector<std::pair<int, int>> bounds;  // (xmin, count)
  std::vector<int32_t> coeffs;
};

AxisCoefficients precompute(int in_size, int out_size, Resample filter) {
  double (*f)(double) = filter == Resample::Bicubic ? bicubic_filter : bilinear_filter;
  const double filter_support = filter == Resample::Bicubic ? 2.0 : 1.0;
  // Pillow: box (0, in) as floats, scale = (double)(in1 - in0) / outSize.
  const double scale = double(float(in_size) - 0.0f) / out_size;
  double filterscale = scale < 1.0 ? 1.0 : scale;
  const double support = filter_support * filterscale;
  AxisCoefficients ax;
  ax.ksize = int(std::ceil(support)) * 2 + 1;
  ax.bounds.resize(size_t(out_size));
  ax.coeffs.assign(size_t(out_size) * size_t(ax.ksize), 0);
  std::vector<double> k(size_t(ax.ksize));
  const double ss = 1.0 / filterscale;  // Pillow multiplies by the reciprocal
  for (int xx = 0; xx < out_size; ++xx) {
    const double center = 0.0 + (xx + 0.5) * scale;
    int xmin = int(center - support + 0.5);
    if (xmin < 0) xmin = 0;
    int xmax = int(center + support + 0.5);
    if (xmax > in_size) xmax = in_size;
    xmax -= xmin;
    double ww = 0.0;
    for (int x = 0; x < xmax; ++x) {
      const double w = f((x + xmin - center + 0.5) * ss);
      k[size_t(x)] = w;
      ww += w;
    }
    for (int x = 0; x < xmax; ++x) {
      if (ww != 0.0) k[size_t(x)] /= ww;
    }
    int32_t* out = &ax.coeffs[size_t(xx) * size_t(ax.ksize)];
    for (int x = 0; x < xmax; ++x) {  // normalize_coeffs_8bpc: round half away from zero (C truncation)
      const double v = k[size_t(x)] * double(1 << kPrecisionBits);
      out[x] = k[size_t(x)] < 0 ? int32_t(-0.5 + v) : int32_t(0.5 + v);
    }
    ax.bounds[size_t(xx)] = {xmin, xmax};
  }
  return ax;
}

inline uint8_t clip8(int32_t in) {
  if (in >= (1 << kPrecisionBits << 8)) return 255;
  if (in <= 0) return 0;
  return uint8_t(in >> kPrecisionBits);
}

// Horizontal pass: every row, every channel independently.
std::vector<uint8_t> resize_horizontal(const uint8_t* src, int in_w, int h, int ch, int out_w, Resample filter) {
  const AxisCoefficients ax = precompute(in_w, out_w, filter);
  std::vector<uint8_t> out(size_t(out_w) * size_t(h) * size_t(ch));
  for (int y = 0; y < h; ++y) {
    const uint8_t* row = src + size_t(y) * size_t(in_w) * size_t(ch);
    uint8_t* dst = out.data() + size_t(y) * size_t(out_w) * size_t(ch);
    for (int xx = 0; xx < out_w; ++xx) {
      const auto [xmin, count] = ax.bounds[size_t(xx)];
      const int32_t* k = &ax.coeffs[size_t(xx) * size_t(ax.ksize)];
      for (int c = 0; c < ch; ++c) {
        int32_t ss = 1 << (kPrecisionBits - 1);
        for (int x = 0; x < count; ++x) ss += int32_t(row[size_t(x + xmin) * size_t(ch) + size_t(c)]) * k[x];
        dst[size_t(xx) * size_t(ch) + size_t(c)] = clip8(ss);
      }
    }
  }
  return out;
}

// Vertical pass: every column, every channel independently.
std::vector<uint8_t> resize_vertical(const uint8_t* src, int w, int in_h, int ch, int out_h, Resample filter) {
  const AxisCoefficients ax = precompute(in_h, out_h, filter);
  const size_t row_len = size_t(w) * size_t(ch);
  std::vector<uint8_t> out(row_len * size_t(out_h));
  for (int yy = 0; yy < out_h; ++yy) {
    const auto [ymin, count] = ax.bounds[size_t(yy)];
    const int32_t* k = &ax.coeffs[size_t(yy) * size_t(ax.ksize)];
    uint8_t* dst = out.data() + size_t(yy) * row_len;
    for (size_t i = 0; i < row_len; ++i) {
      int32_t ss = 1 << (kPrecisionBits - 1);
      for (int y = 0; y < count; ++y) ss += int32_t(src[size_t(y + ymin) * row_len + i]) * k[y];
      dst[i] = clip8(ss);
    }
  }
  return out;
}

std::vector<uint8_t> resize_nearest(const uint8_t* src, int in_w, int in_h, int ch, int out_w, int out_h) {
  const std::vector<int> xs = pil_nearest_indices(in_w, out_w);
  const std::vector<int> ys = pil_nearest_indices(in_h, out_h);
  std::vector<uint8_t> out(size_t(out_w) * size_t(out_h) * size_t(ch));
  for (int y = 0; y < out_h; ++y) {
    const uint8_t* row = src + size_t(ys[size_t(y)]) * size_t(in_w) * size_t(ch);
    uint8_t* dst = out.data() + size_t(y) * size_t(out_w) * size_t(ch);
    for (int x = 0; x < out_w; ++x)
      for (int c = 0; c < ch; ++c) dst[size_t(x) * size_t(ch) + size_t(c)] = row[size_t(xs[size_t(x)]) * size_t(ch) + size_t(c)];
  }
  return out;
}

}  // namespace

std::vector<int> pil_nearest_indices(int in_size, int out_size) {
  if (in_size <= 0 || out_size <= 0)
    fail(Status::InvalidArgument, "pil_nearest_indices: sizes must be positive (in " + std::to_string(in_size) +
                                      ", out " + std::to_string(out_size) + ")");
  const double step = double(in_size) / out_size;
  double o = 0.0 + step * 0.5;
  std::vector<int> src(static_cast<size_t>(out_size));
  for (int d = 0; d < out_size; ++d) {
    int s = o < 0.0 ? -1 : int(o);
    if (s < 0) s = 0;  // never happens for a plain resize; harmless safeguards
    if (s >= in_size) s = in_size - 1;
    src[size_t(d)] = s;
    o += step;
  }
  return src;
}

std::vector<uint8_t> pil_resize(const uint8_t* src, int in_w, int in_h, int channels, int out_w, int out_h,
                                Resample filter) {
  if (in_w <= 0 || in_h <= 0 || out_w <= 0 || out_h <= 0 || channels <= 0)
    fail(Status::InvalidArgument, "pil_resize: sizes and channels must be positive (in " + std::to_string(in_w) +
                                      "x" + std::to_string(in_h) + ", out " + std::to_string(out_w) + "x" +
                                      std::to_string(out_h) + ", channels " + std::to_string(channels) + ")");
  const size_t in_bytes = size_t(in_w) * size_t(in_h) * size_t(channels);
  if (in_w == out_w && in_h == out_h) return std::vector<uint8_t>(src, src + in_bytes);  // PIL: a copy
  if (filter == Resample::Nearest) return resize_nearest(src, in_w, in_h, channels, out_w, out_h);
  std::vector<uint8_t> horizontal;
  const uint8_t* stage = src;
  if (out_w != in_w) {
    horizontal = resize_horizontal(src, in_w, in_h, channels, out_w, filter);
    stage = horizontal.data();
  }
  if (out_h == in_h) return horizontal;  // only the horizontal pass was needed
  return resize_vertical(stage, out_w, in_h, channels, out_h, filter);
}

Image pil_resize(const Image& image, int out_w, int out_h, Resample filter) {
  Image out;
  out.rgb = pil_resize(image.rgb.data(), image.width, image.height, 3, out_w, out_h, filter);
  out.width = out_w;
  out.height = out_h;
  return out;
}

Mask pil_resize(const Mask& mask, int out_w, int out_h, Resample filter) {
  Mask out;
  out.data = pil_resize(mask.data.data(), mask.width, mask.height, 1, out_w, out_h, filter);
  out.width = out_w;
  out.height = out_h;
  return out;
}

}  // namespace xsam
