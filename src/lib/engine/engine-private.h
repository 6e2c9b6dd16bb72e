/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The engine's inside: the device ops table that every backend (kernel
 * VFIO in this wing, the emulated VF in emu/) fills in, and the device
 * object the engine drives through it.
 */
#pragma once

#include "util/util-private.h"

#pragma GCC visibility push(hidden)

/* Short names for the states, for the tables of arcs that spell them
 * out (the planner, the emulated VF's steps). */
#define S_ERR NVFM_MIG_STATE_ERROR
#define S_STOP NVFM_MIG_STATE_STOP
#define S_RUN NVFM_MIG_STATE_RUNNING
#define S_SC NVFM_MIG_STATE_STOP_COPY
#define S_RES NVFM_MIG_STATE_RESUMING
#define S_RP2P NVFM_MIG_STATE_RUNNING_P2P
#define S_PC NVFM_MIG_STATE_PRE_COPY
#define S_PCP2P NVFM_MIG_STATE_PRE_COPY_P2P

/* One IOVA range of VFIO_DEVICE_FEATURE_DMA_LOGGING_START
 * (struct vfio_device_feature_dma_logging_range). */
typedef struct {
	guint64 iova;
	guint64 length;
} NvfmDmaRange;

/* The uAPI's REPORT bitmap: one bit per page_size page of the range,
 * in u64 words (the kernel's iova_bitmap writes whole u64s). */
static inline guint64 nvfm_dma_log_bitmap_words(guint64 length, guint64 page_size)
{
	guint64 pages = (length + page_size - 1) / page_size;

	return (pages + 63) / 64;
}

/*
 * One backend of NvfmDevice. Every call returns 0 or -errno, mirroring the
 * kernel ioctl it stands for, so the engine above has one code path.
 */
typedef struct {
	const char *name;
	/* VFIO_DEVICE_FEATURE_MIGRATION; -ENOTTY means no migration support */
	int (*get_flags)(NvfmDevice *dev, guint32 *flags);
	/* VFIO_DEVICE_FEATURE_MIG_DATA_SIZE; -ENOTTY when not implemented */
	int (*get_data_size)(NvfmDevice *dev, guint64 *stop_copy_length);
	/* VFIO_DEVICE_FEATURE_DMA_LOGGING_START probe: 0 or -ENOTTY */
	int (*probe_dma_logging)(NvfmDevice *dev);
	/*
	 * DMA logging (VFIO_DEVICE_FEATURE_DMA_LOGGING_START/REPORT/STOP);
	 * NULL: -ENOTTY. START may change *page_size (the driver's pick);
	 * REPORT fills and clears one bit per page of [iova, iova+length).
	 */
	int (*dma_log_start)(NvfmDevice *dev, guint64 *page_size, const NvfmDmaRange *ranges,
			     guint32 n_ranges);
	int (*dma_log_report)(NvfmDevice *dev, guint64 iova, guint64 length, guint64 page_size,
			      guint64 *bitmap);
	int (*dma_log_stop)(NvfmDevice *dev);
	/*
	 * The IOMMU side of dirty tracking for this device: fills
	 * iommu, iommu_dirty, iommu_pgsizes and iommu_max_bitmap of @out.
	 * -ENOTTY when the backend cannot know (an fd handed in: its
	 * container or iommufd belongs to whoever opened it).
	 */
	int (*iommu_dirty)(NvfmDevice *dev, NvfmDirtyInfo *out);
	/* VFIO_DEVICE_FEATURE_MIG_DEVICE_STATE get */
	int (*get_state)(NvfmDevice *dev, NvfmMigState *state);
	/*
	 * VFIO_DEVICE_FEATURE_MIG_DEVICE_STATE set. *data_fd receives a new
	 * fd (caller owns it) or -1 when the arc hands none out.
	 */
	int (*set_state)(NvfmDevice *dev, NvfmMigState state, int *data_fd);
	/* VFIO_DEVICE_RESET */
	int (*reset)(NvfmDevice *dev);
	/* VFIO_MIG_GET_PRECOPY_INFO on data_fd */
	int (*precopy_info)(NvfmDevice *dev, int data_fd, guint64 *initial, guint64 *dirty);
	/* read(2)/write(2) on data_fd; NULL means the plain syscalls. -errno. */
	gssize (*data_read)(NvfmDevice *dev, int data_fd, void *buf, gsize len);
	gssize (*data_write)(NvfmDevice *dev, int data_fd, const void *buf, gsize len);
	/*
	 * Add the facts a destination must match (PCI IDs, driver, model...)
	 * to @obj; NULL when the backend knows none. -errno.
	 */
	int (*compat_facts)(NvfmDevice *dev, json_t *obj);
	/* release backend resources; the engine already dropped data_fd */
	void (*close)(NvfmDevice *dev);
} NvfmDeviceOps;

struct _NvfmDevice {
	const NvfmDeviceOps *ops;
	void *priv;		/* backend state */
	char *address;
	int data_fd;		/* -1 unless in a saving/resuming state */
	guint32 flags;		/* cached migration flags */
	gboolean flags_known;
};

/* device.c: one raw VFIO_DEVICE_FEATURE_MIG_DEVICE_STATE set, without the
 * planner, for the conformance suite to probe combination arcs. -errno. */
int nvfm_device_set_state_raw(NvfmDevice *dev, NvfmMigState state);

/* A device with no backend yet, for a backend constructor to fill in
 * (dev->ops, dev->priv); nvfm_device_discard() frees one whose
 * constructor failed. */
NvfmDevice *nvfm_device_new(const NvfmAddress *address);
void nvfm_device_discard(NvfmDevice *dev);

/* The kernel backends (vfio-kernel.c): a PCI function bound to a VFIO
 * driver, or a VFIO device fd handed in. The emulated one is in emu/. */
gboolean nvfm_vfio_open_pci(NvfmDevice *dev, const char *pci_addr, GError **error);
gboolean nvfm_vfio_open_fd(NvfmDevice *dev, int fd, GError **error);
/* a mediated device by UUID, through its vfio cdev or its IOMMU group */
gboolean nvfm_vfio_open_mdev(NvfmDevice *dev, const char *uuid, GError **error);

#pragma GCC visibility pop
