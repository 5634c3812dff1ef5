// Small numeric building blocks shared by the Mask2Former pixel decoder, transformer decoder and
// segmentor wrapper (docs/design/upstream-facts.md#deformable-attention, #pixel-decoder, #transformer-decoder).
//
// Precision policy (docs/design/numerics.md): the model runs in the dtype of its parameters (fp32 or bf16). Norm
// statistics, softmaxes, bilinear resizes and transcendental functions are evaluated in fp32 and rounded
// once to the model dtype, which is what upstream's bf16 CUDA kernels do (fp32 "opmath"). In fp32 all of
// this is the plain computation.
#pragma once
#include <cstdint>

#include <torch/types.h>

namespace xsam::m2f {

// LayerNorm over the last dimension with fp32 statistics and affine; result in x's dtype.
torch::Tensor layer_norm_fp32(const torch::Tensor& x, const torch::Tensor& weight, const torch::Tensor& bias,
                              double eps);

// GroupNorm over (B, C, H, W) with fp32 statistics and affine; result in x's dtype.
torch::Tensor group_norm_fp32(const torch::Tensor& x, int64_t groups, const torch::Tensor& weight,
                              const torch::Tensor& bias, double eps);

// Softmax along `dim` computed in fp32; result in x's dtype.
torch::Tensor softmax_fp32(const torch::Tensor& x, int64_t dim);

// Bilinear resize of (B, C, h, w) to (B, C, height, width), align_corners=False, fp32 arithmetic;
// result in x's dtype. Same-size resizes are exact copies.
torch::Tensor resize_bilinear(const torch::Tensor& x, int64_t height, int64_t width);

// Mask2Former's sine position embedding of a (B, C, H, W) map (only its shape, dtype and device are
// used): normalize=True, scale 2π, temperature 10000, no padding mask. Returns (B, 2·num_pos_feats, H, W)
// in x's dtype, channels [y-block, x-block], each block interleaving sin (even k) and cos (odd k) of
// coordinate / 10000^(2·floor(k/2)/num_pos_feats); coordinates are 1..H (1..W) normalised by the last
// one (+1e-6). Arithmetic follows upstream step by step in x's dtype (docs/design/upstream-facts.md#pixel-decoder).
torch::Tensor sine_position_embedding(const torch::Tensor& x, int64_t num_pos_feats);

}  // namespace xsam::m2f
