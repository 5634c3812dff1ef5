// Bytes ↔ text for the API: base64 (images and PNGs travel inside JSON) and UTF-8 checks (every text
// field must be valid UTF-8).
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>

namespace xsam_server {

std::string base64_encode(const uint8_t* data, size_t size);
inline std::string base64_encode(const std::string& s) {
  return base64_encode(reinterpret_cast<const uint8_t*>(s.data()), s.size());
}
// Standard alphabet, padding optional, whitespace ignored; a "data:...;base64," prefix is skipped.
// Returns false on any other character.
bool base64_decode(const std::string& text, std::string* out);

// Byte offset of the first invalid UTF-8 sequence, or npos when the text is valid.
size_t utf8_error_offset(const std::string& s);

}  // namespace xsam_server
