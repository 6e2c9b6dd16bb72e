// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * Where a destination VF may come from. A request names one PF ("pf": a
 * string) or several in order of preference (an array); each must be one
 * this agent serves. Those on the source VF's NUMA node ("numa_node", when
 * the client knows it) come first, the rest keep their order: the PF
 * library's nvfm_pfs_numa_first(), which the libvirt hook's provisioning
 * shares. Preflight and provision walk the same list and take the first
 * PF that can give the VF.
 */
#define G_LOG_DOMAIN "nvfm-agent"

#include "nvfm/error.h"
#include "nvfm/pf.h"
#include "agent-server.h"

/* At most this many PFs in one request. */
#define MAX_PFS 16

static gboolean add_pf(NvfmAgent *a, GPtrArray *out, json_t *name, GError **error)
{
	NvfmAddress *pfa;

	if (!json_is_string(name)) {
		g_set_error(error, NVFM_ERROR, NVFM_ERROR_INVALID_ARG,
			    "pf must be a PF's address or a list of them");
		return FALSE;
	}
	pfa = nvfm_address_parse_pf(json_string_value(name), error);
	if (!pfa)
		return FALSE;
	g_ptr_array_add(out, pfa);
	/* a PF this agent does not serve is refused, not inspected */
	return agent_may_use_pf(a, pfa, error);
}

GPtrArray *agent_placement_pfs(NvfmAgent *a, json_t *args, GError **error)
{
	g_autoptr(GPtrArray) named = g_ptr_array_new_with_free_func((GDestroyNotify)nvfm_address_free);
	json_t *pf = json_object_get(args, "pf");
	json_t *name;
	gint64 numa;
	gsize i;

	if (!nvfm_agent_arg_int(args, "numa_node", -1, 1 << 16, -1, &numa, error))
		return NULL;
	if (json_is_array(pf)) {
		if (json_array_size(pf) == 0 || json_array_size(pf) > MAX_PFS) {
			g_set_error(error, NVFM_ERROR, NVFM_ERROR_INVALID_ARG,
				    "pf must list 1 to %d PFs", MAX_PFS);
			return NULL;
		}
		json_array_foreach(pf, i, name) {
			if (!add_pf(a, named, name, error))
				return NULL;
		}
	} else if (!add_pf(a, named, pf, error)) {
		return NULL;
	}
	/* the source's NUMA node first; with one PF or none known, as named */
	return nvfm_pfs_numa_first(named, (int)numa);
}
