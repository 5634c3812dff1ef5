#include "models/phi3_rope.h"

#include <algorithm>

#include <ATen/ATen.h>

#include "core/error.h"

namespace xsam {

Phi3Rope::Phi3Rope(int64_t head_dim, double theta, int64_t initial_positions)
    : head_dim_(head_dim), theta_(theta), initial_positions_(std::max<int64_t>(initial_positions, 1)) {
  if (head_dim <= 0 || head_dim % 2 != 0)
    fail(Status::InvalidArgument, "Phi3Rope: llm head_dim must be positive and even, got " + std::to_string(head_dim));
}

Phi3Rope::Tables Phi3Rope::compute(int64_t positions, torch::Device device) const {
  at::NoGradGuard no_grad;
  auto f32 = at::TensorOptions().dtype(at::kFloat).device(device);
  // Same op sequence as HF: inv_freq = 1.0 / (theta ** (arange(0, d, 2).float() / d)), where Python's
  // `theta ** t` is tensor(theta) ** t and `1.0 / t` is t.reciprocal() * 1.0.
  auto exponent = at::arange(0, head_dim_, 2, f32.dtype(at::kLong)).to(at::kFloat) / head_dim_;
  auto inv_freq = at::pow(at::scalar_tensor(theta_, f32), exponent).reciprocal();
  // freqs[p, i] = p · inv_freq[i]: one fp32 product per entry, as HF's (d/2 × 1) @ (1 × T) matmul.
  auto pos = at::arange(positions, f32.dtype(at::kLong)).to(at::kFloat);
  auto freqs = at::outer(pos, inv_freq);
  auto emb = at::cat({freqs, freqs}, -1);
  return {emb.cos(), emb.sin()};
}

std::pair<torch::Tensor, torch::Tensor> Phi3Rope::tables(int64_t start, int64_t count, torch::Dtype dtype,
                                                         torch::Device device) const {
  if (start < 0 || count < 0) fail(Status::InvalidArgument, "Phi3Rope: negative position range");
  const int64_t needed = start + count;
  std::lock_guard<std::mutex> lock(mutex_);
  auto key = std::make_pair(device.str(), static_cast<int>(dtype));
  auto it = cache_.find(key);
  if (it == cache_.end() || it->second.cos.size(0) < needed) {
    int64_t n = initial_positions_;
    while (n < needed) n *= 2;
    Tables t = compute(n, device);
    // Cast after computing in fp32 (HF: cos.to(x.dtype)); a no-op for fp32.
    t.cos = t.cos.to(dtype);
    t.sin = t.sin.to(dtype);
    it = cache_.insert_or_assign(key, std::move(t)).first;
  }
  return {it->second.cos.narrow(0, start, count), it->second.sin.narrow(0, start, count)};
}

torch::Tensor Phi3Rope::apply(const torch::Tensor& x, const torch::Tensor& cos, const torch::Tensor& sin) {
  const int64_t half = x.size(-1) / 2;
  // rotate_half(x) = cat(-x[..., half:], x[..., :half])
  auto rotated = at::cat({x.narrow(-1, half, half).neg(), x.narrow(-1, 0, half)}, -1);
  return x * cos + rotated * sin;
}

}  // namespace xsam
