#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-or-later
# The graded selftest on emulated VFs: each deviation knob gives its case the
# exact grade and verdict (a recommendation or robustness finding warns and
# exits 0, a requirement not met fails with exit 11), and a clean device
# passes everything with no warning. One case per invocation, named by $1.
set -u
CASE=$1
NAME=selftest-grades
. "$(dirname "$0")/cli-lib.sh"

# verdict_is CASE GRADE VERDICT: in the --json output in $WORK/out
verdict_is() {
	python3 - "$WORK/out" "$1" "$2" "$3" <<'PY' || fail "$1: not $2/$3: $(cat "$WORK/out")"
import json, sys
out, name, grade, verdict = sys.argv[1:]
j = json.load(open(out))
c = [c for c in j["cases"] if c["name"] == name]
sys.exit(0 if c and c[0]["grade"] == grade and c[0]["verdict"] == verdict and
         (verdict in ("pass",) or c[0].get("detail")) else 1)
PY
}

# counts_are PASSED FAILED WARNINGS SKIPPED: the --json top level
counts_are() {
	python3 - "$WORK/out" "$@" <<'PY' || fail "counts are not $*: $(cat "$WORK/out")"
import json, sys
j = json.load(open(sys.argv[1]))
want = [int(x) for x in sys.argv[2:]]
sys.exit(0 if [j["passed"], j["failed"], j["warnings"], j["skipped"]] == want else 1)
PY
}

# graded KNOB VALUE CASE GRADE VERDICT RC: the knob gives CASE that verdict
graded() {
	ok "$TOOL" emu create f --size 2M
	ok "$TOOL" emu fault f "$1" "$2"
	"$TOOL" --json selftest emu:f --only "$3" --timeout 2 >"$WORK/out" 2>"$WORK/err"
	rc=$?
	[ $rc -eq "$6" ] || fail "knob $1: selftest exited $rc, expected $6: $(cat "$WORK/out" "$WORK/err")"
	verdict_is "$3" "$4" "$5"
	# without the knob the same case passes
	ok "$TOOL" emu fault f --clear
	ok "$TOOL" --json selftest emu:f --only "$3"
	verdict_is "$3" "$4" pass
}

case "$CASE" in
clean)
	# every case but the opt-in one and the DMA logging ones (a device
	# without it) passes, no warning; the table says so
	ok "$TOOL" emu create a --size 2M
	ok "$TOOL" --json selftest emu:a
	n=$(python3 -c 'import json,sys; print(len(json.load(open(sys.argv[1]))["cases"]))' "$WORK/out")
	counts_are $((n - 3)) 0 0 3
	verdict_is forbidden-arcs-driver requirement skip
	verdict_is dma-logging requirement skip
	verdict_is dma-logging-misuse robustness skip
	verdict_is corrupt-state-refused robustness pass
	verdict_is state-after-close recommendation pass
	ok "$TOOL" selftest emu:a --only 'reset-*'
	grep -q "^  NAME  *GRADE  *VERDICT  *SECONDS  *DETAIL" "$WORK/out" ||
		fail "no GRADE column: $(cat "$WORK/out")"
	grep -q "^  reset-mid-save  *requirement  *pass" "$WORK/out" || fail "table: $(cat "$WORK/out")"
	[ "$(grep -E '^(passed|failed|warnings|skipped): ' "$WORK/out" | tr '\n' ' ')" = \
		"passed: 3 failed: 0 warnings: 0 skipped: 0 " ] || fail "the counts: $(cat "$WORK/out")"
	;;
forbidden-arcs)
	ok "$TOOL" emu create a --size 2M
	ok "$TOOL" --json selftest emu:a --only forbidden-arcs-driver --forbidden-arcs
	verdict_is forbidden-arcs-driver requirement pass
	counts_are 1 0 0 0
	;;
