#include "kernels/softmax.h"

#include <cmath>
#include <limits>
#include <string>
#include <vector>

#include <ATen/ATen.h>
#include <ATen/Parallel.h>

#include "core/error.h"
#include "kernels/simd.h"

namespace xsam {

namespace {

using namespace simd;

// Writes v[0, n) to out rounded to T.
template <class T>
XSAM_AVX512 void store_row(T* out, const float* v, int64_t n) {
  int64_t k = 0;
  for (; k + 16 <= n; k += 16) store16(out + k, _mm512_loadu_ps(v + k));
  for (; k < n; ++k) out[k] = static_cast<T>(v[k]);
}

// ---- plain: v = float(s), then softmax.
template <class T>
XSAM_AVX512 void plain_rows(T* scores, int64_t rows_begin, int64_t rows_end, int64_t K) {
  std::vector<float> buf((K + 15) / 16 * 16 + 16);
  float* v = buf.data();
  for (int64_t row = rows_begin; row < rows_end; ++row) {
    T* s = scores + row * K;
    int64_t k = 0;
    for (; k + 16 <= K; k += 16) _mm512_storeu_ps(v + k, load16(s + k));
    for (; k < K; ++k) v[k] = widen(s[k]);
    softmax_row(v, K);
    store_row(s, v, K);
  }
}

// ---- masked: v = -inf where blocked, else float(s), then softmax.
template <class T>
XSAM_AVX512 void masked_rows(T* scores, const bool* blocked, int64_t rows_begin, int64_t rows_end, int64_t K) {
  std::vector<float> buf((K + 15) / 16 * 16 + 16);
  float* v = buf.data();
  for (int64_t row = rows_begin; row < rows_end; ++row) {
    T* s = scores + row * K;
    const bool* b = blocked + row * K;
    for (int64_t k = 0; k < K; ++k) v[k] = b[k] ? kNegInf : widen(s[k]);
    softmax_row(v, K);
    store_row(s, v, K);
  }
}

// ---- SAM: rel_h / rel_w from the query, v = R(R(s + rh[i]) + rw[j]) over keys (i, j), then softmax.
template <class T>
XSAM_AVX512 inline float dot_row(const float* a, const T* b, int64_t n) {
  __m512 acc = _mm512_setzero_ps();
  int64_t i = 0;
  for (; i + 16 <= n; i += 16) acc = _mm512_fmadd_ps(_mm512_loadu_ps(a + i), load16(b + i), acc);
  float s = _mm512_reduce_add_ps(acc);
  for (; i < n; ++i) s += a[i] * widen(b[i]);
  return s;
}

template <class T>
XSAM_AVX512 void sam_rows(T* scores, const T* q, const T* th, const T* tw, int64_t rows_begin, int64_t rows_end, int64_t Q,
                          int64_t kh, int64_t kw, int64_t hd, int64_t first_row, int64_t qw) {
  const int64_t K = kh * kw;
  std::vector<float> buf((K + 15) / 16 * 16 + 16), rh(kh + 16), rw(kw + 16), qf(hd + 16);
  float* v = buf.data();
  for (int64_t row = rows_begin; row < rows_end; ++row) {
    T* s = scores + row * K;
    const int64_t i = row % Q, y = first_row + i / qw, x = i % qw;
    const T* qr = q + row * hd;
    for (int64_t c = 0; c < hd; ++c) qf[c] = widen(qr[c]);
    for (int64_t a = 0; a < kh; ++a) rh[a] = round_scalar(dot_row(qf.data(), th + (y * kh + a) * hd, hd), qr);
    for (int64_t b = 0; b < kw; ++b) rw[b] = round_scalar(dot_row(qf.data(), tw + (x * kw + b) * hd, hd), qr);
    for (int64_t a = 0; a < kh; ++a) {
      const float hv = rh[a];
      const __m512 hvec = _mm512_set1_ps(hv);
      const T* si = s + a * kw;
      float* vi = v + a * kw;
      int64_t j = 0;
      for (; j + 16 <= kw; j += 16) {
        const __m512 t = round_to(_mm512_add_ps(load16(si + j), hvec), si);
        _mm512_storeu_ps(vi + j, round_to(_mm512_add_ps(t, _mm512_loadu_ps(rw.data() + j)), si));
      }
      for (; j < kw; ++j) {
        const float t = round_scalar(widen(si[j]) + hv, si);
        vi[j] = round_scalar(t + rw[j], si);
      }
    }
    softmax_row(v, K);
    store_row(s, v, K);
  }
}

// ---- Phi-3: v = float(s) / d on the visible keys [lo, hi), -inf elsewhere, then softmax.
template <class T>
XSAM_AVX512 void causal_rows(T* scores, int64_t rows_begin, int64_t rows_end, int64_t rows, int64_t K, int64_t q_pos0,
                             int64_t k_pos0, int64_t window, float scale_div) {
  std::vector<float> buf((K + 15) / 16 * 16 + 16);
  float* v = buf.data();
  const __m512 d = _mm512_set1_ps(scale_div);
  for (int64_t row = rows_begin; row < rows_end; ++row) {
    T* s = scores + row * K;
    const int64_t p = q_pos0 + row % rows;
    const int64_t hi = std::min<int64_t>(K, p - k_pos0 + 1);
    const int64_t lo = window > 0 ? std::max<int64_t>(0, p - window + 1 - k_pos0) : 0;
    const int64_t n = std::max<int64_t>(0, hi - lo);
    int64_t k = 0;
    for (; k + 16 <= n; k += 16) _mm512_storeu_ps(v + k, _mm512_div_ps(load16(s + lo + k), d));
    for (; k < n; ++k) v[k] = widen(s[lo + k]) / scale_div;
    softmax_row(v, n);
    for (int64_t j = 0; j < lo; ++j) s[j] = T(0);
    store_row(s + lo, v, n);
    for (int64_t j = hi; j < K; ++j) s[j] = T(0);
  }
}

void check_scores(const torch::Tensor& t, const char* what) {
  if (!t.defined() || !t.device().is_cpu() || !t.is_contiguous() ||
      (t.scalar_type() != at::kFloat && t.scalar_type() != at::kBFloat16))
    fail(Status::Internal, std::string(what) + ": expects contiguous fp32 or bf16 CPU tensors");
}

// Rows per parallel task: enough work per task to amortise the scheduling, at least one row.
int64_t grain_for(int64_t row_length) { return std::max<int64_t>(1, (int64_t(1) << 16) / std::max<int64_t>(1, row_length)); }

}  // namespace

bool fast_softmax_available() { return simd::available(); }

torch::Tensor attention_softmax_(torch::Tensor& scores) {
  check_scores(scores, "attention_softmax_");
  if (!fast_softmax_available()) {
    scores.copy_(at::softmax(scores, -1, at::kFloat));
    return scores;
  }
  const int64_t K = scores.size(-1), R = scores.numel() / std::max<int64_t>(1, K);
  at::parallel_for(0, R, grain_for(K), [&](int64_t r0, int64_t r1) {
    if (scores.scalar_type() == at::kBFloat16) plain_rows(scores.data_ptr<c10::BFloat16>(), r0, r1, K);
    else plain_rows(scores.data_ptr<float>(), r0, r1, K);
  });
  return scores;
}

torch::Tensor masked_attention_softmax_(torch::Tensor& scores, const torch::Tensor& blocked) {
  check_scores(scores, "masked_attention_softmax_");
  if (blocked.sizes() != scores.sizes() || blocked.scalar_type() != at::kBool)
    fail(Status::Internal, "masked_attention_softmax_: the mask must be a bool tensor of the scores' shape");
  if (!fast_softmax_available()) {
    auto s = scores.to(at::kFloat).masked_fill_(blocked, -std::numeric_limits<float>::infinity());
    scores.copy_(at::softmax(s, -1));
    return scores;
  }
  auto b = blocked.contiguous();
  const int64_t K = scores.size(-1), R = scores.numel() / std::max<int64_t>(1, K);
  at::parallel_for(0, R, grain_for(K), [&](int64_t r0, int64_t r1) {
    if (scores.scalar_type() == at::kBFloat16) masked_rows(scores.data_ptr<c10::BFloat16>(), b.data_ptr<bool>(), r0, r1, K);
    else masked_rows(scores.data_ptr<float>(), b.data_ptr<bool>(), r0, r1, K);
  });
  return scores;
}

torch::Tensor sam_attention_softmax_(torch::Tensor& scores, const torch::Tensor& q, const torch::Tensor& rel_h_table,
                                     const torch::Tensor& rel_w_table, int64_t first_row, int64_t qw) {
  check_scores(scores, "sam_attention_softmax_");
  const int64_t B = scores.size(0), Q = scores.size(1), K = scores.size(2), hd = q.size(-1);
  const int64_t kh = rel_h_table.size(1), kw = rel_w_table.size(1);
  if (kh * kw != K || q.size(0) != B || q.size(1) != Q || Q % qw != 0 || rel_w_table.size(0) != qw ||
      first_row + Q / qw > rel_h_table.size(0) || rel_h_table.size(2) != hd || rel_w_table.size(2) != hd)
    fail(Status::Internal, "sam_attention_softmax_: queries and relative-position tables do not match the scores");
  const auto dt = scores.scalar_type();
  if (!fast_softmax_available() || q.scalar_type() != dt) {
    // The unfused ops: einsums (GEMMs rounded to the dtype), two in-place adds, softmax in fp32.
    auto rq = q.reshape({B, Q / qw, qw, hd});
    auto rel_h = at::einsum("bhwc,hkc->bhwk", {rq, rel_h_table.slice(0, first_row, first_row + Q / qw)});
    auto rel_w = at::einsum("bhwc,wkc->bhwk", {rq, rel_w_table});
    scores.view({B, Q, kh, kw}).add_(rel_h.reshape({B, Q, kh, 1})).add_(rel_w.reshape({B, Q, 1, kw}));
    scores.copy_(at::softmax(scores, -1, at::kFloat));
    return scores;
  }
  auto qc = q.contiguous();
  auto th = rel_h_table.to(dt).contiguous(), tw = rel_w_table.to(dt).contiguous();
  at::parallel_for(0, B * Q, grain_for(K), [&](int64_t r0, int64_t r1) {
    if (dt == at::kBFloat16)
      sam_rows(scores.data_ptr<c10::BFloat16>(), qc.data_ptr<c10::BFloat16>(), th.data_ptr<c10::BFloat16>(),
               tw.data_ptr<c10::BFloat16>(), r0, r1, Q, kh, kw, hd, first_row, qw);
    else
      sam_rows(scores.data_ptr<float>(), qc.data_ptr<float>(), th.data_ptr<float>(), tw.data_ptr<float>(), r0, r1, Q,
               kh, kw, hd, first_row, qw);
  });
  return scores;
}

torch::Tensor causal_attention_softmax_(torch::Tensor& scores, int64_t rows, int64_t q_pos0, int64_t k_pos0,
                                       int64_t window, double scale_div) {
  check_scores(scores, "causal_attention_softmax_");
  const int64_t R = scores.numel() / std::max<int64_t>(1, scores.size(-1)), K = scores.size(-1);
  if (rows <= 0 || R % rows != 0) fail(Status::Internal, "causal_attention_softmax_: rows do not divide the score rows");
  if (!fast_softmax_available()) {
    auto s = scores.to(at::kFloat).div_(scale_div);
    auto opts = at::TensorOptions().dtype(at::kLong);
    auto diff = at::arange(q_pos0, q_pos0 + rows, opts).unsqueeze(1) - at::arange(k_pos0, k_pos0 + K, opts).unsqueeze(0);
    auto hidden = diff < 0;
    if (window > 0) hidden = hidden.logical_or(diff >= window);
    s.view({-1, rows, K}).masked_fill_(hidden, -std::numeric_limits<float>::infinity());
    scores.copy_(at::softmax(s, -1));
    return scores;
  }
  const float d = static_cast<float>(scale_div);
  at::parallel_for(0, R, grain_for(K), [&](int64_t r0, int64_t r1) {
    if (scores.scalar_type() == at::kBFloat16)
      causal_rows(scores.data_ptr<c10::BFloat16>(), r0, r1, rows, K, q_pos0, k_pos0, window, d);
    else
      causal_rows(scores.data_ptr<float>(), r0, r1, rows, K, q_pos0, k_pos0, window, d);
  });
  return scores;
}

}  // namespace xsam
