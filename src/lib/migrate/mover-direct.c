// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * The direct mover: the engine drives each source VF's state machine and
 * streams its state to the destination agent, which restores it into the
 * VF it provisioned. With a VM, the VFs' STOP_COPY happens inside the pause
 * window: QEMU's own switchover runs alongside it, with the destination
 * held paused until every VF's state is in.
 *
 * Each VF's send runs in a thread of its own, on a connection of its own;
 * this thread leads them. They meet twice: when all initial bytes are out
 * (the VM's RAM starts moving) and before STOP_COPY (the VM pauses; with
 * several VFs all go to their P2P state before any one stops, as QEMU
 * does). The first failure cancels the others.
 */
#define G_LOG_DOMAIN "nvfm-migrate"

#include <string.h>

#include "nvfm/emu.h"
#include "nvfm/error.h"
#include "nvfm/pf.h"
#include "migrate-private.h"
#include "util/util-private.h"

/* What the sends share, under @mu. */
typedef struct {
	GMutex mu;
	GCond cond;
	GCancellable *cancel;	/* ours, cancelled by the caller's or a failure */
	gulong caller_handler;
	guint initial, arrived, quiesced, finished;
	gboolean go;		/* the VM is paused: on to STOP_COPY */
	gboolean failed;	/* a send failed: the others stop */
	int first_failed;	/* which VF failed first, -1: none */
	gint64 stop_copy_begin;
} Gang;

/* One VF's send. */
typedef struct {
	NvfmMigration *m;
	NvfmMigrationVf *v;
	Gang *g;
	NvfmDevice *dev;
	NvfmAgentClient *agent;	/* this send's connection */
	gboolean own_agent;	/* opened for it (else the orchestrator's) */
	GThread *thread;
	gboolean sent;		/* the source is STOP with its state sent */
	/* under g->mu */
	gboolean initial, arrived, quiesced, finished;
	guint64 done, total;	/* of the save's current phase */
	int sample_phase;	/* the save's phase the last progress named */
	guint64 sample_base;	/* the VF's bytes of the phases before it */
	guint64 sample_done;	/* and of that phase */
	/* the send's outcome, read after its thread ended */
	gboolean ok;
	GError *error;
	NvfmTransferStats st;
	json_t *res;
	gint64 end_us;
} Direct;

/* While the VM's RAM still moves, the agent hears from us this often
 * (its waits for the next frame are bounded, 30 s by default). */
#define KEEPALIVE_MS 1000
/* How often the lead publishes the sends' progress */
#define PROGRESS_MS 100

static Direct *direct(NvfmMigrationVf *v)
{
	if (!v->mover_data)
		v->mover_data = g_new0(Direct, 1);
	return v->mover_data;
}

static gboolean direct_preflight(NvfmMigration *m, NvfmMigrationVf *v, json_t *src,
				 json_t *blockers, GError **error)
{
	Direct *d = direct(v);
	g_autoptr(GError) err = NULL;
	json_t *compat;
	NvfmMigState st;
	NvfmMigFeatures feat;
	NvfmDirtyInfo dirty;
	gboolean has_feat;

	d->dev = nvfm_device_open(v->src, &err);
	if (!d->dev && g_error_matches(err, NVFM_ERROR, NVFM_ERROR_NOT_FOUND)) {
		g_propagate_prefixed_error(error, g_steal_pointer(&err), "source VF: ");
		return FALSE;
	}
	if (!d->dev) {
		json_array_append_new(blockers, json_sprintf("source VF %s: %s", v->src->text,
							     err->message));
		return TRUE;
	}
	compat = nvfm_device_compat_block(d->dev, &err);
	if (!compat) {
		json_array_append_new(blockers, json_sprintf("source VF %s: %s", v->src->text,
							     err->message));
		return TRUE;
	}
	json_object_set_new(v->facts, "compat", compat);
	if (!nvfm_device_get_state(d->dev, &st, &err)) {
		json_array_append_new(blockers, json_sprintf("source VF %s: %s", v->src->text,
							     err->message));
		return TRUE;
	}
	json_object_set_new(v->facts, "vf_state", json_string(nvfm_mig_state_name(st)));
	if (st != NVFM_MIG_STATE_RUNNING)
		json_array_append_new(blockers,
				      json_sprintf("source VF %s is %s, not RUNNING", v->src->text,
						   nvfm_mig_state_name(st)));
	has_feat = nvfm_device_get_features(d->dev, &feat, &err);
	if (m->opts->precopy_rounds && (!has_feat || !(feat.flags & NVFM_MIG_FLAG_PRE_COPY)))
		json_object_set_new(v->facts, "precopy",
				    json_string("not supported by the VF: skipped"));
	/* QEMU's rule for several VFIO devices in one VM: every one can be
	 * quiesced (RUNNING_P2P) before any stops */
	if (m->n_vfs > 1 && (!has_feat || !(feat.flags & NVFM_MIG_FLAG_P2P)))
		json_array_append_new(blockers,
				      json_sprintf("source VF %s does not support VFIO_MIGRATION_P2P, "
						   "which several VFIO devices of one VM need",
						   v->src->text));
	g_clear_error(&err);
	if (nvfm_device_get_dirty_tracking(d->dev, &dirty, &err))
		nvfm_migration_dirty_preflight(m, v, src, &dirty);
	else
		json_array_append_new(json_object_get(src, "warnings"),
				      json_sprintf("source VF %s: %s", v->src->text, err->message));
	return TRUE;
}

