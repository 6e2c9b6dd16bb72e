#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-or-later
# "nvme-vf-migrate migrate" between two hosts in network namespaces
# (scripts/twohosts.sh): a real QEMU VM (the tiny guest) on host A with an
# emulated VF, an agent on host B, QEMU on B waiting with -incoming defer.
# One case per invocation, named by $1.
#
# Success cases check what the demo promises: B's provisioned VF holds A's
# state, A's VF is released, the guest runs on B and only there. Fault
# cases check the rollback: the guest runs on A and only there, A's VF is
# RUNNING and still provisioned, B's VF is released (at once, or when B's
# agent notices the connection is gone) with every PF resource back.
set -u
CASE=$1
HERE=$(cd "$(dirname "$0")" && pwd)
ML_NAME=migrate
FAIL_LOGS="migrate.out migrate.err agent-b.log qemu-a.log qemu-b.log"
. "$HERE/migrate-lib.sh"
ml_setup
. "$HERE/cut-lib.sh"

start_vms() {
	th_qemu a || fail "QEMU on A did not start"
	th_qemu b -incoming defer || fail "QEMU on B did not start"
}

# migrate [OPTIONS...]: runs the orchestrator on host A; RC, migrate.out,
# migrate.err and report.json hold what it said
MIG_ARGS() {
	echo "$VF --to $IPB:$AGENT_PORT --dest-pf emu:pfb --vm $WORK/qmp-a.sock
		--dest-vm $WORK/qmp-b.sock --migrate-uri tcp:$IPB:$MIG_PORT --report $WORK/report.json"
}
migrate() {
	# shellcheck disable=SC2046
	on_a "$TOOL" migrate $(MIG_ARGS) ${SEC:---insecure} "$@" >"$WORK/migrate.out" 2>"$WORK/migrate.err"
	RC=$?
}
# migrate_bg [OPTIONS...]: the same in the background, -v so that its log
# shows the phase it is in; PID in $MIGPID
migrate_bg() {
	# shellcheck disable=SC2046
	ip netns exec "$NSA" env NVFM_EMU_DIR="$HA" "$TOOL" -v migrate $(MIG_ARGS) --insecure "$@" \
		>"$WORK/migrate.out" 2>"$WORK/migrate.err" &
	MIGPID=$!
	TH_PIDS="$TH_PIDS $MIGPID"
}
wait_phase() {
	th_wait_file "$WORK/migrate.err" "phase $1" "${2:-60}" || fail "the migration never reached $1"
}
expect_migrated() {
	[ "$RC" -eq 0 ] || fail "migrate failed ($RC): $(cat "$WORK/migrate.err")"
	[ "$(jget "$WORK/report.json" ok)" = true ] || fail "report not ok"
	[ "$(jget "$WORK/report.json" committed)" = true ] || fail "report: not committed"
	python3 - "$WORK/report.json" <<'EOF' || fail "report timeline incomplete"
import json, sys
r = json.load(open(sys.argv[1]))
phases = [p["phase"] for p in r["timeline"] if p["outcome"] == "ok"]
want = ["preflight", "reserve", "precopy", "pause", "stop-copy", "restore",
        "switchover", "resume", "release"]
assert phases == want, phases
assert r["downtime_ms"] > 0 and r["state_bytes"] > 0
EOF
	# --report also drew the picture beside it
	python3 "$NVFM_SOURCE_ROOT/tests/unit/report-svg.py" check-files \
		"$WORK/report.json" "$WORK/report.svg" vm ||
		fail "the report's picture"
	DVF=$(jget "$WORK/report.json" destination_vf)
	SRC=$(jget "$WORK/report.json" source_state_sha256)
	DST=$(on_b "$TOOL" emu digest "${DVF#emu:}" | sed -n 's/^sha256: //p')
	[ -n "$SRC" ] && [ "$SRC" = "$DST" ] || fail "B's VF $DVF does not hold A's state ($DST vs $SRC)"
	on_a "$TOOL" --json vf list --pf emu:pfa | grep -q '"state": "online"' &&
		fail "A's VF was not released"
	kill -0 "$QEMU_A" 2>/dev/null && fail "A's QEMU still runs"
	runs_on b
	on_b "$TOOL" --json vf state "$DVF" | grep -q '"RUNNING"' || fail "B's VF is not RUNNING"
}

