"""The one pattern every handle class follows: a C pointer freed exactly once, by close(), by leaving a
`with` block, or (as a last resort) when the object is garbage-collected."""
import ctypes

from . import _lib


class Handle:
    _free_fn = None  # name of the xsam_*_free function
    _kind = "handle"

    def __init__(self):
        self._ptr = ctypes.c_void_p()

    @property
    def closed(self):
        return not self._ptr

    def _require_open(self):
        if not self._ptr:
            raise ValueError(f"this {self._kind} is closed")
        return self._ptr

    def close(self):
        """Frees the C object now. Safe to call twice."""
        ptr = getattr(self, "_ptr", None)
        if ptr:
            self._ptr = ctypes.c_void_p()
            getattr(_lib.lib(), self._free_fn)(ptr)

    def __enter__(self):
        self._require_open()
        return self

    def __exit__(self, *exc):
        self.close()

    def __del__(self):
        try:
            self.close()
        except Exception:  # interpreter shutdown: the library may be gone already
            pass
