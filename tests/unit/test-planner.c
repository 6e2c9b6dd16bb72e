/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * An independent check of the migration path planner (vfio-state.c).
 *
 * The expectation is derived here from the uAPI's own rules rather than
 * from a next-hop table: the legal single arcs of each flag combination,
 * and the rules for combination transitions in the comment above enum
 * vfio_device_mig_state in include/uapi/linux/vfio.h:
 *   - "Select the shortest path."
 *   - "The path cannot have saving group states as interior arcs, only
 *     starting/end states."
 *   - "STOP_COPY -> PRE_COPY, STOP_COPY -> PRE_COPY_P2P: These arcs are not
 *     permitted and return error if requested."
 *   - "ERROR cannot be specified as a device state"; "The optional states
 *     cannot be used with SET_STATE if the device does not support them."
 * Every shortest legal path is enumerated; the test fails if the rules
 * leave more than one, so a silent tie-break can never hide a difference.
 */
#include <string.h>

#include "src/lib/util/util-private.h"

#define ERROR NVFM_MIG_STATE_ERROR
#define STOP NVFM_MIG_STATE_STOP
#define RUNNING NVFM_MIG_STATE_RUNNING
#define STOP_COPY NVFM_MIG_STATE_STOP_COPY
#define RESUMING NVFM_MIG_STATE_RESUMING
#define RUNNING_P2P NVFM_MIG_STATE_RUNNING_P2P
#define PRE_COPY NVFM_MIG_STATE_PRE_COPY
#define PRE_COPY_P2P NVFM_MIG_STATE_PRE_COPY_P2P
#define NSTATES NVFM_MIG_STATE_COUNT

#define F_SC NVFM_MIG_FLAG_STOP_COPY
#define F_P2P NVFM_MIG_FLAG_P2P
#define F_PRE NVFM_MIG_FLAG_PRE_COPY

typedef struct {
	NvfmMigState from, to;
} Arc;

/*
 * The FSM arcs the uAPI defines for a device with every optional state
 * (the arc headings of the comment above enum vfio_device_mig_state).
 */
static const Arc arcs_full[] = {
	{ RUNNING_P2P, STOP },	   { STOP_COPY, STOP },	      { RESUMING, STOP },
	{ PRE_COPY, RUNNING },	   { RUNNING_P2P, RUNNING },  { PRE_COPY_P2P, RUNNING_P2P },
	{ RUNNING, RUNNING_P2P },  { STOP, RUNNING_P2P },     { RUNNING, PRE_COPY },
	{ RUNNING_P2P, PRE_COPY_P2P }, { STOP, STOP_COPY },   { PRE_COPY, PRE_COPY_P2P },
	{ PRE_COPY_P2P, PRE_COPY }, { PRE_COPY_P2P, STOP_COPY }, { STOP, RESUMING },
};

/*
 * The arcs a driver implements for the smaller flag sets, as the kernel
 * documents them next to vfio_mig_get_next_state(): without P2P,
 * RUNNING <-> STOP is one arc; with PRE_COPY but without P2P, PRE_COPY ->
 * STOP_COPY is one arc.
 */
static const Arc arcs_sc[] = {
	{ RESUMING, STOP }, { STOP, RESUMING }, { STOP, STOP_COPY },
	{ STOP_COPY, STOP }, { RUNNING, STOP }, { STOP, RUNNING },
};

static const Arc arcs_sc_p2p[] = {
	{ RESUMING, STOP },	   { STOP, RESUMING },	     { STOP, STOP_COPY },
	{ STOP_COPY, STOP },	   { RUNNING, RUNNING_P2P }, { RUNNING_P2P, RUNNING },
	{ RUNNING_P2P, STOP },	   { STOP, RUNNING_P2P },
};

static const Arc arcs_sc_pre[] = {
	{ RESUMING, STOP },	{ STOP, RESUMING },  { STOP, STOP_COPY },
	{ STOP_COPY, STOP },	{ RUNNING, STOP },   { STOP, RUNNING },
	{ RUNNING, PRE_COPY },	{ PRE_COPY, RUNNING }, { PRE_COPY, STOP_COPY },
};

