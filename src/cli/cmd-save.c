/* SPDX-License-Identifier: GPL-2.0-or-later */
/* placeholder: being written */
#include "cli.h"

int cmd_save(int argc, char **argv)
{
	return cli_usage_error(argv[0], "not implemented yet");
}
int cmd_load(int argc, char **argv) { return cli_usage_error(argv[0], "x"); }
