"""xsam.Model: a loaded model directory (immutable, shareable by any number of contexts)."""
import ctypes
import json
import os
import weakref

from . import _lib
from ._checks import c_integer
from ._handle import Handle
from .errors import check


class Model(Handle):
    """Loads a model directory (config.json, weights, tokenizer; see docs/model-directory.md).

        with xsam.Model("models/x-sam", dtype="fp32", threads=4) as model:
            print(model.info()["parameters"])
            with model.context() as ctx:
                result = ctx.segment(image, "ins: person, car")

    dtype: "auto" (bf16 on the avx512bf16 path or CUDA, else "mixed"), "mixed" (bf16 weights in memory, fp32
    math), "fp32" (weights converted to fp32: twice the memory) or "bf16"; device: "cpu" or "cuda"; threads: intra-op threads
    (None or 0: all physical cores); verify_checksums: check every weight file's sha256; preset: None (as
    config.json says), "aaai26" or "main"; sliding_window_keys: None (as config.json says), 0, 2047 or 2048;
    cpu: the CPU kernel path cap, None/"auto" ($XSAM_CPU or the CPU's best), "generic", "avx2", "avx512",
    "avx512bf16" (process-wide).
    Closing the model closes its contexts first.
    """

    _free_fn = "xsam_model_free"
    _kind = "model"

    def __init__(self, path, dtype="auto", threads=None, device="cpu", device_index=0, verify_checksums=False,
                 tokenizer_plugin=None, preset=None, sliding_window_keys=None, cpu=None):
        super().__init__()
        self.path = os.fspath(path)
        self._contexts = weakref.WeakSet()
        L = _lib.lib()
        p = L.xsam_model_default_params()
        p.dtype = _choice(dtype, _lib.DTYPES, "dtype")
        p.device = _choice(device, _lib.DEVICES, "device")
        p.device_index = c_integer(device_index, "device_index")
        p.n_threads = 0 if threads is None else c_integer(threads, "threads")
        p.verify_checksums = 1 if verify_checksums else 0
        p.tokenizer_plugin = _lib.encode(tokenizer_plugin, "tokenizer_plugin")
        p.preset = _lib.encode(preset, "preset")
        p.sliding_window_keys = -1 if sliding_window_keys is None else c_integer(sliding_window_keys, "sliding_window_keys")
        p.cpu = _lib.encode(cpu, "cpu")
        check(L.xsam_model_load(_lib.encode(self.path, "path"), ctypes.byref(p), ctypes.byref(self._ptr)))

    def info(self):
        """Parts, sizes, dtypes, parameter counts, presets and tasks, as a dict."""
        out = ctypes.c_void_p()
        check(_lib.lib().xsam_model_info_json(self._require_open(), ctypes.byref(out)))
        return json.loads(_lib.take_string(out))

    def context(self, max_context_tokens=0, image_cache_entries=1, max_image_pixels=None):
        """A new Context (scratch space, KV cache, per-image cache) on this model.

        max_context_tokens: KV cache length (0: the model's max_position_embeddings);
        image_cache_entries: images whose encoder outputs and prefix KV are kept (0 disables);
        max_image_pixels: larger images are refused with LimitError (None: the library's default)."""
        from .context import Context
        ctx = Context(self, max_context_tokens, image_cache_entries, max_image_pixels)
        self._contexts.add(ctx)
        return ctx

    def close(self):
        """Closes every context of this model that is still open, then frees the model."""
        for ctx in list(getattr(self, "_contexts", ())):
            ctx.close()
        super().close()

    def __repr__(self):
        return f"<xsam.Model {self.path!r}{' closed' if self.closed else ''}>"


def _choice(value, table, what):
    key = value.lower() if isinstance(value, str) else value
    if key not in table:
        from .errors import InvalidArgumentError
        raise InvalidArgumentError(f"{what}: expected one of {', '.join(table)}, got {value!r}")
    return table[key]
