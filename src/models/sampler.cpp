#include "models/sampler.h"

#include <cmath>
#include <string>

#include <ATen/CPUGeneratorImpl.h>
#include <torch/torch.h>

#include "core/error.h"

namespace xsam {

at::Generator make_cpu_generator(uint64_t seed) { return at::detail::createCPUGenerator(seed); }

namespace {

// upstream rand_sample_repeat: exactly `count` rows of `points`, drawing from `gen` only when n != count.
torch::Tensor rand_sample_repeat(const torch::Tensor& points, int64_t count, const at::Generator& gen) {
  const int64_t n = points.size(0);
  if (n < count) {
    auto extra = at::randint(0, n, {count - n}, gen, at::TensorOptions().dtype(at::kLong));
    return at::cat({points, points.index_select(0, extra)}, 0);
  }
  if (n > count) {
    auto perm = at::randperm(n, gen, at::TensorOptions().dtype(at::kLong));
    return points.index_select(0, perm.slice(0, 0, count));
  }
  return points;
}

}  // namespace

torch::Tensor VisionSampler::forward(const torch::Tensor& features, const torch::Tensor& masks, uint64_t seed) const {
  return forward(features, masks, make_cpu_generator(seed));
}

torch::Tensor VisionSampler::forward(const torch::Tensor& features, const torch::Tensor& masks,
                                     at::Generator generator) const {
  auto feat = features.dim() == 3 && features.size(0) == 1 ? features[0] : features;
  if (feat.dim() != 2) fail(Status::InvalidArgument, "vision sampler: features must be (g*g, C) or (1, g*g, C)");
  if (masks.dim() != 3) fail(Status::InvalidArgument, "vision sampler: masks must be (N, H, W)");
  const int64_t cells = feat.size(0), channels = feat.size(1);
  const int64_t side = static_cast<int64_t>(std::sqrt(static_cast<double>(cells)));
  if (side * side != cells)
    fail(Status::InvalidArgument, "vision sampler: " + std::to_string(cells) + " feature rows are not a square grid");
  const int64_t num_masks = masks.size(0), points_per_mask = config_.num_sample_point;
  const auto dtype = feat.scalar_type();
  if (num_masks == 0) return at::empty({0, config_.tokens_per_region(), channels}, feat.options());
  if (config_.pooling == RegionPooling::Mean && points_per_mask % config_.pooling_kernel != 0)
    fail(Status::InvalidArgument, "vision sampler: num_sample_point must be a multiple of pooling_kernel");

  // Point positions on the CPU (the RNG contract of docs/design/decisions.md#randomness-and-libtorch-version is about
  // CPU draws).
  auto cpu_masks = masks.to(at::kCPU);
  const float canvas_h = static_cast<float>(masks.size(1)), canvas_w = static_cast<float>(masks.size(2));
  auto canvas = at::tensor({canvas_h, canvas_w}, at::TensorOptions().dtype(at::kFloat));
  std::vector<torch::Tensor> per_mask;
  for (int64_t i = 0; i < num_masks; ++i) {
    auto rows_cols = cpu_masks[i].nonzero();  // (n, 2) (row, col), row-major order
    if (rows_cols.size(0) == 0)
      fail(Status::InvalidArgument, "vision sampler: visual-prompt mask " + std::to_string(i) + " is empty");
    // int64 / int64 true division happens in fp32 upstream; named img_wh there but it is (H, W).
    auto points = rows_cols.to(at::kFloat) / canvas;
    per_mask.push_back(rand_sample_repeat(points, points_per_mask, generator));
  }
  auto points = at::stack(per_mask).to(feat.device());  // (N, P, 2) (y, x)

  // Upstream casts the (x, y) coordinates to the feature dtype before 2p-1 (bf16 rounding included),
  // then samples an fp32 copy of the map.
  auto grid = points.flip({2}).to(dtype).unsqueeze(2);  // (N, P, 1, 2)
  grid = (grid * 2.0 - 1.0).to(at::kFloat);
  auto map = feat.reshape({side, side, channels}).permute({2, 0, 1}).unsqueeze(0).expand({num_masks, -1, -1, -1});
  auto sampled = at::grid_sampler(map.to(at::kFloat).contiguous(), grid, /*bilinear*/ 0, /*zeros*/ 0,
                                  /*align_corners=*/true);                      // (N, C, P, 1)
  sampled = sampled.to(dtype).squeeze(3);                                       // (N, C, P)
  if (config_.pooling == RegionPooling::Max) return sampled.amax(2).unsqueeze(1);  // (N, 1, C)
  const int64_t k = config_.pooling_kernel;
  return at::avg_pool1d(sampled, {k}, {k}).transpose(1, 2).contiguous();           // (N, P/k, C)
}

}  // namespace xsam
