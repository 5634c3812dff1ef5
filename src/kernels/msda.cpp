#include "kernels/msda.h"

#include <cmath>

#include <ATen/ATen.h>
#include <ATen/Parallel.h>

#include "core/cpu_path.h"
#include "kernels/simd.h"
#include "kernels/simd_avx2.h"

namespace xsam {

namespace {

using namespace simd;

constexpr int kMaxHeadDim = 256;

// The four corners of one sample and their weights: grid_sampler (bilinear, zeros, align_corners = false) in
// fp32, as ATen's CPU kernel. Corners in the order nw, ne, sw, se.
struct Bilinear {
  float weights[4];
  int64_t cx[4], cy[4];
};

template <class T>
inline Bilinear bilinear_at(const T* grid, int64_t k, float sx, float sy) {
  const float x = (widen(grid[2 * k]) + 1.0f) * sx - 0.5f;
  const float y = (widen(grid[2 * k + 1]) + 1.0f) * sy - 0.5f;
  const float x_w = std::floor(x), y_n = std::floor(y);
  const float w = x - x_w, e = 1.0f - w, n = y - y_n, s = 1.0f - n;
  const int64_t ix = static_cast<int64_t>(x_w), iy = static_cast<int64_t>(y_n);
  return {{s * e, s * w, n * e, n * w}, {ix, ix + 1, ix, ix + 1}, {iy, iy, iy + 1, iy + 1}};
}

// One (query, head): acc[c] = Σ_{l,p} R(R(sample_c) · R(w)) over in-bounds corners.
template <class T>
XSAM_AVX512 void sample_head(const T* value, const int64_t* level_start, const int64_t* level_h, const int64_t* level_w,
                             int64_t levels, int64_t points, int64_t heads, int64_t hd, int64_t h, const T* grid,
                             const T* weight, T* out) {
  alignas(64) float acc[kMaxHeadDim];
  alignas(64) float sample[kMaxHeadDim];
  for (int64_t c = 0; c < hd; ++c) acc[c] = 0;
  const int64_t row = heads * hd;  // elements between consecutive tokens
  for (int64_t l = 0; l < levels; ++l) {
    const int64_t H = level_h[l], W = level_w[l];
    const T* base = value + level_start[l] * row + h * hd;
    const float sx = static_cast<float>(W) / 2, sy = static_cast<float>(H) / 2;
    for (int64_t p = 0; p < points; ++p) {
      const int64_t k = l * points + p;
      const Bilinear b = bilinear_at(grid, k, sx, sy);
      const float* wts = b.weights;
      const int64_t* cx = b.cx;
      const int64_t* cy = b.cy;
      for (int64_t c = 0; c < hd; ++c) sample[c] = 0;
      bool first = true;
      for (int corner = 0; corner < 4; ++corner) {
        // An out-of-bounds corner contributes value 0 · weight, i.e. +0 to the running sum.
        const bool in = cx[corner] >= 0 && cx[corner] < W && cy[corner] >= 0 && cy[corner] < H;
        const T* v = base + (cy[corner] * W + cx[corner]) * row;
        const __m512 wt = _mm512_set1_ps(wts[corner]);
        int64_t c = 0;
        for (; c + 16 <= hd; c += 16) {
          const __m512 term = in ? _mm512_mul_ps(load16(v + c), wt) : _mm512_setzero_ps();
          _mm512_storeu_ps(sample + c, first ? term : _mm512_add_ps(_mm512_loadu_ps(sample + c), term));
        }
        for (; c < hd; ++c) {
          const float term = in ? widen(v[c]) * wts[corner] : 0.0f;
          sample[c] = first ? term : sample[c] + term;
        }
        first = false;
      }
      // Sample rounded to the dtype, times the weight (rounded), accumulated in fp32.
      const float wk = widen(weight[k]);
      int64_t c = 0;
      for (; c + 16 <= hd; c += 16) {
        const __m512 sv = round_to(_mm512_loadu_ps(sample + c), value);
        const __m512 prod = round_to(_mm512_mul_ps(sv, _mm512_set1_ps(wk)), value);
        _mm512_storeu_ps(acc + c, _mm512_add_ps(_mm512_loadu_ps(acc + c), prod));
      }
      for (; c < hd; ++c) acc[c] += round_scalar(round_scalar(sample[c], value) * wk, value);
    }
  }
  for (int64_t c = 0; c < hd; ++c) out[c] = static_cast<T>(acc[c]);
}

// The same arithmetic one channel at a time, for the paths below avx512: every channel's operations and
// their order are those of the vector code above, so the results are bit-identical to it. Compilers
// vectorise the channel loops for the target of the function it is inlined into.
template <class T>
__attribute__((always_inline)) inline void sample_head_portable(
    const T* value, const int64_t* level_start, const int64_t* level_h, const int64_t* level_w, int64_t levels,
    int64_t points, int64_t heads, int64_t hd, int64_t h, const T* grid, const T* weight, T* out) {
  float acc[kMaxHeadDim];
  float sample[kMaxHeadDim];
  for (int64_t c = 0; c < hd; ++c) acc[c] = 0;
  const int64_t row = heads * hd;
  for (int64_t l = 0; l < levels; ++l) {
    const int64_t H = level_h[l], W = level_w[l];
    const T* base = value + level_start[l] * row + h * hd;
    const float sx = static_cast<float>(W) / 2, sy = static_cast<float>(H) / 2;
    for (int64_t p = 0; p < points; ++p) {
      const int64_t k = l * points + p;
      const Bilinear b = bilinear_at(grid, k, sx, sy);
      const float* wts = b.weights;
      const int64_t* cx = b.cx;
      const int64_t* cy = b.cy;
      for (int corner = 0; corner < 4; ++corner) {
        const bool in = cx[corner] >= 0 && cx[corner] < W && cy[corner] >= 0 && cy[corner] < H;
        const T* v = base + (cy[corner] * W + cx[corner]) * row;
        const float wt = wts[corner];
        if (corner == 0) {
          for (int64_t c = 0; c < hd; ++c) sample[c] = in ? widen(v[c]) * wt : 0.0f;
        } else if (in) {
          for (int64_t c = 0; c < hd; ++c) sample[c] = sample[c] + widen(v[c]) * wt;
        } else {
          for (int64_t c = 0; c < hd; ++c) sample[c] = sample[c] + 0.0f;  // keeps -0 → +0 as the vector code
        }
      }
      const float wk = widen(weight[k]);
      for (int64_t c = 0; c < hd; ++c) acc[c] += round_scalar(round_scalar(sample[c], value) * wk, value);
    }
  }
  for (int64_t c = 0; c < hd; ++c) out[c] = static_cast<T>(acc[c]);
}

template <class T>
XSAM_AVX2 void sample_head_avx2(const T* value, const int64_t* level_start, const int64_t* level_h,
                                const int64_t* level_w, int64_t levels, int64_t points, int64_t heads, int64_t hd,
                                int64_t h, const T* grid, const T* weight, T* out) {
  sample_head_portable(value, level_start, level_h, level_w, levels, points, heads, hd, h, grid, weight, out);
}

template <class T>
void sample_head_generic(const T* value, const int64_t* level_start, const int64_t* level_h, const int64_t* level_w,
                         int64_t levels, int64_t points, int64_t heads, int64_t hd, int64_t h, const T* grid,
                         const T* weight, T* out) {
  sample_head_portable(value, level_start, level_h, level_w, levels, points, heads, hd, h, grid, weight, out);
}

template <class T>
void run(const torch::Tensor& value, const std::vector<int64_t>& start, const std::vector<int64_t>& hs,
         const std::vector<int64_t>& ws, const torch::Tensor& grids, const torch::Tensor& weights, torch::Tensor& out) {
  const int64_t B = value.size(0), tokens = value.size(1), heads = value.size(2), hd = value.size(3);
  const int64_t Q = grids.size(1), levels = grids.size(3), points = grids.size(4);
  const T* v = value.data_ptr<T>();
  const T* g = grids.data_ptr<T>();
  const T* w = weights.data_ptr<T>();
  T* o = out.data_ptr<T>();
  const CpuPath path = cpu_path_active();
  auto* head = path >= CpuPath::Avx512 ? &sample_head<T> : path >= CpuPath::Avx2 ? &sample_head_avx2<T> : &sample_head_generic<T>;
  at::parallel_for(0, B * Q, 16, [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) {
      const int64_t b = r / Q;
      for (int64_t h = 0; h < heads; ++h) {
        const int64_t gh = (r * heads + h) * levels * points;
        head(v + b * tokens * heads * hd, start.data(), hs.data(), ws.data(), levels, points, heads, hd, h,
             g + gh * 2, w + gh, o + (r * heads + h) * hd);
      }
    }
  });
}

}  // namespace

