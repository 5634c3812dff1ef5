#include "server/image_probe.h"

#include <cstring>

namespace xsam_server {

namespace {

uint32_t be16(const uint8_t* p) { return (uint32_t(p[0]) << 8) | p[1]; }
uint32_t be32(const uint8_t* p) { return (be16(p) << 16) | be16(p + 2); }
uint32_t le16(const uint8_t* p) { return (uint32_t(p[1]) << 8) | p[0]; }
uint32_t le32(const uint8_t* p) { return (le16(p + 2) << 16) | le16(p); }

bool probe_jpeg(const uint8_t* d, size_t n, int64_t* w, int64_t* h) {
  size_t i = 2;
  while (i + 9 < n) {
    if (d[i] != 0xFF) return false;
    uint8_t marker = d[i + 1];
    if (marker == 0xFF) {  // fill byte
      ++i;
      continue;
    }
    if (marker == 0xD8 || marker == 0x01 || (marker >= 0xD0 && marker <= 0xD7)) {  // no length
      i += 2;
      continue;
    }
    uint32_t len = be16(d + i + 2);
    const bool sof = marker >= 0xC0 && marker <= 0xCF && marker != 0xC4 && marker != 0xC8 && marker != 0xCC;
    if (sof) {
      *h = be16(d + i + 5);
      *w = be16(d + i + 7);
      return true;
    }
    if (len < 2) return false;
    i += 2 + len;
  }
  return false;
}

}  // namespace

bool probe_image_size(const uint8_t* d, size_t n, int64_t* w, int64_t* h) {
  if (n >= 24 && std::memcmp(d, "\x89PNG\r\n\x1a\n", 8) == 0 && std::memcmp(d + 12, "IHDR", 4) == 0) {
    *w = be32(d + 16);
    *h = be32(d + 20);
    return true;
  }
  if (n >= 4 && d[0] == 0xFF && d[1] == 0xD8) return probe_jpeg(d, n, w, h);
  if (n >= 10 && (std::memcmp(d, "GIF87a", 6) == 0 || std::memcmp(d, "GIF89a", 6) == 0)) {
    *w = le16(d + 6);
    *h = le16(d + 8);
    return true;
  }
  if (n >= 26 && d[0] == 'B' && d[1] == 'M') {
    *w = int32_t(le32(d + 18));
    int32_t hh = int32_t(le32(d + 22));
    *h = hh < 0 ? -int64_t(hh) : hh;  // negative: stored top-down
    return true;
  }
  if (n >= 30 && std::memcmp(d, "RIFF", 4) == 0 && std::memcmp(d + 8, "WEBP", 4) == 0) {
    if (std::memcmp(d + 12, "VP8X", 4) == 0) {
      *w = 1 + (int64_t(d[24]) | (int64_t(d[25]) << 8) | (int64_t(d[26]) << 16));
      *h = 1 + (int64_t(d[27]) | (int64_t(d[28]) << 8) | (int64_t(d[29]) << 16));
      return true;
    }
    if (std::memcmp(d + 12, "VP8 ", 4) == 0) {
      *w = le16(d + 26) & 0x3FFF;
      *h = le16(d + 28) & 0x3FFF;
      return true;
    }
    if (std::memcmp(d + 12, "VP8L", 4) == 0 && n >= 25) {
      uint32_t b = le32(d + 21);
      *w = 1 + (b & 0x3FFF);
      *h = 1 + ((b >> 14) & 0x3FFF);
      return true;
    }
  }
  return false;
}

}  // namespace xsam_server
