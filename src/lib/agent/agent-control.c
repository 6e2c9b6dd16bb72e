/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The agent's control requests that change nothing: "status" and
 * "preflight".
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

/* ---- control requests ---- */

/* Another identity's migrations and reservations are only counted:
 * their peers, devices and ids are theirs (agent-owner.c). */
json_t *agent_do_status(Session *s, json_t *args, GError **error)
{
	NvfmAgent *a = s->agent;
	json_t *migs = json_array();
	json_t *res = json_array();
	g_autoptr(GPtrArray) ids = NULL;
	guint n_sessions, n_preauth, other_migs = 0, other_res = 0;

	g_mutex_lock(&a->mu);
	agent_count_locked(a, &n_sessions, &n_preauth);
	for (guint i = 0; i < a->sessions->len; i++) {
		Session *o = g_ptr_array_index(a->sessions, i);

		if (!o->mig_id)
			continue;
		if (s->admin || strcmp(agent_identity(o), agent_identity(s)) == 0)
			json_array_append_new(migs, agent_migration_json(o));
		else
			other_migs++;
	}
	g_mutex_unlock(&a->mu);
	g_mutex_lock(&a->res_mu);
	ids = nvfm_ledger_ids(a->ledger);
	for (guint i = 0; i < ids->len; i++) {
		json_t *r = nvfm_ledger_get(a->ledger, g_ptr_array_index(ids, i), NULL);

		if (!r)
			continue;
		if (agent_owns(s, r)) {
			json_array_append_new(res, r);
		} else {
			other_res++;
			json_decref(r);
		}
	}
	g_mutex_unlock(&a->res_mu);
	return json_pack("{s:s, s:s, s:s, s:s, s:b, s:b, s:i, s:i, s:i, s:o, s:o, s:i, s:i, s:s, "
			 "s:b, s:s?}",
			 "host", g_get_host_name(), "version", NVFM_VERSION, "address",
			 nvfm_agent_get_address(a), "runtime_dir", a->runtime_dir,
			 "tls", a->tls != NULL, "verify", a->verify,
			 "sessions", (int)n_sessions, "max_sessions", (int)a->max_sessions,
			 "unauthenticated", (int)n_preauth,
			 "migrations", migs, "reservations", res,
			 "other_migrations", (int)other_migs, "other_reservations", (int)other_res,
			 "identity", agent_identity(s), "admin", s->admin,
			 "fixed_target", a->fixed_target ? a->fixed_target->text : NULL);
}

static void add_check(json_t *checks, const char *name, gboolean ok, const char *detail)
{
	json_array_append_new(checks, json_pack("{s:s, s:b, s:s}", "check", name, "ok", ok,
						"detail", detail));
}

/* The most of a resource one VF can get now (a PF that states no
 * per-VF maximum: all that is free). */
static guint32 can_give(const NvfmPfResource *r)
{
	return r->max_per_vf ? MIN(r->free, r->max_per_vf) : r->free;
}

/* The checks of one candidate PF into @checks; whether all passed, and
 * then its resources in @caps. */
static gboolean pf_checks(const NvfmAddress *pfa, gint64 nvq, gint64 nvi,
			  const NvfmLmFormat *lm_format, json_t *checks, NvfmPfCaps *caps)
{
	g_autoptr(GError) err = NULL;
	g_autoptr(NvfmPf) p = nvfm_pf_open(pfa, &err);
	g_autoptr(NvfmVfInfo) vf = NULL;
	gboolean ok = p && nvfm_pf_get_caps(p, caps, &err);
	gboolean all = ok;

	add_check(checks, "pf", ok, ok ? nvfm_pf_address(p) : err->message);
	if (!ok)
		return FALSE;
	if (lm_format) {
		g_autoptr(NvfmLmCaps) lm = nvfm_pf_get_lm_caps(p, &err);
		gboolean lm_ok = lm && nvfm_lm_format_accepted(lm_format, lm, &err);
		g_autofree char *d = NULL;

		if (lm_ok)
			d = g_strdup_printf("PF %s takes NVMe controller state version %u%s%s",
					    nvfm_pf_address(p), lm_format->version,
					    lm_format->uuid ? ", vendor format " : "",
					    lm_format->uuid ? lm_format->uuid : "");
		add_check(checks, "lm-format", lm_ok, lm_ok ? d : err->message);
		all &= lm_ok;
		g_clear_error(&err);
	}
	vf = nvfm_pf_find_free_vf(p, &err);
	add_check(checks, "free-vf", vf != NULL, vf ? vf->address : err->message);
	all &= vf != NULL;
	if (nvq > 0 || nvi > 0) {
		g_autofree char *d = g_strdup_printf("%u VQ and %u VI free, at most %u VQ and %u VI "
						     "per VF, %" G_GINT64_FORMAT " VQ and %"
						     G_GINT64_FORMAT " VI needed",
						     caps->vq.free, caps->vi.free, caps->vq.max_per_vf,
						     caps->vi.max_per_vf, nvq, nvi);
		gboolean enough = (guint64)nvq <= can_give(&caps->vq) &&
				  (guint64)nvi <= can_give(&caps->vi);

		add_check(checks, "resources", enough, d);
		all &= enough;
	}
	return all;
}

