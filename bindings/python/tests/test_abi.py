"""The ctypes declarations match include/xsam/xsam.h: struct sizes and field offsets (as the C compiler
lays them out), the enum values, and the list of exported functions."""
import ctypes
import os
import re
import shutil
import subprocess

import pytest

from xsam import _lib

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..", ".."))
HEADER = os.path.join(REPO, "include", "xsam", "xsam.h")


@pytest.fixture(scope="module")
def c_layout(tmp_path_factory):
    """{struct: (sizeof, {field: offsetof})} printed by a C program compiled against the header."""
    cc = shutil.which("cc") or shutil.which("gcc") or shutil.which("clang")
    assert cc, "a C compiler is needed to check the struct layouts"
    lines = ["#include <stdio.h>", "#include <stddef.h>", '#include "xsam/xsam.h"', "int main(void) {"]
    for cname, py in _lib.STRUCTS.items():
        lines.append(f'  printf("{cname} size %zu\\n", sizeof({cname}));')
        for field, _ in py._fields_:
            lines.append(f'  printf("{cname} {field} %zu\\n", offsetof({cname}, {field}));')
    lines += ["  return 0;", "}"]
    d = tmp_path_factory.mktemp("abi")
    (d / "layout.c").write_text("\n".join(lines))
    # xsam.h includes the generated xsam/xsam_version.h from the build's include/.
    build = os.environ.get("XSAM_BUILD_DIR", os.path.join(REPO, "build"))
    subprocess.run([cc, "-std=c99", "-I", os.path.join(REPO, "include"), "-I", os.path.join(build, "include"),
                    str(d / "layout.c"), "-o", str(d / "layout")], check=True)
    out = {}
    for line in subprocess.run([str(d / "layout")], check=True, capture_output=True, text=True).stdout.splitlines():
        name, key, value = line.split()
        size, fields = out.setdefault(name, [0, {}])
        if key == "size":
            out[name][0] = int(value)
        else:
            fields[key] = int(value)
    return out


@pytest.mark.parametrize("cname", sorted(_lib.STRUCTS))
def test_struct_layout(c_layout, cname):
    py = _lib.STRUCTS[cname]
    size, offsets = c_layout[cname]
    assert ctypes.sizeof(py) == size
    assert {f: getattr(py, f).offset for f, _ in py._fields_} == offsets


def header_text():
    with open(HEADER) as f:
        return f.read()


def test_every_exported_function_is_declared():
    exported = set(re.findall(r"XSAM_API\s+[\w\s\*]*?\b(xsam_\w+)\s*\(", header_text()))
    assert len(exported) > 30
    assert exported == set(_lib.SIGNATURES)
    L = _lib.lib()
    missing = sorted(name for name in exported if not hasattr(L, name))
    assert missing == [], f"the library at {_lib.library_path()} lacks {missing}: rebuild it"


def enum_values(prefix):
    """Values of the enum whose constants start with prefix, in declaration order (implicit ones counted)."""
    body = re.search(r"typedef enum \{([^}]*" + prefix + r"[^}]*)\}", header_text()).group(1)
    values, nxt = {}, 0
    for name, value in re.findall(r"(" + prefix + r"\w*)\s*(?:=\s*(\d+))?", re.sub(r"/\*.*?\*/", "", body)):
        nxt = int(value) if value else nxt
        values[name] = nxt
        nxt += 1
    return values


def test_enums():
    tasks = enum_values("XSAM_TASK_")
    assert [n[len("XSAM_TASK_"):].lower() for n, v in sorted(tasks.items(), key=lambda kv: kv[1])] == _lib.names("task")
    modes = enum_values("XSAM_MODE_")
    assert [n[len("XSAM_MODE_"):].lower() for n, v in sorted(modes.items(), key=lambda kv: kv[1])] == _lib.names("mode")
    assert {n: i for i, n in enumerate(_lib.names("dtype"))} == _lib.DTYPES
    assert enum_values("XSAM_DTYPE_") == {"XSAM_DTYPE_" + k.upper(): v for k, v in _lib.DTYPES.items()}
    assert enum_values("XSAM_DEVICE_") == {"XSAM_DEVICE_" + k.upper(): v for k, v in _lib.DEVICES.items()}
    assert enum_values("XSAM_REF_") == {"XSAM_REF_POINT": _lib.REF_POINT, "XSAM_REF_BOX": _lib.REF_BOX,
                                        "XSAM_REF_SCRIBBLE": _lib.REF_SCRIBBLE, "XSAM_REF_MASK": _lib.REF_MASK}
    assert enum_values("XSAM_PIXEL_") == {"XSAM_PIXEL_RGB8": _lib.PIXEL_RGB8, "XSAM_PIXEL_RGBA8": _lib.PIXEL_RGBA8,
                                          "XSAM_PIXEL_BGR8": _lib.PIXEL_BGR8, "XSAM_PIXEL_GRAY8": _lib.PIXEL_GRAY8}
    statuses = enum_values("XSAM_(?:OK|ERR_)")
    assert sorted(statuses.values()) == sorted(_lib.STATUS_NAMES)


def test_defaults_read_through_the_declared_structs():
    """Struct returns by value work and land in the right fields (the documented defaults)."""
    L = _lib.lib()
    p = L.xsam_segment_default_params()
    assert (p.task, p.mode, p.top_p, p.score_threshold, p.mask_threshold) == (0, 0, 1.0, 0.5, 0.5)
    assert p.overlap_threshold == pytest.approx(0.8)
    assert not p.on_token and p.user_data is None
    m = L.xsam_model_default_params()
    assert (m.dtype, m.device, m.n_threads, m.sliding_window_keys, m.preset) == (0, 0, 0, -1, None)
    c = L.xsam_context_default_params()
    assert c.image_cache_entries == 1 and c.max_image_pixels > 0


def test_library_discovery_order(monkeypatch, tmp_path):
    monkeypatch.setenv("XSAM_LIBRARY", str(tmp_path / "libxsam.so"))
    assert _lib.candidate_paths() == [("$XSAM_LIBRARY", str(tmp_path / "libxsam.so"))]
    monkeypatch.delenv("XSAM_LIBRARY")
    monkeypatch.setenv("XSAM_BUILD_DIR", str(tmp_path))
    origins = [o for o, _ in _lib.candidate_paths()]
    assert origins[:2] == ["$XSAM_BUILD_DIR", "source tree"] and origins[2] == "system"
    assert _lib.candidate_paths()[0][1] == str(tmp_path / "lib" / "libxsam.so")
    assert _lib.candidate_paths()[1][1] == os.path.join(REPO, "build", "lib", "libxsam.so")


def test_missing_explicit_library_is_reported(tmp_path):
    env = dict(os.environ, XSAM_LIBRARY=str(tmp_path / "nope.so"), PYTHONPATH=os.path.join(REPO, "bindings", "python"))
    p = subprocess.run(["/usr/bin/python3", "-c", "import xsam; xsam.version()"], env=env, capture_output=True,
                       text=True)
    assert p.returncode != 0
    assert "LibraryNotFoundError" in p.stderr and "nope.so (no such file)" in p.stderr
