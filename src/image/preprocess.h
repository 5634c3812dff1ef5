// The two image processors of X-SAM (docs/design/upstream-facts.md#preprocessing) and the prompt-mask batch
// (#visual-prompts), from a decoded RGB8 image to the float32 tensors the vision towers take. Every size, filter and
// statistic comes from PreprocessConfig; the arithmetic reproduces upstream's PIL/numpy steps bit for bit:
//   rescale   float32(float64(u8) · (1/255))   (the float64 product matters: float32 is 1 ulp off)
//   normalize (x − float32(mean)) / float32(std) in float32
#pragma once
#include <vector>

#include <torch/types.h>

#include "core/config.h"
#include "image/image.h"

namespace xsam {

// xtuner's expand2square: a square of side max(W, H) filled with int(mean·255) per channel
// ((127,127,127) for mean 0.5), the image pasted at ((side − W)//2, (side − H)//2). Square images are
// returned unchanged.
Image expand_to_square(const Image& image, const std::vector<double>& mean);

// The limit on what preprocessing may build: the image itself and, with preprocess.expand_to_square, the
// max(W, H)² canvas that SigLIP's path pads it to (a 20000 × 1 strip is 20000 pixels but a 1.2 GB canvas)
// must each stay within max_pixels (<= 0: no limit). Throws Status::Limit naming the sizes.
void check_preprocess_limits(const Image& image, const PreprocessConfig& config, int64_t max_pixels);

// SigLIP input [1, 3, S, S] float32, S = preprocess.siglip_size: expand_to_square when
// preprocess.expand_to_square, PIL resize to S×S (aspect ignored) with preprocess.siglip_resample,
// rescale, normalize with siglip_mean/std.
torch::Tensor siglip_preprocess(const Image& image, const PreprocessConfig& config);

// SAM's longest-side target: scale = L / max(H, W) (double); h = int(H·scale + 0.5), w = int(W·scale + 0.5).
// Upstream fails when a side rounds to 0 (aspect ratio beyond 2L:1); we keep at least 1 pixel.
struct ScaledSize {
  int height = 0;
  int width = 0;
};
ScaledSize sam_scaled_size(int height, int width, int longest_side);

struct SamInput {
  torch::Tensor pixel_values;  // [1, 3, L, L] float32, zero (= the mean colour) below/right of the image
  ScaledSize scaled;           // (h_s, w_s): the image's extent inside pixel_values
  int original_height = 0;
  int original_width = 0;
};

// SAM input: resize the original image (no expand2square) to sam_scaled_size with preprocess.sam_resample,
// rescale, normalize with sam_mean/std, then pad bottom/right with 0.0 to L×L, L = preprocess.sam_size.
SamInput sam_preprocess(const Image& image, const PreprocessConfig& config);

// Prompt masks at the original image size → [n, L, L] uint8 (upstream: int64 with the same values),
// each through resize_prompt_mask (PIL NEAREST to the scaled size, zero pad). Every mask must have the
// original size; values are kept. n = 0 gives a [0, L, L] tensor.
torch::Tensor sam_prompt_masks(const std::vector<Mask>& masks, const SamInput& sam, const PreprocessConfig& config);

}  // namespace xsam
