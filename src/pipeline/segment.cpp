// segment(): one request through the whole model, as named steps (docs/design/architecture.md#one-call-as-data-flows):
// resolve the request → build the prompt → encode or reuse the image → ensure the KV-cache prefix → answer
// (teacher-forced, or generated and streamed) → decode the masks → post-process → label.
#include "pipeline/segment.h"

#include <algorithm>
#include <chrono>
#include <optional>

#include <torch/torch.h>

#include "core/cpu_path.h"
#include "core/error.h"
#include "core/hash.h"
#include "generate/generate.h"
#include "image/preprocess.h"
#include "pipeline/embeddings.h"
#include "postprocess/postprocess.h"

namespace xsam {

namespace {

using Clock = std::chrono::steady_clock;

double since(Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); }

// The per-image cache key: the model's identity, the image's size and pixels, and the preprocessing options
// (docs/design/decisions.md#per-image-cache).
std::string image_cache_key(const LoadedModel& model, const Image& image) {
  const auto& preprocess = model.config.preprocess;
  return std::to_string(reinterpret_cast<uintptr_t>(&model)) + ":" + std::to_string(image.width) + "x" +
         std::to_string(image.height) + ":" + std::to_string(fnv1a_hash(image.rgb.data(), image.rgb.size())) + ":" +
         std::to_string(preprocess.expand_to_square) + to_string(preprocess.siglip_resample) +
         to_string(preprocess.sam_resample);
}

// The KV-cache prefix key: the image, the sliding window, and the prompt ids before the image rows.
std::string prefix_cache_key(const std::string& image_key, const ModelConfig& config,
                             const std::vector<int64_t>& prefix_ids) {
  std::string key = image_key + "|" + std::to_string(config.llm.sliding_window_keys) + "|";
  for (int64_t id : prefix_ids) key += std::to_string(id) + ",";
  return key;
}

// ---- step 1: the request, resolved

struct ResolvedRequest {
  Task task;              // as asked (AUTO resolved)
  Task postprocess_task;  // which post-processing: OPEN_VOCAB → its generic variant
  Mode mode;
  std::vector<std::string> classes;
  std::vector<bool> is_thing;
  size_t ref_count = 0;
};

size_t ref_count(const SegmentRequest& request) {
  return request.canvas_prompt_masks.defined() ? static_cast<size_t>(request.canvas_prompt_masks.size(0))
                                               : request.refs.size();
}

// Generic tasks: the classes and their thing/stuff split, from the class list or "ins: …; sem: …".
void resolve_generic_classes(const SegmentRequest& request, Task task, ResolvedRequest* resolved) {
  ClassLists lists;
  if (!request.classes.empty()) {
    resolved->classes = request.classes;
    resolved->is_thing = request.class_is_thing.empty()
                             ? std::vector<bool>(request.classes.size(), task != Task::Semantic)
                             : request.class_is_thing;
  } else if (parse_class_prompt(request.prompt, &lists)) {
    resolved->classes = lists.things;
    resolved->classes.insert(resolved->classes.end(), lists.stuff.begin(), lists.stuff.end());
    resolved->is_thing.assign(lists.things.size(), true);
    resolved->is_thing.resize(resolved->classes.size(), false);
  }
  if (resolved->classes.empty() && request.turns.empty() && !request.question)
    fail(Status::InvalidArgument, std::string("classes: task ") + task_name(task) +
                                      " needs classes (an array, or \"ins: a, b; sem: c\" in the prompt)");
  for (const auto& name : resolved->classes)
    if (name.find_first_not_of(" \t\r\n") == std::string::npos)
      fail(Status::InvalidArgument, "classes: empty class name");
}

void check_refs_for_task(Task task, size_t refs) {
  const bool takes_refs = task == Task::Interactive || task == Task::Vgd;
  if (!takes_refs && refs > 0)
    fail(Status::InvalidArgument, std::string("refs: task ") + task_name(task) +
                                      " takes no visual refs (use interactive or vgd, or AUTO)");
  if (task == Task::Interactive && refs != 1)
    fail(Status::InvalidArgument,
         "refs: interactive segmentation takes exactly one visual ref, got " + std::to_string(refs));
  if (task == Task::Vgd && refs == 0) fail(Status::InvalidArgument, "refs: VGD segmentation needs at least one visual ref");
}

ResolvedRequest resolve_request(const SegmentRequest& request) {
  ResolvedRequest resolved;
  resolved.ref_count = ref_count(request);
  if (request.canvas_prompt_masks.defined() && !request.refs.empty())
    fail(Status::InvalidArgument, "refs: give visual refs or canvas prompt masks, not both");
  size_t thing_count = 0;
  for (bool is_thing : request.class_is_thing) thing_count += is_thing;
  const size_t class_count = request.classes.size();
  resolved.task = request.task == Task::Auto
                      ? infer_task(request.prompt, class_count, request.class_is_thing.empty() ? class_count : thing_count,
                                   resolved.ref_count)
                      : request.task;
  const Task task = resolved.task;
  if (!request.class_is_thing.empty() && request.class_is_thing.size() != class_count)
    fail(Status::InvalidArgument, "classes: class_is_thing has " + std::to_string(request.class_is_thing.size()) +
                                      " entries for " + std::to_string(class_count) + " classes");
  if (is_generic(task)) resolve_generic_classes(request, task, &resolved);
  else resolved.classes = request.classes;
  if (task == Task::OpenVocab) {
    ClassLists lists;
    for (size_t i = 0; i < resolved.classes.size(); ++i)
      (resolved.is_thing[i] ? lists.things : lists.stuff).push_back(resolved.classes[i]);
    resolved.postprocess_task = generic_variant(lists);
  } else {
    resolved.postprocess_task = task;
  }
  check_refs_for_task(task, resolved.ref_count);
  resolved.mode = request.mode == Mode::Default ? default_mode(task) : request.mode;
  return resolved;
}

// Text of the tokens strictly between each <p> and the following </p> (upstream _get_phrases_ids).
std::vector<std::string> phrase_texts(const Tokenizer& tok, const TokenIds& ids_cfg, const std::vector<int64_t>& ids) {
  std::vector<size_t> starts, ends;
  for (size_t i = 0; i < ids.size(); ++i) {
    if (ids[i] == ids_cfg.p_start) starts.push_back(i);
    if (ids[i] == ids_cfg.p_end) ends.push_back(i);
  }
  std::vector<std::string> out;
  for (size_t k = 0; k < std::min(starts.size(), ends.size()); ++k) {
    std::vector<int64_t> span;
    bool region = false;
    for (size_t i = starts[k] + 1; i < ends[k]; ++i) {
      if (ids[i] < 0) region = true;
      else span.push_back(ids[i]);
    }
    std::string s = region || span.empty() ? "" : tok.decode(span);
    size_t b = s.find_first_not_of(' '), e = s.find_last_not_of(' ');
    out.push_back(b == std::string::npos ? "" : s.substr(b, e - b + 1));
  }
  return out;
}

void replace_all(std::string& s, const std::string& from, const std::string& to) {
  for (size_t pos = 0; (pos = s.find(from, pos)) != std::string::npos; pos += to.size()) s.replace(pos, from.size(), to);
}


// ---- step 2: the prompt

struct BuiltPrompt {
  std::vector<Turn> turns;  // the conversation (the request's own, or the task's templates)
  PreparedPrompt tokens;    // its ids, with the phrase and <SEG> index of every id
};

BuiltPrompt build_prompt(const LoadedModel& model, const SegmentRequest& request, const ResolvedRequest& resolved) {
  const bool generating = resolved.mode == Mode::Generate;
  BuiltPrompt prompt;
  prompt.turns = request.turns;
  if (prompt.turns.empty()) {
    TaskRequest task_request;
    task_request.task = resolved.task;
    task_request.prompt = request.prompt;
    task_request.classes = resolved.classes;
    task_request.n_regions = resolved.ref_count;
    task_request.teacher_forced = !generating;
    task_request.question_template = request.question_template;
    task_request.answer_template = request.answer_template;
    task_request.question = request.question;
    task_request.answer = request.answer;
    prompt.turns = build_turns(task_request);
  }
  PromptOptions options;
  options.add_bos = request.add_bos;
  options.answer_suffix = request.answer_suffix.value_or(!(resolved.task == Task::Gcg && !generating));
  prompt.tokens = prepare_prompt(model.tokenizer(), model.config, prompt.turns, options);
  if (prompt.tokens.n_images != 1) fail(Status::InvalidArgument, "prompt: exactly one <image> is required");
  return prompt;
}

// ---- step 3: the image, encoded or taken from the per-image cache

struct EncodedImage {
  SamInput sam;                // SAM's input (its scaled size places the image in the masks)
  torch::Tensor prompt_masks;  // [n, S, S] uint8 on the SAM canvas, one per visual ref
  std::string cache_key;
  ImageFeatures features;
};

torch::Tensor canvas_prompt_masks(const SegmentRequest& request, const Image& image, const SamInput& sam,
                                  const PreprocessConfig& preprocess) {
  if (!request.canvas_prompt_masks.defined()) {
    std::vector<Mask> ref_masks = rasterize_refs(request.refs, image.width, image.height, request.ref_options);
    return sam_prompt_masks(ref_masks, sam, preprocess);
  }
  const int64_t side = preprocess.sam_size;
  const auto& masks = request.canvas_prompt_masks;
  if (masks.dim() != 3 || masks.size(1) != side || masks.size(2) != side)
    fail(Status::InvalidArgument, "canvas_prompt_masks: expected [n, " + std::to_string(side) + ", " +
                                      std::to_string(side) + "]");
  return masks.to(torch::kCPU).ne(0).to(torch::kUInt8);
}

EncodedImage encode_image(Context& context, const Image& image, const SegmentRequest& request,
                          SegmentResult* result) {
  const LoadedModel& model = context.model();
  const PreprocessConfig& preprocess = model.config.preprocess;
  auto started = Clock::now();
  EncodedImage encoded;
  encoded.sam = sam_preprocess(image, preprocess);
  encoded.prompt_masks = canvas_prompt_masks(request, image, encoded.sam, preprocess);
  encoded.cache_key = image_cache_key(model, image);
  const ImageFeatures* cached = context.find_image(encoded.cache_key);
  result->timings["preprocess"] = since(started);
  if (cached) {
    result->image_cache_hit = true;
    result->timings["vision"] = 0;
    encoded.features = *cached;
    return encoded;
  }
  torch::Tensor siglip_pixels = siglip_preprocess(image, preprocess);
  result->timings["preprocess"] = since(started);
  started = Clock::now();
  encoded.features = model.net->encode_image(siglip_pixels, encoded.sam.pixel_values, &result->timings);
  result->timings["vision"] = since(started);
  context.store_image(encoded.cache_key, encoded.features);
  return encoded;
}

// The LLM's input rows (region rows from the vision sampler), checked against the context length.
LlmInputs llm_inputs_for(Context& context, const BuiltPrompt& prompt, const EncodedImage& image,
                         const SegmentRequest& request, int64_t max_new_tokens, bool generating) {
  const XSamModel& net = *context.model().net;
  torch::Tensor region_rows;
  if (image.prompt_masks.size(0) > 0) region_rows = net.region_rows(image.features, image.prompt_masks, request.seed);
  LlmInputs inputs = build_llm_inputs(net, prompt.tokens.ids, prompt.tokens.cond_ids, prompt.tokens.seg_ids,
                                      image.features, region_rows);
  const int64_t prompt_rows = inputs.prefix.size(1) + inputs.rest.size(1);
  const int64_t capacity = context.kv_cache().capacity();
  if (prompt_rows + (generating ? max_new_tokens : 0) > capacity)
    fail(Status::Limit, "prompt: " + std::to_string(prompt_rows) + " positions" +
                            (generating ? " + max_new_tokens " + std::to_string(max_new_tokens) : std::string()) +
                            " exceed the context length " + std::to_string(capacity) +
                            " (context param max_context_tokens / config llm.max_position_embeddings)");
  return inputs;
}

// ---- step 5: the answer — teacher-forced, or generated and streamed (step 4, the prefix, is
// Context::ensure_prefix)

// The LLM states the decoder's embeddings are pooled from, with the phrase and <SEG> index of every row.
struct Answer {
  torch::Tensor hidden;                    // [rows, H] final-norm states of the rest (+ generated inputs)
  std::vector<int64_t> phrase_ids;         // per row: its phrase (<p>..</p>) index, -1 elsewhere
  std::vector<int64_t> seg_ids;            // per row: its <SEG> index, -1 elsewhere
  std::vector<int64_t> phrase_source_ids;  // the ids whose <p>..</p> spans name the phrases
};

Answer teacher_forced_answer(Context& context, const LlmInputs& inputs, const BuiltPrompt& prompt, Task task,
                             Clock::time_point prefill_started, SegmentResult* result) {
  const LoadedModel& model = context.model();
  Phi3ForwardOptions forward_options;
  forward_options.logits_last = 0;
  auto out = model.net->llm().forward(inputs.rest, inputs.prefix.size(1), &context.kv_cache(), forward_options);
  result->timings["prefill"] = since(prefill_started);
  std::string answer_text;
  for (const auto& turn : prompt.turns)
    if (turn.answer) answer_text += (answer_text.empty() ? "" : " ") + *turn.answer;
  result->raw_text = answer_text;
  result->text = clean_generated_text(answer_text, task, model.config.behaviour.text_cleanup);
  return {out.last_hidden[0], inputs.rest_cond_ids, inputs.rest_seg_ids, prompt.tokens.ids};
}

// Streaming pieces are differences of the decoded prefix, not tokens decoded alone: SentencePiece drops a
// lone token's leading space ("▁the" → "the"), and a character split over byte-fallback tokens decodes to
// U+FFFD until its last byte arrives (held back, as HF's TextStreamer does). So the pieces concatenate to
// raw_text (less a trailing incomplete character).
class TextStream {
 public:
  explicit TextStream(const Tokenizer& tokenizer) : tokenizer_(tokenizer) {}