torch::Tensor fast_msda_sample(const torch::Tensor& value_in, const std::vector<std::pair<int64_t, int64_t>>& levels,
                               const torch::Tensor& grids_in, const torch::Tensor& weights_in) {
  const auto dt = value_in.scalar_type();
  if (!value_in.device().is_cpu() || (dt != at::kFloat && dt != at::kBFloat16) ||
      grids_in.scalar_type() != dt || weights_in.scalar_type() != dt || value_in.dim() != 4 ||
      value_in.size(3) > kMaxHeadDim || grids_in.dim() != 6 || static_cast<int64_t>(levels.size()) != grids_in.size(3))
    return {};
  auto value = value_in.contiguous(), grids = grids_in.contiguous(), weights = weights_in.contiguous();
  std::vector<int64_t> start, hs, ws;
  int64_t total = 0;
  for (const auto& [h, w] : levels) {
    start.push_back(total);
    hs.push_back(h);
    ws.push_back(w);
    total += h * w;
  }
  if (total != value.size(1)) return {};
  auto out = at::empty({value.size(0), grids.size(1), value.size(2) * value.size(3)}, value.options());
  if (dt == at::kBFloat16) run<c10::BFloat16>(value, start, hs, ws, grids, weights, out);
  else run<float>(value, start, hs, ws, grids, weights, out);
  return out;
}

}  // namespace xsam
