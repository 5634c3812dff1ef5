"""Exporter tokenizer files: copies, xsam's added_tokens.json (docs/design/decisions.md#tokenizer-mode), token
ids, mode."""
import filecmp
import json
import os
import shutil

import pytest

from test_export_support import GOLDEN_MODEL, GOLDEN_TOKENIZER, REPO, run_export, write_hparams

PHI3_TOKENIZER_JSON = os.path.join(REPO, "tests", "data", "tokenizer", "tokenizer.json")

# docs/model-directory.md#tokenizer-files: ids 0-2 and Phi-3's 32000-32010 with the flags of
# tokenizer_config.json, then X-SAM's tokens.
# all_special: bos/eos/unk/pad (<s>, <|endoftext|>, <unk>) and the three X-SAM tokens, nothing else.
EXPECTED_ADDED_TOKENS = [
    (0, "<unk>", False, False, True, True),
    (1, "<s>", False, False, True, True),
    (2, "</s>", False, True, False, False),
    (32000, "<|endoftext|>", False, False, True, True),
    (32001, "<|assistant|>", False, True, True, False),
    (32002, "<|placeholder1|>", False, True, True, False),
    (32003, "<|placeholder2|>", False, True, True, False),
    (32004, "<|placeholder3|>", False, True, True, False),
    (32005, "<|placeholder4|>", False, True, True, False),
    (32006, "<|system|>", False, True, True, False),
    (32007, "<|end|>", False, True, True, False),
    (32008, "<|placeholder5|>", False, True, True, False),
    (32009, "<|placeholder6|>", False, True, True, False),
    (32010, "<|user|>", False, True, True, False),
    (32011, "<SEG>", False, False, True, True),
    (32012, "<p>", False, False, True, True),
    (32013, "</p>", False, False, True, True),
]


def export(tmp_path, tokenizer_dir, name="out", check=True):
    out = str(tmp_path / name)
    run = run_export("--checkpoint", GOLDEN_MODEL, "--tokenizer", str(tokenizer_dir), "--out", out,
                     "--hparams", write_hparams(tmp_path), check=check)
    return out, run


