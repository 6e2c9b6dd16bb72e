/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The VFIO migration v2 state machine as data: state names, which states a
 * device with given flags has, and the planner that splits a request into
 * the single arcs the uAPI defines.
 *
 * The planner follows the kernel's rules for combination transitions: from
 * each state, the table names the next hop towards each target along the
 * full-featured FSM; hops the device lacks are skipped by looking up the
 * next hop from that absent state. Requests the uAPI forbids fail with
 * -EINVAL, and so does STOP_COPY -> PRE_COPY*, which some kernels loop on.
 */
#define G_LOG_DOMAIN "nvfm-vfio"

#include <string.h>

#include "engine-private.h"

/* next_hop[cur][target] on a device that has every optional state */
static const guint8 next_hop[NVFM_MIG_STATE_COUNT][NVFM_MIG_STATE_COUNT] = {
	[S_STOP] = {
		[S_STOP] = S_STOP, [S_RUN] = S_RP2P, [S_SC] = S_SC, [S_RES] = S_RES,
		[S_RP2P] = S_RP2P, [S_PC] = S_RP2P, [S_PCP2P] = S_RP2P, [S_ERR] = S_ERR,
	},
	[S_RUN] = {
		[S_STOP] = S_RP2P, [S_RUN] = S_RUN, [S_SC] = S_RP2P, [S_RES] = S_RP2P,
		[S_RP2P] = S_RP2P, [S_PC] = S_PC, [S_PCP2P] = S_RP2P, [S_ERR] = S_ERR,
	},
	[S_PC] = {
		[S_STOP] = S_RUN, [S_RUN] = S_RUN, [S_SC] = S_PCP2P, [S_RES] = S_RUN,
		[S_RP2P] = S_RUN, [S_PC] = S_PC, [S_PCP2P] = S_PCP2P, [S_ERR] = S_ERR,
	},
	[S_PCP2P] = {
		[S_STOP] = S_RP2P, [S_RUN] = S_RP2P, [S_SC] = S_SC, [S_RES] = S_RP2P,
		[S_RP2P] = S_RP2P, [S_PC] = S_PC, [S_PCP2P] = S_PCP2P, [S_ERR] = S_ERR,
	},
	[S_SC] = {
		[S_STOP] = S_STOP, [S_RUN] = S_STOP, [S_SC] = S_SC, [S_RES] = S_STOP,
		[S_RP2P] = S_STOP, [S_PC] = S_ERR, [S_PCP2P] = S_ERR, [S_ERR] = S_ERR,
	},
	[S_RES] = {
		[S_STOP] = S_STOP, [S_RUN] = S_STOP, [S_SC] = S_STOP, [S_RES] = S_RES,
		[S_RP2P] = S_STOP, [S_PC] = S_STOP, [S_PCP2P] = S_STOP, [S_ERR] = S_ERR,
	},
	[S_RP2P] = {
		[S_STOP] = S_STOP, [S_RUN] = S_RUN, [S_SC] = S_STOP, [S_RES] = S_STOP,
		[S_RP2P] = S_RP2P, [S_PC] = S_RUN, [S_PCP2P] = S_PCP2P, [S_ERR] = S_ERR,
	},
	[S_ERR] = {
		[S_STOP] = S_ERR, [S_RUN] = S_ERR, [S_SC] = S_ERR, [S_RES] = S_ERR,
		[S_RP2P] = S_ERR, [S_PC] = S_ERR, [S_PCP2P] = S_ERR, [S_ERR] = S_ERR,
	},
};

/* the flags a device must report for each state to exist */
static const guint32 state_needs[NVFM_MIG_STATE_COUNT] = {
	[S_ERR] = NVFM_MIG_FLAG_STOP_COPY,
	[S_STOP] = NVFM_MIG_FLAG_STOP_COPY,
	[S_RUN] = NVFM_MIG_FLAG_STOP_COPY,
	[S_SC] = NVFM_MIG_FLAG_STOP_COPY,
	[S_RES] = NVFM_MIG_FLAG_STOP_COPY,
	[S_RP2P] = NVFM_MIG_FLAG_P2P,
	[S_PC] = NVFM_MIG_FLAG_PRE_COPY,
	[S_PCP2P] = NVFM_MIG_FLAG_P2P | NVFM_MIG_FLAG_PRE_COPY,
};

