#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-or-later
# "nvme-vf-migrate migrate --device-state qemu" between two hosts in network
# namespaces (scripts/twohosts.sh): the tiny guest's real QEMU on host A, a
# real QEMU on host B waiting with -incoming defer, B's agent provisioning
# an emulated VF. The host kernel has no VFIO, so QEMU cannot hold the VF:
# tests/hosts/qmp-vfio-proxy.py sits in front of each QEMU's QMP socket and
# says what QEMU 10 says about a migratable vfio-pci device (the device in
# query-pci/qom-*, device_add on B, "vfio" bytes, VFIO_MIGRATION events).
# The VM's own migration, run states and pause window are real QEMU's.
# One case per invocation, named by $1; the proxies' logs are the exact
# QMP sequences the orchestrator sent.
set -u
CASE=$1
HERE=$(cd "$(dirname "$0")" && pwd)
PROXY=$HERE/qmp-vfio-proxy.py

ML_NAME=mq
FAIL_LOGS="migrate.out migrate.err check.out agent-b.log qemu-a.log qemu-b.log proxy-a.log proxy-b.log"
. "$HERE/migrate-lib.sh"

qv=$(qemu-system-x86_64 --version | sed -n 's/.*version \([0-9]*\)\.\([0-9]*\).*/\1 \2/p;q')
# shellcheck disable=SC2086
set -- $qv
[ "${1:-0}" -gt 8 ] || { [ "${1:-0}" -eq 8 ] && [ "${2:-0}" -ge 1 ]; } ||
	skip "needs QEMU >= 8.1 (switchover-ack; this is ${1:-?}.${2:-?})"

ml_setup
# the VF's MIG_DATA_SIZE: what the downtime-limit is computed from
STATE=$(on_a "$TOOL" --json vf state "$VF" |
	python3 -c 'import json,sys; print(json.load(sys.stdin).get("stop_copy_length", 0))')
[ "${STATE:-0}" -gt 0 ] || fail "no MIG_DATA_SIZE for $VF"
DEV_ID=nvme-vf0

# proxy a|b [OPTIONS...]: the proxy in front of that host's QEMU at
# $WORK/vm-X.sock, logging to $WORK/proxy-X.log; PID in $PROXY_A/$PROXY_B.
# A's plays the source VF ($DEV_ID on rp1, slot 0, as $VF).
proxy() {
	h=$1
	shift
	if [ "$h" = a ]; then
		set -- --role source --device "$DEV_ID" --bus rp1 --host "$VF" --vfio-bytes "$STATE" "$@"
	else
		set -- --role destination "$@"
	fi
	# the previous one (a --once proxy is on its way out) goes first
	eval "old=\${PROXY_$(echo "$h" | tr ab AB):-}"
	if [ -n "$old" ]; then
		kill "$old" 2>/dev/null
		wait "$old" 2>/dev/null
	fi
	: >"$WORK/proxy-$h.out"
	python3 "$PROXY" --listen "$WORK/vm-$h.sock" --upstream "$WORK/qmp-$h.sock" \
		--log "$WORK/proxy-$h.log" --lifetime 200 "$@" >"$WORK/proxy-$h.out" 2>&1 &
	eval "PROXY_$(echo "$h" | tr ab AB)=$!"
	TH_PIDS="$TH_PIDS $!"
	th_wait_file "$WORK/proxy-$h.out" ready 10 || fail "proxy $h did not start"
}

start_vms() {
	th_qemu a || fail "QEMU on A did not start"
	th_qemu b -incoming defer || fail "QEMU on B did not start"
}

# qmp_a COMMAND [ARGS]: straight to A's QEMU (no proxy session may be open)
qmp_a() { "$TOOL" -q qmp "$WORK/qmp-a.sock" "$@" >/dev/null || fail "QMP $1 on A"; }

# cap_on a|b CAP: that QEMU has migration capability CAP on (straight to
# QEMU: no proxy session may be open)
cap_on() {
	"$TOOL" --json qmp "$WORK/qmp-$1.sock" query-migrate-capabilities >"$WORK/caps-$1.json" ||
		fail "query-migrate-capabilities on $1"
	python3 -c 'import json,sys
c = {x["capability"]: x["state"] for x in json.load(open(sys.argv[1]))}
sys.exit(0 if c.get(sys.argv[2]) else 1)' "$WORK/caps-$1.json" "$2"
}

