// Rotary position embedding of Phi-3 (docs/design/upstream-facts.md#phi-3): non-interleaved halves (GPT-NeoX
// `rotate_half`), inv_freq[i] = 1 / theta^(2i / head_dim), emb = cat(freqs, freqs), cos/sin computed in fp32 and then
// cast to the activation dtype (as HF Phi3RotaryEmbedding), no scaling.
//
// The tables are computed once per (device, dtype) and grown on demand, so the per-token decode step only
// takes views. The model is shared between threads, hence the mutex.
#pragma once
#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <utility>

#include <torch/types.h>

namespace xsam {

class Phi3Rope {
 public:
  Phi3Rope(int64_t head_dim, double theta, int64_t initial_positions);

  // cos and sin for positions [start, start + count), each [count, head_dim] in `dtype` on `device`.
  std::pair<torch::Tensor, torch::Tensor> tables(int64_t start, int64_t count, torch::Dtype dtype,
                                                 torch::Device device) const;

  // x·cos + rotate_half(x)·sin for x [..., count, head_dim] (cos/sin from tables()).
  static torch::Tensor apply(const torch::Tensor& x, const torch::Tensor& cos, const torch::Tensor& sin);

 private:
  struct Tables {
    torch::Tensor cos, sin;  // [positions, head_dim]
  };
  Tables compute(int64_t positions, torch::Device device) const;  // fp32

  int64_t head_dim_;
  double theta_;
  int64_t initial_positions_;
  mutable std::mutex mutex_;
  mutable std::map<std::pair<std::string, int>, Tables> cache_;  // (device, dtype) → tables
};

}  // namespace xsam
