/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * What the agent (agent.c) and its client (agent-client.c) share: the
 * connection handshake and the shape of requests and replies
 * (docs/agent.md). Internal to libnvfm.
 */
#pragma once

#include "util/util-private.h"
#include "nvfm/agent.h"

#pragma GCC visibility push(hidden)

#define NVFM_AGENT_PROTOCOL "nvme-vf-migrate"
#define NVFM_ROLE_CLIENT "client"
#define NVFM_ROLE_AGENT "agent"

/* Bounds on what a peer may send in control frames. */
#define NVFM_OP_MAX_LEN 32
#define NVFM_ID_MAX G_MAXINT32

/*
 * Capabilities that let DATA go without CRC32C and SHA-256 (docs/protocol.md):
 * "zero-copy" on a plain socket (the bytes are spliced, never seen), and
 * "tls-integrity" over TLS (its records authenticate every byte).
 */
#define NVFM_CAP_ZERO_COPY 0x1u
#define NVFM_CAP_TLS_INTEGRITY 0x2u

/*
 * The connection HELLO: protocol, version, role, capabilities; the agent
 * adds its host name. @caps are the NVFM_CAP_* this end offers on this
 * connection.
 */
json_t *nvfm_agent_hello_new(const char *role, guint caps);

/*
 * Check a peer's connection HELLO payload: protocol, a version we speak,
 * the expected role. *caps receives the NVFM_CAP_* the peer offers.
 * Returns the parsed object (new reference).
 */
json_t *nvfm_agent_hello_parse(const guint8 *payload, gsize len, const char *role,
			       guint *caps, GError **error);

/*
 * Check a REQUEST payload: {"id": N, "op": "...", "args": {...}}. *args
 * is borrowed from the returned object (new reference), never NULL.
 */
json_t *nvfm_agent_request_parse(const guint8 *payload, gsize len, json_int_t *id,
				 const char **op, json_t **args, GError **error);

/* A request's integer argument @key in [@min, @max], @dflt when absent:
 * anything else (another type, out of range) is an error, never truncated. */
gboolean nvfm_agent_arg_int(json_t *args, const char *key, gint64 min, gint64 max, gint64 dflt,
			    gint64 *out, GError **error);

/*
 * An agent's ABORT (@is_abort) or refusing REPLY payload as a GError: its
 * code, reason or message. *phase receives the phase it names, as a
 * static string, or NULL.
 */
void nvfm_agent_remote_error(const guint8 *payload, gsize len, gboolean is_abort,
			     const char **phase, GError **error);

/*
 * The client's reading of the frame (@type, @payload) the agent sent in
 * answer to request @id: a REPLY with "ok": true is returned (new
 * reference); an ABORT or a refusal is an error (*phase as above), and
 * any other frame or reply a protocol error.
 */
json_t *nvfm_agent_reply_parse(guint type, const guint8 *payload, gsize len, json_int_t id,
			       const char **phase, GError **error);

/* The code of an error name from nvfm_error_code_name(); FAILED if unknown. */
NvfmErrorCode nvfm_error_code_from_name(const char *name);

#pragma GCC visibility pop
