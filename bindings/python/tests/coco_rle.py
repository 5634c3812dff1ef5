"""An independent COCO RLE codec written from the format's definition (pycocotools' maskApi.c is not in
Debian, docs/design/decisions.md#coco-rle): runs over the mask in column-major (Fortran) order, alternating
0s and 1s and starting with a run of 0s; the compressed string stores each count (from the fourth on, as the difference
to the count two places before) in 5-bit groups, least significant first, each + 48 as a character, with
0x20 set while more groups follow and 0x10 the sign bit of the last group."""
import numpy as np


def decode_counts(s):
    counts = []
    p = 0
    while p < len(s):
        x, k, more = 0, 0, True
        while more:
            c = ord(s[p]) - 48
            x |= (c & 0x1F) << (5 * k)
            more = bool(c & 0x20)
            p += 1
            k += 1
            if not more and (c & 0x10):
                x |= -1 << (5 * k)
        if len(counts) > 2:
            x += counts[-2]
        counts.append(x)
    return counts


def encode_counts(counts):
    out = []
    for i, x in enumerate(counts):
        if i > 2:
            x -= counts[i - 2]
        more = True
        while more:
            c = x & 0x1F
            x >>= 5
            # Stop once the rest is pure sign extension of the group just written.
            more = (x != -1) if (c & 0x10) else (x != 0)
            if more:
                c |= 0x20
            out.append(chr(c + 48))
    return "".join(out)


def runs(mask):
    """Run lengths of a boolean H×W mask in column-major order, starting with zeros."""
    flat = np.asarray(mask, dtype=bool).flatten(order="F")
    counts = []
    current, n = False, 0
    for v in flat:
        if v != current:
            counts.append(n)
            current, n = v, 0
        n += 1
    counts.append(n)
    return counts


def decode(rle):
    """{"size": [h, w], "counts": str} → boolean H×W array."""
    h, w = rle["size"]
    counts = decode_counts(rle["counts"])
    if sum(counts) != h * w:
        raise ValueError(f"RLE counts sum to {sum(counts)}, expected {h * w}")
    flat = np.zeros(h * w, dtype=bool)
    pos, value = 0, False
    for n in counts:
        if n < 0:
            raise ValueError("negative run length")
        flat[pos:pos + n] = value
        pos += n
        value = not value
    return flat.reshape((h, w), order="F")
