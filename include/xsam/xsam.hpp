// xsam.hpp — a header-only C++17 wrapper over the C API (xsam.h): RAII handles, exceptions instead of
// status codes, std::string / std::vector instead of raw buffers. Nothing here needs libtorch; link the
// program against libxsam only.
//
//   xsam::Model model("models/x-sam", xsam::ModelParams().dtype(XSAM_DTYPE_FP32).threads(4));
//   xsam::Context ctx(model);
//   xsam::ImageBuffer image = xsam::load_image("assets/sample.png");
//   xsam::Result r = ctx.segment(image.view(), "ins: person, dog",
//                                xsam::SegmentParams().task(XSAM_TASK_INSTANCE));
//   for (size_t i = 0; i < r.n_masks(); ++i) std::cout << r.label(i) << " " << r.score(i) << "\n";
//
// Lifetimes follow the C API: a Context must not outlive its Model's last use (the wrapper keeps no
// reference), a Result is independent of both. Every wrapper is movable, not copyable.
#ifndef XSAM_XSAM_HPP
#define XSAM_XSAM_HPP

#include <array>
#include <cstdint>
#include <functional>
#include <memory>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "xsam/xsam.h"

namespace xsam {

// ------------------------------------------------------------------ errors

// A failed call: the status and the library's message (it names the file, field or argument at fault).
class Error : public std::runtime_error {
 public:
  Error(xsam_status status, const std::string& message) : std::runtime_error(message), status_(status) {}
  xsam_status status() const noexcept { return status_; }
  const char* status_name() const noexcept { return xsam_status_name(status_); }

 private:
  xsam_status status_;
};

namespace detail {

inline void check(xsam_status s) {
  if (s != XSAM_OK) throw Error(s, xsam_last_error());  // read at once: the message is per thread and per call
}

struct Free {
  void operator()(void* p) const noexcept { xsam_free(p); }
};

// A malloc'd string from the library → std::string, freed either way.
inline std::string take_string(char* p) {
  std::unique_ptr<char, Free> guard(p);
  return p ? std::string(p) : std::string();
}

inline std::vector<uint8_t> take_bytes(uint8_t* p, size_t n) {
  std::unique_ptr<uint8_t, Free> guard(p);
  return p ? std::vector<uint8_t>(p, p + n) : std::vector<uint8_t>();
}

// One owning pointer type per handle, freed by its xsam_*_free.
template <class T, void (*FreeFn)(T*)>
struct HandleDeleter {
  void operator()(T* p) const noexcept { FreeFn(p); }
};

}  // namespace detail

// ------------------------------------------------------------------ images

// An owned RGB8 image decoded by the library (load_image / decode_image), freed by xsam_image_free.
class ImageBuffer {
 public:
  ImageBuffer() = default;
  explicit ImageBuffer(const xsam_image& owned) : image_(owned) {}
  ImageBuffer(ImageBuffer&& other) noexcept : image_(other.image_) { other.image_ = xsam_image{}; }
  ImageBuffer& operator=(ImageBuffer&& other) noexcept {
    if (this != &other) {
      xsam_image_free(&image_);
      image_ = other.image_;
      other.image_ = xsam_image{};
    }
    return *this;
  }
  ImageBuffer(const ImageBuffer&) = delete;
  ImageBuffer& operator=(const ImageBuffer&) = delete;
  ~ImageBuffer() { xsam_image_free(&image_); }

  const xsam_image& view() const noexcept { return image_; }
  int width() const noexcept { return image_.width; }
  int height() const noexcept { return image_.height; }
  const uint8_t* pixels() const noexcept { return image_.pixels; }

