"""`xsam segment`, `random-model` and `info` against the cases of the adversarial pass (docs/reliability.md
§9): names that would run a shell, colliding output names, resume keyed on the input and the request,
paths that are not UTF-8, no second glob, strict numbers, --list quirks, an unusable --out, stale failure
lines, over-long names, two runs into one folder."""
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
ENV = dict(os.environ, OMP_WAIT_POLICY="PASSIVE")
FAST = ["--dtype", "fp32", "--threads", "1", "--task", "semantic", "--classes", "cat,sky", "--no-overlay"]


def run(*args, check=None, cwd=None):
    r = subprocess.run([str(XSAM), *map(os.fsdecode, args)], capture_output=True, env=ENV, cwd=cwd, timeout=600)
    if check is not None:
        assert r.returncode == check, f"exit {r.returncode}\nstdout: {r.stdout!r}\nstderr: {r.stderr!r}"
    return r


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory):
    if not XSAM.exists():
        pytest.fail(f"{XSAM} not built")
    d = tmp_path_factory.mktemp("model") / "tiny"
    run("random-model", "--preset", "tiny", d, check=0)
    return d


def picture(path, shade):
    """A small picture whose content depends on `shade` (so two files differ)."""
    img = Image.open(SAMPLE).convert("RGB").resize((48, 32))
    a = np.asarray(img).copy()
    a[:8, :8] = shade
    path = Path(os.fsdecode(path)) if isinstance(path, bytes) else Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(a).save(path)
    return path


def outputs(out):
    return sorted(p.name for p in Path(out).glob("*.json"))


def results(out):
    """{input path: JSON result} of every output in `out`."""
    return {json.loads(p.read_text())["image"]: json.loads(p.read_text()) for p in Path(out).glob("*.json")}


# ------------------------------------------------------------------ no shell


def test_no_shell_call_in_the_sources():
    hits = []
    for p in (ROOT / "src").rglob("*"):
        if p.suffix in (".cpp", ".h", ".c") and p.is_file():
            for n, line in enumerate(p.read_text(errors="replace").splitlines(), 1):
                if "system(" in line or "popen(" in line:
                    hits.append(f"{p.relative_to(ROOT)}:{n}: {line.strip()}")
    assert hits == []


QUOTED = "it's $(touch PWNED) `touch PWNED2`; touch PWNED3 '"


def test_random_model_directory_with_quotes_is_data_not_a_command(tmp_path):
    d = tmp_path / QUOTED
    r = run("random-model", "--preset", "tiny", d, check=0, cwd=tmp_path)
    assert (d / "config.json").is_file()
    assert sorted(os.listdir(tmp_path)) == [QUOTED]  # nothing else was created
    assert b"mkdir" not in r.stderr


def test_segment_out_directory_with_quotes_is_data_not_a_command(tiny_model, tmp_path):
    img = picture(tmp_path / "in" / "a.png", 0)
    out = tmp_path / ("out " + QUOTED)
    run("segment", "--model", tiny_model, "--out", out, *FAST, img, check=0, cwd=tmp_path)
    assert outputs(out) == ["a.json"]
    assert sorted(os.listdir(tmp_path)) == ["in", out.name]


def test_random_model_says_when_it_replaces_a_model(tmp_path):
    run("random-model", "--preset", "tiny", tmp_path / "m", check=0)
    r = run("random-model", "--preset", "tiny", tmp_path / "m", check=0)
    assert b"replacing the model in" in r.stderr


# ------------------------------------------------------------------ output names and resume


def test_inputs_with_one_stem_get_distinct_outputs_and_the_count_is_true(tiny_model, tmp_path):
    a_png = picture(tmp_path / "dir1" / "a.png", 10)
    a_jpg = tmp_path / "dir1" / "a.jpg"
    Image.open(picture(tmp_path / "tmp.png", 20)).save(a_jpg)
    a1_png = picture(tmp_path / "dir2" / "a-1.png", 30)
    out = tmp_path / "out"
    r = run("segment", "--model", tiny_model, "--out", out, *FAST, a_png, a_jpg, a1_png, check=0)
    assert len(outputs(out)) == 3
    assert set(results(out)) == {str(a_png), str(a_jpg), str(a1_png)}
    assert b"3 done, 0 skipped, 0 failed" in r.stderr
    # The same inputs again, in another order: every one is skipped, nothing is renamed.
    before = {p.name: p.read_bytes() for p in out.glob("*.json")}
    r = run("segment", "--model", tiny_model, "--out", out, *FAST, a1_png, a_jpg, a_png, check=0)
    assert b"0 done, 3 skipped" in r.stderr
    assert {p.name: p.read_bytes() for p in out.glob("*.json")} == before


