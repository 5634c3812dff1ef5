"""Shared helpers of the exporter tests (tools/xsam-export). No tests here.

The oracles are independent of the exporter's package: safetensors files are read with the small reader
below, the expected hyper-parameters come from the golden set's upstream config.json, and layouts from the
xsam CLI (`xsam layout --json`) run here. The exporter needs that CLI: a test fails, never skips, without it
(tools/test.sh builds it before running pytest).
"""
import contextlib
import io
import json
import os
import struct
import subprocess
import sys

import pytest
import torch

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
EXPORTER = os.path.join(REPO, "tools", "xsam-export")
GOLDEN = os.path.join(os.environ.get("XSAM_TEST_DATA", os.path.join(REPO, "tests", "data")), "golden", "aaai26-tiny")
GOLDEN_MODEL = os.path.join(GOLDEN, "model.safetensors")
GOLDEN_CONFIG = os.path.join(GOLDEN, "config.json")
GOLDEN_TOKENIZER = os.path.join(GOLDEN, "tokenizer")
PRESETS_JSON = os.path.join(REPO, "src", "core", "presets.json")

sys.path.insert(0, os.path.join(REPO, "tools"))  # the exporter's package, for in-process runs

_DTYPES = {"F32": torch.float32, "F16": torch.float16, "BF16": torch.bfloat16, "I64": torch.int64}


def read_safetensors_header(path):
    with open(path, "rb") as f:
        (n,) = struct.unpack("<Q", f.read(8))
        header = json.loads(f.read(n))
    return header, 8 + n


def read_safetensors(path):
    """name -> tensor, every tensor of the file (small files only)."""
    header, start = read_safetensors_header(path)
    header.pop("__metadata__", None)
    with open(path, "rb") as f:
        data = f.read()[start:]
    out = {}
    for name, info in header.items():
        b, e = info["data_offsets"]
        raw = bytearray(data[b:e])
        dtype = _DTYPES[info["dtype"]]
        out[name] = (torch.frombuffer(raw, dtype=dtype) if raw else torch.empty(0, dtype=dtype)).reshape(info["shape"])
    return out


def golden_state_dict(dtype=torch.bfloat16):
    """The golden weights (bf16-exact) in the upstream key layout, converted to `dtype`."""
    return {n: t.to(dtype) for n, t in read_safetensors(GOLDEN_MODEL).items()}


def read_model_dir(path):
    """name -> tensor over model.safetensors or the shards of model.safetensors.index.json."""
    index = os.path.join(path, "model.safetensors.index.json")
    files = sorted(set(json.load(open(index))["weight_map"].values())) if os.path.exists(index) else ["model.safetensors"]
    out = {}
    for f in files:
        out.update(read_safetensors(os.path.join(path, f)))
    return out


def golden_upstream_config():
    with open(GOLDEN_CONFIG) as f:
        return json.load(f)


def golden_hparams():
    """What shapes cannot tell about the golden model, read from its upstream config (the test oracle)."""
    up = golden_upstream_config()
    rt = up["xsam_runtime"]
    sig, sam = up["siglip_config"], up["sam_config"]["vision_config"]

    def hidden_state(layers, select):
        return layers + 1 + select if select < 0 else select

    return {
        "siglip": {"num_heads": sig["num_attention_heads"], "image_size": sig["image_size"],
                   "select_hidden_state": hidden_state(sig["num_hidden_layers"], rt["visual_select_layer"])},
        "sam": {"llm_hidden_state": hidden_state(sam["num_hidden_layers"], rt["visual_select_layer"]),
                "connector_hidden_states": rt["seg_select_layers_used"]},
        "llm": {"num_heads": up["llm_config"]["num_attention_heads"], "sliding_window_keys": 0},
        "mask2former": {"num_heads": up["mask2former_config"]["num_attention_heads"]},
    }


def write_hparams(tmp_path, hparams=None):
    path = os.path.join(str(tmp_path), "hparams.json")
    with open(path, "w") as f:
        json.dump(hparams or golden_hparams(), f)
    return path


