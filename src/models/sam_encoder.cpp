#include "models/sam_encoder.h"

#include <algorithm>
#include <cmath>

#include <torch/torch.h>

#include "core/error.h"
#include "kernels/flash.h"
#include "kernels/softmax.h"

namespace xsam {

namespace {

// Score elements materialised per step: a full-size global block has 16 heads × 4096² scores; running
// them a few grid rows of queries of one head at a time (4 rows × 64 × 4096 = 1 Mi elements, 2 MiB in
// bf16) keeps the scores, the fused rel-pos + softmax pass and the product with v in the cache.
// Windowed blocks run as many windows·heads per step as fit. Per-element arithmetic is unchanged.
constexpr int64_t kChunkScores = int64_t(1) << 20;

// get_rel_pos for equal query/key sizes (always the case in X-SAM): table[qi - ki + size - 1], i.e.
// (size, size, head_dim). Upstream's F.interpolate is an exact copy when the table already has
// 2·size-1 rows, which the module guarantees by construction.
torch::Tensor relative_positions(const torch::Tensor& table, int64_t size) {
  if (table.size(0) != 2 * size - 1)
    fail(Status::Internal, "sam: relative-position table has " + std::to_string(table.size(0)) + " rows for a grid of " +
                               std::to_string(size) + " (expects " + std::to_string(2 * size - 1) + ")");
  auto coords = at::arange(size, table.options().dtype(at::kLong));  // on the table's device
  auto index = coords.unsqueeze(1) - coords.unsqueeze(0) + (size - 1);
  return table.index_select(0, index.flatten()).view({size, size, table.size(1)});
}

}  // namespace

SamVisionAttention::SamVisionAttention(const SamEncoderConfig& c, int size)
    : num_heads_(c.num_heads), use_rel_pos_(c.use_rel_pos) {
  const int64_t d = c.hidden_size, head_dim = d / c.num_heads;
  qkv_ = register_module("qkv", std::make_shared<layers::Linear>(d, 3 * d, c.qkv_bias));
  proj_ = register_module("proj", std::make_shared<layers::Linear>(d, d, true));
  if (use_rel_pos_) {
    rel_pos_h_ = register_parameter("rel_pos_h", torch::empty({2 * int64_t(size) - 1, head_dim}), false);
    rel_pos_w_ = register_parameter("rel_pos_w", torch::empty({2 * int64_t(size) - 1, head_dim}), false);
  }
}

torch::Tensor SamVisionAttention::forward(const torch::Tensor& x) const {
  const int64_t bw = x.size(0), h = x.size(1), w = x.size(2), d = x.size(3), hd = d / num_heads_;
  const int64_t n = bw * num_heads_, tokens = h * w;
  // qkv rows are [q | k | v], each split into heads of hd contiguous features; made contiguous once per
  // block (a view when bw = 1 would make every product below copy its operands instead).
  auto qkv = (*qkv_)(x).reshape({bw, tokens, 3, num_heads_, hd}).permute({2, 0, 3, 1, 4}).contiguous();
  qkv = qkv.view({3, n, tokens, hd});
  auto q = qkv[0], k = qkv[1], v = qkv[2];
  const double scale = std::pow(static_cast<double>(hd), -0.5);
  auto q_scaled = q * scale;  // upstream scales q before the product (rounded to the dtype)

  torch::Tensor rh, rw;
  if (use_rel_pos_) {
    rh = relative_positions(rel_pos_h_, h);  // (h, h, hd): varies with the key row
    rw = relative_positions(rel_pos_w_, w);  // (w, w, hd): varies with the key column
  }
  if (use_rel_pos_ && flash_attention_applies(q)) {
    // bf16 with AVX512-BF16: the fused kernel, same rounding points (kernels/flash.h).
    auto out = flash_sam_attention(q_scaled, q, k, v, rh, rw, w);
    out = out.reshape({bw, num_heads_, h, w, hd}).permute({0, 2, 3, 1, 4}).reshape({bw, h, w, d});
    return (*proj_)(out);
  }
  // A step = `nc` batch·heads × `rows` grid rows of queries (see kChunkScores).
  const int64_t per_row = w * tokens;
  const int64_t rows = std::clamp<int64_t>(kChunkScores / per_row, 1, h);
  const int64_t nc = rows < h ? 1 : std::clamp<int64_t>(kChunkScores / (h * per_row), 1, n);
  auto out = at::empty({n, tokens, hd}, q.options());
  for (int64_t s = 0; s < n; s += nc) {
    const int64_t e = std::min(n, s + nc);
    // at::bmm, not at::matmul (which copies its batched result once more); kᵀ is a transposed view
    // of contiguous rows, which the GEMM reads as is.
    auto kt = k.slice(0, s, e).transpose(-2, -1), vs = v.slice(0, s, e);
    for (int64_t r0 = 0; r0 < h; r0 += rows) {
      const int64_t r1 = std::min(h, r0 + rows);
      auto scores = at::bmm(q_scaled.slice(0, s, e).slice(1, r0 * w, r1 * w), kt);  // queries of grid rows [r0, r1)
      if (use_rel_pos_) {
        // Decomposed relative position from the UNSCALED query (docs/design/upstream-facts.md#sam-encoder), computed
        // and added inside the fused softmax with upstream's rounding: (scores + rel_h) + rel_w, then softmax in
        // fp32.
        sam_attention_softmax_(scores, q.slice(0, s, e).slice(1, r0 * w, r1 * w), rh, rw, r0, w);
      } else {
        scores = layers::softmax_fp32(scores, q.scalar_type());
      }
      auto dst = out.slice(0, s, e).slice(1, r0 * w, r1 * w);  // contiguous: rows < h only when nc = 1
      at::bmm_out(dst, scores, vs);
    }
  }
  out = out.reshape({bw, num_heads_, h, w, hd}).permute({0, 2, 3, 1, 4}).reshape({bw, h, w, d});
  return (*proj_)(out);
}

SamVisionBlock::SamVisionBlock(const SamEncoderConfig& c, int window_size) : window_size_(window_size) {
  const int64_t d = c.hidden_size;
  layer_norm1_ = register_module("layer_norm1", std::make_shared<layers::LayerNorm>(d, c.layer_norm_eps));
  attn_ = register_module("attn", std::make_shared<SamVisionAttention>(c, window_size > 0 ? window_size : c.grid()));
  layer_norm2_ = register_module("layer_norm2", std::make_shared<layers::LayerNorm>(d, c.layer_norm_eps));
  auto mlp = layers::add_group(*this, "mlp");
  lin1_ = mlp->register_module("lin1", std::make_shared<layers::Linear>(d, c.mlp_dim, true));
  lin2_ = mlp->register_module("lin2", std::make_shared<layers::Linear>(c.mlp_dim, d, true));
}

torch::Tensor SamVisionBlock::forward(const torch::Tensor& x) const {
  const int64_t b = x.size(0), gh = x.size(1), gw = x.size(2), d = x.size(3);
  auto y = (*layer_norm1_)(x);
  if (window_size_ > 0) {
    // Pad AFTER the LayerNorm (padded tokens are zeros, so their k/v are the qkv bias) and cut the
    // grid into ws×ws windows, window index = wy·(Wp/ws) + wx, all run as one batch. No mask.
    const int64_t ws = window_size_;
    const int64_t ph = (ws - gh % ws) % ws, pw = (ws - gw % ws) % ws, hp = gh + ph, wp = gw + pw;
    y = at::constant_pad_nd(y, {0, 0, 0, pw, 0, ph}, 0);
    y = y.reshape({b, hp / ws, ws, wp / ws, ws, d}).permute({0, 1, 3, 2, 4, 5}).contiguous().reshape({-1, ws, ws, d});
    y = attn_->forward(y);
    y = y.reshape({b, hp / ws, wp / ws, ws, ws, d}).permute({0, 1, 3, 2, 4, 5}).contiguous().reshape({b, hp, wp, d});
    y = y.slice(1, 0, gh).slice(2, 0, gw);
  } else {
    y = attn_->forward(y);
  }
  auto h = x + y;
  return h + (*lin2_)(at::gelu((*lin1_)((*layer_norm2_)(h))));  // exact erf GELU
}

static int max_index(const std::vector<int>& v) {
  int m = 0;
  for (int i : v) m = std::max(m, i);
  return m;
}

static std::vector<int> with_extras(const SamEncoderConfig& c, const std::vector<int>& extra) {
  std::vector<int> all{c.llm_hidden_state};
  all.insert(all.end(), c.connector_hidden_states.begin(), c.connector_hidden_states.end());
  all.insert(all.end(), extra.begin(), extra.end());
  for (int i : all)
    if (i < 0 || i > c.num_layers)
      fail(Status::InvalidArgument, "sam: hidden state index " + std::to_string(i) + " outside [0, num_layers=" +
                                        std::to_string(c.num_layers) + "]");
  return all;
}

SamEncoder::SamEncoder(const SamEncoderConfig& c, const std::vector<int>& extra_hidden_states) : config_(c) {
  if (c.image_size % c.patch_size != 0)
    fail(Status::InvalidArgument, "sam: image_size must be a multiple of patch_size");
  const int blocks = max_index(with_extras(c, extra_hidden_states));
  auto pe = layers::add_group(*this, "patch_embed");
  patch_embed_ = pe->register_module(
      "projection", std::make_shared<layers::Conv2d>(c.num_channels, c.hidden_size, c.patch_size, c.patch_size, 0, true));
  if (c.use_abs_pos)
    pos_embed_ = register_parameter("pos_embed", torch::empty({1, c.grid(), c.grid(), c.hidden_size}), false);
  auto layer_list = layers::add_group(*this, "layers");
  for (int i = 0; i < blocks; ++i) {
    bool global = std::find(c.global_attn_indexes.begin(), c.global_attn_indexes.end(), i) != c.global_attn_indexes.end();
    int ws = global ? 0 : c.window_size;
    blocks_.push_back(layer_list->register_module(std::to_string(i), std::make_shared<SamVisionBlock>(c, ws)));
  }
}

std::vector<int> SamEncoder::needed_hidden_states() const { return with_extras(config_, {}); }

std::vector<torch::Tensor> SamEncoder::forward(const torch::Tensor& pixel_values) const {
  return forward(pixel_values, needed_hidden_states());
}

std::vector<torch::Tensor> SamEncoder::forward(const torch::Tensor& pixel_values, const std::vector<int>& keep) const {
  const auto& c = config_;
  if (pixel_values.dim() != 4 || pixel_values.size(1) != c.num_channels || pixel_values.size(2) != c.image_size ||
      pixel_values.size(3) != c.image_size)
    fail(Status::InvalidArgument, "sam: pixel_values must be (B, " + std::to_string(c.num_channels) + ", " +
                                      std::to_string(c.image_size) + ", " + std::to_string(c.image_size) + ")");
  const int last = max_index(keep);
  for (int i : keep)
    if (i < 0 || i > num_blocks_built())
      fail(Status::InvalidArgument, "sam: hidden state " + std::to_string(i) + " requested but only hs[0.." +
                                        std::to_string(num_blocks_built()) + "] are built");
  std::vector<bool> wanted(last + 1, false);
  for (int i : keep) wanted[i] = true;

  std::vector<torch::Tensor> hs(last + 1);
  auto x = (*patch_embed_)(pixel_values.to(patch_embed_->weight.scalar_type())).permute({0, 2, 3, 1});
  if (pos_embed_.defined()) x = x + pos_embed_;  // added as is, never resized
  if (wanted[0]) hs[0] = x;
  for (int i = 0; i < last; ++i) {
    x = blocks_[i]->forward(x);
    if (wanted[i + 1]) hs[i + 1] = x;
  }
  return hs;
}

}  // namespace xsam
