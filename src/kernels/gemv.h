// The few-row product y = x·Wᵀ (+ bias), one implementation per CPU path (internal to src/kernels/;
// linear.h is the interface the models use).
//
// Every implementation reads each weight row once per call and multiplies it with every input row while
// it is in L1, accumulates in fp32, and sums each output in an order that depends only on K — never on how
// many rows the call has — so that a prompt's continuation gives the same numbers row by row as decoding.
// Inputs are fp32 (bf16 inputs are widened first, which is exact); weights are fp32 or bf16, widened in
// registers. `out` is [M, N] fp32; only columns [n0, n1) are written, so threads split the weight.
//
// Paths: generic (portable C++, the reference), avx2 (AVX2 + FMA), avx512 (AVX-512F) and, for bf16 weights
// and inputs, avx512bf16 (VDPBF16PS: bf16 pairs multiplied exactly, fp32 accumulation). An ARM64 NEON path
// would be one more file, gemv_neon.cpp, with the same two overloads, chosen in linear.cpp.
#pragma once
#include <cstdint>

#include <c10/util/BFloat16.h>

namespace xsam::gemv {

struct Rows {
  int64_t M = 0, K = 0, N = 0;   // input rows, reduction length, weight rows (= output columns)
  const float* x = nullptr;      // [M, K]
  float* out = nullptr;          // [M, N]
  const float* bias = nullptr;   // [N] or null
};

void generic(const Rows& a, const float* w, int64_t n0, int64_t n1);
void generic(const Rows& a, const c10::BFloat16* w, int64_t n0, int64_t n1);
void avx2(const Rows& a, const float* w, int64_t n0, int64_t n1);
void avx2(const Rows& a, const c10::BFloat16* w, int64_t n0, int64_t n1);
void avx512(const Rows& a, const float* w, int64_t n0, int64_t n1);
void avx512(const Rows& a, const c10::BFloat16* w, int64_t n0, int64_t n1);
// bf16 weights × bf16 inputs `xb` ([M, K]; a.x unused) with native bf16 dot products.
void avx512_bf16_dot(const Rows& a, const c10::BFloat16* w, const c10::BFloat16* xb, int64_t n0, int64_t n1);

}  // namespace xsam::gemv
