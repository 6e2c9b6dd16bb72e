/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * "agent": the per-host service the source side talks to, and "agent
 * request" to send it one control request by hand. Also the transport
 * options every networked command shares.
 */
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli-transport.h"

/* ---- transport options ---- */

void cli_transport_add_options(GOptionContext *ctx, CliTransport *t, gboolean server)
{
	GOptionEntry entries[] = {
		{ "insecure", 0, 0, G_OPTION_ARG_NONE, &t->insecure,
		  "Plain TCP: no TLS, no authentication (trusted networks only)", NULL },
		{ "tls-dir", 0, 0, G_OPTION_ARG_FILENAME, &t->tls_dir,
		  "Directory of ca-cert.pem, {server,client}-{cert,key}.pem (default $NVFM_PKI_DIR or " NVFM_PKI_DIR ")", "DIR" },
		{ "tls-ca", 0, 0, G_OPTION_ARG_FILENAME, &t->tls_ca, "CA certificate file", "FILE" },
		{ "tls-cert", 0, 0, G_OPTION_ARG_FILENAME, &t->tls_cert, "Our certificate file", "FILE" },
		{ "tls-key", 0, 0, G_OPTION_ARG_FILENAME, &t->tls_key, "Our private key file", "FILE" },
		{ server ? "allow" : "tls-name", 0, 0,
		  server ? G_OPTION_ARG_STRING_ARRAY : G_OPTION_ARG_STRING,
		  server ? (gpointer)&t->allow : (gpointer)&t->tls_name,
		  server ? "Accept only clients whose certificate CN, DNS or IP subjectAltName matches (CN=PATTERN: the CN only; repeatable, * wildcards)"
			 : "Name the agent's certificate must carry (default: the host connected to)",
		  server ? "PATTERN" : "NAME" },
		{ "timeout", 0, 0, G_OPTION_ARG_INT, &t->timeout,
		  server ? "Seconds any wait for the peer or a device may take, and a connection's whole handshake (default 30)"
			 : "Seconds any wait for the peer or a device may take (default 30)", "S" },
		{ NULL },
	};
	GOptionEntry limits[] = {
		{ "max-preauth", 0, 0, G_OPTION_ARG_INT, &t->max_preauth,
		  "Connections still in their handshake; beyond, the most idle is dropped (default 64)", "N" },
		{ "max-preauth-per-address", 0, 0, G_OPTION_ARG_INT, &t->max_preauth_per_address,
		  "The same per client address, IPv6 per /64 (default 8)", "N" },
		{ NULL },
	};
	GOptionGroup *g = g_option_group_new("transport", "Transport and TLS options:",
					     "Show transport and TLS options", NULL, NULL);

	/* the default is the configuration's (cli_transport_config) */
	t->timeout = CLI_UNSET;
	g_option_group_add_entries(g, entries);
	if (server)
		g_option_group_add_entries(g, limits);
	g_option_context_add_group(ctx, g);
}

NvfmTls *cli_transport_tls(CliTransport *t, gboolean server, const char *address,
			   GError **error)
{
	NvfmTlsOptions o = {
		.dir = t->tls_dir,
		.ca_file = t->tls_ca,
		.cert_file = t->tls_cert,
		.key_file = t->tls_key,
		.allow = (const char *const *)t->allow,
		.server_name = t->tls_name,
	};
	NvfmTls *tls;

	if (g_str_has_prefix(address, "unix:"))
		return NULL;
	if (t->insecure) {
		if (t->tls_dir || t->tls_ca || t->tls_cert || t->tls_key || t->allow) {
			g_set_error(error, NVFM_ERROR, NVFM_ERROR_INVALID_ARG,
				    "--insecure cannot be combined with TLS options");
			return NULL;
		}
		return NULL;
	}
	tls = nvfm_tls_new(server, &o, error);
	if (!tls && error && *error && (*error)->code != NVFM_ERROR_INVALID_ARG)
		g_prefix_error(error, "TLS is required for TCP (use --insecure for plain TCP): ");
	return tls;
}

gboolean cli_transport_config(CliTransport *t, gboolean server, const char *cmd, int *code)
{
	if (!cli_config(cmd, code))
		return FALSE;
	/* --insecure and explicit TLS files leave the configured directory out */
	if (!t->insecure && !t->tls_ca && !t->tls_cert && !t->tls_key &&
	    !cli_config_str(server ? NVFM_CFG_AGENT_PKI_DIR : NVFM_CFG_CLIENT_PKI_DIR,
			    "--tls-dir", &t->tls_dir, cmd, code))
		return FALSE;
	if (server && !t->insecure &&
	    !cli_config_strv(NVFM_CFG_AGENT_ALLOW, "--allow", &t->allow, cmd, code))
		return FALSE;
	return cli_config_int(server ? NVFM_CFG_AGENT_TIMEOUT : NVFM_CFG_CLIENT_TIMEOUT,
			      "--timeout", &t->timeout, cmd, code);
}

