#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-or-later
# CLI tests against emulated devices: one case per invocation, named by $1.
# Each case runs in its own emulated host (NVFM_EMU_DIR) and checks exit
# codes, one-line errors and, through digests, that devices hold exactly
# the state they should.
set -u
CASE=$1
NAME=cli
. "$(dirname "$0")/cli-lib.sh"

# roundtrip SIZE: save | load through a pipe, destination digest = source's
roundtrip() {
	ok "$TOOL" emu create a --size "$1" --seed 11
	ok "$TOOL" emu create b --size "$1" --seed 12
	"$TOOL" -q save emu:a -o - | "$TOOL" -q load emu:b -i - ||
		fail "save | load of $1 failed"
	[ "$(digest a)" = "$(digest b)" ] || fail "$1 state differs after load"
	state_is b RUNNING
}

case "$CASE" in
help)
	for c in vf save load selftest emu qmp; do
		ok "$TOOL" $c --help
	done
	for c in state set-state list provision release bind; do
		ok "$TOOL" vf $c --help
	done
	ok "$TOOL" --version
	grep -q "nvme-vf-migrate" "$WORK/out" || fail "--version prints no name"
	expect 2 "unknown command" "$TOOL" frobnicate
	expect 2 "unknown option" "$TOOL" --frobnicate
	;;
help-command)
	# "help CMD" is "CMD --help"; "help" alone is "--help"
	ok "$TOOL" help
	grep -q "^  help " "$WORK/out" || fail "help lists no help command"
	for c in "vf set-state" "emu create" save selftest; do
		# shellcheck disable=SC2086
		"$TOOL" help $c >"$WORK/a" 2>&1 || fail "help $c failed"
		# shellcheck disable=SC2086
		"$TOOL" $c --help >"$WORK/b" 2>&1
		cmp -s "$WORK/a" "$WORK/b" || fail "help $c differs from $c --help"
	done
	expect 2 "unknown command" "$TOOL" help frobnicate
	;;
verbose-quiet-anywhere)
	# -v and -q work before and after the command
	ok "$TOOL" emu create a --size 1M
	for args in "-v vf state emu:a" "vf state emu:a -v" "vf state emu:a --verbose"; do
		# shellcheck disable=SC2086
		"$TOOL" $args >"$WORK/out" 2>"$WORK/err" || fail "$args failed"
		grep -q "DEBUG" "$WORK/err" || fail "'$args' printed no debug messages"
	done
	for args in "-q emu create b" "emu create b -q" "emu create b --quiet"; do
		# shellcheck disable=SC2086
		ok "$TOOL" $args
		[ ! -s "$WORK/out" ] && [ ! -s "$WORK/err" ] || fail "'$args' printed something"
	done
	;;
json-everywhere)
	# every command that reports or changes something prints JSON with
	# --json and text (the same field names) without it
	is_json() { python3 -c 'import json,sys; json.load(sys.stdin)' <"$1"; }
	ok "$TOOL" emu pf-create p --vfs 2
	# CMD[|SETUP]: SETUP runs again before the text run (a destroy)
	while IFS= read -r line; do
		[ -n "$line" ] || continue
		cmd=${line%%|*}
		# shellcheck disable=SC2086
		"$TOOL" --json $cmd >"$WORK/j" 2>"$WORK/err" || fail "--json $cmd failed: $(cat "$WORK/err")"
		is_json "$WORK/j" 2>/dev/null || fail "--json $cmd is not JSON: $(cat "$WORK/j")"
		# shellcheck disable=SC2086
		[ "$cmd" = "$line" ] || "$TOOL" -q ${line#*|} || fail "${line#*|} failed"
		# shellcheck disable=SC2086
		"$TOOL" $cmd >"$WORK/t" 2>"$WORK/err" || fail "$cmd failed: $(cat "$WORK/err")"
		[ -s "$WORK/t" ] || fail "$cmd printed nothing"
		! is_json "$WORK/t" 2>/dev/null || fail "$cmd printed JSON without --json"
	done <<-EOF2
	emu create a --size 1M
	emu show a
	emu digest a
	emu fault a slow-us 1
	emu fault a slow-us
	emu fault a --clear
	emu dirty a 4K
	vf state emu:a
	vf set-state emu:a STOP
	save emu:a -o $WORK/s.nvfm
	load emu:a -i $WORK/s.nvfm
	selftest emu:a --only features
	status
	emu destroy a|emu create a --size 1M
	vf list
	vf provision emu:p --vq 2 --vi 1
	vf release emu:p-vf0|vf provision emu:p --vq 2 --vi 1
	vf bind emu:p-vf1 emu-vfio-pci
	vf release emu:p-vf1|vf provision emu:p --vq 2 --vi 1
	vf release emu:p-vf0
	emu pf-fault p slow-us 1
	emu pf-destroy p|emu pf-create p --vfs 2
	emu pf-create p --vfs 1
	EOF2
	# a field name is the same in both
	ok "$TOOL" emu create a --size 1M
	"$TOOL" emu show a | grep -q "^config.blob_size: " || fail "emu show lacks config.blob_size"
	;;
bad-address)
	expect 2 "invalid device address" "$TOOL" vf state bogus:1
	expect 2 "empty device address" "$TOOL" vf state ""
	expect 2 "" "$TOOL" vf state "emu:bad/name"
	;;
