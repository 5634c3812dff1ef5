"""xsam.dask: `xsam segment` on a Dask cluster (docs/scale-out.md).

    python3 -m xsam.dask segment --model DIR --out DIR [--scheduler ADDRESS] [options] IMAGES...

or from Python:

    from xsam.dask import segment
    summary = segment(["a.jpg", "b.jpg"], "models/xsam", "out/", {"task": "referring", "prompt": "the cat"})

Every worker process loads the model once (a worker plugin, `ModelPlugin`) and keeps it; every image is one
task, run on that worker's context (its per-image cache). The driver (this process) plans the batch exactly
as `xsam segment` does (output names, skip what is done, refuse to overwrite what came from elsewhere),
sends the tasks, and is the only writer: each output is written to NAME.tmp.PID and renamed, the JSON
last, so an image whose JSON exists is complete and a rerun skips it. A bad image lands in
OUT/failures.jsonl and the batch goes on. A worker process that dies is replaced by its nanny and the
scheduler gives its images to another worker; their results reach the driver once, so nothing is lost and
nothing is written twice. The files are those `xsam segment` writes, byte for byte (the JSON's timings
aside): NAME.json, NAME.overlay.png, NAME.mask-K.png (--masks), NAME.map.png (--maps).

Requires Dask distributed (Debian: python3-distributed) on the driver and on every worker, and this
package (with libxsam) on every worker.
"""
import argparse
import asyncio
import hashlib
import json
import os
import sys
import threading
import time

__all__ = ["ModelPlugin", "Summary", "segment", "main", "PLUGIN_NAME", "TASK_PREFIX"]

PLUGIN_NAME = "xsam-model"
TASK_PREFIX = "xsam-segment"  # Dask's task prefix: the dashboard groups the images under this name
MANIFEST = "manifest.jsonl"
FAILURES = "failures.jsonl"
MAX_STEM_BYTES = 120  # as src/cli/batch_outputs.h


def _distributed():
    try:
        import distributed
    except ImportError as e:  # pragma: no cover - depends on the installation
        raise ImportError("xsam.dask needs Dask distributed (Debian: apt install python3-distributed): "
                          f"{e}") from e
    return distributed


# ---------------------------------------------------------------------------------------------------------
# The worker side: one model per worker process.

try:
    from distributed.diagnostics.plugin import WorkerPlugin as _WorkerPluginBase
except ImportError:  # pragma: no cover - xsam.dask imports without Dask; using it needs Dask
    _WorkerPluginBase = object


class ModelPlugin(_WorkerPluginBase):
    """Loads the model once per worker process (at registration, and on every worker that joins later,
    e.g. the replacement of one that died) and keeps it until the worker closes. One context per worker
    thread. A model that cannot be loaded is not an exception on the worker: `error` holds the reason and
    every task of this worker reports it, so that the driver stops with it."""

    name = PLUGIN_NAME

    def __init__(self, model_dir, dtype="auto", threads=None):
        self.model_dir = os.fspath(model_dir)
        self.dtype = dtype
        self.threads = threads
        self._reset()

    def _reset(self):
        self.model = None
        self.error = None
        self._local = threading.local()
        self._contexts = []
        self._lock = threading.Lock()

    def settings(self):
        return [os.path.abspath(self.model_dir), self.dtype, self.threads]

    # Only the settings travel to the workers, never a loaded model.
    def __getstate__(self):
        return {"model_dir": self.model_dir, "dtype": self.dtype, "threads": self.threads}

    def __setstate__(self, state):
        self.__dict__.update(state)
        self._reset()

    async def setup(self, worker):
        # Loading a full-size model takes a while: off the worker's event loop, which must keep answering
        # the scheduler's heartbeats.
        await asyncio.get_running_loop().run_in_executor(None, self._load)

    def _load(self):
        import xsam
        try:
            self.model = xsam.Model(self.model_dir, dtype=self.dtype, threads=self.threads)
        except Exception as e:  # noqa: BLE001 - reported to the driver, which stops with it
            self.error = f"{self.model_dir}: {_error_text(e)}"

    def context(self):
        ctx = getattr(self._local, "ctx", None)
        if ctx is None:
            with self._lock:
                ctx = self.model.context()
                self._contexts.append(ctx)
            self._local.ctx = ctx
        return ctx

    def teardown(self, worker):
        for ctx in self._contexts:
            ctx.close()
        if self.model is not None:
            self.model.close()
        self._reset()


def _error_text(e):
    """As `xsam segment` words a failure: 'STATUS: message'."""
    import xsam
    if isinstance(e, xsam.Error):
        return f"{e.status_name}: {e.message}"
    return f"{type(e).__name__}: {e}"


