"""Failures come out as the xsam.Error subclass of their status, carrying the library's own message (which
names the file, field or argument at fault); the binding's own checks say which argument is wrong."""
import ctypes

import numpy as np
import pytest

import xsam
from xsam import _lib
from xsam_testing import IMAGE_H, IMAGE_W


def test_error_classes():
    assert issubclass(xsam.InvalidArgumentError, ValueError)
    assert issubclass(xsam.InputOutputError, OSError)
    assert issubclass(xsam.OutOfMemoryError, MemoryError)
    statuses = {}
    for cls in (xsam.InvalidArgumentError, xsam.InputOutputError, xsam.FormatError, xsam.ModelError,
                xsam.UnsupportedError, xsam.LimitError, xsam.CancelledError, xsam.OutOfMemoryError,
                xsam.InternalError):
        assert issubclass(cls, xsam.Error)
        statuses[cls.status] = cls.status_name
    # The names are the library's own (xsam_status_name).
    L = _lib.lib()
    assert statuses == {s: L.xsam_status_name(s).decode() for s in range(1, 10)}


def test_missing_model_dir(tmp_path):
    missing = tmp_path / "no-such-model"
    with pytest.raises(xsam.InputOutputError) as e:
        xsam.Model(missing)
    assert str(missing) in e.value.message
    assert e.value.status == 2 and e.value.status_name == "io"
    assert str(e.value) == e.value.message


def test_corrupt_weights(tmp_path, model_dir):
    import shutil
    bad = tmp_path / "bad"
    shutil.copytree(model_dir, bad)
    (bad / "model.safetensors").write_bytes(b"\x08\x00\x00\x00\x00\x00\x00\x00{garbage")
    with pytest.raises(xsam.FormatError, match="safetensors"):
        xsam.Model(bad)


def test_corrupt_image_file(ctx, tmp_path):
    p = tmp_path / "broken.png"
    p.write_bytes(b"\x89PNG\r\n\x1a\n" + b"\x00" * 40)
    with pytest.raises(xsam.FormatError) as e:
        ctx.segment(str(p), "the cat", task="referring")
    assert "broken.png" in e.value.message
    with pytest.raises(xsam.FormatError):
        xsam.decode_image(b"not an image at all")
    with pytest.raises(xsam.InputOutputError, match="nothing-here.png"):
        xsam.load_image(tmp_path / "nothing-here.png")


BAD_REFS = [
    ([xsam.Point(IMAGE_W + 5, 3)], "outside the image"),
    ([xsam.Point(float("nan"), 3)], "finite"),
    ([xsam.Box(10, 10, 10, 20)], "degenerate"),
    ([xsam.Box(-5, 0, 10, 10)], "outside"),
    ([xsam.Scribble([])], r"refs\[0\]\.xy is NULL or empty"),
    ([xsam.MaskRef(np.ones((IMAGE_H, IMAGE_W + 1), bool))], "mask is 65x48 but the image is 64x48"),
    ([xsam.MaskRef(np.zeros((IMAGE_H, IMAGE_W), bool))], "no pixel"),
]


@pytest.mark.parametrize("refs, message", BAD_REFS, ids=[m for _, m in BAD_REFS])
def test_bad_refs(ctx, image, refs, message):
    with pytest.raises(xsam.InvalidArgumentError, match=message) as e:
        ctx.segment(image, refs=refs, task="interactive")
    assert "0" in e.value.message  # the ref's index


def test_bad_ref_type_is_a_type_error(ctx, image):
    with pytest.raises(TypeError, match=r"refs\[1\]"):
        ctx.segment(image, refs=[xsam.Point(1, 1), (3, 4)], task="vgd")


WRONG_COMBOS = [
    (dict(prompt="the cat", task="referring", refs=[xsam.Point(5, 5)]), "takes no visual refs"),
    (dict(task="interactive", refs=[xsam.Point(5, 5), xsam.Point(9, 9)]), "exactly one visual ref, got 2"),
    (dict(task="interactive"), "exactly one visual ref, got 0"),
    (dict(task="vgd"), "needs at least one visual ref"),
    (dict(task="semantic"), "needs classes"),
    (dict(task="chat"), "chat needs a non-empty prompt"),
    (dict(task="chat", prompt="   "), "chat needs a non-empty prompt"),
    (dict(task="referring", prompt=""), "referring needs a non-empty expression"),
    (dict(task="reasoning"), "reasoning needs a non-empty query"),
    (dict(task="gcg", mode="teacher_forced"), "teacher-forced GCG needs an explicit answer"),
    (dict(task="chat", prompt="hi", mode="teacher_forced"), "teacher-forced chat needs an explicit answer"),
    (dict(task="instance", classes=["a", "b"], n_thing_classes=3), "n_thing_classes > n_classes"),
    (dict(task="instance", classes=["a", "  "]), "empty class name"),
    (dict(task="referring", prompt="x", question_template=99), "question_template: index 99 out of range"),
    (dict(task="instance", classes=["a"], score_threshold=1.5), r"params\.score_threshold: must be in \[0, 1\]"),
    (dict(task="chat", prompt="x", top_p=0.0), r"params\.top_p"),
    (dict(task="chat", prompt="x", temperature=-1.0), r"params\.temperature"),
    (dict(task="chat", prompt="x", max_new_tokens=-2), r"params\.max_new_tokens"),
    (dict(task="chat", prompt="\udcff"), None),  # a lone surrogate cannot be UTF-8: refused before the call
]


