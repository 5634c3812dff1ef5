"""Every task through the binding on the tiny random model: what each returns, with which shapes and
dtypes, and that the numpy outputs agree with each other (masks, boxes, maps, segments)."""
import numpy as np
import pytest

import xsam
from xsam_testing import IMAGE_H, IMAGE_W, PANOPTIC


def check_common(r, task):
    assert isinstance(r, xsam.Result)
    assert r.task == task
    assert (r.height, r.width) == (IMAGE_H, IMAGE_W)
    assert isinstance(r.text, str) and isinstance(r.raw_text, str)
    n = len(r.masks)
    assert len(r.labels) == len(r.label_ids) == n == len(r)
    assert r.scores.shape == (n,) and r.scores.dtype == np.float32
    assert r.boxes.shape == (n, 4) and r.boxes.dtype == np.float32
    for m, box in zip(r.masks, r.boxes):
        assert m.shape == (IMAGE_H, IMAGE_W) and m.dtype == np.bool_
        # Box: tight bounds of the mask, far corner exclusive (zeros for an empty mask).
        if m.any():
            ys, xs = np.nonzero(m)
            assert box.tolist() == [xs.min(), ys.min(), xs.max() + 1, ys.max() + 1]
        else:
            assert box.tolist() == [0, 0, 0, 0]
    for name in ("semantic_map", "panoptic_map"):
        mp = getattr(r, name)
        if mp is not None:
            assert mp.shape == (IMAGE_H, IMAGE_W) and mp.dtype == np.int32
    assert r.timings["total"] > 0
    assert set(r.timings) <= {"preprocess", "vision", "prefill", "decode", "decoder", "postprocess", "total"}
    j = r.json()
    assert j["task"] == task and j["text"] == r.text and j["raw_text"] == r.raw_text
    assert [m["label"] for m in j["masks"]] == r.labels
    assert np.allclose([m["score"] for m in j["masks"]], r.scores, rtol=0, atol=1e-6)
    assert j["has_semantic_map"] == (r.semantic_map is not None)
    assert j["has_panoptic_map"] == (r.panoptic_map is not None)
    return j


def test_chat_generates_text(ctx, image):
    r = ctx.segment(image, "What is in the picture?", task="chat", max_new_tokens=6)
    j = check_common(r, "chat")
    assert j["mode"] == "generate"
    assert 1 <= len(j["generated_ids"]) <= 6
    assert r.raw_text and r.masks == [] and r.semantic_map is None and r.panoptic_map is None
    assert r.timings["decode"] >= 0


def test_chat_answer_with_phrases_is_grounded(ctx, image):
    # A chat answer with <p>..</p> <SEG> keeps its text and segments the phrase
    # (docs/design/decisions.md#where-upstream-fails).
    r = ctx.segment(image, "hi", task="chat", mode="teacher_forced", answer="It is <p>a cat</p> <SEG>.")
    check_common(r, "chat")
    assert r.labels == ["a cat"] and r.masks[0].any()


def test_semantic(ctx, image):
    classes = ["sky", "grass", "road"]
    r = ctx.segment(image, task="semantic", classes=classes)
    check_common(r, "semantic")
    assert r.panoptic_map is None
    sem = r.semantic_map
    assert set(np.unique(sem)) <= set(range(-1, len(classes)))
    # One mask per class present in the map, exactly its pixels; together they cover the map.
    assert sorted(r.label_ids) == sorted(set(np.unique(sem)) - {-1})
    for m, label_id, label in zip(r.masks, r.label_ids, r.labels):
        assert label == classes[label_id]
        assert np.array_equal(m, sem == label_id)
    assert len(r.masks) >= 1


def test_instance(ctx, image):
    r = ctx.segment(image, task="instance", classes=["cat", "dog"], score_threshold=0.0)
    check_common(r, "instance")
    assert len(r.masks) >= 1
    assert all(lbl in ("cat", "dog") for lbl in r.labels)
    assert r.semantic_map is None and r.panoptic_map is None
    assert [s["area"] for s in r.segments] == [int(m.sum()) for m in r.masks]
    # A higher threshold keeps a subset: exactly the masks scoring above it.
    hi = float(np.median(r.scores))
    r2 = ctx.segment(image, task="instance", classes=["cat", "dog"], score_threshold=hi)
    assert sorted(r2.scores.tolist()) == sorted(s for s in r.scores.tolist() if s > hi)


