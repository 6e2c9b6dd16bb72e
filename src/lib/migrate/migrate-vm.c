// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * The VM's own migration, common to both movers: QEMU moves RAM (and with
 * the qemu mover the VF) while the orchestrator holds the switchover with
 * "pause-before-switchover", so the pause window is ours: the direct mover
 * moves the VF's state inside it, the qemu mover watches QEMU do so.
 */
#define G_LOG_DOMAIN "nvfm-migrate"

#include <string.h>

#include "nvfm/error.h"
#include "migrate-private.h"
#include "util/util-private.h"

#define POLL_MS 50

static void blocker(json_t *host, const char *msg, const GError *err)
{
	json_array_append_new(json_object_get(host, "blockers"),
			      err ? json_sprintf("%s: %s", msg, err->message) : json_string(msg));
}

static json_t *version_of(NvfmQmp *qmp)
{
	int a, b, c;

	nvfm_qmp_get_version(qmp, &a, &b, &c);
	return json_sprintf("%d.%d.%d", a, b, c);
}

static gboolean older(NvfmQmp *x, NvfmQmp *y)
{
	int a, b, c;

	nvfm_qmp_get_version(y, &a, &b, &c);
	return !nvfm_qmp_version_at_least(x, a, b, c);
}

/* The VM's name (QEMU's -name), for the report; none is fine. */
static void vm_name(NvfmMigration *m)
{
	json_auto_t *r = nvfm_qmp_execute(m->src_qmp, "query-name", NULL,
					  nvfm_migration_timeout(m), NULL);
	const char *name = json_string_value(json_object_get(r, "name"));

	if (name && !m->vm_name)
		m->vm_name = g_strdup(name);
}

/* --multifd: both QEMUs must offer it; the report says how many channels */
static void multifd_preflight(NvfmMigration *m, json_t *src, json_t *dst)
{
	NvfmQmp *q[] = { m->src_qmp, m->dst_qmp };
	json_t *host[] = { src, dst };

	for (guint i = 0; i < G_N_ELEMENTS(q); i++) {
		if (!q[i])
			continue;
		if (!nvfm_vm_migration_cap_supported(q[i], "multifd"))
			blocker(host[i], "QEMU offers no multifd migration (--multifd)", NULL);
		else
			json_object_set_new(host[i], "multifd_channels",
					    json_integer(m->opts->multifd_channels));
	}
}

void nvfm_migration_vm_preflight(NvfmMigration *m, json_t *src, json_t *dst,
				 json_t *unused G_GNUC_UNUSED)
{
	g_autoptr(GError) err = NULL;
	g_autoptr(NvfmVmMigrationInfo) info = NULL;
	g_autofree char *status = NULL;
	g_autofree char *dstatus = NULL;
	int t = nvfm_migration_timeout(m);

	m->src_qmp = nvfm_qmp_connect(m->opts->vm_qmp, t, &err);
	if (!m->src_qmp) {
		blocker(src, "VM's QMP socket", err);
		g_clear_error(&err);
	} else {
		json_object_set_new(src, "qemu", version_of(m->src_qmp));
		vm_name(m);
		if (!nvfm_vm_query_status(m->src_qmp, &status, &m->src_was_running, t, &err)) {
			blocker(src, "query-status", err);
			g_clear_error(&err);
		} else {
			json_object_set_new(src, "vm_status", json_string(status));
			if (strcmp(status, "running") && strcmp(status, "paused"))
				json_array_append_new(json_object_get(src, "blockers"),
						      json_sprintf("the VM is %s, not running or paused",
								   status));
		}
		info = nvfm_vm_query_migration(m->src_qmp, t, &err);
		if (!info) {
			blocker(src, "query-migrate", err);
			g_clear_error(&err);
		} else {
			for (char **r = info->blocked_reasons; r && *r; r++)
				json_array_append_new(json_object_get(src, "blockers"),
						      json_sprintf("QEMU blocks migration: %s", *r));
			if (!strcmp(info->status, "active") || !strcmp(info->status, "setup") ||
			    !strcmp(info->status, "pre-switchover"))
				blocker(src, "a migration of this VM is already running", NULL);
		}
	}
	m->dst_qmp = nvfm_migration_dest_qmp(m, t, &err);
	if (!m->dst_qmp) {
		blocker(dst, "destination QEMU's QMP socket", err);
		return;
	}
	json_object_set_new(dst, "qemu", version_of(m->dst_qmp));
	if (!nvfm_vm_query_status(m->dst_qmp, &dstatus, NULL, t, &err)) {
		blocker(dst, "query-status", err);
		return;
	}
	json_object_set_new(dst, "vm_status", json_string(dstatus));
	if (strcmp(dstatus, "inmigrate"))
		json_array_append_new(json_object_get(dst, "blockers"),
				      json_sprintf("the destination QEMU is %s, not waiting for an "
						   "incoming migration (start it with -incoming defer)",
						   dstatus));
	if (m->opts->multifd_channels)
		multifd_preflight(m, src, dst);
	if (m->src_qmp && older(m->dst_qmp, m->src_qmp))
		json_array_append_new(json_object_get(dst, "blockers"),
				      json_sprintf("the destination QEMU %s is older than the "
						   "source's: QEMU does not migrate backwards",
						   json_string_value(json_object_get(dst, "qemu"))));
}