static gboolean direct_reserve(NvfmMigration *m G_GNUC_UNUSED, GError **error G_GNUC_UNUSED)
{
	return TRUE;
}

/* ---- in each send's thread ---- */

/* This VF's initial bytes are out (or there was no precopy): the lead
 * starts QEMU's RAM migration once every VF's are. Run together, the RAM
 * could converge first and the VM would wait, paused, for the rest of the
 * VFs' precopy. */
static gboolean direct_initial_sent(gpointer data, GError **error G_GNUC_UNUSED)
{
	Direct *d = data;

	g_mutex_lock(&d->g->mu);
	if (!d->initial) {
		d->initial = TRUE;
		d->g->initial++;
		g_cond_broadcast(&d->g->cond);
	}
	g_mutex_unlock(&d->g->mu);
	return TRUE;
}

/* Quiesce: this VF stops initiating DMA (RUNNING -> RUNNING_P2P,
 * PRE_COPY -> PRE_COPY_P2P; a VF already stopped stays so); the caller
 * waits for the others. */
static gboolean quiesce(Direct *d, GError **error)
{
	NvfmMigState st;

	if (!nvfm_device_get_state(d->dev, &st, error))
		return FALSE;
	if (st == NVFM_MIG_STATE_RUNNING &&
	    !nvfm_device_set_state(d->dev, NVFM_MIG_STATE_RUNNING_P2P, error))
		return FALSE;
	if (st == NVFM_MIG_STATE_PRE_COPY &&
	    !nvfm_device_set_state(d->dev, NVFM_MIG_STATE_PRE_COPY_P2P, error))
		return FALSE;
	g_mutex_lock(&d->g->mu);
	d->quiesced = TRUE;
	d->g->quiesced++;
	g_cond_broadcast(&d->g->cond);
	g_mutex_unlock(&d->g->mu);
	return TRUE;
}

/*
 * This VF's precopy is over (or was never wanted): it waits for the lead's
 * "go" (every VF here, the VM paused), and with several VFs for all of
 * them to be quiesced; then STOP_COPY. Each call waits one keepalive
 * slice at most.
 */
static gboolean direct_pause(gpointer data, gboolean *ready, GError **error)
{
	Direct *d = data;
	Gang *g = d->g;
	gint64 end = g_get_monotonic_time() + (gint64)KEEPALIVE_MS * 1000;
	gboolean go, quiesced = FALSE;

	g_mutex_lock(&g->mu);
	if (!d->arrived) {
		d->arrived = TRUE;
		g->arrived++;
		g_cond_broadcast(&g->cond);
	}
	while (!g->go && !g->failed && g_cond_wait_until(&g->cond, &g->mu, end))
		;
	go = g->go && !g->failed;
	if (g->failed) {
		g_mutex_unlock(&g->mu);
		g_set_error(error, NVFM_ERROR, NVFM_ERROR_CANCELLED,
			    "stopped: the send of another VF failed");
		return FALSE;
	}
	g_mutex_unlock(&g->mu);
	*ready = FALSE;
	if (!go)
		goto out;
	if (d->m->n_vfs > 1 && !d->quiesced && !quiesce(d, error))
		return FALSE;
	g_mutex_lock(&g->mu);
	while (d->m->n_vfs > 1 && g->quiesced < d->m->n_vfs && !g->failed &&
	       g_cond_wait_until(&g->cond, &g->mu, end))
		;
	quiesced = g->quiesced == d->m->n_vfs || d->m->n_vfs == 1;
	*ready = quiesced && !g->failed;
	g_mutex_unlock(&g->mu);
out:
	if (g_cancellable_set_error_if_cancelled(g->cancel, error))
		return FALSE;
	return TRUE;
}

