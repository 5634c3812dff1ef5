// 64-bit FNV-1a, fed 8 bytes at a time (then the tail byte by byte): a fast key for caches and routing,
// not a security boundary.
#pragma once
#include <cstddef>
#include <cstdint>
#include <cstring>

namespace xsam {

constexpr uint64_t kFnv1aOffset = 1469598103934665603ull;
constexpr uint64_t kFnv1aPrime = 1099511628211ull;

inline uint64_t fnv1a_hash(const void* data, size_t size, uint64_t hash = kFnv1aOffset) {
  const auto* p = static_cast<const uint8_t*>(data);
  size_t i = 0;
  for (; i + 8 <= size; i += 8) {
    uint64_t word;
    std::memcpy(&word, p + i, 8);
    hash = (hash ^ word) * kFnv1aPrime;
  }
  for (; i < size; ++i) hash = (hash ^ p[i]) * kFnv1aPrime;
  return hash;
}

}  // namespace xsam
