"""Batch segmentation on a Dask cluster: `xsam.dask` against `xsam segment`, on a real Dask
LocalCluster of 2 worker processes (Debian's python3-distributed) on loopback, with a tiny random model.

  1. 20 images (2 of them corrupt): the outputs equal `xsam segment`'s byte for byte (the JSON's timings
     aside) and failures.jsonl names the 2;
  2. one worker process SIGKILLed mid-run: the run completes, its images are retried elsewhere, every
     output exists exactly once (and still equals the CLI's);
  3. the same run again, through `python3 -m xsam.dask segment --scheduler ADDRESS`: nothing is recomputed.

Runs $XSAM_BUILD_DIR's CLI and library (tools/test.sh sets it; default build/). The BLAS thread counts are
pinned to 1 for the workers (Dask's default) and the CLI alike: OpenBLAS' thread count changes the last
bits of fp32 results, and the test must not depend on this machine's cores.
"""
import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
BUILD = Path(os.environ.get("XSAM_BUILD_DIR", ROOT / "build"))
XSAM = BUILD / "bin" / "xsam"
BINDING = ROOT / "bindings" / "python"
N_IMAGES = 20
CORRUPT = ("img07.png", "img13.png")
REQUEST = ["--task", "semantic", "--classes", "sky,road,tree", "--masks", "--maps", "--dtype", "fp32",
           "--threads", "1"]
PINNED = {"OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1"}

try:
    import distributed
except ImportError:  # pragma: no cover
    distributed = None


def env():
    e = dict(os.environ)
    e.setdefault("XSAM_TOKENIZER_PLUGIN", str(BUILD / "lib" / "xsam" / "libxsam_tokenizer.so"))
    e["OMP_WAIT_POLICY"] = "PASSIVE"
    e["XSAM_BUILD_DIR"] = str(BUILD)
    e["PYTHONPATH"] = str(BINDING) + (os.pathsep + e["PYTHONPATH"] if e.get("PYTHONPATH") else "")
    e.update(PINNED)
    return e


@pytest.fixture(scope="module")
def batch(tmp_path_factory):
    if not XSAM.exists():
        pytest.fail(f"{XSAM} not built (set XSAM_BUILD_DIR)")
    if distributed is None:
        pytest.fail("Dask distributed is missing: tools/setup.sh installs python3-distributed")
    from PIL import Image
    d = tmp_path_factory.mktemp("dask_batch")
    model = d / "model"
    subprocess.run([str(XSAM), "random-model", "--preset", "tiny", "--dtype", "fp32", str(model)], check=True,
                   env=env(), capture_output=True)
    images = []
    for i in range(N_IMAGES):
        p = d / "images" / f"img{i:02d}.png"
        p.parent.mkdir(exist_ok=True)
        if p.name == CORRUPT[0]:
            p.write_bytes(b"this is text, not a picture\n")
        elif p.name == CORRUPT[1]:
            Image.new("RGB", (64, 48), (10, 20, 30)).save(p)
            p.write_bytes(p.read_bytes()[:60])  # truncated inside the image data
        else:
            # Distinct pictures, large enough (post-processing and PNGs at this size) that the run lasts a
            # few seconds: long enough to kill a worker in the middle of it.
            im = Image.new("RGB", (1280, 960), ((i * 53) % 256, (i * 97) % 256, (i * 31) % 256))
            for x in range(0, 1280, 80):
                im.paste(((x * 7 + i) % 256, 255 - i * 10, x % 256), (x, (i * 37) % 800, x + 40, (i * 37) % 800 + 150))
            im.save(p)
        images.append(str(p))
    # The reference: `xsam segment` over the same paths.
    ref = subprocess.run([str(XSAM), "segment", "--model", str(model), "--out", str(d / "cli"), *REQUEST, *images],
                         env=env(), capture_output=True, text=True, timeout=600)
    assert ref.returncode == 1, ref.stderr  # 2 images failed
    assert "18 done, 0 skipped, 2 failed" in ref.stderr, ref.stderr
    return d, model, images


