"""Assembles the model directory's config.json (xsam-model format, `model_config_to_json` in
src/core/config.cpp) from four sources, in rising precedence:

  1. the released model's values (released.py), used only for parts whose tensors have exactly the
     released shapes: for any other part, the values that shapes cannot tell and that would be silently
     wrong (head counts, image size, selected layers) must come from a later source;
  2. an upstream-style config, converted by the C++ importer (`xsam convert-config`, upstream.py);
  3. `--hparams FILE`: a partial config in xsam's own format ({"llm": {"num_heads": 32}, ...});
  4. `--set section.field=VALUE`.
Whatever the tensor shapes tell (shapes.py) overrides all four; a source that claims a different value for
such a field is an error that names the field and both values. Token ids come from the tokenizer files,
the tokenizer mode from their kind, the two branch-dependent key names from the checkpoint.
"""
import copy
import json

from . import FORMAT_NAME, FORMAT_VERSION
from . import layout as layout_mod
from .errors import ExportError
from .released import BEHAVIOUR_PRESETS, PRESETS, apply_preset, released_config

# Parts whose non-shape values must be given explicitly when their tensors differ from the released model.
_PART_PREFIXES = {
    "siglip": lambda sp: [sp.vision_prefix + "vision_model."],
    "sam": lambda sp: ["segmentor.encoder.", "segmentor.shared_image_embedding."],
    "connector": lambda sp: ["seg_connector."],
    "llm": lambda sp: ["llm."],
    "mask2former": lambda sp: ["segmentor.pixel_decoder.", "segmentor.decoder."],
}
PARTS = tuple(_PART_PREFIXES)
_MUST_BE_GIVEN = {
    "siglip": ["siglip.num_heads", "siglip.image_size", "siglip.select_hidden_state"],
    "sam": ["sam.llm_hidden_state", "sam.connector_hidden_states"],
    "connector": ["sam.connector_hidden_states"],
    "llm": ["llm.num_heads"],
    "mask2former": ["mask2former.num_heads"],
}
_SAM_WITHOUT_REL_POS = ["sam.num_heads", "sam.window_size", "sam.global_attn_indexes"]
_VOCAB_ROWS = ("llm.model.embed_tokens.weight", "llm.lm_head.weight")
# Token ids that the upstream importer reads from the upstream config (the others are its defaults).
_IMPORTED_TOKENS = ("bos", "eos", "pad", "seg", "p_start", "p_end")
_SECTIONS = ("siglip", "visual_projector", "seg_projector", "llm_projector", "sam", "connector", "sampler", "llm",
             "mask2former", "class_head", "tokens", "tokenizer", "preprocess", "behaviour")


# ------------------------------------------------------------------ explicit values

def parse_set(items):
    """`--set section.field=VALUE` items -> {"section.field": value}; VALUE is JSON, or else a string."""
    out = {}
    for item in items:
        key, sep, text = item.partition("=")
        section, dot, field = key.partition(".")
        if not sep or not dot or not field:
            raise ExportError(f"--set {item!r}: expected section.field=VALUE")
        if section not in _SECTIONS:
            raise ExportError(f"--set {item!r}: unknown section '{section}' ({', '.join(_SECTIONS)})")
        try:
            value = json.loads(text)
        except json.JSONDecodeError:
            value = text
        out[key] = value
    return out


def read_hparams(path):
    """A partial xsam-format config -> {"section.field": value}."""
    try:
        with open(path, encoding="utf-8") as f:
            data = json.load(f)
    except (OSError, json.JSONDecodeError) as e:
        raise ExportError(f"--hparams {path}: cannot read JSON ({e})") from None
    if not isinstance(data, dict):
        raise ExportError(f"--hparams {path}: top level must be an object")
    out = {}
    for section, fields in data.items():
        if section in ("format", "format_version", "preset"):
            continue
        if section not in _SECTIONS or not isinstance(fields, dict):
            raise ExportError(f"--hparams {path}: '{section}' is not a config section object ({', '.join(_SECTIONS)})")
        for field, value in fields.items():
            out[f"{section}.{field}"] = value
    return out


