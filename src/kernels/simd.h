// AVX-512 helpers shared by the src/kernels/*.cpp kernels (internal; include only from those files, which are
// compiled for the baseline ISA and enter these functions only after fast_simd_available()).
//
// 16 fp32 lanes are loaded from fp32 or bf16 memory (bf16 is the top half of an fp32: zero-extend and
// shift) and stored back with round-to-nearest-even, exactly as c10::BFloat16(float) rounds.
#pragma once

// GCC 12 warns about the undefined pass-through operand inside its own AVX-512 intrinsics (GCC bug 105593).
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#pragma GCC diagnostic ignored "-Wuninitialized"
#include <immintrin.h>

#include <cstdint>
#include <limits>

#include <c10/util/BFloat16.h>

#include "core/cpu_path.h"

#define XSAM_AVX512 __attribute__((target("avx512f")))

namespace xsam::simd {

// The AVX-512 kernels run when the active CPU path (core/cpu_path.h, capped by XSAM_CPU) reaches avx512.
inline bool available() { return cpu_path_active() >= CpuPath::Avx512; }
// The kernels with native bf16 dot products (VDPBF16PS) need the avx512bf16 path.
inline bool bf16_dot_available() { return cpu_path_active() >= CpuPath::Avx512Bf16; }

XSAM_AVX512 inline __m512 load16(const float* p) { return _mm512_loadu_ps(p); }
XSAM_AVX512 inline __m512 load16(const c10::BFloat16* p) {
  __m256i raw = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p));
  return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(raw), 16));
}

// Round-to-nearest-even to bf16 precision, kept as fp32 (low 16 bits cleared). Finite values and ±inf;
// NaN is not special-cased (never produced by the callers' inputs).
XSAM_AVX512 inline __m512 round_bf16(__m512 v) {
  __m512i bits = _mm512_castps_si512(v);
  __m512i lsb = _mm512_and_si512(_mm512_srli_epi32(bits, 16), _mm512_set1_epi32(1));
  bits = _mm512_add_epi32(bits, _mm512_add_epi32(lsb, _mm512_set1_epi32(0x7FFF)));
  return _mm512_castsi512_ps(_mm512_and_si512(bits, _mm512_set1_epi32(static_cast<int>(0xFFFF0000u))));
}

// Rounding to the storage type T (a no-op for fp32).
XSAM_AVX512 inline __m512 round_to(__m512 v, const float*) { return v; }
XSAM_AVX512 inline __m512 round_to(__m512 v, const c10::BFloat16*) { return round_bf16(v); }
inline float round_scalar(float v, const float*) { return v; }
inline float round_scalar(float v, const c10::BFloat16*) { return static_cast<float>(c10::BFloat16(v)); }

XSAM_AVX512 inline void store16(float* p, __m512 v) { _mm512_storeu_ps(p, v); }
XSAM_AVX512 inline void store16(c10::BFloat16* p, __m512 v) {
  __m512i hi = _mm512_srli_epi32(_mm512_castps_si512(round_bf16(v)), 16);
  _mm256_storeu_si256(reinterpret_cast<__m256i*>(p), _mm512_cvtepi32_epi16(hi));
}

inline float widen(float v) { return v; }
inline float widen(c10::BFloat16 v) { return static_cast<float>(v); }

constexpr float kNegInf = -std::numeric_limits<float>::infinity();

// e^x (Cephes expf: range reduction by ln 2 in two parts, degree-6 polynomial, scale by 2^n), ~1 ulp;
// exactly 0 below -104 and for -inf (where ATen's Sleef expf is 0 or denormal).
XSAM_AVX512 inline __m512 exp16(__m512 x) {
  const __m512 xc = _mm512_min_ps(x, _mm512_set1_ps(88.3762626647949f));
  const __m512 n = _mm512_roundscale_ps(_mm512_mul_ps(xc, _mm512_set1_ps(1.44269504088896341f)),
                                        _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  __m512 r = _mm512_fnmadd_ps(n, _mm512_set1_ps(0.693359375f), xc);
  r = _mm512_fnmadd_ps(n, _mm512_set1_ps(-2.12194440e-4f), r);
  __m512 p = _mm512_set1_ps(1.9875691500e-4f);
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.3981999507e-3f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(8.3334519073e-3f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(4.1665795894e-2f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.6666665459e-1f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(5.0000001201e-1f));
  p = _mm512_fmadd_ps(p, _mm512_mul_ps(r, r), _mm512_add_ps(r, _mm512_set1_ps(1.0f)));
  const __m512 y = _mm512_scalef_ps(p, n);
  const __mmask16 tiny = _mm512_cmp_ps_mask(x, _mm512_set1_ps(-104.0f), _CMP_LT_OQ);
  return _mm512_mask_blend_ps(tiny, y, _mm512_setzero_ps());
}

// softmax of v[0, n) in place (fp32), v padded with room for a multiple of 16; returns nothing. As ATen:
// max, e = exp(v - max), sum, e · (1 / sum).
XSAM_AVX512 inline void softmax_row(float* v, int64_t n) {
  const int64_t n16 = (n + 15) / 16 * 16;
  for (int64_t k = n; k < n16; ++k) v[k] = kNegInf;  // padding: exp(-inf) = 0
  __m512 mx = _mm512_set1_ps(kNegInf);
  for (int64_t k = 0; k < n16; k += 16) mx = _mm512_max_ps(mx, _mm512_loadu_ps(v + k));
  const __m512 m = _mm512_set1_ps(_mm512_reduce_max_ps(mx));
  __m512 sum = _mm512_setzero_ps();
  for (int64_t k = 0; k < n16; k += 16) {
    const __m512 e = exp16(_mm512_sub_ps(_mm512_loadu_ps(v + k), m));
    _mm512_storeu_ps(v + k, e);
    sum = _mm512_add_ps(sum, e);
  }
  const __m512 inv = _mm512_set1_ps(1.0f / _mm512_reduce_add_ps(sum));
  for (int64_t k = 0; k < n16; k += 16) _mm512_storeu_ps(v + k, _mm512_mul_ps(_mm512_loadu_ps(v + k), inv));
}


}  // namespace xsam::simd
