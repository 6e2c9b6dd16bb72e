#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""Sum meson's test logs of several build directories into the one closing
line CI reads: "N passed, N failed, N skipped".

usage: summarize-tests.py BUILDDIR... [--failed STEP]...
A --failed STEP is a step (a build) that broke before its tests could run;
it counts as one failure."""
import json
import os
import sys

passed = failed = skipped = 0
failures = []
args = sys.argv[1:]
dirs, broken = [], []
while args:
    a = args.pop(0)
    if a == "--failed" and args:
        broken.append(args.pop(0))
    else:
        dirs.append(a)

for d in dirs:
    if d in broken:
        continue
    log = os.path.join(d, "meson-logs", "testlog.json")
    if not os.path.exists(log):
        continue
    with open(log) as f:
        for line in f:
            line = line.strip()
            if not line:
                continue
            t = json.loads(line)
            res = t.get("result")
            if res in ("OK", "EXPECTEDFAIL"):
                passed += 1
            elif res == "SKIP":
                skipped += 1
            else:
                failed += 1
                failures.append("%s: %s (%s)" % (d, t.get("name"), res))

for b in broken:
    failed += 1
    failures.append("%s: did not build" % b)

for f in failures:
    print("FAILED: " + f)
print("%d passed, %d failed, %d skipped" % (passed, failed, skipped))
sys.exit(1 if failed else 0)
