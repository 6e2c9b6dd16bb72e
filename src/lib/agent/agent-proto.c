/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The agent protocol's parsers and constructors that the agent and its
 * client share: connection HELLO, requests and replies (docs/agent.md). Every
 * byte here comes from a peer, so tests/fuzz/fuzz-frame.c and
 * tests/fuzz/fuzz-agent-proto.c run it.
 */
#define G_LOG_DOMAIN "nvfm-agent-proto"

#include <string.h>

#include "agent-private.h"

json_t *nvfm_agent_hello_new(const char *role, guint offer)
{
	json_t *caps = json_pack("[s,s,s]", "control", "precopy", "sha256");
	json_t *hello;

	if (offer & NVFM_CAP_ZERO_COPY)
		json_array_append_new(caps, json_string("zero-copy"));
	if (offer & NVFM_CAP_TLS_INTEGRITY)
		json_array_append_new(caps, json_string("tls-integrity"));
	hello = json_pack("{s:s, s:i, s:[i], s:s, s:o, s:s}", "protocol", NVFM_AGENT_PROTOCOL,
			  "version", NVFM_PROTO_VERSION, "versions", NVFM_PROTO_VERSION, "role",
			  role, "capabilities", caps, "software",
			  "nvme-vf-migrate " NVFM_VERSION);
	if (strcmp(role, NVFM_ROLE_AGENT) == 0)
		json_object_set_new(hello, "host", json_string(g_get_host_name()));
	return hello;
}

json_t *nvfm_agent_hello_parse(const guint8 *payload, gsize len, const char *role,
			       guint *offer, GError **error)
{
	json_auto_t *obj = nvfm_frame_parse_json(payload, len, error);
	const char *proto = NULL, *peer_role = NULL;
	json_int_t version = 0;
	json_t *caps = NULL, *versions = NULL;
	gboolean ok_version;

	*offer = 0;
	if (!obj)
		return NULL;
	if (json_unpack(obj, "{s:s, s:I, s:s, s?o, s?o}", "protocol", &proto, "version",
			&version, "role", &peer_role, "capabilities", &caps, "versions",
			&versions) < 0 ||
	    strcmp(proto, NVFM_AGENT_PROTOCOL) != 0) {
		g_set_error(error, NVFM_ERROR, NVFM_ERROR_PROTOCOL,
			    "the peer's HELLO does not announce the nvme-vf-migrate protocol");
		return NULL;
	}
	/* A peer may speak several versions; one of them must be ours. */
	ok_version = version == NVFM_PROTO_VERSION;
	for (gsize i = 0; !ok_version && versions && json_is_array(versions) &&
			  i < json_array_size(versions); i++)
		ok_version = json_integer_value(json_array_get(versions, i)) == NVFM_PROTO_VERSION;
	if (!ok_version) {
		g_set_error(error, NVFM_ERROR, NVFM_ERROR_PROTOCOL,
			    "the peer speaks protocol version %" JSON_INTEGER_FORMAT
			    ", this build speaks %d", version, NVFM_PROTO_VERSION);
		return NULL;
	}
	if (strcmp(peer_role, role) != 0) {
		g_autofree char *shown = nvfm_quote_line(peer_role);

		g_set_error(error, NVFM_ERROR, NVFM_ERROR_PROTOCOL,
			    "the peer is a '%s', expected a '%s'", shown, role);
		return NULL;
	}
	if (caps && !json_is_array(caps)) {
		g_set_error(error, NVFM_ERROR, NVFM_ERROR_PROTOCOL,
			    "the peer's capabilities are not a list");
		return NULL;
	}
	for (gsize i = 0; caps && i < json_array_size(caps); i++) {
		const char *c = json_string_value(json_array_get(caps, i));

		if (c && strcmp(c, "zero-copy") == 0)
			*offer |= NVFM_CAP_ZERO_COPY;
		else if (c && strcmp(c, "tls-integrity") == 0)
			*offer |= NVFM_CAP_TLS_INTEGRITY;
	}
	return g_steal_pointer(&obj);
}

