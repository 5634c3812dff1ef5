// Phi3KvCache — the keys and values of every decoder layer for the positions already run, preallocated
// once per context so that prefill and per-token decoding never reallocate it.
//
// Layout: one tensor [layers, 2, kv_heads, capacity, head_dim] in the runtime dtype (index 0 = keys after
// RoPE, 1 = values). Positions [0, length()) are valid. The pipeline prefills the image prefix, may keep
// it (truncate back to it, or copy it into another context's cache: docs/design/decisions.md#per-image-cache), then
// prefills the rest of the prompt and decodes one token at a time through the same Phi3Model::forward.
#pragma once
#include <cstdint>

#include <torch/types.h>

#include "core/config.h"

namespace xsam {

class Phi3KvCache {
 public:
  Phi3KvCache(const Phi3Config& config, int64_t capacity, torch::Dtype dtype = torch::kFloat32,
              torch::Device device = torch::kCPU);

  int64_t length() const { return length_; }
  int64_t capacity() const { return capacity_; }
  int64_t num_layers() const { return storage_.size(0); }
  torch::Dtype dtype() const { return storage_.scalar_type(); }
  torch::Device device() const { return storage_.device(); }
  size_t bytes() const { return storage_.numel() * storage_.element_size(); }

  // Forget every position from n on (n <= length()); the storage is kept.
  void truncate(int64_t n);
  void clear() { length_ = 0; }

  // This cache becomes the first n positions of `other` (same shapes and dtype; n <= other.length()).
  void copy_prefix_from(const Phi3KvCache& other, int64_t n);

  // Views of the whole capacity, [kv_heads, capacity, head_dim]; used by Phi3Model::forward.
  torch::Tensor keys(int64_t layer) const;
  torch::Tensor values(int64_t layer) const;

  // Called by Phi3Model::forward once every layer has written positions [length(), n).
  void set_length(int64_t n);

 private:
  torch::Tensor storage_;
  int64_t capacity_ = 0;
  int64_t length_ = 0;
};

}  // namespace xsam