static const struct {
	guint32 flags;
	const Arc *arcs;
	guint n_arcs;
} combos[] = {
	{ F_SC, arcs_sc, G_N_ELEMENTS(arcs_sc) },
	{ F_SC | F_P2P, arcs_sc_p2p, G_N_ELEMENTS(arcs_sc_p2p) },
	{ F_SC | F_PRE, arcs_sc_pre, G_N_ELEMENTS(arcs_sc_pre) },
	{ F_SC | F_P2P | F_PRE, arcs_full, G_N_ELEMENTS(arcs_full) },
};

typedef gboolean ArcMatrix[NSTATES][NSTATES];

static void build_matrix(const Arc *arcs, guint n, ArcMatrix m)
{
	memset(m, 0, sizeof(ArcMatrix));
	for (guint i = 0; i < n; i++)
		m[arcs[i].from][arcs[i].to] = TRUE;
}

/* The states a device with @flags can be asked for (the comment above
 * struct vfio_device_feature_migration); ERROR exists but is never one. */
static gboolean my_supported(guint32 flags, NvfmMigState s)
{
	switch (s) {
	case STOP:
	case RUNNING:
	case STOP_COPY:
	case RESUMING:
		return (flags & F_SC) != 0;
	case RUNNING_P2P:
		return (flags & F_SC) && (flags & F_P2P);
	case PRE_COPY:
		return (flags & F_SC) && (flags & F_PRE);
	case PRE_COPY_P2P:
		return (flags & F_SC) && (flags & F_P2P) && (flags & F_PRE);
	default:
		return FALSE;
	}
}

/* The saving group shares one data transfer session. */
static gboolean saving(NvfmMigState s)
{
	return s == STOP_COPY || s == PRE_COPY || s == PRE_COPY_P2P;
}

/*
 * May @s be an interior state of a path from @cur to @target? Leaving and
 * re-entering the saving group would end the session and open a new one,
 * so between two saving states the path stays inside the group (the uAPI's
 * own example, PRE_COPY -> PRE_COPY_P2P -> STOP_COPY); otherwise no saving
 * state appears inside. RESUMING and ERROR are never passed through.
 */
static gboolean interior_ok(NvfmMigState cur, NvfmMigState target, NvfmMigState s)
{
	if (s == RESUMING || s == ERROR)
		return FALSE;
	if (saving(cur) && saving(target))
		return saving(s);
	return !saving(s);
}

typedef struct {
	NvfmMigState path[NSTATES];
	guint len;
} Path;

typedef struct {
	const gboolean (*m)[NSTATES];
	guint32 flags;
	NvfmMigState cur, target;
	Path stack;
	guint best;
	GArray *found; /* of Path, all of length best */
} Search;

static void dfs(Search *s, NvfmMigState at, guint visited)
{
	for (int n = 0; n < NSTATES; n++) {
		NvfmMigState next = (NvfmMigState)n;

		if (!s->m[at][next] || (visited & (1u << n)) || !my_supported(s->flags, next))
			continue;
		if (s->stack.len + 1 > s->best)
			return;
		s->stack.path[s->stack.len++] = next;
		if (next == s->target) {
			if (s->stack.len < s->best) {
				s->best = s->stack.len;
				g_array_set_size(s->found, 0);
			}
			g_array_append_val(s->found, s->stack);
		} else if (interior_ok(s->cur, s->target, next)) {
			dfs(s, next, visited | (1u << n));
		}
		s->stack.len--;
	}
}

/*
 * The expected plan. Returns FALSE for refused requests; sets *ambiguous
 * when the uAPI rules leave several shortest paths.
 */
static gboolean expected_plan(guint32 flags, const ArcMatrix m, NvfmMigState cur,
			      NvfmMigState target, Path *out, gboolean *ambiguous)
{
	g_autoptr(GArray) found = g_array_new(FALSE, FALSE, sizeof(Path));
	Search s = {
		.m = (const gboolean (*)[NSTATES])m,
		.flags = flags,
		.cur = cur,
		.target = target,
		.best = NSTATES,
		.found = found,
	};

	*ambiguous = FALSE;
	out->len = 0;
	if (cur == ERROR || target == ERROR || !my_supported(flags, cur) ||
	    !my_supported(flags, target))
		return FALSE;
	if (cur == STOP_COPY && (target == PRE_COPY || target == PRE_COPY_P2P))
		return FALSE;
	if (cur == target)
		return TRUE;
	dfs(&s, cur, 1u << cur);
	if (found->len == 0)
		return FALSE;
	*ambiguous = found->len > 1;
	*out = g_array_index(found, Path, 0);
	return TRUE;
}

