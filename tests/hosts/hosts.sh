#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-or-later
# Two emulated hosts in two network namespaces joined by a veth pair: host
# A runs "send", host B the agent. One case per invocation, named by $1.
#
# Every case checks what the issue promises: the state arrives intact
# (emu digests), a refused or broken transfer leaves the destination
# device as it was (digest unchanged, RUNNING) and the source RUNNING,
# and the agent says why in one clear log line.
#
# Namespaces, veth names and 10.x addresses derive from our PID; the trap
# removes them and kills only the processes this script started.
set -u
CASE=$1
TOOL=${NVFM_CLI:?NVFM_CLI must name the nvme-vf-migrate binary}
HERE=$(cd "$(dirname "$0")" && pwd)

skip() {
	echo "SKIP [$CASE]: $*"
	exit 77
}

[ "$(id -u)" -eq 0 ] || skip "needs root (network namespaces)"
command -v ip >/dev/null 2>&1 || skip "needs iproute2"
command -v python3 >/dev/null 2>&1 || skip "needs python3"

PORT=16590
WORK=$(mktemp -d "${TMPDIR:-/tmp}/nvfm-hosts.XXXXXX")
RT=$WORK/rt
. "${NVFM_SOURCE_ROOT:-$HERE/../..}/scripts/twohosts.sh"
VA=va$TH_ID
VB=vb$TH_ID

cleanup() {
	th_cleanup
	if [ -n "${KEEP:-}" ]; then
		echo "kept $WORK"
	else
		rm -rf "$WORK"
	fi
}
trap cleanup EXIT
trap 'exit 1' INT TERM

fail() {
	echo "FAIL [$CASE]: $*" >&2
	for f in agent.log send.err send.json proxy.log session.log request.err; do
		[ -s "$WORK/$f" ] && { echo "--- $f" >&2; tail -n 30 "$WORK/$f" >&2; }
	done
	exit 1
}

ip netns add "nvfmprobe$TH_ID" 2>/dev/null || skip "cannot create network namespaces"
ip netns del "nvfmprobe$TH_ID"
th_setup || fail "no link between the namespaces"
. "$HERE/cut-lib.sh"

# ona/onb CMD...: run on host A / host B (its namespace, its emu devices).
# In the background use "bga/bgb CMD... &": they exec, so $! is the command
# itself and not a subshell that a signal would kill instead.
ona() { on_a "$@"; }
onb() { on_b "$@"; }
bga() { exec ip netns exec "$NSA" env NVFM_EMU_DIR="$HA" "$@"; }
bgb() { exec ip netns exec "$NSB" env NVFM_EMU_DIR="$HB" "$@"; }

pki() {
	command -v certtool >/dev/null 2>&1 || skip "needs certtool (gnutls-bin)"
	[ -d "$WORK/pki" ] || sh "$HERE/mkcerts.sh" "$WORK/pki" "$IPB" >/dev/null ||
		fail "making test certificates"
}

# wait_log PATTERN [SECONDS]: the agent's log shows PATTERN
wait_log() {
	n=$(( ${2:-15} * 10 ))
	while ! grep -q -- "$1" "$WORK/agent.log" 2>/dev/null; do
		n=$((n - 1))
		[ $n -gt 0 ] || fail "agent log never showed '$1'"
		if [ -n "${AGENT:-}" ] && ! kill -0 "$AGENT" 2>/dev/null; then
			fail "agent exited before logging '$1'"
		fi
		sleep 0.1
	done
}

# start_agent [ARGS...]: an agent on host B, port $PORT, serving its
# emulated devices; start_agent_noemu: the same without --emu
start_agent() {
	start_agent_noemu --emu "$@"
}

start_agent_noemu() {
	: >"$WORK/agent.log"
	bgb "$TOOL" -v agent --listen "$IPB:$PORT" --runtime-dir "$RT" --timeout 5 "$@" \
		>>"$WORK/agent.log" 2>&1 &
	AGENT=$!
	TH_PIDS="$TH_PIDS $AGENT"
	wait_log "listening on"
}

stop_agent() {
	kill -TERM "$AGENT" 2>/dev/null
	th_wait_gone "$AGENT" 10 || fail "agent did not stop on SIGTERM"
	wait "$AGENT"
	AGENT_RC=$?
}

# send_a [ARGS...]: "send emu:a" on host A with --json; sets RC
send_a() {
	ona "$TOOL" --json send emu:a --timeout 5 "$@" >"$WORK/send.json" 2>"$WORK/send.err"
	RC=$?
}

jget() {
	python3 -c 'import json,sys
v = json.load(open(sys.argv[1]))
for k in sys.argv[2].split("."):
    v = v.get(k) if isinstance(v, dict) else None
print("" if v is None else (str(v).lower() if isinstance(v, bool) else v))' "$1" "$2"
}

digest_a() { ona "$TOOL" emu digest a | sed -n 's/^sha256: //p'; }
digest_b() { onb "$TOOL" emu digest b | sed -n 's/^sha256: //p'; }

state_of() {
	"$@" >"$WORK/state.json" || fail "'$*' failed"
	jget "$WORK/state.json" state
}

# make_devices SIZE [emu create options]: emu:a on A, emu:b on B, no dirtying
make_devices() {
	size=$1
	shift
	ona "$TOOL" -q emu create a --size "$size" --seed 41 --dirty-rate 0 "$@" || fail "emu create a"
	onb "$TOOL" -q emu create b --size "$size" --seed 42 --dirty-rate 0 "$@" || fail "emu create b"
	DA0=$(digest_a)
	DB0=$(digest_b)
	PB0=$(pages_b)
	[ "$DA0" != "$DB0" ] || fail "devices start equal"
	[ "$(cc_b)" != 0x0000000000000000 ] || fail "emu:b starts with a reset controller"
}

expect_arrived() {
	[ "$RC" -eq 0 ] || fail "send failed ($RC): $(cat "$WORK/send.err")"
	[ "$(digest_b)" = "$(digest_a)" ] || fail "emu:b does not hold emu:a's state"
	[ -z "$(ls -A "$RT/migrations" 2>/dev/null)" ] || fail "migration state left in $RT"
}

# What of emu:b a load may change: its pages and their configuration.
# A reset clears the controller registers, so the whole-state digest of a
# reset device differs from the one it started with; its pages do not.
pages_b() {
	onb "$TOOL" --json emu show b | python3 -c 'import json,sys
d = json.load(sys.stdin)
print(json.dumps([d["config"], d["pages"], d["workload"]], sort_keys=True))'
}

cc_b() {
	onb "$TOOL" --json emu show b | python3 -c 'import json,sys; print(json.load(sys.stdin)["controller"]["cc"])'
}

source_ok() {
	[ "$(digest_a)" = "$DA0" ] || fail "emu:a changed"
	[ "$(state_of ona "$TOOL" --json vf state emu:a)" = RUNNING ] || fail "emu:a not RUNNING"
	[ -z "$(ls -A "$RT/migrations" 2>/dev/null)" ] || fail "migration state left in $RT"
}

# never touched: emu:b exactly as created, the source as it was
expect_untouched() {
	[ "$(digest_b)" = "$DB0" ] || fail "emu:b changed"
	[ "$(state_of onb "$TOOL" --json vf state emu:b)" = RUNNING ] || fail "emu:b not RUNNING"
	source_ok
}

# reset: emu:b's pages as created (nothing partial was committed), its
# controller reset, RUNNING; the source as it was
expect_reset() {
	[ "$(pages_b)" = "$PB0" ] || fail "emu:b pages changed: a partial state was committed"
	[ "$(digest_b)" != "$DA0" ] || fail "emu:b holds the source's state"
	[ "$(cc_b)" = 0x0000000000000000 ] || fail "emu:b controller was not reset (CC $(cc_b))"
	[ "$(state_of onb "$TOOL" --json vf state emu:b)" = RUNNING ] || fail "emu:b not RUNNING"
	source_ok
}

expect_send_failed() {
	[ "$RC" -ne 0 ] || fail "send succeeded, expected a failure"
	[ "$(wc -l <"$WORK/send.err")" -eq 1 ] || fail "send printed more than one error line"
	grep -q -- "$1" "$WORK/send.err" || fail "send error lacks '$1': $(cat "$WORK/send.err")"
	if [ -s "$WORK/send.json" ]; then
		[ "$(jget "$WORK/send.json" source_state)" = RUNNING ] ||
			fail "source not RUNNING after the failure"
	fi
}

