#!/usr/bin/env bash
# Installs every Debian package the build, the tests and the tools need, then configures and builds
# xsam (Release) into build/. Idempotent: re-running only rebuilds what changed.
#   tools/setup.sh [--sanitize] [--no-build]
set -euo pipefail
cd "$(dirname "$0")/.."

sanitize=0
build=1
for a in "$@"; do
  case "$a" in
    --sanitize) sanitize=1 ;;
    --no-build) build=0 ;;
    *) echo "setup.sh: unknown option $a" >&2; exit 2 ;;
  esac
done

packages=(
  build-essential cmake ninja-build ccache pkg-config git
  libtorch-dev libopenblas0-pthread          # libtorch 1.13; optimised BLAS (without it fp32 matmul is ~50x slower)
  libopencv-dev libsentencepiece-dev nlohmann-json3-dev libgtest-dev libgmock-dev
  python3 python3-torch python3-numpy python3-pytest python3-pil   # exporter, binding and their tests
  python3-skimage                            # the bundled sample image's origin (scikit-image data)
  clang libclang-rt-dev                      # fuzzing (libFuzzer)
  libcpp-httplib-dev chromium chromium-driver  # xsam serve (HTTP), its browser test (headless Chromium)
  dpkg-dev python3-venv python3-setuptools python3-pip  # install tests: cpack -G DEB (dpkg-shlibdeps), pip
  python3-distributed nginx                  # scale-out (docs/scale-out.md): xsam.dask on Dask; replicas behind nginx
)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: installing ${missing[*]}"
  SUDO=""
  [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

[ "$build" = 1 ] || exit 0
dir=build
flags=(-DCMAKE_BUILD_TYPE=Release)
if [ "$sanitize" = 1 ]; then
  dir=build-sanitize
  flags=(-DCMAKE_BUILD_TYPE=RelWithDebInfo -DXSAM_SANITIZE=ON)
fi
jobs=$(nproc)
# Each libtorch translation unit needs ~1.5 GB to compile; keep within memory.
mem_gb=$(awk '/MemAvailable/ {print int($2/1048576)}' /proc/meminfo)
[ "$jobs" -gt $((mem_gb / 2 + 1)) ] && jobs=$((mem_gb / 2 + 1))
cmake -S . -B "$dir" -G Ninja "${flags[@]}" >/dev/null
cmake --build "$dir" -j "$jobs"
echo "setup: built into $dir/ (binaries in $dir/bin)"
