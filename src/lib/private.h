/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Internal interfaces of libnvfm: the device ops table that every backend
 * (kernel VFIO, emulated VF) fills in, and small shared helpers.
 */
#pragma once

#include <errno.h>
#include <unistd.h>

#include "nvfm/nvfm.h"

/* Nothing declared here is part of the shared library's ABI. */
#pragma GCC visibility push(hidden)

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

/* Backend constructors: fill dev->ops and dev->priv from the part of the
 * address after the scheme. */
gboolean nvfm_vfio_open_pci(NvfmDevice *dev, const char *pci_addr, GError **error);
gboolean nvfm_vfio_open_fd(NvfmDevice *dev, const char *fd_spec, GError **error);
gboolean nvfm_emu_open(NvfmDevice *dev, const char *name, GError **error);

/* error.c: set @error from a -errno value with a formatted prefix */
void nvfm_set_error_errno(GError **error, int neg_errno, const char *fmt, ...)
	G_GNUC_PRINTF(3, 4);

/* sha256.c: SHA-256 at data-path speed; nvfm_sha256_finish() once only */
typedef struct _NvfmSha256 NvfmSha256;
NvfmSha256 *nvfm_sha256_new(void);
void nvfm_sha256_update(NvfmSha256 *s, const void *buf, gsize len);
void nvfm_sha256_finish(NvfmSha256 *s, guint8 *digest);
void nvfm_sha256_hex(const guint8 *digest, char *hex);	/* 65 bytes */
void nvfm_sha256_free(NvfmSha256 *s);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(NvfmSha256, nvfm_sha256_free)

/* util.c */
gint64 nvfm_now_us(void);
int nvfm_poll_fd(int fd, short events, int timeout_ms);
void nvfm_close_fd(int *fd);

char *nvfm_format_size(guint64 bytes);

#pragma GCC visibility pop
