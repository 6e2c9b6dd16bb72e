/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * What a peer may name on this agent (docs/agent.md, "What a peer may
 * touch"): VFs of the agent's PFs, the VFs it reserved itself, and
 * emulated devices only when the agent was started with --emu. Every
 * request that opens a device or a PF asks here first, so a refusal comes
 * before anything is opened, inspected or reset.
 */
#define G_LOG_DOMAIN "nvfm-agent"

#include <stdarg.h>
#include <string.h>

#include "agent-server.h"
#include "nvfm/emu.h"
#include "util/sysfs.h"

/* The default limit on an emulated state a peer may send: enough for any
 * device the demo and the tests make, and a bound on what lands in /run. */
#define DEFAULT_MAX_EMU_STATE (1ull << 30)

gboolean agent_scope_init(NvfmAgent *a, const NvfmAgentOptions *opts, GError **error)
{
	static const char *const none[] = { NULL };

	a->emu = opts->emu;
	a->drivers = g_strdupv((char **)(opts->drivers ? opts->drivers : none));
	a->max_emu_state = opts->max_emu_state ? opts->max_emu_state : DEFAULT_MAX_EMU_STATE;
	if (opts->pfs && opts->pfs[0]) {
		a->pfs = g_ptr_array_new_with_free_func((GDestroyNotify)nvfm_address_free);
		for (guint i = 0; opts->pfs[i]; i++) {
			const NvfmAddress *pf = opts->pfs[i];

			if (pf->kind != NVFM_ADDR_PCI && pf->kind != NVFM_ADDR_EMU) {
				g_set_error(error, NVFM_ERROR, NVFM_ERROR_INVALID_ARG,
					    "PF %s is neither a PCI address nor emu:NAME", pf->text);
				return FALSE;
			}
			if (pf->kind == NVFM_ADDR_EMU && !a->emu) {
				g_set_error(error, NVFM_ERROR, NVFM_ERROR_INVALID_ARG,
					    "PF %s is emulated: serving it needs --emu", pf->text);
				return FALSE;
			}
			g_ptr_array_add(a->pfs, nvfm_address_copy(pf));
		}
	}
	/* also for a fixed emulated target ("receive emu:NAME") */
	nvfm_emu_set_max_load(a->max_emu_state);
	agent_log(a, G_LOG_LEVEL_INFO, "peers may use the VFs of %s; emulated devices %s",
		  a->pfs ? "the PFs given with --pf" : "every NVMe PF with SR-IOV",
		  a->emu ? "on (--emu)" : "off");
	return TRUE;
}

void agent_scope_clear(NvfmAgent *a)
{
	g_clear_pointer(&a->pfs, g_ptr_array_unref);
	g_clear_pointer(&a->drivers, g_strfreev);
}

/* One line for every refusal, naming what was asked and why. */
static gboolean refuse(GError **error, const char *fmt, ...) G_GNUC_PRINTF(2, 3);

static gboolean refuse(GError **error, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	g_propagate_error(error, g_error_new_valist(NVFM_ERROR, NVFM_ERROR_PERMISSION, fmt, ap));
	va_end(ap);
	return FALSE;
}

static gboolean emu_on(NvfmAgent *a, const NvfmAddress *addr, GError **error)
{
	return a->emu || refuse(error, "%s: emulated devices are off on this agent "
				"(start it with --emu to serve them)", addr->text);
}

/* A PCI PF this agent serves: one of --pf, or without --pf any NVMe PF
 * with SR-IOV that sysfs shows now. */
static gboolean pci_pf_served(NvfmAgent *a, const char *pci)
{
	g_autoptr(GPtrArray) found = NULL;

	if (a->pfs) {
		for (guint i = 0; i < a->pfs->len; i++) {
			const NvfmAddress *pf = g_ptr_array_index(a->pfs, i);

			if (pf->kind == NVFM_ADDR_PCI && g_str_equal(pf->pci, pci))
				return TRUE;
		}
		return FALSE;
	}
	found = g_ptr_array_new_with_free_func(g_free);
	if (nvfm_pci_list_nvme_pfs(found) < 0)
		return FALSE;
	for (guint i = 0; i < found->len; i++)
		if (g_str_equal(g_ptr_array_index(found, i), pci))
			return TRUE;
	return FALSE;
}

gboolean agent_may_use_pf(NvfmAgent *a, const NvfmAddress *pf, GError **error)
{
	if (pf->kind == NVFM_ADDR_EMU && !emu_on(a, pf, error))
		return FALSE;
	if (pf->kind == NVFM_ADDR_EMU && !a->pfs)
		return TRUE;
	if (pf->kind == NVFM_ADDR_EMU) {
		for (guint i = 0; i < a->pfs->len; i++)
			if (nvfm_address_equal(g_ptr_array_index(a->pfs, i), pf))
				return TRUE;
	} else if (pf->kind == NVFM_ADDR_PCI && pci_pf_served(a, pf->pci)) {
		return TRUE;
	}
	return refuse(error, "%s is not a PF this agent serves (%s)", pf->text,
		      a->pfs ? "see its --pf" : "not an NVMe PF with SR-IOV");
}

static gboolean reserved_here(NvfmAgent *a, const NvfmAddress *dev)
{
	json_t *rec;

	g_mutex_lock(&a->res_mu);
	rec = nvfm_ledger_find_vf(a->ledger, dev, NULL);
	g_mutex_unlock(&a->res_mu);
	json_decref(rec);
	return rec != NULL;
}

gboolean agent_may_use_device(NvfmAgent *a, const NvfmAddress *dev, GError **error)
{
	g_autofree char *pf = NULL;

	if (dev->kind == NVFM_ADDR_EMU)
		return emu_on(a, dev, error);
	if (dev->kind != NVFM_ADDR_PCI)
		return refuse(error, "%s: a peer may name only VFs and emulated devices",
			      dev->text);
	if (reserved_here(a, dev))
		return TRUE;
	if (nvfm_pci_physfn(dev->pci, &pf) < 0)
		return refuse(error, "%s is not a VF of this host (no physfn): a peer may "
			      "name only the VFs of this agent's PFs", dev->text);
	if (!pci_pf_served(a, pf))
		return refuse(error, "%s is a VF of %s, which is not a PF this agent serves (%s)",
			      dev->text, pf, a->pfs ? "see its --pf" : "not an NVMe PF with SR-IOV");
	return TRUE;
}
