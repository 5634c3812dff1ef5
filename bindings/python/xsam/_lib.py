"""ctypes declarations of include/xsam/xsam.h, and where libxsam.so is found.

Every struct here mirrors its C counterpart field by field, in order; tests/test_abi.py compiles a small
C program printing sizeof/offsetof of each and compares them with these declarations.

The library is found, first match wins:
  1. $XSAM_LIBRARY          the path of libxsam.so itself (an error if it does not exist);
  2. $XSAM_BUILD_DIR/lib/libxsam.so;
  3. next to this package: libxsam.so.0 or libxsam.so in the installed xsam/ folder (a copy or a link;
     the library finds its plugin relative to where it really lies);
  4. <repository>/build/lib/libxsam.so (this package inside a source tree);
  5. the system's search path (libxsam.so.0, libxsam.so): an installed libxsam0 package or prefix.
It is loaded on first use, so `import xsam` works without it.
"""
import ctypes
import ctypes.util
import os
import threading
from ctypes import (CFUNCTYPE, POINTER, Structure, c_bool, c_char_p, c_double, c_float, c_int, c_int32, c_int64, c_size_t,
                    c_uint8, c_uint64, c_void_p)

# ----------------------------------------------------------------------------- enums (values as in xsam.h)

# The ABI generation this binding declares (XSAM_API_VERSION, the number in libxsam's SONAME).
API_VERSION = 0

OK = 0
STATUS_NAMES = {
    0: "ok", 1: "invalid_argument", 2: "io", 3: "format", 4: "model", 5: "unsupported", 6: "limit",
    7: "cancelled", 8: "out_of_memory", 9: "internal",
}
ERR_CANCELLED = 7

DTYPES = {"auto": 0, "fp32": 1, "bf16": 2, "mixed": 3}
DEVICES = {"cpu": 0, "cuda": 1}
PIXEL_RGB8, PIXEL_RGBA8, PIXEL_BGR8, PIXEL_GRAY8 = 0, 1, 2, 3
REF_POINT, REF_BOX, REF_SCRIBBLE, REF_MASK = 0, 1, 2, 3
# Stage names xsam_result_timing knows (xsam.h); a stage that did not run reports -1.
TIMING_STAGES = ["preprocess", "vision", "prefill", "decode", "decoder", "postprocess", "total"]

# ----------------------------------------------------------------------------- structs


class ModelParams(Structure):
    _fields_ = [
        ("struct_size", c_size_t),  # set by xsam_model_default_params(), which every instance comes from
        ("dtype", c_int),
        ("device", c_int),
        ("device_index", c_int),
        ("n_threads", c_int),
        ("verify_checksums", c_bool),
        ("tokenizer_plugin", c_char_p),
        ("preset", c_char_p),
        ("sliding_window_keys", c_int),
        ("cpu", c_char_p),
    ]


class ContextParams(Structure):
    _fields_ = [
        ("struct_size", c_size_t),
        ("max_context_tokens", c_int),
        ("image_cache_entries", c_int),
        ("max_image_pixels", c_int64),
    ]


class Image(Structure):
    _fields_ = [
        ("pixels", POINTER(c_uint8)),
        ("width", c_int),
        ("height", c_int),
        ("stride", c_int),
        ("format", c_int),
    ]


class VisualRef(Structure):
    _fields_ = [
        ("kind", c_int),
        ("xy", POINTER(c_float)),
        ("n_xy", c_size_t),
        ("mask", POINTER(c_uint8)),
        ("mask_width", c_int),
        ("mask_height", c_int),
    ]


# bool (*)(const char *piece, int32_t token_id, void *user_data); the piece arrives as UTF-8 bytes.
TokenCallback = CFUNCTYPE(c_bool, c_char_p, c_int32, c_void_p)


class SegmentParams(Structure):
    _fields_ = [
        ("struct_size", c_size_t),
        ("task", c_int),
        ("mode", c_int),
        ("classes", POINTER(c_char_p)),
        ("n_classes", c_size_t),
        ("n_thing_classes", c_size_t),
        ("question", c_char_p),
        ("answer", c_char_p),
        ("add_bos", c_bool),
        ("max_new_tokens", c_int),
        ("temperature", c_float),
        ("top_k", c_int),
        ("top_p", c_float),
        ("seed", c_uint64),
        ("question_template", c_int),
        ("answer_template", c_int),
        ("score_threshold", c_float),
        ("overlap_threshold", c_float),
        ("mask_threshold", c_float),
        ("on_token", TokenCallback),
        ("user_data", c_void_p),
    ]


