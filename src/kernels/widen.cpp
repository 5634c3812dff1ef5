#include "kernels/widen.h"

#include <ATen/Parallel.h>

#include "core/cpu_path.h"
#include "kernels/simd.h"
#include "kernels/simd_avx2.h"

namespace xsam {

namespace {

// The reference: what c10::BFloat16 → float does, one element at a time (compilers vectorise it).
void widen_generic(const c10::BFloat16* src, float* dst, int64_t n) {
  for (int64_t i = 0; i < n; ++i) dst[i] = static_cast<float>(src[i]);
}

XSAM_AVX2 void widen_avx2(const c10::BFloat16* src, float* dst, int64_t n) {
  const int64_t n8 = n / 8 * 8;
  for (int64_t i = 0; i < n8; i += 8) _mm256_storeu_ps(dst + i, simd2::load8(src + i));
  widen_generic(src + n8, dst + n8, n - n8);
}

XSAM_AVX512 void widen_avx512(const c10::BFloat16* src, float* dst, int64_t n) {
  const int64_t n16 = n / 16 * 16;
  for (int64_t i = 0; i < n16; i += 16) _mm512_storeu_ps(dst + i, simd::load16(src + i));
  widen_generic(src + n16, dst + n16, n - n16);
}

void widen_serial(const c10::BFloat16* src, float* dst, int64_t n) {
  const CpuPath path = cpu_path_active();
  if (path >= CpuPath::Avx512)
    widen_avx512(src, dst, n);
  else if (path >= CpuPath::Avx2)
    widen_avx2(src, dst, n);
  else
    widen_generic(src, dst, n);
}

}  // namespace

void widen_bf16(const c10::BFloat16* src, float* dst, int64_t n) {
  // 64 Ki elements a task: large enough that a thread's start-up is noise, small enough to split a
  // single weight matrix over every thread.
  constexpr int64_t kGrain = int64_t{1} << 16;
  if (n <= kGrain) return widen_serial(src, dst, n);
  at::parallel_for(0, n, kGrain, [&](int64_t i0, int64_t i1) { widen_serial(src + i0, dst + i0, i1 - i0); });
}

void widen_bf16_rows(const torch::Tensor& src, int64_t row0, int64_t rows, float* out) {
  const int64_t cols = src.size(1);
  widen_bf16(src.data_ptr<c10::BFloat16>() + row0 * cols, out, rows * cols);
}

}  // namespace xsam
