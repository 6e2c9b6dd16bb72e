#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-or-later
# Two VMs leave host A at once through the same pair of hosts and the one
# agent on B (scripts/twohosts.sh): each a real QEMU with the tiny guest
# and an emulated VF of A's PF, each migration its own `migrate` process.
# The two are in flight together (B's agent reports both transfers at one
# time); no VF is given twice, no state lands in the other's VF, and when
# one fails midway the other still completes while the failed one rolls
# back; an agent at its session limit refuses the second before it
# reserves anything. One case per invocation, named by $1.
set -u
CASE=$1
HERE=$(cd "$(dirname "$0")" && pwd)
ML_NAME=mc
FAIL_LOGS="migrate-1.out migrate-1.err migrate-2.out migrate-2.err agent-b.log status.log"
. "$HERE/migrate-lib.sh"
ml_setup
VF1=$VF
on_a "$TOOL" --json vf provision emu:pfa >"$WORK/prov2.json" || fail "second provision on A"
VF2=$(jget "$WORK/prov2.json" device)
[ -n "$VF2" ] && [ "$VF2" != "$VF1" ] || fail "no second VF on A ($VF2)"

# migrate_n N VF: migration N of VF from QEMU aN to QEMU bN in the
# background; its PID in MIG_N, its output in migrate-N.*
migrate_n() {
	n=$1 src=$2 sfx=
	[ "$n" -eq 1 ] || sfx=$n
	ip netns exec "$NSA" env NVFM_EMU_DIR="$WORK/hostA" "$TOOL" migrate "$src" \
		--to "$IPB:$AGENT_PORT" --dest-pf emu:pfb --vm "$WORK/qmp-a$sfx.sock" \
		--dest-vm "$WORK/qmp-b$sfx.sock" --migrate-uri "tcp:$IPB:$((MIG_PORT + n - 1))" \
		--insecure --report "$WORK/report-$n.json" \
		>"$WORK/migrate-$n.out" 2>"$WORK/migrate-$n.err" &
	eval "MIG_$n=$!"
	TH_PIDS="$TH_PIDS $!"
}

# rc_of N: that migration's exit status, once it ended (bounded)
rc_of() {
	eval "pid=\$MIG_$1"
	th_wait_gone "$pid" 180 || fail "migration $1 did not end"
	wait "$pid"
}

# both_in_flight: B's agent reports two transfers at one time (bounded)
both_in_flight() {
	n=300
	while [ $n -gt 0 ]; do
		on_a "$TOOL" --json agent request status --to "$IPB:$AGENT_PORT" --insecure \
			>>"$WORK/status.log" 2>&1
		tail -n 200 "$WORK/status.log" | python3 -c '
import json, sys
text = sys.stdin.read()
last = text[text.rfind("\n{") + 1:] if "\n{" in text else text
try:
    s = json.loads(last)
except ValueError:
    sys.exit(1)
sys.exit(0 if len(s.get("migrations", [])) >= 2 else 1)' && return 0
		n=$((n - 1))
		sleep 0.05
	done
	return 1
}

# moved N VF: migration N ended well, its VM runs on bN only, and B's VF
# holds exactly the state A's VF sent
moved() {
	r=$WORK/report-$1.json
	[ "$(jget "$r" committed)" = true ] || fail "migration $1 not committed: $(cat "$WORK/migrate-$1.err")"
	dvf=$(jget "$r" destination_vf)
	src=$(jget "$r" source_state_sha256)
	dst=$(on_b "$TOOL" emu digest "${dvf#emu:}" | sed -n 's/^sha256: //p')
	[ -n "$src" ] && [ "$src" = "$dst" ] || fail "migration $1: B's VF $dvf does not hold its state"
	echo "$dvf" >>"$WORK/dest-vfs"
	echo "migration $1: downtime $(jget "$r" downtime_ms) ms, total $(jget "$r" total_ms) ms"
}

start_all() {
	th_agent b ${AGENT_ARGS:-}
	for h in a a2; do th_qemu "$h" || fail "QEMU $h did not start"; done
	for h in b b2; do th_qemu "$h" -incoming defer || fail "QEMU $h did not start"; done
	# slowed, so that the two transfers overlap
	for v in "$VF1" "$VF2"; do
		on_a "$TOOL" -q emu fault "${v#emu:}" slow-us 2000 || fail "arming slow-us on $v"
	done
}

case "$CASE" in
two)
	start_all
	migrate_n 1 "$VF1"
	migrate_n 2 "$VF2"
	both_in_flight || fail "the two migrations never ran at once"
	rc_of 1 || fail "migration 1 failed: $(cat "$WORK/migrate-1.err")"
	rc_of 2 || fail "migration 2 failed: $(cat "$WORK/migrate-2.err")"
	moved 1
	moved 2
	[ "$(sort -u "$WORK/dest-vfs" | wc -l)" -eq 2 ] || fail "one VF of B given twice: $(cat "$WORK/dest-vfs")"
	runs_on b
	runs_on b2
	not_running_on a
	not_running_on a2
	on_a "$TOOL" --json vf list --pf emu:pfa | grep -q '"state": "online"' &&
		fail "a source VF was not released"
	;;
one-fails)
	# migration 2's source VF sends a corrupted state: B's VF refuses it
	# at the commit, migration 2 rolls back while migration 1 completes
	start_all
	on_a "$TOOL" -q emu fault "${VF2#emu:}" corrupt-byte 4096 || fail "arming corrupt-byte"
	migrate_n 1 "$VF1"
	migrate_n 2 "$VF2"
	both_in_flight || fail "the two migrations never ran at once"
	rc_of 1 || fail "migration 1 failed: $(cat "$WORK/migrate-1.err")"
	rc_of 2 && fail "migration 2 succeeded with a corrupted state"
	moved 1
	runs_on b
	not_running_on a
	[ "$(jget "$WORK/report-2.json" committed)" = false ] || fail "migration 2 says committed"
	runs_on a2
	not_running_on b2
	on_a "$TOOL" --json vf state "$VF2" | grep -q '"RUNNING"' || fail "A's second VF is not RUNNING"
	# B holds migration 1's VF and nothing else
	n=50
	while [ "$(pf_b | grep -c '"state": "online"')" -ne 1 ]; do
		n=$((n - 1))
		[ $n -gt 0 ] || fail "B's PF does not hold exactly one VF: $(pf_b)"
		sleep 0.1
	done
	;;
session-limit)
	# B's agent serves one client at a time (--max-sessions 1): the
	# second migration is refused before anything is reserved for it, and
	# its VM stays on A with its VF; the first completes
	AGENT_ARGS="--max-sessions 1" start_all
	migrate_n 1 "$VF1"
	th_wait_file "$WORK/agent-b.log" "connected as" 30 || fail "migration 1 never reached B"
	migrate_n 2 "$VF2"
	rc_of 2 && fail "migration 2 got past a full agent"
	grep -q "busy\|sessions" "$WORK/migrate-2.err" || fail "unclear refusal: $(cat "$WORK/migrate-2.err")"
	rc_of 1 || fail "migration 1 failed: $(cat "$WORK/migrate-1.err")"
	moved 1
	runs_on b
	runs_on a2
	not_running_on b2
	on_a "$TOOL" --json vf state "$VF2" | grep -q '"RUNNING"' || fail "A's second VF is not RUNNING"
	[ "$(pf_b | grep -c '"state": "online"')" -eq 1 ] || fail "B's PF does not hold exactly one VF"
	;;
*)
	fail "unknown case $CASE"
	;;
esac
echo "ok $CASE"
