#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-or-later
# Only `emu create` makes emulated devices (and `emu pf-create` PFs):
# every other command refuses an unknown name with exit 4 (no such
# device) and one line, and leaves nothing behind. Global options are
# taken between a command and its subcommand too.
#   emu-names.sh CASE
set -u
CASE=$1
NAME=emu-names
. "$(dirname "$0")/cli-lib.sh"

case "$CASE" in
unknown)
	ok "$TOOL" emu create a --size 1M --seed 41
	ok "$TOOL" emu pf-create p --vfs 2
	: >"$WORK/empty"
	before=$(ls -R "$NVFM_EMU_DIR")
	# CMD|PATTERN, one a line
	while IFS='|' read -r cmd pat; do
		[ -n "$cmd" ] || continue
		# shellcheck disable=SC2086
		expect 4 "$pat" "$TOOL" $cmd
	done <<EOT
vf state emu:nosuch|'nosuch' does not exist
vf set-state emu:nosuch STOP|'nosuch' does not exist
save emu:nosuch -o $WORK/out.state|'nosuch' does not exist
load emu:nosuch -i $WORK/empty|'nosuch' does not exist
selftest emu:nosuch|'nosuch' does not exist
send emu:nosuch --to unix:$WORK/none --target emu:a|'nosuch' does not exist
receive emu:nosuch --listen unix:$WORK/recv.sock|'nosuch' does not exist
check emu:nosuch --to unix:$WORK/none --dest-pf emu:p|'nosuch' does not exist
migrate emu:nosuch --to unix:$WORK/none --dest-pf emu:p|'nosuch' does not exist
emu show nosuch|'nosuch' does not exist
emu digest nosuch|'nosuch' does not exist
emu fault nosuch reset-fail|'nosuch' does not exist
emu dirty nosuch 1M|'nosuch' does not exist
emu destroy nosuch|'nosuch' does not exist
emu pf-destroy nosuch|no such emulated PF
emu pf-fault nosuch x|no such emulated PF
vf provision emu:nosuch|no such emulated PF
vf list --pf emu:nosuch|no such emulated PF
EOT
	[ ! -e "$WORK/out.state" ] || fail "save of an unknown device left a file"
	[ ! -e "$WORK/recv.sock" ] || fail "receive listened for an unknown device"
	[ "$(ls -R "$NVFM_EMU_DIR")" = "$before" ] || fail "a refused command left files: $(ls -R "$NVFM_EMU_DIR")"
	;;
globals-between)
	# -q, -v and --json between a command and its subcommand
	ok "$TOOL" emu create a --size 1M
	ok "$TOOL" emu -q show a
	[ ! -s "$WORK/out" ] || fail "emu -q show printed: $(cat "$WORK/out")"
	ok "$TOOL" vf --json state emu:a
	python3 -c 'import json,sys; json.load(sys.stdin)' <"$WORK/out" ||
		fail "vf --json state is not JSON: $(cat "$WORK/out")"
	ok "$TOOL" vf -v state emu:a
	grep -q DEBUG "$WORK/err" || fail "vf -v state printed no debug messages"
	ok "$TOOL" emu --json show a -q
	ok "$TOOL" vf state emu:a --json
	python3 -c 'import json,sys; json.load(sys.stdin)' <"$WORK/out" ||
		fail "vf state --json is not JSON: $(cat "$WORK/out")"
	expect 2 "unknown command" "$TOOL" emu -q frobnicate
	;;
*)
	fail "unknown case $CASE"
	;;
esac
exit 0
