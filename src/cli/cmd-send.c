/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * "send" and "receive": move a device's state straight to a device on
 * another host (the direct mode), through an agent or a one-shot
 * receiver.
 */
#include <signal.h>
#include <stdio.h>
#include <string.h>

#include "cli-progress.h"
#include "cli-transport.h"

static json_t *stats_json(const NvfmTransferStats *st)
{
	return json_pack("{s:I, s:I, s:I, s:I, s:I, s:i, s:f, s:f, s:f, s:s}",
			 "total_bytes", (json_int_t)st->total_bytes,
			 "precopy_bytes", (json_int_t)st->precopy_bytes,
			 "stop_copy_bytes", (json_int_t)st->stop_copy_bytes,
			 "zero_copy_bytes", (json_int_t)st->zero_copy_bytes,
			 "unchecked_bytes", (json_int_t)st->unchecked_bytes,
			 "precopy_rounds", (int)st->precopy_rounds,
			 "precopy_seconds", st->precopy_us / 1e6,
			 "stop_copy_seconds", st->stop_copy_us / 1e6,
			 "total_seconds", st->total_us / 1e6,
			 "sha256", st->sha256);
}

static const char *state_of(NvfmDevice *dev)
{
	NvfmMigState s;

	if (!nvfm_device_get_state(dev, &s, NULL))
		return "unknown";
	return nvfm_mig_state_name(s);
}

