// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * The direct mover: the engine drives the source VF's state machine and
 * streams its state to the destination agent, which restores it into the
 * VF it provisioned. With a VM, the VF's STOP_COPY happens inside the pause
 * window: QEMU's own switchover runs alongside it, with the destination
 * held paused until the VF's state is in.
 */
#define G_LOG_DOMAIN "nvfm-migrate"

#include <string.h>

#include "nvfm/emu.h"
#include "nvfm/error.h"
#include "nvfm/pf.h"
#include "migrate-private.h"
#include "util/util-private.h"

typedef struct {
	NvfmDevice *dev;
	gboolean sent;		/* the source is STOP with its state sent */
	gint64 stop_copy_begin;
	gint64 pause_deadline;	/* the wait for the VM's pause gives up here */
	int sample_phase;	/* the save's phase the last progress named */
	guint64 sample_base;	/* the VF's bytes of the phases before it */
	guint64 sample_done;	/* and of that phase */
} Direct;

/* While the VM's RAM still moves, the agent hears from us this often
 * (its waits for the next frame are bounded, 30 s by default). */
#define KEEPALIVE_MS 1000

static Direct *direct(NvfmMigration *m)
{
	if (!m->mover_data)
		m->mover_data = g_new0(Direct, 1);
	return m->mover_data;
}

static gboolean direct_preflight(NvfmMigration *m, json_t *src, json_t *blockers,
				 GError **error)
{
	Direct *d = direct(m);
	g_autoptr(GError) err = NULL;
	json_t *compat;
	NvfmMigState st;
	NvfmMigFeatures feat;
	NvfmDirtyInfo dirty;

	d->dev = nvfm_device_open(m->opts->vf, &err);
	if (!d->dev && g_error_matches(err, NVFM_ERROR, NVFM_ERROR_NOT_FOUND)) {
		g_propagate_prefixed_error(error, g_steal_pointer(&err), "source VF: ");
		return FALSE;
	}
	if (!d->dev) {
		json_array_append_new(blockers, json_sprintf("source VF: %s", err->message));
		return TRUE;
	}
	compat = nvfm_device_compat_block(d->dev, &err);
	if (!compat) {
		json_array_append_new(blockers, json_sprintf("source VF: %s", err->message));
		return TRUE;
	}
	json_object_set_new(src, "compat", compat);
	if (!nvfm_device_get_state(d->dev, &st, &err)) {
		json_array_append_new(blockers, json_sprintf("source VF: %s", err->message));
		return TRUE;
	}
	json_object_set_new(src, "vf_state", json_string(nvfm_mig_state_name(st)));
	if (st != NVFM_MIG_STATE_RUNNING)
		json_array_append_new(blockers,
				      json_sprintf("source VF %s is %s, not RUNNING", m->opts->vf->text,
						   nvfm_mig_state_name(st)));
	if (m->opts->precopy_rounds &&
	    (!nvfm_device_get_features(d->dev, &feat, &err) || !(feat.flags & NVFM_MIG_FLAG_PRE_COPY)))
		json_object_set_new(src, "precopy", json_string("not supported by the VF: skipped"));
	g_clear_error(&err);
	if (nvfm_device_get_dirty_tracking(d->dev, &dirty, &err))
		nvfm_migration_dirty_preflight(m, src, &dirty);
	else
		json_array_append_new(json_object_get(src, "warnings"),
				      json_sprintf("source VF: %s", err->message));
	return TRUE;
}

static gboolean direct_reserve(NvfmMigration *m G_GNUC_UNUSED, GError **error G_GNUC_UNUSED)
{
	return TRUE;
}

/*
 * The VF's initial bytes are out (or there was no precopy): only now does
 * QEMU's RAM migration start. Run together, the RAM could converge first
 * and the VM would wait, paused, for the rest of the VF's precopy.
 */
static gboolean direct_initial_sent(gpointer data, GError **error)
{
	NvfmMigration *m = data;

	return !m->src_qmp || nvfm_migration_vm_start(m, FALSE, error);
}

/*
 * The VF's precopy is over (or was never wanted): the VM pauses, then
 * STOP_COPY. Until QEMU stops the vCPUs its RAM is still moving, which is
 * precopy and under precopy's bound; the pause phase starts at the STOP.
 */