int cli_transport_preauth(CliTransport *t, const char *cmd, NvfmAgentOptions *ao)
{
	if (t->max_preauth < 0 || t->max_preauth_per_address < 0)
		return cli_usage_error(cmd, "--max-preauth and --max-preauth-per-address must not be "
				       "negative");
	ao->max_preauth = (guint)t->max_preauth;
	ao->max_preauth_per_address = (guint)t->max_preauth_per_address;
	return CLI_EXIT_OK;
}

void cli_transport_clear(CliTransport *t)
{
	g_free(t->tls_dir);
	g_free(t->tls_ca);
	g_free(t->tls_cert);
	g_free(t->tls_key);
	g_free(t->tls_name);
	g_strfreev(t->allow);
}

/* ---- logging ---- */

typedef struct {
	NvfmLog *log;
	int verbose;
} LogCtx;

static void agent_log(GLogLevelFlags level, const NvfmLogFields *fields, const char *message,
		      gpointer data)
{
	LogCtx *lc = data;

	if ((level & (G_LOG_LEVEL_INFO | G_LOG_LEVEL_DEBUG)) && !lc->verbose)
		return;
	nvfm_log_write(lc->log, level, fields, message);
}

/* ---- the service ---- */

static NvfmAgent *running_agent;

static void on_signal(int sig)
{
	if (running_agent)
		nvfm_agent_stop(running_agent);
}

static void install_signals(void)
{
	struct sigaction sa = { .sa_handler = on_signal };

	sigemptyset(&sa.sa_mask);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
}

int cli_run_agent(const NvfmAgentOptions *opts, GError **error)
{
	g_autoptr(NvfmAgent) agent = nvfm_agent_new(opts, error);
	gboolean ok;

	if (!agent)
		return -1;
	install_signals();
	running_agent = agent;
	ok = nvfm_agent_run(agent, error);
	running_agent = NULL;
	return ok ? 0 : -1;
}

static int agent_request(int argc, char **argv);