static gboolean set_caps(NvfmQmp *qmp, gboolean source, gboolean ack, guint multifd, int t,
			 GError **error)
{
	NvfmVmMigrationCap caps[6];
	json_auto_t *params = NULL;
	gsize n = 0;

	caps[n++] = (NvfmVmMigrationCap){ "events", TRUE };
	/* post-copy would run the guest on the destination before the VF's
	 * state is there: never */
	caps[n++] = (NvfmVmMigrationCap){ "postcopy-ram", FALSE };
	if (source)
		caps[n++] = (NvfmVmMigrationCap){ "pause-before-switchover", TRUE };
	if (ack) {
		caps[n++] = (NvfmVmMigrationCap){ "return-path", TRUE };
		caps[n++] = (NvfmVmMigrationCap){ "switchover-ack", TRUE };
	}
	if (multifd)
		caps[n++] = (NvfmVmMigrationCap){ "multifd", TRUE };
	if (!nvfm_vm_set_migration_caps(qmp, caps, n, t, error))
		return FALSE;
	if (!multifd)
		return TRUE;
	/* the same number on both ends: the destination waits for them all */
	params = json_pack("{s:i}", "multifd-channels", (int)multifd);
	return nvfm_vm_set_migration_params(qmp, params, t, error);
}

/*
 * Keeps the destination from starting by itself: QEMU answers "stop" on a
 * VM that still waits for its incoming migration by clearing its
 * autostart, so once the load completes the guest stays paused until our
 * "cont" (nvfm_migration_vm_resume). QEMU's switchover can then run while
 * the VF's state still moves, and no guest instruction runs on the
 * destination before that state is in.
 */
static gboolean hold_destination(NvfmMigration *m, int t, GError **error)
{
	json_auto_t *r = nvfm_qmp_execute(m->dst_qmp, "stop", NULL, t, error);

	if (!r) {
		g_prefix_error(error, "holding the destination VM paused: ");
		return FALSE;
	}
	m->dest_held = TRUE;
	return TRUE;
}

