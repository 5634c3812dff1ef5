// Multi-scale deformable attention's sampling step (Mask2Former pixel decoder) as one fused CPU pass.
//
// Why: the reference formulation (ms_deform_attn.cpp) runs one grid_sample per level over
// [batch·heads, head_dim, H, W] maps, stacks the levels, multiplies by the attention weights and sums:
// at full size that is ~21 k queries × 8 heads × 12 samples × 32 channels pushed through generic
// kernels and four tensors of 66 M elements per layer, seconds per image. Here each (query, head) reads
// its 12 × 4 corner vectors straight from the value rows ([batch, tokens, heads, head_dim], channels
// contiguous) and accumulates the weighted sum in registers.
//
// Rounding follows the reference: grid_sample's fp32 arithmetic (unnormalise (g + 1)·size/2 − 0.5, floor,
// corner weights s·e, s·w, n·e, n·w, corners summed nw, ne, sw, se in that order, zero padding), the
// sample rounded to the activation dtype, its product with the weight rounded, the products summed in
// fp32 and rounded once. Only the order of that last sum may differ.
#pragma once
#include <cstdint>
#include <vector>

#include <torch/types.h>

namespace xsam {

// value [B, tokens, heads, head_dim]; levels (height, width), flattened level after level into tokens;
// grids [B, Q, heads, levels, points, 2] in [-1, 1] (x, y; align_corners = false); weights
// [B, Q, heads, levels, points]. All in the activation dtype (fp32 or bf16). Returns [B, Q, heads·head_dim]
// or an undefined tensor when the kernel does not apply (other dtypes or devices). Every CPU path: AVX-512
// vectors, or the same per-channel arithmetic in plain loops (vectorised for AVX2 on the avx2 path) —
// bit-identical results on every path.
torch::Tensor fast_msda_sample(const torch::Tensor& value, const std::vector<std::pair<int64_t, int64_t>>& levels,
                               const torch::Tensor& grids, const torch::Tensor& weights);

}  // namespace xsam
