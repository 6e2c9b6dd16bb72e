/* SPDX-License-Identifier: GPL-2.0-or-later */
/* placeholder: being written */
#include "cli.h"

int cmd_vf_state(int argc, char **argv) { return cli_usage_error(argv[0], "not implemented yet"); }
int cmd_vf_set_state(int argc, char **argv) { return cli_usage_error(argv[0], "not implemented yet"); }
