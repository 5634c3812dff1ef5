"""Exporter input checks: unknown layouts, corrupt or unsafe files are refused with a clear message, and
nothing is written."""
import os
import pickle
import zipfile

import torch

from test_export_support import (GOLDEN_MODEL, GOLDEN_TOKENIZER, golden_state_dict, run_export, save_bin,
                                 write_hparams, export_tiny)


def refused(tmp_path, checkpoint, *extra):
    out = tmp_path / "out"
    run = run_export("--checkpoint", str(checkpoint), "--tokenizer", GOLDEN_TOKENIZER, "--out", str(out),
                     "--hparams", write_hparams(tmp_path), *extra, check=False)
    assert run.returncode == 1, run.stderr
    assert run.stderr.startswith("xsam-export: error: ")
    assert "Traceback" not in run.stderr
    assert not os.path.exists(out / "config.json")
    return run.stderr


def test_extra_tensor_is_refused(tmp_path):
    state = golden_state_dict()
    state["vgd_embeds.weight"] = torch.zeros(1, 32, dtype=torch.bfloat16)
    err = refused(tmp_path, save_bin(tmp_path, state))
    assert "Unknown tensors (1)" in err and "vgd_embeds.weight" in err


def test_extra_tensor_can_be_dropped_deliberately(tmp_path):
    state = golden_state_dict()
    state["vgd_embeds.weight"] = torch.zeros(1, 32, dtype=torch.bfloat16)
    out = export_tiny(tmp_path, save_bin(tmp_path, state), "out", "--drop", r"^vgd_embeds\.")
    assert os.path.exists(os.path.join(out, "config.json"))


def test_extra_layer_tensor_is_refused(tmp_path):
    state = golden_state_dict()
    state["llm.model.layers.1.self_attn.rotary_emb.inv_freq"] = torch.zeros(8, dtype=torch.bfloat16)
    err = refused(tmp_path, save_bin(tmp_path, state))
    assert "llm.model.layers.1.self_attn.rotary_emb.inv_freq" in err


def test_missing_group_is_refused(tmp_path):
    state = golden_state_dict()
    del state["bg_embeds.weight"]
    err = refused(tmp_path, save_bin(tmp_path, state))
    assert "Missing tensor groups (1)" in err and "bg_embeds.weight" in err


def test_missing_part_is_refused(tmp_path):
    state = {n: t for n, t in golden_state_dict().items() if not n.startswith("llm_projector.")}
    err = refused(tmp_path, save_bin(tmp_path, state))
    assert "llm_projector.model.N.weight" in err


def test_missing_layer_tensor_is_refused(tmp_path):
    state = golden_state_dict()
    del state["llm.model.layers.1.mlp.down_proj.weight"]
    err = refused(tmp_path, save_bin(tmp_path, state))
    assert "Missing tensors (1)" in err and "llm.model.layers.1.mlp.down_proj.weight" in err


def test_part_of_an_unused_group_is_refused(tmp_path):
    state = golden_state_dict()
    del state["visual_encoder.vision_model.head.probe"]
    err = refused(tmp_path, save_bin(tmp_path, state))
    assert "visual_encoder.vision_model.head.probe" in err


def test_unused_groups_may_be_absent_as_a_whole(tmp_path):
    state = {n: t for n, t in golden_state_dict().items()
             if ".head." not in n and ".neck." not in n and "shared_image_embedding" not in n
             and "post_layernorm" not in n}
    out = export_tiny(tmp_path, save_bin(tmp_path, state))
    assert os.path.exists(os.path.join(out, "config.json"))


def test_wrong_shape_is_refused(tmp_path):
    state = golden_state_dict()
    state["bg_embeds.weight"] = torch.zeros(1, 31, dtype=torch.bfloat16)
    state["llm.lm_head.weight"] = state["llm.lm_head.weight"][:-1]
    err = refused(tmp_path, save_bin(tmp_path, state))
    assert "Wrong shapes (2)" in err
    assert "bg_embeds.weight: [1, 31], expected [1, 32]" in err
    assert "llm.lm_head.weight: [32013, 64], expected [32014, 64]" in err


