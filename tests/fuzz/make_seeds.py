#!/usr/bin/python3
"""Writes the committed seed corpora tests/fuzz/corpus/<target>/ (small on purpose).

Run from anywhere with Debian's python3 (it has python3-pil): /usr/bin/python3 tests/fuzz/make_seeds.py
Inputs found by fuzzing that once crashed are added by hand as corpus/<target>/regress-*; this script
never deletes files, it only (re)writes the seed-* ones.
"""
import io
import json
import os
import struct

from PIL import Image

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))


def out(target, name, data):
    d = os.path.join(HERE, "corpus", target)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, "seed-" + name), "wb") as f:
        f.write(data if isinstance(data, bytes) else data.encode())


class Enc:
    """Mirrors tests/fuzz/fuzz_input.h: what a reader will read, in order."""

    def __init__(self):
        self.b = bytearray()

    def byte(self, v):
        self.b.append(v & 0xFF)

    def flag(self, v):
        self.byte(1 if v else 0)

    def u32(self, v):
        self.b += struct.pack(">I", v & 0xFFFFFFFF)

    def range(self, lo, hi, v):
        assert lo <= v <= hi
        self.u32(v - lo)

    def float_in(self, lo, hi, v):
        self.byte(255)  # >= 16: scaled, not raw bits
        self.u32(round((v - lo) / (hi - lo) * 100000))

    def str(self, s):
        s = s.encode() if isinstance(s, str) else s
        self.byte(len(s))
        self.b += s

    def raw(self, data):
        self.b += data


# ---------------------------------------------------------------- safetensors header
def st_file(header, data_len):
    h = json.dumps(header).encode()
    return struct.pack("<Q", len(h)) + h + b"\0" * data_len


out("safetensors_header", "two-tensors", st_file(
    {"a": {"dtype": "F32", "shape": [2, 3], "data_offsets": [0, 24]},
     "b": {"dtype": "BF16", "shape": [4], "data_offsets": [24, 32]}}, 32))
out("safetensors_header", "metadata", st_file(
    {"__metadata__": {"format": "pt"}, "x": {"dtype": "I64", "shape": [], "data_offsets": [0, 8]}}, 8))
out("safetensors_header", "empty", st_file({}, 0))
out("safetensors_header", "all-dtypes", st_file(
    {k: {"dtype": k, "shape": [1], "data_offsets": [i * 8, i * 8 + s]}
     for i, (k, s) in enumerate([("F32", 4), ("F16", 2), ("BF16", 2), ("I64", 8), ("I32", 4), ("U8", 1), ("BOOL", 1)])},
    56))
out("safetensors_header", "big-shape", st_file(
    {"h": {"dtype": "I64", "shape": [1099511627776, 4194304], "data_offsets": [0, 0]}}, 0))
out("safetensors_header", "zero-dim", st_file({"z": {"dtype": "F32", "shape": [0, 5], "data_offsets": [0, 0]}}, 0))

# ---------------------------------------------------------------- config
golden_cfg = os.path.join(ROOT, "tests/data/golden/aaai26-tiny/config.json")
with open(golden_cfg, "rb") as f:
    out("config", "upstream-golden.json", f.read())
tiny_cfg = os.environ.get("XSAM_TINY_CONFIG")  # an xsam-model config.json (xsam random-model --preset tiny)
if tiny_cfg:
    with open(tiny_cfg, "rb") as f:
        out("config", "xsam-tiny.json", f.read())
out("config", "minimal-bad.json", '{"format": "xsam-model", "format_version": 1, "preset": "aaai26"}')


# ---------------------------------------------------------------- images
def png(img, **kw):
    b = io.BytesIO()
    img.save(b, format="PNG", **kw)
    return b.getvalue()


def grad(mode, w=9, h=7):
    img = Image.new("RGB", (w, h))
    img.putdata([((x * 29) % 256, (y * 37) % 256, (x * y * 11) % 256) for y in range(h) for x in range(w)])
    return img.convert(mode)


def saved(img, fmt, **kw):
    b = io.BytesIO()
    img.save(b, format=fmt, **kw)
    return b.getvalue()


out("image", "rgb.png", png(grad("RGB")))
out("image", "rgba.png", png(grad("RGBA")))
out("image", "gray.png", png(grad("L")))
out("image", "palette.png", png(grad("P")))
out("image", "bilevel.png", png(grad("1")))
out("image", "gray16.png", png(grad("L").convert("I").point(lambda v: v * 200)))
out("image", "rgb.jpg", saved(grad("RGB", 16, 16), "JPEG", quality=80))
out("image", "gray.jpg", saved(grad("L", 16, 8), "JPEG", quality=80))
out("image", "rgb.bmp", saved(grad("RGB"), "BMP"))
out("image", "rgb.tiff", saved(grad("RGB"), "TIFF"))
out("image", "rgb.webp", saved(grad("RGB"), "WEBP", lossless=True))
out("image", "tall.png", png(grad("RGB", 1, 40)))
out("image", "wide.png", png(grad("RGB", 300, 1)))


