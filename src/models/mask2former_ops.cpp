#include "models/mask2former_ops.h"

#include <cmath>
#include <map>
#include <mutex>
#include <string>

#include <ATen/ATen.h>

namespace xsam::m2f {

torch::Tensor layer_norm_fp32(const torch::Tensor& x, const torch::Tensor& weight, const torch::Tensor& bias,
                              double eps) {
  auto y = at::layer_norm(x.to(at::kFloat), {x.size(-1)}, weight.to(at::kFloat), bias.to(at::kFloat), eps);
  return y.to(x.scalar_type());
}

torch::Tensor group_norm_fp32(const torch::Tensor& x, int64_t groups, const torch::Tensor& weight,
                              const torch::Tensor& bias, double eps) {
  auto y = at::group_norm(x.to(at::kFloat), groups, weight.to(at::kFloat), bias.to(at::kFloat), eps);
  return y.to(x.scalar_type());
}

torch::Tensor softmax_fp32(const torch::Tensor& x, int64_t dim) {
  return at::softmax(x.to(at::kFloat), dim).to(x.scalar_type());
}

torch::Tensor resize_bilinear(const torch::Tensor& x, int64_t height, int64_t width) {
  // No scale factors: the source/target ratio is derived from the sizes, as F.interpolate(size=...) does.
  auto y = at::upsample_bilinear2d(x.to(at::kFloat), {height, width}, /*align_corners=*/false, c10::nullopt,
                                   c10::nullopt);
  return y.to(x.scalar_type());
}

// sin for even k, cos for odd k, interleaved back into one block: [sin(p0), cos(p1), sin(p2), …].
static torch::Tensor interleave_sin_cos(const torch::Tensor& p) {
  auto even = p.slice(-1, 0, c10::nullopt, 2).sin();
  auto odd = p.slice(-1, 1, c10::nullopt, 2).cos();
  return at::stack({even, odd}, -1).flatten(-2);
}

static torch::Tensor sine_position_embedding_uncached(const torch::Tensor& x, int64_t num_pos_feats);

// The embedding depends only on (H, W, num_pos_feats, dtype, device): computed once per key and shared
// (every prompt's transformer decoder needs the same three levels).
torch::Tensor sine_position_embedding(const torch::Tensor& x, int64_t num_pos_feats) {
  static std::mutex mutex;
  static std::map<std::string, torch::Tensor> memo;
  const int64_t batch = x.size(0), height = x.size(2), width = x.size(3);
  const std::string key = std::to_string(height) + "x" + std::to_string(width) + ":" + std::to_string(num_pos_feats) +
                          ":" + std::string(c10::toString(x.scalar_type())) + ":" + x.device().str();
  {
    std::lock_guard<std::mutex> lock(mutex);
    auto it = memo.find(key);
    if (it != memo.end()) return it->second.expand({batch, 2 * num_pos_feats, height, width});
  }
  auto pos = sine_position_embedding_uncached(x, num_pos_feats);
  std::lock_guard<std::mutex> lock(mutex);
  if (memo.size() >= 32) memo.clear();  // a handful of shapes in practice; bounded regardless
  memo.emplace(key, pos.narrow(0, 0, 1).contiguous());
  return pos;
}

static torch::Tensor sine_position_embedding_uncached(const torch::Tensor& x, int64_t num_pos_feats) {
  const int64_t batch = x.size(0), height = x.size(2), width = x.size(3);
  const auto options = x.options();
  const double scale = 2 * M_PI, eps = 1e-6, temperature = 10000.0;

  // Upstream: cumsum of a mask of ones → 1..H down the rows and 1..W along the columns.
  auto y_embed = at::arange(1, height + 1, options.dtype(at::kFloat)).to(x.scalar_type()).view({height, 1});
  auto x_embed = at::arange(1, width + 1, options.dtype(at::kFloat)).to(x.scalar_type()).view({1, width});
  y_embed = y_embed / (y_embed.slice(0, height - 1, height) + eps) * scale;
  x_embed = x_embed / (x_embed.slice(1, width - 1, width) + eps) * scale;
  y_embed = y_embed.expand({height, width});
  x_embed = x_embed.expand({height, width});

  auto dim_t = at::arange(num_pos_feats, options.dtype(at::kFloat)).to(x.scalar_type());
  dim_t = at::pow(temperature, 2 * at::floor(dim_t / 2) / static_cast<double>(num_pos_feats));

  auto pos_y = interleave_sin_cos(y_embed.unsqueeze(-1) / dim_t);  // (H, W, num_pos_feats)
  auto pos_x = interleave_sin_cos(x_embed.unsqueeze(-1) / dim_t);
  auto pos = at::cat({pos_y, pos_x}, -1).permute({2, 0, 1});       // (2·num_pos_feats, H, W)
  return pos.unsqueeze(0).expand({batch, 2 * num_pos_feats, height, width});
}

}  // namespace xsam::m2f
