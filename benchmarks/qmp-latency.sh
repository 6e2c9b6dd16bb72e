#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-or-later
# QMP latency against real QEMU: query-status round trip and stop -> STOP.
#   benchmarks/qmp-latency.sh [BUILD_DIR] [--rounds N] [--pauses N]
# Needs qemu-system-x86_64 (scripts/install-deps.sh qemu) and a configured
# build directory (default: build).
set -eu
build=build
case "${1:-}" in
-*|"") ;;
*) build=$1; shift ;;
esac
ninja -C "$build" tests/qmp/qmp-latency tests/qmp/tiny-guest.elf >/dev/null
NVFM_TINY_GUEST="$(cd "$build" && pwd)/tests/qmp/tiny-guest.elf" \
	exec "$build/tests/qmp/qmp-latency" "$@"
