// Names of the C API's enums (tasks, modes, dtypes), as the CLI, the HTTP API, the Python binding and the
// result JSON spell them. The task names come from the pipeline's one task table (prompt/tasks.cpp).
#include <cstring>
#include <string>

#include "api/handles.h"
#include "core/error.h"
#include "prompt/tasks.h"
#include "text/tokenizer_split.h"
#include "xsam/xsam.h"

using namespace xsam;

namespace {

// xsam_task and the pipeline's Task list the same tasks in the same order.
static_assert(static_cast<int>(Task::Auto) == XSAM_TASK_AUTO && static_cast<int>(Task::Chat) == XSAM_TASK_CHAT &&
              static_cast<int>(Task::Semantic) == XSAM_TASK_SEMANTIC &&
              static_cast<int>(Task::Instance) == XSAM_TASK_INSTANCE &&
              static_cast<int>(Task::Panoptic) == XSAM_TASK_PANOPTIC &&
              static_cast<int>(Task::Referring) == XSAM_TASK_REFERRING &&
              static_cast<int>(Task::Reasoning) == XSAM_TASK_REASONING && static_cast<int>(Task::Gcg) == XSAM_TASK_GCG &&
              static_cast<int>(Task::Interactive) == XSAM_TASK_INTERACTIVE &&
              static_cast<int>(Task::Vgd) == XSAM_TASK_VGD && static_cast<int>(Task::OpenVocab) == XSAM_TASK_OPEN_VOCAB,
              "xsam_task and xsam::Task disagree");
constexpr int kTaskCount = XSAM_TASK_OPEN_VOCAB + 1;

const char* const kModeNames[] = {"default", "teacher_forced", "generate"};  // index = xsam_mode
const char* const kDtypeNames[] = {"auto", "fp32", "bf16", "mixed"};         // index = xsam_dtype

// "a, b or c" of names[0..n).
std::string listing(const char* (*name_of)(int), int n) {
  std::string out;
  for (int i = 0; i < n; ++i) out += std::string(i == 0 ? "" : i + 1 == n ? " or " : ", ") + name_of(i);
  return out;
}

const char* task_name_of(int i) { return task_name(static_cast<Task>(i)); }
const char* mode_name_of(int i) { return kModeNames[i]; }
const char* dtype_name_of(int i) { return kDtypeNames[i]; }

// Finds `name` among names 0..n-1; "-" and "_" are the same ("open-vocab", "teacher-forced").
int find_name(const char* name, const char* (*name_of)(int), int n) {
  std::string s = name;
  for (char& c : s)
    if (c == '-') c = '_';
  for (int i = 0; i < n; ++i)
    if (s == name_of(i)) return i;
  return -1;
}

template <class E>
xsam_status from_name(const char* fn, const char* what, const char* name, E* out, const char* (*name_of)(int), int n) {
  return api::run_guarded(fn, [&] {
    if (!name) fail(Status::InvalidArgument, "name is NULL");
    if (!out) fail(Status::InvalidArgument, "out is NULL");
    const int i = find_name(name, name_of, n);
    if (i < 0)
      fail(Status::InvalidArgument,
           std::string("unknown ") + what + " '" + name + "' (one of " + listing(name_of, n) + ")");
    *out = static_cast<E>(i);
  });
}

}  // namespace

extern "C" {

const char* xsam_task_name(xsam_task task) {
  const int i = api::enum_int(task);
  return i >= 0 && i < kTaskCount ? task_name_of(i) : nullptr;
}

xsam_status xsam_task_from_name(const char* name, xsam_task* out) {
  return from_name("xsam_task_from_name", "task", name, out, task_name_of, kTaskCount);
}

const char* xsam_mode_name(xsam_mode mode) {
  const int i = api::enum_int(mode);
  return i >= 0 && i < 3 ? kModeNames[i] : nullptr;
}

xsam_status xsam_mode_from_name(const char* name, xsam_mode* out) {
  return from_name("xsam_mode_from_name", "mode", name, out, mode_name_of, 3);
}

const char* xsam_dtype_name(xsam_dtype dtype) {
  const int i = api::enum_int(dtype);
  constexpr int count = int(sizeof kDtypeNames / sizeof kDtypeNames[0]);
  return i >= 0 && i < count ? kDtypeNames[i] : nullptr;
}

xsam_status xsam_dtype_from_name(const char* name, xsam_dtype* out) {
  return from_name("xsam_dtype_from_name", "dtype", name, out, dtype_name_of,
                   int(sizeof kDtypeNames / sizeof kDtypeNames[0]));
}

size_t xsam_utf8_valid_prefix(const char* s, size_t n) {
  if (!s || n == 0) return 0;
  const size_t bad = xsam::first_invalid_utf8(std::string_view(s, n));
  return bad == std::string_view::npos ? n : bad;
}

}  // extern "C"
