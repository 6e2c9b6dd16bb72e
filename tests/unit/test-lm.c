/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * NVMe host-managed live migration: the Identify CNS 20h parser (every
 * count bounded by the buffer), the format a source PF produces, the
 * compatibility check and its one-line reasons, and the strict parsing of
 * the agent's "lm_format" argument.
 */
#include <string.h>

#include "src/lib/pf/pf-private.h"

#define VENDOR NVFM_LM_VENDOR_UUID
static const guint8 vendor_raw[16] = {
	0x6e, 0x76, 0x66, 0x6d, 0x6c, 0x6d, 0x4e, 0x56,
	0x8d, 0x51, 0x45, 0x4d, 0x55, 0x00, 0x00, 0x01,
};

static NvfmLmCaps *caps_new(const char *pf, gboolean supported, const guint16 *v, guint nv,
			    const char *const *uuids)
{
	NvfmLmCaps *c = g_new0(NvfmLmCaps, 1);

	c->pf = g_strdup(pf);
	c->supported = supported;
	if (!supported)
		c->reason = g_strdup("Identify Controller OACS bit 11 (HMLMS) is clear");
	c->n_versions = nv;
	c->versions = g_memdup2(v, sizeof(*v) * MAX(nv, 1));
	c->uuids = g_strdupv((char **)uuids);
	c->n_uuids = g_strv_length(c->uuids);
	return c;
}

static void test_parse(void)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(NvfmLmCaps) c = g_new0(NvfmLmCaps, 1);
	guint8 buf[4096] = { 0 };

	/* the testbed's PF: NV 1 (version 0), NUUID 1 */
	buf[0] = 1;
	buf[1] = 1;
	memcpy(buf + 4, vendor_raw, 16);
	g_assert_true(nvfm_lm_parse_formats(buf, sizeof(buf), c, &error));
	g_assert_no_error(error);
	g_assert_cmpuint(c->n_versions, ==, 1);
	g_assert_cmpuint(c->versions[0], ==, 0);
	g_assert_cmpuint(c->n_uuids, ==, 1);
	g_assert_cmpstr(c->uuids[0], ==, VENDOR);
	g_assert_null(c->uuids[1]);

	/* versions are little endian and keep their order; UUIDs follow them */
	memset(buf, 0, sizeof(buf));
	buf[0] = 3;
	buf[1] = 2;
	buf[2] = 0x34, buf[3] = 0x12;	/* 0x1234 */
	buf[4] = 0x01, buf[5] = 0x00;	/* 1 */
	buf[6] = 0xff, buf[7] = 0xff;	/* 0xffff */
	memcpy(buf + 8, vendor_raw, 16);
	memset(buf + 24, 0xab, 16);
	g_assert_true(nvfm_lm_parse_formats(buf, sizeof(buf), c, &error));
	g_assert_cmpuint(c->n_versions, ==, 3);
	g_assert_cmpuint(c->versions[0], ==, 0x1234);
	g_assert_cmpuint(c->versions[1], ==, 1);
	g_assert_cmpuint(c->versions[2], ==, 0xffff);
	g_assert_cmpuint(c->n_uuids, ==, 2);
	g_assert_cmpstr(c->uuids[0], ==, VENDOR);
	g_assert_cmpstr(c->uuids[1], ==, "abababab-abab-abab-abab-abababababab");

	/* nothing offered is a valid answer */
	memset(buf, 0, sizeof(buf));
	g_assert_true(nvfm_lm_parse_formats(buf, sizeof(buf), c, &error));
	g_assert_cmpuint(c->n_versions, ==, 0);
	g_assert_cmpuint(c->n_uuids, ==, 0);
	g_assert_nonnull(c->uuids);

	/* the largest counts that fit: 255 versions and 223 UUIDs need
	 * 2 + 510 + 3568 = 4080 bytes */
	buf[0] = 255;
	buf[1] = 223;
	g_assert_true(nvfm_lm_parse_formats(buf, sizeof(buf), c, &error));
	g_assert_cmpuint(c->n_versions, ==, 255);
	g_assert_cmpuint(c->n_uuids, ==, 223);

	/* counts that run past the buffer are refused, @c kept */
	buf[1] = 255;
	g_assert_false(nvfm_lm_parse_formats(buf, sizeof(buf), c, &error));
	g_assert_error(error, NVFM_ERROR, NVFM_ERROR_PROTOCOL);
	g_assert_nonnull(strstr(error->message, "255 versions and 255 UUIDs need 4592 bytes"));
	g_assert_cmpuint(c->n_versions, ==, 255);
	g_clear_error(&error);
	buf[0] = 1;
	buf[1] = 1;
	g_assert_false(nvfm_lm_parse_formats(buf, 19, c, &error));
	g_assert_error(error, NVFM_ERROR, NVFM_ERROR_PROTOCOL);
	g_clear_error(&error);
	g_assert_true(nvfm_lm_parse_formats(buf, 20, c, &error));
	g_assert_false(nvfm_lm_parse_formats(buf, 1, c, &error));
	g_clear_error(&error);
	g_assert_false(nvfm_lm_parse_formats(NULL, 0, c, &error));
	g_clear_error(&error);
}

