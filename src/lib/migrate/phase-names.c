// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * The migration's phases as a table: their names and their default bounds.
 * Everything that names or bounds a phase reads it here.
 */
#define G_LOG_DOMAIN "nvfm-migrate"

#include "nvfm/migrate.h"

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
