#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# PID 1 of a testbed host. The initramfs mounted this run's payload at /tb and
# switched to the cached root; this script sets the host up, runs its part of
# the scenario named on the kernel command line and reports
# "TB-RESULT host-X PASS|FAIL reason" then "TB-END host-X" on the result
# channel (the second serial port, see tb_result in lib.sh), which
# tests/testbed/run reads. A host alone powers off then; a host with a peer
# keeps serving its published values until the runner, having every
# host's verdict, stops both: so no host can vanish while its peer still
# needs something from it, and no verdict travels through the peer.
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
mkdir -p /run/tb/pub

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

# The result channel, written by subshells: PID 1 is a session leader, and
# opening a tty would make it PID 1's controlling terminal.
result() {
	echo "$1"
	[ -c /dev/ttyS1 ] && (printf '%s\n' "$1" >/dev/ttyS1)
	return 0
}

poweroff_now() {
	sync
	busybox poweroff -f
	sleep 5
	echo o >/proc/sysrq-trigger
}

finish() {
	result "TB-RESULT host-$TB_ROLE $1"
	result "TB-END host-$TB_ROLE"
	if [ -s /run/tb/link ]; then
		# bounded even if the runner is gone: past this it has given up
		echo "TB: host-$TB_ROLE done; serving the peer until the runner stops this host"
		while [ "$(cut -d. -f1 /proc/uptime)" -lt $((TB_TIMEOUT + 150)) ]; do
			sleep 5
		done
	fi
	poweroff_now
}

if [ -z "$TB_ROLE" ] || [ ! -f "/tb/scenarios/$TB_SCENARIO.sh" ]; then
	finish "FAIL no such role or scenario: role='$TB_ROLE' scenario='$TB_SCENARIO'"
fi

result "TB: host-$TB_ROLE up after $(cut -d' ' -f1 /proc/uptime)s, scenario $TB_SCENARIO"
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
# what the value service tells a waiting peer from now on
if [ ! -s /run/tb/failed ]; then
	[ $rc -eq 137 ] && echo "timed out after ${TB_TIMEOUT}s inside the host" >/run/tb/failed ||
		echo "exit status $rc" >/run/tb/failed
fi
# the logs the helpers and scenarios keep there (nested QEMU, agent, ...)
for f in /run/tb/*.log; do
	[ -s "$f" ] || continue
	echo "TB: ---- $f (last 40 lines) ----"
	tail -n 40 "$f"
done
echo "TB: ---- dmesg (last 60 lines) ----"
dmesg | tail -n 60
finish "FAIL $(head -n 1 /run/tb/failed)"
