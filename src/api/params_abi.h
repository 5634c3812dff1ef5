// Reading the caller's params structs across header versions (docs/c-api.md, "ABI").
//
// Every params struct starts with `size_t struct_size`, set by its *_default_params() to sizeof the
// struct as the caller's header declares it. Fields are only appended, so a struct from an older header
// is a prefix of today's: its struct_size bytes are copied over the defaults and the later fields keep
// their defaults. A struct_size larger than ours comes from a newer header whose fields this library
// cannot honour: refused.
#pragma once
#include <cstddef>
#include <cstring>
#include <string>

#include "core/error.h"
#include "xsam/xsam.h"

namespace xsam::api {

// The end of each struct's last field in the first versioned header (0.1.0). No header ever had a
// shorter struct with a struct_size field.
inline constexpr size_t kModelParamsFirstSize =
    offsetof(xsam_model_params, sliding_window_keys) + sizeof(int);
inline constexpr size_t kContextParamsFirstSize =
    offsetof(xsam_context_params, max_image_pixels) + sizeof(int64_t);
inline constexpr size_t kSegmentParamsFirstSize = offsetof(xsam_segment_params, user_data) + sizeof(void*);

// The fields appended since start at or after the first header's sizeof (so an older struct's trailing
// padding never overlaps them): the first header's sizeof is the first size rounded up to 8 here.
static_assert(offsetof(xsam_model_params, cpu) >= (kModelParamsFirstSize + 7) / 8 * 8,
              "xsam_model_params.cpu overlaps the padding of the first versioned struct");

// A bool field as the caller's bytes say: a C caller may have stored any byte there, and loading a bool
// that is neither 0 nor 1 is undefined behaviour in C++.
inline bool flag(const bool& b) {
  unsigned char byte;
  std::memcpy(&byte, &b, 1);
  return byte != 0;
}

// `what` names the argument in errors ("params"); `init` the function that sets struct_size.
template <class T>
T read_params(const T* given, const T& defaults, size_t first_size, const char* what, const char* init) {
  if (!given) return defaults;
  const size_t n = given->struct_size;
  if (n == sizeof(T)) return *given;
  const std::string field = std::string(what) + ".struct_size";
  if (n == 0)
    fail(Status::InvalidArgument, field + " is 0: start from " + init + "(), which sets it");
  if (n > sizeof(T))
    fail(Status::Unsupported, field + " is " + std::to_string(n) + ": the program was built against a newer xsam "
                              "header than this library (libxsam " XSAM_VERSION_STRING ", which knows " +
                              std::to_string(sizeof(T)) + " bytes); use a library at least as new as the header");
  if (n < first_size)
    fail(Status::InvalidArgument, field + " is " + std::to_string(n) + ": no xsam header had that size (the "
                                  "smallest is " + std::to_string(first_size) + "); start from " + init + "()");
  T out = defaults;
  std::memcpy(static_cast<void*>(&out), static_cast<const void*>(given), n);
  out.struct_size = sizeof(T);
  return out;
}

}  // namespace xsam::api
