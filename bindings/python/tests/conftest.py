"""Shared fixtures: one tiny random model per test session (written by the binding itself), one context,
and a deterministic test image. The package is imported from this source tree; the library is found
through $XSAM_BUILD_DIR (tools/test.sh sets it) or the other places xsam._lib lists."""
import os
import sys

import numpy as np
import pytest

sys.path.insert(0, os.path.abspath(os.path.join(os.path.dirname(__file__), "..")))

import xsam  # noqa: E402
from xsam_testing import IMAGE_H, IMAGE_W, PANOPTIC  # noqa: E402


@pytest.fixture(scope="session")
def model_dir(tmp_path_factory):
    return xsam.random_model(str(tmp_path_factory.mktemp("tiny") / "model"), preset="tiny", dtype="fp32", seed=0)


@pytest.fixture(scope="session")
def model(model_dir):
    with xsam.Model(model_dir, dtype="fp32", threads=1) as m:
        yield m


@pytest.fixture(scope="session")
def ctx(model):
    with model.context() as c:
        yield c


@pytest.fixture(scope="session")
def panoptic_ctx(tmp_path_factory, image):
    """A context whose random model keeps at least one panoptic segment of PANOPTIC on `image`, so that the
    panoptic checks are never vacuous. Whether a random model keeps one is chance (a segment survives only
    where its query wins over 80 % of its own mask; which weights pass flips even between fp32 and bf16),
    so the first of seeds 0..15 that does is taken; none of them doing so is a failure."""
    for seed in range(16):
        d = xsam.random_model(str(tmp_path_factory.mktemp(f"panoptic{seed}") / "model"), preset="tiny", dtype="fp32",
                              seed=seed)
        with xsam.Model(d, dtype="fp32", threads=1) as m, m.context() as c:
            if len(c.segment(image, **PANOPTIC).masks) >= 1:
                yield c
                return
    pytest.fail("no tiny random model of seeds 0..15 keeps a panoptic segment on the test image")


@pytest.fixture(scope="session")
def image():
    """A 48×64 RGB image: smooth gradients plus noise (not a constant, so every stage sees real data)."""
    rng = np.random.RandomState(0)
    y, x = np.mgrid[0:IMAGE_H, 0:IMAGE_W]
    base = np.stack([x * 4, y * 5, (x + y) * 2], axis=-1).astype(np.int32)
    return np.clip(base + rng.randint(0, 40, size=base.shape), 0, 255).astype(np.uint8)