int cmd_send(int argc, char **argv)
{
	g_autofree char *to = NULL, *target = NULL, *resv = NULL, *threshold = NULL;
	g_autofree char *progress = NULL;
	g_autoptr(CliProgress) prog = NULL;
	int rounds = CLI_UNSET;
	gboolean run = FALSE, verify = FALSE;
	CliTransport t = { 0 };
	GOptionEntry entries[] = {
		{ "to", 0, 0, G_OPTION_ARG_STRING, &to, "The destination agent: HOST[:PORT] or unix:PATH", "ADDR" },
		{ "target", 0, 0, G_OPTION_ARG_STRING, &target, "Destination device on that host (emu:NAME or a VF's PCI address)", "DEV" },
		{ "reservation", 0, 0, G_OPTION_ARG_STRING, &resv, "Restore into the VF of this reservation (agent request provision)", "ID" },
		{ "run", 0, 0, G_OPTION_ARG_NONE, &run, "Start the destination device once its state is committed", NULL },
		{ "precopy-rounds", 0, 0, G_OPTION_ARG_INT, &rounds, "PRE_COPY rounds while the device runs (default 0)", "N" },
		{ "precopy-threshold", 0, 0, G_OPTION_ARG_STRING, &threshold, "Leave PRE_COPY once dirty bytes fall below (default 4M)", "SIZE" },
		{ "verify", 0, 0, G_OPTION_ARG_NONE, &verify, "CRC32C every DATA frame and SHA-256 the state, even where zero-copy or TLS integrity was negotiated", NULL },
		CLI_PROGRESS_OPTION(progress),
		{ NULL },
	};
	g_autoptr(GOptionContext) ctx = g_option_context_new(NULL);
	g_autoptr(NvfmTls) tls = NULL;
	g_autoptr(NvfmDevice) dev = NULL;
	g_autoptr(NvfmAgentClient) client = NULL;
	json_auto_t *result = NULL;
	NvfmSendOptions so;
	NvfmTransferStats st;
	GError *error = NULL;
	gboolean ok;
	int code;

	g_option_context_add_main_entries(ctx, entries, NULL);
	cli_transport_add_options(ctx, &t, FALSE);
	if (!cli_parse(ctx, "send", "DEV --to HOST[:PORT] --target DEV",
		       "move a device's state into a device on another host", &argc, &argv, 1, 1,
		       &code))
		goto out;
	if (!cli_transport_config(&t, FALSE, "send", &code) ||
	    !cli_config_str(NVFM_CFG_CLIENT_AGENT, "--to", &to, "send", &code) ||
	    !cli_config_int(NVFM_CFG_CLIENT_PRECOPY_ROUNDS, "--precopy-rounds", &rounds, "send",
			    &code) ||
	    !cli_config_str(NVFM_CFG_CLIENT_PRECOPY_THRESHOLD, "--precopy-threshold", &threshold,
			    "send", &code) ||
	    !cli_config_verify(NVFM_CFG_CLIENT_INTEGRITY, &verify, "send", &code))
		goto out;
	g_free(to);
	to = cli_config_agent_address();
	if (!to || (!target && !resv)) {
		code = cli_usage_error("send", "needs --to ADDR and --target DEV or --reservation ID");
		goto out;
	}
	nvfm_send_options_init(&so);
	if (rounds < 0 || t.timeout <= 0) {
		code = cli_usage_error("send", "--precopy-rounds must be >= 0 and --timeout > 0");
		goto out;
	}
	if (threshold && !nvfm_size_parse(threshold, &so.save.precopy_threshold, &error)) {
		code = cli_fail(error);
		goto out;
	}
	so.target = target;
	so.reservation = resv;
	so.run = run;
	so.verify = verify;
	so.save.precopy_rounds = (guint)rounds;
	so.save.timeout_ms = t.timeout * 1000;
	prog = cli_progress_new("send", "send", progress, &code);
	if (!prog)
		goto out;
	if (cli_progress_active(prog)) {
		so.save.progress = cli_progress_transfer_cb;
		so.save.user_data = prog;
	}

	tls = cli_transport_tls(&t, FALSE, to, &error);
	if (error) {
		code = cli_fail(error);
		goto out;
	}
	signal(SIGPIPE, SIG_IGN);
	dev = cli_device_open(argv[1], &error);
	if (!dev) {
		code = cli_fail(error);
		goto out;
	}
	client = nvfm_agent_client_connect(to, tls, t.timeout * 1000, &error);
	if (!client) {
		code = cli_fail(error);
		goto out;
	}
	if (cli_globals.verbose)
		cli_note("sending %s -> %s (%s)%s\n", argv[1], to, target ? target : resv,
		 verify ? ", verified"
		 : nvfm_agent_client_has_capability(client, "zero-copy") ? ", zero-copy"
		 : nvfm_agent_client_has_capability(client, "tls-integrity")
		 ? ", TLS-authenticated" : "");
	ok = nvfm_agent_client_send(client, dev, &so, &st, &result, &error);
	g_clear_pointer(&prog, cli_progress_free);
	if (!ok) {
		const char *src_state = state_of(dev);

		if (cli_want_json()) {
			json_auto_t *j = json_pack("{s:b, s:s, s:s, s:s?, s:s, s:s, s:s, s:o}",
						   "ok", 0, "device", argv[1], "to", to,
						   "target", target ? target : resv,
						   "phase", st.phase ? st.phase : "handshake",
						   "error", error->message, "source_state", src_state,
						   "stats", stats_json(&st));

			cli_print_json(j);
		}
		g_prefix_error(&error, "send %s failed (source %s, destination reset): ", argv[1],
			       src_state);
		code = cli_fail(error);
		goto out;
	}
	{
		/* what vouched for the bytes */
		const char *integrity = st.zero_copy_bytes ? "zero-copy, validated by the device"
					: st.unchecked_bytes ? "TLS-authenticated, validated by the device"
					: "sha256 verified";
		json_auto_t *j = json_pack("{s:b, s:s, s:s, s:s?, s:s, s:s, s:o, s:O}", "ok", 1,
					   "device", argv[1], "to", to,
					   "target", target ? target : resv,
					   "source_state", state_of(dev), "integrity", integrity,
					   "stats", stats_json(&st), "remote", result);

		cli_report(j);
	}
	code = CLI_EXIT_OK;
out:
	cli_transport_clear(&t);
	return code;
}

