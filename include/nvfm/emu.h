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
 * Return: a newly allocated path.
 */
char *nvfm_emu_dir(void);

/**
 * nvfm_emu_create() - create (or replace) emulated device @name
 * @name: the device name ([A-Za-z0-9_.-]{1,64})
 * @cfg: its configuration
 * @error: return location for an error
 *
 * Return: %TRUE on success; %NVFM_ERROR_BUSY if the device is open.
 */
gboolean nvfm_emu_create(const char *name, const NvfmEmuConfig *cfg, GError **error);

/**
 * nvfm_emu_destroy() - remove emulated device @name and its files
 * @name: the device name
 * @error: return location for an error
 *
 * Return: %TRUE on success.
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
 * Return: %TRUE on success.
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
 * Return: a newly allocated JSON text (config, faults, controller summary,
 * state digest), or %NULL.
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
 * Two devices hold exactly the same state when their digests match.
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
 * Return: %TRUE on success.
 */
gboolean nvfm_emu_dirty(const char *name, guint64 bytes, GError **error);

G_END_DECLS
