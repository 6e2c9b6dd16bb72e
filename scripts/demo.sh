#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-or-later
# The demo: two hosts on this machine (network namespaces joined by veth),
# an agent on each, emulated NVMe PFs with SR-IOV, a real QEMU VM on host A
# whose emulated VF holds NVFM_DEMO_SIZE of state, and
# "nvme-vf-migrate migrate" moving it to host B in direct mode. Prints the
# timeline and the downtime, and proves that B's freshly provisioned VF
# holds exactly A's state, that A's VF was released and that the guest
# runs on B. This VM does not hold its VF (this machine has no VFIO): the
# migration where a guest drives a real NVMe VF and keeps doing verified
# I/O runs in the testbed, which the demo names at the end (with the
# figures of its last run, if there was one). Keeps the migration's report
# and its picture in build/demo-report.json and .svg. Installs what it
# needs; idempotent (reuses the build).
set -eu
cd "$(dirname "$0")/.."

SIZE=${NVFM_DEMO_SIZE:-256M}

if [ "$(id -u)" -ne 0 ]; then
	echo "demo: needs root (network namespaces); run it with sudo" >&2
	exit 2
fi
sh scripts/install-deps.sh build qemu
[ -f build/build.ninja ] || meson setup build >/dev/null
ninja -C build >/dev/null
ninja -C build tests/qmp/tiny-guest.elf >/dev/null

TOOL=${NVFM_CLI:-$PWD/build/src/cli/nvme-vf-migrate}
GUEST=${NVFM_TINY_GUEST:-$PWD/build/tests/qmp/tiny-guest.elf}
WORK=$(mktemp -d "${TMPDIR:-/tmp}/nvfm-demo.XXXXXX")
. scripts/twohosts.sh
trap 'th_cleanup; rm -rf "$WORK"' EXIT
trap 'exit 1' INT TERM

jget() { python3 -c 'import json,sys
v = json.load(open(sys.argv[1]))
for k in sys.argv[2].split("."): v = v[k]
print(v)' "$1" "$2"; }

echo "== host A ($IPA) and host B ($IPB): two network namespaces joined by veth"
th_setup || { echo "demo: cannot create the namespaces" >&2; exit 1; }
on_a "$TOOL" -q emu pf-create pfa --vfs 2 --size "$SIZE"
on_b "$TOOL" -q emu pf-create pfb --vfs 2 --size "$SIZE"
th_agent a
th_agent b
echo "agents listening on $IPA:$AGENT_PORT and $IPB:$AGENT_PORT"
echo
echo "== host A: provision a VF for the VM ($SIZE of device state)"
on_a "$TOOL" --json vf provision emu:pfa >"$WORK/prov.json"
VF=$(jget "$WORK/prov.json" device)
echo "VF $VF: $(jget "$WORK/prov.json" nvq) VQ, $(jget "$WORK/prov.json" nvi) VI resources"
echo
echo "== host A runs the VM; host B waits for it (QEMU -incoming defer)"
th_qemu a
th_qemu b -incoming defer
sleep 1
C1=$(th_counter a)
echo "guest counter on A: $C1"
echo
MIG="$VF --to $IPB:$AGENT_PORT --insecure --dest-pf emu:pfb --vm $WORK/qmp-a.sock
 --dest-vm $WORK/qmp-b.sock --migrate-uri tcp:$IPB:$MIG_PORT"
echo "== nvme-vf-migrate check (preflight on both hosts)"
# shellcheck disable=SC2086
on_a "$TOOL" check $MIG
echo
echo "== nvme-vf-migrate migrate --device-state direct --precopy-rounds 3"
# shellcheck disable=SC2086
# the report and its picture (drawn beside it) outlive the demo's temporary tree
REPORT=$PWD/build/demo-report.json
on_a "$TOOL" migrate $MIG --precopy-rounds 3 --report "$REPORT"
echo "the migration's report: build/demo-report.json; its picture: build/demo-report.svg"
echo
echo "== the proof"
SRC=$(jget "$REPORT" source_state_sha256)
DVF=$(jget "$REPORT" destination_vf)
DST=$(on_b "$TOOL" emu digest "${DVF#emu:}" | sed -n 's/^sha256: //p')
echo "A's VF $VF at stop-copy  sha256 $SRC"
echo "B's VF $DVF (provisioned) sha256 $DST"
[ "$SRC" = "$DST" ] || { echo "MISMATCH: B's VF does not hold A's state" >&2; exit 1; }
echo "VERIFIED: B's freshly provisioned VF holds exactly A's state"
# A's pools and its VF's row, under the header of vf list's VF table
on_a "$TOOL" vf list --pf emu:pfa | grep -E "^(vq|vi)\.free: |^  ADDRESS |^  $VF " || true
if on_a "$TOOL" --json vf list --pf emu:pfa | grep -q '"state": "online"'; then
	echo "A's VF was not released" >&2
	exit 1
fi
echo "RELEASED: A's VF is offline, its resources back with PF emu:pfa"
kill -0 "$QEMU_A" 2>/dev/null && { echo "A's QEMU still runs" >&2; exit 1; }
C2=$(th_counter b)
sleep 0.5
C3=$(th_counter b)
echo "guest counter on B: $C2 -> $C3 (status $(th_status b)); A's QEMU has quit"
[ "$C2" != "$C3" ] || { echo "the guest does not run on B" >&2; exit 1; }
echo "RUNNING: the guest kept running on B"
echo
echo "== what this demo does not show"
echo "This VM does not hold its VF: the VF is an emulated device beside it (this"
echo "machine has no VFIO), so no guest I/O crosses the move here. The migration in"
echo "which a nested guest drives a real NVMe VF (NVMe 2.1 Migration Send/Receive"
echo "through the PF, QEMU's own VFIO migration) and keeps doing verified I/O runs"
echo "in the testbed:"
echo "    tests/testbed/run lm-migrate-qemu lm-virsh-migrate lm-migrate-refused"
LAST=tests/testbed/cache/runs/lm-migrate-qemu
if grep -aqs '^TB-RESULT host-b PASS' "$LAST/result-b.log"; then
	echo "Its last run here: the guest's I/O counters on A before the pause and on B after:"
	grep -ahs "A's last reading\|B after the move" "$LAST"/console-a.log "$LAST"/console-b.log |
		sed 's/^\[host-\([ab]\) [0-9]*s\] /  \1: /'
	grep -ahs '^TB-METRIC ' "$LAST"/result-*.log | cut -d' ' -f2 | tr -d '\r' | tr '\n' ' ' |
		sed 's/^/  /'
	echo
fi
