#include "models/xsam_modules.h"

namespace xsam {

XSamModules build_modules(const ModelConfig& c, torch::Dtype dtype, const std::vector<int>& extra_sam_hidden_states) {
  XSamModules m;
  m.siglip = std::make_shared<SiglipVision>(c.siglip);
  m.visual_projector = std::make_shared<Projector>(c.visual_projector, dtype);
  m.sam = std::make_shared<SamEncoder>(c.sam, extra_sam_hidden_states);
  m.seg_projector = std::make_shared<Projector>(c.seg_projector, dtype);
  m.connector = std::make_shared<Connector>(c.connector);
  m.sampler = std::make_shared<VisionSampler>(c.sampler);
  m.llm = Phi3Model(c.llm, dtype);
  m.llm_projector = std::make_shared<Projector>(c.llm_projector, dtype);
  m.segmentor = Mask2Former(c.mask2former, c.class_head);
  m.bg_embeds = std::make_shared<layers::EmbeddingTable>(1, c.mask2former.hidden_dim);
  return m;
}

std::vector<BoundPart> bound_parts(const XSamModules& m, const ModelConfig& c) {
  return {
      {"siglip_vision", m.siglip.get(), c.behaviour.key_vision_prefix, {}},
      {"visual_projector", m.visual_projector.get(), "visual_projector.", {}},
      {"sam_encoder", m.sam.get(), "segmentor.encoder.", {}},
      {"seg_projector", m.seg_projector.get(), "seg_projector.", {}},
      {"seg_connector", m.connector.get(), "seg_connector.", {}},
      {"llm", m.llm.ptr().get(), "llm.", {}},
      {"llm_projector", m.llm_projector.get(), "llm_projector.", {}},
      {"mask2former", m.segmentor.ptr().get(), "segmentor.", segmentor_weight_aliases(c.behaviour)},
      {"bg_embeds", m.bg_embeds.get(), "bg_embeds.", {}},
  };
}

std::string checkpoint_key(const BoundPart& part, const std::string& local) {
  const std::string key = part.prefix + local;
  auto alias = part.aliases.find(key);
  return alias == part.aliases.end() ? key : alias->second;
}

}  // namespace xsam
