"""The upstream checkpoint's key layout (docs/design/upstream-facts.md#checkpoint-keys): which names exist
and which shape each must have.

The layout of a config is the library's: `xsam layout --json CONFIG` lists every tensor of upstream's state
dict for that config with its shape, and names the group of each tensor that inference never reads
(docs/design/decisions.md#strict-binding). `xsam_layout` runs it on a config dict; the same run validates
the config with the library's own checks. `compare` reports, by name, what is missing, what is unknown and
what has the wrong shape. Before the sizes are known, `check_key_groups` does the same per *group* of names
(layer indices replaced by N) against the layout of the released sizes, so that an unknown or missing part
is reported plainly rather than as a failure to infer some size.

Branch spellings (behaviour.key_vision_prefix and behaviour.key_logit_scale of the behaviour presets,
released.py): `AAAI26_Archive` (released weights) has the SigLIP tower under `visual_encoder.` and the
class-head scale at `segmentor.logit_scale`; `main` uses `vision_encoder.` and
`segmentor.class_predictor.logit_scale` (and may carry `pad_embeds.weight`). Names are kept as they are.
"""
import json
import os
import re
import subprocess
import tempfile

from . import FORMAT_NAME, FORMAT_VERSION, released
from .errors import ExportError

_RELEASED_SPELLING = "aaai26"  # the behaviour preset of the released weights: the spelling when names tell none


def vision_prefixes():
    """{preset: the SigLIP tower's key prefix}."""
    return {p: b["behaviour"]["key_vision_prefix"] for p, b in released.behaviour_presets().items()}


def logit_scale_keys():
    """{preset: the class-head scale's key}."""
    return {p: b["behaviour"]["key_logit_scale"] for p, b in released.behaviour_presets().items()}


class Spelling:
    """Which of the two branch spellings a checkpoint uses for the two keys that differ."""

    def __init__(self, vision_prefix, logit_scale_key):
        self.vision_prefix = vision_prefix
        self.logit_scale_key = logit_scale_key

    @property
    def preset(self):
        """The branch the names point to, or None when the two names disagree."""
        v = [b for b, p in vision_prefixes().items() if p == self.vision_prefix]
        s = [b for b, k in logit_scale_keys().items() if k == self.logit_scale_key]
        return v[0] if v == s else None


def detect_spelling(names):
    """Reads the two branch-dependent spellings from the names; refuses a checkpoint that has both."""
    prefixes = sorted({p for p in vision_prefixes().values() if any(n.startswith(p) for n in names)})
    scales = sorted({k for k in logit_scale_keys().values() if k in names})
    if len(prefixes) > 1:
        raise ExportError(f"checkpoint has both {' and '.join(prefixes)} tensors: two SigLIP towers")
    if len(scales) > 1:
        raise ExportError(f"checkpoint has both {' and '.join(scales)}: two class-head scales")
    vision = prefixes[0] if prefixes else vision_prefixes()[_RELEASED_SPELLING]
    scale = scales[0] if scales else logit_scale_keys()[_RELEASED_SPELLING]
    return Spelling(vision, scale)


# ------------------------------------------------------------------ the library's layout of a config

class Layout:
    """The answer of `xsam layout --json`: every tensor with its shape, its group ("" = read by inference)
    and whether a checkpoint may omit its group (as a whole, never a part of it)."""

    def __init__(self, doc):
        self.parameters = int(doc["parameters"])
        self.tensors = [(t["name"], tuple(int(d) for d in t["shape"]), str(t["group"]), bool(t["optional"]))
                        for t in doc["tensors"]]

    def optional_groups(self):
        """{group: its tensor names} over the groups a checkpoint may omit."""
        out = {}
        for name, _, group, optional in self.tensors:
            if optional:
                out.setdefault(group, set()).add(name)
        return out

    def shapes(self, present=None):
        """{name: shape}: every tensor a checkpoint must hold, plus those of the optional groups in `present`
        (all of them when None)."""
        return {name: shape for name, shape, group, optional in self.tensors
                if not optional or present is None or group in present}


