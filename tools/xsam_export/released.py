"""The built-in presets, read from `src/core/presets.json`: the one file that holds them, which libxsam
embeds at build time. What each field means: docs/model-directory.md.

  size presets       every size section of config.json: `full` is the released X-SAM model, `tiny` the size
                     of the tests' golden set. The exporter uses `full` in two ways: the layout of its sizes
                     tells whether a part of a checkpoint is the released one, and its other values (heads,
                     eps, RoPE theta, image sizes, selected layers, ...) fill what shapes cannot tell for
                     those parts.
  behaviour presets  what differs between the upstream branches `AAAI26_Archive` ("aaai26", the released
                     weights) and `main`; each sets its `behaviour` and `class_head` sections and a few
                     fields of others.

The file is read on first use (not at import), so that a missing file is an ExportError with a message.
"""
import copy
import json
import os

from . import REPO_ROOT
from .errors import ExportError

PRESETS_FILE = os.path.join(REPO_ROOT, "src", "core", "presets.json")

_loaded = {}  # path -> the parsed file


def _data():
    path = PRESETS_FILE
    if path not in _loaded:
        try:
            with open(path, encoding="utf-8") as f:
                data = json.load(f)
        except (OSError, ValueError) as e:
            raise ExportError(f"{path}: cannot read the built-in presets ({e}); the exporter reads them from "
                              f"the checkout it lives in (src/core/presets.json)") from None
        _check(path, data)
        _loaded[path] = data
    return _loaded[path]


def _check(path, data):
    """The shape this module relies on, so that a damaged file is named rather than a KeyError."""
    def need(ok, what):
        if not ok:
            raise ExportError(f"{path}: {what}")

    need(isinstance(data, dict), "top level must be an object")
    behaviour, sizes = data.get("behaviour_presets"), data.get("size_presets")
    need(isinstance(behaviour, dict) and behaviour, "'behaviour_presets' must be a non-empty object")
    need(isinstance(sizes, dict) and "full" in sizes, "'size_presets' must be an object with 'full'")
    for name, preset in behaviour.items():
        need(isinstance(preset, dict) and all(isinstance(v, dict) for v in preset.values()),
             f"behaviour_presets.{name} must be an object of section objects")
        fields = preset.get("behaviour", {})
        need("key_vision_prefix" in fields and "key_logit_scale" in fields,
             f"behaviour_presets.{name}.behaviour needs key_vision_prefix and key_logit_scale")
    for name, preset in sizes.items():
        need(isinstance(preset, dict) and all(isinstance(v, dict) for v in preset.values()),
             f"size_presets.{name} must be an object of section objects")


def behaviour_presets():
    """{preset: {section: {field: value}}}; a deep copy, so callers may edit."""
    return copy.deepcopy(_data()["behaviour_presets"])


def preset_names():
    return tuple(_data()["behaviour_presets"])


def sections():
    """The sections of config.json (besides format, format_version and preset): the size sections and the
    ones a behaviour preset owns."""
    data = _data()
    names = list(data["size_presets"]["full"])
    for preset in data["behaviour_presets"].values():
        names += list(preset)
    return tuple(dict.fromkeys(names))


def released_config():
    """The released model's sizes (size preset `full`): every section but those a behaviour preset owns."""
    return copy.deepcopy(_data()["size_presets"]["full"])


def apply_preset(config, preset):
    """Sets the fields a behaviour preset owns, and config["preset"] (copies: callers may edit)."""
    for section, fields in behaviour_presets()[preset].items():
        config.setdefault(section, {}).update(fields)
    config["preset"] = preset
