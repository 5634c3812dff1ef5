"""`xsam segment` as a batch tool: 20 images with one corrupt file give 19 results, one line in
failures.jsonl and a non-zero exit; a rerun skips the 19; the JSON masks (COCO RLE) decode, with a decoder
written here, to the mask PNGs the library wrote."""
import json
import os
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

ROOT = Path(__file__).resolve().parents[2]
BUILD = Path(os.environ.get("XSAM_BUILD_DIR", ROOT / "build"))
XSAM = BUILD / "bin" / "xsam"
SAMPLE = ROOT / "assets" / "chelsea.png"


def coco_rle_decode(counts: str, h: int, w: int) -> np.ndarray:
    """pycocotools' rleFrString + rleDecode, independently written: column-major runs starting with zeros."""
    runs, p = [], 0
    while p < len(counts):
        x, k, more = 0, 0, True
        while more:
            c = ord(counts[p]) - 48
            x |= (c & 0x1F) << (5 * k)
            more = bool(c & 0x20)
            p += 1
            k += 1
            if not more and (c & 0x10):
                x |= -1 << (5 * k)
        if len(runs) > 2:
            x += runs[-2]
        runs.append(x)
    flat = np.zeros(h * w, dtype=np.uint8)
    pos, val = 0, 0
    for r in runs:
        flat[pos:pos + r] = val
        pos += r
        val ^= 1
    assert pos == h * w, "RLE counts do not cover the image"
    return flat.reshape(w, h).T


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory):
    if not XSAM.exists():
        pytest.fail(f"{XSAM} not built")
    d = tmp_path_factory.mktemp("model") / "tiny"
    subprocess.run([str(XSAM), "random-model", "--preset", "tiny", str(d)], check=True, capture_output=True)
    return d


@pytest.fixture(scope="module")
def batch(tmp_path_factory):
    d = tmp_path_factory.mktemp("images")
    base = Image.open(SAMPLE).convert("RGB")
    paths = []
    for i in range(20):
        p = d / f"img{i:02d}.png"
        if i == 7:
            p.write_bytes(b"\x89PNG\r\n\x1a\n this is not really a png")  # corrupt
        else:
            base.resize((64 + 4 * i, 48 + 3 * i)).save(p)
        paths.append(p)
    return paths


def run_segment(model, out, images, *extra):
    cmd = [str(XSAM), "segment", "--model", str(model), "--out", str(out), "--dtype", "fp32", "--threads", "1",
           "--task", "referring", "--prompt", "the cat", "--masks", *extra, *map(str, images)]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=600)


def test_batch_with_one_corrupt_image_then_resume(tiny_model, batch, tmp_path):
    out = tmp_path / "out"
    r = run_segment(tiny_model, out, batch)
    assert r.returncode != 0, r.stderr
    jsons = sorted(out.glob("*.json"))
    assert len(jsons) == 19
    failures = (out / "failures.jsonl").read_text().strip().splitlines()
    assert len(failures) == 1
    f = json.loads(failures[0])
    assert f["image"].endswith("img07.png") and "img07.png" in f["error"]
    assert not list(out.glob("*.tmp*")), "temporary files left behind"
    assert not (out / "img07.json").exists() and not (out / "img07.overlay.png").exists()
    mtimes = {p.name: p.stat().st_mtime_ns for p in jsons}

    r2 = run_segment(tiny_model, out, batch)
    assert r2.returncode != 0  # the corrupt image still fails
    assert "19 image(s) already done, skipped" in r2.stderr
    assert {p.name: p.stat().st_mtime_ns for p in sorted(out.glob("*.json"))} == mtimes
    # failures.jsonl holds the latest run's failures: the corrupt image once, no stale line.
    assert len((out / "failures.jsonl").read_text().strip().splitlines()) == 1


def test_json_masks_decode_to_the_library_bitmaps(tiny_model, tmp_path):
    out = tmp_path / "out"
    r = run_segment(tiny_model, out, [SAMPLE])
    assert r.returncode == 0, r.stderr
    res = json.loads((out / "chelsea.json").read_text())
    assert res["task"] == "referring" and res["width"] == 451 and res["height"] == 300
    assert len(res["masks"]) == 1
    for k, m in enumerate(res["masks"]):
        h, w = m["segmentation"]["size"]
        decoded = coco_rle_decode(m["segmentation"]["counts"], h, w)
        png = np.array(Image.open(out / f"chelsea.mask-{k}.png")) > 0
        assert decoded.shape == png.shape
        assert (decoded.astype(bool) == png).all()
        assert int(decoded.sum()) == m["area"]
        if m["area"]:
            ys, xs = np.nonzero(decoded)
            assert m["box"] == [float(xs.min()), float(ys.min()), float(xs.max() + 1), float(ys.max() + 1)]
    assert (out / "chelsea.overlay.png").exists()


def test_bad_arguments_fail_clearly(tiny_model, tmp_path):
    r = subprocess.run([str(XSAM), "segment", "--model", str(tiny_model), "--out", str(tmp_path), "--task", "nope",
                        str(SAMPLE)], capture_output=True, text=True)
    assert r.returncode == 2 and "--task" in r.stderr
    r = subprocess.run([str(XSAM), "segment", "--model", str(tmp_path / "missing"), "--out", str(tmp_path),
                        str(SAMPLE)], capture_output=True, text=True)
    assert r.returncode == 1 and "missing" in r.stderr
    # a referring task with a visual ref makes no sense; a zero-width box is degenerate
    r = run_segment(tiny_model, tmp_path / "o2", [SAMPLE], "--box", "10,10,100,50")
    assert r.returncode == 1
    assert "refs" in (tmp_path / "o2" / "failures.jsonl").read_text()
    cmd = [str(XSAM), "segment", "--model", str(tiny_model), "--out", str(tmp_path / "o3"), "--dtype", "fp32",
           "--task", "interactive", "--box", "10,10,10,50", str(SAMPLE)]
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    assert r.returncode == 1
    assert "visual ref 0 (box)" in (tmp_path / "o3" / "failures.jsonl").read_text()