@pytest.mark.parametrize("kwargs, message", WRONG_COMBOS, ids=[str(m) for _, m in WRONG_COMBOS])
def test_wrong_task_and_input_combinations(ctx, image, kwargs, message):
    if message is None:
        with pytest.raises(UnicodeEncodeError):
            ctx.segment(image, **kwargs)
        return
    with pytest.raises(xsam.InvalidArgumentError, match=message):
        ctx.segment(image, **kwargs)


def test_invalid_utf8_is_the_library_s_message(ctx, image):
    with pytest.raises(xsam.InvalidArgumentError, match="prompt: not valid UTF-8"):
        ctx.segment(image, b"caf\xe9", task="chat")  # bytes pass through untouched
    with pytest.raises(xsam.InvalidArgumentError, match=r"params\.classes\[1\]: not valid UTF-8"):
        ctx.segment(image, task="instance", classes=["ok", b"\xff"])


def test_null_class_name_reaches_the_library(ctx, image):
    with pytest.raises(xsam.InvalidArgumentError, match=r"params\.classes\[1\] is NULL"):
        ctx.segment(image, task="instance", classes=["cat", None])


def test_empty_image_is_refused_by_the_library(ctx):
    with pytest.raises(xsam.InvalidArgumentError, match="image.pixels is NULL"):
        ctx.segment(np.zeros((0, 0, 3), np.uint8), "the cat", task="referring")


def test_image_type_checks(ctx, image):
    with pytest.raises(TypeError, match="uint8"):
        ctx.segment(image.astype(np.float32), "x", task="referring")
    with pytest.raises(ValueError, match="H×W×3"):
        ctx.segment(image[:, :, :2], "x", task="referring")
    with pytest.raises(TypeError, match="None"):
        ctx.segment(None, "x", task="referring")


def test_unknown_names_are_invalid_arguments(ctx, image, model_dir):
    with pytest.raises(xsam.InvalidArgumentError,
                       match=r"task: unknown task 'segment-everything' \(one of auto, chat, .* or open_vocab\)"):
        ctx.segment(image, "x", task="segment-everything")
    with pytest.raises(xsam.InvalidArgumentError, match=r"mode: unknown mode 'fast' \(one of default, teacher_forced or generate\)"):
        ctx.segment(image, "x", mode="fast")
    with pytest.raises(xsam.InvalidArgumentError, match="dtype"):
        xsam.Model(model_dir, dtype="fp16")


def test_limit_on_image_pixels(model, image):
    with model.context(max_image_pixels=100) as c:
        with pytest.raises(xsam.LimitError, match="3072 pixels exceeds the limit of 100"):
            c.segment(image, "the cat", task="referring")


def test_too_many_refs_is_a_limit(ctx, image):
    with pytest.raises(xsam.LimitError, match="at most 64"):
        ctx.segment(image, refs=[xsam.Point(1, 1)] * 65, task="vgd")


def test_bad_context_and_model_params(model, model_dir):
    with pytest.raises(xsam.InvalidArgumentError, match=r"params\.image_cache_entries"):
        model.context(image_cache_entries=-1)
    with pytest.raises(xsam.InvalidArgumentError, match=r"params\.n_threads"):
        xsam.Model(model_dir, threads=-3)
    with pytest.raises(xsam.InvalidArgumentError, match="preset"):
        xsam.Model(model_dir, preset="no-such-preset")


def test_cuda_unavailable_is_unsupported_or_loads(model_dir):
    try:
        m = xsam.Model(model_dir, device="cuda", dtype="fp32")
    except xsam.UnsupportedError as e:
        assert "CUDA" in e.message
    else:
        assert m.info()["device"].startswith("cuda")
        m.close()


def test_raw_null_arguments_report_the_argument():
    """The C layer itself, called through the declarations with NULLs: each message names the argument."""
    L = _lib.lib()
    out = ctypes.c_void_p()
    assert L.xsam_model_load(None, None, ctypes.byref(out)) == 1
    assert L.xsam_last_error() == b"model_dir is NULL"
    assert L.xsam_segment(None, None, None, None, 0, None, ctypes.byref(out)) == 1
    assert L.xsam_last_error() == b"ctx is NULL"
    assert L.xsam_image_load(None, None) == 1
    assert L.xsam_last_error() == b"path is NULL"
    assert L.xsam_result_json(None, ctypes.byref(out)) == 1
    assert L.xsam_last_error() == b"result is NULL"
    # Accessors on a NULL result are neutral, frees accept NULL.
    assert L.xsam_result_n_masks(None) == 0 and L.xsam_result_text(None) is None
    L.xsam_result_free(None), L.xsam_context_free(None), L.xsam_model_free(None), L.xsam_free(None)


def test_the_message_is_thread_local_and_read_right_away(model_dir, tmp_path):
    import threading
    errors = {}

    def load(name):
        try:
            xsam.Model(tmp_path / name)
        except xsam.Error as e:
            errors[name] = e.message

    threads = [threading.Thread(target=load, args=(f"missing-{i}",)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(errors) == [f"missing-{i}" for i in range(4)]
    for name, msg in errors.items():
        assert name in msg
