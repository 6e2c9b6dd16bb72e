// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * The migration's bookkeeping, shared by the orchestrator, the VM's QEMU
 * migration (migrate-vm.c) and the movers: phase names and bounds, the
 * per-phase records, progress, cancel, the agent connection and the release
 * of a VF. It sits below all of them so none has to reach up into another.
 */
#define G_LOG_DOMAIN "nvfm-migrate"

#include <string.h>

#include "nvfm/error.h"
#include "nvfm/pf.h"
#include "migrate-private.h"
#include "util/util-private.h"

static const char *const phase_names[NVFM_MIGRATE_N_PHASES] = {
	"preflight", "reserve", "precopy", "pause", "stop-copy",
	"restore", "switchover", "resume", "release",
};

/* Precopy is the long one: it lasts as long as RAM and VF data take to
 * converge. The pause-window phases are short by nature. */
static const int default_timeouts_ms[NVFM_MIGRATE_N_PHASES] = {
	30000, 120000, 600000, 60000, 300000, 120000, 120000, 60000, 120000,
};

const char *nvfm_migrate_phase_name(NvfmMigratePhase phase)
{
	return phase < NVFM_MIGRATE_N_PHASES ? phase_names[phase] : "unknown";
}

int nvfm_migrate_phase_from_name(const char *name)
{
	for (int i = 0; i < NVFM_MIGRATE_N_PHASES; i++)
		if (g_strcmp0(name, phase_names[i]) == 0)
			return i;
	return -1;
}

int nvfm_migrate_default_timeout_ms(NvfmMigratePhase phase)
{
	return phase < NVFM_MIGRATE_N_PHASES ? default_timeouts_ms[phase] : 30000;
}

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
	g_debug("phase %s", phase_names[phase]);
	g_debug("phase %s", phase_names[phase]);
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

	return t > 0 ? t : default_timeouts_ms[m->phase];
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

/* ---- release ---- */

gboolean nvfm_migration_release_vf(NvfmMigration *m, const NvfmAddress *vf, GError **error)
{
	g_autoptr(GError) err = NULL;
	g_autoptr(NvfmVfInfo) info = nvfm_vf_lookup(vf, &err);
	char **note = &m->rec[NVFM_MIGRATE_RELEASE].note;

	g_free(*note);
	if (!info) {
		*note = g_strdup_printf("%s is not a PF's VF: nothing to release", vf->text);
		return TRUE;
	}
	/* a libvirt hook on this host may have been first */
	if (nvfm_vf_info_is_free(info)) {
		*note = g_strdup_printf("source VF %s was released already", info->address);
		return TRUE;
	}
	if (!nvfm_vf_release(info->vf, error))
		return FALSE;
	*note = g_strdup_printf("source VF %s released", info->address);
	return TRUE;
}

