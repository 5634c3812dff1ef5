"""xsam.Context: where requests run (KV cache, per-image cache). One call at a time per context; use one
context per thread for parallel work (the model itself is shared)."""
import contextlib
import ctypes
import threading

from . import _lib
from ._checks import C_INT64, C_SIZE_T, C_UINT64, c_integer
from ._handle import Handle
from .errors import CancelledError, InvalidArgumentError, check
from .images import CImage
from .refs import CRefs
from .result import Result


class Context(Handle):
    _free_fn = "xsam_context_free"
    _kind = "context"

    def __init__(self, model, max_context_tokens=0, image_cache_entries=1, max_image_pixels=None):
        super().__init__()
        self.model = model  # keeps the model alive as long as this context
        self._busy = threading.Lock()  # held during a call: the C contract is one call at a time
        self._busy_thread = None
        L = _lib.lib()
        p = L.xsam_context_default_params()
        p.max_context_tokens = c_integer(max_context_tokens, "max_context_tokens")
        p.image_cache_entries = c_integer(image_cache_entries, "image_cache_entries")
        if max_image_pixels is not None:
            p.max_image_pixels = c_integer(max_image_pixels, "max_image_pixels", C_INT64)
        check(L.xsam_context_new(model._require_open(), ctypes.byref(p), ctypes.byref(self._ptr)))

    def segment(self, image, prompt=None, *, task="auto", refs=None, classes=None, n_thing_classes=None,
                mode="default", question=None, answer=None, add_bos=False, max_new_tokens=0, temperature=0.0,
                top_k=0, top_p=1.0, seed=0, question_template=0, answer_template=0, score_threshold=0.5,
                overlap_threshold=0.8, mask_threshold=0.5, on_token=None):
        """Runs one request and returns a Result.

        image: H×W×3 uint8 RGB array (also H×W×4, H×W grey, a path, or encoded bytes).
        prompt: the user's text: a chat question, a referring expression, "ins: a, b; sem: c", ...
            None for tasks that need none (interactive, vgd, gcg, or generic tasks given `classes`).
        task: "auto" (inferred: refs → interactive / vgd, classes → generic, else chat), "chat",
            "semantic", "instance", "panoptic", "referring", "reasoning", "gcg", "interactive", "vgd",
            "open_vocab".
        refs: visual refs (xsam.Point, Points, Box, Scribble, MaskRef) for interactive (one) and vgd (1+).
        classes: class names (generic / open-vocab) or several referring phrases; the first
            n_thing_classes are things, the rest stuff (None: all things, except for "semantic").
        mode: "default" (teacher-forced for fixed-answer tasks, generation for chat / gcg),
            "teacher_forced" or "generate".
        question / answer: explicit texts instead of the task's templates (question_template /
            answer_template pick another template by index); add_bos: prepend BOS as the paper's evaluation.
        max_new_tokens (0: the preset's default), temperature (0: greedy), top_k, top_p, seed: generation.
        score_threshold, overlap_threshold, mask_threshold: post-processing thresholds.
        on_token(piece: str, token_id: int): called for each generated token; return False to cancel
            (CancelledError). An exception raised inside it cancels the request and is re-raised here.
            Every piece is whole characters: a token ending inside a UTF-8 character yields "" and
            the character arrives with the next token.
        """
        L = _lib.lib()
        p = L.xsam_segment_default_params()
        p.task = _lib.from_name("task", task, "task")
        p.mode = _lib.from_name("mode", mode, "mode")

        keep = []  # every buffer the C call reads, alive until it returns
        if classes is not None:
            if isinstance(classes, str):
                raise TypeError("classes: expected a list of names, got a str")
            names = [_lib.encode(c, f"classes[{i}]") for i, c in enumerate(classes)]
            arr = (ctypes.c_char_p * max(len(names), 1))(*names)
            keep.append(arr)
            p.classes = ctypes.cast(arr, ctypes.POINTER(ctypes.c_char_p)) if names else None
            p.n_classes = len(names)
        if n_thing_classes is not None:
            if n_thing_classes < 0:
                raise InvalidArgumentError("n_thing_classes: must be >= 0")
            p.n_thing_classes = c_integer(n_thing_classes, "n_thing_classes", C_SIZE_T)
        p.question = _lib.encode(question, "question")
        p.answer = _lib.encode(answer, "answer")
        p.add_bos = 1 if add_bos else 0
        p.max_new_tokens = c_integer(max_new_tokens, "max_new_tokens")
        p.temperature = float(temperature)
        p.top_k = c_integer(top_k, "top_k")
        p.top_p = float(top_p)
        p.seed = c_integer(seed, "seed", C_UINT64)
        p.question_template = c_integer(question_template, "question_template")
        p.answer_template = c_integer(answer_template, "answer_template")
        p.score_threshold = float(score_threshold)
        p.overlap_threshold = float(overlap_threshold)
        p.mask_threshold = float(mask_threshold)

        stream = _Stream(on_token) if on_token is not None else None
        if stream is not None:
            p.on_token = stream.c_callback

        img = CImage(image)
        c_refs = CRefs(refs)
        c_prompt = _lib.encode(prompt, "prompt")
        out = ctypes.c_void_p()
        with self._call():
            ctx = self._require_open()
            status = L.xsam_segment(ctx, img.ref, c_prompt, c_refs.pointer, c_refs.count, ctypes.byref(p),
                                    ctypes.byref(out))
            if status != _lib.OK:
                if out:  # the library leaves *out NULL on failure; be defensive anyway
                    L.xsam_result_free(out)
                if stream is not None and stream.error is not None:
                    # Our callback cancelled because the Python code raised: that exception is the story.
                    raise stream.error
                check(status)
        del keep, c_refs
        return Result(out)

    def close(self):
        """Frees the context, after the call running on it (on another thread) has finished."""
        if getattr(self, "_ptr", None):
            with self._call():
                super().close()

    @contextlib.contextmanager
    def _call(self):
        # From inside this context's own token callback, waiting for the lock would wait forever.
        if self._busy_thread == threading.get_ident():
            raise RuntimeError("this context is running a request on this thread (called from its on_token "
                               "callback?): use another context")
        with self._busy:
            self._busy_thread = threading.get_ident()
            try:
                yield
            finally:
                self._busy_thread = None

    def __repr__(self):
        return f"<xsam.Context{' closed' if self.closed else ''}>"


class _Stream:
    """The C token callback around a Python callable: decodes UTF-8 incrementally, turns a False return
    into a cancel, and catches exceptions (a Python exception must never unwind through C) to re-raise
    them after xsam_segment returns."""

    def __init__(self, fn):
        if not callable(fn):
            raise TypeError(f"on_token: expected a callable, got {type(fn).__name__}")
        self.fn = fn
        self.error = None
        self.c_callback = _lib.TokenCallback(self._call)  # referenced by self for the whole call

    def _call(self, piece, token_id, _user):
        try:
            # The library promises whole UTF-8 characters in every piece.
            text = (piece or b"").decode("utf-8")
            return self.fn(text, int(token_id)) is not False
        except BaseException as e:  # noqa: B902 — KeyboardInterrupt must cancel too
            self.error = e
            return False


# Raised by segment() when on_token returns False; exported here for discoverability.
__all__ = ["Context", "CancelledError"]
