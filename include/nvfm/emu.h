/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

/**
 * NvfmEmuConfig - configuration of an emulated migration-capable NVMe VF
 * @flags: NVFM_MIG_FLAG_* bits the device reports (STOP_COPY is forced)
 * @blob_size: bytes of bulk PF-DMA'd internal state
 * @seed: seed of the deterministic state generator
 * @n_io_queues: I/O queue pairs of the modelled controller (0..64)
 * @dirty_rate: bytes per second the running device dirties (PRE_COPY)
 * @max_write: largest write the device accepts at once (0: no cap)
 * @report_data_size: answer VFIO_DEVICE_FEATURE_MIG_DATA_SIZE
 *
 * @blob_size, @seed and @n_io_queues describe the device's state, not its
 * capabilities: loading a stream (RESUMING -> STOP) replaces them with the
 * source's, as the destination then holds exactly the source's state.
 */
typedef struct {
	guint32 flags;
	guint64 blob_size;
	guint64 seed;
	guint32 n_io_queues;
	guint64 dirty_rate;
	guint32 max_write;
	gboolean report_data_size;
} NvfmEmuConfig;

/**
 * nvfm_emu_config_init() - fill @cfg with the defaults
 * @cfg: the config
 *
 * Defaults: all three flags, 64 MiB blob, seed 1, 4 I/O queues,
 * 16 MiB/s dirtying, no write cap, MIG_DATA_SIZE reported.
 */
void nvfm_emu_config_init(NvfmEmuConfig *cfg);

/**
 * nvfm_emu_dir() - the state directory of this "host"'s emulated devices
 *
 * $NVFM_EMU_DIR if set, else $XDG_RUNTIME_DIR/nvme-vf-migrate/emu, else
 * /run/nvme-vf-migrate/emu (root) or /tmp/nvme-vf-migrate-UID/emu.
 *
 * The directory is created (mode 0700) when a device is first created
 * there; opening a device that does not exist writes nothing. Devices in different directories are independent, like
 * devices on different hosts.
 *
 * Return: a newly allocated path.
 */
char *nvfm_emu_dir(void);

/**
 * nvfm_emu_set_max_load() - the largest state a load takes in this process
 * @bytes: the limit on the blob size a state stream may claim (0: the
 *	   emulation's own maximum, 64 GiB)
 *
 * A load whose stream header claims more is refused before any of its
 * pages is staged in NAME.blob.new, and nothing is staged beyond the
 * limit. The agent sets it from --max-emu-state: a peer's stream must
 * not fill the host's /run.
 */
void nvfm_emu_set_max_load(guint64 bytes);

/**
 * nvfm_emu_create() - create (or replace) emulated device @name
 * @name: the device name ([A-Za-z0-9_.-]{1,64})
 * @cfg: its configuration
 * @error: return location for an error
 *
 * A device that exists is replaced: fresh state from @cfg, faults cleared.
 * This is the only way a device comes to be: opening a name that does not
 * exist fails with %NVFM_ERROR_NOT_FOUND.
 *
 * Return: %TRUE on success; %NVFM_ERROR_BUSY if the device is open,
 * %NVFM_ERROR_INVALID_ARG for a bad name or configuration.
 */
gboolean nvfm_emu_create(const char *name, const NvfmEmuConfig *cfg, GError **error);

/**
 * nvfm_emu_destroy() - remove emulated device @name and its files
 * @name: the device name
 * @error: return location for an error
 *
 * Return: %TRUE on success; %NVFM_ERROR_NOT_FOUND if there is no such
 * device, %NVFM_ERROR_BUSY if it is open.
 */
gboolean nvfm_emu_destroy(const char *name, GError **error);

/**
 * nvfm_emu_list() - names of the emulated devices in nvfm_emu_dir()
 * @error: return location for an error
 *
 * Return: a %NULL-terminated array (g_strfreev()).
 */
char **nvfm_emu_list(GError **error);