expect_rolled_back() {
	phase=$1
	[ "$RC" -ne 0 ] || fail "migrate succeeded, expected a failure in $phase"
	[ "$(wc -l <"$WORK/migrate.err" | tr -d ' ')" -ge 1 ] || fail "no error line"
	grep -q "^nvme-vf-migrate: $phase: " "$WORK/migrate.err" ||
		fail "the error does not name phase $phase: $(tail -n 1 "$WORK/migrate.err")"
	[ "$(jget "$WORK/report.json" committed)" = false ] || fail "report says committed"
	[ "$(jget "$WORK/report.json" failed_phase)" = "$phase" ] ||
		fail "report: failed phase $(jget "$WORK/report.json" failed_phase), not $phase"
	runs_on a
	not_running_on b
	on_a "$TOOL" --json vf state "$VF" | grep -q '"RUNNING"' || fail "A's VF is not RUNNING"
	on_a "$TOOL" --json vf list --pf emu:pfa | grep -q '"state": "online"' ||
		fail "A's VF was released although the VM stayed"
	b_released "${2:-1}"
}

# link_fault_start: a migration in stop-copy, slowed so the link fault
# lands mid-stream, with B's agent bounded by LINK_T; the fault's time is
# marked (tests/hosts/cut-lib.sh times from there)
link_fault_start() {
	th_agent b --timeout $LINK_T
	start_vms
	on_a "$TOOL" -q emu fault "${VF#emu:}" slow-us 3000 || fail "arming slow-us"
	migrate_bg --phase-timeout stop-copy=5 --timeout $LINK_T
	wait_phase stop-copy
	mark_cut
}

# link_fault_bounded: every side gave up within one timeout of the fault
link_fault_bounded() {
	th_wait_gone "$MIGPID" 60 || fail "the migration did not end"
	bounded "migrate exited" "$(since_cut)"
	wait_migrate
	bounded "A's VF RUNNING again" "$(log_since "$WORK/migrate.err" \
		"${VF}: (recovered to RUNNING|reset\$|[A-Z_]+ -> RUNNING)")"
	bounded_line "B's agent reset its VF" "$WORK/agent-b.log" "failed in .* reset"
	bounded_line "B's agent released the reservation" "$WORK/agent-b.log" \
		"ended with its connection: released"
	in_time
}

