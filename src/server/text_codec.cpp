#include "server/text_codec.h"

namespace xsam_server {

namespace {

const char kAlphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

int b64_value(char c) {
  if (c >= 'A' && c <= 'Z') return c - 'A';
  if (c >= 'a' && c <= 'z') return c - 'a' + 26;
  if (c >= '0' && c <= '9') return c - '0' + 52;
  if (c == '+' || c == '-') return 62;  // '-' and '_': the URL-safe alphabet
  if (c == '/' || c == '_') return 63;
  return -1;
}

// Length of the UTF-8 sequence starting with byte b (0: not a valid first byte).
int sequence_length(unsigned char b) {
  if (b < 0x80) return 1;
  if (b >= 0xC2 && b <= 0xDF) return 2;
  if (b >= 0xE0 && b <= 0xEF) return 3;
  if (b >= 0xF0 && b <= 0xF4) return 4;
  return 0;
}

// Whether s[i..i+n) is a valid sequence of length n (no overlongs, no surrogates, <= U+10FFFF);
// `available` bytes may be fewer than n: then only those are checked (a possible prefix).
bool valid_sequence(const unsigned char* p, int n, size_t available) {
  for (int k = 1; k < n && size_t(k) < available; ++k) {
    unsigned char c = p[k];
    if ((c & 0xC0) != 0x80) return false;
    if (k == 1) {
      if (p[0] == 0xE0 && c < 0xA0) return false;  // overlong
      if (p[0] == 0xED && c > 0x9F) return false;  // surrogates
      if (p[0] == 0xF0 && c < 0x90) return false;  // overlong
      if (p[0] == 0xF4 && c > 0x8F) return false;  // > U+10FFFF
    }
  }
  return true;
}

}  // namespace

std::string base64_encode(const uint8_t* d, size_t n) {
  std::string out;
  out.reserve((n + 2) / 3 * 4);
  size_t i = 0;
  for (; i + 3 <= n; i += 3) {
    uint32_t v = (uint32_t(d[i]) << 16) | (uint32_t(d[i + 1]) << 8) | d[i + 2];
    out += kAlphabet[v >> 18];
    out += kAlphabet[(v >> 12) & 63];
    out += kAlphabet[(v >> 6) & 63];
    out += kAlphabet[v & 63];
  }
  if (i < n) {
    uint32_t v = uint32_t(d[i]) << 16;
    if (i + 1 < n) v |= uint32_t(d[i + 1]) << 8;
    out += kAlphabet[v >> 18];
    out += kAlphabet[(v >> 12) & 63];
    out += i + 1 < n ? kAlphabet[(v >> 6) & 63] : '=';
    out += '=';
  }
  return out;
}

bool base64_decode(const std::string& text, std::string* out) {
  size_t start = 0;
  if (text.compare(0, 5, "data:") == 0) {
    size_t comma = text.find(',');
    if (comma == std::string::npos || text.rfind(";base64", comma) == std::string::npos) return false;
    start = comma + 1;
  }
  out->clear();
  out->reserve((text.size() - start) / 4 * 3);
  uint32_t acc = 0;
  int bits = 0;
  bool padding = false;
  for (size_t i = start; i < text.size(); ++i) {
    char c = text[i];
    if (c == ' ' || c == '\n' || c == '\r' || c == '\t') continue;
    if (c == '=') {
      padding = true;
      continue;
    }
    int v = b64_value(c);
    if (v < 0 || padding) return false;
    acc = (acc << 6) | uint32_t(v);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out->push_back(static_cast<char>((acc >> bits) & 0xFF));
    }
  }
  return bits < 6;  // a lone trailing character cannot be a whole byte
}

size_t utf8_error_offset(const std::string& s) {
  const unsigned char* p = reinterpret_cast<const unsigned char*>(s.data());
  size_t i = 0;
  while (i < s.size()) {
    int n = sequence_length(p[i]);
    if (n == 0 || i + n > s.size() || !valid_sequence(p + i, n, size_t(n))) return i;
    i += n;
  }
  return std::string::npos;
}

}  // namespace xsam_server