def check_panoptic_map(r):
    pan = r.panoptic_map
    assert pan is not None and r.semantic_map is None
    segs = r.segments
    assert len(segs) == len(r.masks)
    covered = np.zeros(pan.shape, dtype=bool)
    for m, s in zip(r.masks, segs):
        assert int(m.sum()) == s["area"]
        assert (pan[m] != 0).all()  # a painted pixel never goes back to void
        covered |= m
    assert np.array_equal(covered, pan != 0)
    # Each painted pixel carries the id of a segment whose mask covers it (ids may repeat:
    # docs/design/upstream-facts.md#post-processing, Panoptic).
    ok = np.zeros(pan.shape, dtype=bool)
    for m, s in zip(r.masks, segs):
        ok |= m & (pan == s["id"])
    assert np.array_equal(ok, pan != 0)


def test_panoptic(panoptic_ctx, image):
    classes = PANOPTIC["classes"]
    r = panoptic_ctx.segment(image, **PANOPTIC)
    check_common(r, "panoptic")
    assert len(r.masks) >= 1
    check_panoptic_map(r)
    for m, s in zip(r.labels, r.segments):
        assert s["isthing"] == (classes.index(m) < PANOPTIC["n_thing_classes"])


def test_open_vocab_uses_the_generic_variant(ctx, image):
    # Things and stuff → panoptic post-processing; only stuff → semantic.
    r = ctx.segment(image, task="open_vocab", classes=["cat", "dog", "sky"], n_thing_classes=2)
    check_common(r, "open_vocab")
    check_panoptic_map(r)
    r2 = ctx.segment(image, "sem: sky, grass", task="open_vocab")
    check_common(r2, "open_vocab")
    assert r2.semantic_map is not None and r2.panoptic_map is None


def test_referring_one_mask_per_phrase(ctx, image):
    r = ctx.segment(image, "the cat on the left", task="referring")
    check_common(r, "referring")
    assert r.labels == ["the cat on the left"] and r.masks[0].any()
    r2 = ctx.segment(image, task="referring", classes=["the cat", "the dog"])
    check_common(r2, "referring")
    assert r2.labels == ["the cat", "the dog"] and r2.label_ids == [0, 1]


def test_reasoning(ctx, image):
    r = ctx.segment(image, "What can be eaten here?", task="reasoning")
    check_common(r, "reasoning")
    assert len(r.masks) == 1 and r.labels == ["What can be eaten here?"]


def test_gcg_generated_and_teacher_forced(ctx, image):
    r = ctx.segment(image, task="gcg", max_new_tokens=5)
    j = check_common(r, "gcg")
    assert j["mode"] == "generate" and len(j["generated_ids"]) <= 5
    r2 = ctx.segment(image, task="gcg", mode="teacher_forced", answer="<p>A cat</p> <SEG> sits on the grass.")
    j2 = check_common(r2, "gcg")
    assert j2["mode"] == "teacher_forced"
    assert r2.labels == ["A cat"] and r2.masks[0].any()
    assert "<p>A cat</p>" in r2.text  # GCG keeps its phrase tags


@pytest.mark.parametrize("ref", [
    xsam.Point(20.5, 10.25),
    xsam.Points([(5, 5), (60, 40)]),
    xsam.Box(4, 6, 30, 40),
    xsam.Scribble([(2, 2), (30, 20), (60, 44)]),
    "mask",
], ids=["point", "points", "box", "scribble", "mask"])
def test_interactive(ctx, image, ref):
    if ref == "mask":
        m = np.zeros((IMAGE_H, IMAGE_W), dtype=bool)
        m[10:30, 20:50] = True
        ref = xsam.MaskRef(m)
    r = ctx.segment(image, refs=[ref], task="interactive", score_threshold=0.0)
    check_common(r, "interactive")
    assert r.labels == ["region 0"] * len(r.masks) and len(r.masks) == 1