case "$CASE" in
direct)
	th_agent b
	start_vms
	migrate --precopy-rounds 3
	expect_migrated
	grep -q "downtime:" "$WORK/migrate.out" || fail "no downtime line"
	# B's agent keeps the reservation: the VF now belongs to the VM
	[ -n "$(ls "$WORK/rt-b/reservations/")" ] || fail "B forgot the reservation"
	grep -q '"lease": "kept"' "$WORK"/rt-b/reservations/*.json || fail "reservation not kept"
	# kept with the receive's answer, not by a request of its own inside
	# the pause window
	grep -q ": keep\$" "$WORK/agent-b.log" && fail "the reservation took a keep request of its own"
	;;

multifd)
	# QEMU's stream over two multifd channels: both QEMUs were set so
	# (B's, which now runs the VM, still says it), and the VM moved
	th_agent b
	start_vms
	migrate --multifd 2
	expect_migrated
	[ "$(jget "$WORK/report.json" preflight.source.multifd_channels)" = 2 ] ||
		fail "the report does not say 2 multifd channels"
	"$TOOL" --json qmp "$WORK/qmp-b.sock" query-migrate-parameters >"$WORK/params.json" ||
		fail "query-migrate-parameters on B"
	[ "$(jget "$WORK/params.json" multifd-channels)" = 2 ] ||
		fail "B's QEMU has multifd-channels $(jget "$WORK/params.json" multifd-channels)"
	"$TOOL" --json qmp "$WORK/qmp-b.sock" query-migrate-capabilities |
		python3 -c 'import json,sys; c={x["capability"]: x["state"] for x in json.load(sys.stdin)}; sys.exit(0 if c.get("multifd") else 1)' ||
		fail "B's QEMU did not have multifd on"
	;;

held-destination)
	# QEMU's switchover runs alongside the VF's stop-copy, the destination
	# held paused: while B's VF still takes its state (slowed to ~2.5 s),
	# A's QEMU has completed and B's guest has not run. The orchestrator
	# holds each QEMU's QMP socket: a second monitor watches.
	th_agent b
	th_qemu a -qmp "unix:$WORK/mon-a.sock,server=on,wait=off" || fail "QEMU on A did not start"
	th_qemu b -incoming defer -qmp "unix:$WORK/mon-b.sock,server=on,wait=off" ||
		fail "QEMU on B did not start"
	mon_status() {
		"$TOOL" --json qmp "$WORK/mon-$1.sock" query-status 2>/dev/null |
			python3 -c 'import json,sys; print(json.load(sys.stdin)["status"])' 2>/dev/null
	}
	mon_counter() {
		"$TOOL" qmp "$WORK/mon-$1.sock" human-monitor-command \
			'{"command-line":"xp /1wx 0x200000"}' 2>/dev/null |
			sed -n 's/.*: \(0x[0-9a-f]*\).*/\1/p' | head -n 1
	}
	on_b "$TOOL" -q emu pf-fault pfb slow-us 10000 || fail "arming slow-us on B"
	migrate_bg
	n=0
	while [ "$(mon_status a)" != postmigrate ]; do
		kill -0 "$MIGPID" 2>/dev/null ||
			fail "A's QEMU did not complete while the VF's state moved ($(mon_status a))"
		n=$((n + 1))
		[ $n -lt 400 ] || fail "A's QEMU never completed ($(mon_status a))"
		sleep 0.05
	done
	c=$(mon_counter b)
	[ -n "$c" ] || fail "B's guest memory cannot be read"
	s1=$(mon_status b)
	sleep 0.3
	s2=$(mon_status b)
	c2=$(mon_counter b)
	# all of it seen before the VF's transfer ended (the switchover
	# phase, and with it our "cont", comes only after)
	grep -q "phase switchover" "$WORK/migrate.err" &&
		fail "the VF's transfer ended before B was watched: nothing was shown"
	[ "$s1" = paused ] && [ "$s2" = paused ] ||
		fail "B's VM is $s1, then $s2, while its VF takes the state"
	[ "$c2" = "$c" ] || fail "B's guest ran before its VF held the state ($c -> $c2)"
	wait_migrate
	expect_migrated
	grep -q "alongside the VF's stop-copy" "$WORK/report.json" ||
		fail "the report does not say the switchover overlapped"
	;;

slow-ram)
	# The VM's RAM moves after the VF's precopy and takes longer than
	# B's agent waits for a frame: the save's keepalive must carry it.
	th_agent b --timeout 2
	start_vms
	# its first pass at 1 MiB/s takes ~3.5 s; what the guest dirties
	# meanwhile then fits the downtime limit
	on_a "$TOOL" qmp "$WORK/qmp-a.sock" migrate-set-parameters \
		'{"max-bandwidth": 1048576, "downtime-limit": 20000}' >/dev/null ||
		fail "limiting the source's migration bandwidth"
	migrate_bg --precopy-rounds 3
	wait_migrate
	expect_migrated
	python3 - "$WORK/report.json" <<'EOF' || fail "the RAM did not outlast B's wait ($(cat "$WORK/report.json"))"
import json, sys
r = json.load(open(sys.argv[1]))
pre = [p for p in r["timeline"] if p["phase"] == "precopy"][0]
sys.exit(0 if pre["ms"] > 3000 else 1)
EOF
	;;

tls)
	command -v certtool >/dev/null 2>&1 || skip "needs certtool (gnutls-bin)"
	# RSA: QEMU's stream takes the same credentials (tests/hosts/mkcerts.sh)
	sh "$HERE/mkcerts.sh" "$WORK/pki" "$IPB" rsa >/dev/null || fail "making certificates"
	TH_AGENT_SECURITY="--tls-dir $WORK/pki/server" th_agent b
	start_vms
	SEC="--tls-dir $WORK/pki/client" migrate
	expect_migrated
	[ "$(jget "$WORK/report.json" preflight.source.migration_stream)" = tls ] ||
		fail "QEMU's stream was not under TLS: $(cat "$WORK/report.json")"
	;;