/* The VF's bytes of the phase the save is in, against that phase's own
 * total (precopy: moved + what the device has left; stop-copy: its
 * MIG_DATA_SIZE); the lead publishes them. */
static void direct_progress(int phase, guint64 done, guint64 total, gpointer data)
{
	Direct *d = data;

	g_mutex_lock(&d->g->mu);
	/* the samples count the VF's bytes across phases */
	if (phase != d->sample_phase) {
		d->sample_base += d->sample_done;
		d->sample_phase = phase;
	}
	d->sample_done = done;
	d->done = done;
	d->total = total;
	g_mutex_unlock(&d->g->mu);
}

static gpointer send_thread(gpointer data)
{
	Direct *d = data;
	NvfmMigration *m = d->m;
	NvfmSendOptions so;

	nvfm_send_options_init(&so);
	so.reservation = d->v->reservation;
	so.run = TRUE;
	/* the agent keeps the reservation as the VF runs, before it answers:
	 * no round trip of ours between the VF's restore and our "cont" */
	so.keep = TRUE;
	so.save.precopy_rounds = m->opts->precopy_rounds;
	so.save.precopy_threshold = m->opts->precopy_threshold;
	so.save.timeout_ms = nvfm_migrate_default_timeout_ms(NVFM_MIGRATE_STOP_COPY);
	if (m->opts->timeout_ms[NVFM_MIGRATE_STOP_COPY] > 0)
		so.save.timeout_ms = m->opts->timeout_ms[NVFM_MIGRATE_STOP_COPY];
	so.save.progress = direct_progress;
	so.save.user_data = d;
	so.save.cancellable = d->g->cancel;
	so.save.initial_sent = direct_initial_sent;
	so.save.before_stop_copy = direct_pause;
	so.save.stop_copy_data = d;
	d->ok = nvfm_agent_client_send(d->agent, d->dev, &so, &d->st, &d->res, &d->error);
	d->end_us = nvfm_now_us();
	g_mutex_lock(&d->g->mu);
	d->finished = TRUE;
	d->g->finished++;
	if (!d->ok && !d->g->failed) {
		d->g->failed = TRUE;
		d->g->first_failed = (int)d->v->index;
	}
	g_cond_broadcast(&d->g->cond);
	g_mutex_unlock(&d->g->mu);
	/* the others stop at their next frame */
	if (!d->ok)
		g_cancellable_cancel(d->g->cancel);
	return NULL;
}

/* ---- the lead ---- */

static void caller_cancelled(GCancellable *caller G_GNUC_UNUSED, gpointer data)
{
	g_cancellable_cancel(data);
}

/* The sends' bytes as the report's samples and the progress line. */
static void publish(NvfmMigration *m)
{
	guint64 done = 0, total = 0;

	for (guint i = 0; i < m->n_vfs; i++) {
		Direct *d = m->vfs[i].mover_data;
		guint64 bytes;

		g_mutex_lock(&d->g->mu);
		bytes = d->sample_base + d->sample_done;
		done += d->done;
		total += d->total;
		g_mutex_unlock(&d->g->mu);
		nvfm_migration_sample_vf(m, &m->vfs[i], bytes);
	}
	nvfm_migration_progress(m, done, total);
}

/* Waits (publishing) until @count of the sends reached a point, or one
 * failed, or @deadline passed; TRUE when they did. */
static gboolean wait_for(NvfmMigration *m, Gang *g, guint *count, gint64 deadline)
{
	gboolean reached;

	for (;;) {
		gint64 slice = g_get_monotonic_time() + (gint64)PROGRESS_MS * 1000;

		g_mutex_lock(&g->mu);
		/* what happened before we came here counts: no wait then */
		if (*count < m->n_vfs && !g->failed)
			g_cond_wait_until(&g->cond, &g->mu, MIN(slice, deadline));
		reached = *count >= m->n_vfs && !g->failed;
		if (g->failed || *count >= m->n_vfs || g_get_monotonic_time() >= deadline) {
			g_mutex_unlock(&g->mu);
			publish(m);
			return reached;
		}
		g_mutex_unlock(&g->mu);
		publish(m);
	}
}