security_refused() {
	code=$1 client_pat=$2 agent_pat=$3
	[ "$RC" -eq "$code" ] || fail "send exited $RC, expected $code: $(cat "$WORK/send.err")"
	grep -q -- "$client_pat" "$WORK/send.err" || fail "send error lacks '$client_pat': $(cat "$WORK/send.err")"
	wait_log "$agent_pat" 5
	grep -q "migration m" "$WORK/agent.log" && fail "the agent started a migration"
	expect_untouched
}

# through_proxy FAULT [send options]: plain agent behind tests/hosts/faultproxy.py
# start_proxy FAULT: faultproxy.py on PORT + 1, in front of the agent
start_proxy() {
	bgb python3 "$HERE/faultproxy.py" "$IPB" $((PORT + 1)) "$IPB" "$PORT" "$1" \
		>"$WORK/proxy.log" 2>&1 &
	TH_PIDS="$TH_PIDS $!"
	n=50
	until grep -q ready "$WORK/proxy.log"; do
		n=$((n - 1))
		[ $n -gt 0 ] || fail "proxy did not start"
		sleep 0.1
	done
}

through_proxy() {
	fault=$1
	shift
	start_agent --insecure
	start_proxy "$fault"
	send_a --to "$IPB:$((PORT + 1))" --insecure --target emu:b "$@"
	grep -q "fault applied" "$WORK/proxy.log" || [ "$fault" = none ] ||
		fail "the fault never struck: $(cat "$WORK/proxy.log")"
}

# fault_case untouched|reset FAULT SEND_PATTERN AGENT_PATTERN [send options]
fault_case() {
	make_devices 8M
	want=$1 fault=$2 spat=$3 apat=$4
	shift 4
	through_proxy "$fault" "$@"
	expect_send_failed "$spat"
	wait_log "$apat" 10
	"expect_$want"
}

roundtrip() {
	mode=$1 size=$2
	make_devices "$size"
	case "$mode" in
	tls)
		pki
		start_agent --tls-dir "$WORK/pki/server"
		send_a --to "$IPB" --tls-dir "$WORK/pki/client" --target emu:b ;;
	tls-verify)
		pki
		start_agent --tls-dir "$WORK/pki/server"
		send_a --to "$IPB" --tls-dir "$WORK/pki/client" --target emu:b --verify ;;
	tls-gio)
		# a client that does not offer sealed records (an older one):
		# both ends keep GIO's TLS records
		pki
		start_agent --tls-dir "$WORK/pki/server"
		ona env NVFM_TLS_SEALED=0 "$TOOL" --json send emu:a --timeout 5 --to "$IPB" \
			--tls-dir "$WORK/pki/client" --target emu:b >"$WORK/send.json" 2>"$WORK/send.err"
		RC=$? ;;
	plain)
		start_agent --insecure
		send_a --to "$IPB:$PORT" --insecure --target emu:b ;;
	verify)
		start_agent --insecure
		send_a --to "$IPB:$PORT" --insecure --target emu:b --verify ;;
	unix)
		bgb "$TOOL" -v agent --listen "unix:$WORK/agent.sock" --runtime-dir "$RT" --emu \
			>"$WORK/agent.log" 2>&1 &
		AGENT=$!
		TH_PIDS="$TH_PIDS $AGENT"
		wait_log "listening on"
		ip netns exec "$NSB" env NVFM_EMU_DIR="$HA" "$TOOL" --json send emu:a \
			--to "unix:$WORK/agent.sock" --target emu:b >"$WORK/send.json" 2>"$WORK/send.err"
		RC=$? ;;
	esac
	expect_arrived
	total=$(jget "$WORK/send.json" stats.total_bytes)
	zc=$(jget "$WORK/send.json" stats.zero_copy_bytes)
	unchecked=$(jget "$WORK/send.json" stats.unchecked_bytes)
	sha=$(jget "$WORK/send.json" stats.sha256)
	[ "$(jget "$WORK/send.json" remote.total_bytes)" = "$total" ] || fail "byte counts differ"
	case "$mode" in
	plain|unix)
		# spliced, so no digest: the device's own validation vouches
		[ "$zc" = "$total" ] || fail "plain transfer did not go zero-copy ($zc bytes)"
		[ "$(jget "$WORK/send.json" remote.zero_copy_bytes)" = "$total" ] ||
			fail "the agent did not splice" ;;
	tls|tls-gio)
		# the TLS records authenticate every byte: no CRC, no digest;
		# sealed records after the handshake, and spliced only where
		# the kernel's TLS seals and opens them
		layer=$(sed -n 's/.*\[records: \([^]]*\)\].*/\1/p' "$WORK/agent.log" | head -n 1)
		case "$layer" in
		"sealed"|"GIO TLS")
			[ "$zc" = 0 ] || fail "TLS transfer in userspace records claims zero-copy"
			[ "$layer" = "GIO TLS" ] || [ "$mode" = tls ] ||
				fail "a client without the offer got sealed records" ;;
		"sealed, kernel TLS") [ "$zc" = "$total" ] || fail "kernel TLS did not splice ($zc)" ;;
		*) fail "the agent's log names no TLS record layer: '$layer'" ;;
		esac
		[ "$layer" != "GIO TLS" ] || [ "$mode" = tls-gio ] ||
			fail "both ends offer sealed records, yet GIO's records ran"
		[ "$unchecked" = "$total" ] || fail "TLS transfer carried CRCs ($unchecked unchecked)"
		[ -z "$sha" ] || fail "TLS transfer computed a digest" ;;
	verify|tls-verify)
		[ "$unchecked" = 0 ] || fail "$mode transfer left $unchecked bytes unchecked"
		[ -n "$sha" ] || fail "no sha256"
		[ "$sha" = "$(jget "$WORK/send.json" remote.sha256)" ] || fail "sha256 differs" ;;
	esac
	wait_log "bytes into emu:b"
	stop_agent
	[ "$AGENT_RC" -eq 0 ] || fail "agent exited $AGENT_RC on SIGTERM"
}

# refused_req EXIT PATTERN OP [ARGS...]: "agent request" on host A exits
# EXIT with one error line that says PATTERN
refused_req() {
	code=$1 pat=$2
	shift 2
	ona "$TOOL" --json agent request "$@" >"$WORK/req.out" 2>"$WORK/req.err"
	rc=$?
	[ "$rc" -eq "$code" ] || fail "'agent request $*' exited $rc, expected $code: $(cat "$WORK/req.out" "$WORK/req.err")"
	[ "$(wc -l <"$WORK/req.err")" -eq 1 ] || fail "'agent request $*' printed more than one line"
	grep -q -- "$pat" "$WORK/req.err" || fail "'agent request $*': $(cat "$WORK/req.err")"
}

# A connection of tests/hosts/agentclient.py from host A that stays open:
# client_open [TLS_DIR], client_req JSON (its reply lands in
# $WORK/reply.json), client_close.
client_open() {
	rm -f "$WORK/x.in"
	mkfifo "$WORK/x.in" || fail "mkfifo"
	bga python3 "$HERE/agentclient.py" "$IPB" "$PORT" "$@" <"$WORK/x.in" >"$WORK/x.out" \
		2>"$WORK/x.err" &
	XPID=$!
	TH_PIDS="$TH_PIDS $XPID"
	exec 7>"$WORK/x.in"
	XN=1
	client_line 1 >/dev/null
}

client_line() {
	n=100
	while [ "$(wc -l <"$WORK/x.out")" -lt "$1" ]; do
		n=$((n - 1))
		[ $n -gt 0 ] || fail "agentclient gave no line $1: $(cat "$WORK/x.err")"
		kill -0 "$XPID" 2>/dev/null || [ "$(wc -l <"$WORK/x.out")" -ge "$1" ] ||
			fail "agentclient exited: $(cat "$WORK/x.err")"
		sleep 0.1
	done
	sed -n "${1}p" "$WORK/x.out"
}

client_req() {
	echo "$1" >&7
	XN=$((XN + 1))
	client_line "$XN" >"$WORK/reply.json"
	[ "$(jget "$WORK/reply.json" ok)" = true ] || fail "agentclient: $1: $(cat "$WORK/reply.json")"
}

client_close() {
	exec 7>&-
	wait "$XPID"
}

# slow_source: the source trickles its state so a transfer lasts seconds
slow_source() {
	ona "$TOOL" emu fault a slow-us 40000 || fail "emu fault"
}

