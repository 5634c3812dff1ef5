"""Exporter config.json: sizes from shapes, the rest from the upstream config / explicit values / the
released model, branch detection, and refusal of inconsistent sources."""
import json
import math
import os
import struct

import pytest
import torch

from test_export_support import (GOLDEN_CONFIG, GOLDEN_MODEL, GOLDEN_TOKENIZER, export_tiny, golden_hparams,
                                 golden_state_dict, golden_upstream_config, read_safetensors_header,
                                 require_xsam_binary, run_export, save_bin, write_hparams, xsam_layout_json)

SECTIONS = ["behaviour", "class_head", "connector", "format", "format_version", "llm", "llm_projector",
            "mask2former", "preprocess", "preset", "sam", "sampler", "seg_projector", "siglip", "tokenizer",
            "tokens", "visual_projector"]


def load_config(out):
    with open(os.path.join(out, "config.json")) as f:
        return json.load(f)


def check_golden_sizes(c):
    """The exported config against the golden upstream config.json (the oracle)."""
    up = golden_upstream_config()
    sig, sam, llm = up["siglip_config"], up["sam_config"]["vision_config"], up["llm_config"]
    m2f, rt = up["mask2former_config"], up["xsam_runtime"]
    assert sorted(c) == SECTIONS
    assert (c["format"], c["format_version"], c["preset"]) == ("xsam-model", 1, "aaai26")
    s = c["siglip"]
    assert (s["hidden_size"], s["intermediate_size"], s["num_layers"], s["num_heads"], s["image_size"],
            s["patch_size"], s["num_channels"]) == (sig["hidden_size"], sig["intermediate_size"],
                                                    sig["num_hidden_layers"], sig["num_attention_heads"],
                                                    sig["image_size"], sig["patch_size"], sig["num_channels"])
    assert s["select_hidden_state"] == sig["num_hidden_layers"] - 1 and s["layer_norm_eps"] == sig["layer_norm_eps"]
    m = c["sam"]
    assert (m["hidden_size"], m["num_layers"], m["num_heads"], m["image_size"], m["patch_size"], m["mlp_dim"],
            m["window_size"], m["global_attn_indexes"], m["output_channels"]) == \
        (sam["hidden_size"], sam["num_hidden_layers"], sam["num_attention_heads"], sam["image_size"],
         sam["patch_size"], sam["mlp_dim"], sam["window_size"], sam["global_attn_indexes"], sam["output_channels"])
    assert (m["qkv_bias"], m["use_abs_pos"], m["use_rel_pos"]) == (True, True, True)
    assert m["llm_hidden_state"] == sam["num_hidden_layers"] - 1
    assert m["connector_hidden_states"] == rt["seg_select_layers_used"]
    k = c["connector"]
    assert k["in_channels"] == [sam["hidden_size"]] * 3 and k["scale_factors"] == [2.0, 1.0, 0.5]
    assert k["hidden_channels"] == up["connector_config"]["hidden_channels"] and k["bias"] is False
    l = c["llm"]
    assert (l["vocab_size"], l["hidden_size"], l["intermediate_size"], l["num_layers"], l["num_heads"],
            l["num_kv_heads"], l["rms_norm_eps"], l["rope_theta"], l["max_position_embeddings"]) == \
        (llm["vocab_size"], llm["hidden_size"], llm["intermediate_size"], llm["num_hidden_layers"],
         llm["num_attention_heads"], llm["num_key_value_heads"], llm["rms_norm_eps"], llm["rope_theta"],
         llm["max_position_embeddings"])
    assert l["sliding_window_keys"] == 0  # the goldens ran eager attention (docs/design/decisions.md#sliding-window)
    for name, width_in, width_out, ratio in (("visual_projector", sig["hidden_size"], llm["hidden_size"], 1.0),
                                             ("seg_projector", sam["hidden_size"], llm["hidden_size"], 0.5),
                                             ("llm_projector", llm["hidden_size"], m2f["hidden_dim"], 1.0)):
        assert c[name] == {"in_features": width_in, "out_features": width_out, "downsample_ratio": ratio,
                           "depth": 2, "bias": True}, name
    d = c["mask2former"]
    for field in ("feature_channels", "num_feature_levels", "feature_size", "mask_feature_size", "hidden_dim",
                  "encoder_feedforward_dim", "encoder_layers", "decoder_layers", "dim_feedforward", "num_queries",
                  "common_stride", "feature_strides"):
        assert d[field] == m2f[field], field
    assert d["num_heads"] == m2f["num_attention_heads"]
    assert (d["num_points"], d["group_norm_groups"], d["mask_image_size"]) == (4, 32, sam["image_size"])
    t = c["tokens"]
    assert (t["bos"], t["eos"], t["pad"], t["end"], t["user"], t["assistant"]) == (1, 32000, 32000, 32007, 32010, 32001)
    assert (t["seg"], t["p_start"], t["p_end"]) == (rt["seg_token_idx"], rt["pstart_token_idx"], rt["pend_token_idx"])
    assert (t["image_sentinel"], t["region_sentinel"]) == (-200, -300)
    assert c["tokenizer"] == {"mode": "slow"}  # no tokenizer.json in the golden tokenizer directory
    p = c["preprocess"]
    assert (p["siglip_size"], p["sam_size"], p["siglip_resample"], p["sam_resample"]) == (112, 256, "bilinear", "bilinear")
    assert p["expand_to_square"] is True
    b = c["behaviour"]
    assert (b["image_token_text"], b["key_vision_prefix"], b["key_logit_scale"]) == \
        ("<image>\n", "visual_encoder.", "segmentor.logit_scale")
    assert c["class_head"] == {"logit_clamp": 500.0, "masked_fill": -1e9, "pad_with_bg_minus": True}
    assert c["sampler"]["pooling"] == "max"


