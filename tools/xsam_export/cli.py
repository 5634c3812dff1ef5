"""`xsam-export`: the steps, in order. Everything is checked before the first byte is written; the
weight files are written first and config.json last, so a directory with a config.json is complete."""
import argparse
import hashlib
import json
import os
import re
import shutil
import sys
import time

from . import layout, released
from . import model_config as mc
from .checkpoint import Checkpoint
from .errors import ExportError
from .fetch import fetch
from .processor_configs import check_processor
from .shapes import infer_sizes
from .tokenizer_files import TokenizerFiles
from .upstream import convert_upstream_config, require_xsam_binary
from .weights import DTYPE_OPTIONS, INDEX_FILE, parse_size, write_weights

ADDED_TOKENS_FILE = "added_tokens.json"
CHECKSUMS_FILE = "checksums.json"
CONFIG_FILE = "config.json"
_OUR_FILES = re.compile(r"^(config\.json|checksums\.json|added_tokens\.json|tokenizer\.model|tokenizer\.json|"
                        r"tokenizer_config\.json|special_tokens_map\.json|model\.safetensors(\.index\.json)?|"
                        r"model-\d{5}-of-\d{5}\.safetensors)(\.partial)?$")


def build_parser():
    p = argparse.ArgumentParser(
        prog="xsam-export",
        description="Convert a released X-SAM checkpoint (pytorch_model.bin, or safetensors in the upstream key "
                    "layout) and Phi-3's tokenizer files into an xsam model directory (docs/model-directory.md).")
    p.add_argument("--checkpoint", metavar="PATH",
                   help="pytorch_model.bin (torch.save zip), a .safetensors file, or a *.index.json of shards")
    p.add_argument("--tokenizer", metavar="DIR",
                   help="directory with tokenizer.model and tokenizer_config.json (+ tokenizer.json, "
                        "special_tokens_map.json) of Phi-3-mini-4k-instruct")
    p.add_argument("--out", metavar="DIR", help="model directory to write")
    p.add_argument("--siglip-processor", metavar="FILE",
                   help="SigLIP's preprocessor_config.json (google/siglip2-so400m-patch14-384): its size, resample, "
                        "mean, std and rescale factor must equal the config's, or the export stops")
    p.add_argument("--sam-processor", metavar="FILE",
                   help="SAM's preprocessor_config.json (facebook/sam-vit-large), checked the same way")
    p.add_argument("--fetch", metavar="DIR",
                   help="first download the release into DIR with the Hub client 'hf' and verify every file's "
                        "sha256 against the Hub's record; then export from it (--checkpoint, --tokenizer and the "
                        "processor files default to what was fetched). Without --out: download and verify only")
    p.add_argument("--hf", metavar="PATH", help="the Hub client for --fetch (default: hf on PATH)")
    p.add_argument("--phi3-revision", metavar="REV", help="revision (commit sha) of Phi-3's tokenizer files for --fetch")
    p.add_argument("--xsam-revision", metavar="REV", help="revision (commit sha) of hao9610/X-SAM for --fetch")
    p.add_argument("--dtype", choices=sorted(DTYPE_OPTIONS), default="bf16",
                   help="dtype of the floating-point weights (default bf16; keep = as in the checkpoint)")
    p.add_argument("--shard-size", metavar="SIZE",
                   help="split the weights into shards of at most SIZE (e.g. 2GB) with model.safetensors.index.json")
    p.add_argument("--preset", choices=released.preset_names(),
                   help="behaviour preset (default: from the key names; vision_encoder.* or "
                        "segmentor.class_predictor.logit_scale mean main)")
    p.add_argument("--upstream-config", metavar="FILE",
                   help="upstream-style config.json (each part's HF to_dict(), as in the golden sets) for the "
                        "values that shapes cannot tell; read by the library's importer via xsam convert-config")
    p.add_argument("--xsam-bin", metavar="PATH",
                   help="the xsam CLI, which gives the checkpoint layout and checks the config (`xsam layout`) "
                        "(default: $XSAM_BIN, else build/bin/xsam)")
    p.add_argument("--hparams", metavar="FILE",
                   help="partial config in xsam's format, e.g. {\"llm\": {\"num_heads\": 32}}")
    p.add_argument("--set", action="append", default=[], metavar="SECTION.FIELD=VALUE",
                   help="override one config field (VALUE is JSON, else a string); repeatable")
    p.add_argument("--drop", action="append", default=[], metavar="REGEX",
                   help="leave out checkpoint tensors whose name matches REGEX (re.search); repeatable")
    p.add_argument("--force", action="store_true", help="replace an existing model directory's files")
    p.add_argument("--dry-run", action="store_true",
                   help="check everything and print the config.json that would be written; write nothing")
    p.add_argument("--quiet", action="store_true", help="print errors only")
    return p


