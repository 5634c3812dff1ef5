// Small random Phi-3 models for the LLM unit tests.
#pragma once
#include <cmath>

#include <torch/torch.h>

#include "core/config.h"
#include "models/phi3.h"

namespace xsam::test {

// A tiny config with grouped-query attention (2 query heads per key/value head).
inline Phi3Config tiny_gqa_config() {
  Phi3Config c;
  c.vocab_size = 97;
  c.hidden_size = 32;
  c.intermediate_size = 48;
  c.num_layers = 2;
  c.num_heads = 4;
  c.num_kv_heads = 2;
  c.max_position_embeddings = 64;
  c.sliding_window_keys = 0;
  return c;
}

// Matrices N(0, 1/fan_in), embeddings N(0, 1), norm scales 1 + 0.1·N — activations stay O(1).
inline void fill_random(Phi3ModelImpl& model, uint64_t seed) {
  torch::NoGradGuard no_grad;
  auto gen = at::detail::createCPUGenerator(seed);
  for (auto& p : model.named_parameters()) {
    auto& t = p.value();
    auto values = torch::empty(t.sizes(), torch::kFloat32);
    if (p.key().find("norm") != std::string::npos) {
      values.normal_(1.0, 0.1, gen);
    } else if (p.key().find("embed_tokens") != std::string::npos) {
      values.normal_(0.0, 1.0, gen);
    } else {
      values.normal_(0.0, 1.0 / std::sqrt(static_cast<double>(t.size(1))), gen);
    }
    t.copy_(values);
  }
}

}  // namespace xsam::test
