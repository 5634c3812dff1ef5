"""The tokenizer files of a model directory (docs/model-directory.md#tokenizer-files,
docs/design/decisions.md#tokenizer-mode).

Input: a directory with Phi-3-mini's tokenizer files — `tokenizer.model` and `tokenizer_config.json`
(required), `tokenizer.json`, `special_tokens_map.json`, `added_tokens.json` (optional).

Output:
  * the HF files copied byte for byte (`tokenizer.model`, `tokenizer_config.json`, and `tokenizer.json`,
    `special_tokens_map.json` when present); HF's own `added_tokens.json` is not copied;
  * xsam's `added_tokens.json`, the self-contained layout (a) that src/text/tokenizer_added_tokens.h reads:
    `{"format": "xsam-added-tokens", "format_version": 1, "legacy", "bos_token", "eos_token", "unk_token",
    "pad_token", "added_tokens": [{"id", "content", "lstrip", "rstrip", "normalized", "special",
    "all_special"}]}` — the tokens of the source (`added_tokens_decoder` of tokenizer_config.json, else
    `added_tokens` of tokenizer.json: ids 0-2 and Phi-3's 32000-32010) followed by X-SAM's `<SEG>`, `<p>`,
    `</p>` at the next free ids (32011-32013), added by upstream with `add_tokens(..., special_tokens=True)`:
    special, no strip, not normalized. `all_special` is membership of HF's `all_special_tokens` (bos/eos/
    unk/pad, additional special tokens, and the X-SAM tokens), which the slow tokenizer's rule and its
    decoding depend on (docs/model-directory.md#tokenizer-files);
  * the token ids of config.json's `tokens` section, and the tokenizer mode: `fast` when the source has a
    tokenizer.json (what upstream runs), else `slow`.
"""
import hashlib
import json
import os
import struct

from .errors import ExportError
from .tokenizer_json_check import check_tokenizer_json

ADDED_TOKENS_FORMAT = "xsam-added-tokens"
XSAM_TOKENS = ("<SEG>", "<p>", "</p>")
_XSAM_FLAGS = {"lstrip": False, "rstrip": False, "normalized": False, "special": True}
_FLAGS = ("lstrip", "rstrip", "normalized", "special")
_REQUIRED_BASE_TOKENS = ("<unk>", "<s>", "</s>")
_CHAT_TOKENS = {"end": "<|end|>", "user": "<|user|>", "assistant": "<|assistant|>"}
_SPECIAL_ROLES = ("bos_token", "eos_token", "unk_token", "pad_token")
# Phi-3-mini's tokenizer.model is Llama 2's, byte for byte (docs/model-directory.md#tokenizer-files).
PHI3_TOKENIZER_MODEL_SHA256 = "9e556afd44213b6bd1be2b850ebbbd98f5481437a8021afaf58ee7fb1818d347"


def _read_json(path):
    try:
        with open(path, encoding="utf-8") as f:
            return json.load(f)
    except (OSError, json.JSONDecodeError) as e:
        raise ExportError(f"{path}: cannot read JSON ({e})") from None


def _varint(data, pos):
    value, shift = 0, 0
    while True:
        if pos >= len(data) or shift > 63:
            raise ExportError("tokenizer.model: truncated protobuf varint")
        b = data[pos]
        pos += 1
        value |= (b & 0x7F) << shift
        shift += 7
        if not b & 0x80:
            return value, pos


def _fields(data, path):
    """(field, wire type, value) of a protobuf message: value is an int (varint), bytes (length-delimited)
    or the raw 4/8 bytes of a fixed-width field."""
    pos = 0
    while pos < len(data):
        key, pos = _varint(data, pos)
        field, wire = key >> 3, key & 7
        if wire == 0:
            value, pos = _varint(data, pos)
        elif wire in (1, 5):
            width = 8 if wire == 1 else 4
            value, pos = data[pos:pos + width], pos + width
        elif wire == 2:
            length, pos = _varint(data, pos)
            value, pos = data[pos:pos + length], pos + length
        else:
            raise ExportError(f"{path}: not a SentencePiece model (protobuf wire type {wire})")
        if pos > len(data):
            raise ExportError(f"{path}: not a SentencePiece model (truncated field {field})")
        yield field, wire, value


