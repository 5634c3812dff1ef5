#include "bench/limits.h"

#include <algorithm>
#include <chrono>

#include <torch/torch.h>

#include "kernels/linear.h"

namespace xsam::bench {

namespace {

using Clock = std::chrono::steady_clock;

template <class F>
double best_seconds(int repeats, F&& f) {
  double best = 1e30;
  for (int i = 0; i < std::max(1, repeats); ++i) {
    auto t = Clock::now();
    f();
    best = std::min(best, std::chrono::duration<double>(Clock::now() - t).count());
  }
  return best;
}

GemmRate measure_gemm(GemmRate g, torch::Dtype dtype, int repeats) {
  auto x = torch::randn({g.m, g.k}).to(dtype);
  auto w = torch::randn({g.n, g.k}).to(dtype);  // [out, in], as a weight; the model computes x·wᵀ
  at::matmul(x, w.t());                          // warm-up: kernel selection, first-touch of the output
  const double s = best_seconds(repeats, [&] { at::matmul(x, w.t()); });
  g.gflops = 2.0 * g.m * g.k * g.n / s / 1e9;
  return g;
}

// Matrices shaped like the LLM's gate_up_proj weight, enough of them to make `bytes` (several times the
// last-level cache), each multiplied by one row: the bytes of the matrices over the best time.
double measure_gemv(const ModelConfig& c, torch::Dtype math_dtype, torch::Dtype weight_dtype, int64_t bytes,
                    int repeats) {
  const int64_t rows = 2 * int64_t(c.llm.intermediate_size), cols = c.llm.hidden_size;
  const int64_t per = rows * cols * int64_t(c10::elementSize(weight_dtype));
  const int64_t count = std::max<int64_t>(2, bytes / std::max<int64_t>(1, per));
  std::vector<torch::Tensor> ws;
  for (int64_t i = 0; i < count; ++i) ws.push_back(torch::rand({rows, cols}).sub_(0.5).to(weight_dtype));
  auto v = torch::randn({1, cols}).to(math_dtype);
  // The kernel the model's decoding step uses for one row (kernels/linear.h).
  for (auto& w : ws) xsam::linear(v, w);
  const double s = best_seconds(repeats, [&] {
    for (auto& w : ws) xsam::linear(v, w);
  });
  return double(per) * count / s / 1e9;
}

double measure_read(int64_t bytes, int repeats) {
  auto t = torch::rand({bytes / 4});
  t.sum();
  const double s = best_seconds(repeats, [&] { t.sum(); });
  return double(t.numel()) * 4 / s / 1e9;
}

double best_rate(const std::vector<GemmRate>& v) {
  double b = 0;
  for (const auto& g : v) b = std::max(b, g.gflops);
  return b;
}

}  // namespace

double MachineLimits::bandwidth_gbs() const { return std::max(gemv_gbs, read_gbs); }

std::vector<GemmRate> model_gemm_shapes(const ModelConfig& c, int64_t llm_rows) {
  const auto& l = c.llm;
  const int64_t h = l.hidden_size, qkv = (l.num_heads + 2 * l.num_kv_heads) * l.head_dim();
  const int64_t sam_tokens = int64_t(c.sam.grid()) * c.sam.grid(), d = c.sam.hidden_size;
  auto name = [](const char* what, int64_t m, int64_t k, int64_t n) {
    return std::string(what) + " " + std::to_string(m) + "x" + std::to_string(k) + "x" + std::to_string(n);
  };
  std::vector<GemmRate> v;
  auto add = [&](const char* what, int64_t m, int64_t k, int64_t n) {
    if (m > 0 && k > 0 && n > 0) v.push_back({name(what, m, k, n), m, k, n});
  };
  add("llm.qkv_proj", llm_rows, h, qkv);
  add("llm.gate_up_proj", llm_rows, h, 2 * int64_t(l.intermediate_size));
  add("llm.down_proj", llm_rows, l.intermediate_size, h);
  add("sam.mlp.lin1", sam_tokens, d, c.sam.mlp_dim);
  add("siglip.mlp.fc1", c.siglip.num_tokens(), c.siglip.hidden_size, c.siglip.intermediate_size);
  return v;
}

MachineLimits measure_limits(const ModelConfig& c, int64_t llm_rows, torch::Dtype math_dtype,
                             torch::Dtype weight_dtype, int repeats, int64_t gemv_bytes) {
  torch::NoGradGuard no_grad;
  auto t0 = Clock::now();
  MachineLimits lim;
  lim.math_dtype = math_dtype;
  lim.weight_dtype = weight_dtype;
  for (const auto& g : model_gemm_shapes(c, llm_rows)) lim.gemms.push_back(measure_gemm(g, math_dtype, repeats));
  lim.matmul_gflops = best_rate(lim.gemms);
  lim.gemv_gbs = measure_gemv(c, math_dtype, weight_dtype, gemv_bytes, repeats);
  lim.read_gbs = measure_read(gemv_bytes, repeats);
  lim.seconds = std::chrono::duration<double>(Clock::now() - t0).count();
  return lim;
}

MachineLimits best_of(const MachineLimits& a, const MachineLimits& b) {
  MachineLimits r = a;
  for (size_t i = 0; i < r.gemms.size() && i < b.gemms.size(); ++i)
    r.gemms[i].gflops = std::max(r.gemms[i].gflops, b.gemms[i].gflops);
  r.matmul_gflops = std::max(a.matmul_gflops, b.matmul_gflops);
  r.gemv_gbs = std::max(a.gemv_gbs, b.gemv_gbs);
  r.read_gbs = std::max(a.read_gbs, b.read_gbs);
  r.seconds = a.seconds + b.seconds;
  return r;
}

}  // namespace xsam::bench
