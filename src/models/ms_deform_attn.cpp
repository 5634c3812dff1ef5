#include "models/ms_deform_attn.h"

#include <string>

#include <ATen/ATen.h>

#include "core/error.h"
#include "kernels/msda.h"
#include "models/mask2former_ops.h"

namespace xsam {

torch::Tensor ms_deform_attn_sample(const torch::Tensor& value, const std::vector<LevelShape>& shapes,
                                    const torch::Tensor& locations, const torch::Tensor& weights) {
  const int64_t batch = value.size(0), heads = value.size(2), head_dim = value.size(3);
  const int64_t queries = locations.size(1), levels = locations.size(3), points = locations.size(4);
  int64_t total = 0;
  for (const auto& s : shapes) total += s.size();
  if (static_cast<int64_t>(shapes.size()) != levels || total != value.size(1))
    fail(Status::InvalidArgument, "ms_deform_attn: value has " + std::to_string(value.size(1)) +
                                      " tokens, level shapes give " + std::to_string(total) + " over " +
                                      std::to_string(shapes.size()) + " levels (locations have " +
                                      std::to_string(levels) + ")");

  // grid_sample works on [-1, 1] with -1/+1 at the outer pixel edges (align_corners=False).
  auto grids = 2 * locations - 1;
  // The same arithmetic in one fused pass where the CPU allows it (kernels/msda.h).
  std::vector<std::pair<int64_t, int64_t>> level_sizes;
  for (const auto& s : shapes) level_sizes.emplace_back(s.height, s.width);
  if (auto fused = fast_msda_sample(value, level_sizes, grids, weights); fused.defined()) return fused;
  std::vector<torch::Tensor> samples;
  int64_t start = 0;
  for (int64_t l = 0; l < levels; ++l) {
    const auto& s = shapes[static_cast<size_t>(l)];
    // (B, H·W, heads, head_dim) → (B·heads, head_dim, H, W); batch-head index b·heads + h.
    auto value_l = value.narrow(1, start, s.size())
                       .flatten(2)
                       .transpose(1, 2)
                       .reshape({batch * heads, head_dim, s.height, s.width});
    // (B, Q, heads, points, 2) → (B·heads, Q, points, 2)
    auto grid_l = grids.select(3, l).transpose(1, 2).flatten(0, 1);
    auto sampled = at::grid_sampler(value_l.to(at::kFloat), grid_l.to(at::kFloat), /*bilinear*/ 0,
                                    /*zeros*/ 0, /*align_corners=*/false);
    samples.push_back(sampled.to(value.scalar_type()));  // (B·heads, head_dim, Q, points)
    start += s.size();
  }
  // (B, Q, heads, levels, points) → (B·heads, 1, Q, levels·points)
  auto w = weights.transpose(1, 2).reshape({batch * heads, 1, queries, levels * points});
  auto out = (at::stack(samples, -2).flatten(-2) * w).sum(-1);  // (B·heads, head_dim, Q)
  return out.view({batch, heads * head_dim, queries}).transpose(1, 2).contiguous();
}

MsDeformAttnImpl::MsDeformAttnImpl(int64_t d_model, int64_t num_heads, int64_t num_levels, int64_t num_points)
    : d_model_(d_model), num_heads_(num_heads), num_levels_(num_levels), num_points_(num_points) {
  if (d_model % num_heads != 0)
    fail(Status::InvalidArgument, "ms_deform_attn: d_model " + std::to_string(d_model) +
                                      " is not divisible by num_heads " + std::to_string(num_heads));
  sampling_offsets_ = register_module(
      "sampling_offsets", torch::nn::Linear(d_model, num_heads * num_levels * num_points * 2));
  attention_weights_ =
      register_module("attention_weights", torch::nn::Linear(d_model, num_heads * num_levels * num_points));
  value_proj_ = register_module("value_proj", torch::nn::Linear(d_model, d_model));
  output_proj_ = register_module("output_proj", torch::nn::Linear(d_model, d_model));
}

torch::Tensor MsDeformAttnImpl::forward(const torch::Tensor& hidden, const torch::Tensor& position,
                                        const torch::Tensor& reference, const std::vector<LevelShape>& shapes) {
  const int64_t batch = hidden.size(0), tokens = hidden.size(1);
  auto query = hidden + position;
  auto value = value_proj_->forward(hidden).view({batch, tokens, num_heads_, d_model_ / num_heads_});

  auto offsets =
      sampling_offsets_->forward(query).view({batch, tokens, num_heads_, num_levels_, num_points_, 2});
  // One softmax per head over all levels × points jointly.
  auto weights = m2f::softmax_fp32(
      attention_weights_->forward(query).view({batch, tokens, num_heads_, num_levels_ * num_points_}), -1);
  weights = weights.view({batch, tokens, num_heads_, num_levels_, num_points_});

  // Offsets are in pixels of the target level: x is divided by its width, y by its height.
  std::vector<double> normaliser;
  for (const auto& s : shapes) {
    normaliser.push_back(static_cast<double>(s.width));
    normaliser.push_back(static_cast<double>(s.height));
  }
  auto norm = at::tensor(normaliser, hidden.options().dtype(at::kDouble))
                  .to(offsets.scalar_type())
                  .view({1, 1, 1, num_levels_, 1, 2});
  auto locations = reference.unsqueeze(2).unsqueeze(4) + offsets / norm;  // (B, N, heads, levels, points, 2)

  return output_proj_->forward(ms_deform_attn_sample(value, shapes, locations, weights));
}

}  // namespace xsam
