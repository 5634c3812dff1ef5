// Post-processing parity with upstream: for every golden case with a `postprocess_output`, feed the
// golden class/mask logits and compare with the golden `post.*` tensors and json
// (docs/design/decisions.md#tolerances: identical maps/masks except pixels within 1e-5 of a threshold or
// of a tie, listed; same segment ids, labels and order; scores within 1e-6 absolute).
#include <gtest/gtest.h>

#include <cstdio>
#include <cstdlib>
#include <functional>
#include <set>
#include <string>
#include <vector>

#include <torch/torch.h>

#include "postprocess/postprocess.h"
#include "postprocess/resize.h"
#include "postprocess/rle.h"
#include "support/golden.h"

using namespace xsam;
using nlohmann::json;

namespace {

constexpr double kScoreTol = 1e-6;   // segment scores (the goldens round to 6 decimals)
constexpr double kMarginTol = 1e-5;  // probability margin / tie margin that may flip a pixel

// ---- inputs ----------------------------------------------------------------------------------------

struct CaseInputs {
  DecoderPrediction prediction;
  PostprocessGeometry geometry;
  std::string mask_tensor;  // which golden tensor the mask logits came from
};

// The decoder's last mask logits: upsampled to the canvas where the golden has them (genseg_pan), else
// at decoder resolution (post-processing upsamples them itself, as upstream XSegmentor).
std::string last_mask_tensor(const test::GoldenCase& c) {
  for (const char* name : {"segmentor.masks_queries_logits_upsampled", "decoder.masks_queries_logits_last"})
    if (c.has(name)) return name;
  for (int i = test::golden_config().mask2former.decoder_layers - 1; i >= 0; --i) {
    std::string name = "decoder.masks_queries_logits_per_layer." + std::to_string(i);
    if (c.has(name)) return name;
  }
  throw std::runtime_error("golden case " + c.name() + ": no mask logits");
}

CaseInputs load_inputs(const test::GoldenCase& c, std::string mask_tensor = "") {
  if (mask_tensor.empty()) mask_tensor = last_mask_tensor(c);
  CaseInputs in;
  in.mask_tensor = mask_tensor;
  in.prediction.class_logits = c.get("segmentor.class_queries_logits");
  in.prediction.mask_logits = c.get(mask_tensor);
  const json& j = c.json();
  in.geometry.canvas = test::golden_config().mask2former.mask_image_size;
  in.geometry.scaled_height = j["scaled_size"][0].get<int>();
  in.geometry.scaled_width = j["scaled_size"][1].get<int>();
  in.geometry.height = j["image_size"][0].get<int>();
  in.geometry.width = j["image_size"][1].get<int>();
  return in;
}

// ---- an independent, batched reference for the margins (torch frontend, all queries at once) --------

torch::Tensor bilinear(const torch::Tensor& nchw, int64_t h, int64_t w) {
  namespace F = torch::nn::functional;
  return F::interpolate(nchw, F::InterpolateFuncOptions()
                                  .size(std::vector<int64_t>{h, w})
                                  .mode(torch::kBilinear)
                                  .align_corners(false));
}

torch::Tensor canvas_logits_ref(const CaseInputs& in, int64_t row) {
  torch::Tensor m = in.prediction.mask_logits[row].unsqueeze(0);
  if (m.size(-1) != in.geometry.canvas) m = bilinear(m, in.geometry.canvas, in.geometry.canvas);
  return m[0];  // [Q, S, S]
}

torch::Tensor crop_resize_ref(const torch::Tensor& maps, const PostprocessGeometry& g) {
  return bilinear(maps.slice(1, 0, g.scaled_height).slice(2, 0, g.scaled_width).unsqueeze(0), g.height, g.width)[0];
}

// sigmoid of every query's mask at the original size: [Q, H, W].
torch::Tensor image_probs_ref(const CaseInputs& in, int64_t row) {
  return crop_resize_ref(canvas_logits_ref(in, row), in.geometry).sigmoid();
}

torch::Tensor class_probs_ref(const CaseInputs& in, int64_t row) {
  torch::Tensor p = torch::softmax(in.prediction.class_logits[row], -1);
  return p.slice(1, 0, p.size(1) - 1);  // [Q, C]
}

// Pixels where some query's probability is within the margin of 0.5: [H, W] bool.
torch::Tensor near_threshold(const torch::Tensor& probs) {
  return ((probs - 0.5).abs() < kMarginTol).any(0);
}

// Pixels whose two best scores are within the margin: [H, W] bool.
torch::Tensor near_tie(const torch::Tensor& scores) {
  if (scores.size(0) < 2) return torch::zeros({scores.size(1), scores.size(2)}, torch::kBool);
  torch::Tensor top = std::get<0>(scores.topk(2, 0));
  return (top[0] - top[1]) < kMarginTol;
}

// ---- comparisons -----------------------------------------------------------------------------------

torch::Tensor to_tensor(const LabelMap& m) {
  return torch::from_blob(const_cast<int32_t*>(m.values.data()), {m.height, m.width}, torch::kInt32)
      .to(torch::kInt64);
}
torch::Tensor to_tensor(const Bitmap& b) {
  return torch::from_blob(const_cast<uint8_t*>(b.pixels.data()), {b.height, b.width}, torch::kUInt8)
      .to(torch::kInt64);
}

// Identical maps, except pixels the margin excuses: each differing pixel is printed.
void expect_same_pixels(const torch::Tensor& actual, const torch::Tensor& golden, const torch::Tensor& excused,
                        const std::string& what) {
  ASSERT_EQ(actual.sizes(), golden.sizes()) << what;
  torch::Tensor diff = actual.ne(golden).nonzero();
  int64_t unexcused = 0;
  for (int64_t k = 0; k < diff.size(0); ++k) {
    const int64_t y = diff[k][0].item<int64_t>(), x = diff[k][1].item<int64_t>();
    const bool ok = excused.defined() && excused[y][x].item<bool>();
    unexcused += !ok;
    std::printf("[parity] %s: pixel (%lld, %lld) ours %lld golden %lld %s\n", what.c_str(), (long long)y,
                (long long)x, (long long)actual[y][x].item<int64_t>(), (long long)golden[y][x].item<int64_t>(),
                ok ? "(within the margin)" : "(NOT excused)");
  }
  std::printf("[parity] %-60s differing pixels %lld of %lld (unexcused %lld)\n", what.c_str(),
              (long long)diff.size(0), (long long)golden.numel(), (long long)unexcused);
  EXPECT_EQ(unexcused, 0) << what;
}

struct ScoreErr {
  double max_abs = 0;
  void add(double ours, double golden, const std::string& what) {
    const double e = std::abs(ours - golden);
    if (e > max_abs) max_abs = e;
    EXPECT_LE(e, kScoreTol) << what << ": ours " << ours << " golden " << golden;
  }
  void print(const std::string& what) const {
    std::printf("[parity] %-60s score max_abs=%.3g tol=%.0e\n", what.c_str(), max_abs, kScoreTol);
  }
};

// A segments_info list (or single dict) against ours: same length, ids, labels, isthing, order.
void expect_segments(const std::vector<Segment>& ours, const json& golden_in, const char* label_key,
                     const std::string& what) {
  json golden = golden_in.is_array() ? golden_in : json::array({golden_in});
  ASSERT_EQ(ours.size(), golden.size()) << what << ": segments_info length";
  ScoreErr err;
  for (size_t k = 0; k < ours.size(); ++k) {
    const json& g = golden[k];
    EXPECT_EQ(ours[k].id, g["id"].get<int>()) << what << " segment " << k;
    EXPECT_EQ(ours[k].label, g[label_key].get<int>()) << what << " segment " << k;
    if (g.contains("isthing")) EXPECT_EQ(ours[k].isthing, g["isthing"].get<bool>()) << what << " segment " << k;
    err.add(ours[k].score, g["score"].get<double>(), what + " segment " + std::to_string(k));
  }
  err.print(what + " segments_info");
}

// A recorded value that the generator writes either inline (nested lists of numbers) or, when large, as a
// reference {"tensor": name, ...} into the case's safetensors: as a CPU float64 tensor either way.
torch::Tensor recorded(const test::GoldenCase& c, const json& value) {
  if (value.is_object() && value.contains("tensor")) return c.get(value["tensor"].get<std::string>()).to(torch::kFloat64);
  std::vector<double> flat;
  std::vector<int64_t> shape;
  std::function<void(const json&, size_t)> walk = [&](const json& v, size_t depth) {
    if (!v.is_array()) {
      flat.push_back(v.get<double>());
      return;
    }
    if (shape.size() <= depth) shape.push_back(static_cast<int64_t>(v.size()));
    for (const auto& x : v) walk(x, depth + 1);
  };
  walk(value, 0);
  return torch::tensor(flat, torch::kFloat64).reshape(shape);
}

// upstream `instances` (pred_masks, scores, pred_classes, pred_boxes) against our masks list.
void expect_instances(const test::GoldenCase& c, const std::vector<MaskEntry>& ours, const json& instances,
                      const torch::Tensor& pred_masks, const torch::Tensor& excused, const std::string& what) {
  const json& inst = instances["__instances__"];
  const torch::Tensor scores = recorded(c, inst["scores"]).reshape({-1});
  const torch::Tensor classes = recorded(c, inst["pred_classes"]).reshape({-1});
  const torch::Tensor boxes = recorded(c, inst["pred_boxes"]["__Boxes__"]).reshape({-1, 4});  // not from the set: x0 y0 x1 y1
  ASSERT_EQ(int64_t(ours.size()), scores.size(0)) << what;
  ASSERT_EQ(pred_masks.size(0), int64_t(ours.size())) << what;
  ASSERT_EQ(boxes.size(0), int64_t(ours.size())) << what;
  ScoreErr err;
  for (size_t k = 0; k < ours.size(); ++k) {
    const std::string w = what + " instance " + std::to_string(k);
    const int64_t i = int64_t(k);
    expect_same_pixels(to_tensor(ours[k].mask), pred_masks[i], excused, w + " mask");
    err.add(ours[k].score, scores[i].item<double>(), w);
    EXPECT_EQ(ours[k].label, classes[i].item<int64_t>()) << w;
    EXPECT_EQ(ours[k].box.x0, boxes[i][0].item<double>()) << w;
    EXPECT_EQ(ours[k].box.y0, boxes[i][1].item<double>()) << w;
    EXPECT_EQ(ours[k].box.x1, boxes[i][2].item<double>()) << w;
    EXPECT_EQ(ours[k].box.y1, boxes[i][3].item<double>()) << w;
  }
  err.print(what + " instances");
}

std::vector<int> stuff_labels(const json& metadata) {
  std::vector<int> out;
  if (metadata.is_object() && metadata.contains("stuff_dataset_id_to_contiguous_id"))
    for (const auto& v : metadata["stuff_dataset_id_to_contiguous_id"]) out.push_back(v.get<int>());
  return out;
}

// aaai26 semantic scores computed the batched upstream way: [C, H, W].
torch::Tensor semantic_scores_ref(const CaseInputs& in) {
  torch::Tensor cls = class_probs_ref(in, 0);
  torch::Tensor probs = canvas_logits_ref(in, 0).sigmoid();
  return crop_resize_ref(torch::einsum("qc,qhw->chw", {cls, probs}), in.geometry);
}

// ---- per task ----------------------------------------------------------------------------------------

void check_semantic(const test::GoldenCase& c, const CaseInputs& in, const json& out) {
  PostprocessResult r = postprocess_semantic(in.prediction, in.geometry, SemanticOrder::ProbsThenResize);
  torch::Tensor golden = c.get(out["segmentation"]["tensor"].get<std::string>());
  expect_same_pixels(to_tensor(r.map), golden, near_tie(semantic_scores_ref(in)), c.name() + " semantic map");
  // One mask per class present, ascending.
  torch::Tensor present = std::get<0>(at::_unique(golden.flatten(), true));
  ASSERT_EQ(int64_t(r.masks.size()), present.numel()) << c.name();
  for (int64_t i = 0; i < present.numel(); ++i) {
    EXPECT_EQ(r.masks[size_t(i)].label, present[i].item<int64_t>());
    EXPECT_TRUE(torch::equal(to_tensor(r.masks[size_t(i)].mask), golden.eq(present[i]).to(torch::kInt64)));
  }
}

void check_panoptic(const test::GoldenCase& c, const CaseInputs& in, const json& out) {
  PanopticParams params;
  params.threshold = c.json()["threshold"].get<double>();
  params.stuff_labels = stuff_labels(c.json()["metadata"]);
  PostprocessResult r = postprocess_panoptic(in.prediction, in.geometry, params);
  // Margins: a probability near 0.5 or two kept queries' weighted probabilities near a tie.
  torch::Tensor probs = image_probs_ref(in, 0);
  torch::Tensor score, label;
  std::tie(score, label) = class_probs_ref(in, 0).max(-1);
  torch::Tensor kept = score.gt(params.threshold);
  torch::Tensor weighted = probs.index({kept}) * score.index({kept}).view({-1, 1, 1});
  torch::Tensor excused = near_threshold(probs) | ((weighted - 0.5).abs() < kMarginTol).any(0) | near_tie(weighted);
  torch::Tensor golden = c.get(out["segmentation"]["tensor"].get<std::string>());
  expect_same_pixels(to_tensor(r.map), golden, excused, c.name() + " panoptic map");
  expect_segments(r.segments, out["segments_info"], "category_id", c.name());
  ASSERT_EQ(r.masks.size(), r.segments.size());
}

void check_instance(const test::GoldenCase& c, const CaseInputs& in, const json& out) {
  InstanceParams params;
  params.threshold = c.json()["threshold"].get<double>();
  PostprocessResult r = postprocess_instance(in.prediction, in.geometry, params);
  EXPECT_EQ(r.map_background, -1);
  torch::Tensor excused = near_threshold(image_probs_ref(in, 0));
  // The canvas, through upstream's instance RLE: one run list per distinct value, ascending.
  std::vector<ValueRuns> ours = label_map_runs(r.map);
  const json& golden_runs = out["segmentation"];
  ASSERT_EQ(ours.size(), golden_runs.size()) << c.name() << ": number of RLE lists";
  std::vector<ValueRuns> golden_lists;
  int same_lists = 0;
  for (size_t k = 0; k < ours.size(); ++k) {
    golden_lists.push_back({ours[k].value, golden_runs[k].get<std::vector<int64_t>>()});
    same_lists += ours[k].runs == golden_lists.back().runs;
  }
  std::printf("[parity] %-60s RLE lists identical %d of %zu\n", (c.name() + " instance canvas").c_str(), same_lists,
              ours.size());
  LabelMap golden_canvas = label_map_from_runs(golden_lists, r.map.height, r.map.width);
  expect_same_pixels(to_tensor(r.map), to_tensor(golden_canvas), excused, c.name() + " instance canvas");
  expect_segments(r.segments, out["segments_info"], "label_id", c.name());
  expect_instances(c, r.masks, out["instances"], c.get("post.0.instances.pred_masks"), excused, c.name());
}

void check_referring(const test::GoldenCase& c, const CaseInputs& in, const json& out) {
  PostprocessResult r = postprocess_referring(in.prediction, in.geometry);
  ASSERT_EQ(r.masks.size(), 1u);
  torch::Tensor golden = c.get(out["segmentation"]["tensor"].get<std::string>());  // 1 = fg, 255 = bg
  torch::Tensor ours = 255 - 254 * to_tensor(r.masks[0].mask);  // 1 → 1, 0 → 255 (not from the set: upstream's values)
  expect_same_pixels(ours, golden, near_threshold(image_probs_ref(in, 0)), c.name() + " referring map");
  expect_segments(r.segments, out["segments_info"], "label_id", c.name());
}

void check_gcg(const test::GoldenCase& c, const CaseInputs& in, const json& out) {
  PostprocessResult r = postprocess_gcg(in.prediction, in.geometry);
  torch::Tensor golden = c.get(out["segmentation"]["tensor"].get<std::string>());
  expect_same_pixels(to_tensor(r.map), golden, near_threshold(image_probs_ref(in, 0)), c.name() + " gcg map");
  expect_segments(r.segments, out["segments_info"], "category_id", c.name());
}

void check_interactive(const test::GoldenCase& c, const CaseInputs& in, const json& out) {
  InteractiveParams params;
  params.threshold = c.json()["threshold"].get<double>();
  params.iou = IntsegIou::Box;
  PostprocessResult r = postprocess_interactive(in.prediction, in.geometry, c.get("prepared.vprompt_masks"), params);
  ASSERT_EQ(r.masks.size(), 1u);
  torch::Tensor golden = c.get(out["segmentation"]["tensor"].get<std::string>());  // float 1 / 255
  torch::Tensor ours = 255 - 254 * to_tensor(r.masks[0].mask);  // 1 → 1.0, 0 → 255.0 (not from the set: upstream's values)
  expect_same_pixels(ours, golden.to(torch::kInt64), near_threshold(image_probs_ref(in, 0)),
                     c.name() + " interactive mask");
  expect_same_pixels(to_tensor(r.prompt_masks[0]), c.get("post.0.vprompt_masks")[0], torch::Tensor(),
                     c.name() + " resized prompt mask");
  expect_segments(r.segments, out["segments_info"], "category_id", c.name());
}

void check_vgd(const test::GoldenCase& c, const CaseInputs& in, const json& out) {
  PostprocessResult r =
      postprocess_vgd(in.prediction, in.geometry, c.get("prepared.vprompt_masks"), c.json()["threshold"].get<double>());
  torch::Tensor excused = near_threshold(image_probs_ref(in, 0));
  torch::Tensor golden = c.get(out["segmentation"]["tensor"].get<std::string>());
  expect_same_pixels(to_tensor(r.map), golden, excused, c.name() + " vgd canvas");
  expect_segments(r.segments, out["segments_info"], "label_id", c.name());
  expect_instances(c, r.masks, out["instances"], c.get("post.0.instances.pred_masks"), excused, c.name());
  torch::Tensor prompts = c.get("post.0.vprompt_masks");
  ASSERT_EQ(int64_t(r.prompt_masks.size()), prompts.size(0));
  for (int64_t i = 0; i < prompts.size(0); ++i)
    expect_same_pixels(to_tensor(r.prompt_masks[size_t(i)]), prompts[i], torch::Tensor(),
                       c.name() + " resized prompt mask " + std::to_string(i));
}

std::vector<std::string> all_cases() { return test::golden_case_names(); }

class PostprocGolden : public ::testing::TestWithParam<std::string> {};

}  // namespace

