/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The configuration at the CLI's edge: loaded once (--config FILE,
 * $NVFM_CONFIG, or the default), the flags a command was given laid over
 * it, and the effective values written back into the command's
 * variables; and "config", which prints them with their origins.
 */
#include <stdio.h>
#include <string.h>

#include "cli.h"

static NvfmConfig *config;

NvfmConfig *cli_config(const char *cmd, int *code)
{
	GError *error = NULL;

	if (config)
		return config;
	config = nvfm_config_load(cli_globals.config_path, &error);
	/* every refusal is NVFM_ERROR_INVALID_ARG: bad input, exit 2 */
	if (!config)
		*code = cli_fail(error);
	return config;
}

static gboolean take(NvfmConfigKey key, const char *flag, const char *text, const char *cmd,
		     int *code)
{
	g_autoptr(GError) error = NULL;

	if (!text || nvfm_config_set(config, key, text, &error))
		return TRUE;
	*code = cli_usage_error(cmd, "%s: %s", flag, error->message);
	return FALSE;
}

gboolean cli_config_str(NvfmConfigKey key, const char *flag, char **var, const char *cmd,
			int *code)
{
	if (!take(key, flag, *var, cmd, code))
		return FALSE;
	g_free(*var);
	*var = g_strdup(nvfm_config_get_string(config, key));
	return TRUE;
}

gboolean cli_config_int(NvfmConfigKey key, const char *flag, int *var, const char *cmd,
			int *code)
{
	g_autofree char *text = *var != CLI_UNSET ? g_strdup_printf("%d", *var) : NULL;

	if (!take(key, flag, text, cmd, code))
		return FALSE;
	*var = (int)nvfm_config_get_uint(config, key);
	return TRUE;
}

gboolean cli_config_strv(NvfmConfigKey key, const char *flag, char ***var, const char *cmd,
			 int *code)
{
	g_autofree char *text = *var ? g_strjoinv(",", *var) : NULL;

	if (!take(key, flag, text, cmd, code))
		return FALSE;
	g_strfreev(*var);
	*var = g_strdupv((GStrv)nvfm_config_get_strv(config, key));
	return TRUE;
}

gboolean cli_config_verify(NvfmConfigKey key, gboolean *verify, const char *cmd, int *code)
{
	if (!take(key, "--verify", *verify ? "verify" : NULL, cmd, code))
		return FALSE;
	*verify = nvfm_config_get_uint(config, key) == 1;
	return TRUE;
}

/* HOST and a [client] port give HOST:PORT; an address with a port, a
 * UNIX socket or the default port stay as they are */
char *cli_config_agent_address(void)
{
	const char *a = nvfm_config_get_string(config, NVFM_CFG_CLIENT_AGENT);
	guint64 port = nvfm_config_get_uint(config, NVFM_CFG_CLIENT_PORT);
	const char *colon;

	if (!a || g_str_has_prefix(a, "unix:") ||
	    nvfm_config_get_source(config, NVFM_CFG_CLIENT_PORT, NULL) == NVFM_CONFIG_DEFAULT)
		return g_strdup(a);
	if (a[0] == '[')
		return strstr(a, "]:") ? g_strdup(a)
				       : g_strdup_printf("%s:%" G_GUINT64_FORMAT, a, port);
	colon = strchr(a, ':');
	if (colon && !strchr(colon + 1, ':'))
		return g_strdup(a);
	if (colon)	/* a bare IPv6 address */
		return g_strdup_printf("[%s]:%" G_GUINT64_FORMAT, a, port);
	return g_strdup_printf("%s:%" G_GUINT64_FORMAT, a, port);
}

static char *origin(NvfmConfigKey key)
{
	guint line;

	switch (nvfm_config_get_source(config, key, &line)) {
	case NVFM_CONFIG_FILE:
		return g_strdup_printf("file:%s:%u", nvfm_config_path(config, NULL), line);
	case NVFM_CONFIG_ENV: {
		g_autofree char *env = nvfm_config_env_name(key);

		return g_strdup_printf("env:%s", env);
	}
	case NVFM_CONFIG_FLAG:
		return g_strdup("flag");
	default:
		return g_strdup("default");
	}
}

int cmd_config(int argc, char **argv)
{
	g_auto(GStrv) sets = NULL;
	GOptionEntry entries[] = {
		{ "set", 0, 0, G_OPTION_ARG_STRING_ARRAY, &sets, "Give SECTION.KEY the value a flag would (repeatable)", "SECTION.KEY=VALUE" },
		{ NULL },
	};
	g_autoptr(GOptionContext) ctx = g_option_context_new(NULL);
	const char *only = NULL;
	gboolean read;
	int code = CLI_EXIT_OK;

	g_option_context_add_main_entries(ctx, entries, NULL);
	if (!cli_parse(ctx, "config", "[SECTION]",
		       "print the effective settings and where each came from", &argc, &argv, 0, 1,
		       &code))
		return code;
	only = argc > 1 ? argv[1] : NULL;
	if (only && !g_str_equal(only, "client") && !g_str_equal(only, "agent") &&
	    !g_str_equal(only, "hook"))
		return cli_usage_error("config", "unknown section '%s' (client, agent or hook)", only);
	if (!cli_config("config", &code))
		return code;
	for (char **s = sets; s && *s; s++) {
		g_auto(GStrv) kv = g_strsplit(*s, "=", 2);
		g_auto(GStrv) sk = g_strsplit(kv[0], ".", 2);
		int key = sk[0] && sk[1] ? -1 : -2;

		for (int k = 0; key == -1 && k < NVFM_CFG_N_KEYS; k++) {
			const char *section, *name = nvfm_config_key_name(k, &section);

			if (g_str_equal(section, sk[0]) && g_str_equal(name, sk[1]))
				key = k;
		}
		if (key < 0 || !kv[1])
			return cli_usage_error("config", "--set '%s': want SECTION.KEY=VALUE with a "
					       "known key", *s);
		if (!take(key, *s, kv[1], "config", &code))
			return code;
	}
	if (cli_want_json()) {
		json_auto_t *j = nvfm_config_to_json(config);

		if (only) {
			json_t *sec = json_object_get(json_object_get(j, "settings"), only);

			json_object_set_new(j, "settings", json_pack("{s:O}", only, sec));
		}
		cli_print_json(j);
		return CLI_EXIT_OK;
	}
	nvfm_config_path(config, &read);
	printf("# %s%s\n", nvfm_config_path(config, NULL), read ? "" : " (absent: defaults)");
	for (int k = 0; k < NVFM_CFG_N_KEYS; k++) {
		const char *section, *name = nvfm_config_key_name(k, &section);
		const char *v = nvfm_config_get_string(config, k);
		g_autofree char *full = g_strdup_printf("%s.%s", section, name);
		g_autofree char *from = origin(k);

		if (only && !g_str_equal(section, only))
			continue;
		printf("%-26s %-32s %s\n", full, v ? v : "-", from);
	}
	return CLI_EXIT_OK;
}