MIG_ARGS() {
	echo "$VF --device-state qemu --vm-device $DEV_ID --to $IPB:$AGENT_PORT --dest-pf emu:pfb
		--vm $WORK/vm-a.sock --dest-vm ${DVM:-$WORK/vm-b.sock} --migrate-uri tcp:$IPB:$MIG_PORT
		${SEC:---insecure}"
}
migrate() {
	# shellcheck disable=SC2046
	on_a "$TOOL" migrate $(MIG_ARGS) --report "$WORK/report.json" "$@" \
		>"$WORK/migrate.out" 2>"$WORK/migrate.err"
	RC=$?
}
migrate_bg() {
	# shellcheck disable=SC2046
	ip netns exec "$NSA" env NVFM_EMU_DIR="$HA" "$TOOL" -v migrate $(MIG_ARGS) \
		--report "$WORK/report.json" "$@" >"$WORK/migrate.out" 2>"$WORK/migrate.err" &
	MIGPID=$!
	TH_PIDS="$TH_PIDS $MIGPID"
}
# wait_log X PATTERN: proxy-X.log shows PATTERN while the background
# migration still runs (bounded)
wait_log() {
	n=600
	while ! grep -q -- "$2" "$WORK/proxy-$1.log" 2>/dev/null; do
		kill -0 "$MIGPID" 2>/dev/null || return 1
		n=$((n - 1))
		[ $n -gt 0 ] || return 1
		sleep 0.1
	done
}
check() {
	# shellcheck disable=SC2046
	on_a "$TOOL" check $(MIG_ARGS) >"$WORK/check.out" 2>&1
	RC=$?
}

a_vf_provisioned() {
	on_a "$TOOL" --json vf list --pf emu:pfa | grep -q '"state": "online"'
}

