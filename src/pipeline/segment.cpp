#include "pipeline/segment.h"

#include <chrono>
#include <cstring>

#include <torch/torch.h>

#include "core/error.h"
#include "postprocess/postprocess.h"
#include "image/preprocess.h"
#include "generate/generate.h"
#include "pipeline/embeddings.h"

namespace xsam {

namespace {

using Clock = std::chrono::steady_clock;

double since(Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); }

// 64-bit FNV-1a over the pixels, 8 bytes at a time: a cache key, not a security boundary; the
// dimensions and the preprocessing options are part of the key as well.
uint64_t hash_bytes(const uint8_t* p, size_t n, uint64_t h = 1469598103934665603ull) {
  size_t i = 0;
  for (; i + 8 <= n; i += 8) {
    uint64_t w;
    std::memcpy(&w, p + i, 8);
    h = (h ^ w) * 1099511628211ull;
  }
  for (; i < n; ++i) h = (h ^ p[i]) * 1099511628211ull;
  return h;
}

std::string image_key(const LoadedModel& m, const Image& image) {
  const auto& p = m.config.preprocess;
  std::string k = std::to_string(reinterpret_cast<uintptr_t>(&m)) + ":" + std::to_string(image.width) + "x" +
                  std::to_string(image.height) + ":" + std::to_string(hash_bytes(image.rgb.data(), image.rgb.size())) +
                  ":" + std::to_string(p.expand_to_square) + to_string(p.siglip_resample) + to_string(p.sam_resample);
  return k;
}

struct ResolvedTask {
  Task task;           // as asked (AUTO resolved)
  Task post;           // which post-processing: OPEN_VOCAB → its generic variant
  Mode mode;
  std::vector<std::string> classes;
  std::vector<bool> is_thing;
};

size_t ref_count(const SegmentRequest& r) {
  return r.canvas_prompt_masks.defined() ? static_cast<size_t>(r.canvas_prompt_masks.size(0)) : r.refs.size();
}

ResolvedTask resolve(const SegmentRequest& r) {
  ResolvedTask out;
  const size_t n_refs = ref_count(r);
  if (r.canvas_prompt_masks.defined() && !r.refs.empty())
    fail(Status::InvalidArgument, "refs: give visual refs or canvas prompt masks, not both");
  size_t n_things = 0;
  for (bool b : r.class_is_thing) n_things += b;
  out.task = r.task == Task::Auto ? infer_task(r.prompt, r.classes.size(), r.class_is_thing.empty() ? r.classes.size() : n_things,
                                               n_refs)
                                  : r.task;
  const Task t = out.task;
  if (!r.class_is_thing.empty() && r.class_is_thing.size() != r.classes.size())
    fail(Status::InvalidArgument, "classes: class_is_thing has " + std::to_string(r.class_is_thing.size()) +
                                      " entries for " + std::to_string(r.classes.size()) + " classes");
  if (is_generic(t)) {
    ClassLists lists;
    if (!r.classes.empty()) {
      out.classes = r.classes;
      out.is_thing = r.class_is_thing.empty() ? std::vector<bool>(r.classes.size(), t != Task::Semantic) : r.class_is_thing;
    } else if (parse_class_prompt(r.prompt, &lists)) {
      out.classes = lists.things;
      out.classes.insert(out.classes.end(), lists.stuff.begin(), lists.stuff.end());
      out.is_thing.assign(lists.things.size(), true);
      out.is_thing.resize(out.classes.size(), false);
    }
    if (out.classes.empty() && r.turns.empty() && !r.question)
      fail(Status::InvalidArgument, std::string("classes: task ") + task_name(t) +
                                        " needs classes (an array, or \"ins: a, b; sem: c\" in the prompt)");
    for (const auto& c : out.classes)
      if (c.find_first_not_of(" \t\r\n") == std::string::npos)
        fail(Status::InvalidArgument, "classes: empty class name");
  } else {
    out.classes = r.classes;
  }
  if (t == Task::OpenVocab) {
    ClassLists l;
    for (size_t i = 0; i < out.classes.size(); ++i) (out.is_thing[i] ? l.things : l.stuff).push_back(out.classes[i]);
    out.post = generic_variant(l);
  } else {
    out.post = t;
  }
  const bool takes_refs = t == Task::Interactive || t == Task::Vgd;
  if (!takes_refs && n_refs > 0)
    fail(Status::InvalidArgument, std::string("refs: task ") + task_name(t) +
                                      " takes no visual refs (use interactive or vgd, or AUTO)");
  if (t == Task::Interactive && n_refs != 1)
    fail(Status::InvalidArgument, "refs: interactive segmentation takes exactly one visual ref, got " + std::to_string(n_refs));
  if (t == Task::Vgd && n_refs == 0) fail(Status::InvalidArgument, "refs: VGD segmentation needs at least one visual ref");
  out.mode = r.mode == Mode::Default ? default_mode(t) : r.mode;
  return out;
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

SegmentResult segment(Context& ctx, const Image& image, const SegmentRequest& req, SegmentDebug* debug) {
  torch::NoGradGuard no_grad;
  const auto t_start = Clock::now();
  const LoadedModel& m = ctx.model();
  const XSamModel& net = *m.net;
  const ModelConfig& cfg = m.config;

  if (image.empty() || image.rgb.size() != image.pixel_count() * 3)
    fail(Status::InvalidArgument, "image: empty or inconsistent image");
  check_preprocess_limits(image, cfg.preprocess, ctx.options().max_image_pixels);
  ResolvedTask rt = resolve(req);
  SegmentResult res;
  res.task = rt.task;
  res.mode = rt.mode;
  res.width = image.width;
  res.height = image.height;
  res.class_names = rt.classes;
  const bool generate = rt.mode == Mode::Generate;

  // ---- prompt
  std::vector<Turn> turns = req.turns;
  if (turns.empty()) {
    TaskRequest tr;
    tr.task = rt.task;
    tr.prompt = req.prompt;
    tr.classes = rt.classes;
    tr.n_regions = ref_count(req);
    tr.teacher_forced = !generate;
    tr.question_template = req.question_template;
    tr.answer_template = req.answer_template;
    tr.question = req.question;
    tr.answer = req.answer;
    turns = build_turns(tr);
  }
  PromptOptions popts;
  popts.add_bos = req.add_bos;
  popts.answer_suffix = req.answer_suffix.value_or(!(rt.task == Task::Gcg && !generate));
  PreparedPrompt prompt = prepare_prompt(m.tokenizer(), cfg, turns, popts);
  res.prompt_ids = prompt.ids;
  if (prompt.n_images != 1) fail(Status::InvalidArgument, "prompt: exactly one <image> is required");

  // ---- image: preprocessing and encoders (or the per-image cache)
  auto t = Clock::now();
  SamInput sam = sam_preprocess(image, cfg.preprocess);
  torch::Tensor prompt_masks;
  if (req.canvas_prompt_masks.defined()) {
    const int64_t S = cfg.preprocess.sam_size;
    const auto& cm = req.canvas_prompt_masks;
    if (cm.dim() != 3 || cm.size(1) != S || cm.size(2) != S)
      fail(Status::InvalidArgument, "canvas_prompt_masks: expected [n, " + std::to_string(S) + ", " + std::to_string(S) + "]");
    prompt_masks = cm.to(torch::kCPU).ne(0).to(torch::kUInt8);
  } else {
    std::vector<Mask> ref_masks = rasterize_refs(req.refs, image.width, image.height, req.ref_options);
    prompt_masks = sam_prompt_masks(ref_masks, sam, cfg.preprocess);
  }
  const std::string ikey = image_key(m, image);
  const ImageFeatures* cached = ctx.find_image(ikey);
  ImageFeatures local;
  res.timings["preprocess"] = since(t);
  if (cached) {
    res.image_cache_hit = true;
    res.timings["vision"] = 0;
  } else {
    torch::Tensor siglip = siglip_preprocess(image, cfg.preprocess);
    res.timings["preprocess"] = since(t);
    t = Clock::now();
    local = net.encode_image(siglip, sam.pixel_values, &res.timings);
    res.timings["vision"] = since(t);
    ctx.store_image(ikey, local);
  }
  const ImageFeatures& feats = cached ? *cached : local;

  // ---- LLM inputs; region rows from the vision sampler
  torch::Tensor region_rows;
  if (prompt_masks.size(0) > 0) region_rows = net.region_rows(feats, prompt_masks, req.seed);
  LlmInputs in = build_llm_inputs(net, prompt.ids, prompt.cond_ids, prompt.seg_ids, feats, region_rows);
  const int64_t prefix_len = in.prefix.size(1);
  const int64_t rest_len = in.rest.size(1);
  Phi3KvCache& cache = ctx.kv_cache();
  const int64_t max_new = req.max_new_tokens > 0 ? req.max_new_tokens : cfg.behaviour.max_new_tokens;
  const int64_t needed = prefix_len + rest_len + (generate ? max_new : 0);
  if (needed > cache.capacity())
    fail(Status::Limit, "prompt: " + std::to_string(prefix_len + rest_len) + " positions" +
                            (generate ? " + max_new_tokens " + std::to_string(max_new) : std::string()) +
                            " exceed the context length " + std::to_string(cache.capacity()) +
                            " (context param max_context_tokens / config llm.max_position_embeddings)");

  // ---- prefill: the image prefix (reused when the same image and prefix are in the KV cache), then the rest
  t = Clock::now();
  std::string pkey = ikey + "|" + std::to_string(cfg.llm.sliding_window_keys) + "|";
  for (int64_t id : in.prefix_ids) pkey += std::to_string(id) + ",";
  Phi3ForwardOptions fopts;
  fopts.logits_last = 0;
  if (ctx.prefix_key_ == pkey && cache.length() >= ctx.prefix_len_) {
    cache.truncate(ctx.prefix_len_);
  } else {
    cache.clear();
    ctx.prefix_key_.clear();
    net.llm().forward(in.prefix, 0, &cache, fopts);
    ctx.prefix_key_ = pkey;
    ctx.prefix_len_ = prefix_len;
  }

  torch::Tensor hidden;                 // [T', H]: final-norm states of the rest (+ generated inputs)
  std::vector<int64_t> cond_ids = in.rest_cond_ids;
  std::vector<int64_t> seg_ids = in.rest_seg_ids;
  std::vector<int64_t> cond_source = prompt.ids;  // the ids whose <p>..</p> spans name the phrases
  if (!generate) {
    auto out = net.llm().forward(in.rest, prefix_len, &cache, fopts);
    hidden = out.last_hidden[0];
    res.timings["prefill"] = since(t);
    std::string answer;
    for (const auto& turn : turns)
      if (turn.answer) answer += (answer.empty() ? "" : " ") + *turn.answer;
    res.raw_text = answer;
    res.text = clean_generated_text(answer, rt.task, cfg.behaviour.text_cleanup);
  } else {
    GenerateOptions g = GenerateOptions::from_config(cfg);
    g.max_new_tokens = max_new;
    g.record_top2_margins = debug != nullptr;
    g.sampling = req.sampling;
    if (g.sampling.do_sample && g.sampling.seed == 0) g.sampling.seed = req.seed;
    const Tokenizer& tok = m.tokenizer();
    auto prefill_done = std::make_shared<Clock::time_point>();
    bool first = true;
    // Streaming pieces are differences of the decoded prefix, not tokens decoded alone: SentencePiece
    // drops a lone token's leading space ("▁the" → "the"), and a character split over byte-fallback
    // tokens decodes to U+FFFD until its last byte arrives (held back, as HF's TextStreamer does).
    // So the pieces concatenate to raw_text (less a trailing incomplete character).
    std::vector<int64_t> streamed_ids;
    size_t streamed_bytes = 0;
    g.on_token = [&](int64_t id, int64_t) {
      if (first) {
        res.timings["prefill"] = since(t);
        *prefill_done = Clock::now();
        first = false;
      }
      if (!req.on_token) return true;
      streamed_ids.push_back(id);
      const std::string text = tok.decode(streamed_ids);
      static const std::string kReplacement = "\xEF\xBF\xBD";
      const bool incomplete = text.size() >= 3 && text.compare(text.size() - 3, 3, kReplacement) == 0;
      std::string piece;
      if (!incomplete) {
        if (text.size() > streamed_bytes) piece = text.substr(streamed_bytes);
        streamed_bytes = text.size();
      }
      return req.on_token(piece, id);
    };
    GenerateResult gr = phi3_generate(net.llm(), cache, in.rest, g);
    res.timings["decode"] = first ? 0.0 : since(*prefill_done);
    res.generated_ids = gr.ids;
    if (debug) debug->generated_top2_margins = gr.top2_margins;
    res.raw_text = tok.decode(gr.ids);
    res.text = clean_generated_text(res.raw_text, rt.task, cfg.behaviour.text_cleanup);
    hidden = gr.all_hidden()[0];
    // Generated token j (all but the last, which has no hidden state) sits at row rest_len + j.
    std::vector<int64_t> gen(gr.ids.begin(), gr.ids.end() - (gr.ids.empty() ? 0 : 1));
    std::vector<int64_t> gcond, gseg;
    assign_phrase_and_seg_ids(gen, cfg.tokens, &gcond, &gseg);
    bool gen_phrases = std::any_of(gcond.begin(), gcond.end(), [](int64_t v) { return v >= 0; });
    bool gen_segs = std::any_of(gseg.begin(), gseg.end(), [](int64_t v) { return v >= 0; });
    if (gen_phrases) {  // generated phrases replace the prompt's (spec §2.8)
      cond_ids.assign(rest_len, -1);
      cond_ids.insert(cond_ids.end(), gcond.begin(), gcond.end());
      cond_source = gen;
    } else {
      cond_ids.resize(rest_len + gen.size(), -1);
    }
    if (gen_segs) {
      seg_ids.assign(rest_len, -1);
      seg_ids.insert(seg_ids.end(), gseg.begin(), gseg.end());
    } else {
      seg_ids.resize(rest_len + gen.size(), -1);
    }
  }

  // ---- LLM → decoder embeddings
  t = Clock::now();
  torch::Tensor projected = net.project_llm(hidden.unsqueeze(0))[0];
  torch::Tensor conds = pool_by_ids(projected, cond_ids);
  torch::Tensor segs = pool_by_ids(projected, seg_ids);
  CondLayout layout = cond_layout(rt.task);
  Task post = rt.post;
  if (layout == CondLayout::None) {
    if (conds.size(0) == 0 || segs.size(0) == 0) {
      res.timings["total"] = since(t_start);
      return res;  // plain chat: text only
    }
    // DECISIONS A6: a chat answer that grounds phrases gets the GCG path instead of upstream's error.
    layout = CondLayout::Shared;
    post = Task::Gcg;
    res.note = "the chat answer contains <p>..</p> and <SEG>: segmented as grounded conversation";
  }
  std::string why;
  auto dc = process_embeds(layout, conds, segs, net.bg_embedding(), &why);
  if (!dc) {
    res.note = "no masks: " + why;
    res.timings["total"] = since(t_start);
    return res;
  }
  SegmentorOutput so = net.decode_masks(feats, dc->cond, dc->seg, dc->embed_masks, dc->repeat);
  if (debug) {
    debug->class_logits = so.class_logits;
    debug->mask_logits = so.mask_logits;
    debug->cond = dc->cond;
    debug->seg = dc->seg;
  }
  res.timings["decoder"] = since(t);

  // ---- post-processing at the original size
  t = Clock::now();
  PostprocessGeometry geom;
  geom.canvas = cfg.mask2former.mask_image_size;
  geom.scaled_height = sam.scaled.height;
  geom.scaled_width = sam.scaled.width;
  geom.height = image.height;
  geom.width = image.width;
  DecoderPrediction pred{so.class_logits, so.mask_logits};
  std::vector<int> stuff;
  for (size_t i = 0; i < rt.is_thing.size(); ++i)
    if (!rt.is_thing[i]) stuff.push_back(static_cast<int>(i));
  PostprocessResult pr;
  switch (post) {
    case Task::Semantic: pr = postprocess_semantic(pred, geom, cfg.behaviour.semantic_order); break;
    case Task::Instance: {
      InstanceParams p;
      p.threshold = req.score_threshold;
      p.things_only = cfg.behaviour.instance_things_only;
      p.stuff_labels = stuff;
      pr = postprocess_instance(pred, geom, p);
      break;
    }
    case Task::Panoptic: {
      PanopticParams p;
      p.threshold = req.score_threshold;
      p.overlap_threshold = req.overlap_threshold;
      p.mask_threshold = req.mask_threshold;
      p.stuff_labels = stuff;
      pr = postprocess_panoptic(pred, geom, p);
      break;
    }
    case Task::Referring:
    case Task::Reasoning: pr = postprocess_referring(pred, geom, req.mask_threshold); break;
    case Task::Gcg: pr = postprocess_gcg(pred, geom, req.mask_threshold); break;
    case Task::Interactive: {
      InteractiveParams p;
      p.threshold = req.score_threshold;
      p.iou = cfg.behaviour.intseg_iou;
      pr = postprocess_interactive(pred, geom, prompt_masks, p);
      break;
    }
    case Task::Vgd: pr = postprocess_vgd(pred, geom, prompt_masks, req.score_threshold); break;
    default: fail(Status::Internal, std::string("post-processing: unexpected task ") + task_name(post));
  }

  // ---- labels and result
  std::vector<std::string> names;
  if (is_generic(rt.task)) names = rt.classes;
  else if (rt.task == Task::Interactive || rt.task == Task::Vgd)
    for (size_t i = 0; i < ref_count(req); ++i) names.push_back("region " + std::to_string(i));
  else names = phrase_texts(m.tokenizer(), cfg.tokens, cond_source);
  if (debug) {
    debug->geometry = geom;
    for (const auto& e : pr.masks) {
      debug->mask_rows.push_back(e.row);
      debug->mask_queries.push_back(e.query);
    }
  }
  for (auto& e : pr.masks) {
    ResultMask rm;
    rm.mask = std::move(e.mask);
    rm.label_id = e.label;
    rm.label = e.label >= 0 && e.label < static_cast<int>(names.size()) ? names[e.label] : std::to_string(e.label);
    rm.score = e.score;
    if (rm.mask.area() > 0) {
      rm.box[0] = e.box.x0;
      rm.box[1] = e.box.y0;
      rm.box[2] = e.box.x1;
      rm.box[3] = e.box.y1;
    }
    res.masks.push_back(std::move(rm));
  }
  if (post == Task::Semantic) res.semantic_map = pr.map.values;
  if (post == Task::Panoptic) res.panoptic_map = pr.map.values;
  res.segments = pr.segments;
  if (res.class_names.empty()) res.class_names = names;
  res.timings["postprocess"] = since(t);
  res.timings["total"] = since(t_start);
  return res;
}

}  // namespace xsam