def test_config_from_explicit_hparams(tmp_path):
    check_golden_sizes(load_config(export_tiny(tmp_path, GOLDEN_MODEL)))


def test_config_from_upstream_config(tmp_path):
    xsam = require_xsam_binary()
    ckpt = save_bin(tmp_path, golden_state_dict(torch.float32))
    out = str(tmp_path / "out")
    run_export("--checkpoint", ckpt, "--tokenizer", GOLDEN_TOKENIZER, "--out", out, "--upstream-config",
               GOLDEN_CONFIG, "--xsam-bin", xsam)
    c = load_config(out)
    check_golden_sizes(c)
    # Both routes agree on every field.
    assert c == load_config(export_tiny(tmp_path, GOLDEN_MODEL, "hparams"))


def test_released_values_are_refused_for_other_shapes(tmp_path):
    run = run_export("--checkpoint", GOLDEN_MODEL, "--tokenizer", GOLDEN_TOKENIZER, "--out", str(tmp_path / "o"),
                     check=False)
    assert run.returncode == 1
    assert "--upstream-config" in run.stderr
    for field in ("siglip.num_heads", "siglip.image_size", "siglip.select_hidden_state", "sam.llm_hidden_state",
                  "sam.connector_hidden_states", "llm.num_heads", "mask2former.num_heads"):
        assert field in run.stderr, field
    assert not os.path.exists(tmp_path / "o")


def test_a_source_contradicting_the_shapes_is_refused(tmp_path):
    run = run_export("--checkpoint", GOLDEN_MODEL, "--tokenizer", GOLDEN_TOKENIZER, "--out", str(tmp_path / "o"),
                     "--hparams", write_hparams(tmp_path), "--set", "llm.hidden_size=128",
                     "--set", "sam.window_size=7", check=False)
    assert run.returncode == 1
    assert "llm.hidden_size: --set says 128, the checkpoint's shapes say 64" in run.stderr
    assert "sam.window_size: --set says 7, the checkpoint's shapes say 6" in run.stderr


@pytest.mark.parametrize("section,heads,message", [
    ("llm", 5, "llm.num_heads: 5 heads do not divide the width 64"),
    ("mask2former", 3, "mask2former.num_heads: 3 heads x 3 levels do not explain the MSDA projections"),
    ("siglip", 5, "siglip.num_heads: 5 heads do not divide the width 48"),
])
def test_head_count_that_cannot_explain_the_shapes_is_refused(tmp_path, section, heads, message):
    hp = golden_hparams()
    hp[section]["num_heads"] = heads
    run = run_export("--checkpoint", GOLDEN_MODEL, "--tokenizer", GOLDEN_TOKENIZER, "--out", str(tmp_path / "o"),
                     "--hparams", write_hparams(tmp_path, hp), check=False)
    assert run.returncode == 1
    assert message in run.stderr


def test_sam_heads_are_read_from_the_relative_positions(tmp_path):
    run = run_export("--checkpoint", GOLDEN_MODEL, "--tokenizer", GOLDEN_TOKENIZER, "--out", str(tmp_path / "o"),
                     "--hparams", write_hparams(tmp_path), "--set", "sam.num_heads=4", check=False)
    assert run.returncode == 1
    assert "sam.num_heads: --set says 4, the checkpoint's shapes say 2" in run.stderr