def test_resume_is_keyed_on_the_input_not_on_the_stem(tiny_model, tmp_path):
    a_png = picture(tmp_path / "a.png", 10)
    a_jpg = tmp_path / "a.jpg"
    Image.open(picture(tmp_path / "other.png", 200)).save(a_jpg)
    out = tmp_path / "out"
    run("segment", "--model", tiny_model, "--out", out, *FAST, a_png, check=0)
    r = run("segment", "--model", tiny_model, "--out", out, *FAST, a_jpg, check=0)
    assert b"1 done, 0 skipped" in r.stderr
    assert set(results(out)) == {str(a_png), str(a_jpg)}
    assert json.loads((out / "a.json").read_text())["image"] == str(a_png)


def test_reused_out_with_another_request_is_refused_unless_forced(tiny_model, tmp_path):
    img = picture(tmp_path / "a.png", 10)
    out = tmp_path / "out"
    run("segment", "--model", tiny_model, "--out", out, *FAST, img, check=0)
    first = (out / "a.json").read_bytes()
    other = [*FAST[:-2], "dog,grass", "--no-overlay"]  # other classes
    r = run("segment", "--model", tiny_model, "--out", out, *other, img, check=2)
    assert b"another model, task, prompt or option" in r.stderr
    assert (out / "a.json").read_bytes() == first  # nothing overwritten
    r = run("segment", "--model", tiny_model, "--out", out, *other, "--force", img, check=0)
    assert b"1 done" in r.stderr
    # Recomputed for the new classes: every label is one of them.
    labels = {m["label"] for m in json.loads((out / "a.json").read_text())["masks"]}
    assert labels <= {"dog", "grass"} and labels, labels
    # And now that request resumes.
    r = run("segment", "--model", tiny_model, "--out", out, *other, img, check=0)
    assert b"1 skipped" in r.stderr


def test_a_changed_input_file_is_not_taken_for_done(tiny_model, tmp_path):
    img = picture(tmp_path / "a.png", 10)
    out = tmp_path / "out"
    run("segment", "--model", tiny_model, "--out", out, *FAST, img, check=0)
    picture(img, 250)  # new content under the same name
    r = run("segment", "--model", tiny_model, "--out", out, *FAST, img, check=2)
    assert b"the input file changed since" in r.stderr


def test_another_model_is_not_taken_for_done(tiny_model, tmp_path):
    img = picture(tmp_path / "a.png", 10)
    out = tmp_path / "out"
    run("segment", "--model", tiny_model, "--out", out, *FAST, img, check=0)
    other = tmp_path / "other-model"
    run("random-model", "--preset", "tiny", "--seed", "3", other, check=0)
    r = run("segment", "--model", other, "--out", out, *FAST, img, check=2)
    assert b"another model, task, prompt or option" in r.stderr


# ------------------------------------------------------------------ paths are bytes, no second glob


def test_a_path_that_is_not_utf8_is_processed_and_named_reversibly(tiny_model, tmp_path):
    raw = os.fsencode(tmp_path) + b"/caf\xe9-\xff.png"
    picture(raw, 10)
    missing = os.fsencode(tmp_path) + b"/gone-\xfe.png"
    out = tmp_path / "out"
    r = run("segment", "--model", tiny_model, "--out", out, *FAST, raw, missing, check=1)
    assert b"1 done, 0 skipped, 1 failed" in r.stderr
    (result,) = [json.loads(p.read_text()) for p in out.glob("*.json")]
    assert bytes.fromhex(result["image_bytes"]) == raw
    failures = [json.loads(line) for line in (out / "failures.jsonl").read_text().splitlines()]
    assert [bytes.fromhex(f["image_bytes"]) for f in failures] == [missing]
    # And a rerun does not die at that file either.
    r = run("segment", "--model", tiny_model, "--out", out, *FAST, raw, check=0)
    assert b"1 skipped" in r.stderr


def test_positional_paths_are_not_globbed_again_and_glob_expands(tiny_model, tmp_path):
    literal = picture(tmp_path / "b[1].png", 10)
    picture(tmp_path / "b1.png", 20)
    out = tmp_path / "out"
    run("segment", "--model", tiny_model, "--out", out, *FAST, literal, check=0)
    assert set(results(out)) == {str(literal)}
    out2 = tmp_path / "out2"
    run("segment", "--model", tiny_model, "--out", out2, *FAST, "--glob", str(tmp_path / "b*.png"), check=0)
    assert set(results(out2)) == {str(literal), str(tmp_path / "b1.png")}
    r = run("segment", "--model", tiny_model, "--out", out2, *FAST, "--glob", str(tmp_path / "z*.png"), check=2)
    assert b"matches no file" in r.stderr


# ------------------------------------------------------------------ numbers, --list, --out


