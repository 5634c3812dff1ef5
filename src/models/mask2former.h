// The X-SAM segmentor (docs/design/upstream-facts.md#pixel-decoder, #transformer-decoder): Mask2Former pixel decoder
// + masked-attention transformer decoder + cosine class head with a learned `logit_scale`. Parameter names are
// relative to `segmentor.` of the checkpoint (`pixel_decoder.*`, `decoder.*`, `logit_scale`); the SAM encoder that
// shares the `segmentor.` prefix upstream is a separate module (models/sam_encoder).
//
// Usage: bind with `bind_module(m, store, "segmentor.", segmentor_weight_aliases(config.behaviour))`;
// run `encode` once per image (its output can be cached), then `decode` per prompt.
#pragma once
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include <torch/nn/module.h>
#include <torch/nn/pimpl.h>

#include "core/config.h"
#include "models/pixel_decoder.h"
#include "models/transformer_decoder.h"

namespace xsam {

struct SegmentorOutput {
  torch::Tensor class_logits;  // (B_dec, Q, C+1) fp32, last prediction step, background last
  torch::Tensor mask_logits;   // (B_dec, Q, h, w) model dtype, last step, at mask-feature resolution
  TransformerDecoderOutput decoder;  // every step with keep_all_layers, else the last only
};

class Mask2FormerImpl : public torch::nn::Module {
 public:
  Mask2FormerImpl(const Mask2FormerConfig& config, const ClassHeadConfig& class_head);

  // Pixel decoder on the connector outputs (high → low resolution). Depends on the image only.
  PixelDecoderOutput encode(const std::vector<torch::Tensor>& connector_outputs);

  // Transformer decoder + class head.
  //   cond_embeddings (B_dec, C+1, D): class weights, background last
  //   seg_embeddings  (B_dec, 1, D):   the <SEG> vector of each decoder row
  //   embed_masks     (B_dec, C+1) or undefined: columns where it is 0 are masked
  //   repeat: decoder rows per image (refseg/reaseg: one row per <SEG>, the pixel features repeated,
  //           image-major: rows i·repeat … i·repeat + repeat − 1 belong to image i); B_dec = B_img·repeat
  SegmentorOutput decode(const PixelDecoderOutput& pixels, const torch::Tensor& cond_embeddings,
                         const torch::Tensor& seg_embeddings, const torch::Tensor& embed_masks,
                         int64_t repeat = 1, bool keep_all_layers = false);

  SegmentorOutput forward(const std::vector<torch::Tensor>& connector_outputs, const torch::Tensor& cond_embeddings,
                          const torch::Tensor& seg_embeddings, const torch::Tensor& embed_masks, int64_t repeat = 1,
                          bool keep_all_layers = false) {
    return decode(encode(connector_outputs), cond_embeddings, seg_embeddings, embed_masks, repeat, keep_all_layers);
  }

  // Bilinear (align_corners=False) resize of mask logits (B, Q', h, w) to mask_image_size² (the padded
  // SAM canvas), in the input's dtype. Pass only the step (and queries) you need: upstream [A] resizes all
  // steps, but only the last is ever used.
  torch::Tensor upsample_masks(const torch::Tensor& mask_logits) const;

  torch::ScalarType dtype() const { return logit_scale_.scalar_type(); }
  PixelDecoder& pixel_decoder() { return pixel_decoder_; }
  TransformerDecoder& transformer_decoder() { return decoder_; }
  const torch::Tensor& logit_scale() const { return logit_scale_; }

 private:
  Mask2FormerConfig config_;
  ClassHeadConfig class_head_;
  PixelDecoder pixel_decoder_{nullptr};
  TransformerDecoder decoder_{nullptr};
  torch::Tensor logit_scale_;  // (1); the class scale is exp(logit_scale)
};
TORCH_MODULE(Mask2Former);

// bind_module aliases for the segmentor bound under `prefix`: the checkpoint key of `logit_scale`
// differs between branches (config behaviour.key_logit_scale: aaai26 `segmentor.logit_scale`, main
// `segmentor.class_predictor.logit_scale`).
std::map<std::string, std::string> segmentor_weight_aliases(const BehaviourConfig& behaviour,
                                                            const std::string& prefix = "segmentor.");

}  // namespace xsam