def test_wrong_shape_inside_a_layer_is_refused(tmp_path):
    state = golden_state_dict()
    state["segmentor.encoder.layers.2.attn.rel_pos_w"] = torch.zeros(13, 16, dtype=torch.bfloat16)
    err = refused(tmp_path, save_bin(tmp_path, state))
    assert "segmentor.encoder.layers.2.attn.rel_pos_w: [13, 16], expected [11, 16]" in err


def test_vocabulary_not_matching_the_tokenizer_is_refused(tmp_path):
    state = golden_state_dict()
    for name in ("llm.model.embed_tokens.weight", "llm.lm_head.weight"):
        state[name] = torch.cat([state[name], state[name][:2]])
    err = refused(tmp_path, save_bin(tmp_path, state))
    assert "32014 ids" in err and "32016 rows" in err


class _Evil:
    def __reduce__(self):
        return (os.system, ("touch /tmp/xsam-export-evil",))


def test_code_in_the_pickle_is_refused(tmp_path):
    path = tmp_path / "evil.bin"
    torch.save({"bg_embeds.weight": torch.zeros(1), "x": _Evil()}, path)
    err = refused(tmp_path, path)
    assert "weights-only unpickler" in err
    assert not os.path.exists("/tmp/xsam-export-evil")


def test_legacy_torch_format_is_refused(tmp_path):
    path = tmp_path / "legacy.bin"
    torch.save(golden_state_dict(), path, _use_new_zipfile_serialization=False)
    assert "legacy" in refused(tmp_path, path)


def test_plain_pickle_and_garbage_are_refused(tmp_path):
    path = tmp_path / "plain.pkl"
    with open(path, "wb") as f:
        pickle.dump({"a": 1}, f)
    refused(tmp_path, path)
    path = tmp_path / "garbage.bin"
    path.write_bytes(b"\x00" * 100)
    assert "neither a torch.save zip archive nor a safetensors file" in refused(tmp_path, path)


def test_truncated_archive_is_refused(tmp_path):
    path = save_bin(tmp_path, golden_state_dict())
    with open(path, "r+b") as f:
        f.truncate(os.path.getsize(path) // 2)
    refused(tmp_path, path)


def test_storage_record_shorter_than_its_tensors_is_refused(tmp_path):
    good = save_bin(tmp_path, golden_state_dict(), "good.bin")
    bad = tmp_path / "bad.bin"
    with zipfile.ZipFile(good) as zin, zipfile.ZipFile(bad, "w", zipfile.ZIP_STORED) as zout:
        for info in zin.infolist():
            data = zin.read(info)
            if info.filename.endswith("/data/0"):
                data = data[: len(data) // 2]
            zout.writestr(info, data)
    assert "record" in refused(tmp_path, bad)


def test_truncated_safetensors_is_refused(tmp_path):
    path = tmp_path / "cut.safetensors"
    data = open(GOLDEN_MODEL, "rb").read()
    path.write_bytes(data[: len(data) - 1000])
    assert "outside the" in refused(tmp_path, path)


def test_upstream_config_without_the_cli_is_refused(tmp_path):
    err = refused(tmp_path, GOLDEN_MODEL, "--upstream-config", str(tmp_path / "nope.json"),
                  "--xsam-bin", str(tmp_path / "no-such-xsam"))
    assert "--xsam-bin" in err


def test_non_empty_output_directory_needs_force(tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    (out / "model.safetensors").write_bytes(b"old")
    (out / "notes.txt").write_text("mine")
    run = run_export("--checkpoint", GOLDEN_MODEL, "--tokenizer", GOLDEN_TOKENIZER, "--out", str(out),
                     "--hparams", write_hparams(tmp_path), check=False)
    assert run.returncode == 1 and "--force" in run.stderr
    run_export("--checkpoint", GOLDEN_MODEL, "--tokenizer", GOLDEN_TOKENIZER, "--out", str(out),
               "--hparams", write_hparams(tmp_path), "--force")
    assert (out / "notes.txt").read_text() == "mine"  # only the model's own files are replaced
    assert os.path.getsize(out / "model.safetensors") > 1000
