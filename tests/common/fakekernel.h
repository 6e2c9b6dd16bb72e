/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The fake kernel the C tests run the library against: a sysfs and /dev
 * tree in a temporary directory (NVFM_SYSFS_ROOT, NVFM_DEV_ROOT) that
 * reacts to writes the way the kernel does (sriov_numvfs makes and removes
 * VFs, driver bind/unbind/driver_override/drivers_probe move the driver
 * link), and stand-ins for ioctl(2) that play the VFIO and iommufd uAPI on
 * the fake nodes and check NVMe admin commands on a fake controller node
 * against the ones a test declared. Linking this library replaces libc's
 * write() and ioctl() for the whole test program; both pass everything
 * outside the fixture straight to the kernel.
 */
#pragma once

#include <glib.h>

/* ---- the tree ---- */

/* Makes a fresh tree and points the library at it; returns its root. */
const char *fk_init(void);
/* Removes the tree and forgets it. */
void fk_cleanup(void);
const char *fk_root(void);

void fk_mkdir(const char *rel);
void fk_put(const char *rel, const char *text);
void fk_put_bin(const char *rel, const void *data, gsize len);
/* A symbolic link at @rel pointing at @target (kept as given: relative or
 * absolute inside the tree with fk_path()). */
void fk_link(const char *rel, const char *target);
char *fk_read(const char *rel);
/* The absolute path of @rel inside the tree. */
char *fk_path(const char *rel);
gboolean fk_exists(const char *rel);

/*
 * A PCI function as sysfs shows it: /sys/devices/pci0000:00/ADDR with the
 * bus link, class, vendor, device, modalias, an (empty) driver_override,
 * the driver link (NULL: unbound), the iommu_group link with the group's
 * back link (-1: none) and a vfio cdev (NULL: none).
 */
void fk_add_pci(const char *addr, guint32 cls, const char *driver, int group, const char *cdev);
/*
 * A mediated device /sys/bus/mdev/devices/UUID (a link into its parent's
 * directory) with the driver link @driver (NULL: none), the iommu_group
 * link (-1: none) and a vfio cdev (NULL: none). VFIO_GROUP_GET_DEVICE_FD
 * opens the fake device for @uuid as it does for 0000:3b:00.5.
 */
void fk_add_mdev(const char *uuid, const char *driver, int group, const char *cdev);
/* A driver directory under /sys/bus/pci/drivers, with bind and unbind. */
void fk_add_driver(const char *name);
/*
 * An NVMe PF with SR-IOV bound to nvme, controller device nvme@ctrl (and
 * /dev/nvme@ctrl), @total VFs at function 1.. of its slot, IOMMU groups
 * from @first_group. Writing sriov_numvfs makes or removes the VFs.
 */
void fk_add_nvme_pf(const char *addr, guint total, int ctrl, int first_group);

/* ---- VFIO (the fake device's knobs and what it saw) ---- */

typedef struct {
	/* knobs */
	gboolean passthrough;	/* every ioctl goes to the kernel */
	gboolean group_not_viable;
	gboolean reject_type1v2;
	int bind_errno;
	gboolean no_migration;
	gboolean dma_logging;
	/* the IOMMU tracks dirty pages: IOMMU_GET_HW_INFO's capability on
	 * iommufd, the type1 container's migration capability */
	gboolean iommu_dirty;
	guint32 mig_flags;
	/* what the fake kernel saw */
	gboolean container_set;
	unsigned long iommu_type;
	char device_name[64];
	char mdev_uuid[40];	/* set by fk_add_mdev() */
	gboolean bound;
	guint32 ioas_id;
	guint32 attached_pt;
	guint32 state;
	guint n_resets;
	guint n_feature_calls;
	guint n_resuming_commits;	/* RESUMING -> STOP arcs taken */
	int reset_errno;		/* VFIO_DEVICE_RESET fails with it */
	guint32 fail_arc_to;		/* an arc into this state fails (0: none) */
	guint32 fail_arc_lands;		/* ... and leaves the device here */
	/* every arc asked for, "RUNNING>STOP ", in order; illegal ones are
	 * refused with EINVAL and counted */
	char arcs[2048];
	guint n_illegal_arcs;
} FakeVfio;

extern FakeVfio fk_vfio;
/* Back to a fresh device: RUNNING, STOP_COPY | P2P | PRE_COPY. */
void fk_vfio_reset(void);
/*
 * Whether FROM -> TO is one arc of the uAPI's state machine
 * (include/uapi/linux/vfio.h, enum vfio_device_mig_state) on a device
 * with @flags, written out here apart from the library's planner.
 */
gboolean fk_vfio_arc_legal(guint32 flags, guint32 from, guint32 to);
/* Fails the test, naming them, if any arc asked for was not legal. */
void fk_vfio_assert_arcs_legal(void);

/* ---- NVMe admin commands on the fake controller nodes ---- */

/*
 * The next admin command expected: @opcode and @cdw10 must match, and
 * @cdw11 unless it is G_MAXUINT32. A command that reads data gets @data
 * (@len bytes, the rest zero); one that writes data must carry @data.
 * The command completes with @status (0, or an NVMe status) and @result.
 */
void fk_expect_admin(guint8 opcode, guint32 cdw10, guint32 cdw11, const void *data, gsize len,
		     int status, guint32 result);
/* Fails the test if a declared command was never sent. */
void fk_assert_admin_consumed(void);
/* Commands sent that were not expected (each also fails with EIO). */
guint fk_admin_unexpected(void);
