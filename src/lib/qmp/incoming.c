// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * The destination side of "virsh migrate": a VF provisioned here for each
 * VF of a domain that migrates in, recorded per domain UUID in a ledger
 * (phase "incoming", then "started" once its QEMU ran), and given back by
 * the release policy of lifecycle.c when the domain stops.
 *
 * Record (JSON): { version, uuid, name, phase, created,
 *		    vfs: [ { alias, old, new, pf, nvq, nvi, driver } ] }
 */
#define G_LOG_DOMAIN "nvfm-domxml"

#include <jansson.h>

#include "util/util-private.h"

#define RECORD_VERSION 1
#define PHASE_INCOMING "incoming"
#define PHASE_STARTED "started"

void nvfm_incoming_free(NvfmIncoming *rec)
{
	if (!rec)
		return;
	g_free(rec->phase);
	if (rec->vfs)
		g_ptr_array_unref(rec->vfs);
	g_free(rec);
}

/* The raw record; NULL without an error when there is none. */
static json_t *record_load(NvfmLedger *ledger, const char *uuid, GError **error)
{
	g_autoptr(GError) e = NULL;
	json_t *st = nvfm_ledger_get(ledger, uuid, &e);

	if (!st) {
		if (!g_error_matches(e, NVFM_ERROR, NVFM_ERROR_NOT_FOUND))
			g_propagate_error(error, g_steal_pointer(&e));
		return NULL;
	}
	if (!json_is_array(json_object_get(st, "vfs")) ||
	    !json_is_string(json_object_get(st, "phase"))) {
		json_decref(st);
		g_set_error(error, NVFM_ERROR, NVFM_ERROR_PROTOCOL, "state of domain %s in %s is damaged",
			    uuid, nvfm_ledger_dir(ledger));
		return NULL;
	}
	return st;
}

NvfmIncoming *nvfm_incoming_get(NvfmLedger *ledger, const char *uuid, GError **error)
{
	json_auto_t *st = record_load(ledger, uuid, error);
	NvfmIncoming *rec;
	json_t *v;
	size_t i;

	if (!st)
		return NULL;
	rec = g_new0(NvfmIncoming, 1);
	rec->phase = g_strdup(json_string_value(json_object_get(st, "phase")));
	rec->vfs = g_ptr_array_new_with_free_func((GDestroyNotify)nvfm_address_free);
	json_array_foreach(json_object_get(st, "vfs"), i, v) {
		const char *dev = json_string_value(json_object_get(v, "new"));
		NvfmAddress *a = dev ? nvfm_address_parse(dev, NULL) : NULL;

		if (a)
			g_ptr_array_add(rec->vfs, a);
	}
	return rec;
}

/* A record that cannot be removed is only noted: its VFs are gone. */
static void record_forget(NvfmLedger *ledger, const char *uuid, NvfmNoteFunc note, gpointer data)
{
	g_autoptr(GError) e = NULL;

	if (!nvfm_ledger_remove(ledger, uuid, &e))
		note(data, "%s", e->message);
}

static gboolean release_listed(GPtrArray *vfs, const char *what, NvfmNoteFunc note,
			       gpointer data, GError **error)
{
	g_autoptr(GPtrArray) todo = nvfm_vfs_online(vfs, note, data, error);

	if (!todo)
		return FALSE;
	if (todo->len && what)
		note(data, "%s", what);
	return nvfm_vfs_release_online(todo, note, data, error);
}

gboolean nvfm_incoming_release(NvfmLedger *ledger, const char *uuid, NvfmNoteFunc note,
			       gpointer data, GError **error)
{
	g_autoptr(NvfmIncoming) rec = NULL;
	g_autoptr(GError) e = NULL;

	rec = nvfm_incoming_get(ledger, uuid, &e);
	if (e) {
		g_propagate_error(error, g_steal_pointer(&e));
		return FALSE;
	}
	if (!rec)
		return TRUE;
	if (!release_listed(rec->vfs, NULL, note, data, error))
		return FALSE;
	record_forget(ledger, uuid, note, data);
	return TRUE;
}

static const char *vf_label(const NvfmDomVf *vf)
{
	return vf->alias ? vf->alias : vf->source;
}

/* An earlier attempt for @uuid that never got as far as starting QEMU is
 * released; one whose QEMU started is not ours to touch. */
