// How much memory a model load will take, known before it starts, so that a load that cannot fit is
// refused with the numbers instead of swapping the machine to death.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include <torch/types.h>

#include "io/weights.h"

namespace xsam {

struct MemoryPlan {
  int64_t mapped_bytes = 0;     // weights used in place from the file mapping (page cache)
  int64_t converted_bytes = 0;  // weights converted at load (anonymous memory)
  int64_t working_bytes = 0;    // allowance for activations, the KV cache's touched pages, scratch
  int64_t available_bytes = -1; // MemAvailable of /proc/meminfo; -1 where unknown
  int64_t needed() const { return mapped_bytes + converted_bytes + working_bytes; }
  std::string describe() const;  // "9.25 GB weights (9.25 mapped + 0.00 converted) + 2.00 GB working; 21.3 GB available"
};

// The plan for binding `store` with math dtype `dtype` (bf16_weights: bf16 tensors stay bf16); tensors
// under `skipped_prefixes` are not loaded and not counted.
MemoryPlan plan_memory(const WeightStore& store, torch::Dtype dtype, bool bf16_weights,
                       const std::vector<std::string>& skipped_prefixes = {});

// Throws Status::OutOfMemory naming `what`, the dtype and the numbers when the plan does not fit in
// MemAvailable, with the cheaper runtime dtype to use instead where there is one.
void require_fits(const MemoryPlan& plan, const std::string& what, torch::Dtype dtype, bool bf16_weights);

// MemAvailable in bytes, or -1 where /proc/meminfo is unreadable.
int64_t available_memory_bytes();

}  // namespace xsam
