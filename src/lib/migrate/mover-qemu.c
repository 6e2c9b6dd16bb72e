// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * The qemu mover: QEMU (>= 8.1, vfio-pci with enable-migration) drives the
 * VF's state machine and carries its state in the migration stream. The
 * orchestrator plugs the freshly provisioned destination VF into the
 * destination QEMU with the source's id and guest address, sets
 * switchover-ack where both ends have it, keeps the downtime-limit in step
 * with the VF's state size and the link rate QEMU measures, and follows the
 * "vfio" bytes and VFIO_MIGRATION events.
 */
#define G_LOG_DOMAIN "nvfm-migrate"

#include <string.h>

#include "nvfm/error.h"
#include "nvfm/pf.h"
#include "migrate-private.h"
#include "util/util-private.h"

/* The floor QEMU itself defaults to, and what to add to the arithmetic for
 * the final RAM pass and the device's commit. */
#define DOWNTIME_FLOOR_MS 300
#define DOWNTIME_MARGIN_MS 100
/* ram.mbps is what QEMU achieved, which an idle guest keeps far below the
 * link's rate: never let that stretch the limit past this */
#define DOWNTIME_CAP_MS 10000

/* One VF's vfio-pci device in the VM. */
typedef struct {
	NvfmVmPciDevice *vmdev;
	char *bus;
	json_t *copied_props;
} QemuVf;

typedef struct {
	gboolean ack;
	guint downtime_ms;	/* last downtime-limit set */
	double best_mbps;	/* the fastest rate QEMU has shown: the link's, nearly */
	gint64 switch_begin;
} Qemu;

/* vfio-pci options the destination device must share with the source's */
static const char *const copied[] = {
	"x-msix-relocation", "enable-migration", "rombar", "x-no-mmap",
	"x-pre-copy-dirty-page-tracking",
};

static Qemu *qemu(NvfmMigration *m)
{
	if (!m->mover_data)
		m->mover_data = g_new0(Qemu, 1);
	return m->mover_data;
}

static QemuVf *qemu_vf(NvfmMigrationVf *v)
{
	if (!v->mover_data)
		v->mover_data = g_new0(QemuVf, 1);
	return v->mover_data;
}

static json_t *qom_get(NvfmQmp *qmp, const char *path, const char *prop, int t, GError **error)
{
	json_auto_t *args = json_pack("{s:s, s:s}", "path", path, "property", prop);

	return nvfm_qmp_execute(qmp, "qom-get", args, t, error);
}

static void add_blocker(json_t *blockers, const char *fmt, ...) G_GNUC_PRINTF(2, 3);

static void add_blocker(json_t *blockers, const char *fmt, ...)
{
	g_autofree char *line = NULL;
	va_list ap;

	va_start(ap, fmt);
	line = g_strdup_vprintf(fmt, ap);
	va_end(ap);
	json_array_append_new(blockers, json_string(line));
}

