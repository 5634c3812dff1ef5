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
// the deepest hidden state needed, and the SAM prompt encoder's shared_image_embedding.
std::vector<std::string> unused_key_prefixes(const ModelConfig& config);

}  // namespace xsam