 private:
  xsam_image image_{};
};

// Decodes an image file as PIL's Image.open(f).convert("RGB").
inline ImageBuffer load_image(const std::string& path) {
  xsam_image img{};
  detail::check(xsam_image_load(path.c_str(), &img));
  return ImageBuffer(img);
}

// Decodes an encoded image (PNG, JPEG, ...) held in memory.
inline ImageBuffer decode_image(const std::vector<uint8_t>& bytes) {
  xsam_image img{};
  detail::check(xsam_image_decode(bytes.data(), bytes.size(), &img));
  return ImageBuffer(img);
}

// A view of caller-owned pixels (no copy): keep `pixels` alive while the view is used.
inline xsam_image image_view(const uint8_t* pixels, int width, int height, xsam_pixel_format format = XSAM_PIXEL_RGB8,
                             int stride = 0) {
  xsam_image img{};
  img.pixels = pixels;
  img.width = width;
  img.height = height;
  img.stride = stride;
  img.format = format;
  return img;
}

// A mask file read as upstream's CLI does (grey > 128 is inside): width × height bytes, 0 / 1.
struct MaskBuffer {
  std::vector<uint8_t> data;
  int width = 0, height = 0;
};

inline MaskBuffer load_mask(const std::string& path) {
  uint8_t* p = nullptr;
  MaskBuffer m;
  detail::check(xsam_mask_load(path.c_str(), &p, &m.width, &m.height));
  m.data = detail::take_bytes(p, static_cast<size_t>(m.width) * static_cast<size_t>(m.height));
  return m;
}

// ------------------------------------------------------------------ C views of owned storage

// The xsam_visual_ref that reads a ref kept in the caller's own containers (valid while they live
// unchanged). VisualRef::view() is this; front ends with their own ref structs call it too.
inline xsam_visual_ref ref_view(xsam_ref_kind kind, const std::vector<float>& xy, const std::vector<uint8_t>& mask,
                                int mask_width, int mask_height) noexcept {
  xsam_visual_ref v{};
  v.kind = kind;
  v.xy = xy.empty() ? nullptr : xy.data();
  v.n_xy = xy.size();
  v.mask = mask.empty() ? nullptr : mask.data();
  v.mask_width = mask_width;
  v.mask_height = mask_height;
  return v;
}

// Points `params` at `names` (classes, n_classes) through `ptrs`, which it fills: valid while both live
// unchanged.
inline void set_classes(xsam_segment_params& params, const std::vector<std::string>& names,
                        std::vector<const char*>& ptrs) {
  ptrs.clear();
  for (const auto& s : names) ptrs.push_back(s.c_str());
  params.classes = ptrs.empty() ? nullptr : ptrs.data();
  params.n_classes = ptrs.size();
}

// ------------------------------------------------------------------ visual refs

// A visual reference that owns its coordinates / mask; `view()` is what the C API reads.
class VisualRef {
 public:
  static VisualRef point(float x, float y) { return VisualRef(XSAM_REF_POINT, {x, y}); }
  static VisualRef points(std::vector<float> xy) { return VisualRef(XSAM_REF_POINT, std::move(xy)); }
  static VisualRef box(float x0, float y0, float x1, float y1) { return VisualRef(XSAM_REF_BOX, {x0, y0, x1, y1}); }
  static VisualRef scribble(std::vector<float> xy) { return VisualRef(XSAM_REF_SCRIBBLE, std::move(xy)); }
  // width × height bytes (the image's size), non-zero = inside.
  static VisualRef mask(std::vector<uint8_t> mask, int width, int height) {
    VisualRef r(XSAM_REF_MASK, {});
    r.mask_ = std::move(mask);
    r.mask_width_ = width;
    r.mask_height_ = height;
    return r;
  }
  static VisualRef mask(MaskBuffer m) { return mask(std::move(m.data), m.width, m.height); }

  xsam_visual_ref view() const noexcept { return ref_view(kind_, xy_, mask_, mask_width_, mask_height_); }

