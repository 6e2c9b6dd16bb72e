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

/* A directory local_dir() made: its three links, then itself. */
static void remove_dir(const char *dir)
{
	const char *names[] = { "ca-cert.pem", "client-cert.pem", "client-key.pem" };

	for (guint i = 0; i < G_N_ELEMENTS(names); i++) {
		g_autofree char *p = g_build_filename(dir, names[i], NULL);

		g_unlink(p);
	}
	g_rmdir(dir);
}

/* "QEMU cannot use WHOSE TLS credentials: MSG" as a blocker of @host */
static void creds_blocker(json_t *host, const char *whose, const char *msg)
{
	json_array_append_new(json_object_get(host, "blockers"),
			      json_sprintf("QEMU cannot use %s TLS credentials: %s", whose, msg));
}

static gboolean object_add(NvfmQmp *qmp, const char *id, const char *dir, const char *endpoint,
			   int t, GError **error)
{
	json_auto_t *args = json_pack("{s:s, s:s, s:s, s:s, s:b}", "qom-type", "tls-creds-x509",
				      "id", id, "dir", dir, "endpoint", endpoint, "verify-peer", TRUE);
	json_auto_t *res = nvfm_qmp_execute(qmp, "object-add", args, t, error);

	return res != NULL;
}

static void object_del(NvfmQmp *qmp, const char *id, int t)
{
	json_auto_t *args = json_pack("{s:s}", "id", id);
	json_auto_t *res = nvfm_qmp_execute(qmp, "object-del", args, t, NULL);
}

static gboolean add_creds(NvfmQmp *qmp, const char *dir, const char *endpoint, int t,
			  GError **error)
{
	json_auto_t *params = json_pack("{s:s}", "tls-creds", CREDS_ID);

	return object_add(qmp, CREDS_ID, dir, endpoint, t, error) &&
	       nvfm_vm_set_migration_params(qmp, params, t, error);
}

/* The agent's credentials linked for QEMU on the destination: a directory
 * there, which lives as long as our connection. */
static char *agent_dir(NvfmMigration *m, GError **error)
{
	json_auto_t *args = json_object();
	json_auto_t *res = nvfm_agent_client_call(m->agent, "qemu-tls", args, error);
	const char *dir = res ? json_string_value(json_object_get(res, "dir")) : NULL;

	if (res && !dir)
		g_set_error(error, NVFM_ERROR, NVFM_ERROR_PROTOCOL,
			    "the agent's qemu-tls reply names no directory");
	return g_strdup(dir);
}

/* Our client credentials linked for QEMU on this host. */
static char *local_dir(NvfmMigration *m, GError **error)
{
	g_autofree char *dir = g_dir_make_tmp("nvfm-qemu-tls-XXXXXX", error);

	if (!dir || !nvfm_tls_link_dir(m->opts->tls, dir, error)) {
		if (dir)
			remove_dir(dir);
		return NULL;
	}
	return g_steal_pointer(&dir);
}

void nvfm_migration_stream_tls_preflight(NvfmMigration *m, json_t *src, json_t *dst)
{
	static const char *const trial = CREDS_ID "-check";
	int t = nvfm_migration_timeout(m);
	g_autoptr(GError) err = NULL;
	g_autofree char *bdir = NULL, *adir = NULL;

	if (!m->opts->tls || !m->agent || !m->src_qmp || !m->dst_qmp)
		return;
	/* each QEMU loads its credentials once, then drops them: a
	 * certificate QEMU will not take blocks here, not mid-migration */
	bdir = agent_dir(m, &err);
	if (!bdir || !object_add(m->dst_qmp, trial, bdir, "server", t, &err)) {
		creds_blocker(dst, "the agent's", err->message);
		g_clear_error(&err);
	} else {
		object_del(m->dst_qmp, trial, t);
	}
	/* the migration uses it too: once the state streams, this connection
	 * takes no other request */
	m->tls_agent_dir = g_steal_pointer(&bdir);
	adir = local_dir(m, &err);
	if (!adir || !object_add(m->src_qmp, trial, adir, "client", t, &err)) {
		creds_blocker(src, "our", err->message);
	} else {
		object_del(m->src_qmp, trial, t);
	}
	if (adir)
		remove_dir(adir);
}

gboolean nvfm_migration_stream_tls_setup(NvfmMigration *m, GError **error)
{
	int t = nvfm_migration_timeout(m);
	g_autofree char *dir = NULL;

	if (!m->opts->tls)
		return TRUE;
	dir = m->tls_agent_dir ? g_strdup(m->tls_agent_dir) : agent_dir(m, error);
	if (!dir)
		goto fail;
	m->tls_dst = TRUE;
	if (!add_creds(m->dst_qmp, dir, "server", t, error))
		goto fail;
	m->tls_dir = local_dir(m, error);
	if (!m->tls_dir)
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

	nvfm_vm_set_migration_params(qmp, params, CLEAR_TIMEOUT_MS, NULL);
	object_del(qmp, CREDS_ID, CLEAR_TIMEOUT_MS);
}

void nvfm_migration_stream_tls_clear(NvfmMigration *m)
{
	if (m->tls_dst && m->dst_qmp)
		clear_creds(m->dst_qmp);
	if (m->tls_src && m->src_qmp && !m->src_quit)
		clear_creds(m->src_qmp);
	m->tls_dst = m->tls_src = FALSE;
	if (m->tls_dir)
		remove_dir(m->tls_dir);
	g_clear_pointer(&m->tls_dir, g_free);
	g_clear_pointer(&m->tls_agent_dir, g_free);
}
