# SPDX-License-Identifier: GPL-2.0-or-later
# A cut link, timed: sourced by tests/hosts/hosts.sh and migrate.sh (after
# they set CASE, HERE and fail()). Every side must give up within one
# --timeout (LINK_T, on both ends) of the peer's silence: the sender's
# exit, the source device RUNNING again, the agent's reset and the end of
# its connection. The 2 s of slack cover scheduling on a busy machine;
# this is a bound on correctness, not on speed.
LINK_T=3
LINK_BOUND=$((LINK_T + 2))
LATE=

now() { date +%s.%N; }

# mark_cut: the peer goes silent now (CUT)
mark_cut() { CUT=$(now); }

# seconds since the cut
since_cut() {
	python3 -c 'import sys, time; print("%.2f" % (time.time() - float(sys.argv[1])))' "$CUT"
}

# log_since FILE REGEX: seconds from the cut to the first line of FILE
# after it that matches (nothing when there is none)
log_since() { python3 "$HERE/logtime.py" "$CUT" "$1" "$2"; }

# await_line FILE REGEX SECONDS: FILE shows REGEX (bounded; no failure)
await_line() {
	n=$(($3 * 10))
	until grep -Eq -- "$2" "$1" 2>/dev/null; do
		n=$((n - 1))
		[ $n -gt 0 ] || return 1
		sleep 0.1
	done
}

# bounded WHAT SECONDS: print one figure; remember it when it is late
bounded() {
	echo "link cut [$CASE]: $1 after ${2:-(never)} s (bound $LINK_BOUND s)"
	if [ -z "$2" ] ||
	   python3 -c 'import sys; sys.exit(float(sys.argv[1]) <= float(sys.argv[2]))' "$2" "$LINK_BOUND"; then
		LATE="$LATE; $1 after ${2:-(never)} s"
	fi
}

# bounded_line WHAT FILE REGEX: the first line of FILE after the cut that
# matches REGEX (waited for, bounded) is a figure
bounded_line() {
	await_line "$2" "$3" $((LINK_BOUND + 10))
	bounded "$1" "$(log_since "$2" "$3")"
}

# in_time: every figure was within the bound
in_time() {
	[ -z "$LATE" ] || fail "later than one --timeout ($LINK_T s) + 2 s after the cut: ${LATE#; }"
}
