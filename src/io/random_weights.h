// Random weights in the exact checkpoint layout of a config, for tests (`tiny`) and benchmarks (`full`).
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include <torch/types.h>

namespace xsam {

struct NamedShape {
  std::string name;
  std::vector<int64_t> shape;
};

// Streams `tensors` (a checkpoint layout, models/checkpoint_layout.h) into a safetensors file at `path`, drawn from a
// generator seeded with `seed` (matrices N(0, 1/fan_in), norm scales 1 + 0.1·N, biases 0.1·N, query
// tables N(0, 1), logit_scale ln(100) — the golden generator's scheme, so that random models give
// non-degenerate masks), stored as `dtype`. Returns the file's sha256.
std::string write_random_checkpoint(const std::string& path, const std::vector<NamedShape>& tensors, torch::Dtype dtype,
                                    uint64_t seed);

}  // namespace xsam
