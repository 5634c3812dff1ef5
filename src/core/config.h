// Typed model configuration. Every size used anywhere in the library comes from here, and every
// behaviour that differs between upstream branches (docs/design/upstream-facts.md#branches) is a field set by a named
// preset.
//
// Two sources are read into the same structs:
//   * xsam's own config.json ("format": "xsam-model"), written by `xsam random-model` and the exporter;
//   * an upstream-style config (each part's HF to_dict(), as in the golden sets;
// docs/design/decisions.md#upstream-configs).
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json_fwd.hpp>

namespace xsam {

enum class Resample { Nearest, Bilinear, Bicubic };

struct SiglipConfig {
  int hidden_size = 0;
  int intermediate_size = 0;
  int num_layers = 0;          // layers in the checkpoint
  int num_heads = 0;
  int num_channels = 3;
  int image_size = 0;
  int patch_size = 0;
  double layer_norm_eps = 1e-6;
  int select_hidden_state = 0;  // index into hidden_states (0 = embeddings); upstream -2 → num_layers - 1
  int select_token_start = 0;   // visual_select_indx: 0 for SigLIP (all tokens kept)
  int grid() const { return image_size / patch_size; }
  int num_tokens() const { return grid() * grid(); }
  int layers_to_run() const { return select_hidden_state; }  // layers after the selected one are skipped
};

// DynamicProjector: Linear → erf GELU → Linear (depth 2), optional pixel-shuffle downsample first.
struct ProjectorConfig {
  int in_features = 0;           // visual_hidden_size (before the pixel shuffle)
  int out_features = 0;          // llm_hidden_size
  double downsample_ratio = 1.0; // 0.5 for the seg projector
  int depth = 2;
  bool bias = true;
  int input_dim() const {
    int k = static_cast<int>(1.0 / downsample_ratio);
    return in_features * k * k;
  }
};

struct SamEncoderConfig {
  int hidden_size = 0;
  int num_layers = 0;
  int num_heads = 0;
  int num_channels = 3;
  int image_size = 0;
  int patch_size = 16;
  int mlp_dim = 0;
  double layer_norm_eps = 1e-6;
  bool qkv_bias = true;
  bool use_abs_pos = true;
  bool use_rel_pos = true;
  int window_size = 0;
  std::vector<int> global_attn_indexes;
  int output_channels = 256;     // neck width (the neck is never run)
  int llm_hidden_state = 0;      // hidden-state index feeding the seg projector (hs[23] at full size)
  std::vector<int> connector_hidden_states;  // hidden-state indices feeding the connector (hs[12,18,24])
  int grid() const { return image_size / patch_size; }
  int max_hidden_state_needed() const;
};

struct ConnectorConfig {
  std::vector<int> in_channels;        // per level (SAM width)
  int hidden_channels = 0;
  std::vector<double> scale_factors;   // per level: 2, 1, 0.5
  bool bias = false;
  double layer_norm_eps = 1e-6;
  int out_channels(size_t level) const;  // channels after the pixel shuffle
};

enum class RegionPooling { Max, Mean };

struct SamplerConfig {
  int num_sample_point = 256;
  RegionPooling pooling = RegionPooling::Max;  // aaai26: max over all samples → 1 token
  int pooling_kernel = 4;                      // main: AvgPool1d(4) → num_sample_point/4 tokens
  int tokens_per_region() const { return pooling == RegionPooling::Max ? 1 : num_sample_point / pooling_kernel; }
};

struct Phi3Config {
  int vocab_size = 0;
  int hidden_size = 0;
  int intermediate_size = 0;
  int num_layers = 0;
  int num_heads = 0;
  int num_kv_heads = 0;
  int max_position_embeddings = 4096;
  double rms_norm_eps = 1e-5;
  double rope_theta = 10000.0;
  // Keys a query may see, itself included (docs/design/decisions.md#sliding-window): 2048 (released/FA2), 2047
  // (current HF), 0 = no window.
  int sliding_window_keys = 0;
  int head_dim() const { return hidden_size / num_heads; }
};

struct Mask2FormerConfig {
  std::vector<int> feature_channels;  // connector outputs, high → low resolution (512, 1024, 2048)
  int num_feature_levels = 3;
  int feature_size = 0;        // pixel-decoder width
  int mask_feature_size = 0;
  int hidden_dim = 0;          // transformer-decoder width
  int encoder_feedforward_dim = 0;
  int encoder_layers = 0;
  int decoder_layers = 0;      // HF count: decoder_layers - 1 layers are real
  int num_heads = 0;
  int dim_feedforward = 0;
  int num_queries = 0;
  int common_stride = 4;
  std::vector<int> feature_strides;
  int num_points = 4;          // MSDA sampling points, hard-coded upstream
  int group_norm_groups = 32;  // fixed upstream, whatever the width
  double layer_norm_eps = 1e-5;
  int mask_image_size = 0;     // mask logits are upsampled to this (SAM image_size)
};

struct ClassHeadConfig {
  double logit_clamp = 500.0;   // aaai26 ±500, main ±50
  double masked_fill = -1e9;    // aaai26 -1e9, main -1e6
  bool pad_with_bg_minus = true;  // aaai26 pads conditions with bg - 1e9 (B>1 only); main with zeros
};

struct TokenIds {
  int64_t bos = 1;
  int64_t eos = 32000;
  int64_t pad = 32000;
  int64_t end = 32007;        // <|end|>: the stop word
  int64_t user = 32010;
  int64_t assistant = 32001;
  int64_t seg = 32011;        // <SEG>
  int64_t p_start = 32012;    // <p>
  int64_t p_end = 32013;      // </p>
  int64_t image_sentinel = -200;
  int64_t region_sentinel = -300;
};

enum class TokenizerMode { Fast, Slow };

struct TokenizerConfig {
  TokenizerMode mode = TokenizerMode::Fast;
};

struct PreprocessConfig {
  // SigLIP path (docs/design/upstream-facts.md#preprocessing)
  int siglip_size = 0;
  Resample siglip_resample = Resample::Bilinear;
  bool expand_to_square = true;
  std::vector<double> siglip_mean{0.5, 0.5, 0.5};
  std::vector<double> siglip_std{0.5, 0.5, 0.5};
  // SAM path (docs/design/upstream-facts.md#preprocessing)
  int sam_size = 0;  // longest edge and padded canvas side
  Resample sam_resample = Resample::Bilinear;
  std::vector<double> sam_mean{0.485, 0.456, 0.406};
  std::vector<double> sam_std{0.229, 0.224, 0.225};
};

enum class SemanticOrder { ProbsThenResize /* aaai26 */, ResizeLogitsThenProbs /* main */ };
enum class IntsegIou { Box /* aaai26 */, Mask /* main */ };
enum class TextCleanup { Aaai26, Main };

// Upstream-branch behaviour (docs/design/upstream-facts.md#branches), set by a preset and overridable field by field.
// Each branch's values are in src/core/presets.json; the defaults here are the aaai26 preset's, so that a
// default-constructed config is the released model's (a unit test holds the two equal).
struct BehaviourConfig {
  std::string preset = "aaai26";
  std::string image_token_text = "<image>\n";
  bool drop_blank_chunks = false;
  SemanticOrder semantic_order = SemanticOrder::ProbsThenResize;
  IntsegIou intseg_iou = IntsegIou::Box;
  TextCleanup text_cleanup = TextCleanup::Aaai26;
  bool instance_things_only = false;
  bool refseg_repeat_features = true;
  int max_new_tokens = 512;
  std::string key_vision_prefix = "visual_encoder.";
  std::string key_logit_scale = "segmentor.logit_scale";
};

struct ModelConfig {
  std::string source;  // path of the file this was read from (for messages)
  SiglipConfig siglip;
  ProjectorConfig visual_projector;
  SamEncoderConfig sam;
  ProjectorConfig seg_projector;
  ConnectorConfig connector;
  SamplerConfig sampler;
  Phi3Config llm;
  ProjectorConfig llm_projector;
  Mask2FormerConfig mask2former;
  ClassHeadConfig class_head;
  TokenIds tokens;
  TokenizerConfig tokenizer;
  PreprocessConfig preprocess;
  BehaviourConfig behaviour;

