// Top-k scoring shared by the instance, VGD and interactive tasks (docs/design/upstream-facts.md#post-processing,
// #topk-order):
//   scores = softmax(class logits)[:, :-1] flattened query-major (index = q·C + c);
//   topk(k = Q, sorted=false) on a CPU tensor — never a sort: its order decides segment ids, painting
//   order and interactive tie-breaks (docs/design/decisions.md#randomness-and-libtorch-version);
//   per entry: mask = resized logit > 0, mask score = mean sigmoid over the mask (denominator + 1e-6),
//   score = class probability × mask score.
#pragma once
#include <map>
#include <vector>

#include "postprocess/resize.h"

namespace xsam::postprocess_detail {

struct TopkEntry {
  int64_t query = 0;
  int64_t label = 0;       // class index (idx % C)
  float class_score = 0;   // softmax probability
};
std::vector<TopkEntry> topk_entries(const Prediction& p, int64_t row);

// A query's binary mask at the original size and its mean probability over that mask.
struct QueryMask {
  Bitmap mask;
  float mask_score = 0;
  bool empty = true;
};

// Computes each query's mask once (several top-k entries may share a query), kQueryChunk queries at a
// time: compute() the queries that will be needed first, then get() them.
class QueryMasks {
 public:
  QueryMasks(const Prediction& p, int64_t row) : p_(p), row_(row) {}
  void compute(const std::vector<int64_t>& queries);
  const QueryMask& get(int64_t query);  // computes it alone if compute() did not

 private:
  const Prediction& p_;
  int64_t row_;
  std::map<int64_t, QueryMask> cache_;
};

// The final score of an entry (fp32 product, as upstream).
inline float entry_score(const TopkEntry& e, const QueryMask& m) { return e.class_score * m.mask_score; }

// Whether an entry can reach `threshold` at all: score = class_score × mask_score with mask_score <= 1,
// so an entry whose class probability is below the threshold (in both the fp32 and the double
// comparison upstream makes) is never kept and its mask need not be computed.
bool may_reach(const TopkEntry& e, double threshold);

// Instance-style assembly (instance and VGD): canvas painted in top-k order over `background`,
// segments_info for non-empty masks with score >= threshold, instances for score >= threshold.
// `dropped(label)` removes classes (main's things-only filter).
struct InstanceAssembly {
  double threshold = 0.5;
  int32_t background = -1;
  std::vector<bool> dropped_labels;  // empty = none dropped
};
PostprocessResult assemble_instances(const Prediction& p, int64_t row, const InstanceAssembly& how);

}  // namespace xsam::postprocess_detail
