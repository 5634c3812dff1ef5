"""Bounded memory (docs/design/decisions.md#exporter-input): converting a large fp32 checkpoint must not load it whole.

Slow (writes ~2.2 GB, reads it back, writes ~1.1 GB): runs only with XSAM_EXPORT_SLOW=1, e.g.
    XSAM_EXPORT_SLOW=1 python3 -m pytest -s tests/python/test_export_memory.py
It prints the checkpoint size and the exporter's peak resident memory.
"""
import json
import os
import subprocess
import sys
import time

import pytest
import torch

from test_export_support import (EXPORTER, GOLDEN_MODEL, GOLDEN_TOKENIZER, golden_hparams, read_safetensors_header,
                                 require_xsam_binary, run_export, write_config, write_hparams, xsam_layout_json)

SLOW = os.environ.get("XSAM_EXPORT_SLOW") == "1"


def big_llm_config(tmp_path):
    """The golden tiny model with an LLM of 8 layers x 2048 wide: about 551 M parameters, 2.2 GB in fp32."""
    c = json.loads(run_export("--checkpoint", GOLDEN_MODEL, "--tokenizer", GOLDEN_TOKENIZER, "--out",
                              str(tmp_path / "unused"), "--hparams", write_hparams(tmp_path), "--dry-run").stdout)
    c["llm"].update(hidden_size=2048, intermediate_size=5632, num_layers=8, num_heads=16, num_kv_heads=16)
    c["visual_projector"]["out_features"] = c["seg_projector"]["out_features"] = 2048
    c["llm_projector"]["in_features"] = 2048
    return c


# Run by a fresh, small interpreter: a child's peak RSS counts what it shares with its parent at fork,
# so the exporter must not be forked from this (large) test process directly.
_MEASURE = """
import os, subprocess, sys
p = subprocess.Popen(sys.argv[1:], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
err = p.stderr.read()
_, status, usage = os.wait4(p.pid, 0)
sys.stderr.buffer.write(err)
print(os.waitstatus_to_exitcode(status), usage.ru_maxrss * 1024)
"""


def peak_rss_of(cmd):
    """Runs cmd; returns (exit status, peak resident set size in bytes, stderr)."""
    run = subprocess.run([sys.executable, "-c", _MEASURE, *cmd], capture_output=True, text=True)
    code, peak = (int(v) for v in run.stdout.split())
    return code, peak, run.stderr


@pytest.mark.skipif(not SLOW, reason="slow (~2 GB of I/O); set XSAM_EXPORT_SLOW=1 to run")
def test_peak_memory_stays_far_below_the_checkpoint_size(tmp_path):
    config = big_llm_config(tmp_path)
    tensors = xsam_layout_json(write_config(tmp_path, config))["tensors"]  # every tensor, unused groups too
    torch.manual_seed(0)
    state = {t["name"]: torch.randn(t["shape"]) * 0.02 for t in tensors}
    largest = max(t.numel() * 4 for t in state.values())
    ckpt = tmp_path / "pytorch_model.bin"
    torch.save(state, ckpt)
    del state
    size = os.path.getsize(ckpt)
    assert size > 2e9

    hp = golden_hparams()
    hp["llm"]["num_heads"] = 16
    start = time.time()
    try:
        code, peak, err = peak_rss_of([sys.executable, EXPORTER, "--xsam-bin", require_xsam_binary(),
                                       "--checkpoint", str(ckpt), "--tokenizer",
                                       GOLDEN_TOKENIZER, "--out", str(tmp_path / "out"),
                                       "--hparams", write_hparams(tmp_path, hp)])
    finally:
        os.remove(ckpt)  # pytest keeps its last temporary directories: do not leave 2 GB behind
    seconds = time.time() - start
    assert code == 0, err
    print(f"\ncheckpoint {size / 1e9:.2f} GB fp32 (largest tensor {largest / 1e6:.0f} MB) -> bf16 in {seconds:.0f} s; "
          f"exporter peak RSS {peak / 1e6:.0f} MB ({100 * peak / size:.0f}% of the checkpoint)")
    # The interpreter with torch (~0.3 GB) plus a few copies of the largest tensor; never the checkpoint.
    assert peak < 0.5 * size
    assert peak < 600e6 + 4 * largest
    header, _ = read_safetensors_header(str(tmp_path / "out" / "model.safetensors"))
    entry = header["llm.model.embed_tokens.weight"]
    assert (entry["dtype"], entry["shape"]) == ("BF16", [32014, 2048])
    os.remove(tmp_path / "out" / "model.safetensors")
