#include "models/xsam_model.h"

#include <chrono>
#include <set>

#include <torch/torch.h>

#include "core/checkpoint_layout.h"
#include "core/error.h"
#include "models/layers.h"
#include "models/phi3_layers.h"

namespace xsam {

namespace {

void merge(BindReport& into, const BindReport& part) {
  into.missing.insert(into.missing.end(), part.missing.begin(), part.missing.end());
  into.mismatched.insert(into.mismatched.end(), part.mismatched.begin(), part.mismatched.end());
  into.used.insert(part.used.begin(), part.used.end());
}

// The weights that may stay bf16 under fp32 math: every linear layer's matrix (their forward widens it,
// kernels/linear.h) and the token embedding table (only looked-up rows are widened). Module-local names.
std::set<std::string> bulk_weight_names(const torch::nn::Module& part) {
  std::set<std::string> names;
  for (const auto& item : part.named_modules()) {
    const torch::nn::Module* m = item.value().get();
    const bool bulk = dynamic_cast<const layers::Linear*>(m) || dynamic_cast<const Phi3LinearImpl*>(m) ||
                      dynamic_cast<const Phi3EmbeddingImpl*>(m);
    if (bulk) names.insert(item.key().empty() ? "weight" : item.key() + ".weight");
  }
  return names;
}

int64_t count(const torch::nn::Module& m) {
  int64_t n = 0;
  for (const auto& p : m.parameters()) n += p.numel();
  return n;
}

}  // namespace

XSamModel::XSamModel(const ModelConfig& config, const WeightStore& store, torch::Dtype dtype, torch::Device device,
                     const std::vector<std::string>& extra_unused, bool bf16_weights)
    : config_(config), dtype_(dtype), device_(device) {
  torch::NoGradGuard no_grad;
  // Both branches' key spellings are accepted whatever the behaviour preset (docs/design/upstream-facts.md#branches): the checkpoint
  // decides which one is bound (and which keys count as knowingly unused).
  for (const char* prefix : {"visual_encoder.", "vision_encoder."})
    if (store.contains(std::string(prefix) + "vision_model.embeddings.patch_embedding.weight"))
      config_.behaviour.key_vision_prefix = prefix;
  for (const char* key : {"segmentor.logit_scale", "segmentor.class_predictor.logit_scale"})
    if (store.contains(key)) config_.behaviour.key_logit_scale = key;
  const auto& c = config_;
  siglip_ = std::make_shared<SiglipVision>(c.siglip);
  visual_projector_ = std::make_shared<Projector>(c.visual_projector, dtype);
  sam_ = std::make_shared<SamEncoder>(c.sam);
  seg_projector_ = std::make_shared<Projector>(c.seg_projector, dtype);
  connector_ = std::make_shared<Connector>(c.connector);
  sampler_ = std::make_shared<VisionSampler>(c.sampler);
  llm_ = Phi3Model(c.llm, dtype);
  llm_projector_ = std::make_shared<Projector>(c.llm_projector, dtype);
  segmentor_ = Mask2Former(c.mask2former, c.class_head);

  // Each tensor is replaced by the checkpoint's, converted once straight into the runtime dtype, or —
  // when the file already holds that dtype — used in place from the mapping (nothing is copied, and
  // the module's placeholder tensors are never touched, so they cost neither time nor memory).
  BindOptions bind;
  bind.replace = true;
  bind.dtype = dtype;
  bind.device = device;
  BindReport report;
  auto bind_part = [&](torch::nn::Module& part, const std::string& prefix,
                       const std::map<std::string, std::string>& aliases = {}) {
    if (bf16_weights) bind.keep_bf16 = bulk_weight_names(part);
    merge(report, bind_module(part, store, prefix, aliases, bind));
  };
  bind_part(*siglip_, c.behaviour.key_vision_prefix);
  bind_part(*visual_projector_, "visual_projector.");
  bind_part(*sam_, "segmentor.encoder.");
  bind_part(*seg_projector_, "seg_projector.");
  bind_part(*connector_, "seg_connector.");
  bind_part(*llm_, "llm.");
  bind_part(*llm_projector_, "llm_projector.");
  bind_part(*segmentor_, "segmentor.", segmentor_weight_aliases(c.behaviour));
  if (store.contains("bg_embeds.weight")) {
    const auto& info = store.info("bg_embeds.weight");
    if (info.shape != std::vector<int64_t>{1, c.mask2former.hidden_dim}) {
      report.mismatched.push_back("bg_embeds.weight: shape does not match [1, mask2former.hidden_dim]");
    } else if (info.dtype != StDtype::F32 && info.dtype != StDtype::F16 && info.dtype != StDtype::BF16) {
      report.mismatched.push_back(std::string("bg_embeds.weight: checkpoint dtype ") + st_dtype_name(info.dtype) +
                                  " is not a floating-point type");
    } else {
      require_finite(store, "bg_embeds.weight");
      bg_embeds_ = store.get("bg_embeds.weight").to(device, dtype).clone();
      report.used.insert("bg_embeds.weight");
    }
  } else {
    report.missing.push_back("bg_embeds.weight");
  }
  auto unused = unused_key_prefixes(c);
  unused.insert(unused.end(), extra_unused.begin(), extra_unused.end());
  // The segmentor is bound under "segmentor." but holds only the decoder: the encoder and the other
  // branch's logit_scale key are bound elsewhere / absent, so nothing else needs allowing here.
  check_bind_report(report, store, unused);
}

ImageFeatures XSamModel::encode_image(const torch::Tensor& siglip_pixels, const torch::Tensor& sam_pixels,
                                      std::map<std::string, double>* timings) const {
  torch::NoGradGuard no_grad;
  using Clock = std::chrono::steady_clock;
  auto t = Clock::now();
  auto lap = [&](const char* part) {
    if (!timings) return;
    auto now = Clock::now();
    (*timings)[std::string("vision.") + part] += std::chrono::duration<double>(now - t).count();
    t = now;
  };
  ImageFeatures f;
  auto siglip_hidden = siglip_->forward(siglip_pixels.to(device_));
  siglip_hidden = siglip_hidden.slice(1, config_.siglip.select_token_start);
  lap("siglip");
  auto siglip_rows = visual_projector_->forward(siglip_hidden);
  lap("visual_projector");
  auto hs = sam_->forward(sam_pixels.to(device_));
  lap("sam");
  f.sam_tokens = seg_projector_->forward(hs.at(config_.sam.llm_hidden_state));
  f.image_rows = torch::cat({siglip_rows.to(dtype_), f.sam_tokens.to(dtype_)}, 1);
  lap("seg_projector");
  std::vector<torch::Tensor> levels;
  for (int i : config_.sam.connector_hidden_states) levels.push_back(hs.at(i));
  auto connected = connector_->forward(levels);
  lap("connector");
  f.pixels = segmentor_.ptr()->encode(connected);
  lap("pixel_decoder");
  return f;
}

torch::Tensor XSamModel::region_rows(const ImageFeatures& image, const torch::Tensor& masks, uint64_t seed) const {
  torch::NoGradGuard no_grad;
  return sampler_->forward(image.sam_tokens, masks, seed);
}

torch::Tensor XSamModel::embed_tokens(const std::vector<int64_t>& ids) const {
  torch::NoGradGuard no_grad;
  auto t = torch::tensor(ids, torch::kInt64).to(device_).unsqueeze(0);
  return llm_->embed(t);
}

torch::Tensor XSamModel::project_llm(const torch::Tensor& hidden) const {
  torch::NoGradGuard no_grad;
  return llm_projector_->forward(hidden);
}

SegmentorOutput XSamModel::decode_masks(const ImageFeatures& image, const torch::Tensor& cond, const torch::Tensor& seg,
                                        const torch::Tensor& embed_masks, int64_t repeat) const {
  torch::NoGradGuard no_grad;
  return segmentor_.ptr()->decode(image.pixels, cond, seg, embed_masks, repeat);
}

torch::Tensor XSamModel::upsample_masks(const torch::Tensor& mask_logits) const {
  torch::NoGradGuard no_grad;
  return segmentor_.ptr()->upsample_masks(mask_logits);
}

torch::Dtype XSamModel::weight_dtype() const { return llm_->lm_head->weight.scalar_type(); }

std::vector<PartInfo> XSamModel::parts() const {
  return {{"siglip_vision", count(*siglip_)},       {"visual_projector", count(*visual_projector_)},
          {"sam_encoder", count(*sam_)},            {"seg_projector", count(*seg_projector_)},
          {"seg_connector", count(*connector_)},    {"llm", count(*llm_)},
          {"llm_projector", count(*llm_projector_)}, {"mask2former", count(*segmentor_)},
          {"bg_embeds", bg_embeds_.numel()}};
}

int64_t XSamModel::parameter_count() const {
  int64_t n = 0;
  for (const auto& p : parts()) n += p.parameters;
  return n;
}

}  // namespace xsam