# seq_check [OPTIONS]: the QMP sequences in both proxies' logs (below)
seq_check() {
	python3 - "$WORK/proxy-a.log" "$WORK/proxy-b.log" "$@" <<'EOF' || fail "QMP sequence: see above"
import json, sys

def load(path):
    with open(path) as f:
        return [json.loads(l) for l in f if l.strip()]

a, b = load(sys.argv[1]), load(sys.argv[2])
opts = dict(o.split("=", 1) for o in sys.argv[3:])
ca = [l for l in a if "cmd" in l]
cb = [l for l in b if "cmd" in l]
errors = []

def need(cond, what):
    if not cond:
        errors.append(what)

def first(cmds, name, pred=lambda l: True):
    for l in cmds:
        if l["cmd"] == name and pred(l):
            return l
    return None

def caps(l):
    return {c["capability"]: c["state"] for c in l["args"]["capabilities"]}

# capabilities: events on and post-copy off on both sides; the pause
# window only on the source; return-path + switchover-ack on both
sa = [l for l in ca if l["cmd"] == "migrate-set-capabilities"]
sb = [l for l in cb if l["cmd"] == "migrate-set-capabilities"]
need(len(sa) == 1 and len(sb) == 1, "one migrate-set-capabilities per side: %d/%d" % (len(sa), len(sb)))
if sa and sb:
    a_caps, b_caps = caps(sa[0]), caps(sb[0])
    for side, c in (("source", a_caps), ("destination", b_caps)):
        need(c.get("events") is True, side + ": events not on: %s" % c)
        need(c.get("postcopy-ram") is False, side + ": postcopy-ram not set off: %s" % c)
        need(c.get("return-path") is True, side + ": return-path not on: %s" % c)
        need(c.get("switchover-ack") is True, side + ": switchover-ack not on: %s" % c)
    need(a_caps.get("pause-before-switchover") is True, "source: no pause-before-switchover")
    need("pause-before-switchover" not in b_caps or b_caps["pause-before-switchover"] is False,
         "destination: pause-before-switchover set")
    need(sa[0]["ok"] and sb[0]["ok"], "QEMU refused the capabilities")
for c in (ca, cb):
    need(first(c, "migrate-start-postcopy") is None, "post-copy started")
    bad = [l for l in c if l["cmd"] == "migrate-set-capabilities" and
           any(x["capability"] == "postcopy-ram" and x["state"] for x in l["args"]["capabilities"])]
    need(not bad, "postcopy-ram set on")

# the destination device: the source's id, bus and slot, B's VF as host
add = [l for l in cb if l["cmd"] == "device_add"]
need(len(add) == 1, "%d device_add on the destination" % len(add))
if add:
    p = add[0]["args"]
    need(p.get("driver") == "vfio-pci", "device_add driver %s" % p.get("driver"))
    need(p.get("id") == opts["id"], "device_add id %s, not %s" % (p.get("id"), opts["id"]))
    need(p.get("bus") == "rp1", "device_add bus %s" % p.get("bus"))
    need(p.get("addr") == "0.0", "device_add addr %s" % p.get("addr"))
    need(p.get("host") == opts["dvf"], "device_add host %s, not %s" % (p.get("host"), opts["dvf"]))
    need(p.get("enable-migration") == "on", "device_add enable-migration %s" % p.get("enable-migration"))
    need(p.get("x-msix-relocation") == "off", "device_add x-msix-relocation not copied")
    need(add[0]["ok"], "device_add refused")
add_t = add[0]["t"] if add else 0

# the order across both hosts: device, capabilities, incoming, migrate,
# continue, quit
inc = first(cb, "migrate-incoming")
mig = first(ca, "migrate")
cont = first(ca, "migrate-continue")
quit = first(ca, "quit")
need(inc is not None and inc["args"].get("uri") == opts["uri"], "migrate-incoming: %s" % inc)
need(mig is not None and mig["args"].get("uri") == opts["uri"], "migrate: %s" % mig)
need(cont is not None and cont["args"] == {"state": "pre-switchover"}, "migrate-continue: %s" % cont)
need(quit is not None, "the source QEMU was not quit")
need(first(cb, "quit") is None, "the destination QEMU was quit")
need(first(ca, "migrate_cancel") is None, "migrate_cancel on success")
if inc and mig and cont and quit and sa and sb:
    need(add_t < sb[0]["t"] < inc["t"], "device_add / capabilities / migrate-incoming out of order")
    need(sa[0]["t"] < mig["t"], "source capabilities after migrate")
    need(inc["t"] < mig["t"], "migrate before migrate-incoming")
    need(mig["t"] < cont["t"] < quit["t"], "migrate / migrate-continue / quit out of order")
    # migrate-continue comes only once the source is held in pre-switchover,
    # as its last query-migrate or MIGRATION event before it said
    held = [l for l in a if mig["t"] < l["t"] < cont["t"] and
            (l.get("cmd") == "query-migrate" or
             (l.get("event") == "MIGRATION" and not l.get("injected")))]
    # (the proxy logs a command at its reply, after the events it caused)
    seen = [l.get("status") or (l.get("data") or {}).get("status") for l in held]
    before = seen[:seen.index("pre-switchover")] if "pre-switchover" in seen else seen
    need("pre-switchover" in seen and not {"device", "completed"} & set(before),
         "migrate-continue before pre-switchover: %s" % seen)

# downtime-limit: the floor before QEMU measured a rate, then the VF's
# state at the rate query-migrate reports, x1.25, + 100 ms, >= 300
state = int(opts["state"])

def derived(mbps):
    if not state or mbps <= 0:
        return 300
    ms = state * 8.0 / (mbps * 1e6) * 1000.0 * 1.25 + 100
    return int(min(max(ms, 300), 600000))

sets = [l for l in ca if l["cmd"] == "migrate-set-parameters" and "downtime-limit" in l["args"]]
need(sets, "no downtime-limit set")
if sets and mig:
    need(sets[0]["t"] < mig["t"] and sets[0]["args"]["downtime-limit"] == int(opts.get("first", 300)),
         "first downtime-limit %s" % sets[0])
    for s in sets:
        v = s["args"]["downtime-limit"]
        need(v >= 300, "downtime-limit %d < 300" % v)
        if s is sets[0]:
            continue
        q = [l for l in ca if l["cmd"] == "query-migrate" and l["t"] < s["t"]]
        want = derived(q[-1].get("mbps", 0) if q else 0)
        # C's double and Python's float may round the last digit apart
        need(abs(v - want) <= 1, "downtime-limit %d, want %d (state %d B at %s Mbps)" %
             (v, want, state, q[-1].get("mbps") if q else None))
    print("downtime-limit: %s" % " -> ".join(str(s["args"]["downtime-limit"]) for s in sets))
    if opts.get("need_derived") == "1":
        need(len(sets) > 1, "the downtime-limit never followed the measured rate")

# the proxy's VF events went out around QEMU's own
ev = [l["data"]["device-state"] for l in a if l.get("event") == "VFIO_MIGRATION"]
need(ev == ["pre-copy", "pre-copy-p2p", "stop-copy", "stop"], "source VFIO_MIGRATION: %s" % ev)
for e in errors:
    print("  " + e, file=sys.stderr)
sys.exit(1 if errors else 0)
EOF
}

