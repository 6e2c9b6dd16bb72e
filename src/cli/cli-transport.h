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
} CliTransport;

/* Adds the transport options (server: with --allow) to @ctx as a group. */
void cli_transport_add_options(GOptionContext *ctx, CliTransport *t, gboolean server);

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
