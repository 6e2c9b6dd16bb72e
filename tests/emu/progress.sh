#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-or-later
# The progress line (src/cli/cli-progress.c) and "status": a live line in a
# real terminal (tmux), plain lines off a terminal only when asked, silence
# otherwise, and the source's list of running migrations.
# Usage: progress.sh CASE
CASE=${1:?usage: progress.sh CASE}
NAME=progress
. "$(dirname "$0")/cli-lib.sh"

# the line's whole grammar: a stale tail ("MiBiB") breaks the anchor
LINE='^(save|load) (precopy|stop-copy) [0-9]+\.[0-9](/[0-9]+\.[0-9])? MiB( [0-9]+\.[0-9] MiB/s( ETA [0-9]+:[0-9][0-9])?)?$'

slow_device() {
	ok "$TOOL" emu create a --size 16M
	ok "$TOOL" emu fault a slow-us 2000	# 64 KiB per 2 ms: about a second
}

# pane_until_exit: capture tmux server $SOCK's pane into $WORK/pane until
# the script in it has printed EXIT= (30 s at most)
pane_until_exit() {
	i=0
	while [ $i -lt 600 ]; do
		tmux -L "$SOCK" capture-pane -p >"$WORK/pane" 2>/dev/null
		grep -q '^EXIT=' "$WORK/pane" && break
		i=$((i + 1))
		sleep 0.05
	done
}

case "$CASE" in
tty)
	command -v tmux >/dev/null || skip "no tmux"
	slow_device
	SOCK=nvfm-progress-$$
	cat >"$WORK/run.sh" <<EOS
NVFM_EMU_DIR='$NVFM_EMU_DIR' '$TOOL' save emu:a -o '$WORK/s.nvfm'
echo "EXIT=\$?"
sleep 60
EOS
	tmux -L "$SOCK" new-session -d -x 60 -y 24 "sh '$WORK/run.sh'" ||
		fail "tmux cannot start a session"
	trap 'tmux -L "$SOCK" kill-server 2>/dev/null; rm -rf "$WORK"' EXIT
	# bounded in count: 600 looks, 0.05 s apart
	seen=0 done=0 i=0
	while [ $i -lt 600 ]; do
		tmux -L "$SOCK" capture-pane -p >"$WORK/pane" 2>/dev/null
		grep -Eq '^save (precopy|stop-copy) ' "$WORK/pane" && seen=1
		if grep -q '^EXIT=' "$WORK/pane"; then
			done=1
			break
		fi
		[ $seen = 1 ] && cp "$WORK/pane" "$WORK/live"
		i=$((i + 1))
		sleep 0.05
	done
	[ $done = 1 ] || fail "save did not end in the terminal: $(cat "$WORK/pane")"
	grep -q '^EXIT=0' "$WORK/pane" || fail "save failed: $(cat "$WORK/pane")"
	# one progress line, redrawn in place, ending at its last count
	n=$(grep -Ec '^save (precopy|stop-copy)' "$WORK/pane")
	[ "$n" -eq 1 ] || fail "$n progress lines, expected one redrawn: $(cat "$WORK/pane")"
	grep -E '^save ' "$WORK/pane" | grep -Eq "$LINE" ||
		fail "the line is not 'OP PHASE done/total MiB rate MiB/s ETA': $(cat "$WORK/pane")"
	grep -Eq '^save stop-copy ([0-9.]+)/\1 MiB' "$WORK/pane" ||
		fail "the last count is not the stop-copy total: $(cat "$WORK/pane")"
	# a finished count has no ETA: one left over is an earlier, longer
	# frame's tail the redraw did not clear
	grep -E '^save stop-copy ([0-9.]+)/\1 MiB' "$WORK/pane" | grep -q ETA &&
		fail "stale characters after the last redraw: $(cat "$WORK/pane")"
	if [ -f "$WORK/live" ]; then
		grep -E '^save ' "$WORK/live" | grep -Eq "$LINE" ||
			fail "a live frame is malformed: $(cat "$WORK/live")"
	fi
	grep -E '^save (precopy|stop-copy)' "$WORK/pane" | awk 'length($0) > 59 { exit 1 }' ||
		fail "the line is wider than the terminal"
	;;
narrow)
	command -v tmux >/dev/null || skip "no tmux"
	slow_device
	SOCK=nvfm-progress-n-$$
	printf '%s\n' "NVFM_EMU_DIR='$NVFM_EMU_DIR' '$TOOL' -q save emu:a -o '$WORK/s.nvfm' --progress=auto; echo EXIT=\$?; sleep 60" >"$WORK/run.sh"
	tmux -L "$SOCK" new-session -d -x 24 -y 10 "sh '$WORK/run.sh'" || fail "tmux cannot start"
	trap 'tmux -L "$SOCK" kill-server 2>/dev/null; rm -rf "$WORK"' EXIT
	pane_until_exit
	grep -q '^EXIT=0' "$WORK/pane" || fail "save did not end well: $(cat "$WORK/pane")"
	# -q silences auto: nothing but the exit line
	[ "$(grep -c . "$WORK/pane")" -eq 1 ] || fail "-q drew progress: $(cat "$WORK/pane")"
	printf '%s\n' "NVFM_EMU_DIR='$NVFM_EMU_DIR' '$TOOL' save emu:a -o '$WORK/s.nvfm' >/dev/null; echo EXIT=\$?; sleep 60" >"$WORK/run.sh"
	# a second server: the first may still be going away
	tmux -L "$SOCK" kill-server
	SOCK=$SOCK-2
	tmux -L "$SOCK" new-session -d -x 24 -y 10 "sh '$WORK/run.sh'" || fail "tmux cannot start"
	pane_until_exit
	grep -q '^EXIT=0' "$WORK/pane" || fail "save did not end well: $(cat "$WORK/pane")"
	# cut to the width, never wrapped onto a second line
	[ "$(grep -c . "$WORK/pane")" -eq 2 ] || fail "the line wrapped: $(cat "$WORK/pane")"
	grep -q '^save stop-copy ' "$WORK/pane" || fail "no progress line: $(cat "$WORK/pane")"
	awk 'length($0) > 23 { exit 1 }' "$WORK/pane" || fail "a line is wider than the terminal"
	;;