expect_migrated() {
	[ "$RC" -eq 0 ] || fail "migrate failed ($RC): $(cat "$WORK/migrate.err")"
	[ "$(jget "$WORK/report.json" ok)" = true ] || fail "report not ok"
	[ "$(jget "$WORK/report.json" committed)" = true ] || fail "report: not committed"
	[ "$(jget "$WORK/report.json" mover)" = qemu ] || fail "report: not the qemu mover"
	python3 - "$WORK/report.json" "$STATE" <<'EOF' || fail "report: $(cat "$WORK/report.json")"
import json, sys
r = json.load(open(sys.argv[1]))
phases = [p["phase"] for p in r["timeline"] if p["outcome"] == "ok"]
want = ["preflight", "reserve", "precopy", "pause", "stop-copy", "restore",
        "switchover", "resume", "release"]
assert phases == want, phases
# QEMU's "vfio" bytes, and the VFIO_MIGRATION states the source went through
assert r["state_bytes"] == int(sys.argv[2]) and r["state_bytes"] > 0, r["state_bytes"]
sc = [p for p in r["timeline"] if p["phase"] == "stop-copy"][0]
assert "VFIO_MIGRATION: pre-copy > pre-copy-p2p > stop-copy > stop" in sc.get("note", ""), sc
pre = [p for p in r["timeline"] if p["phase"] == "precopy"][0]
assert 0 < pre["bytes"] < r["state_bytes"], pre
assert "downtime-limit" in pre.get("note", ""), pre
assert r["downtime_ms"] > 0
src = r["preflight"]["source"]
assert src["switchover_ack"] is True, src
assert src["vm_device"]["id"] == "nvme-vf0" and src["vm_device"]["guest_address"] == "01:00.0", src
EOF
	DVF=$(jget "$WORK/report.json" destination_vf)
	[ -n "$DVF" ] || fail "report: no destination VF"
	a_vf_provisioned && fail "A's VF was not released"
	kill -0 "$QEMU_A" 2>/dev/null && fail "A's QEMU still runs"
	runs_on b
	# B's agent keeps the reservation: the VF now belongs to the VM
	grep -q '"lease": "kept"' "$WORK"/rt-b/reservations/*.json 2>/dev/null ||
		fail "B's reservation was not kept"
	pf_b | grep -q '"state": "online"' || fail "B's VF is not provisioned"
}

# the VM runs on A only, A's VF is still there, B's VF is released
expect_rolled_back() {
	phase=$1
	[ "$RC" -ne 0 ] || fail "migrate succeeded, expected a failure in $phase"
	# (the background runs are -v: their debug lines do not count)
	[ "$(grep -c "^nvme-vf-migrate: " "$WORK/migrate.err")" -eq 1 ] ||
		fail "not one error line: $(grep "^nvme-vf-migrate: " "$WORK/migrate.err")"
	grep -q "^nvme-vf-migrate: $phase: " "$WORK/migrate.err" ||
		fail "the error does not name phase $phase: $(grep "^nvme-vf-migrate: " "$WORK/migrate.err")"
	[ "$(jget "$WORK/report.json" committed)" = false ] || fail "report says committed"
	[ "$(jget "$WORK/report.json" failed_phase)" = "$phase" ] ||
		fail "report: failed phase $(jget "$WORK/report.json" failed_phase), not $phase"
	runs_on a
	not_running_on b
	a_vf_provisioned || fail "A's VF was released although the VM stayed"
	b_released "${2:-1}"
	grep -q '"cmd": "quit"' "$WORK/proxy-a.log" && fail "the source QEMU was told to quit"
	:
}

case "$CASE" in
success)
	th_agent b
	start_vms
	# a bounded link rate, so that QEMU measures one and the orchestrator
	# has to follow it with the downtime-limit
	qmp_a migrate-set-parameters '{"max-bandwidth": 16777216}'
	proxy a
	proxy b
	migrate
	expect_migrated
	DVF=$(jget "$WORK/report.json" destination_vf)
	seq_check id="$DEV_ID" dvf="$DVF" uri="tcp:$IPB:$MIG_PORT" state="$STATE" need_derived=1
	# B's QEMU holds the device the orchestrator added
	grep -q '"cmd": "device_add".*"ok": true' "$WORK/proxy-b.log" || fail "device_add on B"
	grep -q "downtime:" "$WORK/migrate.out" || fail "no downtime line"
	# a plain agent link leaves QEMU's stream in clear, and says so
	grep -q "^warning: QEMU's migration stream (guest RAM and the VF's state) travels in clear" \
		"$WORK/migrate.out" || fail "no clear-stream warning: $(cat "$WORK/migrate.out")"
	grep -q '"cmd": "object-add"' "$WORK/proxy-a.log" "$WORK/proxy-b.log" &&
		fail "TLS credentials added on a plain link"
	;;

tls)
	# the agent link is TLS: so is QEMU's stream, from the same PKI
	command -v certtool >/dev/null 2>&1 || skip "needs certtool (gnutls-bin)"
	sh "$HERE/mkcerts.sh" "$WORK/pki" "$IPB" rsa >/dev/null || fail "making certificates"
	TH_AGENT_SECURITY="--tls-dir $WORK/pki/server" th_agent b
	start_vms
	proxy a
	proxy b
	SEC="--tls-dir $WORK/pki/client" migrate
	expect_migrated
	grep -q "travels in clear" "$WORK/migrate.out" && fail "clear-stream warning on TLS"
	[ "$(jget "$WORK/report.json" preflight.source.migration_stream)" = tls ] ||
		fail "report: stream $(jget "$WORK/report.json" preflight.source.migration_stream)"
	python3 "$HERE/tls-seq.py" "$WORK/proxy-a.log" "$WORK/proxy-b.log" "$WORK/rt-b" ||
		fail "TLS QMP sequence: see above"
	# the agent's credential links went with the orchestrator's connection
	n=50
	while [ -n "$(ls -A "$WORK/rt-b/qemu-tls" 2>/dev/null)" ]; do
		n=$((n - 1))
		[ $n -gt 0 ] || fail "B's agent kept $(ls "$WORK/rt-b/qemu-tls")"
		sleep 0.1
	done
	;;

qmp-agent)
	# B's QEMU reached through B's agent (--dest-vm agent:PATH): the
	# monitor rides the TLS agent link, no QMP on TCP anywhere
	command -v certtool >/dev/null 2>&1 || skip "needs certtool (gnutls-bin)"
	sh "$HERE/mkcerts.sh" "$WORK/pki" "$IPB" rsa >/dev/null || fail "making certificates"
	TH_AGENT_SECURITY="--tls-dir $WORK/pki/server" th_agent b --qmp-dir "$WORK"
	start_vms
	proxy a
	proxy b
	SEC="--tls-dir $WORK/pki/client" DVM="agent:$WORK/vm-b.sock" migrate
	expect_migrated
	grep -q "warning" "$WORK/migrate.out" && fail "warnings: $(cat "$WORK/migrate.out")"
	grep -q "relaying QMP $WORK/vm-b.sock" "$WORK/agent-b.log" ||
		fail "B's agent relayed no QMP"
	grep -q '"cmd": "migrate-incoming"' "$WORK/proxy-b.log" ||
		fail "B's QEMU got no migrate-incoming through the agent"
	;;

qmp-agent-outside)
	# a socket outside the agent's QMP directory, named or through a
	# symlink inside it, is refused before the agent connects to it
	command -v certtool >/dev/null 2>&1 || skip "needs certtool (gnutls-bin)"
	sh "$HERE/mkcerts.sh" "$WORK/pki" "$IPB" rsa >/dev/null || fail "making certificates"
	mkdir "$WORK/qmpdir"
	ln -s "$WORK/vm-b.sock" "$WORK/qmpdir/vm-b.sock"
	TH_AGENT_SECURITY="--tls-dir $WORK/pki/server" th_agent b --qmp-dir "$WORK/qmpdir"
	start_vms
	proxy a --once
	proxy b
	for p in "$WORK/vm-b.sock" "$WORK/qmpdir/vm-b.sock" "$WORK/qmpdir/../vm-b.sock"; do
		SEC="--tls-dir $WORK/pki/client" DVM="agent:$p" check
		[ "$RC" -eq 3 ] || fail "check of agent:$p exited $RC: $(cat "$WORK/check.out")"
		grep -q "blocker: destination QEMU's QMP socket: .*is not under this agent's QMP directory" \
			"$WORK/check.out" || fail "agent:$p: $(cat "$WORK/check.out")"
	done
	[ -s "$WORK/proxy-b.log" ] && fail "B's QEMU was reached: $(cat "$WORK/proxy-b.log")"
	runs_on a
	;;

no-postcopy)
	# the source had post-copy on: the orchestrator turns it off and the
	# migration completes as precopy, with B's capability off too
	th_agent b
	start_vms
	qmp_a migrate-set-capabilities '{"capabilities":[{"capability":"postcopy-ram","state":true}]}'
	cap_on a postcopy-ram || fail "could not turn post-copy on at A"
	proxy a
	proxy b
	migrate
	expect_migrated
	DVF=$(jget "$WORK/report.json" destination_vf)
	seq_check id="$DEV_ID" dvf="$DVF" uri="tcp:$IPB:$MIG_PORT" state="$STATE"
	grep -q '"status": "postcopy' "$WORK/proxy-a.log" && fail "the migration went post-copy"
	cap_on b postcopy-ram && fail "post-copy is on at B"
	cap_on b switchover-ack || fail "switchover-ack is off at B"
	;;

tls-check)
	# credentials QEMU will not take (ECDSA without key encipherment) are
	# a blocker of the preflight, found by a trial that leaves nothing
	command -v certtool >/dev/null 2>&1 || skip "needs certtool (gnutls-bin)"
	sh "$HERE/mkcerts.sh" "$WORK/pki" "$IPB" >/dev/null || fail "making certificates"
	TH_AGENT_SECURITY="--tls-dir $WORK/pki/server" th_agent b
	start_vms
	proxy a --once
	proxy b --once
	SEC="--tls-dir $WORK/pki/client" check
	[ "$RC" -eq 3 ] || fail "check did not exit 3 for unusable credentials ($RC): $(cat "$WORK/check.out")"
	grep -q "blocker: QEMU cannot use the agent's TLS credentials: .*key encipherment" \
		"$WORK/check.out" || fail "no blocker for B's credentials: $(cat "$WORK/check.out")"
	grep -q "blocker: QEMU cannot use our TLS credentials: .*key encipherment" \
		"$WORK/check.out" || fail "no blocker for A's credentials: $(cat "$WORK/check.out")"
	for h in a b; do
		grep -q '"cmd": "\(migrate\|migrate-incoming\|migrate-set-capabilities\|migrate-set-parameters\|device_add\)"' \
			"$WORK/proxy-$h.log" && fail "check changed something on $h"
	done
	runs_on a
	b_released 1
	;;

check)
	th_agent b
	start_vms
	proxy a --once
	proxy b --once
	check
	[ "$RC" -eq 0 ] || fail "check found blockers ($RC): $(cat "$WORK/check.out")"
	grep -q "source: ready" "$WORK/check.out" || fail "check: $(cat "$WORK/check.out")"
	grep -q "destination: ready" "$WORK/check.out" || fail "check: $(cat "$WORK/check.out")"
	grep -q "^  warning: QEMU's migration stream .* travels in clear" "$WORK/check.out" ||
		fail "check did not warn of the clear stream: $(cat "$WORK/check.out")"
	# a source QEMU older than 8.1
	proxy a --once --fake-version 8.0.0
	proxy b --once
	check
	[ "$RC" -eq 3 ] || fail "check did not exit 3 for QEMU 8.0 ($RC): $(cat "$WORK/check.out")"
	grep -q "blocker: QEMU 8.0.0 cannot migrate VFIO devices (needs 8.1)" "$WORK/check.out" ||
		fail "check missed QEMU 8.0: $(cat "$WORK/check.out")"
	# QEMU's own blocked-reasons
	proxy a --once --blocked-reason "VFIO device doesn't support migration"
	proxy b --once
	check
	[ "$RC" -eq 3 ] || fail "check did not exit 3 for a blocked migration ($RC)"
	grep -q "blocker: QEMU blocks migration: VFIO device doesn't support migration" \
		"$WORK/check.out" || fail "check missed the blocked-reasons: $(cat "$WORK/check.out")"
	# the device without enable-migration
	proxy a --once --enable-migration off
	proxy b --once
	check
	[ "$RC" -eq 3 ] || fail "check did not exit 3 for enable-migration=off ($RC)"
	grep -q "blocker: the VF device has enable-migration=off" "$WORK/check.out" ||
		fail "check missed enable-migration=off: $(cat "$WORK/check.out")"
	grep -q "destination: ready" "$WORK/check.out" || fail "check: $(cat "$WORK/check.out")"
	# check changed nothing: no capability, no device, no migration
	for h in a b; do
		grep -q '"cmd": "\(migrate\|migrate-incoming\|migrate-set-capabilities\|migrate-set-parameters\|device_add\)"' \
			"$WORK/proxy-$h.log" && fail "check changed something on $h"
	done
	runs_on a
	not_running_on b
	b_released 1
	;;

two-vfs | two-vfs-refused)
	# one VM with two VFs, each its own vfio-pci device on its own root
	# port: both plugged in on B with their ids, buses and B's VFs, both
	# confirmed (or both rolled back when B's devices skip RUNNING_P2P)
	on_a "$TOOL" --json vf provision emu:pfa >"$WORK/prov2.json" || fail "second provision on A"
	VF2=$(jget "$WORK/prov2.json" device)
	th_agent b
	th_qemu a -device pcie-root-port,id=rp2,chassis=2 || fail "QEMU on A did not start"
	th_qemu b -incoming defer -device pcie-root-port,id=rp2,chassis=2 ||
		fail "QEMU on B did not start"
	proxy a --more-device "nvme-vf1,$VF2,rp2"
	if [ "$CASE" = two-vfs ]; then proxy b; else proxy b --no-p2p; fi
	on_a "$TOOL" migrate "$VF" "$VF2" --device-state qemu --to "$IPB:$AGENT_PORT" \
		--dest-pf emu:pfb --vm "$WORK/vm-a.sock" --dest-vm "$WORK/vm-b.sock" \
		--migrate-uri "tcp:$IPB:$MIG_PORT" --insecure --report "$WORK/report.json" \
		>"$WORK/migrate.out" 2>"$WORK/migrate.err"
	RC=$?
	python3 - "$WORK/proxy-b.log" "$WORK/report.json" "$VF" "$VF2" <<'EOF2' || fail "device_add on B"
import json, sys
b = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
r = json.load(open(sys.argv[2]))
add = {l["args"]["id"]: l["args"] for l in b if l.get("cmd") == "device_add"}
dest = {v["source_vf"]: v.get("destination_vf") for v in r["vfs"]}
assert sorted(add) == ["nvme-vf0", "nvme-vf1"], add
assert add["nvme-vf0"]["bus"] == "rp1" and add["nvme-vf1"]["bus"] == "rp2", add
assert add["nvme-vf0"]["host"] == dest[sys.argv[3]], (add, dest)
assert add["nvme-vf1"]["host"] == dest[sys.argv[4]], (add, dest)
assert dest[sys.argv[3]] != dest[sys.argv[4]], dest
EOF2
	if [ "$CASE" = two-vfs ]; then
		[ "$RC" -eq 0 ] || fail "migrate failed ($RC): $(cat "$WORK/migrate.err")"
		grep -q "the destination VFs took the state (nvme-vf0: .*running-p2p.*; nvme-vf1: .*running-p2p" \
			"$WORK/migrate.out" || fail "not both confirmed: $(cat "$WORK/migrate.out")"
		[ "$(pf_b | grep -c '"state": "online"')" -eq 2 ] || fail "B has not two VFs"
		a_vf_provisioned && fail "A's VFs were not released"
		runs_on b
	else
		[ "$RC" -ne 0 ] || fail "migrate succeeded although B's devices refused"
		grep -q "^nvme-vf-migrate: restore: the destination VF .* refused the state" \
			"$WORK/migrate.err" || fail "unclear error: $(cat "$WORK/migrate.err")"
		runs_on a
		not_running_on b
		[ "$(on_a "$TOOL" --json vf list --pf emu:pfa | grep -c '"state": "online"')" -eq 2 ] ||
			fail "A lost a VF"
		b_released
	fi
	;;

fault-device-add)
	th_agent b
	start_vms
	proxy a
	proxy b --refuse-device-add "vfio $IPB: failed to open /dev/vfio/devices/vfio7: No such device"
	migrate
	[ "$RC" -eq 1 ] || fail "a refused device_add exited $RC, not 1"
	expect_rolled_back reserve
	grep -q "device_add of $DEV_ID on the destination: .*No such device" "$WORK/migrate.err" ||
		fail "unclear error: $(cat "$WORK/migrate.err")"
	for c in migrate migrate-incoming migrate-set-capabilities; do
		grep -q "\"cmd\": \"$c\"" "$WORK/proxy-a.log" "$WORK/proxy-b.log" &&
			fail "$c after a failed reserve"
	done
	[ "$(th_status b)" = inmigrate ] || fail "B's QEMU is $(th_status b), not still waiting"
	;;

fault-dest-qemu-exit)
	# B's QEMU dies while the source is still copying RAM: QEMU fails the
	# migration and the orchestrator rolls back
	th_agent b
	start_vms
	# slow enough never to converge within 300 ms, so precopy lasts
	qmp_a migrate-set-parameters '{"max-bandwidth": 1048576}'
	proxy a
	proxy b
	migrate_bg --downtime-limit 300 --phase-timeout precopy=90
	wait_log a '"cmd": "query-migrate".*"status": "active"' ||
		fail "the migration never became active: $(grep "^nvme-vf-migrate: " "$WORK/migrate.err")"
	kill -9 "$QEMU_B"
	wait_migrate
	expect_rolled_back precopy 10
	grep -q "failed\|cancelled" "$WORK/migrate.err" || fail "unclear error: $(cat "$WORK/migrate.err")"
	grep -q '"device-state": "running"' "$WORK/proxy-a.log" ||
		fail "the source VF's events do not show it running again"
	;;

fault-incoming-refused)
	# B's QEMU refuses migrate-incoming after it took the device: the
	# rollback must stop B's QEMU (it would hold the VF) before B's VF is
	# released
	th_agent b
	start_vms
	proxy a
	proxy b --refuse "migrate-incoming=Failed to bind socket: Address already in use"
	migrate
	expect_rolled_back precopy 1
	grep -q "Address already in use" "$WORK/migrate.err" || fail "unclear error: $(cat "$WORK/migrate.err")"
	grep -q "destination QEMU stopped" "$WORK/migrate.out" || fail "rollback: $(grep rollback "$WORK/migrate.out")"
	grep -q '"cmd": "migrate"' "$WORK/proxy-a.log" && fail "the source migrated without a destination"
	python3 - "$WORK/proxy-b.log" "$WORK/agent-b.log" <<'EOF' || fail "B's VF was released before B's QEMU quit"
import datetime, json, re, sys
quit = [l["wall"] for l in map(json.loads, open(sys.argv[1])) if l.get("cmd") == "quit" and l["ok"]]
rel = [datetime.datetime.strptime(m.group(1), "%Y-%m-%dT%H:%M:%S.%f").timestamp()
       for m in (re.match(r"(\S+) notice: released ", l) for l in open(sys.argv[2])) if m]
assert quit and rel and quit[0] < rel[0] + 0.001, (quit, rel)
EOF
	kill -0 "$QEMU_B" 2>/dev/null && fail "B's QEMU still runs"
	;;

fault-src-cancelled)
	# someone else cancels the source's migration while it copies RAM:
	# QEMU reports "cancelled", B's QEMU gives up, the orchestrator rolls
	# back
	th_agent b
	start_vms
	qmp_a migrate-set-parameters '{"max-bandwidth": 1048576}'
	proxy a --cancel-when-active
	proxy b
	migrate --downtime-limit 300 --phase-timeout precopy=90
	expect_rolled_back precopy 10
	grep -q '"own": "migrate_cancel"' "$WORK/proxy-a.log" || fail "the proxy did not cancel"
	grep -q "cancelled" "$WORK/migrate.err" || fail "unclear error: $(cat "$WORK/migrate.err")"
	grep -q '"device-state": "running"' "$WORK/proxy-a.log" ||
		fail "the source VF's events do not show it running again"
	;;

fault-dest-qemu-exit-paused)
	# B's QEMU dies while the source VM is paused in pre-switchover (the
	# pause window): A's proxy holds migrate-continue until B is gone, the
	# switchover fails, and the source VM runs again with its VF
	th_agent b
	start_vms
	proxy a --delay migrate-continue=3
	proxy b
	migrate_bg
	wait_log a '"note": "holding migrate-continue"' ||
		fail "the source never reached pre-switchover: $(grep "^nvme-vf-migrate: " "$WORK/migrate.err")"
	kill -9 "$QEMU_B"
	wait_migrate
	expect_rolled_back switchover 10
	python3 - "$WORK/proxy-a.log" <<'EOF' || fail "the source was not held when B died"
import json, sys
log = [json.loads(l) for l in open(sys.argv[1])]
stop = [l["t"] for l in log if l.get("event") == "STOP"]
hold = [l["t"] for l in log if l.get("note") == "holding migrate-continue"]
cont = [l for l in log if l.get("cmd") == "migrate-continue"]
assert stop and hold and cont and stop[0] < hold[0] < cont[0]["t"], (stop, hold, cont)
EOF
	;;

*)
	echo "unknown case $CASE" >&2
	exit 2
	;;
esac
echo "PASS [$CASE]"
