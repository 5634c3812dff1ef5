// Bytes ↔ text for the API: base64 (images and PNGs travel inside JSON) and UTF-8 checks (every text
// field must be valid UTF-8; streamed token pieces may split a character and are re-joined).
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

// Joins streamed pieces into whole UTF-8 characters: push() returns the text that is complete so far
// and keeps an unfinished character for the next piece; invalid bytes become U+FFFD.
class Utf8Joiner {
 public:
  std::string push(const std::string& piece);
  std::string flush();  // whatever is left (an unfinished character becomes U+FFFD)

 private:
  std::string pending_;
};

}  // namespace xsam_server
