// The portable GEMV: 16 independent fp32 partial sums per output (lanes k mod 16), summed pairwise at the
// end, then the tail. Plain C++ that compilers vectorise for whatever the build targets; the reference the
// SIMD paths are tested against (same structure, other lane counts).
#include "kernels/gemv.h"

namespace xsam::gemv {

namespace {

constexpr int kLanes = 16;

inline float widen(float v) { return v; }
inline float widen(c10::BFloat16 v) { return static_cast<float>(v); }

template <class W>
float dot(const W* w, const float* x, int64_t K) {
  float acc[kLanes] = {};
  const int64_t k16 = K / kLanes * kLanes;
  for (int64_t k = 0; k < k16; k += kLanes)
    for (int j = 0; j < kLanes; ++j) acc[j] += widen(w[k + j]) * x[k + j];
  for (int width = kLanes / 2; width >= 1; width /= 2)
    for (int j = 0; j < width; ++j) acc[j] += acc[j + width];
  float s = acc[0];
  for (int64_t k = k16; k < K; ++k) s += widen(w[k]) * x[k];
  return s;
}

template <class W>
void run(const Rows& a, const W* w, int64_t n0, int64_t n1) {
  for (int64_t n = n0; n < n1; ++n)
    for (int64_t m = 0; m < a.M; ++m) {
      const float s = dot(w + n * a.K, a.x + m * a.K, a.K);
      a.out[m * a.N + n] = a.bias ? s + a.bias[n] : s;
    }
}

}  // namespace

void generic(const Rows& a, const float* w, int64_t n0, int64_t n1) { run(a, w, n0, n1); }
void generic(const Rows& a, const c10::BFloat16* w, int64_t n0, int64_t n1) { run(a, w, n0, n1); }

}  // namespace xsam::gemv