static gboolean qemu_preflight(NvfmMigration *m, NvfmMigrationVf *v, json_t *src,
			       json_t *blockers, GError **error G_GNUC_UNUSED)
{
	Qemu *mq = qemu(m);
	QemuVf *q = qemu_vf(v);
	g_autoptr(GError) err = NULL;
	g_autoptr(NvfmVfInfo) info = NULL;
	g_autofree char *path = NULL;
	g_autofree char *guest = NULL;
	json_auto_t *bus = NULL;
	int t = nvfm_migration_timeout(m);
	json_t *compat;

	if (!m->src_qmp)
		return TRUE;
	/* the VM's own facts, once */
	if (v->index == 0) {
		if (!nvfm_qmp_version_at_least(m->src_qmp, 8, 1, 0))
			add_blocker(blockers, "QEMU %s cannot migrate VFIO devices (needs 8.1)",
				    json_string_value(json_object_get(src, "qemu")));
		if (m->dst_qmp && !nvfm_qmp_version_at_least(m->dst_qmp, 8, 1, 0))
			add_blocker(blockers,
				    "the destination QEMU cannot migrate VFIO devices (needs 8.1)");
		mq->ack = nvfm_vm_migration_cap_supported(m->src_qmp, "switchover-ack") &&
			  m->dst_qmp && nvfm_vm_migration_cap_supported(m->dst_qmp, "switchover-ack");
		json_object_set_new(src, "switchover_ack", json_boolean(mq->ack));
	}

	/* by its id, else by the host address QEMU shows (a PCI VF's, or an
	 * emulated VF's name) */
	q->vmdev = nvfm_vm_find_vfio_device(m->src_qmp,
					    m->opts->vm_device_id ? m->opts->vm_device_id :
					    *v->src->pci ? v->src->pci : v->src->text, t, &err);
	if (!q->vmdev) {
		add_blocker(blockers, "the VM's device of VF %s: %s", v->src->text, err->message);
		return TRUE;
	}
	guest = nvfm_vm_pci_device_guest_address(q->vmdev);
	json_object_set_new(v->facts, "vm_device", json_pack("{s:s, s:s?, s:s}", "id",
							q->vmdev->qdev_id, "host", q->vmdev->host,
							"guest_address", guest));
	if (!*q->vmdev->qdev_id) {
		add_blocker(blockers, "the VF's vfio-pci device has no id: the destination "
			    "could not match it");
		return TRUE;
	}
	path = g_strdup_printf("/machine/peripheral/%s", q->vmdev->qdev_id);
	bus = qom_get(m->src_qmp, path, "parent_bus", t, &err);
	if (!json_is_string(bus)) {
		add_blocker(blockers, "the VF device's bus: %s", err ? err->message : "unknown");
		return TRUE;
	}
	q->bus = g_path_get_basename(json_string_value(bus));
	q->copied_props = json_object();
	for (guint i = 0; i < G_N_ELEMENTS(copied); i++) {
		json_t *val = qom_get(m->src_qmp, path, copied[i], t, NULL);

		if (val)
			json_object_set_new(q->copied_props, copied[i], val);
	}
	if (!g_strcmp0(json_string_value(json_object_get(q->copied_props, "enable-migration")),
		       "off"))
		add_blocker(blockers, "the VF device has enable-migration=off");

	/* QEMU holds the VF: its compatibility facts come from what the guest
	 * sees and from sysfs, not from opening it */
	compat = json_pack("{s:i, s:i}", "vendor_id", q->vmdev->vendor_id, "device_id",
			   q->vmdev->device_id);
	info = nvfm_vf_lookup(v->src, &err);
	if (info && info->driver)
		json_object_set_new(compat, "driver", json_string(info->driver));
	json_object_set_new(v->facts, "compat", compat);
	return TRUE;
}

/* The destination's twin of the VF's device: same id, bus, slot and
 * options, on the destination VF. */
static gboolean add_device(NvfmMigration *m, NvfmMigrationVf *v, GError **error)
{
	QemuVf *q = qemu_vf(v);
	json_auto_t *props = json_deep_copy(q->copied_props);
	g_autofree char *addr = g_strdup_printf("%x.%x", q->vmdev->slot, q->vmdev->function);

	if (!v->dest_vf_pci) {
		g_set_error(error, NVFM_ERROR, NVFM_ERROR_NOT_SUPPORTED,
			    "the destination VF %s has no PCI address for vfio-pci", v->dest_vf);
		return FALSE;
	}
	json_object_set_new(props, "driver", json_string("vfio-pci"));
	json_object_set_new(props, "id", json_string(q->vmdev->qdev_id));
	json_object_set_new(props, "host", json_string(v->dest_vf_pci));
	json_object_set_new(props, "bus", json_string(q->bus));
	json_object_set_new(props, "addr", json_string(addr));
	/* QEMU >= 9.1 reports the device's state changes: how we learn that
	 * the VF took the state (see qemu_confirm) */
	if (nvfm_qmp_version_at_least(m->dst_qmp, 9, 1, 0))
		json_object_set_new(props, "migration-events", json_true());
	if (m->opts->dest_device_props) {
		json_error_t jerr;
		json_auto_t *extra = json_loads(m->opts->dest_device_props, 0, &jerr);

		if (!json_is_object(extra)) {
			g_set_error(error, NVFM_ERROR, NVFM_ERROR_INVALID_ARG,
				    "destination device properties: not a JSON object");
			return FALSE;
		}
		json_object_update(props, extra);
	}
	if (!nvfm_vm_device_add(m->dst_qmp, props, nvfm_migration_timeout(m), error)) {
		g_prefix_error(error, "device_add of %s on the destination: ", q->vmdev->qdev_id);
		return FALSE;
	}
	m->dest_device_added = TRUE;
	return TRUE;
}

static gboolean qemu_reserve(NvfmMigration *m, GError **error)
{
	for (guint i = 0; i < m->n_vfs; i++)
		if (!add_device(m, &m->vfs[i], error))
			return FALSE;
	return TRUE;
}

/* downtime-limit = the VF's state at the link rate QEMU measures, plus a
 * margin; never below QEMU's own default. */
