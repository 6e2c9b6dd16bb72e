/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The agent's reservations (docs/agent.md): "provision"/"reserve", "keep"
 * and "release", the session leases that end with their connection, and
 * the leases a previous instance left. The records are an NvfmLedger.
 */
#define G_LOG_DOMAIN "nvfm-agent"

#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>

#include "agent-server.h"

/* Devices a crashed predecessor was restoring into hold partial state. */
/* Reservations whose connection died with a previous instance. */
void agent_recover_leases(NvfmAgent *a)
{
	g_autoptr(GPtrArray) ids = nvfm_ledger_ids(a->ledger);

	for (guint i = 0; i < ids->len; i++) {
		const char *name = g_ptr_array_index(ids, i);
		json_auto_t *rec = nvfm_ledger_get(a->ledger, name, NULL);
		const char *vf = rec ? json_string_value(json_object_get(rec, "vf")) : NULL;
		g_autoptr(GError) err = NULL;
		g_autoptr(NvfmAddress) addr = NULL;

		if (!vf || g_strcmp0(json_string_value(json_object_get(rec, "lease")), "session"))
			continue;
		addr = nvfm_address_parse(vf, &err);
		if (addr && nvfm_vf_release(addr, &err)) {
			nvfm_ledger_remove(a->ledger, name, NULL);
			agent_log(a, G_LOG_LEVEL_WARNING,
				  "reservation %s was left by a previous instance: %s released", name, vf);
		} else {
			agent_log(a, G_LOG_LEVEL_WARNING,
				  "reservation %s was left by a previous instance: cannot release %s: %s",
				  name, vf, err->message);
		}
	}
}

/* A VF from PF @pfa, if it can take the source's state format. */
static NvfmVfInfo *provision_from(const NvfmAddress *pfa, const NvfmProvisionOpts *po,
				  const NvfmLmFormat *lm_format, GError **error)
{
	g_autoptr(NvfmPf) p = nvfm_pf_open(pfa, error);
	g_autoptr(NvfmLmCaps) lm = NULL;

	if (!p)
		return NULL;
	/* a PF that cannot take the source's state gets no VF provisioned */
	if (lm_format) {
		lm = nvfm_pf_get_lm_caps(p, error);
		if (!lm || !nvfm_lm_format_accepted(lm_format, lm, error))
			return NULL;
	}
	return nvfm_pf_provision(p, po, error);
}

json_t *agent_do_provision(Session *s, json_t *args, GError **error)
{
	NvfmAgent *a = s->agent;
	gint64 idx, nvq, nvi;
	const char *lease = json_string_value(json_object_get(args, "lease"));
	json_t *lm_arg = json_object_get(args, "lm_format");
	g_autoptr(NvfmLmFormat) lm_format = NULL;
	g_autoptr(GPtrArray) pfs = NULL;
	g_autoptr(GString) why = g_string_new(NULL);
	g_autoptr(NvfmVfInfo) vf = NULL;
	g_autofree char *id = NULL;
	json_auto_t *rec = NULL;
	NvfmProvisionOpts po;

	if (!json_object_get(args, "pf")) {
		g_set_error(error, NVFM_ERROR, NVFM_ERROR_INVALID_ARG, "provision needs a pf");
		return NULL;
	}
	nvfm_provision_opts_init(&po);
	if (!nvfm_agent_arg_int(args, "vf_index", -1, 0xffff, po.vf_index, &idx, error) ||
	    !nvfm_agent_arg_int(args, "nvq", 0, 0xffff, 0, &nvq, error) ||
	    !nvfm_agent_arg_int(args, "nvi", 0, 0xffff, 0, &nvi, error))
		return NULL;
	po.vf_index = (int)idx;
	po.nvq = (guint)nvq;
	po.nvi = (guint)nvi;
	po.driver = json_string_value(json_object_get(args, "driver"));
	po.drivers = (const char *const *)a->drivers;
	po.require_migration = json_is_true(json_object_get(args, "require_migration"));
	po.lock_timeout_ms = a->timeout_ms;
	if (lease && strcmp(lease, "session") && strcmp(lease, "kept")) {
		g_set_error(error, NVFM_ERROR, NVFM_ERROR_INVALID_ARG,
			    "lease must be \"session\" or \"kept\", not \"%s\"", lease);
		return NULL;
	}
	if (lm_arg && !json_is_null(lm_arg) &&
	    !(lm_format = nvfm_lm_format_from_json(lm_arg, error))) {
		g_prefix_error(error, "provision: ");
		return NULL;
	}
	pfs = agent_placement_pfs(a, args, error);
	if (!pfs)
		return NULL;
	/* the first PF that gives the VF; one PF's refusal is its own */
	for (guint i = 0; i < pfs->len; i++) {
		const NvfmAddress *pfa = g_ptr_array_index(pfs, i);
		GError *e = NULL;

		vf = provision_from(pfa, &po, lm_format, &e);
		if (vf)
			break;
		if (pfs->len == 1) {
			g_propagate_error(error, e);
			return NULL;
		}
		g_string_append_printf(why, "%s%s: %s", why->len ? "; " : "", pfa->text, e->message);
		g_error_free(e);
	}
	if (!vf) {
		g_set_error(error, NVFM_ERROR, NVFM_ERROR_BUSY, "no PF can give the VF: %s", why->str);
		return NULL;
	}
	id = g_strdup_printf("r-%08x%08x", g_random_int(), g_random_int());
	rec = json_pack("{s:s, s:s, s:s, s:s?, s:i, s:i, s:s?, s:s, s:s, s:I}", "reservation", id,
			"pf", vf->pf, "vf", vf->address, "device",
			vf->device ? vf->device->text : NULL,
			"nvq", (int)vf->nvq, "nvi", (int)vf->nvi, "driver", vf->driver,
			"peer", s->peer, "identity", agent_identity(s),
			"created", (json_int_t)(g_get_real_time() / G_USEC_PER_SEC));
	json_object_set_new(rec, "lease", json_string(lease ? lease : "kept"));
	g_mutex_lock(&a->res_mu);
	if (!nvfm_ledger_put(a->ledger, id, rec, error)) {
		g_mutex_unlock(&a->res_mu);
		nvfm_vf_release(vf->vf, NULL);
		return NULL;
	}
	g_mutex_unlock(&a->res_mu);
	if (lease && !strcmp(lease, "session"))
		g_ptr_array_add(s->leases, g_strdup(id));
	agent_log_about(a, G_LOG_LEVEL_MESSAGE,
			&(const NvfmLogFields){ .vf = vf->address, .phase = "provision" },
			"reservation %s for %s: %s (%s, %u VQ, %u VI)", id,
		  s->peer, vf->address, vf->device ? vf->device->text : "no device", vf->nvq, vf->nvi);
	return json_incref(rec);
}

