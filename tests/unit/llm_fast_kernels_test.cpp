// The fused CPU kernels of src/kernels/*.cpp against the unfused ATen ops they replace: same values
// (bitwise where the header says so, else within the summation-order difference), and independence of an
// output row from the number of rows in the call where the pipeline relies on it.
#include <cmath>
#include <limits>

#include <gtest/gtest.h>
#include <torch/torch.h>

#include "core/cpu_path.h"
#include "kernels/attention.h"
#include "kernels/elementwise.h"
#include "kernels/flash.h"
#include "kernels/linear.h"
#include "kernels/softmax.h"
#include "support/golden.h"

namespace xsam::test {
namespace {

torch::Tensor rnd(std::vector<int64_t> shape, double scale = 1.0, torch::Dtype dtype = torch::kFloat32) {
  return (torch::randn(shape) * scale).to(dtype);
}

TEST(FastKernels, LinearMatchesAtLinear) {
  torch::manual_seed(1);
  auto w = rnd({67, 200});
  for (int64_t rows : {1, 5, 63}) {
    auto x = rnd({rows, 200});
    XSAM_EXPECT_CLOSE(fast_linear(x, w), at::linear(x, w), 1e-6, "fast_linear fp32 rows " + std::to_string(rows));
  }
  auto wb = w.to(torch::kBFloat16);
  for (int64_t rows : {1, 2}) {
    auto x = rnd({rows, 200}, 1.0, torch::kBFloat16);
    XSAM_EXPECT_CLOSE(fast_linear(x, wb), at::linear(x, wb), 1e-2, "fast_linear bf16 rows " + std::to_string(rows));
  }
}

TEST(FastKernels, LinearRowDoesNotDependOnRowCount) {
  torch::manual_seed(2);
  auto w = rnd({40, 96});
  auto x = rnd({49, 96});
  // A property of our few-row kernel only: where it does not run (below the avx512 path) fast_linear is
  // at::linear, whose BLAS may block rows differently for 40 and 49 rows.
  if (!fast_linear_applies(x, w))
    GTEST_SKIP() << "CPU path " << cpu_path_name(cpu_path_active()) << ": the few-row linear kernel is not used";
  auto all = fast_linear(x, w), part = fast_linear(x.narrow(0, 0, 40), w);
  EXPECT_TRUE(torch::equal(all.narrow(0, 0, 40), part));
}

TEST(FastKernels, RmsNormAndSiluMulMatchUnfusedOps) {
  torch::manual_seed(3);
  for (auto dt : {torch::kFloat32, torch::kBFloat16}) {
    const char* name = dt == torch::kFloat32 ? "fp32" : "bf16";
    auto x = rnd({7, 3 * 64 + 5}, 2.0, dt), w = rnd({3 * 64 + 5}, 1.0, dt);
    auto x32 = x.to(torch::kFloat);
    auto ref = w * (x32 * at::rsqrt(x32.pow(2).mean(-1, true) + 1e-5)).to(dt);
    XSAM_EXPECT_CLOSE(fast_rms_norm(x, w, 1e-5), ref, dt == torch::kFloat32 ? 1e-6 : 1e-2,
                      std::string("rms_norm ") + name);
    auto gu = rnd({5, 2 * 40}, 3.0, dt);
    auto ref2 = gu.narrow(-1, 40, 40) * at::silu(gu.narrow(-1, 0, 40));
    XSAM_EXPECT_CLOSE(fast_silu_mul(gu), ref2, dt == torch::kFloat32 ? 1e-6 : 1e-2, std::string("silu_mul ") + name);
  }
}

TEST(FastKernels, RopeSplitIsBitwiseTheUnfusedOps) {
  torch::manual_seed(4);
  const int64_t T = 9, H = 4, KV = 2, d = 36;
  for (auto dt : {torch::kFloat32, torch::kBFloat16}) {
    auto qkv = rnd({T, (H + 2 * KV) * d}, 1.0, dt);
    auto cos = torch::rand({T, d}).to(dt), sin = torch::rand({T, d}).to(dt);
    QkvHeads got = rope_split_qkv(qkv, cos, sin, H, KV, d);
    auto heads = [&](int64_t first, int64_t n) { return qkv.narrow(1, first * d, n * d).view({T, n, d}).transpose(0, 1); };
    auto rope = [&](const torch::Tensor& x) {
      auto rotated = torch::cat({x.narrow(-1, d / 2, d / 2).neg(), x.narrow(-1, 0, d / 2)}, -1);
      return x * cos + rotated * sin;
    };
    EXPECT_TRUE(torch::equal(got.q, rope(heads(0, H))));
    EXPECT_TRUE(torch::equal(got.k, rope(heads(H, KV))));
    EXPECT_TRUE(torch::equal(got.v, heads(H + KV, KV)));
  }
}

TEST(FastKernels, SoftmaxKernelsMatchUnfusedOps) {
  torch::manual_seed(5);
  for (auto dt : {torch::kFloat32, torch::kBFloat16}) {
    const double tol = dt == torch::kFloat32 ? 1e-6 : 1e-2;
    const char* name = dt == torch::kFloat32 ? "fp32" : "bf16";
    auto s = rnd({3, 5, 37}, 3.0, dt);
    auto ref = at::softmax(s.to(torch::kFloat), -1).to(dt);
    auto got = s.clone();
    XSAM_EXPECT_CLOSE(attention_softmax_(got), ref, tol, std::string("attention_softmax_ ") + name);

    auto blocked = torch::rand({3, 5, 37}) < 0.5;
    blocked.select(-1, 0).fill_(false);
    auto ref2 = at::softmax(s.to(torch::kFloat).masked_fill(blocked, -INFINITY), -1).to(dt);
    auto got2 = s.clone();
    XSAM_EXPECT_CLOSE(masked_attention_softmax_(got2, blocked), ref2, tol, std::string("masked_softmax_ ") + name);

    // Causal: 2 groups × 4 rows at positions 10..13 against keys 6..(6+K).
    auto sc = rnd({2, 8, 8}, 3.0, dt);
    auto diff = at::arange(10, 14).view({4, 1}) - at::arange(6, 14).view({1, 8});
    auto hidden = (diff < 0).logical_or(diff >= 5);
    auto ref3 = at::softmax(sc.to(torch::kFloat).div(2.5).view({2, 2, 4, 8}).masked_fill(hidden, -INFINITY), -1)
                    .view({2, 8, 8})
                    .to(dt);
    auto got3 = sc.clone();
    XSAM_EXPECT_CLOSE(causal_attention_softmax_(got3, 4, 10, 6, 5, 2.5), ref3, tol, std::string("causal_softmax_ ") + name);
  }
}

TEST(FastKernels, SamSoftmaxMatchesEinsumsAndAdds) {
  torch::manual_seed(6);
  const int64_t B = 2, grid = 6, hd = 8, rows = 2, first = 3;
  for (auto dt : {torch::kFloat32, torch::kBFloat16}) {
    auto q = rnd({B, rows * grid, hd}, 1.0, dt);
    auto th = rnd({grid, grid, hd}, 0.5, dt), tw = rnd({grid, grid, hd}, 0.5, dt);
    auto s = rnd({B, rows * grid, grid * grid}, 2.0, dt);
    auto rq = q.view({B, rows, grid, hd});
    auto rel_h = at::einsum("bhwc,hkc->bhwk", {rq, th.slice(0, first, first + rows)}).reshape({B, rows * grid, grid, 1});
    auto rel_w = at::einsum("bhwc,wkc->bhwk", {rq, tw}).reshape({B, rows * grid, 1, grid});
    auto ref = s.clone();
    ref.view({B, rows * grid, grid, grid}).add_(rel_h).add_(rel_w);
    ref = at::softmax(ref, -1, at::kFloat).to(dt);
    auto got = s.clone();
    sam_attention_softmax_(got, q, th, tw, first, grid);
    XSAM_EXPECT_CLOSE(got, ref, dt == torch::kFloat32 ? 1e-6 : 2e-2,
                      std::string("sam_attention_softmax_ ") + (dt == torch::kFloat32 ? "fp32" : "bf16"));
  }
}

// Phi-3 attention of the rows [q_pos0, q_pos0 + T) the unfused way: q·kᵀ rounded to the dtype, ÷ sqrt(d) in
// fp32, mask, softmax fp32 rounded to the dtype, ·v.
torch::Tensor unfused_causal(const torch::Tensor& q, const torch::Tensor& k, const torch::Tensor& v, int64_t q_pos0,
                             int64_t window) {
  const int64_t H = q.size(0), T = q.size(1), K = k.size(1), d = q.size(2);
  auto scores = at::bmm(q, k.transpose(1, 2)).to(torch::kFloat).div(std::sqrt(double(d)));
  auto diff = at::arange(q_pos0, q_pos0 + T).view({T, 1}) - at::arange(0, K).view({1, K});
  auto hidden = diff < 0;
  if (window > 0) hidden = hidden.logical_or(diff >= window);
  auto probs = at::softmax(scores.masked_fill(hidden, -INFINITY), -1).to(q.scalar_type());
  return at::bmm(probs, v).transpose(0, 1).reshape({T, H * d});
}

TEST(FastKernels, DecodeAttentionMatchesUnfusedOps) {
  torch::manual_seed(7);
  const int64_t H = 4, K = 50, d = 32;
  for (auto dt : {torch::kFloat32, torch::kBFloat16}) {
    auto cache_k = rnd({H, 64, d}, 0.5, dt), cache_v = rnd({H, 64, d}, 1.0, dt);
    auto k = cache_k.narrow(1, 0, K), v = cache_v.narrow(1, 0, K);  // strided views, as from the KV cache
    auto q = rnd({H, 3, d}, 0.5, dt);
    if (!decode_attention_applies(q, k))
      GTEST_SKIP() << "CPU path " << cpu_path_name(cpu_path_active()) << ": decode_attention is not used (needs avx512)";
    for (int64_t window : {0, 7}) {
      auto got = decode_attention(q, k, v, K - 3, 0, window, std::sqrt(double(d)));
      auto ref = unfused_causal(q, k.contiguous(), v.contiguous(), K - 3, window);
      XSAM_EXPECT_CLOSE(got, ref, dt == torch::kFloat32 ? 1e-6 : 1e-2,
                        std::string("decode_attention ") + (dt == torch::kFloat32 ? "fp32" : "bf16") + " window " +
                            std::to_string(window));
    }
    // A row's result does not depend on how many rows the call had.
    auto one = decode_attention(q.narrow(1, 2, 1), k, v, K - 1, 0, 0, std::sqrt(double(d)));
    auto three = decode_attention(q, k, v, K - 3, 0, 0, std::sqrt(double(d)));
    EXPECT_TRUE(torch::equal(one, three.narrow(0, 2, 1)));
  }
}

TEST(FastKernels, FlashAttentionMatchesUnfusedOps) {
  if (!flash_attention_applies(torch::zeros({1, 1, 2}, torch::kBFloat16)))
    GTEST_SKIP() << "this CPU has no AVX512-BF16: the fused bf16 attention is never used here";
  torch::manual_seed(8);
  const auto bf = torch::kBFloat16;
  // Phi-3: 70 rows (above the flash threshold) over 70 keys, GQA 4 heads / 2 kv heads, window 33.
  {
    const int64_t H = 4, KV = 2, T = 70, d = 24;
    auto q = rnd({H, T, d}, 0.5, bf), k = rnd({KV, T, d}, 0.5, bf), v = rnd({KV, T, d}, 1.0, bf);
    for (int64_t window : {0, 33}) {
      auto got = flash_causal_attention(q, k, v, 0, 0, window, std::sqrt(double(d))).transpose(0, 1).reshape({T, H * d});
      auto ke = k.repeat_interleave(H / KV, 0), ve = v.repeat_interleave(H / KV, 0);
      XSAM_EXPECT_CLOSE(got, unfused_causal(q, ke, ve, 0, window), 1e-2, "flash causal window " + std::to_string(window));
    }
  }
  // SigLIP-like: 37 tokens, head_dim 18 (channels padded inside the kernel).
  {
    auto q = rnd({3, 37, 18}, 0.5, bf), k = rnd({3, 37, 18}, 0.5, bf), v = rnd({3, 37, 18}, 1.0, bf);
    auto scores = at::bmm(q, k.transpose(1, 2)).mul_(0.2357);
    auto ref = at::bmm(at::softmax(scores, -1, at::kFloat).to(bf), v);
    XSAM_EXPECT_CLOSE(flash_plain_attention(q, k, v, 0.2357), ref, 1e-2, "flash plain");
  }
  // SAM-like: 5×6 query grid and key grid, rel-pos tables.
  {
    const int64_t B = 2, gh = 5, gw = 6, hd = 16;
    auto q = rnd({B, gh * gw, hd}, 1.0, bf), k = rnd({B, gh * gw, hd}, 0.5, bf), v = rnd({B, gh * gw, hd}, 1.0, bf);
    auto th = rnd({gh, gh, hd}, 0.5, bf), tw = rnd({gw, gw, hd}, 0.5, bf);
    auto qs = q * 0.25;
    auto scores = at::bmm(qs, k.transpose(1, 2));
    sam_attention_softmax_(scores, q, th, tw, 0, gw);
    auto ref = at::bmm(scores, v);
    XSAM_EXPECT_CLOSE(flash_sam_attention(qs, q, k, v, th, tw, gw), ref, 1e-2, "flash sam");
  }
}

}  // namespace
}  // namespace xsam::test
