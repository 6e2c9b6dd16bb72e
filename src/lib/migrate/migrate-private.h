/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Internals of the orchestrator, shared by orchestrate.c (phases, timeline,
 * rollback), migrate-vm.c (the VM's own QEMU migration) and the two movers
 * (mover-direct.c, mover-qemu.c), which plug in through NvfmMoverOps.
 */
#pragma once

#include "nvfm/agent.h"
#include "nvfm/migrate.h"
#include "nvfm/pf.h"
#include "nvfm/qmp.h"
#include "nvfm/vm.h"

#pragma GCC visibility push(hidden)

typedef struct _NvfmMigration NvfmMigration;
typedef struct _NvfmSeries NvfmSeries;

/*
 * One VF of the migration: its source, the destination VF reserved for
 * it and what moved. With one VF its preflight facts are the host's own
 * object; with several, each VF has its object in the host's "vfs".
 */
typedef struct {
	guint index;
	const NvfmAddress *src;
	json_t *facts;		/* its source facts in the preflight (borrowed) */
	char *reservation;
	gboolean reservation_kept;	/* it no longer ends with our connection */
	char *dest_vf;		/* as the agent names it: "emu:pfb-vf0" or a PCI address */
	char *dest_vf_pci;	/* the qemu mover: the PCI address */
	json_t *dest_compat;	/* the destination VF's compatibility block */
	NvfmLmFormat *src_lm;	/* the NVMe live migration format the source
				 * VF's PF produces; NULL: none to check */
	guint nvq, nvi;		/* the destination VF's resources (0: the PF's default) */
	int numa_node;		/* the source VF's NUMA node, -1: unknown */
	guint64 state_size;	/* its state size estimate */
	guint64 state_bytes;	/* its state bytes moved */
	guint64 precopy_bytes;	/* of them, before the pause */
	gboolean counted;	/* those are known (QEMU counts several VFIO
				 * devices' bytes together) */
	gint64 stop_copy_us;	/* its stop-copy, and its stop-copy + restore */
	gint64 transfer_us;
	char *source_digest;	/* SHA-256 of the sent state, where the VF can tell */
	json_t *dest_report;	/* the destination's phases for it, on our clock */
	gpointer mover_data;
} NvfmMigrationVf;

/*
 * What differs between the two ways the VF's state moves. The orchestrator
 * calls them in this order; rollback only before the commit point.
 */
typedef struct {
	const char *name;
	/* The VM's migration completes inside transfer() (libvirt): the
	 * reservation is kept before it and the commit point is its success. */
	gboolean commits_in_transfer;
	/* QEMU's switchover may run alongside the VF's stop-copy: the
	 * destination VM is held paused until our "cont", which then is the
	 * commit point, and the mover sends migrate-continue as the VM
	 * pauses (nvfm_migration_vm_continue). */
	gboolean overlap_switchover;
	/* Source-side facts of one VF (into v->facts; the VM's into
	 * @source) and blockers; nothing may change. Called for each VF.
	 * FALSE with *error only when the source VF does not exist
	 * (NVFM_ERROR_NOT_FOUND): that is a wrong address, not something
	 * that blocks a migration. */
	gboolean (*preflight)(NvfmMigration *m, NvfmMigrationVf *v, json_t *source,
			      json_t *blockers, GError **error);

	/* After the destination VF was provisioned (qemu: plug it into the
	 * destination QEMU). */
	gboolean (*reserve)(NvfmMigration *m, GError **error);
	/* From the start of precopy until the VM waits in pre-switchover (or,
	 * without a VM, until the destination VF holds and runs the state):
	 * drives the precopy, pause, stop-copy and restore phases it owns. */
	gboolean (*transfer)(NvfmMigration *m, GError **error);
	/* The mover's part of the switchover (qemu: the VF's data moves
	 * inside QEMU's completion). */
	void (*switched)(NvfmMigration *m);
	/* Optional: QEMU's switchover failed with *error; the mover may say
	 * that its own part failed instead (the phase and the reason). */
	void (*switchover_failed)(NvfmMigration *m, GError **error);
	/* Optional: once the destination VM runs, whether its VF really took
	 * the state. Until it says so the source (QEMU in postmigrate, its VF
	 * stopped with the state intact) can still be taken back: this, not
	 * QEMU's "completed", is then the commit point. */
	gboolean (*confirm)(NvfmMigration *m, GError **error);
	/* Undo the mover's part before the commit point; says what it did. */
	void (*rollback)(NvfmMigration *m, GString *what);
	/* After success: the source VF can go. */
	gboolean (*release)(NvfmMigration *m, GError **error);
	/* Close what the mover holds. */
	void (*clear)(NvfmMigration *m);
} NvfmMoverOps;

extern const NvfmMoverOps nvfm_mover_direct;
extern const NvfmMoverOps nvfm_mover_qemu;
extern const NvfmMoverOps nvfm_mover_libvirt;

typedef struct {
	gint64 start_us;	/* relative to NvfmMigration.t0, -1: not run */
	gint64 end_us;
	guint64 bytes;
	const char *outcome;	/* "ok", "failed", "skipped", "rolled-back" */
	char *note;
} NvfmPhaseRecord;

/* publish.c: what "status" reads while the migration runs */
typedef struct {
	char *id;
	char *path;		/* NULL: not published */
	gint64 started;		/* wall clock, us */
	NvfmMigratePhase phase;	/* of the last write */
	gint64 phase_start_us;
	guint64 phase_base;	/* bytes when the phase began */
	guint64 done, total;
	gint64 last_us;
} NvfmPublish;

struct _NvfmMigration {
	const NvfmMigrateOptions *opts;
	const NvfmMoverOps *mover;
	gint64 t0;
	NvfmMigratePhase phase;
	NvfmPhaseRecord rec[NVFM_MIGRATE_N_PHASES];

	NvfmQmp *src_qmp;	/* NULL: no VM */
	NvfmQmp *dst_qmp;
	gboolean src_was_running;
	guint64 src_event_seq;	/* events before the migration started */
	guint64 dst_event_seq;
	gboolean vm_migrating;	/* "migrate" was sent */
	gboolean vm_completed;	/* QEMU reported "completed" */
	gboolean incoming_started;
	gboolean dest_held;	/* the destination QEMU runs only at our "cont" */
	gint64 continue_us;	/* monotonic time migrate-continue went to the source, 0: not yet */
	gboolean dest_device_added;	/* the qemu mover plugged the VF in */
	gboolean src_quit;	/* the source QEMU was told to quit */
	gboolean tls_src, tls_dst;	/* that QEMU has our tls-creds object (stream-tls.c) */
	char *tls_dir;		/* this host's credentials as QEMU reads them */
	char *tls_agent_dir;	/* the destination's, linked by its agent */
	gint64 pause_us;	/* monotonic time the source VM stopped */
	gint64 resume_us;	/* monotonic time the destination ran */
	gint64 transfer_us;	/* the VF states' transfer in the pause window */
	guint64 dst_stop_seq;	/* events before the rollback's "stop" of the destination */
	gint64 dest_ran_us;	/* how long the destination's guest ran before a
				 * rollback stopped it: 0 never, -1 unknown */
	gint64 rollback_us;	/* monotonic times the rollback began and ended */
	gint64 rollback_end_us;
	char *vm_name;		/* the VM's name, as QEMU or libvirt knows it */
	GPtrArray *series;	/* of NvfmSeries: bytes over time (samples.c) */

	NvfmAgentClient *agent;	/* preflight, provisions (their session leases) */
	NvfmMigrationVf *vfs;	/* every VF of the migration, in the caller's order */
	guint n_vfs;
	guint64 state_size;	/* the VFs' state size estimate, all together */
	guint64 state_bytes;	/* VF state bytes moved, all together */

	gboolean committed;
	GError *cancel_error;

	gpointer mover_data;
	NvfmPublish pub;
};

/* phases.c: the bookkeeping the orchestrator, migrate-vm.c and the movers share */
void nvfm_migration_begin(NvfmMigration *m, NvfmMigratePhase phase);
void nvfm_migration_end(NvfmMigration *m, NvfmMigratePhase phase, guint64 bytes);
/* The bound of the current phase, in ms. */
int nvfm_migration_timeout(NvfmMigration *m);
void nvfm_migration_progress(NvfmMigration *m, guint64 done, guint64 total);
gboolean nvfm_migration_check_cancel(NvfmMigration *m, GError **error);
void nvfm_migration_publish_start(NvfmMigration *m);
void nvfm_migration_publish(NvfmMigration *m, guint64 done, guint64 total);
void nvfm_migration_publish_end(NvfmMigration *m);
/* Gives a source VF back to its PF (a VF no PF manages, or one released
 * already, is fine) and notes it in the release phase. */
gboolean nvfm_migration_release_vf(NvfmMigration *m, const NvfmAddress *vf, GError **error);
/* Every source VF of the migration so; the first failure is the error. */
gboolean nvfm_migration_release_vfs(NvfmMigration *m, GError **error);
/* A fresh connection to the destination agent (the transfer's may be
 * broken after a failure). */
NvfmAgentClient *nvfm_migration_agent(NvfmMigration *m, GError **error);
/* The destination QEMU's monitor: at its address, or through a connection
 * of its own to the agent (dest_qmp_via_agent). */
NvfmQmp *nvfm_migration_dest_qmp(NvfmMigration *m, int timeout_ms, GError **error);

/* stream-tls.c: QEMU's migration stream under the agent link's TLS
 * (nothing when that link is plain); clear undoes it on the QEMUs still
 * there */
void nvfm_migration_stream_tls_preflight(NvfmMigration *m, json_t *src, json_t *dst);
gboolean nvfm_migration_stream_tls_setup(NvfmMigration *m, GError **error);
void nvfm_migration_stream_tls_clear(NvfmMigration *m);

/* samples.c: bytes over time for the report, per series ("RAM", "VF ADDR"):
 * @bytes so far, at this moment. Bounded in memory. */
void nvfm_migration_sample(NvfmMigration *m, const char *series, guint64 bytes);
/* a source VF's series */
void nvfm_migration_sample_vf(NvfmMigration *m, const NvfmMigrationVf *v, guint64 bytes);
json_t *nvfm_migration_samples_json(NvfmMigration *m);

/* dest-phases.c: the destination agent's phases from its receive reply
 * for @v, its clock aligned to ours, into v->dest_report */
void nvfm_migration_dest_phases(NvfmMigration *m, NvfmMigrationVf *v, json_t *agent_result);

/* dirty-cost.c: a source VF's dirty tracking into its facts
 * ("dirty_tracking") and, when none, "dirty_cost" and a warning in @src
 * with the extra downtime per pass (the VM's RAM over the migration
 * bandwidth) */
void nvfm_migration_dirty_preflight(NvfmMigration *m, NvfmMigrationVf *v, json_t *src,
				    const NvfmDirtyInfo *info);

/* migrate-vm.c: the VM's QEMU migration, used by both movers */
void nvfm_migration_vm_preflight(NvfmMigration *m, json_t *source, json_t *destination,
				 json_t *blockers);
/* Capabilities and parameters on both ends, incoming, then "migrate". */
gboolean nvfm_migration_vm_start(NvfmMigration *m, gboolean switchover_ack, GError **error);
/* Called at every poll while waiting for pre-switchover. */
typedef void (*NvfmVmPollFunc)(NvfmMigration *m, const NvfmVmMigrationInfo *info);
/* Waits until the source stopped in pre-switchover; sets pause_us. */
gboolean nvfm_migration_vm_wait_paused(NvfmMigration *m, NvfmVmPollFunc poll, GError **error);
/* The same in slices: returns %TRUE with *@paused %FALSE when @slice_ms
 * passed first (-1: no slice); fails at @deadline (monotonic us). */
gboolean nvfm_migration_vm_poll_paused(NvfmMigration *m, NvfmVmPollFunc poll, gint64 deadline,
				       int slice_ms, gboolean *paused, GError **error);
/* migrate-continue, once: QEMU's last RAM pass and the device states go
 * and the destination loads them. */
gboolean nvfm_migration_vm_continue(NvfmMigration *m, GError **error);
/* migrate-continue (unless sent) and wait for "completed" on the source:
 * the commit point, unless the destination is held. */
gboolean nvfm_migration_vm_switchover(NvfmMigration *m, GError **error);
/* What QEMU's completion moved, as the report's last samples; after the
 * pause window, where the query would have cost time. */
void nvfm_migration_vm_sample_final(NvfmMigration *m);
/* The destination runs; sets resume_us. */
gboolean nvfm_migration_vm_resume(NvfmMigration *m, GError **error);
/* Before the commit point: cancel; the destination QEMU goes. %FALSE when
 * the migration completed first (m->committed is then set). */
gboolean nvfm_migration_vm_cancel(NvfmMigration *m, GString *what);
/* After the mover's rollback: the source VM runs as it did. */
void nvfm_migration_vm_restart_source(NvfmMigration *m, GString *what);
/* After success: the source QEMU quits (it holds nothing any more). */
gboolean nvfm_migration_vm_quit_source(NvfmMigration *m, GError **error);
/* Monotonic time of the first event @name after @since on @qmp, or -1. */
gint64 nvfm_migration_event_time(NvfmQmp *qmp, const char *name, guint64 since);

#pragma GCC visibility pop
