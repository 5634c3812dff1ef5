#!/usr/bin/env python3
"""Fails if a golden test hard-codes a number that the golden set's own files define.

The golden tests must run on any set of the same producer and layout (other sizes, seeds, images, prompts),
so every size, count, seed and index they use has to come from the set's config.json, index.json and case
files. This check collects the numbers those files hold (numeric values, array lengths, tensor dimensions)
and flags each integer literal >= 4 in tests/golden/*.cpp and *.h that equals one of them,
including digits inside string literals (tensor names such as "...per_layer.3").

A literal that is not a fact of the set (a test's own choice, a released-model size) stays allowed when
its line carries the comment `// not from the set: <why>`; the same comment on the line of a TEST( (or
the line above it) allows the whole test (synthetic tests that build their own inputs).

  check_set_constants.py [GOLDEN_DIR] [SOURCE_DIR]
"""
import json
import pathlib
import re
import sys

ALLOW_MARK = "not from the set:"
SMALLEST = 4  # 0..3 (and -1) are everywhere: indices, booleans, pairs, RGB
STRING_SMALLEST = 3


def scalars_of(value, out):
    """Integer scalars of a config: sizes, counts, ids (lists of data, such as token chains, left out)."""
    if isinstance(value, dict):
        for v in value.values():
            scalars_of(v, out)
    elif not isinstance(value, (list, bool)) and isinstance(value, (int, float)) and float(value).is_integer():
        out.add(abs(int(value)))


def numbers_of(value, out):
    """Integers a JSON value holds: numeric leaves (integral floats too) and array lengths."""
    if isinstance(value, bool):
        return
    if isinstance(value, (int, float)):
        if float(value).is_integer():
            out.add(abs(int(value)))
    elif isinstance(value, list):
        out.add(len(value))
        for v in value:
            numbers_of(v, out)
    elif isinstance(value, dict):
        for v in value.values():
            numbers_of(v, out)


CASE_FIELDS = ("seed", "scaled_size", "image_size", "sentinels")  # a case's sizes, seed and positions
CASE_LENGTHS = ("input_ids", "generated_ids", "input_text_pieces")  # its sequence lengths


def set_numbers(golden):
    """Sizes, counts, seeds and indices the set defines: config.json's values, each case's seed, sizes,
    sentinel positions and sequence lengths, every tensor dimension of index.json, and the number of cases."""
    out = set()
    with open(golden / "config.json") as f:
        scalars_of(json.load(f), out)
    with open(golden / "index.json") as f:
        index = json.load(f)
    cases = index.get("cases", index)
    out.add(len(cases))
    for tensors in cases.values():
        for shape_dtype in (tensors.values() if isinstance(tensors, dict) else []):
            if isinstance(shape_dtype, list) and shape_dtype and isinstance(shape_dtype[0], list):
                out.update(abs(int(d)) for d in shape_dtype[0])
    for path in sorted(golden.glob("case_*.json")):
        with open(path) as f:
            case = json.load(f)
        for field in CASE_FIELDS:
            if field in case:
                numbers_of(case[field], out)
        for field in CASE_LENGTHS:
            if isinstance(case.get(field), list):
                out.add(len(case[field]))
    return {n for n in out if n >= STRING_SMALLEST}


LITERAL = re.compile(r"(?<![\w.])(\d+)(?![\w.])")
STRING = re.compile(r'"(?:[^"\\]|\\.)*"')
DIGITS_IN_STRING = re.compile(r"[._](\d+)(?=[.\"_)]|$)")


def strip_comment(line):
    out, in_string, i = [], False, 0
    while i < len(line):
        c = line[i]
        if c == '"' and (i == 0 or line[i - 1] != "\\"):
            in_string = not in_string
        if not in_string and line.startswith("//", i):
            break
        out.append(c)
        i += 1
    return "".join(out)


def literals(code):
    """Integer literals outside strings, and integers that follow '.' or '_' inside string literals."""
    found = []
    for s in STRING.findall(code):
        # An index inside a tensor name ("...per_layer.3") counts from 3: a layer, level or case index.
        found += [(int(m), STRING_SMALLEST) for m in DIGITS_IN_STRING.findall(s)]
    bare = STRING.sub('""', code)
    bare = re.sub(r"\b\d+\.\d*(?:[eE][-+]?\d+)?f?\b|\b\d+[eE][-+]?\d+\b", " ", bare)  # floats
    bare = re.sub(r"\b0[xX][0-9a-fA-F]+\b", " ", bare)  # hex
    found += [(int(m), SMALLEST) for m in LITERAL.findall(bare)]
    return found


def main():
    root = pathlib.Path(__file__).resolve().parents[2]
    golden = pathlib.Path(sys.argv[1]) if len(sys.argv) > 1 else root / "tests/data/golden/aaai26-tiny"
    source = pathlib.Path(sys.argv[2]) if len(sys.argv) > 2 else root
    numbers_all = set_numbers(golden)
    files = sorted(list((source / "tests/golden").glob("*.cpp")) + list((source / "tests/golden").glob("*.h")))
    problems = []
    in_block_comment = False
    for path in files:
        in_allowed_test = False
        previous = ""
        for no, line in enumerate(path.read_text().splitlines(), 1):
            stripped = line.strip()
            if line.startswith("TEST") and (ALLOW_MARK in line or ALLOW_MARK in previous):
                in_allowed_test = True
            previous = line
            if in_allowed_test:
                in_allowed_test = line != "}"
                continue
            if in_block_comment:
                in_block_comment = "*/" not in stripped
                continue
            if stripped.startswith("/*"):
                in_block_comment = "*/" not in stripped
                continue
            if stripped.startswith("//") or stripped.startswith("#include") or ALLOW_MARK in line:
                continue
            for n, smallest in literals(strip_comment(line)):
                if n >= smallest and n in numbers_all:
                    problems.append(f"{path.relative_to(source)}:{no}: {n} is a value of the golden set: {stripped}")
    for p in problems:
        print(p)
    print(f"check_set_constants: {len(files)} files, {len(numbers_all)} numbers from {golden}, "
          f"{len(problems)} hard-coded")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