# cut_link a|b, mend_link a|b: that host's end of the link goes down/up;
# CUT is when it went down (tests/hosts/cut-lib.sh times from there)
link_set() {
	if [ "$1" = a ]; then ip -n "$NSA" link set "$VA" "$2"; else ip -n "$NSB" link set "$VB" "$2"; fi
}
cut_link() {
	mark_cut
	link_set "$1" down || fail "ip link set down"
}
mend_link() { link_set "$1" up || fail "ip link set up"; }

# the agent's reset of emu:b and the end of its connection, timed
agent_gave_up() {
	bounded_line "the agent reset emu:b" "$WORK/agent.log" "failed in .*emu:b reset"
	bounded_line "the agent ended the connection" "$WORK/agent.log" "$IPA:[0-9]+ disconnected"
}

# cut_stream plain|tls a|b: the link goes down on that host's end while
# the state streams from A to B
cut_stream() {
	mode=$1 side=$2
	make_devices 8M
	slow_source
	if [ "$mode" = tls ]; then
		pki
		start_agent --tls-dir "$WORK/pki/server" --timeout $LINK_T
		set -- --to "$IPB" --tls-dir "$WORK/pki/client"
	else
		start_agent --insecure --timeout $LINK_T
		set -- --to "$IPB:$PORT" --insecure
	fi
	# -v: the log says when emu:a runs again
	bga "$TOOL" -v --json send emu:a "$@" --target emu:b --timeout $LINK_T \
		>"$WORK/send.json" 2>"$WORK/send.log" &
	S=$!
	TH_PIDS="$TH_PIDS $S"
	wait_log "migration m.*-> emu:b"
	sleep 1
	cut_link "$side"
	th_wait_gone "$S" 60 || fail "send did not end"
	bounded "send exited" "$(since_cut)"
	wait "$S"
	RC=$?
	bounded "emu:a RUNNING again" \
		"$(log_since "$WORK/send.log" 'emu:a: (recovered to RUNNING|reset$|[A-Z_]+ -> RUNNING)')"
	agent_gave_up
	grep -v -- '-DEBUG: ' "$WORK/send.log" >"$WORK/send.err"
	expect_send_failed "failed"
	in_time
	mend_link "$side"
	ona "$TOOL" emu fault a --clear || fail "emu fault --clear"
	expect_reset
}

# add_sources N: N more addresses on host A's end of the link, in $SOURCES
# (comma-separated), for connections from several peers
add_sources() {
	SOURCES=
	i=0
	while [ $i -lt "$1" ]; do
		src=${IPA%.*}.$((101 + i))
		ip -n "$NSA" addr add "$src/24" dev "$VA" || fail "cannot add $src"
		SOURCES=${SOURCES:+$SOURCES,}$src
		i=$((i + 1))
	done
}

# flood N [preauth.py hold options]: N connections from host A that never
# authenticate, reopened when the agent closes them (tests/hosts/preauth.py)
flood() {
	bga python3 "$HERE/preauth.py" hold "$IPB" "$PORT" "$@" >"$WORK/flood.log" 2>&1 &
	FLOOD=$!
	TH_PIDS="$TH_PIDS $FLOOD"
	th_wait_file "$WORK/flood.log" ready 20 ||
		fail "the flood never had its connections open: $(cat "$WORK/flood.log")"
}

stop_flood() {
	kill -TERM "$FLOOD" 2>/dev/null
	th_wait_gone "$FLOOD" 10 || fail "the flood did not stop"
	wait "$FLOOD"
	echo "[$CASE] flood: $(tail -n 1 "$WORK/flood.log")"
}

# trickle tls|hello: a handshake sent one byte every 2 s from host A; sets T,
# the seconds the agent kept the connection
trickle() {
	ona python3 "$HERE/preauth.py" trickle "$IPB" "$PORT" "$1" --interval 2 --max 20 \
		>"$WORK/trickle.out" 2>&1
	echo "[$CASE] $1 handshake trickled one byte every 2 s, --timeout 5: $(cat "$WORK/trickle.out")"
	T=$(sed -n 's/^closed after \([0-9.]*\) s.*/\1/p' "$WORK/trickle.out")
	[ -n "$T" ] || fail "the agent kept a trickled $1 handshake: $(cat "$WORK/trickle.out")"
}

# cpu_ticks PID: user + system time of a process, in clock ticks
cpu_ticks() {
	sed 's/^.*) //' "/proc/$1/stat" | awk '{ print $12 + $13 }'
}

case "$CASE" in
tls-1M) roundtrip tls 1M ;;
tls-64M) roundtrip tls 64M ;;
tls-verify-16M) roundtrip tls-verify 16M ;;
tls-gio-16M) roundtrip tls-gio 16M ;;
plain-1M) roundtrip plain 1M ;;
plain-256M) roundtrip plain 256M ;;
verify-64M) roundtrip verify 64M ;;
unix-16M) roundtrip unix 16M ;;

precopy)
	ona "$TOOL" -q emu create a --size 32M --seed 41 --dirty-rate 64M || fail "emu create"
	onb "$TOOL" -q emu create b --size 32M --seed 42 --dirty-rate 0 || fail "emu create"
	start_agent --insecure
	send_a --to "$IPB:$PORT" --insecure --target emu:b --precopy-rounds 4 \
		--precopy-threshold 1M
	expect_arrived
	[ "$(jget "$WORK/send.json" stats.precopy_rounds)" -ge 1 ] || fail "no precopy round"
	[ "$(jget "$WORK/send.json" stats.precopy_bytes)" -gt 0 ] || fail "no precopy bytes"
	;;

run-flag)
	make_devices 4M
	start_agent --insecure
	send_a --to "$IPB:$PORT" --insecure --target emu:b --run
	expect_arrived
	[ "$(jget "$WORK/send.json" remote.state)" = RUNNING ] || fail "destination not RUNNING"
	;;

concurrent)
	make_devices 32M
	ona "$TOOL" -q emu create a2 --size 32M --seed 43 --dirty-rate 0 || fail "emu create"
	onb "$TOOL" -q emu create b2 --size 32M --seed 44 --dirty-rate 0 || fail "emu create"
	ona "$TOOL" emu fault a2 slow-us 4000 || fail "emu fault"
	pki
	start_agent --tls-dir "$WORK/pki/server"
	bga "$TOOL" -q send emu:a2 --to "$IPB" --tls-dir "$WORK/pki/client" --target emu:b2 \
		2>"$WORK/send2.err" &
	P2=$!
	TH_PIDS="$TH_PIDS $P2"
	send_a --to "$IPB" --tls-dir "$WORK/pki/client" --target emu:b
	wait "$P2" || fail "second transfer failed: $(cat "$WORK/send2.err")"
	expect_arrived
	[ "$(onb "$TOOL" emu digest b2 | sed -n 's/^sha256: //p')" = \
	  "$(ona "$TOOL" emu digest a2 | sed -n 's/^sha256: //p')" ] || fail "emu:b2 differs"
	[ "$(grep -c 'notice: migration .* bytes into emu:b' "$WORK/agent.log")" -eq 2 ] ||
		fail "expected two transfers"
	# they overlapped: both started before either finished
	grep 'notice: migration' "$WORK/agent.log" | head -2 | grep -c -- '-> emu:b' | grep -q 2 ||
		fail "the transfers did not run at the same time"
	;;

