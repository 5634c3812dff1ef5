// The upstream checkpoint layout of a config: every tensor that upstream's XSamModel.state_dict() holds,
// with its shape (docs/design/upstream-facts.md#checkpoint-keys). `xsam random-model` writes exactly this,
// `xsam layout --json` prints it (tools/xsam-export checks checkpoints against that), and the loader takes
// its allow-list of knowingly unused keys from it (docs/design/decisions.md#strict-binding).
//
// Derived, not written out: the tensors inference reads are the parameters of the modules xsam builds
// (models/xsam_modules.h), so a module and the layout cannot disagree. Upstream's state dict holds more,
// in named groups that inference never reads:
//   siglip_layers_after_selected  SigLIP layers after the selected hidden state   (a checkpoint holds them)
//   sam_blocks_after_deepest      SAM blocks after the deepest hidden state used   (a checkpoint holds them)
//   siglip_post_layernorm, siglip_head, sam_neck, shared_image_embedding           (optional: each may be
//   pad_embeds (preset "main" only)                                                 absent as a whole)
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "core/config.h"
#include "models/xsam_modules.h"

namespace xsam {

struct LayoutTensor {
  std::string name;
  std::vector<int64_t> shape;
  std::string group;      // "" when inference reads it; else the unused group it belongs to
  bool optional = false;  // its group may be absent from a checkpoint as a whole
};

// In binding order, each unused group after the part it belongs to.
std::vector<LayoutTensor> checkpoint_layout(const ModelConfig& config);

// The keys of checkpoint_layout(config) that inference does not read (the loader allows them unused);
// the first form reuses modules already built for `config` (building the decoder's is not free).
std::vector<std::string> unused_checkpoint_keys(const XSamModules& modules, const ModelConfig& config);
std::vector<std::string> unused_checkpoint_keys(const ModelConfig& config);

}  // namespace xsam
