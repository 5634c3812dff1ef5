"""Assembles the model directory's config.json (xsam-model format, docs/model-directory.md) from four
sources, in rising precedence:

  1. the released model's values (size preset `full`, released.py), used only for parts whose tensors have
     exactly the released shapes: for any other part, the values that shapes cannot tell and that would be
     silently wrong (head counts, image size, selected layers) must come from a later source;
  2. an upstream-style config, converted by the C++ importer (`xsam convert-config`, upstream.py);
  3. `--hparams FILE`: a partial config in xsam's own format ({"llm": {"num_heads": 32}, ...});
  4. `--set section.field=VALUE`.
Whatever the tensor shapes tell (shapes.py) overrides all four; a source that claims a different value for
such a field is an error that names the field and both values. Token ids come from the tokenizer files,
the tokenizer mode from their kind, the two branch-dependent key names from the checkpoint. The finished
config is validated by the library itself (`xsam layout`, layout.py), not by a copy of its checks here.
"""
import copy
import json

from . import FORMAT_NAME, FORMAT_VERSION
from . import released
from .errors import ExportError

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


# ------------------------------------------------------------------ explicit values

def parse_set(items):
    """`--set section.field=VALUE` items -> {"section.field": value}; VALUE is JSON, or else a string."""
    out = {}
    for item in items:
        key, sep, text = item.partition("=")
        section, dot, field = key.partition(".")
        if not sep or not dot or not field:
            raise ExportError(f"--set {item!r}: expected section.field=VALUE")
        if section not in released.sections():
            raise ExportError(f"--set {item!r}: unknown section '{section}' ({', '.join(released.sections())})")
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
        if section not in released.sections() or not isinstance(fields, dict):
            raise ExportError(f"--hparams {path}: '{section}' is not a config section object "
                              f"({', '.join(released.sections())})")
        for field, value in fields.items():
            out[f"{section}.{field}"] = value
    return out


def _flatten(config):
    return {f"{s}.{f}": v for s in released.sections() if isinstance(config.get(s), dict)
            for f, v in config[s].items()}


def _put(config, key, value):
    section, field = key.split(".", 1)
    known = released.released_config().get(section, {})
    for preset in released.behaviour_presets().values():
        known.update(preset.get(section, {}))
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

def parts_differing_from_released(shapes, spelling, optional, reference):
    """Parts whose tensors (names and shapes; vocabulary rows aside) differ from the released model's
    `reference` (the Layout of the released sizes; `optional`: the optional groups the checkpoint holds)."""
    ref = reference.shapes(optional)
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
    choose = f"choose one with --preset {'|'.join(released.preset_names())}"
    if from_keys is None:
        raise ExportError(f"the key names point to different branches ('{spelling.vision_prefix}' and "
                          f"'{spelling.logit_scale_key}'); {choose}")
    if upstream is not None and upstream.get("preset", from_keys) != from_keys:
        raise ExportError(f"the upstream config is for preset '{upstream['preset']}' but the key names are "
                          f"those of '{from_keys}'; {choose}")
    return from_keys


def base_config(preset, upstream, explicit):
    """Everything but the measured sizes: released values < upstream config < preset-owned fields < explicit."""
    c = released.released_config()
    if upstream is not None:
        for section in released.sections():
            if isinstance(upstream.get(section), dict):
                c.setdefault(section, {}).update(copy.deepcopy(upstream[section]))
    released.apply_preset(c, preset)  # the importer applied the same table for its branch
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
    """The config.json document, not yet validated: the caller runs it through `xsam layout` (layout.py)."""
    c = {"format": FORMAT_NAME, "format_version": FORMAT_VERSION, "preset": preset}
    for section in released.sections():
        c[section] = config[section]
    c["behaviour"]["key_vision_prefix"] = spelling.vision_prefix
    c["behaviour"]["key_logit_scale"] = spelling.logit_scale_key
    return c


def upstream_claims(upstream):
    """The upstream config's fields, as claims to check (token ids: only those the importer reads)."""
    flat = _flatten(upstream)
    return {k: v for k, v in flat.items() if not k.startswith("tokens.") or k.split(".", 1)[1] in _IMPORTED_TOKENS}

