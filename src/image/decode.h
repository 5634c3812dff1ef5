// Image decoding that reproduces PIL's `Image.open(f).convert("RGB")` (what upstream X-SAM feeds its
// processors; docs/design/decisions.md#image-decoding), plus construction from caller pixels and upstream's mask-file
// loader.
//
// What "matches PIL 9.4" means here (checked against Debian's python3-pil by tests/data/pil/):
//   * no EXIF rotation: the stored pixel grid is used as is (PIL's open/convert never rotate);
//   * alpha is dropped, not composited (RGBA, LA, palette with transparency);
//   * grey and palette images are expanded to RGB; 1-bit images become 0/255;
//   * 16-bit colour (RGB/RGBA/LA PNG): the high byte of every sample (PIL reads "RGB;16B" that way);
//   * 16-bit grey (PNG, TIFF): PIL opens it as mode "I"/"I;16" and convert("RGB") CLIPS each value to
//     0..255 (so almost every 16-bit grey photo turns white). We reproduce this on purpose — it is what
//     upstream computes on such a file; convert it to 8 bits yourself if you want the picture;
//   * ICC profiles and PNG gamma are ignored (PIL applies neither).
// Not matched: formats OpenCV cannot read (GIF, ...) are Status::Format errors; CMYK JPEGs are converted
// by OpenCV's formula, which may differ from PIL's by rounding; float/signed samples are Unsupported.
//
// Errors: Status::Io (missing/unreadable file), Status::Format (empty, truncated, corrupt, not an image),
// Status::Limit (more than max_pixels), Status::InvalidArgument (bad caller pixels); every message names
// the file (or the `name` given for memory input) or the argument.
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>

#include "image/image.h"

namespace xsam {

// PIL raises DecompressionBombError above 2 × Image.MAX_IMAGE_PIXELS = 178,956,970 pixels; same default.
constexpr int64_t kDefaultMaxPixels = 178956970;

// Decodes PNG, JPEG, BMP, WebP, TIFF, PNM, ... (whatever OpenCV's imgcodecs reads). max_pixels <= 0: no
// limit of ours (OpenCV still refuses more than 2^30 pixels).
Image decode_image_file(const std::string& path, int64_t max_pixels = kDefaultMaxPixels);
Image decode_image_memory(const uint8_t* bytes, size_t size, const std::string& name,
                          int64_t max_pixels = kDefaultMaxPixels);

// Caller-owned pixels. stride = bytes from one row to the next (0: tightly packed). Alpha is dropped,
// grey replicated, BGR reordered.
enum class PixelFormat { RGB, RGBA, BGR, BGRA, Gray };
int bytes_per_pixel(PixelFormat format);
Image image_from_pixels(const uint8_t* pixels, int width, int height, int stride, PixelFormat format,
                        int64_t max_pixels = kDefaultMaxPixels);

// The grey value of PIL's convert("L") for an RGB pixel: ITU-R 601-2 luma in 16-bit fixed point,
// (R·19595 + G·38470 + B·7471 + 0x8000) >> 16.
inline uint8_t pil_luma(uint8_t r, uint8_t g, uint8_t b) {
  return uint8_t((uint32_t(r) * 19595u + uint32_t(g) * 38470u + uint32_t(b) * 7471u + 0x8000u) >> 16);
}

// A visual-prompt mask file as upstream's CLI loads it (`load_image(path, mode="L")`): converted to 8-bit
// grey like PIL's convert("L"), then 1 where the grey value is > 128, else 0.
constexpr int kMaskFileThreshold = 128;
Mask decode_mask_file(const std::string& path, int64_t max_pixels = kDefaultMaxPixels);
Mask decode_mask_memory(const uint8_t* bytes, size_t size, const std::string& name,
                        int64_t max_pixels = kDefaultMaxPixels);
// The same rule on an already decoded image.
Mask binarize_mask_image(const Image& image);

}  // namespace xsam