gboolean nvfm_migration_vm_start(NvfmMigration *m, gboolean switchover_ack, GError **error)
{
	int t = nvfm_migration_timeout(m);

	if (m->mover->overlap_switchover && !hold_destination(m, t, error))
		return FALSE;

	if (!set_caps(m->dst_qmp, FALSE, switchover_ack, m->opts->multifd_channels, t, error) ||
	    !set_caps(m->src_qmp, TRUE, switchover_ack, m->opts->multifd_channels, t, error)) {
		g_prefix_error(error, "migration capabilities: ");
		return FALSE;
	}
	if (!nvfm_migration_stream_tls_setup(m, error))
		return FALSE;
	/* the destination's VF enters RESUMING as the incoming side starts */
	m->dst_event_seq = nvfm_qmp_event_seq(m->dst_qmp);
	if (!nvfm_vm_migrate_incoming(m->dst_qmp, m->opts->migrate_uri, t, error))
		return FALSE;
	m->incoming_started = TRUE;
	m->src_event_seq = nvfm_qmp_event_seq(m->src_qmp);
	if (!nvfm_vm_migrate(m->src_qmp, m->opts->migrate_uri, t, error))
		return FALSE;
	m->vm_migrating = TRUE;
	nvfm_migration_sample(m, "RAM", 0);
	return TRUE;
}

gint64 nvfm_migration_event_time(NvfmQmp *qmp, const char *name, guint64 since)
{
	g_autoptr(NvfmQmpEvent) ev = nvfm_qmp_wait_event(qmp, name, NULL, NULL, since, 0, NULL);

	return ev ? nvfm_qmp_event_get_received_us(ev) : -1;
}

static gboolean status_event(const NvfmQmpEvent *ev, gpointer data)
{
	const char *st = json_string_value(json_object_get(nvfm_qmp_event_get_data(ev), "status"));

	return g_strcmp0(st, data) == 0 || nvfm_vm_migration_status_is_final(st);
}

gboolean nvfm_migration_vm_wait_paused(NvfmMigration *m, NvfmVmPollFunc poll, GError **error)
{
	gint64 deadline = nvfm_now_us() + (gint64)nvfm_migration_timeout(m) * 1000;
	gboolean paused = FALSE;

	return nvfm_migration_vm_poll_paused(m, poll, deadline, -1, &paused, error);
}

gboolean nvfm_migration_vm_poll_paused(NvfmMigration *m, NvfmVmPollFunc poll, gint64 deadline,
				       int slice_ms, gboolean *paused, GError **error)
{
	gint64 slice_end = slice_ms < 0 ? G_MAXINT64 : nvfm_now_us() + (gint64)slice_ms * 1000;

	*paused = FALSE;
	for (;;) {
		g_autoptr(NvfmVmMigrationInfo) info = NULL;
		g_autoptr(NvfmQmpEvent) ev = NULL;
		guint64 seq = nvfm_qmp_event_seq(m->src_qmp);
		gint64 left = (deadline - nvfm_now_us()) / 1000;

		if (!nvfm_migration_check_cancel(m, error))
			return FALSE;
		if (left <= 0) {
			g_set_error(error, NVFM_ERROR, NVFM_ERROR_TIMEOUT,
				    "the source VM did not reach pre-switchover within %d ms",
				    nvfm_migration_timeout(m));
			return FALSE;
		}
		info = nvfm_vm_query_migration(m->src_qmp, (int)left, error);
		if (!info)
			return FALSE;
		if (poll)
			poll(m, info);
		if (info->has_ram)
			nvfm_migration_sample(m, "RAM", info->ram_transferred);
		/* QEMU's count is all its VFIO devices': the VF's when one */
		if (info->has_vfio && m->n_vfs == 1)
			nvfm_migration_sample_vf(m, &m->vfs[0], info->vfio_transferred);
		/* QEMU sends dirtied pages again, so transferred outgrows the
		 * guest's RAM size: what is left is transferred + remaining */
		nvfm_migration_progress(m, info->ram_transferred + info->vfio_transferred,
					info->ram_transferred + info->ram_remaining +
					info->vfio_transferred);
		if (!strcmp(info->status, "pre-switchover"))
			break;
		if (nvfm_now_us() >= slice_end)
			return TRUE;
		if (nvfm_vm_migration_status_is_final(info->status)) {
			g_set_error(error, NVFM_ERROR, NVFM_ERROR_FAILED, "the VM's migration %s: %s",
				    info->status, info->error_desc ? info->error_desc : "no reason");
			return FALSE;
		}
		/* the MIGRATION event wakes us at once; the poll interval only
		 * paces the progress reports */
		ev = nvfm_qmp_wait_event(m->src_qmp, "MIGRATION", status_event, "pre-switchover",
					 seq, POLL_MS, NULL);
		/* the pause window has begun: no query more inside it */
		if (ev && !g_strcmp0(json_string_value(json_object_get(nvfm_qmp_event_get_data(ev),
									"status")),
				     "pre-switchover"))
			break;
	}
	m->pause_us = nvfm_migration_event_time(m->src_qmp, "STOP", m->src_event_seq);
	if (m->pause_us < 0)
		m->pause_us = nvfm_now_us();
	*paused = TRUE;
	return TRUE;
}

