#include "image/preprocess.h"

#include <algorithm>
#include <array>
#include <string>

#include "core/error.h"
#include "image/prompt_mask.h"
#include "image/resample.h"

namespace xsam {
namespace {

// HF image_transforms: rescale = float32(float64(u8) * 0.00392156862745098), then
// normalize = (x - float32(mean)) / float32(std) in float32. As a table per channel: 256 entries.
using ChannelTable = std::array<float, 256>;

std::array<ChannelTable, 3> normalization_tables(const std::vector<double>& mean, const std::vector<double>& std,
                                                 const char* field) {
  if (mean.size() != 3 || std.size() != 3)
    fail(Status::InvalidArgument, std::string("preprocess.") + field + "_mean/_std: 3 values each expected (got " +
                                      std::to_string(mean.size()) + " and " + std::to_string(std.size()) + ")");
  constexpr double kRescale = 1.0 / 255.0;  // == 0.00392156862745098, HF's rescale_factor
  std::array<ChannelTable, 3> tables;
  for (int c = 0; c < 3; ++c) {
    const float m = float(mean[size_t(c)]);
    const float s = float(std[size_t(c)]);
    if (!(s != 0.0f)) fail(Status::InvalidArgument, std::string("preprocess.") + field + "_std: zero or NaN");
    for (int u = 0; u < 256; ++u) {
      const float x = float(double(u) * kRescale);
      tables[size_t(c)][size_t(u)] = (x - m) / s;
    }
  }
  return tables;
}

// Writes the normalized planes of `image` into the top-left corner of out[0] ([3, side, side]).
void write_planes(const Image& image, const std::array<ChannelTable, 3>& tables, torch::Tensor& out) {
  const int64_t side = out.size(2);
  float* base = out.data_ptr<float>();
  for (int c = 0; c < 3; ++c) {
    const ChannelTable& t = tables[size_t(c)];
    float* plane = base + c * side * side;
    for (int y = 0; y < image.height; ++y) {
      const uint8_t* src = image.rgb.data() + size_t(y) * size_t(image.width) * 3 + size_t(c);
      float* dst = plane + y * side;
      for (int x = 0; x < image.width; ++x) dst[x] = t[src[size_t(x) * 3]];
    }
  }
}

void check_image(const Image& image, const char* what) {
  if (image.empty() || image.rgb.size() != image.pixel_count() * 3)
    fail(Status::InvalidArgument, std::string(what) + ": empty or inconsistent image (" + std::to_string(image.width) +
                                      "x" + std::to_string(image.height) + ", " + std::to_string(image.rgb.size()) +
                                      " bytes)");
}

}  // namespace

Image expand_to_square(const Image& image, const std::vector<double>& mean) {
  check_image(image, "expand_to_square");
  if (image.width == image.height) return image;
  if (mean.size() != 3) fail(Status::InvalidArgument, "expand_to_square: 3 mean values expected");
  const int side = std::max(image.width, image.height);
  Image out;
  out.width = out.height = side;
  out.rgb.resize(size_t(side) * size_t(side) * 3);
  for (size_t i = 0; i < out.rgb.size(); i += 3)
    for (size_t c = 0; c < 3; ++c) out.rgb[i + c] = uint8_t(int(mean[c] * 255));  // Python int(): truncation
  const int x0 = (side - image.width) / 2;   // floor division: sizes are positive
  const int y0 = (side - image.height) / 2;
  for (int y = 0; y < image.height; ++y)
    std::copy(image.rgb.begin() + ptrdiff_t(y) * image.width * 3, image.rgb.begin() + ptrdiff_t(y + 1) * image.width * 3,
              out.rgb.begin() + (ptrdiff_t(y + y0) * side + x0) * 3);
  return out;
}

void check_preprocess_limits(const Image& image, const PreprocessConfig& config, int64_t max_pixels) {
  if (max_pixels <= 0) return;
  const int64_t w = image.width, h = image.height;
  if (w * h > max_pixels)
    fail(Status::Limit, "image: " + std::to_string(w) + "x" + std::to_string(h) + " exceeds max_image_pixels = " +
                            std::to_string(max_pixels));
  const int64_t side = std::max(w, h);
  if (config.expand_to_square && side * side > max_pixels)
    fail(Status::Limit, "image: " + std::to_string(w) + "x" + std::to_string(h) + " is padded to a " +
                            std::to_string(side) + "x" + std::to_string(side) +
                            " square for SigLIP (expand_to_square), which exceeds max_image_pixels = " +
                            std::to_string(max_pixels) + " (aspect ratio too extreme)");
}

torch::Tensor siglip_preprocess(const Image& image, const PreprocessConfig& config) {
  check_image(image, "siglip_preprocess");
  const int size = config.siglip_size;
  if (size <= 0) fail(Status::InvalidArgument, "preprocess.siglip_size must be positive (got " + std::to_string(size) + ")");
  const auto tables = normalization_tables(config.siglip_mean, config.siglip_std, "siglip");
  const Image square = config.expand_to_square ? expand_to_square(image, config.siglip_mean) : image;
  const Image resized = pil_resize(square, size, size, config.siglip_resample);
  torch::Tensor out = torch::empty({1, 3, size, size}, torch::kFloat32);
  write_planes(resized, tables, out);
  return out;
}

ScaledSize sam_scaled_size(int height, int width, int longest_side) {
  if (height <= 0 || width <= 0 || longest_side <= 0)
    fail(Status::InvalidArgument, "sam_scaled_size: sizes must be positive (image " + std::to_string(width) + "x" +
                                      std::to_string(height) + ", longest side " + std::to_string(longest_side) + ")");
  // SamImageProcessor._get_longest_edge_preprocess_shape, in Python doubles.
  const double scale = longest_side * 1.0 / std::max(height, width);
  ScaledSize s;
  s.height = std::max(1, int(height * scale + 0.5));
  s.width = std::max(1, int(width * scale + 0.5));
  return s;
}

SamInput sam_preprocess(const Image& image, const PreprocessConfig& config) {
  check_image(image, "sam_preprocess");
  const int side = config.sam_size;
  if (side <= 0) fail(Status::InvalidArgument, "preprocess.sam_size must be positive (got " + std::to_string(side) + ")");
  const auto tables = normalization_tables(config.sam_mean, config.sam_std, "sam");
  SamInput in;
  in.original_height = image.height;
  in.original_width = image.width;
  in.scaled = sam_scaled_size(image.height, image.width, side);
  const Image resized = pil_resize(image, in.scaled.width, in.scaled.height, config.sam_resample);
  in.pixel_values = torch::zeros({1, 3, side, side}, torch::kFloat32);  // padding after normalization: 0.0
  write_planes(resized, tables, in.pixel_values);
  return in;
}

torch::Tensor sam_prompt_masks(const std::vector<Mask>& masks, const SamInput& sam, const PreprocessConfig& config) {
  const int side = config.sam_size;
  torch::Tensor out = torch::empty({int64_t(masks.size()), side, side}, torch::kUInt8);
  for (size_t i = 0; i < masks.size(); ++i) {
    const Mask& m = masks[i];
    const std::string what = "prompt mask " + std::to_string(i);
    if (m.width != sam.original_width || m.height != sam.original_height)
      fail(Status::InvalidArgument, what + ": size " + std::to_string(m.width) + "x" + std::to_string(m.height) +
                                        " differs from the image's " + std::to_string(sam.original_width) + "x" +
                                        std::to_string(sam.original_height));
    const Mask padded = resize_prompt_mask(m, sam.scaled.height, sam.scaled.width, side, what.c_str());
    std::copy(padded.data.begin(), padded.data.end(), out[int64_t(i)].data_ptr<uint8_t>());
  }
  return out;
}

}  // namespace xsam
