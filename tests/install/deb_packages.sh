#!/usr/bin/env bash
# CTest "deb_packages": cpack -G DEB makes libxsam0, libxsam-dev and xsam with the expected contents and
# dependencies; unpacked with dpkg-deb -x into one folder, that folder's xsam writes a tiny random model
# and segments an image with it. Everything happens in a temporary folder under BUILD, removed on exit.
#   deb_packages.sh BUILD_DIR VERSION IMAGE
set -euo pipefail
build=$(realpath "$1") version=$2 image=$(realpath "$3")
work=$(mktemp -d "$build/deb-packages.XXXXXX")
trap 'rm -rf "$work"' EXIT
fail() { echo "deb_packages: $*" >&2; exit 1; }

(cd "$build" && cpack -G DEB -B "$work/out" >"$work/cpack.log" 2>&1) || { cat "$work/cpack.log" >&2; fail "cpack failed"; }
arch=$(dpkg --print-architecture)
for p in libxsam0 libxsam-dev xsam; do
  deb=$work/out/${p}_${version}_${arch}.deb
  [ -f "$deb" ] || fail "$deb was not made (made: $(ls "$work/out"))"
  [ "$(dpkg-deb -f "$deb" Package)" = "$p" ] || fail "$deb: Package is not $p"
done
depends() { dpkg-deb -f "$work/out/${1}_${version}_${arch}.deb" Depends; }
# What libxsam links (dpkg-shlibdeps) and the exact-version links between the three packages.
for want in libtorch libopencv-imgcodecs libsentencepiece libc6; do
  depends libxsam0 | grep -q "$want" || fail "libxsam0 does not depend on $want: $(depends libxsam0)"
done
depends libxsam-dev | grep -qF "libxsam0 (= $version)" || fail "libxsam-dev: Depends is '$(depends libxsam-dev)'"
depends xsam | grep -qF "libxsam0 (= $version)" || fail "xsam: Depends is '$(depends xsam)'"
contents() { dpkg-deb -c "$work/out/${1}_${version}_${arch}.deb" | awk '{print $6}'; }
contents libxsam0 | grep -qx "./usr/lib/libxsam.so.0" || fail "libxsam0 lacks /usr/lib/libxsam.so.0"
contents libxsam0 | grep -qx "./usr/lib/xsam/libxsam_tokenizer.so" || fail "libxsam0 lacks the tokenizer plugin"
contents libxsam-dev | grep -qx "./usr/include/xsam/xsam.h" || fail "libxsam-dev lacks xsam.h"
contents libxsam-dev | grep -qx "./usr/lib/pkgconfig/xsam.pc" || fail "libxsam-dev lacks xsam.pc"
contents libxsam-dev | grep -qx "./usr/lib/cmake/xsam/xsamConfig.cmake" || fail "libxsam-dev lacks xsamConfig.cmake"
contents xsam | grep -qx "./usr/bin/xsam" || fail "xsam lacks /usr/bin/xsam"
if contents libxsam0 | grep -q "include/"; then fail "libxsam0 holds headers"; fi

root=$work/root
for p in libxsam0 libxsam-dev xsam; do dpkg-deb -x "$work/out/${p}_${version}_${arch}.deb" "$root"; done
unset XSAM_TOKENIZER_PLUGIN XSAM_TOKENIZER_DIR XSAM_LIBRARY XSAM_BUILD_DIR LD_LIBRARY_PATH
export OMP_WAIT_POLICY=PASSIVE
xsam=$root/usr/bin/xsam
[ "$("$xsam" --version)" = "xsam $version" ] || fail "xsam --version printed '$("$xsam" --version)'"
"$xsam" random-model --preset tiny --dtype fp32 "$work/model" >/dev/null
"$xsam" segment --model "$work/model" --dtype fp32 --threads 1 --task interactive --box 10,10,60,40 \
  --out "$work/seg" "$image" >"$work/segment.log" 2>&1 || { cat "$work/segment.log" >&2; fail "xsam segment failed"; }
json=$work/seg/$(basename "${image%.*}").json
[ -f "$json" ] || fail "xsam segment wrote no $json"
/usr/bin/python3 - "$json" <<'PY' || fail "unexpected result in $json"
import json, sys
r = json.load(open(sys.argv[1]))
assert r["task"] == "interactive", r["task"]
assert len(r["masks"]) == 1, len(r["masks"])
PY
echo "deb_packages: ok ($(ls "$work/out" | tr '\n' ' '))"
