#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-or-later
# The agent's and the hook's log targets (stderr, a file) carry the
# structured fields (MIGRATION_ID, DOMAIN, VF, PHASE) the journal gets.
#   log.sh CASE [HOOK]
set -u
CASE=$1
HOOK=${2:-}
NAME=log
. "$(dirname "$0")/cli-lib.sh"

AGENT=
stop_agent() {
	[ -n "$AGENT" ] || return 0
	kill -TERM "$AGENT" 2>/dev/null
	wait "$AGENT"
	AGENT=
}
trap 'stop_agent; rm -rf "$WORK"' EXIT

# wait_for FILE PATTERN: bounded (200 looks, 20 s at most)
wait_for() {
	n=0
	while ! grep -q -- "$2" "$1" 2>/dev/null; do
		n=$((n + 1))
		[ $n -le 200 ] || fail "'$2' never showed in $1: $(cat "$1" 2>/dev/null)"
		sleep 0.1
	done
}

# agent_send LOGFILE AGENT-LOG-OPTIONS...: one transfer emu:a -> emu:b
agent_send() {
	log=$1
	shift
	ok "$TOOL" emu create a --size 1M --seed 31
	ok "$TOOL" emu create b --size 1M --seed 32
	"$TOOL" agent --listen "unix:$WORK/agent.sock" --runtime-dir "$WORK/rt" --emu "$@" \
		2>"$WORK/agent.err" &
	AGENT=$!
	wait_for "$log" "listening on"
	ok "$TOOL" --json send emu:a --to "unix:$WORK/agent.sock" --target emu:b
	mig=$(python3 -c 'import json,sys; print(json.load(sys.stdin)["remote"]["migration"])' \
		<"$WORK/out") || fail "send printed no migration id: $(cat "$WORK/out")"
	wait_for "$log" "bytes into emu:b"
	stop_agent
	# the start and the end of the migration name it, its VF and its phase
	grep -q "notice: migration $mig: .* MIGRATION_ID=$mig VF=emu:b PHASE=handshake$" "$log" ||
		fail "no start line with its fields: $(cat "$log")"
	grep -q "notice: migration $mig: .* bytes into emu:b .* MIGRATION_ID=$mig VF=emu:b PHASE=done$" "$log" ||
		fail "no end line with its fields: $(cat "$log")"
}

case "$CASE" in
agent-stderr)
	agent_send "$WORK/agent.err" --log=stderr
	;;
agent-file)
	agent_send "$WORK/agent.log" --log=file --log-file "$WORK/agent.log"
	# the file has the lines, stderr none of them
	grep -q "nvme-vf-migrate\[[0-9]*\]: notice: " "$WORK/agent.log" ||
		fail "file lines lack the program and its pid: $(cat "$WORK/agent.log")"
	[ ! -s "$WORK/agent.err" ] || fail "the agent wrote to stderr: $(cat "$WORK/agent.err")"
	;;
agent-bad)
	expect 2 "--log: must be one of auto, stderr, journal, file, not 'syslog'" "$TOOL" agent --listen "unix:$WORK/s" --log=syslog
	expect 2 "needs the file's name" "$TOOL" agent --listen "unix:$WORK/s" --log=file
	expect 2 "for the file target only" "$TOOL" agent --listen "unix:$WORK/s" --log=stderr \
		--log-file "$WORK/x"
	;;
hook-file)
	[ -x "$HOOK" ] || skip "the hook was not built"
	# a refusal (XML that does not parse) is logged with the domain and
	# the operation, whatever hook.conf says
	echo "<domain" | NVFM_HOOK_LOG=file NVFM_HOOK_LOG_FILE="$WORK/hook.log" \
		"$HOOK" vm7 migrate begin - >"$WORK/out" 2>"$WORK/err" && fail "the hook took bad XML"
	grep -q "nvme-vf-migrate-hook\[[0-9]*\]: warning: .* DOMAIN=vm7 PHASE=migrate-begin$" \
		"$WORK/hook.log" || fail "no hook line with its fields: $(cat "$WORK/hook.log" "$WORK/err")"
	[ "$(wc -l <"$WORK/err")" -eq 1 ] || fail "the hook's reason is not one line: $(cat "$WORK/err")"
	echo "<domain" | NVFM_HOOK_LOG=syslog "$HOOK" vm7 migrate begin - >"$WORK/out" 2>"$WORK/err" &&
		fail "the hook took NVFM_HOOK_LOG=syslog"
	grep -q "NVFM_HOOK_LOG: unknown log target" "$WORK/err" || fail "bad target: $(cat "$WORK/err")"
	;;
*)
	fail "unknown case $CASE"
	;;
esac
exit 0
