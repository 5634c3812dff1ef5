#!/usr/bin/env bash
# The README's first command: sets everything up (tools/setup.sh) and segments the bundled sample image.
#   tools/quickstart.sh [IMAGE] [PROMPT]
# With real weights exported to models/xsam (see models/README.md) it uses them; without, it says so and
# runs a tiny model with random weights so that the whole path is shown working (its masks mean nothing).
set -euo pipefail
cd "$(dirname "$0")/.."
image=${1:-assets/chelsea.png}
prompt=${2:-the cat}
tools/setup.sh
xsam=build/bin/xsam
out=out/quickstart
if [ -f models/xsam/config.json ]; then
  model=models/xsam
  dtype=bf16
  echo "quickstart: using the exported X-SAM weights in $model"
else
  model=build/models/tiny-random
  dtype=fp32
  echo "quickstart: no real weights in models/xsam (see models/README.md to download and export them)."
  echo "quickstart: running a TINY model with RANDOM weights instead: the masks below show the pipeline working,"
  echo "            not what X-SAM would segment."
  [ -f "$model/config.json" ] || "$xsam" random-model --preset tiny "$model"
fi
"$xsam" segment --model "$model" --dtype "$dtype" --task referring --prompt "$prompt" --masks --force --out "$out" "$image"
stem=$(basename "${image%.*}")
echo "quickstart: wrote $out/$stem.json and $out/$stem.overlay.png"