/**
 * nvfm_emu_set_fault() - arm or clear a fault knob on device @name
 * @name: the device name
 * @knob: "fail-arc" (value "FROM>TO"), "corrupt-byte" (stream offset),
 *	  "slow-us" (delay per 64 KiB chunk), "stop-after" (bytes, then the
 *	  stream stalls), "truncate-after" (bytes, then end of stream),
 *	  "reject-resume" (1: refuse every RESUMING -> STOP)
 * @value: the value, or %NULL to clear the knob
 * @error: return location for an error
 *
 * Knobs are stored with the device and stay armed until cleared; an open
 * device picks them up at its next state change. Each fails the way a
 * kernel driver would: fail-arc makes that single arc (also inside a
 * combination arc) return EIO with the device in ERROR; corrupt-byte
 * flips byte N of the saved stream (the receiving device refuses it);
 * stop-after stalls the save stream after N bytes (no data, no end);
 * truncate-after ends it after N bytes; reject-resume makes RESUMING ->
 * STOP fail with EIO and the device in ERROR. Stream offsets count from
 * the first byte of the data_fd session, PRE_COPY included.
 *
 * Return: %TRUE on success; %NVFM_ERROR_INVALID_ARG for an unknown knob or
 * a bad value, %NVFM_ERROR_NOT_FOUND if there is no such device.
 */
gboolean nvfm_emu_set_fault(const char *name, const char *knob, const char *value,
			    GError **error);

/**
 * nvfm_emu_clear_faults() - disarm every fault knob of device @name
 * @name: the device name
 * @error: return location for an error
 *
 * Return: %TRUE on success.
 */
gboolean nvfm_emu_clear_faults(const char *name, GError **error);

/**
 * nvfm_emu_describe() - the configuration and state of device @name as JSON
 * @name: the device name
 * @error: return location for an error
 *
 * Reads the stored device without opening it: while another process has
 * it open, this is the state it last persisted (on close, reset or a
 * completed load).
 *
 * Return: a newly allocated JSON text (keys: name, dir, open, config,
 * workload, controller, pages, faults, state_size, digest), or %NULL.
 */
char *nvfm_emu_describe(const char *name, GError **error);

/**
 * nvfm_emu_digest() - SHA-256 of the device's whole state as a STOP_COPY
 * save would produce it
 * @name: the device name
 * @out_hex: receives a newly allocated hex digest
 * @out_size: receives the size in bytes of that state (may be %NULL)
 * @error: return location for an error
 *
 * Two devices hold exactly the same state when their digests match. The
 * digest is computed from the stored state without opening the device (see
 * nvfm_emu_describe() for a device that is open elsewhere); it equals the
 * SHA-256 of the bytes a STOP_COPY save from STOP produces.
 *
 * Return: %TRUE on success.
 */
gboolean nvfm_emu_digest(const char *name, char **out_hex, guint64 *out_size, GError **error);

/**
 * nvfm_emu_dirty() - let the device run for a while: the guest dirties state
 * @name: the device name
 * @bytes: how many bytes of blob to dirty
 * @error: return location for an error
 *
 * An open device dirties its state by itself while running
 * (@dirty_rate); this does the same to a closed one.
 *
 * Return: %TRUE on success; %NVFM_ERROR_BUSY if the device is open.
 */
gboolean nvfm_emu_dirty(const char *name, guint64 bytes, GError **error);

/**
 * nvfm_emu_dma_write() - the device wrote guest memory: feed its DMA log
 * @name: the device name
 * @iova: where in the guest's IOVA space
 * @bytes: how many bytes
 * @error: return location for an error
 *
 * Announces a write the device made into guest memory, for the DMA
 * logging of an open device (knob dma-logging): its next REPORT marks the
 * pages that a logged range covers. Writes announced while the device is
 * not logging are dropped at the next START. Works on an open device.
 *
 * Return: %TRUE on success.
 */
gboolean nvfm_emu_dma_write(const char *name, guint64 iova, guint64 bytes, GError **error);

G_END_DECLS