bad-state-name)
	expect 2 "unknown migration state 'FLYING'" "$TOOL" vf set-state emu:a FLYING
	# a name nobody created is no device: nothing is made up
	expect 4 "emulated device 'a' does not exist" "$TOOL" vf state emu:a
	[ ! -e "$NVFM_EMU_DIR/a.json" ] || fail "vf state made emu:a"
	ok "$TOOL" emu create a
	expect 10 "not allowed" "$TOOL" vf set-state emu:a ERROR
	;;
bad-flags)
	expect 2 "expected DEV -o FILE" "$TOOL" save
	expect 2 "missing -o FILE" "$TOOL" save emu:a
	expect 2 "" "$TOOL" save emu:a -o x --precopy-rounds=-1
	expect 2 "invalid size" "$TOOL" emu create a --size 12Q
	expect 2 "unknown migration flag" "$TOOL" emu create a --flags warp
	;;
state-and-set-state)
	ok "$TOOL" emu create a --size 1M
	ok "$TOOL" vf set-state emu:a STOP_COPY
	grep -q "^path: RUNNING_P2P -> STOP -> STOP_COPY$" "$WORK/out" ||
		fail "unexpected path: $(cat "$WORK/out")"
	ok "$TOOL" emu create n --size 1M --flags ""
	ok "$TOOL" vf set-state emu:n STOP_COPY
	grep -q "^path: STOP -> STOP_COPY$" "$WORK/out" || fail "path without P2P: $(cat "$WORK/out")"
	expect 10 "not allowed" "$TOOL" vf set-state emu:n PRE_COPY
	ok "$TOOL" --json vf state emu:a
	python3 -m json.tool "$WORK/out" >/dev/null || fail "vf state --json is not JSON"
	state_is a RUNNING
	;;
missing-file)
	expect 4 "cannot open" "$TOOL" load emu:a -i "$WORK/nope"
	;;
roundtrip-0)
	roundtrip 0
	;;
roundtrip-1)
	roundtrip 1
	;;
roundtrip-1M)
	roundtrip 1M
	;;
roundtrip-1G)
	roundtrip 1G
	;;
planted-runtime-dir)
	# a runtime directory in one another user controls (as a
	# /tmp/nvme-vf-migrate-UID made first by someone else) is refused
	mkdir -p "$WORK/planted"
	chown 65534:65534 "$WORK/planted"
	chmod 0777 "$WORK/planted"
	NVFM_EMU_DIR=$WORK/planted/emu expect 9 "which uid 65534 (mode 0777) controls" \
		"$TOOL" emu create x
	[ ! -e "$WORK/planted/emu/x.json" ] || fail "a device was made in the planted directory"
	;;