  // Image rows that replace one <image> sentinel: SigLIP tokens then SAM (pixel-shuffled) tokens.
  int siglip_tokens() const { return siglip.num_tokens(); }
  int sam_llm_tokens() const;
  int image_tokens() const { return siglip_tokens() + sam_llm_tokens(); }
};

// A behaviour preset ("aaai26", "main") sets BehaviourConfig, ClassHeadConfig, the sampler's pooling and
// preprocess.expand_to_square to one upstream branch's choices, as src/core/presets.json lists them.
void apply_preset(ModelConfig& config, const std::string& preset);

// The behaviour of every built-in preset (e.g. to accept either branch's checkpoint key spellings).
std::vector<BehaviourConfig> behaviour_presets();

// Reads config.json of either kind (xsam-model or upstream-style). Throws xsam::Failure naming the field.
ModelConfig load_model_config(const std::string& path);
ModelConfig parse_model_config(const nlohmann::json& j, const std::string& source);
ModelConfig parse_upstream_config(const nlohmann::json& j, const std::string& source);

// xsam-model config.json text (format_version 1).
nlohmann::json model_config_to_json(const ModelConfig& config);

// Checks sizes for consistency (divisibility, positive widths, index ranges). Throws naming the field.
void validate_model_config(const ModelConfig& config);

// A built-in size preset of src/core/presets.json: "tiny" (fast tests) or "full" (the released X-SAM
// hyper-parameters), with the aaai26 behaviour.
ModelConfig size_preset(const std::string& name);

const char* to_string(Resample r);
const char* to_string(TokenizerMode m);

}  // namespace xsam
