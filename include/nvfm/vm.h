/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * VM operations on top of the QMP client: run state, the pause window,
 * migration setup, control and progress, and the PCI devices the guest sees.
 * Every call is bounded by @timeout_ms (negative: the client's default).
 */
#pragma once

#include <glib.h>
#include <jansson.h>

#include "nvfm/qmp.h"

G_BEGIN_DECLS

/**
 * nvfm_vm_query_status() - the VM's run state ("query-status")
 * @qmp: the client
 * @ret_status: where QEMU's status ("running", "paused", "finish-migrate",
 *   "inmigrate", "postmigrate", ...) goes (free with g_free()), or %NULL
 * @ret_running: where the "running" flag goes, or %NULL
 * @timeout_ms: bound on the call
 * @error: return location for an error
 *
 * Return: %TRUE on success.
 */
gboolean nvfm_vm_query_status(NvfmQmp *qmp, char **ret_status, gboolean *ret_running,
			      int timeout_ms, GError **error);

/**
 * nvfm_vm_pause() - stop the vCPUs and wait until QEMU reports STOP
 * @qmp: the client
 * @timeout_ms: bound on the whole operation
 * @error: return location for an error
 *
 * A VM that is not running is left as it is (QEMU emits no STOP then).
 *
 * Return: %TRUE once the VM is stopped.
 */
gboolean nvfm_vm_pause(NvfmQmp *qmp, int timeout_ms, GError **error);

/**
 * nvfm_vm_resume() - restart the vCPUs ("cont") and wait for RESUME
 * @qmp: the client
 * @timeout_ms: bound on the whole operation
 * @error: return location for an error
 *
 * A running VM is left as it is. On an incoming VM ("inmigrate") "cont"
 * only asks QEMU to start when the migration completes; the call then
 * returns without waiting for RESUME.
 *
 * Return: %TRUE on success.
 */
gboolean nvfm_vm_resume(NvfmQmp *qmp, int timeout_ms, GError **error);

/**
 * nvfm_vm_cont() - "cont" on a VM the caller knows is paused, and wait
 * for RESUME
 * @qmp: the client
 * @timeout_ms: bound on the whole operation
 * @error: return location for an error
 *
 * nvfm_vm_resume() without its status query first: for a caller that
 * already knows (from QEMU's events), where that round trip would cost
 * downtime.
 *
 * Return: %TRUE once the VM runs.
 */
gboolean nvfm_vm_cont(NvfmQmp *qmp, int timeout_ms, GError **error);

/**
 * nvfm_vm_migration_cap_supported() - whether this QEMU has a capability
 * @qmp: the client
 * @name: a migration capability such as "switchover-ack"
 *
 * Decided from the version in the greeting for the capabilities this
 * library relies on (switchover-ack needs 8.1); other names count as
 * supported and are left to QEMU.
 *
 * Return: %TRUE when QEMU should accept the capability.
 */
gboolean nvfm_vm_migration_cap_supported(NvfmQmp *qmp, const char *name);

/**
 * NvfmVmMigrationCap - one migration capability and its wanted state
 * @name: the capability ("events", "return-path", ...)
 * @state: %TRUE to enable
 */
typedef struct {
	const char *name;
	gboolean state;
} NvfmVmMigrationCap;

/**
 * nvfm_vm_set_migration_caps() - set migration capabilities and verify them
 * @qmp: the client
 * @caps: the capabilities to set
 * @n_caps: the number of @caps
 * @timeout_ms: bound on each call
 * @error: return location for an error
 *
 * Refuses capabilities this QEMU lacks (%NVFM_ERROR_NOT_SUPPORTED) before
 * sending anything, then reads them back with "query-migrate-capabilities".
 *
 * Return: %TRUE when every capability reads back as requested.
 */
gboolean nvfm_vm_set_migration_caps(NvfmQmp *qmp, const NvfmVmMigrationCap *caps,
				    gsize n_caps, int timeout_ms, GError **error);

/**
 * nvfm_vm_get_migration_cap() - read one migration capability
 * @qmp: the client
 * @name: the capability
 * @ret_state: where its state goes
 * @timeout_ms: bound on the call
 * @error: return location for an error
 *
 * Return: %TRUE on success; %NVFM_ERROR_NOT_SUPPORTED when QEMU does not
 * list the capability.
 */
gboolean nvfm_vm_get_migration_cap(NvfmQmp *qmp, const char *name, gboolean *ret_state,
				   int timeout_ms, GError **error);

/**
 * nvfm_vm_set_migration_params() - set migration parameters and verify them
 * @qmp: the client
 * @params: a "migrate-set-parameters" arguments object (borrowed), e.g.
 *   {"downtime-limit": 300, "max-bandwidth": 1073741824}
 * @timeout_ms: bound on each call
 * @error: return location for an error
 *
 * Return: %TRUE when "query-migrate-parameters" reads every member back
 * with the value set.
 */
gboolean nvfm_vm_set_migration_params(NvfmQmp *qmp, json_t *params, int timeout_ms,
				      GError **error);

/**
 * nvfm_vm_query_migration_params() - read the migration parameters
 * @qmp: the client
 * @timeout_ms: bound on the call
 * @error: return location for an error
 *
 * Return: a new reference to the "query-migrate-parameters" object, or
 * %NULL with @error set.
 */
json_t *nvfm_vm_query_migration_params(NvfmQmp *qmp, int timeout_ms, GError **error);

/**
 * nvfm_vm_migrate() - start an outgoing migration ("migrate")
 * @qmp: the client
 * @uri: the destination, e.g. "tcp:10.0.0.2:4444" or "unix:/path"
 * @timeout_ms: bound on the call (the migration itself runs on)
 * @error: return location for an error
 *
 * Return: %TRUE when QEMU accepted the request.
 */
gboolean nvfm_vm_migrate(NvfmQmp *qmp, const char *uri, int timeout_ms, GError **error);

/**
 * nvfm_vm_migrate_incoming() - start listening on a VM run with
 * "-incoming defer" ("migrate-incoming")
 * @qmp: the client
 * @uri: where to listen, e.g. "tcp:0.0.0.0:4444"
 * @timeout_ms: bound on the call
 * @error: return location for an error
 *
 * Return: %TRUE on success.
 */
gboolean nvfm_vm_migrate_incoming(NvfmQmp *qmp, const char *uri, int timeout_ms,
				  GError **error);

/**
 * nvfm_vm_migrate_cancel() - cancel the outgoing migration ("migrate_cancel")
 * @qmp: the client
 * @timeout_ms: bound on the call
 * @error: return location for an error
 *
 * The source keeps (or resumes) running; wait for "cancelled" with
 * nvfm_vm_wait_migration().
 *
 * Return: %TRUE when QEMU accepted the request.
 */
gboolean nvfm_vm_migrate_cancel(NvfmQmp *qmp, int timeout_ms, GError **error);

/**
 * nvfm_vm_migrate_continue() - release a migration held in a pause state
 * ("migrate-continue")
 * @qmp: the client
 * @state: the state it is held in; %NULL means "pre-switchover"
 * @timeout_ms: bound on the call
 * @error: return location for an error
 *
 * Return: %TRUE when QEMU accepted the request.
 */
gboolean nvfm_vm_migrate_continue(NvfmQmp *qmp, const char *state, int timeout_ms,
				  GError **error);

/**
 * NvfmVmMigrationInfo - progress of a migration ("query-migrate")
 * @status: "none", "setup", "active", "pre-switchover", "device",
 *   "completed", "failed", "cancelling", "cancelled", ...
 * @total_time_ms: time since the start, or -1
 * @downtime_ms: the downtime of a completed migration, or -1
 * @expected_downtime_ms: the estimate while active, or -1
 * @setup_time_ms: the setup phase, or -1
 * @has_ram: whether the "ram" section was present
 * @ram_total: guest RAM in bytes
 * @ram_transferred: bytes of RAM sent so far
 * @ram_remaining: bytes of RAM still to send
 * @ram_mbps: the current throughput in Mbit/s
 * @ram_dirty_pages_rate: pages dirtied per second
 * @ram_dirty_sync_count: number of dirty-bitmap syncs (iterations)
 * @has_vfio: whether the "vfio" section was present (QEMU >= 8.1 with a
 *   migratable VFIO device)
 * @vfio_transferred: bytes of VFIO device state sent so far
 * @blocked_reasons: why migration is blocked (NULL-terminated), or %NULL
 * @error_desc: why a failed migration failed, or %NULL
 * @raw: the whole reply (a reference)
 */
typedef struct {
	char *status;
	gint64 total_time_ms;
	gint64 downtime_ms;
	gint64 expected_downtime_ms;
	gint64 setup_time_ms;
	gboolean has_ram;
	guint64 ram_total;
	guint64 ram_transferred;
	guint64 ram_remaining;
	double ram_mbps;
	guint64 ram_dirty_pages_rate;
	guint64 ram_dirty_sync_count;
	gboolean has_vfio;
	guint64 vfio_transferred;
	char **blocked_reasons;
	char *error_desc;
	json_t *raw;
} NvfmVmMigrationInfo;

/**
 * nvfm_vm_query_migration() - read the migration's progress
 * @qmp: the client
 * @timeout_ms: bound on the call
 * @error: return location for an error
 *
 * Return: the progress (free with nvfm_vm_migration_info_free()), or %NULL
 * with @error set.
 */
NvfmVmMigrationInfo *nvfm_vm_query_migration(NvfmQmp *qmp, int timeout_ms, GError **error);

/**
 * nvfm_vm_migration_info_free() - free a progress report
 * @info: the report, or %NULL
 */
void nvfm_vm_migration_info_free(NvfmVmMigrationInfo *info);

/**
 * nvfm_vm_migration_status_is_final() - whether a status ends a migration
 * @status: a "query-migrate" status
 *
 * Return: %TRUE for "completed", "failed" and "cancelled".
 */
gboolean nvfm_vm_migration_status_is_final(const char *status);

/**
 * nvfm_vm_wait_migration() - wait until the migration reaches a status
 * @qmp: the client
 * @statuses: the wanted statuses (NULL-terminated)
 * @ret_status: where the status reached goes (free with g_free()), or %NULL
 * @timeout_ms: bound on the whole wait
 * @error: return location for an error
 *
 * Follows MIGRATION events and polls "query-migrate" as well, so it works
 * whether or not the "events" capability is on.
 *
 * Return: %TRUE when one of @statuses was reached; %FALSE with
 * %NVFM_ERROR_FAILED (failed), %NVFM_ERROR_CANCELLED (cancelled),
 * %NVFM_ERROR_STATE (completed but not wanted) or %NVFM_ERROR_TIMEOUT.
 */
gboolean nvfm_vm_wait_migration(NvfmQmp *qmp, const char *const *statuses, char **ret_status,
				int timeout_ms, GError **error);

/**
 * NvfmVmPciDevice - a PCI device as the guest sees it
 * @qdev_id: the device's id ("" for a device added without one)
 * @type: the QOM type ("vfio-pci", "nvme", ...), or %NULL when unknown
 * @host: for vfio-pci, the host address ("0000:3b:00.2"), else %NULL
 * @bus: the guest bus number
 * @slot: the slot
 * @function: the function
 * @vendor_id: PCI vendor id
 * @device_id: PCI device id
 * @class_code: PCI class (base class << 8 | subclass)
 */
typedef struct {
	char *qdev_id;
	char *type;
	char *host;
	guint bus;
	guint slot;
	guint function;
	guint16 vendor_id;
	guint16 device_id;
	guint16 class_code;
} NvfmVmPciDevice;

/**
 * nvfm_vm_pci_device_free() - free a device description
 * @dev: the description, or %NULL
 */
void nvfm_vm_pci_device_free(NvfmVmPciDevice *dev);

/**
 * nvfm_vm_pci_device_guest_address() - the guest-visible address
 * @dev: a device
 *
 * Return: "BB:SS.F" (newly allocated).
 */
char *nvfm_vm_pci_device_guest_address(const NvfmVmPciDevice *dev);

/**
 * nvfm_vm_list_pci_devices() - every PCI device of the VM, behind bridges too
 * @qmp: the client
 * @timeout_ms: bound on each call
 * @error: return location for an error
 *
 * Uses "query-pci", then "qom-list"/"qom-get" on /machine/peripheral for
 * the type and, for vfio-pci, the host address.
 *
 * Return: an array of #NvfmVmPciDevice (it frees them), or %NULL with
 * @error set.
 */
GPtrArray *nvfm_vm_list_pci_devices(NvfmQmp *qmp, int timeout_ms, GError **error);

/**
 * nvfm_vm_find_pci_device() - find a PCI device by id or host address
 * @qmp: the client
 * @key: the device's id, or for vfio-pci its host address
 *   ("0000:3b:00.2"; "3b:00.2" means domain 0)
 * @type: the QOM type it must have, or %NULL for any
 * @timeout_ms: bound on each call
 * @error: return location for an error
 *
 * Return: the device (free with nvfm_vm_pci_device_free()), or %NULL with
 * @error set (%NVFM_ERROR_NOT_FOUND when no device matches).
 */
NvfmVmPciDevice *nvfm_vm_find_pci_device(NvfmQmp *qmp, const char *key, const char *type,
					 int timeout_ms, GError **error);

/**
 * nvfm_vm_find_vfio_device() - nvfm_vm_find_pci_device() for vfio-pci
 * @qmp: the client
 * @key: the device's id or host address
 * @timeout_ms: bound on each call
 * @error: return location for an error
 *
 * Return: the device, or %NULL with @error set.
 */
NvfmVmPciDevice *nvfm_vm_find_vfio_device(NvfmQmp *qmp, const char *key, int timeout_ms,
					  GError **error);

/**
 * nvfm_vm_device_add() - hot-plug a device ("device_add")
 * @qmp: the client
 * @props: the device's properties (borrowed), with "driver" and "id"
 * @timeout_ms: bound on the call
 * @error: return location for an error
 *
 * Return: %TRUE on success.
 */
gboolean nvfm_vm_device_add(NvfmQmp *qmp, json_t *props, int timeout_ms, GError **error);

/**
 * nvfm_vm_device_del() - ask for a device's removal ("device_del")
 * @qmp: the client
 * @id: the device's id
 * @wait: whether to wait for DEVICE_DELETED (the guest may have to agree)
 * @timeout_ms: bound on the whole operation
 * @error: return location for an error
 *
 * Return: %TRUE when the request was accepted and, with @wait, the device
 * is gone.
 */
gboolean nvfm_vm_device_del(NvfmQmp *qmp, const char *id, gboolean wait, int timeout_ms,
			    GError **error);

G_DEFINE_AUTOPTR_CLEANUP_FUNC(NvfmVmMigrationInfo, nvfm_vm_migration_info_free)
G_DEFINE_AUTOPTR_CLEANUP_FUNC(NvfmVmPciDevice, nvfm_vm_pci_device_free)

G_END_DECLS
