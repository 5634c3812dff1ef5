"""Opens an input checkpoint as an ordered mapping of name -> tensor reference, without loading data.

Accepted inputs:
  * a torch.save zip archive (the released `pytorch_model.bin`): a flat state dict, or one nested under
    "state_dict" (or "module", as DeepSpeed writes), read lazily (torch_zip.py);
  * a `.safetensors` file in the upstream key layout;
  * a `*.index.json` (HF sharded checkpoint: {"weight_map": {name: file}}) over either kind.
A reference has `name`, `dtype`, `shape` and `load()` (a contiguous CPU tensor).
"""
import json
import os
import struct
from collections import OrderedDict

import torch

from . import safetensors_io
from .errors import ExportError
from .torch_zip import TorchZipCheckpoint

_NESTING_KEYS = ("state_dict", "module")


class _SafetensorsRef:
    def __init__(self, path, data_start, name, dtype, shape, begin, end):
        self.path, self.data_start, self.name = path, data_start, name
        self.dtype, self.shape, self.begin, self.end = dtype, shape, begin, end

    def load(self):
        return safetensors_io.read_tensor(self.path, self.data_start, self.dtype, self.shape, self.begin, self.end)


class Checkpoint:
    """`tensors`: OrderedDict name -> reference; `notes`: what was done to read it (for the log)."""

    def __init__(self, path):
        self.path = path
        self.tensors = OrderedDict()
        self.notes = []
        self._closers = []
        if not os.path.exists(path):
            raise ExportError(f"{path}: checkpoint not found")
        if path.endswith(".json"):
            self._open_index(path)
        else:
            self._open_file(path)
        if not self.tensors:
            raise ExportError(f"{path}: the checkpoint holds no tensors")

    def close(self):
        for c in self._closers:
            c()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def _add(self, name, ref, source):
        if name in self.tensors:
            raise ExportError(f"{source}: tensor '{name}' appears twice in the checkpoint")
        self.tensors[name] = ref

    def _open_file(self, path):
        kind = _sniff(path)
        if kind == "zip":
            self._open_torch_zip(path)
        elif kind == "safetensors":
            self._open_safetensors(path)
        elif kind == "legacy-pickle":
            raise ExportError(f"{path}: legacy (pre-zip) torch.save format is not supported; re-save it with "
                              f"torch.save(torch.load(f), g) using any torch >= 1.6")
        else:
            raise ExportError(f"{path}: neither a torch.save zip archive nor a safetensors file")

    def _open_torch_zip(self, path):
        ckpt = TorchZipCheckpoint(path)
        self._closers.append(ckpt.close)
        state = ckpt.root
        for key in _NESTING_KEYS:
            if isinstance(state, dict) and isinstance(state.get(key), dict):
                self.notes.append(f"{path}: using the state dict nested under '{key}'")
                state = state[key]
                break
        if not isinstance(state, dict):
            raise ExportError(f"{path}: the archive holds a {type(state).__name__}, not a state dict")
        not_tensors = [str(k) for k, v in state.items() if not isinstance(v, torch.Tensor)]
        if not_tensors:
            raise ExportError(f"{path}: the state dict has entries that are not tensors: {', '.join(not_tensors[:10])}")
        for name, t in state.items():
            self._add(str(name), ckpt.tensor_ref(str(name), t), path)

    def _open_safetensors(self, path):
        entries, _, data_start = safetensors_io.read_header(path)
        for name, (dtype, shape, begin, end) in sorted(entries.items(), key=lambda kv: kv[1][2]):
            self._add(name, _SafetensorsRef(path, data_start, name, dtype, shape, begin, end), path)

    def _open_index(self, path):
        try:
            with open(path, encoding="utf-8") as f:
                index = json.load(f)
            weight_map = index["weight_map"]
            files = sorted(set(weight_map.values()))
        except (OSError, ValueError, KeyError, TypeError, AttributeError) as e:
            raise ExportError(f"{path}: not a checkpoint index with a 'weight_map' ({e})") from None
        base = os.path.dirname(path)
        for name in files:
            if os.path.basename(name) != name:
                raise ExportError(f"{path}: shard '{name}' lies outside the index's directory")
            before = set(self.tensors)
            self._open_file(os.path.join(base, name))
            for t in set(self.tensors) - before:
                if weight_map.get(t) != name:
                    raise ExportError(f"{path}: tensor '{t}' is in shard '{name}' but the index says "
                                      f"'{weight_map.get(t)}'")
        missing = sorted(set(weight_map) - set(self.tensors))
        if missing:
            raise ExportError(f"{path}: tensors listed in the index but absent from the shards: {', '.join(missing[:10])}")


def _sniff(path):
    with open(path, "rb") as f:
        head = f.read(9)
    if head[:4] == b"PK\x03\x04":
        return "zip"
    if len(head) == 9 and head[8:9] == b"{" and struct.unpack("<Q", head[:8])[0] < (1 << 32):
        return "safetensors"
    if head[:1] == b"\x80":
        return "legacy-pickle"
    return "unknown"