  std::string next_piece(int64_t id) {
    ids_.push_back(id);
    const std::string text = tokenizer_.decode(ids_);
    static const std::string kReplacement = "\xEF\xBF\xBD";
    const bool incomplete = text.size() >= 3 && text.compare(text.size() - 3, 3, kReplacement) == 0;
    std::string piece;
    if (!incomplete) {
      if (text.size() > emitted_bytes_) piece = text.substr(emitted_bytes_);
      emitted_bytes_ = text.size();
    }
    return piece;
  }

 private:
  const Tokenizer& tokenizer_;
  std::vector<int64_t> ids_;
  size_t emitted_bytes_ = 0;
};

// Generated phrases and <SEG>s replace the prompt's (docs/design/upstream-facts.md#llm-to-decoder-embeddings):
// generated token j (all but the last, which has no hidden state) sits at row rest_rows + j.
void take_generated_phrases(const std::vector<int64_t>& generated, const TokenIds& tokens, int64_t rest_rows,
                            Answer* answer) {
  std::vector<int64_t> inputs(generated.begin(), generated.end() - (generated.empty() ? 0 : 1));
  std::vector<int64_t> phrase_ids, seg_ids;
  assign_phrase_and_seg_ids(inputs, tokens, &phrase_ids, &seg_ids);
  auto any_set = [](const std::vector<int64_t>& ids) {
    return std::any_of(ids.begin(), ids.end(), [](int64_t v) { return v >= 0; });
  };
  if (any_set(phrase_ids)) {
    answer->phrase_ids.assign(rest_rows, -1);
    answer->phrase_ids.insert(answer->phrase_ids.end(), phrase_ids.begin(), phrase_ids.end());
    answer->phrase_source_ids = inputs;
  } else {
    answer->phrase_ids.resize(rest_rows + inputs.size(), -1);
  }
  if (any_set(seg_ids)) {
    answer->seg_ids.assign(rest_rows, -1);
    answer->seg_ids.insert(answer->seg_ids.end(), seg_ids.begin(), seg_ids.end());
  } else {
    answer->seg_ids.resize(rest_rows + inputs.size(), -1);
  }
}

Answer generated_answer(Context& context, const LlmInputs& inputs, const BuiltPrompt& prompt,
                        const SegmentRequest& request, Task task, int64_t max_new_tokens,
                        Clock::time_point prefill_started, SegmentResult* result, SegmentDebug* debug) {
  const LoadedModel& model = context.model();
  const Tokenizer& tokenizer = model.tokenizer();
  GenerateOptions options = GenerateOptions::from_config(model.config);
  options.max_new_tokens = max_new_tokens;
  options.record_top2_margins = debug != nullptr;
  options.sampling = request.sampling;
  if (options.sampling.do_sample && options.sampling.seed == 0) options.sampling.seed = request.seed;
  Clock::time_point decode_started;
  bool first_token = true;
  TextStream stream(tokenizer);
  options.on_token = [&](int64_t id, int64_t) {
    if (first_token) {
      result->timings["prefill"] = since(prefill_started);
      decode_started = Clock::now();
      first_token = false;
    }
    if (!request.on_token) return true;
    return request.on_token(stream.next_piece(id), id);
  };
  GenerateResult generated = phi3_generate(model.net->llm(), context.kv_cache(), inputs.rest, options);
  result->timings["decode"] = first_token ? 0.0 : since(decode_started);
  result->generated_ids = generated.ids;
  if (debug) debug->generated_top2_margins = generated.top2_margins;
  result->raw_text = tokenizer.decode(generated.ids);
  result->text = clean_generated_text(result->raw_text, task, model.config.behaviour.text_cleanup);
  Answer answer{generated.all_hidden()[0], inputs.rest_cond_ids, inputs.rest_seg_ids, prompt.tokens.ids};
  take_generated_phrases(generated.ids, model.config.tokens, inputs.rest.size(1), &answer);
  return answer;
}

// ---- step 6: the masks, decoded

struct MaskPrediction {
  SegmentorOutput decoder;  // class and mask logits
  Task postprocess_task;    // which post-processing reads them
};

// nullopt when there is nothing to decode: a plain chat answer, or embeddings the decoder cannot take
// (result->note says why).
std::optional<MaskPrediction> decode_masks(const XSamModel& net, const Answer& answer, const ImageFeatures& image,
                                           const ResolvedRequest& resolved, SegmentResult* result,
                                           SegmentDebug* debug) {
  torch::Tensor projected = net.project_llm(answer.hidden.unsqueeze(0))[0];
  torch::Tensor phrase_embeds = pool_by_ids(projected, answer.phrase_ids);
  torch::Tensor seg_embeds = pool_by_ids(projected, answer.seg_ids);
  CondLayout layout = cond_layout(resolved.task);
  Task postprocess_task = resolved.postprocess_task;
  if (layout == CondLayout::None) {
    if (phrase_embeds.size(0) == 0 || seg_embeds.size(0) == 0) return std::nullopt;  // plain chat: text only
    // A chat answer that grounds phrases gets the GCG path instead of upstream's error
    // (docs/design/decisions.md#where-upstream-fails).
    layout = CondLayout::Shared;
    postprocess_task = Task::Gcg;
    result->note = "the chat answer contains <p>..</p> and <SEG>: segmented as grounded conversation";
  }
  std::string why;
  auto conditions = process_embeds(layout, phrase_embeds, seg_embeds, net.bg_embedding(), &why);
  if (!conditions) {
    result->note = "no masks: " + why;
    return std::nullopt;
  }
  SegmentorOutput decoded =
      net.decode_masks(image, conditions->cond, conditions->seg, conditions->embed_masks, conditions->repeat);
  if (debug) {
    debug->class_logits = decoded.class_logits;
    debug->mask_logits = decoded.mask_logits;
    debug->cond = conditions->cond;
    debug->seg = conditions->seg;
  }
  return MaskPrediction{decoded, postprocess_task};
}

// ---- step 7: post-processing at the original size

PostprocessGeometry postprocess_geometry(const ModelConfig& config, const SamInput& sam, const Image& image) {
  PostprocessGeometry geometry;
  geometry.canvas = config.mask2former.mask_image_size;
  geometry.scaled_height = sam.scaled.height;
  geometry.scaled_width = sam.scaled.width;
  geometry.height = image.height;
  geometry.width = image.width;
  return geometry;
}

PostprocessResult postprocess_for_task(Task task, const DecoderPrediction& prediction,
                                       const PostprocessGeometry& geometry, const SegmentRequest& request,
                                       const BehaviourConfig& behaviour, const std::vector<bool>& is_thing,
                                       const torch::Tensor& prompt_masks) {
  std::vector<int> stuff_labels;
  for (size_t i = 0; i < is_thing.size(); ++i)
    if (!is_thing[i]) stuff_labels.push_back(static_cast<int>(i));
  switch (task) {
    case Task::Semantic: return postprocess_semantic(prediction, geometry, behaviour.semantic_order);
    case Task::Instance: {
      InstanceParams params;
      params.threshold = request.score_threshold;
      params.things_only = behaviour.instance_things_only;
      params.stuff_labels = stuff_labels;
      return postprocess_instance(prediction, geometry, params);
    }
    case Task::Panoptic: {
      PanopticParams params;
      params.threshold = request.score_threshold;
      params.overlap_threshold = request.overlap_threshold;
      params.mask_threshold = request.mask_threshold;
      params.stuff_labels = stuff_labels;
      return postprocess_panoptic(prediction, geometry, params);
    }
    case Task::Referring:
    case Task::Reasoning: return postprocess_referring(prediction, geometry, request.mask_threshold);
    case Task::Gcg: return postprocess_gcg(prediction, geometry, request.mask_threshold);
    case Task::Interactive: {
      InteractiveParams params;
      params.threshold = request.score_threshold;
      params.iou = behaviour.intseg_iou;
      return postprocess_interactive(prediction, geometry, prompt_masks, params);
    }
    case Task::Vgd: return postprocess_vgd(prediction, geometry, prompt_masks, request.score_threshold);
    default: fail(Status::Internal, std::string("post-processing: unexpected task ") + task_name(task));
  }
}

// ---- step 8: labels, and the result

// The name of each label id: the classes (generic tasks), "region i" (visual refs), or the phrases.
std::vector<std::string> label_names(const LoadedModel& model, const ResolvedRequest& resolved, const Answer& answer) {
  std::vector<std::string> names;
  if (is_generic(resolved.task)) {
    names = resolved.classes;
  } else if (resolved.task == Task::Interactive || resolved.task == Task::Vgd) {
    for (size_t i = 0; i < resolved.ref_count; ++i) names.push_back("region " + std::to_string(i));
  } else {
    names = phrase_texts(model.tokenizer(), model.config.tokens, answer.phrase_source_ids);
  }
  return names;
}

void label_masks(PostprocessResult selected, const std::vector<std::string>& names, Task postprocess_task,
                 SegmentResult* result) {
  for (auto& entry : selected.masks) {
    ResultMask mask;
    mask.mask = std::move(entry.mask);
    mask.label_id = entry.label;
    mask.label = entry.label >= 0 && entry.label < static_cast<int>(names.size()) ? names[entry.label]
                                                                                 : std::to_string(entry.label);
    mask.score = entry.score;
    if (mask.mask.area() > 0) {
      mask.box[0] = entry.box.x0;
      mask.box[1] = entry.box.y0;
      mask.box[2] = entry.box.x1;
      mask.box[3] = entry.box.y1;
    }
    result->masks.push_back(std::move(mask));
  }
  if (postprocess_task == Task::Semantic) result->semantic_map = selected.map.values;
  if (postprocess_task == Task::Panoptic) result->panoptic_map = selected.map.values;
  result->segments = selected.segments;
  if (result->class_names.empty()) result->class_names = names;
}

}  // namespace