int cmd_agent(int argc, char **argv)
{
	g_autofree char *listen = NULL, *runtime = NULL, *log = NULL, *log_file = NULL;
	g_autofree char *max_emu = NULL, *qmp_dir = NULL;
	g_auto(GStrv) pf_args = NULL;
	g_autoptr(GPtrArray) pfs = g_ptr_array_new_with_free_func((GDestroyNotify)nvfm_address_free);
	g_auto(GStrv) admin = NULL;
	g_auto(GStrv) drivers = NULL;
	int max_sessions = CLI_UNSET, idle = CLI_UNSET;
	gboolean verify = FALSE, emu = FALSE;
	CliTransport t = { 0 };
	GOptionEntry entries[] = {
		{ "listen", 'l', 0, G_OPTION_ARG_STRING, &listen, "Address: HOST:PORT, :PORT, [V6]:PORT or unix:PATH (port default " G_STRINGIFY(NVFM_AGENT_DEFAULT_PORT) ")", "ADDR" },
		{ "runtime-dir", 0, 0, G_OPTION_ARG_FILENAME, &runtime, "Per-migration state (default /run/nvme-vf-migrate/agent)", "DIR" },
		{ "max-sessions", 0, 0, G_OPTION_ARG_INT, &max_sessions, "Authenticated connections served at once (default 16)", "N" },
		{ "idle-timeout", 0, 0, G_OPTION_ARG_INT, &idle, "Seconds a connection may idle between requests (default 300)", "S" },
		{ "verify", 0, 0, G_OPTION_ARG_NONE, &verify, "Require a CRC32C on every DATA frame and a SHA-256 trailer (no zero-copy, no TLS-only integrity)", NULL },
		{ "log", 0, 0, G_OPTION_ARG_STRING, &log, "journal, stderr, file or auto (journal when stderr is the journal)", "TARGET" },
		{ "log-file", 0, 0, G_OPTION_ARG_FILENAME, &log_file, "The file --log=file appends to", "FILE" },
		{ "pf", 0, 0, G_OPTION_ARG_STRING_ARRAY, &pf_args, "A PF whose VFs peers may use (repeatable; default every NVMe PF with SR-IOV)", "ADDR" },
		{ "emu", 0, 0, G_OPTION_ARG_NONE, &emu, "Serve emulated devices and PFs (emu:NAME), for tests and demos; off by default", NULL },
		{ "max-emu-state", 0, 0, G_OPTION_ARG_STRING, &max_emu, "Largest emulated state a peer may send (default 1G)", "SIZE" },
		{ "driver", 0, 0, G_OPTION_ARG_STRING_ARRAY, &drivers, "A driver peers may have their VFs bound to, besides the one modules.alias names for the VF and vfio-pci (repeatable)", "NAME" },
		{ "admin", 0, 0, G_OPTION_ARG_STRING_ARRAY, &admin, "Clients that may see and release every reservation, matched like --allow (on plain TCP: the client's IP address) (repeatable)", "PATTERN" },
		{ "qmp-dir", 0, 0, G_OPTION_ARG_FILENAME, &qmp_dir, "QEMU monitor sockets under DIR may be reached through the agent link (migrate --dest-vm agent:PATH); default none", "DIR" },
		{ NULL },
	};
	g_autoptr(GOptionContext) ctx = NULL;
	g_autoptr(NvfmTls) tls = NULL;
	NvfmAgentOptions ao = { 0 };
	g_autoptr(NvfmLog) log_sink = NULL;
	NvfmLogTarget log_target = NVFM_LOG_AUTO;
	LogCtx lc = { .verbose = cli_globals.verbose };
	GError *error = NULL;
	int code;

	argc = cli_take_globals(argc, &argv);
	if (argc > 1 && strcmp(argv[1], "request") == 0)
		return agent_request(argc - 1, argv + 1);
	ctx = g_option_context_new(NULL);
	g_option_context_add_main_entries(ctx, entries, NULL);
	cli_transport_add_options(ctx, &t, TRUE);
	if (!cli_parse(ctx, "agent", "--listen ADDR | request OP ...",
		       "serve migrations to this host (or send one request to an agent)",
		       &argc, &argv, 0, 0, &code)) {
		cli_transport_clear(&t);
		return code;
	}
	if (!cli_transport_config(&t, TRUE, "agent", &code) ||
	    !cli_config_str(NVFM_CFG_AGENT_LISTEN, "--listen", &listen, "agent", &code) ||
	    !cli_config_str(NVFM_CFG_AGENT_RUNTIME_DIR, "--runtime-dir", &runtime, "agent", &code) ||
	    !cli_config_str(NVFM_CFG_AGENT_LOG, "--log", &log, "agent", &code) ||
	    !cli_config_str(NVFM_CFG_AGENT_LOG_FILE, "--log-file", &log_file, "agent", &code) ||
	    !cli_config_str(NVFM_CFG_AGENT_QMP_DIR, "--qmp-dir", &qmp_dir, "agent", &code) ||
	    !cli_config_int(NVFM_CFG_AGENT_MAX_SESSIONS, "--max-sessions", &max_sessions, "agent",
			    &code) ||
	    !cli_config_int(NVFM_CFG_AGENT_IDLE_TIMEOUT, "--idle-timeout", &idle, "agent", &code) ||
	    !cli_config_strv(NVFM_CFG_AGENT_PF, "--pf", &pf_args, "agent", &code) ||
	    !cli_config_strv(NVFM_CFG_AGENT_DRIVER, "--driver", &drivers, "agent", &code) ||
	    !cli_config_strv(NVFM_CFG_AGENT_ADMIN, "--admin", &admin, "agent", &code) ||
	    !cli_config_verify(NVFM_CFG_AGENT_INTEGRITY, &verify, "agent", &code)) {
		cli_transport_clear(&t);
		return code;
	}
	if (!listen) {
		cli_transport_clear(&t);
		return cli_usage_error("agent", "missing --listen ADDR (or [agent] listen)");
	}
	if (max_sessions < 0 || idle <= 0 || t.timeout <= 0) {
		cli_transport_clear(&t);
		return cli_usage_error("agent", "--max-sessions, --idle-timeout and --timeout must be positive");
	}
	code = cli_transport_preauth(&t, "agent", &ao);
	if (code != CLI_EXIT_OK) {
		cli_transport_clear(&t);
		return code;
	}
	if (log && !nvfm_log_target_parse(log, &log_target, &error)) {
		cli_transport_clear(&t);
		return cli_usage_error("agent", "--log: %s", error->message);
	}
	/* a file alone means that target */
	if (log_file && log_target == NVFM_LOG_AUTO)
		log_target = NVFM_LOG_FILE;
	log_sink = nvfm_log_new(log_target, log_file, "nvme-vf-migrate", &error);
	if (!log_sink) {
		cli_transport_clear(&t);
		return cli_fail(error);
	}
	lc.log = log_sink;
	for (guint i = 0; pf_args && pf_args[i]; i++) {
		NvfmAddress *pf = nvfm_address_parse_pf(pf_args[i], &error);

		if (!pf) {
			cli_transport_clear(&t);
			return cli_usage_error("agent", "%s", error->message);
		}
		g_ptr_array_add(pfs, pf);
	}
	g_ptr_array_add(pfs, NULL);
	if (max_emu && (!nvfm_size_parse(max_emu, &ao.max_emu_state, &error) ||
			ao.max_emu_state == 0)) {
		cli_transport_clear(&t);
		return cli_usage_error("agent", "%s", error ? error->message
						      : "--max-emu-state must be positive");
	}

	tls = cli_transport_tls(&t, TRUE, listen, &error);
	if (error) {
		cli_transport_clear(&t);
		return cli_fail(error);
	}
	ao.listen = listen;
	ao.tls = tls;
	ao.runtime_dir = runtime;
	ao.max_sessions = (guint)max_sessions;
	ao.timeout_ms = t.timeout * 1000;
	ao.idle_timeout_ms = idle * 1000;
	ao.verify = verify;
	ao.emu = emu;
	ao.pfs = (const NvfmAddress *const *)pfs->pdata;
	ao.admin = (const char *const *)admin;
	ao.drivers = (const char *const *)drivers;
	ao.qmp_dir = qmp_dir;
	ao.log = agent_log;
	ao.log_data = &lc;
	code = cli_run_agent(&ao, &error);
	cli_transport_clear(&t);
	if (code < 0)
		return cli_fail(error);
	return CLI_EXIT_OK;
}