def test_set_overrides_a_value_shapes_cannot_tell(tmp_path):
    out = export_tiny(tmp_path, GOLDEN_MODEL, "out", "--set", "llm.sliding_window_keys=2048",
                      "--set", "behaviour.max_new_tokens=64", "--set", "tokenizer.mode=fast")
    c = load_config(out)
    assert c["llm"]["sliding_window_keys"] == 2048
    assert c["behaviour"]["max_new_tokens"] == 64
    assert c["tokenizer"]["mode"] == "fast"


def test_unknown_set_field_is_refused(tmp_path):
    run = run_export("--checkpoint", GOLDEN_MODEL, "--tokenizer", GOLDEN_TOKENIZER, "--out", str(tmp_path / "o"),
                     "--hparams", write_hparams(tmp_path), "--set", "llm.num_hedas=4", check=False)
    assert run.returncode == 1 and "llm.num_hedas: unknown config field" in run.stderr


# ---------------------------------------------------------------- branch detection

def renamed_to_main(state):
    out = {}
    for name, t in state.items():
        if name.startswith("visual_encoder."):
            name = "vision_encoder." + name[len("visual_encoder."):]
        if name == "segmentor.logit_scale":
            name = "segmentor.class_predictor.logit_scale"
        out[name] = t
    return out


def test_main_preset_detected_from_key_names(tmp_path):
    state = renamed_to_main(golden_state_dict(torch.bfloat16))
    state["pad_embeds.weight"] = torch.zeros(1, 32, dtype=torch.bfloat16)  # main's optional padding embedding
    out = export_tiny(tmp_path, save_bin(tmp_path, state))
    c = load_config(out)
    assert c["preset"] == "main"
    assert c["behaviour"]["key_vision_prefix"] == "vision_encoder."
    assert c["behaviour"]["key_logit_scale"] == "segmentor.class_predictor.logit_scale"
    assert c["behaviour"]["image_token_text"] == "<image>" and c["behaviour"]["drop_blank_chunks"] is True
    assert c["behaviour"]["semantic_order"] == "resize_logits_then_probs" and c["behaviour"]["intseg_iou"] == "mask"
    assert c["behaviour"]["max_new_tokens"] == 2048
    assert c["class_head"] == {"logit_clamp": 50.0, "masked_fill": -1e6, "pad_with_bg_minus": False}
    assert (c["sampler"]["pooling"], c["sampler"]["pooling_kernel"]) == ("mean", 4)
    assert c["preprocess"]["expand_to_square"] is False
    header, _ = read_safetensors_header(os.path.join(out, "model.safetensors"))
    assert "vision_encoder.vision_model.embeddings.patch_embedding.weight" in header  # names kept as they are
    assert "segmentor.class_predictor.logit_scale" in header and "pad_embeds.weight" in header


def test_preset_option_overrides_detection_but_keeps_names(tmp_path):
    state = renamed_to_main(golden_state_dict(torch.bfloat16))
    c = load_config(export_tiny(tmp_path, save_bin(tmp_path, state), "out", "--preset", "aaai26"))
    assert c["preset"] == "aaai26" and c["behaviour"]["image_token_text"] == "<image>\n"
    assert c["behaviour"]["key_vision_prefix"] == "vision_encoder."


def test_mixed_branch_names_need_a_preset(tmp_path):
    state = golden_state_dict(torch.bfloat16)
    state["segmentor.class_predictor.logit_scale"] = state.pop("segmentor.logit_scale")
    ckpt = save_bin(tmp_path, state)
    run = run_export("--checkpoint", ckpt, "--tokenizer", GOLDEN_TOKENIZER, "--out", str(tmp_path / "o"),
                     "--hparams", write_hparams(tmp_path), check=False)
    assert run.returncode == 1 and "--preset" in run.stderr
    c = load_config(export_tiny(tmp_path, ckpt, "out", "--preset", "main"))
    assert c["preset"] == "main" and c["behaviour"]["key_vision_prefix"] == "visual_encoder."


# ---------------------------------------------------------------- the released model's sizes

