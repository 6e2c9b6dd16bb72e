#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""Runs every example command of README.md, docs/*.md and nvme-vf-migrate(8)
that can run here: those naming only emulated devices and no other host.
Each runs exactly as written (the `save emu:a -o - | ... load emu:b -i -`
pipe included, without -q) in a fresh emulated host holding emu:a, emu:b
and a saved a.nvfm, and must exit 0. The others are listed with why they
were left out. Usage: doc-examples.py SOURCE_ROOT (NVFM_CLI: the tool)."""
import glob
import os
import re
import shutil
import subprocess
import sys
import tempfile

ROOT = sys.argv[1] if len(sys.argv) > 1 else os.environ["NVFM_SOURCE_ROOT"]
TOOL = os.environ["NVFM_CLI"]
PROG = "nvme-vf-migrate"

# why an example cannot run here, by what it contains
NOT_HERE = [
    (re.compile(r"\.\.\.|\[|SOCKET|VF |DEV "), "a placeholder"),
    (re.compile(r"vfio:|\b[0-9a-f]{4}:[0-9a-f]{2}:[0-9a-f]{2}\.[0-9]\b|fd:"), "real hardware"),
    (re.compile(r"--to\b|--connect|--dest-connect|\bagent\b|\breceive\b"), "another host or an agent"),
    (re.compile(r"\bqmp\b|--vm\b|--domain\b"), "a running VM"),
    (re.compile(r"\breport \S+\.json"), "the report a migration wrote (migrate --report)"),
]


def markdown_examples(path):
    fenced = False
    cont = False
    for n, line in enumerate(open(path, encoding="utf-8"), 1):
        if line.lstrip().startswith("```"):
            fenced = not fenced
            continue
        text = line.strip()
        if not fenced:
            continue
        was_cont, cont = cont, text.endswith("\\")
        if was_cont:
            continue
        if text.startswith("$ "):
            text = text[2:]
        if text.startswith(PROG + " "):
            yield n, text, cont


def man_examples(path):
    on = False
    for n, line in enumerate(open(path, encoding="utf-8"), 1):
        if line.startswith(".SH"):
            on = line.strip() == ".SH EXAMPLES"
            continue
        text = line.strip().replace("\\-", "-")
        if on and text.startswith(PROG + " "):
            yield n, text, text.endswith("\\")


def strip_comment(text):
    return re.sub(r"\s{2,}#.*$", "", text).strip()


def why_not(text, cont):
    if cont:
        return "continued over lines"
    for pat, why in NOT_HERE:
        if pat.search(text):
            return why
    return None


def run(cmd):
    """One example in a fresh emulated host; returns (ok, output)."""
    work = tempfile.mkdtemp(prefix="nvfm-doc-")
    env = dict(os.environ, NVFM_EMU_DIR=os.path.join(work, "emu"),
               PATH=os.path.dirname(os.path.abspath(TOOL)) + ":" + os.environ["PATH"])
    try:
        for setup in (["emu", "create", "a", "--size", "4M", "--flags", "p2p,precopy", "--seed", "1"],
                      ["emu", "create", "b", "--size", "4M", "--flags", "p2p,precopy", "--seed", "2"],
                      ["save", "emu:a", "-o", "a.nvfm"]):
            subprocess.run([TOOL, "-q"] + setup, cwd=work, env=env, check=True,
                           stdin=subprocess.DEVNULL, timeout=120)
        # the example as written: the tool found by its name on PATH
        # pipefail: both ends of a pipe must succeed
        p = subprocess.run(["bash", "-o", "pipefail", "-c", cmd], cwd=work, env=env,
                           stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=300)
        return p.returncode == 0, p.returncode, (p.stdout + p.stderr)[-2000:]
    finally:
        shutil.rmtree(work, ignore_errors=True)


def main():
    if os.path.basename(TOOL) != PROG or not shutil.which("bash"):
        print(f"SKIP: no bash, or the tool is not named {PROG}", file=sys.stderr)
        return 77
    sources = [os.path.join(ROOT, "README.md")] + sorted(glob.glob(os.path.join(ROOT, "docs", "*.md")))
    found = []
    for s in sources:
        found += [(s, n, t, c) for n, t, c in markdown_examples(s)]
    for s in sorted(glob.glob(os.path.join(ROOT, "data", "*.8"))):
        found += [(s, n, t, c) for n, t, c in man_examples(s)]
    ran = failed = 0
    for src, n, text, cont in found:
        where = f"{os.path.relpath(src, ROOT)}:{n}"
        cmd = strip_comment(text)
        why = why_not(cmd, cont)
        if why:
            print(f"# skip {where}: {why}: {cmd}")
            continue
        ok, rc, out = run(cmd)
        ran += 1
        print(f"{'ok' if ok else 'FAIL'} {where}: {cmd}")
        if not ok:
            failed += 1
            print(f"   exit {rc}: {out}")
    print(f"{ran} examples ran, {failed} failed, {len(found) - ran} left out")
    if ran < 6:
        print("FAIL: fewer examples ran than the docs hold runnable ones", file=sys.stderr)
        return 1
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
