#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-or-later
# The qemu mover with QEMU's stream (and the VF's state) on one channel and
# on two multifd channels (--multifd 2), in the testbed: migrate-qemu and
# migrate-qemu-multifd, RUNS runs each (default 3). Prints each run's
# downtime, total time and VF bytes, the medians and the multifd/plain
# ratios. Under TCG on shared cores the figures are the testbed's, not a
# real host's: compare the two rows with each other.
#
#   benchmarks/multifd.sh [BUILD_DIR] [RUNS]
set -u
here=$(cd "$(dirname "$0")" && pwd)
build=${1:-$(dirname "$here")/build}
runs=${2:-3}
"$here/testbed-figures.sh" "$build" "$runs" migrate-qemu migrate-qemu-multifd >"${TMPDIR:-/tmp}/nvfm-multifd.$$"
rc=$?
python3 - "${TMPDIR:-/tmp}/nvfm-multifd.$$" <<'PY'
import statistics, sys
rows = {}
for line in open(sys.argv[1]):
    f = line.split()
    if len(f) < 2 or f[1] == "FAILED":
        continue
    kv = dict(x.split("=", 1) for x in f[1:] if "=" in x)
    rows.setdefault(f[0], []).append(kv)
keys = ("downtime_ms", "migrate_total_ms", "vfio_bytes")
print("%-22s %4s %12s %16s %12s" % ("scenario", "runs", "downtime_ms", "migrate_total_ms", "vfio_bytes"))
med = {}
for name in ("migrate-qemu", "migrate-qemu-multifd"):
    rs = rows.get(name, [])
    for r in rs:
        print("%-22s %4s %12s %16s %12s" % (name, "", r.get("downtime_ms"), r.get("migrate_total_ms"), r.get("vfio_bytes")))
    if rs:
        med[name] = {k: statistics.median(float(r[k]) for r in rs if k in r) for k in keys}
        print("%-22s %4d %12.0f %16.0f %12.0f   (medians)" % ((name, len(rs)) + tuple(med[name][k] for k in keys)))
if len(med) == 2:
    p, m = med["migrate-qemu"], med["migrate-qemu-multifd"]
    print("multifd/plain: downtime %.2f, total %.2f" % (m["downtime_ms"] / p["downtime_ms"],
                                                    m["migrate_total_ms"] / p["migrate_total_ms"]))
PY
rm -f "${TMPDIR:-/tmp}/nvfm-multifd.$$"
exit $rc