def _segment_task(job, request, outputs):
    """One image on this worker's model: the bytes of every output, or the error. Runs on a worker."""
    import xsam
    from distributed import get_worker
    worker = get_worker()
    plugin = worker.plugins.get(PLUGIN_NAME)
    where = {"worker": worker.address, "pid": os.getpid()}
    if plugin is None or plugin.model is None:
        reason = plugin.error if plugin is not None and plugin.error else "the model is not loaded (no xsam plugin)"
        return dict(where, fatal=f"worker {worker.address}: {reason}")
    path = job["path"] if os.getcwd() == job["cwd"] else job["absolute"]
    try:
        with open(path, "rb") as f:
            content_sha256 = hashlib.sha256(f.read()).hexdigest()
    except OSError as e:
        return dict(where, error=f"cannot read: {e.strerror or e}")
    started = time.perf_counter()
    image = None
    try:
        image = xsam.load_image(path)
        result = plugin.context().segment(image, **request)
    except xsam.Error as e:
        return dict(where, error=_error_text(e))
    try:
        files = []
        if outputs["overlay"]:
            try:
                files.append(("overlay.png", result.overlay_png(image)))
            except xsam.Error as e:
                return dict(where, error=f"overlay: {e.message}")
        if outputs["masks"]:
            for k in range(len(result)):
                try:
                    files.append((f"mask-{k}.png", result.mask_png(k)))
                except xsam.Error:
                    pass  # as xsam segment: a mask that cannot be rendered is left out
        if outputs["maps"] and (result.semantic_map is not None or result.panoptic_map is not None):
            try:
                files.append(("map.png", result.map_png()))
            except xsam.Error:
                pass
        try:
            text = result.to_json()
        except xsam.Error as e:
            return dict(where, error=f"json: {e.message}")
    finally:
        result.close()
    doc = json.loads(text, parse_float=_Number, parse_int=_Number)
    _put_path(doc, "image", job["path_bytes"])
    return dict(where, files=files, json=_dump(doc, 2) + "\n", sha256=content_sha256,
                seconds=time.perf_counter() - started)


# ---------------------------------------------------------------------------------------------------------
# JSON as `xsam segment` writes it (nlohmann::json::dump(2)): keys sorted, two-space indent, numbers as the
# library printed them (kept as their text, so that no float is reformatted), non-ASCII as UTF-8.

class _Number(str):
    """A JSON number kept as its text."""


def _dump(v, indent=None, level=0):
    if isinstance(v, dict):
        if not v:
            return "{}"
        items = [(json.dumps(k, ensure_ascii=False), v[k]) for k in sorted(v)]
        if indent is None:
            return "{" + ",".join(f"{k}:{_dump(x)}" for k, x in items) + "}"
        pad = " " * (indent * (level + 1))
        body = ",\n".join(f"{pad}{k}: {_dump(x, indent, level + 1)}" for k, x in items)
        return "{\n" + body + "\n" + " " * (indent * level) + "}"
    if isinstance(v, list):
        if not v:
            return "[]"
        if indent is None:
            return "[" + ",".join(_dump(x) for x in v) + "]"
        pad = " " * (indent * (level + 1))
        body = ",\n".join(pad + _dump(x, indent, level + 1) for x in v)
        return "[\n" + body + "\n" + " " * (indent * level) + "]"
    if isinstance(v, _Number):
        return str.__str__(v)
    if v is True:
        return "true"
    if v is False:
        return "false"
    if v is None:
        return "null"
    if isinstance(v, str):
        return json.dumps(v, ensure_ascii=False)
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        return repr(v)
    raise TypeError(f"cannot write {type(v).__name__} as JSON")


def _utf8_lossy(b):
    """The bytes as text, each byte that is not part of well-formed UTF-8 replaced by U+FFFD (as the CLI)."""
    out, i = [], 0
    while i < len(b):
        c = b[i]
        n = 1 if c < 0x80 else 2 if c < 0xE0 else 3 if c < 0xF0 else 4
        try:
            out.append(b[i:i + n].decode("utf-8"))
            i += n
        except UnicodeDecodeError:
            out.append("\ufffd")
            i += 1
    return "".join(out)


def _put_path(doc, key, path_bytes):
    """doc[key] = the path as text; a path that is not UTF-8 also gets doc[key + '_bytes'] in hex."""
    doc[key] = _utf8_lossy(path_bytes)
    try:
        path_bytes.decode("utf-8")
    except UnicodeDecodeError:
        doc[key + "_bytes"] = path_bytes.hex()


def _sha256(b):
    return hashlib.sha256(b).hexdigest()