def _fail(error):
    print(f"xsam-export: error: {error}", file=sys.stderr)
    return 1


def main(argv=None):
    try:
        parser = build_parser()  # reads the presets (src/core/presets.json) for --preset
    except ExportError as e:
        return _fail(e)
    args = parser.parse_args(argv)
    if not args.fetch:
        missing = [f"--{n}" for n in ("checkpoint", "tokenizer", "out") if getattr(args, n) is None]
        if missing:
            parser.error(f"the following arguments are required: {', '.join(missing)} (or --fetch DIR)")
    log = (lambda *_: None) if args.quiet else (lambda msg: print(msg, file=sys.stderr, flush=True))
    try:
        if args.fetch:
            got = fetch(args.fetch, log, args.hf, args.phi3_revision, args.xsam_revision)
            for name, value in zip(("checkpoint", "tokenizer", "siglip_processor", "sam_processor"), got):
                if getattr(args, name) is None:
                    setattr(args, name, value)
            if args.out is None:
                log(f"fetched and verified into {args.fetch}; export with --out DIR")
                return 0
        export(args, log)
    except ExportError as e:
        return _fail(e)
    return 0


def _prepare_out_dir(path, force):
    if os.path.isdir(path) and os.listdir(path):
        if not force:
            raise ExportError(f"--out {path}: directory is not empty (use --force to replace its model files)")
        for name in os.listdir(path):
            if _OUR_FILES.match(name):
                os.remove(os.path.join(path, name))
    os.makedirs(path, exist_ok=True)


def _explicit_values(args):
    """--hparams then --set (later wins), and where each value came from (for messages)."""
    values, source = {}, {}
    if args.hparams:
        for k, v in mc.read_hparams(args.hparams).items():
            values[k], source[k] = v, f"--hparams {args.hparams}"
    for k, v in mc.parse_set(args.set).items():
        values[k], source[k] = v, "--set"
    return values, source


