"""The structure of tokenizer.json that xsam's fast tokenizer implements, checked field by field.

xsam does not run HF's `tokenizers`: its fast mode (src/text/tokenizer.cpp) re-implements one file,
Phi-3-mini-4k-instruct's tokenizer.json as X-SAM loads it (tests/data/tokenizer/SOURCE.md):

  version "1.0"; truncation null; padding null;
  normalizer     Sequence[Prepend("▁"), Replace(String " " -> "▁")]
  pre_tokenizer  null
  model          BPE, dropout null, unk_token "<unk>", continuing_subword_prefix null, end_of_word_suffix
                 null, fuse_unk true, byte_fallback true, ignore_merges false (or absent);
                 vocab = the pieces of tokenizer.model with their ids; merges "a b" (or ["a", "b"]) whose
                 parts and result are in the vocab, in order of the result's score in tokenizer.model
                 (non-increasing): the SentencePiece BPE that xsam runs merges by score
  decoder        Sequence[Replace("▁" -> " "), ByteFallback, Fuse, Strip(" ", 1, 0)]
  post_processor null, or TemplateProcessing with single [$A], pair [$A, $B:1], no special tokens
  added_tokens   [{id, content, single_word false, lstrip, rstrip, normalized false, special}], each the
                 same id, content and flags as the tokenizer's added-token table

Anything else is refused with the first differing field named; the message is the same, word for word,
as the one of the C++ check at model load (src/text/tokenizer_json_check.cpp) — keep the two in step.
Objects are walked in sorted key order (nlohmann::json's order) so both report the same first field.
"""
import json

from .errors import ExportError

SUFFIX = " (xsam implements Phi-3-mini-4k-instruct's tokenizer.json only; see docs/model-directory.md)"
SPACE = "\u2581"

NORMALIZER = {"type": "Sequence", "normalizers": [
    {"type": "Prepend", "prepend": SPACE},
    {"type": "Replace", "pattern": {"String": " "}, "content": SPACE}]}
DECODER = {"type": "Sequence", "decoders": [
    {"type": "Replace", "pattern": {"String": SPACE}, "content": " "},
    {"type": "ByteFallback"}, {"type": "Fuse"},
    {"type": "Strip", "content": " ", "start": 1, "stop": 0}]}
POST_PROCESSOR = {"type": "TemplateProcessing",
                  "single": [{"Sequence": {"id": "A", "type_id": 0}}],
                  "pair": [{"Sequence": {"id": "A", "type_id": 0}}, {"Sequence": {"id": "B", "type_id": 1}}],
                  "special_tokens": {}}
MODEL_OPTIONS = {"type": "BPE", "dropout": None, "unk_token": "<unk>", "continuing_subword_prefix": None,
                 "end_of_word_suffix": None, "fuse_unk": True, "byte_fallback": True}
TOP_LEVEL = ("version", "truncation", "padding", "normalizer", "pre_tokenizer", "model", "decoder",
             "post_processor", "added_tokens")
ADDED_TOKEN_FIELDS = ("content", "id", "lstrip", "normalized", "rstrip", "single_word", "special")
TABLE_FLAGS = ("lstrip", "rstrip", "special")


class Refused(Exception):
    """One refused field: `path` (e.g. "normalizer.normalizers[0].prepend") and what is wrong."""

    def __init__(self, path, what):
        super().__init__(f"{path}: {what}")


def _kind(v):
    if v is None:
        return "null"
    if isinstance(v, bool):
        return "bool"
    if isinstance(v, (int, float)):
        return "number"
    if isinstance(v, str):
        return "string"
    return "array" if isinstance(v, list) else "object"


def describe(v):
    """A short description of a JSON value, the same as describe() of the C++ check."""
    k = _kind(v)
    if k == "null":
        return "null"
    if k == "bool":
        return "true" if v else "false"
    if k in ("number", "string"):
        return json.dumps(v, ensure_ascii=False)
    if k == "array":
        return f"an array of {len(v)}"
    t = v.get("type")
    return f'an object of type {json.dumps(t, ensure_ascii=False)}' if isinstance(t, str) else "an object"


def _is_int(v):
    return isinstance(v, int) and not isinstance(v, bool)


def compare(actual, expected, path):
    """Raises Refused at the first difference (objects in sorted key order, arrays by index)."""
    if _kind(expected) == "object":
        if _kind(actual) != "object":
            raise Refused(path, f"expected {describe(expected)}, got {describe(actual)}")
        for key in sorted(set(expected) | set(actual)):
            sub = f"{path}.{key}"
            if key not in actual:
                raise Refused(sub, f"missing (expected {describe(expected[key])})")
            if key not in expected:
                raise Refused(sub, f"unexpected field ({describe(actual[key])})")
            compare(actual[key], expected[key], sub)
    elif _kind(expected) == "array":
        if _kind(actual) != "array" or len(actual) != len(expected):
            raise Refused(path, f"expected {describe(expected)}, got {describe(actual)}")
        for i, (a, e) in enumerate(zip(actual, expected)):
            compare(a, e, f"{path}[{i}]")
    elif _kind(actual) != _kind(expected) or actual != expected:
        raise Refused(path, f"expected {describe(expected)}, got {describe(actual)}")


