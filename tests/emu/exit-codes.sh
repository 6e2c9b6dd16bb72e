#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-or-later
# Every exit code nvme-vf-migrate(8) lists, provoked against emulated
# devices and checked. The codes come from the man page's EXIT STATUS
# table, so a code added there without a case here (or a case for a code
# the page does not list) fails this test: the page and the tool cannot
# drift apart.
set -u
CASE=exit-codes
NAME=exit
. "$(dirname "$0")/cli-lib.sh"
MAN=${NVFM_SOURCE_ROOT:-$(dirname "$0")/../..}/data/nvme-vf-migrate.8

# the codes in the man page's table: each ".TP" then ".B N" under EXIT STATUS
man_codes() {
	awk '/^\.SH / { on = ($0 ~ /^\.SH EXIT STATUS/) }
		on && prev == ".TP" && $1 == ".B" && $2 ~ /^[0-9]+$/ { print $2 } { prev = $1 }' "$MAN"
}

# waits (bounded) until a save in progress holds its device
wait_tmp() {
	i=0
	while [ $i -lt 100 ] && ! ls "$1".tmp.* >/dev/null 2>&1; do
		sleep 0.1
		i=$((i + 1))
	done
}

# code_N: the command lines that must exit N, one case a line:
# "DESCRIPTION|CMD ARGS..." (set up by the function itself)
code_0() {
	run "created a device" "$TOOL" emu create a --size 1M
}
code_1() {
	mkdir -p "$WORK/dir"
	run "save onto a directory (an I/O error)" "$TOOL" -q save emu:a -o "$WORK/dir"
}
code_2() {
	run "unknown command" "$TOOL" frobnicate
	run "unknown option" "$TOOL" vf state emu:a --frobnicate
	run "bad device address" "$TOOL" vf state bogus:1
	run "selftest --only matching nothing" "$TOOL" selftest emu:a --only '['
	run "help with an option" "$TOOL" help --frobnicate
}
code_3() {
	"$TOOL" emu pf-create pf0 --vfs 1 >/dev/null 2>&1
	run "VF without migration support" \
		"$TOOL" vf provision emu:pf0 --driver vfio-pci --require-migration
}
code_4() {
	run "no such device" "$TOOL" vf state emu:nope
	run "no such file" "$TOOL" load emu:a -i "$WORK/nope.nvfm"
}
code_5() {
	"$TOOL" emu create busy --size 64M >/dev/null 2>&1
	"$TOOL" emu fault busy slow-us 20000 >/dev/null 2>&1
	"$TOOL" -q save emu:busy -o "$WORK/busy.nvfm" &
	holder=$!
	wait_tmp "$WORK/busy.nvfm"
	run "device held by a save" "$TOOL" vf state emu:busy
	kill "$holder" 2>/dev/null
	wait "$holder" 2>/dev/null
}
code_6() {
	head -c 4096 /dev/urandom >"$WORK/junk"
	run "not a state stream" "$TOOL" load emu:a -i "$WORK/junk"
}
code_7() {
	"$TOOL" emu create slow --size 2M >/dev/null 2>&1
	"$TOOL" emu fault slow stop-after 1000 >/dev/null 2>&1
	run "device stops making progress" "$TOOL" -q save emu:slow -o "$WORK/t.nvfm" --timeout 1
}
code_8() {
	for sig in INT TERM; do
		"$TOOL" emu create big --size 256M >/dev/null 2>&1
		"$TOOL" emu fault big slow-us 20000 >/dev/null 2>&1
		"$TOOL" -q save emu:big -o "$WORK/big.nvfm" 2>/dev/null &
		pid=$!
		wait_tmp "$WORK/big.nvfm"
		kill -s "$sig" "$pid"
		wait "$pid"
		check $? "SIG$sig during a save"
		! ls "$WORK"/big.nvfm* >/dev/null 2>&1 || fail "SIG$sig left a file behind"
	done
}
code_9() {
	mkdir -p "$WORK/planted"
	chown 65534:65534 "$WORK/planted"
	chmod 0777 "$WORK/planted"
	run "emulated-device directory another user controls" \
		env NVFM_EMU_DIR="$WORK/planted/emu" "$TOOL" emu create x
}
code_10() {
	run "forbidden target state" "$TOOL" vf set-state emu:a ERROR
	"$TOOL" emu create arc --size 1M >/dev/null 2>&1
	"$TOOL" emu fault arc fail-arc "RUNNING_P2P>STOP" >/dev/null 2>&1
	run "failed state change" "$TOOL" vf set-state emu:arc STOP
	run "failed state change in a save" "$TOOL" -q save emu:arc -o "$WORK/arc.nvfm"
}
code_11() {
	"$TOOL" emu create st --size 2M >/dev/null 2>&1
	"$TOOL" emu fault st fail-arc "STOP>STOP_COPY" >/dev/null 2>&1
	run "selftest case failed" "$TOOL" selftest emu:st --only single-arcs --timeout 1
}

# run DESCRIPTION CMD...: CMD must exit with $want
run() {
	what=$1
	shift
	"$@" >"$WORK/out" 2>"$WORK/err"
	check $? "$what"
}

check() {
	[ "$1" -eq "$want" ] || fail "$2: exit $1, the man page says $want; stderr: $(cat "$WORK/err" 2>/dev/null)"
	echo "ok $want: $2"
}

codes=$(man_codes)
[ "$(echo "$codes" | wc -w)" -ge 10 ] || fail "no exit-code table found in $MAN: '$codes'"
for want in $codes; do
	command -v "code_$want" >/dev/null 2>&1 || fail "the man page lists exit $want; no case provokes it"
	"code_$want"
done
# and no case for a code the page does not list
for f in $(sed -n 's/^code_\([0-9]*\)() {$/\1/p' "$0"); do
	echo "$codes" | grep -qx "$f" || fail "exit $f is tested but not in the man page"
done
exit 0