control)
	make_devices 4M
	onb "$TOOL" -q emu pf-create pf0 --vfs 2 || fail "emu pf-create"
	pki
	start_agent --tls-dir "$WORK/pki/server"
	C="--to $IPB --tls-dir $WORK/pki/client"
	ona "$TOOL" --json agent request status $C >"$WORK/status.json" || fail "status"
	[ "$(jget "$WORK/status.json" tls)" = true ] || fail "status: not TLS"
	ona "$TOOL" -q emu show a >/dev/null || fail "emu show"
	ona "$TOOL" --json agent request preflight $C target=emu:b >"$WORK/pre.json" || fail "preflight"
	[ "$(jget "$WORK/pre.json" ok)" = true ] || fail "preflight not ok: $(cat "$WORK/pre.json")"
	ona "$TOOL" --json agent request preflight $C target=emu:b 'compat={"driver":"other-vfio-pci"}' \
		>"$WORK/pre2.json"
	[ $? -eq 3 ] || fail "preflight against an incompatible source did not fail"
	grep -q "incompatible devices" "$WORK/pre2.json" || fail "preflight: $(cat "$WORK/pre2.json")"
	# the source's own compatibility block, as the orchestrator would send it
	ona "$TOOL" --json vf state emu:a >/dev/null || fail "vf state"
	ona "$TOOL" --json agent request provision $C pf=emu:pf0 >"$WORK/prov.json" || fail "provision"
	R=$(jget "$WORK/prov.json" reservation)
	DEV=$(jget "$WORK/prov.json" device)
	[ -n "$R" ] && [ -n "$DEV" ] || fail "provision gave no reservation/device: $(cat "$WORK/prov.json")"
	[ -f "$RT/reservations/$R.json" ] || fail "no reservation record"
	[ "$(stat -c %a "$RT/reservations/$R.json")" = 600 ] || fail "reservation record not 0600"
	[ "$(stat -c %a "$RT")" = 700 ] || fail "runtime dir not 0700"
	send_a --to "$IPB" --tls-dir "$WORK/pki/client" --reservation "$R"
	[ "$RC" -eq 0 ] || fail "send into the reservation failed: $(cat "$WORK/send.err")"
	[ "$(jget "$WORK/send.json" remote.target)" = "$DEV" ] || fail "sent to the wrong device"
	NAME=${DEV#emu:}
	[ "$(onb "$TOOL" emu digest "$NAME" | sed -n 's/^sha256: //p')" = "$(digest_a)" ] ||
		fail "the provisioned VF does not hold the state"
	ona "$TOOL" --json agent request release $C reservation="$R" >/dev/null || fail "release"
	[ ! -f "$RT/reservations/$R.json" ] || fail "reservation record left"
	ona "$TOOL" --json agent request status $C >"$WORK/status.json" || fail "status"
	[ "$(jget "$WORK/status.json" reservations)" = "[]" ] || fail "reservation still listed"
	# integers are checked, never truncated: 2^32 + 1 VQ is no 1 VQ
	for bad in nvq=4294967297 nvi=-1 vf_index=-2 vf_index=99999999999 'nvq="4"'; do
		ona "$TOOL" --json agent request provision $C pf=emu:pf0 "$bad" >"$WORK/bad.out" 2>"$WORK/bad.err" &&
			fail "provision took $bad: $(cat "$WORK/bad.out")"
		grep -q "must be an integer" "$WORK/bad.err" || fail "provision $bad: $(cat "$WORK/bad.err")"
	done
	ona "$TOOL" --json agent request status $C >"$WORK/status.json" || fail "status"
	[ "$(jget "$WORK/status.json" reservations)" = "[]" ] || fail "a bad provision reserved a VF"
	# a peer's newline cannot forge a log line
	ona "$TOOL" --json agent request release $C "vf=x
FORGED notice: released everything" >/dev/null 2>&1
	grep -q '^FORGED' "$WORK/agent.log" && fail "a peer forged a log line"
	grep -Eq 'x\\(x0a|n)FORGED' "$WORK/agent.log" || fail "the peer's newline was not escaped in the log"
	;;

receive)
	make_devices 4M
	pki
	: >"$WORK/agent.log"
	bgb "$TOOL" -v receive emu:b --listen "$IPB:$PORT" --tls-dir "$WORK/pki/server" \
		--runtime-dir "$RT" >>"$WORK/agent.log" 2>&1 &
	AGENT=$!
	TH_PIDS="$TH_PIDS $AGENT"
	wait_log "listening on"
	send_a --to "$IPB" --tls-dir "$WORK/pki/client" --target emu:b
	expect_arrived
	wait "$AGENT" || fail "receive exited non-zero"
	;;

sec-no-cert)
	make_devices 1M
	pki
	start_agent --tls-dir "$WORK/pki/server"
	onb python3 - "$IPB" "$PORT" "$WORK/pki/ca/ca-cert.pem" >"$WORK/send.err" 2>&1 <<'EOF'
import socket, ssl, sys
ctx = ssl.create_default_context(cafile=sys.argv[3])
ctx.check_hostname = False
s = socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=5)
try:
    t = ctx.wrap_socket(s)
    t.sendall(b"NVFM")
    print("read", t.recv(64))
except Exception as e:
    print("refused:", e)
EOF
	wait_log "the client presented no certificate" 5
	grep -q "migration m" "$WORK/agent.log" && fail "the agent started a migration"
	expect_untouched
	;;
sec-foreign-ca)
	make_devices 1M
	pki
	start_agent --tls-dir "$WORK/pki/server"
	send_a --to "$IPB" --tls-dir "$WORK/pki/foreign" --target emu:b
	security_refused 9 "did not accept our certificate" "is not signed by the configured CA"
	;;
sec-expired)
	make_devices 1M
	pki
	start_agent --tls-dir "$WORK/pki/server"
	send_a --to "$IPB" --tls-dir "$WORK/pki/expired" --target emu:b
	security_refused 9 "did not accept our certificate" "is expired"
	;;
sec-not-allowed)
	make_devices 1M
	pki
	start_agent --tls-dir "$WORK/pki/server" --allow host-c --allow 'CN=nobody*'
	send_a --to "$IPB" --tls-dir "$WORK/pki/client" --target emu:b
	security_refused 9 "allow-list does not accept our certificate .*(CN host-a)" \
		"is not in the allow-list"
	# the allowed subject gets through
	send_a --to "$IPB" --tls-dir "$WORK/pki/client-c" --target emu:b
	expect_arrived
	;;
sec-allow-config)
	# the allow-list of the configuration file, spelled as the docs and
	# the unit's example spell it (no quotes): CN=host-* lets host-a in;
	# a list without it tells the client why, and the client exits 9
	make_devices 1M
	pki
	printf '[agent]\nallow = CN=nobody-*, CN=host-c\n' >"$WORK/agent.conf"
	start_agent --tls-dir "$WORK/pki/server" --config "$WORK/agent.conf"
	send_a --to "$IPB" --tls-dir "$WORK/pki/client" --target emu:b
	security_refused 9 "allow-list does not accept our certificate .* (CN host-a)" \
		"is not in the allow-list"
	stop_agent
	printf '[agent]\nallow = CN=host-*\n' >"$WORK/agent.conf"
	start_agent --tls-dir "$WORK/pki/server" --config "$WORK/agent.conf"
	send_a --to "$IPB" --tls-dir "$WORK/pki/client" --target emu:b
	expect_arrived
	stop_agent
	# the unit's example NVFM_AGENT_ARGS, split as systemd splits it (at
	# spaces, quote characters kept): it must let a host-* client in
	args=$(sed -n 's/.*NVFM_AGENT_ARGS=\(--allow [^ :]*\).*/\1/p' \
		"$NVFM_SOURCE_ROOT/data/nvme-vf-migrate-agent.service.in")
	[ -n "$args" ] || fail "the unit names no example --allow"
	set -f
	# shellcheck disable=SC2086
	start_agent --tls-dir "$WORK/pki/server" $args
	set +f
	send_a --to "$IPB" --tls-dir "$WORK/pki/client" --target emu:b
	expect_arrived
	;;
sec-plain-to-tls)
	make_devices 1M
	pki
	start_agent --tls-dir "$WORK/pki/server"
	send_a --to "$IPB" --insecure --target emu:b
	security_refused 9 "requires TLS" "plain (non-TLS) client on a TLS port"
	;;
sec-tls-to-plain)
	make_devices 1M
	pki
	start_agent --insecure
	send_a --to "$IPB" --tls-dir "$WORK/pki/client" --target emu:b
	security_refused 1 "closed the connection before the TLS handshake finished" \
		"TLS client on a plain (--insecure) port"
	grep -q certificate "$WORK/send.err" && fail "send blames its certificate: $(cat "$WORK/send.err")"
	;;
sec-wrong-server)
	# the client checks the agent too: a server certificate for another name
	make_devices 1M
	pki
	start_agent --tls-dir "$WORK/pki/server"
	send_a --to "$IPB" --tls-dir "$WORK/pki/client" --tls-name host-z --target emu:b
	[ "$RC" -eq 9 ] || fail "send exited $RC, expected 9: $(cat "$WORK/send.err")"
	grep -q "issued for another name" "$WORK/send.err" || fail "unclear error: $(cat "$WORK/send.err")"
	expect_untouched
	;;

# ---- what a peer may make the agent touch (issue #19) ----

