#!/usr/bin/env bash
# Builds and runs one libFuzzer target (tests/fuzz/fuzz_TARGET.cpp) for SECONDS seconds.
#   tools/fuzz.sh TARGET SECONDS [extra libFuzzer flags...]
#   TARGET: safetensors_header | config | image | refs | c_api
# Configures a clang build in build-fuzz/ (CC=clang CXX=clang++ -DXSAM_FUZZ=ON: libFuzzer + ASan + UBSan),
# builds fuzz_TARGET only, then fuzzes starting from the committed seed corpus tests/fuzz/corpus/TARGET/.
# New inputs go to build-fuzz/corpus/TARGET/ (not committed: add a crashing input by hand as
# tests/fuzz/corpus/TARGET/regress-NAME once it is fixed); crashes go to build-fuzz/artifacts/TARGET/.
# Environment: JOBS (build parallelism, default 1), FUZZ_NICE (default 10).
set -euo pipefail
cd "$(dirname "$0")/.."

if [ $# -lt 2 ]; then
  echo "usage: tools/fuzz.sh TARGET SECONDS [libFuzzer flags...]" >&2
  exit 2
fi
target=$1
seconds=$2
shift 2
case "$target" in
  safetensors_header|config|image|refs|c_api) ;;
  *) echo "fuzz.sh: unknown target '$target' (safetensors_header, config, image, refs, c_api)" >&2; exit 2 ;;
esac

dir=build-fuzz
if [ ! -f "$dir/build.ninja" ]; then
  CC=clang CXX=clang++ cmake -S . -B "$dir" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DXSAM_FUZZ=ON >/dev/null
fi
nice -n "${FUZZ_NICE:-10}" cmake --build "$dir" -j "${JOBS:-1}" --target "fuzz_$target"

work="$dir/corpus/$target"
artifacts="$dir/artifacts/$target"
mkdir -p "$work" "$artifacts"

flags=(-max_total_time="$seconds" -print_final_stats=1 -rss_limit_mb=4096 -artifact_prefix="$artifacts/")
case "$target" in
  image) flags+=(-max_len=65536 -timeout=20) ;;
  c_api) flags+=(-max_len=1024 -timeout=60 -dict=tests/fuzz/c_api.dict) ;;
  config) flags+=(-max_len=32768 -timeout=10) ;;
  *) flags+=(-max_len=4096 -timeout=10) ;;
esac

# libgomp busy-waits by default; LeakSanitizer would report libtorch's process-lifetime caches at exit.
export OMP_WAIT_POLICY=PASSIVE
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=0}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
exec nice -n "${FUZZ_NICE:-10}" "$dir/bin/fuzz_$target" "${flags[@]}" "$@" "$work" "tests/fuzz/corpus/$target"
