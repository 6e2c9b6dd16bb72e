#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-or-later
# A device found in a migration session that another process started and
# left (the VFIO core does not end it on close): an emulated VF with the
# keep-state knob keeps its state across processes, like a driver that
# does not reset on open. One process leaves it in RESUMING, STOP_COPY or
# PRE_COPY*; the next command must end that session by the uAPI's rules:
# RESUMING by a device reset (never committed), STOP_COPY to STOP,
# PRE_COPY* to RUNNING. One case per invocation, named by $1.
set -u
CASE=$1
NAME=cli-foreign
. "$(dirname "$0")/cli-lib.sh"

err_has() {
	grep -q -- "$1" "$WORK/err" || fail "stderr lacks '$1': $(cat "$WORK/err")"
}

out_has() {
	grep -q -- "$1" "$WORK/out" || fail "stdout lacks '$1': $(cat "$WORK/out")"
}

# leave STATE: a process moves emu:a there and exits
leave() {
	ok "$TOOL" vf set-state emu:a "$1"
	state_is a "$1"
}

# a device that does not dirty itself while it runs: its state changes
# only by what the commands do
ok "$TOOL" emu create a --size 2M --seed 21 --dirty-rate 0
ok "$TOOL" emu create b --size 2M --seed 22 --dirty-rate 0
before=$(digest a)

case "$CASE" in
default-resets)
	# without the knob the emulated VF behaves like a driver that resets
	# on open: nothing is found
	ok "$TOOL" vf set-state emu:a RESUMING
	state_is a RUNNING
	;;
resuming)
	ok "$TOOL" emu fault a keep-state 1
	leave RESUMING
	# vf state only reads: the session is shown as found, still there
	state_is a RESUMING
	ok "$TOOL" vf set-state emu:a RUNNING
	err_has "found in RESUMING"
	err_has "aborted it with a device reset (never committed)"
	out_has "^from: RUNNING$"
	out_has "^state: RUNNING$"
	state_is a RUNNING
	# (a commit would have failed the command: the emulated VF refuses
	# to commit a RESUMING session with no data, goes to ERROR, exit 10)
	# the next command of any kind does the same: save from RESUMING
	leave RESUMING
	ok "$TOOL" save emu:a -o "$WORK/a.nvfm"
	err_has "found in RESUMING"
	ok "$TOOL" load emu:b -i "$WORK/a.nvfm"
	[ "$(digest b)" = "$(digest a)" ] || fail "the saved state is not the device's"
	;;
stop-copy)
	ok "$TOOL" emu fault a keep-state 1
	leave STOP_COPY
	ok "$TOOL" save emu:a -o "$WORK/a.nvfm"
	err_has "found in STOP_COPY"
	err_has "ended it, now STOP"
	ok "$TOOL" load emu:b -i "$WORK/a.nvfm"
	[ "$(digest b)" = "$before" ] || fail "the saved state is not the device's"
	;;
pre-copy | pre-copy-p2p)
	st=PRE_COPY
	[ "$CASE" = pre-copy-p2p ] && st=PRE_COPY_P2P
	ok "$TOOL" emu fault a keep-state 1
	leave "$st"
	ok "$TOOL" vf set-state emu:a STOP
	err_has "found in $st"
	err_has "now RUNNING"
	out_has "^path: .*STOP"
	out_has "^state: STOP$"
	state_is a STOP
	[ "$(digest a)" = "$before" ] || fail "the state changed"
	;;
*)
	fail "unknown case"
	;;
esac
exit 0