// Every golden case: those with a postprocess_output are replayed; the others must be upstream failures
// before post-processing (checked separately where the decoder did run: refseg_2phrases).
TEST_P(PostprocGolden, MatchesUpstream) {
  // One intra-op thread by default (bit-identical scores); XSAM_POSTPROC_THREADS=2 checks that more
  // threads only move reduction-order ulps of the scores (measured: ≤ 6e-8), never a pixel.
  torch::set_num_threads(std::getenv("XSAM_POSTPROC_THREADS") ? std::atoi(std::getenv("XSAM_POSTPROC_THREADS")) : 1);
  test::GoldenCase c(GetParam());
  const json& j = c.json();
  if (j["postprocess_output"].is_null()) {
    EXPECT_FALSE(j["error"].is_null()) << c.name() << ": no postprocess_output and no upstream error";
    const std::set<std::string> known{"imgconv_gen", "refseg_2phrases"};
    EXPECT_TRUE(known.count(c.name())) << c.name() << ": an upstream failure this test does not know";
    std::printf("[parity] %-60s upstream error %s (no post-processing)\n", c.name().c_str(),
                j["error"].get<std::string>().c_str());
    return;
  }
  const json& out = j["postprocess_output"][0];
  ASSERT_EQ(j["postprocess_output"].size(), 1u);
  CaseInputs in = load_inputs(c);
  const std::string task = j["postprocess_task_name"].get<std::string>();
  std::printf("[parity] %-60s task %s, masks from %s\n", c.name().c_str(), task.c_str(), in.mask_tensor.c_str());
  if (task == "genseg(sem)") check_semantic(c, in, out);
  else if (task == "genseg(pan)") check_panoptic(c, in, out);
  else if (task == "genseg(ins)") check_instance(c, in, out);
  else if (task == "refseg" || task == "reaseg") check_referring(c, in, out);
  else if (task == "gcgseg") check_gcg(c, in, out);
  else if (task == "intseg") check_interactive(c, in, out);
  else if (task == "vgdseg") check_vgd(c, in, out);
  else FAIL() << c.name() << ": unknown post-processing task " << task;
}

