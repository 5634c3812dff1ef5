#include "models/phi3_kv_cache.h"

#include <string>

#include <ATen/ATen.h>

#include "core/error.h"

namespace xsam {

Phi3KvCache::Phi3KvCache(const Phi3Config& config, int64_t capacity, torch::Dtype dtype, torch::Device device)
    : capacity_(capacity) {
  if (capacity <= 0)
    fail(Status::InvalidArgument, "Phi3KvCache: capacity must be positive, got " + std::to_string(capacity));
  if (config.num_layers <= 0 || config.num_kv_heads <= 0 || config.head_dim() <= 0)
    fail(Status::InvalidArgument, "Phi3KvCache: llm config has no layers, kv heads or head_dim");
  // Uninitialised on purpose: positions >= length() are never read, and untouched pages cost no memory
  // (a full-size bf16 cache of 4096 positions is 1.6 GB; a prompt of 1800 positions touches 45% of it).
  storage_ = at::empty({config.num_layers, 2, config.num_kv_heads, capacity, config.head_dim()},
                       at::TensorOptions().dtype(dtype).device(device));
}

void Phi3KvCache::truncate(int64_t n) {
  if (n < 0 || n > length_)
    fail(Status::InvalidArgument, "Phi3KvCache::truncate: n = " + std::to_string(n) + " outside [0, " +
                                      std::to_string(length_) + "]");
  length_ = n;
}

void Phi3KvCache::set_length(int64_t n) {
  if (n < 0 || n > capacity_)
    fail(Status::Limit, "Phi3KvCache: length " + std::to_string(n) + " exceeds the capacity " +
                            std::to_string(capacity_));
  length_ = n;
}

void Phi3KvCache::copy_prefix_from(const Phi3KvCache& other, int64_t n) {
  if (n < 0 || n > other.length_)
    fail(Status::InvalidArgument, "Phi3KvCache::copy_prefix_from: n = " + std::to_string(n) +
                                      " outside [0, " + std::to_string(other.length_) + "]");
  if (n > capacity_)
    fail(Status::Limit, "Phi3KvCache::copy_prefix_from: " + std::to_string(n) + " positions exceed the capacity " +
                            std::to_string(capacity_));
  auto a = storage_.sizes(), b = other.storage_.sizes();
  if (a[0] != b[0] || a[1] != b[1] || a[2] != b[2] || a[4] != b[4] || dtype() != other.dtype())
    fail(Status::InvalidArgument, "Phi3KvCache::copy_prefix_from: caches of different models or dtypes");
  at::NoGradGuard no_grad;
  storage_.narrow(3, 0, n).copy_(other.storage_.narrow(3, 0, n));
  length_ = n;
}

torch::Tensor Phi3KvCache::keys(int64_t layer) const { return storage_.select(0, layer).select(0, 0); }
torch::Tensor Phi3KvCache::values(int64_t layer) const { return storage_.select(0, layer).select(0, 1); }

}  // namespace xsam
