"""Writes the weight files: dtype conversion, optional sharding, sha256 per file
(docs/design/decisions.md#corrupt-weights).

Streaming: every file's header is written from the planned names, dtypes and shapes before any data,
then tensors are loaded, converted and appended one at a time, so memory holds about one tensor (in its
source and target dtypes) whatever the checkpoint size.

Order inside a file: by element size (largest first), then name. Mixed dtypes (`--dtype keep` or integer
tensors) thus keep every tensor aligned to its element size, with no padding (safetensors allows none).
"""
import json
import math
import os
import time

import torch

from . import safetensors_io
from .errors import ExportError

DTYPE_OPTIONS = {"bf16": torch.bfloat16, "fp16": torch.float16, "fp32": torch.float32, "keep": None}
SINGLE_FILE = "model.safetensors"
INDEX_FILE = "model.safetensors.index.json"
_METADATA = {"format": "pt", "producer": "xsam-export"}


def target_dtype(source, option):
    """Floating tensors go to the chosen dtype; integer/bool tensors are never converted."""
    if not source.is_floating_point:
        return source
    if option == "keep":
        return torch.float32 if source == torch.float64 else source  # xsam reads no F64
    return DTYPE_OPTIONS[option]


def parse_size(text):
    """'2GB', '500MB', '1.5GiB', '123456' -> bytes."""
    units = {"": 1, "B": 1, "KB": 10**3, "MB": 10**6, "GB": 10**9, "KIB": 2**10, "MIB": 2**20, "GIB": 2**30}
    t = text.strip().upper()
    number = t.rstrip("KMGIB")
    unit = t[len(number):]
    try:
        value = int(float(number) * units[unit])
    except (ValueError, KeyError):
        raise ExportError(f"--shard-size {text!r}: expected a size such as 2GB, 500MB or 4GiB") from None
    if value <= 0:
        raise ExportError(f"--shard-size {text!r}: must be positive")
    return value


def plan_files(refs, option, shard_size):
    """[(file name, [(name, dtype, shape), ...])]: one file, or shards of at most shard_size bytes of data
    (a tensor larger than the limit gets a shard of its own)."""
    entries = [(n, target_dtype(r.dtype, option), tuple(r.shape)) for n, r in sorted(refs.items())]
    groups, current, current_bytes = [], [], 0
    for e in entries:
        nbytes = math.prod(e[2]) * safetensors_io.itemsize(e[1])
        if shard_size and current and current_bytes + nbytes > shard_size:
            groups.append(current)
            current, current_bytes = [], 0
        current.append(e)
        current_bytes += nbytes
    groups.append(current)
    if len(groups) == 1:
        names = [SINGLE_FILE]
    else:
        names = [f"model-{i + 1:05d}-of-{len(groups):05d}.safetensors" for i in range(len(groups))]
    ordered = [sorted(g, key=lambda e: (-safetensors_io.itemsize(e[1]), e[0])) for g in groups]
    return list(zip(names, ordered))


def _count_non_finite(t, chunk=1 << 22):
    """Non-finite values of a floating tensor. Checked in chunks (temporaries stay small next to the
    largest tensors) and by abs().max() first, which propagates NaN and is several times faster than
    isfinite on torch 1.13's CPU kernels; isfinite counts only where something is wrong."""
    flat = t.reshape(-1)
    bad = 0
    for i in range(0, flat.numel(), chunk):
        part = flat[i:i + chunk]
        if not bool(torch.isfinite(part.abs().max())):
            bad += int((~torch.isfinite(part)).sum())
    return bad


def convert(name, tensor, dtype):
    """The tensor in `dtype`; refuses non-finite values and fp16 overflow (both would be silent garbage)."""
    if tensor.is_floating_point():
        bad = _count_non_finite(tensor)
        if bad:
            raise ExportError(f"tensor '{name}': {bad} non-finite values in the checkpoint")
    out = tensor.to(dtype)
    if out.is_floating_point() and out.dtype != tensor.dtype:
        bad = _count_non_finite(out)
        if bad:
            raise ExportError(f"tensor '{name}': {bad} values overflow {dtype}; choose --dtype bf16 or fp32")
    return out


def write_weights(refs, out_dir, option, shard_size, log):
    """Writes the weight files into out_dir; returns {file name: sha256 hex}."""
    plan = plan_files(refs, option, shard_size)
    total = sum(math.prod(s) * safetensors_io.itemsize(d) for _, entries in plan for _, d, s in entries)
    checksums, done, start = {}, 0, time.time()
    for file_name, entries in plan:
        writer = safetensors_io.StreamingWriter(os.path.join(out_dir, file_name), entries, _METADATA)
        try:
            for name, dtype, _ in entries:
                out = convert(name, refs[name].load(), dtype)
                writer.write(name, out)
                done += out.numel() * out.element_size()
                del out
            checksums[file_name] = writer.close()
        except BaseException:
            writer.abort()
            raise
        log(f"  wrote {file_name} ({writer.data_bytes / 1e9:.2f} GB; {done / 1e9:.2f} of {total / 1e9:.2f} GB "
            f"in {time.time() - start:.0f} s)")
    if len(plan) > 1:
        weight_map = {name: file_name for file_name, entries in plan for name, _, _ in entries}
        index = {"metadata": {"total_size": total}, "weight_map": dict(sorted(weight_map.items()))}
        with open(os.path.join(out_dir, INDEX_FILE), "w", encoding="utf-8") as f:
            json.dump(index, f, indent=2)
            f.write("\n")
    return checksums