def xsam_binary():
    """The xsam CLI ($XSAM_BIN, else bin/xsam of $XSAM_BUILD_DIR, which tools/test.sh sets, else
    build/bin/xsam), or None."""
    build_dir = os.environ.get("XSAM_BUILD_DIR")
    for p in (os.environ.get("XSAM_BIN"), build_dir and os.path.join(build_dir, "bin", "xsam"),
              os.path.join(REPO, "build", "bin", "xsam")):
        if p and os.path.isfile(p) and os.access(p, os.X_OK):
            return p
    return None


def require_xsam_binary():
    """The xsam CLI; without one the calling test fails with a message saying how to build it."""
    xsam = xsam_binary()
    if xsam is None:
        pytest.fail("no xsam CLI ($XSAM_BIN, $XSAM_BUILD_DIR/bin/xsam or build/bin/xsam): tools/xsam-export needs "
                    "`xsam layout` (and the tests `xsam convert-config` and `xsam info`); build it with cmake --build "
                    "build --target xsam_cli, or set XSAM_BIN", pytrace=False)
    return xsam


def xsam_layout_json(*args):
    """`xsam layout --json ARGS` (a config.json path, a model directory or --preset NAME), parsed."""
    run = subprocess.run([require_xsam_binary(), "layout", "--json", *args], capture_output=True, text=True)
    assert run.returncode == 0, f"xsam layout --json {' '.join(args)} failed ({run.returncode}):\n{run.stderr}"
    return json.loads(run.stdout)


def preset_config(size, behaviour="aaai26"):
    """A complete xsam-model config made of the built-in presets (src/core/presets.json, read here): size
    preset `size` with behaviour preset `behaviour` applied over it."""
    with open(PRESETS_JSON) as f:
        presets = json.load(f)
    c = {"format": "xsam-model", "format_version": 1, "preset": behaviour}
    c.update(presets["size_presets"][size])
    for section, fields in presets["behaviour_presets"][behaviour].items():
        c.setdefault(section, {}).update(fields)
    return c


def write_config(directory, config, name="config.json"):
    path = os.path.join(str(directory), name)
    with open(path, "w") as f:
        json.dump(config, f, indent=1)
    return path


class Run:
    def __init__(self, returncode, stdout, stderr):
        self.returncode, self.stdout, self.stderr = returncode, stdout, stderr


def run_export(*args, check=True, subprocess_run=False, xsam=True):
    """Runs the exporter: in this process (its `main`, as the script does: fast, torch is already
    imported), or as the script tools/xsam-export with this interpreter. Returns returncode/stdout/stderr.
    xsam: pass the tests' xsam CLI as --xsam-bin (first, so that an --xsam-bin in args wins); False: let
    the exporter look for one itself."""
    if xsam:
        args = ("--xsam-bin", require_xsam_binary(), *args)
    if subprocess_run:
        p = subprocess.run([sys.executable, EXPORTER, *args], capture_output=True, text=True)
        run = Run(p.returncode, p.stdout, p.stderr)
    else:
        from xsam_export.cli import main
        out, err = io.StringIO(), io.StringIO()
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            code = main(["--quiet", *args])
        run = Run(code, out.getvalue(), err.getvalue())
    if check and run.returncode != 0:
        raise AssertionError(f"xsam-export failed ({run.returncode}):\n{run.stderr}")
    return run


def export_tiny(tmp_path, checkpoint, out_name="out", *extra):
    """Exports a tiny checkpoint with the golden tokenizer and the golden hyper-parameters (--hparams)."""
    out = os.path.join(str(tmp_path), out_name)
    run_export("--checkpoint", checkpoint, "--tokenizer", GOLDEN_TOKENIZER, "--out", out,
               "--hparams", write_hparams(tmp_path), *extra)
    return out


def save_bin(tmp_path, state, name="pytorch_model.bin"):
    path = os.path.join(str(tmp_path), name)
    torch.save(state, path)
    return path


def bits_equal(a, b):
    """Same dtype, shape and bytes."""
    if a.dtype != b.dtype or a.shape != b.shape:
        return False
    if a.dtype == torch.bfloat16:
        a, b = a.view(torch.int16), b.view(torch.int16)
    elif a.dtype == torch.float16:
        a, b = a.view(torch.int16), b.view(torch.int16)
    elif a.dtype == torch.float32:
        a, b = a.view(torch.int32), b.view(torch.int32)
    return torch.equal(a, b)
