// Fuzz target: the C API entry points (include/xsam/xsam.h) on a tiny random model (fp32, one thread).
// Every field of xsam_segment's arguments comes from the input: image size, format and stride, task,
// mode, prompt bytes (invalid UTF-8 included), classes, visual refs with arbitrary coordinates and masks of
// any size, question/answer, sampling and thresholds, a cancelling token callback. Each call must return
// a documented status with a message (never XSAM_ERR_INTERNAL), and a successful result must be
// self-consistent and reproducible: the same request again (now served from the per-image and prefix
// caches) gives the same text and masks (docs/design/decisions.md#per-image-cache).
//
// Only the public header is used, as an FFI caller would. The model is written once per process into a
// temporary directory (or taken from $XSAM_FUZZ_MODEL).
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <type_traits>
#include <vector>

#include "fuzz_input.h"
#include "xsam/xsam.h"

namespace {

xsam_model* g_model = nullptr;
xsam_context* g_ctx = nullptr;
std::string g_tmp_dir;

[[noreturn]] void finding(const std::string& what) {
  std::fprintf(stderr, "fuzz_c_api: %s\n", what.c_str());
  std::abort();
}

void check_status(xsam_status s, const char* fn) {
  if (s == XSAM_OK) return;
  const char* msg = xsam_last_error();
  if (s == XSAM_ERR_INTERNAL || s == XSAM_ERR_OUT_OF_MEMORY || !msg || !*msg || s > XSAM_ERR_INTERNAL)
    finding(std::string(fn) + " returned " + xsam_status_name(s) + ": " + (msg ? msg : "(null)"));
}

void remove_tmp_dir() {
  if (!g_tmp_dir.empty()) {
    std::string cmd = "rm -rf '" + g_tmp_dir + "'";  // mkdtemp name: no quotes in it
    if (std::system(cmd.c_str()) != 0) std::fprintf(stderr, "fuzz_c_api: could not remove %s\n", g_tmp_dir.c_str());
  }
}

// Stores any int into a C enum field as a C caller may (a C++ static_cast of an out-of-range value, and
// any later load of it, would be undefined behaviour in this file rather than a test of the library).
template <class E>
void set_enum(E& field, int value) {
  typename std::underlying_type<E>::type v = static_cast<typename std::underlying_type<E>::type>(value);
  std::memcpy(&field, &v, sizeof v);
}

struct Request {
  std::vector<uint8_t> pixels;
  xsam_image image{};
  bool null_prompt = false;
  std::string prompt;
  std::vector<std::string> class_storage;
  std::vector<const char*> classes;
  std::vector<std::vector<float>> xy_storage;
  std::vector<std::vector<uint8_t>> mask_storage;
  std::vector<xsam_visual_ref> refs;
  std::string question, answer;
  xsam_segment_params params = xsam_segment_default_params();
  int cancel_after = -1;
  int tokens_seen = 0;
};

bool on_token(const char* piece, int32_t, void* user) {
  auto* r = static_cast<Request*>(user);
  if (!piece) finding("token callback got a NULL piece");
  ++r->tokens_seen;
  return r->cancel_after < 0 || r->tokens_seen <= r->cancel_after;
}

void build(xsam::fuzz::Input& in, Request& r) {
  const int w = static_cast<int>(in.range(1, 48));
  const int h = static_cast<int>(in.range(1, 48));
  const int fmt = static_cast<int>(in.range(0, 4));  // 4: invalid
  const int bpp = fmt == XSAM_PIXEL_RGBA8 ? 4 : fmt == XSAM_PIXEL_GRAY8 ? 1 : 3;
  const int stride = w * bpp + static_cast<int>(in.range(0, 3));
  r.pixels.assign(static_cast<size_t>(stride) * h, 0);
  std::vector<uint8_t> pattern = in.bytes(static_cast<size_t>(in.range(1, 16)));
  for (size_t i = 0; i < r.pixels.size(); ++i) r.pixels[i] = static_cast<uint8_t>(pattern[i % pattern.size()] + i / 7);
  r.image.pixels = r.pixels.data();
  r.image.width = w;
  r.image.height = h;
  r.image.stride = in.flag() ? 0 : stride;
  set_enum(r.image.format, fmt);

  auto& p = r.params;
  set_enum(p.task, static_cast<int>(in.range(0, 11)));  // 11: invalid
  set_enum(p.mode, static_cast<int>(in.range(0, 3)));  // 3: invalid
  r.null_prompt = in.byte() < 32;
  r.prompt = in.str(80);
  for (int i = static_cast<int>(in.range(0, 3)); i > 0; --i) r.class_storage.push_back(in.str(12));
  for (const auto& c : r.class_storage) r.classes.push_back(c.c_str());
  p.classes = r.classes.empty() ? nullptr : r.classes.data();
  p.n_classes = r.classes.size();
  p.n_thing_classes = static_cast<size_t>(in.range(0, static_cast<int64_t>(r.classes.size()) + 1));

  const int n_refs = static_cast<int>(in.range(0, 2));
  r.xy_storage.resize(n_refs);
  r.mask_storage.resize(n_refs);
  for (int i = 0; i < n_refs; ++i) {
    xsam_visual_ref ref{};
    const int kind = static_cast<int>(in.range(0, 4));  // 4: invalid
    set_enum(ref.kind, kind);
    if (kind == XSAM_REF_MASK) {
      ref.mask_width = in.flag() ? w : static_cast<int>(in.range(-1, 64));
      ref.mask_height = in.flag() ? h : static_cast<int>(in.range(-1, 64));
      if (ref.mask_width > 0 && ref.mask_height > 0) {
        auto& m = r.mask_storage[i];
        m.assign(static_cast<size_t>(ref.mask_width) * ref.mask_height, 0);
        int x0 = static_cast<int>(in.range(0, ref.mask_width - 1)), y0 = static_cast<int>(in.range(0, ref.mask_height - 1));
        int x1 = static_cast<int>(in.range(x0, ref.mask_width)), y1 = static_cast<int>(in.range(y0, ref.mask_height));
        uint8_t v = in.byte();
        for (int y = y0; y < y1; ++y)
          for (int x = x0; x < x1; ++x) m[static_cast<size_t>(y) * ref.mask_width + x] = v;
        ref.mask = m.data();
      }
    } else {
      auto& xy = r.xy_storage[i];
      for (int k = static_cast<int>(in.range(0, 8)); k > 0; --k) xy.push_back(in.float_in(-4.0f, 52.0f));
      ref.xy = xy.empty() ? nullptr : xy.data();
      ref.n_xy = xy.size();
    }
    r.refs.push_back(ref);
  }
  if (in.byte() < 24) {
    r.question = in.str(40);
    p.question = r.question.c_str();
  }
  if (in.byte() < 24) {
    r.answer = in.str(40);
    p.answer = r.answer.c_str();
  }
  p.add_bos = in.flag();
  p.max_new_tokens = static_cast<int>(in.range(-1, 6));
  if (p.max_new_tokens == 0) p.max_new_tokens = 1;  // 0 = the preset's 512: too slow for fuzzing
  if (in.flag()) {
    p.temperature = in.float_in(-0.5f, 2.0f);
    p.top_k = static_cast<int>(in.range(-1, 40));
    p.top_p = in.float_in(-0.1f, 1.2f);
  }
  p.seed = in.u32();
  p.question_template = static_cast<int>(in.range(-1, 12));
  p.answer_template = static_cast<int>(in.range(-1, 12));
  if (in.flag()) {
    p.score_threshold = in.float_in(-0.2f, 1.2f);
    p.overlap_threshold = in.float_in(-0.2f, 1.2f);
    p.mask_threshold = in.float_in(-0.2f, 1.2f);
  }
  if (in.flag()) {
    r.cancel_after = static_cast<int>(in.range(-1, 3));
    p.on_token = on_token;
    p.user_data = &r;
  }
}

void check_result(const xsam_result* res, const Request& r) {
  if (xsam_result_width(res) != r.image.width || xsam_result_height(res) != r.image.height)
    finding("result size differs from the image size");
  if (!xsam_result_text(res) || !xsam_result_raw_text(res)) finding("result text is NULL");
  const size_t n = xsam_result_n_masks(res);
  for (size_t i = 0; i < n; ++i) {
    const uint8_t* m = xsam_result_mask(res, i);
    if (!m) finding("mask pointer is NULL");
    for (size_t k = 0; k < static_cast<size_t>(r.image.width) * r.image.height; ++k)
      if (m[k] > 1) finding("mask value other than 0/1");
    if (!xsam_result_label(res, i)) finding("label is NULL");
    char* rle = nullptr;
    check_status(xsam_result_mask_rle(res, i, &rle), "xsam_result_mask_rle");
    xsam_free(rle);
  }
  if (xsam_result_mask(res, n) != nullptr) finding("mask past the end is not NULL");
  char* json = nullptr;
  check_status(xsam_result_json(res, &json), "xsam_result_json");
  if (!json || json[0] != '{') finding("result JSON is not an object");
  xsam_free(json);
  uint8_t* png = nullptr;
  size_t png_size = 0;
  if (n > 0) {
    check_status(xsam_result_mask_png(res, 0, &png, &png_size), "xsam_result_mask_png");
    xsam_free(png);
  }
}

bool same_result(const xsam_result* a, const xsam_result* b, const Request& r) {
  if (std::strcmp(xsam_result_text(a), xsam_result_text(b)) != 0) return false;
  if (xsam_result_n_masks(a) != xsam_result_n_masks(b)) return false;
  const size_t px = static_cast<size_t>(r.image.width) * r.image.height;
  for (size_t i = 0; i < xsam_result_n_masks(a); ++i)
    if (std::memcmp(xsam_result_mask(a, i), xsam_result_mask(b, i), px) != 0 ||
        xsam_result_score(a, i) != xsam_result_score(b, i))
      return false;
  return true;
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  std::string dir;
  if (const char* e = std::getenv("XSAM_FUZZ_MODEL"); e && *e) {
    dir = e;
  } else {
    const char* tmp = std::getenv("TMPDIR");
    std::string tmpl = std::string(tmp && *tmp ? tmp : "/tmp") + "/xsam-fuzz-model-XXXXXX";
    std::vector<char> buf(tmpl.begin(), tmpl.end());
    buf.push_back('\0');
    if (!mkdtemp(buf.data())) finding("mkdtemp failed");
    g_tmp_dir = dir = buf.data();
    std::atexit(remove_tmp_dir);
    if (xsam_random_model(dir.c_str(), "tiny", XSAM_DTYPE_FP32, 7, nullptr) != XSAM_OK)
      finding(std::string("xsam_random_model: ") + xsam_last_error());
  }
  xsam_model_params mp = xsam_model_default_params();
  mp.dtype = XSAM_DTYPE_FP32;
  mp.n_threads = 1;
  if (xsam_model_load(dir.c_str(), &mp, &g_model) != XSAM_OK) finding(std::string("xsam_model_load: ") + xsam_last_error());
  xsam_context_params cp = xsam_context_default_params();
  cp.max_context_tokens = 640;  // small, so that long prompts reach the limit
  cp.image_cache_entries = 2;
  if (xsam_context_new(g_model, &cp, &g_ctx) != XSAM_OK) finding(std::string("xsam_context_new: ") + xsam_last_error());
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  xsam::fuzz::Input in(data, size);
  Request r;
  build(in, r);
  xsam_result* res = nullptr;
  const char* prompt = r.null_prompt ? nullptr : r.prompt.c_str();
  xsam_status s = xsam_segment(g_ctx, &r.image, prompt, r.refs.empty() ? nullptr : r.refs.data(), r.refs.size(),
                               &r.params, &res);
  check_status(s, "xsam_segment");
  static const bool verbose = std::getenv("XSAM_FUZZ_VERBOSE") != nullptr;
  if (verbose)
    std::fprintf(stderr, "xsam_segment: %s %s (%zu masks)\n", xsam_status_name(s), s ? xsam_last_error() : "",
                 res ? xsam_result_n_masks(res) : 0);
  if (s != XSAM_OK) {
    if (res) finding("failed call left a result behind");
    if (s == XSAM_ERR_CANCELLED && r.cancel_after < 0) finding("cancelled without a cancelling callback");
    return 0;
  }
  if (!res) finding("XSAM_OK without a result");
  check_result(res, r);
  // The same request again, now from the caches: identical (cancellation aside, which depends on the count).
  r.tokens_seen = 0;
  xsam_result* again = nullptr;
  s = xsam_segment(g_ctx, &r.image, prompt, r.refs.empty() ? nullptr : r.refs.data(), r.refs.size(), &r.params, &again);
  if (s != XSAM_OK) finding(std::string("repeating a successful request failed: ") + xsam_last_error());
  if (!same_result(res, again, r)) finding("repeating a request (cached) gave a different result");
  xsam_result_free(again);
  xsam_result_free(res);
  return 0;
}
