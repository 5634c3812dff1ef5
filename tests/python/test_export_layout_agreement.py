"""The library's checkpoint layout (`xsam layout --json`) and the exporter's reading of sizes from shapes
(tools/xsam_export/shapes.py, its inverse) agree.

For each config (the two size presets, and the tiny one edited: other widths, depths and head counts,
hidden-state choices, SAM windows, connector scales, projector ratios and depths, biases and position
embeddings off, main's spelling)
the library lists the tensors; `infer_sizes` reads every size it can from those shapes, with and without
the optional groups, and each must equal the config's value. Then the config so measured goes back
through `xsam layout`, and its layout must pass the exporter's `compare` against the shapes it was read
from. Every size comes from src/core/presets.json or from the edits below; no shape is written here.
"""
import copy
import math

import pytest

from test_export_support import preset_config, require_xsam_binary, write_config, xsam_layout_json
from xsam_export import layout
from xsam_export.errors import ExportError
from xsam_export.shapes import infer_sizes


def _flat(config):
    return {f"{s}.{f}": v for s, fields in config.items() if isinstance(fields, dict) for f, v in fields.items()}


def _same(a, b):
    return a == b and type(a) is type(b) if isinstance(a, bool) or isinstance(b, bool) else a == b


def _poisoned(config, fields):
    """`config` with each of `fields` set to None: a size must be measured, not copied from the base."""
    c = copy.deepcopy(config)
    for key in fields:
        section, field = key.split(".", 1)
        c[section][field] = None
    return c


def check_agreement(tmp_path, config, doc=None):
    doc = doc or xsam_layout_json(write_config(tmp_path, config))
    names = [t["name"] for t in doc["tensors"]]
    assert len(set(names)) == len(names), "a tensor listed twice"
    assert doc["parameters"] == sum(math.prod(t["shape"]) for t in doc["tensors"])
    full = layout.Layout(doc)
    spelling = layout.detect_spelling(names)
    behaviour = config["behaviour"]
    assert (spelling.vision_prefix, spelling.logit_scale_key) == \
        (behaviour["key_vision_prefix"], behaviour["key_logit_scale"])
    assert ("pad_embeds" in full.optional_groups()) == (config["preset"] == "main")

    want = _flat(config)
    for present in (None, ()):  # every optional group, then none
        shapes = full.shapes(present)
        _, derived = infer_sizes(shapes, spelling, config)
        measured, again = infer_sizes(shapes, spelling, _poisoned(config, derived))
        assert again == derived
        got = _flat(measured)
        wrong = {k: (got[k], want[k]) for k in sorted(derived | {"preprocess.siglip_size", "preprocess.sam_size"})
                 if not _same(got[k], want[k])}
        assert not wrong, f"shapes.py measures (measured, config): {wrong}"

        implied = layout.Layout(xsam_layout_json(write_config(tmp_path, measured, "measured.json")))
        optional = layout.optional_groups_present(shapes, full)
        assert optional == (set(full.optional_groups()) if present is None else set())
        layout.compare(shapes, implied.shapes(optional))
    return full


# ------------------------------------------------------------------ configs: the presets, and the tiny one edited

def _widths_depths_heads(c):
    s, m, l, d, k = c["siglip"], c["sam"], c["llm"], c["mask2former"], c["connector"]
    s.update(hidden_size=64, num_heads=8, num_layers=5, intermediate_size=80, patch_size=16, image_size=128,
             select_hidden_state=4)
    m.update(hidden_size=48, num_heads=3, num_layers=6, mlp_dim=96, image_size=320, window_size=5,
             global_attn_indexes=[2, 5], llm_hidden_state=5, connector_hidden_states=[2, 4, 6], output_channels=16)
    l.update(hidden_size=96, num_heads=6, num_kv_heads=3, num_layers=2, intermediate_size=160)
    d.update(hidden_dim=64, feature_size=64, num_heads=4, num_points=2, encoder_layers=1, decoder_layers=3,
             dim_feedforward=48, encoder_feedforward_dim=40, num_queries=5, mask_feature_size=48)
    k.update(hidden_channels=40)


def _hidden_states(c):
    c["siglip"]["select_hidden_state"] = 1
    c["sam"].update(llm_hidden_state=1, connector_hidden_states=[1, 1, 2])


def _sam_windows(c):
    c["sam"].update(window_size=3, global_attn_indexes=[0, 2, 3])


def _sam_all_global(c):
    c["sam"].update(window_size=0, global_attn_indexes=list(range(c["sam"]["num_layers"])))


def _sam_no_global(c):
    c["sam"]["global_attn_indexes"] = []


def _connector_scales(c):
    c["connector"].update(scale_factors=[1.0, 2.0, 0.5], bias=True)


def _seg_projector_ratio(c):
    c["seg_projector"]["downsample_ratio"] = 0.25


def _projector_depths(c):
    c["visual_projector"]["depth"] = 3
    c["llm_projector"]["depth"] = 1