 private:
  VisualRef(xsam_ref_kind kind, std::vector<float> xy) : kind_(kind), xy_(std::move(xy)) {}
  xsam_ref_kind kind_;
  std::vector<float> xy_;
  std::vector<uint8_t> mask_;
  int mask_width_ = 0, mask_height_ = 0;
};

// ------------------------------------------------------------------ params builders

class ModelParams {
 public:
  ModelParams() : p_(xsam_model_default_params()) {}
  ModelParams& dtype(xsam_dtype d) { p_.dtype = d; return *this; }
  ModelParams& device(xsam_device d, int index = 0) { p_.device = d; p_.device_index = index; return *this; }
  ModelParams& threads(int n) { p_.n_threads = n; return *this; }
  ModelParams& verify_checksums(bool on = true) { p_.verify_checksums = on; return *this; }
  ModelParams& tokenizer_plugin(std::string path) { plugin_ = std::move(path); return *this; }
  ModelParams& preset(std::string name) { preset_ = std::move(name); return *this; }
  ModelParams& sliding_window_keys(int n) { p_.sliding_window_keys = n; return *this; }
  // The C struct, pointing into this object's strings: valid while this object lives unchanged.
  xsam_model_params c() const {
    xsam_model_params p = p_;
    p.tokenizer_plugin = plugin_.empty() ? nullptr : plugin_.c_str();
    p.preset = preset_.empty() ? nullptr : preset_.c_str();
    return p;
  }

 private:
  xsam_model_params p_;
  std::string plugin_, preset_;
};

class ContextParams {
 public:
  ContextParams() : p_(xsam_context_default_params()) {}
  ContextParams& max_context_tokens(int n) { p_.max_context_tokens = n; return *this; }
  ContextParams& image_cache_entries(int n) { p_.image_cache_entries = n; return *this; }
  ContextParams& max_image_pixels(int64_t n) { p_.max_image_pixels = n; return *this; }
  const xsam_context_params& c() const noexcept { return p_; }

 private:
  xsam_context_params p_;
};

// Called for every generated token; return false to cancel (segment() then throws Error with
// XSAM_ERR_CANCELLED, or rethrows the exception the callback threw).
using TokenCallback = std::function<bool(const std::string& piece, int32_t token_id)>;

class SegmentParams {
 public:
  SegmentParams() : p_(xsam_segment_default_params()) {}
  SegmentParams& task(xsam_task t) { p_.task = t; return *this; }
  SegmentParams& mode(xsam_mode m) { p_.mode = m; return *this; }
  // Class names (generic / open-vocab) or referring phrases; the first n_things are things, the rest stuff.
  SegmentParams& classes(std::vector<std::string> names, size_t n_things = 0) {
    classes_ = std::move(names);
    p_.n_thing_classes = n_things;
    return *this;
  }
  SegmentParams& question(std::string q) { question_ = std::move(q); has_question_ = true; return *this; }
  SegmentParams& answer(std::string a) { answer_ = std::move(a); has_answer_ = true; return *this; }
  SegmentParams& add_bos(bool on = true) { p_.add_bos = on; return *this; }
  SegmentParams& max_new_tokens(int n) { p_.max_new_tokens = n; return *this; }
  SegmentParams& sampling(float temperature, int top_k = 0, float top_p = 1.0f) {
    p_.temperature = temperature;
    p_.top_k = top_k;
    p_.top_p = top_p;
    return *this;
  }
  SegmentParams& seed(uint64_t s) { p_.seed = s; return *this; }
  SegmentParams& templates(int question_index, int answer_index) {
    p_.question_template = question_index;
    p_.answer_template = answer_index;
    return *this;
  }
  SegmentParams& score_threshold(float v) { p_.score_threshold = v; return *this; }
  SegmentParams& overlap_threshold(float v) { p_.overlap_threshold = v; return *this; }
  SegmentParams& mask_threshold(float v) { p_.mask_threshold = v; return *this; }
  SegmentParams& on_token(TokenCallback cb) { on_token_ = std::move(cb); return *this; }

