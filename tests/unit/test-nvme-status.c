/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The one mapping of libnvme results (status > 0, or -1 with errno). */
#include "config.h"

#include <string.h>

#include "src/lib/pf/pf-private.h"

static void test_success(void)
{
	GError *error = NULL;

	g_assert_true(nvfm_nvme_set_error(0, EIO, &error, "anything"));
	g_assert_no_error(error);
	/* a NULL error location is fine */
	g_assert_false(nvfm_nvme_set_error(0x4120, 0, NULL, "x"));
}

/* the names are libnvme's (nvme_status_to_string()); we keep no table */
static void test_status_named(void)
{
	static const struct {
		int status;
		const char *text;
	} cases[] = {
		{ 0x4120, "NVMe status 0x4120 (Invalid Secondary Controller State)" },
		{ 0x0120, "NVMe status 0x0120 (Invalid Secondary Controller State)" },
		{ 0x411f, "NVMe status 0x411f (Invalid Controller Identifier)" },
		{ 0x4121, "NVMe status 0x4121 (Invalid Number of Controller Resources)" },
		{ 0x4122, "NVMe status 0x4122 (Invalid Resource Identifier)" },
		{ 0x4002, "NVMe status 0x4002 (Invalid Field in Command)" },
		{ 0x4001, "NVMe status 0x4001 (Invalid Command Opcode)" },
		/* More (0x2000) and CRD bits do not hide the code */
		{ 0x6120, "NVMe status 0x6120 (Invalid Secondary Controller State)" },
	};

#ifndef HAVE_LIBNVME
	g_test_skip("built without libnvme: statuses have no names");
	return;
#endif
	for (gsize i = 0; i < G_N_ELEMENTS(cases); i++) {
		g_autoptr(GError) error = NULL;

		g_assert_false(nvfm_nvme_set_error(cases[i].status, 0, &error,
						   "online secondary controller %d", 2));
		g_assert_error(error, NVFM_ERROR, NVFM_ERROR_NVME);
		g_assert_true(g_str_has_prefix(error->message, "online secondary controller 2: "));
		g_assert_nonnull(strstr(error->message, cases[i].text));
	}
}

static void test_status_unknown(void)
{
	g_autoptr(GError) error = NULL;
	g_autofree char *none = nvfm_nvme_status_name(0x41ff);
	g_autofree char *state = nvfm_nvme_status_name(0x4120);
	g_autofree char *success = nvfm_nvme_status_name(0x0000);

	g_assert_false(nvfm_nvme_set_error(0x41ff, 0, &error, "identify"));
	g_assert_error(error, NVFM_ERROR, NVFM_ERROR_NVME);
	g_assert_cmpstr(error->message, ==,
			"identify: NVMe status 0x41ff (status code type 1, code 0xff)");
	g_assert_null(none);
#ifdef HAVE_LIBNVME
	/* the name alone, without libnvme's explanation after it */
	g_assert_cmpstr(state, ==, "Invalid Secondary Controller State");
	g_assert_cmpstr(success, ==, "Successful Completion");
#else
	g_assert_null(state);
#endif
}

static void test_errno(void)
{
	static const struct {
		int err;
		int code;
	} cases[] = {
		{ EPERM, NVFM_ERROR_PERMISSION },
		{ EACCES, NVFM_ERROR_PERMISSION },
		{ ENOTTY, NVFM_ERROR_NOT_SUPPORTED },
		{ ENODEV, NVFM_ERROR_NOT_FOUND },
		{ EINVAL, NVFM_ERROR_INVALID_ARG },
		{ ETIMEDOUT, NVFM_ERROR_TIMEOUT },
		{ EIO, NVFM_ERROR_IO },
		{ EBUSY, NVFM_ERROR_BUSY },
	};

	for (gsize i = 0; i < G_N_ELEMENTS(cases); i++) {
		g_autoptr(GError) error = NULL;
		g_autofree char *want = g_strdup_printf("virt-mgmt: %s", g_strerror(cases[i].err));

		g_assert_false(nvfm_nvme_set_error(-1, cases[i].err, &error, "virt-mgmt"));
		g_assert_error(error, NVFM_ERROR, cases[i].code);
		g_assert_cmpstr(error->message, ==, want);
	}
}

static void test_errno_missing(void)
{
	g_autoptr(GError) error = NULL;

	/* -1 without errno still fails, as an I/O error */
	g_assert_false(nvfm_nvme_set_error(-1, 0, &error, "identify"));
	g_assert_error(error, NVFM_ERROR, NVFM_ERROR_IO);
}

int main(int argc, char **argv)
{
	g_test_init(&argc, &argv, NULL);
	g_test_add_func("/nvme-status/success", test_success);
	g_test_add_func("/nvme-status/named", test_status_named);
	g_test_add_func("/nvme-status/unknown", test_status_unknown);
	g_test_add_func("/nvme-status/errno", test_errno);
	g_test_add_func("/nvme-status/errno-missing", test_errno_missing);
	return g_test_run();
}
