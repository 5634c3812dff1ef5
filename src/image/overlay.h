// A picture of a result for people: masks blended over the image in distinct colours, outlined,
// with each mask's label and score written at its box corner. Encoded as PNG.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "image/image.h"

namespace xsam {

struct OverlayMask {
  const uint8_t* mask = nullptr;  // width × height, nonzero = inside
  std::string caption;            // "label 0.93"
  int box[4] = {0, 0, 0, 0};      // x0, y0, x1, y1 (exclusive)
};

// Returns RGB8 pixels of the overlay (same size as `image`).
Image render_overlay(const Image& image, const std::vector<OverlayMask>& masks, float alpha = 0.45f);

// PNG bytes of an RGB8 image (Status::Internal if encoding fails).
std::vector<uint8_t> encode_png(const Image& image);
// PNG of a single-channel 8-bit image (masks: 0/255).
std::vector<uint8_t> encode_png_gray(const uint8_t* pixels, int width, int height);

// PNG of a 16-bit single-channel image (label maps).
std::vector<uint8_t> encode_png_gray16(const uint16_t* pixels, int width, int height);

// The colour of mask i (a fixed palette, so the same index has the same colour everywhere).
void palette_colour(size_t i, uint8_t rgb[3]);

}  // namespace xsam