  const TokenCallback& token_callback() const noexcept { return on_token_; }
  // The C struct, pointing into this object (class names, texts) and `class_ptrs` (filled here):
  // valid while both live unchanged. The callback fields are set by Context::segment.
  xsam_segment_params c(std::vector<const char*>& class_ptrs) const {
    xsam_segment_params p = p_;
    set_classes(p, classes_, class_ptrs);
    p.question = has_question_ ? question_.c_str() : nullptr;
    p.answer = has_answer_ ? answer_.c_str() : nullptr;
    return p;
  }

 private:
  xsam_segment_params p_;
  std::vector<std::string> classes_;
  std::string question_, answer_;
  bool has_question_ = false, has_answer_ = false;
  TokenCallback on_token_;
};

// ------------------------------------------------------------------ result

class Result {
 public:
  explicit Result(xsam_result* r) : r_(r) {}
  xsam_result* get() const noexcept { return r_.get(); }

  xsam_task task() const { return xsam_result_task(get()); }
  std::string text() const { return xsam_result_text(get()); }
  std::string raw_text() const { return xsam_result_raw_text(get()); }
  int width() const { return xsam_result_width(get()); }
  int height() const { return xsam_result_height(get()); }
  size_t n_masks() const { return xsam_result_n_masks(get()); }
  // Mask i: width × height bytes (0 / 1), row-major, owned by the result.
  const uint8_t* mask(size_t i) const { return xsam_result_mask(get(), i); }
  std::string label(size_t i) const {
    const char* s = xsam_result_label(get(), i);
    return s ? s : "";
  }
  int label_id(size_t i) const { return xsam_result_label_id(get(), i); }
  float score(size_t i) const { return xsam_result_score(get(), i); }
  std::array<float, 4> box(size_t i) const {
    std::array<float, 4> b{};
    xsam_result_box(get(), i, b.data());
    return b;
  }
  const int32_t* semantic_map() const { return xsam_result_semantic_map(get()); }  // NULL unless semantic
  const int32_t* panoptic_map() const { return xsam_result_panoptic_map(get()); }  // NULL unless panoptic
  double timing(const char* stage) const { return xsam_result_timing(get(), stage); }

  std::string mask_rle(size_t i) const {
    char* s = nullptr;
    detail::check(xsam_result_mask_rle(get(), i, &s));
    return detail::take_string(s);
  }
  std::string json() const {
    char* s = nullptr;
    detail::check(xsam_result_json(get(), &s));
    return detail::take_string(s);
  }
  std::vector<uint8_t> overlay_png(const xsam_image& image) const {
    uint8_t* p = nullptr;
    size_t n = 0;
    detail::check(xsam_result_overlay_png(get(), &image, &p, &n));
    return detail::take_bytes(p, n);
  }
  std::vector<uint8_t> mask_png(size_t i) const {
    uint8_t* p = nullptr;
    size_t n = 0;
    detail::check(xsam_result_mask_png(get(), i, &p, &n));
    return detail::take_bytes(p, n);
  }
  std::vector<uint8_t> map_png() const {
    uint8_t* p = nullptr;
    size_t n = 0;
    detail::check(xsam_result_map_png(get(), &p, &n));
    return detail::take_bytes(p, n);
  }

 private:
  std::unique_ptr<xsam_result, detail::HandleDeleter<xsam_result, xsam_result_free>> r_;
};

// ------------------------------------------------------------------ model and context

class Model {
 public:
  explicit Model(const std::string& dir, const ModelParams& params = ModelParams()) {
    xsam_model_params p = params.c();
    xsam_model* m = nullptr;
    detail::check(xsam_model_load(dir.c_str(), &p, &m));
    m_.reset(m);
  }
  xsam_model* get() const noexcept { return m_.get(); }
  // Parts, sizes, dtypes, parameter counts, presets and tasks as JSON text.
  std::string info_json() const {
    char* s = nullptr;
    detail::check(xsam_model_info_json(get(), &s));
    return detail::take_string(s);
  }

