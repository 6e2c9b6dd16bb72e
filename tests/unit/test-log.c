/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The agent's and the hook's log lines: levels, fields, quoting, targets. */
#include <string.h>
#include <unistd.h>

#include "nvfm/log.h"
#include "nvfm/error.h"

static void test_render_fields(void)
{
	const NvfmLogFields all = {
		.migration_id = "m-1f2e",
		.domain = "vm1",
		.vf = "emu:b",
		.phase = "stop-copy",
	};
	const NvfmLogFields some = { .vf = "0000:3b:00.2", .phase = "" };
	g_autofree char *a = nvfm_log_render(G_LOG_LEVEL_MESSAGE, &all, "migration done");
	g_autofree char *b = nvfm_log_render(G_LOG_LEVEL_WARNING, &some, "released");
	g_autofree char *c = nvfm_log_render(G_LOG_LEVEL_INFO, NULL, "hello");

	/* the fields that are set, in one order; empty ones are left out */
	g_assert_cmpstr(a, ==, "notice: migration done MIGRATION_ID=m-1f2e DOMAIN=vm1 VF=emu:b "
			       "PHASE=stop-copy");
	g_assert_cmpstr(b, ==, "warning: released VF=0000:3b:00.2");
	g_assert_cmpstr(c, ==, "info: hello");
}

static void test_render_quoting(void)
{
	const NvfmLogFields f = {
		.domain = "my vm \"x\"",
		.vf = "a=b",
		.phase = "back\\slash",
		.migration_id = "new\nline",
	};
	g_autofree char *s = nvfm_log_render(G_LOG_LEVEL_DEBUG, &f, "two\nlines");

	/* one line whatever the values hold; a value never runs into the next */
	g_assert_null(strchr(s, '\n'));
	g_assert_cmpstr(s, ==, "debug: two?lines MIGRATION_ID=new?line DOMAIN=\"my vm \\\"x\\\"\" "
			       "VF=\"a=b\" PHASE=\"back\\\\slash\"");
}

static void test_targets(void)
{
	g_autoptr(GError) error = NULL;
	NvfmLogTarget t;

	g_assert_true(nvfm_log_target_parse("file", &t, NULL));
	g_assert_cmpint(t, ==, NVFM_LOG_FILE);
	g_assert_true(nvfm_log_target_parse("journal", &t, NULL));
	g_assert_cmpint(t, ==, NVFM_LOG_JOURNAL);
	g_assert_false(nvfm_log_target_parse("syslog", &t, &error));
	g_assert_error(error, NVFM_ERROR, NVFM_ERROR_INVALID_ARG);
	g_clear_error(&error);
	/* a file target needs its file, and only it takes one */
	g_assert_null(nvfm_log_new(NVFM_LOG_FILE, NULL, "t", &error));
	g_assert_error(error, NVFM_ERROR, NVFM_ERROR_INVALID_ARG);
	g_clear_error(&error);
	g_assert_null(nvfm_log_new(NVFM_LOG_STDERR, "/tmp/x", "t", &error));
	g_assert_error(error, NVFM_ERROR, NVFM_ERROR_INVALID_ARG);
}

static void test_file(void)
{
	g_autoptr(GError) error = NULL;
	g_autofree char *dir = g_dir_make_tmp("nvfm-log-XXXXXX", NULL);
	g_autofree char *path = g_build_filename(dir, "agent.log", NULL);
	g_autofree char *text = NULL;
	g_autoptr(NvfmLog) log = NULL;
	g_auto(GStrv) lines = NULL;
	const NvfmLogFields f = { .migration_id = "m1", .vf = "emu:b", .phase = "done" };

	log = nvfm_log_new(NVFM_LOG_FILE, path, "nvfm-test", &error);
	g_assert_no_error(error);
	g_assert_cmpint(nvfm_log_get_target(log), ==, NVFM_LOG_FILE);
	nvfm_log_write(log, G_LOG_LEVEL_MESSAGE, &f, "first");
	nvfm_log_write(log, G_LOG_LEVEL_WARNING, NULL, "second");
	g_assert_true(g_file_get_contents(path, &text, NULL, NULL));
	lines = g_strsplit(text, "\n", -1);
	g_assert_cmpuint(g_strv_length(lines), ==, 3);
	g_assert_nonnull(strstr(lines[0], " nvfm-test["));
	g_assert_true(g_str_has_suffix(lines[0], "]: notice: first MIGRATION_ID=m1 VF=emu:b PHASE=done"));
	g_assert_nonnull(strstr(lines[1], "]: warning: second"));
	g_assert_cmpstr(lines[2], ==, "");
	unlink(path);
	rmdir(dir);
}

int main(int argc, char **argv)
{
	g_test_init(&argc, &argv, NULL);
	g_test_add_func("/log/render-fields", test_render_fields);
	g_test_add_func("/log/render-quoting", test_render_quoting);
	g_test_add_func("/log/targets", test_targets);
	g_test_add_func("/log/file", test_file);
	return g_test_run();
}