static void append_path(GString *s, NvfmMigState cur, const NvfmMigState *path, guint n)
{
	g_string_append(s, nvfm_mig_state_name(cur));
	for (guint i = 0; i < n; i++)
		g_string_append_printf(s, " -> %s", nvfm_mig_state_name(path[i]));
}

/* Every (current, target) pair, every flag combination: same path or both refuse. */
static void test_plan_all_pairs(void)
{
	g_autoptr(GString) diffs = g_string_new(NULL);
	guint checked = 0;

	for (guint c = 0; c < G_N_ELEMENTS(combos); c++) {
		guint32 flags = combos[c].flags;
		g_autofree char *fname = nvfm_mig_flags_to_string(flags);
		ArcMatrix m;

		build_matrix(combos[c].arcs, combos[c].n_arcs, m);
		for (int a = 0; a < NSTATES; a++) {
			for (int b = 0; b < NSTATES; b++) {
				NvfmMigState cur = (NvfmMigState)a, target = (NvfmMigState)b;
				NvfmMigState got[NVFM_MIG_PATH_MAX + 1];
				g_autoptr(GError) error = NULL;
				guint n = 999;
				Path want;
				gboolean ambiguous, want_ok, ok;

				want_ok = expected_plan(flags, m, cur, target, &want, &ambiguous);
				if (ambiguous)
					g_string_append_printf(diffs, "[%s] %s -> %s: the uAPI rules leave "
							       "several shortest paths\n", fname,
							       nvfm_mig_state_name(cur),
							       nvfm_mig_state_name(target));
				ok = nvfm_mig_plan(flags, cur, target, got, &n, &error);
				checked++;
				if (ok != want_ok) {
					g_string_append_printf(diffs, "[%s] %s -> %s: planner %s, expected ",
							       fname, nvfm_mig_state_name(cur),
							       nvfm_mig_state_name(target),
							       ok ? "plans" : "refuses");
					if (want_ok)
						append_path(diffs, cur, want.path, want.len);
					else
						g_string_append(diffs, "refusal");
					if (ok) {
						g_string_append(diffs, " (planner: ");
						append_path(diffs, cur, got, MIN(n, NVFM_MIG_PATH_MAX));
						g_string_append(diffs, ")");
					}
					g_string_append_c(diffs, '\n');
					continue;
				}
				if (!ok) {
					if (!g_error_matches(error, NVFM_ERROR, NVFM_ERROR_STATE))
						g_string_append_printf(diffs, "[%s] %s -> %s: refusal is not "
								       "NVFM_ERROR_STATE (%s)\n", fname,
								       nvfm_mig_state_name(cur),
								       nvfm_mig_state_name(target),
								       error ? error->message : "no error set");
					continue;
				}
				g_assert_null(error);
				if (n != want.len || n > NVFM_MIG_PATH_MAX ||
				    memcmp(got, want.path, n * sizeof(NvfmMigState)) != 0) {
					g_string_append_printf(diffs, "[%s] ", fname);
					append_path(diffs, cur, got, MIN(n, NVFM_MIG_PATH_MAX));
					g_string_append(diffs, "  expected  ");
					append_path(diffs, cur, want.path, want.len);
					g_string_append_c(diffs, '\n');
				}
			}
		}
	}
	g_assert_cmpuint(checked, ==, 4 * 64);
	if (diffs->len)
		g_test_message("planner disagreements:\n%s", diffs->str);
	g_assert_cmpstr(diffs->str, ==, "");
}

/* nvfm_mig_next_state() is the first hop of nvfm_mig_plan(). */
static void test_next_state_matches_plan(void)
{
	for (guint c = 0; c < G_N_ELEMENTS(combos); c++) {
		guint32 flags = combos[c].flags;

		for (int a = 0; a < NSTATES; a++) {
			for (int b = 0; b < NSTATES; b++) {
				NvfmMigState path[NVFM_MIG_PATH_MAX], next = ERROR;
				guint n = 0;
				gboolean ok = nvfm_mig_plan(flags, a, b, path, &n, NULL);
				int r = nvfm_mig_next_state(flags, a, b, &next);

				if (!ok) {
					g_assert_cmpint(r, ==, -EINVAL);
				} else if (n > 0) {
					g_assert_cmpint(r, ==, 0);
					g_assert_cmpint(next, ==, path[0]);
				}
			}
		}
	}
}

