// Every kernel path this CPU supports against the generic one (and against double-precision references):
// bf16 widening (bit-exact), the GEMV over fp32 and bf16 weights, the mixed linear (bf16 weights, fp32
// math) for few rows and for many (widened panels), and fast_linear. Paths above the CPU's are skipped by
// name; the process-wide path is restored after each test.
#include <gtest/gtest.h>

#include <cstdio>
#include <vector>

#include <torch/torch.h>

#include "core/cpu_path.h"
#include "kernels/linear.h"
#include "kernels/msda.h"
#include "kernels/widen.h"

namespace xsam {
namespace {

struct RestorePath {
  ~RestorePath() { set_cpu_path("", "test"); }
};

std::vector<CpuPath> supported_paths() {
  std::vector<CpuPath> paths;
  for (CpuPath p : {CpuPath::Generic, CpuPath::Avx2, CpuPath::Avx512, CpuPath::Avx512Bf16})
    if (p <= cpu_path_supported()) paths.push_back(p);
    else std::printf("[kernels] %s: not on this CPU, skipped\n", cpu_path_name(p));
  return paths;
}

// |a − ref| ≤ tol · (Σ|x|·|w| per output + 1): fp32 accumulation error grows with the sum of magnitudes.
void expect_close_to_reference(const torch::Tensor& y, const torch::Tensor& x, const torch::Tensor& w,
                               const torch::Tensor& bias, const std::string& what) {
  auto xd = x.to(torch::kDouble), wd = w.to(torch::kDouble);
  auto ref = at::linear(xd, wd, bias.defined() ? bias.to(torch::kDouble) : torch::Tensor());
  auto scale = at::linear(xd.abs(), wd.abs()) + 1.0;
  const double worst = ((y.to(torch::kDouble) - ref).abs() / scale).max().item<double>();
  EXPECT_LE(worst, 1e-5) << what;  // fp32: ~K · 2^-24 relative to the magnitude sum, K ≤ 4096 here
}

torch::Tensor random(std::vector<int64_t> shape, torch::Dtype dtype, int64_t seed) {
  torch::manual_seed(seed);
  return torch::randn(shape).to(dtype);
}

TEST(KernelPaths, WideningIsBitExactOnEveryPath) {
  RestorePath restore;
  // Long enough to be split over threads, with a tail that no vector width divides.
  const auto src = random({(int64_t{1} << 17) + 13}, torch::kBFloat16, 1);
  const auto expected = src.to(torch::kFloat);
  for (CpuPath p : supported_paths()) {
    set_cpu_path(cpu_path_name(p), "test");
    auto out = torch::empty({src.numel()}, torch::kFloat);
    widen_bf16(src.data_ptr<c10::BFloat16>(), out.data_ptr<float>(), src.numel());
    EXPECT_TRUE(torch::equal(out, expected)) << cpu_path_name(p);
  }
}

TEST(KernelPaths, MixedLinearMatchesTheReferenceOnEveryPathAndRowCount) {
  RestorePath restore;
  for (int64_t K : std::vector<int64_t>{1, 7, 16, 45, 384}) {
    const auto w = random({37, K}, torch::kBFloat16, K);
    const auto bias = random({37}, torch::kFloat, K + 1);
    for (int64_t rows : std::vector<int64_t>{1, 2, 3, 4, 5, 9, 17, kMixedGemvMaxRows, kMixedGemvMaxRows + 1, 150}) {
      const auto x = random({rows, K}, torch::kFloat, rows);
      torch::Tensor generic;
      for (CpuPath p : supported_paths()) {
        set_cpu_path(cpu_path_name(p), "test");
        const auto y = xsam::linear(x, w, bias);
        ASSERT_EQ(y.scalar_type(), torch::kFloat);
        ASSERT_EQ(y.sizes(), (std::vector<int64_t>{rows, 37}));
        const std::string what = std::string(cpu_path_name(p)) + " K=" + std::to_string(K) + " rows=" + std::to_string(rows);
        expect_close_to_reference(y, x, w, bias, what);
        if (!generic.defined()) generic = y;
        EXPECT_LE((y - generic).abs().max().item<float>(), 1e-4f * (1 + generic.abs().max().item<float>())) << what;
      }
    }
  }
}

TEST(KernelPaths, GemvOutputsDoNotDependOnTheRowCount) {
  RestorePath restore;
  const int64_t K = 100;
  const auto w = random({19, K}, torch::kBFloat16, 3);
  for (CpuPath p : supported_paths()) {
    set_cpu_path(cpu_path_name(p), "test");
    const int64_t rows = mixed_gemv_max_rows();  // every row count up to this takes the GEMV
    const auto x = random({rows, K}, torch::kFloat, 4);
    const auto all = xsam::linear(x, w);
    for (int64_t r = 0; r < rows; ++r)
      EXPECT_TRUE(torch::equal(xsam::linear(x.slice(0, r, r + 1), w), all.slice(0, r, r + 1)))
          << cpu_path_name(p) << " row " << r;
  }
}

TEST(KernelPaths, MixedGemmOverSeveralPanelsMatchesTheReference) {
  RestorePath restore;
  // Panels of 64 weight rows for a weight of 200 rows: three full panels and a part.
  const int64_t K = 96, N = 200;
  const int64_t panel_bytes = 64 * K * int64_t(sizeof(float));
  const auto w = random({N, K}, torch::kBFloat16, 5);
  const auto bias = random({N}, torch::kFloat, 6);
  const auto x = random({2, 37, K}, torch::kFloat, 7);
  for (CpuPath p : supported_paths()) {
    set_cpu_path(cpu_path_name(p), "test");
    const auto y = widened_linear(x, w, bias, panel_bytes);
    ASSERT_EQ(y.sizes(), (std::vector<int64_t>{2, 37, N}));
    expect_close_to_reference(y.reshape({-1, N}), x.reshape({-1, K}), w, bias, cpu_path_name(p));
    // One panel or many: the same GEMM per output column.
    const auto whole = widened_linear(x, w, bias, N * K * int64_t(sizeof(float)));
    EXPECT_LE((y - whole).abs().max().item<float>(), 1e-5f * (1 + whole.abs().max().item<float>())) << cpu_path_name(p);
  }
}

TEST(KernelPaths, SameDtypeLinearMatchesTheReferenceOnEveryPath) {
  RestorePath restore;
  const int64_t K = 200;
  for (auto dtype : {torch::kFloat, torch::kBFloat16}) {
    const auto w = random({41, K}, dtype, 8);
    const auto bias = random({41}, dtype, 9);
    for (int64_t rows : std::vector<int64_t>{1, 2, 7}) {
      const auto x = random({rows, K}, dtype, 10 + rows);
      for (CpuPath p : supported_paths()) {
        set_cpu_path(cpu_path_name(p), "test");
        const auto y = fast_linear(x, w, bias);
        ASSERT_EQ(y.scalar_type(), dtype);
        const std::string what = std::string(cpu_path_name(p)) + " " + c10::toString(dtype) + " rows=" + std::to_string(rows);
        if (dtype == torch::kFloat) {
          expect_close_to_reference(y, x, w, bias, what);
        } else {  // one rounding of an fp32-accumulated sum to bf16 (2^-8 relative) against the double sum
          auto ref = at::linear(x.to(torch::kDouble), w.to(torch::kDouble), bias.to(torch::kDouble));
          auto scale = at::linear(x.to(torch::kDouble).abs(), w.to(torch::kDouble).abs()) + 1.0;
          EXPECT_LE(((y.to(torch::kDouble) - ref).abs() / scale).max().item<double>(), 1.0 / 256) << what;
        }
      }
    }
  }
}

TEST(KernelPaths, MixedLinearRefusesNothingItCannotRun) {
  // Operands the kernels do not take (a 0-row input, a non-contiguous weight) still get a correct answer.
  const auto w = random({8, 16}, torch::kBFloat16, 11);
  EXPECT_EQ(xsam::linear(torch::empty({0, 16}), w).sizes(), (std::vector<int64_t>{0, 8}));
  const auto wt = random({16, 8}, torch::kBFloat16, 12).t();
  const auto x = random({3, 16}, torch::kFloat, 13);
  expect_close_to_reference(xsam::linear(x, wt), x, wt, torch::Tensor(), "transposed weight");
}

// Deformable-attention sampling: the reference formulation (one grid_sample per level) in fp32, and every
// path bit-identical to every other (the same per-channel arithmetic in the same order).
TEST(KernelPaths, MsdaSamplingIsBitIdenticalOnEveryPathAndMatchesGridSample) {
  RestorePath restore;
  const int64_t B = 2, heads = 3, hd = 40, Q = 11, points = 4;
  const std::vector<std::pair<int64_t, int64_t>> levels = {{6, 5}, {3, 4}};
  int64_t tokens = 0;
  for (const auto& [h, w] : levels) tokens += h * w;
  const int64_t L = static_cast<int64_t>(levels.size());
  for (auto dtype : {torch::kFloat, torch::kBFloat16}) {
    const auto value = random({B, tokens, heads, hd}, dtype, 20);
    // Some samples outside [-1, 1]: corners out of bounds contribute zero.
    const auto grids = (random({B, Q, heads, L, points, 2}, torch::kFloat, 21) * 0.7).to(dtype);
    const auto weights = torch::softmax(random({B, Q, heads, L * points}, torch::kFloat, 22), -1)
                             .view({B, Q, heads, L, points}).to(dtype);
    torch::Tensor first;
    for (CpuPath p : supported_paths()) {
      set_cpu_path(cpu_path_name(p), "test");
      const auto out = fast_msda_sample(value, levels, grids, weights);
      ASSERT_TRUE(out.defined()) << cpu_path_name(p);
      if (!first.defined()) first = out;
      EXPECT_TRUE(torch::equal(out, first)) << cpu_path_name(p) << " " << c10::toString(dtype);
    }
    if (dtype != torch::kFloat) continue;
    torch::Tensor ref = torch::zeros({B * heads, hd, Q});
    int64_t start = 0;
    for (int64_t l = 0; l < L; ++l) {
      const auto [h, w] = levels[l];
      auto v = value.slice(1, start, start + h * w).permute({0, 2, 3, 1}).reshape({B * heads, hd, h, w});
      auto g = grids.select(3, l).permute({0, 2, 1, 3, 4}).reshape({B * heads, Q, points, 2});
      auto sampled = at::grid_sampler(v, g, 0, 0, false);  // bilinear, zeros, align_corners = false
      auto wl = weights.select(3, l).permute({0, 2, 1, 3}).reshape({B * heads, 1, Q, points});
      ref += (sampled * wl).sum(-1);
      start += h * w;
    }
    ref = ref.view({B, heads, hd, Q}).permute({0, 3, 1, 2}).reshape({B, Q, heads * hd});
    EXPECT_LE((first - ref).abs().max().item<float>(), 1e-5f);
  }
}

}  // namespace
}  // namespace xsam
