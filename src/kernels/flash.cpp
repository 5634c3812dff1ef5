#include "kernels/flash.h"

#include <algorithm>
#include <cstring>
#include <string>
#include <vector>

#include <ATen/ATen.h>
#include <ATen/Parallel.h>

#include "core/error.h"
#include "kernels/simd.h"

namespace xsam {

namespace {

using namespace simd;
using bf16 = c10::BFloat16;

#define XSAM_BF16 __attribute__((target("avx512f,avx512bf16")))

constexpr int kRows = 4;  // query rows per block: 4 × 2 score accumulators, 4 × (head_dim / 16) output ones

bool cpu_has_bf16() { return simd::bf16_dot_available(); }

int64_t round_up(int64_t v, int64_t m) { return (v + m - 1) / m * m; }

uint32_t pair_bits(bf16 lo, bf16 hi) { return uint32_t(lo.x) | (uint32_t(hi.x) << 16); }

// One attention problem: `heads` query heads, head h reading kv head h / groups.
struct Problem {
  int64_t heads = 0, groups = 1, M = 0, N = 0, hd = 0;
  const bf16* q = nullptr;  // row m of head h at q + h·q_head + m·q_row
  int64_t q_head = 0, q_row = 0;
  const bf16* k = nullptr;  // row j of kv head g at k + g·k_head + j·k_row
  int64_t k_head = 0, k_row = 0;
  const bf16* v = nullptr;
  int64_t v_head = 0, v_row = 0;
  bf16* out = nullptr;      // row m of head h at out + (h·M + m)·hd
};

// Keys of kv head g packed for vdpbf16ps: blocks of 16 keys, per block and dimension pair p the 16
// keys' (d[2p], d[2p+1]) as one 32-bit word each; keys past N are zero.
void pack_keys(const Problem& pb, int64_t g, uint32_t* dst) {
  const int64_t P = pb.hd / 2, blocks = round_up(pb.N, 16) / 16;
  for (int64_t b = 0; b < blocks; ++b)
    for (int64_t jj = 0; jj < 16; ++jj) {
      const int64_t j = b * 16 + jj;
      const bf16* row = j < pb.N ? pb.k + g * pb.k_head + j * pb.k_row : nullptr;
      for (int64_t p = 0; p < P; ++p) dst[(b * P + p) * 16 + jj] = row ? pair_bits(row[2 * p], row[2 * p + 1]) : 0u;
    }
}

// Values of kv head g: per key pair j2 and channel c (channels padded to hdp), (v[2·j2][c], v[2·j2+1][c]).
void pack_values(const Problem& pb, int64_t g, int64_t hdp, uint32_t* dst) {
  const int64_t pairs = round_up(pb.N, 2) / 2;
  const bf16 zero(0.0f);
  for (int64_t j2 = 0; j2 < pairs; ++j2) {
    const int64_t j0 = 2 * j2, j1 = 2 * j2 + 1;
    const bf16* r0 = pb.v + g * pb.v_head + j0 * pb.v_row;
    const bf16* r1 = j1 < pb.N ? pb.v + g * pb.v_head + j1 * pb.v_row : nullptr;
    uint32_t* d = dst + j2 * hdp;
    for (int64_t c = 0; c < pb.hd; ++c) d[c] = pair_bits(r0[c], r1 ? r1[c] : zero);
    for (int64_t c = pb.hd; c < hdp; ++c) d[c] = 0u;
  }
}

XSAM_BF16 inline __m512 dp(__m512 acc, __m512i a, __m512i b) {
  return _mm512_dpbf16_ps(acc, reinterpret_cast<__m512bh>(a), reinterpret_cast<__m512bh>(b));
}

// scores[r][j] = Σ_p q_r·k_j for keys in blocks [b0, b1) (fp32, not yet rounded).
template <int R>
XSAM_BF16 void qk_rows(const uint32_t* const* qp, const uint32_t* kp, int64_t P, int64_t b0, int64_t b1,
                       float* const* scores) {
  int64_t b = b0;
  for (; b + 2 <= b1; b += 2) {
    __m512 acc0[R], acc1[R];
    #pragma GCC unroll 8
    for (int r = 0; r < R; ++r) acc0[r] = acc1[r] = _mm512_setzero_ps();
    const uint32_t* k0 = kp + b * P * 16;
    const uint32_t* k1 = k0 + P * 16;
    for (int64_t p = 0; p < P; ++p) {
      const __m512i kb0 = _mm512_loadu_si512(k0 + p * 16), kb1 = _mm512_loadu_si512(k1 + p * 16);
      #pragma GCC unroll 8
      for (int r = 0; r < R; ++r) {
        const __m512i qb = _mm512_set1_epi32(static_cast<int>(qp[r][p]));
        acc0[r] = dp(acc0[r], qb, kb0);
        acc1[r] = dp(acc1[r], qb, kb1);
      }
    }
    #pragma GCC unroll 8
    for (int r = 0; r < R; ++r) {
      _mm512_storeu_ps(scores[r] + b * 16, acc0[r]);
      _mm512_storeu_ps(scores[r] + b * 16 + 16, acc1[r]);
    }
  }
  for (; b < b1; ++b) {
    __m512 acc[R];
    #pragma GCC unroll 8
    for (int r = 0; r < R; ++r) acc[r] = _mm512_setzero_ps();
    const uint32_t* k0 = kp + b * P * 16;
    for (int64_t p = 0; p < P; ++p) {
      const __m512i kb = _mm512_loadu_si512(k0 + p * 16);
      #pragma GCC unroll 8
      for (int r = 0; r < R; ++r) acc[r] = dp(acc[r], _mm512_set1_epi32(static_cast<int>(qp[r][p])), kb);
    }
    #pragma GCC unroll 8
    for (int r = 0; r < R; ++r) _mm512_storeu_ps(scores[r] + b * 16, acc[r]);
  }
}

// out[r][c] = Σ_{pairs [j0, j1)} probs_r · v (fp32), CB blocks of 16 channels.
template <int R, int CB>
XSAM_BF16 void pv_rows(const uint32_t* const* pp, const uint32_t* vp, int64_t hdp, int64_t j0, int64_t j1,
                       float* const* out) {
  __m512 acc[R][CB];
  #pragma GCC unroll 8
  for (int r = 0; r < R; ++r)
    #pragma GCC unroll 8
    for (int c = 0; c < CB; ++c) acc[r][c] = _mm512_setzero_ps();
  for (int64_t j2 = j0; j2 < j1; ++j2) {
    __m512i vb[CB];
    #pragma GCC unroll 8
    for (int c = 0; c < CB; ++c) vb[c] = _mm512_loadu_si512(vp + j2 * hdp + c * 16);
    #pragma GCC unroll 8
    for (int r = 0; r < R; ++r) {
      const __m512i pb = _mm512_set1_epi32(static_cast<int>(pp[r][j2 - j0]));
      #pragma GCC unroll 8
      for (int c = 0; c < CB; ++c) acc[r][c] = dp(acc[r][c], pb, vb[c]);
    }
  }
  #pragma GCC unroll 8
  for (int r = 0; r < R; ++r)
    #pragma GCC unroll 8
    for (int c = 0; c < CB; ++c) _mm512_storeu_ps(out[r] + c * 16, acc[r][c]);
}

template <int R>
void pv_dispatch(int64_t cb, const uint32_t* const* pp, const uint32_t* vp, int64_t hdp, int64_t j0, int64_t j1,
                 float* const* out) {
  switch (cb) {
    case 1: pv_rows<R, 1>(pp, vp, hdp, j0, j1, out); break;
    case 2: pv_rows<R, 2>(pp, vp, hdp, j0, j1, out); break;
    case 3: pv_rows<R, 3>(pp, vp, hdp, j0, j1, out); break;
    case 4: pv_rows<R, 4>(pp, vp, hdp, j0, j1, out); break;
    case 5: pv_rows<R, 5>(pp, vp, hdp, j0, j1, out); break;
    default: pv_rows<R, 6>(pp, vp, hdp, j0, j1, out); break;
  }
}

// v[0, n) rounded to bf16 precision in place.
XSAM_AVX512 void round_row(float* v, int64_t n) {
  int64_t j = 0;
  for (; j + 16 <= n; j += 16) _mm512_storeu_ps(v + j, round_bf16(_mm512_loadu_ps(v + j)));
  for (; j < n; ++j) v[j] = static_cast<float>(bf16(v[j]));
}

XSAM_AVX512 void to_bf16_row(bf16* out, const float* v, int64_t n) {
  int64_t j = 0;
  for (; j + 16 <= n; j += 16) store16(out + j, _mm512_loadu_ps(v + j));
  for (; j < n; ++j) out[j] = bf16(v[j]);
}

// The whole problem; `op` gives each row's visible keys and turns its rounded scores into probabilities.
template <class Op>
void run(const Problem& pb, const Op& op) {
  const int64_t P = pb.hd / 2, hdp = round_up(pb.hd, 16), cb = hdp / 16;
  const int64_t kv = pb.heads / pb.groups, blocks = round_up(pb.N, 16) / 16, pairs = round_up(pb.N, 2) / 2;
  const int64_t kp_size = blocks * P * 16, vp_size = pairs * hdp;
  std::vector<uint32_t> kp(kv * kp_size), vp(kv * vp_size);
  at::parallel_for(0, kv, 1, [&](int64_t g0, int64_t g1) {
    for (int64_t g = g0; g < g1; ++g) {
      pack_keys(pb, g, kp.data() + g * kp_size);
      pack_values(pb, g, hdp, vp.data() + g * vp_size);
    }
  });
  const int64_t row_blocks = (pb.M + kRows - 1) / kRows;
  at::parallel_for(0, pb.heads * row_blocks, 1, [&](int64_t t0, int64_t t1) {
    const int64_t width = blocks * 16 + 32;
    std::vector<float> scores(kRows * width), outs(kRows * hdp);
    std::vector<uint32_t> probs(kRows * (pairs + 16)), qpairs(kRows * P);
    for (int64_t t = t0; t < t1; ++t) {
      const int64_t h = t / row_blocks, m0 = (t % row_blocks) * kRows, g = h / pb.groups;
      const int R = static_cast<int>(std::min<int64_t>(kRows, pb.M - m0));
      int64_t lo[kRows], hi[kRows], LO = pb.N, HI = 0;
      const uint32_t* qp[kRows];
      float* sp[kRows];
      float* op_out[kRows];
      uint32_t* pp[kRows];
      for (int r = 0; r < R; ++r) {
        op.range(h, m0 + r, &lo[r], &hi[r]);
        LO = std::min(LO, lo[r]);
        HI = std::max(HI, hi[r]);
        const bf16* qr = pb.q + h * pb.q_head + (m0 + r) * pb.q_row;
        std::memcpy(&qpairs[r * P], qr, P * sizeof(uint32_t));
        qp[r] = &qpairs[r * P];
        sp[r] = &scores[r * width];
        op_out[r] = &outs[r * hdp];
        pp[r] = &probs[r * (pairs + 16)];
      }
      for (int r = R; r < kRows; ++r) qp[r] = qp[0], sp[r] = sp[0], op_out[r] = op_out[0], pp[r] = pp[0];
      const int64_t b0 = LO / 16, b1 = (HI + 15) / 16;
      const uint32_t* kh = kp.data() + g * kp_size;
      switch (R) {
        case 1: qk_rows<1>(qp, kh, P, b0, b1, sp); break;
        case 2: qk_rows<2>(qp, kh, P, b0, b1, sp); break;
        case 3: qk_rows<3>(qp, kh, P, b0, b1, sp); break;
        default: qk_rows<4>(qp, kh, P, b0, b1, sp); break;
      }
      const int64_t j0 = LO / 2, j1 = (HI + 1) / 2;
      for (int r = 0; r < R; ++r) {
        float* s = sp[r];
        // The product's output rounding (bf16 GEMM), then the model's own pre-softmax steps and softmax.
        round_row(s + lo[r], hi[r] - lo[r]);
        op.apply(h, m0 + r, s, lo[r], hi[r]);
        // Probabilities rounded to bf16, keys outside this row's range 0; as bf16 pairs they are the
        // 32-bit words the weighted sum broadcasts.
        for (int64_t j = 2 * j0; j < lo[r]; ++j) s[j] = 0.0f;
        for (int64_t j = hi[r]; j < 2 * j1; ++j) s[j] = 0.0f;
        to_bf16_row(reinterpret_cast<bf16*>(pp[r]), s + 2 * j0, 2 * (j1 - j0));
      }
      const uint32_t* vh = vp.data() + g * vp_size;
      switch (R) {
        case 1: pv_dispatch<1>(cb, pp, vh, hdp, j0, j1, op_out); break;
        case 2: pv_dispatch<2>(cb, pp, vh, hdp, j0, j1, op_out); break;
        case 3: pv_dispatch<3>(cb, pp, vh, hdp, j0, j1, op_out); break;
        default: pv_dispatch<4>(cb, pp, vh, hdp, j0, j1, op_out); break;
      }
      for (int r = 0; r < R; ++r) {
        bf16* o = pb.out + (h * pb.M + m0 + r) * pb.hd;
        for (int64_t c = 0; c < pb.hd; ++c) o[c] = bf16(op_out[r][c]);
      }
    }
  });
}

// ---- the models' pre-softmax steps

struct PlainOp {
  int64_t N;
  float scale;
  void range(int64_t, int64_t, int64_t* lo, int64_t* hi) const { *lo = 0, *hi = N; }
  XSAM_AVX512 void apply(int64_t, int64_t, float* s, int64_t lo, int64_t hi) const {
    const __m512 sc = _mm512_set1_ps(scale);
    int64_t j = lo;
    for (; j + 16 <= hi; j += 16) _mm512_storeu_ps(s + j, round_bf16(_mm512_mul_ps(_mm512_loadu_ps(s + j), sc)));
    for (; j < hi; ++j) s[j] = static_cast<float>(bf16(s[j] * scale));  // scores.mul_(scale)
    softmax_row(s + lo, hi - lo);
  }
};

// R(q · t) over hd (q already fp32): the einsum GEMM's fp32 sum and output rounding.
XSAM_AVX512 inline float rounded_dot(const float* qf, const bf16* t, int64_t hd) {
  __m512 acc = _mm512_setzero_ps();
  int64_t c = 0;
  for (; c + 16 <= hd; c += 16) acc = _mm512_fmadd_ps(_mm512_loadu_ps(qf + c), load16(t + c), acc);
  float r = _mm512_reduce_add_ps(acc);
  for (; c < hd; ++c) r += qf[c] * static_cast<float>(t[c]);
  return static_cast<float>(bf16(r));
}

struct SamOp {
  int64_t N, M, kh, kw, qw, hd;
  const bf16* q;   // unscaled, [B, M, hd]
  const bf16* th;  // [Qh, kh, hd]
  const bf16* tw;  // [Qw, kw, hd]
  void range(int64_t, int64_t, int64_t* lo, int64_t* hi) const { *lo = 0, *hi = N; }
  XSAM_AVX512 void apply(int64_t h, int64_t m, float* s, int64_t, int64_t) const {
    float qf[512], rh[512], rw[512];
    const bf16* qr = q + (h * M + m) * hd;
    for (int64_t c = 0; c < hd; ++c) qf[c] = static_cast<float>(qr[c]);
    const int64_t y = m / qw, x = m % qw;
    for (int64_t a = 0; a < kh; ++a) rh[a] = rounded_dot(qf, th + (y * kh + a) * hd, hd);
    for (int64_t b = 0; b < kw; ++b) rw[b] = rounded_dot(qf, tw + (x * kw + b) * hd, hd);
    for (int64_t a = 0; a < kh; ++a) {
      float* si = s + a * kw;
      const __m512 hv = _mm512_set1_ps(rh[a]);
      int64_t b = 0;
      for (; b + 16 <= kw; b += 16) {
        const __m512 t = round_bf16(_mm512_add_ps(_mm512_loadu_ps(si + b), hv));
        _mm512_storeu_ps(si + b, round_bf16(_mm512_add_ps(t, _mm512_loadu_ps(rw + b))));
      }
      for (; b < kw; ++b) si[b] = static_cast<float>(bf16(static_cast<float>(bf16(si[b] + rh[a])) + rw[b]));
    }
    softmax_row(s, N);
  }
};

struct CausalOp {
  int64_t K, q_pos0, k_pos0, window;
  float scale_div;
  void range(int64_t, int64_t m, int64_t* lo, int64_t* hi) const {
    const int64_t p = q_pos0 + m;
    *hi = std::min<int64_t>(K, p - k_pos0 + 1);
    *lo = window > 0 ? std::max<int64_t>(0, p - window + 1 - k_pos0) : 0;
  }
  XSAM_AVX512 void apply(int64_t, int64_t, float* s, int64_t lo, int64_t hi) const {
    const __m512 d = _mm512_set1_ps(scale_div);
    int64_t j = lo;
    for (; j + 16 <= hi; j += 16) _mm512_storeu_ps(s + j, _mm512_div_ps(_mm512_loadu_ps(s + j), d));
    for (; j < hi; ++j) s[j] = s[j] / scale_div;
    softmax_row(s + lo, hi - lo);
  }
};

void require(bool ok, const char* what) {
  if (!ok) fail(Status::Internal, std::string("flash attention: ") + what);
}

}  // namespace

bool flash_attention_applies(const torch::Tensor& q) {
  return cpu_has_bf16() && q.device().is_cpu() && q.scalar_type() == at::kBFloat16 && q.size(-1) % 2 == 0 &&
         q.size(-1) <= 96;
}

torch::Tensor flash_plain_attention(const torch::Tensor& q_in, const torch::Tensor& k_in, const torch::Tensor& v_in,
                                    double scale) {
  require(flash_attention_applies(q_in) && q_in.dim() == 3 && k_in.sizes() == v_in.sizes(), "plain: operands");
  auto q = q_in.contiguous(), k = k_in.contiguous(), v = v_in.contiguous();
  const int64_t B = q.size(0), M = q.size(1), N = k.size(1), hd = q.size(2);
  auto out = at::empty({B, M, hd}, q.options());
  Problem pb;
  pb.heads = B, pb.M = M, pb.N = N, pb.hd = hd;
  pb.q = q.data_ptr<bf16>(), pb.q_head = M * hd, pb.q_row = hd;
  pb.k = k.data_ptr<bf16>(), pb.k_head = N * hd, pb.k_row = hd;
  pb.v = v.data_ptr<bf16>(), pb.v_head = N * hd, pb.v_row = hd;
  pb.out = out.data_ptr<bf16>();
  run(pb, PlainOp{N, static_cast<float>(scale)});
  return out;
}

torch::Tensor flash_sam_attention(const torch::Tensor& q_scaled, const torch::Tensor& q_in, const torch::Tensor& k_in,
                                  const torch::Tensor& v_in, const torch::Tensor& rel_h_table,
                                  const torch::Tensor& rel_w_table, int64_t qw) {
  require(flash_attention_applies(q_scaled) && q_in.sizes() == q_scaled.sizes() && k_in.sizes() == v_in.sizes(),
          "sam: operands");
  auto qs = q_scaled.contiguous(), q = q_in.contiguous(), k = k_in.contiguous(), v = v_in.contiguous();
  auto th = rel_h_table.to(at::kBFloat16).contiguous(), tw = rel_w_table.to(at::kBFloat16).contiguous();
  const int64_t B = q.size(0), M = q.size(1), N = k.size(1), hd = q.size(2);
  const int64_t kh = th.size(1), kw = tw.size(1);
  require(kh * kw == N && M % qw == 0 && tw.size(0) == qw && th.size(0) * qw >= M && kh <= 512 && kw <= 512,
          "sam: grid");
  auto out = at::empty({B, M, hd}, q.options());
  Problem pb;
  pb.heads = B, pb.M = M, pb.N = N, pb.hd = hd;
  pb.q = qs.data_ptr<bf16>(), pb.q_head = M * hd, pb.q_row = hd;
  pb.k = k.data_ptr<bf16>(), pb.k_head = N * hd, pb.k_row = hd;
  pb.v = v.data_ptr<bf16>(), pb.v_head = N * hd, pb.v_row = hd;
  pb.out = out.data_ptr<bf16>();
  run(pb, SamOp{N, M, kh, kw, qw, hd, q.data_ptr<bf16>(), th.data_ptr<bf16>(), tw.data_ptr<bf16>()});
  return out;
}

torch::Tensor flash_causal_attention(const torch::Tensor& q_in, const torch::Tensor& keys, const torch::Tensor& values,
                                     int64_t q_pos0, int64_t k_pos0, int64_t window, double scale_div) {
  require(flash_attention_applies(q_in) && keys.scalar_type() == at::kBFloat16 && values.scalar_type() == at::kBFloat16 &&
              keys.stride(2) == 1 && values.stride(2) == 1 && keys.sizes() == values.sizes(),
          "causal: operands");
  auto q = q_in.contiguous();
  const int64_t H = q.size(0), T = q.size(1), d = q.size(2), KV = keys.size(0), K = keys.size(1);
  auto out = at::empty({H, T, d}, q.options());
  Problem pb;
  pb.heads = H, pb.groups = H / KV, pb.M = T, pb.N = K, pb.hd = d;
  pb.q = q.data_ptr<bf16>(), pb.q_head = T * d, pb.q_row = d;
  pb.k = keys.data_ptr<bf16>(), pb.k_head = keys.stride(0), pb.k_row = keys.stride(1);
  pb.v = values.data_ptr<bf16>(), pb.v_head = values.stride(0), pb.v_row = values.stride(1);
  pb.out = out.data_ptr<bf16>();
  run(pb, CausalOp{K, q_pos0, k_pos0, window, static_cast<float>(scale_div)});
  return out;
}

}  // namespace xsam
