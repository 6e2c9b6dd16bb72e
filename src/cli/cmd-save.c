/* SPDX-License-Identifier: GPL-2.0-or-later */
/* "save" and "load": a device's state to and from a self-describing file. */
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli-progress.h"

static json_t *stats_json(const char *dev, const char *file, const NvfmTransferStats *st)
{
	return json_pack("{s:s, s:s, s:I, s:I, s:I, s:i, s:f, s:f, s:f, s:f, s:s}",
			 "device", dev, "file", file,
			 "total_bytes", (json_int_t)st->total_bytes,
			 "precopy_bytes", (json_int_t)st->precopy_bytes,
			 "stop_copy_bytes", (json_int_t)st->stop_copy_bytes,
			 "precopy_rounds", (int)st->precopy_rounds,
			 "precopy_seconds", st->precopy_us / 1e6,
			 "stop_copy_seconds", st->stop_copy_us / 1e6,
			 "commit_seconds", st->commit_us / 1e6,
			 "total_seconds", st->total_us / 1e6,
			 "sha256", st->sha256);
}

/* The summary as text: the JSON's fields as "key: value" lines, in its
 * order, sizes also in IEC units and the total time with the rate. On
 * stderr when the state went to stdout (cli_result). */
static void print_stats(json_t *j, const NvfmTransferStats *st)
{
	const char *key;
	json_t *v;

	json_object_foreach(j, key, v) {
		g_autofree char *val = json_is_string(v) ? g_strdup(json_string_value(v)) :
				       json_dumps(v, JSON_ENCODE_ANY | JSON_REAL_PRECISION(6));

		if (g_str_has_suffix(key, "_bytes") && json_integer_value(v) >= 1024) {
			g_autofree char *sz = g_format_size_full((guint64)json_integer_value(v),
								 G_FORMAT_SIZE_IEC_UNITS);

			cli_result("%s: %s (%s)\n", key, val, sz);
		} else if (!strcmp(key, "total_seconds") && st->total_us > 0) {
			cli_result("%s: %s (%.1f MiB/s)\n", key, val,
				   st->total_bytes / (st->total_us / 1e6) / (1 << 20));
		} else {
			cli_result("%s: %s\n", key, val);
		}
	}
}

int cmd_save(int argc, char **argv)
{
	g_autofree char *out = NULL;
	g_autofree char *tmp = NULL;
	g_autofree char *progress = NULL;
	g_autoptr(CliProgress) prog = NULL;
	struct stat sb;
	int rounds = 0, timeout = 30;
	GOptionEntry entries[] = {
		{ "output", 'o', 0, G_OPTION_ARG_FILENAME, &out, "Write the state to FILE ('-' for stdout)", "FILE" },
		{ "precopy-rounds", 0, 0, G_OPTION_ARG_INT, &rounds, "PRE_COPY rounds before STOP_COPY (default 0)", "N" },
		{ "timeout", 0, 0, G_OPTION_ARG_INT, &timeout, "Seconds to wait for the device (default 30)", "S" },
		CLI_PROGRESS_OPTION(progress),
		{ NULL },
	};
	g_autoptr(GOptionContext) ctx = g_option_context_new(NULL);
	g_autoptr(NvfmDevice) dev = NULL;
	g_autoptr(NvfmChannel) ch = NULL;
	json_auto_t *summary = NULL;
	NvfmSaveOptions opts;
	NvfmTransferStats st;
	GError *error = NULL;
	gboolean to_stdout;
	int code, fd;

	g_option_context_add_main_entries(ctx, entries, NULL);
	if (!cli_parse(ctx, "save", "DEV -o FILE", "stop a device and save its state",
		       &argc, &argv, 1, 1, &code))
		return code;
	if (!out)
		return cli_usage_error("save", "missing -o FILE");
	if (rounds < 0 || timeout <= 0)
		return cli_usage_error("save", "--precopy-rounds must be >= 0 and --timeout > 0");
	prog = cli_progress_new("save", "save", progress, &code);
	if (!prog)
		return code;
	to_stdout = strcmp(out, "-") == 0;
	if (to_stdout && cli_want_json())
		return cli_usage_error("save", "--json needs -o FILE, stdout carries the state");

	dev = cli_device_open(argv[1], &error);
	if (!dev)
		return cli_fail(error);
	if (to_stdout) {
		fd = STDOUT_FILENO;
	} else if (stat(out, &sb) == 0 && !S_ISREG(sb.st_mode)) {
		/* a device or a FIFO (/dev/null, a pipe to another tool) is
		 * written to, never renamed over */
		fd = open(out, O_WRONLY | O_CLOEXEC);
		if (fd < 0) {
			int e = errno;

			g_set_error(&error, NVFM_ERROR, nvfm_error_code_from_errno(e),
				    "cannot open %s: %s", out, g_strerror(e));
			return cli_fail(error);
		}
	} else {
		/* Write beside the target and rename, so a failed save never
		 * leaves a file that looks like a state. */
		tmp = g_strdup_printf("%s.tmp.%d", out, (int)getpid());
		cli_unlink_on_signal(tmp);
		fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
		if (fd < 0) {
			int e = errno;

			g_set_error(&error, NVFM_ERROR, nvfm_error_code_from_errno(e),
				    "cannot create %s: %s", out, g_strerror(e));
			return cli_fail(error);
		}
	}
	ch = nvfm_channel_new_fd(fd, !to_stdout);
	nvfm_save_options_init(&opts);
	opts.precopy_rounds = (guint)rounds;
	opts.timeout_ms = timeout * 1000;
	if (cli_progress_active(prog)) {
		opts.progress = cli_progress_transfer_cb;
		opts.user_data = prog;
	}
	/* with the state on stdout, only the summary of a save that worked:
	 * a failure stays one line */
	cli_globals.data_on_stdout = to_stdout;
	if (!to_stdout && cli_globals.verbose)
		cli_note("saving %s -> %s\n", argv[1], out);
	if (nvfm_save(dev, ch, &opts, &st, &error) && tmp && fsync(fd) < 0)
		g_set_error(&error, NVFM_ERROR, NVFM_ERROR_IO, "fsync %s: %s", out,
			    g_strerror(errno));
	g_clear_pointer(&prog, cli_progress_free);
	if (error) {
		if (tmp)
			unlink(tmp);
		return cli_fail(error);
	}
	if (tmp && rename(tmp, out) < 0) {
		cli_unlink_on_signal(NULL);
		g_set_error(&error, NVFM_ERROR, NVFM_ERROR_IO, "rename to %s: %s", out,
			    g_strerror(errno));
		unlink(tmp);
		return cli_fail(error);
	}
	cli_unlink_on_signal(NULL);
	summary = stats_json(argv[1], out, &st);
	if (cli_want_json())
		cli_print_json(summary);
	else
		print_stats(summary, &st);
	return CLI_EXIT_OK;
}