INSTANTIATE_TEST_SUITE_P(AllCases, PostprocGolden, ::testing::ValuesIn(all_cases()),
                         [](const ::testing::TestParamInfo<std::string>& info) { return info.param; });

// The per-query upsampling to the canvas reproduces the golden batched upsampling bit for bit, and the
// whole panoptic result is the same from decoder-resolution logits.
TEST(PostprocGoldenSpecial, UpsamplingFromDecoderResolution) {
  XSAM_NAMED_CASE(c, "genseg_pan");
  CaseInputs low = load_inputs(c, last_mask_tensor(c) == "segmentor.masks_queries_logits_upsampled"
                                      ? "decoder.masks_queries_logits_per_layer." +
                                            std::to_string(test::golden_config().mask2former.decoder_layers - 1)
                                      : "");
  auto p = postprocess_detail::prepare(low.prediction, low.geometry, "test");
  torch::Tensor golden = c.get("segmentor.masks_queries_logits_upsampled")[0];
  XSAM_EXPECT_CLOSE(postprocess_detail::canvas_logits(p, 0), golden, 0.0, "genseg_pan upsampled mask logits");
  // Upstream resizes all queries at once; ours, one query or a chunk of them at a time, must give the
  // same bits (a lone [1, 1, h, w] resize would not: ATen's channels-last kernel rounds differently).
  torch::Tensor batched = crop_resize_ref(golden, low.geometry);  // [Q, H, W]
  for (int64_t q = 0; q < golden.size(0); ++q) {
    torch::Tensor ours = postprocess_detail::image_logits(p, 0, q);
    EXPECT_TRUE(torch::equal(ours, batched[q])) << "query " << q << " max diff "
                                                << (ours - batched[q]).abs().max().item<float>();
  }
  // An unordered subset of the queries: the last, the first and the middle one.
  const int64_t Q = golden.size(0);
  const std::vector<int64_t> picked{Q - 1, 0, Q / 2};
  torch::Tensor subset = postprocess_detail::image_logits(p, 0, picked);
  EXPECT_TRUE(torch::equal(subset, batched.index_select(0, torch::tensor(picked))));
  std::printf("[parity] %-60s single/chunked queries vs batched resize: bit-identical=%d\n",
              "genseg_pan image-size mask logits",
              int(torch::equal(postprocess_detail::image_logits(p, 0, 0), batched[0])));
  check_panoptic(c, low, c.json()["postprocess_output"][0]);
}