sec-emu-off)
	# a production agent (no --emu) serves no emulated device: a peer's
	# emu: target, preflight or PF is refused in one line, nothing written
	make_devices 1M
	onb "$TOOL" -q emu pf-create pf0 --vfs 2 || fail "emu pf-create"
	before=$(ls -A "$HB")
	start_agent_noemu --insecure
	send_a --to "$IPB:$PORT" --insecure --target emu:b
	[ "$RC" -ne 0 ] || fail "send into emu:b succeeded on an agent without --emu"
	grep -q "emulated devices are off on this agent" "$WORK/send.err" ||
		fail "unclear refusal: $(cat "$WORK/send.err")"
	[ "$(wc -l <"$WORK/send.err")" -eq 1 ] || fail "more than one error line: $(cat "$WORK/send.err")"
	C="--to $IPB:$PORT --insecure"
	for req in "preflight target=emu:b" "preflight target=emu:ghost" "preflight pf=emu:pf0" \
		   "provision pf=emu:pf0" "release vf=emu:pf0-vf0"; do
		# shellcheck disable=SC2086
		ona "$TOOL" --json agent request $req $C >"$WORK/req.out" 2>"$WORK/req.err" &&
			fail "$req answered: $(cat "$WORK/req.out")"
		grep -q "emulated devices are off" "$WORK/req.err" ||
			fail "$req: unclear refusal: $(cat "$WORK/req.err")"
	done
	grep -q "migration m" "$WORK/agent.log" && fail "the agent started a migration"
	[ "$(ls -A "$HB")" = "$before" ] || fail "files appeared in B's emu dir: $(ls -A "$HB")"
	expect_untouched
	;;

sec-preflight-nocreate)
	# preflights of devices that do not exist create nothing, even with --emu
	make_devices 1M
	before=$(ls -A "$HB")
	start_agent --insecure
	ona python3 - "$TOOL" "$IPB:$PORT" >"$WORK/pre.out" 2>&1 <<'EOF2' || fail "preflights: $(tail -3 "$WORK/pre.out")"
import subprocess, sys
tool, to = sys.argv[1], sys.argv[2]
for i in range(300):
    r = subprocess.run([tool, "agent", "request", "preflight", "--to", to, "--insecure",
                        "target=emu:ghost%d" % i], capture_output=True, text=True)
    if r.returncode != 3 or "does not exist" not in r.stdout:
        sys.exit("preflight %d: rc %d: %s%s" % (i, r.returncode, r.stdout, r.stderr))
print("300 preflights refused")
EOF2
	[ "$(ls -A "$HB")" = "$before" ] ||
		fail "preflights created $(ls -A "$HB" | grep -c ghost) files in B's emu dir"
	[ -z "$(ls -A "$RT/migrations")" ] || fail "migration records left"
	;;

sec-spill-cap)
	# a stream whose header claims more than --max-emu-state is refused
	# before a byte is staged in NAME.blob.new: a 64 GiB claim against 4 MiB
	# (spliced bytes cannot be refused as they come, so the zero-copy run
	# sends a smaller claim: its bytes flow to the end, discarded)
	make_devices 1M
	ona "$TOOL" -q emu create big --size 64G --seed 41 --dirty-rate 0 || fail "emu create big"
	ona "$TOOL" -q emu create mid --size 16M --seed 41 --dirty-rate 0 || fail "emu create mid"
	# page 1 differs from what the generator makes: it would be staged
	ona "$TOOL" emu fault big corrupt-byte 100000 || fail "emu fault"
	ona "$TOOL" emu fault mid corrupt-byte 100000 || fail "emu fault"
	start_agent --insecure --max-emu-state 4M
	for mode in "big --verify" mid; do
		# shellcheck disable=SC2086
		ona "$TOOL" --json send emu:$mode --to "$IPB:$PORT" --insecure --target emu:b \
			--timeout 60 >"$WORK/send.json" 2>"$WORK/send.err" &
		S=$!
		TH_PIDS="$TH_PIDS $S"
		seen=
		while kill -0 "$S" 2>/dev/null; do
			[ -e "$HB/b.blob.new" ] && seen=$(stat -c %s "$HB/b.blob.new")
			sleep 0.05
		done
		wait "$S"
		RC=$?
		[ -z "$seen" ] || fail "emu:$mode: $seen bytes staged in b.blob.new"
		[ "$RC" -ne 0 ] || fail "emu:$mode: a state beyond the limit was accepted"
		wait_log "failed in .*emu:b reset"
		[ "$(pages_b)" = "$PB0" ] || fail "emu:b pages changed"
		: >"$WORK/agent.log"
	done
	# the limit is not a ban: a state within it arrives
	send_a --to "$IPB:$PORT" --insecure --target emu:b
	expect_arrived
	;;

sec-spill-clean)
	# SIGKILL mid-receive: the pages staged in b.blob.new do not outlive
	# the restart
	make_devices 8M
	slow_source
	# page 1 differs from what the generator makes: it is staged
	ona "$TOOL" emu fault a corrupt-byte 100000 || fail "emu fault"
	start_agent --insecure
	bga "$TOOL" --json send emu:a --to "$IPB:$PORT" --insecure --target emu:b --timeout 5 \
		>"$WORK/send.json" 2>"$WORK/send.err" &
	S=$!
	TH_PIDS="$TH_PIDS $S"
	n=100
	until [ -e "$HB/b.blob.new" ]; do
		n=$((n - 1))
		[ $n -gt 0 ] || fail "the transfer never staged a page"
		sleep 0.1
	done
	kill -9 "$AGENT"
	wait "$S"
	[ -e "$HB/b.blob.new" ] || fail "no spill file after the SIGKILL (the case proves nothing)"
	# and what a killed "load" left beside another device, with no record
	onb "$TOOL" -q emu create c --size 1M || fail "emu create c"
	head -c 65536 /dev/urandom >"$HB/c.blob.new"
	start_agent --insecure
	wait_log "left in flight by a previous instance: emu:b reset"
	wait_log "emu:c: removed the state an interrupted load left"
	[ ! -e "$HB/b.blob.new" ] || fail "b.blob.new outlived the restart ($(stat -c %s "$HB/b.blob.new") bytes)"
	[ ! -e "$HB/c.blob.new" ] || fail "c.blob.new outlived the restart"
	ona "$TOOL" emu fault a --clear || fail "emu fault --clear"
	expect_reset
	;;

sec-target-foreign)
	# PCI functions that are not VFs of this agent's PFs (the host bridge,
	# any device) are refused before anything opens or resets them
	make_devices 1M
	start_agent --insecure
	C="--to $IPB:$PORT --insecure"
	FOREIGN=$(ls /sys/bus/pci/devices | head -1)
	[ -n "$FOREIGN" ] || skip "no PCI device on this machine"
	for t in 00:00.0 "vfio:$FOREIGN" "$FOREIGN" "vfio:/sys/bus/pci/devices/$FOREIGN"; do
		ona "$TOOL" --json agent request preflight $C "target=$t" >"$WORK/req.out" 2>"$WORK/req.err" &&
			fail "preflight $t answered: $(cat "$WORK/req.out")"
		grep -q "is not a VF of this host" "$WORK/req.err" ||
			fail "preflight $t: $(cat "$WORK/req.out" "$WORK/req.err")"
		send_a --to "$IPB:$PORT" --insecure --target "$t"
		[ "$RC" -ne 0 ] || fail "send into $t succeeded"
		grep -q "is not a VF of this host" "$WORK/send.err" ||
			fail "send into $t: $(cat "$WORK/send.err")"
	done
	for req in "provision pf=$FOREIGN" "preflight pf=$FOREIGN" "release vf=$FOREIGN"; do
		# shellcheck disable=SC2086
		ona "$TOOL" --json agent request $req $C >"$WORK/req.out" 2>"$WORK/req.err" &&
			fail "$req answered: $(cat "$WORK/req.out")"
		grep -q "not a PF this agent serves\|is not a VF of this host" "$WORK/req.err" ||
			fail "$req: $(cat "$WORK/req.err")"
	done
	grep -q "migration m" "$WORK/agent.log" && fail "the agent started a migration into a foreign device"
	grep -q " reset" "$WORK/agent.log" && fail "the agent reset something"
	[ -z "$(ls -A "$RT/migrations")" ] || fail "migration records left"
	# --pf limits PFs: an emulated PF not named is refused too
	stop_agent
	onb "$TOOL" -q emu pf-create pf0 --vfs 2 || fail "emu pf-create"
	onb "$TOOL" -q emu pf-create pf1 --vfs 2 || fail "emu pf-create"
	start_agent --insecure --pf emu:pf1
	ona "$TOOL" --json agent request provision $C pf=emu:pf0 >"$WORK/req.out" 2>"$WORK/req.err" &&
		fail "provision from a PF not in --pf answered: $(cat "$WORK/req.out")"
	grep -q "not a PF this agent serves" "$WORK/req.err" || fail "provision: $(cat "$WORK/req.err")"
	ona "$TOOL" --json agent request provision $C pf=emu:pf1 >"$WORK/prov.json" ||
		fail "provision from the --pf PF failed"
	expect_untouched
	;;