STRUCTS = {
    "xsam_model_params": ModelParams,
    "xsam_context_params": ContextParams,
    "xsam_image": Image,
    "xsam_visual_ref": VisualRef,
    "xsam_segment_params": SegmentParams,
}

# ----------------------------------------------------------------------------- function signatures

_model_p = c_void_p
_context_p = c_void_p
_result_p = c_void_p

# name: (restype, argtypes). Handles are plain void pointers; the Python classes own them.
SIGNATURES = {
    "xsam_last_error": (c_char_p, []),
    "xsam_status_name": (c_char_p, [c_int]),
    "xsam_version": (c_char_p, []),
    "xsam_free": (None, [c_void_p]),
    "xsam_model_default_params": (ModelParams, []),
    "xsam_model_load": (c_int, [c_char_p, POINTER(ModelParams), POINTER(_model_p)]),
    "xsam_model_info_json": (c_int, [_model_p, POINTER(c_void_p)]),
    "xsam_model_free": (None, [_model_p]),
    "xsam_context_default_params": (ContextParams, []),
    "xsam_context_new": (c_int, [_model_p, POINTER(ContextParams), POINTER(_context_p)]),
    "xsam_context_free": (None, [_context_p]),
    "xsam_segment_default_params": (SegmentParams, []),
    "xsam_segment": (c_int, [_context_p, POINTER(Image), c_char_p, POINTER(VisualRef), c_size_t,
                             POINTER(SegmentParams), POINTER(_result_p)]),
    "xsam_image_load": (c_int, [c_char_p, POINTER(Image)]),
    "xsam_image_decode": (c_int, [POINTER(c_uint8), c_size_t, POINTER(Image)]),
    "xsam_mask_load": (c_int, [c_char_p, POINTER(c_void_p), POINTER(c_int), POINTER(c_int)]),
    "xsam_image_free": (None, [POINTER(Image)]),
    "xsam_image_decode_limit": (c_int, [POINTER(c_uint8), c_size_t, c_int64, POINTER(Image)]),
    "xsam_task_name": (c_char_p, [c_int]),
    "xsam_task_from_name": (c_int, [c_char_p, POINTER(c_int)]),
    "xsam_mode_name": (c_char_p, [c_int]),
    "xsam_mode_from_name": (c_int, [c_char_p, POINTER(c_int)]),
    "xsam_dtype_name": (c_char_p, [c_int]),
    "xsam_dtype_from_name": (c_int, [c_char_p, POINTER(c_int)]),
    "xsam_utf8_valid_prefix": (c_size_t, [c_char_p, c_size_t]),
    "xsam_result_free": (None, [_result_p]),
    "xsam_result_task": (c_int, [_result_p]),
    "xsam_result_text": (c_char_p, [_result_p]),
    "xsam_result_raw_text": (c_char_p, [_result_p]),
    "xsam_result_n_masks": (c_size_t, [_result_p]),
    "xsam_result_width": (c_int, [_result_p]),
    "xsam_result_height": (c_int, [_result_p]),
    "xsam_result_mask": (POINTER(c_uint8), [_result_p, c_size_t]),
    "xsam_result_mask_rle": (c_int, [_result_p, c_size_t, POINTER(c_void_p)]),
    "xsam_result_label": (c_char_p, [_result_p, c_size_t]),
    "xsam_result_label_id": (c_int, [_result_p, c_size_t]),
    "xsam_result_score": (c_float, [_result_p, c_size_t]),
    "xsam_result_box": (None, [_result_p, c_size_t, POINTER(c_float)]),
    "xsam_result_semantic_map": (POINTER(c_int32), [_result_p]),
    "xsam_result_panoptic_map": (POINTER(c_int32), [_result_p]),
    "xsam_result_timing": (c_double, [_result_p, c_char_p]),
    "xsam_result_json": (c_int, [_result_p, POINTER(c_void_p)]),
    "xsam_result_overlay_png": (c_int, [_result_p, POINTER(Image), POINTER(c_void_p), POINTER(c_size_t)]),
    "xsam_result_map_png": (c_int, [_result_p, POINTER(c_void_p), POINTER(c_size_t)]),
    "xsam_result_mask_png": (c_int, [_result_p, c_size_t, POINTER(c_void_p), POINTER(c_size_t)]),
    "xsam_random_model": (c_int, [c_char_p, c_char_p, c_int, c_uint64, c_char_p]),
    "xsam_convert_config": (c_int, [c_char_p, c_char_p]),
}

# ----------------------------------------------------------------------------- discovery and loading


class LibraryNotFoundError(OSError):
    """libxsam.so could not be found or loaded; the message lists every place that was tried."""


def _repo_root():
    # bindings/python/xsam/_lib.py → the repository root, three folders up from this package.
    return os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..", ".."))


