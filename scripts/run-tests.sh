#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-or-later
# The whole test suite: installs what it needs, builds, runs every suite in
# a normal build, the unit and emu suites again under AddressSanitizer and
# UndefinedBehaviorSanitizer, and the fuzz targets briefly under clang.
# Ends with one line "N passed, N failed, N skipped"; exits non-zero on any
# failure. Idempotent: build directories are reused.
set -u
cd "$(dirname "$0")/.."
ROOT=$(pwd)

sh scripts/install-deps.sh test qemu testbed || {
	echo "run-tests: installing dependencies failed" >&2
	exit 1
}

NPROC=$(nproc 2>/dev/null || echo 2)
FAILED_STEPS=""

# setup DIR [meson options...]: configure once, reconfigure if options change
setup() {
	dir=$1
	shift
	if [ -f "$dir/build.ninja" ]; then
		meson configure "$dir" "$@" >/dev/null || return 1
	else
		meson setup "$dir" "$@" >/dev/null || return 1
	fi
}

# run_suites DIR [meson test args...]
run_suites() {
	dir=$1
	shift
	rm -f "$dir/meson-logs/testlog.json"
	meson test -C "$dir" --print-errorlogs --num-processes "$NPROC" "$@"
}

echo "== build (debugoptimized)"
# nvfm.pc relocatable: the install suite builds against a DESTDIR copy
if setup build -Dpkgconfig.relocatable=true && ninja -C build; then
	run_suites build --no-suite fuzz
else
	FAILED_STEPS="$FAILED_STEPS --failed build"
fi

echo "== build-asan (address,undefined): unit and emu suites"
export ASAN_OPTIONS="detect_leaks=1:abort_on_error=1:symbolize=1"
export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1"
export LSAN_OPTIONS="suppressions=$ROOT/tests/lsan.supp:print_suppressions=0"
export G_SLICE=always-malloc
if setup build-asan -Db_sanitize=address,undefined -Db_lundef=false \
	-Dbuildtype=debug && ninja -C build-asan; then
	run_suites build-asan --suite unit --suite emu
else
	FAILED_STEPS="$FAILED_STEPS --failed build-asan"
fi
unset ASAN_OPTIONS UBSAN_OPTIONS LSAN_OPTIONS G_SLICE

if command -v clang >/dev/null 2>&1; then
	echo "== build-fuzz (clang, libFuzzer): short runs"
	if CC=clang setup build-fuzz -Dfuzz=true -Db_lundef=false -Dbuildtype=debug &&
		ninja -C build-fuzz; then
		run_suites build-fuzz --suite fuzz
	else
		FAILED_STEPS="$FAILED_STEPS --failed build-fuzz"
	fi
else
	echo "== build-fuzz skipped: clang is not installed"
fi

# shellcheck disable=SC2086
exec python3 scripts/summarize-tests.py build build-asan build-fuzz $FAILED_STEPS