sec-driver)
	# a peer's driver name reaches neither modprobe nor the VF: options,
	# paths and modules nothing names for the VF are refused
	make_devices 1M
	onb "$TOOL" -q emu pf-create pf0 --vfs 2 || fail "emu pf-create"
	mkdir -p "$WORK/bin"
	printf '#!/bin/sh
echo "$*" >>%s/modprobe.called
' "$WORK" >"$WORK/bin/modprobe"
	chmod +x "$WORK/bin/modprobe"
	: >"$WORK/agent.log"
	bgb env PATH="$WORK/bin:$PATH" "$TOOL" -v agent --listen "$IPB:$PORT" --runtime-dir "$RT" \
		--timeout 5 --insecure --emu >>"$WORK/agent.log" 2>&1 &
	AGENT=$!
	TH_PIDS="$TH_PIDS $AGENT"
	wait_log "listening on"
	C="--to $IPB:$PORT --insecure"
	# names modprobe or a path would read as something else: refused as names
	for d in -v --help .. ../../x a/b "" "$(printf 'x%.0s' $(seq 65))"; do
		ona "$TOOL" --json agent request provision $C pf=emu:pf0 "driver=$d" \
			>"$WORK/req.out" 2>"$WORK/req.err" && fail "provision took driver '$d'"
		grep -q "invalid driver name" "$WORK/req.err" ||
			fail "driver '$d': $(cat "$WORK/req.err")"
	done
	# well-formed names that are not this VF's driver: one no host has, one
	# the (emulated) host has loaded; neither is loaded nor bound
	for d in e1000e nvme; do
		ona "$TOOL" --json agent request provision $C pf=emu:pf0 driver=$d \
			>"$WORK/req.out" 2>"$WORK/req.err" && fail "provision took driver $d"
		grep -q "driver '$d' is not for this VF: it would get emu-vfio-pci" "$WORK/req.err" ||
			fail "driver $d: $(cat "$WORK/req.err")"
	done
	[ ! -e "$WORK/modprobe.called" ] || fail "modprobe ran: $(cat "$WORK/modprobe.called")"
	ona "$TOOL" --json agent request status $C >"$WORK/status.json" || fail "status"
	[ "$(jget "$WORK/status.json" reservations)" = "[]" ] || fail "a refused provision reserved a VF"
	onb "$TOOL" vf list --pf emu:pf0 --json >"$WORK/vfs.json" || fail "vf list"
	grep -q '"free": false' "$WORK/vfs.json" && fail "a refused provision kept a VF: $(cat "$WORK/vfs.json")"
	# the operator may let peers ask for more (--driver)
	stop_agent
	start_agent --insecure --driver nvme
	ona "$TOOL" --json agent request provision $C pf=emu:pf0 driver=nvme >"$WORK/req.out" 2>"$WORK/req.err" ||
		fail "provision with driver nvme allowed by --driver: $(cat "$WORK/req.err")"
	[ "$(jget "$WORK/req.out" driver)" = nvme ] || fail "not bound to nvme: $(cat "$WORK/req.out")"
	;;

sec-allow-rdn)
	# the allow-list matches the certificate's parsed CN and subjectAltNames,
	# never text that merely looks like "CN=host-a" inside another attribute
	make_devices 1M
	pki
	start_agent --tls-dir "$WORK/pki/server" --allow host-a
	# CN=host-c, O="nvfm-test, CN=host-a"
	send_a --to "$IPB" --tls-dir "$WORK/pki/client-evil" --target emu:b
	security_refused 9 "allow-list does not accept our certificate" \
		"client certificate 'O=nvfm-test\\\\, CN=host-a,CN=host-c' (CN host-c) is not in the allow-list"
	# two CNs: which one would the CA have meant? neither
	send_a --to "$IPB" --tls-dir "$WORK/pki/client-twocn" --target emu:b
	security_refused 9 "allow-list does not accept our certificate" "(no CN: the subject has 2) is not in the allow-list"
	# host-a.example is not host-a
	send_a --to "$IPB" --tls-dir "$WORK/pki/client-san" --target emu:b
	security_refused 9 "allow-list does not accept our certificate" \
		"(CN ops-d, DNS host-a.example, IP 10.9.9.9) is not in the allow-list"
	stop_agent
	# CN= asks for the CN alone: a DNS subjectAltName does not pass it
	start_agent --tls-dir "$WORK/pki/server" --allow CN=host-a.example --allow CN=10.9.9.9
	send_a --to "$IPB" --tls-dir "$WORK/pki/client-san" --target emu:b
	security_refused 9 "allow-list does not accept our certificate" "is not in the allow-list"
	stop_agent
	# the real host-a, and a DNS and an IP subjectAltName, get through
	start_agent --tls-dir "$WORK/pki/server" --allow host-a --allow 'host-a.exam*'
	send_a --to "$IPB" --tls-dir "$WORK/pki/client" --target emu:b
	expect_arrived
	send_a --to "$IPB" --tls-dir "$WORK/pki/client-san" --target emu:b
	expect_arrived
	stop_agent
	start_agent --tls-dir "$WORK/pki/server" --allow 10.9.9.9
	send_a --to "$IPB" --tls-dir "$WORK/pki/client-san" --target emu:b
	expect_arrived
	stop_agent
	# a pattern for another attribute or a whole subject would never match:
	# the agent says so instead of refusing everybody
	onb "$TOOL" agent --listen "$IPB:$PORT" --tls-dir "$WORK/pki/server" --allow 'O=nvfm-test' \
		--runtime-dir "$RT" >"$WORK/bad.out" 2>"$WORK/bad.err" &&
		fail "an agent started with --allow O=nvfm-test"
	[ "$(wc -l <"$WORK/bad.err")" -eq 1 ] || fail "--allow O=...: more than one line"
	grep -q "invalid allow-list pattern 'O=nvfm-test'" "$WORK/bad.err" ||
		fail "--allow O=...: $(cat "$WORK/bad.err")"
	;;
