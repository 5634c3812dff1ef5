// Multi-scale deformable attention (Deformable DETR) as used by the Mask2Former pixel-decoder encoder
// (docs/design/upstream-facts.md#deformable-attention). Parameter names are those under `encoder.layers.N.self_attn.`
// of the checkpoint.
#pragma once
#include <cstdint>
#include <vector>

#include <torch/nn/module.h>
#include <torch/nn/modules/linear.h>
#include <torch/nn/pimpl.h>

namespace xsam {

// Height and width of one feature level, in the order the levels are flattened.
struct LevelShape {
  int64_t height = 0;
  int64_t width = 0;
  int64_t size() const { return height * width; }
};

// The sampling core, without parameters.
//   value      (B, N, heads, head_dim)  the flattened levels, level after level, row-major inside a level
//   locations  (B, Q, heads, levels, points, 2)  (x, y) in [0, 1] of each level's map (0 = left/top edge)
//   weights    (B, Q, heads, levels, points)  attention weights (already softmaxed)
// Each level is sampled with bilinear grid_sample (zeros outside, align_corners=False) in fp32; the
// samples are rounded back to value's dtype and the weighted sum runs in that dtype, as upstream does.
// Returns (B, Q, heads·head_dim), channels head-major.
torch::Tensor ms_deform_attn_sample(const torch::Tensor& value, const std::vector<LevelShape>& shapes,
                                    const torch::Tensor& locations, const torch::Tensor& weights);

class MsDeformAttnImpl : public torch::nn::Module {
 public:
  MsDeformAttnImpl(int64_t d_model, int64_t num_heads, int64_t num_levels, int64_t num_points);

  // hidden     (B, N, d_model)  the flattened levels; also the value source (without position embedding)
  // position   (B, N, d_model)  position (+ level) embedding, added to the query side only
  // reference  (B, N, levels, 2) reference point per token and target level, (x, y) in [0, 1]
  torch::Tensor forward(const torch::Tensor& hidden, const torch::Tensor& position, const torch::Tensor& reference,
                        const std::vector<LevelShape>& shapes);

  int64_t num_heads() const { return num_heads_; }

 private:
  int64_t d_model_, num_heads_, num_levels_, num_points_;
  torch::nn::Linear sampling_offsets_{nullptr};   // → [head][level][point][xy]
  torch::nn::Linear attention_weights_{nullptr};  // → [head][level·point]
  torch::nn::Linear value_proj_{nullptr};
  torch::nn::Linear output_proj_{nullptr};
};
TORCH_MODULE(MsDeformAttn);

}  // namespace xsam