// genseg_sem_multi (checks.semantic_order): the AAAI26 order reproduces the golden map exactly, the
// main order (resize logits → sigmoid → einsum) does not.
TEST(PostprocGoldenSpecial, SemanticOrderMatters) {
  XSAM_NAMED_CASE(c, "genseg_sem_multi");
  CaseInputs in = load_inputs(c);
  const json& checks = c.json()["checks"]["semantic_order"];
  torch::Tensor golden = c.get("post.0.segmentation");
  PostprocessResult a = postprocess_semantic(in.prediction, in.geometry, SemanticOrder::ProbsThenResize);
  const int64_t diff_a = to_tensor(a.map).ne(golden).sum().item<int64_t>();
  EXPECT_EQ(diff_a, checks["pixels_differing_recomputed_A_order"].get<int64_t>());
  EXPECT_EQ(diff_a, 0);
  PostprocessResult m = postprocess_semantic(in.prediction, in.geometry, SemanticOrder::ResizeLogitsThenProbs);
  const int64_t diff_m = to_tensor(m.map).ne(golden).sum().item<int64_t>();
  const int64_t expected_m = checks["pixels_differing_main_order(resize logits->sigmoid->einsum)"].get<int64_t>();
  std::printf("[parity] %-60s aaai26 order %lld px, main order %lld px (generator: %lld)\n",
              "genseg_sem_multi vs golden", (long long)diff_a, (long long)diff_m, (long long)expected_m);
  // The count the generator recorded decides; a set whose case does not tell the orders apart (0) says so.
  EXPECT_EQ(diff_m, expected_m);
  if (expected_m == 0) test::print_skip("SemanticOrderMatters", "this set's genseg_sem_multi gives the same map in both orders");
  // Both classes of the golden win pixels, with the counts the generator recorded.
  for (auto it = checks["class_pixel_counts"].begin(); it != checks["class_pixel_counts"].end(); ++it) {
    const int label = std::stoi(it.key());
    int64_t area = -1;
    for (const MaskEntry& e : a.masks)
      if (e.label == label) area = e.mask.area();
    EXPECT_EQ(area, it->get<int64_t>()) << "class " << label;
  }
}