@pytest.fixture(scope="module")
def cluster():
    """A LocalCluster of 2 worker processes with one thread each (nannies restart a killed worker)."""
    import dask
    saved_env = dict(os.environ)  # Dask's nanny writes its pre-spawn variables into this process's environment
    sys.path.insert(0, str(BINDING))  # the workers are spawned with this sys.path
    os.environ.setdefault("XSAM_BUILD_DIR", str(BUILD))
    os.environ.setdefault("XSAM_TOKENIZER_PLUGIN", str(BUILD / "lib" / "xsam" / "libxsam_tokenizer.so"))
    os.environ["OMP_WAIT_POLICY"] = "PASSIVE"
    with dask.config.set({"distributed.nanny.pre-spawn-environ": dict(PINNED, MALLOC_TRIM_THRESHOLD_="65536"),
                          "distributed.scheduler.allowed-failures": 3}):
        c = distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None,
                                     memory_limit=0, host="127.0.0.1")
        client = distributed.Client(c)
        try:
            yield c, client
        finally:
            client.close()
            c.close()
            os.environ.clear()
            os.environ.update(saved_env)


def request():
    return {"task": "semantic", "classes": ["sky", "road", "tree"]}


def run_dask(client, model, images, out, **kw):
    from xsam import dask as xdask
    return xdask.segment(images, model, out, request(), masks=True, maps=True, dtype="fp32", threads=1,
                         client=client, progress=False, **kw)


def files(out: Path):
    return sorted(p.name for p in out.iterdir() if p.name != "manifest.jsonl")


TIMINGS = re.compile(r'\n  "timings": \{[^}]*\},?')


def without_timings(text):
    out, n = TIMINGS.subn("", text)
    assert n == 1, "no timings block"
    return out


def assert_same_as_cli(d: Path, out: Path):
    cli = d / "cli"
    assert files(out) == files(cli)
    for name in files(cli):
        a, b = (cli / name).read_bytes(), (out / name).read_bytes()
        if name.endswith(".json") and name != "failures.jsonl":
            assert without_timings(b.decode()) == without_timings(a.decode()), f"{name} differs from xsam segment's"
        elif name == "failures.jsonl":
            assert sorted(b.splitlines()) == sorted(a.splitlines()), "failures.jsonl differs from xsam segment's"
        else:
            assert a == b, f"{name} differs from xsam segment's"


def failed_images(out: Path):
    return sorted(Path(json.loads(line)["image"]).name for line in (out / "failures.jsonl").read_text().splitlines())


def test_outputs_equal_xsam_segment(batch, cluster):
    d, model, images = batch
    _, client = cluster
    s = run_dask(client, model, images, d / "a")
    assert (s.submitted, s.written, s.failed, s.skipped) == (20, 18, 2, 0), s
    assert failed_images(d / "a") == sorted(CORRUPT)
    errors = {Path(json.loads(l)["image"]).name: json.loads(l)["error"]
              for l in (d / "a" / "failures.jsonl").read_text().splitlines()}
    assert errors["img07.png"].startswith("format: ") and "img07.png" in errors["img07.png"], errors
    assert errors["img13.png"].startswith("format: ") and "img13.png" in errors["img13.png"], errors
    assert_same_as_cli(d, d / "a")
    assert len(s.workers) == 2, f"both workers should have computed images: {s.workers}"


def test_killed_worker_loses_nothing_and_writes_nothing_twice(batch, cluster):
    d, model, images = batch
    c, client = cluster
    out = d / "b"
    pids = client.run(os.getpid)
    assert len(pids) == 2
    victim_addr, victim = sorted(pids.items())[0]
    killed = {}

    def killer():
        deadline = time.time() + 300
        while time.time() < deadline:
            if out.exists() and len(list(out.glob("*.json"))) >= 3:
                killed["done_before"] = len(list(out.glob("img*.json")))
                os.kill(victim, signal.SIGKILL)
                killed["pid"] = victim
                return
            time.sleep(0.01)

    t = threading.Thread(target=killer)
    t.start()
    s = run_dask(client, model, images, out)
    t.join()
    assert killed.get("pid") == victim, "the worker was not killed"
    print(f"\nkill test: killed worker pid {victim} after {killed['done_before']} images; submitted {s.submitted}, "
          f"retried {s.retried}, written {s.written}, failed {s.failed}, files written {s.outputs_written}, "
          f"per worker {s.workers}")
    assert killed["done_before"] < 18, "the run was over before the kill: make the images larger"
    with pytest.raises(ProcessLookupError):
        os.kill(victim, 0)
    assert (s.submitted, s.written, s.failed) == (20, 18, 2), s
    assert s.retried >= 1, f"the killed worker's task was not retried: {s}"
    # Every output exactly once: the CLI's file set, no temporary, one manifest line per image.
    assert not [n for n in os.listdir(out) if ".tmp" in n]
    assert_same_as_cli(d, out)
    lines = [json.loads(l) for l in (out / "manifest.jsonl").read_text().splitlines()]
    assert sorted(e["output"] for e in lines) == sorted(f"img{i:02d}" for i in range(20) if f"img{i:02d}.png" not in CORRUPT)
    assert s.outputs_written == len(files(out)) - 1  # everything but failures.jsonl, each written once
    assert failed_images(out) == sorted(CORRUPT)
    # The nanny replaced the killed worker process.
    deadline = time.time() + 120
    while time.time() < deadline and len(client.scheduler_info()["workers"]) < 2:
        time.sleep(0.2)
    assert len(client.run(os.getpid)) == 2
    assert victim not in client.run(os.getpid).values()


