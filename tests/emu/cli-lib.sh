# SPDX-License-Identifier: GPL-2.0-or-later
# Shared by the CLI test scripts (sourced, not run): per-case setup of an
# emulated host and the assertions every case uses.
# The sourcing script sets CASE and NAME (used in the temp dir name).
TOOL=${NVFM_CLI:?NVFM_CLI must name the nvme-vf-migrate binary}
WORK=$(mktemp -d "${TMPDIR:-/tmp}/nvfm-$NAME.XXXXXX")
trap 'rm -rf "$WORK"' EXIT
export NVFM_EMU_DIR="$WORK/emu"

skip() {
	echo "SKIP [$NAME $CASE]: $*"
	exit 77
}

fail() {
	echo "FAIL [$CASE]: $*" >&2
	exit 1
}

# expect CODE PATTERN CMD...: exit code CODE and one stderr line matching PATTERN
expect() {
	want=$1 pat=$2
	shift 2
	"$@" >"$WORK/out" 2>"$WORK/err"
	got=$?
	[ "$got" -eq "$want" ] || fail "'$*' exited $got, expected $want; stderr: $(cat "$WORK/err")"
	lines=$(wc -l <"$WORK/err")
	[ "$lines" -eq 1 ] || fail "'$*' printed $lines stderr lines, expected 1: $(cat "$WORK/err")"
	grep -q -- "$pat" "$WORK/err" || fail "'$*' stderr lacks '$pat': $(cat "$WORK/err")"
}

ok() {
	"$@" >"$WORK/out" 2>"$WORK/err" || fail "'$*' failed ($?): $(cat "$WORK/err")"
}

# digest NAME: the emulated device's state digest
digest() {
	"$TOOL" emu digest "$1" | sed -n 's/^sha256: //p'
}

# start_agent [AGENT-OPTIONS...]: an agent of this emulated host on
# $WORK/agent.sock, stopped by PID when the script ends; waits (bounded)
# for its socket
AGENT_PID=
trap '[ -n "$AGENT_PID" ] && kill "$AGENT_PID" 2>/dev/null; rm -rf "$WORK"' EXIT
start_agent() {
	"$TOOL" agent --listen "unix:$WORK/agent.sock" --emu "$@" 2>"$WORK/agent.log" &
	AGENT_PID=$!
	i=0
	while [ ! -S "$WORK/agent.sock" ]; do
		i=$((i + 1))
		[ $i -lt 100 ] || fail "the agent did not start: $(cat "$WORK/agent.log")"
		sleep 0.1
	done
}

# state_is NAME STATE: the emulated device emu:NAME is in STATE
state_is() {
	"$TOOL" --json vf state "emu:$1" >"$WORK/st" || fail "vf state emu:$1 failed"
	grep -q "\"state\": \"$2\"" "$WORK/st" || fail "emu:$1 is not $2: $(cat "$WORK/st")"
}
