// xsam_segment: C structs → a SegmentRequest, validated field by field, then the pipeline.
#include <cmath>
#include <cstring>

#include "api/handles.h"
#include "api/params_abi.h"
#include "core/error.h"
#include "image/decode.h"
#include "pipeline/segment.h"
#include "text/tokenizer_split.h"

using namespace xsam;

namespace {

Task task_of(int t) {
  switch (t) {
    case XSAM_TASK_AUTO: return Task::Auto;
    case XSAM_TASK_CHAT: return Task::Chat;
    case XSAM_TASK_SEMANTIC: return Task::Semantic;
    case XSAM_TASK_INSTANCE: return Task::Instance;
    case XSAM_TASK_PANOPTIC: return Task::Panoptic;
    case XSAM_TASK_REFERRING: return Task::Referring;
    case XSAM_TASK_REASONING: return Task::Reasoning;
    case XSAM_TASK_GCG: return Task::Gcg;
    case XSAM_TASK_INTERACTIVE: return Task::Interactive;
    case XSAM_TASK_VGD: return Task::Vgd;
    case XSAM_TASK_OPEN_VOCAB: return Task::OpenVocab;
  }
  fail(Status::InvalidArgument, "params.task: unknown task " + std::to_string(static_cast<int>(t)));
}

Mode mode_of(int m) {
  switch (m) {
    case XSAM_MODE_DEFAULT: return Mode::Default;
    case XSAM_MODE_TEACHER_FORCED: return Mode::TeacherForced;
    case XSAM_MODE_GENERATE: return Mode::Generate;
  }
  fail(Status::InvalidArgument, "params.mode: unknown mode " + std::to_string(static_cast<int>(m)));
}

PixelFormat format_of(int f) {
  switch (f) {
    case XSAM_PIXEL_RGB8: return PixelFormat::RGB;
    case XSAM_PIXEL_RGBA8: return PixelFormat::RGBA;
    case XSAM_PIXEL_BGR8: return PixelFormat::BGR;
    case XSAM_PIXEL_GRAY8: return PixelFormat::Gray;
  }
  fail(Status::InvalidArgument, "image.format: unknown pixel format " + std::to_string(static_cast<int>(f)));
}

// Well-formed UTF-8 as RFC 3629 defines it (the text layer's rule, also xsam_utf8_valid_prefix).
bool valid_utf8(const std::string& s) { return first_invalid_utf8(s) == std::string::npos; }

// `s` with every byte that does not begin a well-formed character replaced by U+FFFD: what the token
// callback receives, so that the header's promise of whole UTF-8 pieces holds whatever the tokenizer gave.
std::string whole_utf8(const std::string& s) {
  if (valid_utf8(s)) return s;
  std::string out;
  for (size_t i = 0; i < s.size();) {
    size_t n = 1;
    while (n <= 4 && i + n <= s.size() && !valid_utf8(s.substr(i, n))) ++n;
    if (n <= 4 && i + n <= s.size() && s[i] != '\0') {
      out.append(s, i, n);
      i += n;
    } else {
      out += "\xEF\xBF\xBD";
      ++i;
    }
  }
  return out;
}

std::string text_arg(const char* s, const char* what) {
  if (!s) return "";
  if (!valid_utf8(std::string(s))) fail(Status::InvalidArgument, std::string(what) + ": not valid UTF-8");
  return s;
}

VisualRef ref_of(const xsam_visual_ref& r, size_t i) {
  const std::string what = "refs[" + std::to_string(i) + "]";
  VisualRef v;
  switch (api::enum_int(r.kind)) {
    case XSAM_REF_POINT: v.kind = RefKind::Point; break;
    case XSAM_REF_BOX: v.kind = RefKind::Box; break;
    case XSAM_REF_SCRIBBLE: v.kind = RefKind::Scribble; break;
    case XSAM_REF_MASK: v.kind = RefKind::Mask; break;
    default: fail(Status::InvalidArgument, what + ".kind: unknown ref kind " + std::to_string(api::enum_int(r.kind)));
  }
  if (v.kind == RefKind::Mask) {
    if (!r.mask) fail(Status::InvalidArgument, what + ".mask is NULL");
    if (r.mask_width <= 0 || r.mask_height <= 0 || int64_t(r.mask_width) * r.mask_height > (int64_t(1) << 31))
      fail(Status::InvalidArgument, what + ": invalid mask size " + std::to_string(r.mask_width) + "x" + std::to_string(r.mask_height));
    v.mask = Mask(r.mask_width, r.mask_height);
    std::memcpy(v.mask.data.data(), r.mask, v.mask.data.size());
  } else {
    if (!r.xy || r.n_xy == 0) fail(Status::InvalidArgument, what + ".xy is NULL or empty");
    if (r.n_xy > (1u << 20)) fail(Status::Limit, what + ".n_xy: too many coordinates");
    v.xy.assign(r.xy, r.xy + r.n_xy);
  }
  return v;
}

// Marks the context busy for one xsam_segment call; a call that finds it busy fails without touching it.
class BusyGuard {
 public:
  explicit BusyGuard(xsam_context* ctx) : ctx_(ctx) {
    if (ctx_->busy.exchange(true))
      fail(Status::InvalidArgument,
           "ctx: context is busy: xsam_segment is already running on it (called from its own token callback, or "
           "from a second thread: use one context per thread)");
  }
  ~BusyGuard() { ctx_->busy.store(false); }
  BusyGuard(const BusyGuard&) = delete;
  BusyGuard& operator=(const BusyGuard&) = delete;