def sentencepiece_pieces(data, path="tokenizer.model"):
    """(pieces, scores) of a SentencePiece ModelProto (repeated field 1: SentencePiece {piece = 1,
    score = 2}), read without sentencepiece."""
    pieces, scores = [], []
    for field, wire, value in _fields(data, path):
        if field != 1 or wire != 2:
            continue
        piece, score = None, 0.0
        for f, w, v in _fields(value, path):
            if f == 1 and w == 2:
                try:
                    piece = bytes(v).decode("utf-8")
                except UnicodeDecodeError:
                    raise ExportError(f"{path}: piece {len(pieces)} is not UTF-8") from None
            elif f == 2 and w == 5:
                score = struct.unpack("<f", v)[0]
        if piece is None:
            raise ExportError(f"{path}: piece {len(pieces)} has no text")
        pieces.append(piece)
        scores.append(score)
    if not pieces:
        raise ExportError(f"{path}: a SentencePiece model with no pieces")
    return pieces, scores


def count_sentencepiece_pieces(data, path="tokenizer.model"):
    """Number of pieces in a SentencePiece ModelProto (repeated field 1), read without sentencepiece."""
    return len(sentencepiece_pieces(data, path)[0])


def _content(value):
    """A special-token entry: a plain string, or an (AddedToken-like) object with 'content'."""
    if isinstance(value, dict):
        return value.get("content")
    return value


