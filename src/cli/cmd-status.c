/* SPDX-License-Identifier: GPL-2.0-or-later */
/* "status": the migrations running from this host (nvfm_migrate_status()),
 * with the field names of the agent's status on the destination. */
#include <stdio.h>

#include "cli.h"

/* the order of the table's columns: which migration, where it is, how far */
static const char *const status_columns[] = {
	"id", "vm", "vf", "to", "phase", "bytes", "total", "rate", "elapsed", "started", "pid", NULL,
};

int cmd_status(int argc, char **argv)
{
	g_autoptr(GOptionContext) ctx = g_option_context_new(NULL);
	json_auto_t *list = NULL;
	GError *error = NULL;
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
	/* the JSON's fields: the migrations as a table headed by their keys */
	printf("migrations:\n");
	cli_print_table(list, status_columns);
	return CLI_EXIT_OK;
}