def _output_name(path_bytes, absolute_bytes, taken):
    """As src/cli/batch_outputs.cpp output_name(): the file's stem made safe, or STEM-HASH when the stem had
    to change or `taken` holds it."""
    base = path_bytes[path_bytes.rfind(b"/") + 1:]
    dot = base.rfind(b".")
    stem = base if dot <= 0 else base[:dot]
    safe = "".join("_" if ord(c) < 0x20 or c == "\x7f" else c for c in _utf8_lossy(stem)).encode()
    if len(safe) > MAX_STEM_BYTES:
        cut = MAX_STEM_BYTES
        while cut > 0 and (safe[cut] & 0xC0) == 0x80:
            cut -= 1
        safe = safe[:cut]
    name = safe.decode() if safe else "image"
    if name.encode() == stem and name not in taken:
        return name
    digest = _sha256(absolute_bytes)
    out = name + "-" + digest[:12]
    k = 16
    while out in taken and k <= 64:
        out = name + "-" + digest[:k]
        k += 4
    return out


# ---------------------------------------------------------------------------------------------------------
# The driver: plan, submit, write.

class Summary:
    """What a run did. `submitted`: tasks sent to the cluster; `retried`: tasks the scheduler had to give
    to another worker because theirs died; `written`: images whose outputs were written; `skipped`: done
    before; `failed`: in failures.jsonl; `outputs_written`: files written (each exactly once)."""

    def __init__(self):
        self.total = self.submitted = self.retried = self.written = self.skipped = self.failed = 0
        self.outputs_written = 0
        self.seconds = 0.0
        self.workers = {}  # worker address -> images computed there
        self.failures = []  # (path, error)
        self.not_attempted = 0

    @property
    def ok(self):
        return self.failed == 0 and self.not_attempted == 0

    def as_dict(self):
        return {k: getattr(self, k) for k in ("total", "submitted", "retried", "written", "skipped", "failed",
                                              "outputs_written", "seconds", "workers", "not_attempted")}

    def __repr__(self):
        return f"<xsam.dask.Summary {self.as_dict()}>"


class RunError(Exception):
    """The run cannot start or cannot go on (bad options, an output directory that cannot be written, a
    model no worker can load, outputs that came from elsewhere): the message says which and why."""


