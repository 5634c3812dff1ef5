// Fused row-wise and element-wise pieces of Phi-3 (see kernels/simd.h): each is one pass over its input
// instead of a chain of ATen ops that each read and write the whole activation (eight for RMSNorm,
// three for the gated MLP's activation) — which matters most in decoding, where a step is a few thousand
// small ops, and under load, where every parallel op can wait for a descheduled thread.
//
// The rounding points are the unfused ops': RMSNorm widens to fp32, divides the sum of squares by the
// width, multiplies by 1/sqrt(mean + eps), rounds to the dtype and only then multiplies by the weight
// (rounded again); the MLP rounds silu(gate) to the dtype before the product with up. Differences from
// the unfused ops: the order of the sum of squares, and silu's exponential (kernels/simd.h).
#pragma once
#include <cstdint>

#include <torch/types.h>

namespace xsam {

// HF Phi3RMSNorm over the last dimension of x (fp32 or bf16), weight [hidden] in x's dtype.
torch::Tensor fast_rms_norm(const torch::Tensor& x, const torch::Tensor& weight, double eps);

// gate_up [..., 2·I] (gate first) → up · silu(gate), [..., I].
torch::Tensor fast_silu_mul(const torch::Tensor& gate_up);

}  // namespace xsam
