/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Header flags, the in-memory frame parser and the agent protocol's
 * HELLO and REQUEST checks. */
#include <string.h>

#include "src/lib/agent/agent-private.h"

static gsize build(guint8 *out, guint type, guint16 flags, const void *payload, guint32 len,
		   gboolean with_crc)
{
	NvfmFrameHeader h = { .type = type, .version = NVFM_PROTO_VERSION, .flags = flags,
			      .length = len };
	guint32 crc;

	nvfm_frame_header_encode(&h, out);
	memcpy(out + NVFM_FRAME_HEADER_SIZE, payload, len);
	if (!with_crc)
		return NVFM_FRAME_HEADER_SIZE + len;
	crc = GUINT32_TO_LE(nvfm_crc32c(0, payload, len));
	memcpy(out + NVFM_FRAME_HEADER_SIZE + len, &crc, 4);
	return NVFM_FRAME_HEADER_SIZE + len + 4;
}

static void test_flags(void)
{
	guint8 raw[64];
	NvfmFrameHeader h;
	const guint8 *p;
	gsize used;
	GError *error = NULL;

	/* NO_CRC is a DATA flag: its payload has no checksum after it */
	used = build(raw, NVFM_FRAME_DATA, NVFM_FRAME_FLAG_NO_CRC, "abcd", 4, FALSE);
	g_assert_true(nvfm_frame_parse(raw, used, &h, &p, &used, &error));
	g_assert_no_error(error);
	g_assert_cmpuint(used, ==, 20);
	g_assert_cmpuint(h.flags, ==, NVFM_FRAME_FLAG_NO_CRC);
	g_assert_cmpmem(p, 4, "abcd", 4);

	/* ... and means nothing elsewhere */
	used = build(raw, NVFM_FRAME_PHASE, NVFM_FRAME_FLAG_NO_CRC, "abcd", 4, FALSE);
	g_assert_false(nvfm_frame_parse(raw, used, &h, &p, &used, &error));
	g_assert_error(error, NVFM_ERROR, NVFM_ERROR_PROTOCOL);
	g_assert_nonnull(strstr(error->message, "flags"));
	g_clear_error(&error);

	/* NO_DIGEST belongs to the TRAILER; its payload keeps its CRC */
	memset(raw + 16, 0, 40);
	used = build(raw, NVFM_FRAME_TRAILER, NVFM_FRAME_FLAG_NO_DIGEST, raw + 16, 40, TRUE);
	g_assert_true(nvfm_frame_parse(raw, used, &h, &p, &used, &error));
	g_assert_no_error(error);
	used = build(raw, NVFM_FRAME_DATA, NVFM_FRAME_FLAG_NO_DIGEST, "ab", 2, TRUE);
	g_assert_false(nvfm_frame_parse(raw, used, &h, &p, &used, &error));
	g_assert_error(error, NVFM_ERROR, NVFM_ERROR_PROTOCOL);
	g_clear_error(&error);
}

static void test_parse_truncation(void)
{
	guint8 raw[64];
	NvfmFrameHeader h;
	const guint8 *p;
	gsize used, full = build(raw, NVFM_FRAME_DATA, 0, "0123456789", 10, TRUE);
	GError *error = NULL;

	for (gsize n = 0; n < full; n++) {
		g_assert_false(nvfm_frame_parse(raw, n, &h, &p, &used, &error));
		g_assert_error(error, NVFM_ERROR, NVFM_ERROR_PROTOCOL);
		g_assert_nonnull(strstr(error->message, "truncated"));
		g_clear_error(&error);
	}
	g_assert_true(nvfm_frame_parse(raw, full, &h, &p, &used, &error));
	g_assert_cmpuint(used, ==, full);
	/* a flipped payload bit is an integrity error */
	raw[20] ^= 0x10;
	g_assert_false(nvfm_frame_parse(raw, full, &h, &p, &used, &error));
	g_assert_error(error, NVFM_ERROR, NVFM_ERROR_INTEGRITY);
	g_clear_error(&error);
}