/* The phase a failed send names, as an orchestrator phase. */
static NvfmMigratePhase phase_of(const char *send_phase)
{
	static const struct {
		const char *name;
		NvfmMigratePhase phase;
	} map[] = {
		{ "pause", NVFM_MIGRATE_PAUSE }, { "stop-copy", NVFM_MIGRATE_STOP_COPY },
		{ "trailer", NVFM_MIGRATE_STOP_COPY }, { "commit", NVFM_MIGRATE_RESTORE },
		{ "run", NVFM_MIGRATE_RESTORE },
	};

	for (guint i = 0; i < G_N_ELEMENTS(map); i++)
		if (!g_strcmp0(send_phase, map[i].name))
			return map[i].phase;
	return NVFM_MIGRATE_PRECOPY;
}

/* Starts every VF's send, each on a connection of its own: the first on
 * the orchestrator's (which holds the reservations' leases), so that one
 * VF takes one of the agent's sessions, as it always did. */
static gboolean start_sends(NvfmMigration *m, Gang *g, GError **error)
{
	for (guint i = 0; i < m->n_vfs; i++) {
		Direct *d = direct(&m->vfs[i]);

		d->m = m;
		d->v = &m->vfs[i];
		d->g = g;
		d->own_agent = i > 0;
		d->agent = d->own_agent ? nvfm_migration_agent(m, error) : m->agent;
		if (!d->agent)
			return FALSE;
	}
	for (guint i = 0; i < m->n_vfs; i++) {
		Direct *d = m->vfs[i].mover_data;

		d->thread = g_thread_new("nvfm-send", send_thread, d);
	}
	return TRUE;
}

/* The lead's part of the pause: the VM stops (QEMU's RAM converged), the
 * held destination loads alongside, and the phases move on. */
static gboolean pause_vm(NvfmMigration *m, Gang *g, GError **error)
{
	gint64 deadline = nvfm_now_us() + (gint64)nvfm_migration_timeout(m) * 1000;
	gboolean paused = FALSE, failed;

	if (m->src_qmp) {
		/* in slices: a send that fails meanwhile ends the wait */
		while (!paused) {
			if (!nvfm_migration_vm_poll_paused(m, NULL, deadline, PROGRESS_MS, &paused,
							   error))
				return FALSE;
			g_mutex_lock(&g->mu);
			failed = g->failed;
			g_mutex_unlock(&g->mu);
			/* the failed send says why */
			if (failed)
				return TRUE;
		}
		/* the destination is held: QEMU's last RAM pass and its load
		 * on the destination run alongside the VFs' stop-copy */
		if (m->dest_held && !nvfm_migration_vm_continue(m, error))
			return FALSE;
	} else {
		m->pause_us = nvfm_now_us();
	}
	nvfm_migration_end(m, NVFM_MIGRATE_PRECOPY, 0);
	nvfm_migration_begin(m, NVFM_MIGRATE_PAUSE);
	m->rec[NVFM_MIGRATE_PRECOPY].end_us = MIN(m->rec[NVFM_MIGRATE_PRECOPY].end_us,
						  m->pause_us - m->t0);
	m->rec[NVFM_MIGRATE_PAUSE].start_us = m->rec[NVFM_MIGRATE_PRECOPY].end_us;
	if (m->src_qmp)
		m->rec[NVFM_MIGRATE_PAUSE].note =
			g_strdup_printf("QEMU's RAM converged; vCPUs stopped at %.1f ms",
					(m->pause_us - m->t0) / 1000.0);
	nvfm_migration_end(m, NVFM_MIGRATE_PAUSE, 0);
	nvfm_migration_begin(m, NVFM_MIGRATE_STOP_COPY);
	g_mutex_lock(&g->mu);
	g->stop_copy_begin = nvfm_now_us();
	g->go = TRUE;
	g_cond_broadcast(&g->cond);
	g_mutex_unlock(&g->mu);
	return TRUE;
}

