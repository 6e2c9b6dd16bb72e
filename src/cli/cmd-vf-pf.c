/* SPDX-License-Identifier: GPL-2.0-or-later */
/* placeholder: being written */
#include "cli.h"

int cmd_vf_list(int argc, char **argv) { return cli_usage_error(argv[0], "not implemented yet"); }
int cmd_vf_provision(int argc, char **argv) { return cli_usage_error(argv[0], "not implemented yet"); }
int cmd_vf_release(int argc, char **argv) { return cli_usage_error(argv[0], "not implemented yet"); }
int cmd_vf_bind(int argc, char **argv) { return cli_usage_error(argv[0], "not implemented yet"); }
