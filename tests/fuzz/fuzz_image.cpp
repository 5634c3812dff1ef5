// Fuzz target: image decoding (src/image/decode.h) and the two preprocessors plus the prompt-mask path
// (src/image/preprocess.h) with the tiny model's sizes. Any byte string must either decode into a
// consistent RGB8 image or be refused with Status::Format / Limit / Unsupported; a decoded image must
// preprocess into finite tensors of the configured shapes.
#include <cstdint>

#include <torch/torch.h>

#include "core/config.h"
#include "fuzz_check.h"
#include "image/decode.h"
#include "image/preprocess.h"

namespace {
// Small enough that one execution stays fast, large enough for real photos in the corpus.
constexpr int64_t kFuzzMaxPixels = 1 << 21;
}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  torch::set_num_threads(1);
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace xsam;
  static const PreprocessConfig pre = size_preset("tiny").preprocess;
  fuzz::expect_clean([&] {
    Image img = decode_image_memory(data, size, "fuzz", kFuzzMaxPixels);
    if (img.empty() || img.rgb.size() != img.pixel_count() * 3) fuzz::finding("decoded image is inconsistent");
    if (static_cast<int64_t>(img.pixel_count()) > kFuzzMaxPixels) fuzz::finding("decoded image exceeds max_pixels");
    check_preprocess_limits(img, pre, kFuzzMaxPixels);  // what segment() checks before preprocessing
    torch::NoGradGuard no_grad;
    torch::Tensor s = siglip_preprocess(img, pre);
    if (s.sizes() != torch::IntArrayRef({1, 3, pre.siglip_size, pre.siglip_size})) fuzz::finding("siglip shape");
    SamInput sam = sam_preprocess(img, pre);
    if (sam.scaled.height < 1 || sam.scaled.width < 1 || sam.scaled.height > pre.sam_size || sam.scaled.width > pre.sam_size)
      fuzz::finding("sam scaled size out of range");
    if (!torch::isfinite(s).all().item<bool>() || !torch::isfinite(sam.pixel_values).all().item<bool>())
      fuzz::finding("non-finite preprocessed pixels");
    Mask m = binarize_mask_image(img);
    torch::Tensor pm = sam_prompt_masks({m}, sam, pre);
    if (pm.size(0) != 1 || pm.size(1) != pre.sam_size || pm.size(2) != pre.sam_size) fuzz::finding("prompt mask shape");
  });
  return 0;
}
