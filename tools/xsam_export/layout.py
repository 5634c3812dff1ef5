"""The upstream checkpoint's key layout (spec §7.3, §9): which names exist and which shape each must have.

`expected_layout(config, spelling, optional)` lists every tensor that a checkpoint with this config must
hold, with its shape; `compare` reports, by name, what is missing, what is unknown and what has the wrong
shape. Before the sizes are known, `check_key_groups` does the same per *group* of names (layer indices
replaced by N), so that an unknown or missing part is reported plainly rather than as a failure to infer
some size.

Branch spellings: `AAAI26_Archive` (released weights) has the SigLIP tower under `visual_encoder.` and the
class-head scale at `segmentor.logit_scale`; `main` uses `vision_encoder.` and
`segmentor.class_predictor.logit_scale` (and may carry `pad_embeds.weight`). Names are kept as they are.
"""
import copy
import re

from .errors import ExportError

VISION_PREFIXES = {"aaai26": "visual_encoder.", "main": "vision_encoder."}
LOGIT_SCALE_KEYS = {"aaai26": "segmentor.logit_scale", "main": "segmentor.class_predictor.logit_scale"}

# Groups that upstream keeps in the state dict but never runs (DECISIONS.md B2). Each may be absent as a
# whole; a part of one is refused.
OPTIONAL_GROUPS = ("siglip_post_layernorm", "siglip_head", "sam_neck", "shared_image_embedding", "pad_embeds")


class Spelling:
    """Which of the two branch spellings a checkpoint uses for the two keys that differ."""

    def __init__(self, vision_prefix, logit_scale_key):
        self.vision_prefix = vision_prefix
        self.logit_scale_key = logit_scale_key

    @property
    def preset(self):
        """The branch the names point to, or None when the two names disagree."""
        v = [b for b, p in VISION_PREFIXES.items() if p == self.vision_prefix]
        s = [b for b, k in LOGIT_SCALE_KEYS.items() if k == self.logit_scale_key]
        return v[0] if v == s else None


def detect_spelling(names):
    """Reads the two branch-dependent spellings from the names; refuses a checkpoint that has both."""
    prefixes = sorted({p for p in VISION_PREFIXES.values() if any(n.startswith(p) for n in names)})
    scales = sorted({k for k in LOGIT_SCALE_KEYS.values() if k in names})
    if len(prefixes) > 1:
        raise ExportError(f"checkpoint has both {' and '.join(prefixes)} tensors: two SigLIP towers")
    if len(scales) > 1:
        raise ExportError(f"checkpoint has both {' and '.join(scales)}: two class-head scales")
    vision = prefixes[0] if prefixes else VISION_PREFIXES["aaai26"]
    scale = scales[0] if scales else LOGIT_SCALE_KEYS["aaai26"]
    return Spelling(vision, scale)


def optional_groups_present(names, spelling):
    """Which optional groups the checkpoint holds (any of its names present)."""
    present = set()
    for group in OPTIONAL_GROUPS:
        if any(_group_of(n, spelling) == group for n in names):
            present.add(group)
    return present


def _group_of(name, spelling):
    v = spelling.vision_prefix + "vision_model."
    if name.startswith(v + "post_layernorm."):
        return "siglip_post_layernorm"
    if name.startswith(v + "head."):
        return "siglip_head"
    if name.startswith("segmentor.encoder.neck."):
        return "sam_neck"
    if name.startswith("segmentor.shared_image_embedding."):
        return "shared_image_embedding"
    if name.startswith("pad_embeds."):
        return "pad_embeds"
    return None


# ------------------------------------------------------------------ expected names and shapes

def _linear(out, name, o, i, bias=True):
    out[name + ".weight"] = (o, i)
    if bias:
        out[name + ".bias"] = (o,)


def _norm(out, name, n, bias=True):
    out[name + ".weight"] = (n,)
    if bias:
        out[name + ".bias"] = (n,)


