#include "postprocess/types.h"

namespace xsam {

int64_t Bitmap::area() const {
  int64_t n = 0;
  for (uint8_t p : pixels) n += p != 0;
  return n;
}

Box tight_box(const Bitmap& mask) {
  int x_min = mask.width, y_min = mask.height, x_max = -1, y_max = -1;
  for (int y = 0; y < mask.height; ++y) {
    const uint8_t* row = mask.pixels.data() + size_t(y) * size_t(mask.width);
    for (int x = 0; x < mask.width; ++x) {
      if (!row[x]) continue;
      if (x < x_min) x_min = x;
      if (x > x_max) x_max = x;
      if (y < y_min) y_min = y;
      y_max = y;
    }
  }
  if (x_max < 0) return Box{};
  return Box{x_min, y_min, x_max + 1, y_max + 1};
}

}  // namespace xsam