static const char *const state_names[NVFM_MIG_STATE_COUNT] = {
	[S_ERR] = "ERROR",
	[S_STOP] = "STOP",
	[S_RUN] = "RUNNING",
	[S_SC] = "STOP_COPY",
	[S_RES] = "RESUMING",
	[S_RP2P] = "RUNNING_P2P",
	[S_PC] = "PRE_COPY",
	[S_PCP2P] = "PRE_COPY_P2P",
};

static gboolean state_valid(NvfmMigState s)
{
	return (guint)s < NVFM_MIG_STATE_COUNT;
}

const char *nvfm_mig_state_name(NvfmMigState state)
{
	return state_valid(state) ? state_names[state] : "INVALID";
}

gboolean nvfm_mig_state_parse(const char *name, NvfmMigState *out, GError **error)
{
	g_autofree char *norm = g_ascii_strup(name ? name : "", -1);

	g_strdelimit(norm, "-", '_');
	for (guint i = 0; i < NVFM_MIG_STATE_COUNT; i++) {
		if (strcmp(norm, state_names[i]) == 0) {
			*out = (NvfmMigState)i;
			return TRUE;
		}
	}
	g_set_error(error, NVFM_ERROR, NVFM_ERROR_INVALID_ARG,
		    "unknown migration state '%s' (expected RUNNING, STOP, STOP_COPY, "
		    "RESUMING, RUNNING_P2P, PRE_COPY or PRE_COPY_P2P)",
		    name ? name : "");
	return FALSE;
}

char *nvfm_mig_flags_to_string(guint32 flags)
{
	static const struct { guint32 bit; const char *name; } bits[] = {
		{ NVFM_MIG_FLAG_STOP_COPY, "STOP_COPY" },
		{ NVFM_MIG_FLAG_P2P, "P2P" },
		{ NVFM_MIG_FLAG_PRE_COPY, "PRE_COPY" },
	};
	GString *s = g_string_new(NULL);

	for (guint i = 0; i < G_N_ELEMENTS(bits); i++) {
		if (!(flags & bits[i].bit))
			continue;
		if (s->len)
			g_string_append_c(s, '|');
		g_string_append(s, bits[i].name);
		flags &= ~bits[i].bit;
	}
	if (flags)
		g_string_append_printf(s, "%s0x%x", s->len ? "|" : "", flags);
	if (!s->len)
		g_string_append(s, "none");
	return g_string_free(s, FALSE);
}

gboolean nvfm_mig_state_supported(guint32 flags, NvfmMigState state)
{
	if (!state_valid(state))
		return FALSE;
	return (flags & state_needs[state]) == state_needs[state];
}

int nvfm_mig_next_state(guint32 flags, NvfmMigState cur, NvfmMigState target,
			NvfmMigState *next)
{
	NvfmMigState n;

	if (!state_valid(cur) || !state_valid(target))
		return -EINVAL;
	if (!nvfm_mig_state_supported(flags, cur) || !nvfm_mig_state_supported(flags, target))
		return -EINVAL;
	n = next_hop[cur][target];
	/* Hop over states this device lacks; the table never cycles, and
	 * every detour ends in a mandatory state or ERROR. */
	for (guint guard = 0; !nvfm_mig_state_supported(flags, n); guard++) {
		if (guard >= NVFM_MIG_STATE_COUNT)
			return -EINVAL;
		n = next_hop[n][target];
	}
	*next = n;
	return n == S_ERR ? -EINVAL : 0;
}

gboolean nvfm_mig_plan(guint32 flags, NvfmMigState cur, NvfmMigState target,
		       NvfmMigState *path, guint *n_steps, GError **error)
{
	NvfmMigState s = cur;
	guint n = 0;

	/* Checked before the walk so that cur == target cannot slip through:
	 * ERROR and absent states are never valid requests. */
	if (cur == NVFM_MIG_STATE_ERROR || target == NVFM_MIG_STATE_ERROR ||
	    !nvfm_mig_state_supported(flags, cur) || !nvfm_mig_state_supported(flags, target))
		goto refused;
	while (s != target) {
		NvfmMigState next;

		if (n >= NVFM_MIG_PATH_MAX || nvfm_mig_next_state(flags, s, target, &next) < 0)
			goto refused;
		path[n++] = next;
		s = next;
	}
	*n_steps = n;
	return TRUE;

refused:;
	g_autofree char *fl = nvfm_mig_flags_to_string(flags);

	g_set_error(error, NVFM_ERROR, NVFM_ERROR_STATE,
		    "migration state %s -> %s is not allowed for a device with flags %s",
		    nvfm_mig_state_name(cur), nvfm_mig_state_name(target), fl);
	return FALSE;
}
