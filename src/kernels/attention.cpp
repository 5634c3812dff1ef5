#include "kernels/attention.h"

#include <algorithm>
#include <string>
#include <vector>

#include <ATen/ATen.h>
#include <ATen/Parallel.h>

#include "core/error.h"
#include "kernels/simd.h"

namespace xsam {

namespace {

using namespace simd;

// ---- RoPE + split

// out = R(R(x·cos) + R(rot·sin)) with rot = (-x[half:], x[:half]), R = rounding to T (none for fp32);
// the two products and the sum are separate IEEE operations, as the unfused ATen ops compute them.
template <class T>
XSAM_AVX512 void rope_head(const T* x, const T* c, const T* s, T* out, int64_t d) {
  const int64_t half = d / 2;
  int64_t i = 0;
  for (; i + 16 <= half; i += 16) {
    const __m512 lo = load16(x + i), hi = load16(x + half + i);
    const __m512 a0 = round_to(_mm512_mul_ps(lo, load16(c + i)), x);
    const __m512 b0 = round_to(_mm512_mul_ps(_mm512_sub_ps(_mm512_setzero_ps(), hi), load16(s + i)), x);
    store16(out + i, _mm512_add_ps(a0, b0));
    const __m512 a1 = round_to(_mm512_mul_ps(hi, load16(c + half + i)), x);
    const __m512 b1 = round_to(_mm512_mul_ps(lo, load16(s + half + i)), x);
    store16(out + half + i, _mm512_add_ps(a1, b1));
  }
  for (; i < half; ++i) {
    const float lo = widen(x[i]), hi = widen(x[half + i]);
    out[i] = static_cast<T>(round_scalar(lo * widen(c[i]), x) + round_scalar(-hi * widen(s[i]), x));
    out[half + i] = static_cast<T>(round_scalar(hi * widen(c[half + i]), x) + round_scalar(lo * widen(s[half + i]), x));
  }
}

template <class T>
XSAM_AVX512 void rope_split_rows(const T* qkv, const T* cos, const T* sin, T* q, T* k, T* v, int64_t t0, int64_t t1,
                                 int64_t T_, int64_t heads, int64_t kv, int64_t d) {
  const int64_t width = (heads + 2 * kv) * d;
  for (int64_t t = t0; t < t1; ++t) {
    const T* row = qkv + t * width;
    const T* c = cos + t * d;
    const T* s = sin + t * d;
    for (int64_t h = 0; h < heads; ++h) rope_head(row + h * d, c, s, q + (h * T_ + t) * d, d);
    for (int64_t h = 0; h < kv; ++h) rope_head(row + (heads + h) * d, c, s, k + (h * T_ + t) * d, d);
    for (int64_t h = 0; h < kv; ++h)
      std::copy(row + (heads + kv + h) * d, row + (heads + kv + h + 1) * d, v + (h * T_ + t) * d);
  }
}

// ---- decode attention

// Σ over d of a·b with fp32 accumulation (a already fp32).
template <class T>
XSAM_AVX512 inline float dot(const float* a, const T* b, int64_t d) {
  __m512 acc = _mm512_setzero_ps();
  int64_t i = 0;
  for (; i + 16 <= d; i += 16) acc = _mm512_fmadd_ps(_mm512_loadu_ps(a + i), load16(b + i), acc);
  float s = _mm512_reduce_add_ps(acc);
  for (; i < d; ++i) s += a[i] * widen(b[i]);
  return s;
}

template <class T>
XSAM_AVX512 void decode_rows(const T* q, const T* keys, const T* values, T* out, int64_t task0, int64_t task1,
                             int64_t R, int64_t heads, int64_t groups, int64_t K, int64_t d, int64_t k_head_stride,
                             int64_t k_row_stride, int64_t v_head_stride, int64_t v_row_stride, int64_t q_pos0,
                             int64_t k_pos0, int64_t window, float scale_div) {
  std::vector<float> scratch((K + 15) / 16 * 16 + 16), qf(d + 16), acc(d + 16);
  for (int64_t task = task0; task < task1; ++task) {
    const int64_t h = task / R, r = task % R, g = h / groups;
    const int64_t p = q_pos0 + r;
    const int64_t hi = std::min<int64_t>(K, p - k_pos0 + 1);
    const int64_t lo = window > 0 ? std::max<int64_t>(0, p - window + 1 - k_pos0) : 0;
    const int64_t n = std::max<int64_t>(0, hi - lo);
    const T* qr = q + (h * R + r) * d;
    for (int64_t i = 0; i < d; ++i) qf[i] = widen(qr[i]);
    const T* kb = keys + g * k_head_stride + lo * k_row_stride;
    const T* vb = values + g * v_head_stride + lo * v_row_stride;
    float* sc = scratch.data();
    // Scores rounded to T as the GEMM output is, then ÷ sqrt(d) in fp32.
    for (int64_t j = 0; j < n; ++j) sc[j] = round_scalar(dot(qf.data(), kb + j * k_row_stride, d), qr) / scale_div;
    softmax_row(sc, n);
    for (int64_t j = 0; j < n; ++j) sc[j] = round_scalar(sc[j], qr);  // probabilities in the activation dtype
    std::fill(acc.begin(), acc.end(), 0.0f);
    int64_t i = 0;
    for (; i + 16 <= d; i += 16) {
      __m512 a = _mm512_setzero_ps();
      for (int64_t j = 0; j < n; ++j) a = _mm512_fmadd_ps(_mm512_set1_ps(sc[j]), load16(vb + j * v_row_stride + i), a);
      _mm512_storeu_ps(acc.data() + i, a);
    }
    for (; i < d; ++i) {
      float a = 0;
      for (int64_t j = 0; j < n; ++j) a += sc[j] * widen(vb[j * v_row_stride + i]);
      acc[i] = a;
    }
    T* o = out + r * heads * d + h * d;
    for (i = 0; i < d; ++i) o[i] = static_cast<T>(acc[i]);
  }
}

bool float_or_bf16(const torch::Tensor& t) {
  return t.scalar_type() == at::kFloat || t.scalar_type() == at::kBFloat16;
}

}  // namespace

QkvHeads rope_split_qkv(const torch::Tensor& qkv, const torch::Tensor& cos, const torch::Tensor& sin, int64_t heads,
                        int64_t kv, int64_t d) {
  const int64_t T = qkv.size(0);
  if (qkv.dim() != 2 || qkv.size(1) != (heads + 2 * kv) * d || cos.size(0) != T || cos.size(1) != d ||
      sin.sizes() != cos.sizes())
    fail(Status::Internal, "rope_split_qkv: qkv [T, (heads + 2 kv) d] and cos/sin [T, d] disagree");
  const bool fast = simd::available() && qkv.device().is_cpu() && float_or_bf16(qkv) &&
                    cos.scalar_type() == qkv.scalar_type() && sin.scalar_type() == qkv.scalar_type();
  if (!fast) {
    // The unfused ops (HF apply_rotary_pos_emb), made contiguous heads-first.
    auto rope = [&](const torch::Tensor& x) {
      const int64_t half = d / 2;
      auto rotated = at::cat({x.narrow(-1, half, half).neg(), x.narrow(-1, 0, half)}, -1);
      return (x * cos + rotated * sin).contiguous();
    };
    auto heads_first = [&](int64_t first, int64_t n) { return qkv.narrow(1, first * d, n * d).view({T, n, d}).transpose(0, 1); };
    return {rope(heads_first(0, heads)), rope(heads_first(heads, kv)), heads_first(heads + kv, kv).contiguous()};
  }
  auto x = qkv.contiguous();
  auto c = cos.contiguous(), s = sin.contiguous();
  QkvHeads out{at::empty({heads, T, d}, qkv.options()), at::empty({kv, T, d}, qkv.options()),
               at::empty({kv, T, d}, qkv.options())};
  at::parallel_for(0, T, std::max<int64_t>(1, 64 / std::max<int64_t>(1, heads)), [&](int64_t t0, int64_t t1) {
    if (x.scalar_type() == at::kBFloat16)
      rope_split_rows(x.data_ptr<c10::BFloat16>(), c.data_ptr<c10::BFloat16>(), s.data_ptr<c10::BFloat16>(),
                      out.q.data_ptr<c10::BFloat16>(), out.k.data_ptr<c10::BFloat16>(), out.v.data_ptr<c10::BFloat16>(),
                      t0, t1, T, heads, kv, d);
    else
      rope_split_rows(x.data_ptr<float>(), c.data_ptr<float>(), s.data_ptr<float>(), out.q.data_ptr<float>(),
                      out.k.data_ptr<float>(), out.v.data_ptr<float>(), t0, t1, T, heads, kv, d);
  });
  return out;
}

bool decode_attention_applies(const torch::Tensor& q, const torch::Tensor& keys) {
  return simd::available() && q.device().is_cpu() && keys.device().is_cpu() && float_or_bf16(q) &&
         keys.scalar_type() == q.scalar_type() && q.size(1) <= kDecodeAttentionMaxRows && keys.stride(2) == 1;
}

torch::Tensor decode_attention(const torch::Tensor& q_in, const torch::Tensor& keys, const torch::Tensor& values,
                               int64_t q_pos0, int64_t k_pos0, int64_t window, double scale_div) {
  const int64_t heads = q_in.size(0), R = q_in.size(1), d = q_in.size(2), kv = keys.size(0), K = keys.size(1);
  if (!decode_attention_applies(q_in, keys) || values.stride(2) != 1 || values.scalar_type() != q_in.scalar_type())
    fail(Status::Internal, "decode_attention: operands the kernel does not take");
  auto q = q_in.contiguous();
  auto out = at::empty({R, heads * d}, q.options());
  const float sd = static_cast<float>(scale_div);
  at::parallel_for(0, heads * R, 1, [&](int64_t t0, int64_t t1) {
    if (q.scalar_type() == at::kBFloat16)
      decode_rows(q.data_ptr<c10::BFloat16>(), keys.data_ptr<c10::BFloat16>(), values.data_ptr<c10::BFloat16>(),
                  out.data_ptr<c10::BFloat16>(), t0, t1, R, heads, heads / kv, K, d, keys.stride(0), keys.stride(1),
                  values.stride(0), values.stride(1), q_pos0, k_pos0, window, sd);
    else
      decode_rows(q.data_ptr<float>(), keys.data_ptr<float>(), values.data_ptr<float>(), out.data_ptr<float>(), t0, t1,
                  R, heads, heads / kv, K, d, keys.stride(0), keys.stride(1), values.stride(0), values.stride(1), q_pos0,
                  k_pos0, window, sd);
  });
  return out;
}

}  // namespace xsam