def _write_atomic(path, data):
    tmp = f"{path}.tmp.{os.getpid()}"
    try:
        with open(tmp, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except OSError as e:
        try:
            os.remove(tmp)
        except OSError:
            pass
        raise OSError(e.errno, f"{path}: write failed: {e.strerror}") from e


def _append_line(path, line):
    """One write(2) on an O_APPEND descriptor: concurrent writers never interleave lines."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_CLOEXEC, 0o644)
    try:
        data = line.encode()
        if os.write(fd, data) != len(data):
            raise OSError(f"{path}: short write")
    finally:
        os.close(fd)


def _remove_stale_temporaries(out_dir):
    for name in os.listdir(out_dir):
        at = name.rfind(".tmp.")
        if at < 0 or not name[at + 5:].isdigit():
            continue
        pid = int(name[at + 5:])
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            try:
                os.remove(os.path.join(out_dir, name))
            except OSError:
                pass
        except OSError:
            pass


def _load_manifest(out_dir):
    """{output: entry}, {input_id: output}; a torn last line (a killed run) is ignored, later lines win."""
    by_output, by_input = {}, {}
    path = os.path.join(out_dir, MANIFEST)
    try:
        f = open(path, "rb")
    except FileNotFoundError:
        return by_output, by_input
    with f:
        for n, raw in enumerate(f, 1):
            try:
                j = json.loads(raw)
            except ValueError:
                continue
            if not isinstance(j, dict):
                continue
            try:
                e = {k: j[k] for k in ("output", "input_id", "size", "mtime_ns", "sha256", "request_id")}
            except KeyError as missing:
                raise RunError(f"{path} line {n}: not a manifest entry (no {missing})") from None
            by_output[e["output"]] = e
            by_input[e["input_id"]] = e["output"]
    return by_output, by_input


def _model_fingerprint(model_dir):
    lines = []
    for e in os.scandir(model_dir):
        try:
            st = os.stat(e.path)
        except OSError:
            continue
        if os.path.isfile(e.path):
            lines.append(f"{e.name} {st.st_size} {st.st_mtime_ns}")
    try:
        with open(os.path.join(model_dir, "config.json"), "rb") as f:
            config = f.read()
    except OSError:
        config = b""
    return _sha256(config + "".join("\n" + x for x in sorted(lines)).encode())


def _describe_ref(r):
    import numpy as np
    import xsam
    if isinstance(r, xsam.MaskRef):
        m = np.ascontiguousarray(r.mask, dtype=np.uint8)
        return {"kind": "mask", "sha256": _sha256(m.tobytes()), "shape": list(m.shape)}
    return {"kind": type(r).__name__.lower(), "xy": [float(c) for c in r._coords()]}


def request_id(model_dir, dtype, request, outputs):
    """What decides an image's outputs besides the image. The manifest compares it: a reused output
    directory is never taken for done when its results came from another model, request or option.
    ("runner" keeps these ids apart from `xsam segment`'s own: the CLI refuses to mix the two, and so
    does this module.)"""
    req = {k: v for k, v in request.items() if k != "refs"}
    req["refs"] = [_describe_ref(r) for r in request.get("refs") or []]
    desc = {"runner": "xsam.dask", "model": os.path.abspath(model_dir), "model_files": _model_fingerprint(model_dir),
            "dtype": dtype, "request": req, "outputs": outputs}
    return _sha256(json.dumps(desc, sort_keys=True).encode())


def _plan(images, out_dir, manifest, req_id, force, summary, record_failure):
    by_output, by_input = manifest
    jobs, seen, taken, conflicts = [], set(), set(), []
    cwd = os.getcwd()
    for path in images:
        pb = os.fsencode(path)
        absolute = os.path.normpath(os.path.abspath(path))
        ab = os.fsencode(absolute)
        try:
            st = os.stat(path)
            if not os.path.isfile(path):
                raise IsADirectoryError(0, "not a regular file")
        except OSError as e:
            record_failure(pb, None, "not a regular file" if isinstance(e, IsADirectoryError)
                           else f"cannot read: {e.strerror}")
            continue
        input_id = _sha256(ab)
        if input_id in seen:
            print(f"xsam.dask: {path}: listed more than once, computed once", file=sys.stderr)
            continue
        seen.add(input_id)
        old = by_input.get(input_id)
        if old is not None and by_output.get(old, {}).get("input_id") == input_id and old not in taken:
            output = old
        else:
            unavailable = set(taken)
            plain = _output_name(pb, ab, set())
            holder = by_output.get(plain)
            if holder is not None and holder["input_id"] != input_id:
                unavailable.add(plain)
            output = _output_name(pb, ab, unavailable)
        taken.add(output)
        e = by_output.get(output)
        exists = os.path.exists(os.path.join(out_dir, output + ".json"))
        same = (e is not None and e["input_id"] == input_id and e["size"] == st.st_size
                and e["mtime_ns"] == st.st_mtime_ns and e["request_id"] == req_id)
        job = {"path": path, "path_bytes": pb, "absolute": absolute, "cwd": cwd, "output": output,
               "input_id": input_id, "size": st.st_size, "mtime_ns": st.st_mtime_ns}
        if force or not exists:
            jobs.append(job)
        elif same:
            summary.skipped += 1
        else:
            why = ("no manifest entry says where they came from" if e is None
                   else "they came from another input" if e["input_id"] != input_id
                   else "they came from another model, task, prompt or option" if e["request_id"] != req_id
                   else "the input file changed since")
            conflicts.append(f"{path}: {os.path.join(out_dir, output)}.json exists but {why}")
    if conflicts:
        raise RunError("\n".join(conflicts[:10]) + f"\n{len(conflicts)} image(s) would overwrite outputs that came "
                       "from something else; nothing was written (use another --out, or --force to recompute and "
                       "overwrite)")
    return jobs


def _prefix_suspicious(dask_scheduler=None, prefix=TASK_PREFIX):
    """On the scheduler: how many times a task of this prefix was on a worker that died."""
    tp = dask_scheduler.task_prefixes.get(prefix)
    return tp.suspicious if tp is not None else 0


def _plugin_state(dask_worker=None):
    p = dask_worker.plugins.get(PLUGIN_NAME)
    if p is None:
        return None
    return {"settings": p.settings(), "error": p.error if p.model is None else None}


def _plugin_errors(dask_worker=None):
    p = dask_worker.plugins.get(PLUGIN_NAME)
    if p is None:
        return "the model is not loaded (no xsam plugin)"
    return p.error


class _Progress:
    def __init__(self, total, stream):
        self.total, self.stream, self.start = total, stream, time.monotonic()
        self.tty = hasattr(stream, "isatty") and stream.isatty()

    def update(self, done, computed, what):
        el = time.monotonic() - self.start
        rate = computed / el if computed and el > 0 else 0.0
        eta = (self.total - done) / rate if rate > 0 else 0.0
        if self.tty:
            filled = int(30 * done / self.total) if self.total else 30
            self.stream.write(f"\r[{'#' * filled}{'.' * (30 - filled)}] {done}/{self.total}  {rate * 60:.1f} img/min  "
                              f"ETA {eta:.0f}s  {what[:30]:<30}")
            if done == self.total:
                self.stream.write("\n")
        else:
            self.stream.write(f"[{done}/{self.total}] {what} ({rate * 60:.1f} img/min, ETA {eta:.0f}s)\n")
        self.stream.flush()


def segment(images, model_dir, out_dir, request=None, *, masks=False, maps=False, overlay=True, force=False,
            dtype="auto", threads=None, client=None, scheduler=None, n_workers=None, memory_limit=0,
            dashboard_address=":8787", window=None, progress=True, log=None):
    """Segments `images` (paths) on a Dask cluster into `out_dir`, as `xsam segment` would, and returns a
    Summary. Raises RunError when the run cannot start or go on.

    request: keyword arguments of xsam.Context.segment (task, prompt, classes, n_thing_classes, refs, mode,
        max_new_tokens, seed, temperature, top_k, top_p, score_threshold, add_bos).
    masks / maps / overlay: which PNGs to write besides NAME.json.
    dtype, threads: how each worker loads the model (threads: its intra-op threads; None: the library's
        default, every physical core; with a LocalCluster: the cores divided among the workers).
    client: a distributed.Client to use; else scheduler: an address ("tcp://host:8786"); else a
        LocalCluster of n_workers processes (default: one per 4 cores) with one thread each, started here and
        closed at the end. memory_limit: the LocalCluster's per-worker limit (0: none; a full-size model
        needs its weights + 2 GB).
    window: tasks in flight at once (default: 4 per worker thread, at least 16): the driver's memory stays
        bounded however long the list.
    """
    distributed = _distributed()
    import xsam
    log = log or sys.stderr
    request = dict(request or {})
    outputs = {"masks": bool(masks), "maps": bool(maps), "overlay": bool(overlay)}
    images = [os.fspath(p) for p in images]
    summary = Summary()
    if not images:
        raise RunError("no images given")
    model_dir = os.fspath(model_dir)
    out_dir = os.fspath(out_dir)
    if not os.path.isfile(os.path.join(model_dir, "config.json")) and client is None and scheduler is None:
        raise RunError(f"--model {model_dir}: not a model directory (no config.json)")
    try:
        os.makedirs(out_dir, exist_ok=True)
        probe = os.path.join(out_dir, f".xsam-write-probe.{os.getpid()}")
        _write_atomic(probe, b"\0")
        os.remove(probe)
    except OSError as e:
        raise RunError(f"--out {out_dir}: not writable: {e.strerror or e}") from None
    _remove_stale_temporaries(out_dir)
    req_id = request_id(model_dir, dtype, request, outputs)
    manifest = _load_manifest(out_dir)

    failures_path = os.path.join(out_dir, FAILURES)
    try:
        os.remove(failures_path)  # the failures of the latest run only
    except FileNotFoundError:
        pass

    def record_failure(path_bytes, output, error):
        summary.failed += 1
        line = {"error": error}
        _put_path(line, "image", path_bytes)
        if output:
            line["output"] = output
        _append_line(failures_path, _dump(line) + "\n")
        summary.failures.append((os.fsdecode(path_bytes), error))
        print(f"xsam.dask: {os.fsdecode(path_bytes)}: {error}", file=log)

    jobs = _plan(images, out_dir, manifest, req_id, force, summary, record_failure)
    summary.total = len(jobs) + summary.skipped + summary.failed
    if summary.skipped:
        print(f"xsam.dask: {summary.skipped} image(s) already done, skipped", file=log)
    if not jobs:
        print(f"xsam.dask: 0 done, {summary.skipped} skipped, {summary.failed} failed", file=log)
        return summary

    cluster = None
    own_client = client is None
    started = time.monotonic()
    try:
        if client is None:
            if scheduler:
                client = distributed.Client(scheduler, timeout="60s")
            else:
                cores = os.cpu_count() or 1
                n_workers = n_workers or max(1, cores // 4)
                if threads is None:
                    threads = max(1, cores // n_workers)
                # Dask's nanny gives every worker process OMP/MKL/OPENBLAS_NUM_THREADS=1 (numpy's sake); the
                # model's BLAS (OpenBLAS under libtorch) gets the worker's threads instead.
                import dask
                environ = dict(dask.config.get("distributed.nanny.pre-spawn-environ", {}) or {})
                environ.update({k: str(threads) for k in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS")})
                with dask.config.set({"distributed.nanny.pre-spawn-environ": environ}):
                    cluster = distributed.LocalCluster(n_workers=n_workers, threads_per_worker=1, processes=True,
                                                       memory_limit=memory_limit, dashboard_address=dashboard_address)
                client = distributed.Client(cluster)
        if client.dashboard_link and _has_dashboard():
            print(f"xsam.dask: dashboard at {client.dashboard_link}", file=log)
        plugin = ModelPlugin(model_dir, dtype=dtype, threads=threads)
        wanted = plugin.settings()
        states = client.run(_plugin_state)
        if not states or any(st is None or st["settings"] != wanted or st["error"] for st in states.values()):
            # Not every worker holds this model yet (a client reused across runs keeps it loaded).
            client.register_worker_plugin(plugin, name=PLUGIN_NAME)
        errors = {w: e for w, e in client.run(_plugin_errors).items() if e}
        if errors:
            raise RunError("the model cannot be loaded: " + "; ".join(f"worker {w}: {e}" for w, e in errors.items()))
        nthreads = sum(client.nthreads().values()) or 1
        suspicious_before = client.run_on_scheduler(_prefix_suspicious)
        _run(distributed, client, jobs, request, outputs, out_dir, req_id, summary, record_failure,
             window or max(16, 4 * nthreads), _Progress(summary.total, log) if progress else None)
        summary.retried = client.run_on_scheduler(_prefix_suspicious) - suspicious_before
    finally:
        if own_client and client is not None:
            client.close()
        if cluster is not None:
            cluster.close()
    summary.seconds = time.monotonic() - started
    extra = f", {summary.not_attempted} not attempted" if summary.not_attempted else ""
    where = f" (see {failures_path})" if summary.failed else ""
    print(f"xsam.dask: {summary.written} done, {summary.skipped} skipped, {summary.failed} failed{extra}{where}; "
          f"{summary.submitted} submitted, {summary.retried} retried after a worker died; "
          f"{summary.seconds:.1f} s", file=log)
    del xsam
    return summary


def _has_dashboard():
    try:
        import bokeh  # noqa: F401  (Dask's dashboard needs it; Debian 12 does not package it)
        return True
    except ImportError:
        return False


def _run(distributed, client, jobs, request, outputs, out_dir, req_id, summary, record_failure, window, progress):
    pending = iter(jobs)
    futures = {}
    ac = distributed.as_completed()

    def submit_next():
        job = next(pending, None)
        if job is None:
            return False
        # The key names the image: a task that the scheduler re-runs after a worker died keeps it.
        key = f"{TASK_PREFIX}-{summary.submitted}-{job['input_id'][:16]}"
        f = client.submit(_segment_task, job, request, outputs, key=key, pure=False, retries=0)
        futures[f.key] = (f, job)
        ac.add(f)
        summary.submitted += 1
        return True

    for _ in range(window):
        if not submit_next():
            break
    finished = summary.skipped + summary.failed
    computed = 0
    fatal = None
    for f in ac:
        job = futures.pop(f.key)[1]
        try:
            r = f.result()
        except distributed.KilledWorker as e:
            r = {"error": f"worker: the worker processes running this image died {1 + _allowed_failures()} times; "
                          f"given up (KilledWorker: {e})"}
        except Exception as e:  # noqa: BLE001 - any task error is this image's failure
            r = {"error": f"task: {type(e).__name__}: {e}"}
        finally:
            f.release()
        if r.get("fatal"):
            fatal = r["fatal"]
            break
        computed += 1
        io_error = None
        if "error" in r:
            record_failure(job["path_bytes"], job["output"], r["error"])
        else:
            summary.workers[r["worker"]] = summary.workers.get(r["worker"], 0) + 1
            base = os.path.join(out_dir, job["output"])
            written = []
            try:
                for suffix, data in r["files"]:
                    _write_atomic(f"{base}.{suffix}", data)
                    written.append(f"{base}.{suffix}")
                # The manifest line before the JSON: a run killed between the two leaves an entry without
                # its JSON (recomputed next time), never a JSON that no entry vouches for.
                entry = {"output": job["output"], "input_id": job["input_id"], "size": job["size"],
                         "mtime_ns": job["mtime_ns"], "sha256": r["sha256"], "request_id": req_id}
                _put_path(entry, "input", job["path_bytes"])
                _append_line(os.path.join(out_dir, MANIFEST), _dump(entry) + "\n")
                _write_atomic(base + ".json", r["json"].encode())
                written.append(base + ".json")
                summary.written += 1
                summary.outputs_written += len(written)
            except OSError as e:
                for w in written:
                    try:
                        os.remove(w)
                    except OSError:
                        pass
                io_error = f"io: {e.strerror or e}"
                record_failure(job["path_bytes"], job["output"], io_error)
        finished += 1
        if progress is not None:
            progress.update(finished, computed, job["output"])
        if io_error:
            fatal = f"stopping: the output directory cannot be written ({io_error})"
            break
        submit_next()
    if fatal is not None:
        summary.not_attempted = len(futures) + sum(1 for _ in pending)
        client.cancel([f for f, _ in futures.values()])
        raise RunError(fatal)


def _allowed_failures():
    import dask
    return int(dask.config.get("distributed.scheduler.allowed-failures", 3))


# ---------------------------------------------------------------------------------------------------------
# python3 -m xsam.dask segment ...

USAGE = "python3 -m xsam.dask segment --model DIR --out DIR [options] IMAGES... (or --list FILE, --glob PATTERN)"


def _parser():
    p = argparse.ArgumentParser(prog="python3 -m xsam.dask segment", usage=USAGE,
                                description="xsam segment on a Dask cluster: one model per worker process, one "
                                            "task per image; the outputs of xsam segment, resumable.")
    p.add_argument("images", nargs="*", metavar="IMAGES", help="image paths (not expanded again)")
    g = p.add_argument_group("batch (as xsam segment)")
    g.add_argument("--model", required=True, metavar="DIR", help="exported model directory (the same path on "
                   "every worker)")
    g.add_argument("--out", required=True, metavar="DIR", help="output directory (created): NAME.json, "
                   "NAME.overlay.png, ...")
    g.add_argument("--list", metavar="FILE", help="image paths, one per line ('#' lines skipped)")
    g.add_argument("--glob", action="append", default=[], metavar="PATTERN", help="image paths matching PATTERN "
                   "(repeatable)")
    g.add_argument("--masks", action="store_true", help="also write NAME.mask-K.png per mask")
    g.add_argument("--maps", action="store_true", help="also write NAME.map.png (semantic / panoptic)")
    g.add_argument("--no-overlay", action="store_true", help="skip the overlay PNG")
    g.add_argument("--force", action="store_true", help="recompute images whose outputs exist")
    g.add_argument("--threads", type=int, metavar="N", help="intra-op threads of each worker's model (default: "
                   "the cores divided among the local workers; every core of a remote worker)")
    g.add_argument("--dtype", default="auto", choices=["auto", "fp32", "bf16"], help="runtime dtype (default auto)")
    r = p.add_argument_group("request (as xsam segment)")
    r.add_argument("--task", default="auto", help="auto (default), chat, semantic, instance, panoptic, referring, "
                   "reasoning, gcg, interactive, vgd, open_vocab")
    r.add_argument("--prompt", help='the question, referring expression, or "ins: a, b; sem: c" class lists')
    r.add_argument("--classes", action="append", default=[], metavar="A,B,...", help="class names (generic / "
                   "open-vocab)")
    r.add_argument("--things", type=int, metavar="N", help="the first N classes are things")
    r.add_argument("--point", action="append", default=[], metavar="X,Y[,1]", help="a point ref (repeatable)")
    r.add_argument("--box", action="append", default=[], metavar="X0,Y0,X1,Y1")
    r.add_argument("--scribble", action="append", default=[], metavar="X,Y;X,Y;...")
    r.add_argument("--mask", action="append", default=[], metavar="FILE.png", help="a mask ref (grey > 128 = "
                   "inside); refs are in image pixels")
    r.add_argument("--mode", help="default, teacher-forced, generate")
    r.add_argument("--max-new-tokens", type=int, metavar="N", help="generation limit (default: the preset's)")
    r.add_argument("--seed", type=int)
    r.add_argument("--temperature", type=float)
    r.add_argument("--top-k", type=int)
    r.add_argument("--top-p", type=float)
    r.add_argument("--threshold", type=float, metavar="P", help="score threshold (default 0.5)")
    r.add_argument("--bos", action="store_true", help="prepend BOS (the paper's evaluation prompts)")
    d = p.add_argument_group("cluster")
    d.add_argument("--scheduler", metavar="ADDRESS", help="a running Dask scheduler (tcp://host:8786); default: a "
                   "LocalCluster on this machine")
    d.add_argument("--workers", type=int, metavar="N", help="LocalCluster worker processes (default: one per 4 "
                   "cores); each holds a model: weights + 2 GB of memory")
    d.add_argument("--memory-limit", default="0", metavar="BYTES", help="LocalCluster per-worker memory limit "
                   "(Dask's syntax, e.g. 12GB; default 0: none)")
    d.add_argument("--dashboard", default=":8787", metavar="ADDRESS", help="LocalCluster dashboard address "
                   "(needs bokeh; default :8787)")
    d.add_argument("--window", type=int, metavar="N", help="tasks in flight (default: 4 per worker thread, >= 16)")
    d.add_argument("--summary-json", metavar="FILE", help="write the run's counts to FILE")
    return p


def _floats(text, what, counts):
    try:
        v = [float(x) for x in text.replace(";", ",").split(",")]
    except ValueError:
        v = []
    if not v or (counts and len(v) not in counts) or (not counts and len(v) % 2):
        raise RunError(f"{what} expects {'X,Y;X,Y;...' if not counts else 'X,Y or X,Y,LABEL' if 3 in counts else 'X0,Y0,X1,Y1'}"
                       f", got '{text}'")
    return v


def request_from_args(a):
    """The xsam.Context.segment keyword arguments of the CLI options (as `xsam segment` reads them)."""
    import xsam
    req = {"task": a.task}
    if a.prompt:
        req["prompt"] = a.prompt
    classes = [c.strip(" ") for lst in a.classes for c in lst.split(",") if c.strip(" ")]
    if classes:
        req["classes"] = classes
    if a.things is not None:
        if a.things < 0 or a.things > len(classes):
            raise RunError("--things must be in [0, number of classes]")
        req["n_thing_classes"] = a.things
    refs = []
    for p in a.point:
        v = _floats(p, "--point", (2, 3))
        if len(v) == 3 and v[2] != 1:
            raise RunError(f"--point {p}: X-SAM has no negative points (label must be 1)")
        refs.append(xsam.Point(v[0], v[1]))
    for b in a.box:
        refs.append(xsam.Box(*_floats(b, "--box", (4,))))
    for s in a.scribble:
        v = _floats(s, "--scribble", ())
        refs.append(xsam.Scribble(list(zip(v[0::2], v[1::2]))))
    for m in a.mask:
        try:
            refs.append(xsam.MaskRef.load(m))
        except xsam.Error as e:
            raise RunError(f"--mask {m}: {_error_text(e)}") from None
    if refs:
        req["refs"] = refs
    for opt, key in (("mode", "mode"), ("max_new_tokens", "max_new_tokens"), ("seed", "seed"),
                     ("temperature", "temperature"), ("top_k", "top_k"), ("top_p", "top_p"),
                     ("threshold", "score_threshold")):
        if getattr(a, opt) is not None:
            req[key] = getattr(a, opt)
    if a.bos:
        req["add_bos"] = True
    return req


def _images_from_args(a):
    import glob as globmod
    images = list(a.images)
    for pattern in a.glob:
        found = sorted(globmod.glob(pattern))
        if not found:
            raise RunError(f"--glob {pattern}: matches no file")
        images += found
    if a.list:
        try:
            with open(a.list, "rb") as f:
                for n, line in enumerate(f.read().split(b"\n"), 1):
                    line = line[:-1] if line.endswith(b"\r") else line
                    if b"\0" in line:
                        raise RunError(f"--list {a.list} line {n}: contains a NUL byte")
                    if line and not line.startswith(b"#"):
                        images.append(os.fsdecode(line))
        except OSError as e:
            raise RunError(f"--list {a.list}: cannot open: {e.strerror}") from None
    return images


def main(argv=None):
    argv = sys.argv[1:] if argv is None else list(argv)
    if not argv or argv[0] in ("-h", "--help"):
        print(f"usage: {USAGE}\n\n{_parser().format_help().split(chr(10), 2)[2]}" if argv else f"usage: {USAGE}",
              file=sys.stdout if argv else sys.stderr)
        return 0 if argv else 2
    if argv[0] != "segment":
        print(f"xsam.dask: unknown command '{argv[0]}' (the command is: segment)\nusage: {USAGE}", file=sys.stderr)
        return 2
    a = _parser().parse_args(argv[1:])
    try:
        images = _images_from_args(a)
        if not images:
            raise RunError("no images given (IMAGES, --list or --glob)")
        if a.threads is not None and not 0 <= a.threads <= 1024:
            raise RunError(f"--threads must be in [0, 1024], got {a.threads}")
        if a.workers is not None and a.workers < 1:
            raise RunError(f"--workers must be at least 1, got {a.workers}")
        request = request_from_args(a)
        summary = segment(images, a.model, a.out, request, masks=a.masks, maps=a.maps, overlay=not a.no_overlay,
                          force=a.force, dtype=a.dtype, threads=a.threads or None, scheduler=a.scheduler,
                          n_workers=a.workers, memory_limit=a.memory_limit, dashboard_address=a.dashboard,
                          window=a.window)
    except RunError as e:
        print(f"xsam.dask: {e}", file=sys.stderr)
        return 2
    if a.summary_json:
        with open(a.summary_json, "w") as f:
            json.dump(summary.as_dict(), f, indent=2)
    return 0 if summary.ok else 1


if __name__ == "__main__":
    # Run through the imported module, so that what travels to the workers is xsam.dask.*, not __main__.*.
    from xsam.dask import main as _main
    sys.exit(_main())