pipe-documented)
	# the README's and man page's pipe exactly, without -q: the notes
	# must not enter the stream
	ok "$TOOL" emu create a --size 4M --seed 21
	ok "$TOOL" emu create b --size 4M --seed 22
	"$TOOL" save emu:a -o - 2>"$WORK/save.err" | "$TOOL" load emu:b -i - 2>"$WORK/load.err" >"$WORK/load.out" ||
		fail "save | load failed: $(cat "$WORK/save.err" "$WORK/load.err")"
	[ "$(digest a)" = "$(digest b)" ] || fail "state differs after the documented pipe"
	grep -q "sha256" "$WORK/save.err" || fail "save gave no summary on stderr: $(cat "$WORK/save.err")"
	grep -q "^total_bytes: " "$WORK/load.out" || fail "load gave no summary: $(cat "$WORK/load.out")"
	;;
save-to-device)
	# -o naming a device or a FIFO writes into it and never renames a
	# file over it (a save to /dev/full once replaced the device node)
	ok "$TOOL" emu create a --size 4M --seed 23
	ok "$TOOL" emu create b --size 4M --seed 24
	mknod "$WORK/null" c 1 3 2>/dev/null || skip "cannot make a device node (needs root)"
	ok "$TOOL" save emu:a -o "$WORK/null"
	[ -c "$WORK/null" ] || fail "save replaced the device node with a file"
	mkfifo "$WORK/fifo" || fail "mkfifo"
	cat "$WORK/fifo" >"$WORK/copy" &
	ok "$TOOL" save emu:a -o "$WORK/fifo"
	wait $! || fail "reading the FIFO failed"
	[ -p "$WORK/fifo" ] || fail "save replaced the FIFO with a file"
	ok "$TOOL" load emu:b -i "$WORK/copy"
	[ "$(digest a)" = "$(digest b)" ] || fail "the state through the FIFO differs"
	;;
save-load-file)
	ok "$TOOL" emu create a --size 8M --seed 3
	ok "$TOOL" emu create b --size 8M --seed 4
	ok "$TOOL" --json save emu:a -o "$WORK/s.nvfm" --precopy-rounds 2
	python3 -m json.tool "$WORK/out" >/dev/null || fail "save --json is not JSON"
	ok "$TOOL" --json load emu:b -i "$WORK/s.nvfm"
	[ "$(digest a)" = "$(digest b)" ] || fail "state differs after load"
	state_is b RUNNING
	;;
truncated-file | corrupted-file)
	ok "$TOOL" emu create a --size 4M --seed 5
	ok "$TOOL" emu create b --size 4M --seed 6
	ok "$TOOL" save emu:a -o "$WORK/s.nvfm"
	size=$(stat -c %s "$WORK/s.nvfm")
	if [ "$CASE" = truncated-file ]; then
		head -c $((size / 2)) "$WORK/s.nvfm" >"$WORK/bad.nvfm"
		expect 6 "truncated" "$TOOL" load emu:b -i "$WORK/bad.nvfm"
	else
		cp "$WORK/s.nvfm" "$WORK/bad.nvfm"
		printf 'X' | dd of="$WORK/bad.nvfm" bs=1 seek=$((size / 2)) conv=notrunc 2>/dev/null
		expect 6 "checksum" "$TOOL" load emu:b -i "$WORK/bad.nvfm"
	fi
	grep -q "device reset" "$WORK/err" || fail "error does not say the device was reset"
	state_is b RUNNING
	# the reset device is usable: the intact file loads and matches
	ok "$TOOL" load emu:b -i "$WORK/s.nvfm"
	[ "$(digest a)" = "$(digest b)" ] || fail "the intact state did not load after a refusal"
	;;
not-a-stream)
	ok "$TOOL" emu create b --size 1M
	head -c 4096 /dev/urandom >"$WORK/junk"
	expect 6 "not an nvme-vf-migrate stream" "$TOOL" load emu:b -i "$WORK/junk"
	: >"$WORK/empty"
	expect 6 "truncated" "$TOOL" load emu:b -i "$WORK/empty"
	;;
