/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The libvirt hook's configuration file: hook-config.h.
 */
#include <string.h>

#include "hook-config.h"

#define DEFAULT_QEMU_LOG_DIR "/var/log/libvirt/qemu"

void hook_conf_clear(HookConf *c)
{
	g_free(c->path);
	g_clear_pointer(&c->pfs, g_ptr_array_unref);
	g_free(c->driver);
	g_free(c->runtime_dir);
	g_free(c->agent_runtime_dir);
	g_free(c->qemu_log_dir);
	g_free(c->log_file);
	g_free(c->emu_dir);
	memset(c, 0, sizeof(*c));
}

static char *conf_string(GKeyFile *kf, const char *key)
{
	g_autofree char *v = g_key_file_get_string(kf, "hook", key, NULL);

	if (!v)
		return NULL;
	g_strstrip(v);
	return *v ? g_steal_pointer(&v) : NULL;
}

/* @key's value among @words, as its index; @def when absent */
static int conf_choice(GKeyFile *kf, const char *key, const char *const *words, int def,
		       GError **error)
{
	g_autofree char *v = conf_string(kf, key);

	if (!v)
		return def;
	for (int i = 0; words[i]; i++)
		if (g_str_equal(v, words[i]))
			return i;
	g_set_error(error, NVFM_ERROR, NVFM_ERROR_INVALID_ARG, "%s must be '%s' or '%s'", key,
		    words[0], words[1]);
	return -1;
}

static gboolean conf_pfs(HookConf *c, const char *list, GError **error)
{
	g_auto(GStrv) words = g_strsplit_set(list ? list : "", ";, \t", -1);

	c->pfs = g_ptr_array_new_with_free_func((GDestroyNotify)nvfm_address_free);
	for (guint i = 0; words[i]; i++) {
		NvfmAddress *a;

		if (!*words[i])
			continue;
		a = nvfm_address_parse_pf(words[i], error);
		if (!a)
			return FALSE;
		g_ptr_array_add(c->pfs, a);
	}
	return TRUE;
}

static gboolean conf_max_xml(HookConf *c, GKeyFile *kf, GError **error)
{
	g_autofree char *v = conf_string(kf, "max_xml_size");
	guint64 n;

	c->max_xml = HOOK_XML_MAX_DEFAULT;
	if (!v)
		return TRUE;
	if (!nvfm_size_parse(v, &n, NULL) || n < HOOK_XML_MAX_MIN || n > HOOK_XML_MAX_MAX) {
		g_autofree char *shown = g_strescape(v, NULL);

		g_set_error(error, NVFM_ERROR, NVFM_ERROR_INVALID_ARG,
			    "max_xml_size must be a size from %uK to %uM, not '%s'",
			    HOOK_XML_MAX_MIN >> 10, HOOK_XML_MAX_MAX >> 20, shown);
		return FALSE;
	}
	c->max_xml = (gsize)n;
	return TRUE;
}

gboolean hook_conf_parse(HookConf *c, GKeyFile *kf, GError **error)
{
	static const char *const hostdevs[] = { "listed", "all", NULL };
	static const char *const unknown[] = { "log", "keep", NULL };
	static const char *const yesno[] = { "false", "true", NULL };
	g_autofree char *pfs = NULL;
	int hd, ur, rm;

	pfs = conf_string(kf, "pf");
	if (!conf_pfs(c, pfs, error))
		return FALSE;
	c->driver = conf_string(kf, "driver");
	c->runtime_dir = conf_string(kf, "runtime_dir");
	c->agent_runtime_dir = conf_string(kf, "agent_runtime_dir");
	c->qemu_log_dir = conf_string(kf, "qemu_log_dir");
	if (!c->qemu_log_dir)
		c->qemu_log_dir = g_strdup(DEFAULT_QEMU_LOG_DIR);
	c->log_file = conf_string(kf, "log_file");
	c->emu_dir = conf_string(kf, "emu_dir");
	if ((hd = conf_choice(kf, "hostdevs", hostdevs, 0, error)) < 0 ||
	    (ur = conf_choice(kf, "unknown_reason", unknown, 0, error)) < 0 ||
	    (rm = conf_choice(kf, "require_migration", yesno, 1, error)) < 0 ||
	    !conf_max_xml(c, kf, error))
		return FALSE;
	c->all_hostdevs = hd == 1;
	c->reason_from_log = ur == 0;
	c->require_migration = rm == 1;
	return TRUE;
}

/*
 * libvirtd runs hooks with a cleaned environment, so NVFM_HOOK_CONF only
 * arrives through a wrapper or a manual run; a missing default file means
 * "all defaults, no PF".
 */
gboolean hook_conf_load(HookConf *c, const char *default_path, GError **error)
{
	g_autoptr(GKeyFile) kf = g_key_file_new();
	g_autoptr(GError) e = NULL;
	const char *env = g_getenv("NVFM_HOOK_CONF");

	c->path = g_strdup(env && *env ? env : default_path);
	if (!g_key_file_load_from_file(kf, c->path, G_KEY_FILE_NONE, &e) &&
	    /* only the default may be absent: a named file is meant to exist */
	    (!g_error_matches(e, G_FILE_ERROR, G_FILE_ERROR_NOENT) || (env && *env))) {
		g_set_error(error, NVFM_ERROR, NVFM_ERROR_INVALID_ARG, "%s", e->message);
		goto bad;
	}
	if (!hook_conf_parse(c, kf, error))
		goto bad;
	if (c->emu_dir)
		g_setenv("NVFM_EMU_DIR", c->emu_dir, TRUE);
	return TRUE;
bad:
	g_prefix_error(error, "%s: ", c->path);
	return FALSE;
}
