// Visual grounding (docs/design/upstream-facts.md#post-processing): upstream vgdseg_postprocess_fn = instance
// post-processing with regions as classes, a canvas starting at 255, and the prompt masks resized alongside.
#include "postprocess/scoring.h"

#include <string>

#include "core/error.h"

namespace xsam {

PostprocessResult postprocess_vgd(const DecoderPrediction& prediction, const PostprocessGeometry& geometry,
                                  const torch::Tensor& prompt_masks, double threshold) {
  using namespace postprocess_detail;
  Prediction p = prepare(prediction, geometry, "vgd");
  if (p.rows() != 1)
    fail(Status::InvalidArgument, "postprocess vgd: expected one decoder row, got " + std::to_string(p.rows()));
  torch::Tensor resized = resize_prompt_masks(prompt_masks, geometry, "vgd");
  if (resized.size(0) != p.classes())
    fail(Status::InvalidArgument, "postprocess vgd: " + std::to_string(resized.size(0)) +
                                      " prompt masks for " + std::to_string(p.classes()) + " region classes");
  InstanceAssembly how;
  how.threshold = threshold;
  how.background = 255;
  PostprocessResult r = assemble_instances(p, 0, how);
  for (int64_t i = 0; i < resized.size(0); ++i) r.prompt_masks.push_back(to_bitmap(resized[i]));
  return r;
}

}  // namespace xsam
