"""Visual references for interactive segmentation and visual grounding (tasks "interactive", "vgd").

Coordinates are floats in original-image pixels, origin top-left, x right, y down. The library draws
points, boxes and scribbles itself, as upstream's prompt generators do (docs/visual-refs.md: point radius
10, scribble radius 5, box far edges exclusive); region k of the prompt is refs[k].
"""
import ctypes
from dataclasses import dataclass, field
from typing import Sequence, Tuple

import numpy as np

from . import _lib


@dataclass(frozen=True)
class Point:
    """One click at (x, y)."""
    x: float
    y: float

    def _coords(self):
        return [self.x, self.y]


@dataclass(frozen=True)
class Points:
    """Several clicks that together mark one region."""
    points: Sequence[Tuple[float, float]]

    def _coords(self):
        return [float(c) for p in self.points for c in p]


@dataclass(frozen=True)
class Box:
    """A box with corners (x0, y0) and (x1, y1); the far edges are exclusive."""
    x0: float
    y0: float
    x1: float
    y1: float

    def _coords(self):
        return [self.x0, self.y0, self.x1, self.y1]


@dataclass(frozen=True)
class Scribble:
    """A polyline through the given (x, y) vertices, drawn 11 pixels wide."""
    points: Sequence[Tuple[float, float]]

    def _coords(self):
        return [float(c) for p in self.points for c in p]


@dataclass(frozen=True, eq=False)
class MaskRef:
    """A region given as an H×W array of the image's size; every non-zero element is inside."""
    mask: np.ndarray = field(repr=False)

    @classmethod
    def load(cls, path):
        """A mask ref from a PNG file, read as upstream's CLI does (grey value > 128 is inside)."""
        from .images import load_mask
        return cls(load_mask(path))


_KIND = {Point: _lib.REF_POINT, Points: _lib.REF_POINT, Box: _lib.REF_BOX, Scribble: _lib.REF_SCRIBBLE,
         MaskRef: _lib.REF_MASK}


class CRefs:
    """An xsam_visual_ref array for a list of refs, owning every buffer it points into."""

    def __init__(self, refs):
        refs = list(refs or [])
        self.count = len(refs)
        self._keep = []
        self.array = (_lib.VisualRef * max(self.count, 1))()
        for i, ref in enumerate(refs):
            kind = _KIND.get(type(ref))
            if kind is None:
                raise TypeError(f"refs[{i}]: expected xsam.Point, Points, Box, Scribble or MaskRef, "
                                f"got {type(ref).__name__}")
            c = self.array[i]
            c.kind = kind
            if kind == _lib.REF_MASK:
                m = np.asarray(ref.mask)
                if m.ndim != 2:
                    raise ValueError(f"refs[{i}] (mask): expected a 2-D array, got shape {m.shape}")
                m = np.ascontiguousarray(m != 0, dtype=np.uint8)
                self._keep.append(m)
                if m.size:
                    c.mask = m.ctypes.data_as(ctypes.POINTER(ctypes.c_uint8))
                c.mask_height, c.mask_width = m.shape
            else:
                xy = np.ascontiguousarray(ref._coords(), dtype=np.float32)
                self._keep.append(xy)
                if xy.size:
                    c.xy = xy.ctypes.data_as(ctypes.POINTER(ctypes.c_float))
                c.n_xy = xy.size

    @property
    def pointer(self):
        return self.array if self.count else None