_cache = {}  # (binary, its mtime, config text) -> Layout
_CLI_PREFIX = re.compile(r"^xsam[\w -]*: error: ")


def xsam_layout(config, xsam_bin, what="the config"):
    """Layout of `config` (an xsam-format config dict with "preset" and every section), from `xsam layout
    --json`, which parses and validates it as the library does; a refusal is an ExportError with the
    library's message."""
    doc = {"format": FORMAT_NAME, "format_version": FORMAT_VERSION, "preset": config["preset"]}
    for section in released.sections():
        doc[section] = config[section]
    text = json.dumps(doc, indent=1, sort_keys=True)
    key = (xsam_bin, os.stat(xsam_bin).st_mtime_ns, text)
    if key not in _cache:
        with tempfile.TemporaryDirectory(prefix="xsam-export-") as tmp:
            path = os.path.join(tmp, "config.json")
            with open(path, "w", encoding="utf-8") as f:
                f.write(text)
            run = subprocess.run([xsam_bin, "layout", "--json", path], capture_output=True, text=True)
        if run.returncode != 0:
            message = (run.stderr or run.stdout).strip() or f"exit status {run.returncode}"
            message = "\n    ".join(_CLI_PREFIX.sub("", line).replace(path, "config.json")
                                    for line in message.splitlines())
            if "unknown command" in message:
                message += " (this xsam CLI predates `xsam layout`: rebuild it, cmake --build build --target xsam_cli)"
            raise ExportError(f"{what} does not pass the library's checks ({xsam_bin} layout): {message}")
        try:
            _cache[key] = Layout(json.loads(run.stdout))
        except (ValueError, KeyError, TypeError) as e:
            raise ExportError(f"'{xsam_bin} layout --json' printed no layout ({type(e).__name__}: {e})") from None
    return _cache[key]


def reference_config(preset, spelling, options=None):
    """The released sizes with behaviour preset `preset` and the checkpoint's spelling; with options True or
    False, every optional tensor (biases, position embeddings) switched on or off."""
    c = released.released_config()
    released.apply_preset(c, preset)
    c["behaviour"].update(key_vision_prefix=spelling.vision_prefix, key_logit_scale=spelling.logit_scale_key)
    if options is not None:
        c["sam"].update(qkv_bias=options, use_abs_pos=options, use_rel_pos=options)
        for part in ("connector", "visual_projector", "seg_projector", "llm_projector"):
            c[part]["bias"] = options
    return c


def reference_layout(preset, spelling, xsam_bin, options=None):
    """Layout of reference_config(preset, spelling, options)."""
    what = {None: "the released sizes", True: "the released sizes with every option on",
            False: "the released sizes with every option off"}[options]
    return xsam_layout(reference_config(preset, spelling, options), xsam_bin, what)


def optional_groups_present(names, reference):
    """Which optional groups of `reference` (a Layout) the checkpoint holds: any name of one (indices
    aside) present."""
    present = {group_name(n) for n in names}
    return {group for group, members in reference.optional_groups().items()
            if any(group_name(m) in present for m in members)}


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


def check_key_groups(names, spelling, preset, xsam_bin):
    """Refuses names outside every known group and known groups with no tensor at all.

    Works before any size is known: it compares name patterns (indices replaced by N) with those of the
    released sizes' layout, with every optional tensor and group allowed and none required."""
    known = {group_name(n) for n in reference_layout(preset, spelling, xsam_bin, True).shapes()}
    required = {group_name(n) for n in reference_layout(preset, spelling, xsam_bin, False).shapes(())}
    present = {group_name(n) for n in names}
    unknown = [n for n in names if group_name(n) not in known]
    missing = sorted(required - present)
    if unknown or missing:
        lines = [f"the checkpoint's key layout is not X-SAM's (the names `xsam layout` lists for preset {preset}, "
                 f"docs/design/upstream-facts.md#checkpoint-keys)."]
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
