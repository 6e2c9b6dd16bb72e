/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The configuration's layers: built-in defaults, the file, the
 * environment and the flags, each later one replacing a setting whole.
 * Every value is checked by config-keys.c as it arrives, so a mistake is
 * reported where it was made (FILE:LINE, the variable, the flag).
 */
#define G_LOG_DOMAIN "nvfm-config"

#include <errno.h>
#include <string.h>

#include "config-private.h"

#ifndef NVFM_CONF_PATH
#define NVFM_CONF_PATH "/etc/nvme-vf-migrate/nvme-vf-migrate.conf"
#endif

struct NvfmConfig {
	char *path;
	gboolean read;
	CfgSlot slot[NVFM_CFG_N_KEYS];
};

const char *nvfm_config_default_path(void)
{
	return NVFM_CONF_PATH;
}

void nvfm_config_free(NvfmConfig *cfg)
{
	if (!cfg)
		return;
	for (int k = 0; k < NVFM_CFG_N_KEYS; k++)
		nvfm_cfg_slot_clear(&cfg->slot[k]);
	g_free(cfg->path);
	g_free(cfg);
}

char *nvfm_config_env_name(NvfmConfigKey key)
{
	const CfgKeyInfo *k = &nvfm_cfg_keys[key];
	g_autofree char *name = g_strdup_printf("NVFM_%s_%s", k->section, k->key);

	return g_ascii_strup(name, -1);
}

/* "[group]" and "key = value" lines by number: GKeyFile does not keep
 * them. @text is @len bytes, not NUL-terminated (a file's or a buffer's). */
static GHashTable *line_numbers(const char *text, gsize len)
{
	GHashTable *lines = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
	g_autofree char *copy = g_strndup(text, len);
	g_auto(GStrv) all = g_strsplit(copy, "\n", -1);
	g_autofree char *group = g_strdup("");

	for (guint i = 0; all[i]; i++) {
		char *l = g_strstrip(all[i]);
		char *eq;

		if (*l == '#' || !*l)
			continue;
		if (*l == '[' && l[strlen(l) - 1] == ']') {
			g_free(group);
			group = g_strndup(l + 1, strlen(l) - 2);
			g_hash_table_replace(lines, g_strdup_printf("[%s]", group),
					     GUINT_TO_POINTER(i + 1));
		} else if ((eq = strchr(l, '='))) {
			*eq = 0;
			g_hash_table_replace(lines, g_strdup_printf("%s\n%s", group, g_strstrip(l)),
					     GUINT_TO_POINTER(i + 1));
		}
	}
	return lines;
}

static gboolean is_section(const char *name)
{
	for (int k = 0; k < NVFM_CFG_N_KEYS; k++)
		if (g_str_equal(nvfm_cfg_keys[k].section, name))
			return TRUE;
	return FALSE;
}

static gboolean load_text(NvfmConfig *cfg, const char *text, gsize len, GError **error)
{
	g_autoptr(GKeyFile) kf = g_key_file_new();
	g_autoptr(GHashTable) lines = NULL;
	g_autoptr(GError) e = NULL;
	g_auto(GStrv) groups = NULL;

	if (!g_key_file_load_from_data(kf, text, len, G_KEY_FILE_NONE, &e)) {
		g_set_error(error, NVFM_ERROR, NVFM_ERROR_INVALID_ARG, "%s: %s", cfg->path,
			    e->message);
		return FALSE;
	}
	cfg->read = TRUE;
	lines = line_numbers(text, len);
	groups = g_key_file_get_groups(kf, NULL);
	for (guint g = 0; groups[g]; g++) {
		g_autofree char *gkey = g_strdup_printf("[%s]", groups[g]);
		g_auto(GStrv) keys = NULL;

		if (!is_section(groups[g])) {
			g_set_error(error, NVFM_ERROR, NVFM_ERROR_INVALID_ARG,
				    "%s:%u: unknown section [%s] (want [client], [agent] or [hook])",
				    cfg->path, GPOINTER_TO_UINT(g_hash_table_lookup(lines, gkey)),
				    groups[g]);
			return FALSE;
		}
		keys = g_key_file_get_keys(kf, groups[g], NULL, NULL);
		for (guint i = 0; keys && keys[i]; i++) {
			g_autofree char *lkey = g_strdup_printf("%s\n%s", groups[g], keys[i]);
			guint line = GPOINTER_TO_UINT(g_hash_table_lookup(lines, lkey));
			int k = nvfm_cfg_key_lookup(groups[g], keys[i]);
			g_autofree char *v = NULL;
			CfgSlot s = { 0 };

			if (k < 0) {
				g_set_error(error, NVFM_ERROR, NVFM_ERROR_INVALID_ARG,
					    "%s:%u: unknown key '%s' in [%s]", cfg->path, line,
					    keys[i], groups[g]);
				return FALSE;
			}
			v = g_key_file_get_string(kf, groups[g], keys[i], &e);
			/* "key =" keeps the default, as a commented-out line does */
			if (v && !*g_strstrip(v))
				continue;
			if (!v || !nvfm_cfg_slot_parse(k, v, &s, error)) {
				if (!v)
					g_set_error(error, NVFM_ERROR, NVFM_ERROR_INVALID_ARG, "%s",
						    e->message);
				g_prefix_error(error, "%s:%u: %s: ", cfg->path, line, keys[i]);
				return FALSE;
			}
			nvfm_cfg_slot_clear(&cfg->slot[k]);
			cfg->slot[k] = s;
			cfg->slot[k].source = NVFM_CONFIG_FILE;
			cfg->slot[k].line = line;
		}
	}
	return TRUE;
}

