#!/usr/bin/env bash
# Sets up (tools/setup.sh), then runs every test: CTest (unit, golden parity, API, CLI) and the
# Python tests. Exits non-zero on any failure.
#   tools/test.sh [--sanitize] [--full]
#     --sanitize  build with ASan + UBSan into build-sanitize/ and run the suite there
#     --full      also run the full-size end-to-end smoke test (CTest label "full"; slow, ~10 GB RAM)
set -euo pipefail
cd "$(dirname "$0")/.."

sanitize=0
full=0
for a in "$@"; do
  case "$a" in
    --sanitize) sanitize=1 ;;
    --full) full=1 ;;
    *) echo "test.sh: unknown option $a" >&2; exit 2 ;;
  esac
done

dir=build
setup_flags=()
if [ "$sanitize" = 1 ]; then
  dir=build-sanitize
  setup_flags=(--sanitize)
  export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0}
  export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
fi
tools/setup.sh "${setup_flags[@]}"

# libgomp busy-waits by default, which starves the other test processes on a small machine.
export OMP_WAIT_POLICY=${OMP_WAIT_POLICY:-PASSIVE}
status=0
label_args=(-LE full)
[ "$full" = 1 ] && label_args=()
(cd "$dir" && ctest --output-on-failure -j 2 "${label_args[@]}") || status=1

if ls tests/python/test_*.py >/dev/null 2>&1 || ls bindings/python/tests/test_*.py >/dev/null 2>&1; then
  export XSAM_BUILD_DIR="$PWD/$dir"
  paths=()
  [ -d tests/python ] && paths+=(tests/python)
  [ -d bindings/python/tests ] && paths+=(bindings/python/tests)
  # Debian's interpreter: it has python3-torch and python3-pytest (a python3 earlier on PATH may not).
  if [ "$sanitize" = 1 ]; then
    # An ASan-built libxsam loads into python3 only with the preloads its configure step wrote (the ASan
    # runtime and libstdc++; see CMakeLists.txt). Python itself leaks by design.
    LD_PRELOAD="$(cat "$dir/python-preload.txt")" ASAN_OPTIONS=detect_leaks=0 /usr/bin/python3 -m pytest -q "${paths[@]}" || status=1
  else
    /usr/bin/python3 -m pytest -q "${paths[@]}" || status=1
  fi
fi

if [ "$status" = 0 ]; then echo "test.sh: all tests passed"; else echo "test.sh: FAILURES" >&2; fi
exit $status
