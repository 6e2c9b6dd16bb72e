/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Splits a QMP byte stream into messages. QEMU ends each message with a
 * newline, but a pretty-printing monitor spreads one over many lines and a
 * socket may cut anywhere, so messages are delimited by bracket depth
 * outside strings rather than by lines; Jansson then parses the exact
 * bytes of each one.
 */
#define G_LOG_DOMAIN "nvfm-qmp"

#include <stdarg.h>
#include <string.h>

#include "util/util-private.h"
#include "qmp-reader.h"

/* Deeper than any QMP reply; Jansson's own limit is 2048. */
#define READER_MAX_DEPTH 1024
/* Give back a buffer that grew for one large message. */
#define READER_KEEP_BYTES (1u << 20)

struct _NvfmQmpReader {
	GByteArray *msg;	/* the current message, from its '{' */
	gsize max;
	guint depth;		/* 0: between messages */
	/* Which bracket opened each level, so a mismatch fails at once
	 * instead of leaving the reader waiting for a close that never comes. */
	char open[READER_MAX_DEPTH + 1];
	gboolean in_string;
	gboolean escape;
	guint64 consumed;	/* stream offset, for error messages */
	GError *poison;
};

NvfmQmpReader *nvfm_qmp_reader_new(gsize max_message)
{
	NvfmQmpReader *r = g_new0(NvfmQmpReader, 1);

	r->msg = g_byte_array_new();
	r->max = max_message ? max_message : NVFM_QMP_MAX_MESSAGE;
	return r;
}

void nvfm_qmp_reader_free(NvfmQmpReader *r)
{
	if (!r)
		return;
	g_byte_array_unref(r->msg);
	g_clear_error(&r->poison);
	g_free(r);
}

gsize nvfm_qmp_reader_pending(const NvfmQmpReader *r)
{
	return r->msg->len;
}

static gboolean fail(NvfmQmpReader *r, GError **error, const char *fmt, ...) G_GNUC_PRINTF(3, 4);

static gboolean fail(NvfmQmpReader *r, GError **error, const char *fmt, ...)
{
	g_autofree char *msg = NULL;
	va_list ap;

	va_start(ap, fmt);
	msg = g_strdup_vprintf(fmt, ap);
	va_end(ap);
	r->poison = g_error_new(NVFM_ERROR, NVFM_ERROR_PROTOCOL, "QMP peer sent %s", msg);
	g_propagate_error(error, g_error_copy(r->poison));
	return FALSE;
}

/* Validates and parses one complete message, then hands it on. */
static gboolean finish_message(NvfmQmpReader *r, NvfmQmpReaderEmit emit, gpointer user_data,
			       GError **error)
{
	const char *data = (const char *)r->msg->data;
	gsize len = r->msg->len;
	const char *bad = NULL;
	json_error_t jerr;
	json_t *obj;

	if (!g_utf8_validate_len(data, len, &bad))
		return fail(r, error, "a message that is not valid UTF-8 (byte 0x%02x at offset %zu)",
			    (guint8)*bad, (gsize)(bad - data));
	obj = json_loadb(data, len, JSON_REJECT_DUPLICATES, &jerr);
	if (!obj)
		return fail(r, error, "malformed JSON: %s (at offset %d of a %zu-byte message)",
			    jerr.text, jerr.position, len);
	if (!json_is_object(obj)) {
		json_decref(obj);
		return fail(r, error, "a JSON value that is not an object");
	}
	if (len > READER_KEEP_BYTES) {
		g_byte_array_unref(r->msg);
		r->msg = g_byte_array_new();
	} else {
		g_byte_array_set_size(r->msg, 0);
	}
	emit(obj, user_data);
	return TRUE;
}

gboolean nvfm_qmp_reader_feed(NvfmQmpReader *r, const char *buf, gsize len,
			      NvfmQmpReaderEmit emit, gpointer user_data, GError **error)
{
	gsize i = 0;

	if (r->poison) {
		g_propagate_error(error, g_error_copy(r->poison));
		return FALSE;
	}
	while (i < len) {
		gsize start;

		if (r->depth == 0) {
			guchar c = buf[i];

			if (c == ' ' || c == '\t' || c == '\r' || c == '\n') {
				i++;
				r->consumed++;
				continue;
			}
			if (c != '{')
				return fail(r, error,
					    "byte 0x%02x at stream offset %" G_GUINT64_FORMAT
					    " where a JSON object should start",
					    c, r->consumed);
		}
		/* Scan a run of bytes that belong to the current message. */
		start = i;
		for (; i < len; i++) {
			char c = buf[i];

			if (r->in_string) {
				if (r->escape)
					r->escape = FALSE;
				else if (c == '\\')
					r->escape = TRUE;
				else if (c == '"')
					r->in_string = FALSE;
				continue;
			}
			if (c == '"') {
				r->in_string = TRUE;
			} else if (c == '{' || c == '[') {
				if (r->depth >= READER_MAX_DEPTH)
					return fail(r, error, "JSON nested more than %d levels deep",
						    READER_MAX_DEPTH);
				r->open[++r->depth] = c;
			} else if (c == '}' || c == ']') {
				if (r->open[r->depth] != (c == '}' ? '{' : '['))
					return fail(r, error,
						    "malformed JSON: '%c' closes '%c' (stream offset %"
						    G_GUINT64_FORMAT ")", c, r->open[r->depth],
						    r->consumed + (i - start));
				if (--r->depth == 0) {
					i++;
					break;
				}
			}
		}
		if (r->msg->len + (i - start) > r->max)
			return fail(r, error, "a message longer than %zu bytes", r->max);
		g_byte_array_append(r->msg, (const guint8 *)buf + start, i - start);
		r->consumed += i - start;
		if (r->depth == 0 && !finish_message(r, emit, user_data, error))
			return FALSE;
	}
	return TRUE;
}

gboolean nvfm_qmp_reader_finish(NvfmQmpReader *r, GError **error)
{
	if (r->poison) {
		g_propagate_error(error, g_error_copy(r->poison));
		return FALSE;
	}
	if (r->msg->len)
		return fail(r, error, "a message cut short by the end of the stream (%u bytes)",
			    r->msg->len);
	return TRUE;
}
