"""Processor configs checked against the config, and `--fetch`.

--fetch runs the Hub client `hf`; here a stand-in `hf` (written below) plays the Hub: it writes the files
and the `.cache/huggingface/download/<file>.metadata` records that `hf download --local-dir` writes
(commit, ETag, timestamp), so that the verification is tested offline: a good download passes, a corrupt
file, a wrong ETag or another commit is refused by name.
"""
import hashlib
import json
import os
import shutil
import sys

import pytest
import torch

from test_export_support import (GOLDEN_CONFIG, GOLDEN_MODEL, GOLDEN_TOKENIZER, REPO, golden_state_dict, run_export,
                                 write_hparams)

FIXTURE_TOKENIZER_JSON = os.path.join(REPO, "tests", "data", "tokenizer", "tokenizer.json")


def golden_processors():
    tiny = json.load(open(GOLDEN_CONFIG))["tiny"]
    return tiny["siglip_processor"], tiny["sam_processor"]


def export_with(tmp_path, siglip=None, sam=None, check=True):
    args = ["--checkpoint", GOLDEN_MODEL, "--tokenizer", GOLDEN_TOKENIZER, "--out", str(tmp_path / "out"),
            "--hparams", write_hparams(tmp_path)]
    for option, doc, name in (("--siglip-processor", siglip, "siglip.json"), ("--sam-processor", sam, "sam.json")):
        if doc is not None:
            path = tmp_path / name
            path.write_text(json.dumps(doc))
            args += [option, str(path)]
    return run_export(*args, check=check)


def test_processor_configs_equal_to_the_config_pass(tmp_path):
    siglip, sam = golden_processors()
    export_with(tmp_path, siglip, sam)


@pytest.mark.parametrize("which,field,value,needle", [
    ("siglip", "resample", 3, "resample is 3 (bicubic), config.json needs 2 (bilinear; preprocess.siglip_resample)"),
    ("siglip", "size", {"height": 384, "width": 384}, 'size is {"height": 384, "width": 384}, config.json needs '
                                                       '{"height": 112, "width": 112}'),
    ("siglip", "image_mean", [0.485, 0.456, 0.406], "image_mean is [0.485, 0.456, 0.406], config.json needs [0.5"),
    ("siglip", "rescale_factor", 1 / 256, "rescale_factor is 0.00390625"),
    ("siglip", "do_normalize", False, "do_normalize is false, config.json needs true"),
    ("sam", "image_std", [0.5, 0.5, 0.5], "image_std is [0.5, 0.5, 0.5]"),
    ("sam", "size", {"longest_edge": 1024}, 'size is {"longest_edge": 1024}, config.json needs {"longest_edge": 256}'),
    ("sam", "pad_size", {"height": 1024, "width": 1024}, "pad_size is"),
    ("sam", "resample", 0, "resample is 0 (nearest)"),
])
def test_mismatched_processor_configs_are_refused(tmp_path, which, field, value, needle):
    siglip, sam = golden_processors()
    (siglip if which == "siglip" else sam)[field] = value
    run = export_with(tmp_path, siglip, sam, check=False)
    assert run.returncode == 1
    assert f"({which} preprocessor_config.json) disagrees with the config" in run.stderr and needle in run.stderr, \
        run.stderr
    assert not os.path.exists(tmp_path / "out" / "config.json")


# ---------------------------------------------------------------- --fetch with a stand-in Hub client

FAKE_HF = r'''#!{python}
"""Stand-in for `hf download REPO FILE... --local-dir DIR [--revision REV]`: copies from SOURCE/<repo>/."""
import hashlib, json, os, shutil, sys
source = {source!r}
args = sys.argv[1:]
assert args[0] == "download", args
repo = args[1]
files, i = [], 2
while i < len(args) and not args[i].startswith("--"):
    files.append(args[i]); i += 1
opts = dict(zip(args[i::2], args[i + 1::2]))
local = opts["--local-dir"]
behaviour = json.load(open(os.path.join(source, "behaviour.json")))
for name in files:
    dst = os.path.join(local, name)
    os.makedirs(os.path.dirname(dst), exist_ok=True)
    shutil.copyfile(os.path.join(source, repo, name), dst)
    data = open(dst, "rb").read()
    etag = hashlib.sha256(data).hexdigest() if name.endswith(".bin") or name == "tokenizer.model" else \
        hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()
    if behaviour.get("corrupt") == name:
        open(dst, "ab").write(b"x")
    meta = os.path.join(local, ".cache", "huggingface", "download", name + ".metadata")
    os.makedirs(os.path.dirname(meta), exist_ok=True)
    open(meta, "w").write(behaviour.get("commit", "a" * 40) + "\n" + etag + "\n1700000000.0\n")
'''