class TokenizerFiles:
    def __init__(self, directory):
        self.directory = directory
        self.model_path = os.path.join(directory, "tokenizer.model")
        self.config_path = os.path.join(directory, "tokenizer_config.json")
        for p in (self.model_path, self.config_path):
            if not os.path.isfile(p):
                raise ExportError(f"{p}: required tokenizer file not found (--tokenizer must name a directory "
                                  f"with Phi-3's tokenizer files)")
        with open(self.model_path, "rb") as f:
            data = f.read()
        self.pieces, self.scores = sentencepiece_pieces(data, self.model_path)
        self.num_pieces = len(self.pieces)
        self.model_sha256 = hashlib.sha256(data).hexdigest()
        self.is_phi3_model = self.model_sha256 == PHI3_TOKENIZER_MODEL_SHA256
        self.config = _read_json(self.config_path)
        fast = os.path.join(directory, "tokenizer.json")
        self.fast_path = fast if os.path.isfile(fast) else None
        smap = os.path.join(directory, "special_tokens_map.json")
        self.special_map_path = smap if os.path.isfile(smap) else None
        self.mode = "fast" if self.fast_path else "slow"
        self.added_tokens = self._added_tokens()
        self.vocab_size = max(self.num_pieces, self.added_tokens[-1]["id"] + 1)
        if self.fast_path:  # xsam's fast tokenizer implements one structure: refuse any other (field named)
            check_tokenizer_json(self.fast_path, self.pieces, self.scores, {t["id"]: t for t in self.added_tokens})

    def checksums(self):
        """sha256 of every tokenizer file the exporter copies, by file name (for checksums.json)."""
        out = {}
        for path in self.files_to_copy():
            with open(path, "rb") as f:
                out[os.path.basename(path)] = hashlib.sha256(f.read()).hexdigest()
        return out

    def files_to_copy(self):
        return [p for p in (self.model_path, self.config_path, self.fast_path, self.special_map_path) if p]

    # ---------------------------------------------------------------- added tokens

    def _source_tokens(self):
        """id -> flags dict of the source's added tokens."""
        where = self.config_path
        decoder = self.config.get("added_tokens_decoder")
        if isinstance(decoder, dict) and decoder:
            entries = [dict(v, id=int(k)) for k, v in decoder.items()]
        elif self.fast_path:
            where = self.fast_path
            entries = _read_json(self.fast_path).get("added_tokens") or []
        else:
            entries = []
        if not entries:
            raise ExportError(f"{self.directory}: no added-token flags found (tokenizer_config.json has no "
                              f"'added_tokens_decoder' and there is no tokenizer.json with 'added_tokens')")
        tokens = {}
        for e in entries:
            try:
                tid, content = int(e["id"]), str(e["content"])
                flags = {f: bool(e.get(f, False)) for f in _FLAGS}
            except (KeyError, TypeError, ValueError):
                raise ExportError(f"{where}: bad added-token entry {e!r}") from None
            if e.get("single_word"):
                raise ExportError(f"{where}: added token {content!r} has single_word=true, which xsam's "
                                  f"tokenizer does not support")
            if tid in tokens:
                raise ExportError(f"{where}: id {tid} is used by two added tokens")
            tokens[tid] = dict(content=content, **flags)
        return tokens

    def _role(self, role):
        """Content of a special role: tokenizer_config.json, else special_tokens_map.json; None if unset."""
        content = _content(self.config.get(role))
        if not content and self.special_map_path:
            content = _content(_read_json(self.special_map_path).get(role))
        return content or None

    def _special_contents(self):
        """Contents of HF's all_special_tokens: the four roles and the additional special tokens
        (tokenizer_config.json's list, else special_tokens_map.json's), as the C++ reader of HF files does."""
        found = {c for c in (self._role(r) for r in _SPECIAL_ROLES) if c}
        extra = self.config.get("additional_special_tokens")
        if extra is None and self.special_map_path:
            extra = _read_json(self.special_map_path).get("additional_special_tokens")
        found |= {c for c in (_content(e) for e in extra or []) if c}
        return found

    def document(self):
        """xsam's added_tokens.json (layout (a) of src/text/tokenizer_added_tokens.h)."""
        doc = {"format": ADDED_TOKENS_FORMAT, "format_version": 1,
               "legacy": bool(self.config.get("legacy", True))}  # HF's default when absent is true
        for role in _SPECIAL_ROLES:
            doc[role] = self._role(role)
        doc["added_tokens"] = self.added_tokens
        return doc

    def _added_tokens(self):
        tokens = self._source_tokens()
        by_content = {t["content"]: tid for tid, t in tokens.items()}
        for required in _REQUIRED_BASE_TOKENS:
            if required not in by_content:
                raise ExportError(f"{self.directory}: added token {required!r} is not listed with its flags "
                                  f"(Phi-3's tokenizer_config.json lists ids 0-2 in added_tokens_decoder)")
        next_id = max(self.num_pieces, max(tokens) + 1)
        for content in XSAM_TOKENS:  # X-SAM adds them to the tokenizer at start-up, at the next free ids
            if content in by_content:  # a tokenizer saved by X-SAM lists them: they must be what it adds
                tid = by_content[content]
                wrong = [f"{f}={str(tokens[tid][f]).lower()}" for f in _FLAGS if tokens[tid][f] != _XSAM_FLAGS[f]]
                if wrong:
                    raise ExportError(f"{self.config_path}: added token {content!r} (id {tid}) has {', '.join(wrong)}; "
                                      f"X-SAM adds it with add_tokens(..., special_tokens=True): lstrip, rstrip and "
                                      f"normalized false, special true")
                if tid < self.num_pieces:
                    raise ExportError(f"{self.config_path}: added token {content!r} has id {tid}, inside the "
                                      f"{self.num_pieces} SentencePiece pieces; X-SAM's tokens follow Phi-3's")
            else:
                tokens[next_id] = dict(content=content, **_XSAM_FLAGS)
                by_content[content] = next_id
                next_id += 1
        beyond = sorted(t for t in tokens if t >= self.num_pieces)
        if beyond and beyond != list(range(self.num_pieces, self.num_pieces + len(beyond))):
            raise ExportError(f"{self.directory}: added token ids above the {self.num_pieces} SentencePiece "
                              f"pieces are not contiguous: {beyond}")
        special = self._special_contents() | set(XSAM_TOKENS)
        self._check_hf_added_tokens(by_content)
        return [dict(id=tid, content=t["content"], **{f: t[f] for f in _FLAGS}, all_special=t["content"] in special)
                for tid, t in sorted(tokens.items())]

    def _check_hf_added_tokens(self, by_content):
        """HF's own added_tokens.json ({content: id}), when present, must agree with the flags' source."""
        path = os.path.join(self.directory, "added_tokens.json")
        if not os.path.isfile(path):
            return
        data = _read_json(path)
        if not isinstance(data, dict):
            raise ExportError(f"{path}: expected HF's {{content: id}} object")
        for content, tid in data.items():
            if by_content.get(content) != tid:
                raise ExportError(f"{path}: {content!r} has id {tid}, but the added-token flags give "
                                  f"{by_content.get(content)}")

    # ---------------------------------------------------------------- ids for config.json

    def id_of(self, content, what):
        for t in self.added_tokens:
            if t["content"] == content:
                return t["id"]
        raise ExportError(f"{self.directory}: the tokenizer has no {content!r} token ({what}); is this Phi-3's tokenizer?")

    def token_ids(self):
        ids = {}
        for role, name in (("bos_token", "bos"), ("eos_token", "eos"), ("pad_token", "pad")):
            content = self._role(role)
            if not content:
                if role == "pad_token":  # no pad token: padding never happens at batch size 1; use eos
                    ids[name] = ids["eos"]
                    continue
                raise ExportError(f"{self.config_path}: no {role}")
            ids[name] = self.id_of(content, role)
        for name, content in _CHAT_TOKENS.items():
            ids[name] = self.id_of(content, "the Phi-3 chat template")
        ids["seg"], ids["p_start"], ids["p_end"] = (self.id_of(t, "X-SAM") for t in XSAM_TOKENS)
        return ids
