/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Internals of the kernel VFIO backend (vfio-kernel.c) that the unit tests
 * reach: PCI address parsing and the sysfs lookup that decides between the
 * vfio cdev and the legacy group interface.
 *
 * Paths are resolved under $NVFM_SYSFS_ROOT (for /sys) and $NVFM_DEV_ROOT
 * (for /dev) when those are set, so tests can build fake trees.
 */
#pragma once

#include "engine-private.h"
#include "util/sysfs.h"

#pragma GCC visibility push(hidden)


/*
 * What sysfs says about a PCI device, before anything is opened.
 * @addr: the normalised address (lowercase, with domain)
 * @sysfs_dir: the device's sysfs directory (under NVFM_SYSFS_ROOT)
 * @driver: name of the bound driver, NULL when unbound
 * @iommu_group: the IOMMU group number, -1 when the device has none
 * @cdev_name: "vfioN" from vfio-dev/, NULL without a vfio cdev
 */
typedef struct {
	const char *kind;	/* "PCI device" or "mediated device", for messages */
	char addr[NVFM_UUID_LEN];	/* a PCI address or an mdev UUID */
	char *sysfs_dir;
	char *driver;
	int iommu_group;
	char *cdev_name;
} NvfmVfioLocation;

/* Fills @loc and fails, with the message the user will see, when the
 * device does not exist, is not bound to a VFIO driver, or has neither an
 * IOMMU group nor a vfio cdev. */
gboolean nvfm_vfio_locate(const char *pci_addr, NvfmVfioLocation *loc, GError **error);
void nvfm_vfio_location_clear(NvfmVfioLocation *loc);
/* The same for a mediated device /sys/bus/mdev/devices/@uuid: it fails
 * when the device is missing or has neither a group nor a cdev. */
gboolean nvfm_vfio_locate_mdev(const char *uuid, NvfmVfioLocation *loc, GError **error);

/* Devices of IOMMU group @group that keep it from being viable, as
 * "0000:3b:00.3 (nvme), ..."; NULL when sysfs names none. */
char *nvfm_vfio_group_blockers(int group);

/* Make @dev use @device_fd (taken over) through the "fd" backend without
 * checking it; nvfm_vfio_open_fd() validates first, tests use it as is. */
void nvfm_vfio_adopt_fd(NvfmDevice *dev, int device_fd);

G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC(NvfmVfioLocation, nvfm_vfio_location_clear)

#pragma GCC visibility pop
