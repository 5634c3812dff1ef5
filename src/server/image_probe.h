// Reads an encoded image's width and height from its header, without decoding it, so that a small file
// that would decode into gigabytes (a "decompression bomb") is refused before any pixel is allocated.
#pragma once
#include <cstddef>
#include <cstdint>

namespace xsam_server {

// PNG (IHDR), JPEG (SOFn), GIF, BMP and WebP headers. False when the format is not one of these or the
// header is cut short; the caller then decodes and checks the size afterwards.
bool probe_image_size(const uint8_t* data, size_t size, int64_t* width, int64_t* height);

}  // namespace xsam_server
