// Semantic segmentation (docs/design/upstream-facts.md#post-processing, #branches semantic order).
#include <algorithm>
#include <string>
#include <vector>

#include "core/error.h"
#include "postprocess/resize.h"

namespace xsam {
namespace {
using namespace postprocess_detail;

// aaai26 (_semantic_genseg_postprocess): per-class score maps on the canvas, then crop + resize.
torch::Tensor scores_probs_then_resize(const Prediction& p) {
  torch::Tensor cls = torch::softmax(p.class_logits, -1).slice(2, 0, p.classes());  // [1, Q, C]
  torch::Tensor probs = canvas_logits(p, 0).sigmoid().unsqueeze(0);                 // [1, Q, S, S]
  torch::Tensor canvas_scores = torch::einsum("bqc,bqhw->bchw", {cls, probs})[0];  // [C, S, S]
  return crop_and_resize(canvas_scores, p.geometry);                                // [C, H, W]
}

// main (img_genseg _semantic_genseg_postprocess): crop + resize the logits, then sigmoid and combine.
torch::Tensor scores_resize_then_probs(const Prediction& p) {
  const PostprocessGeometry& g = p.geometry;
  torch::Tensor cls = class_probabilities(p, 0);  // [Q, C]
  // A chunk of queries at a time, so the canvas-sized logits never all coexist.
  torch::Tensor logits = torch::empty({p.queries(), g.height, g.width}, torch::kFloat32);
  for (int64_t start = 0; start < p.queries(); start += kQueryChunk) {
    std::vector<int64_t> chunk;
    for (int64_t q = start; q < std::min(p.queries(), start + kQueryChunk); ++q) chunk.push_back(q);
    logits.slice(0, start, start + int64_t(chunk.size())).copy_(image_logits(p, 0, chunk));
  }
  return torch::einsum("qc,qhw->chw", {cls, logits.sigmoid()});  // [C, H, W]
}

}  // namespace

PostprocessResult postprocess_semantic(const DecoderPrediction& prediction, const PostprocessGeometry& geometry,
                                       SemanticOrder order) {
  Prediction p = prepare(prediction, geometry, "semantic");
  if (p.rows() != 1)
    fail(Status::InvalidArgument, "postprocess semantic: expected one decoder row, got " + std::to_string(p.rows()));
  torch::Tensor scores =
      order == SemanticOrder::ProbsThenResize ? scores_probs_then_resize(p) : scores_resize_then_probs(p);
  torch::Tensor labels = scores.argmax(0);  // first index on ties

  PostprocessResult r;
  r.map = to_label_map(labels);
  r.map_background = -1;  // every pixel gets a class
  std::vector<bool> present(size_t(p.classes()), false);
  for (int32_t v : r.map.values) present[size_t(v)] = true;
  for (int64_t c = 0; c < p.classes(); ++c) {
    if (!present[size_t(c)]) continue;
    torch::Tensor won = labels.eq(c);
    MaskEntry e;
    e.mask = to_bitmap(won);
    e.label = int(c);
    e.score = scores[c].masked_select(won).to(torch::kFloat64).mean().item<float>();
    e.box = tight_box(e.mask);
    r.masks.push_back(std::move(e));
  }
  return r;
}

}  // namespace xsam
