/* SPDX-License-Identifier: GPL-2.0-or-later */
/* "selftest": the VFIO migration conformance suite, as a table. */
#include <stdio.h>

#include "cli-progress.h"

/* the order of the table's columns; the free-text detail last */
static const char *const case_columns[] = {
	"name", "grade", "verdict", "seconds", "detail", NULL,
};

/* The cases as JSON records; for the table (@text), a failure shouted
 * and the seconds to the millisecond. */
static json_t *cases_json(GPtrArray *res, gboolean text)
{
	json_t *cases = json_array();

	for (guint i = 0; i < res->len; i++) {
		NvfmSelftestResult *r = res->pdata[i];
		const char *verdict = nvfm_selftest_verdict_name(r->verdict);
		double s = r->duration_us / 1e6;
		g_autofree char *ms = g_strdup_printf("%.3f", s);

		if (text && r->verdict == NVFM_SELFTEST_FAIL)
			verdict = "FAIL";
		json_array_append_new(cases, json_pack("{s:s, s:s, s:s, s:s?, s:o}", "name", r->name,
						       "grade", nvfm_selftest_grade_name(r->grade),
						       "verdict", verdict, "detail", r->detail,
						       "seconds", text ? json_string(ms) : json_real(s)));
	}
	return cases;
}

int cmd_selftest(int argc, char **argv)
{
	g_autoptr(NvfmAddress) addr = NULL;
	g_autofree char *only = NULL;
	g_autofree char *progress = NULL;
	g_autoptr(CliProgress) prog = NULL;
	int timeout = 10;
	gboolean forbidden = FALSE;
	NvfmSelftestOptions o = { 0 };
	GOptionEntry entries[] = {
		{ "only", 0, 0, G_OPTION_ARG_STRING, &only, "Run only the cases matching GLOB", "GLOB" },
		{ "timeout", 0, 0, G_OPTION_ARG_INT, &timeout, "Seconds each wait for, and each call to, the device may take (default 10)", "S" },
		{ "forbidden-arcs", 0, 0, G_OPTION_ARG_NONE, &forbidden, "Send the forbidden arcs to the driver itself (some kernels spin on them)", NULL },
		CLI_PROGRESS_OPTION(progress),
		{ NULL },
	};
	g_autoptr(GOptionContext) ctx = g_option_context_new(NULL);
	g_autoptr(GPtrArray) res = NULL;
	GError *error = NULL;
	guint pass = 0, fail = 0, warn = 0, skip = 0;
	int code;

	g_option_context_add_main_entries(ctx, entries, NULL);
	if (!cli_parse(ctx, "selftest", "DEV",
		       "VFIO migration conformance suite (overwrites the device's state)",
		       &argc, &argv, 1, 1, &code))
		return code;
	if (timeout <= 0)
		return cli_usage_error("selftest", "--timeout must be > 0");
	prog = cli_progress_new("selftest", "selftest", progress, &code);
	if (!prog)
		return code;
	addr = nvfm_address_parse(argv[1], &error);
	o.only = only;
	o.timeout_ms = timeout * 1000;
	o.forbidden_arcs = forbidden;
	o.progress = cli_progress_active(prog) ? cli_progress_selftest_cb : NULL;
	o.user_data = prog;
	res = addr ? nvfm_selftest_run_options(addr, &o, &error) : NULL;
	g_clear_pointer(&prog, cli_progress_free);
	if (!res)
		return cli_fail(error);
	for (guint i = 0; i < res->len; i++) {
		NvfmSelftestResult *r = res->pdata[i];

		pass += r->verdict == NVFM_SELFTEST_PASS;
		fail += r->verdict == NVFM_SELFTEST_FAIL;
		warn += r->verdict == NVFM_SELFTEST_WARN;
		skip += r->verdict == NVFM_SELFTEST_SKIP;
	}
	if (cli_want_json()) {
		json_auto_t *cases = cases_json(res, FALSE);
		json_auto_t *j = json_pack("{s:s, s:O, s:i, s:i, s:i, s:i}", "device", argv[1],
					   "cases", cases, "passed", pass, "failed", fail,
					   "warnings", warn, "skipped", skip);

		cli_print_json(j);
	} else {
		/* the JSON's fields: the cases as a table headed by their keys */
		json_auto_t *cases = cases_json(res, TRUE);

		printf("device: %s\ncases:\n", argv[1]);
		cli_print_table(cases, case_columns);
		printf("passed: %u\nfailed: %u\nwarnings: %u\nskipped: %u\n", pass, fail, warn, skip);
	}
	/* only a requirement not met fails the run; warnings exit 0 */
	return fail ? CLI_EXIT_TEST_FAILED : CLI_EXIT_OK;
}
