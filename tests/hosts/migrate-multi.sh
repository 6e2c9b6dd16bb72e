#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-or-later
# One VM with several VFs, moved as one unit by "nvme-vf-migrate migrate VF
# VF...": the tiny guest's real QEMU on host A and on host B (held with
# -incoming defer), emulated VFs on two PFs on each host. Every destination
# VF is reserved before anything moves, each source VF's state lands in its
# own destination VF (the digests), and a VF refusing its state at commit
# rolls every VF back. One case per invocation, named by $1.
set -u
CASE=$1
HERE=$(cd "$(dirname "$0")" && pwd)
ML_NAME=multi
FAIL_LOGS="migrate.out migrate.err agent-b.log qemu-a.log qemu-b.log"
. "$HERE/migrate-lib.sh"
# A: pfa (2 VFs, one provisioned by ml_setup as $VF) and pfa2 (2 VFs);
# B: pfb and pfb2, two VFs each
ml_setup
on_a "$TOOL" -q emu pf-create pfa2 --vfs 2 --size "$SIZE" || fail "emu pf-create pfa2"
on_b "$TOOL" -q emu pf-create pfb2 --vfs 2 --size "$SIZE" || fail "emu pf-create pfb2"

provision_a() {
	on_a "$TOOL" --json vf provision "$1" >"$WORK/prov.json" || fail "provision on $1"
	jget "$WORK/prov.json" device
}

# $VFS: the source VFs, $1 of them: VF (pfa), then pfa2's, then pfa's second
vfs() {
	VFS=$VF
	[ "$1" -ge 2 ] && VFS="$VFS $(provision_a emu:pfa2)"
	[ "$1" -ge 3 ] && VFS="$VFS $(provision_a emu:pfa)"
	[ "$(echo "$VFS" | wc -w)" -eq "$1" ] || fail "not $1 source VFs: $VFS"
}

start_vms() {
	th_agent b
	th_qemu a || fail "QEMU on A did not start"
	th_qemu b -incoming defer || fail "QEMU on B did not start"
}

migrate() {
	# shellcheck disable=SC2086
	on_a "$TOOL" migrate $VFS --to "$IPB:$AGENT_PORT" --dest-pf emu:pfb2 --dest-pf emu:pfb \
		--vm "$WORK/qmp-a.sock" --dest-vm "$WORK/qmp-b.sock" \
		--migrate-uri "tcp:$IPB:$MIG_PORT" --report "$WORK/report.json" --insecure "$@" \
		>"$WORK/migrate.out" 2>"$WORK/migrate.err"
	RC=$?
}

online() { "$@" --json vf list | grep -c '"state": "online"'; }

# every VF went, each into a VF of its own, with its own state
expect_migrated() {
	want=$1
	[ "$RC" -eq 0 ] || fail "migrate failed ($RC): $(cat "$WORK/migrate.err")"
	python3 - "$WORK/report.json" "$want" "$VFS" >"$WORK/pairs" <<'EOF' || fail "report"
import json, sys
r = json.load(open(sys.argv[1]))
n = int(sys.argv[2])
assert r["ok"] and r["committed"], r.get("error")
phases = [p["phase"] for p in r["timeline"] if p["outcome"] == "ok"]
assert phases == ["preflight", "reserve", "precopy", "pause", "stop-copy", "restore",
                  "switchover", "resume", "release"], phases
vfs = r["vfs"]
assert [v["source_vf"] for v in vfs] == sys.argv[3].split(), (sys.argv[3], vfs)
assert len({v["destination_vf"] for v in vfs}) == n, ("dest", vfs)
assert all(v["state_bytes"] > 0 and v["transfer_ms"] > 0 for v in vfs), vfs
assert r["state_bytes"] == sum(v["state_bytes"] for v in vfs), r["state_bytes"]
# several VFs: no flat "destination_vf", the per-VF list says it
assert "destination_vf" not in r
assert len({v["source_state_sha256"] for v in vfs}) == n, "two VFs sent the same state"
for v in vfs:
    print(v["source_vf"], v["destination_vf"], v["source_state_sha256"])
EOF
	while read -r src dst sum; do
		got=$(on_b "$TOOL" emu digest "${dst#emu:}" | sed -n 's/^sha256: //p')
		[ "$got" = "$sum" ] || fail "B's $dst does not hold $src's state ($got vs $sum)"
		on_b "$TOOL" --json vf state "$dst" | grep -q '"RUNNING"' || fail "B's $dst is not RUNNING"
	done <"$WORK/pairs"
	[ "$(online on_b "$TOOL")" -eq "$want" ] || fail "B has $(online on_b "$TOOL") VFs online, not $want"
	[ "$(online on_a "$TOOL")" -eq 0 ] || fail "A's VFs were not all released"
	kill -0 "$QEMU_A" 2>/dev/null && fail "A's QEMU still runs"
	runs_on b
	# one line per VF in the text report
	[ "$(grep -c '^vf emu:' "$WORK/migrate.out")" -eq "$want" ] ||
		fail "not $want VF lines: $(cat "$WORK/migrate.out")"
	sed -n 's/^downtime: /downtime: /p; /^vf emu:/p' "$WORK/migrate.out"
}

case "$CASE" in
two | three)
	# (twohosts.sh and runs_on use $n)
	[ "$CASE" = two ] && count=2 || count=3
	vfs $count
	start_vms
	migrate --precopy-rounds 2 ${MULTI_V:-}
	expect_migrated $count
	;;

