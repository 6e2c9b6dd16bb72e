#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-or-later
# What only --insecure accepts, as check and migrate see it before they
# connect anywhere (an agent on a UNIX socket in this emulated host, no
# QEMU: its connection blockers are beside the point):
#   clear-stream  a VM's migration stream over a plain agent link: a
#                 blocker, a warning with --insecure
#   dest-qmp-tcp  --dest-vm tcp:...: a blocker, a warning with --insecure
#   dest-qmp-agent --dest-vm agent:PATH is no TCP QMP; an agent without
#                 --qmp-dir reaches no monitor; a relative PATH is a
#                 usage error
set -u
CASE=${1:-clear-stream}
NAME=cli-security
. "$(dirname "$0")/cli-lib.sh"

ok "$TOOL" emu pf-create pa --vfs 1 --size 64K
ok "$TOOL" emu pf-create pb --vfs 1 --size 64K
ok "$TOOL" vf provision emu:pa
start_agent

# run CMD DEST-VM [OPTIONS...]: check or migrate of a VM that is not there;
# output in out/err, exit code in RC
run() {
	cmd=$1 dvm=$2
	shift 2
	"$TOOL" "$cmd" emu:pa-vf0 --to "unix:$WORK/agent.sock" --dest-pf emu:pb \
		--vm "$WORK/no-vm.sock" --dest-vm "$dvm" --migrate-uri tcp:127.0.0.1:1 "$@" \
		>"$WORK/out" 2>"$WORK/err"
	RC=$?
}
has() { grep -q -- "$1" "$WORK/out" || fail "no '$1' in: $(cat "$WORK/out")"; }
hasnt() { grep -q -- "$1" "$WORK/out" && fail "'$1' in: $(cat "$WORK/out")"; }

CLEAR="QEMU's migration stream (guest RAM) travels in clear: the agent link is plain"
TCPQMP="the destination QEMU's QMP tcp:127.0.0.1:9 is unauthenticated TCP"
case "$CASE" in
clear-stream)
	run check "$WORK/no-dest.sock"
	[ "$RC" -eq 3 ] || fail "check exited $RC: $(cat "$WORK/err")"
	has "blocker: $CLEAR (only --insecure accepts that)"
	hasnt "warning: $CLEAR"
	run check "$WORK/no-dest.sock" --insecure
	has "warning: $CLEAR"
	hasnt "blocker: $CLEAR"
	# migrate refuses on the same blocker, one line, nothing done
	run migrate "$WORK/no-dest.sock"
	[ "$RC" -eq 3 ] || fail "migrate exited $RC: $(cat "$WORK/err")"
	grep -q "travels in clear.*only --insecure accepts that" "$WORK/err" ||
		fail "migrate's error: $(cat "$WORK/err")"
	"$TOOL" --json vf list --pf emu:pb | grep -q '"state": "online"' &&
		fail "migrate provisioned on B"
	;;
dest-qmp-tcp)
	run check tcp:127.0.0.1:9
	[ "$RC" -eq 3 ] || fail "check exited $RC: $(cat "$WORK/err")"
	has "destination:"
	has "blocker: $TCPQMP"
	run check tcp:127.0.0.1:9 --insecure
	has "warning: $TCPQMP"
	hasnt "blocker: $TCPQMP"
	run migrate tcp:127.0.0.1:9
	[ "$RC" -eq 3 ] || fail "migrate exited $RC: $(cat "$WORK/err")"
	grep -q "unauthenticated TCP.*only --insecure accepts that" "$WORK/err" ||
		fail "migrate's error: $(cat "$WORK/err")"
	# accepted, it is still in migrate's report (which fails here anyway:
	# no QEMU)
	run migrate tcp:127.0.0.1:9 --insecure
	has "^warning: $TCPQMP"
	;;
dest-qmp-agent)
	run check "agent:$WORK/dest.qmp" --insecure
	[ "$RC" -eq 3 ] || fail "check exited $RC: $(cat "$WORK/err")"
	has "blocker: destination QEMU's QMP socket: QMP $WORK/dest.qmp through the agent: .*this agent serves no QMP sockets (it runs without --qmp-dir)"
	hasnt "unauthenticated"
	expect 2 "agent:PATH needs an absolute PATH" "$TOOL" check emu:pa-vf0 \
		--to "unix:$WORK/agent.sock" --dest-pf emu:pb --vm "$WORK/no-vm.sock" \
		--dest-vm agent:dest.qmp --migrate-uri tcp:127.0.0.1:1
	;;
*)
	echo "unknown case $CASE" >&2
	exit 2
	;;
esac
echo "ok: $CASE"
