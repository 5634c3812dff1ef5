"""Nothing lost: `xsam segment` killed mid-batch (SIGKILL) leaves no partial or corrupt output
under a final name, and a rerun completes the batch while skipping what was already done.

The CLI writes every file to NAME.tmp and renames it, the JSON last (src/cli/cmd_segment.cpp), so an image
whose JSON exists is complete. Runs the CLI of $XSAM_BUILD_DIR (tools/test.sh sets it; default build/) on a
tiny random model. Debian's python3 (python3-pil) reads the PNGs back.
"""
import json
import os
import signal
import subprocess
import time
from pathlib import Path

import pytest
from PIL import Image

ROOT = Path(__file__).resolve().parents[2]
BUILD = Path(os.environ.get("XSAM_BUILD_DIR", ROOT / "build"))
XSAM = BUILD / "bin" / "xsam"
N_IMAGES = 20


def env():
    e = dict(os.environ)
    e.setdefault("XSAM_TOKENIZER_PLUGIN", str(BUILD / "lib" / "xsam" / "libxsam_tokenizer.so"))
    e["OMP_WAIT_POLICY"] = "PASSIVE"
    return e


@pytest.fixture(scope="module")
def batch(tmp_path_factory):
    if not XSAM.exists():
        pytest.fail(f"{XSAM} not built (set XSAM_BUILD_DIR)")
    d = tmp_path_factory.mktemp("kill_resume")
    model = d / "model"
    subprocess.run([str(XSAM), "random-model", "--preset", "tiny", "--dtype", "fp32", str(model)], check=True,
                   env=env(), capture_output=True)
    images = []
    for i in range(N_IMAGES):
        # Distinct pictures (no per-image cache hits), large enough that each takes a moment.
        im = Image.new("RGB", (480, 360), ((i * 53) % 256, (i * 97) % 256, (i * 31) % 256))
        for x in range(0, 480, 40):
            im.paste(((x * 7 + i) % 256, 255 - i * 10, x % 256), (x, (i * 13) % 300, x + 20, (i * 13) % 300 + 50))
        p = d / f"img{i:02d}.png"
        im.save(p)
        images.append(p)
    cmd = [str(XSAM), "segment", "--model", str(model), "--out", str(d / "out"), "--task", "semantic",
           "--classes", "sky,road,tree", "--masks", "--maps", "--dtype", "fp32", "--threads", "1"] + [str(p) for p in images]
    return d, cmd


def outputs(out: Path):
    return sorted(p.name for p in out.iterdir()) if out.exists() else []


def check_complete(out: Path, stem: str):
    """A finished image: its JSON parses and every PNG it names on disk decodes completely."""
    with open(out / f"{stem}.json") as f:
        result = json.load(f)
    assert isinstance(result, dict) and "masks" in result, f"{stem}.json is not a result"
    pngs = [p for p in out.glob(f"{stem}.*.png")]
    assert any(p.name == f"{stem}.overlay.png" for p in pngs), f"{stem}: overlay missing although the JSON exists"
    for p in pngs:
        with Image.open(p) as im:
            im.load()  # raises on a truncated or corrupt file


def test_killed_batch_leaves_no_partial_output_and_resumes(batch):
    d, cmd = batch
    out = d / "out"
    proc = subprocess.Popen(cmd, env=env(), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    # Kill once a few images are done, i.e. mid-run.
    deadline = time.time() + 120
    while time.time() < deadline and proc.poll() is None:
        if out.exists() and len(list(out.glob("*.json"))) >= 3:
            break
        time.sleep(0.02)
    assert proc.poll() is None, "the batch finished before it could be killed: make it longer"
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    proc.stderr.close()
    assert proc.returncode == -signal.SIGKILL

    done = sorted(p.stem for p in out.glob("*.json"))
    assert 3 <= len(done) < N_IMAGES, f"killed after {len(done)} images"
    print(f"killed after {len(done)} of {N_IMAGES} images; leftovers: {[n for n in outputs(out) if '.tmp' in n]}")
    # Under final names: only complete results. A NAME.tmp of the image in flight may remain.
    for stem in done:
        check_complete(out, stem)
    finals = [n for n in outputs(out) if ".tmp" not in n and n != "manifest.jsonl"]
    for name in finals:
        stem = name.split(".")[0]
        if stem not in done:
            # PNGs of the image in flight may precede its JSON; they must be whole files all the same.
            with Image.open(out / name) as im:
                im.load()
    before = {stem: ((out / f"{stem}.json").stat().st_mtime_ns, (out / f"{stem}.json").read_bytes()) for stem in done}

    rerun = subprocess.run(cmd, env=env(), capture_output=True, text=True, timeout=600)
    assert rerun.returncode == 0, rerun.stderr
    assert f"{len(done)} image(s) already done, skipped" in rerun.stderr, rerun.stderr
    assert f"{N_IMAGES - len(done)} done, {len(done)} skipped, 0 failed" in rerun.stderr, rerun.stderr
    for i in range(N_IMAGES):
        check_complete(out, f"img{i:02d}")
    for stem, (mtime, data) in before.items():
        assert (out / f"{stem}.json").stat().st_mtime_ns == mtime, f"{stem} was recomputed"
        assert (out / f"{stem}.json").read_bytes() == data
    assert not [n for n in outputs(out) if ".tmp" in n], outputs(out)
    assert not (out / "failures.jsonl").exists()
