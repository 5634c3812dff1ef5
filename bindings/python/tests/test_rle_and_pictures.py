"""The JSON's COCO RLE masks, decoded by the independent codec in coco_rle.py, equal the binding's numpy
masks; the PNGs the library renders decode (with PIL) to what they should show."""
import io

import numpy as np
import pytest
from PIL import Image

import xsam
import coco_rle
from xsam_testing import IMAGE_H, IMAGE_W, PANOPTIC


def test_codec_known_answers():
    # Worked by hand from the definition: [0, 4] → "0", "4"; [100] → 100 = 3·32 + 4 → "T" (4|0x20 + 48), "3".
    assert coco_rle.encode_counts([0, 4]) == "04"
    assert coco_rle.encode_counts([100]) == "T3"
    assert coco_rle.decode_counts("T3") == [100]
    # Third count on: stored as a difference, which may be negative (sign bit 0x10 on the last group).
    assert coco_rle.encode_counts([1, 2, 3, 1]) == "123O"  # 1-2 = -1 → 0x1F → chr(79) = "O"
    assert coco_rle.decode_counts("123O") == [1, 2, 3, 1]
    m = np.array([[0, 1], [1, 1]], dtype=bool)  # column-major: 0,1 | 1,1 → runs [1, 3]
    assert coco_rle.runs(m) == [1, 3]
    assert np.array_equal(coco_rle.decode({"size": [2, 2], "counts": "13"}), m)


def test_codec_round_trips_random_masks():
    rng = np.random.RandomState(1)
    for _ in range(50):
        h, w = rng.randint(1, 40, size=2)
        m = rng.rand(h, w) < rng.rand()
        counts = coco_rle.runs(m)
        s = coco_rle.encode_counts(counts)
        assert coco_rle.decode_counts(s) == counts
        assert np.array_equal(coco_rle.decode({"size": [h, w], "counts": s}), m)


REQUESTS = {
    "instance": dict(task="instance", classes=["cat", "dog"], score_threshold=0.0),
    "panoptic": PANOPTIC,
    "semantic": dict(task="semantic", classes=["sky", "grass", "road"]),
    "referring": dict(task="referring", classes=["the cat", "the dog"]),
    "vgd": dict(task="vgd", refs=[xsam.Box(1, 1, 30, 30), xsam.Point(50, 30)], score_threshold=0.0),
}


@pytest.mark.parametrize("name", sorted(REQUESTS))
def test_json_masks_equal_numpy_masks(ctx, panoptic_ctx, image, name):
    r = (panoptic_ctx if name == "panoptic" else ctx).segment(image, **REQUESTS[name])
    j = r.json()
    assert len(j["masks"]) == len(r.masks) >= 1
    assert (j["width"], j["height"]) == (IMAGE_W, IMAGE_H)
    for i, (jm, m) in enumerate(zip(j["masks"], r.masks)):
        seg = jm["segmentation"]
        assert seg["size"] == [IMAGE_H, IMAGE_W]
        assert np.array_equal(coco_rle.decode(seg), m), f"mask {i}"
        # The library's encoder agrees with ours character for character, and with its own accessor.
        assert seg["counts"] == coco_rle.encode_counts(coco_rle.runs(m)) == r.mask_rle(i)
        assert jm["area"] == int(m.sum())
        assert jm["box"] == r.boxes[i].tolist()
        assert jm["label_id"] == r.label_ids[i]


def test_mask_png_is_the_mask(ctx, image):
    r = ctx.segment(image, task="referring", classes=["the cat", "the dog"])
    for i, m in enumerate(r.masks):
        png = Image.open(io.BytesIO(r.mask_png(i)))
        assert png.size == (IMAGE_W, IMAGE_H)
        a = np.asarray(png.convert("L"))
        assert set(np.unique(a)) <= {0, 255}
        assert np.array_equal(a == 255, m)


def test_overlay_png(ctx, image):
    r = ctx.segment(image, task="referring", classes=["the cat"])
    png = r.overlay_png(image)
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    ov = np.asarray(Image.open(io.BytesIO(png)).convert("RGB"))
    assert ov.shape == image.shape
    # Blended where the mask is: the colour changes inside it.
    inside = r.masks[0]
    assert (ov[inside] != image[inside]).any()
    with pytest.raises(xsam.InvalidArgumentError, match="not the size of the result"):
        r.overlay_png(image[:10])


def test_overlay_without_masks_is_the_image(ctx, image):
    r = ctx.segment(image, "Hello", task="chat", max_new_tokens=1)
    ov = np.asarray(Image.open(io.BytesIO(r.overlay_png(image))).convert("RGB"))
    assert np.array_equal(ov, image)


def test_load_and_decode_image_match_pil(tmp_path, image):
    path = tmp_path / "a.png"
    Image.fromarray(image).save(path)
    assert np.array_equal(xsam.load_image(path), image)
    assert np.array_equal(xsam.decode_image(path.read_bytes()), image)
    # Palette and grey PNGs are expanded as PIL's convert("RGB") does.
    pal = Image.fromarray(image).convert("P")
    pal.save(tmp_path / "p.png")
    assert np.array_equal(xsam.load_image(tmp_path / "p.png"), np.asarray(pal.convert("RGB")))
    grey = Image.fromarray(image).convert("L")
    grey.save(tmp_path / "g.png")
    assert np.array_equal(xsam.load_image(tmp_path / "g.png"), np.asarray(grey.convert("RGB")))


def test_map_png(ctx, image):
    sem = ctx.segment(image, task="semantic", classes=["sky", "grass", "road"])
    a = np.asarray(Image.open(io.BytesIO(sem.map_png())))
    assert a.shape == (IMAGE_H, IMAGE_W)
    assert np.array_equal(a.astype(np.int32), sem.semantic_map + 1)  # class index + 1, 0 = none
    pan = ctx.segment(image, task="panoptic", classes=["cat", "dog", "sky"], n_thing_classes=2)
    b = np.asarray(Image.open(io.BytesIO(pan.map_png())))
    assert np.array_equal(b.astype(np.int32), pan.panoptic_map)
    ref = ctx.segment(image, "the cat", task="referring")
    with pytest.raises(xsam.InvalidArgumentError):
        ref.map_png()


def test_mask_files_load_as_upstream_cli(ctx, image, tmp_path):
    # Grey > 128 is inside (PIL convert("L") first): 128 is out, 129 in; colours go through the grey weights.
    rgb = np.zeros((IMAGE_H, IMAGE_W, 3), np.uint8)
    rgb[5:20, 5:30] = 129
    rgb[25:30, 5:30] = 128
    rgb[30:40, 40:60] = (255, 0, 0)   # L = 76: out
    rgb[40:45, 40:60] = (0, 255, 0)   # L = 150: in
    Image.fromarray(rgb).save(tmp_path / "m.png")
    want = np.asarray(Image.fromarray(rgb).convert("L")) > 128
    got = xsam.load_mask(tmp_path / "m.png")
    assert got.dtype == np.bool_ and np.array_equal(got, want)
    a = ctx.segment(image, refs=[xsam.MaskRef.load(tmp_path / "m.png")], task="interactive", score_threshold=0.0)
    b = ctx.segment(image, refs=[xsam.MaskRef(want)], task="interactive", score_threshold=0.0)
    assert np.array_equal(a.masks[0], b.masks[0])
    with pytest.raises(xsam.InputOutputError, match="missing.png"):
        xsam.load_mask(tmp_path / "missing.png")
