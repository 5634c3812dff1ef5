// AVX2 + FMA helpers shared by the avx2 kernels (internal; include only from src/kernels/*.cpp, which are
// compiled for the baseline ISA and enter these functions only on the avx2 path or above).
//
// 8 fp32 lanes are loaded from fp32 or bf16 memory (bf16 is the top half of an fp32: zero-extend and
// shift left by 16, which is exact).
#pragma once

#include <immintrin.h>

#include <c10/util/BFloat16.h>

#define XSAM_AVX2 __attribute__((target("avx2,fma,f16c")))

namespace xsam::simd2 {

XSAM_AVX2 inline __m256 load8(const float* p) { return _mm256_loadu_ps(p); }
XSAM_AVX2 inline __m256 load8(const c10::BFloat16* p) {
  const __m128i raw = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p));
  return _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(raw), 16));
}

// The 8 lanes summed as ((l0+l4) + (l2+l6)) + ((l1+l5) + (l3+l7)): a fixed order.
XSAM_AVX2 inline float hsum8(__m256 v) {
  __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  s = _mm_add_ps(s, _mm_movehl_ps(s, s));
  s = _mm_add_ss(s, _mm_movehdup_ps(s));
  return _mm_cvtss_f32(s);
}

}  // namespace xsam::simd2
