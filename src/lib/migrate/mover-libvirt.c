// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * The libvirt target: libvirt owns the domain and its migration (and
 * holds QEMU's pause window itself), so the VF's state moves inside QEMU's
 * stream as with the qemu mover. The orchestrator provisions the
 * destination VF, rewrites the hostdev *source* addresses of the domain's
 * migratable XML (the guest-visible ones never change) and hands it to
 * virDomainMigrateToURI3() as the destination XML, as OpenStack Nova does;
 * afterwards it releases the source VF. A TLS agent link means a TLS
 * migration stream too (VIR_MIGRATE_TLS): libvirt then builds QEMU's
 * tls-creds-x509 from its own PKI (qemu.conf's migrate_tls_x509_cert_dir)
 * on both hosts, and a host without it fails the migration before
 * anything moves.
 */
#define G_LOG_DOMAIN "nvfm-migrate"

#include "config.h"

#include <string.h>

#include "nvfm/domxml.h"
#include "nvfm/error.h"
#include "nvfm/pf.h"
#include "migrate-private.h"
#include "util/util-private.h"

#ifdef HAVE_LIBVIRT
#include <libvirt/libvirt.h>
#include <libvirt/virterror.h>

typedef struct {
	virConnectPtr conn;
	virDomainPtr dom;
	char *xml;		/* migratable XML of the source domain */
	char *dest_xml;
	char *persist_xml;	/* persistent domains: the rewritten configuration */
	NvfmDomain *parsed;	/* @xml, parsed; NULL: the preflight blocked before */
	GThread *thread;
	GMutex mu;
	gboolean done;
	int result;
	char *error;
	guint64 downtime_ms;
	gboolean have_downtime;
	guint64 data_bytes;
} Libvirt;

static Libvirt *lv(NvfmMigration *m)
{
	if (!m->mover_data) {
		Libvirt *l = g_new0(Libvirt, 1);

		g_mutex_init(&l->mu);
		m->mover_data = l;
	}
	return m->mover_data;
}

static const char *lv_error(void)
{
	const char *e = virGetLastErrorMessage();

	return e ? e : "unknown libvirt error";
}

static void add_blocker(json_t *blockers, const char *what, const char *why)
{
	json_array_append_new(blockers, json_sprintf("%s: %s", what, why));
}

/* The domain's part of the preflight, once: libvirt, the domain, its XML,
 * and the destination libvirt. */
static void domain_preflight(NvfmMigration *m, json_t *src, json_t *blockers)
{
	Libvirt *l = lv(m);
	g_autoptr(GError) err = NULL;
	NvfmDomain *d;
	virConnectPtr dst;

	l->conn = virConnectOpen(m->opts->libvirt_uri);
	if (!l->conn) {
		add_blocker(blockers, "libvirt", lv_error());
		return;
	}
	l->dom = virDomainLookupByName(l->conn, m->opts->domain);
	if (!l->dom) {
		/* the name lookup's error says what went wrong; a UUID lookup
		 * of a name would only add "invalid UUID" */
		g_autofree char *why = g_strdup(lv_error());

		if (g_uuid_string_is_valid(m->opts->domain))
			l->dom = virDomainLookupByUUIDString(l->conn, m->opts->domain);
		if (!l->dom) {
			add_blocker(blockers, "domain", why);
			return;
		}
	}
	if (virDomainIsActive(l->dom) != 1)
		add_blocker(blockers, "domain", "not running");
	/* SECURE: the destination definition must keep graphics passwords */
	l->xml = virDomainGetXMLDesc(l->dom, VIR_DOMAIN_XML_MIGRATABLE | VIR_DOMAIN_XML_SECURE);
	if (!l->xml) {
		add_blocker(blockers, "domain XML", lv_error());
		return;
	}
	d = nvfm_domxml_parse(l->xml, &err);
	if (!d) {
		add_blocker(blockers, "domain XML", err->message);
		return;
	}
	json_object_set_new(src, "domain", json_pack("{s:s, s:s}", "name",
						     nvfm_domain_get_name(d), "uuid",
						     nvfm_domain_get_uuid(d)));
	/* libvirt connects to the destination itself (peer to peer): make
	 * sure it can be reached with the URI it will use */
	dst = virConnectOpen(m->opts->dest_libvirt_uri);
	if (!dst)
		add_blocker(blockers, "destination libvirt", lv_error());
	else
		virConnectClose(dst);
	l->parsed = d;
}

/* Each VF: its hostdev in the domain; v->mover_data is its source as the
 * XML spells it (the rewrite matches that, not the command line's). */
static gboolean libvirt_preflight(NvfmMigration *m, NvfmMigrationVf *v, json_t *src,
				  json_t *blockers, GError **error G_GNUC_UNUSED)
{
	Libvirt *l = lv(m);
	const NvfmDomVf *vf;

	if (v->index == 0)
		domain_preflight(m, src, blockers);
	if (!l->parsed)
		return TRUE;
	vf = nvfm_domain_find_vf(l->parsed, v->src);
	if (!vf) {
		add_blocker(blockers, "VF", "the domain has no hostdev with that source");
		return TRUE;
	}
	v->mover_data = g_strdup(vf->source);
	json_object_set_new(v->facts, "vm_device", json_pack("{s:s?, s:s?}", "alias", vf->alias,
							     "guest_address", vf->guest_address));
	return TRUE;
}

static gboolean libvirt_reserve(NvfmMigration *m, GError **error)
{
	Libvirt *l = lv(m);
	g_autoptr(GHashTable) map = g_hash_table_new(g_str_hash, g_str_equal);
	g_autoptr(GError) err = NULL;
	g_autofree char *inactive = NULL;

	/* each VF's hostdev names its own destination VF */
	for (guint i = 0; i < m->n_vfs; i++) {
		NvfmMigrationVf *v = &m->vfs[i];

		g_hash_table_insert(map, v->mover_data,
				    v->dest_vf_pci ? v->dest_vf_pci : v->dest_vf);
	}
	l->dest_xml = nvfm_domxml_rewrite(l->xml, map, error);
	if (!l->dest_xml)
		return FALSE;
	if (virDomainIsPersistent(l->dom) != 1)
		return TRUE;
	/* With PERSIST_DEST libvirt defines the destination from the source's
	 * configuration unless given one: it must name the new VF too. A
	 * configuration without the VF (attached live only) has nothing to
	 * rewrite and goes as it is. */
	inactive = virDomainGetXMLDesc(l->dom, VIR_DOMAIN_XML_INACTIVE |
				       VIR_DOMAIN_XML_MIGRATABLE | VIR_DOMAIN_XML_SECURE);
	if (!inactive) {
		g_set_error(error, NVFM_ERROR, NVFM_ERROR_FAILED,
			    "the domain's configuration: %s", lv_error());
		return FALSE;
	}
	l->persist_xml = nvfm_domxml_rewrite(inactive, map, &err);
	if (!l->persist_xml && !g_error_matches(err, NVFM_ERROR, NVFM_ERROR_NOT_FOUND)) {
		g_propagate_prefixed_error(error, g_steal_pointer(&err),
					   "the domain's configuration: ");
		return FALSE;
	}
	return TRUE;
}

static gpointer migrate_thread(gpointer data)
{
	NvfmMigration *m = data;
	Libvirt *l = m->mover_data;
	virTypedParameterPtr params = NULL;
	int n = 0, max = 0, r;
	unsigned int flags = VIR_MIGRATE_LIVE | VIR_MIGRATE_PEER2PEER;

	virTypedParamsAddString(&params, &n, &max, VIR_MIGRATE_PARAM_DEST_XML, l->dest_xml);
	if (l->persist_xml)
		virTypedParamsAddString(&params, &n, &max, VIR_MIGRATE_PARAM_PERSIST_XML,
					l->persist_xml);
	if (virDomainIsPersistent(l->dom) == 1)
		flags |= VIR_MIGRATE_PERSIST_DEST | VIR_MIGRATE_UNDEFINE_SOURCE;
	/* the preflight made a plain stream a blocker unless --insecure */
	if (m->opts->tls)
		flags |= VIR_MIGRATE_TLS;
	r = virDomainMigrateToURI3(l->dom, m->opts->dest_libvirt_uri, params, n, flags);
	virTypedParamsFree(params, n);
	g_mutex_lock(&l->mu);
	l->result = r;
	if (r < 0)
		l->error = g_strdup(lv_error());
	l->done = TRUE;
	g_mutex_unlock(&l->mu);
	return NULL;
}

static void job_stats(Libvirt *l, virDomainPtr dom, gboolean completed, guint64 *processed,
		      guint64 *total)
{
	virTypedParameterPtr p = NULL;
	int type, n = 0;
	unsigned long long v;

	if (virDomainGetJobStats(dom, &type, &p, &n,
				 completed ? VIR_DOMAIN_JOB_STATS_COMPLETED : 0) < 0)
		return;
	if (processed && virTypedParamsGetULLong(p, n, VIR_DOMAIN_JOB_DATA_PROCESSED, &v) == 1)
		*processed = v;
	/* data_total is the guest's size, which a re-sent page outgrows:
	 * what the job will have moved is processed + remaining */
	if (total && processed && virTypedParamsGetULLong(p, n, VIR_DOMAIN_JOB_DATA_REMAINING,
							  &v) == 1)
		*total = *processed + v;
	if (completed && virTypedParamsGetULLong(p, n, VIR_DOMAIN_JOB_DOWNTIME, &v) == 1) {
		l->downtime_ms = v;
		l->have_downtime = TRUE;
	}
	virTypedParamsFree(p, n);
}

/* A transient domain leaves the source with its statistics; libvirt hands
 * them to the destination, which keeps them as its completed job. */
static void dest_job_stats(NvfmMigration *m, Libvirt *l)
{
	char uuid[VIR_UUID_STRING_BUFLEN];
	virConnectPtr c;
	virDomainPtr d;

	if (virDomainGetUUIDString(l->dom, uuid) < 0)
		return;
	c = virConnectOpen(m->opts->dest_libvirt_uri);
	if (!c)
		return;
	d = virDomainLookupByUUIDString(c, uuid);
	if (d) {
		job_stats(l, d, TRUE, l->data_bytes ? NULL : &l->data_bytes, NULL);
		virDomainFree(d);
	}
	virConnectClose(c);
}

/* libvirt migrates in one call: precopy to resume happen inside it. The
 * reservation was kept before (see commits_in_transfer). */
static gboolean libvirt_transfer(NvfmMigration *m, GError **error)
{
	Libvirt *l = lv(m);
	gint64 deadline;
	gboolean aborted = FALSE;

	nvfm_migration_begin(m, NVFM_MIGRATE_PRECOPY);
	deadline = nvfm_now_us() + (gint64)nvfm_migration_timeout(m) * 1000;
	l->thread = g_thread_new("virDomainMigrate", migrate_thread, m);
	for (;;) {
		guint64 done = 0, total = 0;
		gboolean finished;

		g_mutex_lock(&l->mu);
		finished = l->done;
		g_mutex_unlock(&l->mu);
		if (finished)
			break;
		if (!aborted && (nvfm_now_us() > deadline ||
				 !nvfm_migration_check_cancel(m, NULL))) {
			/* libvirt rolls the domain back on the source */
			virDomainAbortJob(l->dom);
			aborted = TRUE;
		}
		job_stats(l, l->dom, FALSE, &done, &total);
		/* libvirt counts RAM and device state together */
		nvfm_migration_sample(m, "VM stream", done);
		nvfm_migration_progress(m, done, total);
		g_usleep(100 * 1000);
	}
	g_thread_join(g_steal_pointer(&l->thread));
	if (l->result < 0) {
		if (aborted && !nvfm_migration_check_cancel(m, error))
			return FALSE;
		g_set_error(error, NVFM_ERROR, aborted ? NVFM_ERROR_TIMEOUT : NVFM_ERROR_FAILED,
			    "libvirt: %s", l->error);
		return FALSE;
	}
	job_stats(l, l->dom, TRUE, &l->data_bytes, NULL);
	if (!l->have_downtime)
		dest_job_stats(m, l);
	nvfm_migration_end(m, NVFM_MIGRATE_PRECOPY, l->data_bytes);
	m->rec[NVFM_MIGRATE_PRECOPY].note =
		g_strdup("libvirt ran precopy, pause, the VF's stop-copy, switchover and resume");
	/* libvirt measures the downtime itself; a transient domain is gone
	 * from the source by now, with its statistics: then no figure rather
	 * than a made-up one */
	if (l->have_downtime) {
		m->resume_us = nvfm_now_us();
		m->pause_us = m->resume_us - (gint64)l->downtime_ms * 1000;
	}
	return TRUE;
}

static void libvirt_switched(NvfmMigration *m G_GNUC_UNUSED)
{
}

static void libvirt_rollback(NvfmMigration *m G_GNUC_UNUSED, GString *what)
{
	g_string_append(what, "; libvirt keeps the domain running on the source");
}

static gboolean libvirt_release(NvfmMigration *m, GError **error)
{
	return nvfm_migration_release_vfs(m, error);
}

static void libvirt_clear(NvfmMigration *m)
{
	Libvirt *l = m->mover_data;

	if (!l)
		return;
	if (l->dom)
		virDomainFree(l->dom);
	if (l->conn)
		virConnectClose(l->conn);
	g_free(l->xml);
	g_free(l->dest_xml);
	g_free(l->persist_xml);
	nvfm_domain_free(l->parsed);
	for (guint i = 0; i < m->n_vfs; i++)
		g_clear_pointer(&m->vfs[i].mover_data, g_free);
	g_free(l->error);
	g_mutex_clear(&l->mu);
	g_free(l);
	m->mover_data = NULL;
}

const NvfmMoverOps nvfm_mover_libvirt = {
	.name = "libvirt",
	.commits_in_transfer = TRUE,
	.preflight = libvirt_preflight,
	.reserve = libvirt_reserve,
	.transfer = libvirt_transfer,
	.switched = libvirt_switched,
	.rollback = libvirt_rollback,
	.release = libvirt_release,
	.clear = libvirt_clear,
};

#else /* !HAVE_LIBVIRT */

static gboolean libvirt_preflight(NvfmMigration *m G_GNUC_UNUSED, NvfmMigrationVf *v G_GNUC_UNUSED,
				  json_t *src G_GNUC_UNUSED, json_t *blockers,
				  GError **error G_GNUC_UNUSED)
{
	json_array_append_new(blockers, json_string("libvirt: this build has no libvirt support"));
	return TRUE;
}

static void libvirt_clear(NvfmMigration *m G_GNUC_UNUSED)
{
}

const NvfmMoverOps nvfm_mover_libvirt = {
	.name = "libvirt",
	.preflight = libvirt_preflight,
	.clear = libvirt_clear,
};

#endif /* HAVE_LIBVIRT */
