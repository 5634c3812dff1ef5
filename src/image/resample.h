// PIL-exact resizing of 8-bit images (docs/design/upstream-facts.md#preprocessing, #visual-prompts). Both upstream
// processors resize with PIL; reproducing its integer arithmetic exactly is what makes preprocessing bit-exact
// (docs/design/decisions.md#tolerances). OpenCV's and torch's resizers do not match it and must not be used here.
//
// BILINEAR / BICUBIC (Pillow's ImagingResample, Pillow ≥ 7, reducing_gap=None):
//   separable convolution, horizontal pass first; a pass is skipped when its axis keeps its size.
//   Per axis: scale = in/out; filterscale = max(scale, 1) (antialiasing: the filter is stretched when
//   reducing); support = S·filterscale (S = 1 bilinear, 2 bicubic with a = −0.5); output i has centre
//   (i + 0.5)·scale, taps xmin = max(int(centre − support + 0.5), 0) .. xmax = min(int(centre + support
//   + 0.5), in), weights f((j + xmin − centre + 0.5) / filterscale) normalised to sum 1 (double), then
//   fixed point with 22 fractional bits rounded away from zero; each output sample is
//   clip8((2^21 + Σ k·in) >> 22) in int32. The intermediate image is rounded to uint8.
// NEAREST (Pillow's ImagingScaleAffine): source index tables built by a running double sum,
//   o = 0.5·in/out; src[d] = int(o); o += in/out — NOT floor((d + 0.5)·in/out), which differs where
//   that value is an exact integer (docs/design/upstream-facts.md#visual-prompts).
#pragma once
#include <cstdint>
#include <vector>

#include "core/config.h"  // Resample
#include "image/image.h"

namespace xsam {

// Resizes interleaved 8-bit samples (`channels` per pixel, rows packed) from in_w×in_h to out_w×out_h.
// Throws Status::InvalidArgument for non-positive sizes or channels.
std::vector<uint8_t> pil_resize(const uint8_t* src, int in_w, int in_h, int channels, int out_w, int out_h,
                                Resample filter);

Image pil_resize(const Image& image, int out_w, int out_h, Resample filter);
// Masks keep their values only under NEAREST; any filter is accepted.
Mask pil_resize(const Mask& mask, int out_w, int out_h, Resample filter);

// PIL NEAREST source index for every output position along one axis (the running-sum rule above).
std::vector<int> pil_nearest_indices(int in_size, int out_size);

}  // namespace xsam
