// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * QEMU's own migration stream (guest RAM and, with the qemu mover, the
 * VF's state) under the same TLS as the agent link: each QEMU gets a
 * tls-creds-x509 object made from its host's credentials (this process's
 * client files here, the agent's server files on the destination, which
 * the agent links for us: "qemu-tls"), verify-peer on, and the migration
 * parameter tls-creds naming it. QEMU checks the destination's
 * certificate against the host of the migration URI. A plain agent link
 * (--insecure) leaves the stream in clear, and the preflight says so.
 */
#define G_LOG_DOMAIN "nvfm-migrate"

#include <glib/gstdio.h>

#include "nvfm/error.h"
#include "nvfm/vm.h"
#include "migrate-private.h"

#define CREDS_ID "nvfm-migration-tls"

/* QMP waits of the clean-up: a QEMU that went away answers at once */
#define CLEAR_TIMEOUT_MS 2000

static gboolean add_creds(NvfmQmp *qmp, const char *dir, const char *endpoint, int t,
			  GError **error)
{
	json_auto_t *args = json_pack("{s:s, s:s, s:s, s:s, s:b}", "qom-type", "tls-creds-x509",
				      "id", CREDS_ID, "dir", dir, "endpoint", endpoint,
				      "verify-peer", TRUE);
	json_auto_t *res = nvfm_qmp_execute(qmp, "object-add", args, t, error);
	json_auto_t *params = NULL;

	if (!res)
		return FALSE;
	params = json_pack("{s:s}", "tls-creds", CREDS_ID);
	return nvfm_vm_set_migration_params(qmp, params, t, error);
}

gboolean nvfm_migration_stream_tls_setup(NvfmMigration *m, GError **error)
{
	int t = nvfm_migration_timeout(m);
	json_auto_t *args = json_object();
	json_auto_t *res = NULL;
	const char *dir;

	if (!m->opts->tls)
		return TRUE;
	res = nvfm_agent_client_call(m->agent, "qemu-tls", args, error);
	dir = res ? json_string_value(json_object_get(res, "dir")) : NULL;
	if (res && !dir)
		g_set_error(error, NVFM_ERROR, NVFM_ERROR_PROTOCOL,
			    "the agent's qemu-tls reply names no directory");
	if (!dir)
		goto fail;
	m->tls_dst = TRUE;
	if (!add_creds(m->dst_qmp, dir, "server", t, error))
		goto fail;
	m->tls_dir = g_dir_make_tmp("nvfm-qemu-tls-XXXXXX", error);
	if (!m->tls_dir || !nvfm_tls_link_dir(m->opts->tls, m->tls_dir, error))
		goto fail;
	m->tls_src = TRUE;
	if (!add_creds(m->src_qmp, m->tls_dir, "client", t, error))
		goto fail;
	return TRUE;
fail:
	g_prefix_error(error, "TLS for QEMU's migration stream: ");
	return FALSE;
}

static void clear_creds(NvfmQmp *qmp)
{
	json_auto_t *params = json_pack("{s:s}", "tls-creds", "");
	json_auto_t *args = json_pack("{s:s}", "id", CREDS_ID);
	json_auto_t *res = NULL;

	nvfm_vm_set_migration_params(qmp, params, CLEAR_TIMEOUT_MS, NULL);
	res = nvfm_qmp_execute(qmp, "object-del", args, CLEAR_TIMEOUT_MS, NULL);
}

void nvfm_migration_stream_tls_clear(NvfmMigration *m)
{
	if (m->tls_dst && m->dst_qmp)
		clear_creds(m->dst_qmp);
	if (m->tls_src && m->src_qmp && !m->src_quit)
		clear_creds(m->src_qmp);
	m->tls_dst = m->tls_src = FALSE;
	if (m->tls_dir) {
		const char *names[] = { "ca-cert.pem", "client-cert.pem", "client-key.pem" };

		for (guint i = 0; i < G_N_ELEMENTS(names); i++) {
			g_autofree char *p = g_build_filename(m->tls_dir, names[i], NULL);

			g_unlink(p);
		}
		g_rmdir(m->tls_dir);
		g_clear_pointer(&m->tls_dir, g_free);
	}
}
