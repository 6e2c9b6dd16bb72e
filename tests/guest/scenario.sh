#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-or-later
# Runs inside the test guest (busybox sh, root): provisioning against
# QEMU's NVMe SR-IOV PF through the real kernel path (libnvme admin
# commands, sysfs, driver_override, VFIO). Prints TAP lines.
T=nvme-vf-migrate
n=0

ok() {
	n=$((n + 1))
	echo "ok $n - $*"
}

notok() {
	n=$((n + 1))
	echo "not ok $n - $*"
}

# run CMD...: output in $out, exit code in $rc, both echoed as comments
run() {
	out=$("$@" 2>&1)
	rc=$?
	echo "# \$ $* (exit $rc)"
	echo "$out" | sed 's/^/#   /'
}

# check DESC TEST...: one TAP line for a shell test
check() {
	desc=$1
	shift
	if "$@"; then ok "$desc"; else notok "$desc"; fi
}

# has TEXT: the last command's output contains TEXT
has() {
	echo "$out" | grep -q -- "$1"
}

# rc_has CODE TEXT: the last command exited CODE and said TEXT
rc_has() {
	[ "$rc" -eq "$1" ] && has "$2"
}

# value of "KEY" in the JSON on stdin (first one), quotes stripped
jval() {
	sed -n "s/^ *\"$1\": \"\{0,1\}\([^\",]*\)\"\{0,1\},\{0,1\}$/\1/p" | head -n 1
}

# KEY of the "vq" or "vi" pool object in the JSON on stdin
pool() {
	awk -v blk="\"$1\": {" -v key="\"$2\":" \
		'index($0, blk) { f = 1 } f && index($0, key) { gsub(/[^0-9]/, ""); print; exit }'
}

sysval() {
	cat "/sys/bus/pci/devices/$1/$2" 2>/dev/null
}

driver_of() {
	d=$(readlink "/sys/bus/pci/devices/$1/driver" 2>/dev/null) && basename "$d"
}

# the PF's pool and SR-IOV state as the tool and sysfs report them
pool_is_full() {
	run $T vf list --pf "$PF" --json
	[ "$rc" -eq 0 ] &&
		[ "$(echo "$out" | pool vq free)" = "$(echo "$out" | pool vq total)" ] &&
		[ "$(echo "$out" | pool vi free)" = "$(echo "$out" | pool vi total)" ] &&
		[ "$(echo "$out" | grep -c '"state": "offline"')" -eq 2 ] &&
		[ "$(echo "$out" | grep -c '"nvq": 0,')" -eq 2 ] &&
		[ "$(sysval "$PF" sriov_numvfs)" = 0 ]
}

PF=
for d in /sys/bus/pci/devices/*; do
	if [ "$(cat "$d/class")" = 0x010802 ] && [ -e "$d/sriov_totalvfs" ]; then
		PF=$(basename "$d")
		break
	fi
done
echo "# PF $PF, kernel $(uname -r)"
[ -n "$PF" ] || { notok "QEMU's NVMe PF is visible"; exit 1; }
ok "QEMU's NVMe PF is visible at $PF"
VF0=$(echo "$PF" | sed 's/\.0$/.1/')
VF1=$(echo "$PF" | sed 's/\.0$/.2/')

# ---- list ----------------------------------------------------------------
run $T vf list --pf "$PF" --json
check "list: 2 secondary controllers, offline, VFs disabled" \
	[ "$rc" -eq 0 -a "$(echo "$out" | grep -c '"state": "offline"')" -eq 2 \
	-a "$(echo "$out" | jval num_vfs)" = 0 -a "$(echo "$out" | jval total_vfs)" = 2 ]
check "list: the flexible pool is full (8 VQ, 4 VI; 4 VQ and 2 VI per VF)" \
	[ "$(echo "$out" | pool vq free)" = 8 -a "$(echo "$out" | pool vi free)" = 4 \
	-a "$(echo "$out" | pool vq max_per_vf)" = 4 -a "$(echo "$out" | pool vi max_per_vf)" = 2 ]
check "list: the address a disabled VF will get comes from the SR-IOV capability" \
	[ "$(echo "$out" | jval address)" = "$VF0" ]
run $T vf list
check "list: the human table names both VFs" \
	[ "$rc" -eq 0 -a "$(echo "$out" | grep -c offline)" -eq 2 ]

# ---- provision two VFs -----------------------------------------------------
run $T vf provision "$PF" --vq 3 --vi 1 --json
check "provision VF0 with 3 VQ, 1 VI: online, bound to the default driver vfio-pci" \
	[ "$rc" -eq 0 -a "$(echo "$out" | jval address)" = "$VF0" \
	-a "$(echo "$out" | jval state)" = online -a "$(echo "$out" | jval nvq)" = 3 \
	-a "$(echo "$out" | jval nvi)" = 1 -a "$(driver_of "$VF0")" = vfio-pci ]
check "provision enabled the VFs with autoprobe off" \
	[ "$(sysval "$PF" sriov_numvfs)" = 2 -a "$(sysval "$PF" sriov_drivers_autoprobe)" = 0 ]

run $T vf provision "$PF" --driver nvme --json
check "provision VF1 with default amounts (4 VQ, 2 VI) for the nvme driver" \
	[ "$rc" -eq 0 -a "$(echo "$out" | jval address)" = "$VF1" \
	-a "$(echo "$out" | jval nvq)" = 4 -a "$(echo "$out" | jval nvi)" = 2 \
	-a "$(driver_of "$VF1")" = nvme ]
live=
i=0
while [ $i -lt 100 ]; do
	st=$(cat /sys/bus/pci/devices/"$VF1"/nvme/nvme*/state 2>/dev/null)
	[ "$st" = live ] && { live=1; break; }
	sleep 0.1
	i=$((i + 1))