plain)
	slow_device
	ok "$TOOL" save emu:a -o "$WORK/s.nvfm" --precopy-rounds 1 --progress=plain
	grep -q "$(printf '\r')" "$WORK/err" && fail "plain lines hold a carriage return"
	grep -Eq '^save precopy ' "$WORK/err" || fail "no precopy line: $(cat "$WORK/err")"
	grep -Eq '^save stop-copy ([0-9.]+)/\1 MiB' "$WORK/err" ||
		fail "no final stop-copy line: $(cat "$WORK/err")"
	grep -E '^save ' "$WORK/err" | grep -Evq "$LINE" && fail "malformed: $(cat "$WORK/err")"
	ok "$TOOL" emu create b --size 16M
	ok "$TOOL" load emu:b -i "$WORK/s.nvfm" --progress=plain
	grep -Eq '^load stop-copy ' "$WORK/err" || fail "no load line: $(cat "$WORK/err")"
	ok "$TOOL" selftest emu:b --only '*-arcs' --progress=plain
	grep -Eq '^selftest [0-9]+/[0-9]+ [a-z]+-arcs$' "$WORK/err" ||
		fail "no selftest step line: $(cat "$WORK/err")"
	expect 2 "--progress must be auto, plain or none" "$TOOL" save emu:a -o "$WORK/x" --progress=loud
	;;
auto-off-tty)
	slow_device
	ok "$TOOL" save emu:a -o "$WORK/s.nvfm" --precopy-rounds 1
	grep -q '^save ' "$WORK/err" && fail "auto drew progress off a terminal: $(cat "$WORK/err")"
	ok "$TOOL" save emu:a -o "$WORK/s.nvfm" --progress=none
	[ -s "$WORK/err" ] && fail "none printed: $(cat "$WORK/err")"
	;;
status)
	export NVFM_STATUS_DIR="$WORK/status"
	ok "$TOOL" status
	[ "$(cat "$WORK/out")" = "no migration running" ] ||
		fail "status with nothing running: $(cat "$WORK/out")"
	ok "$TOOL" --json status
	python3 -c 'import json,sys; assert json.load(open(sys.argv[1])) == {"migrations": []}' \
		"$WORK/out" || fail "empty --json status: $(cat "$WORK/out")"
	# what a running migrate publishes (migrate/publish.c), held by a live
	# process; a file whose process is gone is a crash's leftover
	mkdir -m 700 "$NVFM_STATUS_DIR"
	sleep 60 &
	live=$!
	trap 'kill $live 2>/dev/null; rm -rf "$WORK"' EXIT
	sh -c 'exit 0' &
	dead=$!
	wait $dead
	cat >"$NVFM_STATUS_DIR/s1.json" <<EOJ
{"id": "s1", "vm": "/run/vm.qmp", "vf": "emu:pfa-vf0", "to": "unix:/run/a.sock",
 "phase": "stop-copy", "bytes": 1048576, "total": 4194304, "rate": 2097152.0,
 "elapsed": 3.5, "started": 1, "pid": $live}
EOJ
	sed -e "s/\"s1\"/\"s2\"/" -e "s/\"pid\": $live/\"pid\": $dead/" "$NVFM_STATUS_DIR/s1.json" \
		>"$NVFM_STATUS_DIR/s2.json"
	ok "$TOOL" status
	# the JSON's fields: a table headed by their keys
	grep -qx 'migrations:' "$WORK/out" &&
		grep -Eq '^  ID +VM +VF +TO +PHASE +BYTES +TOTAL +RATE +ELAPSED +STARTED +PID$' "$WORK/out" &&
		grep -Eq "^  s1 +/run/vm.qmp +emu:pfa-vf0 +unix:/run/a.sock +stop-copy +1048576 +4194304 +2097152 +3\.5 +1 +$live\$" \
			"$WORK/out" ||
		fail "status lacks the running migration: $(cat "$WORK/out")"
	grep -q '^ *s2 ' "$WORK/out" && fail "status lists a dead process's file"
	ok "$TOOL" --json status
	python3 - "$WORK/out" <<'EOP' || fail "status --json: $(cat "$WORK/out")"
import json, sys
m = json.load(open(sys.argv[1]))["migrations"]
assert [x["id"] for x in m] == ["s1"], m
for k in ("id", "vm", "vf", "phase", "bytes", "total", "rate", "elapsed"):
    assert k in m[0], k
EOP
	kill $live
	wait $live 2>/dev/null
	ok "$TOOL" status
	[ "$(cat "$WORK/out")" = "no migration running" ] ||
		fail "status lists a migration whose process ended: $(cat "$WORK/out")"
	;;
*)
	fail "unknown case"
	;;
esac
exit 0
