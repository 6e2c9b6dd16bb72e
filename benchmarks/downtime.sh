#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-or-later
# The orchestrator's added downtime: for a VM (the tiny guest, real QEMU)
# with a 64 MiB emulated VF (or VFS of them, moved as one unit), migrated
# between two network namespaces in direct mode, downtime (source pause ->
# destination resume) minus the VF states' transfer in the pause window
# (stop-copy + restore), median of N runs.
#
#   sudo benchmarks/downtime.sh [BUILD_DIR] [RUNS] [SIZE] [VFS]
#
# Prints one line per run, then the medians and the ratio of the added
# time to the whole downtime.
set -eu
cd "$(dirname "$0")/.."
BUILD=${1:-build}
RUNS=${2:-10}
SIZE=${3:-64M}
VFS=${4:-1}
TOOL=$PWD/$BUILD/src/cli/nvme-vf-migrate
GUEST=$PWD/$BUILD/tests/qmp/tiny-guest.elf
[ "$(id -u)" -eq 0 ] || { echo "downtime.sh: needs root (network namespaces)" >&2; exit 2; }
[ -x "$TOOL" ] && [ -f "$GUEST" ] || {
	echo "downtime.sh: build first (ninja -C $BUILD; ninja -C $BUILD tests/qmp/tiny-guest.elf)" >&2
	exit 2
}

WORK=$(mktemp -d "${TMPDIR:-/tmp}/nvfm-downtime.XXXXXX")
. scripts/twohosts.sh
trap 'th_cleanup; [ -n "${KEEP_WORK:-}" ] || rm -rf "$WORK"' EXIT
trap 'exit 1' INT TERM
th_setup
NPF=$((VFS > 2 ? VFS : 2))
on_a "$TOOL" -q emu pf-create pfa --vfs "$NPF" --size "$SIZE"
on_b "$TOOL" -q emu pf-create pfb --vfs "$NPF" --size "$SIZE"
th_agent b

printf '%-4s %12s %14s %12s %10s\n' run downtime_ms transfer_ms added_ms state_MiB
i=1
while [ "$i" -le "$RUNS" ]; do
	SRC=
	for _ in $(seq "$VFS"); do
		SRC="$SRC $(on_a "$TOOL" --json vf provision emu:pfa |
			python3 -c 'import json,sys; print(json.load(sys.stdin)["device"])')"
	done
	th_qemu a
	th_qemu b -incoming defer
	# shellcheck disable=SC2086
	on_a "$TOOL" -q migrate $SRC --to "$IPB:$AGENT_PORT" --insecure --dest-pf emu:pfb \
		--vm "$WORK/qmp-a.sock" --dest-vm "$WORK/qmp-b.sock" --migrate-uri "tcp:$IPB:$MIG_PORT" \
		--report "$WORK/r$i.json"
	python3 - "$WORK/r$i.json" "$i" <<'EOF'
import json, sys
r = json.load(open(sys.argv[1]))
d, t = r["downtime_ms"], r["state_transfer_ms"]
print("%-4s %12.1f %14.1f %12.1f %10.1f" % (sys.argv[2], d, t, d - t, r["state_bytes"] / 2**20))
EOF
	# B's VFs go back, B's QEMU (now the VM) goes: the next run starts afresh
	kill "$QEMU_B"
	wait "$QEMU_B" 2>/dev/null || true
	for DVF in $(python3 -c 'import json,sys; print(" ".join(v["destination_vf"] for v in json.load(open(sys.argv[1]))["vfs"]))' "$WORK/r$i.json"); do
		# released by the client that reserved it: A
		on_a "$TOOL" -q agent request release --to "$IPB:$AGENT_PORT" --insecure vf="$DVF" >/dev/null
	done
	i=$((i + 1))
done
python3 - "$WORK" "$RUNS" <<'EOF'
import json, statistics, sys
rs = [json.load(open("%s/r%d.json" % (sys.argv[1], i))) for i in range(1, int(sys.argv[2]) + 1)]
d = statistics.median(r["downtime_ms"] for r in rs)
t = statistics.median(r["state_transfer_ms"] for r in rs)
a = statistics.median(r["downtime_ms"] - r["state_transfer_ms"] for r in rs)
print("median of %d (%d VF%s): downtime %.1f ms, VF state transfer %.1f ms, orchestrator added "
      "%.1f ms (%.0f%% of the downtime)" % (len(rs), len(rs[0]["vfs"]),
      "s" if len(rs[0]["vfs"]) > 1 else "", d, t, a, 100 * a / d))
def phase(r, name):
    return next(p["ms"] for p in r["timeline"] if p["phase"] == name)
# where the added time goes: from the source's STOP to the VF's STOP_COPY
# (QEMU reaching pre-switchover, our migrate-continue), after the VF's
# restore (the reservation kept, QEMU's completion, which ran alongside the
# VF's stop-copy) and the destination's start (our "cont" to its RESUME)
print("of which (medians): STOP to STOP_COPY %.1f ms, switchover after the VF %.1f ms, "
      "destination resume %.1f ms" % (
    statistics.median(phase(r, "pause") for r in rs),
    statistics.median(phase(r, "switchover") for r in rs),
    statistics.median(phase(r, "resume") for r in rs)))
print("verdict: added downtime %.1f ms %s the 5 ms target" % (a, "within" if a <= 5 else "ABOVE"))
EOF
