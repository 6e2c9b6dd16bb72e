#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""Save+load throughput of an emulated VF's state beside a plain pipe copy
of the same bytes, with peak RSS and CPU time of each process.

usage: benchmarks/save-load.py [--size 1G] [--tool build/src/cli/nvme-vf-migrate]

Prints one table; the ratio compares our save | load pipeline with the
ceiling: the same number of stream bytes copied through a pipe by cat.
"""
import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time


def run_pipeline(left, right, env):
    """Run `left | right`; return wall seconds and per-process rusage."""
    t0 = time.monotonic()
    a = subprocess.Popen(left, stdout=subprocess.PIPE, env=env)
    b = subprocess.Popen(right, stdin=a.stdout, stdout=subprocess.DEVNULL, env=env)
    a.stdout.close()
    usage = {}
    for p in (a, b):
        _, status, ru = os.wait4(p.pid, 0)
        p.returncode = os.waitstatus_to_exitcode(status)
        usage[p.pid] = ru
    wall = time.monotonic() - t0
    if a.returncode or b.returncode:
        sys.exit("benchmark: %s | %s failed (%d, %d)" %
                 (left[0], right[0], a.returncode, b.returncode))
    return wall, usage[a.pid], usage[b.pid]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--size", default="1G")
    ap.add_argument("--tool", default="build/src/cli/nvme-vf-migrate")
    ap.add_argument("--runs", type=int, default=3)
    args = ap.parse_args()
    tool = os.path.abspath(args.tool)
    if not os.access(tool, os.X_OK):
        sys.exit("benchmark: %s not built (run: meson setup build && ninja -C build)" % tool)

    work = tempfile.mkdtemp(prefix="nvfm-bench.")
    env = dict(os.environ, NVFM_EMU_DIR=os.path.join(work, "emu"))
    try:
        for name, seed in (("a", "1"), ("b", "2")):
            subprocess.run([tool, "-q", "emu", "create", name, "--size", args.size,
                            "--seed", seed], env=env, check=True)
        # The same bytes our pipeline carries, for the ceiling.
        stream = os.path.join(work, "stream.nvfm")
        subprocess.run([tool, "-q", "save", "emu:a", "-o", stream], env=env, check=True)
        nbytes = os.path.getsize(stream)

        best_ours = best_raw = None
        for _ in range(args.runs):
            # warm page cache, then the ceiling: cat file | cat
            raw = run_pipeline(["cat", stream], ["cat"], env)
            ours = run_pipeline([tool, "-q", "save", "emu:a", "-o", "-"],
                                [tool, "-q", "load", "emu:b", "-i", "-"], env)
            if best_raw is None or raw[0] < best_raw[0]:
                best_raw = raw
            if best_ours is None or ours[0] < best_ours[0]:
                best_ours = ours

        def row(label, r):
            wall, ru_l, ru_r = r
            cpu = ru_l.ru_utime + ru_l.ru_stime + ru_r.ru_utime + ru_r.ru_stime
            rss = max(ru_l.ru_maxrss, ru_r.ru_maxrss) / 1024.0
            mibs = nbytes / wall / (1 << 20)
            print("%-28s %8.3f s %9.1f MiB/s %8.3f s CPU %8.1f MiB peak RSS" %
                  (label, wall, mibs, cpu, rss))
            return mibs

        print("state %s: %d stream bytes; best of %d runs" % (args.size, nbytes, args.runs))
        ceiling = row("pipe copy (cat | cat)", best_raw)
        ours = row("save | load (emu -> emu)", best_ours)
        print("ratio save+load / pipe copy: %.2f" % (ours / ceiling))
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