int cmd_load(int argc, char **argv)
{
	g_autofree char *in = NULL;
	g_autofree char *progress = NULL;
	g_autoptr(CliProgress) prog = NULL;
	gboolean run = FALSE;
	int timeout = 30;
	GOptionEntry entries[] = {
		{ "input", 'i', 0, G_OPTION_ARG_FILENAME, &in, "Read the state from FILE ('-' for stdin)", "FILE" },
		{ "run", 0, 0, G_OPTION_ARG_NONE, &run, "Continue to RUNNING after the state is committed", NULL },
		{ "timeout", 0, 0, G_OPTION_ARG_INT, &timeout, "Seconds to wait for the device (default 30)", "S" },
		CLI_PROGRESS_OPTION(progress),
		{ NULL },
	};
	g_autoptr(GOptionContext) ctx = g_option_context_new(NULL);
	g_autoptr(NvfmDevice) dev = NULL;
	g_autoptr(NvfmChannel) ch = NULL;
	json_auto_t *summary = NULL;
	NvfmLoadOptions opts;
	NvfmTransferStats st;
	GError *error = NULL;
	gboolean ok;
	int code, fd;

	g_option_context_add_main_entries(ctx, entries, NULL);
	if (!cli_parse(ctx, "load", "DEV -i FILE", "restore a device's state from a file",
		       &argc, &argv, 1, 1, &code))
		return code;
	if (!in)
		return cli_usage_error("load", "missing -i FILE");
	if (timeout <= 0)
		return cli_usage_error("load", "--timeout must be > 0");
	prog = cli_progress_new("load", "load", progress, &code);
	if (!prog)
		return code;
	if (strcmp(in, "-") == 0) {
		fd = STDIN_FILENO;
	} else {
		fd = open(in, O_RDONLY | O_CLOEXEC);
		if (fd < 0) {
			int e = errno;

			g_set_error(&error, NVFM_ERROR, nvfm_error_code_from_errno(e),
				    "cannot open %s: %s", in, g_strerror(e));
			return cli_fail(error);
		}
	}
	ch = nvfm_channel_new_fd(fd, fd != STDIN_FILENO);
	nvfm_channel_set_timeout(ch, timeout * 1000);
	dev = cli_device_open(argv[1], &error);
	if (!dev)
		return cli_fail(error);
	nvfm_load_options_init(&opts);
	opts.timeout_ms = timeout * 1000;
	opts.run = run;
	if (cli_progress_active(prog)) {
		opts.progress = cli_progress_transfer_cb;
		opts.user_data = prog;
	}
	if (cli_globals.verbose)
		cli_note("loading %s -> %s\n", in, argv[1]);
	ok = nvfm_load(dev, ch, &opts, &st, &error);
	g_clear_pointer(&prog, cli_progress_free);
	if (!ok) {
		g_prefix_error(&error, "%s: load failed, device reset: ", argv[1]);
		return cli_fail(error);
	}
	summary = stats_json(argv[1], in, &st);
	if (cli_want_json())
		cli_print_json(summary);
	else
		print_stats(summary, &st);
	return CLI_EXIT_OK;
}
