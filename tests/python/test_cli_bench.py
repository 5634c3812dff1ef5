"""`xsam bench` on a tiny random model, on every CPU path this machine has (forced with XSAM_CPU): it runs,
names the path and the runtime it measured (cpu_path, weight_dtype, math_dtype), measures only the
limits of that path, and refuses a bad --dtype. Speed itself is never asserted (docs/performance.md)."""
import json
import os
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
BUILD = Path(os.environ.get("XSAM_BUILD_DIR", ROOT / "build"))
XSAM = BUILD / "bin" / "xsam"
ENV = dict(os.environ, OMP_WAIT_POLICY="PASSIVE")
PATHS = ["generic", "avx2", "avx512", "avx512bf16"]


def run(*args, env=None, check=None):
    r = subprocess.run([str(XSAM), *map(str, args)], capture_output=True, text=True, env=env or ENV, timeout=900)
    if check is not None:
        assert r.returncode == check, f"exit {r.returncode}\nstdout: {r.stdout}\nstderr: {r.stderr}"
    return r


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory):
    if not XSAM.exists():
        pytest.fail(f"{XSAM} not built")
    d = tmp_path_factory.mktemp("model") / "tiny"
    run("random-model", "--preset", "tiny", "--dtype", "bf16", d, check=0)
    return d


def bench(model, tmp_path, dtype, cpu):
    out = tmp_path / f"bench-{dtype}-{cpu}.json"
    env = dict(ENV, XSAM_CPU=cpu)
    r = run("bench", "--model", model, "--dtype", dtype, "--threads", "1", "--decode-tokens", "3", "--json", out,
            env=env)
    return r, out


@pytest.mark.parametrize("cpu", PATHS)
def test_auto_runtime_follows_the_cpu_path(tiny_model, tmp_path, cpu):
    r, out = bench(tiny_model, tmp_path, "auto", cpu)
    if r.returncode != 0 and "this CPU supports at most" in r.stderr:
        pytest.skip(f"XSAM_CPU={cpu}: above this CPU ({r.stderr.strip().splitlines()[-1]})")
    assert r.returncode == 0, r.stderr
    j = json.loads(out.read_text())
    assert j["cpu_path"] == cpu
    native = cpu == "avx512bf16"
    assert j["dtype"] == ("bf16" if native else "mixed")
    assert j["weight_dtype"] == "bf16"
    assert j["math_dtype"] == ("bf16" if native else "fp32")
    # Only the path's own limits: GEMMs in the math dtype, the GEMV over the weight dtype.
    assert j["limits"]["math_dtype"] == j["math_dtype"] and j["limits"]["weight_dtype"] == "bf16"
    assert j["limits"]["matmul_gflops"] > 0 and j["limits"]["gemv_gbs"] > 0
    assert j["decode_tokens"] == 3 and j["first_call_s"] > 0
    assert "memory_plan" in j and "GB available" in j["memory_plan"]


def test_explicit_fp32_converts_the_weights(tiny_model, tmp_path):
    r, out = bench(tiny_model, tmp_path, "fp32", "auto")
    assert r.returncode == 0, r.stderr
    j = json.loads(out.read_text())
    assert (j["dtype"], j["weight_dtype"], j["math_dtype"]) == ("fp32", "fp32", "fp32")


def test_a_bad_dtype_is_refused_with_the_usage(tiny_model):
    r = run("bench", "--model", tiny_model, "--dtype", "fp16")
    assert r.returncode == 2 and "--dtype" in r.stderr