def _biases_off(c):
    c["sam"]["qkv_bias"] = False
    for part in ("visual_projector", "seg_projector", "llm_projector", "connector"):
        c[part]["bias"] = False


def _no_rel_pos(c):
    c["sam"]["use_rel_pos"] = False


def _no_abs_pos(c):
    c["sam"]["use_abs_pos"] = False


def _no_positions(c):
    c["sam"].update(use_abs_pos=False, use_rel_pos=False)


def _keep_consistent(c):
    """What the edits imply elsewhere: widths that feed each other, image sizes, connector outputs."""
    s, m, l, d, k = c["siglip"], c["sam"], c["llm"], c["mask2former"], c["connector"]
    c["visual_projector"].update(in_features=s["hidden_size"], out_features=l["hidden_size"])
    c["seg_projector"].update(in_features=m["hidden_size"], out_features=l["hidden_size"])
    c["llm_projector"].update(in_features=l["hidden_size"], out_features=d["hidden_dim"])
    k["in_channels"] = [m["hidden_size"]] * len(k["in_channels"])
    d["feature_channels"] = [int(cin / f) for cin, f in zip(k["in_channels"], k["scale_factors"])]
    d["mask_image_size"] = m["image_size"]
    c["preprocess"].update(siglip_size=s["image_size"], sam_size=m["image_size"])


EDITS = {
    "widths_depths_heads": [_widths_depths_heads],
    "hidden_states": [_hidden_states],
    "sam_windows": [_sam_windows],
    "sam_all_global": [_sam_all_global],
    "sam_no_global": [_sam_no_global],
    "connector_scales": [_connector_scales],
    "seg_projector_ratio": [_seg_projector_ratio],
    "projector_depths": [_projector_depths],
    "biases_off": [_biases_off],
    "no_rel_pos": [_no_rel_pos],
    "no_abs_pos": [_no_abs_pos],
    "no_positions": [_no_positions],
    "all_edits": [_widths_depths_heads, _hidden_states, _sam_windows, _connector_scales, _seg_projector_ratio,
                  _projector_depths, _biases_off],
}


def edited_tiny(edits, behaviour="aaai26"):
    c = preset_config("tiny", behaviour)
    for edit in edits:
        edit(c)
    _keep_consistent(c)
    return c


@pytest.mark.parametrize("behaviour", ["aaai26", "main"])
def test_tiny_preset(tmp_path, behaviour):
    full = check_agreement(tmp_path, preset_config("tiny", behaviour))
    if behaviour == "aaai26":
        assert xsam_layout_json("--preset", "tiny")["tensors"] == [
            {"name": n, "shape": list(s), "group": g, "optional": o} for n, s, g, o in full.tensors]


def test_full_preset(tmp_path):
    """The released sizes: layout only (it is metadata, no weights), the same by --preset as by file."""
    doc = xsam_layout_json("--preset", "full")
    assert doc["source"] == "preset:full"
    by_file = xsam_layout_json(write_config(tmp_path, preset_config("full")))
    assert by_file["tensors"] == doc["tensors"] and by_file["parameters"] == doc["parameters"]
    check_agreement(tmp_path, preset_config("full"), doc)


@pytest.mark.parametrize("name", sorted(EDITS))
def test_edited_tiny(tmp_path, name):
    check_agreement(tmp_path, edited_tiny(EDITS[name]))


def test_edited_tiny_main_spelling(tmp_path):
    check_agreement(tmp_path, edited_tiny(EDITS["all_edits"], "main"))


def test_unused_groups_are_named(tmp_path):
    """The groups the exporter relies on: the required unused ones (a checkpoint holds them) exist when the
    config leaves layers unread; the optional ones are whole groups of tensors."""
    c = edited_tiny([_hidden_states])
    groups = {}
    for name, _, group, optional in layout.Layout(xsam_layout_json(write_config(tmp_path, c))).tensors:
        groups.setdefault(group, set()).add(optional)
    assert groups.pop("") == {False}
    assert all(len(flags) == 1 for flags in groups.values()), groups
    required = {g for g, flags in groups.items() if flags == {False}}
    assert required == {"siglip_layers_after_selected", "sam_blocks_after_deepest"}


# ------------------------------------------------------------------ the exporter's call of the CLI

def test_exporter_layout_is_the_cli_layout(tmp_path):
    c = preset_config("tiny")
    got = layout.xsam_layout(c, require_xsam_binary())
    want = layout.Layout(xsam_layout_json(write_config(tmp_path, c)))
    assert got.tensors == want.tensors and got.parameters == want.parameters


def test_exporter_layout_refusal_names_the_field():
    c = preset_config("tiny")
    c["sam"]["num_heads"] = 3
    with pytest.raises(ExportError) as e:
        layout.xsam_layout(c, require_xsam_binary(), "the test config")
    message = str(e.value)
    assert message.startswith("the test config does not pass the library's checks")
    assert "sam.hidden_size must be divisible by sam.num_heads" in message
    assert "xsam-export-" not in message  # the temporary file's path is not shown