sec-foreign-lease)
	# X (CN host-a) reserves; Y (CN host-c, as allowed as X) can neither
	# see, keep, release nor restore into it; an --admin client can
	make_devices 1M
	onb "$TOOL" -q emu pf-create pf0 --vfs 2 || fail "emu pf-create"
	pki
	start_agent --tls-dir "$WORK/pki/server"
	X="--to $IPB --tls-dir $WORK/pki/client"
	Y="--to $IPB --tls-dir $WORK/pki/client-c"
	ADMIN="--to $IPB --tls-dir $WORK/pki/client-admin"
	client_open "$WORK/pki/client"
	client_req '{"op": "provision", "args": {"pf": "emu:pf0", "lease": "session"}}'
	R=$(jget "$WORK/reply.json" result.reservation)
	VF=$(jget "$WORK/reply.json" result.vf)
	DEV=$(jget "$WORK/reply.json" result.device)
	[ -n "$R" ] && [ -n "$VF" ] && [ -n "$DEV" ] || fail "provision: $(cat "$WORK/reply.json")"
	ona "$TOOL" --json agent request status $Y >"$WORK/status.json" || fail "Y's status"
	[ "$(jget "$WORK/status.json" reservations)" = "[]" ] || fail "Y sees X's reservation"
	[ "$(jget "$WORK/status.json" other_reservations)" = 1 ] || fail "Y's status: no count"
	grep -q -e "$R" -e "host-a" "$WORK/status.json" && fail "Y's status names X or its reservation"
	client_req '{"op": "status"}'
	grep -q "$R" "$WORK/reply.json" || fail "X does not see its own reservation"
	refused_req 9 "reservation $R belongs to another client" keep $Y reservation="$R"
	[ "$(jget "$RT/reservations/$R.json" lease)" = session ] || fail "Y kept X's session lease"
	refused_req 9 "reservation $R belongs to another client" release $Y reservation="$R"
	refused_req 9 "VF $VF is reserved and belongs to another client" release $Y vf="$VF"
	# nor a VF nobody reserved
	VF1=$(echo "$VF" | sed 's/vf0$/vf1/; t; s/vf1$/vf0/')
	refused_req 9 "VF $VF1 has no reservation of this client's" release $Y vf="$VF1"
	send_a --to "$IPB" --tls-dir "$WORK/pki/client-c" --reservation "$R"
	[ "$RC" -ne 0 ] || fail "Y restored into X's reservation"
	grep -q "reservation $R belongs to another client" "$WORK/send.err" ||
		fail "Y's send: $(cat "$WORK/send.err")"
	# nor by naming the reserved device itself
	send_a --to "$IPB" --tls-dir "$WORK/pki/client-c" --target "$DEV"
	[ "$RC" -ne 0 ] || fail "Y restored into X's reserved device"
	grep -q "device $DEV is reserved and belongs to another client" "$WORK/send.err" ||
		fail "Y's send --target: $(cat "$WORK/send.err")"
	[ -f "$RT/reservations/$R.json" ] || fail "Y's requests released X's reservation"
	grep -q "notice: released" "$WORK/agent.log" && fail "the agent released a VF for Y"
	# X's connection ends: nobody kept the lease, so the agent releases it
	client_close
	wait_log "reservation $R ended with its connection: released"
	[ ! -f "$RT/reservations/$R.json" ] || fail "X's session lease outlived its connection"

	# a kept reservation keeps its owner across an agent restart
	ona "$TOOL" --json agent request provision $X pf=emu:pf0 >"$WORK/prov.json" || fail "provision"
	R2=$(jget "$WORK/prov.json" reservation)
	VF2=$(jget "$WORK/prov.json" vf)
	stop_agent
	start_agent --tls-dir "$WORK/pki/server" --admin ops-admin
	[ "$(jget "$RT/reservations/$R2.json" identity)" = "O=nvfm-test,CN=host-a" ] ||
		fail "the record lost its owner: $(cat "$RT/reservations/$R2.json")"
	refused_req 9 "reservation $R2 belongs to another client" release $Y reservation="$R2"
	refused_req 9 "VF $VF2 is reserved and belongs to another client" release $Y vf="$VF2"
	ona "$TOOL" --json agent request status $X >"$WORK/status.json" || fail "X's status"
	grep -q "$R2" "$WORK/status.json" || fail "X lost its reservation at the restart"
	# the admin sees every reservation and releases any
	ona "$TOOL" --json agent request status $ADMIN >"$WORK/status.json" || fail "admin status"
	grep -q "$R2" "$WORK/status.json" || fail "the admin does not see X's reservation"
	[ "$(jget "$WORK/status.json" admin)" = true ] || fail "status: not admin"
	ona "$TOOL" --json agent request release $ADMIN vf="$VF2" >/dev/null || fail "the admin's release"
	[ ! -f "$RT/reservations/$R2.json" ] || fail "the admin's release left the record"
	stop_agent

	# plain TCP: the owner is the client's address; B's own address is admin
	start_agent --insecure --admin "$IPB"
	ona "$TOOL" --json agent request provision --to "$IPB:$PORT" --insecure pf=emu:pf0 \
		>"$WORK/prov.json" || fail "plain provision"
	R3=$(jget "$WORK/prov.json" reservation)
	[ "$(jget "$RT/reservations/$R3.json" identity)" = "$IPA" ] ||
		fail "plain owner: $(cat "$RT/reservations/$R3.json")"
	# host A again, from another port: the same client
	ona "$TOOL" --json agent request keep --to "$IPB:$PORT" --insecure reservation="$R3" >/dev/null ||
		fail "A cannot keep its own reservation from a new connection"
	onb "$TOOL" --json agent request status --to "$IPB:$PORT" --insecure >"$WORK/status.json" ||
		fail "B's status"
	grep -q "$R3" "$WORK/status.json" || fail "the admin address does not see A's reservation"
	onb "$TOOL" --json agent request release --to "$IPB:$PORT" --insecure reservation="$R3" \
		>/dev/null || fail "the admin address cannot release A's reservation"
	;;

sec-preauth-flood)
	# idle connections (no byte sent, reopened when closed) from one
	# address, then from more addresses than the global cap allows: an
	# allowed client elsewhere still gets in every time
	make_devices 1M
	pki
	start_agent --tls-dir "$WORK/pki/server"
	add_sources 10
	C="--to $IPB --tls-dir $WORK/pki/client --timeout 5"
	for spread in one several; do
		if [ $spread = one ]; then
			flood 40 --from "${SOURCES%%,*}"
		else
			# a client that connected and has not spoken yet, as
			# between its connect and its ClientHello (stretched):
			# room is made at the flood's addresses, not at its own
			bga python3 "$HERE/preauth.py" hold "$IPB" "$PORT" 1 --from "$IPA" \
				>"$WORK/quiet.log" 2>&1 &
			QUIET=$!
			TH_PIDS="$TH_PIDS $QUIET"
			th_wait_file "$WORK/quiet.log" ready 10 || fail "no quiet connection"
			flood 150 --from "$SOURCES"
		fi
		sleep 1
		for i in 1 2 3 4 5; do
			ona "$TOOL" --json agent request status $C >"$WORK/status.json" 2>"$WORK/status.err" ||
				fail "status during a flood from $spread address(es): $(cat "$WORK/status.err")"
		done
		echo "[$CASE] flood from $spread address(es): 5 of 5 status requests answered;" \
			"$(jget "$WORK/status.json" unauthenticated) unauthenticated connections held"
		if [ $spread = several ]; then
			# within --timeout (5 s) of its accept
			kill -TERM "$QUIET"
			wait "$QUIET"
			echo "[$CASE] a quiet connection from $IPA: $(tail -n 1 "$WORK/quiet.log")"
			grep -q "closed-by-peer 0" "$WORK/quiet.log" ||
				fail "the flood pushed out a connection from $IPA: $(cat "$WORK/quiet.log")"
		fi
		stop_flood
	done
	wait_log "dropped .*: too many unauthenticated connections from this address"
	wait_log "dropped .*: too many unauthenticated connections (--max-preauth 64)"
	stop_agent
	# the one-shot receiver too (and the limit's flag)
	: >"$WORK/agent.log"
	bgb "$TOOL" -v receive emu:b --listen "$IPB:$PORT" --tls-dir "$WORK/pki/server" \
		--runtime-dir "$RT" --timeout 5 --max-preauth 32 >>"$WORK/agent.log" 2>&1 &
	AGENT=$!
	TH_PIDS="$TH_PIDS $AGENT"
	wait_log "listening on"
	flood 150 --from "$SOURCES"
	sleep 1
	send_a --to "$IPB" --tls-dir "$WORK/pki/client" --target emu:b
	expect_arrived
	grep -q "too many unauthenticated connections (--max-preauth 32)" "$WORK/agent.log" ||
		fail "the receiver did not keep to --max-preauth 32"
	th_wait_gone "$AGENT" 10 || fail "receive did not exit after its transfer"
	wait "$AGENT" || fail "receive exited non-zero"
	stop_flood
	;;
sec-slow-handshake)
	# the whole handshake is bounded by one --timeout from accept, however
	# the peer trickles it (each byte comes well within --timeout)
	pki
	start_agent --tls-dir "$WORK/pki/server"
	trickle tls
	awk -v t="$T" 'BEGIN { exit !(t >= 4.5 && t <= 7) }' ||
		fail "a trickled TLS handshake was closed after $T s, not 5 s (--timeout) + 2"
	wait_log "dropped .*: did not finish its handshake within 5 s"
	stop_agent
	start_agent --insecure
	trickle hello
	awk -v t="$T" 'BEGIN { exit !(t >= 4.5 && t <= 7) }' ||
		fail "a trickled HELLO was closed after $T s, not 5 s (--timeout) + 2"
	wait_log "dropped .*: did not finish its handshake within 5 s"
	;;
sec-preauth-busy)
	# connections that sent one byte and wait: the agent waits too, idle
	pki
	start_agent --tls-dir "$WORK/pki/server" --timeout 30
	add_sources 4
	flood 16 --bytes 1 --from "$SOURCES"
	sleep 1
	c0=$(cpu_ticks "$AGENT")
	sleep 5
	c1=$(cpu_ticks "$AGENT")
	hz=$(getconf CLK_TCK)
	echo "[$CASE] agent CPU time over 5 s with 16 one-byte connections:" \
		"$((c1 - c0)) ticks of 1/$hz s"
	stop_flood
	grep -q "closed-by-peer 0" "$WORK/flood.log" ||
		fail "the agent closed connections within --timeout: $(tail -n 1 "$WORK/flood.log")"
	[ $((c1 - c0)) -le $((hz / 5)) ] ||
		fail "the agent used $((c1 - c0))/$hz CPU-s in 5 s waiting for 16 handshakes"
	;;