static gboolean load_file(NvfmConfig *cfg, gboolean named, GError **error)
{
	g_autoptr(GError) e = NULL;
	g_autofree char *text = NULL;
	gsize len;

	if (!g_file_get_contents(cfg->path, &text, &len, &e)) {
		/* only the default may be absent: a named file is meant to exist */
		if (!named && g_error_matches(e, G_FILE_ERROR, G_FILE_ERROR_NOENT))
			return TRUE;
		g_set_error(error, NVFM_ERROR, NVFM_ERROR_INVALID_ARG, "%s", e->message);
		return FALSE;
	}
	return load_text(cfg, text, len, error);
}

static gboolean load_env(NvfmConfig *cfg, GError **error)
{
	for (int k = 0; k < NVFM_CFG_N_KEYS; k++) {
		g_autofree char *name = nvfm_config_env_name(k);
		const char *v = g_getenv(name);
		CfgSlot s = { 0 };

		/* an empty variable is an unset one, as shells make it easy to be */
		if (!v || !*v)
			continue;
		if (!nvfm_cfg_slot_parse(k, v, &s, error)) {
			g_prefix_error(error, "%s: ", name);
			return FALSE;
		}
		nvfm_cfg_slot_clear(&cfg->slot[k]);
		cfg->slot[k] = s;
		cfg->slot[k].source = NVFM_CONFIG_ENV;
	}
	return TRUE;
}

static NvfmConfig *with_defaults(const char *path)
{
	NvfmConfig *cfg = g_new0(NvfmConfig, 1);

	cfg->path = g_strdup(path);
	for (int k = 0; k < NVFM_CFG_N_KEYS; k++)
		if (nvfm_cfg_keys[k].def &&
		    !nvfm_cfg_slot_parse(k, nvfm_cfg_keys[k].def, &cfg->slot[k], NULL))
			g_error("the default of %s.%s is refused", nvfm_cfg_keys[k].section,
				nvfm_cfg_keys[k].key);
	return cfg;
}

NvfmConfig *nvfm_config_load(const char *path, GError **error)
{
	const char *env = g_getenv("NVFM_CONFIG");
	gboolean named = path || (env && *env);
	g_autoptr(NvfmConfig) cfg = with_defaults(path ? path : named ? env : NVFM_CONF_PATH);

	if (!load_file(cfg, named, error) || !load_env(cfg, error))
		return NULL;
	return g_steal_pointer(&cfg);
}

NvfmConfig *nvfm_cfg_load_text(const char *name, const char *text, gsize len, GError **error)
{
	g_autoptr(NvfmConfig) cfg = with_defaults(name);

	if (!load_text(cfg, text, len, error))
		return NULL;
	cfg->read = TRUE;
	return g_steal_pointer(&cfg);
}

