// XSamModel — every module of X-SAM, built from a ModelConfig and bound strictly to a checkpoint
// (docs/design/upstream-facts.md#modules). It computes; it knows nothing of tasks, prompts or caches (docs/design/architecture.md#layers).
//
// Per image: encode_image() runs SigLIP → visual projector, the SAM encoder → seg projector and
// connector → Mask2Former pixel decoder. Per prompt: the LLM (Phi-3) with the image rows spliced in,
// the LLM projector, then the Mask2Former transformer decoder + class head (decode_masks()).
#pragma once
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include <torch/types.h>

#include "core/config.h"
#include "io/weights.h"
#include "models/connector.h"
#include "models/mask2former.h"
#include "models/phi3.h"
#include "models/projector.h"
#include "models/sam_encoder.h"
#include "models/sampler.h"
#include "models/siglip_vision.h"
#include "models/xsam_modules.h"

namespace xsam {

// Everything about one image that does not depend on the prompt (the per-image cache holds this).
struct ImageFeatures {
  torch::Tensor image_rows;   // [1, siglip_tokens + sam_tokens, llm_hidden]: what replaces <image>
  torch::Tensor sam_tokens;   // [1, sam_tokens, llm_hidden]: seg-projector output (the sampler's input)
  PixelDecoderOutput pixels;  // Mask2Former pixel-decoder output
};

struct PartInfo {
  std::string name;
  int64_t parameters = 0;
};

class XSamModel {
 public:
  // Builds every module in `dtype` on `device` and binds it to `store`, reporting in one error every
  // missing, unexpected and mis-shaped tensor (unused-by-design keys are allowed, docs/design/decisions.md#strict-binding).
  // Weights stored in `dtype` are used in place from the file mapping (no second copy, BindOptions);
  // `extra_unused` lists more checkpoint key prefixes that may stay unused (a benchmark that builds
  // fewer LLM layers than the checkpoint holds).
  // With `bf16_weights` (the mixed runtime, fp32 `dtype`), the linear layers' weight matrices and the token
  // embedding table that the file stores as bf16 stay bf16 — over 99 % of the bytes — and are widened on
  // the fly (kernels/linear.h); every other tensor is converted to `dtype`.
  XSamModel(const ModelConfig& config, const WeightStore& store, torch::Dtype dtype, torch::Device device,
            const std::vector<std::string>& extra_unused = {}, bool bf16_weights = false);

  const ModelConfig& config() const { return config_; }
  torch::Dtype dtype() const { return dtype_; }  // the math dtype
  // The dtype of the bulk weights in memory (the LLM's linear layers): bf16 in the mixed runtime.
  torch::Dtype weight_dtype() const;
  torch::Device device() const { return device_; }

  // With `timings`, adds the seconds of each part under "vision.<part>" (siglip, visual_projector, sam,
  // seg_projector, connector, pixel_decoder).
  ImageFeatures encode_image(const torch::Tensor& siglip_pixels, const torch::Tensor& sam_pixels,
                             std::map<std::string, double>* timings = nullptr) const;
  // Region rows for <region> sentinels: masks (N, S, S) on the padded SAM canvas → (N, tokens_per_region, H).
  torch::Tensor region_rows(const ImageFeatures& image, const torch::Tensor& masks, uint64_t seed) const;

  torch::Tensor embed_tokens(const std::vector<int64_t>& ids) const;  // [1, T, H] in the runtime dtype
  const Phi3ModelImpl& llm() const { return *m_.llm.ptr(); }
  torch::Tensor project_llm(const torch::Tensor& hidden) const;  // llm_projector
  torch::Tensor bg_embedding() const { return m_.bg_embeds->weight; }  // [1, D]

  SegmentorOutput decode_masks(const ImageFeatures& image, const torch::Tensor& cond, const torch::Tensor& seg,
                               const torch::Tensor& embed_masks, int64_t repeat) const;
  torch::Tensor upsample_masks(const torch::Tensor& mask_logits) const;

  std::vector<PartInfo> parts() const;
  int64_t parameter_count() const;

 private:
  ModelConfig config_;
  torch::Dtype dtype_;
  torch::Device device_;
  XSamModules m_;
};

}  // namespace xsam
