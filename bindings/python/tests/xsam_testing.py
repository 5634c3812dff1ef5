"""Constants the binding's tests share (a module of its own: `conftest` is a name other test folders use too)."""

# The test image is 48×64: not square, so a transposed mask or map cannot pass.
IMAGE_H, IMAGE_W = 48, 64
# The panoptic request the tests check (conftest.panoptic_ctx finds a random model that keeps a segment for it).
PANOPTIC = dict(task="panoptic", classes=["cat", "dog", "sky"], n_thing_classes=2)
