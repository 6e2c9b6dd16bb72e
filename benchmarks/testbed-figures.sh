#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-or-later
# Runs testbed scenarios (tests/testbed/run) RUNS times each and prints, for
# every passed run, the figures the scenario published: one line
# "SCENARIO KEY=VALUE ...". Shared by benchmarks/multifd.sh and
# benchmarks/io-blackout.sh.
#
#   benchmarks/testbed-figures.sh BUILD_DIR RUNS SCENARIO...
#
# TB_CACHE (the testbed's image and QEMU) is passed through. A failed run
# prints "SCENARIO FAILED" and the script exits 1 at the end.
set -u
here=$(cd "$(dirname "$0")" && pwd)
src=$(dirname "$here")
build=$1
runs=$2
shift 2
cli=$build/src/cli/nvme-vf-migrate
[ -x "$cli" ] || { echo "testbed-figures: build first ($cli)" >&2; exit 2; }
rc=0
i=1
while [ "$i" -le "$runs" ]; do
	for s in "$@"; do
		out=$(NVFM_CLI=$cli "$src/tests/testbed/run" "$s" 2>&1)
		case $? in
		0) echo "$out" | sed -n "s/^testbed: PASS $s in [0-9.]*s /$s /p" ;;
		77) echo "$out" | grep 'SKIP' >&2; exit 77 ;;
		*) echo "$s FAILED"; rc=1 ;;
		esac
	done
	i=$((i + 1))
done
exit $rc