no-vm)
	# a VF that no VM uses moves alone: the commit point is B's commit
	th_agent b
	on_a "$TOOL" migrate "$VF" --to "$IPB:$AGENT_PORT" --insecure --dest-pf emu:pfb \
		--report "$WORK/report.json" --report-svg "$WORK/picture.svg" \
		>"$WORK/migrate.out" 2>"$WORK/migrate.err"
	RC=$?
	[ "$RC" -eq 0 ] || fail "migrate failed: $(cat "$WORK/migrate.err")"
	[ ! -e "$WORK/report.svg" ] || fail "--report-svg given, yet report.svg written"
	python3 "$NVFM_SOURCE_ROOT/tests/unit/report-svg.py" check-files \
		"$WORK/report.json" "$WORK/picture.svg" || fail "the report's picture"
	DVF=$(jget "$WORK/report.json" destination_vf)
	[ "$(jget "$WORK/report.json" source_state_sha256)" = \
		"$(on_b "$TOOL" emu digest "${DVF#emu:}" | sed -n 's/^sha256: //p')" ] || fail "state differs"
	;;

check)
	th_agent b
	start_vms
	# shellcheck disable=SC2046
	on_a "$TOOL" check $(MIG_ARGS | sed 's/--report [^ ]*//') --insecure >"$WORK/check.out" ||
		fail "check found blockers: $(cat "$WORK/check.out")"
	grep -q "destination: ready" "$WORK/check.out" || fail "check: $(cat "$WORK/check.out")"
	# now everything wrong at once: B's QEMU is not waiting, B's PF has
	# no free VF, the source VF is held by someone else
	kill "$QEMU_B"
	wait "$QEMU_B" 2>/dev/null
	th_qemu b || fail "QEMU on B"
	on_b "$TOOL" -q vf provision emu:pfb >/dev/null || fail "provision on B"
	on_b "$TOOL" -q vf provision emu:pfb >/dev/null || fail "provision on B"
	# shellcheck disable=SC2046
	on_a "$TOOL" check $(MIG_ARGS | sed 's/--report [^ ]*//') --insecure >"$WORK/check.out"
	[ $? -eq 3 ] || fail "check did not exit 3 on blockers"
	grep -q "not waiting for an incoming migration" "$WORK/check.out" ||
		fail "check missed B's QEMU: $(cat "$WORK/check.out")"
	grep -q "free-vf" "$WORK/check.out" || fail "check missed B's full PF: $(cat "$WORK/check.out")"
	# and an agent that is not there
	# shellcheck disable=SC2046
	on_a "$TOOL" check $(MIG_ARGS | sed "s/--report [^ ]*//; s/:$AGENT_PORT/:1/") --insecure \
		>"$WORK/check.out"
	[ $? -eq 3 ] || fail "check did not exit 3 without an agent"
	grep -q "agent $IPB:1" "$WORK/check.out" || fail "check: $(cat "$WORK/check.out")"
	runs_on a
	;;

check-dirty)
	# the source VF offers no dirty tracking: check prices it against the
	# real VM, the tiny guest's 64 MiB over QEMU's max-bandwidth; armed
	# IOMMU dirty tracking takes the price away
	th_agent b
	start_vms
	# shellcheck disable=SC2046
	on_a "$TOOL" --json check $(MIG_ARGS | sed 's/--report [^ ]*//') --insecure >"$WORK/check.json" ||
		fail "check found blockers: $(cat "$WORK/check.json")"
	python3 - "$WORK/check.json" <<'EOF' || fail "dirty_cost: $(cat "$WORK/check.json")"
