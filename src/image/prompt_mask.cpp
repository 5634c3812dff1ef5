#include "image/prompt_mask.h"

#include <algorithm>
#include <cstddef>
#include <string>

#include "core/error.h"
#include "image/resample.h"

namespace xsam {

Mask resize_prompt_mask(const Mask& mask, int scaled_height, int scaled_width, int canvas, const char* what) {
  if (mask.width <= 0 || mask.height <= 0 || mask.data.size() != size_t(mask.width) * size_t(mask.height))
    fail(Status::InvalidArgument, std::string(what) + ": empty or inconsistent mask (" + std::to_string(mask.width) +
                                      "x" + std::to_string(mask.height) + ", " + std::to_string(mask.data.size()) +
                                      " bytes)");
  if (scaled_height <= 0 || scaled_width <= 0 || scaled_height > canvas || scaled_width > canvas)
    fail(Status::InvalidArgument, std::string(what) + ": scaled size " + std::to_string(scaled_height) + "x" +
                                      std::to_string(scaled_width) + " does not fit the " + std::to_string(canvas) +
                                      "x" + std::to_string(canvas) + " canvas");
  const Mask scaled = pil_resize(mask, scaled_width, scaled_height, Resample::Nearest);
  Mask out(canvas, canvas, 0);
  for (int y = 0; y < scaled_height; ++y)
    std::copy(scaled.data.begin() + ptrdiff_t(y) * scaled_width, scaled.data.begin() + ptrdiff_t(y + 1) * scaled_width,
              out.data.begin() + ptrdiff_t(y) * canvas);
  return out;
}

}  // namespace xsam