@pytest.fixture(scope="module")
def golden_export(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("tok")
    return export(tmp, GOLDEN_TOKENIZER)[0]


def added_tokens(out):
    """The token list of xsam's added_tokens.json (layout (a) of src/text/tokenizer_added_tokens.h)."""
    doc = json.load(open(os.path.join(out, "added_tokens.json")))
    assert (doc["format"], doc["format_version"]) == ("xsam-added-tokens", 1)
    return doc["added_tokens"]


def summary(tokens):
    return [(t["id"], t["content"], t["lstrip"], t["rstrip"], t["special"], t["all_special"]) for t in tokens]


def test_added_tokens_json(golden_export):
    doc = json.load(open(os.path.join(golden_export, "added_tokens.json")))
    assert sorted(doc) == ["added_tokens", "bos_token", "eos_token", "format", "format_version", "legacy",
                           "pad_token", "unk_token"]
    assert (doc["format"], doc["format_version"], doc["legacy"]) == ("xsam-added-tokens", 1, False)
    assert (doc["bos_token"], doc["eos_token"], doc["unk_token"], doc["pad_token"]) == \
        ("<s>", "<|endoftext|>", "<unk>", "<|endoftext|>")
    tokens = doc["added_tokens"]
    assert summary(tokens) == EXPECTED_ADDED_TOKENS
    assert all(t["normalized"] is False for t in tokens)
    assert all(sorted(t) == ["all_special", "content", "id", "lstrip", "normalized", "rstrip", "special"] for t in tokens)


def test_x_sam_token_ids_match_the_golden_tokenizer(golden_export):
    xsam = json.load(open(os.path.join(GOLDEN_TOKENIZER, "xsam_added_tokens.json")))
    tokens = {t["content"]: t["id"] for t in added_tokens(golden_export)}
    assert {k: tokens[k] for k in xsam} == xsam


def test_tokenizer_files_are_copied_byte_for_byte(golden_export):
    for name in ("tokenizer.model", "tokenizer_config.json", "special_tokens_map.json"):
        assert filecmp.cmp(os.path.join(GOLDEN_TOKENIZER, name), os.path.join(golden_export, name), shallow=False)
    assert not os.path.exists(os.path.join(golden_export, "tokenizer.json"))
    assert not os.path.exists(os.path.join(golden_export, "xsam_added_tokens.json"))


def test_slow_mode_without_tokenizer_json(golden_export):
    assert json.load(open(os.path.join(golden_export, "config.json")))["tokenizer"] == {"mode": "slow"}


def test_fast_mode_with_tokenizer_json(tmp_path):
    src = tmp_path / "tok"
    shutil.copytree(GOLDEN_TOKENIZER, src)
    shutil.copyfile(PHI3_TOKENIZER_JSON, src / "tokenizer.json")  # Phi-3's file: checked, then copied
    out, _ = export(tmp_path, src)
    assert json.load(open(os.path.join(out, "config.json")))["tokenizer"] == {"mode": "fast"}
    assert filecmp.cmp(src / "tokenizer.json", os.path.join(out, "tokenizer.json"), shallow=False)


def test_flags_from_tokenizer_json_when_the_config_has_none(tmp_path):
    src = tmp_path / "tok"
    shutil.copytree(GOLDEN_TOKENIZER, src)
    config = json.load(open(src / "tokenizer_config.json"))
    decoder = config.pop("added_tokens_decoder")
    (src / "tokenizer_config.json").write_text(json.dumps(config))
    added = json.load(open(PHI3_TOKENIZER_JSON))["added_tokens"]  # the same flags as the config's
    assert [(t["id"], t["content"]) for t in added] == [(int(k), v["content"]) for k, v in decoder.items()]
    shutil.copyfile(PHI3_TOKENIZER_JSON, src / "tokenizer.json")
    out, _ = export(tmp_path, src)
    assert summary(added_tokens(out)) == EXPECTED_ADDED_TOKENS


def test_token_ids_in_config(golden_export):
    t = json.load(open(os.path.join(golden_export, "config.json")))["tokens"]
    assert t == {"bos": 1, "eos": 32000, "pad": 32000, "end": 32007, "user": 32010, "assistant": 32001,
                 "seg": 32011, "p_start": 32012, "p_end": 32013, "image_sentinel": -200, "region_sentinel": -300}


def test_tokenizer_already_holding_the_x_sam_tokens(tmp_path):
    """A tokenizer saved by X-SAM itself already lists <SEG> <p> </p>: their ids are kept, not duplicated."""
    src = tmp_path / "tok"
    shutil.copytree(GOLDEN_TOKENIZER, src)
    config = json.load(open(src / "tokenizer_config.json"))
    for i, content in enumerate(("<SEG>", "<p>", "</p>")):
        config["added_tokens_decoder"][str(32011 + i)] = {"content": content, "lstrip": False, "normalized": False,
                                                          "rstrip": False, "single_word": False, "special": True}
    config["additional_special_tokens"] = ["<SEG>", "<p>", "</p>"]
    (src / "tokenizer_config.json").write_text(json.dumps(config))
    out, _ = export(tmp_path, src)
    assert summary(added_tokens(out)) == EXPECTED_ADDED_TOKENS


def test_an_extra_added_token_shifts_the_vocabulary_and_is_refused(tmp_path):
    src = tmp_path / "tok"
    shutil.copytree(GOLDEN_TOKENIZER, src)
    config = json.load(open(src / "tokenizer_config.json"))
    config["added_tokens_decoder"]["32011"] = {"content": "<extra>", "lstrip": False, "normalized": False,
                                               "rstrip": False, "single_word": False, "special": True}
    (src / "tokenizer_config.json").write_text(json.dumps(config))
    os.remove(src / "added_tokens.json")
    _, run = export(tmp_path, src, check=False)
    assert run.returncode == 1
    assert "32015 ids" in run.stderr and "32014 rows" in run.stderr


def test_missing_tokenizer_files_are_refused(tmp_path):
    src = tmp_path / "tok"
    shutil.copytree(GOLDEN_TOKENIZER, src)
    os.remove(src / "tokenizer.model")
    _, run = export(tmp_path, src, check=False)
    assert run.returncode == 1 and "tokenizer.model" in run.stderr


def test_hf_added_tokens_json_disagreeing_with_the_flags_is_refused(tmp_path):
    src = tmp_path / "tok"
    shutil.copytree(GOLDEN_TOKENIZER, src)
    hf = json.load(open(src / "added_tokens.json"))
    hf["<|end|>"] = 32008
    (src / "added_tokens.json").write_text(json.dumps(hf))
    _, run = export(tmp_path, src, check=False)
    assert run.returncode == 1 and "'<|end|>' has id 32008" in run.stderr


def test_single_word_tokens_are_refused(tmp_path):
    src = tmp_path / "tok"
    shutil.copytree(GOLDEN_TOKENIZER, src)
    config = json.load(open(src / "tokenizer_config.json"))
    config["added_tokens_decoder"]["32007"]["single_word"] = True
    (src / "tokenizer_config.json").write_text(json.dumps(config))
    _, run = export(tmp_path, src, check=False)
    assert run.returncode == 1 and "single_word" in run.stderr
