#include "models/fast_linear.h"

#include <cstring>
#include <vector>

#include <ATen/ATen.h>
#include <ATen/Parallel.h>

#include "models/fast_simd.h"

namespace xsam {

namespace {

using namespace simd;

// Output rows [n0, n1) for R input rows (fp32 copies in xs, row r at xs + r·K). Two accumulators per
// input row keep two FMA chains in flight; the weight row is read exactly once.
template <int R, class W>
XSAM_AVX512 void rows_kernel(const W* w, const float* xs, int64_t K, int64_t n0, int64_t n1,
                                                    float* out /* [R, N] */, int64_t N, const float* bias) {
  const int64_t k16 = K / 16 * 16, k32 = K / 32 * 32;
  for (int64_t n = n0; n < n1; ++n) {
    const W* wr = w + n * K;
    __m512 a0[R], a1[R];
    for (int r = 0; r < R; ++r) a0[r] = a1[r] = _mm512_setzero_ps();
    int64_t k = 0;
    for (; k < k32; k += 32) {
      const __m512 w0 = load16(wr + k), w1 = load16(wr + k + 16);
      for (int r = 0; r < R; ++r) {
        a0[r] = _mm512_fmadd_ps(w0, _mm512_loadu_ps(xs + r * K + k), a0[r]);
        a1[r] = _mm512_fmadd_ps(w1, _mm512_loadu_ps(xs + r * K + k + 16), a1[r]);
      }
    }
    for (; k < k16; k += 16) {
      const __m512 w0 = load16(wr + k);
      for (int r = 0; r < R; ++r) a0[r] = _mm512_fmadd_ps(w0, _mm512_loadu_ps(xs + r * K + k), a0[r]);
    }
    for (int r = 0; r < R; ++r) {
      float s = _mm512_reduce_add_ps(_mm512_add_ps(a0[r], a1[r]));
      for (int64_t t = k; t < K; ++t) s += widen(wr[t]) * xs[r * K + t];
      out[r * N + n] = bias ? s + bias[n] : s;
    }
  }
}

template <class W>
void run_rows(int rows, const W* w, const float* xs, int64_t K, int64_t n0, int64_t n1, float* out, int64_t N,
              const float* bias) {
  switch (rows) {
    case 1: rows_kernel<1>(w, xs, K, n0, n1, out, N, bias); break;
    case 2: rows_kernel<2>(w, xs, K, n0, n1, out, N, bias); break;
    case 3: rows_kernel<3>(w, xs, K, n0, n1, out, N, bias); break;
    default: rows_kernel<4>(w, xs, K, n0, n1, out, N, bias); break;
  }
}

}  // namespace

bool fast_linear_applies(const torch::Tensor& x, const torch::Tensor& w) {
  if (!x.defined() || !w.defined() || !x.device().is_cpu() || !w.device().is_cpu()) return false;
  const auto dt = w.scalar_type();
  if ((dt != at::kBFloat16 && dt != at::kFloat) || x.scalar_type() != dt) return false;
  if (w.dim() != 2 || !w.is_contiguous() || x.dim() < 1 || x.size(-1) != w.size(1) || w.size(1) == 0) return false;
  const int64_t rows = x.numel() / w.size(1);
  return rows >= 1 && rows <= kFastLinearMaxRows && simd::available();
}

torch::Tensor fast_linear(const torch::Tensor& x, const torch::Tensor& w, const torch::Tensor& bias) {
  if (!fast_linear_applies(x, w) || (bias.defined() && (bias.scalar_type() != w.scalar_type() || !bias.device().is_cpu())))
    return at::linear(x, w, bias);
  const int64_t K = w.size(1), N = w.size(0), rows = x.numel() / K;
  // Inputs and bias widened to fp32 once (exact for bf16); results accumulate in fp32.
  auto xs = x.reshape({rows, K}).to(at::kFloat).contiguous();
  torch::Tensor b32 = bias.defined() ? bias.to(at::kFloat).contiguous() : torch::Tensor();
  auto acc = at::empty({rows, N}, x.options().dtype(at::kFloat));
  const float* xp = xs.data_ptr<float>();
  const float* bp = b32.defined() ? b32.data_ptr<float>() : nullptr;
  float* op = acc.data_ptr<float>();
  const int r = static_cast<int>(rows);
  // Contiguous blocks of output rows per thread: each thread streams its own part of the weight.
  at::parallel_for(0, N, 64, [&](int64_t n0, int64_t n1) {
    if (w.scalar_type() == at::kBFloat16)
      run_rows(r, w.data_ptr<c10::BFloat16>(), xp, K, n0, n1, op, N, bp);
    else
      run_rows(r, w.data_ptr<float>(), xp, K, n0, n1, op, N, bp);
  });
  std::vector<int64_t> shape(x.sizes().begin(), x.sizes().end());
  shape.back() = N;
  // One rounding to the output dtype (a no-op for fp32).
  return acc.to(w.scalar_type()).view(shape);
}

}  // namespace xsam
