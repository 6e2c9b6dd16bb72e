#!/bin/sh
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
	for f in agent.log send.err send.json proxy.log; do
		[ -s "$WORK/$f" ] && { echo "--- $f" >&2; tail -n 30 "$WORK/$f" >&2; }
	done
	exit 1
}

ip netns add "nvfmprobe$TH_ID" 2>/dev/null || skip "cannot create network namespaces"
ip netns del "nvfmprobe$TH_ID"
th_setup || fail "no link between the namespaces"

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

# start_agent [ARGS...]: an agent on host B, port $PORT
start_agent() {
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

digest_a() { ona "$TOOL" emu digest a | cut -d' ' -f1; }
digest_b() { onb "$TOOL" emu digest b | cut -d' ' -f1; }

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
	onb "$TOOL" emu show b | python3 -c 'import json,sys
d = json.load(sys.stdin)
print(json.dumps([d["config"], d["pages"], d["workload"]], sort_keys=True))'
}

cc_b() {
	onb "$TOOL" emu show b | python3 -c 'import json,sys; print(json.load(sys.stdin)["controller"]["cc"])'
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
through_proxy() {
	fault=$1
	shift
	start_agent --insecure
	bgb python3 "$HERE/faultproxy.py" "$IPB" $((PORT + 1)) "$IPB" "$PORT" "$fault" \
		>"$WORK/proxy.log" 2>&1 &
	TH_PIDS="$TH_PIDS $!"
	n=50
	until grep -q ready "$WORK/proxy.log"; do
		n=$((n - 1))
		[ $n -gt 0 ] || fail "proxy did not start"
		sleep 0.1
	done
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
	plain)
		start_agent --insecure
		send_a --to "$IPB:$PORT" --insecure --target emu:b ;;
	verify)
		start_agent --insecure
		send_a --to "$IPB:$PORT" --insecure --target emu:b --verify ;;
	unix)
		bgb "$TOOL" -v agent --listen "unix:$WORK/agent.sock" --runtime-dir "$RT" \
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
	tls)
		# the TLS records authenticate every byte: no CRC, no digest
		[ "$zc" = 0 ] || fail "TLS transfer claims zero-copy"
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

# slow_source: the source trickles its state so a transfer lasts seconds
slow_source() {
	ona "$TOOL" emu fault a slow-us 40000 || fail "emu fault"
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
	[ "$(onb "$TOOL" emu digest b2 | cut -d' ' -f1)" = \
	  "$(ona "$TOOL" emu digest a2 | cut -d' ' -f1)" ] || fail "emu:b2 differs"
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
	ona "$TOOL" agent request status $C >"$WORK/status.json" || fail "status"
	[ "$(jget "$WORK/status.json" tls)" = true ] || fail "status: not TLS"
	ona "$TOOL" -q emu show a >/dev/null || fail "emu show"
	ona "$TOOL" agent request preflight $C target=emu:b >"$WORK/pre.json" || fail "preflight"
	[ "$(jget "$WORK/pre.json" ok)" = true ] || fail "preflight not ok: $(cat "$WORK/pre.json")"
	ona "$TOOL" agent request preflight $C target=emu:b 'compat={"driver":"other-vfio-pci"}' \
		>"$WORK/pre2.json"
	[ $? -eq 3 ] || fail "preflight against an incompatible source did not fail"
	grep -q "incompatible devices" "$WORK/pre2.json" || fail "preflight: $(cat "$WORK/pre2.json")"
	# the source's own compatibility block, as the orchestrator would send it
	ona "$TOOL" --json vf state emu:a >/dev/null || fail "vf state"
	ona "$TOOL" agent request provision $C pf=emu:pf0 >"$WORK/prov.json" || fail "provision"
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
	[ "$(onb "$TOOL" emu digest "$NAME" | cut -d' ' -f1)" = "$(digest_a)" ] ||
		fail "the provisioned VF does not hold the state"
	ona "$TOOL" agent request release $C reservation="$R" >/dev/null || fail "release"
	[ ! -f "$RT/reservations/$R.json" ] || fail "reservation record left"
	ona "$TOOL" agent request status $C >"$WORK/status.json" || fail "status"
	[ "$(jget "$WORK/status.json" reservations)" = "[]" ] || fail "reservation still listed"
	# integers are checked, never truncated: 2^32 + 1 VQ is no 1 VQ
	for bad in nvq=4294967297 nvi=-1 vf_index=-2 vf_index=99999999999 'nvq="4"'; do
		ona "$TOOL" agent request provision $C pf=emu:pf0 "$bad" >"$WORK/bad.out" 2>"$WORK/bad.err" &&
			fail "provision took $bad: $(cat "$WORK/bad.out")"
		grep -q "must be an integer" "$WORK/bad.err" || fail "provision $bad: $(cat "$WORK/bad.err")"
	done
	ona "$TOOL" agent request status $C >"$WORK/status.json" || fail "status"
	[ "$(jget "$WORK/status.json" reservations)" = "[]" ] || fail "a bad provision reserved a VF"
	# a peer's newline cannot forge a log line
	ona "$TOOL" agent request release $C "vf=x
FORGED notice: released everything" >/dev/null 2>&1
	grep -q '^FORGED' "$WORK/agent.log" && fail "a peer forged a log line"
	grep -q 'x\\x0aFORGED' "$WORK/agent.log" || fail "the peer's newline was not escaped in the log"
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
	security_refused 9 "did not accept our certificate" "is not in the allow-list"
	# the allowed subject gets through
	send_a --to "$IPB" --tls-dir "$WORK/pki/client-c" --target emu:b
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
			ona "$TOOL" agent request status $C >"$WORK/status.json" 2>"$WORK/status.err" ||
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

fault-link-down)
	make_devices 8M
	slow_source
	start_agent --insecure
	bga "$TOOL" --json send emu:a --to "$IPB:$PORT" --insecure --target emu:b --timeout 3 \
		>"$WORK/send.json" 2>"$WORK/send.err" &
	S=$!
	TH_PIDS="$TH_PIDS $S"
	wait_log "migration m.*-> emu:b"
	sleep 1
	ip -n "$NSA" link set "$VA" down
	wait "$S"
	RC=$?
	expect_send_failed "failed"
	wait_log "failed in .*emu:b reset" 15
	ip -n "$NSA" link set "$VA" up
	ona "$TOOL" emu fault a --clear || fail "emu fault --clear"
	expect_reset
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