done
check "the nvme driver brings VF1's secondary controller up (state $st)" [ -n "$live" ]

run $T vf list --pf "$PF" --json
check "list: both online, VQ 1 and VI 1 left in the pool" \
	[ "$(echo "$out" | grep -c '"state": "online"')" -eq 2 \
	-a "$(echo "$out" | pool vq free)" = 1 -a "$(echo "$out" | pool vi free)" = 1 ]
run $T vf provision "$PF"
check "a third provisioning finds no free VF (exit 5)" \
	rc_has 5 "no free VF"

# ---- bind and the VFIO engine ------------------------------------------------
run $T vf bind "$VF1" vfio-pci
check "bind VF1 to vfio-pci through driver_override" \
	[ "$rc" -eq 0 -a "$(driver_of "$VF1")" = vfio-pci -a "$(sysval "$VF1" driver_override)" = vfio-pci ]
run $T vf state "vfio:$VF1"
check "the VFIO engine opens VF1: plain vfio-pci has no migration support (exit 3)" \
	rc_has 3 "no migration support"

# ---- in use ----------------------------------------------------------------------
group=$(basename "$(readlink /sys/bus/pci/devices/"$VF0"/iommu_group)")
exec 7<>"/dev/vfio/$group"
run $T vf list --pf "$PF"
check "list names the holder of VF0's VFIO group" has "pid $$ (sh)"
run $T vf release "$VF0"
check "releasing a VF in use fails with the holder named (exit 5)" \
	rc_has 5 "in use by pid $$"
run $T vf bind "$VF0" nvme
check "rebinding a VF in use fails (exit 5)" [ "$rc" -eq 5 -a "$(driver_of "$VF0")" = vfio-pci ]
exec 7<&-

# ---- a destination like the source -------------------------------------------------
run $T vf release "$VF1"
check "release VF1: offline, no resources, no driver; VFs stay for VF0" \
	[ "$rc" -eq 0 -a -z "$(driver_of "$VF1")" -a "$(sysval "$PF" sriov_numvfs)" = 2 ]
run $T vf provision "$PF" --like "$VF0" --json
check "provision --like VF0 copies its 3 VQ and 1 VI" \
	[ "$rc" -eq 0 -a "$(echo "$out" | jval nvq)" = 3 -a "$(echo "$out" | jval nvi)" = 1 ]
run $T vf release "$VF1"
run $T vf release "$VF0"
check "release both: every flexible resource is back, VFs disabled" pool_is_full

# ---- errors -----------------------------------------------------------------------
run $T vf provision "$PF" --vq 9
check "too many VQ: refused before touching the device (exit 2)" \
	rc_has 2 "at most 4 per secondary controller"
run $T vf provision "$PF" --vi 3
check "too many VI: refused (exit 2)" \
	rc_has 2 "at most 2 per secondary controller"
out2=$(NVFM_PF_NO_PRECHECK=1 $T vf provision "$PF" --vq 9 2>&1)
rc=$?
echo "# NVFM_PF_NO_PRECHECK=1: $out2 (exit $rc)"
out=$out2
check "left to the device, it answers 0x4121 and the message names it" \
	rc_has 1 "0x4121 (Invalid Number of Controller Resources)"
check "after the refused command the pool is full again" pool_is_full
run $T vf provision "$PF" --require-migration
check "--require-migration on plain vfio-pci fails with 'no migration support' (exit 3)" \
	rc_has 3 "no migration support"
check "... and undoes the provisioning" pool_is_full
run $T vf provision 0000:77:00.0
check "unknown PF (exit 4)" rc_has 4 "unknown PF"
run $T vf provision emu:nope
check "unknown emulated PF (exit 4)" rc_has 4 "unknown PF"
run $T vf provision 0000:00:00.0
check "a PCI function that is not NVMe (exit 2)" \
	rc_has 2 "not an NVMe controller"
run $T vf release "$VF0"
check "releasing a VF that does not exist (exit 4)" [ "$rc" -eq 4 ]

# ---- two provisionings at once ----------------------------------------------------
$T vf provision "$PF" -q >/tmp/p1 2>&1 &
p1=$!
$T vf provision "$PF" -q >/tmp/p2 2>&1 &
p2=$!
wait $p1
r1=$?
wait $p2
r2=$?
sed 's/^/#   p1: /' /tmp/p1
sed 's/^/#   p2: /' /tmp/p2
check "two provisionings at once, serialized by the PF lock, both succeed" \
	[ $r1 -eq 0 -a $r2 -eq 0 -a "$(driver_of "$VF0")" = vfio-pci -a "$(driver_of "$VF1")" = vfio-pci ]
run $T vf release "$VF0"
run $T vf release "$VF1"
check "release both again: every flexible resource back in the pool" pool_is_full

echo "1..$n"
