// Decoding through OpenCV's imgcodecs with IMREAD_UNCHANGED, then our own conversion to RGB8 so that
// every sample type follows PIL's convert("RGB") (see decode.h). IMREAD_UNCHANGED also means no EXIF
// orientation is applied (OpenCV's IMREAD_COLOR would rotate; PIL does not).
#include "image/decode.h"

#include <cerrno>
#include <cstring>
#include <fstream>
#include <limits>
#include <vector>

#include <opencv2/core.hpp>
#include <opencv2/imgcodecs.hpp>

#include "core/error.h"
#include "core/files.h"

namespace xsam {
namespace {

std::string quoted(const std::string& name) { return "'" + name + "'"; }

// ---- container sniffing: only to give precise messages and to check limits before decoding ----

enum class Container { Unknown, Png, Jpeg, Bmp, Webp, Tiff, Gif };

Container sniff(const uint8_t* b, size_t n) {
  auto starts = [&](const char* sig, size_t len) { return n >= len && std::memcmp(b, sig, len) == 0; };
  if (starts("\x89PNG\r\n\x1a\n", 8)) return Container::Png;
  if (starts("\xff\xd8\xff", 3)) return Container::Jpeg;
  if (starts("BM", 2)) return Container::Bmp;
  if (n >= 12 && std::memcmp(b, "RIFF", 4) == 0 && std::memcmp(b + 8, "WEBP", 4) == 0) return Container::Webp;
  if (starts("II*\0", 4) || starts("MM\0*", 4)) return Container::Tiff;
  if (starts("GIF8", 4)) return Container::Gif;
  return Container::Unknown;
}

const char* container_name(Container c) {
  switch (c) {
    case Container::Png: return "PNG";
    case Container::Jpeg: return "JPEG";
    case Container::Bmp: return "BMP";
    case Container::Webp: return "WebP";
    case Container::Tiff: return "TIFF";
    case Container::Gif: return "GIF";
    default: return "unknown";
  }
}

uint32_t be32(const uint8_t* p) { return uint32_t(p[0]) << 24 | uint32_t(p[1]) << 16 | uint32_t(p[2]) << 8 | p[3]; }
uint32_t be16(const uint8_t* p) { return uint32_t(p[0]) << 8 | p[1]; }

struct JpegLayout {
  bool has_frame = false;
  uint32_t width = 0, height = 0;
  size_t scan_start = 0;  // first byte after the first SOS header; 0 if none
};

// Walks the marker segments up to the first scan. Thumbnails inside APPn segments are skipped by
// their length, so the frame found is the main image's.
JpegLayout jpeg_layout(const uint8_t* b, size_t n) {
  JpegLayout out;
  size_t i = 2;  // after SOI
  while (i + 4 <= n) {
    if (b[i] != 0xFF) return out;
    uint8_t marker = b[i + 1];
    if (marker == 0xFF) { ++i; continue; }  // fill byte
    if (marker == 0xD8 || (marker >= 0xD0 && marker <= 0xD7) || marker == 0x01) { i += 2; continue; }
    size_t len = be16(b + i + 2);
    if (len < 2 || i + 2 + len > n) return out;
    bool sof = marker >= 0xC0 && marker <= 0xCF && marker != 0xC4 && marker != 0xC8 && marker != 0xCC;
    if (sof && len >= 7 && !out.has_frame) {
      out.has_frame = true;
      out.height = be16(b + i + 5);
      out.width = be16(b + i + 7);
    }
    if (marker == 0xDA) {
      out.scan_start = i + 2 + len;
      return out;
    }
    i += 2 + len;
  }
  return out;
}

// libjpeg "decodes" a truncated file by padding it with grey and only warns; PIL refuses it
// ("image file is truncated"). Entropy-coded data never contains FF D9, so a complete file has one
// after its first scan.
bool jpeg_has_end_marker(const uint8_t* b, size_t n, size_t scan_start) {
  for (size_t i = scan_start; i + 1 < n; ++i)
    if (b[i] == 0xFF && b[i + 1] == 0xD9) return true;
  return false;
}

// Sizes read from headers may be up to 2^32 each: compare without forming an overflowing product.
void check_limit(int64_t width, int64_t height, int64_t max_pixels, const std::string& what) {
  if (max_pixels > 0 && width > 0 && height > 0 && width > max_pixels / height)
    fail(Status::Limit, what + ": " + std::to_string(width) + "x" + std::to_string(height) + " = " +
                            std::to_string(static_cast<unsigned __int128>(width) * height > UINT64_MAX
                                               ? UINT64_MAX
                                               : static_cast<uint64_t>(width) * static_cast<uint64_t>(height)) +
                            " pixels exceeds the limit of " + std::to_string(max_pixels) + " pixels");
}

uint32_t le16(const uint8_t* p) { return uint32_t(p[0]) | uint32_t(p[1]) << 8; }
uint32_t le24(const uint8_t* p) { return le16(p) | uint32_t(p[2]) << 16; }
uint32_t le32(const uint8_t* p) { return le16(p) | le16(p + 2) << 16; }

// TIFF: ImageWidth (256) and ImageLength (257) of the first IFD; 0 when not found.
void tiff_size(const uint8_t* b, size_t n, int64_t* w, int64_t* h) {
  const bool le = b[0] == 'I';
  auto u16 = [&](size_t at) { return at + 2 <= n ? (le ? le16(b + at) : be16(b + at)) : 0u; };
  auto u32 = [&](size_t at) { return at + 4 <= n ? (le ? le32(b + at) : be32(b + at)) : 0u; };
  const size_t ifd = u32(4);
  const size_t count = u16(ifd);
  for (size_t i = 0; i < count; ++i) {
    const size_t e = ifd + 2 + 12 * i;
    if (e + 12 > n) break;
    const uint32_t tag = u16(e), type = u16(e + 2);
    const int64_t v = type == 3 ? u16(e + 8) : type == 4 ? u32(e + 8) : 0;
    if (tag == 256) *w = v;
    if (tag == 257) *h = v;
  }
}

// Checks what can be known before decoding: the size (PNG, JPEG, BMP, WebP, TIFF — OpenCV would allocate
// the whole raster before finding out that the data is missing) and JPEG truncation.
void check_container(const uint8_t* b, size_t n, Container c, int64_t max_pixels, const std::string& what) {
  if (c == Container::Png && n >= 24 && std::memcmp(b + 12, "IHDR", 4) == 0) {
    check_limit(be32(b + 16), be32(b + 20), max_pixels, what);
  } else if (c == Container::Bmp && n >= 26) {
    if (le32(b + 14) == 12) {  // BITMAPCOREHEADER: 16-bit sizes
      check_limit(le16(b + 18), le16(b + 20), max_pixels, what);
    } else {  // BITMAPINFOHEADER and later: signed 32-bit (negative height = top-down rows)
      const int64_t w = int32_t(le32(b + 18)), h = int32_t(le32(b + 22));
      check_limit(w < 0 ? -w : w, h < 0 ? -h : h, max_pixels, what);
    }
  } else if (c == Container::Webp && n >= 30) {
    if (std::memcmp(b + 12, "VP8X", 4) == 0) check_limit(le24(b + 24) + 1, le24(b + 27) + 1, max_pixels, what);
    else if (std::memcmp(b + 12, "VP8L", 4) == 0 && n >= 25)
      check_limit((le32(b + 21) & 0x3FFF) + 1, ((le32(b + 21) >> 14) & 0x3FFF) + 1, max_pixels, what);
    else if (std::memcmp(b + 12, "VP8 ", 4) == 0) check_limit(le16(b + 26) & 0x3FFF, le16(b + 28) & 0x3FFF, max_pixels, what);
  } else if (c == Container::Tiff && n >= 8) {
    int64_t w = 0, h = 0;
    tiff_size(b, n, &w, &h);
    check_limit(w, h, max_pixels, what);
  } else if (c == Container::Jpeg) {
    JpegLayout layout = jpeg_layout(b, n);
    if (layout.has_frame) check_limit(layout.width, layout.height, max_pixels, what);
    if (layout.scan_start == 0)
      fail(Status::Format, what + ": corrupt or truncated JPEG data (no image scan found)");
    if (!jpeg_has_end_marker(b, n, layout.scan_start))
      fail(Status::Format, what + ": truncated JPEG data (no end-of-image marker)");
  }
}

// ---- sample conversion to RGB8, following PIL's convert("RGB") ----

uint8_t from16_grey(uint16_t v) { return v > 255 ? 255 : uint8_t(v); }  // PIL mode "I" → clip
uint8_t from16_colour(uint16_t v) { return uint8_t(v >> 8); }            // PIL "RGB;16B" → high byte

template <typename T, typename Convert>
void to_rgb(const cv::Mat& m, Image& out, Convert convert) {
  const int ch = m.channels();
  for (int y = 0; y < m.rows; ++y) {
    const T* row = m.ptr<T>(y);
    uint8_t* dst = out.rgb.data() + size_t(y) * size_t(m.cols) * 3;
    for (int x = 0; x < m.cols; ++x, row += ch, dst += 3) {
      if (ch <= 2) {  // grey (+ alpha)
        dst[0] = dst[1] = dst[2] = convert(row[0]);
      } else {  // OpenCV order: B, G, R (+ A)
        dst[0] = convert(row[2]);
        dst[1] = convert(row[1]);
        dst[2] = convert(row[0]);
      }
    }
  }
}

Image mat_to_image(const cv::Mat& m, const std::string& what) {
  Image out;
  out.width = m.cols;
  out.height = m.rows;
  out.rgb.resize(size_t(m.cols) * size_t(m.rows) * 3);
  const int ch = m.channels();
  if (ch < 1 || ch > 4) fail(Status::Unsupported, what + ": " + std::to_string(ch) + " channels are not supported");
  switch (m.depth()) {
    case CV_8U:
      to_rgb<uint8_t>(m, out, [](uint8_t v) { return v; });
      break;
    case CV_16U:
      if (ch == 1)  // PIL opens 16-bit grey as mode "I"; 16-bit grey+alpha as RGBA/LA (high byte)
        to_rgb<uint16_t>(m, out, from16_grey);
      else
        to_rgb<uint16_t>(m, out, from16_colour);
      break;
    default:
      fail(Status::Unsupported, what + ": sample type other than 8/16-bit unsigned (OpenCV depth " +
                                    std::to_string(m.depth()) + ") is not supported");
  }
  return out;
}

std::vector<uint8_t> read_whole_file(const std::string& path) {
  uint64_t size = 0;
  switch (file_kind(path, &size)) {
    case FileKind::Missing: fail(Status::Io, "cannot open image file " + quoted(path) + ": " + std::strerror(errno));
    case FileKind::Directory: fail(Status::Io, "cannot read image file " + quoted(path) + ": it is a directory");
    // A FIFO or a device (/dev/zero) would block or never end.
    case FileKind::Other: fail(Status::Io, "cannot read image file " + quoted(path) + ": not a regular file");
    case FileKind::Regular: break;
  }
  if (size > uint64_t(std::numeric_limits<int>::max()))
    fail(Status::Limit, "image file " + quoted(path) + ": " + std::to_string(size) +
                            " bytes is larger than the decoder accepts");
  std::ifstream in(path, std::ios::binary);
  if (!in) fail(Status::Io, "cannot open image file " + quoted(path) + ": " + std::strerror(errno));
  std::vector<uint8_t> bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  if (in.bad()) fail(Status::Io, "error while reading image file " + quoted(path));
  return bytes;
}

Image decode_bytes(const uint8_t* bytes, size_t size, const std::string& what, int64_t max_pixels) {
  if (size == 0 || bytes == nullptr) fail(Status::Format, what + ": empty (0 bytes), not an image");
  if (size > size_t(std::numeric_limits<int>::max()))
    fail(Status::Limit, what + ": " + std::to_string(size) + " bytes is larger than the decoder accepts");
  Container c = sniff(bytes, size);
  if (c == Container::Unknown)
    fail(Status::Format, what + ": not a recognised image (expected PNG, JPEG, BMP, WebP or TIFF data)");
  if (c == Container::Gif) {
    // The size limit is answered first whatever the format (the HTTP API's 413 before 415), as for the others.
    if (size >= 10) check_limit(le16(bytes + 6), le16(bytes + 8), max_pixels, what);
    fail(Status::Format, what + ": GIF images are not supported (convert it to PNG)");
  }
  check_container(bytes, size, c, max_pixels, what);

  cv::Mat decoded;
  try {
    const cv::Mat buffer(1, int(size), CV_8U, const_cast<uint8_t*>(bytes));
    decoded = cv::imdecode(buffer, cv::IMREAD_UNCHANGED);
  } catch (const cv::Exception& e) {
    fail(Status::Format, what + ": corrupt " + container_name(c) + " data (" + e.what() + ")");
  }
  if (decoded.empty() || decoded.cols <= 0 || decoded.rows <= 0)
    fail(Status::Format, what + ": corrupt or truncated " + std::string(container_name(c)) + " data");
  check_limit(decoded.cols, decoded.rows, max_pixels, what);
  return mat_to_image(decoded, what);
}

}  // namespace

Image decode_image_memory(const uint8_t* bytes, size_t size, const std::string& name, int64_t max_pixels) {
  return decode_bytes(bytes, size, "image " + quoted(name), max_pixels);
}

Image decode_image_file(const std::string& path, int64_t max_pixels) {
  std::vector<uint8_t> bytes = read_whole_file(path);
  return decode_bytes(bytes.data(), bytes.size(), "image file " + quoted(path), max_pixels);
}

int bytes_per_pixel(PixelFormat format) {
  switch (format) {
    case PixelFormat::RGB:
    case PixelFormat::BGR: return 3;
    case PixelFormat::RGBA:
    case PixelFormat::BGRA: return 4;
    case PixelFormat::Gray: return 1;
  }
  return 0;
}

Image image_from_pixels(const uint8_t* pixels, int width, int height, int stride, PixelFormat format,
                        int64_t max_pixels) {
  const int bpp = bytes_per_pixel(format);
  if (bpp == 0) fail(Status::InvalidArgument, "image pixels: unknown pixel format " + std::to_string(int(format)));
  if (width <= 0 || height <= 0)
    fail(Status::InvalidArgument, "image pixels: width and height must be positive (got " + std::to_string(width) +
                                      "x" + std::to_string(height) + ")");
  if (pixels == nullptr) fail(Status::InvalidArgument, "image pixels: pixel pointer is null");
  check_limit(width, height, max_pixels, "image pixels");
  const int64_t row_bytes = int64_t(width) * bpp;
  if (stride == 0) stride = int(row_bytes);
  if (stride < row_bytes)
    fail(Status::InvalidArgument, "image pixels: stride " + std::to_string(stride) + " is smaller than width × " +
                                      std::to_string(bpp) + " bytes = " + std::to_string(row_bytes));
  Image out;
  out.width = width;
  out.height = height;
  out.rgb.resize(size_t(width) * size_t(height) * 3);
  const bool bgr = format == PixelFormat::BGR || format == PixelFormat::BGRA;
  for (int y = 0; y < height; ++y) {
    const uint8_t* src = pixels + size_t(y) * size_t(stride);
    uint8_t* dst = out.rgb.data() + size_t(y) * size_t(width) * 3;
    for (int x = 0; x < width; ++x, src += bpp, dst += 3) {
      if (bpp == 1) {
        dst[0] = dst[1] = dst[2] = src[0];
      } else {
        dst[0] = src[bgr ? 2 : 0];
        dst[1] = src[1];
        dst[2] = src[bgr ? 0 : 2];
      }
    }
  }
  return out;
}

Mask binarize_mask_image(const Image& image) {
  Mask m(image.width, image.height);
  const uint8_t* p = image.rgb.data();
  for (size_t i = 0; i < m.data.size(); ++i, p += 3) m.data[i] = pil_luma(p[0], p[1], p[2]) > kMaskFileThreshold;
  return m;
}

Mask decode_mask_file(const std::string& path, int64_t max_pixels) {
  return binarize_mask_image(decode_image_file(path, max_pixels));
}

Mask decode_mask_memory(const uint8_t* bytes, size_t size, const std::string& name, int64_t max_pixels) {
  return binarize_mask_image(decode_image_memory(bytes, size, name, max_pixels));
}

}  // namespace xsam
