// Every exported function of include/xsam/xsam.h. Each one catches everything: an xsam::Failure becomes
// its status and message, anything else XSAM_ERR_INTERNAL / XSAM_ERR_OUT_OF_MEMORY; no exception
// crosses the C boundary.
#include "xsam/xsam.h"

#include <cstdlib>
#include <cstring>
#include <new>
#include <functional>
#include <string>

#include <nlohmann/json.hpp>
#include <torch/torch.h>

#include "api/handles.h"
#include "api/params_abi.h"
#include "core/error.h"
#include "image/decode.h"
#include "pipeline/model_dir.h"

using namespace xsam;

namespace {

thread_local std::string g_last_error;

xsam_status to_c(Status s) { return static_cast<xsam_status>(static_cast<int>(s)); }

xsam_status set_error(xsam_status s, const std::string& message) {
  g_last_error = message;
  return s;
}

template <class F>
xsam_status guarded(const char* fn, F&& f) {
  try {
    g_last_error.clear();
    f();
    return XSAM_OK;
  } catch (const Failure& e) {
    return set_error(to_c(e.status()), e.what());
  } catch (const std::bad_alloc&) {
    return set_error(XSAM_ERR_OUT_OF_MEMORY, std::string(fn) + ": out of memory");
  } catch (const c10::Error& e) {
    return set_error(XSAM_ERR_INTERNAL, std::string(fn) + ": libtorch error: " + e.what_without_backtrace());
  } catch (const std::exception& e) {
    return set_error(XSAM_ERR_INTERNAL, std::string(fn) + ": " + e.what());
  } catch (...) {
    return set_error(XSAM_ERR_INTERNAL, std::string(fn) + ": unknown error");
  }
}

void require(const void* p, const char* what) {
  if (!p) fail(Status::InvalidArgument, std::string(what) + " is NULL");
}

char* dup_string(const std::string& s) {
  char* out = static_cast<char*>(std::malloc(s.size() + 1));
  if (!out) throw std::bad_alloc();
  std::memcpy(out, s.c_str(), s.size() + 1);
  return out;
}

// The dtype of a weight file to write: fp32 or bf16 (AUTO = bf16, the released weights' dtype).
torch::Dtype file_dtype_of(int d, const char* what) {
  switch (d) {
    case XSAM_DTYPE_FP32: return torch::kFloat32;
    case XSAM_DTYPE_BF16:
    case XSAM_DTYPE_AUTO: return torch::kBFloat16;
    case XSAM_DTYPE_MIXED: fail(Status::InvalidArgument, std::string(what) + ": a weight file is fp32 or bf16, not mixed");
  }
  fail(Status::InvalidArgument, std::string(what) + ": unknown dtype " + std::to_string(static_cast<int>(d)));
}

// The runtime dtype of a model load.
void set_runtime_dtype(int d, const char* what, LoadOptions* o) {
  o->dtype_auto = d == XSAM_DTYPE_AUTO;
  o->bf16_weights = d == XSAM_DTYPE_MIXED;
  switch (d) {
    case XSAM_DTYPE_AUTO:
    case XSAM_DTYPE_FP32:
    case XSAM_DTYPE_MIXED: o->dtype = torch::kFloat32; return;
    case XSAM_DTYPE_BF16: o->dtype = torch::kBFloat16; return;
  }
  fail(Status::InvalidArgument, std::string(what) + ": unknown dtype " + std::to_string(d));
}

}  // namespace