static gboolean clear_earlier(NvfmLedger *ledger, const char *uuid, NvfmNoteFunc note,
			      gpointer data, GError **error)
{
	g_autoptr(GError) e = NULL;
	g_autoptr(NvfmIncoming) old = nvfm_incoming_get(ledger, uuid, &e);

	if (e) {
		g_propagate_error(error, g_steal_pointer(&e));
		return FALSE;
	}
	if (!old)
		return TRUE;
	if (!g_str_equal(old->phase, PHASE_INCOMING)) {
		g_set_error(error, NVFM_ERROR, NVFM_ERROR_BUSY,
			    "domain %s already has VFs here from an incoming migration that started "
			    "(%s/%s.json)", uuid, nvfm_ledger_dir(ledger), uuid);
		return FALSE;
	}
	if (!release_listed(old->vfs, "releasing VFs left by an earlier incoming migration", note,
			    data, error))
		return FALSE;
	record_forget(ledger, uuid, note, data);
	return TRUE;
}

/* One VF of the domain: kept when the agent reserved it for this
 * migration, else provisioned and recorded at once. */
static gboolean provision_one(NvfmLedger *ledger, const char *uuid, json_t *st,
			      const NvfmDomVf *vf, const NvfmIncomingOpts *opts, GHashTable *map,
			      GPtrArray *got, NvfmNoteFunc note, gpointer data, GError **error)
{
	g_autoptr(NvfmAddress) src = nvfm_address_parse(vf->source, error);
	g_autoptr(NvfmVfInfo) info = NULL;
	g_autofree char *numa = NULL;
	NvfmProvisionOpts po;

	if (!src)
		return FALSE;
	/* "nvme-vf-migrate migrate --domain" provisioned it through this
	 * host's agent: it stays the agent's, and nothing is recorded */
	info = opts->reservations ? nvfm_vf_reserved_for_migration(src, opts->pfs,
								   opts->reservations) : NULL;
	if (info) {
		note(data, "kept %s for %s: already provisioned on PF %s for this migration",
		     info->address, vf_label(vf), info->pf);
		return TRUE;
	}
	nvfm_provision_opts_init(&po);
	/* the source's amounts, where the metadata recorded them */
	po.nvq = vf->nvq;
	po.nvi = vf->nvi;
	/* and its NUMA node: a PF there first */
	po.numa_node = vf->numa_node;
	po.driver = opts->driver;
	po.require_migration = opts->require_migration;
	info = nvfm_provision_from(opts->pfs, src->kind, &po, error);
	if (!info) {
		g_prefix_error(error, "no VF for %s (%s): ", vf_label(vf), vf->source);
		return FALSE;
	}
	g_ptr_array_add(got, nvfm_address_copy(info->vf));
	json_array_append_new(json_object_get(st, "vfs"),
			      json_pack("{s:s?, s:s, s:s, s:s, s:i, s:i, s:s?}", "alias", vf->alias,
					"old", vf->source, "new", info->address, "pf", info->pf,
					"nvq", (json_int_t)info->nvq, "nvi", (json_int_t)info->nvi,
					"driver", info->driver));
	/* recorded at once, so a crash here still leaves a trail to clean */
	if (!nvfm_ledger_put(ledger, uuid, st, error))
		return FALSE;
	g_hash_table_insert(map, g_strdup(vf->source), g_strdup(info->address));
	if (vf->numa_node >= 0)
		numa = info->numa_node >= 0
			       ? g_strdup_printf("; NUMA node %d preferred, the PF is on node %d",
						 vf->numa_node, info->numa_node)
			       : g_strdup_printf("; NUMA node %d preferred, the PF's is unknown",
						 vf->numa_node);
	note(data, "provisioned %s on PF %s for %s (was %s; %u VQ, %u VI, driver %s%s)",
	     info->address, info->pf, vf_label(vf), vf->source, info->nvq, info->nvi,
	     info->driver ? info->driver : "none", numa ? numa : "");
	return TRUE;
}

