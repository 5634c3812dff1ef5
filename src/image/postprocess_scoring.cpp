#include "image/postprocess_scoring.h"

#include <tuple>

namespace xsam::postprocess_detail {

std::vector<TopkEntry> topk_entries(const Prediction& p, int64_t row) {
  const int64_t q = p.queries(), c = p.classes();
  // upstream: scores.flatten(0, 1).topk(num_queries, sorted=False) on a CPU tensor. The order of the
  // unsorted result comes from ATen's kernel (spec §8.30) and is part of the result.
  torch::Tensor flat = class_probabilities(p, row).flatten(0, 1);
  torch::Tensor values, indices;
  std::tie(values, indices) = flat.topk(q, /*dim=*/-1, /*largest=*/true, /*sorted=*/false);
  values = values.contiguous();
  indices = indices.contiguous();
  const float* v = values.data_ptr<float>();
  const int64_t* idx = indices.data_ptr<int64_t>();
  std::vector<TopkEntry> out(size_t(values.numel()));
  for (size_t j = 0; j < out.size(); ++j) {
    out[j].query = idx[j] / c;  // non-negative: floor division
    out[j].label = idx[j] % c;
    out[j].class_score = v[j];
  }
  return out;
}

const QueryMask& QueryMasks::get(int64_t query) {
  auto it = cache_.find(query);
  if (it != cache_.end()) return it->second;
  torch::Tensor logits = image_logits(p_, row_, query);  // [H, W]
  torch::Tensor binary = logits.gt(0).to(torch::kFloat32);
  // upstream: (sigmoid(m) * bin).sum() / (bin.sum() + 1e-6), fp32.
  torch::Tensor score = (logits.sigmoid().flatten() * binary.flatten()).sum() / (binary.flatten().sum() + 1e-6);
  QueryMask m;
  m.mask = to_bitmap(binary);
  m.mask_score = score.item<float>();
  m.empty = m.mask.area() == 0;
  return cache_.emplace(query, std::move(m)).first->second;
}

bool may_reach(const TopkEntry& e, double threshold) {
  const bool below_double = double(e.class_score) < threshold;           // segments: score.item() >= threshold
  const bool below_float = e.class_score < static_cast<float>(threshold);  // instances: tensor >= threshold
  return !(below_double && below_float);
}

}  // namespace xsam::postprocess_detail
