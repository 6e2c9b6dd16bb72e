// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * What libvirt's qemu.conf says about the migration stream: the libvirt
 * hook cannot see virsh migrate's flags, only whether libvirt encrypts
 * every migration (migrate_tls_force).
 */
#define G_LOG_DOMAIN "nvfm-domxml"

#include <string.h>

#include "nvfm/domxml.h"

/* qemu.conf is a few tens of KiB; anything far larger is not it */
#define CONF_MAX (1u << 20)

/* The value of "KEY = VALUE" on @line when KEY is @key (a comment or
 * another key: %NULL). */
static const char *value_of(const char *line, const char *key)
{
	gsize n = strlen(key);

	while (g_ascii_isspace(*line))
		line++;
	if (strncmp(line, key, n) != 0)
		return NULL;
	line += n;
	while (g_ascii_isspace(*line))
		line++;
	if (*line != '=')
		return NULL;
	line++;
	while (g_ascii_isspace(*line))
		line++;
	return line;
}

gboolean nvfm_libvirt_migrate_tls_forced(const char *qemu_conf)
{
	g_autofree char *text = NULL;
	g_auto(GStrv) lines = NULL;
	gsize len = 0;
	gboolean forced = FALSE;

	if (!g_file_get_contents(qemu_conf, &text, &len, NULL) || len > CONF_MAX)
		return FALSE;
	lines = g_strsplit(text, "\n", -1);
	/* libvirt takes the last assignment */
	for (guint i = 0; lines[i]; i++) {
		const char *v = value_of(lines[i], "migrate_tls_force");

		if (v)
			forced = v[0] == '1' && (!v[1] || g_ascii_isspace(v[1]) || v[1] == '#');
	}
	return forced;
}
