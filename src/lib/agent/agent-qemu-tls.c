// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * "qemu-tls": the agent's own TLS credentials, linked into a private
 * directory the way QEMU's tls-creds-x509 reads them, so that the
 * destination QEMU's incoming migration stream is encrypted and
 * authenticated with the same PKI as the agent link (docs/agent.md). The
 * directories end with the connection that asked for them: QEMU reads the
 * files when the object is created.
 */
#define G_LOG_DOMAIN "nvfm-agent"

#include <glib/gstdio.h>

#include "nvfm/error.h"
#include "agent-server.h"

json_t *agent_do_qemu_tls(Session *s, json_t *args G_GNUC_UNUSED, GError **error)
{
	NvfmAgent *a = s->agent;
	g_autofree char *parent = g_build_filename(a->runtime_dir, "qemu-tls", NULL);
	g_autofree char *name = g_strdup_printf("t-%08x%08x", g_random_int(), g_random_int());
	g_autofree char *dir = g_build_filename(parent, name, NULL);

	if (!a->tls) {
		g_set_error(error, NVFM_ERROR, NVFM_ERROR_NOT_SUPPORTED,
			    "this agent serves plain TCP: it has no TLS credentials for QEMU");
		return NULL;
	}
	if (g_mkdir_with_parents(parent, 0700) < 0 || g_mkdir(dir, 0700) < 0) {
		nvfm_set_error_errno(error, -errno, "cannot make %s", dir);
		return NULL;
	}
	if (!nvfm_tls_link_dir(a->tls, dir, error)) {
		agent_remove_dir(dir);
		return NULL;
	}
	g_ptr_array_add(s->tls_dirs, g_strdup(dir));
	return json_pack("{s:s, s:s}", "dir", dir, "endpoint", "server");
}

void agent_end_qemu_tls(Session *s)
{
	for (guint i = 0; s->tls_dirs && i < s->tls_dirs->len; i++)
		agent_remove_dir(g_ptr_array_index(s->tls_dirs, i));
}

/* Directories a previous instance left (it died with connections open). */
void agent_recover_qemu_tls(NvfmAgent *a)
{
	g_autofree char *parent = g_build_filename(a->runtime_dir, "qemu-tls", NULL);
	g_autoptr(GDir) d = g_dir_open(parent, 0, NULL);
	const char *name;

	while (d && (name = g_dir_read_name(d))) {
		g_autofree char *p = g_build_filename(parent, name, NULL);

		agent_remove_dir(p);
	}
}
