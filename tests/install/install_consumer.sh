#!/usr/bin/env bash
# CTest "install_consumer": installs this build into a temporary prefix and uses it the way a program
# outside the repository does:
#   1. cmake --install BUILD --prefix P; the expected files are there, and no installed file holds a path
#      of the build or source tree;
#   2. P/bin/xsam writes a tiny random model (plugin and tokenizer files found relative to the library);
#   3. a C program built with `pkg-config --cflags --libs xsam` and a C++ program built with
#      find_package(xsam) → xsam::xsam run on it and print the same result.
# The prefix lives under BUILD and is removed on exit.
#   install_consumer.sh BUILD_DIR SOURCE_DIR VERSION IMAGE
set -euo pipefail
build=$(realpath "$1") src=$(realpath "$2") version=$3 image=$(realpath "$4")
here=$(cd "$(dirname "$0")" && pwd)
work=$(mktemp -d "$build/install-consumer.XXXXXX")
trap 'rm -rf "$work"' EXIT
P=$work/prefix
fail() { echo "install_consumer: $*" >&2; exit 1; }

cmake --install "$build" --prefix "$P" >/dev/null
for f in include/xsam/xsam.h include/xsam/xsam.hpp include/xsam/xsam_version.h bin/xsam \
         lib/libxsam.so lib/libxsam.so.0 "lib/libxsam.so.$version" lib/xsam/libxsam_tokenizer.so \
         lib/xsam/tokenizer/tokenizer.model lib/xsam/tokenizer/tokenizer.json \
         lib/cmake/xsam/xsamConfig.cmake lib/cmake/xsam/xsamConfigVersion.cmake lib/cmake/xsam/xsamTargets.cmake \
         lib/pkgconfig/xsam.pc share/xsam/web/index.html; do
  [ -e "$P/$f" ] || fail "$f was not installed"
done
soname=$(objdump -p "$P/lib/libxsam.so.$version" | awk '$1 == "SONAME" {print $2}')
[ "$soname" = libxsam.so.0 ] || fail "SONAME is '$soname', expected libxsam.so.0"
# The build tree lies inside the source tree here; a clone elsewhere (CI) checks its own paths.
leaks=$(grep -rlF -e "$src" -e "$build" "$P" || true)
[ -z "$leaks" ] || fail "installed files hold a build or source path: $leaks"

# Nothing from the build may help the installed copy find its parts.
unset XSAM_TOKENIZER_PLUGIN XSAM_TOKENIZER_DIR XSAM_LIBRARY XSAM_BUILD_DIR LD_LIBRARY_PATH
export OMP_WAIT_POLICY=PASSIVE
"$P/bin/xsam" random-model --preset tiny --dtype fp32 "$work/model" >/dev/null
[ -f "$work/model/config.json" ] || fail "xsam random-model wrote no config.json"

export PKG_CONFIG_PATH=$P/lib/pkgconfig
[ "$(pkg-config --modversion xsam)" = "$version" ] || fail "pkg-config --modversion xsam is not $version"
# shellcheck disable=SC2046
cc -std=c99 -Wall -Werror "$here/consumer/consumer.c" -o "$work/consumer_c" $(pkg-config --cflags --libs xsam) \
   -Wl,-rpath,"$P/lib"
cmake -S "$here/consumer" -B "$work/cpp-build" -DCMAKE_PREFIX_PATH="$P" -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build "$work/cpp-build" >/dev/null

c_out=$("$work/consumer_c" "$work/model" "$image") || fail "the C consumer failed"
cpp_out=$("$work/cpp-build/consumer_cpp" "$work/model" "$image") || fail "the C++ consumer failed"
echo "$c_out"
echo "$cpp_out"
# One box, interactive: one region mask, at the image's size, from the installed library's version.
size=$(od -An -tu1 -j16 -N8 "$image" | awk '{printf "%dx%d", $1*16777216+$2*65536+$3*256+$4, $5*16777216+$6*65536+$7*256+$8}')
expected="version $version masks 1 size $size label region 0"
[ "${c_out#c: }" = "$expected" ] || fail "C consumer printed '$c_out', expected 'c: $expected'"
[ "${cpp_out#cpp: }" = "$expected" ] || fail "C++ consumer printed '$cpp_out', expected 'cpp: $expected'"
echo "install_consumer: ok"
