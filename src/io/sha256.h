// SHA-256 (FIPS 180-4), streaming. Used for checksums.json of model directories
// (docs/design/decisions.md#corrupt-weights).
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>

namespace xsam {

class Sha256 {
 public:
  Sha256();
  void update(const void* data, size_t n);
  std::string hex_digest();  // finalises; call once

 private:
  void block(const uint8_t* p);
  uint32_t h_[8];
  uint8_t buf_[64];
  size_t buf_len_ = 0;
  uint64_t total_ = 0;
};

// sha256 of a whole file, hex. Throws xsam::Failure(Io) naming the file.
std::string sha256_file(const std::string& path);

}  // namespace xsam
