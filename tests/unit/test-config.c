/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * nvme-vf-migrate.conf (src/lib/config/): each layer replaces the one
 * below it (defaults < file < environment < flags), the file's line is
 * kept for each value, and every mistake is refused with where it was.
 */
#include <glib/gstdio.h>
#include <string.h>

#include "nvfm/nvfm.h"

static char *dir;
static char *conf;	/* DIR/nvfm.conf */

/* @text as the configuration file; its path */
static const char *write_conf(const char *text)
{
	g_assert_true(g_file_set_contents(conf, text, -1, NULL));
	return conf;
}

static void clear_env(void)
{
	g_unsetenv("NVFM_CONFIG");
	g_unsetenv("NVFM_CLIENT_AGENT");
	g_unsetenv("NVFM_CLIENT_TIMEOUT");
	g_unsetenv("NVFM_AGENT_ALLOW");
}

static void test_defaults(void)
{
	g_autofree char *missing = g_build_filename(dir, "absent.conf", NULL);
	g_autoptr(NvfmConfig) cfg = NULL;
	g_autoptr(GError) error = NULL;
	gboolean read = TRUE;

	clear_env();
	/* a named file must exist */
	g_assert_null(nvfm_config_load(missing, &error));
	g_assert_error(error, NVFM_ERROR, NVFM_ERROR_INVALID_ARG);
	g_clear_error(&error);
	g_setenv("NVFM_CONFIG", missing, TRUE);
	g_assert_null(nvfm_config_load(NULL, &error));
	g_assert_error(error, NVFM_ERROR, NVFM_ERROR_INVALID_ARG);
	g_clear_error(&error);
	clear_env();

	cfg = nvfm_config_load(write_conf(""), &error);
	g_assert_no_error(error);
	g_assert_cmpuint(nvfm_config_get_uint(cfg, NVFM_CFG_CLIENT_TIMEOUT), ==, 30);
	g_assert_cmpuint(nvfm_config_get_uint(cfg, NVFM_CFG_CLIENT_PORT), ==, 16590);
	g_assert_cmpuint(nvfm_config_get_uint(cfg, NVFM_CFG_HOOK_MAX_XML_SIZE), ==, 4u << 20);
	g_assert_cmpuint(nvfm_config_get_uint(cfg, NVFM_CFG_HOOK_REQUIRE_MIGRATION), ==, 1);
	g_assert_null(nvfm_config_get_string(cfg, NVFM_CFG_CLIENT_AGENT));
	g_assert_cmpint(nvfm_config_get_source(cfg, NVFM_CFG_CLIENT_TIMEOUT, NULL), ==,
			NVFM_CONFIG_DEFAULT);
	nvfm_config_path(cfg, &read);
	g_assert_true(read);
}

static void test_precedence(void)
{
	g_autoptr(NvfmConfig) cfg = NULL;
	g_autoptr(GError) error = NULL;
	const char *path = write_conf("# comment\n"
					   "[client]\n"
					   "agent = file-host\n"
					   "timeout = 11\n"
					   "phase_timeouts = preflight=5, stop-copy=2.5\n"
					   "\n"
					   "[agent]\n"
					   "allow = CN=a-*; CN=b\n"
					   "pf = emu:p1, 0000:af:00.0\n");
	guint line = 0;

	clear_env();
	g_setenv("NVFM_CLIENT_TIMEOUT", "22", TRUE);
	cfg = nvfm_config_load(path, &error);
	g_assert_no_error(error);
	/* file over default, with its line */
	g_assert_cmpstr(nvfm_config_get_string(cfg, NVFM_CFG_CLIENT_AGENT), ==, "file-host");
	g_assert_cmpint(nvfm_config_get_source(cfg, NVFM_CFG_CLIENT_AGENT, &line), ==,
			NVFM_CONFIG_FILE);
	g_assert_cmpuint(line, ==, 3);
	g_assert_cmpint(nvfm_config_get_timeouts(cfg, NVFM_CFG_CLIENT_PHASE_TIMEOUTS)
			[NVFM_MIGRATE_STOP_COPY], ==, 2500);
	g_assert_cmpuint(g_strv_length((GStrv)nvfm_config_get_strv(cfg, NVFM_CFG_AGENT_ALLOW)),
			 ==, 2);
	g_assert_cmpstr(nvfm_config_get_strv(cfg, NVFM_CFG_AGENT_ALLOW)[1], ==, "CN=b");
	g_assert_cmpuint(nvfm_config_get_pfs(cfg, NVFM_CFG_AGENT_PF)->len, ==, 2);
	/* environment over file */
	g_assert_cmpuint(nvfm_config_get_uint(cfg, NVFM_CFG_CLIENT_TIMEOUT), ==, 22);
	g_assert_cmpint(nvfm_config_get_source(cfg, NVFM_CFG_CLIENT_TIMEOUT, NULL), ==,
			NVFM_CONFIG_ENV);
	/* flag over environment; a refused flag changes nothing */
	g_assert_false(nvfm_config_set(cfg, NVFM_CFG_CLIENT_TIMEOUT, "0", &error));
	g_assert_error(error, NVFM_ERROR, NVFM_ERROR_INVALID_ARG);
	g_clear_error(&error);
	g_assert_cmpuint(nvfm_config_get_uint(cfg, NVFM_CFG_CLIENT_TIMEOUT), ==, 22);
	g_assert_true(nvfm_config_set(cfg, NVFM_CFG_CLIENT_TIMEOUT, "33", &error));
	g_assert_cmpuint(nvfm_config_get_uint(cfg, NVFM_CFG_CLIENT_TIMEOUT), ==, 33);
	g_assert_cmpint(nvfm_config_get_source(cfg, NVFM_CFG_CLIENT_TIMEOUT, NULL), ==,
			NVFM_CONFIG_FLAG);
	clear_env();
}

