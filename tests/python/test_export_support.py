"""Shared helpers of the exporter tests (tools/xsam-export). No tests here.

The oracles are independent of the exporter's package: safetensors files are read with the small reader
below, and the expected hyper-parameters come from the golden set's upstream config.json.
"""
import contextlib
import io
import json
import os
import struct
import subprocess
import sys

import torch

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
EXPORTER = os.path.join(REPO, "tools", "xsam-export")
GOLDEN = os.path.join(os.environ.get("XSAM_TEST_DATA", os.path.join(REPO, "tests", "data")), "golden", "aaai26-tiny")
GOLDEN_MODEL = os.path.join(GOLDEN, "model.safetensors")
GOLDEN_CONFIG = os.path.join(GOLDEN, "config.json")
GOLDEN_TOKENIZER = os.path.join(GOLDEN, "tokenizer")

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
    """The xsam CLI ($XSAM_BIN, else build/bin/xsam), or None."""
    for p in (os.environ.get("XSAM_BIN"), os.path.join(REPO, "build", "bin", "xsam")):
        if p and os.path.isfile(p) and os.access(p, os.X_OK):
            return p
    return None


class Run:
    def __init__(self, returncode, stdout, stderr):
        self.returncode, self.stdout, self.stderr = returncode, stdout, stderr


def run_export(*args, check=True, subprocess_run=False):
    """Runs the exporter: in this process (its `main`, as the script does: fast, torch is already
    imported), or as the script tools/xsam-export with this interpreter. Returns returncode/stdout/stderr."""
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