import json, sys
s = json.load(open(sys.argv[1]))["source"]
c = s["dirty_cost"]
ok = (s["dirty_tracking"] == "none" and c["ram_bytes"] == 64 << 20 and
      c["bandwidth_from"] == "max-bandwidth" and c["bandwidth_bytes_per_s"] > 0 and
      c["extra_downtime_ms"] == -(-c["ram_bytes"] * 1000 // c["bandwidth_bytes_per_s"]) and
      any("dirty_tracking: none" in w for w in s["warnings"]))
sys.exit(0 if ok else 1)
EOF
	on_a "$TOOL" -q emu fault "${VF#emu:}" iommu-dirty 1 || fail "emu fault"
	# shellcheck disable=SC2046
	on_a "$TOOL" check $(MIG_ARGS | sed 's/--report [^ ]*//') --insecure >"$WORK/check.out" ||
		fail "check found blockers: $(cat "$WORK/check.out")"
	grep -qx "  dirty_tracking: iommu" "$WORK/check.out" || fail "check: $(cat "$WORK/check.out")"
	! grep -q "dirty_cost" "$WORK/check.out" || fail "a cost with tracking: $(cat "$WORK/check.out")"
	runs_on a
	;;

lm-mismatch)
	# B's PF offers NVMe controller state version 1, A's produces version
	# 0: check names both PFs and both formats, and migrate is refused in
	# preflight before anything moves (B holds nothing, the guest stays on A)
	V=6e76666d-6c6d-4e56-8d51-454d55000001
	on_b "$TOOL" -q emu pf-create pfb --vfs 2 --size "$SIZE" --lm-versions 1 ||
		fail "emu pf-create pfb --lm-versions 1"
	PFB0=$(pf_b_now)
	REASON="destination PF emu:pfb offers NVMe controller state version 1 but source PF emu:pfa produces version 0"
	th_agent b
	start_vms
	# shellcheck disable=SC2046
	on_a "$TOOL" check $(MIG_ARGS | sed 's/--report [^ ]*//') --insecure >"$WORK/check.out"
	[ $? -eq 3 ] || fail "check did not exit 3: $(cat "$WORK/check.out")"
	grep -qx "source: ready" "$WORK/check.out" || fail "check: $(cat "$WORK/check.out")"
	grep -qxF "  blocker: lm-format: $REASON" "$WORK/check.out" ||
		fail "check lacks the format blocker: $(cat "$WORK/check.out")"
	[ "$(grep -c blocker "$WORK/check.out")" -eq 1 ] || fail "other blockers: $(cat "$WORK/check.out")"
	# shellcheck disable=SC2046
	on_a "$TOOL" --json check $(MIG_ARGS | sed 's/--report [^ ]*//') --insecure >"$WORK/check.json"
	[ "$(jget "$WORK/check.json" source.lm_format.version)" = 0 ] &&
		[ "$(jget "$WORK/check.json" source.lm_format.pf)" = emu:pfa ] &&
		[ "$(jget "$WORK/check.json" source.lm_format.uuid)" = "$V" ] ||
		fail "check --json: no source format: $(cat "$WORK/check.json")"
	migrate
	[ "$RC" -eq 3 ] || fail "migrate exited $RC, not 3: $(cat "$WORK/migrate.err")"
	[ "$(wc -l <"$WORK/migrate.err" | tr -d ' ')" -eq 1 ] || fail "not one error line: $(cat "$WORK/migrate.err")"
	grep -qxF "nvme-vf-migrate: preflight: destination: lm-format: $REASON" "$WORK/migrate.err" ||
		fail "unclear error: $(cat "$WORK/migrate.err")"
	python3 - "$WORK/report.json" <<'EOF' || fail "something moved: $(cat "$WORK/report.json")"
import json, sys
r = json.load(open(sys.argv[1]))
assert r["ok"] is False and r["committed"] is False and r["failed_phase"] == "preflight"
assert [p["phase"] for p in r["timeline"]] == ["preflight"], r["timeline"]
assert r["state_bytes"] == 0 and "destination_vf" not in r and "reservation" not in r
EOF
	[ -z "$(ls "$WORK/rt-b/reservations/" 2>/dev/null)" ] || fail "B holds a reservation"
	b_released 1
	runs_on a
	not_running_on b
	on_a "$TOOL" --json vf state "$VF" | grep -q '"RUNNING"' || fail "A's VF is not RUNNING"
	# an orchestrator that skips the preflight is refused by the agent's
	# provision itself; a bad argument is a one-line error
	A="--to $IPB:$AGENT_PORT --insecure"
	# shellcheck disable=SC2086
	on_a "$TOOL" --json agent request provision $A pf=emu:pfb \
		"lm_format={\"pf\": \"emu:pfa\", \"version\": 0, \"uuid\": \"$V\"}" \
		>/dev/null 2>"$WORK/prov.err" && fail "provision into an incompatible PF succeeded"
	grep -qF "$REASON" "$WORK/prov.err" || fail "provision: $(cat "$WORK/prov.err")"
	# shellcheck disable=SC2086
	on_a "$TOOL" --json agent request provision $A pf=emu:pfb 'lm_format={"version": "0"}' \
		>/dev/null 2>"$WORK/prov.err"
	[ $? -eq 2 ] || fail "a string version was not an argument error"
	[ "$(wc -l <"$WORK/prov.err" | tr -d ' ')" -eq 1 ] &&
		grep -q "lm_format: version must be an integer" "$WORK/prov.err" ||
		fail "provision: $(cat "$WORK/prov.err")"
	b_released 1
	# once B's PF offers version 0 too, nothing blocks
	on_b "$TOOL" -q emu pf-create pfb --vfs 2 --size "$SIZE" --lm-versions 1,0 ||
		fail "emu pf-create pfb --lm-versions 1,0"
	# shellcheck disable=SC2046
	on_a "$TOOL" check $(MIG_ARGS | sed 's/--report [^ ]*//') --insecure >"$WORK/check.out" ||
		fail "check found blockers: $(cat "$WORK/check.out")"
	grep -q "destination: ready" "$WORK/check.out" || fail "check: $(cat "$WORK/check.out")"
	;;