/*
 * The arcs of the smaller flag sets follow from the full set by the uAPI's
 * own rules: "For the purpose of specification the states behave as though
 * the device was fully running if not supported" (RUNNING_P2P acts as
 * RUNNING, PRE_COPY_P2P as PRE_COPY) and "Arcs touching PRE_COPY and
 * PRE_COPY_P2P are removed if support for PRE_COPY is not present". This
 * checks the hand-written tables above against that derivation.
 */
static void test_arc_tables_follow_from_full_set(void)
{
	for (guint c = 0; c < G_N_ELEMENTS(combos); c++) {
		guint32 flags = combos[c].flags;
		ArcMatrix derived, table;

		memset(derived, 0, sizeof(derived));
		for (guint i = 0; i < G_N_ELEMENTS(arcs_full); i++) {
			NvfmMigState from = arcs_full[i].from, to = arcs_full[i].to;

			if (!(flags & F_PRE) && (from == PRE_COPY || from == PRE_COPY_P2P ||
						 to == PRE_COPY || to == PRE_COPY_P2P))
				continue;
			if (!(flags & F_P2P)) {
				from = from == RUNNING_P2P ? RUNNING : from == PRE_COPY_P2P ? PRE_COPY : from;
				to = to == RUNNING_P2P ? RUNNING : to == PRE_COPY_P2P ? PRE_COPY : to;
			}
			if (from != to)
				derived[from][to] = TRUE;
		}
		build_matrix(combos[c].arcs, combos[c].n_arcs, table);
		for (int a = 0; a < NSTATES; a++)
			for (int b = 0; b < NSTATES; b++)
				g_assert_cmpint(derived[a][b], ==, table[a][b]);
	}
}

/*
 * The combination transitions the kernel documents for a device with every
 * optional state, as a second oracle: the derivation above must produce
 * them, and so must the planner.
 */
static void test_documented_full_combinations(void)
{
	static const NvfmMigState documented[][6] = {
		{ PRE_COPY, PRE_COPY_P2P, STOP_COPY },
		{ PRE_COPY, RUNNING, RUNNING_P2P },
		{ PRE_COPY, RUNNING, RUNNING_P2P, STOP },
		{ PRE_COPY, RUNNING, RUNNING_P2P, STOP, RESUMING },
		{ PRE_COPY_P2P, RUNNING_P2P, RUNNING },
		{ PRE_COPY_P2P, RUNNING_P2P, STOP },
		{ PRE_COPY_P2P, RUNNING_P2P, STOP, RESUMING },
		{ RESUMING, STOP, RUNNING_P2P },
		{ RESUMING, STOP, RUNNING_P2P, PRE_COPY_P2P },
		{ RESUMING, STOP, RUNNING_P2P, RUNNING },
		{ RESUMING, STOP, RUNNING_P2P, RUNNING, PRE_COPY },
		{ RESUMING, STOP, STOP_COPY },
		{ RUNNING, RUNNING_P2P, PRE_COPY_P2P },
		{ RUNNING, RUNNING_P2P, STOP },
		{ RUNNING, RUNNING_P2P, STOP, RESUMING },
		{ RUNNING, RUNNING_P2P, STOP, STOP_COPY },
		{ RUNNING_P2P, RUNNING, PRE_COPY },
		{ RUNNING_P2P, STOP, RESUMING },
		{ RUNNING_P2P, STOP, STOP_COPY },
		{ STOP, RUNNING_P2P, PRE_COPY_P2P },
		{ STOP, RUNNING_P2P, RUNNING },
		{ STOP, RUNNING_P2P, RUNNING, PRE_COPY },
		{ STOP_COPY, STOP, RESUMING },
		{ STOP_COPY, STOP, RUNNING_P2P },
		{ STOP_COPY, STOP, RUNNING_P2P, RUNNING },
	};
	guint32 flags = F_SC | F_P2P | F_PRE;
	ArcMatrix m;

	build_matrix(arcs_full, G_N_ELEMENTS(arcs_full), m);
	for (guint i = 0; i < G_N_ELEMENTS(documented); i++) {
		const NvfmMigState *d = documented[i];
		guint len = 1;
		NvfmMigState got[NVFM_MIG_PATH_MAX];
		guint n = 0;
		Path want;
		gboolean ambiguous;

		/* ERROR (0) ends a row: no documented path passes through it */
		while (len < 6 && d[len] != ERROR)
			len++;
		g_assert_true(expected_plan(flags, m, d[0], d[len - 1], &want, &ambiguous));
		g_assert_false(ambiguous);
		g_assert_cmpuint(want.len, ==, len - 1);
		g_assert_cmpmem(want.path, want.len * sizeof(NvfmMigState), d + 1,
				(len - 1) * sizeof(NvfmMigState));

		g_assert_true(nvfm_mig_plan(flags, d[0], d[len - 1], got, &n, NULL));
		g_assert_cmpmem(got, n * sizeof(NvfmMigState), d + 1,
				(len - 1) * sizeof(NvfmMigState));
	}
}