GHashTable *nvfm_incoming_provision(NvfmLedger *ledger, NvfmDomain *dom, GPtrArray *vfs,
				    const NvfmIncomingOpts *opts, NvfmNoteFunc note,
				    gpointer data, GError **error)
{
	g_autoptr(GHashTable) map = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, g_free);
	g_autoptr(GPtrArray) got = g_ptr_array_new_with_free_func((GDestroyNotify)nvfm_address_free);
	g_autoptr(GDateTime) now = g_date_time_new_now_utc();
	g_autofree char *stamp = g_date_time_format_iso8601(now);
	const char *uuid = nvfm_domain_get_uuid(dom);
	g_autoptr(GError) e = NULL, e2 = NULL;
	json_auto_t *st = NULL;
	gboolean clean;

	if (!clear_earlier(ledger, uuid, note, data, error))
		return NULL;
	st = json_pack("{s:i, s:s, s:s, s:s, s:s, s:[]}", "version", RECORD_VERSION, "uuid", uuid,
		       "name", nvfm_domain_get_name(dom), "phase", PHASE_INCOMING, "created", stamp,
		       "vfs");
	for (guint i = 0; i < vfs->len; i++) {
		if (!provision_one(ledger, uuid, st, g_ptr_array_index(vfs, i), opts, map, got, note,
				   data, &e))
			goto rollback;
	}
	return g_steal_pointer(&map);

rollback:
	clean = nvfm_vfs_release_online(got, note, data, &e2);
	if (clean)
		record_forget(ledger, uuid, note, data);
	g_set_error(error, e->domain, e->code, "%s; %s", e->message,
		    clean ? (got->len ? "released the VFs it provisioned" : "nothing provisioned")
			  : e2->message);
	return NULL;
}

gboolean nvfm_incoming_started(NvfmLedger *ledger, const char *uuid, GError **error)
{
	g_autoptr(GError) e = NULL;
	json_auto_t *st = record_load(ledger, uuid, &e);

	if (e) {
		g_propagate_error(error, g_steal_pointer(&e));
		return FALSE;
	}
	if (!st || !g_str_equal(json_string_value(json_object_get(st, "phase")), PHASE_INCOMING))
		return TRUE;
	json_object_set_new(st, "phase", json_string(PHASE_STARTED));
	return nvfm_ledger_put(ledger, uuid, st, error);
}

gboolean nvfm_incoming_stopped(NvfmLedger *ledger, const char *uuid, GPtrArray *domain_vfs,
			       const char *reason, const char *reason_note, NvfmNoteFunc note,
			       gpointer data, GError **error)
{
	g_autoptr(GError) e = NULL;
	g_autoptr(NvfmIncoming) rec = nvfm_incoming_get(ledger, uuid, &e);
	g_autoptr(GPtrArray) release = NULL;
	g_autoptr(GPtrArray) todo = NULL;
	const char *why = NULL;

	if (e) {
		g_propagate_error(error, g_steal_pointer(&e));
		return FALSE;
	}
	switch (nvfm_release_scope(rec ? rec->phase : NULL, reason, &why)) {
	case NVFM_RELEASE_KEEP:
		/* the VFs stay with the domain's configuration; a successful
		 * incoming migration's VFs stop being the hook's */
		if (rec) {
			note(data, "stopped (reason %s): keeping its VFs; they are no longer the hook's",
			     reason ? reason : "unknown");
			record_forget(ledger, uuid, note, data);
		}
		return TRUE;
	case NVFM_RELEASE_RECORDED:
		release = g_ptr_array_ref(rec->vfs);
		break;
	case NVFM_RELEASE_DOMAIN:
		release = rec ? g_ptr_array_ref(rec->vfs) :
			g_ptr_array_new_with_free_func((GDestroyNotify)nvfm_address_free);
		for (guint i = 0; i < domain_vfs->len; i++) {
			const NvfmAddress *a = g_ptr_array_index(domain_vfs, i);

			if (!g_ptr_array_find_with_equal_func(release, a,
							      (GEqualFunc)nvfm_address_equal, NULL))
				g_ptr_array_add(release, nvfm_address_copy(a));
		}
		break;
	}
	todo = nvfm_vfs_online(release, note, data, error);
	if (!todo)
		return FALSE;
	if (todo->len) {
		note(data, "%s (reason %s%s): releasing %u VF%s", why, reason ? reason : "unknown",
		     reason_note ? reason_note : "", todo->len, todo->len == 1 ? "" : "s");
		if (!nvfm_vfs_release_online(todo, note, data, error))
			return FALSE;
	}
	if (rec)
		record_forget(ledger, uuid, note, data);
	return TRUE;
}
