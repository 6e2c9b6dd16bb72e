#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-or-later
# The guest's I/O blackout beside QEMU's downtime, in the testbed: the
# nested guest doing verified NVMe I/O on its VF (nvfm_nvme_lm) migrated by
# the qemu mover (lm-migrate-qemu), RUNS runs (default 3). The blackout runs
# from the last completion A's VF posted before its final Suspend to the
# first B's posted after Resume, both logged by the outer QEMUs on one clock
# (tests/testbed/run, docs/nvme-lm.md). Prints each run's blackout,
# downtime and controller-state bytes, the medians, and the blackout minus
# the downtime (the goal: within 5 ms).
#
#   benchmarks/io-blackout.sh [BUILD_DIR] [RUNS]
set -u
here=$(cd "$(dirname "$0")" && pwd)
build=${1:-$(dirname "$here")/build}
runs=${2:-3}
"$here/testbed-figures.sh" "$build" "$runs" lm-migrate-qemu >"${TMPDIR:-/tmp}/nvfm-blackout.$$"
rc=$?
python3 - "${TMPDIR:-/tmp}/nvfm-blackout.$$" <<'PY'
import statistics, sys
rs = []
for line in open(sys.argv[1]):
    f = line.split()
    if len(f) > 1 and f[1] != "FAILED":
        rs.append(dict(x.split("=", 1) for x in f[1:] if "=" in x))
print("%4s %16s %12s %12s %14s" % ("run", "io_blackout_ms", "downtime_ms", "state_bytes", "blackout-down"))
for i, r in enumerate(rs, 1):
    if "io_blackout_ms" not in r:
        print("%4d  (no blackout logged)" % i)
        continue
    b, d = float(r["io_blackout_ms"]), float(r["downtime_ms"])
    print("%4d %16.1f %12.0f %12s %14.1f" % (i, b, d, r.get("vfio_bytes"), b - d))
ok = [r for r in rs if "io_blackout_ms" in r]
if ok:
    b = statistics.median(float(r["io_blackout_ms"]) for r in ok)
    d = statistics.median(float(r["downtime_ms"]) for r in ok)
    print("median of %d: I/O blackout %.1f ms, QEMU downtime %.1f ms, blackout - downtime %.1f ms (%s the 5 ms goal)"
          % (len(ok), b, d, b - d, "within" if abs(b - d) <= 5 else "outside"))
PY
rm -f "${TMPDIR:-/tmp}/nvfm-blackout.$$"
exit $rc
