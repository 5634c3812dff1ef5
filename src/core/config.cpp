#include "core/config.h"

#include <sys/stat.h>

#include <cmath>
#include <fstream>
#include <sstream>

#include <nlohmann/json.hpp>

#include "core/error.h"
#include "core/json_fields.h"

namespace xsam {

using nlohmann::json;

int SamEncoderConfig::max_hidden_state_needed() const {
  int m = llm_hidden_state;
  for (int i : connector_hidden_states) m = std::max(m, i);
  return m;
}

int ConnectorConfig::out_channels(size_t level) const {
  // conv output = int(C_enc * s), then pixel shuffle by s divides channels by s².
  double s = scale_factors.at(level);
  int conv_out = static_cast<int>(in_channels.at(level) * s);
  return static_cast<int>(conv_out / (s * s));
}

int ModelConfig::sam_llm_tokens() const {
  int g = sam.grid();
  int k = static_cast<int>(1.0 / seg_projector.downsample_ratio);
  int side = (g + (g % k ? k - g % k : 0)) / k;  // maybe_pad pads odd grids before the shuffle
  return side * side;
}

const char* to_string(Resample r) {
  switch (r) {
    case Resample::Nearest: return "nearest";
    case Resample::Bilinear: return "bilinear";
    case Resample::Bicubic: return "bicubic";
  }
  return "?";
}

const char* to_string(TokenizerMode m) { return m == TokenizerMode::Fast ? "fast" : "slow"; }

static Resample resample_from_string(const std::string& s, const std::string& field) {
  if (s == "nearest") return Resample::Nearest;
  if (s == "bilinear") return Resample::Bilinear;
  if (s == "bicubic") return Resample::Bicubic;
  fail(Status::Format, field + ": unknown resample filter '" + s + "' (nearest, bilinear, bicubic)");
}

static Resample resample_from_pil(int code, const std::string& field) {
  switch (code) {
    case 0: return Resample::Nearest;
    case 2: return Resample::Bilinear;
    case 3: return Resample::Bicubic;
  }
  fail(Status::Format, field + ": unsupported PIL resample code " + std::to_string(code));
}

void apply_preset(ModelConfig& c, const std::string& preset) {
  BehaviourConfig& b = c.behaviour;
  if (preset == "aaai26") {
    b = BehaviourConfig{};
    c.class_head = ClassHeadConfig{};
    c.sampler.pooling = RegionPooling::Max;
    c.preprocess.expand_to_square = true;
  } else if (preset == "main") {
    b = BehaviourConfig{};
    b.preset = "main";
    b.image_token_text = "<image>";
    b.drop_blank_chunks = true;
    b.semantic_order = SemanticOrder::ResizeLogitsThenProbs;
    b.intseg_iou = IntsegIou::Mask;
    b.text_cleanup = TextCleanup::Main;
    b.instance_things_only = true;
    b.refseg_repeat_features = false;
    b.max_new_tokens = 2048;
    b.key_vision_prefix = "vision_encoder.";
    b.key_logit_scale = "segmentor.class_predictor.logit_scale";
    c.class_head.logit_clamp = 50.0;
    c.class_head.masked_fill = -1e6;
    c.class_head.pad_with_bg_minus = false;
    c.sampler.pooling = RegionPooling::Mean;
    c.sampler.pooling_kernel = 4;
    c.preprocess.expand_to_square = false;
  } else {
    fail(Status::InvalidArgument, "preset: unknown behaviour preset '" + preset + "' (aaai26, main)");
  }
}

// ---------------------------------------------------------------- xsam-model format

static void to_json_enums(json& j, const ModelConfig& c) {
  j["tokenizer"] = {{"mode", to_string(c.tokenizer.mode)}};
}

json model_config_to_json(const ModelConfig& c) {
  json j;
  j["format"] = "xsam-model";
  j["format_version"] = 1;
  j["preset"] = c.behaviour.preset;
  const auto& s = c.siglip;
  j["siglip"] = {{"hidden_size", s.hidden_size}, {"intermediate_size", s.intermediate_size},
                 {"num_layers", s.num_layers}, {"num_heads", s.num_heads}, {"num_channels", s.num_channels},
                 {"image_size", s.image_size}, {"patch_size", s.patch_size}, {"layer_norm_eps", s.layer_norm_eps},
                 {"select_hidden_state", s.select_hidden_state}, {"select_token_start", s.select_token_start}};
  auto proj = [](const ProjectorConfig& p) {
    return json{{"in_features", p.in_features}, {"out_features", p.out_features},
                {"downsample_ratio", p.downsample_ratio}, {"depth", p.depth}, {"bias", p.bias}};
  };
  j["visual_projector"] = proj(c.visual_projector);
  j["seg_projector"] = proj(c.seg_projector);
  j["llm_projector"] = proj(c.llm_projector);
  const auto& m = c.sam;
  j["sam"] = {{"hidden_size", m.hidden_size}, {"num_layers", m.num_layers}, {"num_heads", m.num_heads},
              {"num_channels", m.num_channels}, {"image_size", m.image_size}, {"patch_size", m.patch_size},
              {"mlp_dim", m.mlp_dim}, {"layer_norm_eps", m.layer_norm_eps}, {"qkv_bias", m.qkv_bias},
              {"use_abs_pos", m.use_abs_pos}, {"use_rel_pos", m.use_rel_pos}, {"window_size", m.window_size},
              {"global_attn_indexes", m.global_attn_indexes}, {"output_channels", m.output_channels},
              {"llm_hidden_state", m.llm_hidden_state}, {"connector_hidden_states", m.connector_hidden_states}};
  j["connector"] = {{"in_channels", c.connector.in_channels}, {"hidden_channels", c.connector.hidden_channels},
                    {"scale_factors", c.connector.scale_factors}, {"bias", c.connector.bias},
                    {"layer_norm_eps", c.connector.layer_norm_eps}};
  j["sampler"] = {{"num_sample_point", c.sampler.num_sample_point},
                  {"pooling", c.sampler.pooling == RegionPooling::Max ? "max" : "mean"},
                  {"pooling_kernel", c.sampler.pooling_kernel}};
  const auto& l = c.llm;
  j["llm"] = {{"vocab_size", l.vocab_size}, {"hidden_size", l.hidden_size},
              {"intermediate_size", l.intermediate_size}, {"num_layers", l.num_layers},
              {"num_heads", l.num_heads}, {"num_kv_heads", l.num_kv_heads},
              {"max_position_embeddings", l.max_position_embeddings}, {"rms_norm_eps", l.rms_norm_eps},
              {"rope_theta", l.rope_theta}, {"sliding_window_keys", l.sliding_window_keys}};
  const auto& d = c.mask2former;
  j["mask2former"] = {{"feature_channels", d.feature_channels}, {"num_feature_levels", d.num_feature_levels},
                      {"feature_size", d.feature_size}, {"mask_feature_size", d.mask_feature_size},
                      {"hidden_dim", d.hidden_dim}, {"encoder_feedforward_dim", d.encoder_feedforward_dim},
                      {"encoder_layers", d.encoder_layers}, {"decoder_layers", d.decoder_layers},
                      {"num_heads", d.num_heads}, {"dim_feedforward", d.dim_feedforward},
                      {"num_queries", d.num_queries}, {"common_stride", d.common_stride},
                      {"feature_strides", d.feature_strides}, {"num_points", d.num_points},
                      {"group_norm_groups", d.group_norm_groups}, {"layer_norm_eps", d.layer_norm_eps},
                      {"mask_image_size", d.mask_image_size}};
  j["class_head"] = {{"logit_clamp", c.class_head.logit_clamp}, {"masked_fill", c.class_head.masked_fill},
                     {"pad_with_bg_minus", c.class_head.pad_with_bg_minus}};
  const auto& t = c.tokens;
  j["tokens"] = {{"bos", t.bos}, {"eos", t.eos}, {"pad", t.pad}, {"end", t.end}, {"user", t.user},
                 {"assistant", t.assistant}, {"seg", t.seg}, {"p_start", t.p_start}, {"p_end", t.p_end},
                 {"image_sentinel", t.image_sentinel}, {"region_sentinel", t.region_sentinel}};
  to_json_enums(j, c);
  const auto& p = c.preprocess;
  j["preprocess"] = {{"siglip_size", p.siglip_size}, {"siglip_resample", to_string(p.siglip_resample)},
                     {"expand_to_square", p.expand_to_square}, {"siglip_mean", p.siglip_mean},
                     {"siglip_std", p.siglip_std}, {"sam_size", p.sam_size},
                     {"sam_resample", to_string(p.sam_resample)}, {"sam_mean", p.sam_mean},
                     {"sam_std", p.sam_std}};
  const auto& b = c.behaviour;
  j["behaviour"] = {{"image_token_text", b.image_token_text}, {"drop_blank_chunks", b.drop_blank_chunks},
                    {"semantic_order", b.semantic_order == SemanticOrder::ProbsThenResize ? "probs_then_resize"
                                                                                          : "resize_logits_then_probs"},
                    {"intseg_iou", b.intseg_iou == IntsegIou::Box ? "box" : "mask"},
                    {"text_cleanup", b.text_cleanup == TextCleanup::Aaai26 ? "aaai26" : "main"},
                    {"instance_things_only", b.instance_things_only},
                    {"refseg_repeat_features", b.refseg_repeat_features},
                    {"max_new_tokens", b.max_new_tokens}, {"key_vision_prefix", b.key_vision_prefix},
                    {"key_logit_scale", b.key_logit_scale}};
  return j;
}

ModelConfig parse_model_config(const json& root, const std::string& source) {
  Fields top(root, source);
  if (top.str("format") != "xsam-model")
    fail(Status::Format, source + ": field 'format' must be \"xsam-model\"");
  int version = top.small_int("format_version");
  if (version != 1)
    fail(Status::Unsupported, source + ": format_version " + std::to_string(version) + " is not supported (1)");
  ModelConfig c;
  c.source = source;
  apply_preset(c, top.str("preset"));

  Fields s = top.object("siglip");
  c.siglip.hidden_size = s.positive("hidden_size");
  c.siglip.intermediate_size = s.positive("intermediate_size");
  c.siglip.num_layers = s.positive("num_layers");
  c.siglip.num_heads = s.positive("num_heads");
  c.siglip.num_channels = s.positive("num_channels");
  c.siglip.image_size = s.positive("image_size");
  c.siglip.patch_size = s.positive("patch_size");
  c.siglip.layer_norm_eps = s.real("layer_norm_eps");
  c.siglip.select_hidden_state = s.small_int("select_hidden_state");
  c.siglip.select_token_start = s.small_int("select_token_start");

  auto proj = [&](const char* name, ProjectorConfig& p) {
    Fields f = top.object(name);
    p.in_features = f.positive("in_features");
    p.out_features = f.positive("out_features");
    p.downsample_ratio = f.real("downsample_ratio");
    p.depth = f.positive("depth");
    p.bias = f.boolean("bias");
  };
  proj("visual_projector", c.visual_projector);
  proj("seg_projector", c.seg_projector);
  proj("llm_projector", c.llm_projector);

  Fields m = top.object("sam");
  c.sam.hidden_size = m.positive("hidden_size");
  c.sam.num_layers = m.positive("num_layers");
  c.sam.num_heads = m.positive("num_heads");
  c.sam.num_channels = m.positive("num_channels");
  c.sam.image_size = m.positive("image_size");
  c.sam.patch_size = m.positive("patch_size");
  c.sam.mlp_dim = m.positive("mlp_dim");
  c.sam.layer_norm_eps = m.real("layer_norm_eps");
  c.sam.qkv_bias = m.boolean("qkv_bias");
  c.sam.use_abs_pos = m.boolean("use_abs_pos");
  c.sam.use_rel_pos = m.boolean("use_rel_pos");
  c.sam.window_size = m.small_int("window_size");
  c.sam.global_attn_indexes = m.int_list("global_attn_indexes");
  c.sam.output_channels = m.positive("output_channels");
  c.sam.llm_hidden_state = m.small_int("llm_hidden_state");
  c.sam.connector_hidden_states = m.int_list("connector_hidden_states");

  Fields k = top.object("connector");
  c.connector.in_channels = k.int_list("in_channels");
  c.connector.hidden_channels = k.positive("hidden_channels");
  c.connector.scale_factors = k.real_list("scale_factors");
  c.connector.bias = k.boolean("bias");
  c.connector.layer_norm_eps = k.real("layer_norm_eps");

  Fields sm = top.object("sampler");
  c.sampler.num_sample_point = sm.positive("num_sample_point");
  if (sm.has("pooling")) {  // otherwise the preset's choice
    std::string pooling = sm.str("pooling");
    if (pooling == "max") c.sampler.pooling = RegionPooling::Max;
    else if (pooling == "mean") c.sampler.pooling = RegionPooling::Mean;
    else fail(Status::Format, sm.path("pooling") + ": must be \"max\" or \"mean\", got '" + pooling + "'");
  }
  if (sm.has("pooling_kernel")) c.sampler.pooling_kernel = sm.positive("pooling_kernel");

  Fields l = top.object("llm");
  c.llm.vocab_size = l.positive("vocab_size");
  c.llm.hidden_size = l.positive("hidden_size");
  c.llm.intermediate_size = l.positive("intermediate_size");
  c.llm.num_layers = l.positive("num_layers");
  c.llm.num_heads = l.positive("num_heads");
  c.llm.num_kv_heads = l.positive("num_kv_heads");
  c.llm.max_position_embeddings = l.positive("max_position_embeddings");
  c.llm.rms_norm_eps = l.real("rms_norm_eps");
  c.llm.rope_theta = l.real("rope_theta");
  c.llm.sliding_window_keys = l.small_int("sliding_window_keys");

  Fields d = top.object("mask2former");
  c.mask2former.feature_channels = d.int_list("feature_channels");
  c.mask2former.num_feature_levels = d.positive("num_feature_levels");
  c.mask2former.feature_size = d.positive("feature_size");
  c.mask2former.mask_feature_size = d.positive("mask_feature_size");
  c.mask2former.hidden_dim = d.positive("hidden_dim");
  c.mask2former.encoder_feedforward_dim = d.positive("encoder_feedforward_dim");
  c.mask2former.encoder_layers = d.positive("encoder_layers");
  c.mask2former.decoder_layers = d.positive("decoder_layers");
  c.mask2former.num_heads = d.positive("num_heads");
  c.mask2former.dim_feedforward = d.positive("dim_feedforward");
  c.mask2former.num_queries = d.positive("num_queries");
  c.mask2former.common_stride = d.positive("common_stride");
  c.mask2former.feature_strides = d.int_list("feature_strides");
  c.mask2former.num_points = d.positive("num_points");
  c.mask2former.group_norm_groups = d.positive("group_norm_groups");
  c.mask2former.layer_norm_eps = d.real("layer_norm_eps");
  c.mask2former.mask_image_size = d.positive("mask_image_size");

  if (top.has("class_head")) {  // otherwise the preset's choice
    Fields h = top.object("class_head");
    c.class_head.logit_clamp = h.real("logit_clamp");
    c.class_head.masked_fill = h.real("masked_fill");
    c.class_head.pad_with_bg_minus = h.boolean("pad_with_bg_minus");
  }

  Fields t = top.object("tokens");
  c.tokens.bos = t.integer("bos");
  c.tokens.eos = t.integer("eos");
  c.tokens.pad = t.integer("pad");
  c.tokens.end = t.integer("end");
  c.tokens.user = t.integer("user");
  c.tokens.assistant = t.integer("assistant");
  c.tokens.seg = t.integer("seg");
  c.tokens.p_start = t.integer("p_start");
  c.tokens.p_end = t.integer("p_end");
  c.tokens.image_sentinel = t.integer("image_sentinel");
  c.tokens.region_sentinel = t.integer("region_sentinel");

  Fields tk = top.object("tokenizer");
  std::string mode = tk.str("mode");
  if (mode == "fast") c.tokenizer.mode = TokenizerMode::Fast;
  else if (mode == "slow") c.tokenizer.mode = TokenizerMode::Slow;
  else fail(Status::Format, tk.path("mode") + ": must be \"fast\" or \"slow\", got '" + mode + "'");

  Fields p = top.object("preprocess");
  c.preprocess.siglip_size = p.positive("siglip_size");
  c.preprocess.siglip_resample = resample_from_string(p.str("siglip_resample"), p.path("siglip_resample"));
  c.preprocess.expand_to_square = p.boolean("expand_to_square");
  c.preprocess.siglip_mean = p.real_list("siglip_mean");
  c.preprocess.siglip_std = p.real_list("siglip_std");
  c.preprocess.sam_size = p.positive("sam_size");
  c.preprocess.sam_resample = resample_from_string(p.str("sam_resample"), p.path("sam_resample"));
  c.preprocess.sam_mean = p.real_list("sam_mean");
  c.preprocess.sam_std = p.real_list("sam_std");

  // Behaviour: every field optional (the preset already filled it); present ones override.
  if (top.has("behaviour")) {
    Fields b = top.object("behaviour");
    auto& bc = c.behaviour;
    if (b.has("image_token_text")) bc.image_token_text = b.str("image_token_text");
    if (b.has("drop_blank_chunks")) bc.drop_blank_chunks = b.boolean("drop_blank_chunks");
    if (b.has("semantic_order")) {
      std::string v = b.str("semantic_order");
      if (v == "probs_then_resize") bc.semantic_order = SemanticOrder::ProbsThenResize;
      else if (v == "resize_logits_then_probs") bc.semantic_order = SemanticOrder::ResizeLogitsThenProbs;
      else fail(Status::Format, b.path("semantic_order") + ": unknown value '" + v + "'");
    }
    if (b.has("intseg_iou")) {
      std::string v = b.str("intseg_iou");
      if (v == "box") bc.intseg_iou = IntsegIou::Box;
      else if (v == "mask") bc.intseg_iou = IntsegIou::Mask;
      else fail(Status::Format, b.path("intseg_iou") + ": unknown value '" + v + "'");
    }
    if (b.has("text_cleanup")) {
      std::string v = b.str("text_cleanup");
      if (v == "aaai26") bc.text_cleanup = TextCleanup::Aaai26;
      else if (v == "main") bc.text_cleanup = TextCleanup::Main;
      else fail(Status::Format, b.path("text_cleanup") + ": unknown value '" + v + "'");
    }
    if (b.has("instance_things_only")) bc.instance_things_only = b.boolean("instance_things_only");
    if (b.has("refseg_repeat_features")) bc.refseg_repeat_features = b.boolean("refseg_repeat_features");
    if (b.has("max_new_tokens")) bc.max_new_tokens = b.positive("max_new_tokens");
    if (b.has("key_vision_prefix")) bc.key_vision_prefix = b.str("key_vision_prefix");
    if (b.has("key_logit_scale")) bc.key_logit_scale = b.str("key_logit_scale");
  }
  validate_model_config(c);
  return c;
}

// ---------------------------------------------------------------- upstream-style (golden sets)

ModelConfig parse_upstream_config(const json& root, const std::string& source) {
  Fields top(root, source);
  ModelConfig c;
  c.source = source;
  std::string branch = "AAAI26_Archive";
  if (top.has("upstream")) {
    Fields u = top.object("upstream");
    if (u.has("branch")) branch = u.str("branch");
  }
  apply_preset(c, branch == "main" ? "main" : "aaai26");

  Fields rt = top.object("xsam_runtime");
  int visual_select_layer = rt.small_int("visual_select_layer");

  Fields s = top.object("siglip_config");
  c.siglip.hidden_size = s.positive("hidden_size");
  c.siglip.intermediate_size = s.positive("intermediate_size");
  c.siglip.num_layers = s.positive("num_hidden_layers");
  c.siglip.num_heads = s.positive("num_attention_heads");
  c.siglip.num_channels = s.positive("num_channels");
  c.siglip.image_size = s.positive("image_size");
  c.siglip.patch_size = s.positive("patch_size");
  c.siglip.layer_norm_eps = s.real("layer_norm_eps");
  if (s.str("hidden_act") != "gelu_pytorch_tanh")
    fail(Status::Unsupported, s.path("hidden_act") + ": only gelu_pytorch_tanh is supported");
  // hidden_states has num_layers + 1 entries; a negative index counts from the end.
  c.siglip.select_hidden_state =
      visual_select_layer < 0 ? c.siglip.num_layers + 1 + visual_select_layer : visual_select_layer;
  c.siglip.select_token_start = rt.small_int("visual_select_indx");

  auto proj = [&](const char* name, ProjectorConfig& p) {
    Fields f = top.object(name);
    p.in_features = f.positive("visual_hidden_size");
    p.out_features = f.positive("llm_hidden_size");
    p.downsample_ratio = f.real("downsample_ratio");
    p.depth = f.positive("depth");
    p.bias = f.boolean("bias");
    if (f.str("hidden_act") != "gelu") fail(Status::Unsupported, f.path("hidden_act") + ": only gelu is supported");
  };
  proj("visual_projector_config", c.visual_projector);
  proj("seg_projector_config", c.seg_projector);
  proj("llm_projector_config", c.llm_projector);

  Fields m = top.object("sam_config").object("vision_config");
  c.sam.hidden_size = m.positive("hidden_size");
  c.sam.num_layers = m.positive("num_hidden_layers");
  c.sam.num_heads = m.positive("num_attention_heads");
  c.sam.num_channels = m.positive("num_channels");
  c.sam.image_size = m.positive("image_size");
  c.sam.patch_size = m.positive("patch_size");
  c.sam.mlp_dim = m.positive("mlp_dim");
  c.sam.layer_norm_eps = m.real("layer_norm_eps");
  c.sam.qkv_bias = m.boolean("qkv_bias");
  c.sam.use_abs_pos = m.boolean("use_abs_pos");
  c.sam.use_rel_pos = m.boolean("use_rel_pos");
  c.sam.window_size = m.small_int("window_size");
  c.sam.global_attn_indexes = m.int_list("global_attn_indexes");
  c.sam.output_channels = m.positive("output_channels");
  c.sam.llm_hidden_state =
      visual_select_layer < 0 ? c.sam.num_layers + 1 + visual_select_layer : visual_select_layer;
  c.sam.connector_hidden_states = rt.int_list("seg_select_layers_used");

  Fields k = top.object("connector_config");
  if (k.str("connector_type") != "conv")
    fail(Status::Unsupported, k.path("connector_type") + ": only the conv connector is supported");
  c.connector.in_channels = k.int_list("segmentor_encoder_channels");
  c.connector.hidden_channels = k.positive("hidden_channels");
  c.connector.scale_factors = k.real_list("scale_factor");
  c.connector.bias = k.boolean("bias");

  Fields sm = top.object("sampler_config");
  if (sm.str("sampler_type") != "naive")
    fail(Status::Unsupported, sm.path("sampler_type") + ": only the naive sampler is supported");
  c.sampler.num_sample_point = sm.positive("num_sample_point");
  // AAAI26 pools with max whatever pooler_mode says (docs/design/upstream-facts.md#vision-sampler); main reads
  // pooling_mode.

  Fields l = top.object("llm_config");
  c.llm.vocab_size = l.positive("vocab_size");
  c.llm.hidden_size = l.positive("hidden_size");
  c.llm.intermediate_size = l.positive("intermediate_size");
  c.llm.num_layers = l.positive("num_hidden_layers");
  c.llm.num_heads = l.positive("num_attention_heads");
  c.llm.num_kv_heads = l.positive("num_key_value_heads");
  c.llm.max_position_embeddings = l.positive("max_position_embeddings");
  c.llm.rms_norm_eps = l.real("rms_norm_eps");
  c.llm.rope_theta = l.real("rope_theta");
  if (!l.is_null("rope_scaling")) fail(Status::Unsupported, l.path("rope_scaling") + ": RoPE scaling is not supported");
  // Golden sets ran eager attention, which ignores Phi-3's sliding_window (docs/design/decisions.md#sliding-window).
  c.llm.sliding_window_keys = 0;
  c.tokens.bos = l.integer("bos_token_id");
  c.tokens.eos = l.integer("eos_token_id");
  c.tokens.pad = l.integer("pad_token_id");

  Fields d = top.object("mask2former_config");
  c.mask2former.feature_channels = d.int_list("feature_channels");
  c.mask2former.num_feature_levels = d.positive("num_feature_levels");
  c.mask2former.feature_size = d.positive("feature_size");
  c.mask2former.mask_feature_size = d.positive("mask_feature_size");
  c.mask2former.hidden_dim = d.positive("hidden_dim");
  c.mask2former.encoder_feedforward_dim = d.positive("encoder_feedforward_dim");
  c.mask2former.encoder_layers = d.positive("encoder_layers");
  c.mask2former.decoder_layers = d.positive("decoder_layers");
  c.mask2former.num_heads = d.positive("num_attention_heads");
  c.mask2former.dim_feedforward = d.positive("dim_feedforward");
  c.mask2former.num_queries = d.positive("num_queries");
  c.mask2former.common_stride = d.positive("common_stride");
  c.mask2former.feature_strides = d.int_list("feature_strides");
  if (d.boolean("pre_norm")) fail(Status::Unsupported, d.path("pre_norm") + ": only post-norm is supported");
  if (d.str("activation_function") != "relu")
    fail(Status::Unsupported, d.path("activation_function") + ": only relu is supported");
  c.mask2former.mask_image_size = c.sam.image_size;

  c.tokens.seg = rt.integer("seg_token_idx");
  c.tokens.p_start = rt.integer("pstart_token_idx");
  c.tokens.p_end = rt.integer("pend_token_idx");

  // Golden sets were made with HF's slow tokenizer (docs/design/decisions.md#tokenizer-mode).
  c.tokenizer.mode = TokenizerMode::Slow;

  c.preprocess.siglip_size = c.siglip.image_size;
  c.preprocess.sam_size = c.sam.image_size;
  if (top.has("tiny")) {
    Fields tiny = top.object("tiny");
    if (tiny.has("siglip_processor")) {
      Fields sp = tiny.object("siglip_processor");
      c.preprocess.siglip_resample = resample_from_pil(sp.small_int("resample"), sp.path("resample"));
      c.preprocess.siglip_mean = sp.real_list("image_mean");
      c.preprocess.siglip_std = sp.real_list("image_std");
      c.preprocess.siglip_size = sp.object("size").positive("height");
    }
    if (tiny.has("sam_processor")) {
      Fields sp = tiny.object("sam_processor");
      c.preprocess.sam_resample = resample_from_pil(sp.small_int("resample"), sp.path("resample"));
      c.preprocess.sam_mean = sp.real_list("image_mean");
      c.preprocess.sam_std = sp.real_list("image_std");
      c.preprocess.sam_size = sp.object("size").positive("longest_edge");
    }
  }
  validate_model_config(c);
  return c;
}

ModelConfig load_model_config(const std::string& path) {
  // A regular file of sane size: a FIFO or /dev/zero behind the name would block or never end.
  struct stat st {};
  if (::stat(path.c_str(), &st) == 0 && !S_ISREG(st.st_mode)) fail(Status::Io, path + ": not a regular file");
  if (::stat(path.c_str(), &st) == 0 && st.st_size > (64 << 20))
    fail(Status::Format, path + ": " + std::to_string(st.st_size) + " bytes is too large for a config file");
  std::ifstream in(path, std::ios::binary);
  if (!in) fail(Status::Io, path + ": cannot open config file");
  std::stringstream ss;
  ss << in.rdbuf();
  json j;
  try {
    j = json::parse(ss.str());
  } catch (const json::exception& e) {
    fail(Status::Format, path + ": invalid JSON: " + e.what());
  }
  if (!j.is_object()) fail(Status::Format, path + ": top level must be a JSON object");
  if (j.contains("format")) return parse_model_config(j, path);
  if (j.contains("llm_config") && j.contains("xsam_runtime")) return parse_upstream_config(j, path);
  fail(Status::Format, path + ": neither an xsam-model config (no 'format' field) nor an upstream-style config "
                              "(no 'llm_config'/'xsam_runtime')");
}

// ---------------------------------------------------------------- validation

static void require(bool ok, const ModelConfig& c, const std::string& what) {
  if (!ok) fail(Status::Format, c.source + ": invalid config: " + what);
}

void validate_model_config(const ModelConfig& c) {
  const auto& s = c.siglip;
  // First: every derived size below multiplies these; a huge grid would overflow int token counts.
  require(s.grid() <= 4096, c, "siglip.image_size / siglip.patch_size must be <= 4096 (token grid)");
  require(c.sam.grid() <= 4096, c, "sam.image_size / sam.patch_size must be <= 4096 (token grid)");
  for (auto [v, name] : {std::pair<const std::vector<int>*, const char*>{&c.connector.in_channels, "connector.in_channels"},
                         {&c.mask2former.feature_channels, "mask2former.feature_channels"},
                         {&c.mask2former.feature_strides, "mask2former.feature_strides"}})
    for (int x : *v) require(x > 0, c, std::string(name) + " entries must be > 0");
  require(s.hidden_size % s.num_heads == 0, c, "siglip.hidden_size must be divisible by siglip.num_heads");
  require(s.image_size >= s.patch_size, c, "siglip.image_size must be >= siglip.patch_size");
  require(s.select_hidden_state >= 1 && s.select_hidden_state <= s.num_layers, c,
          "siglip.select_hidden_state must be in [1, num_layers]");
  require(s.select_token_start >= 0 && s.select_token_start < s.num_tokens(), c,
          "siglip.select_token_start out of range");
  const auto& m = c.sam;
  require(m.hidden_size % m.num_heads == 0, c, "sam.hidden_size must be divisible by sam.num_heads");
  require(m.image_size % m.patch_size == 0, c, "sam.image_size must be a multiple of sam.patch_size");
  require(m.window_size >= 0, c, "sam.window_size must be >= 0");
  for (int g : m.global_attn_indexes)
    require(g >= 0 && g < m.num_layers, c, "sam.global_attn_indexes entries must be in [0, num_layers)");
  require(m.llm_hidden_state >= 0 && m.llm_hidden_state <= m.num_layers, c,
          "sam.llm_hidden_state must be in [0, num_layers]");
  for (int h : m.connector_hidden_states)
    require(h >= 0 && h <= m.num_layers, c, "sam.connector_hidden_states entries must be in [0, num_layers]");
  const auto& k = c.connector;
  require(k.in_channels.size() == k.scale_factors.size(), c,
          "connector.in_channels and connector.scale_factors must have the same length");
  require(k.in_channels.size() == m.connector_hidden_states.size(), c,
          "connector levels must match sam.connector_hidden_states");
  for (double f : k.scale_factors)
    require(f == 0.5 || f == 1.0 || f == 2.0, c, "connector.scale_factors entries must be 0.5, 1 or 2");
  require(c.visual_projector.in_features == s.hidden_size, c,
          "visual_projector.in_features must equal siglip.hidden_size");
  require(c.visual_projector.out_features == c.llm.hidden_size, c,
          "visual_projector.out_features must equal llm.hidden_size");
  require(c.seg_projector.in_features == m.hidden_size, c, "seg_projector.in_features must equal sam.hidden_size");
  require(c.seg_projector.out_features == c.llm.hidden_size, c,
          "seg_projector.out_features must equal llm.hidden_size");
  require(c.seg_projector.downsample_ratio > 0 && c.seg_projector.downsample_ratio <= 1, c,
          "seg_projector.downsample_ratio must be in (0, 1]");
  require(c.llm_projector.in_features == c.llm.hidden_size, c,
          "llm_projector.in_features must equal llm.hidden_size");
  require(c.llm_projector.out_features == c.mask2former.hidden_dim, c,
          "llm_projector.out_features must equal mask2former.hidden_dim");
  const auto& l = c.llm;
  require(l.hidden_size % l.num_heads == 0, c, "llm.hidden_size must be divisible by llm.num_heads");
  require(l.head_dim() % 2 == 0, c, "llm head_dim must be even (RoPE)");
  require(l.num_heads % l.num_kv_heads == 0, c, "llm.num_heads must be a multiple of llm.num_kv_heads");
  require(l.sliding_window_keys >= 0, c, "llm.sliding_window_keys must be >= 0");
  const auto& d = c.mask2former;
  require(static_cast<int>(d.feature_channels.size()) >= d.num_feature_levels, c,
          "mask2former.feature_channels must have num_feature_levels entries");
  require(static_cast<int>(k.in_channels.size()) == d.num_feature_levels, c,
          "connector levels must equal mask2former.num_feature_levels");
  for (int i = 0; i < d.num_feature_levels; ++i)
    require(k.out_channels(i) == d.feature_channels[d.feature_channels.size() - d.num_feature_levels + i], c,
            "connector output channels must match mask2former.feature_channels (level " + std::to_string(i) + ")");
  require(d.feature_size % d.num_heads == 0, c, "mask2former.feature_size must be divisible by num_heads");
  require(d.hidden_dim % d.num_heads == 0, c, "mask2former.hidden_dim must be divisible by num_heads");
  require(d.feature_size % d.group_norm_groups == 0, c,
          "mask2former.feature_size must be divisible by group_norm_groups");
  require(d.decoder_layers >= 2, c, "mask2former.decoder_layers must be >= 2");
  require(d.feature_size == d.hidden_dim, c,
          "mask2former.feature_size must equal hidden_dim (decoder input projections are identity)");
  require(static_cast<int>(d.feature_strides.size()) >= d.num_feature_levels, c,
          "mask2former.feature_strides too short");
  require(c.tokens.seg >= 0 && c.tokens.seg < l.vocab_size, c, "tokens.seg outside the vocabulary");
  require(c.tokens.p_start >= 0 && c.tokens.p_start < l.vocab_size, c, "tokens.p_start outside the vocabulary");
  require(c.tokens.p_end >= 0 && c.tokens.p_end < l.vocab_size, c, "tokens.p_end outside the vocabulary");
  require(c.preprocess.sam_size == m.image_size, c, "preprocess.sam_size must equal sam.image_size");
  require(c.preprocess.siglip_size == s.image_size, c, "preprocess.siglip_size must equal siglip.image_size");
  require(c.preprocess.siglip_mean.size() == 3 && c.preprocess.siglip_std.size() == 3 &&
              c.preprocess.sam_mean.size() == 3 && c.preprocess.sam_std.size() == 3,
          c, "preprocess mean/std must have 3 entries");
  for (double v : c.preprocess.siglip_std) require(v > 0, c, "preprocess.siglip_std must be > 0");
  for (double v : c.preprocess.sam_std) require(v > 0, c, "preprocess.sam_std must be > 0");
  require(c.sampler.num_sample_point > 0, c, "sampler.num_sample_point must be > 0");
  require(c.sampler.pooling != RegionPooling::Mean || c.sampler.pooling_kernel <= c.sampler.num_sample_point, c,
          "sampler.pooling_kernel must be <= sampler.num_sample_point");

  // Absurd values that pass the per-field checks but would overflow a derived size or poison the numbers
  // (tests/fuzz/fuzz_config.cpp computes every derived size under UBSan).
  for (auto [p, name] : {std::pair<const ProjectorConfig*, const char*>{&c.visual_projector, "visual_projector"},
                         {&c.seg_projector, "seg_projector"}, {&c.llm_projector, "llm_projector"}})
    require(p->downsample_ratio >= 1.0 / 64 && p->downsample_ratio <= 1, c,
            std::string(name) + ".downsample_ratio must be in [1/64, 1]");
  auto finite_nonneg = [&](double v, const char* name) {
    require(std::isfinite(v) && v >= 0, c, std::string(name) + " must be a finite number >= 0");
  };
  finite_nonneg(s.layer_norm_eps, "siglip.layer_norm_eps");
  finite_nonneg(m.layer_norm_eps, "sam.layer_norm_eps");
  finite_nonneg(k.layer_norm_eps, "connector.layer_norm_eps");
  finite_nonneg(d.layer_norm_eps, "mask2former.layer_norm_eps");
  finite_nonneg(l.rms_norm_eps, "llm.rms_norm_eps");
  require(std::isfinite(l.rope_theta) && l.rope_theta > 0, c, "llm.rope_theta must be a finite number > 0");
  require(std::isfinite(c.class_head.logit_clamp) && c.class_head.logit_clamp > 0, c,
          "class_head.logit_clamp must be a finite number > 0");
  require(std::isfinite(c.class_head.masked_fill), c, "class_head.masked_fill must be finite");
  for (const auto* v : {&c.preprocess.siglip_mean, &c.preprocess.sam_mean})
    for (double x : *v)
      require(x >= 0 && x <= 1, c, std::string(v == &c.preprocess.sam_mean ? "preprocess.sam_mean" : "preprocess.siglip_mean") +
                                       " entries must be in [0, 1]");
  for (const auto* v : {&c.preprocess.siglip_std, &c.preprocess.sam_std})
    for (double x : *v)
      require(std::isfinite(x), c, std::string(v == &c.preprocess.sam_std ? "preprocess.sam_std" : "preprocess.siglip_std") +
                                       " entries must be finite");
  const auto& t = c.tokens;
  for (auto [id, name] : {std::pair<int64_t, const char*>{t.bos, "tokens.bos"}, {t.eos, "tokens.eos"}, {t.pad, "tokens.pad"},
                          {t.end, "tokens.end"}, {t.user, "tokens.user"}, {t.assistant, "tokens.assistant"}})
    require(id >= 0 && id < l.vocab_size, c, std::string(name) + " outside the vocabulary");
  require(t.image_sentinel < 0 && t.region_sentinel < 0 && t.image_sentinel != t.region_sentinel, c,
          "tokens.image_sentinel and tokens.region_sentinel must be distinct negative ids");
}

// ---------------------------------------------------------------- size presets

ModelConfig size_preset(const std::string& name) {
  ModelConfig c;
  c.source = "preset:" + name;
  apply_preset(c, "aaai26");
  if (name == "full") {
    c.siglip = {1152, 4304, 27, 16, 3, 384, 14, 1e-6, 26, 0};
    c.visual_projector = {1152, 3072, 1.0, 2, true};
    c.sam.hidden_size = 1024; c.sam.num_layers = 24; c.sam.num_heads = 16; c.sam.image_size = 1024;
    c.sam.patch_size = 16; c.sam.mlp_dim = 4096; c.sam.window_size = 14;
    c.sam.global_attn_indexes = {5, 11, 17, 23}; c.sam.output_channels = 256;
    c.sam.llm_hidden_state = 23; c.sam.connector_hidden_states = {12, 18, 24};
    c.seg_projector = {1024, 3072, 0.5, 2, true};
    c.connector.in_channels = {1024, 1024, 1024}; c.connector.hidden_channels = 512;
    c.connector.scale_factors = {2, 1, 0.5};
    c.llm = {32014, 3072, 8192, 32, 32, 32, 4096, 1e-5, 10000.0, 2048};
    c.llm_projector = {3072, 256, 1.0, 2, true};
    auto& d = c.mask2former;
    d.feature_channels = {512, 1024, 2048}; d.num_feature_levels = 3; d.feature_size = 256;
    d.mask_feature_size = 256; d.hidden_dim = 256; d.encoder_feedforward_dim = 1024; d.encoder_layers = 6;
    d.decoder_layers = 10; d.num_heads = 8; d.dim_feedforward = 2048; d.num_queries = 200;
    d.feature_strides = {4, 8, 16, 32}; d.mask_image_size = 1024;
    c.tokenizer.mode = TokenizerMode::Fast;
    c.preprocess.siglip_size = 384; c.preprocess.sam_size = 1024;
  } else if (name == "tiny") {
    // The shapes of the aaai26-tiny golden set.
    c.siglip = {48, 96, 3, 4, 3, 112, 14, 1e-6, 2, 0};
    c.visual_projector = {48, 64, 1.0, 2, true};
    c.sam.hidden_size = 32; c.sam.num_layers = 4; c.sam.num_heads = 2; c.sam.image_size = 256;
    c.sam.patch_size = 16; c.sam.mlp_dim = 128; c.sam.window_size = 6; c.sam.global_attn_indexes = {1, 3};
    c.sam.output_channels = 32; c.sam.llm_hidden_state = 3; c.sam.connector_hidden_states = {2, 3, 4};
    c.seg_projector = {32, 64, 0.5, 2, true};
    c.connector.in_channels = {32, 32, 32}; c.connector.hidden_channels = 24; c.connector.scale_factors = {2, 1, 0.5};
    c.llm = {32014, 64, 128, 3, 4, 4, 4096, 1e-5, 10000.0, 2048};
    c.llm_projector = {64, 32, 1.0, 2, true};
    auto& d = c.mask2former;
    d.feature_channels = {16, 32, 64}; d.num_feature_levels = 3; d.feature_size = 32; d.mask_feature_size = 32;
    d.hidden_dim = 32; d.encoder_feedforward_dim = 64; d.encoder_layers = 2; d.decoder_layers = 4;
    d.num_heads = 2; d.dim_feedforward = 64; d.num_queries = 8; d.feature_strides = {4, 8, 16, 32};
    d.mask_image_size = 256;
    c.tokenizer.mode = TokenizerMode::Fast;
    c.preprocess.siglip_size = 112; c.preprocess.sam_size = 256;
  } else {
    fail(Status::InvalidArgument, "preset: unknown size preset '" + name + "' (tiny, full)");
  }
  validate_model_config(c);
  return c;
}

}  // namespace xsam
