#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# Development helper (not run by the testbed): regenerates the patch from a
# pristine tree and an edited one. mkpatch.sh PRISTINE EDITED > 0001-....patch
set -euo pipefail
a=$1 b=$2
echo "NVMe 2.1 host-managed live migration for the secondary controllers (SR-IOV"
echo "VFs) of QEMU's emulated NVMe PF: Migration Send/Receive, CNS 20h, HMLMS."
echo "See docs/nvme-lm.md of nvme-vf-migrate. Made with mkpatch.sh (diff -u)."
echo
for f in include/block/nvme.h hw/nvme/nvme.h hw/nvme/ctrl.c hw/nvme/trace-events; do
	diff -u --label "a/$f" --label "b/$f" "$a/$f" "$b/$f" || [ $? -eq 1 ]
done
