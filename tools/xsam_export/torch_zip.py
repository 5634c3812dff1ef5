"""Lazy, restricted reading of a torch.save zip archive (docs/design/decisions.md#exporter-input).

torch 1.13 has no `torch.load(mmap=True)`, and `torch.load(weights_only=True)` reads every storage into
memory: 18.5 GB for the released checkpoint in fp32. Instead we drive torch's own restricted unpickler
(`torch._weights_only_unpickler`, which refuses arbitrary classes and code) over `data.pkl` ourselves,
with a `persistent_load` that hands out *meta* storages: the unpickled state dict then holds meta
tensors that know their dtype, shape, stride, storage offset and storage, but own no memory. Each
tensor's bytes are read from its `data/<key>` record only when asked for, and only the bytes that the
tensor covers (a storage shared by many tensors, as in a flattened DeepSpeed buffer, is never loaded
whole).

Archive layout (written by torch.save since 1.6): `<archive>/data.pkl` (the pickle),
`<archive>/data/<key>` (one record per storage, raw little-endian bytes, stored uncompressed),
`<archive>/version`, and optionally `<archive>/byteorder`.

Accepted (tests/python/test_export_torch_files.py): the zip format of torch 1.6 to 2.x — any archive name,
the records torch 2.x adds (`.data/version`, `.data/serialization_id`, `.format_version`,
`.storage_alignment`, all ignored), storage records aligned by zip extra-field padding (torch >= 2.1), a
little-endian `byteorder`; pickle protocols 2 (torch.save's default in every version) and 3; state dicts
with `_metadata`, tensors that are views into shared flat storages. Refused by name: pickle protocol >= 4,
the legacy pre-1.6 format, a big-endian byteorder, anything but tensors and plain containers.
"""
import io
import math
import struct
import zipfile

import torch
from torch import _weights_only_unpickler

from .errors import ExportError

_LOCAL_HEADER = struct.Struct("<4sHHHHHIIIHH")  # zip local file header, 30 bytes


def _text(value):
    return value.decode("ascii") if isinstance(value, bytes) else str(value)


def _storage_identity(obj):
    """The address of the underlying c10::StorageImpl: equal for a storage and every tensor built on it."""
    if isinstance(obj, torch.Tensor):
        if hasattr(obj, "untyped_storage"):  # torch >= 2.0
            return obj.untyped_storage()._cdata
        return obj.storage()._storage._cdata
    return obj._storage._cdata  # TypedStorage


class _Records:
    """Random access to the records of the zip archive, without loading them."""

    def __init__(self, path):
        self.path = path
        self._file = open(path, "rb")
        try:
            self._zip = zipfile.ZipFile(self._file)
        except zipfile.BadZipFile as e:
            raise ExportError(f"{path}: not a readable torch zip archive ({e})") from None
        pickles = [n for n in self._zip.namelist() if n.endswith("/data.pkl") and n.count("/") == 1]
        if len(pickles) != 1:
            raise ExportError(f"{path}: expected exactly one '<archive>/data.pkl' record, found {len(pickles)} "
                              f"(is this a TorchScript archive or not a torch.save file?)")
        self.prefix = pickles[0][: -len("data.pkl")]
        self._data_offsets = {}

    def has(self, name):
        try:
            self._zip.getinfo(self.prefix + name)
            return True
        except KeyError:
            return False

    def read_small(self, name):
        return self._zip.read(self.prefix + name)

    def size(self, name):
        return self._info(name).file_size

    def _info(self, name):
        try:
            return self._zip.getinfo(self.prefix + name)
        except KeyError:
            raise ExportError(f"{self.path}: record '{self.prefix + name}' is missing from the archive") from None

    def _data_offset(self, info):
        """Where a stored (uncompressed) record's bytes begin in the file: after its local header."""
        if info.filename not in self._data_offsets:
            self._file.seek(info.header_offset)
            raw = self._file.read(_LOCAL_HEADER.size)
            if len(raw) != _LOCAL_HEADER.size or raw[:4] != b"PK\x03\x04":
                raise ExportError(f"{self.path}: corrupt zip local header for '{info.filename}'")
            fields = _LOCAL_HEADER.unpack(raw)
            name_len, extra_len = fields[9], fields[10]
            self._data_offsets[info.filename] = info.header_offset + _LOCAL_HEADER.size + name_len + extra_len
        return self._data_offsets[info.filename]

    def read_range(self, name, start, length):
        """`length` bytes of record `name` from byte `start`, into a fresh bytearray."""
        info = self._info(name)
        if start < 0 or start + length > info.file_size:
            raise ExportError(f"{self.path}: record '{info.filename}' has {info.file_size} bytes, but bytes "
                              f"[{start}, {start + length}) are needed")
        buf = bytearray(length)
        if info.compress_type == zipfile.ZIP_STORED:
            self._file.seek(self._data_offset(info) + start)
            view = memoryview(buf)
            done = 0
            while done < length:
                n = self._file.readinto(view[done:])
                if not n:
                    raise ExportError(f"{self.path}: file ends inside record '{info.filename}'")
                done += n
        else:  # not written by torch.save, but a re-zipped archive still works, by streaming
            with self._zip.open(info) as f:
                skip = start
                while skip:
                    skip -= len(f.read(min(skip, 1 << 24)))
                view = memoryview(buf)
                done = 0
                while done < length:
                    n = f.readinto(view[done:])
                    if not n:
                        raise ExportError(f"{self.path}: record '{info.filename}' ends early")
                    done += n
        return buf

    def close(self):
        self._zip.close()
        self._file.close()


