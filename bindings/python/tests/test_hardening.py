"""The Python binding against the cases of the adversarial pass (docs/reliability.md §9): integers that
ctypes would wrap, strings with NUL characters, directory names that would run a shell."""
import os

import numpy as np
import pytest

import xsam

BIG = 2 ** 32 + 3  # wraps to 3 in a C int


@pytest.mark.parametrize("kwargs,name", [
    (dict(max_new_tokens=BIG), "max_new_tokens"),
    (dict(max_new_tokens=2 ** 31), "max_new_tokens"),
    (dict(top_k=-(2 ** 31) - 1), "top_k"),
    (dict(seed=-1), "seed"),
    (dict(seed=2 ** 64), "seed"),
    (dict(question_template=BIG), "question_template"),
    (dict(answer_template=BIG), "answer_template"),
    (dict(classes=["cat"], n_thing_classes=2 ** 64), "n_thing_classes"),
])
def test_out_of_range_integers_are_refused_not_wrapped(ctx, image, kwargs, name):
    with pytest.raises(xsam.InvalidArgumentError) as e:
        ctx.segment(image, "the cat", task="referring", **kwargs)
    assert name in str(e.value) and "outside" in str(e.value)


def test_non_integers_are_refused_not_truncated(ctx, image):
    with pytest.raises(TypeError) as e:
        ctx.segment(image, "the cat", task="referring", max_new_tokens=3.7)
    assert "max_new_tokens" in str(e.value)


def test_largest_valid_values_pass_the_binding(ctx, image):
    # 2**64 - 1 is a valid seed: the binding hands it on and the request runs.
    r = ctx.segment(image, "the cat", task="referring", seed=2 ** 64 - 1)
    assert r.task == "referring"


@pytest.mark.parametrize("kw", ["threads", "device_index", "sliding_window_keys"])
def test_model_integers_are_range_checked(model_dir, kw):
    with pytest.raises(xsam.InvalidArgumentError) as e:
        xsam.Model(model_dir, dtype="fp32", **{kw: BIG})
    assert kw in str(e.value)


def test_context_integers_are_range_checked(model):
    for kw in ("max_context_tokens", "image_cache_entries"):
        with pytest.raises(xsam.InvalidArgumentError) as e:
            model.context(**{kw: BIG})
        assert kw in str(e.value)
    with pytest.raises(xsam.InvalidArgumentError):
        model.context(max_image_pixels=2 ** 63)


def test_random_model_seed_is_range_checked(tmp_path):
    with pytest.raises(xsam.InvalidArgumentError) as e:
        xsam.random_model(str(tmp_path / "m"), seed=-1)
    assert "seed" in str(e.value)
    assert not (tmp_path / "m").exists()


@pytest.mark.parametrize("kwargs,name", [
    (dict(prompt="ca\0t", task="referring"), "prompt"),
    (dict(prompt=None, task="semantic", classes=["dog", "ca\0t"]), "classes[1]"),
    (dict(prompt="x", task="chat", question="a\0b"), "question"),
    (dict(prompt="x", task="referring", answer="a\0b"), "answer"),
])
def test_nul_in_text_is_refused_not_truncated(ctx, image, kwargs, name):
    with pytest.raises(xsam.InvalidArgumentError) as e:
        ctx.segment(image, **kwargs)
    assert name in str(e.value) and "NUL" in str(e.value)


def test_nul_in_paths_is_refused(tmp_path, model_dir):
    for call in (lambda: xsam.load_image(str(tmp_path / "a.png") + "\0.jpg"),
                 lambda: xsam.Model(model_dir + "\0/elsewhere"),
                 lambda: xsam.random_model(str(tmp_path / "m") + "\0x")):
        with pytest.raises(xsam.InvalidArgumentError) as e:
            call()
        assert "NUL" in str(e.value)


def test_random_model_directory_with_quotes_runs_no_shell(tmp_path, monkeypatch):
    name = "it's $(touch PWNED) `touch PWNED2`; touch PWNED3 '"
    monkeypatch.chdir(tmp_path)  # where a shell would have run the touch commands
    xsam.random_model(str(tmp_path / name), preset="tiny", dtype="fp32")
    assert os.listdir(tmp_path) == [name]
    assert os.path.isfile(tmp_path / name / "config.json")


def test_reentrant_call_from_the_callback_is_refused(ctx, image):
    seen = []

    def on_token(piece, token_id):
        if not seen:
            with pytest.raises(RuntimeError) as e:
                ctx.segment(image, "again", task="chat", max_new_tokens=1)
            seen.append(str(e.value))
        return True

    r = ctx.segment(image, "hello", task="chat", max_new_tokens=3, on_token=on_token)
    assert seen and "this context is running a request" in seen[0]
    assert isinstance(r.text, str)
    assert np.asarray(image).shape[2] == 3
