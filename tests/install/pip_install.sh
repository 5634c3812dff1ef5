#!/usr/bin/env bash
# CTest "pip_install": `pip install --no-build-isolation bindings/python` into a fresh virtual environment
# (--system-site-packages, for Debian's numpy; --no-index: no network), then, from outside the source tree,
# the installed package finds an installed libxsam:
#   1. through $XSAM_LIBRARY;
#   2. next to the package (a symbolic link to the installed libxsam.so.0 in site-packages/xsam/),
# and writes a tiny random model and segments an image with it. Removed on exit.
#   pip_install.sh BUILD_DIR SOURCE_DIR VERSION IMAGE
set -euo pipefail
build=$(realpath "$1") src=$(realpath "$2") version=$3 image=$(realpath "$4")
work=$(mktemp -d "$build/pip-install.XXXXXX")
trap 'rm -rf "$work"' EXIT
fail() { echo "pip_install: $*" >&2; exit 1; }

cmake --install "$build" --prefix "$work/prefix" --component runtime >/dev/null
lib=$work/prefix/lib/libxsam.so.0
[ -f "$lib" ] || fail "the runtime component installed no $lib"

/usr/bin/python3 -m venv --system-site-packages "$work/venv"
py=$work/venv/bin/python
# A copy of the package source: pip's in-tree build writes build/ and *.egg-info next to pyproject.toml.
cp -r "$src/bindings/python" "$work/pkg"
rm -rf "$work/pkg/tests"
"$py" -m pip install -q --no-build-isolation --no-index --disable-pip-version-check "$work/pkg" >"$work/pip.log" 2>&1 \
  || { cat "$work/pip.log" >&2; fail "pip install failed"; }

unset XSAM_TOKENIZER_PLUGIN XSAM_TOKENIZER_DIR XSAM_LIBRARY XSAM_BUILD_DIR LD_LIBRARY_PATH PYTHONPATH
export OMP_WAIT_POLICY=PASSIVE
cd "$work"  # nothing of the source tree on sys.path
check='
import importlib.metadata, os, sys
import xsam
want_version, want_lib, model, image = sys.argv[1:5]
assert os.path.realpath(xsam.__file__).startswith(os.path.realpath(sys.prefix)), xsam.__file__
assert importlib.metadata.version("xsam") == want_version, importlib.metadata.version("xsam")
assert xsam.version() == want_version, xsam.version()
assert xsam.library_path() == want_lib, (xsam.library_path(), want_lib)
if not os.path.exists(os.path.join(model, "config.json")):
    xsam.random_model(model, preset="tiny", dtype="fp32", seed=0)
with xsam.Model(model, dtype="fp32", threads=1) as m, m.context() as ctx:
    img = xsam.load_image(image)
    r = ctx.segment(img, task="interactive", refs=[xsam.Box(10, 10, 60, 40)], score_threshold=0.0)
    assert r.task == "interactive", r.task
    assert len(r.masks) == 1 and r.masks[0].shape == img.shape[:2], (len(r.masks), img.shape)
print("pip_install:", xsam.library_path(), "ok")
'
XSAM_LIBRARY=$lib "$py" -c "$check" "$version" "$lib" "$work/model" "$image" || fail "with \$XSAM_LIBRARY"
site=$("$py" -c 'import os, xsam; print(os.path.dirname(os.path.abspath(xsam.__file__)))')
ln -s "$lib" "$site/libxsam.so.0"
"$py" -c "$check" "$version" "$site/libxsam.so.0" "$work/model" "$image" || fail "next to the package"