/* KEY=VALUE with JSON values where they parse ("3", "true", "{...}"). */
static gboolean add_arg(json_t *args, const char *kv, GError **error)
{
	const char *eq = strchr(kv, '=');
	g_autofree char *key = NULL;
	json_error_t jerr;
	json_t *v;

	if (!eq || eq == kv) {
		g_set_error(error, NVFM_ERROR, NVFM_ERROR_INVALID_ARG,
			    "argument '%s' is not KEY=VALUE", kv);
		return FALSE;
	}
	key = g_strndup(kv, eq - kv);
	v = json_loads(eq + 1, JSON_DECODE_ANY, &jerr);
	if (!v)
		v = json_string(eq + 1);
	json_object_set_new(args, key, v);
	return TRUE;
}

static int agent_request(int argc, char **argv)
{
	g_autofree char *to = NULL;
	CliTransport t = { 0 };
	GOptionEntry entries[] = {
		{ "to", 0, 0, G_OPTION_ARG_STRING, &to, "The agent: HOST[:PORT] or unix:PATH", "ADDR" },
		{ NULL },
	};
	g_autoptr(GOptionContext) ctx = g_option_context_new(NULL);
	g_autoptr(NvfmTls) tls = NULL;
	g_autoptr(NvfmAgentClient) client = NULL;
	json_auto_t *args = json_object();
	json_auto_t *res = NULL;
	GError *error = NULL;
	int code;

	g_option_context_add_main_entries(ctx, entries, NULL);
	cli_transport_add_options(ctx, &t, FALSE);
	if (!cli_parse(ctx, "agent request", "OP --to ADDR [KEY=VALUE...]",
		       "send one control request (status, preflight, provision, reserve, release)",
		       &argc, &argv, 1, -1, &code))
		goto out;
	if (!cli_transport_config(&t, FALSE, "agent request", &code) ||
	    !cli_config_str(NVFM_CFG_CLIENT_AGENT, "--to", &to, "agent request", &code))
		goto out;
	g_free(to);
	to = cli_config_agent_address();
	if (!to) {
		code = cli_usage_error("agent request", "missing --to ADDR (or [client] agent)");
		goto out;
	}
	for (int i = 2; i < argc; i++) {
		if (!add_arg(args, argv[i], &error)) {
			code = cli_fail(error);
			goto out;
		}
	}
	tls = cli_transport_tls(&t, FALSE, to, &error);
	if (error) {
		code = cli_fail(error);
		goto out;
	}
	signal(SIGPIPE, SIG_IGN);
	client = nvfm_agent_client_connect(to, tls, t.timeout * 1000, &error);
	res = client ? nvfm_agent_client_call(client, argv[1], args, &error) : NULL;
	if (!res) {
		code = cli_fail(error);
		goto out;
	}
	cli_report(res);
	/* a preflight that ran but found a problem is a failure too */
	code = json_is_false(json_object_get(res, "ok")) ? CLI_EXIT_NOT_SUPPORTED : CLI_EXIT_OK;
out:
	cli_transport_clear(&t);
	return code;
}
