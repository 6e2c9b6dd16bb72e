/* SPDX-License-Identifier: GPL-2.0-or-later */
/* What every command shares: dispatch, option parsing, errors, output. */
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"

int cli_dispatch(const char *prog, const CliCommand *table, int argc, char **argv)
{
	for (const CliCommand *c = table; c->name; c++) {
		if (strcmp(c->name, argv[0]) == 0)
			return c->run(argc, argv);
	}
	fprintf(stderr, "%s: unknown command '%s' (try '%s --help')\n", prog, argv[0], prog);
	return CLI_EXIT_USAGE;
}

/* -v before or after the command: each one raises the verbosity */
void cli_more_verbose(void)
{
	cli_globals.verbose++;
	g_setenv("G_MESSAGES_DEBUG", "all", TRUE);
}

/*
 * Takes the global options (--json, -q/--quiet, -v/--verbose) that stand
 * between a command and its subcommand ("emu -q show a") and leaves
 * argv[0] the command, argv[1] what followed them. Returns the new argc.
 */
int cli_take_globals(int argc, char ***argv)
{
	int n = 1;

	while (n < argc) {
		const char *a = (*argv)[n];

		if (g_str_equal(a, "--json"))
			cli_globals.json = TRUE;
		else if (g_str_equal(a, "-q") || g_str_equal(a, "--quiet"))
			cli_globals.quiet = TRUE;
		else if (g_str_equal(a, "-v") || g_str_equal(a, "--verbose"))
			cli_more_verbose();
		else
			break;
		n++;
	}
	(*argv)[n - 1] = (*argv)[0];
	*argv += n - 1;
	return argc - (n - 1);
}

static gboolean on_verbose(const char *name, const char *value, gpointer data, GError **error)
{
	cli_more_verbose();
	return TRUE;
}

/*
 * Parses a command's options with @ctx (which may be empty) and adds the
 * options every command has. Leaves the positional arguments in
 * (*argv)[1..]. Returns FALSE with *exit_code set when the command must
 * end now (help printed, or a usage error).
 */
gboolean cli_parse(GOptionContext *ctx, const char *cmd, const char *args,
		   const char *summary, int *argc, char ***argv, int min_args, int max_args,
		   int *exit_code)
{
	g_autofree char *conf_help = g_strdup_printf("Read this configuration file (default "
						     "$NVFM_CONFIG, else %s)",
						     nvfm_config_default_path());
	GOptionEntry common[] = {
		{ "json", 0, 0, G_OPTION_ARG_NONE, &cli_globals.json, "Print results as JSON", NULL },
		{ "quiet", 'q', 0, G_OPTION_ARG_NONE, &cli_globals.quiet, "Print only errors", NULL },
		{ "verbose", 'v', G_OPTION_FLAG_NO_ARG, G_OPTION_ARG_CALLBACK, (gpointer)on_verbose,
		  "Print debug messages (repeatable)", NULL },
		{ "config", 0, 0, G_OPTION_ARG_FILENAME, &cli_globals.config_path,
		  conf_help, "FILE" },
		{ NULL },
	};
	g_autoptr(GError) error = NULL;
	g_autofree char *param = g_strdup_printf("%s - %s", args, summary);
	g_autofree char *prgname = g_strdup_printf("nvme-vf-migrate %s", cmd);
	int npos;

	g_set_prgname(prgname);
	g_option_context_set_summary(ctx, NULL);
	g_option_context_add_main_entries(ctx, common, NULL);
	/* GOptionContext has no setter for the parameter string after
	 * creation, so commands create it with g_option_context_new(NULL)
	 * and the synopsis is printed through the description. */
	g_option_context_set_description(ctx, param);
	if (!g_option_context_parse(ctx, argc, argv, &error)) {
		*exit_code = cli_usage_error(cmd, "%s", error->message);
		return FALSE;
	}
	npos = *argc - 1;
	if (npos < min_args || (max_args >= 0 && npos > max_args)) {
		*exit_code = cli_usage_error(cmd, "expected %s", args);
		return FALSE;
	}
	return TRUE;
}

int cli_usage_error(const char *cmd, const char *fmt, ...)
{
	g_autofree char *msg = NULL;
	va_list ap;

	va_start(ap, fmt);
	msg = g_strdup_vprintf(fmt, ap);
	va_end(ap);
	fprintf(stderr, "nvme-vf-migrate %s: %s (see --help)\n", cmd, msg);
	return CLI_EXIT_USAGE;
}

int cli_exit_code(const GError *error)
{
	if (!error)
		return CLI_EXIT_OK;
	if (error->domain != NVFM_ERROR)
		return CLI_EXIT_FAILED;
	switch ((NvfmErrorCode)error->code) {
	case NVFM_ERROR_INVALID_ARG:
		return CLI_EXIT_USAGE;
	case NVFM_ERROR_NOT_SUPPORTED:
		return CLI_EXIT_NOT_SUPPORTED;
	case NVFM_ERROR_NOT_FOUND:
		return CLI_EXIT_NOT_FOUND;
	case NVFM_ERROR_BUSY:
		return CLI_EXIT_BUSY;
	case NVFM_ERROR_PROTOCOL:
	case NVFM_ERROR_INTEGRITY:
		return CLI_EXIT_DATA;
	case NVFM_ERROR_TIMEOUT:
		return CLI_EXIT_TIMEOUT;
	case NVFM_ERROR_CANCELLED:
		return CLI_EXIT_CANCELLED;
	case NVFM_ERROR_AUTH:
	case NVFM_ERROR_PERMISSION:
		return CLI_EXIT_AUTH;
	case NVFM_ERROR_STATE:
		return CLI_EXIT_STATE;
	default:
		return CLI_EXIT_FAILED;
	}
}

