#include "bench/flops.h"

#include <algorithm>
#include <cmath>

namespace xsam::bench {

namespace {

// 2·rows·in·out: a linear layer (or a 1×1 convolution) over `rows` positions.
double linear(double rows, double in, double out) { return 2.0 * rows * in * out; }

// A projector: Linear(in_dim → out), then depth-1 × Linear(out → out), over `rows` rows.
double projector(const ProjectorConfig& p, double rows) {
  return linear(rows, p.input_dim(), p.out_features) + (p.depth - 1) * linear(rows, p.out_features, p.out_features);
}

int64_t log2_floor(int64_t v) {
  int64_t n = 0;
  while (v > 1) {
    v /= 2;
    ++n;
  }
  return n;
}

// Sides and channels of the levels the pixel decoder's transformer sees, low → high resolution
// (level k = connector output n-1-k), and how many FPN levels it adds (pixel_decoder.cpp).
struct DecoderLevels {
  std::vector<FeatureMap> inputs;       // connector outputs, high → low resolution
  std::vector<FeatureMap> transformer;  // low → high resolution
  int64_t fpn_levels = 0;
  int64_t mask_side = 0;                // side of the mask features
};

DecoderLevels decoder_levels(const ModelConfig& c) {
  const auto& m = c.mask2former;
  DecoderLevels d;
  d.inputs = connector_outputs(c);
  const int64_t n = static_cast<int64_t>(d.inputs.size());
  const int64_t levels = std::min<int64_t>(m.num_feature_levels, n);
  for (int64_t k = 0; k < levels; ++k) d.transformer.push_back(d.inputs[static_cast<size_t>(n - 1 - k)]);
  int64_t min_stride = 0;
  const int64_t strides = static_cast<int64_t>(m.feature_strides.size());
  for (int64_t i = std::max<int64_t>(0, strides - levels); i < strides; ++i)
    min_stride = min_stride == 0 ? m.feature_strides[static_cast<size_t>(i)]
                                 : std::min<int64_t>(min_stride, m.feature_strides[static_cast<size_t>(i)]);
  d.fpn_levels = std::max<int64_t>(0, log2_floor(std::max<int64_t>(1, min_stride)) - log2_floor(m.common_stride));
  d.fpn_levels = std::min(d.fpn_levels, n);
  d.mask_side = d.fpn_levels > 0 ? d.inputs[0].side : (d.transformer.empty() ? 0 : d.transformer.back().side);
  return d;
}

}  // namespace

std::vector<FeatureMap> connector_outputs(const ModelConfig& c) {
  std::vector<FeatureMap> out;
  const int64_t g = c.sam.grid(), padded = g + g % 2;  // maybe_pad before the convs
  for (size_t l = 0; l < c.connector.in_channels.size(); ++l) {
    const double s = c.connector.scale_factors.at(l);
    out.push_back({static_cast<int64_t>(padded * s), c.connector.out_channels(l)});
  }
  return out;
}

// ---------------------------------------------------------------- vision

double siglip_flops(const ModelConfig& c) {
  const auto& s = c.siglip;
  const double t = s.num_tokens(), d = s.hidden_size, i = s.intermediate_size;
  const double patch = linear(t, double(s.num_channels) * s.patch_size * s.patch_size, d);
  // q, k, v, out projections; fc1, fc2; scores q·kᵀ and the weighted sum of v over all t keys.
  const double layer = 4 * linear(t, d, d) + linear(t, d, i) + linear(t, i, d) + 4.0 * t * t * d;
  return patch + s.layers_to_run() * layer;
}

double visual_projector_flops(const ModelConfig& c) {
  const double rows = c.siglip.num_tokens() - c.siglip.select_token_start;
  const double k = 1.0 / c.visual_projector.downsample_ratio;
  return projector(c.visual_projector, rows / (k * k));
}

double sam_flops(const ModelConfig& c) {
  const auto& s = c.sam;
  const double g = s.grid(), n = g * g, d = s.hidden_size;
  int blocks = c.sam.llm_hidden_state;
  for (int i : s.connector_hidden_states) blocks = std::max(blocks, i);
  double total = linear(n, double(s.num_channels) * s.patch_size * s.patch_size, d);
  for (int b = 0; b < blocks; ++b) {
    const bool global = std::find(s.global_attn_indexes.begin(), s.global_attn_indexes.end(), b) != s.global_attn_indexes.end();
    const double side = global || s.window_size <= 0 ? g : s.window_size;
    // Windowed blocks pad the grid to whole windows; the padded tokens go through qkv, attention, proj.
    const double padded_side = global || s.window_size <= 0 ? g : std::ceil(g / side) * side;
    const double na = padded_side * padded_side;
    const double keys = side * side;                       // keys per query
    double block = linear(na, d, 3 * d) + linear(na, d, d);  // qkv, proj
    block += 4.0 * na * keys * d;                          // scores + weighted sum (all heads)
    if (s.use_rel_pos) block += 4.0 * na * side * d;       // rel_h and rel_w terms: 2·na·side·d each
    block += linear(n, d, s.mlp_dim) + linear(n, s.mlp_dim, d);
    total += block;
  }
  return total;
}

double seg_projector_flops(const ModelConfig& c) { return projector(c.seg_projector, c.sam_llm_tokens()); }

double connector_flops(const ModelConfig& c) {
  const auto& k = c.connector;
  const double g = c.sam.grid() + c.sam.grid() % 2, hw = g * g, h = k.hidden_channels;
  double total = 0;
  for (size_t l = 0; l < k.in_channels.size(); ++l) {
    const double out = static_cast<int64_t>(k.in_channels[l] * k.scale_factors[l]);
    total += linear(hw, k.in_channels[l], h) + linear(hw, 9 * h, h) + linear(hw, h, out);  // 1×1, 3×3, 1×1
  }
  return total;
}

double pixel_decoder_flops(const ModelConfig& c) {
  const auto& m = c.mask2former;
  const DecoderLevels lv = decoder_levels(c);
  const double d = m.feature_size;
  double total = 0, tokens = 0;
  for (const auto& f : lv.transformer) {
    const double hw = double(f.side) * f.side;
    total += linear(hw, f.channels, d);  // input projection (1×1 conv)
    tokens += hw;
  }
  const double lp = double(m.num_feature_levels) * m.num_points;
  // value_proj, sampling_offsets (heads·L·P·2), attention_weights (heads·L·P), output_proj, FFN; bilinear
  // sampling: 4 taps × (multiply + add) + the attention weight, per channel and sampling point.
  const double layer = linear(tokens, d, d) + linear(tokens, d, m.num_heads * lp * 2) + linear(tokens, d, m.num_heads * lp) +
                       linear(tokens, d, d) + linear(tokens, d, m.encoder_feedforward_dim) +
                       linear(tokens, m.encoder_feedforward_dim, d) + 10.0 * tokens * lp * d;
  total += m.encoder_layers * layer;
  for (int64_t i = 0; i < lv.fpn_levels; ++i) {
    const auto& f = lv.inputs[static_cast<size_t>(i)];
    const double hw = double(f.side) * f.side;
    total += linear(hw, f.channels, d) + linear(hw, 9 * d, d);  // adapter 1×1, layer 3×3
  }
  total += linear(double(lv.mask_side) * lv.mask_side, d, m.mask_feature_size);  // mask projection
  return total;
}

double vision_flops(const ModelConfig& c) {
  return siglip_flops(c) + visual_projector_flops(c) + sam_flops(c) + seg_projector_flops(c) + connector_flops(c) +
         pixel_decoder_flops(c);
}

// ---------------------------------------------------------------- LLM

int64_t visible_keys(const Phi3Config& l, int64_t position) {
  const int64_t causal = position + 1;
  return l.sliding_window_keys > 0 ? std::min<int64_t>(causal, l.sliding_window_keys) : causal;
}

double llm_linear_flops_per_token(const Phi3Config& l) {
  const double h = l.hidden_size, hd = l.head_dim(), i = l.intermediate_size;
  const double per_layer = linear(1, h, (l.num_heads + 2.0 * l.num_kv_heads) * hd) + linear(1, l.num_heads * hd, h) +
                           linear(1, h, 2 * i) + linear(1, i, h);
  return l.num_layers * per_layer;
}

double llm_prefill_flops(const Phi3Config& l, int64_t start, int64_t tokens, int64_t logits_rows) {
  double keys = 0;
  for (int64_t p = start; p < start + tokens; ++p) keys += visible_keys(l, p);
  const double attention = 4.0 * l.num_heads * l.head_dim() * keys * l.num_layers;  // q·kᵀ and p·v
  return tokens * llm_linear_flops_per_token(l) + attention + linear(logits_rows, l.hidden_size, l.vocab_size);
}

double llm_decode_flops(const Phi3Config& l, int64_t position) { return llm_prefill_flops(l, position, 1, 1); }

double llm_decode_bytes(const Phi3Config& l, int64_t position, int64_t weight_bytes, int64_t kv_bytes) {
  const double h = l.hidden_size, hd = l.head_dim(), i = l.intermediate_size;
  const double layer_params = h * (l.num_heads + 2.0 * l.num_kv_heads) * hd + l.num_heads * hd * h + h * 2 * i + i * h + 2 * h;
  const double kv = 2.0 * l.num_kv_heads * hd * visible_keys(l, position);  // keys and values read per layer
  return weight_bytes * (l.num_layers * layer_params + h + h * double(l.vocab_size)) + kv_bytes * l.num_layers * kv;
}

double llm_weight_bytes(const Phi3Config& l, int64_t element_bytes) {
  const double h = l.hidden_size, hd = l.head_dim(), i = l.intermediate_size;
  const double layer_params = h * (l.num_heads + 2.0 * l.num_kv_heads) * hd + l.num_heads * hd * h + h * 2 * i + i * h + 2 * h;
  return element_bytes * (l.num_layers * layer_params + h + 2 * h * double(l.vocab_size));
}

// ---------------------------------------------------------------- masks

double llm_projector_flops(const ModelConfig& c, int64_t rows) { return projector(c.llm_projector, double(rows)); }

double mask_decoder_flops(const ModelConfig& c, int64_t decoder_rows, int64_t classes) {
  const auto& m = c.mask2former;
  const DecoderLevels lv = decoder_levels(c);
  const double q = m.num_queries, d = m.hidden_dim, hw_mask = double(lv.mask_side) * lv.mask_side;
  // Every prediction (initial queries + one per layer): the 3-layer mask embedder and the mask product.
  const double predict = 2 * linear(q, d, d) + linear(q, d, m.mask_feature_size) + linear(q, m.mask_feature_size, hw_mask);
  const int64_t layers = m.decoder_layers - 1;
  double total = (layers + 1) * predict;
  for (int64_t idx = 0; idx < layers; ++idx) {
    const auto& f = lv.transformer.empty() ? FeatureMap{} : lv.transformer[static_cast<size_t>(idx) % lv.transformer.size()];
    const double hw = double(f.side) * f.side;
    const double cross = linear(q, d, d) + 2 * linear(hw, d, d) + 4.0 * q * hw * d + linear(q, d, d);
    const double self = 4 * linear(q, d, d) + 4.0 * q * q * d;
    const double ffn = linear(q, d, m.dim_feedforward) + linear(q, m.dim_feedforward, d);
    total += cross + self + ffn;
  }
  total += 2.0 * q * classes * d;  // class head: cosine similarities
  return decoder_rows * total;
}

}  // namespace xsam::bench