/* What the completion moved, as the series' last points (for the report
 * only: a failure to read it changes nothing). */
void nvfm_migration_vm_sample_final(NvfmMigration *m)
{
	g_autoptr(NvfmVmMigrationInfo) info =
		nvfm_vm_query_migration(m->src_qmp, nvfm_migration_timeout(m), NULL);

	if (info && info->has_ram)
		nvfm_migration_sample(m, "RAM", info->ram_transferred);
	if (info && info->has_vfio && m->n_vfs == 1)
		nvfm_migration_sample_vf(m, &m->vfs[0], info->vfio_transferred);
}

/* Whether QEMU's MIGRATION event already said "completed" since @since:
 * then no query need ask it again (each costs a round trip, and inside
 * the pause window every one is downtime). */
static gboolean completed_seen(NvfmQmp *qmp, guint64 since)
{
	g_autoptr(NvfmQmpEvent) ev =
		nvfm_qmp_wait_event(qmp, "MIGRATION", status_event, "completed", since, 0, NULL);

	return ev && !g_strcmp0(json_string_value(json_object_get(nvfm_qmp_event_get_data(ev),
								   "status")),
				"completed");
}

gboolean nvfm_migration_vm_continue(NvfmMigration *m, GError **error)
{
	if (m->continue_us)
		return TRUE;
	if (!nvfm_vm_migrate_continue(m->src_qmp, "pre-switchover", nvfm_migration_timeout(m),
				      error))
		return FALSE;
	m->continue_us = nvfm_now_us();
	return TRUE;
}

gboolean nvfm_migration_vm_switchover(NvfmMigration *m, GError **error)
{
	static const char *const done[] = { "completed", NULL };
	int t = nvfm_migration_timeout(m);
	gint64 now = nvfm_now_us();

	if (m->continue_us)
		m->rec[NVFM_MIGRATE_SWITCHOVER].note =
			g_strdup_printf("QEMU's switchover began %.1f ms earlier, alongside the VF's "
					"stop-copy; the destination VM held paused",
					(now - m->continue_us) / 1000.0);
	if (!nvfm_migration_vm_continue(m, error))
		return FALSE;
	if (!completed_seen(m->src_qmp, m->src_event_seq) &&
	    !nvfm_vm_wait_migration(m->src_qmp, done, NULL, t, error))
		return FALSE;
	m->vm_completed = TRUE;
	return TRUE;
}

/* Whether a held destination has said its load completed: it is then
 * paused, and only waits for our "cont". */
static gboolean held_and_loaded(NvfmMigration *m)
{
	return m->dest_held && completed_seen(m->dst_qmp, m->dst_event_seq);
}