class TorchZipCheckpoint:
    """The unpickled object of a torch.save archive, with meta tensors that can load their data."""

    def __init__(self, path):
        self.path = path
        self._records = _Records(path)
        if self._records.has("byteorder"):
            order = self._records.read_small("byteorder").decode("ascii", "replace").strip()
            if order != "little":
                raise ExportError(f"{path}: byte order '{order}' is not supported (little-endian only)")
        self._storages = {}   # key -> (meta TypedStorage, dtype, numel)
        self._key_by_id = {}  # storage identity -> key
        pickle_bytes = self._records.read_small("data.pkl")
        # torch.save writes pickle protocol 2 (its default in every version, 1.6 to 2.x) unless asked for
        # another; torch 1.13's restricted unpickler knows the opcodes of protocols 2 and 3 only.
        if pickle_bytes[:1] == b"\x80" and len(pickle_bytes) > 1 and pickle_bytes[1] > 3:
            raise ExportError(f"{path}: data.pkl uses pickle protocol {pickle_bytes[1]} (torch.save(..., "
                              f"pickle_protocol={pickle_bytes[1]})); the reader accepts protocols 2 and 3 (torch.save's "
                              f"default is 2): re-save it with torch.save(torch.load(f), g)")
        unpickler = _weights_only_unpickler.Unpickler(io.BytesIO(pickle_bytes), encoding="utf-8")
        unpickler.persistent_load = self._persistent_load
        try:
            self.root = unpickler.load()
        except ExportError:
            raise
        except Exception as e:  # the restricted unpickler refuses anything but tensors and plain containers
            raise ExportError(f"{path}: refused by torch's weights-only unpickler: {e} (it accepts tensors, "
                              f"dicts, lists, strings and integers only; torch.save the state dict alone, e.g. "
                              f"torch.save(ckpt['state_dict'], f))") from None

    def _persistent_load(self, pid):
        if not isinstance(pid, tuple) or len(pid) != 5 or _text(pid[0]) != "storage":
            raise ExportError(f"{self.path}: unsupported persistent id {pid!r} in data.pkl")
        _, storage_type, key, _location, numel = pid
        key = _text(key)
        if key not in self._storages:
            dtype = torch.uint8 if storage_type is torch.UntypedStorage else storage_type.dtype
            nbytes = int(numel) * torch.empty((), dtype=dtype).element_size()
            meta = torch.storage.TypedStorage(wrap_storage=torch.UntypedStorage(nbytes, device="meta"), dtype=dtype)
            self._storages[key] = (meta, dtype, int(numel))
            self._key_by_id[_storage_identity(meta)] = key
        return self._storages[key][0]

    def tensor_ref(self, name, tensor):
        """A reference to `tensor` (a meta tensor from `root`) that reads its data on demand."""
        if tensor.layout != torch.strided:
            raise ExportError(f"{self.path}: tensor '{name}' has layout {tensor.layout}; only dense tensors are supported")
        key = self._key_by_id.get(_storage_identity(tensor))
        if key is None:
            raise ExportError(f"{self.path}: tensor '{name}' has no storage record")
        _, storage_dtype, storage_numel = self._storages[key]
        if tensor.dtype != storage_dtype:
            raise ExportError(f"{self.path}: tensor '{name}' is {tensor.dtype} on a {storage_dtype} storage")
        return _ZipTensorRef(self, name, key, tensor.dtype, tuple(tensor.shape), tuple(tensor.stride()),
                             tensor.storage_offset(), storage_numel)

    def read_tensor(self, ref):
        es = torch.empty((), dtype=ref.dtype).element_size()
        if math.prod(ref.shape) == 0:
            return torch.empty(ref.shape, dtype=ref.dtype)
        span = 1 + sum((n - 1) * s for n, s in zip(ref.shape, ref.stride))  # elements the view touches
        if ref.offset + span > ref.storage_numel:
            raise ExportError(f"{self.path}: tensor '{ref.name}' reaches element {ref.offset + span} of a "
                              f"{ref.storage_numel}-element storage")
        if self._records.size("data/" + ref.key) < ref.storage_numel * es:
            raise ExportError(f"{self.path}: record data/{ref.key} is shorter than its {ref.storage_numel}-element storage")
        buf = self._records.read_range("data/" + ref.key, ref.offset * es, span * es)
        flat = torch.frombuffer(buf, dtype=ref.dtype)
        return flat.as_strided(ref.shape, ref.stride).contiguous()

    def close(self):
        self._records.close()


class _ZipTensorRef:
    def __init__(self, owner, name, key, dtype, shape, stride, offset, storage_numel):
        self._owner = owner
        self.name = name
        self.key = key
        self.dtype = dtype
        self.shape = shape
        self.stride = stride
        self.offset = offset
        self.storage_numel = storage_numel

    def load(self):
        return self._owner.read_tensor(self)
