/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <glib.h>
#include <jansson.h>
#include <stdint.h>
#include "nvfm/address.h"

G_BEGIN_DECLS

/**
 * NvfmMigState - the VFIO migration v2 device states
 *
 * The numeric values are those of enum vfio_device_mig_state in the uAPI,
 * so a value can be passed to the kernel as is.
 */
typedef enum {
	NVFM_MIG_STATE_ERROR = 0,
	NVFM_MIG_STATE_STOP = 1,
	NVFM_MIG_STATE_RUNNING = 2,
	NVFM_MIG_STATE_STOP_COPY = 3,
	NVFM_MIG_STATE_RESUMING = 4,
	NVFM_MIG_STATE_RUNNING_P2P = 5,
	NVFM_MIG_STATE_PRE_COPY = 6,
	NVFM_MIG_STATE_PRE_COPY_P2P = 7,
} NvfmMigState;

/** NVFM_MIG_STATE_COUNT: number of migration states. */
#define NVFM_MIG_STATE_COUNT 8

/** NVFM_MIG_FLAG_STOP_COPY: VFIO_MIGRATION_STOP_COPY (mandatory). */
#define NVFM_MIG_FLAG_STOP_COPY (1u << 0)
/** NVFM_MIG_FLAG_P2P: VFIO_MIGRATION_P2P (RUNNING_P2P exists). */
#define NVFM_MIG_FLAG_P2P (1u << 1)
/** NVFM_MIG_FLAG_PRE_COPY: VFIO_MIGRATION_PRE_COPY (PRE_COPY states exist). */
#define NVFM_MIG_FLAG_PRE_COPY (1u << 2)

/** NVFM_MIG_PATH_MAX: the longest path the planner can return. */
#define NVFM_MIG_PATH_MAX 8

/**
 * nvfm_mig_state_name() - the uAPI name of a state
 * @state: a state
 *
 * Return: "RUNNING", "STOP_COPY", ... or "INVALID" for an unknown value.
 */
const char *nvfm_mig_state_name(NvfmMigState state);

/**
 * nvfm_mig_state_parse() - parse a state name (case-insensitive; '-' = '_')
 * @name: the name
 * @out: where the state goes
 * @error: return location for an error
 *
 * Return: %TRUE on success.
 */
gboolean nvfm_mig_state_parse(const char *name, NvfmMigState *out, GError **error);

/**
 * nvfm_mig_flags_to_string() - "STOP_COPY|P2P|PRE_COPY" style rendering
 * @flags: NVFM_MIG_FLAG_* bits
 *
 * Return: a newly allocated string.
 */
char *nvfm_mig_flags_to_string(guint32 flags);

/**
 * nvfm_mig_state_supported() - whether a device with @flags has @state
 * @flags: the device's migration flags
 * @state: a state
 *
 * Return: %TRUE if the state exists for such a device.
 */
gboolean nvfm_mig_state_supported(guint32 flags, NvfmMigState state);

/**
 * nvfm_mig_next_state() - the next single arc towards a target state
 * @flags: the device's migration flags
 * @cur: the current state
 * @target: the requested state
 * @next: where the next state goes
 *
 * Applies the decomposition the kernel uses for combination transitions,
 * skipping states the device does not support.
 *
 * Return: 0, or -EINVAL when @target is not reachable (ERROR, an
 * unsupported state, STOP_COPY to PRE_COPY*, or @cur is ERROR).
 */
int nvfm_mig_next_state(guint32 flags, NvfmMigState cur, NvfmMigState target,
			NvfmMigState *next);

/**
 * nvfm_mig_plan() - the whole sequence of single arcs from @cur to @target
 * @flags: the device's migration flags
 * @cur: the current state
 * @target: the requested state
 * @path: receives up to %NVFM_MIG_PATH_MAX states, excluding @cur
 * @n_steps: receives the number of states in @path (0 if @cur == @target)
 * @error: return location for an error
 *
 * Return: %TRUE if the target is reachable; %FALSE with %NVFM_ERROR_STATE
 * for targets the uAPI forbids.
 */
