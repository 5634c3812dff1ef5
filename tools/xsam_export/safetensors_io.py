"""Safetensors files, read and written by hand (Debian has no `safetensors` module).

Format: an unsigned 64-bit little-endian header length N, then N bytes of JSON
`{name: {"dtype", "shape", "data_offsets": [begin, end]}, "__metadata__": {str: str}}`, then the data area.
Offsets are relative to the start of the data area, tensors are little-endian and C-contiguous, and the
data area has no holes. We pad the header with spaces so that the data area starts 8-byte aligned.
"""
import hashlib
import json
import math
import os
import struct

import torch

from .errors import ExportError

# safetensors dtype name <-> torch dtype. Only what an X-SAM checkpoint can hold.
DTYPE_BY_NAME = {
    "F64": torch.float64,
    "F32": torch.float32,
    "F16": torch.float16,
    "BF16": torch.bfloat16,
    "I64": torch.int64,
    "I32": torch.int32,
    "I16": torch.int16,
    "I8": torch.int8,
    "U8": torch.uint8,
    "BOOL": torch.bool,
}
NAME_BY_DTYPE = {v: k for k, v in DTYPE_BY_NAME.items()}

_MAX_HEADER = 100 * 1024 * 1024  # a sane bound; real headers are well under 1 MB


def dtype_name(dtype):
    if dtype not in NAME_BY_DTYPE:
        raise ExportError(f"dtype {dtype} cannot be stored in safetensors")
    return NAME_BY_DTYPE[dtype]


def itemsize(dtype):
    return torch.empty((), dtype=dtype).element_size()


def read_header(path):
    """Returns (entries, metadata, data_start): entries maps name -> (torch dtype, shape tuple, begin, end).

    Validates what a reader must trust: the header length, the JSON, known dtypes, byte ranges inside the
    file and matching shape x dtype size. Every message names the file and the tensor."""
    size = os.path.getsize(path)
    with open(path, "rb") as f:
        head = f.read(8)
        if len(head) < 8:
            raise ExportError(f"{path}: too short for a safetensors file ({size} bytes)")
        (n,) = struct.unpack("<Q", head)
        if n > _MAX_HEADER or 8 + n > size:
            raise ExportError(f"{path}: safetensors header length {n} is impossible for a {size}-byte file")
        try:
            header = json.loads(f.read(n).decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as e:
            raise ExportError(f"{path}: safetensors header is not valid JSON ({e})") from None
    if not isinstance(header, dict):
        raise ExportError(f"{path}: safetensors header must be a JSON object")
    data_start = 8 + n
    metadata = header.pop("__metadata__", None) or {}
    entries = {}
    for name, info in header.items():
        try:
            dtype = DTYPE_BY_NAME[info["dtype"]]
            shape = tuple(int(d) for d in info["shape"])
            begin, end = (int(o) for o in info["data_offsets"])
        except (KeyError, TypeError, ValueError):
            raise ExportError(f"{path}: tensor '{name}': bad header entry {info!r}") from None
        if any(d < 0 for d in shape) or not 0 <= begin <= end or data_start + end > size:
            raise ExportError(f"{path}: tensor '{name}': byte range [{begin}, {end}) or shape {list(shape)} "
                              f"is outside the {size - data_start}-byte data area")
        if end - begin != math.prod(shape) * itemsize(dtype):
            raise ExportError(f"{path}: tensor '{name}': {end - begin} bytes do not hold shape {list(shape)} "
                              f"of {info['dtype']}")
        entries[name] = (dtype, shape, begin, end)
    return entries, metadata, data_start


def read_tensor(path, data_start, dtype, shape, begin, end):
    """Reads one tensor's bytes (and only those) into a fresh CPU tensor."""
    buf = bytearray(end - begin)
    with open(path, "rb") as f:
        f.seek(data_start + begin)
        if f.readinto(buf) != len(buf):
            raise ExportError(f"{path}: file ends inside a tensor's data")
    if not buf:
        return torch.empty(shape, dtype=dtype)
    return torch.frombuffer(buf, dtype=dtype).reshape(shape)


def tensor_bytes(t):
    """A zero-copy view of a contiguous CPU tensor's bytes (little-endian on every supported machine)."""
    flat = t.contiguous().reshape(-1)
    if flat.numel() == 0:
        return memoryview(b"")
    return memoryview(flat.view(torch.uint8).numpy())


class StreamingWriter:
    """Writes one safetensors file tensor by tensor, so only one tensor is ever held in memory.

    The header is written first from the planned (name, dtype, shape) list; `write` must then be called
    with exactly those tensors in that order. The sha256 of the whole file is computed on the way, and
    the file appears under its final name only when `close` succeeds."""

    def __init__(self, path, plan, metadata=None):
        self.path = path
        self._partial = path + ".partial"
        self._plan = list(plan)
        header = {}
        offset = 0
        for name, dtype, shape in self._plan:
            nbytes = math.prod(shape) * itemsize(dtype)
            header[name] = {"dtype": dtype_name(dtype), "shape": list(shape), "data_offsets": [offset, offset + nbytes]}
            offset += nbytes
        self.data_bytes = offset
        if metadata:
            header["__metadata__"] = {str(k): str(v) for k, v in metadata.items()}
        text = json.dumps(header, sort_keys=True, separators=(",", ":")).encode("utf-8")
        text += b" " * ((8 - (8 + len(text)) % 8) % 8)
        self._sha = hashlib.sha256()
        self._file = open(self._partial, "wb")
        self._put(struct.pack("<Q", len(text)))
        self._put(text)
        self._next = 0

    def _put(self, data):
        self._file.write(data)
        self._sha.update(data)

    def write(self, name, tensor):
        if self._next >= len(self._plan):
            raise ExportError(f"{self.path}: tensor '{name}' was not planned for this file")
        want_name, want_dtype, want_shape = self._plan[self._next]
        if name != want_name or tensor.dtype != want_dtype or tuple(tensor.shape) != tuple(want_shape):
            raise ExportError(f"{self.path}: expected tensor '{want_name}' {want_dtype} {list(want_shape)}, got "
                              f"'{name}' {tensor.dtype} {list(tensor.shape)}")
        self._put(tensor_bytes(tensor))
        self._next += 1

    def close(self):
        """Finishes the file; returns its sha256 (hex)."""
        if self._next != len(self._plan):
            missing = self._plan[self._next][0]
            self.abort()
            raise ExportError(f"{self.path}: tensor '{missing}' was never written")
        self._file.close()
        os.replace(self._partial, self.path)
        return self._sha.hexdigest()

    def abort(self):
        if not self._file.closed:
            self._file.close()
        if os.path.exists(self._partial):
            os.remove(self._partial)
