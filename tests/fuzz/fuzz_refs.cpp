// Fuzz target: visual-ref rasterisation (src/image/refs.h) and the prompt-mask resize that follows it.
// The input picks an image size and a list of refs (points, boxes, scribbles, masks) with arbitrary
// float coordinates — NaN, infinities and out-of-range values included. Each call must either give one
// {0,1} mask per ref, of the image size, none of them empty, or refuse with Status::InvalidArgument.
#include <cstdint>

#include <torch/torch.h>

#include "core/config.h"
#include "fuzz_check.h"
#include "fuzz_input.h"
#include "image/preprocess.h"
#include "image/refs.h"

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  torch::set_num_threads(1);
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace xsam;
  static const PreprocessConfig pre = size_preset("tiny").preprocess;
  fuzz::Input in(data, size);
  const int w = static_cast<int>(in.range(-2, 300));
  const int h = static_cast<int>(in.range(-2, 300));
  RefRasterOptions opt;
  opt.point_radius = static_cast<int>(in.range(-1, 40));
  opt.scribble_radius = static_cast<int>(in.range(-1, 20));
  const size_t n_refs = static_cast<size_t>(in.range(0, 4));
  std::vector<VisualRef> refs;
  for (size_t r = 0; r < n_refs; ++r) {
    VisualRef ref;
    ref.kind = static_cast<RefKind>(in.range(0, 4));  // 4: not a valid kind
    if (ref.kind == RefKind::Mask) {
      int mw = in.flag() ? w : static_cast<int>(in.range(0, 300));
      int mh = in.flag() ? h : static_cast<int>(in.range(0, 300));
      if (mw > 0 && mh > 0) {
        ref.mask = Mask(mw, mh);
        // A few filled rectangles rather than w×h random bytes: keeps inputs small.
        for (int k = static_cast<int>(in.range(0, 3)); k > 0; --k) {
          int x0 = static_cast<int>(in.range(0, mw - 1)), y0 = static_cast<int>(in.range(0, mh - 1));
          int x1 = static_cast<int>(in.range(x0, mw)), y1 = static_cast<int>(in.range(y0, mh));
          uint8_t v = in.byte();
          for (int y = y0; y < y1; ++y)
            for (int x = x0; x < x1; ++x) ref.mask.at(x, y) = v;
        }
      }
    } else {
      size_t n = static_cast<size_t>(in.range(0, 12));
      for (size_t i = 0; i < n; ++i) ref.xy.push_back(in.float_in(-10.0f, static_cast<float>(std::max(w, h)) + 10.0f));
    }
    refs.push_back(std::move(ref));
  }
  fuzz::expect_clean([&] {
    std::vector<Mask> masks = rasterize_refs(refs, w, h, opt);
    if (masks.size() != refs.size()) fuzz::finding("one mask per ref expected");
    for (const Mask& m : masks) {
      if (m.width != w || m.height != h || m.data.size() != size_t(w) * size_t(h)) fuzz::finding("mask size");
      size_t set = 0;
      for (uint8_t v : m.data) {
        if (v > 1) fuzz::finding("mask value other than 0/1");
        set += v;
      }
      if (set == 0) fuzz::finding("empty mask accepted");
    }
    if (!masks.empty()) {
      Image img;
      img.width = w;
      img.height = h;
      img.rgb.assign(size_t(w) * size_t(h) * 3, 128);
      SamInput sam = sam_preprocess(img, pre);
      torch::Tensor pm = sam_prompt_masks(masks, sam, pre);
      if (pm.size(0) != static_cast<int64_t>(masks.size())) fuzz::finding("prompt mask count");
      if (pm.max().item<int>() > 1) fuzz::finding("prompt mask value other than 0/1");
    }
  });
  return 0;
}