 private:
  std::unique_ptr<xsam_model, detail::HandleDeleter<xsam_model, xsam_model_free>> m_;
};

class Context {
 public:
  explicit Context(const Model& model, const ContextParams& params = ContextParams()) {
    xsam_context* c = nullptr;
    detail::check(xsam_context_new(model.get(), &params.c(), &c));
    c_.reset(c);
  }
  xsam_context* get() const noexcept { return c_.get(); }

  Result segment(const xsam_image& image, const std::string& prompt, const SegmentParams& params = SegmentParams(),
                 const std::vector<VisualRef>& refs = {}) {
    return run(image, prompt.empty() ? nullptr : prompt.c_str(), params, refs);
  }
  // For tasks without a prompt (interactive, VGD, GCG, generic tasks given classes).
  Result segment(const xsam_image& image, const SegmentParams& params, const std::vector<VisualRef>& refs = {}) {
    return run(image, nullptr, params, refs);
  }

 private:
  // The callback's state during one call: C++ exceptions must not unwind through the C library, so one
  // thrown by the user's callback is caught here, turned into a cancel, and rethrown after the call.
  struct Stream {
    const TokenCallback* fn;
    std::exception_ptr error;
    static bool call(const char* piece, int32_t id, void* user) {
      auto* self = static_cast<Stream*>(user);
      try {
        return (*self->fn)(piece ? piece : "", id);
      } catch (...) {
        self->error = std::current_exception();
        return false;
      }
    }
  };

  Result run(const xsam_image& image, const char* prompt, const SegmentParams& params,
             const std::vector<VisualRef>& refs) {
    std::vector<const char*> class_ptrs;
    xsam_segment_params p = params.c(class_ptrs);
    Stream stream{&params.token_callback(), nullptr};
    if (params.token_callback()) {
      p.on_token = &Stream::call;
      p.user_data = &stream;
    }
    std::vector<xsam_visual_ref> views;
    views.reserve(refs.size());
    for (const auto& r : refs) views.push_back(r.view());
    xsam_result* out = nullptr;
    xsam_status s = xsam_segment(get(), &image, prompt, views.empty() ? nullptr : views.data(), views.size(), &p, &out);
    if (s != XSAM_OK && stream.error) std::rethrow_exception(stream.error);
    detail::check(s);
    return Result(out);
  }

  std::unique_ptr<xsam_context, detail::HandleDeleter<xsam_context, xsam_context_free>> c_;
};

// ------------------------------------------------------------------ tools

inline std::string version() { return xsam_version(); }

// "auto", "chat", "semantic", ... as the CLI and the result JSON spell them (the library's names);
// "unknown" for a value outside the enum.
inline const char* task_name(xsam_task t) {
  const char* name = xsam_task_name(t);
  return name ? name : "unknown";
}

// The task, mode or dtype a name stands for; throws Error (XSAM_ERR_INVALID_ARGUMENT, listing the valid
// names) for an unknown one.
inline xsam_task task_from_name(const std::string& name) {
  xsam_task t{};
  detail::check(xsam_task_from_name(name.c_str(), &t));
  return t;
}
inline xsam_mode mode_from_name(const std::string& name) {
  xsam_mode m{};
  detail::check(xsam_mode_from_name(name.c_str(), &m));
  return m;
}
inline xsam_dtype dtype_from_name(const std::string& name) {
  xsam_dtype d{};
  detail::check(xsam_dtype_from_name(name.c_str(), &d));
  return d;
}

inline void random_model(const std::string& out_dir, const std::string& size_preset = "tiny",
                         xsam_dtype dtype = XSAM_DTYPE_FP32, uint64_t seed = 0) {
  detail::check(xsam_random_model(out_dir.c_str(), size_preset.c_str(), dtype, seed, nullptr));
}

}  // namespace xsam

#endif  // XSAM_XSAM_HPP
