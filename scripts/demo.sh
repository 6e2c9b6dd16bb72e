#!/bin/sh
# The demo: installs what it needs, builds, and moves the state of an
# emulated NVMe VF holding a few hundred MiB into a second emulated VF in
# direct mode (save -> load), proving the destination holds exactly the
# source's state. Idempotent: reuses the build, recreates the devices.
set -eu
cd "$(dirname "$0")/.."

SIZE=${NVFM_DEMO_SIZE:-256M}

sh scripts/install-deps.sh build
[ -f build/build.ninja ] || meson setup build >/dev/null
ninja -C build >/dev/null

TOOL=build/src/cli/nvme-vf-migrate
WORK=$(mktemp -d "${TMPDIR:-/tmp}/nvfm-demo.XXXXXX")
trap 'rm -rf "$WORK"' EXIT INT TERM
export NVFM_EMU_DIR="$WORK/emu"

echo "== two emulated NVMe VFs with $SIZE of internal state each"
$TOOL emu create src --size "$SIZE" --seed 42
$TOOL emu create dst --size "$SIZE" --seed 7
$TOOL vf state emu:src
echo
echo "== the guest runs and dirties 32 MiB of the source's state"
$TOOL emu dirty src 32M
SRC=$($TOOL emu digest src | cut -d' ' -f1)
DST=$($TOOL emu digest dst | cut -d' ' -f1)
echo "source      sha256 $SRC"
echo "destination sha256 $DST (before: a different state)"
echo
echo "== save: PRE_COPY rounds while running, then STOP_COPY"
$TOOL save emu:src -o "$WORK/state.nvfm" --precopy-rounds 2
ls -l "$WORK/state.nvfm" | awk '{print "file: " $5 " bytes"}'
echo
echo "== load: RESUMING, write, RESUMING -> STOP (the driver validates and commits)"
$TOOL load emu:dst -i "$WORK/state.nvfm"
echo
SRC=$($TOOL emu digest src | cut -d' ' -f1)
DST=$($TOOL emu digest dst | cut -d' ' -f1)
echo "source      sha256 $SRC"
echo "destination sha256 $DST"
if [ "$SRC" = "$DST" ]; then
	echo "VERIFIED: the destination VF holds exactly the source's state"
else
	echo "MISMATCH: the destination VF does not hold the source's state" >&2
	exit 1
fi
