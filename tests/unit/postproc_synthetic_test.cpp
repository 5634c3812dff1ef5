// Post-processing paths the golden set does not exercise, on hand-made logits: the panoptic segment-id
// collision (docs/design/upstream-facts.md#post-processing, Panoptic), main's mask IoU for interactive
// segmentation, argument checks.
#include <gtest/gtest.h>

#include <array>

#include <torch/types.h>

#include "core/error.h"
#include "postprocess/postprocess.h"

using namespace xsam;

namespace {

constexpr int kSide = 8;

// Geometry where crop + resize is the identity: canvas = scaled size = image size.
PostprocessGeometry identity_geometry() { return PostprocessGeometry{kSide, kSide, kSide, kSide, kSide}; }

// Mask logits [1, Q, 8, 8]: +20 inside each query's rectangle [y0, y1) × [x0, x1), −20 elsewhere.
torch::Tensor rect_masks(const std::vector<std::array<int, 4>>& rects) {
  torch::Tensor m = torch::full({1, int64_t(rects.size()), kSide, kSide}, -20.0f);
  for (size_t q = 0; q < rects.size(); ++q) {
    const auto& r = rects[q];
    m[0][int64_t(q)].slice(0, r[0], r[1]).slice(1, r[2], r[3]).fill_(20.0f);
  }
  return m;
}

// Class logits [1, Q, C+1]: query q strongly predicts class labels[q].
torch::Tensor class_logits(const std::vector<int>& labels, int classes) {
  torch::Tensor c = torch::full({1, int64_t(labels.size()), classes + 1}, -5.0f);
  for (size_t q = 0; q < labels.size(); ++q) c[0][int64_t(q)][labels[q]] = 5.0f;
  return c;
}

}  // namespace

TEST(PostprocPanoptic, StuffIdReuseCollidesWithLaterThing) {
  // Class 0 = thing, class 1 = stuff. Queries in order: stuff (id 1), thing (id 2), the same stuff again
  // (reuses id 1 and rewinds the counter to 1), another thing (1 + 1 = id 2 again: a collision).
  DecoderPrediction pred{class_logits({1, 0, 1, 0}, 2), rect_masks({{0, 2, 0, 8}, {2, 4, 0, 8}, {4, 6, 0, 8}, {6, 8, 0, 8}})};
  PanopticParams params;
  params.threshold = 0.5;
  params.stuff_labels = {1};
  PostprocessResult r = postprocess_panoptic(pred, identity_geometry(), params);
  ASSERT_EQ(r.segments.size(), 4u);
  const int ids[] = {1, 2, 1, 2}, labels[] = {1, 0, 1, 0};
  for (int k = 0; k < 4; ++k) {
    EXPECT_EQ(r.segments[k].id, ids[k]) << k;
    EXPECT_EQ(r.segments[k].label, labels[k]) << k;
    EXPECT_EQ(r.segments[k].isthing, labels[k] == 0) << k;
    EXPECT_EQ(r.segments[k].area, 16) << k;
    EXPECT_EQ(r.masks[k].box.y0, 2 * k) << k;
    EXPECT_EQ(r.masks[k].box.y1, 2 * k + 2) << k;
  }
  for (int y = 0; y < kSide; ++y) EXPECT_EQ(r.map.at(y, 3), ids[y / 2]) << y;
}

TEST(PostprocPanoptic, NothingKeptGivesVoidMap) {
  DecoderPrediction pred{class_logits({0, 1}, 2), rect_masks({{0, 4, 0, 8}, {4, 8, 0, 8}})};
  PanopticParams params;
  params.threshold = 0.99995;  // softmax of (5, −5, −5) is 0.999909
  PostprocessResult r = postprocess_panoptic(pred, identity_geometry(), params);
  EXPECT_TRUE(r.segments.empty());
  EXPECT_TRUE(r.masks.empty());
  for (int32_t v : r.map.values) ASSERT_EQ(v, 0);
}

TEST(PostprocInteractive, BoxAndMaskIouPickDifferentQueries) {
  // Prompt: the 6×6 square [1, 7)². Query 0: its 20-pixel ring (box IoU 1, mask IoU 20/36). Query 1:
  // the square without its last column (box and mask IoU 30/36).
  torch::Tensor masks = torch::full({1, 2, kSide, kSide}, -20.0f);
  masks[0][0].slice(0, 1, 7).slice(1, 1, 7).fill_(20.0f);
  masks[0][0].slice(0, 2, 6).slice(1, 2, 6).fill_(-20.0f);
  masks[0][1].slice(0, 1, 7).slice(1, 1, 6).fill_(20.0f);
  DecoderPrediction pred{class_logits({0, 0}, 1), masks};
  torch::Tensor prompt = torch::zeros({1, kSide, kSide}, torch::kInt64);
  prompt[0].slice(0, 1, 7).slice(1, 1, 7).fill_(1);

  InteractiveParams box;
  box.iou = IntsegIou::Box;
  PostprocessResult rb = postprocess_interactive(pred, identity_geometry(), prompt, box);
  ASSERT_EQ(rb.masks.size(), 1u);
  EXPECT_EQ(rb.masks[0].mask.area(), 20);

  InteractiveParams mask;
  mask.iou = IntsegIou::Mask;
  PostprocessResult rm = postprocess_interactive(pred, identity_geometry(), prompt, mask);
  ASSERT_EQ(rm.masks.size(), 1u);
  EXPECT_EQ(rm.masks[0].mask.area(), 30);
  EXPECT_EQ(rm.prompt_masks[0].area(), 36);
}

TEST(PostprocArguments, ErrorsNameTheProblem) {
  auto expect_error = [](auto fn, Status status, const std::string& needle) {
    try {
      fn();
      FAIL() << "no error (" << needle << ")";
    } catch (const Failure& e) {
      EXPECT_EQ(e.status(), status);
      EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
    }
  };
  const PostprocessGeometry g = identity_geometry();
  DecoderPrediction good{class_logits({0, 1}, 2), rect_masks({{0, 4, 0, 8}, {4, 8, 0, 8}})};
  expect_error([&] { postprocess_semantic({torch::zeros({1, 2}), good.mask_logits}, g, SemanticOrder::ProbsThenResize); },
               Status::InvalidArgument, "class_logits");
  expect_error([&] { postprocess_instance({good.class_logits, torch::zeros({1, 3, 8, 8})}, g, {}); },
               Status::InvalidArgument, "mask_logits");
  PostprocessGeometry bad = g;
  bad.scaled_height = 9;
  expect_error([&] { postprocess_gcg(good, bad); }, Status::InvalidArgument, "geometry");
  // Two phrases need two decoder rows (row i ↔ column i).
  expect_error([&] { postprocess_referring(good, g); }, Status::InvalidArgument, "phrases");
  expect_error([&] { postprocess_interactive(good, g, torch::ones({1, 8, 8}), {}); }, Status::Unsupported,
               "one region");
  expect_error([&] { postprocess_vgd(good, g, torch::ones({1, 4, 4}), 0.5); }, Status::InvalidArgument,
               "prompt_masks");
  expect_error([&] { postprocess_vgd(good, g, torch::ones({1, 8, 8}), 0.5); }, Status::InvalidArgument,
               "region classes");
  PanopticParams pan;
  pan.stuff_labels = {2};
  expect_error([&] { postprocess_panoptic(good, g, pan); }, Status::InvalidArgument, "stuff label 2");
}