three-refuse)
	# pfb2 gives the first two destination VFs; the first of its VFs to
	# commit refuses its state: all three roll back
	vfs 3
	start_vms
	on_b "$TOOL" -q emu pf-fault pfb2 reject-resume 1 || fail "arming reject-resume"
	migrate
	[ "$RC" -ne 0 ] || fail "migrate succeeded, expected the refusal"
	grep -q "^nvme-vf-migrate: restore: VF emu:.*RESUMING -> STOP" "$WORK/migrate.err" ||
		fail "unclear error: $(cat "$WORK/migrate.err")"
	[ "$(jget "$WORK/report.json" committed)" = false ] || fail "report says committed"
	[ "$(jget "$WORK/report.json" destination_ran_ms)" = 0.0 ] ||
		fail "B's guest ran: $(jget "$WORK/report.json" destination_ran_ms) ms"
	runs_on a
	not_running_on b
	for v in $VFS; do
		on_a "$TOOL" --json vf state "$v" | grep -q '"RUNNING"' || fail "A's $v is not RUNNING"
	done
	[ "$(online on_a "$TOOL")" -eq 3 ] || fail "A lost a VF: $(online on_a "$TOOL") online"
	n=50
	while [ "$(online on_b "$TOOL")" -ne 0 ]; do
		n=$((n - 1))
		[ $n -gt 0 ] || fail "B kept $(online on_b "$TOOL") VFs"
		sleep 0.1
	done
	grep -o "destination VF emu:[^;]* released" "$WORK/migrate.out" | sort -u >"$WORK/released"
	[ "$(wc -l <"$WORK/released")" -eq 3 ] || fail "the rollback did not release 3 VFs: $(cat "$WORK/released")"
	;;

reserve-short)
	# B can give one VF of the two: the reserve phase fails before
	# anything moves and the one reserved is given back
	vfs 2
	start_vms
	on_b "$TOOL" -q vf provision emu:pfb || fail "occupying B's first VF"
	on_b "$TOOL" -q vf provision emu:pfb2 || fail "occupying a VF of pfb2"
	on_b "$TOOL" -q vf provision emu:pfb2 || fail "occupying pfb2's other VF"
	migrate
	[ "$RC" -ne 0 ] || fail "migrate succeeded with one free VF on B"
	grep -q "^nvme-vf-migrate: reserve: VF emu:pfa2-vf0: " "$WORK/migrate.err" ||
		fail "unclear error: $(cat "$WORK/migrate.err")"
	! grep -q "^precopy .* ok" "$WORK/migrate.out" || fail "something moved"
	grep -q "destination VF emu:pfb-vf1 released" "$WORK/migrate.out" ||
		fail "the first reservation was not given back: $(grep rollback "$WORK/migrate.out")"
	runs_on a
	not_running_on b
	[ "$(online on_b "$TOOL")" -eq 3 ] || fail "B holds $(online on_b "$TOOL") VFs, not its own 3"
	[ "$(online on_a "$TOOL")" -eq 2 ] || fail "A lost a VF"
	;;

no-p2p)
	# a VF without VFIO_MIGRATION_P2P cannot go with another one
	on_a "$TOOL" -q emu create nop2p --size 1M --flags precopy || fail "emu create"
	VFS="$VF emu:nop2p"
	start_vms
	# shellcheck disable=SC2086
	on_a "$TOOL" check $VFS --to "$IPB:$AGENT_PORT" --dest-pf emu:pfb --insecure \
		>"$WORK/check.out" 2>&1
	rc=$?
	[ $rc -eq 3 ] || fail "check exited $rc: $(cat "$WORK/check.out")"
	grep -q "blocker: source VF emu:nop2p does not support VFIO_MIGRATION_P2P" "$WORK/check.out" ||
		fail "no P2P blocker: $(cat "$WORK/check.out")"
	migrate
	[ "$RC" -eq 3 ] || fail "migrate exited $RC"
	grep -q "^nvme-vf-migrate: preflight: .*VFIO_MIGRATION_P2P" "$WORK/migrate.err" ||
		fail "unclear error: $(cat "$WORK/migrate.err")"
	[ "$(online on_b "$TOOL")" -eq 0 ] || fail "B reserved a VF"
	runs_on a
	# one VF alone needs no P2P
	on_a "$TOOL" check emu:nop2p --to "$IPB:$AGENT_PORT" --dest-pf emu:pfb --insecure \
		>"$WORK/check.out" 2>&1 || fail "one VF without P2P blocked: $(cat "$WORK/check.out")"
	;;

bad-input)
	th_agent b
	for args in "$VF $VF" "$VF emu:pfa2-vf0 --device-state qemu --vm-device vf0 --vm $WORK/qmp-a.sock --dest-vm $WORK/qmp-b.sock --migrate-uri tcp:$IPB:$MIG_PORT"; do
		# shellcheck disable=SC2086
		on_a "$TOOL" check $args --to "$IPB:$AGENT_PORT" --dest-pf emu:pfb --insecure \
			>"$WORK/out" 2>&1
		rc=$?
		[ $rc -eq 2 ] && [ "$(wc -l <"$WORK/out")" -eq 1 ] ||
			fail "check $args: exit $rc: $(cat "$WORK/out")"
		grep -q "^nvme-vf-migrate: .*\(twice\|--vm-device names\)" "$WORK/out" ||
			fail "unclear: $(cat "$WORK/out")"
	done
	[ "$(online on_b "$TOOL")" -eq 0 ] || fail "B reserved a VF"
	;;

*)
	fail "unknown case $CASE"
	;;
esac
echo "PASS [$CASE]"
