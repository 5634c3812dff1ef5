#include "pipeline/memory_plan.h"

#include <algorithm>
#include <cstdio>
#include <fstream>
#include <sstream>

#include "core/error.h"

namespace xsam {

namespace {

// Activations at the released sizes peak near 1.5 GB (the LLM prefill's MLP rows, SAM's global attention,
// the KV cache's touched pages): 2 GiB, scaled down for small models so that tiny test models need little.
int64_t working_allowance(int64_t weight_bytes) {
  const int64_t cap = int64_t{2} << 30;
  return std::min(cap, std::max<int64_t>(int64_t{64} << 20, weight_bytes / 4));
}

std::string gb(int64_t bytes) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.2f", bytes / 1e9);
  return buf;
}

}  // namespace

int64_t available_memory_bytes() {
  std::ifstream in("/proc/meminfo");
  std::string key;
  int64_t kb = 0;
  std::string unit;
  while (in >> key >> kb >> unit)
    if (key == "MemAvailable:") return kb * 1024;
  return -1;
}

std::string MemoryPlan::describe() const {
  std::ostringstream o;
  o << gb(mapped_bytes + converted_bytes) << " GB weights (" << gb(mapped_bytes) << " mapped from the file + "
    << gb(converted_bytes) << " converted) + " << gb(working_bytes) << " GB working = " << gb(needed()) << " GB; ";
  if (available_bytes >= 0)
    o << gb(available_bytes) << " GB available";
  else
    o << "available memory unknown";
  return o.str();
}

MemoryPlan plan_memory(const WeightStore& store, torch::Dtype dtype, bool bf16_weights,
                       const std::vector<std::string>& skipped_prefixes) {
  MemoryPlan plan;
  const int64_t math_size = int64_t(c10::elementSize(dtype));
  auto skipped = [&](const std::string& name) {
    for (const auto& p : skipped_prefixes)
      if (name.compare(0, p.size(), p) == 0) return true;
    return false;
  };
  for (const auto& name : store.names()) {
    if (skipped(name)) continue;
    const StTensorInfo& info = store.info(name);
    const int64_t stored = int64_t(info.end - info.begin);
    const bool is_float = info.dtype == StDtype::F32 || info.dtype == StDtype::F16 || info.dtype == StDtype::BF16;
    const int64_t elements = stored / int64_t(st_dtype_size(info.dtype));
    const bool kept = !is_float || (bf16_weights && info.dtype == StDtype::BF16) ||
                      (info.dtype == StDtype::F32 && dtype == torch::kFloat32) ||
                      (info.dtype == StDtype::BF16 && dtype == torch::kBFloat16);
    if (kept)
      plan.mapped_bytes += stored;
    else
      plan.converted_bytes += elements * math_size;
  }
  plan.working_bytes = working_allowance(plan.mapped_bytes + plan.converted_bytes);
  plan.available_bytes = available_memory_bytes();
  return plan;
}

void require_fits(const MemoryPlan& plan, const std::string& what, torch::Dtype dtype, bool bf16_weights) {
  if (plan.available_bytes < 0 || plan.needed() <= plan.available_bytes) return;
  std::string hint;
  if (dtype == torch::kFloat32 && !bf16_weights && plan.converted_bytes > 0)
    hint = ": use dtype mixed or auto (bf16 weights in memory, fp32 math: about half the weight bytes)";
  const char* name = dtype == torch::kBFloat16 ? "bf16" : bf16_weights ? "mixed" : "fp32";
  fail(Status::OutOfMemory, what + ": the " + std::string(name) + " runtime does not fit in memory: " +
                                plan.describe() + hint);
}

}  // namespace xsam
