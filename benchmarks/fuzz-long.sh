#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-or-later
# Long fuzzing runs: each target, one after another, to N executions.
#
#   benchmarks/fuzz-long.sh [-b BUILD_DIR] [-runs N] [-time SECONDS] TARGET...
#   benchmarks/fuzz-long.sh -list
#
# TARGET is a name from tests/fuzz/meson.build (frame, domxml, ...), or
# "all". BUILD_DIR (default build-fuzz, as scripts/run-tests.sh makes it)
# is configured with clang and -Dfuzz=true when it has no build.ninja yet.
# N defaults to 10000000; -time stops a target earlier (the line then says
# how long N would take at the rate reached).
#
# What a run finds goes to BUILD_DIR/fuzz-long/TARGET/corpus (kept, so the
# next run starts from there; the seed corpus in tests/fuzz/corpus is only
# read), its log to BUILD_DIR/fuzz-long/TARGET/log and any crashing input
# to BUILD_DIR/fuzz-long/TARGET/crash-*. One line per target:
#   TARGET: N execs in S s, R exec/s, cov C ft F, corpus K, peak RSS M MB, crash: none|FILE
# Exits non-zero when a target crashed or could not be run.
set -u
cd "$(dirname "$0")/.."
ROOT=$(pwd)
BUILD=build-fuzz
RUNS=10000000
TIME=0
TARGETS=""

all_targets() {
	sed -n "s/^  '\([a-z0-9-]*\)': files(.*/\1/p" tests/fuzz/meson.build
}

while [ $# -gt 0 ]; do
	case $1 in
	-b) BUILD=${2:?-b needs a directory}; shift ;;
	-runs) RUNS=${2:?-runs needs a count}; shift ;;
	-time) TIME=${2:?-time needs seconds}; shift ;;
	-list) all_targets; exit 0 ;;
	-h|--help) sed -n '2,19s/^# \{0,1\}//p' "$0"; exit 0 ;;
	all) TARGETS="$TARGETS $(all_targets)" ;;
	-*) echo "fuzz-long: unknown option $1" >&2; exit 2 ;;
	*) TARGETS="$TARGETS $1" ;;
	esac
	shift
done
[ -n "$TARGETS" ] || { echo "usage: $0 [-b BUILD_DIR] [-runs N] [-time SECONDS] TARGET... (or -list)" >&2; exit 2; }
case $RUNS$TIME in *[!0-9]*) echo "fuzz-long: -runs and -time take numbers" >&2; exit 2 ;; esac
for t in $TARGETS; do
	all_targets | grep -qx "$t" || { echo "fuzz-long: no fuzz target '$t' (see -list)" >&2; exit 2; }
done

if [ ! -f "$BUILD/build.ninja" ]; then
	command -v clang >/dev/null 2>&1 || { echo "fuzz-long: needs clang" >&2; exit 2; }
	CC=clang meson setup "$BUILD" -Dfuzz=true -Db_lundef=false -Dbuildtype=debug >/dev/null ||
		{ echo "fuzz-long: configuring $BUILD failed" >&2; exit 1; }
fi
for t in $TARGETS; do
	ninja -C "$BUILD" "tests/fuzz/fuzz-$t" >"$BUILD/fuzz-long-build.log" 2>&1 || {
		tail -n 20 "$BUILD/fuzz-long-build.log" >&2
		echo "fuzz-long: building fuzz-$t in $BUILD failed (clang with libFuzzer, -Dfuzz=true?)" >&2
		exit 1
	}
done

# stat NAME LOG: a value of libFuzzer's final statistics
stat() {
	sed -n "s/^stat::$1: *//p" "$2" | tail -n 1
}

STATUS=0
for t in $TARGETS; do
	out=$BUILD/fuzz-long/$t
	mkdir -p "$out/corpus"
	rm -f "$out"/crash-* "$out"/leak-* "$out"/timeout-* "$out"/oom-*
	limit=""
	[ "$TIME" -gt 0 ] && limit="-max_total_time=$TIME"
	start=$(date +%s)
	# shellcheck disable=SC2086
	"$BUILD/tests/fuzz/fuzz-$t" -runs="$RUNS" $limit -timeout=10 -rss_limit_mb=2048 \
		-print_final_stats=1 -artifact_prefix="$out/" "$out/corpus" \
		"$ROOT/tests/fuzz/corpus/$t" >"$out/log" 2>&1
	rc=$?
	secs=$(($(date +%s) - start))
	execs=$(stat number_of_executed_units "$out/log")
	rate=$(stat average_exec_per_sec "$out/log")
	rss=$(stat peak_rss_mb "$out/log")
	# the last status line: "#N DONE cov: C ft: F corp: K/..."
	last=$(grep -E '^#[0-9]+' "$out/log" | tail -n 1)
	cov=$(echo "$last" | sed -n 's/.* cov: \([0-9]*\).*/\1/p')
	ft=$(echo "$last" | sed -n 's/.* ft: \([0-9]*\).*/\1/p')
	corp=$(echo "$last" | sed -n 's/.* corp: \([0-9]*\).*/\1/p')
	crash=$(ls "$out"/crash-* "$out"/leak-* "$out"/timeout-* "$out"/oom-* 2>/dev/null | head -n 1)
	if [ -z "$crash" ] && [ "$rc" -ne 0 ]; then
		crash="exit $rc, see $out/log"
	fi
	line="$t: ${execs:-?} execs in $secs s, ${rate:-?} exec/s, cov ${cov:-?} ft ${ft:-?}, corpus ${corp:-?}, peak RSS ${rss:-?} MB, crash: ${crash:-none}"
	if [ -n "$execs" ] && [ -n "$rate" ] && [ "$rate" -gt 0 ] && [ "$execs" -lt "$RUNS" ] &&
		[ -z "$crash" ]; then
		line="$line; stopped early: $RUNS would take ~$((RUNS / rate)) s at this rate"
	fi
	echo "$line"
	[ -z "$crash" ] || STATUS=1
done
exit $STATUS