def _check_model(model, pieces, scores):
    if _kind(model) != "object":
        raise Refused("model", f"expected an object of type \"BPE\", got {describe(model)}")
    if "type" not in model:
        raise Refused("model.type", "missing (expected \"BPE\")")
    compare(model["type"], "BPE", "model.type")
    expected = dict(MODEL_OPTIONS)
    if "ignore_merges" in model:  # written by tokenizers >= 0.19; true would change the result
        expected["ignore_merges"] = False
    options = {k: v for k, v in model.items() if k not in ("vocab", "merges")}
    compare(options, expected, "model")
    for key in ("vocab", "merges"):
        if key not in model:
            raise Refused(f"model.{key}", "missing")
    vocab = model["vocab"]
    if _kind(vocab) != "object":
        raise Refused("model.vocab", f"expected an object, got {describe(vocab)}")
    if len(vocab) != len(pieces):
        raise Refused("model.vocab", f"expected {len(pieces)} entries (the pieces of tokenizer.model), got {len(vocab)}")
    for i, piece in enumerate(pieces):
        if piece not in vocab:
            raise Refused("model.vocab", f"piece {describe(piece)} (id {i} of tokenizer.model) is missing")
        v = vocab[piece]
        if not _is_int(v) or v != i:
            raise Refused(f"model.vocab[{describe(piece)}]", f"expected {i} (its id in tokenizer.model), got {describe(v)}")
    merges = model["merges"]
    if _kind(merges) != "array":
        raise Refused("model.merges", f"expected an array, got {describe(merges)}")
    previous = None
    for i, m in enumerate(merges):
        path = f"model.merges[{i}]"
        if isinstance(m, str) and m.count(" ") == 1 and m[0] != " " and m[-1] != " ":
            a, b = m.split(" ")
        elif isinstance(m, list) and len(m) == 2 and all(isinstance(p, str) and p for p in m):
            a, b = m
        else:
            raise Refused(path, f"expected \"A B\" or [\"A\", \"B\"], got {describe(m)}")
        for part in (a, b, a + b):
            if part not in vocab:
                raise Refused(path, f"{describe(part)} is not in model.vocab")
        score = scores[vocab[a + b]]
        if previous is not None and score > previous:
            raise Refused(path, f"out of order: the score of {describe(a + b)} in tokenizer.model is higher than "
                                f"that of the merge before it")
        previous = score


def _check_added_tokens(added, table):
    """`table`: id -> {"content", "lstrip", "rstrip", "special"} (the tokenizer's added tokens)."""
    if _kind(added) != "array":
        raise Refused("added_tokens", f"expected an array, got {describe(added)}")
    for i, e in enumerate(added):
        path = f"added_tokens[{i}]"
        if _kind(e) != "object":
            raise Refused(path, f"expected an object, got {describe(e)}")
        for key in sorted(set(e) | set(ADDED_TOKEN_FIELDS)):
            if key not in e:
                raise Refused(f"{path}.{key}", "missing")
            if key not in ADDED_TOKEN_FIELDS:
                raise Refused(f"{path}.{key}", f"unexpected field ({describe(e[key])})")
        if not _is_int(e["id"]):
            raise Refused(f"{path}.id", f"expected an integer, got {describe(e['id'])}")
        if not isinstance(e["content"], str):
            raise Refused(f"{path}.content", f"expected a string, got {describe(e['content'])}")
        for flag in ("lstrip", "normalized", "rstrip", "single_word", "special"):
            if not isinstance(e[flag], bool):
                raise Refused(f"{path}.{flag}", f"expected true or false, got {describe(e[flag])}")
        for flag in ("normalized", "single_word"):
            if e[flag]:
                raise Refused(f"{path}.{flag}", f"expected false, got true (not implemented)")
        known = table.get(e["id"])
        if known is None:
            raise Refused(path, f"id {e['id']} ({describe(e['content'])}) is not an added token of the tokenizer")
        if known["content"] != e["content"]:
            raise Refused(f"{path}.content", f"expected {describe(known['content'])} (the added token with id "
                                             f"{e['id']}), got {describe(e['content'])}")
        for flag in TABLE_FLAGS:
            if known[flag] != e[flag]:
                raise Refused(f"{path}.{flag}", f"expected {describe(known[flag])} (the flag of "
                                                f"{describe(known['content'])} in the added-token table), got "
                                                f"{describe(e[flag])}")


def check_document(doc, pieces, scores, table):
    """Raises Refused at the first field of `doc` (a parsed tokenizer.json) that xsam does not implement."""
    if _kind(doc) != "object":
        raise Refused("tokenizer.json", f"expected an object, got {describe(doc)}")
    for key in sorted(set(doc) | set(TOP_LEVEL)):
        if key not in doc:
            raise Refused(key, "missing")
        if key not in TOP_LEVEL:
            raise Refused(key, f"unexpected field ({describe(doc[key])})")
    compare(doc["version"], "1.0", "version")
    compare(doc["truncation"], None, "truncation")
    compare(doc["padding"], None, "padding")
    compare(doc["normalizer"], NORMALIZER, "normalizer")
    compare(doc["pre_tokenizer"], None, "pre_tokenizer")
    _check_model(doc["model"], pieces, scores)
    compare(doc["decoder"], DECODER, "decoder")
    if doc["post_processor"] is not None:
        compare(doc["post_processor"], POST_PROCESSOR, "post_processor")
    _check_added_tokens(doc["added_tokens"], table)


def check_tokenizer_json(path, pieces, scores, table):
    """Checks the file at `path`; raises ExportError "PATH: FIELD: what is wrong (...)"."""
    try:
        with open(path, encoding="utf-8") as f:
            doc = json.load(f)
    except (OSError, ValueError) as e:
        raise ExportError(f"{path}: cannot read JSON ({e})") from None
    try:
        check_document(doc, pieces, scores, table)
    except Refused as e:
        raise ExportError(f"{path}: {e}{SUFFIX}") from None
