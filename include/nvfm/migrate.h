/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The migration orchestrator: moves a VM and its NVMe VF to another host
 * in explicit phases, each with its own timeout, with one commit point
 * (docs/orchestrator.md). Before the commit point any failure leaves the VM
 * running on the source with its VF RUNNING (or reset) and the destination
 * VF released; after it, the VM runs on the destination.
 */
#pragma once

#include <glib.h>
#include <gio/gio.h>
#include <jansson.h>

#include "nvfm/address.h"
#include "nvfm/transport.h"

G_BEGIN_DECLS

/**
 * NvfmMigratePhase - the orchestrator's phases, in order
 * @NVFM_MIGRATE_PREFLIGHT: both hosts checked (nothing changed yet)
 * @NVFM_MIGRATE_RESERVE: the destination VF provisioned (and, with the
 *			  qemu mover, added to the destination QEMU)
 * @NVFM_MIGRATE_PRECOPY: the VM's RAM (and the VF's PRE_COPY data) moves
 *			  while the VM runs
 * @NVFM_MIGRATE_PAUSE: the source VM stops
 * @NVFM_MIGRATE_STOP_COPY: the VF's remaining state leaves the source
 * @NVFM_MIGRATE_RESTORE: the destination VF validates and commits it
 * @NVFM_MIGRATE_SWITCHOVER: QEMU completes the migration: the commit point
 * @NVFM_MIGRATE_RESUME: the VM runs on the destination
 * @NVFM_MIGRATE_RELEASE: the source VF (and source QEMU) released
 * @NVFM_MIGRATE_N_PHASES: the number of phases
 */
typedef enum {
	NVFM_MIGRATE_PREFLIGHT,
	NVFM_MIGRATE_RESERVE,
	NVFM_MIGRATE_PRECOPY,
	NVFM_MIGRATE_PAUSE,
	NVFM_MIGRATE_STOP_COPY,
	NVFM_MIGRATE_RESTORE,
	NVFM_MIGRATE_SWITCHOVER,
	NVFM_MIGRATE_RESUME,
	NVFM_MIGRATE_RELEASE,
	NVFM_MIGRATE_N_PHASES
} NvfmMigratePhase;

/**
 * nvfm_migrate_phase_name() - a phase's name ("preflight", "stop-copy", ...)
 * @phase: the phase
 *
 * Return: a static string.
 */
const char *nvfm_migrate_phase_name(NvfmMigratePhase phase);

/**
 * nvfm_migrate_phase_from_name() - the phase a name stands for
 * @name: a name as nvfm_migrate_phase_name() gives it
 *
 * Return: the phase, or -1 for an unknown name.
 */
int nvfm_migrate_phase_from_name(const char *name);

/**
 * NvfmMover - who moves the VF's state (DESIGN.md §3)
 * @NVFM_MOVER_DIRECT: the engine, over the agent's channel, in the pause
 *		       window ("--device-state=direct")
 * @NVFM_MOVER_QEMU: QEMU's VFIO migration inside its own stream
 *		     ("--device-state=qemu")
 */
typedef enum {
	NVFM_MOVER_DIRECT,
	NVFM_MOVER_QEMU,
} NvfmMover;

/**
 * NvfmMigrateProgressFunc - called as a migration advances
 * @phase: the current phase
 * @done: bytes moved so far in this phase (RAM + device state)
 * @total: bytes expected in this phase, or 0 when unknown
 * @user_data: closure
 */
typedef void (*NvfmMigrateProgressFunc)(NvfmMigratePhase phase, guint64 done, guint64 total,
					gpointer user_data);

/**
 * NvfmMigrateOptions - what to migrate, where to, and how
 * @mover: who moves the VF's state
 * @vm_qmp: the source VM's QMP address ("unix:PATH", "tcp:HOST:PORT" or a socket path), or
 *	    %NULL to move a VF that no VM uses (direct mover only)
 * @domain: a libvirt domain (name or UUID) instead of @vm_qmp: libvirt
 *	    migrates it, QEMU carries the VF's state (qemu mover only), and
 *	    the destination XML has the VF's hostdev source rewritten
 * @libvirt_uri: the source libvirt connection (%NULL: libvirt's default)
 * @dest_libvirt_uri: the destination libvirt URI, for a peer-to-peer
 *		      migration ("qemu+tcp://10.0.0.2/system")
 * @dest_qmp: the destination QEMU's QMP address (started with
 *	      "-incoming defer"); needed with @vm_qmp. "tcp:" is
 *	      unauthenticated: only with @insecure
 * @migrate_uri: where the destination QEMU listens for the migration
 *		 stream ("tcp:10.0.0.2:4444"); needed with @vm_qmp
 * @vf: the source VF: a device address ("emu:pfa-vf0",
 *	"vfio:0000:3b:00.2") for the direct mover, the VF's PCI address for
 *	the qemu mover
 * @vfs: several source VFs of one VM (or of none), moved as one unit:
 *	 all are reserved on the destination before anything moves, and a
 *	 failure of any rolls all back; @n_vfs of them, @vf then %NULL.
 *	 Each must support VFIO_MIGRATION_P2P (as QEMU requires of several
 *	 VFIO devices): the direct mover checks the source VFs, every mover
 *	 the destination VFs (the qemu and libvirt movers cannot open a VF
 *	 QEMU holds; QEMU itself blocks the migration then)
 * @n_vfs: the number of @vfs (0: @vf alone)
 * @vm_device_id: the qemu mover: the id of the VF's vfio-pci device in the
 *		  VM (%NULL: found by @vf's host address)
 * @dest_device_props: the qemu mover: extra properties for the destination
 *		       vfio-pci device, a JSON object (%NULL: none; id, bus,
 *		       addr and the source's vfio-pci options are copied)
 * @agent: the destination agent's address
 * @tls: client credentials for @agent (%NULL: plain, when allowed)
 * @dest_pfs: the destination PFs to provision the VF from, %NULL-terminated,
 *	      in order of preference; the agent takes the first on the
 *	      source VF's NUMA node (when known) that can give a VF with the
 *	      resources asked for
 * @dest_driver: the driver to bind the destination VF to (%NULL: the
 *		 agent's default for the PF)
 * @nvq: flexible queue resources for the destination VF (0: as many as
 *	 the source VF has when it is a PF's VF, else the PF's default)
 * @nvi: flexible interrupt resources (0: the same rule)
 * @precopy_rounds: the direct mover's PRE_COPY rounds (0: none)
 * @precopy_threshold: leave PRE_COPY once the dirty bytes are below this
 * @downtime_limit_ms: the qemu mover's downtime-limit (0: computed from the
 *		       VF's state size and the measured link rate)
 * @state_size: the VF's state size in bytes for that computation (0: the
 *		destination VF's MIG_DATA_SIZE, same model and free)
 * @multifd_channels: with a VM, QEMU's migration stream over this many
 *		      multifd channels (0: one stream); QEMU >= 10 then also
 *		      carries a vfio-pci device's state over them (its
 *		      x-migration-multifd-transfer is "auto")
 * @keep_source: after success, leave the source QEMU (paused in
 *		 "postmigrate") and the source VF as they are
 * @timeout_ms: a bound for each phase (0: its default)
 * @progress: optional progress callback
 * @progress_data: its closure
 * @cancellable: cancels the migration (through the same rollback) until
 *		 the commit point; may be %NULL
 * @dest_qmp_via_agent: @dest_qmp is the path of a UNIX socket on the
 *			destination host, reached through a connection to
 *			@agent (with its TLS); the agent serves only sockets
 *			under its QMP directory
 * @insecure: the user accepts what is not encrypted or not authenticated
 *	      (--insecure): QEMU's or libvirt's migration stream in clear (a
 *	      plain agent link) and a destination QMP on TCP are then
 *	      warnings of the preflight; without it they block
 */
