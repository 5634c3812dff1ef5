// GEMV for the avx2 path (AVX2 + FMA; bf16 weights widened in registers).
//
// One weight row at a time: a single sequential stream per thread, which the hardware prefetcher follows
// at full speed; the row stays in L1 while tiles of up to four input rows use it. Two 8-lane accumulators
// per input row (k mod 16 < 8 and ≥ 8) hide the FMA latency and fit AVX2's 16 registers for four rows.
#include "kernels/gemv.h"

#include <algorithm>

#include "kernels/simd_avx2.h"

namespace xsam::gemv {

namespace {

using simd2::load8;

template <int R, class W>
XSAM_AVX2 void tile(const Rows& a, const W* wn, int64_t n, int64_t m0) {
  __m256 lo[R], hi[R];
  #pragma GCC unroll 4
  for (int r = 0; r < R; ++r) lo[r] = hi[r] = _mm256_setzero_ps();
  const int64_t K = a.K, k16 = K / 16 * 16;
  const float* x = a.x + m0 * K;
  for (int64_t k = 0; k < k16; k += 16) {
    const __m256 w0 = load8(wn + k), w1 = load8(wn + k + 8);
    #pragma GCC unroll 4
    for (int r = 0; r < R; ++r) {
      lo[r] = _mm256_fmadd_ps(w0, _mm256_loadu_ps(x + r * K + k), lo[r]);
      hi[r] = _mm256_fmadd_ps(w1, _mm256_loadu_ps(x + r * K + k + 8), hi[r]);
    }
  }
  #pragma GCC unroll 4
  for (int r = 0; r < R; ++r) {
    float s = simd2::hsum8(_mm256_add_ps(lo[r], hi[r]));
    for (int64_t t = k16; t < K; ++t) s += static_cast<float>(wn[t]) * x[r * K + t];
    a.out[(m0 + r) * a.N + n] = a.bias ? s + a.bias[n] : s;
  }
}

template <class W>
void run(const Rows& a, const W* w, int64_t n0, int64_t n1) {
  for (int64_t n = n0; n < n1; ++n) {
    const W* wn = w + n * a.K;
    for (int64_t m0 = 0; m0 < a.M; m0 += 4) {
      switch (std::min<int64_t>(4, a.M - m0)) {
        case 1: tile<1>(a, wn, n, m0); break;
        case 2: tile<2>(a, wn, n, m0); break;
        case 3: tile<3>(a, wn, n, m0); break;
        default: tile<4>(a, wn, n, m0); break;
      }
    }
  }
}

}  // namespace

void avx2(const Rows& a, const float* w, int64_t n0, int64_t n1) { run(a, w, n0, n1); }
void avx2(const Rows& a, const c10::BFloat16* w, int64_t n0, int64_t n1) { run(a, w, n0, n1); }

}  // namespace xsam::gemv
