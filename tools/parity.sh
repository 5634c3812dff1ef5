#!/usr/bin/env bash
# Parity with upstream on a golden set (any directory laid out like tests/data/golden/aaai26-tiny):
#   tools/parity.sh [GOLDEN_DIR] [--build DIR]
# 1. exports the set's checkpoint + tokenizer with tools/xsam-export (fp32, the set's upstream config);
# 2. runs every stage and every recorded task through the library against the set's tensors: preprocessing,
#    vision, LLM (+ generation, sliding-window variants), decoder, post-processing, prompts, and the whole
#    pipeline end to end from the exported model directory;
# 3. prints one line per check — name, max error, tolerance, PASS/FAIL — and exits 0 only if all pass.
set -uo pipefail
cd "$(dirname "$0")/.."
golden=tests/data/golden/aaai26-tiny
build=build
while [ $# -gt 0 ]; do
  case "$1" in
    --build) build=$2; shift 2 ;;
    -h|--help) sed -n '2,9p' "$0"; exit 0 ;;
    *) golden=$1; shift ;;
  esac
done
golden=$(cd "$golden" && pwd) || { echo "parity: no such directory $golden" >&2; exit 2; }
mkdir -p "$build" && build=$(cd "$build" && pwd)
for f in config.json model.safetensors index.json; do
  [ -f "$golden/$f" ] || { echo "parity: $golden/$f missing: not a golden set" >&2; exit 2; }
done
tests=(test_image test_prompt test_vision test_llm test_decoder test_postproc test_pipeline)
if [ ! -x "$build/bin/xsam" ] && [ ! -f "$build/CMakeCache.txt" ]; then tools/setup.sh || exit 2; fi
cmake --build "$build" --target xsam_cli xsam_tokenizer "${tests[@]}" >/dev/null || { echo "parity: build failed" >&2; exit 2; }

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
echo "parity: exporting $golden/model.safetensors"
if ! tools/xsam-export --checkpoint "$golden/model.safetensors" --tokenizer "$golden/tokenizer" \
     --upstream-config "$golden/config.json" --xsam-bin "$build/bin/xsam" --dtype fp32 --quiet --out "$work/model"; then
  echo "[parity] export                                                       FAIL"
  exit 1
fi
"$build/bin/xsam" info "$work/model" >/dev/null || { echo "[parity] load exported model FAIL"; exit 1; }
echo "[parity] export + load of the exported model directory                 PASS"

if python3 tests/golden/check_set_constants.py "$golden" . >"$work/constants.txt"; then
  echo "[parity] golden tests take no constant of this set from a literal           PASS"
else
  cat "$work/constants.txt"
  echo "[parity] golden tests take no constant of this set from a literal           FAIL"
  status_constants=1
fi

export XSAM_GOLDEN_DIR="$golden" XSAM_MODEL_DIR="$work/model" XSAM_TEST_DATA="$PWD/tests/data"
export XSAM_TOKENIZER_PLUGIN="$build/lib/xsam/libxsam_tokenizer.so" OMP_WAIT_POLICY=PASSIVE
status=${status_constants:-0}
echo "parity: CPU kernel path ${XSAM_CPU:-auto} (XSAM_CPU)"
for t in "${tests[@]}"; do
  log="$work/$t.log"
  if "$build/bin/$t" >"$log" 2>&1; then result=PASS; else result=FAIL; status=1; fi
  grep -h '^\[parity\]\|^\[skip\]' "$log"
  summary=$(grep -E '^\[  (PASSED|FAILED)  \]' "$log" | head -2 | tr '\n' ' ')
  printf '[parity] %-60s %s %s\n' "$t (all tests)" "$summary" "$result"
  [ "$result" = FAIL ] && grep -E '^\[  FAILED  \]' "$log" | sed 's/^/    /'
done
n_pass=$(cat "$work"/*.log | grep -c '^\[parity\].* PASS$' || true)
n_fail=$(cat "$work"/*.log | grep -c '^\[parity\].* FAIL$' || true)
echo "parity: $n_pass checks passed, $n_fail failed on $golden"
[ "$n_fail" = 0 ] || status=1
exit $status
