/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * "qmp": run one QMP command, or follow a VM's events, for operators. The
 * monitor is a socket (PATH, unix:PATH, tcp:HOST:PORT) or a libvirt domain
 * (libvirt:DOMAIN), through the same client the orchestrator uses.
 */
#include <stdio.h>
#include <string.h>

#include "cli.h"

#define QMP_ARGS "SOCKET COMMAND [JSON-ARGS] | SOCKET --events"
#define QMP_SUMMARY "talk QMP to a QEMU process (PATH, unix:PATH, tcp:HOST:PORT, libvirt:DOMAIN)"
/* Event streaming waits in slices so an ended QEMU is noticed promptly. */
#define EVENT_SLICE_MS 1000

static NvfmQmp *open_monitor(const char *where, const char *uri, int timeout_ms, GError **error)
{
	if (g_str_has_prefix(where, "libvirt:"))
		return nvfm_qmp_connect_libvirt(uri, where + strlen("libvirt:"), timeout_ms, error);
	return nvfm_qmp_connect(where, timeout_ms, error);
}

static void print_event(NvfmQmpEvent *ev)
{
	json_auto_t *j = nvfm_qmp_event_to_json(ev);
	gint64 ts = nvfm_qmp_event_get_timestamp_us(ev);
	g_autofree char *data = NULL;
	g_autofree char *when = NULL;

	if (cli_want_json()) {
		/* one object per line, so the stream can be piped */
		char *line = json_dumps(j, JSON_COMPACT | JSON_SORT_KEYS);

		if (line) {
			puts(line);
			free(line);
		}
		fflush(stdout);
		return;
	}
	if (ts >= 0) {
		g_autoptr(GDateTime) sec = g_date_time_new_from_unix_local(ts / G_USEC_PER_SEC);
		g_autoptr(GDateTime) dt = sec ? g_date_time_add(sec, ts % G_USEC_PER_SEC) : NULL;

		when = dt ? g_date_time_format(dt, "%F %T.%f") : NULL;
	}
	data = json_dumps(nvfm_qmp_event_get_data(ev), JSON_COMPACT | JSON_SORT_KEYS);
	printf("%s  %s%s%s\n", when ? when : "-", nvfm_qmp_event_get_name(ev),
	       data && strcmp(data, "{}") ? "  " : "", data && strcmp(data, "{}") ? data : "");
	fflush(stdout);
}

/* Follows events until @timeout_ms passes (forever when negative) or the
 * monitor goes away. */
static int follow_events(NvfmQmp *qmp, int timeout_ms)
{
	gint64 deadline = timeout_ms < 0 ? -1 : g_get_monotonic_time() + (gint64)timeout_ms * 1000;
	guint64 seq = nvfm_qmp_event_seq(qmp);
	int major, minor, micro;

	nvfm_qmp_get_version(qmp, &major, &minor, &micro);
	cli_note("# following events of QEMU %d.%d.%d%s\n", major, minor, micro,
		 timeout_ms < 0 ? " (Ctrl-C to stop)" : "");
	for (;;) {
		g_autoptr(NvfmQmpEvent) ev = NULL;
		GError *error = NULL;
		int slice = EVENT_SLICE_MS;

		if (deadline >= 0) {
			gint64 left = (deadline - g_get_monotonic_time()) / 1000;

			if (left <= 0)
				return CLI_EXIT_OK;
			slice = MIN(slice, (int)left);
		}
		ev = nvfm_qmp_wait_event(qmp, NULL, NULL, NULL, seq, slice, &error);
		if (ev) {
			seq = nvfm_qmp_event_get_seq(ev);
			print_event(ev);
			continue;
		}
		if (g_error_matches(error, NVFM_ERROR, NVFM_ERROR_TIMEOUT)) {
			g_error_free(error);
			continue;
		}
		return cli_fail(error);
	}
}

static void print_return(json_t *ret)
{
	if (cli_want_json()) {
		cli_print_json(ret);
		return;
	}
	if (cli_globals.quiet)
		return;
	/* human-monitor-command returns text: show it as text */
	if (json_is_string(ret)) {
		const char *s = json_string_value(ret);

		fputs(s, stdout);
		if (*s && s[strlen(s) - 1] != '\n')
			putchar('\n');
	} else if (!(json_is_object(ret) && json_object_size(ret) == 0)) {
		char *s = json_dumps(ret, JSON_INDENT(2) | JSON_ENCODE_ANY);

		if (s) {
			puts(s);
			free(s);
		}
	}
	fflush(stdout);
}

int cmd_qmp(int argc, char **argv)
{
	g_autoptr(GOptionContext) ctx = g_option_context_new(NULL);
	g_autoptr(NvfmQmp) qmp = NULL;
	json_auto_t *ret = NULL;
	g_autofree char *uri = NULL;
	gboolean events = FALSE;
	double timeout_s = -1;
	GError *error = NULL;
	int timeout_ms;
	int code;
	GOptionEntry entries[] = {
		{ "events", 'e', 0, G_OPTION_ARG_NONE, &events,
		  "Print events as they arrive (until --timeout, or forever)", NULL },
		{ "timeout", 't', 0, G_OPTION_ARG_DOUBLE, &timeout_s,
		  "Seconds to wait for the reply (default 30), or to follow events", "S" },
		{ "connect", 'c', 0, G_OPTION_ARG_STRING, &uri,
		  "libvirt URI for libvirt:DOMAIN (default: libvirt's default)", "URI" },
		{ NULL },
	};

	g_option_context_add_main_entries(ctx, entries, NULL);
	if (!cli_parse(ctx, "qmp", QMP_ARGS, QMP_SUMMARY, &argc, &argv, 1, 3, &code))
		return code;
	if (timeout_s != -1 && (timeout_s < 0 || timeout_s > G_MAXINT / 1000))
		return cli_usage_error("qmp", "--timeout must be between 0 and %d seconds",
				       G_MAXINT / 1000);
	if (events && argc != 2)
		return cli_usage_error("qmp", "--events takes no COMMAND");
	if (!events && argc < 3)
		return cli_usage_error("qmp", "expected %s", QMP_ARGS);

	timeout_ms = timeout_s < 0 ? NVFM_QMP_DEFAULT_TIMEOUT_MS : (int)(timeout_s * 1000);
	/* For --events the timeout bounds the stream, not the connection. */
	qmp = open_monitor(argv[1], uri, events ? NVFM_QMP_DEFAULT_TIMEOUT_MS : timeout_ms,
			   &error);
	if (!qmp)
		return cli_fail(error);
	if (events)
		return follow_events(qmp, timeout_s < 0 ? -1 : timeout_ms);

	ret = nvfm_qmp_execute_json(qmp, argv[2], argc > 3 ? argv[3] : NULL, timeout_ms, &error);
	if (!ret)
		return cli_fail(error);
	print_return(ret);
	return CLI_EXIT_OK;
}