fault-truncate-hello) fault_case untouched truncate:HELLO "truncated" "failed in handshake: .*emu:b untouched" ;;
fault-truncate-compat) fault_case untouched truncate:COMPAT "truncated" "failed in compat: .*emu:b untouched" ;;
fault-truncate-phase) fault_case reset truncate:PHASE "truncated in PHASE" "failed in resume: .*emu:b reset" ;;
fault-truncate-data) fault_case reset truncate:DATA "truncated in DATA" "failed in stop-copy: .*emu:b reset" ;;
fault-truncate-trailer) fault_case reset truncate:TRAILER "truncated in TRAILER" "failed in stop-copy: .*emu:b reset" ;;
fault-flip-header) fault_case reset flip-header:DATA "header checksum" "header checksum.*emu:b reset" ;;
fault-flip-payload) fault_case reset flip-payload:DATA "payload checksum" "payload checksum.*emu:b reset" --verify ;;
fault-flip-payload-zc) fault_case reset flip-payload:DATA "refused the state" "failed in commit: .*emu:b reset" ;;
fault-flip-tls)
	# one bit flipped on the wire 3 MB into a TLS connection: the sealed
	# record it lands in does not open, nothing of it reaches emu:b
	make_devices 8M
	pki
	start_agent --tls-dir "$WORK/pki/server"
	start_proxy flip-byte:3000000
	send_a --to "$IPB:$((PORT + 1))" --tls-dir "$WORK/pki/client" --target emu:b
	grep -q "fault applied" "$WORK/proxy.log" || fail "the fault never struck"
	expect_send_failed "."
	wait_log "record [0-9 ]*from the peer does not open" 10
	wait_log "emu:b reset" 10
	expect_reset ;;
fault-oversize) fault_case reset oversize:DATA "exceeds the limit" "exceeds the limit.*emu:b reset" ;;
fault-version) fault_case reset version:PHASE "unsupported stream format version 2" "version 2.*emu:b reset" ;;
fault-dup-trailer) fault_case reset dup-trailer "got a TRAILER" "expected the sender's commit.*emu:b reset" ;;

fault-kill-sender)
	make_devices 8M
	slow_source
	start_agent --insecure
	bga "$TOOL" send emu:a --to "$IPB:$PORT" --insecure --target emu:b \
		>"$WORK/send.out" 2>"$WORK/send.err" &
	S=$!
	TH_PIDS="$TH_PIDS $S"
	wait_log "migration m.*-> emu:b"
	sleep 1
	kill -9 "$S"
	wait "$S" 2>/dev/null
	wait_log "failed in .*emu:b reset"
	ona "$TOOL" emu fault a --clear || fail "emu fault --clear"
	expect_reset
	;;

fault-kill-agent)
	make_devices 8M
	slow_source
	start_agent --insecure
	bga "$TOOL" --json send emu:a --to "$IPB:$PORT" --insecure --target emu:b --timeout 5 \
		>"$WORK/send.json" 2>"$WORK/send.err" &
	S=$!
	TH_PIDS="$TH_PIDS $S"
	wait_log "migration m.*-> emu:b"
	sleep 1
	kill -9 "$AGENT"
	wait "$S"
	RC=$?
	expect_send_failed "failed"
	[ -n "$(ls -A "$RT/migrations")" ] || fail "no record of the interrupted migration"
	# a new agent finds the record and resets the device it names
	start_agent --insecure
	wait_log "left in flight by a previous instance: emu:b reset"
	ona "$TOOL" emu fault a --clear || fail "emu fault --clear"
	expect_reset
	;;

fault-link-down) cut_stream plain a ;;
fault-link-down-tls) cut_stream tls b ;;

fault-freeze-sender)
	# the agent's side: a sender that stops mid-stream is silent too
	make_devices 8M
	slow_source
	start_agent --insecure --timeout $LINK_T
	bga "$TOOL" --json send emu:a --to "$IPB:$PORT" --insecure --target emu:b \
		--timeout $LINK_T >"$WORK/send.json" 2>"$WORK/send.err" &
	S=$!
	TH_PIDS="$TH_PIDS $S"
	wait_log "migration m.*-> emu:b"
	sleep 1
	mark_cut
	kill -STOP "$S"
	agent_gave_up
	kill -CONT "$S"
	th_wait_gone "$S" 60 || fail "send did not end"
	wait "$S"
	RC=$?
	expect_send_failed "failed"
	in_time
	ona "$TOOL" emu fault a --clear || fail "emu fault --clear"
	expect_reset
	;;

sec-runtime-dir)
	# the agent refuses a runtime directory another user could swap
	# (one inside a directory uid 65534 owns, as a /tmp/nvme-vf-migrate-UID
	# someone else made first), and one that is a symlink
	mkdir -p "$WORK/planted" "$WORK/elsewhere"
	chown 65534:65534 "$WORK/planted"
	chmod 0777 "$WORK/planted"
	ln -s "$WORK/elsewhere" "$WORK/link"
	for rt in "$WORK/planted/rt" "$WORK/link"; do
		onb timeout 10 "$TOOL" agent --listen "$IPB:$PORT" --insecure --runtime-dir "$rt" \
			>"$WORK/agent.log" 2>&1
		RC=$?
		[ "$RC" -eq 9 ] || fail "agent with runtime directory $rt exited $RC, expected 9"
		[ "$(wc -l <"$WORK/agent.log")" -eq 1 ] || fail "more than one error line"
		grep -q "runtime directory $rt" "$WORK/agent.log" ||
			fail "the error does not name $rt: $(cat "$WORK/agent.log")"
		[ "$rt" = "$WORK/link" ] || grep -q "which uid 65534 (mode 0777) controls" \
			"$WORK/agent.log" || fail "the error does not say who controls it"
	done
	[ -z "$(ls -A "$WORK/elsewhere")" ] || fail "the agent wrote through the symlink"
	[ -z "$(ls -A "$WORK/planted/rt" 2>/dev/null)" ] || fail "the agent wrote into the planted directory"
	;;

fault-link-down-control)
	# between requests: a connection that holds a reservation, idle
	onb "$TOOL" -q emu pf-create pf0 --vfs 2 || fail "emu pf-create"
	start_agent --insecure --timeout $LINK_T
	bga python3 "$HERE/holdsession.py" "$IPB" "$PORT" pf=emu:pf0 >"$WORK/session.log" 2>&1 &
	TH_PIDS="$TH_PIDS $!"
	th_wait_file "$WORK/session.log" "^reserved" 15 || fail "no reservation"
	R=$(sed -n 's/^reserved //p' "$WORK/session.log")
	sleep 1
	cut_link b
	# and a request against the agent behind the cut link
	ona "$TOOL" --json agent request status --to "$IPB:$PORT" --insecure --timeout $LINK_T \
		>/dev/null 2>"$WORK/request.err"
	RC=$?
	bounded "agent request exited" "$(since_cut)"
	[ "$RC" -ne 0 ] || fail "agent request succeeded across a cut link"
	bounded_line "the agent released the session's VF" "$WORK/agent.log" \
		"reservation $R ended with its connection: released"
	in_time
	mend_link b
	[ ! -f "$RT/reservations/$R.json" ] || fail "reservation record left"
	;;

sigterm)
	make_devices 8M
	slow_source
	start_agent --insecure
	bga "$TOOL" --json send emu:a --to "$IPB:$PORT" --insecure --target emu:b \
		>"$WORK/send.json" 2>"$WORK/send.err" &
	S=$!
	TH_PIDS="$TH_PIDS $S"
	wait_log "migration m.*-> emu:b"
	sleep 1
	stop_agent
	[ "$AGENT_RC" -eq 0 ] || fail "agent exited $AGENT_RC on SIGTERM"
	wait "$S"
	RC=$?
	expect_send_failed "shutting down"
	grep -q "aborting migration" "$WORK/agent.log" || fail "no abort logged"
	grep -q "failed in .*emu:b reset" "$WORK/agent.log" || fail "no reset logged"
	ona "$TOOL" emu fault a --clear || fail "emu fault --clear"
	expect_reset
	;;

*)
	fail "unknown case"
	;;
esac
exit 0