static guint downtime_for(guint64 state_size, double mbps)
{
	double ms;

	if (!state_size || mbps <= 0)
		return DOWNTIME_FLOOR_MS;
	ms = (double)state_size * 8.0 / (mbps * 1e6) * 1000.0 * 1.25 + DOWNTIME_MARGIN_MS;
	return (guint)MIN(MAX(ms, DOWNTIME_FLOOR_MS), DOWNTIME_CAP_MS);
}

static void set_downtime(NvfmMigration *m, guint ms)
{
	Qemu *q = qemu(m);
	g_autoptr(GError) err = NULL;
	json_auto_t *p = NULL;

	/* only changes worth a round trip */
	if (q->downtime_ms && ms < q->downtime_ms * 11 / 10 && ms > q->downtime_ms * 9 / 10)
		return;
	p = json_pack("{s:i}", "downtime-limit", ms);
	if (!nvfm_vm_set_migration_params(m->src_qmp, p, nvfm_migration_timeout(m), &err)) {
		g_debug("downtime-limit %u: %s", ms, err->message);
		return;
	}
	q->downtime_ms = ms;
}

/* QEMU counts all its VFIO devices' bytes together: a VF's own only when
 * it is the one. */
static void set_state_bytes(NvfmMigration *m, guint64 bytes)
{
	m->state_bytes = bytes;
	if (m->n_vfs == 1) {
		m->vfs[0].state_bytes = bytes;
		m->vfs[0].counted = TRUE;
	}
}

static void qemu_poll(NvfmMigration *m, const NvfmVmMigrationInfo *info)
{
	Qemu *q = qemu(m);

	if (info->has_vfio)
		set_state_bytes(m, info->vfio_transferred);
	/* only while RAM flows: once paused, every round trip is downtime */
	if (g_strcmp0(info->status, "active"))
		return;
	q->best_mbps = MAX(q->best_mbps, info->ram_mbps);
	if (!m->opts->downtime_limit_ms && q->best_mbps > 0)
		set_downtime(m, downtime_for(m->state_size, q->best_mbps));
}

static gboolean qemu_transfer(NvfmMigration *m, GError **error)
{
	Qemu *q = qemu(m);

	nvfm_migration_begin(m, NVFM_MIGRATE_PRECOPY);
	set_downtime(m, m->opts->downtime_limit_ms ? m->opts->downtime_limit_ms :
			downtime_for(m->state_size, 0));
	if (!nvfm_migration_vm_start(m, q->ack, error))
		return FALSE;
	if (!nvfm_migration_vm_wait_paused(m, qemu_poll, error))
		return FALSE;
	/* the vCPUs stopped when QEMU's precopy converged; the pause lasted
	 * until pre-switchover */
	m->rec[NVFM_MIGRATE_PRECOPY].end_us = m->pause_us - m->t0;
	m->rec[NVFM_MIGRATE_PRECOPY].outcome = "ok";
	m->rec[NVFM_MIGRATE_PRECOPY].bytes = m->state_bytes;
	if (m->n_vfs == 1)
		m->vfs[0].precopy_bytes = m->state_bytes;
	m->rec[NVFM_MIGRATE_PAUSE].start_us = m->pause_us - m->t0;
	m->phase = NVFM_MIGRATE_PAUSE;
	nvfm_migration_end(m, NVFM_MIGRATE_PAUSE, 0);
	m->rec[NVFM_MIGRATE_PRECOPY].note = g_strdup_printf("downtime-limit %u ms",
							    q->downtime_ms);
	q->switch_begin = nvfm_now_us();
	return TRUE;
}

/* The VFIO_MIGRATION states device @id went through on @qmp since @seq,
 * as "a > b > c" (%NULL: none seen). */
static char *vfio_states(NvfmQmp *qmp, const char *id, guint64 seq)
{
	g_autoptr(GString) s = g_string_new(NULL);

	for (guint n = 0; n < 64; n++) {
		g_autoptr(NvfmQmpEvent) ev = nvfm_qmp_wait_event(qmp, "VFIO_MIGRATION", NULL, NULL,
								seq, 0, NULL);
		json_t *data;

		if (!ev)
			break;
		seq = nvfm_qmp_event_get_seq(ev);
		data = nvfm_qmp_event_get_data(ev);
		if (g_strcmp0(json_string_value(json_object_get(data, "device-id")), id))
			continue;
		g_string_append_printf(s, "%s%s", s->len ? " > " : "",
				       json_string_value(json_object_get(data, "device-state")));
	}
	return s->len ? g_strdup(s->str) : NULL;
}