/* The sends ran to their end: each VF's figures, or the first failure. */
static gboolean collect(NvfmMigration *m, Gang *g, GError **error)
{
	g_autoptr(GString) names = g_string_new(NULL);
	gint64 restore_begin = g->stop_copy_begin;
	guint64 precopy = 0, stop_copy = 0;

	if (g->first_failed >= 0) {
		Direct *d = m->vfs[g->first_failed].mover_data;

		/* the send brought the source back to RUNNING; the phases up
		 * to stop-copy were begun here, restore is the agent's */
		if (phase_of(d->st.phase) == NVFM_MIGRATE_RESTORE)
			m->phase = NVFM_MIGRATE_RESTORE;
		g_propagate_error(error, g_steal_pointer(&d->error));
		if (m->n_vfs > 1)
			g_prefix_error(error, "VF %s: ", m->vfs[g->first_failed].src->text);
		return FALSE;
	}
	for (guint i = 0; i < m->n_vfs; i++) {
		NvfmMigrationVf *v = &m->vfs[i];
		Direct *d = v->mover_data;

		d->sent = TRUE;
		v->reservation_kept = json_is_true(json_object_get(d->res, "kept"));
		nvfm_migration_dest_phases(m, v, d->res);
		v->state_bytes = d->st.total_bytes;
		v->counted = TRUE;
		v->precopy_bytes = d->st.precopy_bytes;
		v->stop_copy_us = d->st.stop_copy_us;
		v->transfer_us = d->end_us - g->stop_copy_begin;
		nvfm_migration_sample_vf(m, v, v->state_bytes);
		m->state_bytes += v->state_bytes;
		precopy += d->st.precopy_bytes;
		stop_copy += d->st.stop_copy_bytes;
		/* STOP_COPY ended when the last trailer left; the rest was the
		 * agents' validation, commit and RUNNING */
		restore_begin = MAX(restore_begin, g->stop_copy_begin + d->st.stop_copy_us);
		g_string_append_printf(names, "%s%s", i ? ", " : "", v->dest_vf);
	}
	m->rec[NVFM_MIGRATE_PRECOPY].bytes = precopy;
	m->rec[NVFM_MIGRATE_STOP_COPY].end_us = restore_begin - m->t0;
	m->rec[NVFM_MIGRATE_STOP_COPY].bytes = stop_copy;
	m->rec[NVFM_MIGRATE_STOP_COPY].outcome = "ok";
	m->rec[NVFM_MIGRATE_RESTORE].start_us = restore_begin - m->t0;
	m->phase = NVFM_MIGRATE_RESTORE;
	nvfm_migration_end(m, NVFM_MIGRATE_RESTORE, 0);
	m->rec[NVFM_MIGRATE_RESTORE].note =
		g_strdup_printf("destination VF%s %s committed and RUNNING", m->n_vfs > 1 ? "s" : "",
				names->str);
	m->transfer_us = nvfm_now_us() - g->stop_copy_begin;
	return TRUE;
}

static gboolean direct_transfer(NvfmMigration *m, GError **error)
{
	Gang *g = g_new0(Gang, 1);
	GError *err = NULL;
	gint64 deadline;
	gboolean ok;

	m->mover_data = g;
	g_mutex_init(&g->mu);
	g_cond_init(&g->cond);
	g->first_failed = -1;
	g->cancel = g_cancellable_new();
	if (m->opts->cancellable)
		g->caller_handler = g_cancellable_connect(m->opts->cancellable,
							  G_CALLBACK(caller_cancelled),
							  g_object_ref(g->cancel), g_object_unref);
	nvfm_migration_begin(m, NVFM_MIGRATE_PRECOPY);
	/* the series start from nothing moved */
	for (guint i = 0; i < m->n_vfs; i++)
		nvfm_migration_sample_vf(m, &m->vfs[i], 0);
	if (!start_sends(m, g, error))
		return FALSE;

	/* every VF's initial bytes out: QEMU's RAM may move */
	deadline = g_get_monotonic_time() + (gint64)nvfm_migration_timeout(m) * 1000;
	ok = wait_for(m, g, &g->initial, deadline);
	if (ok && m->src_qmp)
		ok = nvfm_migration_vm_start(m, FALSE, &err);
	/* every VF's precopy over: the pause */
	if (ok)
		ok = wait_for(m, g, &g->arrived, deadline);
	if (ok)
		ok = pause_vm(m, g, &err) && !g->failed;
	if (!ok) {
		/* the sends stop at their next frame or wait */
		g_mutex_lock(&g->mu);
		g->failed = TRUE;
		g_cond_broadcast(&g->cond);
		g_mutex_unlock(&g->mu);
		g_cancellable_cancel(g->cancel);
	}
	/* each send's own waits are bounded: so is this */
	g_mutex_lock(&g->mu);
	while (g->finished < m->n_vfs) {
		g_cond_wait_until(&g->cond, &g->mu,
				  g_get_monotonic_time() + (gint64)PROGRESS_MS * 1000);
		g_mutex_unlock(&g->mu);
		publish(m);
		g_mutex_lock(&g->mu);
	}
	g_mutex_unlock(&g->mu);
	for (guint i = 0; i < m->n_vfs; i++) {
		Direct *d = m->vfs[i].mover_data;

		g_thread_join(g_steal_pointer(&d->thread));
		if (d->own_agent)
			nvfm_agent_client_free(d->agent);
		d->agent = NULL;
	}
	if (err) {
		g_propagate_error(error, err);
		return FALSE;
	}
	if (!ok && g->first_failed < 0) {
		g_set_error(error, NVFM_ERROR, NVFM_ERROR_TIMEOUT,
			    "the VFs' precopy did not end within %d ms", nvfm_migration_timeout(m));
		return FALSE;
	}
	return collect(m, g, error);
}

