/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * "report FILE.json [-o FILE.svg|-]": draws a saved migration report
 * (migrate --report) as an SVG (include/nvfm/report.h). Without -o the
 * picture goes beside the report, FILE.svg.
 */
#include <stdio.h>
#include <string.h>

#include "cli.h"

int cmd_report(int argc, char **argv)
{
	g_autoptr(GOptionContext) ctx = g_option_context_new(NULL);
	g_autofree char *out = NULL;
	g_autofree char *path = NULL;
	g_autofree char *svg = NULL;
	json_auto_t *rep = NULL;
	json_auto_t *res = NULL;
	GError *error = NULL;
	GOptionEntry entries[] = {
		{ "output", 'o', 0, G_OPTION_ARG_FILENAME, &out, "Where the SVG goes ('-': standard output; default: the report's name with .svg)", "FILE" },
		{ NULL },
	};
	int code;

	g_option_context_add_main_entries(ctx, entries, NULL);
	if (!cli_parse(ctx, "report", "FILE.json [-o FILE.svg|-]",
		       "draw a saved migration report (migrate --report) as an SVG", &argc, &argv, 1,
		       1, &code))
		return code;
	if (out && !strcmp(out, "-")) {
		/* the picture is the data: nothing else on stdout */
		rep = nvfm_report_load(argv[1], &error);
		svg = rep ? nvfm_report_render_svg(rep, &error) : NULL;
		if (!svg)
			return cli_fail(error);
		fputs(svg, stdout);
		return fflush(stdout) == 0 ? CLI_EXIT_OK : CLI_EXIT_FAILED;
	}
	path = out ? g_strdup(out) : nvfm_report_svg_path(argv[1]);
	if (!nvfm_report_write_svg(argv[1], path, &error))
		return cli_fail(error);
	res = json_pack("{s:s, s:s}", "report", argv[1], "svg", path);
	cli_report(res);
	return CLI_EXIT_OK;
}