def _siglip(out, c, spelling, optional):
    s = c["siglip"]
    h, i = s["hidden_size"], s["intermediate_size"]
    p = spelling.vision_prefix + "vision_model."
    g = s["image_size"] // s["patch_size"]
    out[p + "embeddings.patch_embedding.weight"] = (h, s["num_channels"], s["patch_size"], s["patch_size"])
    out[p + "embeddings.patch_embedding.bias"] = (h,)
    out[p + "embeddings.position_embedding.weight"] = (g * g, h)
    for n in range(s["num_layers"]):
        lp = f"{p}encoder.layers.{n}."
        _norm(out, lp + "layer_norm1", h)
        _norm(out, lp + "layer_norm2", h)
        for proj in ("q_proj", "k_proj", "v_proj", "out_proj"):
            _linear(out, lp + "self_attn." + proj, h, h)
        _linear(out, lp + "mlp.fc1", i, h)
        _linear(out, lp + "mlp.fc2", h, i)
    if "siglip_post_layernorm" in optional:
        _norm(out, p + "post_layernorm", h)
    if "siglip_head" in optional:
        out[p + "head.probe"] = (1, 1, h)
        out[p + "head.attention.in_proj_weight"] = (3 * h, h)
        out[p + "head.attention.in_proj_bias"] = (3 * h,)
        _linear(out, p + "head.attention.out_proj", h, h)
        _norm(out, p + "head.layernorm", h)
        _linear(out, p + "head.mlp.fc1", i, h)
        _linear(out, p + "head.mlp.fc2", h, i)


def _projector(out, name, p):
    k = round(1.0 / p["downsample_ratio"])
    width = p["in_features"] * k * k
    for layer in range(p["depth"]):
        _linear(out, f"{name}.model.{2 * layer}", p["out_features"], width, p["bias"])
        width = p["out_features"]