static void test_uuid(void)
{
	guint8 raw[16];
	char text[37];

	g_assert_true(nvfm_lm_uuid_parse("6E76666D-6C6D-4E56-8D51-454D55000001", raw));
	g_assert_cmpmem(raw, 16, vendor_raw, 16);
	nvfm_lm_uuid_format(raw, text);
	g_assert_cmpstr(text, ==, VENDOR);
	g_assert_false(nvfm_lm_uuid_parse("6e76666d-6c6d-4e56-8d51-454d5500000", raw));
	g_assert_false(nvfm_lm_uuid_parse("6e76666d6c6d4e568d51454d55000001", raw));
	g_assert_false(nvfm_lm_uuid_parse("", raw));
	g_assert_false(nvfm_lm_uuid_parse(NULL, raw));
}

static void test_compatible(void)
{
	static const guint16 v0[] = { 0 }, v1[] = { 1 }, v10[] = { 1, 0 };
	static const char *const vendor[] = { VENDOR, NULL };
	static const char *const other[] = { "abababab-abab-abab-abab-abababababab", NULL };
	static const char *const none[] = { NULL };
	g_autoptr(NvfmLmCaps) a = caps_new("emu:pfa", TRUE, v0, 1, vendor);
	g_autoptr(NvfmLmCaps) b = caps_new("emu:pfb", TRUE, v1, 1, vendor);
	g_autoptr(NvfmLmCaps) both = caps_new("emu:pfc", TRUE, v10, 2, vendor);
	g_autoptr(NvfmLmCaps) off = caps_new("emu:pfd", FALSE, v0, 0, none);
	g_autoptr(NvfmLmCaps) off2 = caps_new("emu:pfe", FALSE, v0, 0, none);
	g_autoptr(NvfmLmCaps) foreign = caps_new("emu:pff", TRUE, v0, 1, other);
	g_autoptr(NvfmLmCaps) plain = caps_new("emu:pfg", TRUE, v0, 1, none);
	g_autoptr(NvfmLmFormat) f = NULL;
	g_autoptr(GError) error = NULL;

	/* what a source produces: the first version, the first UUID */
	f = nvfm_lm_caps_format(both);
	g_assert_nonnull(f);
	g_assert_cmpstr(f->pf, ==, "emu:pfc");
	g_assert_cmpuint(f->version, ==, 1);
	g_assert_cmpstr(f->uuid, ==, VENDOR);
	g_assert_null(nvfm_lm_caps_format(off));
	g_clear_pointer(&f, nvfm_lm_format_free);
	f = nvfm_lm_caps_format(plain);
	g_assert_null(f->uuid);

	g_assert_true(nvfm_lm_format_compatible(a, a, &error));
	g_assert_no_error(error);
	/* the destination may offer more than the source produces */
	g_assert_true(nvfm_lm_format_compatible(a, both, &error));
	g_assert_true(nvfm_lm_format_compatible(b, both, &error));
	/* neither side, or only the destination: nothing to check */
	g_assert_true(nvfm_lm_format_compatible(off, off2, &error));
	g_assert_true(nvfm_lm_format_compatible(off, a, &error));
	/* a source without a vendor part goes anywhere its version is */
	g_assert_true(nvfm_lm_format_compatible(plain, foreign, &error));
	g_assert_no_error(error);

	g_assert_false(nvfm_lm_format_compatible(a, b, &error));
	g_assert_error(error, NVFM_ERROR, NVFM_ERROR_NOT_SUPPORTED);
	g_assert_cmpstr(error->message, ==,
			"destination PF emu:pfb offers NVMe controller state version 1 but source "
			"PF emu:pfa produces version 0");
	g_clear_error(&error);
	g_assert_false(nvfm_lm_format_compatible(both, a, &error));
	g_assert_cmpstr(error->message, ==,
			"destination PF emu:pfa offers NVMe controller state version 0 but source "
			"PF emu:pfc produces version 1");
	g_clear_error(&error);
	g_assert_false(nvfm_lm_format_compatible(b, off, &error));
	g_assert_cmpstr(error->message, ==,
			"destination PF emu:pfd does not support NVMe live migration (Identify "
			"Controller OACS bit 11 (HMLMS) is clear) but source PF emu:pfb produces "
			"NVMe controller state version 1");
	g_clear_error(&error);
	g_assert_false(nvfm_lm_format_compatible(a, foreign, &error));
	g_assert_cmpstr(error->message, ==,
			"destination PF emu:pff offers vendor-specific state format "
			"abababab-abab-abab-abab-abababababab but source PF emu:pfa produces "
			"format " VENDOR);
	g_clear_error(&error);
	g_assert_false(nvfm_lm_format_compatible(a, plain, &error));
	g_assert_cmpstr(error->message, ==,
			"destination PF emu:pfg offers no vendor-specific state format but source "
			"PF emu:pfa produces format " VENDOR);
	g_clear_error(&error);
	/* one line, always */
	g_assert_false(nvfm_lm_format_compatible(a, b, &error));
	g_assert_null(strchr(error->message, '\n'));
	g_clear_error(&error);

	/* no format: nothing to accept */
	g_assert_true(nvfm_lm_format_accepted(NULL, off, &error));
}

