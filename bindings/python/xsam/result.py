"""xsam.Result: what one segment() call produced.

The text, masks, labels, scores, boxes, maps and timings are copied into Python / numpy objects when the
result is made, so they stay valid after close(). The C result is kept for what the library renders on
demand (json(), overlay_png(), mask_png(), mask_rle()) until close(), the end of a `with` block, or
garbage collection.
"""
import ctypes
import json as _json

import numpy as np

from . import _lib
from ._checks import C_SIZE_T, c_integer
from ._handle import Handle
from .errors import check
from .images import CImage


class Result(Handle):
    _free_fn = "xsam_result_free"
    _kind = "result"

    def __init__(self, ptr):
        super().__init__()
        self._ptr = ctypes.c_void_p(ptr.value if isinstance(ptr, ctypes.c_void_p) else ptr)
        self._json_cache = None
        L = _lib.lib()
        r = self._ptr
        self.task = L.xsam_task_name(L.xsam_result_task(r)).decode()
        self.text = _text(L.xsam_result_text(r))
        self.raw_text = _text(L.xsam_result_raw_text(r))
        self.width = L.xsam_result_width(r)
        self.height = L.xsam_result_height(r)
        h, w = self.height, self.width
        n = L.xsam_result_n_masks(r)
        self.masks = []
        self.labels = []
        self.label_ids = []
        self.scores = np.zeros(n, dtype=np.float32)
        self.boxes = np.zeros((n, 4), dtype=np.float32)
        box = (ctypes.c_float * 4)()
        for i in range(n):
            self.masks.append(_array(L.xsam_result_mask(r, i), (h, w), np.uint8).astype(bool))
            self.labels.append(_text(L.xsam_result_label(r, i)))
            self.label_ids.append(L.xsam_result_label_id(r, i))
            self.scores[i] = L.xsam_result_score(r, i)
            L.xsam_result_box(r, i, box)
            self.boxes[i] = list(box)
        self.semantic_map = _array(L.xsam_result_semantic_map(r), (h, w), np.int32)
        self.panoptic_map = _array(L.xsam_result_panoptic_map(r), (h, w), np.int32)
        self.timings = {}
        for stage in _lib.TIMING_STAGES:
            seconds = L.xsam_result_timing(r, stage.encode())
            if seconds >= 0:
                self.timings[stage] = seconds

    # ------------------------------------------------------------------ rendered by the library

    def to_json(self):
        """The whole result as the library's JSON text (schema: docs/result-json.md)."""
        out = ctypes.c_void_p()
        check(_lib.lib().xsam_result_json(self._require_open(), ctypes.byref(out)))
        return _lib.take_string(out)

    def json(self):
        """The whole result as a dict (parsed from to_json(); masks as COCO RLE)."""
        if self._json_cache is None:
            self._json_cache = _json.loads(self.to_json())
        return self._json_cache

    @property
    def segments(self):
        """Upstream's segments_info: a list of dicts with id, label_id, score, isthing, area (the ids are
        the values of panoptic_map / semantic_map)."""
        return self.json()["segments"]

    def mask_rle(self, i):
        """Mask i as a COCO RLE compressed counts string (pycocotools' format), size = (height, width)."""
        out = ctypes.c_void_p()
        check(_lib.lib().xsam_result_mask_rle(self._require_open(), c_integer(i, "i", C_SIZE_T), ctypes.byref(out)))
        return _lib.take_string(out)

    def overlay_png(self, image):
        """PNG bytes of the masks blended over `image` (the image this result was computed on), with labels
        and scores."""
        img = CImage(image)
        out, size = ctypes.c_void_p(), ctypes.c_size_t()
        check(_lib.lib().xsam_result_overlay_png(self._require_open(), img.ref, ctypes.byref(out),
                                                 ctypes.byref(size)))
        return _lib.take_bytes(out, size.value)

    def map_png(self):
        """PNG bytes (16-bit grey) of the semantic map (class index + 1, 0 = none) or the panoptic map
        (segment id, 0 = void); InvalidArgumentError when the result has neither."""
        out, size = ctypes.c_void_p(), ctypes.c_size_t()
        check(_lib.lib().xsam_result_map_png(self._require_open(), ctypes.byref(out), ctypes.byref(size)))
        return _lib.take_bytes(out, size.value)

    def mask_png(self, i):
        """PNG bytes of mask i (0 / 255 grey)."""
        out, size = ctypes.c_void_p(), ctypes.c_size_t()
        check(_lib.lib().xsam_result_mask_png(self._require_open(), c_integer(i, "i", C_SIZE_T), ctypes.byref(out), ctypes.byref(size)))
        return _lib.take_bytes(out, size.value)

    def __len__(self):
        return len(self.masks)

    def __repr__(self):
        return (f"<xsam.Result task={self.task} masks={len(self.masks)} text={self.text[:40]!r}"
                f"{' closed' if self.closed else ''}>")


def _text(raw):
    return raw.decode("utf-8", "replace") if raw is not None else ""


def _array(ptr, shape, dtype):
    """A copy of the C array behind ptr, or None for NULL."""
    if not ptr:
        return None
    count = int(np.prod(shape))
    if count == 0:
        return np.zeros(shape, dtype=dtype)
    return np.ctypeslib.as_array(ptr, shape=(count,)).astype(dtype, copy=True).reshape(shape)