def test_interactive_mask_ref_accepts_any_nonzero_dtype(ctx, image):
    m = np.zeros((IMAGE_H, IMAGE_W), dtype=np.uint8)
    m[10:30, 20:50] = 255
    a = ctx.segment(image, refs=[xsam.MaskRef(m)], task="interactive", score_threshold=0.0)
    b = ctx.segment(image, refs=[xsam.MaskRef(m.astype(bool))], task="interactive", score_threshold=0.0)
    assert np.array_equal(a.masks[0], b.masks[0]) and a.scores.tolist() == b.scores.tolist()


def test_vgd_two_refs(ctx, image):
    r = ctx.segment(image, refs=[xsam.Box(1, 1, 30, 30), xsam.Point(50, 30)], task="vgd", score_threshold=0.0)
    check_common(r, "vgd")
    assert len(r.masks) >= 2
    assert set(r.labels) <= {"region 0", "region 1"} and set(r.label_ids) <= {0, 1}
    assert all(lbl == f"region {i}" for lbl, i in zip(r.labels, r.label_ids))


@pytest.mark.parametrize("kwargs, task", [
    (dict(prompt="Describe the image."), "chat"),
    (dict(prompt="ins: cat, dog"), "instance"),
    (dict(prompt="sem: sky, grass"), "semantic"),
    (dict(prompt="ins: cat; sem: sky"), "panoptic"),
    (dict(classes=["cat", "dog"]), "instance"),
    (dict(refs=[xsam.Point(10, 10)]), "interactive"),
    (dict(refs=[xsam.Point(10, 10), xsam.Box(30, 20, 60, 40)]), "vgd"),
])
def test_auto_infers_the_task(ctx, image, kwargs, task):
    r = ctx.segment(image, task="auto", max_new_tokens=2, **kwargs)
    check_common(r, task)


def test_image_forms_give_the_same_result(ctx, image, tmp_path):
    from PIL import Image
    path = tmp_path / "img.png"
    Image.fromarray(image).save(path)
    a = ctx.segment(image, "the cat", task="referring")
    b = ctx.segment(str(path), "the cat", task="referring")
    c = ctx.segment(path.read_bytes(), "the cat", task="referring")
    d = ctx.segment(Image.fromarray(image), "the cat", task="referring")
    # A non-contiguous view (every other column) is copied, not misread.
    wide = np.repeat(image, 2, axis=1)[:, ::2]
    assert not wide.flags.c_contiguous
    e = ctx.segment(wide, "the cat", task="referring")
    for other in (b, c, d, e):
        assert np.array_equal(a.masks[0], other.masks[0]) and a.scores.tolist() == other.scores.tolist()
    # RGBA: alpha ignored. BGR is not a numpy convention here; grey goes through as one channel.
    rgba = np.concatenate([image, np.full(image.shape[:2] + (1,), 7, np.uint8)], axis=2)
    f = ctx.segment(rgba, "the cat", task="referring")
    assert np.array_equal(a.masks[0], f.masks[0])


def test_results_are_deterministic_and_cached(model, image):
    with model.context() as c:
        a = c.segment(image, task="instance", classes=["cat"], score_threshold=0.0)
        b = c.segment(image, task="instance", classes=["cat"], score_threshold=0.0)
    assert not a.json()["image_cache_hit"] and b.json()["image_cache_hit"]
    assert len(a.masks) == len(b.masks)
    assert all(np.array_equal(x, y) for x, y in zip(a.masks, b.masks))
    assert a.scores.tolist() == b.scores.tolist()


def test_model_info(model, model_dir):
    info = model.info()
    assert info["dtype"] == "fp32" and info["device"] == "cpu" and info["threads"] == 1
    assert info["model_dir"] == model_dir
    assert info["parameters"] == sum(p["parameters"] for p in info["parts"]) > 0
    assert info["tasks"] == list(xsam.TASKS[1:])  # every task but "auto", in xsam_task order
