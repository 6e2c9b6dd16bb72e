#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-or-later
# /init of the test guest: mount the kernel's filesystems, load the NVMe
# and VFIO modules, run /scenario.sh, power off. Never returns: a PID 1
# that exits panics the kernel, which (panic=-1, -no-reboot) ends QEMU.
/bin/busybox --install -s /bin
export PATH=/usr/sbin:/usr/bin:/sbin:/bin
export HOME=/ TMPDIR=/tmp
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
mount -t tmpfs tmpfs /run
mount -t tmpfs tmpfs /tmp
echo "# /init at $(cut -d" " -f1 /proc/uptime) s"

modprobe -a nvme vfio-pci vfio_iommu_type1 || echo "# modprobe failed"

# the PF's controller device appears once the nvme driver probed it
i=0
while [ ! -e /dev/nvme0 ] && [ $i -lt 100 ]; do
	sleep 0.1
	i=$((i + 1))
done

sh /scenario.sh
echo "NVFM-GUEST-END rc=$?"
sync
poweroff -f
sleep 10