/* Each VF's VFIO_MIGRATION states on @qmp since @seq: "a > b" for one
 * VF, "id: a > b; id2: ..." for several (%NULL: none seen). */
static char *all_states(NvfmMigration *m, NvfmQmp *qmp, guint64 seq)
{
	g_autoptr(GString) s = g_string_new(NULL);

	for (guint i = 0; i < m->n_vfs; i++) {
		QemuVf *q = m->vfs[i].mover_data;
		g_autofree char *st = q && q->vmdev ? vfio_states(qmp, q->vmdev->qdev_id, seq) : NULL;

		if (!st)
			continue;
		if (m->n_vfs == 1)
			g_string_append(s, st);
		else
			g_string_append_printf(s, "%s%s: %s", s->len ? "; " : "", q->vmdev->qdev_id, st);
	}
	return s->len ? g_strdup(s->str) : NULL;
}

/* The VFs' stop-copy and restore ran inside QEMU's switchover. */
static void qemu_switched(NvfmMigration *m)
{
	Qemu *q = qemu(m);
	g_autoptr(NvfmVmMigrationInfo) info = NULL;
	g_autofree char *states = NULL;
	gint64 now = nvfm_now_us();

	info = nvfm_vm_query_migration(m->src_qmp, nvfm_migration_timeout(m), NULL);
	if (info && info->has_vfio)
		set_state_bytes(m, info->vfio_transferred);
	/* no transfer_us: the VF's share of QEMU's switchover cannot be told
	 * apart from the RAM's, and the destination may run before the source
	 * reports completion */
	m->rec[NVFM_MIGRATE_STOP_COPY].start_us = q->switch_begin - m->t0;
	m->rec[NVFM_MIGRATE_STOP_COPY].end_us = now - m->t0;
	m->rec[NVFM_MIGRATE_STOP_COPY].bytes = m->state_bytes;
	m->rec[NVFM_MIGRATE_STOP_COPY].outcome = "ok";
	states = all_states(m, m->src_qmp, m->src_event_seq);
	m->rec[NVFM_MIGRATE_STOP_COPY].note =
		g_strdup_printf("inside QEMU's switchover%s%s", states ? "; VFIO_MIGRATION: " : "",
				states ? states : "");
	m->rec[NVFM_MIGRATE_RESTORE].start_us = now - m->t0;
}

/*
 * The destination QEMU commits a VF's state only as its VM starts
 * (RESUMING -> RUNNING_P2P/RUNNING, where the driver validates); a refusal
 * there never reaches the source. Its VFIO_MIGRATION events tell: after
 * "resuming" the device must reach "running-p2p" (or "running" for a
 * device without P2P, i.e. whose source never went through a -p2p state).
 * 1: took it, 0: not yet, -1: refused (with @error).
 */
static int vf_confirmed(NvfmMigration *m, NvfmMigrationVf *v, char **seen, GError **error)
{
	QemuVf *q = v->mover_data;
	g_autofree char *src = vfio_states(m->src_qmp, q->vmdev->qdev_id, m->src_event_seq);
	/* the destination VF's own flags (same model) say whether QEMU must
	 * pass RUNNING_P2P; the source's events, when it reports any, too */
	json_int_t flags = json_integer_value(json_object_get(v->dest_compat, "migration_flags"));
	gboolean p2p = (flags & NVFM_MIG_FLAG_P2P) || (src && strstr(src, "-p2p"));
	char *dst = vfio_states(m->dst_qmp, q->vmdev->qdev_id, m->dst_event_seq);
	const char *after = dst ? strstr(dst, "resuming") : NULL;

	g_free(*seen);
	*seen = dst;
	if (after && (strstr(after, "running-p2p") || (!p2p && strstr(after, "> running"))))
		return 1;
	if (after && p2p && strstr(after, "> running")) {
		g_set_error(error, NVFM_ERROR, NVFM_ERROR_STATE,
			    "the destination VF %s refused the state: it went %s without "
			    "RUNNING_P2P (the destination QEMU reset it)", v->dest_vf, dst);
		return -1;
	}
	return 0;
}