gboolean nvfm_migration_vm_resume(NvfmMigration *m, GError **error)
{
	gint64 deadline = nvfm_now_us() + (gint64)nvfm_migration_timeout(m) * 1000;

	/* the common case, with no query first: the pause window ends here */
	if (m->src_was_running && held_and_loaded(m)) {
		if (!nvfm_vm_cont(m->dst_qmp, nvfm_migration_timeout(m), error))
			return FALSE;
		goto resumed;
	}
	for (;;) {
		g_autofree char *status = NULL;
		g_autoptr(NvfmQmpEvent) ev = NULL;
		guint64 seq = nvfm_qmp_event_seq(m->dst_qmp);
		gint64 left = (deadline - nvfm_now_us()) / 1000;

		if (left <= 0) {
			g_set_error(error, NVFM_ERROR, NVFM_ERROR_TIMEOUT,
				    "the destination VM did not start within %d ms",
				    nvfm_migration_timeout(m));
			return FALSE;
		}
		if (!nvfm_vm_query_status(m->dst_qmp, &status, NULL, (int)left, error))
			return FALSE;
		if (!strcmp(status, "running"))
			break;
		/* started with -S, or the source was paused: run it only if
		 * it ran on the source */
		if (!strcmp(status, "paused") || !strcmp(status, "prelaunch")) {
			if (!m->src_was_running)
				break;
			if (!nvfm_vm_cont(m->dst_qmp, (int)left, error))
				return FALSE;
			break;
		}
		if (strcmp(status, "inmigrate") && strcmp(status, "postmigrate")) {
			g_set_error(error, NVFM_ERROR, NVFM_ERROR_STATE,
				    "the destination VM is %s after the migration", status);
			return FALSE;
		}
		/* still loading: a held destination says "completed" when
		 * done, a free one starts (the interval is only a fallback) */
		ev = m->dest_held ?
			nvfm_qmp_wait_event(m->dst_qmp, "MIGRATION", status_event, "completed", seq,
					    POLL_MS, NULL) :
			nvfm_qmp_wait_event(m->dst_qmp, "RESUME", NULL, NULL, seq, POLL_MS, NULL);
	}
resumed:
	m->resume_us = nvfm_migration_event_time(m->dst_qmp, "RESUME", m->dst_event_seq);
	if (m->resume_us < 0)
		m->resume_us = nvfm_now_us();
	return TRUE;
}

/*
 * A destination whose load completed may already run (the qemu mover's
 * QEMU starts it before the VF's commit is known): every ms it runs is
 * history the source will not share, so it stops before anything else
 * the rollback does. Its STOP ends the time dest_ran() measures.
 */
static void freeze_destination(NvfmMigration *m)
{
	json_auto_t *r = NULL;

	if (!m->vm_completed || !m->dst_qmp || !nvfm_qmp_is_connected(m->dst_qmp))
		return;
	m->dst_stop_seq = nvfm_qmp_event_seq(m->dst_qmp);
	r = nvfm_qmp_execute(m->dst_qmp, "stop", NULL, 2000, NULL);
	if (!r)
		m->dst_stop_seq = 0;
}

/*
 * Whether the destination's guest ran before it was stopped, from its
 * events since the migration began (QEMU sends every event before the
 * reply to "quit", and the connection keeps them): no RESUME means no
 * guest instruction ran there; otherwise it ran from that RESUME until
 * our "stop" took (or QEMU shut down). The rollback says which, and the
 * report gives the time (m->dest_ran_us).
 */
static void dest_ran(NvfmMigration *m, gboolean gone, GString *what)
{
	gint64 start = nvfm_migration_event_time(m->dst_qmp, "RESUME", m->dst_event_seq);
	gint64 end = m->dst_stop_seq ? nvfm_migration_event_time(m->dst_qmp, "STOP", m->dst_stop_seq)
				     : -1;

	if (end < 0)
		end = nvfm_migration_event_time(m->dst_qmp, "SHUTDOWN", m->dst_event_seq);

	if (start < 0 && gone) {
		m->dest_ran_us = 0;
		g_string_append(what, "; the destination's guest never ran");
	} else if (start >= 0) {
		m->dest_ran_us = MAX((end >= 0 ? end : nvfm_now_us()) - start, 1);
		g_string_append_printf(what, "; the destination's guest HAD run, for %.1f ms",
				       m->dest_ran_us / 1000.0);
	}
}