bad-input)
	th_agent b
	start_vms
	on_a "$TOOL" migrate "$VF" --to "$IPB:$AGENT_PORT" --insecure 2>"$WORK/err"
	[ $? -eq 2 ] || fail "missing --dest-pf: not a usage error"
	migrate --phase-timeout warp=3
	[ "$RC" -eq 2 ] || fail "unknown phase accepted"
	migrate --device-state teleport
	[ "$RC" -eq 2 ] || fail "unknown mover accepted"
	migrate --multifd 65
	[ "$RC" -eq 2 ] && grep -q "multifd must be 1 to 64" "$WORK/migrate.err" ||
		fail "--multifd 65 accepted ($RC): $(cat "$WORK/migrate.err")"
	on_a "$TOOL" migrate vfio:0000:99:1f.7 --to "$IPB:$AGENT_PORT" --insecure --dest-pf emu:pfb \
		--vm "$WORK/qmp-a.sock" --dest-vm "$WORK/qmp-b.sock" --migrate-uri "tcp:$IPB:$MIG_PORT" \
		>/dev/null 2>"$WORK/migrate.err"
	# no such device (4), as for every command, not a blocker (3)
	[ $? -eq 4 ] || fail "a VF that does not exist: not refused as no such device"
	grep -q "^nvme-vf-migrate: preflight: source VF: .*does not exist" "$WORK/migrate.err" ||
		fail "unclear error: $(cat "$WORK/migrate.err")"
	: >"$WORK/not-qmp"
	on_a "$TOOL" migrate "$VF" --to "$IPB:$AGENT_PORT" --insecure --dest-pf emu:pfb \
		--vm "$WORK/not-qmp" --dest-vm "$WORK/qmp-b.sock" --migrate-uri "tcp:$IPB:$MIG_PORT" \
		>/dev/null 2>"$WORK/migrate.err"
	[ $? -eq 3 ] || fail "a VM socket that is not QMP: not refused in preflight"
	grep -q "VM's QMP socket" "$WORK/migrate.err" || fail "unclear error: $(cat "$WORK/migrate.err")"
	runs_on a
	not_running_on b
	b_released 10
	;;

fault-kill-dest-agent)
	th_agent b
	start_vms
	on_a "$TOOL" -q emu fault "${VF#emu:}" slow-us 3000 || fail "arming slow-us"
	migrate_bg --phase-timeout stop-copy=20
	wait_phase stop-copy
	sleep 0.5
	kill -9 "$AGENT_B"
	wait_migrate
	# B's agent died holding the reservation: its successor releases it
	th_agent b
	grep -q "left by a previous instance" "$WORK/agent-b.log" || fail "no recovery logged"
	expect_rolled_back stop-copy 10
	;;

fault-kill-src-agent)
	# the orchestrator runs on A and needs no agent there: losing it
	# mid-migration changes nothing
	th_agent a
	th_agent b
	start_vms
	on_a "$TOOL" -q emu fault "${VF#emu:}" slow-us 500 || fail "arming slow-us"
	migrate_bg
	wait_phase precopy
	kill -9 "$AGENT_A"
	wait_migrate
	expect_migrated
	;;

fault-link-down)
	# both ends of the agent connection are bounded by LINK_T (--timeout):
	# the migration, A's VF and B's agent give up within it (cut-lib.sh).
	# B's end goes down: A still routes to B, so a new connection to B's
	# agent would wait rather than fail at once.
	link_fault_start
	ip -n "$NSB" link set "vb$TH_ID" down
	link_fault_bounded
	ip -n "$NSB" link set "vb$TH_ID" up
	grep -q "NOT released" "$WORK/migrate.out" || fail "the rollback claims B's VF was released"
	expect_rolled_back stop-copy 30
	;;

