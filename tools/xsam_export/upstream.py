"""Upstream-style configs (each part's HF to_dict(), as in the golden sets) are read by the library's own
importer (DECISIONS.md B1), not re-implemented here: we run `xsam convert-config UPSTREAM OUT_JSON`, which
writes the same config in xsam's format, and take its values."""
import json
import os
import subprocess
import tempfile

from .errors import ExportError

_REPO_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
DEFAULT_XSAM_BIN = os.path.join(_REPO_ROOT, "build", "bin", "xsam")


def find_xsam_binary(explicit=None):
    """--xsam-bin, else $XSAM_BIN, else build/bin/xsam of this checkout; None when there is none."""
    for candidate in (explicit, os.environ.get("XSAM_BIN"), DEFAULT_XSAM_BIN):
        if candidate:
            if os.path.isfile(candidate) and os.access(candidate, os.X_OK):
                return candidate
            if candidate == explicit:
                raise ExportError(f"--xsam-bin {explicit}: not an executable file")
    return None


def convert_upstream_config(path, xsam_bin):
    """The upstream config at `path`, converted to xsam's config format by the C++ importer."""
    if not os.path.isfile(path):
        raise ExportError(f"--upstream-config {path}: file not found")
    if xsam_bin is None:
        raise ExportError(f"--upstream-config needs the xsam CLI (its convert-config command runs the library's "
                          f"importer); build it (cmake --build build --target xsam_cli) or pass --xsam-bin PATH "
                          f"(looked for {DEFAULT_XSAM_BIN})")
    with tempfile.TemporaryDirectory(prefix="xsam-export-") as tmp:
        out = os.path.join(tmp, "config.json")
        run = subprocess.run([xsam_bin, "convert-config", path, out], capture_output=True, text=True)
        if run.returncode != 0 or not os.path.isfile(out):
            detail = (run.stderr or run.stdout).strip() or f"exit status {run.returncode}"
            raise ExportError(f"--upstream-config {path}: '{xsam_bin} convert-config' failed: {detail}")
        with open(out, encoding="utf-8") as f:
            config = json.load(f)
    if config.get("format") != "xsam-model":
        raise ExportError(f"'{xsam_bin} convert-config' did not write an xsam-model config")
    return config
