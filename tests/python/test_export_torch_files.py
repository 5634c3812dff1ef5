"""Checkpoints written by torch's own writer, as upstream's PTCheckpointHook writes them.

The fixture is made at test time (a few hundred KB): `torch.save` of a state dict whose bf16 tensors are
views into flat buffers (as a model flattened by DeepSpeed/FSDP hands them out), with the `_metadata`
attribute that `nn.Module.state_dict()` sets. It must export bit-exactly. Then the protocol features the
reader claims (tools/xsam_export/torch_zip.py docstring): pickle protocols 2 and 3 read, 4 and 5 refused
by name; an archive laid out as torch 2.x writes it (another archive name, `.data/version`,
`.data/serialization_id`, `.format_version`, `.storage_alignment`, 64-byte aligned storage records) read;
the legacy format and a big-endian archive refused by name.
"""
import collections
import os
import zipfile

import pytest
import torch

from test_export_support import bits_equal, export_tiny, golden_state_dict, read_model_dir, run_export, write_hparams
from test_export_support import GOLDEN_TOKENIZER


def flat_view_state_dict():
    """The golden weights as bf16 views into one flat buffer, with _metadata."""
    golden = golden_state_dict(torch.bfloat16)
    total = sum(t.numel() for t in golden.values())
    flat = torch.empty(total, dtype=torch.bfloat16)
    state = collections.OrderedDict()
    offset = 0
    for name, t in golden.items():
        view = flat[offset: offset + t.numel()].view(t.shape)
        view.copy_(t)
        state[name] = view
        offset += t.numel()
    state._metadata = collections.OrderedDict(
        [("", {"version": 1})] + [(n.rsplit(".", 1)[0], {"version": 1}) for n in list(golden)[:20]])
    return state, golden


def assert_exported(out, golden):
    got = read_model_dir(out)
    assert set(got) == set(golden)
    for name, t in golden.items():
        assert bits_equal(got[name], t), name


@pytest.fixture(scope="module")
def flat(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("flat")
    state, golden = flat_view_state_dict()
    path = str(tmp / "pytorch_model.bin")
    torch.save(state, path)
    return path, golden


def test_views_into_flat_buffers_with_metadata_export_bit_exactly(tmp_path, flat):
    path, golden = flat
    with zipfile.ZipFile(path) as z:  # really the structure claimed: one storage for all tensors
        assert len([n for n in z.namelist() if "/data/" in n]) == 1
    assert_exported(export_tiny(tmp_path, path, "out", "--dtype", "keep"), golden)


@pytest.mark.parametrize("protocol", [2, 3])
def test_pickle_protocols_2_and_3_are_read(tmp_path, protocol):
    state, golden = flat_view_state_dict()
    path = str(tmp_path / "p.bin")
    torch.save(state, path, pickle_protocol=protocol)
    assert_exported(export_tiny(tmp_path, path, "out", "--dtype", "keep"), golden)


@pytest.mark.parametrize("protocol", [4, 5])
def test_newer_pickle_protocols_are_refused_by_name(tmp_path, protocol):
    state, _ = flat_view_state_dict()
    path = str(tmp_path / "p.bin")
    torch.save(state, path, pickle_protocol=protocol)
    run = run_export("--checkpoint", path, "--tokenizer", GOLDEN_TOKENIZER, "--out", str(tmp_path / "out"),
                     "--hparams", write_hparams(tmp_path), check=False)
    assert run.returncode == 1 and f"pickle protocol {protocol}" in run.stderr, run.stderr


def rewrite_archive(src, dst, prefix="pytorch_model/", extra_records=None, align=64, byteorder="little"):
    """Re-lays a torch 1.13 archive out as torch 2.x writes it: archive name, extra records, data records
    aligned to `align` bytes by padding the local header's extra field (zip extra id 0x4246 'FB', as torch)."""
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(dst, "w", zipfile.ZIP_STORED) as zout:
        old_prefix = zin.namelist()[0].split("/")[0] + "/"
        records = [(prefix + n[len(old_prefix):], zin.read(n)) for n in zin.namelist()
                   if not n.endswith("/byteorder")]
        records.append((prefix + "byteorder", byteorder.encode()))
        for name, data in (extra_records or {}).items():
            records.append((prefix + name, data))
        for name, data in records:
            info = zipfile.ZipInfo(name, date_time=(1980, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_STORED
            if "/data/" in name:
                start = zout.fp.tell() + 30 + len(name.encode()) + 4
                pad = (-start) % align
                info.extra = b"FB" + pad.to_bytes(2, "little") + b"Z" * pad
            zout.writestr(info, data)
    with zipfile.ZipFile(dst) as z:  # the alignment really holds
        for info in z.infolist():
            if "/data/" in info.filename:
                offset = info.header_offset + 30 + len(info.filename.encode()) + len(info.extra)
                assert offset % align == 0, info.filename


TORCH2_RECORDS = {".data/version": b"3\n", ".data/serialization_id": b"1234567890123456789012345678901234567890",
                  ".format_version": b"1", ".storage_alignment": b"64"}


def test_an_archive_laid_out_as_torch_2_writes_it_is_read(tmp_path, flat):
    path, golden = flat
    dst = str(tmp_path / "torch2.bin")
    rewrite_archive(path, dst, extra_records=TORCH2_RECORDS)
    assert_exported(export_tiny(tmp_path, dst, "out", "--dtype", "keep"), golden)


def test_a_big_endian_archive_is_refused_by_name(tmp_path, flat):
    path, _ = flat
    dst = str(tmp_path / "big.bin")
    rewrite_archive(path, dst, byteorder="big")
    run = run_export("--checkpoint", dst, "--tokenizer", GOLDEN_TOKENIZER, "--out", str(tmp_path / "out"),
                     "--hparams", write_hparams(tmp_path), check=False)
    assert run.returncode == 1 and "byte order 'big'" in run.stderr, run.stderr


def test_the_legacy_format_is_refused_by_name(tmp_path):
    path = str(tmp_path / "legacy.bin")
    torch.save({"w": torch.zeros(2, dtype=torch.bfloat16)}, path, _use_new_zipfile_serialization=False)
    run = run_export("--checkpoint", path, "--tokenizer", GOLDEN_TOKENIZER, "--out", str(tmp_path / "out"),
                     check=False)
    assert run.returncode == 1 and "legacy (pre-zip) torch.save format" in run.stderr, run.stderr
