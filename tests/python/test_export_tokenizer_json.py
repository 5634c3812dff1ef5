"""tokenizer.json is checked, not copied: each tampered copy is refused with its field named, by
the exporter (tools/xsam_export/tokenizer_json_check.py) and by xsam_model_load (the C API, through ctypes;
src/text/tokenizer_json_check.cpp), with the same message. The real file (Phi-3-mini-4k-instruct's, in
tests/data/tokenizer) passes both.

The C API part needs the library of $XSAM_BUILD_DIR (default build/); it is skipped when there is none.
"""
import copy
import ctypes
import json
import os
import shutil

import pytest

from test_export_support import GOLDEN_MODEL, GOLDEN_TOKENIZER, REPO, run_export, write_hparams

FIXTURE_TOKENIZER_JSON = os.path.join(REPO, "tests", "data", "tokenizer", "tokenizer.json")
BUILD = os.environ.get("XSAM_BUILD_DIR", os.path.join(REPO, "build"))
LIBXSAM = os.path.join(BUILD, "lib", "libxsam.so")
SUFFIX = " (xsam implements Phi-3-mini-4k-instruct's tokenizer.json only; see docs/model-directory.md)"
SPACE = "\u2581"


def _set(path, value):
    def tamper(doc):
        node = doc
        for key in path[:-1]:
            node = node[key]
        node[path[-1]] = value
    return tamper


def _swap_vocab(doc):
    v = doc["model"]["vocab"]
    v["\u2581t"], v["er"] = v["er"], v["\u2581t"]


def _swap_merges(doc):
    m = doc["model"]["merges"]
    m[0], m[1000] = m[1000], m[0]


def _add_bos(doc):
    doc["post_processor"]["single"].insert(0, {"SpecialToken": {"id": "<s>", "type_id": 0}})


def _drop_strip(doc):
    doc["decoder"]["decoders"].pop()


def _extra_top(doc):
    doc["extra_field"] = 1


def _metaspace(doc):
    doc["normalizer"] = None
    doc["pre_tokenizer"] = {"type": "Metaspace", "replacement": SPACE, "prepend_scheme": "first", "split": False}


def _unknown_added(doc):
    doc["added_tokens"].append({"id": 40000, "content": "<x>", "single_word": False, "lstrip": False,
                                "rstrip": False, "normalized": False, "special": True})


def _bad_merge_form(doc):
    doc["model"]["merges"][5] = "a b c"


# (name, tamper, the message after "tokenizer.json: ")
CASES = [
    ("version", _set(["version"], "2.0"), 'version: expected "1.0", got "2.0"'),
    ("unexpected_top_level", _extra_top, "extra_field: unexpected field (1)"),
    ("truncation", _set(["truncation"], {"max_length": 512}), "truncation: expected null, got an object"),
    ("padding", _set(["padding"], {"strategy": "BatchLongest"}), "padding: expected null, got an object"),
    ("normalizer_later_revision", _metaspace, 'normalizer: expected an object of type "Sequence", got null'),
    ("normalizer_field", _set(["normalizer", "normalizers", 0, "prepend"], " "),
     'normalizer.normalizers[0].prepend: expected "\u2581", got " "'),
    ("pre_tokenizer", _set(["pre_tokenizer"], {"type": "ByteLevel"}),
     'pre_tokenizer: expected null, got an object of type "ByteLevel"'),
    ("model_type", _set(["model", "type"], "Unigram"), 'model.type: expected "BPE", got "Unigram"'),
    ("model_byte_fallback", _set(["model", "byte_fallback"], False), "model.byte_fallback: expected true, got false"),
    ("model_dropout", _set(["model", "dropout"], 0.1), "model.dropout: expected null, got 0.1"),
    ("model_ignore_merges", _set(["model", "ignore_merges"], True), "model.ignore_merges: expected false, got true"),
    ("model_vocab_ids", _swap_vocab, 'model.vocab["\u2581t"]: expected 260 (its id in tokenizer.model), got 261'),
    ("model_merges_order", _swap_merges, "model.merges[1]: out of order: the score of"),
    ("model_merges_form", _bad_merge_form, 'model.merges[5]: expected "A B" or ["A", "B"], got "a b c"'),
    ("decoder", _drop_strip, 'decoder.decoders: expected an array of 4, got an array of 3'),
    ("post_processor_adds_bos", _add_bos, "post_processor.single: expected an array of 1, got an array of 2"),
    ("added_single_word", _set(["added_tokens", 3, "single_word"], True),
     "added_tokens[3].single_word: expected false, got true (not implemented)"),
    ("added_normalized", _set(["added_tokens", 4, "normalized"], True),
     "added_tokens[4].normalized: expected false, got true (not implemented)"),
    ("added_rstrip", _set(["added_tokens", 10, "rstrip"], False),
     'added_tokens[10].rstrip: expected true (the flag of "<|end|>" in the added-token table), got false'),
    ("added_content", _set(["added_tokens", 10, "content"], "<|fin|>"),
     'added_tokens[10].content: expected "<|end|>" (the added token with id 32007), got "<|fin|>"'),
    ("added_unknown_id", _unknown_added, 'added_tokens[14]: id 40000 ("<x>") is not an added token of the tokenizer'),
    ("added_extra_field", _set(["added_tokens", 0, "extra"], 1), "added_tokens[0].extra: unexpected field (1)"),
]


