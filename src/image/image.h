// The two plain rasters of the image layer. Torch-free on purpose: decoding, resampling and
// visual-ref rasterisation work on these; only src/image/preprocess turns them into tensors.
#pragma once
#include <cstddef>
#include <cstdint>
#include <vector>

namespace xsam {

// An 8-bit RGB image, rows top to bottom, pixels interleaved R,G,B, no row padding:
// the byte of channel c at (x, y) is rgb[(y * width + x) * 3 + c].
struct Image {
  int width = 0;
  int height = 0;
  std::vector<uint8_t> rgb;

  bool empty() const { return width <= 0 || height <= 0; }
  size_t pixel_count() const { return size_t(width) * size_t(height); }
};

// A one-channel 8-bit mask, row-major: data[y * width + x]. Visual prompts use 0/1 but any value
// is allowed where a function says so ("nonzero counts as set").
struct Mask {
  int width = 0;
  int height = 0;
  std::vector<uint8_t> data;

  Mask() = default;
  Mask(int w, int h, uint8_t fill = 0) : width(w), height(h), data(size_t(w) * size_t(h), fill) {}
  uint8_t& at(int x, int y) { return data[size_t(y) * size_t(width) + size_t(x)]; }
  uint8_t at(int x, int y) const { return data[size_t(y) * size_t(width) + size_t(x)]; }
  size_t count_nonzero() const {
    size_t n = 0;
    for (uint8_t v : data) n += v != 0;
    return n;
  }
};

}  // namespace xsam