@pytest.fixture
def hub(tmp_path):
    """A stand-in Hub (files by repo) and its `hf`; returns (hf path, behaviour file)."""
    from xsam_export import fetch as f
    src = tmp_path / "hub"
    ckpt = src / f.XSAM_REPO / f.XSAM_FILE
    ckpt.parent.mkdir(parents=True)
    torch.save(golden_state_dict(), ckpt)
    phi3 = src / f.PHI3_REPO
    phi3.mkdir(parents=True)
    for name in f.PHI3_FILES:
        shutil.copyfile(FIXTURE_TOKENIZER_JSON if name == "tokenizer.json" else os.path.join(GOLDEN_TOKENIZER, name),
                        phi3 / name)
    siglip, sam = golden_processors()
    for repo, doc in ((f.SIGLIP_REPO, siglip), (f.SAM_REPO, sam)):
        (src / repo).mkdir(parents=True)
        (src / repo / f.PROCESSOR_FILE).write_text(json.dumps(doc))
    behaviour = src / "behaviour.json"
    behaviour.write_text("{}")
    hf = tmp_path / "hf"
    hf.write_text(FAKE_HF.format(python=sys.executable, source=str(src)))
    hf.chmod(0o755)
    return str(hf), behaviour


def test_fetch_downloads_verifies_and_exports(tmp_path, hub):
    hf, _ = hub
    out = tmp_path / "out"
    run_export("--fetch", str(tmp_path / "dl"), "--hf", hf, "--out", str(out), "--hparams", write_hparams(tmp_path))
    config = json.load(open(out / "config.json"))
    assert config["tokenizer"] == {"mode": "fast"}
    assert os.path.isfile(tmp_path / "dl" / "siglip2" / "preprocessor_config.json")


def test_fetch_without_out_only_downloads(tmp_path, hub):
    hf, _ = hub
    run_export("--fetch", str(tmp_path / "dl"), "--hf", hf)
    assert os.path.isfile(tmp_path / "dl" / "phi3-tokenizer" / "tokenizer.json")


@pytest.mark.parametrize("corrupt", ["pytorch_model.bin", "tokenizer_config.json"])
def test_fetch_refuses_a_corrupt_download(tmp_path, hub, corrupt):
    from xsam_export import fetch as f
    hf, behaviour = hub
    name = f.XSAM_FILE if corrupt == "pytorch_model.bin" else corrupt
    behaviour.write_text(json.dumps({"corrupt": name}))
    run = run_export("--fetch", str(tmp_path / "dl"), "--hf", hf, check=False)
    assert run.returncode == 1 and "(corrupt download)" in run.stderr and corrupt in run.stderr, run.stderr


def test_fetch_refuses_another_commit_than_the_pinned_revision(tmp_path, hub):
    hf, behaviour = hub
    behaviour.write_text(json.dumps({"commit": "b" * 40}))
    run = run_export("--fetch", str(tmp_path / "dl"), "--hf", hf, "--xsam-revision", "c" * 40, check=False)
    assert run.returncode == 1 and "not the requested revision " + "c" * 40 in run.stderr, run.stderr


def test_fetch_without_the_hub_client_says_how_to_install_it(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path))
    run = run_export("--fetch", str(tmp_path / "dl"), check=False)
    assert run.returncode == 1 and "python3 -m venv" in run.stderr and "huggingface_hub>=1.0" in run.stderr


def test_without_fetch_checkpoint_tokenizer_and_out_are_required():
    run = run_export("--checkpoint", GOLDEN_MODEL, check=False, subprocess_run=True)
    assert run.returncode == 2 and "--tokenizer, --out (or --fetch DIR)" in run.stderr, run.stderr


def test_verify_download_checks_lfs_and_git_etags(tmp_path):
    from xsam_export.errors import ExportError
    from xsam_export.fetch import verify_download
    data = b"hello"
    (tmp_path / "f.json").write_bytes(data)
    meta = tmp_path / ".cache" / "huggingface" / "download"
    meta.mkdir(parents=True)
    blob = hashlib.sha1(b"blob 5\0hello").hexdigest()
    (meta / "f.json.metadata").write_text(f"{'a' * 40}\n{blob}\n0\n")
    assert verify_download(str(tmp_path), "f.json") == hashlib.sha256(data).hexdigest()
    (meta / "f.json.metadata").write_text(f"{'a' * 40}\n{hashlib.sha256(data).hexdigest()}\n0\n")
    verify_download(str(tmp_path), "f.json")
    (meta / "f.json.metadata").write_text(f"{'a' * 40}\n{'0' * 64}\n0\n")
    with pytest.raises(ExportError, match="differs from the Hub's"):
        verify_download(str(tmp_path), "f.json")
