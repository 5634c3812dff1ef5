"""`xsam layout`: the checkpoint layout of a config (src/models/checkpoint_layout.h), as tools read it.
The expected names and shapes come from files the test has at hand: the golden set's own upstream checkpoint,
a random model's weights, and the presets data file; nothing is spelled here."""
import json
import os
import struct
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
BUILD = Path(os.environ.get("XSAM_BUILD_DIR", ROOT / "build"))
XSAM = BUILD / "bin" / "xsam"
DATA = Path(os.environ.get("XSAM_TEST_DATA", ROOT / "tests" / "data"))
ENV = dict(os.environ, OMP_WAIT_POLICY="PASSIVE")
PRESETS = json.loads((ROOT / "src" / "core" / "presets.json").read_text())


def run(*args, check=None):
    if not XSAM.exists():
        pytest.fail(f"{XSAM} not built")
    r = subprocess.run([str(XSAM), "layout", *map(str, args)], capture_output=True, text=True, env=ENV, timeout=300)
    if check is not None:
        assert r.returncode == check, f"exit {r.returncode}\nstdout: {r.stdout}\nstderr: {r.stderr}"
    return r


def header(path):
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        h = json.loads(f.read(n))
    h.pop("__metadata__", None)
    return {name: t["shape"] for name, t in h.items()}


def golden_dirs():
    root = DATA / "golden"
    return sorted(p for p in root.iterdir() if (p / "model.safetensors").exists() and (p / "config.json").exists())


def as_shapes(layout):
    return {t["name"]: t["shape"] for t in layout["tensors"]}


@pytest.mark.parametrize("golden", golden_dirs(), ids=lambda p: p.name)
def test_layout_of_an_upstream_config_is_upstreams_checkpoint(golden):
    layout = json.loads(run("--json", golden / "config.json", check=0).stdout)
    assert as_shapes(layout) == header(golden / "model.safetensors")
    assert layout["parameters"] == sum(_count(s) for s in as_shapes(layout).values())
    assert any(t["group"] for t in layout["tensors"]), "the golden checkpoint holds unused groups"


def _count(shape):
    n = 1
    for d in shape:
        n *= d
    return n


def test_random_model_directory_holds_exactly_its_layout(tmp_path):
    model = tmp_path / "tiny"
    r = subprocess.run([str(XSAM), "random-model", "--preset", "tiny", "--dtype", "bf16", str(model)],
                       capture_output=True, text=True, env=ENV, timeout=300)
    assert r.returncode == 0, r.stderr
    layout = json.loads(run("--json", model, check=0).stdout)
    assert as_shapes(layout) == header(model / "model.safetensors")
    preset = json.loads(run("--json", "--preset", "tiny", check=0).stdout)
    assert as_shapes(preset) == as_shapes(layout)


@pytest.mark.parametrize("name", sorted(PRESETS["size_presets"]))
def test_size_presets_give_their_sizes(name):
    layout = as_shapes(json.loads(run("--json", "--preset", name, check=0).stdout))
    sizes = PRESETS["size_presets"][name]
    vision = PRESETS["behaviour_presets"]["aaai26"]["behaviour"]["key_vision_prefix"]
    h = sizes["llm"]["hidden_size"]
    assert layout["llm.model.embed_tokens.weight"] == [sizes["llm"]["vocab_size"], h]
    assert f"llm.model.layers.{sizes['llm']['num_layers'] - 1}.mlp.down_proj.weight" in layout
    assert f"llm.model.layers.{sizes['llm']['num_layers']}.mlp.down_proj.weight" not in layout
    assert layout[f"{vision}vision_model.embeddings.position_embedding.weight"][1] == sizes["siglip"]["hidden_size"]
    assert layout["bg_embeds.weight"] == [1, sizes["mask2former"]["hidden_dim"]]


def test_table_output_names_the_unused_groups():
    out = run("--preset", "tiny", check=0).stdout
    assert "unused: siglip_head (optional)" in out and "tensors," in out


def test_bad_config_names_the_file_and_field(tmp_path):
    config = dict(PRESETS["size_presets"]["tiny"], format="xsam-model", format_version=1, preset="aaai26")
    config["llm"] = dict(config["llm"], num_heads=config["llm"]["hidden_size"] + 1)
    path = tmp_path / "config.json"
    path.write_text(json.dumps(config))
    r = run("--json", path, check=1)
    assert r.stdout == ""
    assert str(path) in r.stderr and "llm" in r.stderr, r.stderr


def test_unknown_preset_lists_the_known_ones():
    r = run("--preset", "huge", check=1)
    for name in PRESETS["size_presets"]:
        assert name in r.stderr


def test_usage_errors():
    assert run(check=2).returncode == 2
    assert run("--preset", "tiny", "extra.json", check=2).returncode == 2
    assert "usage: xsam layout" in run("--help", check=0).stdout