/* One line on stderr, then the exit code that matches the error. */
int cli_fail(GError *error)
{
	int code = cli_exit_code(error);
	const char *msg = error ? error->message : "unknown error";
	g_autofree char *line = g_strdup(msg);

	/* keep the promise of one line */
	g_strdelimit(line, "\n", ' ');
	fprintf(stderr, "nvme-vf-migrate: %s\n", line);
	if (error)
		g_error_free(error);
	return code;
}

gboolean cli_want_json(void)
{
	return cli_globals.json;
}

void cli_print_json(json_t *obj)
{
	char *s = json_dumps(obj, JSON_INDENT(2) | JSON_SORT_KEYS);

	if (s) {
		puts(s);
		free(s);
	}
	fflush(stdout);
}

static int cmp_keys(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static void print_text(const char *prefix, json_t *v)
{
	const char *key;
	json_t *sub;

	if (json_is_object(v) && json_object_size(v)) {
		/* sorted, as the JSON is */
		g_autofree const char **keys = g_new0(const char *, json_object_size(v) + 1);
		guint n = 0;

		json_object_foreach(v, key, sub)
			keys[n++] = key;
		qsort(keys, n, sizeof(*keys), cmp_keys);
		for (guint i = 0; i < n; i++) {
			g_autofree char *name = prefix ? g_strdup_printf("%s.%s", prefix, keys[i])
						       : g_strdup(keys[i]);

			print_text(name, json_object_get(v, keys[i]));
		}
		return;
	}
	if (json_is_string(v)) {
		printf("%s: %s\n", prefix, json_string_value(v));
	} else {
		g_autofree char *s = json_dumps(v, JSON_ENCODE_ANY | JSON_COMPACT |
						     JSON_REAL_PRECISION(6));

		printf("%s: %s\n", prefix, s ? s : "");
	}
}

/* @obj's fields as "name: value" lines, sorted, nested fields as "a.b":
 * the text form of a JSON object, whatever --quiet says. */
void cli_print_fields(json_t *obj)
{
	print_text(NULL, obj);
}

/*
 * The result of a command that reports or changes something: JSON with
 * --json, else one "name: value" line per field (nested fields as
 * "a.b"), the same names as the JSON's. Text is silent with --quiet.
 */
void cli_report(json_t *obj)
{
	if (cli_want_json()) {
		cli_print_json(obj);
		return;
	}
	if (cli_globals.quiet)
		return;
	cli_print_fields(obj);
	fflush(stdout);
}

/* What a command that changes an emulated device or PF reports: the
 * device and the change. Returns CLI_EXIT_OK. */
int cli_report_emu(const char *name, const char *result)
{
	g_autofree char *dev = g_strdup_printf("emu:%s", name);
	json_auto_t *j = json_pack("{s:s, s:s}", "device", dev, "result", result);

	cli_report(j);
	return CLI_EXIT_OK;
}

/* A command's result as text lines, on stdout unless that carries data
 * (save -o -): then on stderr. Silent with --quiet or --json (the JSON
 * is the result then). */
void cli_result(const char *fmt, ...)
{
	FILE *out = cli_globals.data_on_stdout ? stderr : stdout;
	va_list ap;

	if (cli_globals.quiet || cli_globals.json)
		return;
	va_start(ap, fmt);
	vfprintf(out, fmt, ap);
	va_end(ap);
	fflush(out);
}

/* Human progress lines and remarks, on stderr: stdout carries only data
 * (a result, JSON, or a state stream); silent with --quiet or --json. */
void cli_note(const char *fmt, ...)
{
	va_list ap;

	if (cli_globals.quiet || cli_globals.json)
		return;
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
}

NvfmDevice *cli_device_open(const char *text, GError **error)
{
	g_autoptr(NvfmAddress) addr = nvfm_address_parse(text, error);
	g_autoptr(NvfmDevice) dev = addr ? nvfm_device_open(addr, error) : NULL;
	NvfmMigState found, now;

	/* The VFIO core does not end a session when its process exits: read
	 * the state first, and end one this process did not start. */
	if (!dev || !nvfm_device_settle(dev, &found, error) ||
	    !nvfm_device_get_state(dev, &now, error))
		return NULL;
	if (found != now)
		cli_note("note: %s was found in %s, a session this command did not start; %s, "
			 "now %s\n", addr->text, nvfm_mig_state_name(found),
			 found == NVFM_MIG_STATE_RESUMING ? "aborted it with a device reset "
			 "(never committed)" : "ended it", nvfm_mig_state_name(now));
	return g_steal_pointer(&dev);
}

/* A file a signal must not leave behind (save's temporary output). */
static const char *volatile signal_unlink_path;

static void exit_cancelled(int sig)
{
	const char *p = signal_unlink_path;

	(void)sig;
	/* unlink and _exit are async-signal-safe; devices go back as the
	 * kernel (or the emulation) sees their fds close */
	if (p)
		unlink(p);
	_exit(CLI_EXIT_CANCELLED);
}

/*
 * SIGINT, SIGTERM and SIGHUP end a command with the exit code the man
 * page gives a cancelled one, not the shell's 128+N. Commands that stop
 * gracefully (agent, migrate) install their own handling over this.
 */
void cli_exit_on_signals(void)
{
	struct sigaction sa = { .sa_handler = exit_cancelled };

	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);
}

void cli_unlink_on_signal(const char *path)
{
	signal_unlink_path = path;
}
