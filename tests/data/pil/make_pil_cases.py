#!/usr/bin/python3
"""Writes tests/data/pil/: PIL reference outputs for the image layer's bit-exactness tests.

Run once with Debian's python3-pil / python3-numpy (PIL 9.4.0, the version the golden sets used):

    /usr/bin/python3 tests/data/pil/make_pil_cases.py

Outputs (deterministic; re-running gives the same bytes):
  pil_cases.safetensors   resize references + decode references (see below)
  decode/*.{png,jpg,bmp,webp,tif}  small files in every PNG mode and a few other formats

Resize cases. The source pixels are not stored: both sides compute them with `source_pixel` below (a
multiplicative hash, i.e. noise, the hardest input for the fixed-point rounding).
  resize.<i>.sizes      I64 [4]  in_w, in_h, out_w, out_h
  resize.<i>.bilinear   U8 [out_h, out_w, 3]  Image.resize((out_w, out_h), BILINEAR) of the RGB source
  resize.<i>.bicubic    U8 [out_h, out_w, 3]  same with BICUBIC
  nearest.<i>.sizes     I64 [4]
  nearest.<i>.out       U8 [out_h, out_w]     Image.resize(..., NEAREST) of the L (one channel) source
Decode cases, for every file decode/<name>:
  decode.<name>.rgb     U8 [h, w, 3]  np.array(Image.open(f).convert("RGB"))
  decode.<name>.mask    U8 [h, w]     np.array(Image.open(f).convert("L")) > 128 (upstream load_image(mode="L"))

The safetensors format is written by hand (there is no safetensors module here): u64 little-endian header
length, JSON header, raw little-endian data.
"""
import io
import json
import os
import random
import struct
import zlib

import numpy as np
from PIL import Image

HERE = os.path.dirname(os.path.abspath(__file__))


def source_pixels(case, h, w, c):
    """Deterministic noise over the HWC index: the top byte of lowbias32(idx + case * 0x9E3779B9 + 1)
    (Chris Wellons' 32-bit integer hash; all arithmetic mod 2^32). The C++ tests compute the same."""
    m = np.uint64(0xFFFFFFFF)
    x = (np.arange(h * w * c, dtype=np.uint64) + np.uint64((case * 0x9E3779B9 + 1) & 0xFFFFFFFF)) & m
    x ^= x >> np.uint64(16)
    x = (x * np.uint64(0x7FEB352D)) & m
    x ^= x >> np.uint64(15)
    x = (x * np.uint64(0x846CA68B)) & m
    x ^= x >> np.uint64(16)
    return (x >> np.uint64(24)).astype(np.uint8).reshape((h, w, c) if c > 1 else (h, w))


def write_safetensors(path, tensors, metadata):
    dtypes = {np.dtype(np.uint8): "U8", np.dtype(np.int64): "I64"}
    header, blobs, offset = {}, [], 0
    for name, arr in tensors:
        arr = np.ascontiguousarray(arr)
        data = arr.astype(arr.dtype.newbyteorder("<")).tobytes()
        header[name] = {"dtype": dtypes[arr.dtype], "shape": list(arr.shape), "data_offsets": [offset, offset + len(data)]}
        blobs.append(data)
        offset += len(data)
    header["__metadata__"] = metadata
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * ((8 - len(text) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)))
        f.write(text)
        for b in blobs:
            f.write(b)


def raw_png(arr, bit_depth, color_type):
    """A PNG written by hand (PIL cannot write 16-bit RGB / RGBA / LA)."""
    h, w = arr.shape[:2]
    fmt = ">u2" if bit_depth == 16 else "u1"
    raw = b"".join(b"\x00" + arr[y].astype(fmt).tobytes() for y in range(h))

    def chunk(tag, data):
        return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", zlib.crc32(tag + data) & 0xFFFFFFFF)

    ihdr = struct.pack(">IIBBBBB", w, h, bit_depth, color_type, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(raw, 9)) + chunk(b"IEND", b"")


def resize_cases():
    rng = random.Random(20240611)
    fixed = [
        (5, 7, 5, 3),     # width kept: the horizontal pass is skipped
        (9, 4, 3, 4),     # height kept: the vertical pass is skipped
        (1, 1, 17, 9),    # one pixel up
        (23, 19, 1, 1),   # down to one pixel
        (150, 6, 4, 6),   # strong horizontal reduction (support 37.5 px)
        (6, 150, 6, 5),   # strong vertical reduction
        (3, 2, 64, 40),   # strong enlargement
        (62, 97, 40, 40), # the golden portrait's aspect, downscaled
    ]
    pairs = list(fixed)
    while len(pairs) < 40:
        in_w, in_h = rng.randint(1, 96), rng.randint(1, 96)
        out_w, out_h = rng.randint(1, 64), rng.randint(1, 64)
        pairs.append((in_w, in_h, out_w, out_h))
    return pairs


