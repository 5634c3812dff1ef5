#include "core/config.h"

#include <cmath>
#include <type_traits>
#include <variant>
#include <fstream>
#include <sstream>

#include <nlohmann/json.hpp>

#include "core/error.h"
#include "core/files.h"
#include "core/json_fields.h"
#include "core/presets_data.h"

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

// ---------------------------------------------------------------- the field tables
//
// One row per config field: its key in xsam's config.json, its key in the upstream part's to_dict() (nullptr:
// not read from there, or derived by hand in parse_upstream_config), how it is read (which also bounds it),
// whether xsam's config may leave it out (then the preset's value stays), and what validation checks beyond
// the reading. One table per struct drives parse_model_config, parse_upstream_config, model_config_to_json and
// validate_model_config, so a field is added in one place.

namespace {

enum class Kind { Positive, SmallInt, Integer, Real, Bool, IntList, RealList, String, Enum };
enum class Check { None, FiniteNonNegative, FinitePositive, Finite };

// An enum field: its spelling in config.json, and the parser of that spelling (which names `path` when
// the value is unknown).
template <class S>
struct EnumAccess {
  const char* (*get)(const S&);
  void (*set)(S&, const std::string& value, const std::string& path);
};

template <class S>
using Member = std::variant<int S::*, int64_t S::*, double S::*, bool S::*, std::vector<int> S::*,
                            std::vector<double> S::*, std::string S::*, EnumAccess<S>>;

template <class S>
struct Field {
  const char* name;
  const char* upstream;
  Kind kind;
  Member<S> member;
  bool optional = false;
  Check check = Check::None;
};

template <class S>
using Table = std::vector<Field<S>>;

template <class S>
void read_field(const Fields& f, const std::string& key, const Field<S>& field, S& s) {
  const Member<S>& m = field.member;
  switch (field.kind) {
    case Kind::Positive: s.*std::get<int S::*>(m) = f.positive(key); break;
    case Kind::SmallInt: s.*std::get<int S::*>(m) = f.small_int(key); break;
    case Kind::Integer: s.*std::get<int64_t S::*>(m) = f.integer(key); break;
    case Kind::Real: s.*std::get<double S::*>(m) = f.real(key); break;
    case Kind::Bool: s.*std::get<bool S::*>(m) = f.boolean(key); break;
    case Kind::IntList: s.*std::get<std::vector<int> S::*>(m) = f.int_list(key); break;
    case Kind::RealList: s.*std::get<std::vector<double> S::*>(m) = f.real_list(key); break;
    case Kind::String: s.*std::get<std::string S::*>(m) = f.str(key); break;
    case Kind::Enum: std::get<EnumAccess<S>>(m).set(s, f.str(key), f.path(key)); break;
  }
}

// xsam's config.json: every row, under its own name.
template <class S>
void read_fields(const Fields& f, const Table<S>& table, S& s) {
  for (const auto& field : table)
    if (!field.optional || f.has(field.name)) read_field(f, field.name, field, s);
}

// A preset's part of a section: the fields it names, and nothing else.
template <class S>
void read_present_fields(const Fields& f, const Table<S>& table, S& s) {
  for (const auto& field : table)
    if (f.has(field.name)) read_field(f, field.name, field, s);
}

// An upstream part's to_dict(): the rows that have an upstream name.
template <class S>
void read_upstream_fields(const Fields& f, const Table<S>& table, S& s) {
  for (const auto& field : table)
    if (field.upstream) read_field(f, field.upstream, field, s);
}

template <class S>
json fields_to_json(const Table<S>& table, const S& s) {
  json j = json::object();
  for (const auto& field : table) {
    std::visit(
        [&](const auto& m) {
          using M = std::decay_t<decltype(m)>;
          if constexpr (std::is_same_v<M, EnumAccess<S>>) j[field.name] = m.get(s);
          else j[field.name] = s.*m;
        },
        field.member);
  }
  return j;
}

template <class S>
void check_fields(const Table<S>& table, const S& s, const char* part, const ModelConfig& c);

const Table<SiglipConfig>& siglip_fields() {
  using S = SiglipConfig;
  static const Table<S> t = {
      {"hidden_size", "hidden_size", Kind::Positive, &S::hidden_size},
      {"intermediate_size", "intermediate_size", Kind::Positive, &S::intermediate_size},
      {"num_layers", "num_hidden_layers", Kind::Positive, &S::num_layers},
      {"num_heads", "num_attention_heads", Kind::Positive, &S::num_heads},
      {"num_channels", "num_channels", Kind::Positive, &S::num_channels},
      {"image_size", "image_size", Kind::Positive, &S::image_size},
      {"patch_size", "patch_size", Kind::Positive, &S::patch_size},
      {"layer_norm_eps", "layer_norm_eps", Kind::Real, &S::layer_norm_eps, false, Check::FiniteNonNegative},
      {"select_hidden_state", nullptr, Kind::SmallInt, &S::select_hidden_state},
      {"select_token_start", nullptr, Kind::SmallInt, &S::select_token_start},
  };
  return t;
}

const Table<ProjectorConfig>& projector_fields() {
  using S = ProjectorConfig;
  static const Table<S> t = {
      {"in_features", "visual_hidden_size", Kind::Positive, &S::in_features},
      {"out_features", "llm_hidden_size", Kind::Positive, &S::out_features},
      {"downsample_ratio", "downsample_ratio", Kind::Real, &S::downsample_ratio},
      {"depth", "depth", Kind::Positive, &S::depth},
      {"bias", "bias", Kind::Bool, &S::bias},
  };
  return t;
}

const Table<SamEncoderConfig>& sam_fields() {
  using S = SamEncoderConfig;
  static const Table<S> t = {
      {"hidden_size", "hidden_size", Kind::Positive, &S::hidden_size},
      {"num_layers", "num_hidden_layers", Kind::Positive, &S::num_layers},
      {"num_heads", "num_attention_heads", Kind::Positive, &S::num_heads},
      {"num_channels", "num_channels", Kind::Positive, &S::num_channels},
      {"image_size", "image_size", Kind::Positive, &S::image_size},
      {"patch_size", "patch_size", Kind::Positive, &S::patch_size},
      {"mlp_dim", "mlp_dim", Kind::Positive, &S::mlp_dim},
      {"layer_norm_eps", "layer_norm_eps", Kind::Real, &S::layer_norm_eps, false, Check::FiniteNonNegative},
      {"qkv_bias", "qkv_bias", Kind::Bool, &S::qkv_bias},
      {"use_abs_pos", "use_abs_pos", Kind::Bool, &S::use_abs_pos},
      {"use_rel_pos", "use_rel_pos", Kind::Bool, &S::use_rel_pos},
      {"window_size", "window_size", Kind::SmallInt, &S::window_size},
      {"global_attn_indexes", "global_attn_indexes", Kind::IntList, &S::global_attn_indexes},
      {"output_channels", "output_channels", Kind::Positive, &S::output_channels},
      {"llm_hidden_state", nullptr, Kind::SmallInt, &S::llm_hidden_state},
      {"connector_hidden_states", nullptr, Kind::IntList, &S::connector_hidden_states},
  };
  return t;
}

const Table<ConnectorConfig>& connector_fields() {
  using S = ConnectorConfig;
  static const Table<S> t = {
      {"in_channels", "segmentor_encoder_channels", Kind::IntList, &S::in_channels},
      {"hidden_channels", "hidden_channels", Kind::Positive, &S::hidden_channels},
      {"scale_factors", "scale_factor", Kind::RealList, &S::scale_factors},
      {"bias", "bias", Kind::Bool, &S::bias},
      {"layer_norm_eps", nullptr, Kind::Real, &S::layer_norm_eps, false, Check::FiniteNonNegative},
  };
  return t;
}

const Table<SamplerConfig>& sampler_fields() {
  using S = SamplerConfig;
  static const Table<S> t = {
      {"num_sample_point", "num_sample_point", Kind::Positive, &S::num_sample_point},
      {"pooling", nullptr, Kind::Enum,
       EnumAccess<S>{[](const S& s) { return s.pooling == RegionPooling::Max ? "max" : "mean"; },
                     [](S& s, const std::string& v, const std::string& path) {
                       if (v == "max") s.pooling = RegionPooling::Max;
                       else if (v == "mean") s.pooling = RegionPooling::Mean;
                       else fail(Status::Format, path + ": must be \"max\" or \"mean\", got '" + v + "'");
                     }},
       true},
      {"pooling_kernel", nullptr, Kind::Positive, &S::pooling_kernel, true},
  };
  return t;
}

const Table<Phi3Config>& llm_fields() {
  using S = Phi3Config;
  static const Table<S> t = {
      {"vocab_size", "vocab_size", Kind::Positive, &S::vocab_size},
      {"hidden_size", "hidden_size", Kind::Positive, &S::hidden_size},
      {"intermediate_size", "intermediate_size", Kind::Positive, &S::intermediate_size},
      {"num_layers", "num_hidden_layers", Kind::Positive, &S::num_layers},
      {"num_heads", "num_attention_heads", Kind::Positive, &S::num_heads},
      {"num_kv_heads", "num_key_value_heads", Kind::Positive, &S::num_kv_heads},
      {"max_position_embeddings", "max_position_embeddings", Kind::Positive, &S::max_position_embeddings},
      {"rms_norm_eps", "rms_norm_eps", Kind::Real, &S::rms_norm_eps, false, Check::FiniteNonNegative},
      {"rope_theta", "rope_theta", Kind::Real, &S::rope_theta, false, Check::FinitePositive},
      {"sliding_window_keys", nullptr, Kind::SmallInt, &S::sliding_window_keys},
  };
  return t;
}

const Table<Mask2FormerConfig>& mask2former_fields() {
  using S = Mask2FormerConfig;
  static const Table<S> t = {
      {"feature_channels", "feature_channels", Kind::IntList, &S::feature_channels},
      {"num_feature_levels", "num_feature_levels", Kind::Positive, &S::num_feature_levels},
      {"feature_size", "feature_size", Kind::Positive, &S::feature_size},
      {"mask_feature_size", "mask_feature_size", Kind::Positive, &S::mask_feature_size},
      {"hidden_dim", "hidden_dim", Kind::Positive, &S::hidden_dim},
      {"encoder_feedforward_dim", "encoder_feedforward_dim", Kind::Positive, &S::encoder_feedforward_dim},
      {"encoder_layers", "encoder_layers", Kind::Positive, &S::encoder_layers},
      {"decoder_layers", "decoder_layers", Kind::Positive, &S::decoder_layers},
      {"num_heads", "num_attention_heads", Kind::Positive, &S::num_heads},
      {"dim_feedforward", "dim_feedforward", Kind::Positive, &S::dim_feedforward},
      {"num_queries", "num_queries", Kind::Positive, &S::num_queries},
      {"common_stride", "common_stride", Kind::Positive, &S::common_stride},
      {"feature_strides", "feature_strides", Kind::IntList, &S::feature_strides},
      {"num_points", nullptr, Kind::Positive, &S::num_points},
      {"group_norm_groups", nullptr, Kind::Positive, &S::group_norm_groups},
      {"layer_norm_eps", nullptr, Kind::Real, &S::layer_norm_eps, false, Check::FiniteNonNegative},
      {"mask_image_size", nullptr, Kind::Positive, &S::mask_image_size},
  };
  return t;
}

const Table<ClassHeadConfig>& class_head_fields() {
  using S = ClassHeadConfig;
  static const Table<S> t = {
      {"logit_clamp", nullptr, Kind::Real, &S::logit_clamp, false, Check::FinitePositive},
      {"masked_fill", nullptr, Kind::Real, &S::masked_fill, false, Check::Finite},
      {"pad_with_bg_minus", nullptr, Kind::Bool, &S::pad_with_bg_minus},
  };
  return t;
}

const Table<TokenIds>& token_fields() {
  using S = TokenIds;
  static const Table<S> t = {
      {"bos", nullptr, Kind::Integer, &S::bos},
      {"eos", nullptr, Kind::Integer, &S::eos},
      {"pad", nullptr, Kind::Integer, &S::pad},
      {"end", nullptr, Kind::Integer, &S::end},
      {"user", nullptr, Kind::Integer, &S::user},
      {"assistant", nullptr, Kind::Integer, &S::assistant},
      {"seg", nullptr, Kind::Integer, &S::seg},
      {"p_start", nullptr, Kind::Integer, &S::p_start},
      {"p_end", nullptr, Kind::Integer, &S::p_end},
      {"image_sentinel", nullptr, Kind::Integer, &S::image_sentinel},
      {"region_sentinel", nullptr, Kind::Integer, &S::region_sentinel},
  };
  return t;
}

const Table<TokenizerConfig>& tokenizer_fields() {
  using S = TokenizerConfig;
  static const Table<S> t = {
      {"mode", nullptr, Kind::Enum,
       EnumAccess<S>{[](const S& s) { return to_string(s.mode); },
                     [](S& s, const std::string& v, const std::string& path) {
                       if (v == "fast") s.mode = TokenizerMode::Fast;
                       else if (v == "slow") s.mode = TokenizerMode::Slow;
                       else fail(Status::Format, path + ": must be \"fast\" or \"slow\", got '" + v + "'");
                     }}},
  };
  return t;
}

const Table<PreprocessConfig>& preprocess_fields() {
  using S = PreprocessConfig;
  static const Table<S> t = {
      {"siglip_size", nullptr, Kind::Positive, &S::siglip_size},
      {"siglip_resample", nullptr, Kind::Enum,
       EnumAccess<S>{[](const S& s) { return to_string(s.siglip_resample); },
                     [](S& s, const std::string& v, const std::string& path) {
                       s.siglip_resample = resample_from_string(v, path);
                     }}},
      {"expand_to_square", nullptr, Kind::Bool, &S::expand_to_square, true},  // the preset's unless given
      {"siglip_mean", nullptr, Kind::RealList, &S::siglip_mean},
      {"siglip_std", nullptr, Kind::RealList, &S::siglip_std},
      {"sam_size", nullptr, Kind::Positive, &S::sam_size},
      {"sam_resample", nullptr, Kind::Enum,
       EnumAccess<S>{[](const S& s) { return to_string(s.sam_resample); },
                     [](S& s, const std::string& v, const std::string& path) {
                       s.sam_resample = resample_from_string(v, path);
                     }}},
      {"sam_mean", nullptr, Kind::RealList, &S::sam_mean},
      {"sam_std", nullptr, Kind::RealList, &S::sam_std},
  };
  return t;
}

// Every behaviour field is optional: the preset filled it, a present one overrides.
const Table<BehaviourConfig>& behaviour_fields() {
  using S = BehaviourConfig;
  static const Table<S> t = {
      {"image_token_text", nullptr, Kind::String, &S::image_token_text, true},
      {"drop_blank_chunks", nullptr, Kind::Bool, &S::drop_blank_chunks, true},
      {"semantic_order", nullptr, Kind::Enum,
       EnumAccess<S>{[](const S& s) {
                       return s.semantic_order == SemanticOrder::ProbsThenResize ? "probs_then_resize"
                                                                                 : "resize_logits_then_probs";
                     },
                     [](S& s, const std::string& v, const std::string& path) {
                       if (v == "probs_then_resize") s.semantic_order = SemanticOrder::ProbsThenResize;
                       else if (v == "resize_logits_then_probs") s.semantic_order = SemanticOrder::ResizeLogitsThenProbs;
                       else fail(Status::Format, path + ": unknown value '" + v + "'");
                     }},
       true},
      {"intseg_iou", nullptr, Kind::Enum,
       EnumAccess<S>{[](const S& s) { return s.intseg_iou == IntsegIou::Box ? "box" : "mask"; },
                     [](S& s, const std::string& v, const std::string& path) {
                       if (v == "box") s.intseg_iou = IntsegIou::Box;
                       else if (v == "mask") s.intseg_iou = IntsegIou::Mask;
                       else fail(Status::Format, path + ": unknown value '" + v + "'");
                     }},
       true},
      {"text_cleanup", nullptr, Kind::Enum,
       EnumAccess<S>{[](const S& s) { return s.text_cleanup == TextCleanup::Aaai26 ? "aaai26" : "main"; },
                     [](S& s, const std::string& v, const std::string& path) {
                       if (v == "aaai26") s.text_cleanup = TextCleanup::Aaai26;
                       else if (v == "main") s.text_cleanup = TextCleanup::Main;
                       else fail(Status::Format, path + ": unknown value '" + v + "'");
                     }},
       true},
      {"instance_things_only", nullptr, Kind::Bool, &S::instance_things_only, true},
      {"refseg_repeat_features", nullptr, Kind::Bool, &S::refseg_repeat_features, true},
      {"max_new_tokens", nullptr, Kind::Positive, &S::max_new_tokens, true},
      {"key_vision_prefix", nullptr, Kind::String, &S::key_vision_prefix, true},
      {"key_logit_scale", nullptr, Kind::String, &S::key_logit_scale, true},
  };
  return t;
}

void require(bool ok, const ModelConfig& c, const std::string& what) {
  if (!ok) fail(Status::Format, c.source + ": invalid config: " + what);
}

template <class S>
void check_fields(const Table<S>& table, const S& s, const char* part, const ModelConfig& c) {
  for (const auto& field : table) {
    if (field.check == Check::None) continue;
    const double v = s.*std::get<double S::*>(field.member);
    const std::string name = std::string(part) + "." + field.name;
    switch (field.check) {
      case Check::FiniteNonNegative: require(std::isfinite(v) && v >= 0, c, name + " must be a finite number >= 0"); break;
      case Check::FinitePositive: require(std::isfinite(v) && v > 0, c, name + " must be a finite number > 0"); break;
      case Check::Finite: require(std::isfinite(v), c, name + " must be finite"); break;
      case Check::None: break;
    }
  }
}

}  // namespace

