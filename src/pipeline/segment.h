// One request through the whole model (docs/design/architecture.md#one-call-as-data-flows): image → preprocessing →
// encoders (or the per-image cache) → prompt → LLM prefill (+ generation) → <SEG>/phrase embeddings → Mask2Former →
// post-processing → SegmentResult.
#pragma once
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include <torch/types.h>

#include "image/image.h"
#include "postprocess/postprocess.h"
#include "image/refs.h"
#include "generate/sampling.h"
#include "pipeline/context.h"
#include "prompt/prompt.h"
#include "pipeline/result.h"
#include "prompt/tasks.h"

namespace xsam {

struct SegmentRequest {
  Task task = Task::Auto;
  Mode mode = Mode::Default;
  std::string prompt;
  std::vector<std::string> classes;  // generic classes / several referring phrases
  std::vector<bool> class_is_thing;  // generic: per class; empty = "ins:/sem:" in the prompt, or all things
  std::vector<VisualRef> refs;
  RefRasterOptions ref_options;
  // Prompt masks already on the padded SAM canvas ([n, S, S], nonzero = inside), instead of `refs`:
  // replays upstream runs whose inputs are raster masks (golden tests, tools/parity.sh).
  torch::Tensor canvas_prompt_masks;

  // Prompt reproduction (docs/design/decisions.md#prompt-reproduction).
  int question_template = 0;
  int answer_template = 0;
  std::optional<std::string> question;
  std::optional<std::string> answer;
  std::vector<Turn> turns;  // explicit conversation (replaces everything above when non-empty)
  std::optional<bool> answer_suffix;  // default: true except teacher-forced GCG
  bool add_bos = false;

  int64_t max_new_tokens = 0;  // <= 0: the preset's default
  SamplingOptions sampling;    // greedy by default
  uint64_t seed = 0;           // vision sampler draws (and sampling when sampling.seed is left 0)

  double score_threshold = 0.5;
  double overlap_threshold = 0.8;
  double mask_threshold = 0.5;

  // Streaming: called with the decoded text of each generated token; return false to cancel.
  std::function<bool(const std::string& piece, int64_t id)> on_token;
};

// What the tests and tools/parity.sh compare besides the result: the decoder's last prediction.
struct SegmentDebug {
  torch::Tensor class_logits;  // [B_dec, Q, C+1]
  torch::Tensor mask_logits;   // [B_dec, Q, h, w] at mask-feature resolution
  torch::Tensor cond, seg;     // what the decoder was given
  PostprocessGeometry geometry;  // where the image is in mask_logits
  std::vector<int> mask_rows, mask_queries;  // per result mask: its decoder row and query (MaskEntry)
  std::vector<float> generated_top2_margins;  // per generated id (GenerateResult::top2_margins)
};

SegmentResult segment(Context& ctx, const Image& image, const SegmentRequest& request, SegmentDebug* debug = nullptr);

// The upstream demo's text cleaning (docs/design/upstream-facts.md#output-text) for a task.
std::string clean_generated_text(const std::string& decoded, Task task, TextCleanup style);

}  // namespace xsam
