// The tolerance rule for discrete outputs (docs/numerics.md, "Tolerances"): a mask pixel, a map pixel or a
// generated id may differ from the reference only where the decision was on a knife edge, and every such
// difference is listed in the test log.
//   binary masks       pixels whose probability is within 1e-5 of the threshold
//   semantic/panoptic  pixels whose top two scores differ by < 1e-5
//   generated ids      the first differing position, if its top two logits differ by < 1e-4 × max|logit|
//                      (after it the two generations go different ways: nothing more is compared)
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include <torch/torch.h>

namespace xsam::test {

constexpr double kMaskProbabilityTol = 1e-5;
constexpr double kMapTieTol = 1e-5;
constexpr double kIdTieTol = 1e-4;

struct DiscreteDiff {
  int64_t differing = 0;             // positions where ours and the reference differ
  int64_t allowed = 0;               // of which the rule allows
  std::vector<std::string> listed;   // one line per allowed position (coordinates, values, margin)
  std::vector<std::string> refused;  // the first few positions the rule does not allow
  int64_t unexplained() const { return differing - allowed; }
};

// ours / reference: same-shape integer maps ([H, W] masks or label maps); margin: per pixel, how far the
// decision was from flipping (|p − threshold| for masks, top-1 − top-2 score for maps), in the same shape.
// A differing pixel is allowed where margin < tol.
DiscreteDiff diff_pixels(const torch::Tensor& ours, const torch::Tensor& reference, const torch::Tensor& margin,
                         double tol);

// Generated ids; margins[i] = (top-1 − top-2 logit) / max|logit| of the logits ours chose id i from.
DiscreteDiff diff_ids(const std::vector<int64_t>& ours, const std::vector<int64_t>& reference,
                      const std::vector<float>& margins);

// Prints "[parity] <what> differing=N allowed=M tol=<rule> PASS|FAIL" and every listed/refused line.
// Returns whether nothing unexplained remains.
bool report(const DiscreteDiff& d, const std::string& what, const std::string& rule);

}  // namespace xsam::test