static gboolean direct_pause(gpointer data, gboolean *ready, GError **error)
{
	NvfmMigration *m = data;
	Direct *d = direct(m);

	if (m->src_qmp) {
		if (!d->pause_deadline)
			d->pause_deadline = nvfm_now_us() + (gint64)nvfm_migration_timeout(m) * 1000;
		if (!nvfm_migration_vm_poll_paused(m, NULL, d->pause_deadline, KEEPALIVE_MS, ready,
						   error))
			return FALSE;
		if (!*ready)
			return TRUE;
		/* the destination is held: QEMU's last RAM pass and its load
		 * on the destination run alongside the VF's stop-copy */
		if (m->dest_held && !nvfm_migration_vm_continue(m, error))
			return FALSE;
	} else {
		m->pause_us = nvfm_now_us();
		*ready = TRUE;
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
	direct(m)->stop_copy_begin = nvfm_now_us();
	return TRUE;
}

/* The VF's bytes of the phase the save is in, against that phase's own
 * total (precopy: moved + what the device has left; stop-copy: its
 * MIG_DATA_SIZE), so the line never shows more done than expected. */
static void direct_progress(int phase, guint64 done, guint64 total,
			    gpointer data)
{
	NvfmMigration *m = data;
	Direct *d = direct(m);

	/* the samples count the VF's bytes across phases */
	if (phase != d->sample_phase) {
		d->sample_base += d->sample_done;
		d->sample_phase = phase;
	}
	d->sample_done = done;
	nvfm_migration_sample_vf(m, d->sample_base + done);
	nvfm_migration_progress(m, done, total);
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

static gboolean direct_transfer(NvfmMigration *m, GError **error)
{
	Direct *d = direct(m);
	NvfmSendOptions so;
	NvfmTransferStats st;
	json_auto_t *res = NULL;
	gint64 restore_begin;

	nvfm_migration_begin(m, NVFM_MIGRATE_PRECOPY);
	/* the series start from nothing moved */
	nvfm_migration_sample_vf(m, 0);
	nvfm_send_options_init(&so);
	so.reservation = m->reservation;
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
	so.save.user_data = m;
	so.save.cancellable = m->opts->cancellable;
	so.save.initial_sent = direct_initial_sent;
	so.save.before_stop_copy = direct_pause;
	so.save.stop_copy_data = m;
	if (!nvfm_agent_client_send(m->agent, d->dev, &so, &st, &res, error)) {
		/* the send brought the source back to RUNNING; the phases up
		 * to stop-copy were begun here, restore is the agent's */
		if (phase_of(st.phase) == NVFM_MIGRATE_RESTORE)
			m->phase = NVFM_MIGRATE_RESTORE;
		return FALSE;
	}
	d->sent = TRUE;
	m->reservation_kept = json_is_true(json_object_get(res, "kept"));
	nvfm_migration_dest_phases(m, res);
	m->state_bytes = st.total_bytes;
	nvfm_migration_sample_vf(m, st.total_bytes);
	m->rec[NVFM_MIGRATE_PRECOPY].bytes = st.precopy_bytes;
	/* STOP_COPY ended when the trailer left; the rest was the agent's
	 * validation, commit and RUNNING */
	restore_begin = d->stop_copy_begin + st.stop_copy_us;
	m->rec[NVFM_MIGRATE_STOP_COPY].end_us = restore_begin - m->t0;
	m->rec[NVFM_MIGRATE_STOP_COPY].bytes = st.stop_copy_bytes;
	m->rec[NVFM_MIGRATE_STOP_COPY].outcome = "ok";
	m->rec[NVFM_MIGRATE_RESTORE].start_us = restore_begin - m->t0;
	m->phase = NVFM_MIGRATE_RESTORE;
	nvfm_migration_end(m, NVFM_MIGRATE_RESTORE, 0);
	m->rec[NVFM_MIGRATE_RESTORE].note =
		g_strdup_printf("destination VF %s committed and RUNNING", m->dest_vf);
	m->transfer_us = nvfm_now_us() - d->stop_copy_begin;
	return TRUE;
}

static void direct_switched(NvfmMigration *m G_GNUC_UNUSED)
{
}

static void direct_rollback(NvfmMigration *m, GString *what)
{
	Direct *d = direct(m);
	g_autoptr(GError) err = NULL;
	NvfmMigState st;

	if (!d->dev)
		return;
	if (d->sent && !nvfm_device_set_state(d->dev, NVFM_MIG_STATE_RUNNING, &err)) {
		g_string_append_printf(what, "; source VF: %s", err->message);
		g_clear_error(&err);
		nvfm_device_recover(d->dev, NVFM_MIG_STATE_RUNNING);
	}
	d->sent = FALSE;
	if (nvfm_device_get_state(d->dev, &st, &err))
		g_string_append_printf(what, "; source VF %s", nvfm_mig_state_name(st));
	else
		g_string_append_printf(what, "; source VF: %s", err->message);
}

/* The source VF gave its state away: close it and hand it back to its PF,
 * if a PF manages it (a bare emu: device or fd: has nothing to release). */
static gboolean direct_release(NvfmMigration *m, GError **error)
{
	Direct *d = direct(m);
	g_autoptr(GError) err = NULL;

	g_clear_pointer(&d->dev, nvfm_device_close);
	/* An emulated VF can prove what it sent: its digest, stored on close,
	 * is what the destination must now hold. */
	if (m->opts->vf->kind == NVFM_ADDR_EMU &&
	    !nvfm_emu_digest(m->opts->vf->emu, &m->source_digest, NULL, &err))
		g_debug("%s: no digest: %s", m->opts->vf->text, err->message);
	return nvfm_migration_release_vf(m, m->opts->vf, error);
}

static void direct_clear(NvfmMigration *m)
{
	Direct *d = m->mover_data;

	if (!d)
		return;
	nvfm_device_close(d->dev);
	g_free(d);
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
