// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * What every part of the agent uses to talk: its log, the replies and
 * ABORT frames on a connection, and stopping the agent. It sits below the
 * server (agent.c) and the request handlers, which all call it.
 */
#define G_LOG_DOMAIN "nvfm-agent"

#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "agent-server.h"

/* Control characters a peer put in a name or reason, escaped: one log
 * line is one event, and nobody can forge another. */
static char *log_escape(const char *msg)
{
	GString *out = g_string_sized_new(strlen(msg));

	for (const guchar *p = (const guchar *)msg; *p; p++) {
		if (*p < 0x20 || *p == 0x7f)
			g_string_append_printf(out, "\\x%02x", *p);
		else
			g_string_append_c(out, (char)*p);
	}
	return g_string_free(out, FALSE);
}

static void agent_logv(NvfmAgent *a, GLogLevelFlags level, const NvfmLogFields *fields,
		       const char *fmt, va_list ap) G_GNUC_PRINTF(4, 0);

static void agent_logv(NvfmAgent *a, GLogLevelFlags level, const NvfmLogFields *fields,
		       const char *fmt, va_list ap)
{
	g_autofree char *raw = g_strdup_vprintf(fmt, ap);
	g_autofree char *msg = log_escape(raw);

	g_debug("%s", msg);
	if (a->log)
		a->log(level, fields, msg, a->log_data);
}

void agent_log(NvfmAgent *a, GLogLevelFlags level, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	agent_logv(a, level, NULL, fmt, ap);
	va_end(ap);
}

void agent_log_about(NvfmAgent *a, GLogLevelFlags level, const NvfmLogFields *fields,
		     const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	agent_logv(a, level, fields, fmt, ap);
	va_end(ap);
}

void nvfm_agent_stop(NvfmAgent *agent)
{
	guint64 one = 1;

	/* only write(2): this runs in signal handlers */
	if (agent->stop_fd >= 0 && write(agent->stop_fd, &one, sizeof(one)) < 0)
		return;
}

gboolean agent_reply_ok(Session *s, json_int_t id, json_t *result, GError **error)
{
	json_auto_t *r = json_pack("{s:I, s:b, s:o}", "id", id, "ok", 1, "result",
				   result ? result : json_object());

	return nvfm_frame_send_json(s->ch, NVFM_FRAME_REPLY, r, error);
}

gboolean agent_reply_error(Session *s, json_int_t id, const GError *err, GError **error)
{
	json_auto_t *r = json_pack("{s:I, s:b, s:{s:s, s:s}}", "id", id, "ok", 0, "error",
				   "code", nvfm_error_code_name(err->domain == NVFM_ERROR ? err->code
							       : NVFM_ERROR_FAILED),
				   "message", err->message);

	return nvfm_frame_send_json(s->ch, NVFM_FRAME_REPLY, r, error);
}

void agent_send_abort(Session *s, const char *reason, const char *code, const char *phase)
{
	json_auto_t *obj = json_pack("{s:s, s:s, s:s?, s:s?}", "reason", reason, "code", code,
				     "phase", phase, "migration", s->mig_id);

	nvfm_frame_send_json(s->ch, NVFM_FRAME_ABORT, obj, NULL);
}
