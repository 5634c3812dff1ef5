// The CPU kernel path: which instruction-set level the library's own kernels (and, as far as it can
// be capped, libtorch) may use.
//
//   generic     portable C++ / ATen's default kernels; the reference every other path is checked against
//   avx2        AVX2 + FMA + F16C (x86-64-v3)
//   avx512      AVX-512 F/BW/VL/DQ, no native bf16 dot products
//   avx512bf16  AVX-512 with VDPBF16PS (AMD Zen 4, Intel Cooper Lake / Sapphire Rapids)
//
// The active path is the CPU's best by default. XSAM_CPU (environment) or the model-load option
// caps it below that, so that a higher machine runs — and tests — the lower paths. A cap above what the
// CPU has is an error that names both. An ARM64 NEON path would be a fifth level with its own detection
// here (getauxval(AT_HWCAP)); kernels test `cpu_path_active() >= level`, so x86 kernels never run there.
//
// What the cap reaches (docs/numerics.md "Kernel paths"): our kernels always; libtorch's vectorised ATen
// kernels (ATEN_CPU_CAPABILITY) and oneDNN's ISA (DNNL_MAX_CPU_ISA) only when the cap is known before
// libtorch first dispatches (XSAM_CPU in the environment at start-up); ATen's oneDNN bf16 matmul is
// switched off below avx512 (as on a CPU without AVX-512); OpenBLAS's core type never (it is fixed when
// the library loads: set OPENBLAS_CORETYPE yourself).
#pragma once
#include <string>
#include <vector>

namespace xsam {

enum class CpuPath { Generic = 0, Avx2 = 1, Avx512 = 2, Avx512Bf16 = 3 };

const char* cpu_path_name(CpuPath path);
// "generic" | "avx2" | "avx512" | "avx512bf16"; false for anything else (including "auto").
bool cpu_path_from_name(const std::string& name, CpuPath* out);

// The x86 features the paths need that this CPU has, in a fixed order ("avx2", "fma", "f16c", "avx512f",
// "avx512bw", "avx512vl", "avx512dq", "avx512bf16", "amx_bf16").
std::vector<std::string> cpu_features();
// The highest path this CPU supports.
CpuPath cpu_path_supported();

// The path in effect. The first call resolves XSAM_CPU (throws xsam::Failure naming the variable if it is
// not a path name or is above the CPU's). Cheap after that (an atomic load): kernels call it per op.
CpuPath cpu_path_active();

// Sets the path for the process from a request: "" or "auto" = XSAM_CPU if set, else the CPU's best;
// otherwise a path name. `what` names the argument in errors (e.g. "params.cpu"). Process-wide: the
// kernels of every model follow the most recent setting.
CpuPath set_cpu_path(const std::string& request, const std::string& what);

}  // namespace xsam
