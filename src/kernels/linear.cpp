#include "kernels/linear.h"

#include <algorithm>
#include <vector>

#include <ATen/ATen.h>
#include <ATen/Parallel.h>

#include "core/cpu_path.h"
#include "kernels/gemv.h"
#include "kernels/widen.h"

namespace xsam {

namespace {

// Output columns per parallel task: each thread streams its own contiguous part of the weight.
constexpr int64_t kColumnGrain = 64;

bool gemv_on_this_path() { return cpu_path_active() >= CpuPath::Avx2; }

}  // namespace

int64_t mixed_gemv_max_rows() {
  const CpuPath path = cpu_path_active();
  return path >= CpuPath::Avx512 ? kMixedGemvMaxRows : path >= CpuPath::Avx2 ? kMixedGemvMaxRowsAvx2 : kMixedGemvMaxRowsGeneric;
}

namespace {

// The GEMV of the active path over all output columns, fp32 inputs, weights W (fp32 or bf16).
template <class W>
void gemv_all(const gemv::Rows& a, const W* w) {
  const CpuPath path = cpu_path_active();
  at::parallel_for(0, a.N, kColumnGrain, [&](int64_t n0, int64_t n1) {
    if (path >= CpuPath::Avx512)
      gemv::avx512(a, w, n0, n1);
    else if (path >= CpuPath::Avx2)
      gemv::avx2(a, w, n0, n1);
    else
      gemv::generic(a, w, n0, n1);
  });
}

std::vector<int64_t> output_shape(const torch::Tensor& x, int64_t N) {
  std::vector<int64_t> shape(x.sizes().begin(), x.sizes().end());
  shape.back() = N;
  return shape;
}

torch::Tensor bias_fp32(const torch::Tensor& bias) {
  return bias.defined() ? bias.to(at::kFloat).contiguous() : torch::Tensor();
}

// The GEMV's view of one product: x2d [rows, K] (fp32; unused by the bf16-dot kernel), `out` [rows, N] fp32.
gemv::Rows rows_of(const torch::Tensor& x2d, const torch::Tensor& w, const torch::Tensor& bias32, torch::Tensor& out) {
  gemv::Rows a;
  a.M = x2d.size(0), a.K = w.size(1), a.N = w.size(0);
  a.x = x2d.scalar_type() == at::kFloat ? x2d.data_ptr<float>() : nullptr;
  a.out = out.data_ptr<float>();
  a.bias = bias32.defined() ? bias32.data_ptr<float>() : nullptr;
  return a;
}

// x [rows, K] fp32 · w [N, K] (fp32 or bf16) with the GEMV; fp32 [rows, N].
torch::Tensor gemv_fp32_inputs(const torch::Tensor& x2d, const torch::Tensor& w, const torch::Tensor& bias32) {
  auto out = at::empty({x2d.size(0), w.size(0)}, x2d.options().dtype(at::kFloat));
  const gemv::Rows a = rows_of(x2d, w, bias32, out);
  if (w.scalar_type() == at::kBFloat16)
    gemv_all(a, w.data_ptr<c10::BFloat16>());
  else
    gemv_all(a, w.data_ptr<float>());
  return out;
}

// bf16 x and w with VDPBF16PS; fp32 [rows, N].
torch::Tensor gemv_bf16_dot(const torch::Tensor& x2d, const torch::Tensor& w, const torch::Tensor& bias32) {
  auto out = at::empty({x2d.size(0), w.size(0)}, x2d.options().dtype(at::kFloat));
  const gemv::Rows a = rows_of(x2d, w, bias32, out);
  const c10::BFloat16* xb = x2d.data_ptr<c10::BFloat16>();
  at::parallel_for(0, a.N, kColumnGrain, [&](int64_t n0, int64_t n1) {
    gemv::avx512_bf16_dot(a, w.data_ptr<c10::BFloat16>(), xb, n0, n1);
  });
  return out;
}

// The calling thread's widening buffer (concurrent contexts run on different threads).
float* widen_scratch(int64_t elements) {
  thread_local std::vector<float> scratch;
  if (static_cast<int64_t>(scratch.size()) < elements) scratch.resize(elements);
  return scratch.data();
}

// Many rows × bf16 weights, fp32 math: each panel of weight rows is widened into the scratch buffer and
// multiplied by libtorch's fp32 GEMM. Panels keep the scratch small and cache-warm; one panel when the
// whole weight fits.
torch::Tensor widened_gemm(const torch::Tensor& x2d, const torch::Tensor& w, const torch::Tensor& bias32,
                           int64_t panel_bytes = kWidenPanelBytes) {
  const int64_t N = w.size(0), K = w.size(1);
  const int64_t fit = std::max<int64_t>(kColumnGrain, panel_bytes / int64_t(sizeof(float)) / K);
  const int64_t panel = fit >= N ? N : fit / kColumnGrain * kColumnGrain;
  float* buf = widen_scratch(panel * K);
  const auto f32 = x2d.options().dtype(at::kFloat);
  if (panel == N) {
    widen_bf16_rows(w, 0, N, buf);
    return at::linear(x2d, at::from_blob(buf, {N, K}, f32), bias32);
  }
  auto out = at::empty({x2d.size(0), N}, f32);
  for (int64_t n0 = 0; n0 < N; n0 += panel) {
    const int64_t rows = std::min(panel, N - n0);
    widen_bf16_rows(w, n0, rows, buf);
    auto b = bias32.defined() ? bias32.narrow(0, n0, rows) : torch::Tensor();
    out.narrow(1, n0, rows).copy_(at::linear(x2d, at::from_blob(buf, {rows, K}, f32), b));
  }
  return out;
}

torch::Tensor mixed_linear(const torch::Tensor& x, const torch::Tensor& w, const torch::Tensor& bias) {
  const int64_t K = w.size(1), N = w.size(0);
  auto x2d = x.reshape({-1, K}).contiguous();
  auto w_c = w.contiguous();
  const torch::Tensor bias32 = bias_fp32(bias);
  auto out = x2d.size(0) <= mixed_gemv_max_rows() ? gemv_fp32_inputs(x2d, w_c, bias32) : widened_gemm(x2d, w_c, bias32);
  return out.view(output_shape(x, N));
}

}  // namespace

torch::Tensor widened_linear(const torch::Tensor& x, const torch::Tensor& w, const torch::Tensor& bias,
                             int64_t panel_bytes) {
  const int64_t K = w.size(1), N = w.size(0);
  auto out = widened_gemm(x.reshape({-1, K}).contiguous(), w.contiguous(), bias_fp32(bias), panel_bytes);
  return out.view(output_shape(x, N));
}

bool fast_linear_applies(const torch::Tensor& x, const torch::Tensor& w) {
  if (!x.defined() || !w.defined() || !x.device().is_cpu() || !w.device().is_cpu()) return false;
  const auto dt = w.scalar_type();
  if ((dt != at::kBFloat16 && dt != at::kFloat) || x.scalar_type() != dt) return false;
  if (w.dim() != 2 || !w.is_contiguous() || x.dim() < 1 || x.size(-1) != w.size(1) || w.size(1) == 0) return false;
  const int64_t rows = x.numel() / w.size(1);
  const int64_t max_rows = dt == at::kBFloat16 ? kFastLinearMaxRowsBf16 : kFastLinearMaxRows;
  return rows >= 1 && rows <= max_rows && gemv_on_this_path();
}

torch::Tensor fast_linear(const torch::Tensor& x, const torch::Tensor& w, const torch::Tensor& bias) {
  if (!fast_linear_applies(x, w) || (bias.defined() && (bias.scalar_type() != w.scalar_type() || !bias.device().is_cpu())))
    return at::linear(x, w, bias);
  const int64_t K = w.size(1), N = w.size(0);
  const torch::Tensor bias32 = bias_fp32(bias);
  auto x2d = x.reshape({-1, K}).contiguous();
  torch::Tensor acc;
  if (w.scalar_type() == at::kBFloat16 && cpu_path_active() >= CpuPath::Avx512Bf16)
    acc = gemv_bf16_dot(x2d, w, bias32);
  else  // inputs widened to fp32 once (exact for bf16); results accumulate in fp32
    acc = gemv_fp32_inputs(x2d.to(at::kFloat).contiguous(), w, bias32);
  // One rounding to the output dtype (a no-op for fp32).
  return acc.to(w.scalar_type()).view(output_shape(x, N));
}

torch::Tensor linear(const torch::Tensor& x, const torch::Tensor& w, const torch::Tensor& bias) {
  const bool mixed = w.scalar_type() == at::kBFloat16 && x.scalar_type() == at::kFloat;
  if (!mixed) return fast_linear(x, w, bias);
  if (!x.device().is_cpu() || !w.device().is_cpu() || w.dim() != 2 || x.dim() < 1 || x.size(-1) != w.size(1) ||
      w.size(1) == 0 || x.numel() == 0)
    return at::linear(x, w.to(at::kFloat), bias.defined() ? bias.to(at::kFloat) : bias);
  return mixed_linear(x, w, bias);
}

}  // namespace xsam