typedef struct {
	NvfmMover mover;
	const char *vm_qmp;
	const char *domain;
	const char *libvirt_uri;
	const char *dest_libvirt_uri;
	const char *dest_qmp;
	const char *migrate_uri;
	const NvfmAddress *vf;
	const NvfmAddress *const *vfs;
	guint n_vfs;
	const char *vm_device_id;
	const char *dest_device_props;
	const char *agent;
	NvfmTls *tls;
	const char *const *dest_pfs;
	const char *dest_driver;
	guint nvq;
	guint nvi;
	guint precopy_rounds;
	guint64 precopy_threshold;
	guint downtime_limit_ms;
	guint64 state_size;
	gboolean keep_source;
	guint multifd_channels;
	int timeout_ms[NVFM_MIGRATE_N_PHASES];
	NvfmMigrateProgressFunc progress;
	gpointer progress_data;
	GCancellable *cancellable;
	gboolean dest_qmp_via_agent;
	gboolean insecure;
} NvfmMigrateOptions;

/**
 * nvfm_migrate_status() - the migrations running from this host
 *
 * Each running nvfm_migrate() publishes its progress in the status
 * directory (the runtime directory's "migrations", or $NVFM_STATUS_DIR):
 * id, vm, vf, to, phase, bytes and total of the phase, rate (bytes/s),
 * elapsed (s), started (Unix time), pid. Files of processes gone are
 * left out.
 * @error: return location for an error
 *
 * Return: a JSON array of those objects (empty: none), or %NULL with
 * @error set when the directory cannot be read.
 */
json_t *nvfm_migrate_status(GError **error);

/**
 * nvfm_migrate_options_init() - defaults: direct mover, 4 MiB precopy
 * threshold, no rounds, default timeouts
 * @opts: the options
 */
void nvfm_migrate_options_init(NvfmMigrateOptions *opts);

/**
 * nvfm_migrate_default_timeout_ms() - a phase's default bound
 * @phase: the phase
 *
 * Return: milliseconds.
 */
int nvfm_migrate_default_timeout_ms(NvfmMigratePhase phase);

/**
 * nvfm_migrate_check() - run the preflight alone
 * @opts: the migration as it would run
 * @error: return location for an error (only when the check itself could
 *	   not run: bad options, or %NVFM_ERROR_NOT_FOUND when the source VF
 *	   does not exist)
 *
 * Nothing is changed on either host. The report has "ok", and per host
 * ("source", "destination") the facts found and "blockers": one line for
 * everything that would block the migration.
 *
 * Return: a new JSON object, or %NULL with @error set.
 */
json_t *nvfm_migrate_check(const NvfmMigrateOptions *opts, GError **error);

/**
 * nvfm_migrate() - migrate
 * @opts: the migration
 * @report: receives the timeline (new reference; may be %NULL): per phase
 *	    its start and end (µs from the start), bytes and outcome; the
 *	    downtime (source pause to destination resume); the state
 *	    transfer's own time; the destination VF; whether the commit point
 *	    was passed; on failure the failed phase, the error and what the
 *	    rollback did. Set on failure too.
 * @error: return location for an error, prefixed with the failed phase
 *	   (%NVFM_ERROR_NOT_FOUND when the source VF does not exist)
 *
 * Return: %TRUE when the VM (or VF) runs on the destination. On %FALSE,
 * see @report's "committed": before the commit point the source was
 * rolled back; after it the VM runs on the destination and only the
 * release of the source failed.
 */
gboolean nvfm_migrate(const NvfmMigrateOptions *opts, json_t **report, GError **error);

G_END_DECLS