# ---------------------------------------------------------------- refs (tests/fuzz/fuzz_refs.cpp order)
def refs_seed(w, h, refs, point_radius=10, scribble_radius=5):
    e = Enc()
    e.range(-2, 300, w)
    e.range(-2, 300, h)
    e.range(-1, 40, point_radius)
    e.range(-1, 20, scribble_radius)
    e.range(0, 4, len(refs))
    for kind, payload in refs:
        e.range(0, 4, kind)
        if kind == 3:  # mask: same size, one rectangle of value 1
            e.flag(True)
            e.flag(True)
            e.range(0, 3, 1)
            x0, y0, x1, y1 = payload
            e.range(0, w - 1, x0)
            e.range(0, h - 1, y0)
            e.range(x0, w, x1)
            e.range(y0, h, y1)
            e.byte(1)
        else:
            e.range(0, 12, len(payload))
            for v in payload:
                e.float_in(-10.0, max(w, h) + 10.0, v)
    return bytes(e.b)


out("refs", "point", refs_seed(64, 48, [(0, [10.5, 20.25])]))
out("refs", "box", refs_seed(64, 48, [(1, [4, 5, 30.5, 40])]))
out("refs", "scribble", refs_seed(100, 80, [(2, [5, 5, 50, 60, 90, 10])]))
out("refs", "mask", refs_seed(40, 30, [(3, (3, 4, 20, 25))]))
out("refs", "mixed", refs_seed(120, 90, [(0, [1, 1, 100, 80]), (1, [0, 0, 120, 90]), (2, [60, 45]), (3, (0, 0, 1, 1))]))


# ---------------------------------------------------------------- C API (tests/fuzz/fuzz_c_api.cpp order)
TASK = dict(auto=0, chat=1, semantic=2, instance=3, panoptic=4, referring=5, reasoning=6, gcg=7,
            interactive=8, vgd=9, open_vocab=10)


def api_seed(task, prompt, classes=(), n_things=0, refs=(), mode=0, max_new=3, w=24, h=18, fmt=0,
             question=None, answer=None, sampling=None, cancel=None):
    e = Enc()
    e.range(1, 48, w)
    e.range(1, 48, h)
    e.range(0, 4, fmt)
    e.range(0, 3, 0)  # stride padding
    e.range(1, 16, 4)
    e.raw(bytes([10, 80, 160, 240]))
    e.flag(False)  # explicit stride
    e.range(0, 11, TASK[task])
    e.range(0, 3, mode)
    e.byte(200)  # prompt not NULL
    e.str(prompt)
    e.range(0, 3, len(classes))
    for c in classes:
        e.str(c)
    e.range(0, len(classes) + 1, n_things)
    e.range(0, 2, len(refs))
    for kind, payload in refs:
        e.range(0, 4, kind)
        if kind == 3:
            e.flag(True)
            e.flag(True)
            x0, y0, x1, y1 = payload
            e.range(0, w - 1, x0)
            e.range(0, h - 1, y0)
            e.range(x0, w, x1)
            e.range(y0, h, y1)
            e.byte(1)
        else:
            e.range(0, 8, len(payload))
            for v in payload:
                e.float_in(-4.0, 52.0, v)
    if question is None:
        e.byte(255)
    else:
        e.byte(0)
        e.str(question)
    if answer is None:
        e.byte(255)
    else:
        e.byte(0)
        e.str(answer)
    e.flag(False)  # add_bos
    e.range(-1, 6, max_new)
    if sampling:
        e.flag(True)
        t, k, p = sampling
        e.float_in(-0.5, 2.0, t)
        e.range(-1, 40, k)
        e.float_in(-0.1, 1.2, p)
    else:
        e.flag(False)
    e.u32(0)  # seed
    e.range(-1, 12, 0)
    e.range(-1, 12, 0)
    e.flag(False)  # thresholds
    if cancel is None:
        e.flag(False)
    else:
        e.flag(True)
        e.range(-1, 3, cancel)
    return bytes(e.b)


out("c_api", "semantic", api_seed("semantic", "", classes=["wall", "sky"]))
out("c_api", "panoptic", api_seed("panoptic", "", classes=["cat", "dog", "grass"], n_things=2))
out("c_api", "instance-prompt", api_seed("auto", "ins: cat, dog"))
out("c_api", "referring", api_seed("referring", "the red car"))
out("c_api", "reasoning", api_seed("reasoning", "what can I sit on?"))
out("c_api", "gcg-generate", api_seed("gcg", "", mode=2, max_new=4))
out("c_api", "chat-generate", api_seed("chat", "describe the image", max_new=5))
out("c_api", "chat-sampling", api_seed("chat", "hello", max_new=4, sampling=(0.8, 5, 0.9)))
out("c_api", "chat-cancel", api_seed("chat", "hello", max_new=5, cancel=1))
out("c_api", "interactive-box", api_seed("interactive", "", refs=[(1, [2, 3, 15, 12])]))
out("c_api", "interactive-point", api_seed("interactive", "", refs=[(0, [5, 6])]))
out("c_api", "vgd-points", api_seed("vgd", "", refs=[(0, [5, 6]), (2, [1, 1, 20, 15])]))
out("c_api", "vgd-mask", api_seed("vgd", "", refs=[(3, (2, 2, 10, 9))]))
out("c_api", "open-vocab", api_seed("open_vocab", "", classes=["a", "b"], n_things=1))
out("c_api", "explicit-qa", api_seed("referring", "x", question="Please segment <p>cat</p>.",
                                     answer="<p>cat</p> <SEG>."))
out("c_api", "gray-image", api_seed("semantic", "sem: sky", fmt=3))
out("c_api", "rgba-image", api_seed("semantic", "sem: sky", fmt=1))
