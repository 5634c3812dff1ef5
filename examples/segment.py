#!/usr/bin/env python3
"""segment.py — the Python binding in one page: load a model, segment one image, print the masks, write
the result as JSON, an overlay PNG and one PNG per mask.

    python3 examples/segment.py MODEL_DIR IMAGE [PROMPT] [--task T] [--classes a,b] [--things N]
                                [--point x,y] [--box x0,y0,x1,y1] [--out PREFIX]

Without --task the task is inferred: refs → interactive (one) or VGD (several), classes or
"ins: a; sem: b" → generic segmentation, other text → chat (streamed as it is generated).
Needs numpy; finds libxsam.so via $XSAM_LIBRARY, $XSAM_BUILD_DIR/lib or the source tree's build/lib.
"""
import argparse
import os
import sys

try:
    import xsam
except ImportError:  # run from a source tree: use the binding next door
    sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "bindings", "python"))
    import xsam


def floats(text, n=None):
    values = [float(v) for v in text.split(",")]
    if n is not None and len(values) != n:
        raise argparse.ArgumentTypeError(f"expected {n} comma-separated numbers, got {text!r}")
    return values


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("model_dir")
    ap.add_argument("image")
    ap.add_argument("prompt", nargs="?")
    ap.add_argument("--task", default="auto", choices=xsam.TASKS)
    ap.add_argument("--classes", type=lambda s: [c.strip() for c in s.split(",") if c.strip()])
    ap.add_argument("--things", type=int, help="the first N classes are things, the rest stuff")
    ap.add_argument("--point", action="append", default=[], type=lambda s: floats(s, 2))
    ap.add_argument("--box", action="append", default=[], type=lambda s: floats(s, 4))
    ap.add_argument("--out", default="segment-py-out", help="output prefix")
    ap.add_argument("--max-new-tokens", type=int, default=64)
    args = ap.parse_args(argv)

    refs = [xsam.Point(*p) for p in args.point] + [xsam.Box(*b) for b in args.box]
    image = xsam.load_image(args.image)  # H×W×3 uint8 numpy array
    print(f"xsam {xsam.version()} ({xsam.library_path()}), image {image.shape[1]}×{image.shape[0]}")

    def stream(piece, token_id):
        print(piece, end="", flush=True)  # return False to stop generating (xsam.CancelledError)

    try:
        with xsam.Model(args.model_dir, dtype="fp32") as model, model.context() as ctx:
            with ctx.segment(image, args.prompt, task=args.task, refs=refs, classes=args.classes,
                             n_thing_classes=args.things, max_new_tokens=args.max_new_tokens,
                             on_token=stream) as result:
                print(f"\ntask {result.task}, text: {result.text!r}")
                for i, (mask, label, score, box) in enumerate(zip(result.masks, result.labels, result.scores,
                                                                  result.boxes)):
                    print(f"mask {i}: {label} (score {score:.3f}) box {box.tolist()} area {int(mask.sum())}")
                    with open(f"{args.out}.mask{i}.png", "wb") as f:
                        f.write(result.mask_png(i))
                if result.panoptic_map is not None or result.semantic_map is not None:
                    with open(f"{args.out}.map.png", "wb") as f:
                        f.write(result.map_png())
                with open(f"{args.out}.json", "w") as f:
                    f.write(result.to_json())
                with open(f"{args.out}.png", "wb") as f:
                    f.write(result.overlay_png(image))
                print(f"timings: { {k: round(v, 3) for k, v in result.timings.items()} }")
                print(f"wrote {args.out}.json and {args.out}.png")
    except xsam.Error as e:
        print(f"xsam error ({e.status_name}): {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