def candidate_paths():
    """Where the library is looked for, in order, as (origin, path-or-name) pairs."""
    out = []
    explicit = os.environ.get("XSAM_LIBRARY")
    if explicit:
        return [("$XSAM_LIBRARY", explicit)]
    build_dir = os.environ.get("XSAM_BUILD_DIR")
    if build_dir:
        out.append(("$XSAM_BUILD_DIR", os.path.join(build_dir, "lib", "libxsam.so")))
    here = os.path.dirname(os.path.abspath(__file__))
    for name in (f"libxsam.so.{API_VERSION}", "libxsam.so"):
        if os.path.exists(os.path.join(here, name)):
            out.append(("next to the package", os.path.join(here, name)))
            break
    source_tree_lib = os.path.join(_repo_root(), "build", "lib", "libxsam.so")
    if os.path.exists(os.path.join(_repo_root(), "CMakeLists.txt")):
        out.append(("source tree", source_tree_lib))
    # The SONAME first: it is what an installed runtime package provides (libxsam.so is in the -dev one).
    out.append(("system", f"libxsam.so.{API_VERSION}"))
    found = ctypes.util.find_library("xsam")
    out.append(("system", found or "libxsam.so"))
    return out


def _declare(cdll):
    """Declares every function the library has. One it lacks (an older build) stays undeclared, and
    calling it raises AttributeError naming it; everything else keeps working."""
    for name, (restype, argtypes) in SIGNATURES.items():
        try:
            fn = getattr(cdll, name)
        except AttributeError:
            continue
        fn.restype = restype
        fn.argtypes = argtypes
    return cdll


_lock = threading.Lock()
_lib = None
_lib_path = None


def lib():
    """The loaded library with every function declared (loaded once, on first use)."""
    global _lib, _lib_path
    if _lib is not None:
        return _lib
    with _lock:
        if _lib is not None:
            return _lib
        tried = []
        for origin, path in candidate_paths():
            is_file = os.sep in path
            if is_file and not os.path.exists(path):
                tried.append(f"{origin}: {path} (no such file)")
                continue
            try:
                cdll = ctypes.CDLL(path)
            except OSError as e:
                tried.append(f"{origin}: {path} ({e})")
                continue
            _lib = _declare(cdll)
            _lib_path = path
            return _lib
        raise LibraryNotFoundError("libxsam.so not found; tried:\n  " + "\n  ".join(tried) +
                                   "\nset XSAM_LIBRARY to the library's path or XSAM_BUILD_DIR to a build folder")


def library_path():
    """The path (or name) the library was loaded from."""
    lib()
    return _lib_path


def names(kind):
    """The names the library gives the values of an enum ("task", "mode", "dtype"), in value order:
    xsam_<kind>_name(0), (1), ... up to the first NULL. The library holds the one table of them."""
    fn = getattr(lib(), f"xsam_{kind}_name")
    out = []
    while True:
        name = fn(len(out))
        if name is None:
            return out
        out.append(name.decode())


def from_name(kind, value, what):
    """The enum value of a name, by xsam_<kind>_from_name; an unknown name raises InvalidArgumentError with
    the library's message (it lists the valid names)."""
    from .errors import InvalidArgumentError
    if not isinstance(value, str):
        raise InvalidArgumentError(f"{what}: expected a name, got {value!r}")
    out = c_int()
    if getattr(lib(), f"xsam_{kind}_from_name")(value.lower().encode(), ctypes.byref(out)) != OK:
        raise InvalidArgumentError(f"{what}: " + lib().xsam_last_error().decode())
    return out.value


def take_string(ptr):
    """Copies a malloc'd C string returned through an out-pointer and frees it with xsam_free."""
    if not ptr:
        return None
    try:
        return ctypes.string_at(ptr).decode("utf-8")
    finally:
        lib().xsam_free(ptr)


def take_bytes(ptr, size):
    """Copies a malloc'd buffer of `size` bytes and frees it with xsam_free."""
    if not ptr:
        return b""
    try:
        return ctypes.string_at(ptr, size)
    finally:
        lib().xsam_free(ptr)


def encode(text, what):
    """A Python str (or None) as UTF-8 bytes for a const char * argument."""
    if text is None:
        return None
    from ._checks import no_nul  # here: _checks imports errors, which imports this module
    if isinstance(text, bytes):
        return no_nul(text, what)
    if isinstance(text, os.PathLike):
        return no_nul(os.fsencode(text), what)
    if not isinstance(text, str):
        raise TypeError(f"{what}: expected str, got {type(text).__name__}")
    return no_nul(text.encode("utf-8"), what)
