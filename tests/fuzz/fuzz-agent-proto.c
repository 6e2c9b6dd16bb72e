/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Fuzz target for the agent protocol's JSON (agent-proto.c): a payload as
 * the agent reads it (the client's HELLO, a REQUEST and its integer
 * arguments) and as the client reads it (the agent's HELLO, a REPLY or an
 * ABORT). Besides not crashing:
 *  - a request that parses has an id in range, a short non-empty op and
 *    an object of arguments; an integer argument is in its range, its
 *    default, or an error, never truncated;
 *  - a reply that parses answers the request it was read for and says
 *    "ok": true; a refusal or an ABORT is one line, and any phase it
 *    reports is one of ours;
 *  - a HELLO reports only capabilities we know, and the HELLO we make
 *    parses back to what we offered.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "src/lib/agent/agent-private.h"

static const char *const phases[] = {
	"handshake", "compat", "resume", "precopy", "stop-copy", "trailer", "commit", "run",
};

static void one_line(const GError *error)
{
	if (!error || error->domain != NVFM_ERROR || !error->message[0] ||
	    strchr(error->message, '\n'))
		abort();
}

static void check_phase(const char *phase)
{
	gboolean ours = phase == NULL;

	for (guint i = 0; phase && i < G_N_ELEMENTS(phases); i++)
		ours |= phase == phases[i] || strcmp(phase, phases[i]) == 0;
	if (!ours)
		abort();
}

static void check_hello(const uint8_t *data, size_t size)
{
	const char *roles[] = { NVFM_ROLE_CLIENT, NVFM_ROLE_AGENT };

	for (guint i = 0; i < G_N_ELEMENTS(roles); i++) {
		g_autoptr(GError) error = NULL;
		json_auto_t *obj = NULL;
		guint caps = 0xff;

		obj = nvfm_agent_hello_parse(data, size, roles[i], &caps, &error);
		if (!obj)
			one_line(error);
		if (caps & ~(NVFM_CAP_ZERO_COPY | NVFM_CAP_TLS_INTEGRITY))
			abort();
		if (!obj && caps)
			abort();
	}
}

/* the agent asks for its own keys (a peer's keys are never echoed) */
static void check_int_args(json_t *args)
{
	static const gint64 ranges[][3] = {
		{ 0, G_MAXINT32, 7 }, { 1, 65535, 1 }, { -5, 5, 0 }, { G_MININT64, G_MAXINT64, 0 },
	};
	static const char *const keys[] = { "nvq", "nvi", "vf_index" };

	for (guint k = 0; k < G_N_ELEMENTS(keys); k++) {
		const char *key = keys[k];
		json_t *v = json_object_get(args, key);

		for (guint r = 0; r < G_N_ELEMENTS(ranges); r++) {
			g_autoptr(GError) error = NULL;
			gint64 out = 0x5a5a;

			if (nvfm_agent_arg_int(args, key, ranges[r][0], ranges[r][1], ranges[r][2], &out,
					       &error)) {
				if (error)
					abort();
				if (!v || json_is_null(v) ? out != ranges[r][2]
						    : (!json_is_integer(v) || out != json_integer_value(v) ||
						       out < ranges[r][0] || out > ranges[r][1]))
					abort();
			} else {
				one_line(error);
				if (json_is_integer(v) && json_integer_value(v) >= ranges[r][0] &&
				    json_integer_value(v) <= ranges[r][1])
					abort();
			}
		}
	}
}

static void check_request(const uint8_t *data, size_t size)
{
	g_autoptr(GError) error = NULL;
	json_auto_t *obj = NULL;
	json_int_t id = -1;
	const char *op = NULL;
	json_t *args = NULL;

	obj = nvfm_agent_request_parse(data, size, &id, &op, &args, &error);
	if (!obj) {
		one_line(error);
		return;
	}
	if (error || id < 0 || id > NVFM_ID_MAX || !op || !*op || strlen(op) > NVFM_OP_MAX_LEN ||
	    !json_is_object(args))
		abort();
	check_int_args(args);
}

static void check_reply(guint type, const uint8_t *data, size_t size, json_int_t id)
{
	g_autoptr(GError) error = NULL;
	json_auto_t *obj = NULL;
	const char *phase = NULL;
	json_int_t rid = -1;

	obj = nvfm_agent_reply_parse(type, data, size, id, &phase, &error);
	if (!obj) {
		one_line(error);
		check_phase(phase);
		return;
	}
	if (error || type != NVFM_FRAME_REPLY || json_unpack(obj, "{s:I}", "id", &rid) < 0 ||
	    rid != id || !json_is_true(json_object_get(obj, "ok")))
		abort();
}

/* What we say must parse back to what we offered. */
static void check_own_hello(guint offer)
{
	const char *roles[] = { NVFM_ROLE_CLIENT, NVFM_ROLE_AGENT };

	for (guint i = 0; i < G_N_ELEMENTS(roles); i++) {
		json_auto_t *hello = nvfm_agent_hello_new(roles[i], offer);
		json_auto_t *back = NULL;
		g_autofree char *text = json_dumps(hello, JSON_COMPACT);
		guint caps = 0;

		back = nvfm_agent_hello_parse((const guint8 *)text, strlen(text), roles[i], &caps, NULL);
		if (!back || caps != offer)
			abort();
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	json_auto_t *peek = NULL;
	json_int_t id = 1;

	if (size > NVFM_FRAME_MAX_CONTROL)
		return 0;
	check_hello(data, size);
	check_request(data, size);
	/* the id the client waits for: the payload's own, so replies can match */
	peek = json_loadb((const char *)data, size, JSON_REJECT_DUPLICATES, NULL);
	if (json_is_integer(json_object_get(peek, "id")))
		id = json_integer_value(json_object_get(peek, "id"));
	check_reply(NVFM_FRAME_REPLY, data, size, id);
	check_reply(NVFM_FRAME_REPLY, data, size, id ^ 1);
	check_reply(NVFM_FRAME_ABORT, data, size, id);
	check_reply(size ? 1 + data[0] % NVFM_FRAME_TYPE_MAX : NVFM_FRAME_HELLO, data, size, id);
	if (size)
		check_own_hello(data[0] & (NVFM_CAP_ZERO_COPY | NVFM_CAP_TLS_INTEGRITY));
	return 0;
}
