#include "models/xsam_model.h"

#include <chrono>
#include <set>

#include <torch/torch.h>

#include "models/checkpoint_layout.h"
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
  // Both branches' key spellings are accepted whatever the behaviour preset
  // (docs/design/upstream-facts.md#branches): the checkpoint decides which one is bound (and which keys
  // count as knowingly unused).
  for (const BehaviourConfig& branch : behaviour_presets()) {
    if (store.contains(branch.key_vision_prefix + "vision_model.embeddings.patch_embedding.weight"))
      config_.behaviour.key_vision_prefix = branch.key_vision_prefix;
    if (store.contains(branch.key_logit_scale)) config_.behaviour.key_logit_scale = branch.key_logit_scale;
  }
  m_ = build_modules(config_, dtype);
  // Each tensor is replaced by the checkpoint's, converted once straight into the runtime dtype, or —
  // when the file already holds that dtype — used in place from the mapping (nothing is copied, and
  // the module's placeholder tensors are never touched, so they cost neither time nor memory).
  BindOptions bind;
  bind.replace = true;
  bind.dtype = dtype;
  bind.device = device;
  BindReport report;
  for (const auto& part : bound_parts(m_, config_)) {
    if (bf16_weights) bind.keep_bf16 = bulk_weight_names(*part.module);
    merge(report, bind_module(*part.module, store, part.prefix, part.aliases, bind));
  }
  // What upstream's state dict holds and inference never reads may be there, unused; so may what the caller names.
  auto unused = unused_checkpoint_keys(m_, config_);
  unused.insert(unused.end(), extra_unused.begin(), extra_unused.end());
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
  auto siglip_hidden = m_.siglip->forward(siglip_pixels.to(device_));
  siglip_hidden = siglip_hidden.slice(1, config_.siglip.select_token_start);
  lap("siglip");
  auto siglip_rows = m_.visual_projector->forward(siglip_hidden);
  lap("visual_projector");
  auto hs = m_.sam->forward(sam_pixels.to(device_));
  lap("sam");
  f.sam_tokens = m_.seg_projector->forward(hs.at(config_.sam.llm_hidden_state));
  f.image_rows = torch::cat({siglip_rows.to(dtype_), f.sam_tokens.to(dtype_)}, 1);
  lap("seg_projector");
  std::vector<torch::Tensor> levels;
  for (int i : config_.sam.connector_hidden_states) levels.push_back(hs.at(i));
  auto connected = m_.connector->forward(levels);
  lap("connector");
  f.pixels = m_.segmentor.ptr()->encode(connected);
  lap("pixel_decoder");
  return f;
}

torch::Tensor XSamModel::region_rows(const ImageFeatures& image, const torch::Tensor& masks, uint64_t seed) const {
  torch::NoGradGuard no_grad;
  return m_.sampler->forward(image.sam_tokens, masks, seed);
}

torch::Tensor XSamModel::embed_tokens(const std::vector<int64_t>& ids) const {
  torch::NoGradGuard no_grad;
  auto t = torch::tensor(ids, torch::kInt64).to(device_).unsqueeze(0);
  return m_.llm->embed(t);
}

torch::Tensor XSamModel::project_llm(const torch::Tensor& hidden) const {
  torch::NoGradGuard no_grad;
  return m_.llm_projector->forward(hidden);
}

SegmentorOutput XSamModel::decode_masks(const ImageFeatures& image, const torch::Tensor& cond, const torch::Tensor& seg,
                                        const torch::Tensor& embed_masks, int64_t repeat) const {
  torch::NoGradGuard no_grad;
  return m_.segmentor.ptr()->decode(image.pixels, cond, seg, embed_masks, repeat);
}

torch::Tensor XSamModel::upsample_masks(const torch::Tensor& mask_logits) const {
  torch::NoGradGuard no_grad;
  return m_.segmentor.ptr()->upsample_masks(mask_logits);
}

torch::Dtype XSamModel::weight_dtype() const { return m_.llm->lm_head->weight.scalar_type(); }

std::vector<PartInfo> XSamModel::parts() const {
  std::vector<PartInfo> out;
  for (const auto& part : bound_parts(m_, config_)) out.push_back({part.name, count(*part.module)});
  return out;
}

int64_t XSamModel::parameter_count() const {
  int64_t n = 0;
  for (const auto& p : parts()) n += p.parameters;
  return n;
}

}  // namespace xsam
