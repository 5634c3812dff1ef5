// The exact upstream checkpoint layout (docs/design/upstream-facts.md#checkpoint-keys) for a given config: every
// tensor name and shape of XSamModel.state_dict(), including the tensors inference never reads. `xsam random-model`
// writes exactly this; the loader derives its allow-list of knowingly unused keys from it
// (docs/design/decisions.md#strict-binding).
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "core/config.h"

namespace xsam {

struct TensorSpec {
  std::string name;
  std::vector<int64_t> shape;
};

std::vector<TensorSpec> checkpoint_layout(const ModelConfig& config);

// Key prefixes present in a checkpoint that inference does not use for this config: SigLIP layers
// after the selected hidden state, its post-layernorm and pooling head, the SAM neck, SAM blocks after
// the deepest hidden state needed, and the SAM prompt encoder's shared_image_embedding. The one place
// of this rule (docs/design/decisions.md#strict-binding); the two below are its parts per module.
std::vector<std::string> unused_key_prefixes(const ModelConfig& config);

// The prefixes (each starting with `prefix`, e.g. "visual_encoder.") a SiglipVision for `config` does not
// use: encoder layers select_hidden_state .. num_layers-1, post_layernorm, head.
std::vector<std::string> siglip_unused_key_prefixes(const SiglipConfig& config, const std::string& prefix);

// The prefixes (each starting with `prefix`, e.g. "segmentor.encoder.") a SamEncoder built for `config`
// (+ extra hidden states) does not use: blocks past the highest needed hidden state, and the neck.
std::vector<std::string> sam_unused_key_prefixes(const SamEncoderConfig& config, const std::string& prefix,
                                                 const std::vector<int>& extra_hidden_states = {});

}  // namespace xsam
