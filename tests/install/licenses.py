#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""Every source file says its license and every license it names ships:
each C, assembly, shell, python and make file under src/, include/,
hooks/, tests/, scripts/ and benchmarks/ carries an
SPDX-License-Identifier line in its first lines, and every identifier used
anywhere in those trees (and data/) has its text in LICENSES/<ID>.txt."""
import os
import re
import sys

SOURCE = os.environ["NVFM_SOURCE_ROOT"]
MUST_CARRY = ("src", "include", "hooks", "tests", "scripts", "benchmarks")
SCANNED = MUST_CARRY + ("data",)
CODE_SUFFIXES = (".c", ".h", ".S", ".s", ".ld", ".sh", ".py", ".h.in")
CODE_NAMES = ("Makefile", "Kbuild")
SHEBANG = re.compile(r"^#!.*\b(sh|bash|python3?)\b")
SPDX = re.compile(r"SPDX-License-Identifier:\s*([^\s*/]+)")
HEAD_LINES = 5
# Their exact bytes are the testbed's cache keys (tests/testbed/run): an
# added line would rebuild QEMU and the host image. They are
# GPL-2.0-or-later like the rest of tests/.
EXEMPT = ("tests/testbed/build-qemu", "tests/testbed/build-image")


def is_code(path, head):
    name = os.path.basename(path)
    if name.endswith(CODE_SUFFIXES) or name in CODE_NAMES:
        return True
    return bool(head) and bool(SHEBANG.match(head[0]))


def walk(top):
    for root, dirs, files in os.walk(os.path.join(SOURCE, top)):
        # fetched or generated trees: not the project's sources
        dirs[:] = [d for d in dirs if d not in ("cache", "corpus", "__pycache__")]
        for f in files:
            yield os.path.join(root, f)


def main():
    unlabelled, used = [], {}
    for top in SCANNED:
        for path in walk(top):
            try:
                with open(path, encoding="utf-8") as f:
                    head = [f.readline() for _ in range(HEAD_LINES)]
            except (UnicodeDecodeError, OSError):
                continue
            rel = os.path.relpath(path, SOURCE)
            ids = [m.group(1) for line in head for m in [SPDX.search(line)] if m]
            for i in ids:
                used.setdefault(i, rel)
            if top in MUST_CARRY and is_code(path, head) and not ids and rel not in EXEMPT:
                unlabelled.append(rel)
    missing = sorted(i for i in used
                     if not os.path.isfile(os.path.join(SOURCE, "LICENSES", i + ".txt")))
    for i in sorted(used):
        print(f"{i}: LICENSES/{i}.txt (first used in {used[i]})")
    bad = False
    if unlabelled:
        bad = True
        print(f"FAIL: {len(unlabelled)} files carry no SPDX-License-Identifier line:",
              file=sys.stderr)
        for p in sorted(unlabelled):
            print("  " + p, file=sys.stderr)
    for i in missing:
        bad = True
        print(f"FAIL: {i} (used in {used[i]}) has no LICENSES/{i}.txt", file=sys.stderr)
    if not used:
        bad = True
        print("FAIL: no SPDX-License-Identifier found at all", file=sys.stderr)
    sys.exit(1 if bad else 0)


main()
