#!/usr/bin/python3
"""The scaling figure of docs/scale-out.md: images per minute of `xsam.dask` on a LocalCluster
with 1 and 2 worker processes. A benchmark, not a test (pytest does not collect it).

  XSAM_BUILD_DIR=build /usr/bin/python3 tests/python/bench_dask_scaling.py --model DIR [--images N]
      [--size WxH] [--configs 1x1,1x2,2x1] [--task semantic --classes sky,road,tree]

--configs: WORKERSxTHREADS per run (threads: each worker's model and BLAS). Each configuration gets a fresh
LocalCluster; its model loads and a warm-up image are excluded: the clock runs from the first submission of
the measured batch to its last written output, into a fresh output directory. Prints one line per
configuration and a JSON summary.
"""
import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "bindings" / "python"))


def make_images(d: Path, n, size):
    from PIL import Image
    w, h = size
    paths = []
    for i in range(n + 2):  # +2: the warm-up images
        im = Image.new("RGB", (w, h), ((i * 53) % 256, (i * 97) % 256, (i * 31) % 256))
        for x in range(0, w, max(1, w // 16)):
            im.paste(((x * 7 + i) % 256, 255 - (i * 10) % 256, x % 256),
                     (x, (i * 37) % max(1, h - h // 6), x + w // 32, (i * 37) % max(1, h - h // 6) + h // 6))
        p = d / f"bench{i:03d}.png"
        im.save(p)
        paths.append(str(p))
    return paths[:2], paths[2:]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", required=True)
    ap.add_argument("--images", type=int, default=40)
    ap.add_argument("--size", default="1280x960")
    ap.add_argument("--configs", default="1x1,1x2,2x1")
    ap.add_argument("--task", default="semantic")
    ap.add_argument("--classes", default="sky,road,tree")
    ap.add_argument("--prompt")
    ap.add_argument("--dtype", default="auto")
    ap.add_argument("--masks", action="store_true")
    ap.add_argument("--maps", action="store_true")
    a = ap.parse_args()

    import dask
    import distributed
    from xsam import dask as xdask

    size = tuple(int(v) for v in a.size.split("x"))
    request = {"task": a.task}
    if a.classes and a.task != "referring":
        request["classes"] = a.classes.split(",")
    if a.prompt:
        request["prompt"] = a.prompt
    work = Path(tempfile.mkdtemp(prefix="xsam-bench-dask-"))
    warm, images = make_images(work, a.images, size)
    rows = []
    for config in a.configs.split(","):
        workers, threads = (int(v) for v in config.split("x"))
        blas = {k: str(threads) for k in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS")}
        with dask.config.set({"distributed.nanny.pre-spawn-environ": dict(blas, MALLOC_TRIM_THRESHOLD_="65536")}):
            cluster = distributed.LocalCluster(n_workers=workers, threads_per_worker=1, processes=True,
                                               dashboard_address=None, memory_limit=0, host="127.0.0.1")
        client = distributed.Client(cluster)
        try:
            t0 = time.monotonic()
            kw = dict(masks=a.masks, maps=a.maps, dtype=a.dtype, threads=threads, client=client, progress=False,
                      log=open(os.devnull, "w"))
            # Model loads and one warm-up image per worker (each worker's first image pays for lazy set-up).
            xdask.segment(warm[:workers], a.model, work / f"warm-{config}", request, **kw)
            client.run(lambda: None)
            load = time.monotonic() - t0
            s = xdask.segment(images, a.model, work / f"out-{config}", request, **kw)
            seconds = s.seconds
        finally:
            client.close()
            cluster.close()
        row = {"workers": workers, "threads": threads, "images": s.written, "seconds": round(seconds, 2),
               "images_per_minute": round(60 * s.written / seconds, 1), "startup_seconds": round(load, 1),
               "per_worker": sorted(s.workers.values())}
        rows.append(row)
        print(f"{workers} worker(s) x {threads} thread(s): {s.written} images in {seconds:.1f} s = "
              f"{row['images_per_minute']} images/min (cluster start + model load {load:.1f} s)", flush=True)
    print(json.dumps({"cores": os.cpu_count(), "size": a.size, "task": a.task, "runs": rows}, indent=2))


if __name__ == "__main__":
    main()
