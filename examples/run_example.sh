#!/usr/bin/env bash
# Runs one example for CTest: makes sure a tiny random model exists (written once, atomically, with the
# built `xsam random-model`, so parallel tests can share it), runs the example, and checks that it wrote
# a JSON result and a PNG overlay.
#   run_example.sh XSAM_CLI MODEL_DIR OUT_PREFIX -- COMMAND...   ("@MODEL@" / "@OUT@" in COMMAND are replaced)
set -euo pipefail
xsam_cli=$1 model=$2 out=$3
shift 3
[ "${1:-}" = "--" ] && shift

if [ ! -f "$model/config.json" ]; then
  tmp=$(mktemp -d "$model.tmp.XXXXXX")
  "$xsam_cli" random-model --preset tiny --dtype fp32 "$tmp/model" >/dev/null
  # Whoever renames first wins; a loser just drops its copy.
  mv -T "$tmp/model" "$model" 2>/dev/null || true
  rm -rf "$tmp"
fi

mkdir -p "$(dirname "$out")"
rm -f "$out.json" "$out.png"
cmd=()
for a in "$@"; do
  a=${a//@MODEL@/$model}
  cmd+=("${a//@OUT@/$out}")
done
"${cmd[@]}"

for f in "$out.json" "$out.png"; do
  [ -s "$f" ] || { echo "run_example.sh: $f was not written" >&2; exit 1; }
done
head -c 8 "$out.png" | od -An -tx1 | tr -d ' \n' | grep -qx 89504e470d0a1a0a || { echo "run_example.sh: $out.png is not a PNG" >&2; exit 1; }
grep -q '"masks"' "$out.json" || { echo "run_example.sh: $out.json has no masks field" >&2; exit 1; }
echo "run_example.sh: ok ($out.json, $out.png)"