/* every refusal names where the mistake is */
static void test_bad_input(void)
{
	static const struct {
		const char *text;
		const char *env, *env_value;
		const char *want;
	} cases[] = {
		{ "[client]\nnope = 1\n", NULL, NULL, ":2: unknown key 'nope' in [client]" },
		{ "[clients]\nagent = x\n", NULL, NULL, ":1: unknown section [clients]" },
		{ "[client]\n\ntimeout = soon\n", NULL, NULL, ":3: timeout: must be a number" },
		{ "[client]\nport = 70000\n", NULL, NULL, ":2: port: must be a number from 1 to 65535" },
		{ "[client]\ndest_pf = 0000:zz:00.0\n", NULL, NULL, ":2: dest_pf: invalid PF address" },
		{ "[client]\nphase_timeouts = lunch=3\n", NULL, NULL, ":2: phase_timeouts: 'lunch=3'" },
		{ "[hook]\nmax_xml_size = 1G\n", NULL, NULL, ":2: max_xml_size: must be a size from 64K" },
		{ "[hook]\nhostdevs = some\n", NULL, NULL, ":2: hostdevs: must be one of listed, all" },
		{ "[hook]\nrequire_migration = perhaps\n", NULL, NULL, ":2: require_migration: must be true or false" },
		{ "not a key file\n", NULL, NULL, "nvfm.conf: " },
		{ "", "NVFM_CLIENT_TIMEOUT", "-1", "NVFM_CLIENT_TIMEOUT: must be a number" },
	};

	for (guint i = 0; i < G_N_ELEMENTS(cases); i++) {
		const char *path = write_conf(cases[i].text);
		g_autoptr(GError) error = NULL;
		NvfmConfig *cfg;

		clear_env();
		if (cases[i].env)
			g_setenv(cases[i].env, cases[i].env_value, TRUE);
		cfg = nvfm_config_load(path, &error);
		g_assert_null(cfg);
		g_assert_error(error, NVFM_ERROR, NVFM_ERROR_INVALID_ARG);
		if (!strstr(error->message, cases[i].want))
			g_error("case %u: '%s' lacks '%s'", i, error->message, cases[i].want);
		g_assert_null(strchr(error->message, '\n'));
	}
	clear_env();
}

static void test_json(void)
{
	g_autoptr(NvfmConfig) cfg = NULL;
	g_autoptr(GError) error = NULL;
	json_auto_t *j = NULL;
	json_t *agent;

	clear_env();
	g_setenv("NVFM_AGENT_ALLOW", "CN=x", TRUE);
	cfg = nvfm_config_load(write_conf("[client]\nagent = h:1\n"), &error);
	g_assert_no_error(error);
	j = nvfm_config_to_json(cfg);
	agent = json_object_get(json_object_get(json_object_get(j, "settings"), "client"), "agent");
	g_assert_cmpstr(json_string_value(json_object_get(agent, "source")), ==, "file");
	g_assert_cmpint(json_integer_value(json_object_get(agent, "line")), ==, 2);
	agent = json_object_get(json_object_get(json_object_get(j, "settings"), "agent"), "allow");
	g_assert_cmpstr(json_string_value(json_object_get(agent, "env")), ==, "NVFM_AGENT_ALLOW");
	g_assert_cmpstr(json_string_value(json_array_get(json_object_get(agent, "value"), 0)), ==,
			"CN=x");
	clear_env();
}

int main(int argc, char **argv)
{
	int rc;

	g_test_init(&argc, &argv, NULL);
	dir = g_dir_make_tmp("nvfm-config-XXXXXX", NULL);
	conf = g_build_filename(dir, "nvfm.conf", NULL);
	g_test_add_func("/config/defaults", test_defaults);
	g_test_add_func("/config/precedence", test_precedence);
	g_test_add_func("/config/bad-input", test_bad_input);
	g_test_add_func("/config/json", test_json);
	rc = g_test_run();
	g_unlink(conf);
	g_rmdir(dir);
	g_free(conf);
	g_free(dir);
	return rc;
}
