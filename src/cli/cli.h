/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The nvme-vf-migrate command line: a thin layer over libnvfm. */
#pragma once

#include <glib.h>
#include <jansson.h>

#include "nvfm/nvfm.h"

/* Exit codes; documented in nvme-vf-migrate(8). */
enum {
	CLI_EXIT_OK = 0,
	CLI_EXIT_FAILED = 1,
	CLI_EXIT_USAGE = 2,
	CLI_EXIT_NOT_SUPPORTED = 3,
	CLI_EXIT_NOT_FOUND = 4,
	CLI_EXIT_BUSY = 5,
	CLI_EXIT_DATA = 6,	/* corrupt, truncated or mismatched state */
	CLI_EXIT_TIMEOUT = 7,
	CLI_EXIT_CANCELLED = 8,
	CLI_EXIT_AUTH = 9,
	CLI_EXIT_STATE = 10,	/* a forbidden or failed state change */
	CLI_EXIT_TEST_FAILED = 11, /* selftest ran and some cases failed */
};

/**
 * CliCommand - one entry of a commands table
 * @name: the word typed on the command line
 * @args: synopsis of the arguments
 * @summary: one line for the command list
 * @run: the handler; argv[0] is the command's name
 */
typedef struct {
	const char *name;
	const char *args;
	const char *summary;
	int (*run)(int argc, char **argv);
} CliCommand;

/* Global options, parsed by main.c before dispatch. */
typedef struct {
	gboolean json;
	gboolean quiet;
	int verbose;
	gboolean data_on_stdout;	/* stdout carries a state stream (save -o -) */
	char *config_path;	/* --config FILE; NULL: $NVFM_CONFIG or the default */
} CliGlobals;

extern CliGlobals cli_globals;

/* cli-util.c */
int cli_dispatch(const char *prog, const CliCommand *table, int argc, char **argv);
gboolean cli_parse(GOptionContext *ctx, const char *cmd, const char *args,
		   const char *summary, int *argc, char ***argv, int min_args, int max_args,
		   int *exit_code);
int cli_fail(GError *error);
void cli_more_verbose(void);
int cli_take_globals(int argc, char ***argv);
int cli_usage_error(const char *cmd, const char *fmt, ...) G_GNUC_PRINTF(2, 3);
int cli_exit_code(const GError *error);
void cli_print_json(json_t *obj);
void cli_report(json_t *obj);
void cli_print_fields(json_t *obj);
/* cli-table.c: a list of records as a table headed by their keys */
void cli_print_table(json_t *rows, const char *const *first);
int cli_report_emu(const char *name, const char *result);
gboolean cli_want_json(void);
void cli_note(const char *fmt, ...) G_GNUC_PRINTF(1, 2);
void cli_result(const char *fmt, ...) G_GNUC_PRINTF(1, 2);
/* SIGINT/SIGTERM/SIGHUP exit with CLI_EXIT_CANCELLED (main.c installs it) */
void cli_exit_on_signals(void);
/* a file to remove if a signal ends the command (NULL: none); the path
 * must outlive the call */
void cli_unlink_on_signal(const char *path);
/* Parses a device address given on the command line, opens it, and ends
 * a migration session found on it that this process did not start
 * (nvfm_device_settle(), with a note on stderr). */
NvfmDevice *cli_device_open(const char *text, GError **error);

/* cli-config.c: the configuration, loaded once; a flag a command was
 * given (a set string, an int other than CLI_UNSET) goes over it, and the
 * effective value comes back into the variable. FALSE: the usage error is
 * printed and *code set. */
#define CLI_UNSET G_MININT
NvfmConfig *cli_config(const char *cmd, int *code);
gboolean cli_config_str(NvfmConfigKey key, const char *flag, char **var, const char *cmd,
			int *code);
gboolean cli_config_int(NvfmConfigKey key, const char *flag, int *var, const char *cmd,
			int *code);
gboolean cli_config_strv(NvfmConfigKey key, const char *flag, char ***var, const char *cmd,
			 int *code);
gboolean cli_config_verify(NvfmConfigKey key, gboolean *verify, const char *cmd, int *code);
char *cli_config_agent_address(void);
int cmd_config(int argc, char **argv);

/* command handlers, one cmd-*.c each */
int cmd_vf(int argc, char **argv);
int cmd_save(int argc, char **argv);
int cmd_load(int argc, char **argv);
int cmd_selftest(int argc, char **argv);
int cmd_emu(int argc, char **argv);
int cmd_qmp(int argc, char **argv);
int cmd_agent(int argc, char **argv);	/* cmd-agent.c */
int cmd_send(int argc, char **argv);	/* cmd-send.c */
int cmd_receive(int argc, char **argv);	/* cmd-send.c */
int cmd_migrate(int argc, char **argv);	/* cmd-migrate.c */
int cmd_check(int argc, char **argv);	/* cmd-migrate.c */
int cmd_report(int argc, char **argv);	/* cmd-report.c */
int cmd_status(int argc, char **argv);	/* cmd-status.c */

/* "vf" subcommands: cmd-vf-state.c (engine) and cmd-vf-pf.c (provisioning) */
int cmd_vf_state(int argc, char **argv);
int cmd_vf_set_state(int argc, char **argv);
int cmd_vf_list(int argc, char **argv);
int cmd_vf_provision(int argc, char **argv);
int cmd_vf_release(int argc, char **argv);
int cmd_vf_bind(int argc, char **argv);
/* "emu pf-create/pf-destroy": emulated PFs, in cmd-vf-pf.c */
int cmd_emu_pf_create(int argc, char **argv);
int cmd_emu_pf_destroy(int argc, char **argv);
int cmd_emu_pf_fault(int argc, char **argv);
