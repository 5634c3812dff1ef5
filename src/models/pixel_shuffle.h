// InternVL-style pixel shuffle and its odd-size padding, as X-SAM uses them
// (docs/design/upstream-facts.md#projectors).
//
// This is NOT torch.nn.PixelShuffle/PixelUnshuffle: the channel order differs. For s = 0.5,
// y[b,i,j, dy·2C + dx·C + c] = x[b, 2i+dy, 2j+dx, c] (row offset most significant); for s = 2,
// y[b, 2h+a, 2w+e, c'] = x[b,h,w, e·C/2 + a·C/4 + c'] (column offset most significant). Both follow from
// the four reshape/permute steps below, which are ported one for one so every ratio behaves as upstream.
#pragma once
#include <cmath>
#include <string>

#include <torch/types.h>

#include "core/error.h"

namespace xsam {

// Zero-pads H and W of a channels-last (B,H,W,C) tensor on the bottom/right up to even sizes
// (upstream `maybe_pad`); a no-op when both are even.
inline torch::Tensor maybe_pad(const torch::Tensor& x) {
  int64_t h = x.size(1), w = x.size(2);
  if (h % 2 == 0 && w % 2 == 0) return x;
  return at::constant_pad_nd(x, {0, 0, 0, w % 2, 0, h % 2}, 0);
}

// Pixel shuffle of a channels-last (B,H,W,C) tensor by `scale` (0.5 folds 2×2 pixels into channels,
// 2 unfolds channels into 2×2 pixels, 1 is the identity) → (B, H·s, W·s, C/s²).
inline torch::Tensor pixel_shuffle(const torch::Tensor& x, double scale) {
  if (x.dim() != 4) fail(Status::InvalidArgument, "pixel_shuffle: input must be (B,H,W,C), got " + std::to_string(x.dim()) + " dims");
  const int64_t b = x.size(0), h = x.size(1), w = x.size(2), c = x.size(3);
  // Python: int(W * s), int(C // s), int(H * s), int(C // (s * s)) with float s.
  const int64_t w1 = static_cast<int64_t>(w * scale);
  const int64_t c1 = static_cast<int64_t>(std::floor(c / scale));
  const int64_t h2 = static_cast<int64_t>(h * scale);
  const int64_t c2 = static_cast<int64_t>(std::floor(c / (scale * scale)));
  if (b * h * w1 * c1 != x.numel() || b * w1 * h2 * c2 != x.numel())
    fail(Status::InvalidArgument, "pixel_shuffle: a (" + std::to_string(h) + "x" + std::to_string(w) + "x" +
                                      std::to_string(c) + ") map cannot be shuffled by " + std::to_string(scale));
  auto y = x.reshape({b, h, w1, c1}).permute({0, 2, 1, 3}).contiguous();
  return y.view({b, w1, h2, c2}).permute({0, 2, 1, 3}).contiguous();
}

// The same on a channels-first (B,C,H,W) tensor (upstream data_format="channels_first").
inline torch::Tensor pixel_shuffle_channels_first(const torch::Tensor& x, double scale) {
  if (x.dim() != 4) fail(Status::InvalidArgument, "pixel_shuffle: input must be (B,C,H,W), got " + std::to_string(x.dim()) + " dims");
  return pixel_shuffle(x.permute({0, 2, 3, 1}).contiguous(), scale).permute({0, 3, 1, 2}).contiguous();
}

}  // namespace xsam