def test_rerun_recomputes_nothing(batch, cluster):
    d, model, images = batch
    c, client = cluster
    out = d / "b"
    before = {p.name: (p.stat().st_mtime_ns, p.read_bytes()) for p in out.iterdir() if p.name != "failures.jsonl"}
    summary = d / "rerun-summary.json"
    r = subprocess.run([sys.executable, "-m", "xsam.dask", "segment", "--model", str(model), "--out", str(out),
                        *REQUEST, "--scheduler", c.scheduler_address, "--summary-json", str(summary), *images],
                       env=env(), capture_output=True, text=True, timeout=600)
    assert r.returncode == 1, r.stderr  # the 2 corrupt images fail again
    assert "18 image(s) already done, skipped" in r.stderr, r.stderr
    s = json.loads(summary.read_text())
    assert (s["written"], s["skipped"], s["failed"], s["submitted"]) == (0, 18, 2, 2), s
    after = {p.name: (p.stat().st_mtime_ns, p.read_bytes()) for p in out.iterdir() if p.name != "failures.jsonl"}
    assert after == before, "an output was rewritten"
    assert failed_images(out) == sorted(CORRUPT)


def test_cli_errors_name_the_argument(batch, tmp_path):
    d, model, images = batch
    def run(*args):
        return subprocess.run([sys.executable, "-m", "xsam.dask", *args], env=env(), capture_output=True, text=True,
                              timeout=120)
    r = run("segment", "--model", str(tmp_path / "nope"), "--out", str(tmp_path / "o"), images[0])
    assert r.returncode == 2 and "--model" in r.stderr and "nope" in r.stderr, r.stderr
    r = run("segment", "--model", str(model), "--out", str(tmp_path / "o"), "--glob", str(tmp_path / "*.none"))
    assert r.returncode == 2 and "--glob" in r.stderr and "matches no file" in r.stderr, r.stderr
    r = run("segment", "--model", str(model), "--out", str(tmp_path / "o"), "--box", "1,2,3", images[0])
    assert r.returncode == 2 and "--box expects X0,Y0,X1,Y1, got '1,2,3'" in r.stderr, r.stderr
    r = run("frobnicate")
    assert r.returncode == 2 and "unknown command 'frobnicate'" in r.stderr, r.stderr
    # Outputs that came from another request are not overwritten.
    r = run("segment", "--model", str(model), "--out", str(d / "cli"), *REQUEST, images[0])
    assert r.returncode == 2 and "came from another model, task, prompt or option" in r.stderr, r.stderr


def test_a_model_no_worker_can_load_stops_the_run(batch, cluster, tmp_path):
    from xsam import dask as xdask
    d, model, images = batch
    _, client = cluster
    bad = tmp_path / "bad-model"
    bad.mkdir()
    (bad / "config.json").write_text("{not json")
    with pytest.raises(xdask.RunError) as e:
        run_dask(client, bad, images[:2], tmp_path / "o")
    msg = str(e.value)
    assert "the model cannot be loaded" in msg and "worker tcp://" in msg and "config.json" in msg, msg
    assert not (tmp_path / "o" / "img00.json").exists()
