"""Handles are freed deterministically (close(), `with`), exactly once, and nothing leaks over many calls."""
import ctypes
import gc

import numpy as np
import pytest

import xsam


class _MallInfo2(ctypes.Structure):
    _fields_ = [(n, ctypes.c_size_t) for n in
                "arena ordblks smblks hblks hblkhd usmblks fsmblks uordblks fordblks keepcost".split()]


def heap_in_use():
    """Bytes malloc has handed out and not had back (glibc's mallinfo2): unlike the resident size it does
    not move with the allocator's caching, so a leak of a few hundred kB per round shows plainly."""
    libc = ctypes.CDLL("libc.so.6")
    libc.mallinfo2.restype = _MallInfo2
    mi = libc.mallinfo2()
    return mi.uordblks + mi.hblkhd


def test_close_is_idempotent_and_use_after_close_is_refused(model_dir, image):
    m = xsam.Model(model_dir, dtype="fp32", threads=1)
    c = m.context()
    r = c.segment(image, "the cat", task="referring")
    masks = r.masks
    r.close()
    r.close()
    assert r.closed
    assert masks[0].shape == image.shape[:2] and r.labels == ["the cat"]  # copied data outlives the handle
    with pytest.raises(ValueError, match="result is closed"):
        r.to_json()
    c.close()
    with pytest.raises(ValueError, match="context is closed"):
        c.segment(image, "the cat", task="referring")
    m.close()
    m.close()
    with pytest.raises(ValueError, match="model is closed"):
        m.info()
    with pytest.raises(ValueError, match="model is closed"):
        m.context()


def test_with_blocks_close(model_dir, image):
    with xsam.Model(model_dir, dtype="fp32", threads=1) as m:
        with m.context() as c:
            with c.segment(image, "the cat", task="referring") as r:
                assert not r.closed
            assert r.closed
        assert c.closed
    assert m.closed


def test_closing_the_model_closes_its_contexts(model_dir, image):
    m = xsam.Model(model_dir, dtype="fp32", threads=1)
    c1, c2 = m.context(), m.context()
    c1.close()
    m.close()
    assert c1.closed and c2.closed
    with pytest.raises(ValueError, match="context is closed"):
        c2.segment(image, "the cat", task="referring")


def test_a_context_keeps_its_model_alive(model_dir, image):
    c = xsam.Model(model_dir, dtype="fp32", threads=1).context()  # the Model object has no other reference
    gc.collect()
    assert len(c.segment(image, "the cat", task="referring").masks) == 1
    c.close()


def test_results_outlive_their_context(model, image):
    with model.context() as c:
        r = c.segment(image, "the cat", task="referring")
    assert r.json()["masks"][0]["label"] == "the cat"
    assert r.overlay_png(image)[:4] == b"\x89PNG"


def test_no_growth_over_many_calls(model, tmp_path):
    """Results, contexts, images, callbacks and error paths in a loop: the heap settles (three leaked
    192×256 instance results a round would add about 0.7 MB a round)."""
    rng = np.random.RandomState(3)
    big = rng.randint(0, 256, size=(192, 256, 3)).astype(np.uint8)

    def round_():
        with model.context() as c:
            for _ in range(3):
                r = c.segment(big, task="instance", classes=["a", "b"], score_threshold=0.0)
                r.json(), r.overlay_png(big), r.mask_png(0)
                del r  # freed by reference counting (no close())
            with pytest.raises(xsam.InvalidArgumentError):
                c.segment(big, task="vgd")
            c.segment(big, "Hi", task="chat", max_new_tokens=2, on_token=lambda p, t: None)

    for _ in range(3):
        round_()
    gc.collect()
    before = heap_in_use()
    for _ in range(8):
        round_()
    gc.collect()
    grown = heap_in_use() - before
    print(f"heap growth over 8 rounds: {grown / 2**10:.1f} KiB")
    assert grown < 2**20, f"the heap grew by {grown / 2**20:.2f} MiB over 8 rounds"


def test_contexts_on_threads(model, image):
    """Different contexts on different threads run concurrently and give the single-thread answer."""
    import threading
    with model.context() as c:
        want = c.segment(image, "the cat", task="referring").masks[0]
    got, errors = [], []

    def work():
        try:
            with model.context() as c:
                for _ in range(3):
                    got.append(c.segment(image, "the cat", task="referring").masks[0])
        except Exception as e:  # pragma: no cover - reported below
            errors.append(e)

    threads = [threading.Thread(target=work) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == [] and len(got) == 9
    assert all(np.array_equal(g, want) for g in got)


def test_reentrant_calls_from_the_callback_are_refused(model, image):
    """A callback that uses its own context (segment or close) gets a RuntimeError, not a deadlock; the
    error cancels the outer request and comes out of it."""
    with model.context() as c:
        with pytest.raises(RuntimeError, match="running a request on this thread"):
            c.segment(image, "Hi", task="chat", max_new_tokens=3,
                      on_token=lambda p, t: c.segment(image, "the cat", task="referring"))
        with pytest.raises(RuntimeError, match="running a request on this thread"):
            c.segment(image, "Hi", task="chat", max_new_tokens=3, on_token=lambda p, t: c.close())
        assert not c.closed
        # Another context may be used from the callback.
        with model.context() as other:
            inner = []
            c.segment(image, "Hi", task="chat", max_new_tokens=2,
                      on_token=lambda p, t: inner.append(len(other.segment(image, "x", task="referring").masks)))
            assert inner and set(inner) == {1}


def test_close_waits_for_a_running_call(model, image):
    import threading
    import time
    c = model.context()
    started, results = threading.Event(), []

    def slow(piece, tid):
        started.set()
        time.sleep(0.05)

    t = threading.Thread(target=lambda: results.append(
        c.segment(image, "Hi", task="chat", max_new_tokens=4, on_token=slow)))
    t.start()
    assert started.wait(30)
    c.close()  # blocks until the call above is done, then frees
    t.join()
    assert c.closed and len(results) == 1 and results[0].raw_text is not None
