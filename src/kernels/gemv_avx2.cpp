// GEMV for the avx2 path (AVX2 + FMA; bf16 weights widened in registers).
//
// One weight row at a time: a single sequential stream per thread, which the hardware prefetcher follows
// at full speed; the row stays in L1 while tiles of up to two input rows use it. Four 8-lane accumulators
// per input row (k mod 32 in four groups of 8) keep four FMA chains in flight — with two, one decoding row
// was bound by the FMA latency at about half of what memory gives — and fit AVX2's 16 registers for two rows.
#include "kernels/gemv.h"

#include <algorithm>

#include "kernels/simd_avx2.h"

namespace xsam::gemv {

namespace {

using simd2::load8;

template <int R, class W>
XSAM_AVX2 void tile(const Rows& a, const W* wn, int64_t n, int64_t m0) {
  __m256 acc[R][4];
  #pragma GCC unroll 4
  for (int r = 0; r < R; ++r)
    #pragma GCC unroll 4
    for (int j = 0; j < 4; ++j) acc[r][j] = _mm256_setzero_ps();
  const int64_t K = a.K, k32 = K / 32 * 32, k8 = K / 8 * 8;
  const float* x = a.x + m0 * K;
  for (int64_t k = 0; k < k32; k += 32) {
    __m256 w[4];
    #pragma GCC unroll 4
    for (int j = 0; j < 4; ++j) w[j] = load8(wn + k + 8 * j);
    #pragma GCC unroll 4
    for (int r = 0; r < R; ++r)
      #pragma GCC unroll 4
      for (int j = 0; j < 4; ++j) acc[r][j] = _mm256_fmadd_ps(w[j], _mm256_loadu_ps(x + r * K + k + 8 * j), acc[r][j]);
  }
  for (int64_t k = k32; k < k8; k += 8) {
    const __m256 w = load8(wn + k);
    #pragma GCC unroll 4
    for (int r = 0; r < R; ++r) acc[r][0] = _mm256_fmadd_ps(w, _mm256_loadu_ps(x + r * K + k), acc[r][0]);
  }
  #pragma GCC unroll 4
  for (int r = 0; r < R; ++r) {
    const __m256 sum = _mm256_add_ps(_mm256_add_ps(acc[r][0], acc[r][1]), _mm256_add_ps(acc[r][2], acc[r][3]));
    float s = simd2::hsum8(sum);
    for (int64_t t = k8; t < K; ++t) s += static_cast<float>(wn[t]) * x[r * K + t];
    a.out[(m0 + r) * a.N + n] = a.bias ? s + a.bias[n] : s;
  }
}

template <class W>
void run(const Rows& a, const W* w, int64_t n0, int64_t n1) {
  for (int64_t n = n0; n < n1; ++n) {
    const W* wn = w + n * a.K;
    int64_t m0 = 0;
    for (; m0 + 2 <= a.M; m0 += 2) tile<2>(a, wn, n, m0);
    if (m0 < a.M) tile<1>(a, wn, n, m0);
  }
}

}  // namespace

void avx2(const Rows& a, const float* w, int64_t n0, int64_t n1) { run(a, w, n0, n1); }
void avx2(const Rows& a, const c10::BFloat16* w, int64_t n0, int64_t n1) { run(a, w, n0, n1); }

}  // namespace xsam::gemv