std::string clean_generated_text(const std::string& decoded, Task task, TextCleanup style) {
  std::string s = decoded;
  size_t b = s.find_first_not_of(" \t\r\n"), e = s.find_last_not_of(" \t\r\n");
  s = b == std::string::npos ? "" : s.substr(b, e - b + 1);
  if (style == TextCleanup::Main) {
    std::string out;
    for (char c : s)
      if (!(c == ' ' && !out.empty() && out.back() == ' ')) out.push_back(c);
    return out;
  }
  replace_all(s, "<|end|>", "");
  replace_all(s, "<p> ", "<p>");
  replace_all(s, "</p> ", "</p>");
  if (task != Task::Gcg) {
    replace_all(s, "<p>", "");
    replace_all(s, "</p>", "");
  }
  return s;
}

SegmentResult segment(Context& context, const Image& image, const SegmentRequest& request, SegmentDebug* debug) {
  torch::NoGradGuard no_grad;
  const auto started = Clock::now();
  const LoadedModel& model = context.model();
  const ModelConfig& config = model.config;
  if (image.empty() || image.rgb.size() != image.pixel_count() * 3)
    fail(Status::InvalidArgument, "image: empty or inconsistent image");
  check_preprocess_limits(image, config.preprocess, context.options().max_image_pixels);

  const ResolvedRequest resolved = resolve_request(request);
  SegmentResult result;
  result.task = resolved.task;
  result.mode = resolved.mode;
  result.width = image.width;
  result.height = image.height;
  result.class_names = resolved.classes;
  result.cpu_path = model.net->device().is_cpu() ? cpu_path_name(cpu_path_active()) : model.net->device().str();
  result.weight_dtype = model.net->weight_dtype() == torch::kBFloat16 ? "bf16" : "fp32";
  result.math_dtype = model.net->dtype() == torch::kBFloat16 ? "bf16" : "fp32";
  const bool generating = resolved.mode == Mode::Generate;

  const BuiltPrompt prompt = build_prompt(model, request, resolved);
  result.prompt_ids = prompt.tokens.ids;
  const EncodedImage encoded = encode_image(context, image, request, &result);
  const int64_t max_new_tokens = request.max_new_tokens > 0 ? request.max_new_tokens : config.behaviour.max_new_tokens;
  const LlmInputs inputs = llm_inputs_for(context, prompt, encoded, request, max_new_tokens, generating);

  // The image prefix (reused when the same image and prefix are in the KV cache), then the rest.
  const auto prefill_started = Clock::now();
  context.ensure_prefix(prefix_cache_key(encoded.cache_key, config, inputs.prefix_ids), inputs.prefix);
  const Answer answer =
      generating ? generated_answer(context, inputs, prompt, request, resolved.task, max_new_tokens, prefill_started,
                                    &result, debug)
                 : teacher_forced_answer(context, inputs, prompt, resolved.task, prefill_started, &result);

  const auto decode_started = Clock::now();
  const auto prediction = decode_masks(*model.net, answer, encoded.features, resolved, &result, debug);
  if (!prediction) {
    result.timings["total"] = since(started);
    return result;
  }
  result.timings["decoder"] = since(decode_started);

  const auto postprocess_started = Clock::now();
  const PostprocessGeometry geometry = postprocess_geometry(config, encoded.sam, image);
  const DecoderPrediction logits{prediction->decoder.class_logits, prediction->decoder.mask_logits};
  PostprocessResult selected = postprocess_for_task(prediction->postprocess_task, logits, geometry, request,
                                                    config.behaviour, resolved.is_thing, encoded.prompt_masks);
  if (debug) {
    debug->geometry = geometry;
    for (const auto& entry : selected.masks) {
      debug->mask_rows.push_back(entry.row);
      debug->mask_queries.push_back(entry.query);
    }
  }
  label_masks(std::move(selected), label_names(model, resolved, answer), prediction->postprocess_task, &result);
  result.timings["postprocess"] = since(postprocess_started);
  result.timings["total"] = since(started);
  return result;
}

}  // namespace xsam