@pytest.fixture(scope="module")
def fixture_doc():
    with open(FIXTURE_TOKENIZER_JSON, encoding="utf-8") as f:
        return json.load(f)


def tokenizer_source(tmp_path, doc=None):
    """Phi-3's tokenizer files (the golden set's) with the given tokenizer.json (default: the real one)."""
    src = tmp_path / "tok"
    shutil.copytree(GOLDEN_TOKENIZER, src)
    if doc is None:
        shutil.copyfile(FIXTURE_TOKENIZER_JSON, src / "tokenizer.json")
    else:
        (src / "tokenizer.json").write_text(json.dumps(doc, ensure_ascii=False), encoding="utf-8")
    return src


def export(tmp_path, src, check=True, name="out"):
    out = str(tmp_path / name)
    run = run_export("--checkpoint", GOLDEN_MODEL, "--tokenizer", str(src), "--out", out,
                     "--hparams", write_hparams(tmp_path), check=check)
    return out, run


def exporter_message(run, src):
    prefix = f"xsam-export: error: {src}/tokenizer.json: "
    assert run.returncode == 1 and run.stderr.startswith(prefix), run.stderr
    text = run.stderr[len(prefix):].rstrip("\n")
    assert text.endswith(SUFFIX), text
    return text[: -len(SUFFIX)]


