#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-or-later
# Dirty-page tracking made visible: `vf state` and `check` name the
# tracking QEMU will use for a VF (device-dma-logging, iommu, none) with
# the same key in text and JSON, and for none `check` puts a price on it:
# the VM's RAM over the migration bandwidth, in ms of downtime per pass.
# The emulated VF's knobs (dma-logging, iommu-dirty) drive each branch; a
# fake QMP server (fake-qmp.py) plays the source VM. One case per run.
set -u
CASE=$1
NAME=cli-dirty
. "$(dirname "$0")/cli-lib.sh"
FAKE_QMP="$(dirname "$0")/fake-qmp.py"

# tracking_is DEV MODE: vf state says MODE, in text and in JSON
tracking_is() {
	ok "$TOOL" vf state "$1"
	grep -qx "dirty_tracking: $2" "$WORK/out" || fail "vf state text: $(cat "$WORK/out")"
	ok "$TOOL" --json vf state "$1"
	python3 -c 'import json,sys; sys.exit(json.load(open(sys.argv[1]))["dirty_tracking"] != sys.argv[2])' \
		"$WORK/out" "$2" || fail "vf state JSON: $(cat "$WORK/out")"
}

# check_src ARGS...: check (no agent listens: exit 3, the destination is
# a blocker) with the source report in $WORK/src.json and text in $WORK/text
check_src() {
	"$TOOL" check emu:d --to 127.0.0.1:1 --dest-pf emu:nopf --insecure "$@" >"$WORK/text" 2>"$WORK/err"
	[ $? -eq 3 ] || fail "check did not exit 3: $(cat "$WORK/text" "$WORK/err")"
	"$TOOL" --json check emu:d --to 127.0.0.1:1 --dest-pf emu:nopf --insecure "$@" >"$WORK/out" 2>"$WORK/err"
	python3 -c 'import json,sys; json.dump(json.load(open(sys.argv[1]))["source"], open(sys.argv[2], "w"))' \
		"$WORK/out" "$WORK/src.json" || fail "check JSON: $(cat "$WORK/out" "$WORK/err")"
}

# src_is EXPR: a Python expression on the source report s
src_is() {
	python3 -c 'import json,sys; s=json.load(open(sys.argv[1])); sys.exit(0 if eval(sys.argv[2]) else 1)' \
		"$WORK/src.json" "$1" || fail "check source: not $1: $(cat "$WORK/src.json")"
}

# fake_vm RAM MAX_BANDWIDTH MBPS: a source VM's QMP at $WORK/vm.sock
fake_vm() {
	python3 "$FAKE_QMP" "$WORK/vm.sock" "$@" &
	FAKE=$!
	trap 'kill $FAKE 2>/dev/null; rm -rf "$WORK"' EXIT
	i=0
	while [ ! -S "$WORK/vm.sock" ] && [ $i -lt 100 ]; do
		sleep 0.05
		i=$((i + 1))
	done
	[ -S "$WORK/vm.sock" ] || fail "fake QMP did not start"
}

ok "$TOOL" emu create d --size 1M
case "$CASE" in
vf-state)
	tracking_is emu:d none
	grep -q '"iommu_dirty": false' "$WORK/out" || fail "facts: $(cat "$WORK/out")"
	ok "$TOOL" emu fault d iommu-dirty 1
	tracking_is emu:d iommu
	ok "$TOOL" emu fault d dma-logging 1
	# QEMU prefers the device's own logging
	tracking_is emu:d device-dma-logging
	grep -q '"dma_logging": true' "$WORK/out" || fail "facts: $(cat "$WORK/out")"
	;;
check-branches)
	check_src
	src_is 's["dirty_tracking"] == "none" and s["dirty_cost"]["extra_downtime_ms"] is None'
	src_is 's["dirty_cost"]["bandwidth_from"] == "link"'
	src_is 'any("dirty_tracking: none for emu:d" in w and "at the link" in w for w in s["warnings"])'
	grep -qx "  dirty_tracking: none" "$WORK/text" || fail "check text: $(cat "$WORK/text")"
	grep -qx "  dirty_cost.bandwidth_from: link" "$WORK/text" || fail "check text: $(cat "$WORK/text")"
	ok "$TOOL" emu fault d iommu-dirty 1
	check_src
	src_is 's["dirty_tracking"] == "iommu" and "dirty_cost" not in s'
	src_is 'not any("dirty_tracking" in w for w in s["warnings"])'
	grep -qx "  dirty_tracking: iommu" "$WORK/text" || fail "check text: $(cat "$WORK/text")"
	ok "$TOOL" emu fault d dma-logging 1
	check_src
	src_is 's["dirty_tracking"] == "device-dma-logging" and "dirty_cost" not in s'
	;;
check-cost)
	# 64 MiB at max-bandwidth 128 MiB/s: 500 ms per pass
	fake_vm 67108864 134217728 0
	check_src --vm "$WORK/vm.sock" --dest-vm "$WORK/none.sock" --migrate-uri tcp:127.0.0.1:1
	src_is 's["dirty_cost"] == {"ram_bytes": 67108864, "bandwidth_bytes_per_s": 134217728, "bandwidth_from": "max-bandwidth", "extra_downtime_ms": 500}'
	src_is 'any("(64.0" in w and "MiB" in w and "500 ms" in w for w in s["warnings"])'
	grep -qx "  dirty_cost.extra_downtime_ms: 500" "$WORK/text" || fail "check text: $(cat "$WORK/text")"
	kill $FAKE
	wait $FAKE 2>/dev/null
	# what QEMU measured wins: 800 Mbit/s = 100 MB/s, 64 MiB in 672 ms
	rm -f "$WORK/vm.sock"
	fake_vm 67108864 134217728 800
	check_src --vm "$WORK/vm.sock" --dest-vm "$WORK/none.sock" --migrate-uri tcp:127.0.0.1:1
	src_is 's["dirty_cost"]["bandwidth_from"] == "ram.mbps" and s["dirty_cost"]["extra_downtime_ms"] == 672'
	# with tracking, no cost
	ok "$TOOL" emu fault d iommu-dirty 1
	check_src --vm "$WORK/vm.sock" --dest-vm "$WORK/none.sock" --migrate-uri tcp:127.0.0.1:1
	src_is '"dirty_cost" not in s'
	;;
emu-dirty-iova)
	# the guest-memory write path: announced, with a clear error for a
	# bad address (the log itself: tests/emu/test-emu-dmalog.c)
	ok "$TOOL" emu dirty d 8K --iova 0x100000000
	grep -q "^result: 8192 bytes of guest memory written at 0x100000000" "$WORK/out" ||
		fail "emu dirty --iova: $(cat "$WORK/out")"
	[ -s "$NVFM_EMU_DIR/d.dma" ] || fail "no write announced"
	expect 2 "invalid --iova 'nowhere'" "$TOOL" emu dirty d 8K --iova nowhere
	ok "$TOOL" emu destroy d
	[ ! -e "$NVFM_EMU_DIR/d.dma" ] || fail "destroy left d.dma"
	;;
*)
	fail "unknown case $CASE"
	;;
esac
exit 0