gboolean nvfm_mig_plan(guint32 flags, NvfmMigState cur, NvfmMigState target,
		       NvfmMigState *path, guint *n_steps, GError **error);

/**
 * NvfmDevice - an open device that speaks the VFIO migration uAPI
 *
 * Opened from an address: "vfio:DDDD:BB:DD.F" (a PCI device bound to a
 * VFIO driver), "fd:N" (a VFIO device fd handed in) or "emu:NAME" (the
 * built-in emulated NVMe VF).
 */
typedef struct _NvfmDevice NvfmDevice;

/**
 * NvfmMigFeatures - what a device reports about migration
 * @flags: NVFM_MIG_FLAG_* bits from VFIO_DEVICE_FEATURE_MIGRATION
 * @has_data_size: the device answers VFIO_DEVICE_FEATURE_MIG_DATA_SIZE
 * @stop_copy_length: that answer: the estimated STOP_COPY size in bytes
 * @dma_logging: the device supports VFIO_DEVICE_FEATURE_DMA_LOGGING_*
 */
typedef struct {
	guint32 flags;
	gboolean has_data_size;
	guint64 stop_copy_length;
	gboolean dma_logging;
} NvfmMigFeatures;

/**
 * NvfmDirtyTracking - how QEMU will find the guest pages a device wrote
 * @NVFM_DIRTY_TRACKING_NONE: neither: QEMU counts all guest RAM dirty in
 *   every pass ("perpetually dirty"), so the downtime grows with RAM size
 * @NVFM_DIRTY_TRACKING_IOMMU: the IOMMU's dirty bits (iommufd
 *   IOMMU_HW_CAP_DIRTY_TRACKING, or type1 VFIO_IOMMU_TYPE1_INFO_CAP_MIGRATION)
 * @NVFM_DIRTY_TRACKING_DEVICE: the device's own DMA logging
 *   (VFIO_DEVICE_FEATURE_DMA_LOGGING_*), which QEMU prefers
 */
typedef enum {
	NVFM_DIRTY_TRACKING_NONE,
	NVFM_DIRTY_TRACKING_IOMMU,
	NVFM_DIRTY_TRACKING_DEVICE,
} NvfmDirtyTracking;

/**
 * NvfmDirtyInfo - dirty-page tracking of one device, and the facts behind it
 * @mode: what QEMU will use
 * @dma_logging: the device accepts a DMA_LOGGING_START probe
 * @iommu: "iommufd", "type1", "emu" or "unknown" (an fd handed in)
 * @iommu_dirty: the IOMMU tracks dirty pages for this device
 * @iommu_pgsizes: type1: page sizes of the dirty bitmap (bit N = 2^N); 0 otherwise
 * @iommu_max_bitmap: type1: the largest dirty bitmap in bytes; 0 otherwise
 */
typedef struct {
	NvfmDirtyTracking mode;
	gboolean dma_logging;
	const char *iommu;
	gboolean iommu_dirty;
	guint64 iommu_pgsizes;
	guint64 iommu_max_bitmap;
} NvfmDirtyInfo;

/**
 * nvfm_dirty_tracking_name() - "device-dma-logging", "iommu" or "none"
 * @mode: a tracking mode
 *
 * Return: a static string.
 */
const char *nvfm_dirty_tracking_name(NvfmDirtyTracking mode);

/**
 * nvfm_dirty_info_add_json() - add "dirty_tracking" and its facts to @obj
 * @info: what nvfm_device_get_dirty_tracking() found
 * @obj: a JSON object; gets "dirty_tracking" (the mode's name) and
 *   "dirty_tracking_facts" (dma_logging, iommu, iommu_dirty, and for
 *   type1 iommu_pgsizes and iommu_max_bitmap)
 *
 * The one shape `vf state` and `check` print.
 */