static void receive_log(GLogLevelFlags level, const NvfmLogFields *fields, const char *message,
			gpointer data)
{
	if ((level & G_LOG_LEVEL_INFO) && !cli_globals.verbose)
		return;
	if ((level & G_LOG_LEVEL_MESSAGE) && (cli_globals.quiet || cli_globals.json))
		return;
	fprintf(stderr, "%s\n", message);
}

int cmd_receive(int argc, char **argv)
{
	g_autoptr(NvfmAddress) target = NULL;
	g_autofree char *listen = NULL, *runtime = NULL, *progress = NULL;
	g_autoptr(CliProgress) prog = NULL;
	gboolean verify = FALSE;
	CliTransport t = { 0 };
	GOptionEntry entries[] = {
		{ "listen", 'l', 0, G_OPTION_ARG_STRING, &listen, "Address: HOST:PORT, :PORT or unix:PATH", "ADDR" },
		{ "runtime-dir", 0, 0, G_OPTION_ARG_FILENAME, &runtime, "Where the transfer's state lives while it runs", "DIR" },
		{ "verify", 0, 0, G_OPTION_ARG_NONE, &verify, "Require CRC32C and SHA-256 on the stream", NULL },
		CLI_PROGRESS_OPTION(progress),
		{ NULL },
	};
	g_autoptr(GOptionContext) ctx = g_option_context_new(NULL);
	g_autoptr(NvfmTls) tls = NULL;
	NvfmAgentOptions ao = { 0 };
	GError *error = NULL;
	int code;

	g_option_context_add_main_entries(ctx, entries, NULL);
	cli_transport_add_options(ctx, &t, TRUE);
	if (!cli_parse(ctx, "receive", "DEV --listen ADDR",
		       "wait for one state transfer and restore it into DEV", &argc, &argv, 1, 1,
		       &code))
		goto out;
	if (!cli_transport_config(&t, TRUE, "receive", &code) ||
	    !cli_config_verify(NVFM_CFG_AGENT_INTEGRITY, &verify, "receive", &code))
		goto out;
	if (!listen) {
		code = cli_usage_error("receive", "missing --listen ADDR");
		goto out;
	}
	if (t.timeout <= 0) {
		code = cli_usage_error("receive", "--timeout must be > 0");
		goto out;
	}
	prog = cli_progress_new("receive", "receive", progress, &code);
	if (!prog)
		goto out;
	code = cli_transport_preauth(&t, "receive", &ao);
	if (code != CLI_EXIT_OK)
		goto out;
	tls = cli_transport_tls(&t, TRUE, listen, &error);
	if (error) {
		code = cli_fail(error);
		goto out;
	}
	ao.listen = listen;
	ao.tls = tls;
	ao.runtime_dir = runtime;
	ao.max_sessions = 1;
	ao.timeout_ms = t.timeout * 1000;
	target = nvfm_address_parse(argv[1], &error);
	if (!target) {
		code = cli_fail(error);
		goto out;
	}
	/* a device that is not there (a typo) fails now, not after a peer
	 * came and sent its state */
	{
		NvfmDevice *probe = nvfm_device_open(target, &error);

		if (!probe) {
			code = cli_fail(error);
			goto out;
		}
		nvfm_device_close(probe);
	}
	ao.fixed_target = target;
	ao.one_shot = TRUE;
	ao.verify = verify;
	ao.log = receive_log;
	if (cli_progress_active(prog)) {
		ao.progress = cli_progress_transfer_cb;
		ao.progress_data = prog;
	}
	code = cli_run_agent(&ao, &error);
	g_clear_pointer(&prog, cli_progress_free);
	if (code < 0) {
		code = cli_fail(error);
		goto out;
	}
	code = CLI_EXIT_OK;
out:
	cli_transport_clear(&t);
	return code;
}