@pytest.fixture(scope="module")
def good_model(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("fast")
    out, _ = export(tmp, tokenizer_source(tmp))
    return out


def test_the_real_file_passes_and_gives_fast_mode(good_model):
    assert json.load(open(os.path.join(good_model, "config.json")))["tokenizer"] == {"mode": "fast"}
    with open(FIXTURE_TOKENIZER_JSON, "rb") as a, open(os.path.join(good_model, "tokenizer.json"), "rb") as b:
        assert a.read() == b.read()


def test_checksums_cover_every_tokenizer_file(good_model):
    import hashlib
    sums = json.load(open(os.path.join(good_model, "checksums.json")))
    assert sorted(sums) == ["added_tokens.json", "model.safetensors", "special_tokens_map.json", "tokenizer.json",
                            "tokenizer.model", "tokenizer_config.json"]
    for name, digest in sums.items():
        with open(os.path.join(good_model, name), "rb") as f:
            assert hashlib.sha256(f.read()).hexdigest() == digest, name


@pytest.mark.parametrize("name,tamper,expected", CASES, ids=[c[0] for c in CASES])
def test_exporter_refuses_each_tampered_field(tmp_path, fixture_doc, name, tamper, expected):
    doc = copy.deepcopy(fixture_doc)
    tamper(doc)
    src = tokenizer_source(tmp_path, doc)
    _, run = export(tmp_path, src, check=False)
    assert exporter_message(run, src).startswith(expected)
    assert not os.path.exists(tmp_path / "out" / "config.json")


# ---------------------------------------------------------------- the same check at load (C API)

def _library():
    if not os.path.isfile(LIBXSAM):
        pytest.skip(f"{LIBXSAM} not built (set XSAM_BUILD_DIR)")
    preload = os.path.join(BUILD, "python-preload.txt")
    if os.path.isfile(preload) and "asan" in open(preload).read() and "asan" not in os.environ.get("LD_PRELOAD", ""):
        pytest.skip("ASan build: libxsam cannot be loaded into this interpreter without LD_PRELOAD")
    lib = ctypes.CDLL(LIBXSAM)
    lib.xsam_model_load.argtypes = [ctypes.c_char_p, ctypes.c_void_p, ctypes.POINTER(ctypes.c_void_p)]
    lib.xsam_model_load.restype = ctypes.c_int
    lib.xsam_last_error.restype = ctypes.c_char_p
    lib.xsam_model_free.argtypes = [ctypes.c_void_p]
    return lib


@pytest.fixture(scope="module")
def lib():
    return _library()  # finds its tokenizer plugin beside itself (lib/xsam/)


def load(lib, model_dir):
    """(status, message) of xsam_model_load(model_dir, NULL params); frees a loaded model."""
    model = ctypes.c_void_p()
    status = lib.xsam_model_load(str(model_dir).encode(), None, ctypes.byref(model))
    message = (lib.xsam_last_error() or b"").decode("utf-8", "replace")
    if status == 0:
        lib.xsam_model_free(model)
    return status, message


def model_copy(good_model, tmp_path, doc):
    """The exported model directory (weights linked, not copied) with a replaced tokenizer.json."""
    d = tmp_path / "model"
    d.mkdir()
    for name in os.listdir(good_model):
        src = os.path.join(good_model, name)
        if name == "model.safetensors":
            os.link(src, d / name)
        elif name != "tokenizer.json":
            shutil.copyfile(src, d / name)
    (d / "tokenizer.json").write_text(json.dumps(doc, ensure_ascii=False), encoding="utf-8")
    return d


def test_the_exported_model_loads(lib, good_model):
    status, message = load(lib, good_model)
    assert status == 0, message


@pytest.mark.parametrize("name,tamper,expected", CASES, ids=[c[0] for c in CASES])
def test_model_load_refuses_each_tampered_field_with_the_exporters_message(lib, good_model, tmp_path, fixture_doc,
                                                                           name, tamper, expected):
    doc = copy.deepcopy(fixture_doc)
    tamper(doc)
    d = model_copy(good_model, tmp_path, doc)
    status, message = load(lib, d)
    prefix = f"{d}/tokenizer.json: "
    assert status != 0 and message.startswith(prefix) and message.endswith(SUFFIX), message
    loaded = message[len(prefix): -len(SUFFIX)]
    assert loaded.startswith(expected)
    # same rule, same words: the exporter's message for the same file
    src = tokenizer_source(tmp_path, doc)
    _, run = export(tmp_path, src, check=False, name="out2")
    assert exporter_message(run, src) == loaded


# ---------------------------------------------------------------- tokenizer_config.json and X-SAM's tokens

def _config_with_xsam_tokens(tmp_path, **flags):
    src = tokenizer_source(tmp_path)
    config = json.load(open(src / "tokenizer_config.json"))
    for i, content in enumerate(("<SEG>", "<p>", "</p>")):
        entry = {"content": content, "lstrip": False, "normalized": False, "rstrip": False, "single_word": False,
                 "special": True}
        if content == "<p>":
            entry.update(flags)
        config["added_tokens_decoder"][str(32011 + i)] = entry
    (src / "tokenizer_config.json").write_text(json.dumps(config))
    return src


def test_x_sam_tokens_listed_with_the_flags_x_sam_gives_pass(tmp_path):
    export(tmp_path, _config_with_xsam_tokens(tmp_path))


@pytest.mark.parametrize("flag,value", [("rstrip", True), ("lstrip", True), ("normalized", True), ("special", False)])
def test_x_sam_tokens_with_other_flags_are_refused(tmp_path, flag, value):
    _, run = export(tmp_path, _config_with_xsam_tokens(tmp_path, **{flag: value}), check=False)
    assert run.returncode == 1
    assert f"added token '<p>' (id 32012) has {flag}={str(value).lower()}" in run.stderr, run.stderr
