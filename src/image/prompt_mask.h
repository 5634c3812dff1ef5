// Visual-prompt masks on their way into the model (docs/design/upstream-facts.md#visual-prompts): a mask at the
// original image size is resized to SAM's scaled size (h_s, w_s) with PIL NEAREST — the running-sum index rule, not
// the closed form, see image/resample.h — and padded bottom/right with 0 (upstream's ignore_index) to the L×L canvas.
// Values are kept as they are (a {0,1} mask stays {0,1}; any nonzero value counts as "inside" later).
#pragma once
#include "image/image.h"

namespace xsam {

// Throws Status::InvalidArgument naming `what` when the mask is empty or the sizes do not fit the canvas.
Mask resize_prompt_mask(const Mask& mask, int scaled_height, int scaled_width, int canvas,
                        const char* what = "prompt mask");

}  // namespace xsam
