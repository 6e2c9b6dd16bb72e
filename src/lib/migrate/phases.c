// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * The migration's bookkeeping, shared by the orchestrator, the VM's QEMU
 * migration (migrate-vm.c) and the movers: the per-phase records,
 * progress, cancel, the agent connection and the release of a VF. It sits
 * below all of them so none has to reach up into another.
 */
#define G_LOG_DOMAIN "nvfm-migrate"

#include <string.h>

#include "nvfm/error.h"
#include "nvfm/pf.h"
#include "migrate-private.h"
#include "util/util-private.h"

void nvfm_migrate_options_init(NvfmMigrateOptions *opts)
{
	memset(opts, 0, sizeof(*opts));
	opts->mover = NVFM_MOVER_DIRECT;
	opts->precopy_threshold = 4u << 20;
}

/* ---- phases ---- */

void nvfm_migration_begin(NvfmMigration *m, NvfmMigratePhase phase)
{
	m->phase = phase;
	m->rec[phase].start_us = nvfm_now_us() - m->t0;
	m->rec[phase].end_us = -1;
	g_debug("phase %s", nvfm_migrate_phase_name(phase));
	nvfm_migration_progress(m, 0, 0);
}

void nvfm_migration_end(NvfmMigration *m, NvfmMigratePhase phase, guint64 bytes)
{
	NvfmPhaseRecord *r = &m->rec[phase];

	if (r->start_us < 0)
		r->start_us = nvfm_now_us() - m->t0;
	r->end_us = nvfm_now_us() - m->t0;
	r->bytes += bytes;
	r->outcome = "ok";
}

int nvfm_migration_timeout(NvfmMigration *m)
{
	int t = m->opts->timeout_ms[m->phase];

	return t > 0 ? t : nvfm_migrate_default_timeout_ms(m->phase);
}

void nvfm_migration_progress(NvfmMigration *m, guint64 done, guint64 total)
{
	nvfm_migration_publish(m, done, total);
	if (m->opts->progress)
		m->opts->progress(m->phase, done, total, m->opts->progress_data);
}

gboolean nvfm_migration_check_cancel(NvfmMigration *m, GError **error)
{
	if (m->opts->cancellable && g_cancellable_is_cancelled(m->opts->cancellable)) {
		g_set_error(error, NVFM_ERROR, NVFM_ERROR_CANCELLED, "cancelled");
		return FALSE;
	}
	return TRUE;
}

NvfmAgentClient *nvfm_migration_agent(NvfmMigration *m, GError **error)
{
	return nvfm_agent_client_connect(m->opts->agent, m->opts->tls,
					 nvfm_migration_timeout(m), error);
}

NvfmQmp *nvfm_migration_dest_qmp(NvfmMigration *m, int timeout_ms, GError **error)
{
	NvfmAgentClient *c;

	if (!m->opts->dest_qmp_via_agent)
		return nvfm_qmp_connect(m->opts->dest_qmp, timeout_ms, error);
	c = nvfm_migration_agent(m, error);
	return c ? nvfm_agent_client_open_qmp(c, m->opts->dest_qmp, timeout_ms, error) : NULL;
}

/* ---- release ---- */

/* The release phase's note: one line per VF, "; " between them. */
static void release_note(NvfmMigration *m, char *line)
{
	char **note = &m->rec[NVFM_MIGRATE_RELEASE].note;
	char *old = *note;

	*note = old ? g_strdup_printf("%s; %s", old, line) : g_strdup(line);
	g_free(old);
	g_free(line);
}

gboolean nvfm_migration_release_vf(NvfmMigration *m, const NvfmAddress *vf, GError **error)
{
	g_autoptr(GError) err = NULL;
	g_autoptr(NvfmVfInfo) info = nvfm_vf_lookup(vf, &err);

	if (!info) {
		release_note(m, g_strdup_printf("%s is not a PF's VF: nothing to release", vf->text));
		return TRUE;
	}
	/* a libvirt hook on this host may have been first */
	if (nvfm_vf_info_is_free(info)) {
		release_note(m, g_strdup_printf("source VF %s was released already", info->address));
		return TRUE;
	}
	if (!nvfm_vf_release(info->vf, error))
		return FALSE;
	release_note(m, g_strdup_printf("source VF %s released", info->address));
	return TRUE;
}

gboolean nvfm_migration_release_vfs(NvfmMigration *m, GError **error)
{
	gboolean ok = TRUE;

	for (guint i = 0; i < m->n_vfs; i++) {
		g_autoptr(GError) err = NULL;

		/* the first failure is the one said; the others still go */
		if (!nvfm_migration_release_vf(m, m->vfs[i].src, ok ? error : &err))
			ok = FALSE;
	}
	return ok;
}
