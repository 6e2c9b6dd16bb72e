#!/bin/bash
# PID 1 of a testbed host. The initramfs mounted this run's payload at /tb and
# switched to the cached root; this script sets the host up, runs its part of
# the scenario named on the kernel command line and powers off. The verdict
# goes to the console as "TB-RESULT host-X PASS|FAIL reason", which
# tests/testbed/run reads from the console log.
export PATH=/tb/bin:/usr/sbin:/usr/bin:/sbin:/bin
export LC_ALL=C.UTF-8 HOME=/root TERM=dumb

mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t tmpfs run /run
mount -t tmpfs tmp /tmp
mkdir -p /dev/pts /dev/shm
mount -t devpts devpts /dev/pts
mount -t tmpfs shm /dev/shm
mount -t cgroup2 cgroup2 /sys/fs/cgroup 2>/dev/null
mount -t debugfs debugfs /sys/kernel/debug 2>/dev/null

TB_ROLE=
TB_SCENARIO=
TB_TIMEOUT=600
for arg in $(cat /proc/cmdline); do
	case "$arg" in
	tb.role=*) TB_ROLE=${arg#tb.role=} ;;
	tb.scenario=*) TB_SCENARIO=${arg#tb.scenario=} ;;
	tb.timeout=*) TB_TIMEOUT=${arg#tb.timeout=} ;;
	esac
done
export TB_ROLE TB_SCENARIO TB_TIMEOUT
hostname "host-$TB_ROLE"
ip link set lo up

finish() {
	echo "TB-RESULT host-$TB_ROLE $1"
	sync
	busybox poweroff -f
	sleep 5
	echo o >/proc/sysrq-trigger
}

if [ -z "$TB_ROLE" ] || [ ! -f "/tb/scenarios/$TB_SCENARIO.sh" ]; then
	finish "FAIL no such role or scenario: role='$TB_ROLE' scenario='$TB_SCENARIO'"
fi

echo "TB: host-$TB_ROLE up after $(cut -d' ' -f1 /proc/uptime)s, scenario $TB_SCENARIO"
# The scenario runs in its own bash so a failing step cannot take PID 1 down;
# the timeout keeps a stuck step from outliving the outer runner's patience.
timeout -s KILL "$TB_TIMEOUT" bash -c '
	set -u
	. /tb/lib.sh
	. "/tb/scenarios/$TB_SCENARIO.sh"
	tb_setup
	"host_$TB_ROLE"
' 2>&1
rc=$?
if [ $rc -eq 0 ]; then
	finish PASS
fi
if [ -s /run/tb/nested.log ]; then
	echo "TB: ---- nested QEMU log ----"
	tail -n 30 /run/tb/nested.log
fi
echo "TB: ---- dmesg (last 60 lines) ----"
dmesg | tail -n 60
[ $rc -eq 137 ] && finish "FAIL timed out after ${TB_TIMEOUT}s inside the host"
finish "FAIL exit status $rc"
