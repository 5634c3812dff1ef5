"""tools/xsam-export as a program: exit codes, messages, and the xsam CLI reading what it wrote."""
import os
import subprocess

from test_export_support import (GOLDEN_MODEL, GOLDEN_TOKENIZER, export_tiny, require_xsam_binary, run_export,
                                 write_hparams)


def test_script_exports_and_reports(tmp_path):
    out = tmp_path / "out"
    run = run_export("--checkpoint", GOLDEN_MODEL, "--tokenizer", GOLDEN_TOKENIZER, "--out", str(out),
                     "--hparams", write_hparams(tmp_path), subprocess_run=True)
    assert run.returncode == 0
    assert "322 tensors" in run.stderr and f"wrote {out}" in run.stderr
    assert sorted(os.listdir(out)) == ["added_tokens.json", "checksums.json", "config.json", "model.safetensors",
                                       "special_tokens_map.json", "tokenizer.model", "tokenizer_config.json"]


def test_script_error_exit_code_and_message(tmp_path):
    run = run_export("--checkpoint", str(tmp_path / "missing.bin"), "--tokenizer", GOLDEN_TOKENIZER,
                     "--out", str(tmp_path / "out"), subprocess_run=True, check=False)
    assert run.returncode == 1
    assert run.stderr.strip() == f"xsam-export: error: {tmp_path / 'missing.bin'}: checkpoint not found"


def test_script_usage_error(tmp_path):
    run = run_export("--checkpoint", GOLDEN_MODEL, subprocess_run=True, check=False)
    assert run.returncode == 2 and "--tokenizer" in run.stderr


def test_xsam_info_reads_the_exported_directory(tmp_path):
    xsam = require_xsam_binary()
    out = export_tiny(tmp_path, GOLDEN_MODEL)
    run = subprocess.run([xsam, "info", out], capture_output=True, text=True)
    assert run.returncode == 0, run.stderr
    sharded = export_tiny(tmp_path, GOLDEN_MODEL, "sharded", "--shard-size", "3MB")
    run = subprocess.run([xsam, "info", sharded], capture_output=True, text=True)
    assert run.returncode == 0, run.stderr
