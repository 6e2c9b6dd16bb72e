# SPDX-License-Identifier: GPL-2.0-or-later
# Two hosts on one machine, sourced by scripts/demo.sh and tests/hosts/migrate.sh:
# two network namespaces joined by a veth pair, each with its own emulated
# NVMe devices (NVFM_EMU_DIR), an agent, and a QEMU VM (host A) or a QEMU
# waiting for it (host B, -incoming defer).
#
# Needs: TOOL (nvme-vf-migrate), GUEST (the tiny guest ELF), root.
# Sets: NSA NSB IPA IPB WORK HA HB; th_cleanup removes everything it made
# and stops only the processes it started (by PID).

TH_ID=$$
NSA=nvfmA$TH_ID
NSB=nvfmB$TH_ID
IPA=10.$((TH_ID % 200 + 20)).$((TH_ID / 200 % 250 + 1)).1
IPB=10.$((TH_ID % 200 + 20)).$((TH_ID / 200 % 250 + 1)).2
AGENT_PORT=16590
MIG_PORT=4444
TH_PIDS=
TH_NS=

# on_a/on_b CMD...: run on host A / B (its namespace, its emulated devices)
on_a() { ip netns exec "$NSA" env NVFM_EMU_DIR="$WORK/hostA" "$@"; }
on_b() { ip netns exec "$NSB" env NVFM_EMU_DIR="$WORK/hostB" "$@"; }

th_cleanup() {
	# runs from EXIT traps of "set -e" scripts: a process that is gone
	# already must not end the cleanup
	set +e
	for p in $TH_PIDS; do
		kill -TERM "$p" 2>/dev/null
	done
	n=50
	for p in $TH_PIDS; do
		while kill -0 "$p" 2>/dev/null && [ $n -gt 0 ]; do
			n=$((n - 1))
			sleep 0.1
		done
		kill -9 "$p" 2>/dev/null
		wait "$p" 2>/dev/null
	done
	TH_PIDS=
	for ns in $TH_NS; do
		ip netns del "$ns" 2>/dev/null
	done
	TH_NS=
}

# th_setup: the namespaces, the link and each host's directory
th_setup() {
	WORK=${WORK:-$(mktemp -d "${TMPDIR:-/tmp}/nvfm-2h.XXXXXX")}
	HA=$WORK/hostA
	HB=$WORK/hostB
	mkdir -p "$HA" "$HB"
	ip netns add "$NSA" || return 1
	TH_NS=$NSA
	ip netns add "$NSB" || return 1
	TH_NS="$NSA $NSB"
	ip link add "va$TH_ID" netns "$NSA" type veth peer name "vb$TH_ID" netns "$NSB" || return 1
	ip -n "$NSA" addr add "$IPA/24" dev "va$TH_ID"
	ip -n "$NSB" addr add "$IPB/24" dev "vb$TH_ID"
	for ns in $NSA $NSB; do
		ip -n "$ns" link set lo up
	done
	ip -n "$NSA" link set "va$TH_ID" up
	ip -n "$NSB" link set "vb$TH_ID" up
	# bounded: the link is up once a connect is refused rather than lost
	on_a python3 -c '
import socket, sys, time
for _ in range(50):
    try:
        socket.create_connection((sys.argv[1], 9), timeout=1).close()
        sys.exit(0)
    except ConnectionRefusedError:
        sys.exit(0)
    except OSError:
        time.sleep(0.1)
sys.exit(1)' "$IPB"
}

# th_wait_file FILE PATTERN SECONDS: FILE shows PATTERN (bounded)
th_wait_file() {
	n=$(($3 * 10))
	while ! grep -q -- "$2" "$1" 2>/dev/null; do
		n=$((n - 1))
		[ $n -gt 0 ] || return 1
		sleep 0.1
	done
}

# th_wait_gone PID SECONDS: wait (bounded) until a process we started has
# ended; 1 if it still runs after SECONDS
th_wait_gone() {
	n=$(($2 * 10))
	while kill -0 "$1" 2>/dev/null; do
		n=$((n - 1))
		[ $n -gt 0 ] || return 1
		sleep 0.1
	done
}

# th_agent a|b [ARGS...]: an agent on that host, plain TCP inside the test
# namespaces unless TH_AGENT_SECURITY says otherwise (e.g. --tls-dir DIR),
# serving the host's emulated devices (--emu);
# its log is $WORK/agent-X.log, its PID $AGENT_A / $AGENT_B
th_agent() {
	h=$1
	shift
	if [ "$h" = a ]; then ns=$NSA ip=$IPA; else ns=$NSB ip=$IPB; fi
	dir=$WORK/host$(echo "$h" | tr ab AB)
	: >"$WORK/agent-$h.log"
	ip netns exec "$ns" env NVFM_EMU_DIR="$dir" "$TOOL" -v agent --listen "$ip:$AGENT_PORT" --emu \
		${TH_AGENT_SECURITY:---insecure} --runtime-dir "$WORK/rt-$h" "$@" >>"$WORK/agent-$h.log" 2>&1 &
	eval "AGENT_$(echo "$h" | tr ab AB)=$!"
	TH_PIDS="$TH_PIDS $!"
	th_wait_file "$WORK/agent-$h.log" "listening on" 15
}

# th_qemu a|b|a2|b2... [QEMU ARGS...]: a tiny guest's QEMU on that host,
# QMP at $WORK/qmp-X.sock; its PID in $QEMU_A / $QEMU_B / $QEMU_A2 ...
th_qemu() {
	h=$1
	shift
	# a, a2, ... run on host A; b, b2, ... on host B
	case $h in a*) ns=$NSA ;; *) ns=$NSB ;; esac
	sock=$WORK/qmp-$h.sock
	rm -f "$sock"
	ip netns exec "$ns" qemu-system-x86_64 -machine q35,accel=tcg -nodefaults -display none \
		-name tiny-guest -m 64 -kernel "$GUEST" -qmp "unix:$sock,server=on,wait=off" \
		-device pcie-root-port,id=rp1,chassis=1 "$@" >"$WORK/qemu-$h.log" 2>&1 &
	eval "QEMU_$(echo "$h" | tr ab AB)=$!"
	TH_PIDS="$TH_PIDS $!"
	n=100
	while [ ! -S "$sock" ]; do
		n=$((n - 1))
		[ $n -gt 0 ] || return 1
		sleep 0.1
	done
}

# th_counter a|b: the tiny guest's counter (it moves while the guest runs)
th_counter() {
	"$TOOL" qmp "$WORK/qmp-$1.sock" human-monitor-command \
		'{"command-line":"xp /1wx 0x200000"}' 2>/dev/null |
		sed -n 's/.*: \(0x[0-9a-f]*\).*/\1/p' | head -n 1
}

# th_status a|b: the VM's run state
th_status() {
	"$TOOL" --json qmp "$WORK/qmp-$1.sock" query-status 2>/dev/null |
		python3 -c 'import json,sys; print(json.load(sys.stdin)["status"])' 2>/dev/null
}
