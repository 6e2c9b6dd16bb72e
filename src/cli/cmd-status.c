/* SPDX-License-Identifier: GPL-2.0-or-later */
/* "status": the migrations running from this host (nvfm_migrate_status()),
 * with the field names of the agent's status on the destination. */
#include <stdio.h>

#include "cli.h"

int cmd_status(int argc, char **argv)
{
	g_autoptr(GOptionContext) ctx = g_option_context_new(NULL);
	json_auto_t *list = NULL;
	GError *error = NULL;
	json_t *m;
	gsize i;
	int code;

	if (!cli_parse(ctx, "status", "", "list the migrations running from this host", &argc,
		       &argv, 0, 0, &code))
		return code;
	list = nvfm_migrate_status(&error);
	if (!list)
		return cli_fail(error);
	if (cli_want_json()) {
		json_auto_t *j = json_pack("{s:O}", "migrations", list);

		cli_print_json(j);
		return CLI_EXIT_OK;
	}
	if (!json_array_size(list)) {
		cli_result("no migration running\n");
		return CLI_EXIT_OK;
	}
	printf("%-28s %-24s %-10s %21s %12s %9s\n", "id", "vm", "phase", "bytes/total MiB",
	       "rate MiB/s", "elapsed s");
	json_array_foreach(list, i, m) {
		const char *vm = json_string_value(json_object_get(m, "vm"));
		g_autofree char *bytes = g_strdup_printf(
			"%.1f/%.1f",
			json_integer_value(json_object_get(m, "bytes")) / 1048576.0,
			json_integer_value(json_object_get(m, "total")) / 1048576.0);

		printf("%-28s %-24s %-10s %21s %12.1f %9.1f\n",
		       json_string_value(json_object_get(m, "id")), vm ? vm : "-",
		       json_string_value(json_object_get(m, "phase")), bytes,
		       json_number_value(json_object_get(m, "rate")) / 1048576.0,
		       json_number_value(json_object_get(m, "elapsed")));
	}
	return CLI_EXIT_OK;
}