def export(args, log):
    start = time.time()
    shard_size = parse_size(args.shard_size) if args.shard_size else None
    tokenizer = TokenizerFiles(args.tokenizer)
    if not tokenizer.is_phi3_model:
        log(f"warning: {tokenizer.model_path}: sha256 {tokenizer.model_sha256} is not Phi-3-mini's tokenizer.model "
            f"(9e556afd...d347); the model will tokenize as this file does")
    xsam_bin = require_xsam_binary(args.xsam_bin)
    upstream = convert_upstream_config(args.upstream_config, xsam_bin) if args.upstream_config else None
    explicit, source = _explicit_values(args)

    with Checkpoint(args.checkpoint) as ckpt:
        for note in ckpt.notes:
            log(note)
        refs = dict(ckpt.tensors)
        dropped = [n for n in refs if any(re.search(rx, n) for rx in args.drop)]
        for n in dropped:
            del refs[n]
        if dropped:
            log(f"dropped {len(dropped)} tensors (--drop):" + layout.summarize(dropped))
        shapes = {n: tuple(r.shape) for n, r in refs.items()}
        log(f"{args.checkpoint}: {len(shapes)} tensors")

        # 1. names: the branch spelling and preset, then every name in a known group and every required
        #    group present (name patterns of the released sizes' layout)
        spelling = layout.detect_spelling(shapes)
        preset = mc.resolve_preset(args.preset, spelling, upstream)
        layout.check_key_groups(list(shapes), spelling, preset, xsam_bin)
        optional = layout.optional_groups_present(shapes, layout.reference_layout(preset, spelling, xsam_bin, True))

        # 2. sizes: what shapes tell, the rest from the released model / upstream config / explicit values
        differing = mc.parts_differing_from_released(shapes, spelling, optional,
                                                     layout.reference_layout(preset, spelling, xsam_bin))
        if upstream is None:
            mc.require_given(differing, explicit, shapes)
        config, derived = infer_sizes(shapes, spelling, mc.base_config(preset, upstream, explicit))
        claims, claim_source = {}, {}
        if upstream is not None:
            for k, v in mc.upstream_claims(upstream).items():
                claims[k], claim_source[k] = v, f"--upstream-config {args.upstream_config}"
        claims.update(explicit)
        claim_source.update(source)
        mc.check_claims(config, derived, claims, claim_source)

        # 3. tokens and tokenizer mode from the tokenizer files
        mc.set_tokens(config, tokenizer.token_ids(), claims, claim_source)
        if tokenizer.vocab_size != config["llm"]["vocab_size"]:
            raise ExportError(f"the tokenizer has {tokenizer.vocab_size} ids ({tokenizer.num_pieces} pieces + added "
                              f"tokens incl. X-SAM's), but llm.model.embed_tokens.weight has "
                              f"{config['llm']['vocab_size']} rows")
        if "tokenizer.mode" not in explicit:
            config["tokenizer"]["mode"] = tokenizer.mode
        final = mc.finish(config, preset, spelling)
        # 4. the library validates the config and gives its layout: every name and shape must match it
        implied = layout.xsam_layout(final, xsam_bin, "the config.json assembled for this checkpoint")
        layout.compare(shapes, implied.shapes(optional))
        for which, path in (("siglip", args.siglip_processor), ("sam", args.sam_processor)):
            if path:
                check_processor(path, which, final["preprocess"])
        log(f"layout checked: preset {preset}, {len(optional)} unused groups kept "
            f"({', '.join(sorted(optional)) or 'none'}); parts with released shapes: "
            f"{', '.join(p for p in mc.PARTS if p not in differing) or 'none'}")
        if args.dry_run:
            print(json.dumps(final, indent=2, sort_keys=True))
            return

        # 5. write: weights, tokenizer files, added tokens, checksums, config last
        _prepare_out_dir(args.out, args.force)
        checksums = write_weights(refs, args.out, args.dtype, shard_size, log)
    for path in tokenizer.files_to_copy():
        shutil.copyfile(path, os.path.join(args.out, os.path.basename(path)))
    _write_json(os.path.join(args.out, ADDED_TOKENS_FILE), tokenizer.document())
    # every tokenizer file too: the copies (as read and checked above) and xsam's added_tokens.json
    for name, digest in tokenizer.checksums().items():
        if _sha256(os.path.join(args.out, name)) != digest:
            raise ExportError(f"{os.path.join(args.out, name)}: the copy differs from {args.tokenizer}/{name}")
        checksums[name] = digest
    checksums[ADDED_TOKENS_FILE] = _sha256(os.path.join(args.out, ADDED_TOKENS_FILE))
    _write_json(os.path.join(args.out, CHECKSUMS_FILE), dict(sorted(checksums.items())))
    _write_json(os.path.join(args.out, CONFIG_FILE), final)
    weight_files = [n for n in checksums if n.endswith(".safetensors")]
    files = sorted(weight_files) + ([INDEX_FILE] if len(weight_files) > 1 else [])
    log(f"wrote {args.out}: {', '.join(files)}, tokenizer ({tokenizer.mode}), {len(tokenizer.added_tokens)} added "
        f"tokens, config.json; {time.time() - start:.0f} s")


def _sha256(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _write_json(path, data):
    tmp = path + ".partial"
    with open(tmp, "w", encoding="utf-8") as f:
        json.dump(data, f, indent=2, sort_keys=isinstance(data, dict))
        f.write("\n")
    os.replace(tmp, path)