 private:
  xsam_context* ctx_;
};

}  // namespace

extern "C" {

xsam_segment_params xsam_segment_default_params(void) {
  xsam_segment_params p{};
  p.struct_size = sizeof(xsam_segment_params);
  p.task = XSAM_TASK_AUTO;
  p.mode = XSAM_MODE_DEFAULT;
  p.add_bos = false;
  p.max_new_tokens = 0;
  p.temperature = 0.0f;
  p.top_k = 0;
  p.top_p = 1.0f;
  p.seed = 0;
  p.question_template = 0;
  p.answer_template = 0;
  p.score_threshold = 0.5f;
  p.overlap_threshold = 0.8f;
  p.mask_threshold = 0.5f;
  return p;
}

xsam_status xsam_segment(xsam_context* ctx, const xsam_image* image, const char* prompt, const xsam_visual_ref* refs,
                         size_t n_refs, const xsam_segment_params* params, xsam_result** out) {
  return api::run_guarded("xsam_segment", [&] {
    if (!ctx) fail(Status::InvalidArgument, "ctx is NULL");
    if (!out) fail(Status::InvalidArgument, "out is NULL");
    *out = nullptr;
    BusyGuard busy(ctx);
    if (!image) fail(Status::InvalidArgument, "image is NULL");
    if (n_refs > 0 && !refs) fail(Status::InvalidArgument, "refs is NULL but n_refs = " + std::to_string(n_refs));
    if (n_refs > 64) fail(Status::Limit, "n_refs: at most 64 visual refs per call");
    const xsam_segment_params p = api::read_params(params, xsam_segment_default_params(),
                                                   api::kSegmentParamsFirstSize, "params",
                                                   "xsam_segment_default_params");
    if (!image->pixels) fail(Status::InvalidArgument, "image.pixels is NULL");
    Image img = image_from_pixels(image->pixels, image->width, image->height, image->stride, format_of(api::enum_int(image->format)),
                                  ctx->ctx.options().max_image_pixels);

    SegmentRequest r;
    r.task = task_of(api::enum_int(p.task));
    r.mode = mode_of(api::enum_int(p.mode));
    r.prompt = text_arg(prompt, "prompt");
    if (p.n_classes > 0 && !p.classes) fail(Status::InvalidArgument, "params.classes is NULL but n_classes > 0");
    if (p.n_classes > 4096) fail(Status::Limit, "params.n_classes: at most 4096 classes");
    for (size_t i = 0; i < p.n_classes; ++i) {
      if (!p.classes[i]) fail(Status::InvalidArgument, "params.classes[" + std::to_string(i) + "] is NULL");
      r.classes.push_back(text_arg(p.classes[i], ("params.classes[" + std::to_string(i) + "]").c_str()));
    }
    if (p.n_thing_classes > p.n_classes) fail(Status::InvalidArgument, "params.n_thing_classes > n_classes");
    if (p.n_thing_classes > 0)
      for (size_t i = 0; i < p.n_classes; ++i) r.class_is_thing.push_back(i < p.n_thing_classes);
    for (size_t i = 0; i < n_refs; ++i) r.refs.push_back(ref_of(refs[i], i));
    if (p.question) r.question = text_arg(p.question, "params.question");
    if (p.answer) r.answer = text_arg(p.answer, "params.answer");
    r.question_template = p.question_template;
    r.answer_template = p.answer_template;
    r.add_bos = api::flag(p.add_bos);
    if (p.max_new_tokens < 0) fail(Status::InvalidArgument, "params.max_new_tokens: must be >= 0");
    r.max_new_tokens = p.max_new_tokens;
    if (!(p.temperature >= 0) || !std::isfinite(p.temperature))
      fail(Status::InvalidArgument, "params.temperature: must be a finite value >= 0");
    r.sampling.do_sample = p.temperature > 0;
    r.sampling.temperature = p.temperature > 0 ? p.temperature : 1.0;
    if (p.top_k < 0) fail(Status::InvalidArgument, "params.top_k: must be >= 0");
    r.sampling.top_k = p.top_k;
    if (!(p.top_p > 0 && p.top_p <= 1)) fail(Status::InvalidArgument, "params.top_p: must be in (0, 1]");
    r.sampling.top_p = p.top_p;
    r.sampling.seed = p.seed;
    r.seed = p.seed;
    for (auto [v, name] : {std::pair<float, const char*>{p.score_threshold, "params.score_threshold"},
                           {p.overlap_threshold, "params.overlap_threshold"},
                           {p.mask_threshold, "params.mask_threshold"}})
      if (!(v >= 0 && v <= 1)) fail(Status::InvalidArgument, std::string(name) + ": must be in [0, 1]");
    r.score_threshold = p.score_threshold;
    r.overlap_threshold = p.overlap_threshold;
    r.mask_threshold = p.mask_threshold;
    if (p.on_token) {
      auto cb = p.on_token;
      void* user = p.user_data;
      r.on_token = [cb, user](const std::string& piece, int64_t id) {
        return cb(whole_utf8(piece).c_str(), static_cast<int32_t>(id), user);
      };
    }
    auto res = std::make_unique<xsam_result>();
    res->r = segment(ctx->ctx, img, r);
    *out = res.release();
  });
}

}  // extern "C"
