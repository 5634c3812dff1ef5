#!/usr/bin/env python3
"""Lists functions longer than N lines (default 120) in C++ sources: tools/function_lengths.py [-n N] PATH...

A function is a definition whose body's braces balance; lambdas and local classes count toward the
function that holds them. Comments and string literals are skipped when counting braces."""
import argparse, os, re, sys

def strip_code(text):
    out, i, n = [], 0, len(text)
    while i < n:
        c = text[i]
        if text.startswith("//", i):
            j = text.find("\n", i); j = n if j < 0 else j
            out.append(" " * (j - i)); i = j
        elif text.startswith("/*", i):
            j = text.find("*/", i + 2); j = n if j < 0 else j + 2
            out.append(re.sub(r"[^\n]", " ", text[i:j])); i = j
        elif text.startswith('R"', i):
            m = re.match(r'R"([^(\s]*)\(', text[i:])
            end = text.find(")" + m.group(1) + '"', i) if m else -1
            j = n if end < 0 else end + len(m.group(1)) + 2
            out.append(re.sub(r"[^\n]", " ", text[i:j])); i = j
        elif c in "\"'":
            j = i + 1
            while j < n and text[j] != c:
                j += 2 if text[j] == "\\" else 1
            out.append(c + re.sub(r"[^\n]", " ", text[i + 1:j]) + c); i = j + 1
        else:
            out.append(c); i += 1
    return "".join(out)

HEAD = re.compile(r"\)\s*(const)?\s*(noexcept)?\s*(override)?\s*(->\s*[\w:<>,\s*&]+)?\s*(:[^{;]*)?$", re.S)

def functions(path):
    code = strip_code(open(path, encoding="utf-8", errors="replace").read())
    depth, stack = 0, []
    for i, ch in enumerate(code):
        if ch == "{":
            before = code[max(0, i - 400):i]
            start = max(before.rfind(";"), before.rfind("}"), before.rfind("{"))
            head = before[start + 1:].strip()
            is_fn = bool(HEAD.search(head)) and not re.match(r"^(if|for|while|switch|catch|else|do|return)\b", head) \
                and "=" not in head.split("(")[0] and not head.endswith("]")
            stack.append((is_fn and not any(f for f, _, _ in stack), i, head))
            depth += 1
        elif ch == "}" and stack:
            is_fn, start, head = stack.pop()
            depth -= 1
            if is_fn:
                first = code.count("\n", 0, start - len(head)) + 1
                last = code.count("\n", 0, i) + 1
                name = re.sub(r"\s+", " ", head.split("(")[0])[-60:]
                yield first, last, name

def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("-n", type=int, default=120)
    ap.add_argument("paths", nargs="+")
    a = ap.parse_args()
    files = []
    for p in a.paths:
        if os.path.isdir(p):
            for root, _, names in os.walk(p):
                files += [os.path.join(root, f) for f in names if f.endswith((".cpp", ".h", ".hpp", ".c"))]
        else:
            files.append(p)
    found = 0
    for f in sorted(files):
        for first, last, name in functions(f):
            if last - first + 1 > a.n:
                print(f"{f}:{first}: {last - first + 1} lines: {name}")
                found += 1
    return 1 if found else 0

if __name__ == "__main__":
    sys.exit(main())