def _sam(out, c, optional):
    m = c["sam"]
    h, heads = m["hidden_size"], m["num_heads"]
    g = m["image_size"] // m["patch_size"]
    p = "segmentor.encoder."
    out[p + "patch_embed.projection.weight"] = (h, m["num_channels"], m["patch_size"], m["patch_size"])
    out[p + "patch_embed.projection.bias"] = (h,)
    if m["use_abs_pos"]:
        out[p + "pos_embed"] = (1, g, g, h)
    for n in range(m["num_layers"]):
        lp = f"{p}layers.{n}."
        _norm(out, lp + "layer_norm1", h)
        _norm(out, lp + "layer_norm2", h)
        _linear(out, lp + "attn.qkv", 3 * h, h, m["qkv_bias"])
        _linear(out, lp + "attn.proj", h, h)
        if m["use_rel_pos"]:
            side = g if (n in m["global_attn_indexes"] or m["window_size"] == 0) else m["window_size"]
            out[lp + "attn.rel_pos_h"] = (2 * side - 1, h // heads)
            out[lp + "attn.rel_pos_w"] = (2 * side - 1, h // heads)
        _linear(out, lp + "mlp.lin1", m["mlp_dim"], h)
        _linear(out, lp + "mlp.lin2", h, m["mlp_dim"])
    o = m["output_channels"]
    if "sam_neck" in optional:
        out[p + "neck.conv1.weight"] = (o, h, 1, 1)
        _norm(out, p + "neck.layer_norm1", o)
        out[p + "neck.conv2.weight"] = (o, o, 3, 3)
        _norm(out, p + "neck.layer_norm2", o)
    if "shared_image_embedding" in optional:
        out["segmentor.shared_image_embedding.positional_embedding"] = (2, o // 2)


def connector_conv_out(in_channels, scale):
    return int(in_channels * scale)


def _connector(out, c):
    k = c["connector"]
    hid = k["hidden_channels"]
    for level, (cin, s) in enumerate(zip(k["in_channels"], k["scale_factors"])):
        p = f"seg_connector.model.{level}.model."
        cout = connector_conv_out(cin, s)
        for idx, (o, i, ks) in enumerate([(hid, cin, 1), (hid, hid, 3), (cout, hid, 1)]):
            out[f"{p}{2 * idx}.weight"] = (o, i, ks, ks)
            if k["bias"]:
                out[f"{p}{2 * idx}.bias"] = (o,)
            _norm(out, f"{p}{2 * idx + 1}", o)


def _llm(out, c):
    l = c["llm"]
    v, h, i = l["vocab_size"], l["hidden_size"], l["intermediate_size"]
    hd = h // l["num_heads"]
    out["llm.model.embed_tokens.weight"] = (v, h)
    for n in range(l["num_layers"]):
        lp = f"llm.model.layers.{n}."
        out[lp + "self_attn.qkv_proj.weight"] = ((l["num_heads"] + 2 * l["num_kv_heads"]) * hd, h)
        out[lp + "self_attn.o_proj.weight"] = (h, l["num_heads"] * hd)
        out[lp + "mlp.gate_up_proj.weight"] = (2 * i, h)
        out[lp + "mlp.down_proj.weight"] = (h, i)
        _norm(out, lp + "input_layernorm", h, bias=False)
        _norm(out, lp + "post_attention_layernorm", h, bias=False)
    _norm(out, "llm.model.norm", h, bias=False)
    out["llm.lm_head.weight"] = (v, h)


def num_fpn_levels(d):
    strides = d["feature_strides"][-d["num_feature_levels"]:]
    return (min(strides).bit_length() - 1) - (d["common_stride"].bit_length() - 1)


def _mask2former(out, c, spelling, optional):
    d = c["mask2former"]
    f, levels, heads, points = d["feature_size"], d["num_feature_levels"], d["num_heads"], d["num_points"]
    channels = d["feature_channels"]
    p = "segmentor.pixel_decoder."
    out[p + "level_embed"] = (levels, f)
    for k, cin in enumerate(reversed(channels[-levels:])):
        out[f"{p}input_projections.{k}.0.weight"] = (f, cin, 1, 1)
        out[f"{p}input_projections.{k}.0.bias"] = (f,)
        _norm(out, f"{p}input_projections.{k}.1", f)
    for n in range(d["encoder_layers"]):
        lp = f"{p}encoder.layers.{n}."
        _linear(out, lp + "self_attn.sampling_offsets", heads * levels * points * 2, f)
        _linear(out, lp + "self_attn.attention_weights", heads * levels * points, f)
        _linear(out, lp + "self_attn.value_proj", f, f)
        _linear(out, lp + "self_attn.output_proj", f, f)
        _norm(out, lp + "self_attn_layer_norm", f)
        _linear(out, lp + "fc1", d["encoder_feedforward_dim"], f)
        _linear(out, lp + "fc2", f, d["encoder_feedforward_dim"])
        _norm(out, lp + "final_layer_norm", f)
    out[p + "mask_projection.weight"] = (d["mask_feature_size"], f, 1, 1)
    out[p + "mask_projection.bias"] = (d["mask_feature_size"],)
    for j in range(1, num_fpn_levels(d) + 1):
        out[f"{p}adapter_{j}.0.weight"] = (f, channels[j - 1], 1, 1)
        _norm(out, f"{p}adapter_{j}.1", f)
        out[f"{p}layer_{j}.0.weight"] = (f, f, 3, 3)
        _norm(out, f"{p}layer_{j}.1", f)

    hd, q = d["hidden_dim"], d["num_queries"]
    p = "segmentor.decoder."
    out[p + "queries_embedder.weight"] = (q, hd)
    out[p + "queries_features.weight"] = (q, hd)
    out[p + "level_embed.weight"] = (levels, hd)
    _norm(out, p + "decoder.layernorm", hd)
    for n, o in enumerate([hd, hd, d["mask_feature_size"]]):
        _linear(out, f"{p}decoder.mask_predictor.mask_embedder.{n}.0", o, hd)
    for n in range(d["decoder_layers"] - 1):  # HF counts the prediction on the initial queries as a layer
        lp = f"{p}decoder.layers.{n}."
        for proj in ("q_proj", "k_proj", "v_proj", "out_proj"):
            _linear(out, lp + "self_attn." + proj, hd, hd)
        _norm(out, lp + "self_attn_layer_norm", hd)
        out[lp + "cross_attn.in_proj_weight"] = (3 * hd, hd)
        out[lp + "cross_attn.in_proj_bias"] = (3 * hd,)
        _linear(out, lp + "cross_attn.out_proj", hd, hd)
        _norm(out, lp + "cross_attn_layer_norm", hd)
        _linear(out, lp + "fc1", d["dim_feedforward"], hd)
        _linear(out, lp + "fc2", hd, d["dim_feedforward"])
        _norm(out, lp + "final_layer_norm", hd)
    out[spelling.logit_scale_key] = (1,)
    out["bg_embeds.weight"] = (1, hd)
    if "pad_embeds" in optional:
        out["pad_embeds.weight"] = (1, hd)


def expected_layout(config, spelling, optional=()):
    """Every tensor name of a checkpoint with this (xsam-format) config, mapped to its shape."""
    out = {}
    _siglip(out, config, spelling, optional)
    _projector(out, "visual_projector", config["visual_projector"])
    _sam(out, config, optional)
    _projector(out, "seg_projector", config["seg_projector"])
    _connector(out, config)
    _llm(out, config)
    _projector(out, "llm_projector", config["llm_projector"])
    _mask2former(out, config, spelling, optional)
    return out


# ------------------------------------------------------------------ comparison and messages

_INDEX = re.compile(r"(?<=[._])\d+(?=\.|$)")


def group_name(name):
    """The name with every index replaced by N: `llm.model.layers.N.mlp.down_proj.weight`."""
    return _INDEX.sub("N", name)


def summarize(names, limit=12):
    """A short, readable list: names grouped by pattern, with counts."""
    groups = {}
    for n in sorted(names):
        groups.setdefault(group_name(n), []).append(n)
    parts = []
    for g, members in sorted(groups.items()):
        parts.append(members[0] if len(members) == 1 else f"{g} ({len(members)} tensors, e.g. {members[0]})")
    if len(parts) > limit:
        parts = parts[:limit] + [f"... and {len(parts) - limit} more groups"]
    return "\n    " + "\n    ".join(parts)


def _all_options(config):
    """The released config with every optional tensor switched on (biases, positions, all groups)."""
    c = copy.deepcopy(config)
    c["sam"].update(qkv_bias=True, use_abs_pos=True, use_rel_pos=True)
    c["connector"]["bias"] = True
    for p in ("visual_projector", "seg_projector", "llm_projector"):
        c[p]["bias"] = True
    return c


def _no_options(config):
    """The released config with every optional tensor switched off: what any checkpoint must hold."""
    c = copy.deepcopy(config)
    c["sam"].update(qkv_bias=False, use_abs_pos=False, use_rel_pos=False)
    c["connector"]["bias"] = False
    for p in ("visual_projector", "seg_projector", "llm_projector"):
        c[p]["bias"] = False
    return c


def check_key_groups(names, spelling, reference_config):
    """Refuses names outside every known group and known groups with no tensor at all.

    Works before any size is known: it compares name patterns (indices replaced by N) with those of the
    released layout (`reference_config`), with every optional tensor allowed and none required."""
    known = {group_name(n) for n in expected_layout(_all_options(reference_config), spelling, OPTIONAL_GROUPS)}
    required = {group_name(n) for n in expected_layout(_no_options(reference_config), spelling, ())}
    present = {group_name(n) for n in names}
    unknown = [n for n in names if group_name(n) not in known]
    missing = sorted(required - present)
    if unknown or missing:
        lines = ["the checkpoint's key layout is not the X-SAM layout this exporter knows (spec §7.3)."]
        if unknown:
            lines.append(f"Unknown tensors ({len(unknown)}):" + summarize(unknown))
        if missing:
            lines.append(f"Missing tensor groups ({len(missing)}):" + summarize(missing))
        lines.append(f"(SigLIP prefix '{spelling.vision_prefix}', class-head scale '{spelling.logit_scale_key}'; "
                     f"use --drop REGEX to leave out tensors deliberately)")
        raise ExportError("\n  ".join(lines))


def compare(shapes, expected):
    """Refuses any difference between the checkpoint's names/shapes and the expected layout."""
    missing = sorted(set(expected) - set(shapes))
    unknown = sorted(set(shapes) - set(expected))
    wrong = [n for n in sorted(set(shapes) & set(expected)) if tuple(shapes[n]) != tuple(expected[n])]
    if not (missing or unknown or wrong):
        return
    lines = ["the checkpoint does not match the layout its own sizes imply."]
    if missing:
        lines.append(f"Missing tensors ({len(missing)}):" + summarize(missing))
    if unknown:
        lines.append(f"Unexpected tensors ({len(unknown)}):" + summarize(unknown))
    if wrong:
        shown = [f"{n}: {list(shapes[n])}, expected {list(expected[n])}" for n in wrong[:20]]
        more = [f"... and {len(wrong) - 20} more"] if len(wrong) > 20 else []
        lines.append(f"Wrong shapes ({len(wrong)}):\n    " + "\n    ".join(shown + more))
    raise ExportError("\n  ".join(lines))
