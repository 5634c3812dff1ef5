#include "postprocess/scoring.h"

#include <algorithm>
#include <tuple>

namespace xsam::postprocess_detail {

std::vector<TopkEntry> topk_entries(const Prediction& p, int64_t row) {
  const int64_t q = p.queries(), c = p.classes();
  // upstream: scores.flatten(0, 1).topk(num_queries, sorted=False) on a CPU tensor. The order of the
  // unsorted result comes from ATen's kernel (docs/design/upstream-facts.md#topk-order) and is part of the result.
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

void QueryMasks::compute(const std::vector<int64_t>& queries) {
  std::vector<int64_t> missing;
  for (int64_t q : queries)
    if (!cache_.count(q) && std::find(missing.begin(), missing.end(), q) == missing.end()) missing.push_back(q);
  for (size_t start = 0; start < missing.size(); start += size_t(kQueryChunk)) {
    std::vector<int64_t> chunk(missing.begin() + long(start),
                               missing.begin() + long(std::min(missing.size(), start + size_t(kQueryChunk))));
    torch::Tensor logits = image_logits(p_, row_, chunk);  // [k, H, W]
    torch::Tensor binary = logits.gt(0).to(torch::kFloat32).flatten(1);
    // upstream: (mask_pred.sigmoid().flatten(1) * pred_masks.flatten(1)).sum(1) / (pred_masks.sum(1) + 1e-6)
    torch::Tensor scores = ((logits.sigmoid().flatten(1) * binary).sum(1) / (binary.sum(1) + 1e-6)).contiguous();
    for (size_t j = 0; j < chunk.size(); ++j) {
      QueryMask m;
      m.mask = to_bitmap(logits[int64_t(j)].gt(0));
      m.mask_score = scores.data_ptr<float>()[j];
      m.empty = m.mask.area() == 0;
      cache_.emplace(chunk[j], std::move(m));
    }
  }
}

const QueryMask& QueryMasks::get(int64_t query) {
  if (!cache_.count(query)) compute({query});
  return cache_.at(query);
}

bool may_reach(const TopkEntry& e, double threshold) {
  const bool below_double = double(e.class_score) < threshold;           // segments: score.item() >= threshold
  const bool below_float = e.class_score < static_cast<float>(threshold);  // instances: tensor >= threshold
  return !(below_double && below_float);
}

}  // namespace xsam::postprocess_detail
