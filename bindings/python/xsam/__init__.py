"""xsam — Python binding (ctypes) of libxsam, native inference for X-SAM.

    import numpy as np, xsam
    with xsam.Model("models/x-sam", dtype="fp32") as model, model.context() as ctx:
        image = xsam.load_image("assets/sample.png")
        result = ctx.segment(image, "ins: person, dog; sem: grass, sky")
        for mask, label, score in zip(result.masks, result.labels, result.scores):
            print(label, score, mask.sum())
        open("overlay.png", "wb").write(result.overlay_png(image))

The library is found through $XSAM_LIBRARY, $XSAM_BUILD_DIR/lib, the source tree's build/lib, then the
system (see xsam._lib). Every failure raises a subclass of xsam.Error carrying the library's message.
"""
import ctypes as _ctypes
import os as _os

from . import _lib
from ._checks import C_UINT64, c_integer
from ._lib import LibraryNotFoundError, library_path
from .context import Context
from .errors import (CancelledError, Error, FormatError, InputOutputError, InternalError, InvalidArgumentError,
                     LimitError, ModelError, OutOfMemoryError, UnsupportedError, check)
from .images import decode_image, load_image, load_mask
from .model import Model
from .refs import Box, MaskRef, Point, Points, Scribble
from .result import Result



def __getattr__(name):
    # TASKS and MODES are the library's names (xsam_task_name / xsam_mode_name), read when first asked
    # for, so that `import xsam` works without the library.
    if name in ("TASKS", "MODES"):
        return tuple(_lib.names(name[:-1].lower()))
    raise AttributeError(f"module 'xsam' has no attribute {name!r}")


def version():
    """The library's version string."""
    return _lib.lib().xsam_version().decode()


def random_model(out_dir, preset="tiny", dtype="fp32", seed=0, tokenizer_dir=None):
    """Writes a model directory with random weights in the checkpoint layout: preset "tiny" (test sizes)
    or "full" (the released sizes); dtype "fp32" or "bf16". Returns out_dir."""
    dtypes = {"auto": 0, "fp32": 1, "bf16": 2}
    if dtype not in dtypes:
        raise InvalidArgumentError(f"dtype: expected one of {', '.join(dtypes)}, got {dtype!r}")
    check(_lib.lib().xsam_random_model(_lib.encode(_os.fspath(out_dir), "out_dir"), _lib.encode(preset, "preset"),
                                       dtypes[dtype], c_integer(seed, "seed", C_UINT64),
                                       _lib.encode(tokenizer_dir, "tokenizer_dir")))
    return out_dir


def convert_config(upstream_config, out_json):
    """Converts an upstream-style config.json (as in the golden sets) into xsam's own config.json."""
    check(_lib.lib().xsam_convert_config(_lib.encode(_os.fspath(upstream_config), "upstream_config"),
                                         _lib.encode(_os.fspath(out_json), "out_json")))


__all__ = [
    "Model", "Context", "Result", "Point", "Points", "Box", "Scribble", "MaskRef",
    "Error", "InvalidArgumentError", "InputOutputError", "FormatError", "ModelError", "UnsupportedError",
    "LimitError", "CancelledError", "OutOfMemoryError", "InternalError", "LibraryNotFoundError",
    "load_image", "decode_image", "load_mask", "random_model", "convert_config", "version",
    "library_path", "TASKS", "MODES",
]
