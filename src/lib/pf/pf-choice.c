// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * Choosing VFs across several PFs: order a list with the PFs on the
 * source VF's NUMA node first, provision from the first PF of a list that
 * can give one, tell a VF that was provisioned for a migration from a VF
 * of the same address that belongs to something else, and give back the
 * VFs of a list that are still provisioned. The libvirt hook and the
 * agent share these rules.
 */
#define G_LOG_DOMAIN "nvfm-pf"

#include <string.h>

#include "nvfm/ledger.h"
#include "pf-private.h"

static int numa_node_of(const NvfmAddress *addr)
{
	g_autoptr(NvfmPf) pf = nvfm_pf_open(addr, NULL);
	NvfmPfCaps caps;

	return pf && nvfm_pf_get_caps(pf, &caps, NULL) ? caps.numa_node : -1;
}

GPtrArray *nvfm_pfs_numa_first(GPtrArray *pfs, int numa_node)
{
	GPtrArray *out = g_ptr_array_new_with_free_func((GDestroyNotify)nvfm_address_free);
	guint n = pfs ? pfs->len : 0;
	g_autofree gboolean *near = g_new0(gboolean, n + 1);

	/* with one PF, or no node to prefer, nothing to ask the PFs */
	for (guint i = 0; numa_node >= 0 && n > 1 && i < n; i++)
		near[i] = numa_node_of(g_ptr_array_index(pfs, i)) == numa_node;
	for (int pass = 0; pass < 2; pass++) {
		for (guint i = 0; i < n; i++) {
			if (near[i] == (pass == 0))
				g_ptr_array_add(out, nvfm_address_copy(g_ptr_array_index(pfs, i)));
		}
	}
	return out;
}

NvfmVfInfo *nvfm_provision_from(GPtrArray *pfs, NvfmAddressKind kind,
				const NvfmProvisionOpts *opts, GError **error)
{
	g_autoptr(GString) why = g_string_new(NULL);
	g_autoptr(GPtrArray) order = nvfm_pfs_numa_first(pfs, opts ? opts->numa_node : -1);

	for (guint i = 0; i < order->len; i++) {
		const NvfmAddress *addr = g_ptr_array_index(order, i);
		g_autoptr(NvfmPf) pf = NULL;
		g_autoptr(GError) e = NULL;
		NvfmVfInfo *got;

		/* a VF is replaced by one of its own kind */
		if (addr->kind != kind)
			continue;
		pf = nvfm_pf_open(addr, &e);
		got = pf ? nvfm_pf_provision(pf, opts, &e) : NULL;
		if (got)
			return got;
		g_string_append_printf(why, "%s%s: %s", why->len ? "; " : "", addr->text, e->message);
	}
	if (!why->len)
		g_set_error(error, NVFM_ERROR, NVFM_ERROR_NOT_FOUND, "no %s PF is configured",
			    kind == NVFM_ADDR_EMU ? "emulated" : "PCI");
	else
		g_set_error(error, NVFM_ERROR, NVFM_ERROR_BUSY, "%s", why->str);
	return NULL;
}

NvfmVfInfo *nvfm_vf_reserved_for_migration(const NvfmAddress *vf, GPtrArray *pfs,
					   NvfmLedger *reservations)
{
	g_autoptr(NvfmVfInfo) info = nvfm_vf_lookup(vf, NULL);
	json_t *rec;

	/* an idle provisioned VF is not enough: this host may use the same
	 * address for a VF of its own; the reservation says it was made for
	 * a migration */
	if (!info || !info->online || info->in_use_by || !info->vf)
		return NULL;
	rec = nvfm_ledger_find_vf(reservations, info->vf, NULL);
	if (!rec)
		return NULL;
	json_decref(rec);
	for (guint i = 0; pfs && i < pfs->len; i++) {
		const NvfmAddress *addr = g_ptr_array_index(pfs, i);
		g_autoptr(NvfmPf) pf = NULL;

		if (addr->kind != vf->kind)
			continue;
		pf = nvfm_pf_open(addr, NULL);
		if (pf && g_strcmp0(nvfm_pf_address(pf), info->pf) == 0)
			return g_steal_pointer(&info);
	}
	return NULL;
}

GPtrArray *nvfm_vfs_online(GPtrArray *vfs, NvfmNoteFunc note, gpointer data, GError **error)
{
	g_autoptr(GPtrArray) out = g_ptr_array_new_with_free_func((GDestroyNotify)nvfm_address_free);

	for (guint i = 0; vfs && i < vfs->len; i++) {
		const NvfmAddress *vf = g_ptr_array_index(vfs, i);
		g_autoptr(NvfmVfInfo) info = NULL;
		g_autoptr(GError) e = NULL;

		info = nvfm_vf_lookup(vf, &e);
		if (!info) {
			if (!g_error_matches(e, NVFM_ERROR, NVFM_ERROR_NOT_FOUND)) {
				g_propagate_prefixed_error(error, g_steal_pointer(&e), "%s: ", vf->text);
				return NULL;
			}
			note(data, "VF %s: not an NVMe VF of this host, left alone", vf->text);
			continue;
		}
		/* released already: a repeated call does nothing */
		if (info->online)
			g_ptr_array_add(out, nvfm_address_copy(vf));
	}
	return g_steal_pointer(&out);
}

gboolean nvfm_vfs_release_online(GPtrArray *vfs, NvfmNoteFunc note, gpointer data,
				 GError **error)
{
	g_autoptr(GPtrArray) todo = nvfm_vfs_online(vfs, note, data, error);
	g_autoptr(GError) first = NULL;

	for (guint i = 0; todo && i < todo->len; i++) {
		const NvfmAddress *vf = g_ptr_array_index(todo, i);
		g_autoptr(GError) e = NULL;

		if (nvfm_vf_release(vf, &e)) {
			note(data, "released VF %s", vf->text);
			continue;
		}
		/* try them all; report the first failure */
		g_prefix_error(&e, "releasing %s: ", vf->text);
		if (!first)
			first = g_steal_pointer(&e);
		else
			note(data, "%s", e->message);
	}
	if (first)
		g_propagate_error(error, g_steal_pointer(&first));
	return todo && !first;
}