@pytest.mark.parametrize("option,value", [
    ("--threshold", "foo"), ("--threshold", "0.9x"), ("--threshold", "1.5"), ("--threshold", "nan"),
    ("--temperature", "abc"), ("--temperature", "-1"), ("--temperature", "inf"),
    ("--max-new-tokens", "4294967297"), ("--max-new-tokens", "0"), ("--max-new-tokens", " 5"),
    ("--top-k", "1e3"), ("--top-p", "0"), ("--seed", "-1"), ("--seed", "18446744073709551616"),
    ("--threads", "5000"), ("--threads", "2x"),
])
def test_numbers_are_parsed_strictly_and_named(tiny_model, tmp_path, option, value):
    img = picture(tmp_path / "a.png", 10)
    args = list(FAST)
    if option in args:  # replace FAST's own value rather than giving the option twice
        args[args.index(option) + 1] = value
    else:
        args += [option, value]
    r = run("segment", "--model", tiny_model, "--out", tmp_path / "out", *args, img, check=2)
    assert option.encode() in r.stderr and value.strip().encode() in r.stderr
    assert not (tmp_path / "out").exists() or outputs(tmp_path / "out") == []


def test_list_file_crlf_and_nul(tiny_model, tmp_path):
    img = picture(tmp_path / "a.png", 10)
    lst = tmp_path / "list.txt"
    lst.write_bytes(b"# images\r\n" + os.fsencode(img) + b"\r\n")
    out = tmp_path / "out"
    run("segment", "--model", tiny_model, "--out", out, *FAST, "--list", lst, check=0)
    assert set(results(out)) == {str(img)}
    lst.write_bytes(os.fsencode(img) + b"\n" + os.fsencode(img) + b"\0.jpg\n")
    r = run("segment", "--model", tiny_model, "--out", tmp_path / "out2", *FAST, "--list", lst, check=2)
    assert b"line 2" in r.stderr and b"NUL" in r.stderr


def test_out_that_is_a_file_fails_before_any_image_is_computed(tiny_model, tmp_path):
    img = picture(tmp_path / "a.png", 10)
    blocker = tmp_path / "out"
    blocker.write_text("a file")
    r = run("segment", "--model", tiny_model, "--out", blocker, *FAST, img, check=2)
    assert b"--out" in r.stderr and b"cannot create" in r.stderr
    assert b"done" not in r.stderr


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into read-only folders")
def test_read_only_out_fails_before_any_image_is_computed(tiny_model, tmp_path):
    img = picture(tmp_path / "a.png", 10)
    out = tmp_path / "out"
    out.mkdir()
    out.chmod(0o555)
    r = run("segment", "--model", tiny_model, "--out", out, *FAST, img, check=2)
    assert b"not writable" in r.stderr


def test_failures_file_holds_only_the_latest_run(tiny_model, tmp_path):
    good = picture(tmp_path / "good.png", 10)
    bad = tmp_path / "bad.png"
    bad.write_bytes(b"not an image")
    out = tmp_path / "out"
    run("segment", "--model", tiny_model, "--out", out, *FAST, good, bad, check=1)
    assert [json.loads(l)["image"] for l in (out / "failures.jsonl").read_text().splitlines()] == [str(bad)]
    picture(bad, 30)  # fixed
    r = run("segment", "--model", tiny_model, "--out", out, *FAST, good, bad, check=0)
    assert b"1 done, 1 skipped, 0 failed" in r.stderr
    assert not (out / "failures.jsonl").exists()


def test_over_long_names_are_shortened_and_kept_apart(tiny_model, tmp_path):
    long_a = picture(tmp_path / ("x" * 200 + "a.png"), 10)
    long_b = picture(tmp_path / ("x" * 200 + "b.png"), 20)
    out = tmp_path / "out"
    run("segment", "--model", tiny_model, "--out", out, *FAST, long_a, long_b, check=0)
    names = outputs(out)
    assert len(names) == 2 and all(len(n.encode()) <= 120 + 1 + 16 + len(".json") for n in names)
    assert set(results(out)) == {str(long_a), str(long_b)}


def test_two_runs_into_one_folder_write_every_output_once(tiny_model, tmp_path):
    imgs = [picture(tmp_path / f"i{k}.png", k * 20) for k in range(4)]
    out = tmp_path / "out"
    args = [str(XSAM), "segment", "--model", str(tiny_model), "--out", str(out), *FAST, *map(str, imgs)]
    procs = [subprocess.Popen(args, stderr=subprocess.PIPE, env=ENV) for _ in range(2)]
    errs = [p.communicate(timeout=600)[1] for p in procs]
    assert [p.returncode for p in procs] == [0, 0], errs
    assert all(b"write failed" not in e and b"cannot" not in e for e in errs), errs
    assert set(results(out)) == set(map(str, imgs))
    assert not list(out.glob("*.tmp*"))
