"""HF `preprocessor_config.json` files (SigLIP's and SAM's), checked against config.json's `preprocess`.

xsam builds its preprocessing from config.json alone (src/image/preprocess.h); upstream builds it from
these files (`SiglipProcessor.from_pretrained(siglip2-so400m-patch14-384)`,
`SamImageProcessor.from_pretrained(sam-vit-large)` in the s3 config). When they are given, every value
xsam implements must agree, or the export stops with each difference named:
  SigLIP: size {height, width} = preprocess.siglip_size; resample (PIL code) = siglip_resample;
          image_mean/image_std = siglip_mean/siglip_std;
  SAM:    size {longest_edge} = preprocess.sam_size; pad_size {height, width} = sam_size (when present);
          resample = sam_resample; image_mean/image_std = sam_mean/sam_std;
  both:   do_resize, do_rescale, do_normalize true (HF's default when absent), rescale_factor = 1/255,
          and for SAM do_pad true.
"""
import json

from .errors import ExportError

PIL_RESAMPLE = {0: "nearest", 1: "lanczos", 2: "bilinear", 3: "bicubic", 4: "box", 5: "hamming"}
RESCALE = 1.0 / 255.0


def _read(path):
    try:
        with open(path, encoding="utf-8") as f:
            data = json.load(f)
    except (OSError, ValueError) as e:
        raise ExportError(f"{path}: cannot read JSON ({e})") from None
    if not isinstance(data, dict):
        raise ExportError(f"{path}: expected a JSON object (an HF preprocessor_config.json)")
    return data


def _close(a, b):
    return isinstance(a, (int, float)) and not isinstance(a, bool) and abs(a - b) <= 1e-12 * max(1.0, abs(b))


def _list_close(a, b):
    return isinstance(a, list) and len(a) == len(b) and all(_close(x, y) for x, y in zip(a, b))


def check_processor(path, which, preprocess):
    """`which`: "siglip" or "sam". Raises ExportError listing every difference with config.json."""
    p = _read(path)
    diffs = []

    def expect(field, ok, want):
        if not ok:
            diffs.append(f"{field} is {json.dumps(p.get(field))}, config.json needs {want}")

    for flag in ("do_resize", "do_rescale", "do_normalize") + (("do_pad",) if which == "sam" else ()):
        expect(flag, p.get(flag, True) is True, "true")
    expect("rescale_factor", _close(p.get("rescale_factor", RESCALE), RESCALE), f"{RESCALE!r} (1/255)")
    size = preprocess[f"{which}_size"]
    if which == "siglip":
        expect("size", p.get("size") == {"height": size, "width": size},
               f'{{"height": {size}, "width": {size}}} (preprocess.siglip_size)')
    else:
        expect("size", p.get("size") == {"longest_edge": size}, f'{{"longest_edge": {size}}} (preprocess.sam_size)')
        if "pad_size" in p:
            expect("pad_size", p["pad_size"] == {"height": size, "width": size},
                   f'{{"height": {size}, "width": {size}}} (preprocess.sam_size)')
    resample = preprocess[f"{which}_resample"]
    code = p.get("resample")
    name = PIL_RESAMPLE.get(code) if isinstance(code, int) and not isinstance(code, bool) else None
    if name != resample:
        diffs.append(f"resample is {json.dumps(code)} ({name or 'unknown'}), config.json needs "
                     f"{[c for c, n in PIL_RESAMPLE.items() if n == resample][0]} ({resample}; "
                     f"preprocess.{which}_resample)")
    for field, key in (("image_mean", f"{which}_mean"), ("image_std", f"{which}_std")):
        expect(field, _list_close(p.get(field), preprocess[key]), f"{preprocess[key]} (preprocess.{key})")
    if diffs:
        raise ExportError(f"{path} ({which} preprocessor_config.json) disagrees with the config: " + "; ".join(diffs))