static void direct_switched(NvfmMigration *m G_GNUC_UNUSED)
{
}

static void direct_rollback(NvfmMigration *m, GString *what)
{
	for (guint i = 0; i < m->n_vfs; i++) {
		NvfmMigrationVf *v = &m->vfs[i];
		Direct *d = v->mover_data;
		g_autoptr(GError) err = NULL;
		NvfmMigState st;

		if (!d || !d->dev)
			continue;
		if (d->sent && !nvfm_device_set_state(d->dev, NVFM_MIG_STATE_RUNNING, &err)) {
			g_string_append_printf(what, "; source VF %s: %s", v->src->text, err->message);
			g_clear_error(&err);
			nvfm_device_recover(d->dev, NVFM_MIG_STATE_RUNNING);
		}
		d->sent = FALSE;
		if (nvfm_device_get_state(d->dev, &st, &err))
			g_string_append_printf(what, "; source VF %s%s%s", m->n_vfs > 1 ? v->src->text : "",
					       m->n_vfs > 1 ? " " : "", nvfm_mig_state_name(st));
		else
			g_string_append_printf(what, "; source VF %s: %s", v->src->text, err->message);
	}
}

/* The source VFs gave their state away: close each and hand it back to
 * its PF, if a PF manages it (a bare emu: device or fd: has nothing to
 * release). */
static gboolean direct_release(NvfmMigration *m, GError **error)
{
	for (guint i = 0; i < m->n_vfs; i++) {
		NvfmMigrationVf *v = &m->vfs[i];
		Direct *d = direct(v);
		g_autoptr(GError) err = NULL;

		g_clear_pointer(&d->dev, nvfm_device_close);
		/* An emulated VF can prove what it sent: its digest, stored on
		 * close, is what the destination must now hold. */
		if (v->src->kind == NVFM_ADDR_EMU &&
		    !nvfm_emu_digest(v->src->emu, &v->source_digest, NULL, &err)) {
			g_debug("%s: no digest: %s", v->src->text, err->message);
			g_clear_error(&err);
		}
	}
	return nvfm_migration_release_vfs(m, error);
}

static void direct_clear(NvfmMigration *m)
{
	Gang *g = m->mover_data;

	for (guint i = 0; i < m->n_vfs; i++) {
		Direct *d = m->vfs[i].mover_data;

		if (!d)
			continue;
		/* a thread still running was joined by the transfer */
		nvfm_device_close(d->dev);
		if (d->own_agent)
			nvfm_agent_client_free(d->agent);
		g_clear_error(&d->error);
		json_decref(d->res);
		g_free(d);
		m->vfs[i].mover_data = NULL;
	}
	if (!g)
		return;
	if (g->caller_handler)
		g_cancellable_disconnect(m->opts->cancellable, g->caller_handler);
	g_object_unref(g->cancel);
	g_mutex_clear(&g->mu);
	g_cond_clear(&g->cond);
	g_free(g);
	m->mover_data = NULL;
}

const NvfmMoverOps nvfm_mover_direct = {
	.name = "direct",
	.overlap_switchover = TRUE,
	.preflight = direct_preflight,
	.reserve = direct_reserve,
	.transfer = direct_transfer,
	.switched = direct_switched,
	.rollback = direct_rollback,
	.release = direct_release,
	.clear = direct_clear,
};