// ---------------------------------------------------------------- xsam-model format

json model_config_to_json(const ModelConfig& c) {
  json j;
  j["format"] = "xsam-model";
  j["format_version"] = 1;
  j["preset"] = c.behaviour.preset;
  j["siglip"] = fields_to_json(siglip_fields(), c.siglip);
  j["visual_projector"] = fields_to_json(projector_fields(), c.visual_projector);
  j["seg_projector"] = fields_to_json(projector_fields(), c.seg_projector);
  j["llm_projector"] = fields_to_json(projector_fields(), c.llm_projector);
  j["sam"] = fields_to_json(sam_fields(), c.sam);
  j["connector"] = fields_to_json(connector_fields(), c.connector);
  j["sampler"] = fields_to_json(sampler_fields(), c.sampler);
  j["llm"] = fields_to_json(llm_fields(), c.llm);
  j["mask2former"] = fields_to_json(mask2former_fields(), c.mask2former);
  j["class_head"] = fields_to_json(class_head_fields(), c.class_head);
  j["tokens"] = fields_to_json(token_fields(), c.tokens);
  j["tokenizer"] = fields_to_json(tokenizer_fields(), c.tokenizer);
  j["preprocess"] = fields_to_json(preprocess_fields(), c.preprocess);
  j["behaviour"] = fields_to_json(behaviour_fields(), c.behaviour);
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
  const std::string preset = top.str("preset");
  try {
    apply_preset(c, preset);
  } catch (const Failure& e) {
    fail(e.status(), source + ": " + e.what());  // name the file, as every other field's error does
  }
  read_fields(top.object("siglip"), siglip_fields(), c.siglip);
  read_fields(top.object("visual_projector"), projector_fields(), c.visual_projector);
  read_fields(top.object("seg_projector"), projector_fields(), c.seg_projector);
  read_fields(top.object("llm_projector"), projector_fields(), c.llm_projector);
  read_fields(top.object("sam"), sam_fields(), c.sam);
  read_fields(top.object("connector"), connector_fields(), c.connector);
  read_fields(top.object("sampler"), sampler_fields(), c.sampler);
  read_fields(top.object("llm"), llm_fields(), c.llm);
  read_fields(top.object("mask2former"), mask2former_fields(), c.mask2former);
  if (top.has("class_head")) read_fields(top.object("class_head"), class_head_fields(), c.class_head);  // else the preset's
  read_fields(top.object("tokens"), token_fields(), c.tokens);
  read_fields(top.object("tokenizer"), tokenizer_fields(), c.tokenizer);
  read_fields(top.object("preprocess"), preprocess_fields(), c.preprocess);
  if (top.has("behaviour")) read_fields(top.object("behaviour"), behaviour_fields(), c.behaviour);
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
  read_upstream_fields(s, siglip_fields(), c.siglip);
  if (s.str("hidden_act") != "gelu_pytorch_tanh")
    fail(Status::Unsupported, s.path("hidden_act") + ": only gelu_pytorch_tanh is supported");
  // hidden_states has num_layers + 1 entries; a negative index counts from the end.
  c.siglip.select_hidden_state =
      visual_select_layer < 0 ? c.siglip.num_layers + 1 + visual_select_layer : visual_select_layer;
  c.siglip.select_token_start = rt.small_int("visual_select_indx");

  auto proj = [&](const char* name, ProjectorConfig& p) {
    Fields f = top.object(name);
    read_upstream_fields(f, projector_fields(), p);
    if (f.str("hidden_act") != "gelu") fail(Status::Unsupported, f.path("hidden_act") + ": only gelu is supported");
  };
  proj("visual_projector_config", c.visual_projector);
  proj("seg_projector_config", c.seg_projector);
  proj("llm_projector_config", c.llm_projector);

  Fields m = top.object("sam_config").object("vision_config");
  read_upstream_fields(m, sam_fields(), c.sam);
  c.sam.llm_hidden_state =
      visual_select_layer < 0 ? c.sam.num_layers + 1 + visual_select_layer : visual_select_layer;
  c.sam.connector_hidden_states = rt.int_list("seg_select_layers_used");

  Fields k = top.object("connector_config");
  if (k.str("connector_type") != "conv")
    fail(Status::Unsupported, k.path("connector_type") + ": only the conv connector is supported");
  read_upstream_fields(k, connector_fields(), c.connector);

  Fields sm = top.object("sampler_config");
  if (sm.str("sampler_type") != "naive")
    fail(Status::Unsupported, sm.path("sampler_type") + ": only the naive sampler is supported");
  read_upstream_fields(sm, sampler_fields(), c.sampler);
  // AAAI26 pools with max whatever pooler_mode says (docs/design/upstream-facts.md#vision-sampler); main reads
  // pooling_mode.

  Fields l = top.object("llm_config");
  read_upstream_fields(l, llm_fields(), c.llm);
  if (!l.is_null("rope_scaling")) fail(Status::Unsupported, l.path("rope_scaling") + ": RoPE scaling is not supported");
  // Golden sets ran eager attention, which ignores Phi-3's sliding_window (docs/design/decisions.md#sliding-window).
  c.llm.sliding_window_keys = 0;
  c.tokens.bos = l.integer("bos_token_id");
  c.tokens.eos = l.integer("eos_token_id");
  c.tokens.pad = l.integer("pad_token_id");

  Fields d = top.object("mask2former_config");
  read_upstream_fields(d, mask2former_fields(), c.mask2former);
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
  // A regular file of sane size.
  uint64_t size = 0;
  if (expect_regular_file(path) && file_kind(path, &size) == FileKind::Regular && size > (64 << 20))
    fail(Status::Format, path + ": " + std::to_string(size) + " bytes is too large for a config file");
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
  check_fields(siglip_fields(), s, "siglip", c);
  check_fields(sam_fields(), m, "sam", c);
  check_fields(connector_fields(), k, "connector", c);
  check_fields(mask2former_fields(), d, "mask2former", c);
  check_fields(llm_fields(), l, "llm", c);
  check_fields(class_head_fields(), c.class_head, "class_head", c);
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

// ---------------------------------------------------------------- presets (src/core/presets.json)

namespace {

const json& presets() {
  static const json data = json::parse(presets_json());
  return data;
}

// One entry of a presets table ("behaviour_presets", "size_presets"); an unknown name lists the known ones.
const json& preset_entry(const char* table, const std::string& name, const char* kind) {
  const json& entries = presets().at(table);
  if (!entries.contains(name)) {
    std::string known;
    for (const auto& item : entries.items()) known += (known.empty() ? "" : ", ") + item.key();
    fail(Status::InvalidArgument, std::string("preset: unknown ") + kind + " preset '" + name + "' (" + known + ")");
  }
  return entries.at(name);
}

}  // namespace

void apply_preset(ModelConfig& c, const std::string& preset) {
  Fields p(preset_entry("behaviour_presets", preset, "behaviour"), "presets.json", "behaviour_presets." + preset + ".");
  c.behaviour = BehaviourConfig{};
  c.behaviour.preset = preset;
  c.class_head = ClassHeadConfig{};
  read_present_fields(p.object("behaviour"), behaviour_fields(), c.behaviour);
  read_present_fields(p.object("class_head"), class_head_fields(), c.class_head);
  read_present_fields(p.object("sampler"), sampler_fields(), c.sampler);
  read_present_fields(p.object("preprocess"), preprocess_fields(), c.preprocess);
}

std::vector<BehaviourConfig> behaviour_presets() {
  std::vector<BehaviourConfig> out;
  for (const auto& item : presets().at("behaviour_presets").items()) {
    ModelConfig c;
    apply_preset(c, item.key());
    out.push_back(c.behaviour);
  }
  return out;
}

ModelConfig size_preset(const std::string& name) {
  json j = preset_entry("size_presets", name, "size");
  j["format"] = "xsam-model";
  j["format_version"] = 1;
  j["preset"] = "aaai26";
  ModelConfig c = parse_model_config(j, "presets.json: size_presets." + name);
  c.source = "preset:" + name;
  return c;
}

}  // namespace xsam