/* The explicit refusals the brief and the uAPI call out. */
static void test_refusals(void)
{
	static const guint32 all_flags[] = { F_SC, F_SC | F_P2P, F_SC | F_PRE, F_SC | F_P2P | F_PRE };

	for (guint c = 0; c < G_N_ELEMENTS(all_flags); c++) {
		guint32 flags = all_flags[c];

		for (int a = 0; a < NSTATES; a++) {
			NvfmMigState path[NVFM_MIG_PATH_MAX];
			guint n;
			g_autoptr(GError) error = NULL;

			/* ERROR can never be requested */
			g_assert_false(nvfm_mig_plan(flags, a, ERROR, path, &n, &error));
			g_assert_error(error, NVFM_ERROR, NVFM_ERROR_STATE);
		}
		for (int b = 0; b < NSTATES; b++) {
			NvfmMigState path[NVFM_MIG_PATH_MAX];
			guint n;

			/* nothing leaves ERROR except a reset */
			g_assert_false(nvfm_mig_plan(flags, ERROR, b, path, &n, NULL));
			if (b == ERROR) {
				/* "If this GET succeeds, the RUNNING and ERROR states
				 * are always supported": a device can be in ERROR,
				 * it just cannot be asked for it. */
				g_assert_true(nvfm_mig_state_supported(flags, b));
			} else if (!my_supported(flags, b)) {
				g_assert_false(nvfm_mig_plan(flags, RUNNING, b, path, &n, NULL));
				g_assert_false(nvfm_mig_state_supported(flags, b));
			} else {
				g_assert_true(nvfm_mig_state_supported(flags, b));
			}
		}
	}
	for (guint c = 0; c < G_N_ELEMENTS(all_flags); c++) {
		NvfmMigState path[NVFM_MIG_PATH_MAX];
		guint n;
		g_autoptr(GError) e1 = NULL;
		g_autoptr(GError) e2 = NULL;

		/* some kernels loop forever on these */
		g_assert_false(nvfm_mig_plan(all_flags[c], STOP_COPY, PRE_COPY, path, &n, &e1));
		g_assert_error(e1, NVFM_ERROR, NVFM_ERROR_STATE);
		g_assert_false(nvfm_mig_plan(all_flags[c], STOP_COPY, PRE_COPY_P2P, path, &n, &e2));
		g_assert_error(e2, NVFM_ERROR, NVFM_ERROR_STATE);
	}
	/* values outside the enum */
	{
		NvfmMigState path[NVFM_MIG_PATH_MAX];
		guint n;

		g_assert_false(nvfm_mig_plan(F_SC | F_P2P | F_PRE, RUNNING, (NvfmMigState)8, path, &n,
					     NULL));
		g_assert_false(nvfm_mig_plan(F_SC | F_P2P | F_PRE, (NvfmMigState)8, RUNNING, path, &n,
					     NULL));
	}
}

static void test_plan_same_state(void)
{
	NvfmMigState path[NVFM_MIG_PATH_MAX];
	guint n = 99;

	g_assert_true(nvfm_mig_plan(F_SC, RUNNING, RUNNING, path, &n, NULL));
	g_assert_cmpuint(n, ==, 0);
	n = 99;
	g_assert_true(nvfm_mig_plan(F_SC | F_P2P | F_PRE, PRE_COPY_P2P, PRE_COPY_P2P, path, &n,
				    NULL));
	g_assert_cmpuint(n, ==, 0);
}