json_t *nvfm_agent_request_parse(const guint8 *payload, gsize len, json_int_t *id,
				 const char **op, json_t **args, GError **error)
{
	json_auto_t *obj = nvfm_frame_parse_json(payload, len, error);
	json_t *a = NULL;

	if (!obj)
		return NULL;
	if (json_unpack(obj, "{s:I, s:s, s?o}", "id", id, "op", op, "args", &a) < 0 ||
	    *id < 0 || *id > NVFM_ID_MAX || !**op || strlen(*op) > NVFM_OP_MAX_LEN ||
	    (a && !json_is_object(a))) {
		g_set_error(error, NVFM_ERROR, NVFM_ERROR_PROTOCOL,
			    "malformed request (expected {\"id\": N, \"op\": NAME, \"args\": {...}})");
		return NULL;
	}
	if (!a) {
		a = json_object();
		json_object_set_new(obj, "args", a);
	}
	*args = a;
	return g_steal_pointer(&obj);
}

NvfmErrorCode nvfm_error_code_from_name(const char *name)
{
	for (int c = NVFM_ERROR_FAILED; c <= NVFM_ERROR_PERMISSION; c++)
		if (name && strcmp(nvfm_error_code_name(c), name) == 0)
			return c;
	return NVFM_ERROR_FAILED;
}

gboolean nvfm_agent_arg_int(json_t *args, const char *key, gint64 min, gint64 max, gint64 dflt,
			    gint64 *out, GError **error)
{
	json_t *v = json_object_get(args, key);

	if (!v || json_is_null(v)) {
		*out = dflt;
		return TRUE;
	}
	if (!json_is_integer(v) || json_integer_value(v) < min || json_integer_value(v) > max) {
		g_set_error(error, NVFM_ERROR, NVFM_ERROR_INVALID_ARG,
			    "%s must be an integer %" G_GINT64_FORMAT "..%" G_GINT64_FORMAT, key, min,
			    max);
		return FALSE;
	}
	*out = json_integer_value(v);
	return TRUE;
}

/* The agent's phase names as our static strings (NvfmTransferStats.phase). */
static const char *known_phase(const char *p)
{
	static const char *const names[] = {
		"handshake", "compat", "resume", "precopy", "stop-copy", "trailer", "commit", "run",
	};

	for (guint i = 0; p && i < G_N_ELEMENTS(names); i++)
		if (strcmp(p, names[i]) == 0)
			return names[i];
	return NULL;
}

void nvfm_agent_remote_error(const guint8 *payload, gsize len, gboolean is_abort,
			     const char **phase, GError **error)
{
	json_auto_t *obj = nvfm_frame_parse_json(payload, len, NULL);
	json_t *e = obj && !is_abort ? json_object_get(obj, "error") : obj;
	const char *msg = e ? json_string_value(json_object_get(e, is_abort ? "reason" : "message"))
			    : NULL;
	const char *code = e ? json_string_value(json_object_get(e, "code")) : NULL;
	g_autofree char *shown = msg ? nvfm_quote_line(msg) : NULL;

	*phase = known_phase(e ? json_string_value(json_object_get(e, "phase")) : NULL);

	g_set_error(error, NVFM_ERROR,
		    code ? nvfm_error_code_from_name(code)
			 : is_abort ? NVFM_ERROR_CANCELLED : NVFM_ERROR_FAILED,
		    "the agent %s: %s", is_abort ? "aborted" : "refused",
		    shown ? shown : "no reason given");
}

json_t *nvfm_agent_reply_parse(guint type, const guint8 *payload, gsize len, json_int_t id,
			       const char **phase, GError **error)
{
	json_auto_t *obj = NULL;
	json_t *ok;
	json_int_t rid = -1;

	if (type == NVFM_FRAME_ABORT) {
		nvfm_agent_remote_error(payload, len, TRUE, phase, error);
		return NULL;
	}
	if (type != NVFM_FRAME_REPLY) {
		g_set_error(error, NVFM_ERROR, NVFM_ERROR_PROTOCOL,
			    "the agent sent a %s frame instead of a REPLY",
			    nvfm_frame_type_name(type));
		return NULL;
	}
	obj = nvfm_frame_parse_json(payload, len, error);
	if (!obj)
		return NULL;
	ok = json_object_get(obj, "ok");
	if (json_unpack(obj, "{s:I}", "id", &rid) < 0 || rid != id || !json_is_boolean(ok)) {
		g_set_error(error, NVFM_ERROR, NVFM_ERROR_PROTOCOL,
			    "the agent's reply does not answer request %" JSON_INTEGER_FORMAT, id);
		return NULL;
	}
	if (!json_is_true(ok)) {
		nvfm_agent_remote_error(payload, len, FALSE, phase, error);
		return NULL;
	}
	return g_steal_pointer(&obj);
}