gboolean nvfm_config_set(NvfmConfig *cfg, NvfmConfigKey key, const char *text, GError **error)
{
	CfgSlot s = { 0 };

	g_return_val_if_fail(key < NVFM_CFG_N_KEYS, FALSE);
	if (!nvfm_cfg_slot_parse(key, text, &s, error))
		return FALSE;
	nvfm_cfg_slot_clear(&cfg->slot[key]);
	cfg->slot[key] = s;
	cfg->slot[key].source = NVFM_CONFIG_FLAG;
	return TRUE;
}

const char *nvfm_config_path(const NvfmConfig *cfg, gboolean *read)
{
	if (read)
		*read = cfg->read;
	return cfg->path;
}

const char *nvfm_config_get_string(const NvfmConfig *cfg, NvfmConfigKey key)
{
	return cfg->slot[key].text;
}

guint64 nvfm_config_get_uint(const NvfmConfig *cfg, NvfmConfigKey key)
{
	return cfg->slot[key].num;
}

const char *const *nvfm_config_get_strv(const NvfmConfig *cfg, NvfmConfigKey key)
{
	const CfgSlot *s = &cfg->slot[key];

	return s->list && s->list[0] ? (const char *const *)s->list : NULL;
}

GPtrArray *nvfm_config_get_pfs(const NvfmConfig *cfg, NvfmConfigKey key)
{
	CfgSlot *s = (CfgSlot *)&cfg->slot[key];

	/* unset: an empty array all the same, so callers need no NULL case */
	if (!s->pfs)
		s->pfs = g_ptr_array_new_with_free_func((GDestroyNotify)nvfm_address_free);
	return s->pfs;
}

const int *nvfm_config_get_timeouts(const NvfmConfig *cfg, NvfmConfigKey key)
{
	return cfg->slot[key].timeouts;
}

NvfmConfigSource nvfm_config_get_source(const NvfmConfig *cfg, NvfmConfigKey key, guint *line)
{
	if (line)
		*line = cfg->slot[key].line;
	return cfg->slot[key].source;
}

const char *nvfm_config_key_name(NvfmConfigKey key, const char **section)
{
	g_return_val_if_fail(key < NVFM_CFG_N_KEYS, NULL);
	if (section)
		*section = nvfm_cfg_keys[key].section;
	return nvfm_cfg_keys[key].key;
}

const char *nvfm_config_source_name(NvfmConfigSource source)
{
	static const char *const names[] = { "default", "file", "env", "flag" };

	return source <= NVFM_CONFIG_FLAG ? names[source] : "?";
}

static json_t *value_json(const CfgSlot *s, const CfgKeyInfo *k)
{
	json_t *v;

	if (!s->text)
		return json_null();
	switch (k->type) {
	case CFG_UINT:
	case CFG_SIZE:
		return json_integer((json_int_t)s->num);
	case CFG_BOOL:
		return json_boolean(s->num);
	case CFG_LIST:
	case CFG_PF_LIST:
		v = json_array();
		for (guint i = 0; s->list && s->list[i]; i++)
			json_array_append_new(v, json_string(s->list[i]));
		return v;
	case CFG_TIMEOUTS:
		v = json_object();
		for (int p = 0; p < NVFM_MIGRATE_N_PHASES; p++)
			if (s->timeouts[p])
				json_object_set_new(v, nvfm_migrate_phase_name(p),
						    json_real(s->timeouts[p] / 1000.0));
		return v;
	default:
		return json_string(s->text);
	}
}

json_t *nvfm_config_to_json(const NvfmConfig *cfg)
{
	json_t *settings = json_object();

	for (int k = 0; k < NVFM_CFG_N_KEYS; k++) {
		const CfgKeyInfo *ki = &nvfm_cfg_keys[k];
		const CfgSlot *s = &cfg->slot[k];
		json_t *sec = json_object_get(settings, ki->section);
		json_t *one = json_pack("{s:o, s:s}", "value", value_json(s, ki), "source",
					nvfm_config_source_name(s->source));

		if (!sec) {
			sec = json_object();
			json_object_set_new(settings, ki->section, sec);
		}
		if (s->source == NVFM_CONFIG_FILE)
			json_object_set_new(one, "line", json_integer(s->line));
		if (s->source == NVFM_CONFIG_ENV) {
			g_autofree char *name = nvfm_config_env_name(k);

			json_object_set_new(one, "env", json_string(name));
		}
		json_object_set_new(sec, ki->key, one);
	}
	return json_pack("{s:s, s:b, s:o}", "file", cfg->path, "file_read", cfg->read,
			 "settings", settings);
}