def _flatten(config):
    return {f"{s}.{f}": v for s in _SECTIONS if isinstance(config.get(s), dict) for f, v in config[s].items()}


def _put(config, key, value):
    section, field = key.split(".", 1)
    known = released_config().get(section, {})
    known.update(BEHAVIOUR_PRESETS["aaai26"].get(section, {}))
    if field not in known:
        raise ExportError(f"{key}: unknown config field (section '{section}' has {', '.join(sorted(known))})")
    config.setdefault(section, {})[field] = copy.deepcopy(value)


def _same(a, b):
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b))
    if isinstance(a, bool) or isinstance(b, bool):
        return a is b
    if isinstance(a, (int, float)) and isinstance(b, (int, float)):
        return abs(a - b) <= 1e-12 * max(1.0, abs(a), abs(b))
    return a == b


# ------------------------------------------------------------------ parts that differ from the released model

def parts_differing_from_released(shapes, spelling, optional):
    """Parts whose tensors (names and shapes; vocabulary rows aside) differ from the released model."""
    ref = layout_mod.expected_layout(released_config(), spelling, optional)
    differing = []
    for part, prefixes in _PART_PREFIXES.items():
        pre = tuple(prefixes(spelling))

        def mine(names):
            return {n for n in names if n.startswith(pre)}

        def shape(table, n):
            return tuple(table[n])[1:] if n in _VOCAB_ROWS else tuple(table[n])

        a, b = mine(shapes), mine(ref)
        if a != b or any(shape(shapes, n) != shape(ref, n) for n in a):
            differing.append(part)
    return differing


def require_given(differing, given, shapes):
    needed = []
    for part in differing:
        needed += _MUST_BE_GIVEN[part]
        if part == "sam" and "segmentor.encoder.layers.0.attn.rel_pos_h" not in shapes:
            needed += _SAM_WITHOUT_REL_POS
        if part == "sam" and "segmentor.encoder.pos_embed" not in shapes:
            needed += ["sam.image_size"]
    missing = sorted({k for k in needed if k not in given})
    if missing:
        raise ExportError(
            f"the checkpoint's {', '.join(differing)} tensors differ from the released X-SAM model, so the "
            f"released values of what shapes cannot tell do not apply. Give them with --upstream-config FILE, "
            f"or with --hparams FILE / --set for: {', '.join(missing)}")


# ------------------------------------------------------------------ assembly

def resolve_preset(requested, spelling, upstream):
    """--preset, else the branch that the key names point to (and the upstream config agrees with)."""
    if requested:
        return requested
    from_keys = spelling.preset
    if from_keys is None:
        raise ExportError(f"the key names point to different branches ('{spelling.vision_prefix}' and "
                          f"'{spelling.logit_scale_key}'); choose one with --preset {'|'.join(PRESETS)}")
    if upstream is not None and upstream.get("preset", from_keys) != from_keys:
        raise ExportError(f"the upstream config is for preset '{upstream['preset']}' but the key names are "
                          f"those of '{from_keys}'; choose one with --preset {'|'.join(PRESETS)}")
    return from_keys


def base_config(preset, upstream, explicit):
    """Everything but the measured sizes: released values < upstream config < preset-owned fields < explicit."""
    c = released_config()
    if upstream is not None:
        for section in _SECTIONS:
            if isinstance(upstream.get(section), dict):
                c.setdefault(section, {}).update(copy.deepcopy(upstream[section]))
    apply_preset(c, preset)  # the importer applied the same table for its branch
    for key, value in explicit.items():
        _put(c, key, value)
    return c


def check_claims(config, derived, claims, source):
    """Every measured field that a source also states must agree with the measurement."""
    flat = _flatten(config)
    bad = [f"{k}: {source[k]} says {claims[k]!r}, the checkpoint's shapes say {flat[k]!r}"
           for k in sorted(derived) if k in claims and not _same(claims[k], flat[k])]
    if bad:
        raise ExportError("sizes disagree with the checkpoint:\n    " + "\n    ".join(bad))


