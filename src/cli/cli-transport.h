/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Transport and TLS options shared by "agent", "send" and "receive"
 * (implemented in cmd-agent.c). */
#pragma once

#include "cli.h"

typedef struct {
	gboolean insecure;
	char *tls_dir;
	char *tls_ca;
	char *tls_cert;
	char *tls_key;
	char *tls_name;
	char **allow;
	int timeout;		/* seconds */
	int max_preauth;	/* server: connections in their handshake (0: default) */
	int max_preauth_per_address;
} CliTransport;

/* Adds the transport options (server: with --allow and the limits on
 * connections in their handshake) to @ctx as a group. */
void cli_transport_add_options(GOptionContext *ctx, CliTransport *t, gboolean server);

/* Lays the transport flags given over the configuration ([agent] for a
 * server, else [client]) and leaves the effective values in @t. FALSE:
 * the usage error is printed and *code set. */
gboolean cli_transport_config(CliTransport *t, gboolean server, const char *cmd, int *code);

/* Checks the server's limits on connections in their handshake and puts
 * them in @ao: CLI_EXIT_OK, or the usage error's exit code. */
int cli_transport_preauth(CliTransport *t, const char *cmd, NvfmAgentOptions *ao);

/*
 * The TLS credentials @address needs: NULL without an error for a UNIX
 * socket or with --insecure, NULL with an error when TLS is needed and
 * the credentials cannot be loaded.
 */
NvfmTls *cli_transport_tls(CliTransport *t, gboolean server, const char *address,
			   GError **error);

void cli_transport_clear(CliTransport *t);

/* Runs an agent until SIGTERM/SIGINT or, one-shot, until its transfer
 * ends. Returns 0, or -1 with @error set. */
int cli_run_agent(const NvfmAgentOptions *opts, GError **error);