fault-link-blackhole)
	# The link stays up and says nothing: each host sends its frames for
	# the other to a MAC address nobody has. No route goes away and no
	# error comes back, so a new connection to B's agent would wait its
	# whole timeout: the rollback must not open one.
	link_fault_start
	ip -n "$NSA" neigh replace "$IPB" lladdr 02:00:00:00:00:01 dev "va$TH_ID" nud permanent &&
		ip -n "$NSB" neigh replace "$IPA" lladdr 02:00:00:00:00:01 dev "vb$TH_ID" nud permanent ||
		fail "misdirecting the hosts' frames"
	link_fault_bounded
	ip -n "$NSA" neigh del "$IPB" dev "va$TH_ID"
	ip -n "$NSB" neigh del "$IPA" dev "vb$TH_ID"
	grep -q "NOT released" "$WORK/migrate.out" || fail "the rollback claims B's VF was released"
	expect_rolled_back stop-copy 30
	;;

fault-corrupt)
	th_agent b
	start_vms
	on_a "$TOOL" -q emu fault "${VF#emu:}" corrupt-byte 5000 || fail "arming corrupt-byte"
	migrate
	expect_rolled_back restore
	grep -q "refused\|integrity\|corrupt\|mismatch\|invalid" "$WORK/migrate.err" ||
		fail "unclear error: $(cat "$WORK/migrate.err")"
	;;

fault-reject-resume)
	th_agent b
	start_vms
	on_b "$TOOL" -q emu pf-fault pfb reject-resume 1 || fail "arming reject-resume"
	migrate
	expect_rolled_back restore
	grep -q "RESUMING -> STOP" "$WORK/migrate.err" || fail "unclear error: $(cat "$WORK/migrate.err")"
	# B was held paused: the rollback saw that its guest never ran
	grep -q "the destination's guest never ran" "$WORK/migrate.out" ||
		fail "the rollback does not say B's guest never ran: $(grep -i rollback "$WORK/migrate.out")"
	[ "$(jget "$WORK/report.json" destination_ran_ms)" = 0.0 ] ||
		fail "report: destination_ran_ms $(jget "$WORK/report.json" destination_ran_ms), not 0"
	python3 "$NVFM_SOURCE_ROOT/tests/unit/report-svg.py" check-files \
		"$WORK/report.json" "$WORK/report.svg" vm rollback || fail "the report's picture"
	;;

fault-dest-qemu-exit)
	th_agent b
	start_vms
	on_a "$TOOL" -q emu fault "${VF#emu:}" stop-after 65536 || fail "arming stop-after"
	migrate_bg --phase-timeout stop-copy=5
	wait_phase stop-copy
	kill -9 "$QEMU_B"
	wait_migrate
	expect_rolled_back stop-copy
	;;

fault-src-qemu-exit)
	# QEMU on A dies: the guest dies with it and nothing can bring it back;
	# what matters is that it does not appear on B and B keeps nothing
	th_agent b
	start_vms
	on_a "$TOOL" -q emu fault "${VF#emu:}" stop-after 65536 || fail "arming stop-after"
	migrate_bg --phase-timeout stop-copy=5
	wait_phase stop-copy
	kill -9 "$QEMU_A"
	wait_migrate
	[ "$RC" -ne 0 ] || fail "migrate succeeded without a source"
	[ "$(jget "$WORK/report.json" committed)" = false ] || fail "report says committed"
	not_running_on b
	on_a "$TOOL" --json vf state "$VF" | grep -q '"RUNNING"' || fail "A's VF is not RUNNING"
	b_released 10
	;;

fault-timeout)
	th_agent b
	start_vms
	on_a "$TOOL" -q emu fault "${VF#emu:}" stop-after 65536 || fail "arming stop-after"
	migrate --phase-timeout stop-copy=2
	expect_rolled_back stop-copy
	grep -q "destination VF emu:pfb-vf0 released" "$WORK/migrate.out" ||
		fail "the rollback did not release B's VF itself: $(grep rollback "$WORK/migrate.out")"
	grep -q "no progress for 2000 ms" "$WORK/migrate.err" ||
		fail "not the stop-copy bound: $(cat "$WORK/migrate.err")"
	;;