extern "C" {

const char* xsam_last_error(void) { return g_last_error.c_str(); }

const char* xsam_status_name(xsam_status s) {
  switch (s) {
    case XSAM_OK: return "ok";
    case XSAM_ERR_INVALID_ARGUMENT: return "invalid_argument";
    case XSAM_ERR_IO: return "io";
    case XSAM_ERR_FORMAT: return "format";
    case XSAM_ERR_MODEL: return "model";
    case XSAM_ERR_UNSUPPORTED: return "unsupported";
    case XSAM_ERR_LIMIT: return "limit";
    case XSAM_ERR_CANCELLED: return "cancelled";
    case XSAM_ERR_OUT_OF_MEMORY: return "out_of_memory";
    case XSAM_ERR_INTERNAL: return "internal";
  }
  return "unknown";
}

const char* xsam_version(void) { return XSAM_VERSION_STRING; }

void xsam_free(void* p) { std::free(p); }

xsam_model_params xsam_model_default_params(void) {
  xsam_model_params p{};
  p.struct_size = sizeof(xsam_model_params);
  p.dtype = XSAM_DTYPE_AUTO;
  p.device = XSAM_DEVICE_CPU;
  p.device_index = 0;
  p.n_threads = 0;
  p.verify_checksums = false;
  p.tokenizer_plugin = nullptr;
  p.preset = nullptr;
  p.sliding_window_keys = -1;
  p.cpu = nullptr;
  return p;
}

xsam_status xsam_model_load(const char* dir, const xsam_model_params* params, xsam_model** out) {
  return guarded("xsam_model_load", [&] {
    require(dir, "model_dir");
    require(out, "out");
    *out = nullptr;
    const xsam_model_params p = api::read_params(params, xsam_model_default_params(), api::kModelParamsFirstSize,
                                                 "params", "xsam_model_default_params");
    LoadOptions o;
    set_runtime_dtype(api::enum_int(p.dtype), "params.dtype", &o);
    if (p.cpu) o.cpu = p.cpu;
    const int device = api::enum_int(p.device);
    if (device == XSAM_DEVICE_CUDA) {
      if (!torch::cuda::is_available()) fail(Status::Unsupported, "params.device: CUDA is not available in this build/machine");
      o.device = torch::Device(torch::kCUDA, static_cast<c10::DeviceIndex>(p.device_index));
    } else if (device != XSAM_DEVICE_CPU) {
      fail(Status::InvalidArgument, "params.device: unknown device " + std::to_string(device));
    }
    if (p.n_threads < 0 || p.n_threads > 4096) fail(Status::InvalidArgument, "params.n_threads: out of range");
    o.threads = p.n_threads;
    o.verify_checksums = api::flag(p.verify_checksums);
    if (p.tokenizer_plugin) o.tokenizer_plugin = p.tokenizer_plugin;
    if (p.preset) o.preset = std::string(p.preset);
    if (p.sliding_window_keys < -1) fail(Status::InvalidArgument, "params.sliding_window_keys: must be >= -1");
    o.sliding_window_keys = p.sliding_window_keys;
    auto m = std::make_unique<xsam_model>();
    m->model = load_model(dir, o);
    *out = m.release();
  });
}

xsam_status xsam_model_info_json(const xsam_model* model, char** out_json) {
  return guarded("xsam_model_info_json", [&] {
    require(model, "model");
    require(out_json, "out_json");
    *out_json = dup_string(model_info(*model->model).dump(2));
  });
}

void xsam_model_free(xsam_model* model) { delete model; }

xsam_context_params xsam_context_default_params(void) {
  xsam_context_params p{};
  p.struct_size = sizeof(xsam_context_params);
  p.max_context_tokens = 0;
  p.image_cache_entries = 1;
  p.max_image_pixels = kDefaultMaxPixels;
  return p;
}

xsam_status xsam_context_new(xsam_model* model, const xsam_context_params* params, xsam_context** out) {
  return guarded("xsam_context_new", [&] {
    require(model, "model");
    require(out, "out");
    *out = nullptr;
    const xsam_context_params p = api::read_params(params, xsam_context_default_params(),
                                                   api::kContextParamsFirstSize, "params",
                                                   "xsam_context_default_params");
    if (p.max_context_tokens < 0) fail(Status::InvalidArgument, "params.max_context_tokens: must be >= 0");
    if (p.max_context_tokens > (1 << 20)) fail(Status::Limit, "params.max_context_tokens: too large");
    if (p.image_cache_entries < 0) fail(Status::InvalidArgument, "params.image_cache_entries: must be >= 0");
    if (p.max_image_pixels < 0) fail(Status::InvalidArgument, "params.max_image_pixels: must be >= 0");
    ContextOptions o;
    o.max_context_tokens = p.max_context_tokens;
    o.image_cache_entries = p.image_cache_entries;
    o.max_image_pixels = p.max_image_pixels;
    auto c = std::make_unique<xsam_context>(model->model, o);
    *out = c.release();
  });
}

void xsam_context_free(xsam_context* ctx) { delete ctx; }

xsam_status xsam_image_load(const char* path, xsam_image* out) {
  return guarded("xsam_image_load", [&] {
    require(path, "path");
    require(out, "out");
    *out = xsam_image{};
    Image img = decode_image_file(path);
    uint8_t* pixels = static_cast<uint8_t*>(std::malloc(img.rgb.size()));
    if (!pixels) throw std::bad_alloc();
    std::memcpy(pixels, img.rgb.data(), img.rgb.size());
    out->pixels = pixels;
    out->width = img.width;
    out->height = img.height;
    out->stride = img.width * 3;
    out->format = XSAM_PIXEL_RGB8;
  });
}

xsam_status xsam_mask_load(const char* path, uint8_t** out_mask, int* out_width, int* out_height) {
  return guarded("xsam_mask_load", [&] {
    require(path, "path");
    require(out_mask, "out_mask");
    require(out_width, "out_width");
    require(out_height, "out_height");
    *out_mask = nullptr;
    Mask m = decode_mask_file(path);
    uint8_t* data = static_cast<uint8_t*>(std::malloc(m.data.size()));
    if (!data) throw std::bad_alloc();
    std::memcpy(data, m.data.data(), m.data.size());
    *out_mask = data;
    *out_width = m.width;
    *out_height = m.height;
  });
}

xsam_status xsam_image_decode(const uint8_t* bytes, size_t size, xsam_image* out) {
  return xsam_image_decode_limit(bytes, size, kDefaultMaxPixels, out);
}

xsam_status xsam_image_decode_limit(const uint8_t* bytes, size_t size, int64_t max_pixels, xsam_image* out) {
  return guarded("xsam_image_decode", [&] {
    require(bytes, "bytes");
    require(out, "out");
    *out = xsam_image{};
    Image img = decode_image_memory(bytes, size, "image", max_pixels);
    uint8_t* pixels = static_cast<uint8_t*>(std::malloc(img.rgb.size()));
    if (!pixels) throw std::bad_alloc();
    std::memcpy(pixels, img.rgb.data(), img.rgb.size());
    out->pixels = pixels;
    out->width = img.width;
    out->height = img.height;
    out->stride = img.width * 3;
    out->format = XSAM_PIXEL_RGB8;
  });
}

void xsam_image_free(xsam_image* image) {
  if (!image) return;
  // The library allocated these pixels (malloc) and hands them out through the const field of the input
  // struct: casting the const away here keeps callers from doing it.
  std::free(const_cast<uint8_t*>(image->pixels));
  *image = xsam_image{};
}

xsam_status xsam_random_model(const char* out_dir, const char* size_preset, xsam_dtype dtype, uint64_t seed,
                              const char* tokenizer_dir) {
  return guarded("xsam_random_model", [&] {
    require(out_dir, "out_dir");
    require(size_preset, "size_preset");
    write_random_model(out_dir, size_preset, file_dtype_of(api::enum_int(dtype), "dtype"), seed, tokenizer_dir ? tokenizer_dir : "");
  });
}

xsam_status xsam_convert_config(const char* upstream_config, const char* out_json) {
  return guarded("xsam_convert_config", [&] {
    require(upstream_config, "upstream_config");
    require(out_json, "out_json");
    convert_upstream_config(upstream_config, out_json);
  });
}

}  // extern "C"

// Shared with c_api_segment.cpp / c_api_result.cpp.
namespace xsam::api {
xsam_status run_guarded(const char* fn, const std::function<void()>& f) { return guarded(fn, f); }
char* duplicate(const std::string& s) { return dup_string(s); }
}  // namespace xsam::api