void nvfm_dirty_info_add_json(const NvfmDirtyInfo *info, json_t *obj);

/**
 * NvfmReadStatus - what a read from the data_fd found
 * @NVFM_READ_DATA: bytes were read
 * @NVFM_READ_END: end of stream (0 in STOP_COPY)
 * @NVFM_READ_NO_MORE_FOR_NOW: PRE_COPY has nothing more now (0 or ENOMSG)
 */
typedef enum {
	NVFM_READ_DATA,
	NVFM_READ_END,
	NVFM_READ_NO_MORE_FOR_NOW,
} NvfmReadStatus;

/**
 * nvfm_device_open() - open a device by address
 * @address: a PCI function bound to a VFIO driver, a VFIO device fd, or an
 *	emulated device (see nvfm_address_parse())
 * @error: return location for an error
 *
 * Return: the device, or %NULL with @error set.
 */
NvfmDevice *nvfm_device_open(const NvfmAddress *address, GError **error);

/**
 * nvfm_device_close() - close a device (NULL is fine)
 * @dev: the device
 *
 * The device stays in whatever state it is: the VFIO core does not put a
 * device back to RUNNING when its last user closes it (some PCI variant
 * drivers reset on open, other drivers need not). The next user reads
 * the state first; nvfm_device_settle() and nvfm_device_set_state() end a
 * session it did not start (RESUMING by a reset, never by a commit).
 */
void nvfm_device_close(NvfmDevice *dev);

/**
 * nvfm_device_address() - the address the device was opened with
 * @dev: the device
 *
 * Return: the address string, owned by @dev.
 */
const char *nvfm_device_address(NvfmDevice *dev);

/**
 * nvfm_device_backend_name() - "vfio-cdev", "vfio-group", "fd" or "emu"
 * @dev: the device
 *
 * Return: a static string.
 */
const char *nvfm_device_backend_name(NvfmDevice *dev);

/**
 * nvfm_device_get_features() - probe the migration features
 * @dev: the device
 * @out: receives the features
 * @error: return location for an error
 *
 * Return: %TRUE on success; %FALSE with %NVFM_ERROR_NOT_SUPPORTED
 * ("device has no migration support") when the driver answers ENOTTY.
 */
gboolean nvfm_device_get_features(NvfmDevice *dev, NvfmMigFeatures *out, GError **error);

/**
 * nvfm_device_get_dirty_tracking() - which dirty-page tracking QEMU will use
 * @dev: an open device
 * @out: receives the mode and its facts
 * @error: return location for an error
 *
 * Probes the device's DMA logging (as QEMU does: PROBE | SET |
 * DMA_LOGGING_START) and asks the IOMMU the device is attached to.
 * Device DMA logging wins, as in QEMU, then the IOMMU's, else none.
 *
 * Return: %TRUE; %FALSE with @error when a probe fails other than by
 * "not supported".
 */
gboolean nvfm_device_get_dirty_tracking(NvfmDevice *dev, NvfmDirtyInfo *out, GError **error);

/**
 * nvfm_device_get_state() - read the current migration state
 * @dev: the device
 * @out: receives the state
 * @error: return location for an error
 *
 * Return: %TRUE on success.
 */
gboolean nvfm_device_get_state(NvfmDevice *dev, NvfmMigState *out, GError **error);

/**
 * nvfm_device_set_state() - move the device to @target, one arc at a time
 * @dev: the device
 * @target: the state to reach
 * @error: return location for an error
 *
 * Plans the path with nvfm_mig_plan(), takes each arc, keeps the data_fd
 * that saving and resuming states hand out, and closes it when the device
 * leaves them. If an arc fails the device is read back; from ERROR, or if
 * the way back to the state before the call fails too, the device is reset,
 * so it is never left in ERROR.
 *
 * Return: %TRUE when @target was reached.
 */
gboolean nvfm_device_set_state(NvfmDevice *dev, NvfmMigState target, GError **error);