busy)
	ok "$TOOL" emu create a --size 64M
	# hold the device open in a slow save, then try a second opener
	"$TOOL" emu fault a slow-us 20000 >/dev/null
	"$TOOL" -q save emu:a -o "$WORK/s.nvfm" &
	pid=$!
	# save creates its temporary file once it holds the device
	i=0
	while [ $i -lt 100 ] && ! ls "$WORK"/s.nvfm.tmp.* >/dev/null 2>&1; do
		sleep 0.1
		i=$((i + 1))
	done
	"$TOOL" vf state emu:a >/dev/null 2>"$WORK/err"
	rc=$?
	kill "$pid" 2>/dev/null
	wait "$pid" 2>/dev/null
	[ $rc -eq 5 ] || fail "second opener exited $rc, expected 5 (busy)"
	grep -q "in use" "$WORK/err" || fail "second opener was not refused as busy: $(cat "$WORK/err")"
	# the interrupted save left nothing that looks like a state
	! ls "$WORK"/s.nvfm* >/dev/null 2>&1 || fail "an interrupted save left $(ls "$WORK"/s.nvfm*)"
	state_is a RUNNING
	;;
selftest)
	ok "$TOOL" emu create a --size 16M
	ok "$TOOL" selftest emu:a
	grep -qx "failed: 0" "$WORK/out" || fail "selftest: $(cat "$WORK/out")"
	ok "$TOOL" --json selftest emu:a --only 'save-*'
	python3 -m json.tool "$WORK/out" >/dev/null || fail "selftest --json is not JSON"
	ok "$TOOL" emu create n --size 1M --flags ""
	ok "$TOOL" selftest emu:n
	grep -q "^  precopy-info .*skip" "$WORK/out" || fail "precopy case not skipped without PRE_COPY"
	;;
selftest-faults)
	# each fault knob must make the matching case fail (the suite can fail)
	for spec in "fail-arc STOP>STOP_COPY:single-arcs" \
		"fail-arc RUNNING_P2P>STOP:single-arcs" \
		"corrupt-byte 5000:save-load-save" \
		"truncate-after 5000:save-load-save" \
		"reject-resume 1:save-load-save" \
		"stop-after 5000:data-fd-stream"; do
		knob=${spec%%:*}
		want=${spec#*:}
		ok "$TOOL" emu create f --size 2M
		# shellcheck disable=SC2086
		ok "$TOOL" emu fault f $knob
		"$TOOL" selftest emu:f --only "$want" --timeout 1 >"$WORK/out" 2>&1
		rc=$?
		[ $rc -eq 11 ] || fail "fault '$knob': selftest exited $rc, expected 11: $(cat "$WORK/out")"
		grep -q "^  $want .*FAIL" "$WORK/out" || fail "fault '$knob' did not fail $want: $(cat "$WORK/out")"
		ok "$TOOL" emu fault f --clear
		ok "$TOOL" selftest emu:f --only "$want"
	done
	;;
fault-recovery)
	# every failed operation leaves the device usable, never in ERROR
	ok "$TOOL" emu create a --size 2M --seed 9
	ok "$TOOL" emu create b --size 2M --seed 10
	ok "$TOOL" emu fault a fail-arc "STOP>STOP_COPY"
	expect 10 "STOP -> STOP_COPY failed" "$TOOL" save emu:a -o "$WORK/s.nvfm"
	state_is a RUNNING
	[ ! -e "$WORK/s.nvfm" ] || fail "a failed save left a file behind"
	ok "$TOOL" emu fault a --clear
	ok "$TOOL" save emu:a -o "$WORK/s.nvfm"
	ok "$TOOL" emu fault b reject-resume 1
	expect 10 "refused the state" "$TOOL" load emu:b -i "$WORK/s.nvfm"
	state_is b RUNNING
	ok "$TOOL" emu fault b --clear
	ok "$TOOL" load emu:b -i "$WORK/s.nvfm"
	[ "$(digest a)" = "$(digest b)" ] || fail "the state did not load after a rejection"
	ok "$TOOL" emu fault a stop-after 1000
	expect 7 "no progress" "$TOOL" save emu:a -o "$WORK/t.nvfm" --timeout 1
	state_is a RUNNING
	;;
*)
	fail "unknown case"
	;;
esac
exit 0
