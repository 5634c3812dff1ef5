"""Exporter weights: every input kind converts bit-exactly, --dtype is honoured, sharding, checksums."""
import hashlib
import json
import os

import pytest
import torch

from test_export_support import (GOLDEN_MODEL, bits_equal, export_tiny, golden_state_dict, read_model_dir,
                                 read_safetensors_header, save_bin, run_export, GOLDEN_TOKENIZER, write_hparams)


def assert_same_as_golden(out_dir, dtype):
    """Every golden tensor is in the output, in `dtype`, and equal to the golden bf16 value bit for bit."""
    golden = golden_state_dict(torch.bfloat16)
    got = read_model_dir(out_dir)
    assert sorted(got) == sorted(golden)
    for name, ref in golden.items():
        assert got[name].dtype == dtype, name
        # Golden weights are bf16-exact, so bf16 -> fp32 -> bf16 and bf16 -> fp32 are lossless.
        assert bits_equal(got[name].float(), ref.float()), name


@pytest.mark.parametrize("source_dtype,export_dtype,expected_dtype", [
    (torch.float32, "fp32", torch.float32),
    (torch.float32, "bf16", torch.bfloat16),
    (torch.bfloat16, "bf16", torch.bfloat16),
    (torch.bfloat16, "keep", torch.bfloat16),
    (torch.bfloat16, "fp32", torch.float32),
])
def test_bin_checkpoint_converts_bit_exactly(tmp_path, source_dtype, export_dtype, expected_dtype):
    ckpt = save_bin(tmp_path, golden_state_dict(source_dtype))
    out = export_tiny(tmp_path, ckpt, "out", "--dtype", export_dtype)
    assert_same_as_golden(out, expected_dtype)
    header, _ = read_safetensors_header(os.path.join(out, "model.safetensors"))
    assert {v["dtype"] for k, v in header.items() if k != "__metadata__"} == \
        {{torch.float32: "F32", torch.bfloat16: "BF16"}[expected_dtype]}


def test_default_dtype_is_bf16(tmp_path):
    out = export_tiny(tmp_path, save_bin(tmp_path, golden_state_dict(torch.float32)))
    assert_same_as_golden(out, torch.bfloat16)


def test_fp16_checkpoint(tmp_path):
    source = golden_state_dict(torch.float16)
    ckpt = save_bin(tmp_path, source)
    keep = read_model_dir(export_tiny(tmp_path, ckpt, "keep", "--dtype", "keep"))
    as_fp32 = read_model_dir(export_tiny(tmp_path, ckpt, "fp32", "--dtype", "fp32"))
    as_bf16 = read_model_dir(export_tiny(tmp_path, ckpt, "bf16"))
    for name, t in source.items():
        assert bits_equal(keep[name], t), name
        assert bits_equal(as_fp32[name], t.float()), name
        assert bits_equal(as_bf16[name], t.to(torch.bfloat16)), name


def test_state_dict_nested_under_state_dict(tmp_path):
    ckpt = save_bin(tmp_path, {"state_dict": golden_state_dict(torch.float32), "meta": {"step": 1, "note": "x"}})
    assert_same_as_golden(export_tiny(tmp_path, ckpt, "out", "--dtype", "fp32"), torch.float32)


def test_tensors_sharing_one_flat_storage(tmp_path):
    """DeepSpeed ZeRO keeps parameters as views into one flat buffer; torch.save then writes that buffer
    once. Each tensor must still come out with exactly its own elements."""
    golden = golden_state_dict(torch.float32)
    flat = torch.cat([t.reshape(-1) for t in golden.values()])
    views, offset = {}, 0
    for name, t in golden.items():
        views[name] = flat[offset:offset + t.numel()].view(t.shape)
        offset += t.numel()
    # and one transposed (non-contiguous) view, re-transposed by its name's owner below
    name = "llm.model.layers.0.mlp.down_proj.weight"
    views[name] = golden[name].t().contiguous().t()
    assert not views[name].is_contiguous()
    ckpt = save_bin(tmp_path, views)
    assert_same_as_golden(export_tiny(tmp_path, ckpt, "out", "--dtype", "fp32"), torch.float32)


def test_safetensors_checkpoint(tmp_path):
    assert_same_as_golden(export_tiny(tmp_path, GOLDEN_MODEL, "out", "--dtype", "keep"), torch.bfloat16)


def test_checksums_cover_every_weight_file(tmp_path):
    out = export_tiny(tmp_path, GOLDEN_MODEL)
    sums = json.load(open(os.path.join(out, "checksums.json")))
    assert [n for n in sums if n.endswith(".safetensors")] == ["model.safetensors"]  # + the tokenizer files
    with open(os.path.join(out, "model.safetensors"), "rb") as f:
        assert sums["model.safetensors"] == hashlib.sha256(f.read()).hexdigest()


def test_sharding_with_index(tmp_path):
    limit = 2_000_000
    out = export_tiny(tmp_path, GOLDEN_MODEL, "out", "--shard-size", "2MB", "--dtype", "fp32")
    index = json.load(open(os.path.join(out, "model.safetensors.index.json")))
    shards = sorted(set(index["weight_map"].values()))
    assert len(shards) > 2
    assert shards == [f"model-{i:05d}-of-{len(shards):05d}.safetensors" for i in range(1, len(shards) + 1)]
    assert not os.path.exists(os.path.join(out, "model.safetensors"))
    sums = json.load(open(os.path.join(out, "checksums.json")))
    assert sorted(n for n in sums if n.endswith(".safetensors")) == shards
    total = 0
    for shard in shards:
        path = os.path.join(out, shard)
        with open(path, "rb") as f:
            assert sums[shard] == hashlib.sha256(f.read()).hexdigest(), shard
        header, _ = read_safetensors_header(path)
        header.pop("__metadata__")
        assert {n for n, s in index["weight_map"].items() if s == shard} == set(header), shard
        data = sum(e - b for b, e in (v["data_offsets"] for v in header.values()))
        assert data <= limit or len(header) == 1, shard
        total += data
    assert index["metadata"]["total_size"] == total
    assert_same_as_golden(out, torch.float32)


def test_fp16_overflow_is_refused(tmp_path):
    state = golden_state_dict(torch.float32)
    state["bg_embeds.weight"][0, 3] = 1e6
    run = run_export("--checkpoint", save_bin(tmp_path, state), "--tokenizer", GOLDEN_TOKENIZER,
                     "--out", str(tmp_path / "out"), "--hparams", write_hparams(tmp_path), "--dtype", "fp16",
                     check=False)
    assert run.returncode == 1
    assert "bg_embeds.weight" in run.stderr and "overflow" in run.stderr
    assert not os.path.exists(tmp_path / "out" / "config.json")


def test_non_finite_weights_are_refused(tmp_path):
    state = golden_state_dict(torch.float32)
    state["segmentor.logit_scale"][0] = float("nan")
    run = run_export("--checkpoint", save_bin(tmp_path, state), "--tokenizer", GOLDEN_TOKENIZER,
                     "--out", str(tmp_path / "out"), "--hparams", write_hparams(tmp_path), check=False)
    assert run.returncode == 1
    assert "segmentor.logit_scale" in run.stderr and "non-finite" in run.stderr
