"""The xsam CLI, which the exporter needs: `xsam layout --json` gives the checkpoint layout of a config and
validates it (layout.py), and `xsam convert-config UPSTREAM OUT_JSON` reads upstream-style configs (each
part's HF to_dict(), as in the golden sets) with the library's own importer
(docs/design/decisions.md#upstream-configs), which is not re-implemented here."""
import json
import os
import subprocess
import tempfile

from . import REPO_ROOT
from .errors import ExportError

DEFAULT_XSAM_BIN = os.path.join(REPO_ROOT, "build", "bin", "xsam")


def find_xsam_binary(explicit=None):
    """--xsam-bin, else $XSAM_BIN, else build/bin/xsam of this checkout; None when there is none."""
    for candidate in (explicit, os.environ.get("XSAM_BIN"), DEFAULT_XSAM_BIN):
        if candidate:
            if os.path.isfile(candidate) and os.access(candidate, os.X_OK):
                return candidate
            if candidate == explicit:
                raise ExportError(f"--xsam-bin {explicit}: not an executable file")
    return None


def require_xsam_binary(explicit=None):
    """find_xsam_binary, or an ExportError that says how to get one."""
    found = find_xsam_binary(explicit)
    if found is None:
        raise ExportError(f"the exporter needs the xsam CLI: `xsam layout` gives the checkpoint layout of a config "
                          f"and validates it. Build it (cmake --build build --target xsam_cli) or pass "
                          f"--xsam-bin PATH (looked for $XSAM_BIN and {DEFAULT_XSAM_BIN})")
    return found


def convert_upstream_config(path, xsam_bin):
    """The upstream config at `path`, converted to xsam's config format by the C++ importer."""
    if not os.path.isfile(path):
        raise ExportError(f"--upstream-config {path}: file not found")
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