static void test_describe(void)
{
	static const guint16 v10[] = { 1, 0 };
	static const char *const vendor[] = { VENDOR, NULL };
	static const char *const none[] = { NULL };
	g_autoptr(NvfmLmCaps) c = caps_new("emu:pfc", TRUE, v10, 2, vendor);
	g_autoptr(NvfmLmCaps) off = caps_new("emu:pfd", FALSE, v10, 0, none);
	g_autofree char *s = nvfm_lm_caps_describe(c);
	g_autofree char *s2 = nvfm_lm_caps_describe(off);

	g_assert_cmpstr(s, ==, "NVMe host-managed, controller state versions 1, 0; vendor format "
			VENDOR);
	g_assert_cmpstr(s2, ==, "not supported (Identify Controller OACS bit 11 (HMLMS) is clear)");
}

static NvfmLmFormat *from_text(const char *text, GError **error)
{
	json_auto_t *j = json_loads(text, JSON_DECODE_ANY, NULL);

	g_assert_nonnull(j);
	return nvfm_lm_format_from_json(j, error);
}

static void test_json(void)
{
	static const char *const bad[] = {
		"[]", "7", "\"x\"", "{}", "{\"version\": \"0\"}", "{\"version\": -1}",
		"{\"version\": 65536}", "{\"version\": 1.5}", "{\"version\": 0, \"uuid\": 5}",
		"{\"version\": 0, \"uuid\": \"6e76666d\"}", "{\"version\": 0, \"pf\": 1}",
		"{\"version\": 0, \"pf\": \"\"}",
	};
	g_autoptr(GError) error = NULL;
	g_autoptr(NvfmLmFormat) f = NULL;
	g_autoptr(NvfmLmFormat) g = NULL;
	json_auto_t *j = NULL;

	f = from_text("{\"version\": 65535, \"uuid\": \"6E76666D-6C6D-4E56-8D51-454D55000001\", "
		      "\"pf\": \"0000:01:00.0\"}", &error);
	g_assert_no_error(error);
	g_assert_cmpuint(f->version, ==, 65535);
	g_assert_cmpstr(f->uuid, ==, VENDOR);
	g_assert_cmpstr(f->pf, ==, "0000:01:00.0");
	/* and back: the same value */
	j = nvfm_lm_format_to_json(f);
	g = nvfm_lm_format_from_json(j, &error);
	g_assert_no_error(error);
	g_assert_cmpuint(g->version, ==, 65535);
	g_assert_cmpstr(g->uuid, ==, VENDOR);
	g_assert_cmpstr(g->pf, ==, "0000:01:00.0");
	g_clear_pointer(&f, nvfm_lm_format_free);
	f = from_text("{\"version\": 0, \"uuid\": null}", &error);
	g_assert_no_error(error);
	g_assert_null(f->uuid);
	g_assert_null(f->pf);
	for (gsize i = 0; i < G_N_ELEMENTS(bad); i++) {
		g_clear_pointer(&f, nvfm_lm_format_free);
		f = from_text(bad[i], &error);
		g_assert_null(f);
		g_assert_error(error, NVFM_ERROR, NVFM_ERROR_INVALID_ARG);
		g_assert_true(g_str_has_prefix(error->message, "lm_format"));
		g_assert_null(strchr(error->message, '\n'));
		g_clear_error(&error);
	}
}

int main(int argc, char **argv)
{
	g_test_init(&argc, &argv, NULL);
	g_test_add_func("/lm/parse-formats", test_parse);
	g_test_add_func("/lm/uuid", test_uuid);
	g_test_add_func("/lm/compatible", test_compatible);
	g_test_add_func("/lm/describe", test_describe);
	g_test_add_func("/lm/json", test_json);
	return g_test_run();
}