json_t *agent_reservation_keep(Session *s, const char *resv, GError **error)
{
	NvfmAgent *a = s->agent;
	json_auto_t *rec = agent_reservation_open(s, resv, error);
	gboolean ok;

	if (!rec)
		return NULL;
	json_object_set_new(rec, "lease", json_string("kept"));
	g_mutex_lock(&a->res_mu);
	ok = nvfm_ledger_put(a->ledger, resv, rec, error);
	g_mutex_unlock(&a->res_mu);
	if (!ok)
		return NULL;
	agent_log(a, G_LOG_LEVEL_MESSAGE, "reservation %s kept for %s", resv, s->peer);
	return json_incref(rec);
}

/* "keep": a reservation made with lease "session" outlives its connection
 * (the orchestrator says so just before its commit point, or with its
 * "receive"). */
json_t *agent_do_keep(Session *s, json_t *args, GError **error)
{
	const char *resv = json_string_value(json_object_get(args, "reservation"));

	if (!resv) {
		g_set_error(error, NVFM_ERROR, NVFM_ERROR_INVALID_ARG, "keep needs a reservation");
		return NULL;
	}
	return agent_reservation_keep(s, resv, error);
}

json_t *agent_do_release(Session *s, json_t *args, GError **error)
{
	NvfmAgent *a = s->agent;
	const char *resv = json_string_value(json_object_get(args, "reservation"));
	const char *vf = json_string_value(json_object_get(args, "vf"));
	g_autofree char *vf_addr = NULL;
	g_autoptr(NvfmAddress) vf_val = NULL;
	g_autoptr(GPtrArray) ids = NULL;
	json_auto_t *rec = NULL;

	if (resv) {
		rec = agent_reservation_open(s, resv, error);
		if (!rec)
			return NULL;
		vf_addr = g_strdup(json_string_value(json_object_get(rec, "vf")));
	} else if (vf) {
		vf_addr = g_strdup(vf);
	} else {
		g_set_error(error, NVFM_ERROR, NVFM_ERROR_INVALID_ARG,
			    "release needs a reservation or a vf");
		return NULL;
	}
	vf_val = nvfm_address_parse(vf_addr, error);
	/* a VF named by the peer rather than by our own record is checked */
	if (!vf_val || (!resv && !agent_may_use_device(a, vf_val, error)))
		return NULL;
	/* by VF: every reservation of it must be ours, and they are the
	 * records forgotten below, not whatever names the VF by then */
	if (resv) {
		ids = g_ptr_array_new_with_free_func(g_free);
		g_ptr_array_add(ids, g_strdup(resv));
	} else if (!(ids = agent_vf_reservations(s, vf_val, error))) {
		return NULL;
	}
	if (!nvfm_vf_release(vf_val, error))
		return NULL;
	g_mutex_lock(&a->res_mu);
	for (guint i = 0; i < ids->len; i++)
		nvfm_ledger_remove(a->ledger, g_ptr_array_index(ids, i), NULL);
	g_mutex_unlock(&a->res_mu);
	agent_log_about(a, G_LOG_LEVEL_MESSAGE,
			&(const NvfmLogFields){ .vf = vf_addr, .phase = "release" },
			"released %s%s%s%s for %s", vf_addr,
		  resv ? " (reservation " : "", resv ? resv : "", resv ? ")" : "", s->peer);
	if (resv)
		agent_log(a, G_LOG_LEVEL_INFO, "reservation %s closed", resv);
	return json_pack("{s:s, s:s?}", "vf", vf_addr, "reservation", resv);
}

/* The connection that made "session" reservations is gone: release those
 * not kept since (their orchestrator failed, was killed or lost the link). */
void agent_end_leases(Session *s)
{
	for (guint i = 0; s->leases && i < s->leases->len; i++) {
		const char *id = g_ptr_array_index(s->leases, i);
		json_auto_t *rec = agent_reservation_read(s->agent, id, NULL);
		json_auto_t *args = NULL;
		json_auto_t *res = NULL;
		g_autoptr(GError) err = NULL;

		if (!rec || g_strcmp0(json_string_value(json_object_get(rec, "lease")), "session"))
			continue;
		args = json_pack("{s:s}", "reservation", id);
		res = agent_do_release(s, args, &err);
		agent_log(s->agent, res ? G_LOG_LEVEL_MESSAGE : G_LOG_LEVEL_WARNING,
			  "reservation %s ended with its connection: %s%s", id,
			  res ? "released" : "release failed: ", res ? "" : err->message);
	}
}
