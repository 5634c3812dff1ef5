// Every module of X-SAM for one config, before any weight is bound, and the checkpoint prefix each one
// is bound under. The one list of the model's parts: XSamModel binds it to a checkpoint, and
// checkpoint_layout (models/checkpoint_layout.h) reads the checkpoint's names and shapes off it.
//
// Building costs little memory at any size: the layers of models/layers.h hold torch::empty placeholders,
// whose pages are never touched before binding replaces them. Mask2Former's torch::nn layers do initialise
// their weights randomly (about 0.5 s at full size), which is why a caller that already built the modules
// passes them on (unused_checkpoint_keys) rather than building again.
#pragma once
#include <map>
#include <memory>
#include <string>
#include <vector>

#include <torch/nn/module.h>
#include <torch/types.h>

#include "core/config.h"
#include "models/connector.h"
#include "models/layers.h"
#include "models/mask2former.h"
#include "models/phi3.h"
#include "models/projector.h"
#include "models/sam_encoder.h"
#include "models/sampler.h"
#include "models/siglip_vision.h"

namespace xsam {

struct XSamModules {
  std::shared_ptr<SiglipVision> siglip;
  std::shared_ptr<Projector> visual_projector;
  std::shared_ptr<SamEncoder> sam;
  std::shared_ptr<Projector> seg_projector;
  std::shared_ptr<Connector> connector;
  std::shared_ptr<VisionSampler> sampler;  // no weights
  Phi3Model llm{nullptr};
  std::shared_ptr<Projector> llm_projector;
  Mask2Former segmentor{nullptr};
  std::shared_ptr<layers::EmbeddingTable> bg_embeds;  // upstream's nn.Embedding(1, D) of the background class
};

// The modules `config` needs: SigLIP up to its selected hidden state, SAM up to the deepest hidden state
// used (or in `extra_sam_hidden_states`), everything else whole.
XSamModules build_modules(const ModelConfig& config, torch::Dtype dtype,
                          const std::vector<int>& extra_sam_hidden_states = {});

// One module with the checkpoint key prefix its tensors are bound under, and the module-side keys that
// the checkpoint spells otherwise (module key → checkpoint key).
struct BoundPart {
  std::string name;  // as `xsam info` reports the parts
  torch::nn::Module* module;
  std::string prefix;
  std::map<std::string, std::string> aliases;
};

// Every part with weights, in binding order. The prefixes follow config.behaviour's key spellings.
std::vector<BoundPart> bound_parts(const XSamModules& modules, const ModelConfig& config);

// The checkpoint key of a part's module-local tensor name (prefix, then the part's alias if any).
std::string checkpoint_key(const BoundPart& part, const std::string& local);

}  // namespace xsam
