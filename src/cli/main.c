/* SPDX-License-Identifier: GPL-2.0-or-later */
/* nvme-vf-migrate: entry point, global options and the commands table. */
#include <locale.h>
#include <stdio.h>
#include <string.h>

#include "cli.h"

CliGlobals cli_globals;

static int cmd_help(int argc, char **argv);

static const CliCommand commands[] = {
	{ "migrate", "VF --to AGENT --dest-pf PF [--vm QMP ...]", "move a VM's NVMe VF (and the VM) to another host", cmd_migrate },
	{ "check", "VF --to AGENT --dest-pf PF [--vm QMP ...]", "print what would block that migration (its preflight alone)", cmd_check },
	{ "report", "FILE.json [-o FILE.svg|-]", "draw a saved migration report as an SVG", cmd_report },
	{ "status", "", "list the migrations running from this host", cmd_status },
	{ "vf", "SUBCOMMAND ...", "inspect and drive VFs (state, set-state)", cmd_vf },
	{ "save", "DEV -o FILE", "stop a device and save its state to a file", cmd_save },
	{ "load", "DEV -i FILE", "restore a device's state from a file", cmd_load },
	{ "selftest", "DEV", "VFIO migration conformance suite for a device", cmd_selftest },
	{ "emu", "SUBCOMMAND ...", "manage emulated devices (create, list, fault, ...)", cmd_emu },
	{ "qmp", "SOCKET COMMAND [JSON]", "talk QMP to a QEMU process", cmd_qmp },
	{ "agent", "--listen ADDR", "serve migrations to this host (the per-host agent)", cmd_agent },
	{ "send", "DEV --to HOST --target DEV", "move a device's state to a device on another host", cmd_send },
	{ "receive", "DEV --listen ADDR", "wait for one state transfer into DEV", cmd_receive },
	{ "config", "[SECTION]", "print the effective settings and where each came from", cmd_config },
	{ "help", "[COMMAND [SUBCOMMAND]]", "list the commands, or show a command's options", cmd_help },
	{ NULL, NULL, NULL, NULL },
};

static void usage(FILE *out)
{
	fprintf(out,
		"Usage: nvme-vf-migrate [--json] [--quiet] [--verbose] [--config FILE] COMMAND [ARGS...]\n"
		"\n"
		"Live-migrate NVMe SR-IOV VFs assigned through VFIO.\n"
		"\n"
		"Commands:\n");
	for (const CliCommand *c = commands; c->name; c++)
		fprintf(out, "  %-10s %s\n", c->name, c->summary);
	fprintf(out,
		"\n"
		"Device addresses: vfio:DDDD:BB:DD.F, fd:N, emu:NAME\n"
		"Run 'nvme-vf-migrate help COMMAND' (or 'COMMAND --help') for a command's options.\n");
}

/* "help CMD [SUB]" is "CMD [SUB] --help", so the two never differ */
static int cmd_help(int argc, char **argv)
{
	g_autoptr(GPtrArray) args = g_ptr_array_new();

	if (argc < 2) {
		usage(stdout);
		return CLI_EXIT_OK;
	}
	if (argc > 3 || argv[1][0] == '-')
		return cli_usage_error("help", "expected [COMMAND [SUBCOMMAND]]");
	for (int i = 1; i < argc; i++)
		g_ptr_array_add(args, argv[i]);
	g_ptr_array_add(args, (char *)"--help");
	g_ptr_array_add(args, NULL);
	return cli_dispatch("nvme-vf-migrate", commands, (int)args->len - 1, (char **)args->pdata);
}

int main(int argc, char **argv)
{
	int i;

	setlocale(LC_ALL, "");
	for (i = 1; i < argc && argv[i][0] == '-'; i++) {
		const char *a = argv[i];

		if (!strcmp(a, "--json")) {
			cli_globals.json = TRUE;
		} else if (!strcmp(a, "-q") || !strcmp(a, "--quiet")) {
			cli_globals.quiet = TRUE;
		} else if (!strcmp(a, "-v") || !strcmp(a, "--verbose")) {
			cli_more_verbose();
		} else if (!strcmp(a, "--config") || g_str_has_prefix(a, "--config=")) {
			const char *v = a[8] == '=' ? a + 9 : i + 1 < argc ? argv[++i] : NULL;

			if (!v || !*v) {
				fprintf(stderr, "nvme-vf-migrate: --config needs a FILE\n");
				return CLI_EXIT_USAGE;
			}
			g_free(cli_globals.config_path);
			cli_globals.config_path = g_strdup(v);
		} else if (!strcmp(a, "--version")) {
			printf("nvme-vf-migrate %s (libnvfm %s)\n", NVFM_VERSION, nvfm_version());
			return CLI_EXIT_OK;
		} else if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
			usage(stdout);
			return CLI_EXIT_OK;
		} else {
			fprintf(stderr, "nvme-vf-migrate: unknown option '%s'\n", a);
			return CLI_EXIT_USAGE;
		}
	}
	/* diagnostics never mix with the output a command prints */
	g_log_writer_default_set_use_stderr(TRUE);
	if (i >= argc) {
		usage(stderr);
		return CLI_EXIT_USAGE;
	}
	cli_exit_on_signals();
	return cli_dispatch("nvme-vf-migrate", commands, argc - i, argv + i);
}
