// bf16 → fp32 widening, the step that lets bf16 weights stay bf16 in memory while the math runs in fp32
// (the "mixed" runtime: CPUs without native bf16 dot products, where libtorch's bf16 GEMMs are ~100x
// slower than its fp32 ones). Widening is exact: a bf16 value is the top 16 bits of the same fp32 value.
#pragma once
#include <cstdint>

#include <c10/util/BFloat16.h>
#include <torch/types.h>

namespace xsam {

// dst[i] = float(src[i]) for i in [0, n), on the active CPU path's widest vectors, split over the
// intra-op threads for large n. Bit-identical on every path.
void widen_bf16(const c10::BFloat16* src, float* dst, int64_t n);

// Rows [row0, row0 + rows) of a contiguous 2-D bf16 tensor widened into `out` ([rows, cols] fp32,
// contiguous, allocated by the caller so that a scratch buffer can be reused).
void widen_bf16_rows(const torch::Tensor& src, int64_t row0, int64_t rows, float* out);

}  // namespace xsam