static json_t *hello(const char *text, const char *role, guint *zc, GError **error)
{
	return nvfm_agent_hello_parse((const guint8 *)text, strlen(text), role, zc, error);
}

static void test_hello(void)
{
	json_auto_t *ours = nvfm_agent_hello_new(NVFM_ROLE_CLIENT, NVFM_CAP_ZERO_COPY);
	g_autofree char *text = json_dumps(ours, JSON_COMPACT);
	json_t *back;
	guint zc = 0;
	GError *error = NULL;

	back = hello(text, NVFM_ROLE_CLIENT, &zc, &error);
	g_assert_no_error(error);
	g_assert_cmpuint(zc, ==, NVFM_CAP_ZERO_COPY);
	json_decref(back);

	/* the wrong role, protocol or version is refused by name */
	g_assert_null(hello(text, NVFM_ROLE_AGENT, &zc, &error));
	g_assert_nonnull(strstr(error->message, "expected a 'agent'"));
	g_clear_error(&error);
	g_assert_null(hello("{\"protocol\":\"x\",\"version\":1,\"role\":\"client\"}",
			    NVFM_ROLE_CLIENT, &zc, &error));
	g_assert_error(error, NVFM_ERROR, NVFM_ERROR_PROTOCOL);
	g_clear_error(&error);
	g_assert_null(hello("{\"protocol\":\"nvme-vf-migrate\",\"version\":7,\"role\":\"client\"}",
			    NVFM_ROLE_CLIENT, &zc, &error));
	g_assert_nonnull(strstr(error->message, "version 7"));
	g_clear_error(&error);
	/* a newer peer that still speaks ours is fine */
	back = hello("{\"protocol\":\"nvme-vf-migrate\",\"version\":7,\"versions\":[7,1],"
		     "\"role\":\"client\"}", NVFM_ROLE_CLIENT, &zc, &error);
	g_assert_no_error(error);
	g_assert_cmpuint(zc, ==, 0);
	json_decref(back);
}

static void test_request(void)
{
	static const char *const bad[] = {
		"[]", "{\"op\":\"status\"}", "{\"id\":1}", "{\"id\":-1,\"op\":\"status\"}",
		"{\"id\":1,\"op\":\"\"}", "{\"id\":1,\"op\":\"status\",\"args\":[1]}",
		"{\"id\":1,\"op\":\"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\"}",
		"{\"id\":99999999999,\"op\":\"status\"}",
	};
	const char *good = "{\"id\":3,\"op\":\"status\"}";
	json_auto_t *req = NULL;
	json_int_t id = 0;
	const char *op = NULL;
	json_t *args = NULL;
	GError *error = NULL;

	req = nvfm_agent_request_parse((const guint8 *)good, strlen(good), &id, &op, &args, &error);
	g_assert_no_error(error);
	g_assert_cmpint(id, ==, 3);
	g_assert_cmpstr(op, ==, "status");
	g_assert_true(json_is_object(args));
	for (guint i = 0; i < G_N_ELEMENTS(bad); i++) {
		g_assert_null(nvfm_agent_request_parse((const guint8 *)bad[i], strlen(bad[i]), &id,
						       &op, &args, &error));
		g_assert_error(error, NVFM_ERROR, NVFM_ERROR_PROTOCOL);
		g_clear_error(&error);
	}
	g_assert_cmpint(nvfm_error_code_from_name("busy"), ==, NVFM_ERROR_BUSY);
	g_assert_cmpint(nvfm_error_code_from_name("no-such"), ==, NVFM_ERROR_FAILED);
}

int main(int argc, char **argv)
{
	g_test_init(&argc, &argv, NULL);
	g_test_add_func("/stream/flags", test_flags);
	g_test_add_func("/stream/parse-truncation", test_parse_truncation);
	g_test_add_func("/agent/hello", test_hello);
	g_test_add_func("/agent/request", test_request);
	return g_test_run();
}
