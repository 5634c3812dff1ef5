// XSAM_CPU below this CPU's best path also caps OpenBLAS's kernels, by running the CLI once more with
// OPENBLAS_CORETYPE set: OpenBLAS picks its core when the library loads, before any of our code runs, so
// the only way to cap it is an environment it sees at start-up. Done only where the environment does not
// set OPENBLAS_CORETYPE already (a user's or CI's choice stands) and only for cores this CPU can run.
// Programs that link libxsam directly set OPENBLAS_CORETYPE themselves (docs/numerics.md "Kernel paths").
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <string>

namespace {

// The OpenBLAS core of each path (its DYNAMIC_ARCH names): the newest core that needs nothing more.
const char* openblas_core(const std::string& path) {
  if (path == "generic") return "Prescott";  // SSE2/SSE3 kernels
  if (path == "avx2") return "Haswell";      // AVX2 + FMA kernels
  if (path == "avx512") return "SkylakeX";   // AVX-512 kernels, no bf16
  return nullptr;
}

// Whether `path` is below the best this CPU has (so that there is something to cap).
bool below_this_cpu(const std::string& path) {
  __builtin_cpu_init();
  const bool avx2 = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
  const bool avx512 = avx2 && __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
                      __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512dq");
  const bool bf16 = avx512 && __builtin_cpu_supports("avx512bf16");
  if (path == "generic") return avx2;
  if (path == "avx2") return avx512;
  if (path == "avx512") return bf16;
  return false;
}

}  // namespace

void cap_openblas_by_reexec(char** argv) {
  const char* cpu = std::getenv("XSAM_CPU");
  if (!cpu || std::getenv("OPENBLAS_CORETYPE") || std::getenv("XSAM_OPENBLAS_CAPPED")) return;
  const char* core = openblas_core(cpu);
  if (!core || !below_this_cpu(cpu)) return;
  setenv("OPENBLAS_CORETYPE", core, 1);
  setenv("XSAM_OPENBLAS_CAPPED", "1", 1);  // once: the second run does not come back here
  execv("/proc/self/exe", argv);
  // exec failed (no /proc): carry on uncapped; libtorch's own caps still apply.
  unsetenv("OPENBLAS_CORETYPE");
}