dma-logging)
	# a device with DMA logging passes both cases; the running device's
	# writes (dma-writes) are what REPORT finds
	ok "$TOOL" emu create f --size 2M
	ok "$TOOL" emu fault f dma-logging 1
	ok "$TOOL" emu fault f dma-writes 5
	ok "$TOOL" --json selftest emu:f --only 'dma-*'
	verdict_is dma-logging requirement pass
	verdict_is dma-logging-misuse robustness pass
	counts_are 2 0 0 0
	python3 - "$WORK/out" <<'PY' || fail "dirty pages: $(cat "$WORK/out")"
import json, sys
c = [c for c in json.load(open(sys.argv[1]))["cases"] if c["name"] == "dma-logging"][0]
sys.exit(0 if "page size 4096, 5 of 16384 pages reported dirty" in c["detail"] else 1)
PY
	# a driver that keeps no logging state: REPORT after STOP fails the
	# requirement, REPORT before START and a second START warn
	ok "$TOOL" emu fault f dma-lax 1
	"$TOOL" --json selftest emu:f --only 'dma-*' >"$WORK/out" 2>"$WORK/err"
	[ $? -eq 11 ] || fail "dma-lax: selftest did not exit 11: $(cat "$WORK/out" "$WORK/err")"
	verdict_is dma-logging requirement fail
	verdict_is dma-logging-misuse robustness warn
	counts_are 0 1 1 0
	;;
precopy-eof-zero)
	graded precopy-eof-zero 1 precopy-end-enomsg recommendation warn 0
	# the same device still saves and loads: read() 0 is a pause there
	ok "$TOOL" emu fault f precopy-eof-zero 1
	ok "$TOOL" --json selftest emu:f --only 'precopy-*'
	verdict_is precopy-save-load requirement pass
	counts_are 2 0 1 0
	;;
accept-corrupt)
	graded accept-corrupt 1 corrupt-state-refused robustness warn 0
	;;
size-lie)
	graded size-lie 100 mig-data-size recommendation warn 0
	graded size-lie 1000000000 mig-data-size recommendation warn 0
	;;
keep-state)
	graded keep-state 1 state-after-close recommendation warn 0
	;;
no-reset)
	# a reset that leaves the session alive breaks a requirement
	graded no-reset 1 reset-mid-save requirement fail 11
	graded no-reset 1 reset-mid-resume requirement fail 11
	;;
corrupt-fatal)
	# accepting the flipped byte and then failing to run is forbidden:
	# the robustness case fails outright
	ok "$TOOL" emu create f --size 2M
	ok "$TOOL" emu fault f accept-corrupt 1
	ok "$TOOL" emu fault f fail-arc 'STOP>RUNNING_P2P'
	"$TOOL" --json selftest emu:f --only corrupt-state-refused >"$WORK/out" 2>"$WORK/err"
	rc=$?
	[ $rc -eq 11 ] || fail "selftest exited $rc, expected 11: $(cat "$WORK/out" "$WORK/err")"
	verdict_is corrupt-state-refused robustness fail
	grep -q "could not reach RUNNING" "$WORK/out" || fail "no evidence: $(cat "$WORK/out")"
	counts_are 0 1 0 0
	;;
hang)
	# a driver stuck in an ioctl: the case is abandoned as hung, the rest
	# is not run, and the suite returns (the stall outlasts the test)
	ok "$TOOL" emu create f --size 2M
	ok "$TOOL" emu fault f stall-ms 600000
	"$TOOL" --json selftest emu:f --only 'reset-*' --timeout 1 >"$WORK/out" 2>"$WORK/err"
	rc=$?
	[ $rc -eq 11 ] || fail "selftest exited $rc, expected 11: $(cat "$WORK/out" "$WORK/err")"
	verdict_is reset-to-running requirement fail
	grep -q '"detail": "hung: ' "$WORK/out" || fail "not reported as hung: $(cat "$WORK/out")"
	verdict_is reset-mid-save requirement skip
	counts_are 0 1 0 2
	;;
*)
	fail "unknown case $CASE"
	;;
esac
exit 0