static gboolean qemu_confirm(NvfmMigration *m, GError **error)
{
	gint64 deadline = nvfm_now_us() + (gint64)nvfm_migration_timeout(m) * 1000;
	NvfmPhaseRecord *r = &m->rec[NVFM_MIGRATE_RESTORE];

	if (!nvfm_qmp_version_at_least(m->dst_qmp, 9, 1, 0)) {
		r->note = g_strdup("unconfirmed: the destination QEMU reports no VFIO_MIGRATION "
				   "events (needs 9.1)");
		nvfm_migration_end(m, NVFM_MIGRATE_RESTORE, 0);
		return TRUE;
	}
	/* every VF, in turn, within the one bound */
	for (guint i = 0; i < m->n_vfs; i++) {
		g_autofree char *seen = NULL;
		int ok;

		while (!(ok = vf_confirmed(m, &m->vfs[i], &seen, error))) {
			if (nvfm_now_us() > deadline) {
				g_set_error(error, NVFM_ERROR, NVFM_ERROR_TIMEOUT,
					    "the destination VF %s did not report RUNNING within "
					    "%d ms (%s)", m->vfs[i].dest_vf, nvfm_migration_timeout(m),
					    seen ? seen : "no VFIO_MIGRATION events");
				ok = -1;
				break;
			}
			g_usleep(20 * 1000);
		}
		if (ok < 0) {
			m->phase = NVFM_MIGRATE_RESTORE;
			return FALSE;
		}
	}
	{
		g_autofree char *dst = all_states(m, m->dst_qmp, m->dst_event_seq);

		r->note = g_strdup_printf("the destination VF%s took the state (%s)",
					  m->n_vfs > 1 ? "s" : "", dst);
	}
	nvfm_migration_end(m, NVFM_MIGRATE_RESTORE, 0);
	return TRUE;
}

/*
 * The source's QEMU only learns that "the sibling indicated an error": the
 * destination failed to load the VM and said so on the return path (a
 * destination that died instead shows as a broken connection). When a
 * destination VF had begun taking its state then (its QEMU reported it
 * RESUMING), the load failed in the VFs' restore: with a driver that
 * checks the state as it arrives, the VF refused it. That is the restore
 * phase failing, and the destination may say why.
 */
#define QEMU_LOAD_FAILED "Sibling indicated error"

static void qemu_switchover_failed(NvfmMigration *m, GError **error)
{
	g_autofree char *dst = NULL;
	g_autoptr(NvfmVmMigrationInfo) info = NULL;
	g_autoptr(GError) src = NULL;

	if (!m->dst_qmp || !*error || !strstr((*error)->message, QEMU_LOAD_FAILED))
		return;
	dst = all_states(m, m->dst_qmp, m->dst_event_seq);
	if (!dst || !strstr(dst, "resuming"))
		return;
	/* the destination QEMU may have exited already: then its events say
	 * all there is */
	info = nvfm_vm_query_migration(m->dst_qmp, 2000, NULL);
	src = g_steal_pointer(error);
	nvfm_migration_end(m, NVFM_MIGRATE_SWITCHOVER, 0);
	m->rec[NVFM_MIGRATE_SWITCHOVER].outcome = "failed";
	m->phase = NVFM_MIGRATE_RESTORE;
	g_set_error(error, NVFM_ERROR, NVFM_ERROR_STATE,
		    "the destination VF refused its state: the destination failed to load the VM "
		    "while its VF was taking it (VFIO_MIGRATION %s; destination: %s; source: %s)",
		    dst, info && info->error_desc ? info->error_desc : "no reason given",
		    src->message);
}

static void qemu_rollback(NvfmMigration *m, GString *what)
{
	g_string_append_printf(what, "; source VF%s left with QEMU (it runs again with the VM)",
			       m->n_vfs > 1 ? "s" : "");
}

/* the source QEMU has quit: nobody holds the VFs any more */
static gboolean qemu_release(NvfmMigration *m, GError **error)
{
	return nvfm_migration_release_vfs(m, error);
}

static void qemu_clear(NvfmMigration *m)
{
	for (guint i = 0; i < m->n_vfs; i++) {
		QemuVf *q = m->vfs[i].mover_data;

		if (!q)
			continue;
		nvfm_vm_pci_device_free(q->vmdev);
		g_free(q->bus);
		json_decref(q->copied_props);
		g_free(q);
		m->vfs[i].mover_data = NULL;
	}
	g_clear_pointer(&m->mover_data, g_free);
}

const NvfmMoverOps nvfm_mover_qemu = {
	.name = "qemu",
	.preflight = qemu_preflight,
	.reserve = qemu_reserve,
	.transfer = qemu_transfer,
	.switched = qemu_switched,
	.switchover_failed = qemu_switchover_failed,
	.confirm = qemu_confirm,
	.rollback = qemu_rollback,
	.release = qemu_release,
	.clear = qemu_clear,
};
