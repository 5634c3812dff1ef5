#include "models/mask2former.h"

#include <cmath>

#include <ATen/ATen.h>

#include "core/error.h"
#include "models/class_head.h"

namespace xsam {

Mask2FormerImpl::Mask2FormerImpl(const Mask2FormerConfig& config, const ClassHeadConfig& class_head)
    : config_(config), class_head_(class_head) {
  pixel_decoder_ = register_module("pixel_decoder", PixelDecoder(config));
  decoder_ = register_module("decoder", TransformerDecoder(config));
  // Upstream's initial value log(1/0.07); the checkpoint overrides it.
  logit_scale_ = register_parameter("logit_scale", at::full({1}, std::log(1 / 0.07)));
}

PixelDecoderOutput Mask2FormerImpl::encode(const std::vector<torch::Tensor>& connector_outputs) {
  return pixel_decoder_->forward(connector_outputs);
}

SegmentorOutput Mask2FormerImpl::decode(const PixelDecoderOutput& pixels, const torch::Tensor& cond_embeddings,
                                        const torch::Tensor& seg_embeddings, const torch::Tensor& embed_masks,
                                        int64_t repeat, bool keep_all_layers) {
  if (repeat < 1) fail(Status::InvalidArgument, "segmentor: repeat must be >= 1");
  const int64_t images = pixels.mask_features.size(0), rows = images * repeat;
  if (cond_embeddings.dim() != 3 || cond_embeddings.size(0) != rows || cond_embeddings.size(2) != config_.hidden_dim)
    fail(Status::InvalidArgument, "segmentor: cond_embeddings must be (" + std::to_string(rows) + ", C+1, " +
                                      std::to_string(config_.hidden_dim) + ")");
  if (seg_embeddings.dim() != 3 || seg_embeddings.size(0) != rows)
    fail(Status::InvalidArgument, "segmentor: seg_embeddings must have " + std::to_string(rows) +
                                      " rows (images × repeat)");

  // One decoder row per <SEG>: each image's pixel features repeated, image-major.
  auto rows_of = [&](const torch::Tensor& t) { return repeat == 1 ? t : t.repeat_interleave(repeat, 0); };
  std::vector<torch::Tensor> multi_scale;
  for (const auto& f : pixels.multi_scale_features) multi_scale.push_back(rows_of(f));

  SegmentorOutput out;
  out.decoder = decoder_->forward(multi_scale, rows_of(pixels.mask_features), seg_embeddings, keep_all_layers);
  out.mask_logits = out.decoder.mask_logits.back();
  out.class_logits = class_logits(out.decoder.hidden_states.back().transpose(0, 1), cond_embeddings, logit_scale_,
                                  embed_masks, class_head_);
  return out;
}

torch::Tensor Mask2FormerImpl::upsample_masks(const torch::Tensor& mask_logits) const {
  const int64_t size = config_.mask_image_size;
  return at::upsample_bilinear2d(mask_logits, {size, size}, /*align_corners=*/false, c10::nullopt, c10::nullopt);
}

std::map<std::string, std::string> segmentor_weight_aliases(const BehaviourConfig& behaviour,
                                                            const std::string& prefix) {
  std::map<std::string, std::string> aliases;
  const std::string own = prefix + "logit_scale";
  if (!behaviour.key_logit_scale.empty() && behaviour.key_logit_scale != own)
    aliases[own] = behaviour.key_logit_scale;
  return aliases;
}

}  // namespace xsam
