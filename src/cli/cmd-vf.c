/* SPDX-License-Identifier: GPL-2.0-or-later */
/* "vf": the subcommands that look at or act on one VF. */
#include <stdio.h>

#include "cli.h"

static const CliCommand vf_commands[] = {
	{ "list", "[--pf PF]", "list NVMe PFs, their VFs and secondary controllers", cmd_vf_list },
	{ "provision", "PF [--vq N --vi N --driver D]", "provision and bind a free VF", cmd_vf_provision },
	{ "release", "VF", "unbind a VF and return its resources to the PF", cmd_vf_release },
	{ "bind", "VF DRIVER", "bind a VF to a driver through driver_override", cmd_vf_bind },
	{ "state", "DEV", "migration flags, current state and sizes of a device", cmd_vf_state },
	{ "set-state", "DEV STATE", "move a device to a migration state", cmd_vf_set_state },
	{ NULL, NULL, NULL, NULL },
};

int cmd_vf(int argc, char **argv)
{
	argc = cli_take_globals(argc, &argv);
	if (argc < 2 || g_str_equal(argv[1], "--help") || g_str_equal(argv[1], "-h")) {
		FILE *out = argc < 2 ? stderr : stdout;

		fprintf(out, "Usage: nvme-vf-migrate vf SUBCOMMAND [ARGS...]\n\nSubcommands:\n");
		for (const CliCommand *c = vf_commands; c->name; c++)
			fprintf(out, "  %-10s %-32s %s\n", c->name, c->args, c->summary);
		return argc < 2 ? CLI_EXIT_USAGE : CLI_EXIT_OK;
	}
	return cli_dispatch("nvme-vf-migrate vf", vf_commands, argc - 1, argv + 1);
}
