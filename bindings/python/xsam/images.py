"""Images in and out of the library.

What the binding accepts as an image:
  - a numpy array (or anything `numpy.asarray` turns into one, e.g. a PIL image): uint8, H×W×3 RGB,
    H×W×4 RGBA (alpha ignored) or H×W grey;
  - a path (str or os.PathLike): decoded by the library (`xsam_image_load`, as PIL's
    `Image.open(f).convert("RGB")`);
  - bytes: an encoded PNG/JPEG/... held in memory (`xsam_image_decode`).
"""
import ctypes
import os

import numpy as np

from . import _lib
from .errors import check

_FORMAT_BY_CHANNELS = {3: _lib.PIXEL_RGB8, 4: _lib.PIXEL_RGBA8, 1: _lib.PIXEL_GRAY8}


def _take_image(img):
    """Copies an xsam_image filled by the library into an H×W×3 array and frees its pixels."""
    try:
        h, w = img.height, img.width
        stride = img.stride or w * 3
        buf = ctypes.string_at(img.pixels, stride * h)
        rows = np.frombuffer(buf, dtype=np.uint8).reshape(h, stride)
        return rows[:, : w * 3].reshape(h, w, 3).copy()
    finally:
        _lib.lib().xsam_image_free(ctypes.byref(img))


def load_image(path):
    """Decodes an image file into an H×W×3 uint8 RGB array (as PIL's `Image.open(f).convert("RGB")`)."""
    img = _lib.Image()
    check(_lib.lib().xsam_image_load(_lib.encode(os.fspath(path), "path"), ctypes.byref(img)))
    return _take_image(img)


def decode_image(data):
    """Decodes an encoded image (PNG, JPEG, ...) held in memory into an H×W×3 uint8 RGB array."""
    data = bytes(data)
    img = _lib.Image()
    buf = (ctypes.c_uint8 * max(len(data), 1)).from_buffer_copy(data or b"\0")
    check(_lib.lib().xsam_image_decode(buf, len(data), ctypes.byref(img)))
    return _take_image(img)


def load_mask(path):
    """Loads a visual-prompt mask file as upstream's CLI does (8-bit grey as PIL's convert("L"), inside where
    the value is > 128): an H×W bool array, ready for xsam.MaskRef."""
    L = _lib.lib()
    out, w, h = ctypes.c_void_p(), ctypes.c_int(), ctypes.c_int()
    check(L.xsam_mask_load(_lib.encode(os.fspath(path), "path"), ctypes.byref(out), ctypes.byref(w), ctypes.byref(h)))
    data = _lib.take_bytes(out, w.value * h.value)
    return np.frombuffer(data, dtype=np.uint8).reshape(h.value, w.value).astype(bool)


def as_pixels(image, what="image"):
    """Any accepted image form → a C-contiguous uint8 array of shape H×W×C (C in 1, 3, 4)."""
    if isinstance(image, (str, os.PathLike)):
        return load_image(image)
    if isinstance(image, (bytes, bytearray, memoryview)):
        return decode_image(image)
    if image is None:
        raise TypeError(f"{what}: expected a numpy array, a path or encoded bytes, got None")
    arr = np.asarray(image)
    if arr.dtype != np.uint8:
        raise TypeError(f"{what}: expected dtype uint8, got {arr.dtype}")
    if arr.ndim == 2:
        arr = arr[:, :, None]
    if arr.ndim != 3 or arr.shape[2] not in _FORMAT_BY_CHANNELS:
        raise ValueError(f"{what}: expected shape H×W×3 (RGB), H×W×4 (RGBA) or H×W (grey), got {arr.shape}")
    return np.ascontiguousarray(arr)


class CImage:
    """An xsam_image struct viewing a numpy array; keep this object alive while the library reads it."""

    def __init__(self, image, what="image"):
        self.array = as_pixels(image, what)
        h, w, c = self.array.shape
        self.struct = _lib.Image()
        # A zero-size array has no buffer worth pointing at: pass NULL and let the library say so.
        if self.array.size:
            self.struct.pixels = self.array.ctypes.data_as(ctypes.POINTER(ctypes.c_uint8))
        self.struct.width = w
        self.struct.height = h
        self.struct.stride = w * c
        self.struct.format = _FORMAT_BY_CHANNELS[c]

    @property
    def ref(self):
        return ctypes.byref(self.struct)
