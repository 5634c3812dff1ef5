#include "kernels/elementwise.h"

#include <cmath>

#include <ATen/ATen.h>
#include <ATen/Parallel.h>

#include "core/error.h"
#include "kernels/simd.h"

namespace xsam {

namespace {

using namespace simd;

template <class T>
XSAM_AVX512 void rms_rows(const T* x, const T* w, T* out, int64_t r0, int64_t r1, int64_t n, float eps) {
  for (int64_t r = r0; r < r1; ++r) {
    const T* xr = x + r * n;
    T* o = out + r * n;
    __m512 acc = _mm512_setzero_ps();
    int64_t i = 0;
    for (; i + 16 <= n; i += 16) {
      const __m512 v = load16(xr + i);
      acc = _mm512_add_ps(acc, _mm512_mul_ps(v, v));  // pow(2) then sum: no fused multiply-add
    }
    float ss = _mm512_reduce_add_ps(acc);
    for (; i < n; ++i) ss += widen(xr[i]) * widen(xr[i]);
    const float inv = 1.0f / std::sqrt(ss / static_cast<float>(n) + eps);
    const __m512 iv = _mm512_set1_ps(inv);
    for (i = 0; i + 16 <= n; i += 16) {
      const __m512 normed = round_to(_mm512_mul_ps(load16(xr + i), iv), xr);
      store16(o + i, _mm512_mul_ps(load16(w + i), normed));
    }
    for (; i < n; ++i) o[i] = static_cast<T>(widen(w[i]) * round_scalar(widen(xr[i]) * inv, xr));
  }
}

// silu(g) = g / (1 + exp(-g)), as ATen's vectorized kernel computes it.
XSAM_AVX512 inline __m512 silu16(__m512 g) {
  const __m512 e = exp16(_mm512_sub_ps(_mm512_setzero_ps(), g));
  return _mm512_div_ps(g, _mm512_add_ps(_mm512_set1_ps(1.0f), e));
}

template <class T>
XSAM_AVX512 void silu_mul_rows(const T* gu, T* out, int64_t r0, int64_t r1, int64_t inter) {
  for (int64_t r = r0; r < r1; ++r) {
    const T* g = gu + r * 2 * inter;
    const T* u = g + inter;
    T* o = out + r * inter;
    int64_t i = 0;
    for (; i + 16 <= inter; i += 16) {
      const __m512 s = round_to(silu16(load16(g + i)), g);
      store16(o + i, _mm512_mul_ps(load16(u + i), s));
    }
    for (; i < inter; ++i) {
      const float gv = widen(g[i]);
      o[i] = static_cast<T>(widen(u[i]) * round_scalar(gv / (1.0f + std::exp(-gv)), g));
    }
  }
}

bool takes(const torch::Tensor& x) {
  return simd::available() && x.device().is_cpu() && (x.scalar_type() == at::kFloat || x.scalar_type() == at::kBFloat16);
}

int64_t grain_rows(int64_t width) { return std::max<int64_t>(1, (int64_t(1) << 15) / std::max<int64_t>(1, width)); }

}  // namespace

torch::Tensor fast_rms_norm(const torch::Tensor& x_in, const torch::Tensor& weight, double eps) {
  const int64_t n = x_in.size(-1);
  if (!takes(x_in) || weight.scalar_type() != x_in.scalar_type() || weight.numel() != n) {
    auto x32 = x_in.to(at::kFloat);
    auto normed = x32 * at::rsqrt(x32.pow(2).mean(-1, /*keepdim=*/true) + eps);
    return weight * normed.to(x_in.scalar_type());
  }
  auto x = x_in.contiguous();
  auto w = weight.contiguous();
  auto out = at::empty_like(x);
  const int64_t rows = x.numel() / std::max<int64_t>(1, n);
  const float e = static_cast<float>(eps);
  at::parallel_for(0, rows, grain_rows(n), [&](int64_t r0, int64_t r1) {
    if (x.scalar_type() == at::kBFloat16)
      rms_rows(x.data_ptr<c10::BFloat16>(), w.data_ptr<c10::BFloat16>(), out.data_ptr<c10::BFloat16>(), r0, r1, n, e);
    else
      rms_rows(x.data_ptr<float>(), w.data_ptr<float>(), out.data_ptr<float>(), r0, r1, n, e);
  });
  return out;
}

torch::Tensor fast_silu_mul(const torch::Tensor& gate_up) {
  const int64_t inter = gate_up.size(-1) / 2;
  if (!takes(gate_up)) return gate_up.narrow(-1, inter, inter) * at::silu(gate_up.narrow(-1, 0, inter));
  auto gu = gate_up.contiguous();
  std::vector<int64_t> shape(gu.sizes().begin(), gu.sizes().end());
  shape.back() = inter;
  auto out = at::empty(shape, gu.options());
  const int64_t rows = gu.numel() / std::max<int64_t>(1, 2 * inter);
  at::parallel_for(0, rows, grain_rows(inter), [&](int64_t r0, int64_t r1) {
    if (gu.scalar_type() == at::kBFloat16)
      silu_mul_rows(gu.data_ptr<c10::BFloat16>(), out.data_ptr<c10::BFloat16>(), r0, r1, inter);
    else
      silu_mul_rows(gu.data_ptr<float>(), out.data_ptr<float>(), r0, r1, inter);
  });
  return out;
}

}  // namespace xsam