def test_released_shapes_get_the_released_hyper_parameters(tmp_path):
    """A checkpoint with the released model's names and shapes (a sparse file: the header is real, the data
    area is a hole) needs no config: the released values apply. Names and shapes: `xsam layout --preset
    full`, every tensor of it. Oracle of the values: docs/design/decisions.md (#sizes, #sliding-window,
    #sam-hidden-state-indices)."""
    full = xsam_layout_json("--preset", "full")
    names = {t["name"]: t["shape"] for t in full["tensors"]}
    assert len(names) == len(full["tensors"])
    header, offset = {}, 0
    for name, shape in sorted(names.items()):
        n = math.prod(shape) * 2
        header[name] = {"dtype": "BF16", "shape": list(shape), "data_offsets": [offset, offset + n]}
        offset += n
    text = json.dumps(header).encode()
    text += b" " * ((8 - len(text) % 8) % 8)
    path = tmp_path / "full.safetensors"
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)) + text)
        f.truncate(8 + len(text) + offset)
    params = sum(math.prod(s) for s in names.values())
    assert params == full["parameters"]
    assert 4.6e9 < params < 4.65e9  # docs/design/decisions.md#sizes: about 4.62 B parameters
    run = run_export("--checkpoint", str(path), "--tokenizer", GOLDEN_TOKENIZER, "--out", str(tmp_path / "o"),
                     "--dry-run")
    c = json.loads(run.stdout)
    assert not os.path.exists(tmp_path / "o")
    s, m, l, d = c["siglip"], c["sam"], c["llm"], c["mask2former"]
    assert (s["hidden_size"], s["num_layers"], s["num_heads"], s["image_size"], s["patch_size"],
            s["select_hidden_state"]) == (1152, 27, 16, 384, 14, 26)
    assert (m["hidden_size"], m["num_layers"], m["num_heads"], m["image_size"], m["patch_size"], m["window_size"],
            m["global_attn_indexes"], m["llm_hidden_state"], m["connector_hidden_states"]) == \
        (1024, 24, 16, 1024, 16, 14, [5, 11, 17, 23], 23, [12, 18, 24])
    assert (l["vocab_size"], l["hidden_size"], l["intermediate_size"], l["num_layers"], l["num_heads"],
            l["num_kv_heads"], l["rope_theta"], l["rms_norm_eps"], l["sliding_window_keys"]) == \
        (32014, 3072, 8192, 32, 32, 32, 10000.0, 1e-5, 2048)
    assert (d["num_heads"], d["num_queries"], d["decoder_layers"], d["encoder_layers"], d["num_points"],
            d["group_norm_groups"], d["feature_channels"], d["hidden_dim"], d["dim_feedforward"]) == \
        (8, 200, 10, 6, 4, 32, [512, 1024, 2048], 256, 2048)
    assert c["seg_projector"]["downsample_ratio"] == 0.5 and c["seg_projector"]["in_features"] == 1024
    assert c["connector"]["hidden_channels"] == 512


# ---------------------------------------------------------------- what the library checks

def test_config_the_library_refuses_is_refused(tmp_path):
    """The finished config goes through `xsam layout`, which validates it as the library does."""
    run = run_export("--checkpoint", GOLDEN_MODEL, "--tokenizer", GOLDEN_TOKENIZER, "--out", str(tmp_path / "o"),
                     "--hparams", write_hparams(tmp_path), "--set", "sam.llm_hidden_state=9", check=False)
    assert run.returncode == 1 and "Traceback" not in run.stderr
    assert "sam.llm_hidden_state must be in [0, num_layers]" in run.stderr
    assert not os.path.exists(tmp_path / "o")


def test_missing_presets_file_is_refused(tmp_path, monkeypatch):
    from xsam_export import released
    monkeypatch.setattr(released, "PRESETS_FILE", str(tmp_path / "presets.json"))
    run = run_export("--checkpoint", GOLDEN_MODEL, "--tokenizer", GOLDEN_TOKENIZER, "--out", str(tmp_path / "o"),
                     check=False)
    assert run.returncode == 1 and "Traceback" not in run.stderr
    assert run.stderr.startswith(f"xsam-export: error: {tmp_path / 'presets.json'}: cannot read the built-in presets")
    (tmp_path / "presets.json").write_text('{"behaviour_presets": {}}')
    run = run_export("--checkpoint", GOLDEN_MODEL, "--tokenizer", GOLDEN_TOKENIZER, "--out", str(tmp_path / "o"),
                     check=False)
    assert run.returncode == 1 and "'behaviour_presets' must be a non-empty object" in run.stderr


def test_exporter_without_the_xsam_cli_is_refused(tmp_path, monkeypatch):
    from xsam_export import upstream
    monkeypatch.setenv("XSAM_BIN", "")
    monkeypatch.setattr(upstream, "DEFAULT_XSAM_BIN", str(tmp_path / "no-xsam"))
    run = run_export("--checkpoint", GOLDEN_MODEL, "--tokenizer", GOLDEN_TOKENIZER, "--out", str(tmp_path / "o"),
                     "--hparams", write_hparams(tmp_path), check=False, xsam=False)
    assert run.returncode == 1
    assert "xsam layout" in run.stderr and "cmake --build build --target xsam_cli" in run.stderr
    assert "--xsam-bin" in run.stderr