/* Waits (bounded) until a QEMU we asked to quit has gone. */
static gboolean quit(NvfmQmp *qmp, int t, GError **error)
{
	json_auto_t *r = nvfm_qmp_execute(qmp, "quit", NULL, t, error);
	gint64 deadline = nvfm_now_us() + (gint64)t * 1000;

	if (!r)
		return !nvfm_qmp_is_connected(qmp);
	while (nvfm_qmp_is_connected(qmp) && nvfm_now_us() < deadline)
		g_usleep(10 * 1000);
	if (nvfm_qmp_is_connected(qmp)) {
		g_set_error(error, NVFM_ERROR, NVFM_ERROR_TIMEOUT, "QEMU did not quit");
		return FALSE;
	}
	return TRUE;
}

gboolean nvfm_migration_vm_cancel(NvfmMigration *m, GString *what)
{
	static const char *const final[] = { "cancelled", "failed", "completed", NULL };
	g_autoptr(GError) err = NULL;
	g_autofree char *st = NULL;
	int t = nvfm_migrate_default_timeout_ms(NVFM_MIGRATE_SWITCHOVER);

	freeze_destination(m);
	if (m->vm_completed) {
		/* QEMU finished, but the destination's VF did not take the
		 * state: the source, paused in postmigrate with its VF's state
		 * intact, is taken back once the destination has stopped */
		g_string_append(what, "; the VM's migration had completed: taking it back");
	} else if (m->vm_migrating) {
		nvfm_vm_migrate_cancel(m->src_qmp, t, NULL);
		if (!nvfm_vm_wait_migration(m->src_qmp, final, &st, t, &err) && !st)
			st = g_strdup(err->code == NVFM_ERROR_CANCELLED ? "cancelled" :
				      err->code == NVFM_ERROR_FAILED ? "failed" : "unknown");
		if (!g_strcmp0(st, "completed") && (m->mover->confirm || m->dest_held)) {
			/* the source is in postmigrate with its state, the
			 * destination did not run (held) or is not confirmed:
			 * take it back like an unconfirmed completion */
			m->vm_completed = TRUE;
			freeze_destination(m);
			g_string_append(what, "; the VM's migration completed: taking it back");
		} else if (!g_strcmp0(st, "completed")) {
			/* the switchover won the race: the VM lives on the
			 * destination now, nothing may roll back */
			m->committed = TRUE;
			g_string_append(what, "; the migration completed before the cancel: the VM "
					"runs on the destination");
			return FALSE;
		} else {
			g_string_append_printf(what, "; VM migration %s", st);
		}
	}
	/* A QEMU that took an incoming migration (or a device for it) is of
	 * no further use; it must let go of the destination VF before the VF
	 * is released. */
	if (m->dst_qmp && (m->incoming_started || m->dest_device_added)) {
		/* a connection already lost may have lost events too: then
		 * only a RESUME seen counts ("HAD run"), never its absence */
		gboolean gone = FALSE;

		g_clear_error(&err);
		if (nvfm_qmp_is_connected(m->dst_qmp)) {
			gone = quit(m->dst_qmp, 5000, &err);
			if (gone)
				g_string_append(what, "; destination QEMU stopped");
			else
				g_string_append_printf(what, "; destination QEMU: %s", err->message);
		}
		dest_ran(m, gone, what);
	}
	return TRUE;
}

void nvfm_migration_vm_restart_source(NvfmMigration *m, GString *what)
{
	g_autoptr(GError) err = NULL;
	g_autofree char *status = NULL;
	gboolean running = FALSE;
	int t = nvfm_migrate_default_timeout_ms(NVFM_MIGRATE_RESUME);

	if (!nvfm_vm_query_status(m->src_qmp, &status, &running, t, &err)) {
		g_string_append_printf(what, "; source VM: %s", err->message);
		return;
	}
	if (!running && m->src_was_running && !nvfm_vm_resume(m->src_qmp, t, &err)) {
		g_string_append_printf(what, "; source VM did not resume: %s", err->message);
		return;
	}
	g_string_append_printf(what, "; VM %s on the source",
			       m->src_was_running ? "running" : "paused as it was");
}

gboolean nvfm_migration_vm_quit_source(NvfmMigration *m, GError **error)
{
	m->src_quit = TRUE;
	return quit(m->src_qmp, nvfm_migration_timeout(m), error);
}