/* The candidates in order (agent-placement.c): the first that passes every
 * check is the plan, and its checks are the answer. When none does, every
 * candidate's checks, each detail naming its PF (one PF: as they are). */
static gboolean placement_checks(GPtrArray *pfs, gint64 nvq, gint64 nvi,
				 const NvfmLmFormat *lm_format, json_t *checks, json_t **plan)
{
	json_auto_t *all = json_array();

	for (guint i = 0; i < pfs->len; i++) {
		const NvfmAddress *pfa = g_ptr_array_index(pfs, i);
		json_auto_t *mine = json_array();
		NvfmPfCaps caps;
		json_t *c;
		gsize k;

		if (pf_checks(pfa, nvq, nvi, lm_format, mine, &caps)) {
			json_array_extend(checks, mine);
			*plan = json_pack("{s:s, s:I, s:I, s:i, s:i, s:i, s:i}", "pf", pfa->text,
					  "nvq", (json_int_t)nvq, "nvi", (json_int_t)nvi,
					  "numa_node", caps.numa_node, "free_vq", (int)caps.vq.free,
					  "free_vi", (int)caps.vi.free, "candidates", (int)pfs->len);
			return TRUE;
		}
		json_array_foreach(mine, k, c) {
			if (pfs->len > 1) {
				g_autofree char *d = g_strdup_printf("%s: %s", pfa->text,
					json_string_value(json_object_get(c, "detail")));

				json_object_set_new(c, "detail", json_string(d));
			}
			json_array_append(all, c);
		}
	}
	json_array_extend(checks, all);
	return FALSE;
}

json_t *agent_do_preflight(Session *s, json_t *args, GError **error)
{
	NvfmAgent *a = s->agent;
	json_t *checks = json_array();
	json_t *compat = json_object_get(args, "compat");
	const char *target = json_string_value(json_object_get(args, "target"));
	json_t *pf = json_object_get(args, "pf");
	gint64 nvq, nvi;
	json_t *lm_arg = json_object_get(args, "lm_format");
	g_autoptr(NvfmLmFormat) lm_format = NULL;
	g_autoptr(GPtrArray) pfs = NULL;
	json_t *plan = NULL;
	json_t *target_compat = NULL;
	gboolean all = TRUE;

	if (compat && !json_is_object(compat)) {
		json_decref(checks);
		g_set_error(error, NVFM_ERROR, NVFM_ERROR_INVALID_ARG,
			    "preflight: compat must be an object");
		return NULL;
	}
	if (!nvfm_agent_arg_int(args, "nvq", 0, 0xffff, 0, &nvq, error) ||
	    !nvfm_agent_arg_int(args, "nvi", 0, 0xffff, 0, &nvi, error)) {
		json_decref(checks);
		g_prefix_error(error, "preflight: ");
		return NULL;
	}
	if (lm_arg && !json_is_null(lm_arg) &&
	    !(lm_format = nvfm_lm_format_from_json(lm_arg, error))) {
		json_decref(checks);
		g_prefix_error(error, "preflight: ");
		return NULL;
	}
	if (!target && !pf && a->fixed_target)
		target = a->fixed_target->text;
	if (!target && !pf) {
		json_decref(checks);
		g_set_error(error, NVFM_ERROR, NVFM_ERROR_INVALID_ARG,
			    "preflight needs a target device or a PF");
		return NULL;
	}
	if (pf) {
		pfs = agent_placement_pfs(a, args, error);
		if (!pfs) {
			json_decref(checks);
			g_prefix_error(error, "preflight: ");
			return NULL;
		}
	}
	if (target) {
		g_autoptr(GError) err = NULL;
		g_autoptr(NvfmAddress) t = NULL;
		g_autoptr(NvfmDevice) dev = NULL;
		json_auto_t *dst = NULL;
		json_auto_t *targs = json_pack("{s:s}", "target", target);

		t = agent_resolve_target(s, targs, &err);
		if (!t && g_error_matches(err, NVFM_ERROR, NVFM_ERROR_PERMISSION)) {
			json_decref(checks);
			g_propagate_prefixed_error(error, g_steal_pointer(&err), "preflight: ");
			return NULL;
		}
		dev = t ? nvfm_device_open(t, &err) : NULL;
		add_check(checks, "target-available", dev != NULL,
			  dev ? t->text : err->message);
		all &= dev != NULL;
		if (dev) {
			dst = nvfm_device_compat_block(dev, &err);
			add_check(checks, "target-migration", dst != NULL,
				  dst ? "VFIO migration supported" : err->message);
			all &= dst != NULL;
		}
		if (dst)
			target_compat = json_incref(dst);
		if (dst && compat) {
			gboolean ok = nvfm_compat_check(compat, dst, &err);

			add_check(checks, "compatible", ok, ok ? "source and target match" :
				  err->message);
			all &= ok;
		}
	}
	if (pfs)
		all &= placement_checks(pfs, nvq, nvi, lm_format, checks, &plan);
	/* the target's own block tells the orchestrator its state size */
	return json_pack("{s:b, s:o, s:o*, s:o*}", "ok", all, "checks", checks, "target_compat",
			 target_compat, "plan", plan);
}
