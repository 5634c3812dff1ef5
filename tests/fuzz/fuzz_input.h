// A tiny stand-in for libFuzzer's FuzzedDataProvider (which ships with clang only: the corpus-replay
// executables are built with the normal compiler). Reads integers, floats and strings from the front of
// the fuzz input; once the bytes run out every read returns zeros / empty, so any input is valid.
#pragma once
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

namespace xsam::fuzz {

class Input {
 public:
  Input(const uint8_t* data, size_t size) : p_(data), n_(size) {}

  size_t remaining() const { return n_; }

  uint8_t byte() {
    if (n_ == 0) return 0;
    --n_;
    return *p_++;
  }
  bool flag() { return byte() & 1; }
  uint32_t u32() {
    uint32_t v = 0;
    for (int i = 0; i < 4; ++i) v = (v << 8) | byte();
    return v;
  }
  // Uniform-ish integer in [lo, hi] (inclusive).
  int64_t range(int64_t lo, int64_t hi) {
    if (hi <= lo) return lo;
    uint64_t span = static_cast<uint64_t>(hi - lo) + 1;
    return lo + static_cast<int64_t>(u32() % span);
  }
  // Raw IEEE bits: NaN, infinities and denormals included on purpose.
  float raw_float() {
    uint32_t bits = u32();
    float f;
    std::memcpy(&f, &bits, 4);
    return f;
  }
  // Mostly sensible values in [lo, hi], sometimes raw bits (NaN, inf, huge).
  float float_in(float lo, float hi) {
    uint8_t sel = byte();
    if (sel < 16) return raw_float();
    return lo + (hi - lo) * (static_cast<float>(u32() % 100001) / 100000.0f);
  }
  // A string of up to max_len bytes: a length byte, then the bytes (may contain anything but NUL when
  // `c_string`, since C strings end at the first NUL).
  std::string str(size_t max_len, bool c_string = true) {
    size_t len = std::min<size_t>(byte(), max_len);
    std::string s;
    for (size_t i = 0; i < len && n_ > 0; ++i) {
      char c = static_cast<char>(byte());
      if (c_string && c == '\0') c = ' ';
      s.push_back(c);
    }
    return s;
  }
  std::vector<uint8_t> bytes(size_t count) {
    std::vector<uint8_t> out(count, 0);
    size_t take = std::min(count, n_);
    if (take) std::memcpy(out.data(), p_, take);
    p_ += take;
    n_ -= take;
    return out;
  }
  // Whatever is left.
  std::vector<uint8_t> rest() { return bytes(n_); }

 private:
  const uint8_t* p_;
  size_t n_;
};

}  // namespace xsam::fuzz