def nearest_cases():
    rng = random.Random(7)
    pairs = [
        (3, 240, 2, 171),   # spec 4.3: the step sum gives row 119 at d = 85 where the closed form gives 120
        (3, 240, 3, 683),   # photo 360x240 at full size (1024 x 683)
        (257, 131, 256, 130),
        (62, 97, 164, 256),
        (360, 240, 256, 171),
    ]
    while len(pairs) < 64:
        a_in, a_out = rng.randint(1, 600), rng.randint(1, 600)
        b_in, b_out = rng.randint(1, 6), rng.randint(1, 6)
        pairs.append((a_in, b_in, a_out, b_out) if len(pairs) % 2 else (b_in, a_in, b_out, a_out))
    return pairs


def decode_files():
    """name -> file bytes; every PNG colour type and bit depth, plus JPEG/BMP/WebP/TIFF."""
    out = {}
    h, w = 12, 16
    rgb = source_pixels(900, h, w, 3)
    alpha = source_pixels(901, h, w, 1)
    grey = source_pixels(902, h, w, 1)

    def saved(im, fmt, **kw):
        buf = io.BytesIO()
        im.save(buf, fmt, **kw)
        return buf.getvalue()

    out["rgb8.png"] = saved(Image.fromarray(rgb, "RGB"), "PNG")
    out["rgba8.png"] = saved(Image.fromarray(np.dstack([rgb, alpha]), "RGBA"), "PNG")
    out["la8.png"] = saved(Image.fromarray(np.dstack([grey, alpha]), "LA"), "PNG")
    out["l8.png"] = saved(Image.fromarray(grey, "L"), "PNG")
    pal = Image.fromarray(rgb, "RGB").quantize(colors=13)
    out["p8.png"] = saved(pal, "PNG")
    out["p8_trns.png"] = saved(pal, "PNG", transparency=3)
    out["l1.png"] = saved(Image.fromarray(grey > 128).convert("1"), "PNG")
    vals16 = np.array([0, 1, 127, 128, 129, 255, 256, 257, 383, 384, 32767, 32768, 33023, 65280, 65534, 65535], np.uint16)
    g16 = np.tile(vals16, (h, 1))
    out["l16.png"] = raw_png(g16, 16, 0)
    out["rgb16.png"] = raw_png(np.dstack([g16, g16[:, ::-1], (g16 * 3) % 65536]), 16, 2)
    out["rgba16.png"] = raw_png(np.dstack([g16, g16[:, ::-1], g16, np.full_like(g16, 1000)]), 16, 6)
    out["la16.png"] = raw_png(np.dstack([g16, np.full_like(g16, 7)]), 16, 4)
    out["rgb.jpg"] = saved(Image.fromarray(rgb, "RGB"), "JPEG", quality=90)
    out["l.jpg"] = saved(Image.fromarray(grey, "L"), "JPEG", quality=90)
    exif = Image.Exif()
    exif[0x0112] = 6  # orientation "rotate 90 CW": PIL ignores it in open/convert, so must we
    out["rgb_exif6.jpg"] = saved(Image.fromarray(rgb, "RGB"), "JPEG", quality=90, exif=exif.tobytes())
    out["rgb.bmp"] = saved(Image.fromarray(rgb, "RGB"), "BMP")
    out["rgba.webp"] = saved(Image.fromarray(np.dstack([rgb, alpha]), "RGBA"), "WEBP", lossless=True)
    out["rgb.tif"] = saved(Image.fromarray(rgb, "RGB"), "TIFF")
    return out


def main():
    tensors = []
    for i, (in_w, in_h, out_w, out_h) in enumerate(resize_cases()):
        src = Image.fromarray(source_pixels(i, in_h, in_w, 3), "RGB")
        tensors.append((f"resize.{i}.sizes", np.array([in_w, in_h, out_w, out_h], np.int64)))
        tensors.append((f"resize.{i}.bilinear", np.array(src.resize((out_w, out_h), Image.BILINEAR))))
        tensors.append((f"resize.{i}.bicubic", np.array(src.resize((out_w, out_h), Image.BICUBIC))))
    for i, (in_w, in_h, out_w, out_h) in enumerate(nearest_cases()):
        src = Image.fromarray(source_pixels(1000 + i, in_h, in_w, 1), "L")
        tensors.append((f"nearest.{i}.sizes", np.array([in_w, in_h, out_w, out_h], np.int64)))
        tensors.append((f"nearest.{i}.out", np.array(src.resize((out_w, out_h), Image.NEAREST))))

    os.makedirs(os.path.join(HERE, "decode"), exist_ok=True)
    files = decode_files()
    for name in sorted(files):
        path = os.path.join(HERE, "decode", name)
        with open(path, "wb") as f:
            f.write(files[name])
        with Image.open(path) as im:
            tensors.append((f"decode.{name}.rgb", np.array(im.convert("RGB"))))
        with Image.open(path) as im:
            tensors.append((f"decode.{name}.mask", (np.array(im.convert("L")) > 128).astype(np.uint8)))

    import PIL
    metadata = {
        "generator": "tests/data/pil/make_pil_cases.py",
        "pil_version": PIL.__version__,
        "resize_cases": str(len(resize_cases())),
        "nearest_cases": str(len(nearest_cases())),
        "decode_files": ",".join(sorted(files)),
    }
    write_safetensors(os.path.join(HERE, "pil_cases.safetensors"), tensors, metadata)


if __name__ == "__main__":
    main()