def set_tokens(config, token_ids, claims, source):
    bad = []
    for name, value in token_ids.items():
        key = f"tokens.{name}"
        if key in claims and claims[key] != value:
            bad.append(f"{key}: {source[key]} says {claims[key]}, the tokenizer files say {value}")
        config["tokens"][name] = value
    if bad:
        raise ExportError("token ids disagree with the tokenizer:\n    " + "\n    ".join(bad))


def finish(config, preset, spelling):
    c = {"format": FORMAT_NAME, "format_version": FORMAT_VERSION, "preset": preset}
    for section in _SECTIONS:
        c[section] = config[section]
    c["behaviour"]["key_vision_prefix"] = spelling.vision_prefix
    c["behaviour"]["key_logit_scale"] = spelling.logit_scale_key
    validate(c)
    return c


def upstream_claims(upstream):
    """The upstream config's fields, as claims to check (token ids: only those the importer reads)."""
    flat = _flatten(upstream)
    return {k: v for k, v in flat.items() if not k.startswith("tokens.") or k.split(".", 1)[1] in _IMPORTED_TOKENS}


# ------------------------------------------------------------------ validation (the checks of validate_model_config)

def validate(c):
    errors = []

    def require(ok, what):
        if not ok:
            errors.append(what)

    s, m, k, l, d = c["siglip"], c["sam"], c["connector"], c["llm"], c["mask2former"]
    grid = s["image_size"] // s["patch_size"]
    require(s["hidden_size"] % s["num_heads"] == 0, "siglip.hidden_size must be divisible by siglip.num_heads")
    require(1 <= s["select_hidden_state"] <= s["num_layers"], "siglip.select_hidden_state must be in [1, num_layers]")
    require(0 <= s["select_token_start"] < grid * grid, "siglip.select_token_start out of range")
    require(m["hidden_size"] % m["num_heads"] == 0, "sam.hidden_size must be divisible by sam.num_heads")
    require(m["image_size"] % m["patch_size"] == 0, "sam.image_size must be a multiple of sam.patch_size")
    require(all(0 <= g < m["num_layers"] for g in m["global_attn_indexes"]),
            "sam.global_attn_indexes entries must be in [0, num_layers)")
    require(0 <= m["llm_hidden_state"] <= m["num_layers"], "sam.llm_hidden_state must be in [0, num_layers]")
    require(all(0 <= h <= m["num_layers"] for h in m["connector_hidden_states"]),
            "sam.connector_hidden_states entries must be in [0, num_layers]")
    require(len(k["in_channels"]) == len(m["connector_hidden_states"]),
            f"sam.connector_hidden_states needs one entry per connector level ({len(k['in_channels'])})")
    require(len(k["in_channels"]) == d["num_feature_levels"], "connector levels must equal mask2former.num_feature_levels")
    require(l["hidden_size"] % l["num_heads"] == 0 and (l["hidden_size"] // l["num_heads"]) % 2 == 0,
            "llm head dim must be an integer and even (RoPE)")
    require(l["sliding_window_keys"] >= 0, "llm.sliding_window_keys must be >= 0")
    require(d["feature_size"] == d["hidden_dim"], "mask2former.feature_size must equal hidden_dim")
    require(d["decoder_layers"] >= 2, "mask2former.decoder_layers must be >= 2")
    outs = [layout_mod.connector_conv_out(cin, f) / (f * f) for cin, f in zip(k["in_channels"], k["scale_factors"])]
    require(outs == d["feature_channels"][-len(outs):],
            f"connector output channels {outs} must match mask2former.feature_channels {d['feature_channels']}")
    for name in ("seg", "p_start", "p_end", "bos", "eos", "pad", "end", "user", "assistant"):
        require(0 <= c["tokens"][name] < l["vocab_size"], f"tokens.{name} outside the vocabulary ({l['vocab_size']})")
    require(c["tokenizer"]["mode"] in ("fast", "slow"), "tokenizer.mode must be fast or slow")
    require(c["sampler"]["pooling"] in ("max", "mean"), "sampler.pooling must be max or mean")
    if errors:
        raise ExportError("invalid config:\n    " + "\n    ".join(errors))