fault-sigint)
	th_agent b
	start_vms
	on_a "$TOOL" -q emu fault "${VF#emu:}" slow-us 3000 || fail "arming slow-us"
	migrate_bg
	wait_phase stop-copy
	kill -INT "$MIGPID"
	wait_migrate
	[ "$RC" -eq 8 ] || fail "cancelled migration exited $RC, not 8"
	expect_rolled_back stop-copy
	;;

progress-tty)
	# the progress line of a real migration in a terminal (tmux), and
	# status on A while it runs and after; $NVFM_PROGRESS_CAPTURES, when
	# set, receives every distinct frame seen
	command -v tmux >/dev/null || skip "no tmux"
	th_agent b
	start_vms
	on_a "$TOOL" -q emu fault "${VF#emu:}" slow-us 6000 || fail "arming slow-us"
	on_a "$TOOL" qmp "$WORK/qmp-a.sock" migrate-set-parameters \
		'{"max-bandwidth": 33554432, "downtime-limit": 20000}' \
		>/dev/null || fail "limiting the source's migration bandwidth"
	SOCK=nvfm-mig-$$
	# shellcheck disable=SC2046
	echo "ip netns exec $NSA env NVFM_EMU_DIR=$HA NVFM_STATUS_DIR=$WORK/status $TOOL migrate" \
		$(MIG_ARGS) --insecure --precopy-rounds 2 '>/dev/null; echo EXIT=$?; sleep 120' \
		>"$WORK/tty.sh"
	tmux -L "$SOCK" new-session -d -x 100 -y 5 "sh $WORK/tty.sh" || fail "tmux cannot start"
	# the tmux server goes first, then the hosts (migrate-lib.sh's cleanup)
	trap 'tmux -L "$SOCK" kill-server 2>/dev/null; cleanup' EXIT
	: >"$WORK/frames"
	listed=0 i=0
	while [ $i -lt 2400 ]; do
		tmux -L "$SOCK" capture-pane -p | grep -E '^(migrate |EXIT=)' >"$WORK/pane"
		grep -q '^EXIT=' "$WORK/pane" && break
		grep '^migrate ' "$WORK/pane" >>"$WORK/frames"
		if [ $listed = 0 ] && grep -q '^migrate \(precopy\|stop-copy\)' "$WORK/pane"; then
			on_a env NVFM_STATUS_DIR="$WORK/status" "$TOOL" --json status >"$WORK/status.json" &&
				grep -q '"phase"' "$WORK/status.json" && listed=1
		fi
		i=$((i + 1))
		sleep 0.05
	done
	tmux -L "$SOCK" capture-pane -p >"$WORK/pane-end"
	[ -n "${NVFM_PROGRESS_CAPTURES:-}" ] && uniq "$WORK/frames" >"$NVFM_PROGRESS_CAPTURES"
	grep -q '^EXIT=0' "$WORK/pane-end" || fail "migrate failed in the terminal: $(cat "$WORK/pane-end")"
	[ "$(grep -c '^migrate ' "$WORK/pane-end")" -eq 1 ] ||
		fail "not one line redrawn in place: $(cat "$WORK/pane-end")"
	for ph in precopy stop-copy; do
		grep -Eq "^migrate $ph( |\$)" "$WORK/frames" || fail "no $ph frame: $(uniq "$WORK/frames")"
	done
	# no count above its total ("2105.8 of 2049.0 MiB")
	python3 - "$WORK/frames" <<'EOP' || fail "a count exceeds its total"
import re, sys
for line in open(sys.argv[1]):
    m = re.search(r" ([0-9.]+)/([0-9.]+) MiB", line)
    if m and float(m.group(1)) > float(m.group(2)):
        sys.exit(line)
EOP
	[ $listed = 1 ] || fail "status on A never listed the running migration"
	python3 - "$WORK/status.json" <<'EOP' || fail "status: $(cat "$WORK/status.json")"
import json, sys
m = json.load(open(sys.argv[1]))["migrations"]
assert len(m) == 1 and m[0]["vm"] and m[0]["phase"] in ("precopy", "pause", "stop-copy"), m
EOP
	on_a env NVFM_STATUS_DIR="$WORK/status" "$TOOL" --json status >"$WORK/status.json"
	grep -q '"migrations": \[\]' "$WORK/status.json" || fail "status after the end: $(cat "$WORK/status.json")"
	;;

*)
	echo "unknown case $CASE" >&2
	exit 2
	;;
esac
echo "PASS [$CASE]"
