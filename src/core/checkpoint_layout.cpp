#include "core/checkpoint_layout.h"

#include <algorithm>
#include <cmath>

namespace xsam {

namespace {

struct Builder {
  std::vector<TensorSpec> out;
  void add(const std::string& name, std::vector<int64_t> shape) { out.push_back({name, std::move(shape)}); }
  void linear(const std::string& p, int64_t out_f, int64_t in_f, bool bias = true) {
    add(p + ".weight", {out_f, in_f});
    if (bias) add(p + ".bias", {out_f});
  }
  void norm(const std::string& p, int64_t n) {
    add(p + ".weight", {n});
    add(p + ".bias", {n});
  }
};

int fpn_levels(const Mask2FormerConfig& d) {
  // log2(min stride of the transformer levels) - log2(common_stride), as HF's pixel decoder.
  int min_stride = d.feature_strides[d.feature_strides.size() - d.num_feature_levels];
  for (size_t i = d.feature_strides.size() - d.num_feature_levels; i < d.feature_strides.size(); ++i)
    min_stride = std::min(min_stride, d.feature_strides[i]);
  return static_cast<int>(std::lround(std::log2(min_stride) - std::log2(d.common_stride)));
}

// SigLIP vision tower (all layers, post-LN and pooling head are in the checkpoint).
void add_siglip(Builder& b, const ModelConfig& c) {
  const auto& s = c.siglip;
  const std::string p = c.behaviour.key_vision_prefix + "vision_model.";
  const int64_t h = s.hidden_size;
  b.add(p + "embeddings.patch_embedding.weight", {h, s.num_channels, s.patch_size, s.patch_size});
  b.add(p + "embeddings.patch_embedding.bias", {h});
  b.add(p + "embeddings.position_embedding.weight", {s.num_tokens(), h});
  for (int i = 0; i < s.num_layers; ++i) {
    const std::string l = p + "encoder.layers." + std::to_string(i) + ".";
    for (const char* n : {"k_proj", "v_proj", "q_proj", "out_proj"}) b.linear(l + "self_attn." + n, h, h);
    b.norm(l + "layer_norm1", h);
    b.linear(l + "mlp.fc1", s.intermediate_size, h);
    b.linear(l + "mlp.fc2", h, s.intermediate_size);
    b.norm(l + "layer_norm2", h);
  }
  b.norm(p + "post_layernorm", h);
  b.add(p + "head.probe", {1, 1, h});
  b.add(p + "head.attention.in_proj_weight", {3 * h, h});
  b.add(p + "head.attention.in_proj_bias", {3 * h});
  b.linear(p + "head.attention.out_proj", h, h);
  b.norm(p + "head.layernorm", h);
  b.linear(p + "head.mlp.fc1", s.intermediate_size, h);
  b.linear(p + "head.mlp.fc2", h, s.intermediate_size);
}

// SAM ViT encoder (+ neck, unused).
void add_sam_encoder(Builder& b, const SamEncoderConfig& m) {
  const std::string p = "segmentor.encoder.";
  const int64_t d = m.hidden_size, g = m.grid(), hd = m.hidden_size / m.num_heads;
  b.add(p + "patch_embed.projection.weight", {d, m.num_channels, m.patch_size, m.patch_size});
  b.add(p + "patch_embed.projection.bias", {d});
  if (m.use_abs_pos) b.add(p + "pos_embed", {1, g, g, d});
  for (int i = 0; i < m.num_layers; ++i) {
    const std::string l = p + "layers." + std::to_string(i) + ".";
    bool global = false;
    for (int gi : m.global_attn_indexes) global |= (gi == i);
    const int64_t span = global || m.window_size == 0 ? g : m.window_size;
    b.norm(l + "layer_norm1", d);
    b.linear(l + "attn.qkv", 3 * d, d, m.qkv_bias);
    b.linear(l + "attn.proj", d, d);
    if (m.use_rel_pos) {
      b.add(l + "attn.rel_pos_h", {2 * span - 1, hd});
      b.add(l + "attn.rel_pos_w", {2 * span - 1, hd});
    }
    b.norm(l + "layer_norm2", d);
    b.linear(l + "mlp.lin1", m.mlp_dim, d);
    b.linear(l + "mlp.lin2", d, m.mlp_dim);
  }
  const int64_t o = m.output_channels;
  b.add(p + "neck.conv1.weight", {o, d, 1, 1});
  b.norm(p + "neck.layer_norm1", o);
  b.add(p + "neck.conv2.weight", {o, o, 3, 3});
  b.norm(p + "neck.layer_norm2", o);
}

// Mask2Former pixel decoder.
void add_pixel_decoder(Builder& b, const Mask2FormerConfig& d) {
  const std::string p = "segmentor.pixel_decoder.";
  const int64_t f = d.feature_size, L = d.num_feature_levels, nh = d.num_heads, np = d.num_points;
  b.add(p + "level_embed", {L, f});
  // input projections over the last L feature levels, reversed (low → high resolution)
  for (int k = 0; k < L; ++k) {
    int64_t cin = d.feature_channels[d.feature_channels.size() - 1 - k];
    const std::string q = p + "input_projections." + std::to_string(k) + ".";
    b.add(q + "0.weight", {f, cin, 1, 1});
    b.add(q + "0.bias", {f});
    b.norm(q + "1", f);
  }
  for (int i = 0; i < d.encoder_layers; ++i) {
    const std::string l = p + "encoder.layers." + std::to_string(i) + ".";
    b.linear(l + "self_attn.sampling_offsets", nh * L * np * 2, f);
    b.linear(l + "self_attn.attention_weights", nh * L * np, f);
    b.linear(l + "self_attn.value_proj", f, f);
    b.linear(l + "self_attn.output_proj", f, f);
    b.norm(l + "self_attn_layer_norm", f);
    b.linear(l + "fc1", d.encoder_feedforward_dim, f);
    b.linear(l + "fc2", f, d.encoder_feedforward_dim);
    b.norm(l + "final_layer_norm", f);
  }
  b.add(p + "mask_projection.weight", {d.mask_feature_size, f, 1, 1});
  b.add(p + "mask_projection.bias", {d.mask_feature_size});
  for (int i = 0; i < fpn_levels(d); ++i) {
    const std::string n = std::to_string(i + 1);
    b.add(p + "adapter_" + n + ".0.weight", {f, d.feature_channels[i], 1, 1});
    b.norm(p + "adapter_" + n + ".1", f);
    b.add(p + "layer_" + n + ".0.weight", {f, f, 3, 3});
    b.norm(p + "layer_" + n + ".1", f);
  }
}

// Mask2Former transformer decoder.
void add_transformer_decoder(Builder& b, const Mask2FormerConfig& d) {
  const std::string p = "segmentor.decoder.";
  const int64_t h = d.hidden_dim;
  b.add(p + "queries_embedder.weight", {d.num_queries, h});
  b.add(p + "queries_features.weight", {d.num_queries, h});
  b.add(p + "level_embed.weight", {d.num_feature_levels, h});
  b.norm(p + "decoder.layernorm", h);
  b.linear(p + "decoder.mask_predictor.mask_embedder.0.0", h, h);
  b.linear(p + "decoder.mask_predictor.mask_embedder.1.0", h, h);
  b.linear(p + "decoder.mask_predictor.mask_embedder.2.0", d.mask_feature_size, h);
  for (int i = 0; i < d.decoder_layers - 1; ++i) {
    const std::string l = p + "decoder.layers." + std::to_string(i) + ".";
    for (const char* n : {"k_proj", "v_proj", "q_proj", "out_proj"}) b.linear(l + "self_attn." + n, h, h);
    b.norm(l + "self_attn_layer_norm", h);
    b.add(l + "cross_attn.in_proj_weight", {3 * h, h});
    b.add(l + "cross_attn.in_proj_bias", {3 * h});
    b.linear(l + "cross_attn.out_proj", h, h);
    b.norm(l + "cross_attn_layer_norm", h);
    b.linear(l + "fc1", d.dim_feedforward, h);
    b.linear(l + "fc2", h, d.dim_feedforward);
    b.norm(l + "final_layer_norm", h);
  }
}

// Conv connector: 1×1 → LN2d → 3×3 → LN2d → 1×1 → LN2d per level.
void add_connector(Builder& b, const ConnectorConfig& k) {
  for (size_t l = 0; l < k.in_channels.size(); ++l) {
    const std::string p = "seg_connector.model." + std::to_string(l) + ".model.";
    const int64_t cin = k.in_channels[l], hid = k.hidden_channels;
    const int64_t cout = static_cast<int64_t>(cin * k.scale_factors[l]);
    b.add(p + "0.weight", {hid, cin, 1, 1});
    if (k.bias) b.add(p + "0.bias", {hid});
    b.norm(p + "1", hid);
    b.add(p + "2.weight", {hid, hid, 3, 3});
    if (k.bias) b.add(p + "2.bias", {hid});
    b.norm(p + "3", hid);
    b.add(p + "4.weight", {cout, hid, 1, 1});
    if (k.bias) b.add(p + "4.bias", {cout});
    b.norm(p + "5", cout);
  }
}

// Phi-3.
void add_phi3(Builder& b, const Phi3Config& l) {
  const int64_t h = l.hidden_size, hd = l.head_dim();
  b.add("llm.model.embed_tokens.weight", {l.vocab_size, h});
  for (int i = 0; i < l.num_layers; ++i) {
    const std::string p = "llm.model.layers." + std::to_string(i) + ".";
    b.add(p + "self_attn.o_proj.weight", {h, h});
    b.add(p + "self_attn.qkv_proj.weight", {(l.num_heads + 2 * l.num_kv_heads) * hd, h});
    b.add(p + "mlp.gate_up_proj.weight", {2 * static_cast<int64_t>(l.intermediate_size), h});
    b.add(p + "mlp.down_proj.weight", {h, l.intermediate_size});
    b.add(p + "input_layernorm.weight", {h});
    b.add(p + "post_attention_layernorm.weight", {h});
  }
  b.add("llm.model.norm.weight", {h});
  b.add("llm.lm_head.weight", {l.vocab_size, h});
}

void add_projector(Builder& b, const std::string& p, const ProjectorConfig& pc) {
  b.linear(p + "model.0", pc.out_features, pc.input_dim(), pc.bias);
  b.linear(p + "model.2", pc.out_features, pc.out_features, pc.bias);
}

}  // namespace

std::vector<TensorSpec> checkpoint_layout(const ModelConfig& c) {
  Builder b;
  add_siglip(b, c);
  add_projector(b, "visual_projector.", c.visual_projector);
  add_sam_encoder(b, c.sam);
  add_pixel_decoder(b, c.mask2former);
  add_transformer_decoder(b, c.mask2former);
  b.add(c.behaviour.key_logit_scale, {1});
  b.add("segmentor.shared_image_embedding.positional_embedding", {2, c.sam.output_channels / 2});
  add_projector(b, "seg_projector.", c.seg_projector);
  add_connector(b, c.connector);
  add_phi3(b, c.llm);
  add_projector(b, "llm_projector.", c.llm_projector);
  b.add("bg_embeds.weight", {1, c.mask2former.hidden_dim});
  return b.out;
}

std::vector<std::string> siglip_unused_key_prefixes(const SiglipConfig& c, const std::string& prefix) {
  std::vector<std::string> out;
  for (int i = c.layers_to_run(); i < c.num_layers; ++i)
    out.push_back(prefix + "vision_model.encoder.layers." + std::to_string(i) + ".");
  out.push_back(prefix + "vision_model.post_layernorm.");
  out.push_back(prefix + "vision_model.head.");
  return out;
}

std::vector<std::string> sam_unused_key_prefixes(const SamEncoderConfig& c, const std::string& prefix,
                                                 const std::vector<int>& extra_hidden_states) {
  int deepest = c.max_hidden_state_needed();
  for (int i : extra_hidden_states) deepest = std::max(deepest, i);
  std::vector<std::string> out;
  for (int i = deepest; i < c.num_layers; ++i) out.push_back(prefix + "layers." + std::to_string(i) + ".");
  out.push_back(prefix + "neck.");
  return out;
}

std::vector<std::string> unused_key_prefixes(const ModelConfig& c) {
  std::vector<std::string> out = siglip_unused_key_prefixes(c.siglip, c.behaviour.key_vision_prefix);
  for (auto& prefix : sam_unused_key_prefixes(c.sam, "segmentor.encoder.")) out.push_back(std::move(prefix));
  out.push_back("segmentor.shared_image_embedding.");
  return out;
}

}  // namespace xsam
