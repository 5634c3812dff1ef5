// The structs behind the C API's opaque handles, and helpers shared by the c_api*.cpp files.
#pragma once
#include <atomic>
#include <functional>
#include <memory>
#include <cstring>
#include <string>
#include <type_traits>
#include <vector>

#include "pipeline/context.h"
#include "pipeline/result.h"
#include "xsam/xsam.h"

struct xsam_model {
  std::shared_ptr<xsam::LoadedModel> model;
};

struct xsam_context {
  xsam_context(std::shared_ptr<xsam::LoadedModel> m, const xsam::ContextOptions& o) : ctx(std::move(m), o) {}
  xsam::Context ctx;
  // Set while xsam_segment runs on this context. A second call meanwhile (from the token callback, or
  // another thread breaking the one-thread-per-context rule) would share the KV cache and scratch
  // space and return a corrupted answer with XSAM_OK; it is refused instead.
  std::atomic<bool> busy{false};
};

struct xsam_result {
  xsam::SegmentResult r;
};

namespace xsam::api {
// A C caller may store any int in an enum field, but in C++ loading a value outside a C enum's range (no
// fixed underlying type) is undefined behaviour (UBSan: "not a valid value for type"). Enum fields and
// arguments from the caller are therefore read as their bytes and validated as ints.
template <class E>
int enum_int(const E& e) {
  typename std::underlying_type<E>::type v;
  std::memcpy(&v, &e, sizeof v);
  return static_cast<int>(v);
}

// Runs f, turning every exception into a status and the thread-local message.
xsam_status run_guarded(const char* fn, const std::function<void()>& f);
// malloc'd copy, freed with xsam_free.
char* duplicate(const std::string& s);
}  // namespace xsam::api
