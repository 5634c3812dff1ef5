#include "core/cpu_path.h"

#include <atomic>
#include <cstdlib>
#include <mutex>

#include <ATen/Context.h>

#include "core/error.h"

namespace xsam {
namespace {

struct Feature {
  const char* name;
  bool present;
};

std::vector<Feature> detect() {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_cpu_init();
  return {{"avx2", bool(__builtin_cpu_supports("avx2"))},
          {"fma", bool(__builtin_cpu_supports("fma"))},
          {"f16c", bool(__builtin_cpu_supports("f16c"))},
          {"avx512f", bool(__builtin_cpu_supports("avx512f"))},
          {"avx512bw", bool(__builtin_cpu_supports("avx512bw"))},
          {"avx512vl", bool(__builtin_cpu_supports("avx512vl"))},
          {"avx512dq", bool(__builtin_cpu_supports("avx512dq"))},
          {"avx512bf16", bool(__builtin_cpu_supports("avx512bf16"))},
          {"amx_bf16", bool(__builtin_cpu_supports("amx-bf16"))}};
#else
  return {};  // another architecture: the generic path only (a NEON level would be detected here)
#endif
}

bool has(const std::vector<Feature>& fs, const std::string& name) {
  for (const auto& f : fs)
    if (name == f.name) return f.present;
  return false;
}

CpuPath best_path() {
  const auto fs = detect();
  const bool avx2 = has(fs, "avx2") && has(fs, "fma") && has(fs, "f16c");
  const bool avx512 = avx2 && has(fs, "avx512f") && has(fs, "avx512bw") && has(fs, "avx512vl") && has(fs, "avx512dq");
  if (avx512 && has(fs, "avx512bf16")) return CpuPath::Avx512Bf16;
  if (avx512) return CpuPath::Avx512;
  if (avx2) return CpuPath::Avx2;
  return CpuPath::Generic;
}

std::string env(const char* name) {
  const char* v = std::getenv(name);
  return v ? v : "";
}

bool g_mkldnn_switched_off = false;
// The path libtorch was capped to at start-up (XSAM_CPU); the best path when it was not. A later, higher
// path cannot lift what libtorch has already read, so ATen's oneDNN use stays off above it too.
CpuPath g_libtorch_cap = CpuPath::Avx512Bf16;

// Caps what libtorch may use at `path`, below what the CPU has (a machine's own best path is left to
// libtorch's own detection). The two environment variables are set only at start-up (`at_startup`, from
// XSAM_CPU), before libtorch dispatches and reads each of them once; a value the user set is never
// overridden. Later caps (a model load's `cpu` option) must not set them: oneDNN could read its ISA cap
// then and keep it for the process, so that a later uncapped load would fail to create bf16 primitives.
void cap_libtorch(CpuPath path, bool at_startup) {
  const bool capped = path < cpu_path_supported();
  if (capped && at_startup) {
    g_libtorch_cap = path;
    static const char* kAten[] = {"default", "avx2", nullptr, nullptr};
    static const char* kDnnl[] = {"SSE41", "AVX2", "AVX512_CORE", nullptr};
    const int i = static_cast<int>(path);
    if (kAten[i]) setenv("ATEN_CPU_CAPABILITY", kAten[i], 0);
    if (kDnnl[i]) setenv("DNNL_MAX_CPU_ISA", kDnnl[i], 0);
  }
  // Below AVX-512, ATen's bf16 matmul does not go through oneDNN (it checks for AVX-512 itself): the
  // same for a capped machine. This also routes fp32 convolutions to ATen's own kernel (within bounds).
  const bool mkldnn_off = (capped && path < CpuPath::Avx512) || g_libtorch_cap < CpuPath::Avx512;
  if (mkldnn_off && !g_mkldnn_switched_off && at::globalContext().userEnabledMkldnn()) {
    at::globalContext().setUserEnabledMkldnn(false);
    g_mkldnn_switched_off = true;
  } else if (!mkldnn_off && g_mkldnn_switched_off) {
    at::globalContext().setUserEnabledMkldnn(true);  // undo our own earlier cap, nothing else
    g_mkldnn_switched_off = false;
  }
}

std::atomic<int> g_active{-1};
std::mutex g_mutex;

CpuPath resolve(const std::string& request, const std::string& what) {
  const CpuPath best = cpu_path_supported();
  if (request.empty() || request == "auto") return best;
  CpuPath asked;
  if (!cpu_path_from_name(request, &asked))
    fail(Status::InvalidArgument, what + "=\"" + request + "\": not a CPU path (auto, generic, avx2, avx512, avx512bf16)");
  if (asked > best) {
    std::string have;
    for (const auto& f : cpu_features()) have += (have.empty() ? "" : " ") + f;
    fail(Status::Unsupported, what + "=" + request + ": this CPU supports at most " + cpu_path_name(best) +
                                  " (features: " + (have.empty() ? "none of avx2/avx512" : have) + ")");
  }
  return asked;
}

// XSAM_CPU known at start-up: cap libtorch before anything dispatches. A bad value is reported at the first
// cpu_path_active() / model load, not here (no exception may leave a static initialiser).
const bool g_startup_cap = [] {
  try {
    const std::string v = env("XSAM_CPU");
    if (!v.empty() && v != "auto") cap_libtorch(resolve(v, "XSAM_CPU"), /*at_startup=*/true);
  } catch (...) {
  }
  return true;
}();

}  // namespace

const char* cpu_path_name(CpuPath path) {
  switch (path) {
    case CpuPath::Generic: return "generic";
    case CpuPath::Avx2: return "avx2";
    case CpuPath::Avx512: return "avx512";
    case CpuPath::Avx512Bf16: return "avx512bf16";
  }
  return "generic";
}

bool cpu_path_from_name(const std::string& name, CpuPath* out) {
  for (CpuPath p : {CpuPath::Generic, CpuPath::Avx2, CpuPath::Avx512, CpuPath::Avx512Bf16})
    if (name == cpu_path_name(p)) {
      *out = p;
      return true;
    }
  return false;
}

std::vector<std::string> cpu_features() {
  std::vector<std::string> out;
  for (const auto& f : detect())
    if (f.present) out.push_back(f.name);
  return out;
}

CpuPath cpu_path_supported() {
  static const CpuPath best = best_path();
  return best;
}

CpuPath cpu_path_active() {
  const int v = g_active.load(std::memory_order_relaxed);
  if (v >= 0) return static_cast<CpuPath>(v);
  return set_cpu_path("", "XSAM_CPU");
}

CpuPath set_cpu_path(const std::string& request, const std::string& what) {
  (void)g_startup_cap;
  std::lock_guard<std::mutex> lock(g_mutex);
  const bool from_env = request.empty() || request == "auto";
  const CpuPath path = from_env ? resolve(env("XSAM_CPU"), "XSAM_CPU") : resolve(request, what);
  cap_libtorch(path, /*at_startup=*/false);
  g_active.store(static_cast<int>(path), std::memory_order_relaxed);
  return path;
}

}  // namespace xsam