// refseg_2phrases (upstream asserts one phrase; docs/design/decisions.md#where-upstream-fails): one mask per
// phrase, row i read from class column i, each equal to the single-phrase rule applied by hand to that row.
TEST(PostprocGoldenSpecial, ReferringSeveralPhrases) {
  XSAM_NAMED_CASE(c, "refseg_2phrases");
  ASSERT_FALSE(c.json()["error"].is_null());  // upstream: AssertionError
  CaseInputs in = load_inputs(c);
  ASSERT_EQ(in.prediction.class_logits.size(0), 2);
  ASSERT_EQ(in.prediction.class_logits.size(2), 3);
  PostprocessResult r = postprocess_referring(in.prediction, in.geometry);
  ASSERT_EQ(r.masks.size(), 2u);
  ASSERT_EQ(r.segments.size(), 2u);
  for (int64_t i = 0; i < 2; ++i) {
    torch::Tensor column = class_probs_ref(in, i).select(1, i);
    const int64_t q = column.argmax().item<int64_t>();
    torch::Tensor probs = image_probs_ref(in, i);
    torch::Tensor expected = probs[q].gt(0.5).to(torch::kInt64);
    const std::string what = "refseg_2phrases phrase " + std::to_string(i);
    expect_same_pixels(to_tensor(r.masks[size_t(i)].mask), expected, near_threshold(probs), what);
    EXPECT_EQ(r.masks[size_t(i)].label, i);
    EXPECT_EQ(r.segments[size_t(i)].id, i);
    EXPECT_FLOAT_EQ(r.masks[size_t(i)].score, column.max().item<float>()) << what;
    std::printf("[parity] %-60s query %lld, score %.6f, %lld px\n", what.c_str(), (long long)q,
                r.masks[size_t(i)].score, (long long)r.masks[size_t(i)].mask.area());
  }
}