static void test_state_names(void)
{
	static const struct {
		const char *name;
		NvfmMigState state;
	} names[] = {
		{ "ERROR", ERROR },
		{ "STOP", STOP },
		{ "RUNNING", RUNNING },
		{ "STOP_COPY", STOP_COPY },
		{ "RESUMING", RESUMING },
		{ "RUNNING_P2P", RUNNING_P2P },
		{ "PRE_COPY", PRE_COPY },
		{ "PRE_COPY_P2P", PRE_COPY_P2P },
	};

	for (guint i = 0; i < G_N_ELEMENTS(names); i++) {
		g_autofree char *lower = g_ascii_strdown(names[i].name, -1);
		g_autofree char *dashed = g_strdup(lower);
		NvfmMigState s = 99;

		g_assert_cmpstr(nvfm_mig_state_name(names[i].state), ==, names[i].name);
		g_assert_true(nvfm_mig_state_parse(names[i].name, &s, NULL));
		g_assert_cmpint(s, ==, names[i].state);
		s = 99;
		g_assert_true(nvfm_mig_state_parse(lower, &s, NULL));
		g_assert_cmpint(s, ==, names[i].state);
		g_strdelimit(dashed, "_", '-');
		s = 99;
		g_assert_true(nvfm_mig_state_parse(dashed, &s, NULL));
		g_assert_cmpint(s, ==, names[i].state);
	}
	{
		NvfmMigState s = 99;

		g_assert_true(nvfm_mig_state_parse("Pre-Copy_p2p", &s, NULL));
		g_assert_cmpint(s, ==, PRE_COPY_P2P);
	}
	g_assert_cmpstr(nvfm_mig_state_name((NvfmMigState)8), ==, "INVALID");
	g_assert_cmpstr(nvfm_mig_state_name((NvfmMigState)-1), ==, "INVALID");
}

static void test_state_parse_bad(void)
{
	static const char *const bad[] = {
		"", "RUN", "STOPCOPY", "STOP COPY", " STOP", "STOP ", "STOP_", "_STOP",
		"PRE_COPY_P2P_", "P2P", "RUNNING__P2P", "stop\ncopy", "RÜNNING",
	};

	for (guint i = 0; i < G_N_ELEMENTS(bad); i++) {
		g_autoptr(GError) error = NULL;
		NvfmMigState s = RUNNING;

		g_assert_false(nvfm_mig_state_parse(bad[i], &s, &error));
		g_assert_error(error, NVFM_ERROR, NVFM_ERROR_INVALID_ARG);
		g_assert_nonnull(strstr(error->message, bad[i]));
		/* one clear line */
		if (!strchr(bad[i], '\n'))
			g_assert_null(strchr(error->message, '\n'));
	}
}

static void test_flags_to_string(void)
{
	static const struct {
		guint32 flags;
		const char *text;
	} cases[] = {
		{ F_SC, "STOP_COPY" },
		{ F_SC | F_P2P, "STOP_COPY|P2P" },
		{ F_SC | F_PRE, "STOP_COPY|PRE_COPY" },
		{ F_SC | F_P2P | F_PRE, "STOP_COPY|P2P|PRE_COPY" },
		{ 0, "none" },
	};

	for (guint i = 0; i < G_N_ELEMENTS(cases); i++) {
		g_autofree char *s = nvfm_mig_flags_to_string(cases[i].flags);

		g_assert_cmpstr(s, ==, cases[i].text);
	}
	{
		/* bits the uAPI may add later still show up */
		g_autofree char *s = nvfm_mig_flags_to_string(F_SC | 0x8);

		g_assert_true(g_str_has_prefix(s, "STOP_COPY|"));
		g_assert_nonnull(strstr(s, "0x8"));
	}
}

int main(int argc, char **argv)
{
	g_test_init(&argc, &argv, NULL);
	g_test_add_func("/planner/arc-tables", test_arc_tables_follow_from_full_set);
	g_test_add_func("/planner/documented-combinations", test_documented_full_combinations);
	g_test_add_func("/planner/all-pairs", test_plan_all_pairs);
	g_test_add_func("/planner/next-state", test_next_state_matches_plan);
	g_test_add_func("/planner/refusals", test_refusals);
	g_test_add_func("/planner/same-state", test_plan_same_state);
	g_test_add_func("/planner/state-names", test_state_names);
	g_test_add_func("/planner/state-parse-bad", test_state_parse_bad);
	g_test_add_func("/planner/flags-to-string", test_flags_to_string);
	return g_test_run();
}
