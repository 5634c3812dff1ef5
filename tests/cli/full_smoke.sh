#!/usr/bin/env bash
# Full-size smoke test (CTest label "full", run by `tools/test.sh --full`): a random model with the released
# X-SAM sizes (bf16, ~9.3 GB, kept in BUILD/models/full-random), every task once on the sample image through
# the CLI. Shapes and the whole path at full size; the masks of random weights mean nothing.
set -euo pipefail
build=$1
root=$(cd "$(dirname "$0")/../.." && pwd)
model=$build/models/full-random
xsam=$build/bin/xsam
[ -f "$model/config.json" ] || "$xsam" random-model --preset full --dtype bf16 "$model"
"$xsam" info "$model"
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
img=$root/assets/chelsea.png
run() { echo "== $*"; "$xsam" segment --model "$model" --dtype bf16 --out "$out/$1" --max-new-tokens 8 "${@:2}" "$img"; }
run chat --task chat --prompt "Describe the image."
run semantic --prompt "sem: cat, wall"
run instance --prompt "ins: cat"
run panoptic --prompt "ins: cat; sem: wall"
run referring --task referring --prompt "the cat"
run reasoning --task reasoning --prompt "What is sleeping?"
run gcg --task gcg
run interactive --task interactive --box 100,50,300,250
run vgd --task vgd --point 200,150 --box 10,10,120,120
run open_vocab --task open_vocab --classes cat,wall --things 1
for d in "$out"/*; do test -f "$d/chelsea.json" || { echo "missing result in $d"; exit 1; }; done
echo "full smoke: every task ran at full size"