/**
 * nvfm_device_settle() - read the state and end a session this process did
 *	not start
 * @dev: the device
 * @found: receives the state the device was found in, or %NULL
 * @error: return location for an error
 *
 * The VFIO core does not put a device back to RUNNING when its last user
 * closes it, so a device may be found in the middle of another process's
 * session. RESUMING is aborted by VFIO_DEVICE_RESET (never committed with
 * RESUMING -> STOP); STOP_COPY is left to STOP and PRE_COPY/PRE_COPY_P2P
 * to RUNNING through the uAPI's arcs; ERROR, a state the device's flags do
 * not have, or a failed arc is met by a reset. RUNNING, STOP and
 * RUNNING_P2P are left as they are. nvfm_device_set_state() does the same
 * before it plans, so calling this first is only needed to learn @found.
 *
 * Return: %TRUE when the device holds no foreign session any more;
 * %FALSE with %NVFM_ERROR_STATE when the reset failed.
 */
gboolean nvfm_device_settle(NvfmDevice *dev, NvfmMigState *found, GError **error);

/**
 * nvfm_device_reset() - VFIO_DEVICE_RESET: back to RUNNING, data_fd closed
 * @dev: the device
 * @error: return location for an error
 *
 * Return: %TRUE on success.
 */
gboolean nvfm_device_reset(NvfmDevice *dev, GError **error);

/**
 * nvfm_device_data_fd() - the data_fd of the current saving/resuming state
 * @dev: the device
 *
 * Return: the fd (owned by @dev) or -1.
 */
int nvfm_device_data_fd(NvfmDevice *dev);

/**
 * nvfm_device_precopy_info() - VFIO_MIG_GET_PRECOPY_INFO on the data_fd
 * @dev: the device, in PRE_COPY or PRE_COPY_P2P
 * @initial_bytes: receives the initial bytes still to be read
 * @dirty_bytes: receives the estimate of dirtied bytes
 * @error: return location for an error
 *
 * Return: %TRUE on success.
 */
gboolean nvfm_device_precopy_info(NvfmDevice *dev, guint64 *initial_bytes,
				  guint64 *dirty_bytes, GError **error);

/**
 * nvfm_device_read() - read state bytes from the data_fd
 * @dev: the device, in a saving state
 * @buf: destination
 * @len: size of @buf
 * @timeout_ms: how long to wait for the device (-1: forever)
 * @status: receives what was found
 * @error: return location for an error
 *
 * Waits with poll() on EAGAIN, retries on EINTR, maps 0 and ENOMSG by
 * state, and reports ENODEV as a disabled data_fd.
 *
 * Return: bytes read (> 0 only with %NVFM_READ_DATA), 0 for END and
 * NO_MORE_FOR_NOW, -1 on error.
 */
gssize nvfm_device_read(NvfmDevice *dev, void *buf, gsize len, int timeout_ms,
			NvfmReadStatus *status, GError **error);

/**
 * nvfm_device_write_all() - write state bytes to the data_fd in RESUMING
 * @dev: the device
 * @buf: the bytes
 * @len: their number
 * @timeout_ms: how long to wait for the device to accept more (-1: forever)
 * @error: return location for an error
 *
 * Handles partial writes, EAGAIN and EINTR.
 *
 * Return: %TRUE when every byte was accepted.
 */
gboolean nvfm_device_write_all(NvfmDevice *dev, const void *buf, gsize len,
			       int timeout_ms, GError **error);

/**
 * nvfm_device_recover() - make sure the device is usable after a failure
 * @dev: the device
 * @prefer: the state to go to (RUNNING after a failed save; anything
 *	    but RESUMING after a failed load)
 *
 * Never fails: if @prefer cannot be reached the device is reset.
 *
 * Return: the state the device ended in.
 */
NvfmMigState nvfm_device_recover(NvfmDevice *dev, NvfmMigState prefer);

G_DEFINE_AUTOPTR_CLEANUP_FUNC(NvfmDevice, nvfm_device_close)

G_END_DECLS
