"""The released X-SAM model's hyper-parameters and the two behaviour presets.

RELEASED_CONFIG is the `full` size preset of `src/core/config.cpp` (`size_preset("full")`) in the
xsam-model config.json format (spec §7.2; DECISIONS.md A3 for the 2048-key sliding window). The exporter
uses it in two ways: its shapes tell whether a part of a checkpoint is the released one, and its other
values (heads, eps, RoPE theta, image sizes, selected layers, ...) fill what shapes cannot tell for those
parts. Keep it in step with the C++ preset.

BEHAVIOUR_PRESETS mirrors `apply_preset` of the same file: everything that differs between the upstream
branches `AAAI26_Archive` ("aaai26", the released weights) and `main` (spec §9).
"""
import copy

IMAGENET_MEAN = [0.485, 0.456, 0.406]
IMAGENET_STD = [0.229, 0.224, 0.225]

RELEASED_CONFIG = {
    "siglip": {"hidden_size": 1152, "intermediate_size": 4304, "num_layers": 27, "num_heads": 16,
               "num_channels": 3, "image_size": 384, "patch_size": 14, "layer_norm_eps": 1e-6,
               "select_hidden_state": 26, "select_token_start": 0},
    "visual_projector": {"in_features": 1152, "out_features": 3072, "downsample_ratio": 1.0, "depth": 2, "bias": True},
    "seg_projector": {"in_features": 1024, "out_features": 3072, "downsample_ratio": 0.5, "depth": 2, "bias": True},
    "llm_projector": {"in_features": 3072, "out_features": 256, "downsample_ratio": 1.0, "depth": 2, "bias": True},
    "sam": {"hidden_size": 1024, "num_layers": 24, "num_heads": 16, "num_channels": 3, "image_size": 1024,
            "patch_size": 16, "mlp_dim": 4096, "layer_norm_eps": 1e-6, "qkv_bias": True, "use_abs_pos": True,
            "use_rel_pos": True, "window_size": 14, "global_attn_indexes": [5, 11, 17, 23],
            "output_channels": 256, "llm_hidden_state": 23, "connector_hidden_states": [12, 18, 24]},
    "connector": {"in_channels": [1024, 1024, 1024], "hidden_channels": 512, "scale_factors": [2.0, 1.0, 0.5],
                  "bias": False, "layer_norm_eps": 1e-6},
    "sampler": {"num_sample_point": 256, "pooling": "max", "pooling_kernel": 4},
    "llm": {"vocab_size": 32014, "hidden_size": 3072, "intermediate_size": 8192, "num_layers": 32,
            "num_heads": 32, "num_kv_heads": 32, "max_position_embeddings": 4096, "rms_norm_eps": 1e-5,
            "rope_theta": 10000.0, "sliding_window_keys": 2048},
    "mask2former": {"feature_channels": [512, 1024, 2048], "num_feature_levels": 3, "feature_size": 256,
                    "mask_feature_size": 256, "hidden_dim": 256, "encoder_feedforward_dim": 1024,
                    "encoder_layers": 6, "decoder_layers": 10, "num_heads": 8, "dim_feedforward": 2048,
                    "num_queries": 200, "common_stride": 4, "feature_strides": [4, 8, 16, 32], "num_points": 4,
                    "group_norm_groups": 32, "layer_norm_eps": 1e-5, "mask_image_size": 1024},
    "class_head": {"logit_clamp": 500.0, "masked_fill": -1e9, "pad_with_bg_minus": True},
    "tokens": {"bos": 1, "eos": 32000, "pad": 32000, "end": 32007, "user": 32010, "assistant": 32001,
               "seg": 32011, "p_start": 32012, "p_end": 32013, "image_sentinel": -200, "region_sentinel": -300},
    "tokenizer": {"mode": "fast"},
    "preprocess": {"siglip_size": 384, "siglip_resample": "bilinear", "expand_to_square": True,
                   "siglip_mean": [0.5, 0.5, 0.5], "siglip_std": [0.5, 0.5, 0.5], "sam_size": 1024,
                   "sam_resample": "bilinear", "sam_mean": IMAGENET_MEAN, "sam_std": IMAGENET_STD},
}

# Per preset: the fields it sets, by section (apply_preset in src/core/config.cpp).
BEHAVIOUR_PRESETS = {
    "aaai26": {
        "behaviour": {"image_token_text": "<image>\n", "drop_blank_chunks": False,
                      "semantic_order": "probs_then_resize", "intseg_iou": "box", "text_cleanup": "aaai26",
                      "instance_things_only": False, "refseg_repeat_features": True, "max_new_tokens": 512,
                      "key_vision_prefix": "visual_encoder.", "key_logit_scale": "segmentor.logit_scale"},
        "class_head": {"logit_clamp": 500.0, "masked_fill": -1e9, "pad_with_bg_minus": True},
        "sampler": {"pooling": "max"},
        "preprocess": {"expand_to_square": True},
    },
    "main": {
        "behaviour": {"image_token_text": "<image>", "drop_blank_chunks": True,
                      "semantic_order": "resize_logits_then_probs", "intseg_iou": "mask", "text_cleanup": "main",
                      "instance_things_only": True, "refseg_repeat_features": False, "max_new_tokens": 2048,
                      "key_vision_prefix": "vision_encoder.", "key_logit_scale": "segmentor.class_predictor.logit_scale"},
        "class_head": {"logit_clamp": 50.0, "masked_fill": -1e6, "pad_with_bg_minus": False},
        "sampler": {"pooling": "mean", "pooling_kernel": 4},
        "preprocess": {"expand_to_square": False},
    },
}

PRESETS = tuple(BEHAVIOUR_PRESETS)


def released_config():
    return copy.deepcopy(RELEASED_CONFIG)


def apply_preset(config, preset):
    """Sets the fields a behaviour preset owns (a deep copy of the table, so callers may edit)."""
    for section, fields in BEHAVIOUR_PRESETS[preset].items():
        config.setdefault(section, {}).update(copy.deepcopy(fields))
    config["preset"] = preset
