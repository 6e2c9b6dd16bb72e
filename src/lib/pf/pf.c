/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * PF/VF provisioning: the generic steps above the PF ops table (the
 * kernel PF in pf-kernel.c, the emulated one in emu-pf.c) and the PF lock.
 *
 * Nothing is cached: each call reads the secondary controllers from the
 * device and the VFs from sysfs, so the answer is always the device's.
 * The order of the provisioning steps follows what NVMe devices demand:
 * resources can only be assigned while a secondary controller is offline,
 * and (on QEMU's emulation at least) it can only go online once its VF
 * exists, so VFs are enabled between assign and online, with driver
 * autoprobe off so no driver touches a VF whose controller is offline.
 */
#define G_LOG_DOMAIN "nvfm-pf"

#include <fcntl.h>
#include <stdarg.h>
#include <string.h>
#include <sys/file.h>

#include "pf-private.h"
#include "util/sysfs.h"

#define PF_LOCK_TIMEOUT_MS 30000
#define PF_LOCK_POLL_US 10000

/* ---- small types ------------------------------------------------------ */

void nvfm_vf_func_clear(NvfmVfFunc *f)
{
	g_clear_pointer(&f->address, g_free);
	g_clear_pointer(&f->vf, nvfm_address_free);
	g_clear_pointer(&f->driver, g_free);
	g_clear_pointer(&f->driver_override, g_free);
	g_clear_pointer(&f->iommu_group, g_free);
	g_clear_pointer(&f->vfio_device, g_free);
	g_clear_pointer(&f->device, nvfm_address_free);
	g_clear_pointer(&f->in_use_by, g_free);
	f->enabled = FALSE;
}

void nvfm_vf_info_free(NvfmVfInfo *info)
{
	if (!info)
		return;
	g_free(info->pf);
	g_free(info->address);
	nvfm_address_free(info->vf);
	g_free(info->driver);
	g_free(info->driver_override);
	g_free(info->iommu_group);
	g_free(info->vfio_device);
	nvfm_address_free(info->device);
	g_free(info->in_use_by);
	g_free(info);
}

gboolean nvfm_vf_info_is_free(const NvfmVfInfo *info)
{
	return info && !info->online && !info->in_use_by;
}

void nvfm_provision_opts_init(NvfmProvisionOpts *opts)
{
	memset(opts, 0, sizeof(*opts));
	opts->vf_index = -1;
	opts->numa_node = -1;
}

void nvfm_provision_opts_like(NvfmProvisionOpts *opts, const NvfmVfInfo *source)
{
	opts->nvq = source->nvq;
	opts->nvi = source->nvi;
}

/* ---- opening ---------------------------------------------------------- */

NvfmPf *nvfm_pf_open(const NvfmAddress *address, GError **error)
{
	g_autoptr(NvfmPf) pf = g_new0(NvfmPf, 1);

	pf->admin_fd = -1;
	pf->lock_fd = -1;
	if (!address) {
		g_set_error(error, NVFM_ERROR, NVFM_ERROR_INVALID_ARG, "no PF address given");
		return NULL;
	}
	switch (address->kind) {
	case NVFM_ADDR_EMU:
		pf->address = g_strdup(address->text);
		if (!nvfm_emu_pf_open(pf, address->emu, error))
			return NULL;
		break;
	case NVFM_ADDR_PCI:
		if (!nvfm_kernel_pf_open(pf, address->pci, error))
			return NULL;
		break;
	default:
		g_set_error(error, NVFM_ERROR, NVFM_ERROR_INVALID_ARG,
			    "%s is not a PF address (expected DDDD:BB:DD.F or emu:NAME)",
			    address->text);
		return NULL;
	}
	return g_steal_pointer(&pf);
}

void nvfm_pf_close(NvfmPf *pf)
{
	if (!pf)
		return;
	if (pf->ops && pf->ops->close)
		pf->ops->close(pf);
	nvfm_close_fd(&pf->lock_fd);
	nvfm_close_fd(&pf->admin_fd);
	g_free(pf->address);
	g_free(pf);
}

const char *nvfm_pf_address(NvfmPf *pf)
{
	return pf->address;
}

char **nvfm_pf_list(GError **error)
{
	g_autoptr(GPtrArray) out = g_ptr_array_new_with_free_func(g_free);
	g_auto(GStrv) emu = NULL;

	/* a host without PCI (a container) simply has no kernel PFs */
	nvfm_pci_list_nvme_pfs(out);
	emu = nvfm_emu_pf_list(error);
	if (!emu)
		return NULL;
	for (guint i = 0; emu[i]; i++)
		g_ptr_array_add(out, g_strconcat("emu:", emu[i], NULL));
	g_ptr_array_add(out, NULL);
	return (char **)g_ptr_array_free(g_steal_pointer(&out), FALSE);
}

/* ---- the PF lock -------------------------------------------------------- */

gboolean nvfm_pf_lock(NvfmPf *pf, int timeout_ms, GError **error)
{
	g_autofree char *path = NULL, *dir = NULL;
	gint64 deadline;
	int fd;

	if (pf->lock_depth++ > 0)
		return TRUE;
	path = pf->ops->lock_path(pf);
	dir = g_path_get_dirname(path);
	if (!nvfm_private_dir(dir, error)) {
		pf->lock_depth--;
		g_prefix_error(error, "PF lock: ");
		return FALSE;
	}
	fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (fd < 0) {
		int err = errno;

		pf->lock_depth--;
		nvfm_set_error_errno(error, -err, "cannot open the lock file %s", path);
		return FALSE;
	}
	if (timeout_ms <= 0)
		timeout_ms = PF_LOCK_TIMEOUT_MS;
	deadline = nvfm_now_us() + (gint64)timeout_ms * 1000;
	while (flock(fd, LOCK_EX | LOCK_NB) < 0) {
		int err = errno;

		if (err == EINTR)
			continue;
		if (err != EWOULDBLOCK || nvfm_now_us() >= deadline) {
			close(fd);
			pf->lock_depth--;
			if (err == EWOULDBLOCK)
				g_set_error(error, NVFM_ERROR, NVFM_ERROR_TIMEOUT,
					    "PF %s is busy: another provisioning held %s for %d ms",
					    pf->address, path, timeout_ms);
			else
				nvfm_set_error_errno(error, -err, "cannot lock %s", path);
			return FALSE;
		}
		g_usleep(PF_LOCK_POLL_US);
	}
	pf->lock_fd = fd;
	return TRUE;
}

void nvfm_pf_unlock(NvfmPf *pf)
{
	if (pf->lock_depth == 0 || --pf->lock_depth > 0)
		return;
	/* the file stays: removing it would race with a waiter */
	nvfm_close_fd(&pf->lock_fd);
}

/* ---- reading ---------------------------------------------------------- */

typedef struct {
	NvfmPrimaryCaps prim;
	GArray *sec;		/* NvfmSecCtrl */
	guint total_vfs, num_vfs;
	gboolean autoprobe;
} PfState;

static void pf_state_clear(PfState *s)
{
	if (s->sec)
		g_array_unref(s->sec);
	memset(s, 0, sizeof(*s));
}

G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC(PfState, pf_state_clear)

static gboolean pf_read(NvfmPf *pf, PfState *s, GError **error)
{
	pf_state_clear(s);
	s->sec = g_array_new(FALSE, TRUE, sizeof(NvfmSecCtrl));
	return pf->ops->identify_primary(pf, &s->prim, error) &&
	       pf->ops->list_secondary(pf, s->sec, error) &&
	       pf->ops->sriov_get(pf, &s->total_vfs, &s->num_vfs, &s->autoprobe, error);
}

/* the secondary controller behind VF @index, or NULL */
static const NvfmSecCtrl *sec_for_index(const PfState *s, guint index)
{
	for (guint i = 0; i < s->sec->len; i++) {
		const NvfmSecCtrl *c = &g_array_index(s->sec, NvfmSecCtrl, i);

		if (c->vfn == index + 1)
			return c;
	}
	return NULL;
}

static void fill_resource(NvfmPfResource *r, guint32 total, guint32 assigned, guint32 primary,
			  guint32 priv, guint32 max, guint32 gran)
{
	r->total = total;
	r->assigned = assigned;
	r->primary = primary;
	r->private_total = priv;
	r->max_per_vf = max;
	r->granularity = gran;
	r->free = total > assigned + primary ? total - assigned - primary : 0;
}

static int pf_numa_node(NvfmPf *pf)
{
	return pf->ops->numa_node ? pf->ops->numa_node(pf) : -1;
}

static void caps_from_state(const PfState *s, NvfmPfCaps *out)
{
	memset(out, 0, sizeof(*out));
	out->cntlid = s->prim.cntlid;
	fill_resource(&out->vq, s->prim.vqfrt, s->prim.vqrfa, s->prim.vqrfap, s->prim.vqprt,
		      s->prim.vqfrsm, s->prim.vqgran);
	fill_resource(&out->vi, s->prim.vifrt, s->prim.virfa, s->prim.virfap, s->prim.viprt,
		      s->prim.vifrsm, s->prim.vigran);
	out->total_vfs = s->total_vfs;
	out->num_vfs = s->num_vfs;
	out->autoprobe = s->autoprobe;
	for (guint i = 0; i < s->sec->len; i++) {
		const NvfmSecCtrl *c = &g_array_index(s->sec, NvfmSecCtrl, i);

		out->n_secondary++;
		out->n_online += c->scs & 1;
	}
}

static NvfmVfInfo *vf_info_new(NvfmPf *pf, const NvfmSecCtrl *c, NvfmVfFunc *f)
{
	NvfmVfInfo *v = g_new0(NvfmVfInfo, 1);

	v->pf = g_strdup(pf->address);
	v->index = c->vfn - 1;
	v->scid = c->scid;
	v->online = c->scs & 1;
	v->nvq = c->nvq;
	v->nvi = c->nvi;
	v->enabled = f->enabled;
	v->address = g_steal_pointer(&f->address);
	v->vf = g_steal_pointer(&f->vf);
	v->driver = g_steal_pointer(&f->driver);
	v->driver_override = g_steal_pointer(&f->driver_override);
	v->iommu_group = g_steal_pointer(&f->iommu_group);
	v->vfio_device = g_steal_pointer(&f->vfio_device);
	v->device = g_steal_pointer(&f->device);
	v->in_use_by = g_steal_pointer(&f->in_use_by);
	v->numa_node = pf_numa_node(pf);
	return v;
}

static NvfmVfInfo *vf_info_read(NvfmPf *pf, const NvfmSecCtrl *c, GError **error)
{
	g_auto(NvfmVfFunc) f = { 0 };

	if (!pf->ops->vf_func(pf, c->vfn - 1, &f, error))
		return NULL;
	return vf_info_new(pf, c, &f);
}

gboolean nvfm_pf_get_caps(NvfmPf *pf, NvfmPfCaps *out, GError **error)
{
	g_auto(PfState) s = { 0 };

	if (!pf_read(pf, &s, error))
		return FALSE;
	caps_from_state(&s, out);
	out->numa_node = pf_numa_node(pf);
	return TRUE;
}

static gint cmp_vf_index(gconstpointer a, gconstpointer b)
{
	const NvfmVfInfo *x = *(NvfmVfInfo *const *)a, *y = *(NvfmVfInfo *const *)b;

	return x->index < y->index ? -1 : x->index > y->index;
}

static GPtrArray *list_vfs(NvfmPf *pf, const PfState *s, GError **error)
{
	g_autoptr(GPtrArray) out = g_ptr_array_new_with_free_func((GDestroyNotify)nvfm_vf_info_free);

	for (guint i = 0; i < s->sec->len; i++) {
		const NvfmSecCtrl *c = &g_array_index(s->sec, NvfmSecCtrl, i);
		NvfmVfInfo *v;

		/* a secondary controller without a VF cannot be assigned */
		if (c->vfn == 0)
			continue;
		v = vf_info_read(pf, c, error);
		if (!v)
			return NULL;
		g_ptr_array_add(out, v);
	}
	g_ptr_array_sort(out, cmp_vf_index);
	return g_steal_pointer(&out);
}

GPtrArray *nvfm_pf_list_vfs(NvfmPf *pf, GError **error)
{
	g_auto(PfState) s = { 0 };

	if (!pf_read(pf, &s, error))
		return NULL;
	return list_vfs(pf, &s, error);
}

static NvfmVfInfo *find_free(NvfmPf *pf, const PfState *s, GError **error)
{
	g_autoptr(GPtrArray) vfs = list_vfs(pf, s, error);
	guint busy = 0;

	if (!vfs)
		return NULL;
	for (guint i = 0; i < vfs->len; i++) {
		if (nvfm_vf_info_is_free(vfs->pdata[i]))
			return g_ptr_array_steal_index(vfs, i);
		busy++;
	}
	g_set_error(error, NVFM_ERROR, NVFM_ERROR_BUSY, "no free VF on PF %s (%u of %u in use)",
		    pf->address, busy, vfs->len);
	return NULL;
}

NvfmVfInfo *nvfm_pf_find_free_vf(NvfmPf *pf, GError **error)
{
	g_auto(PfState) s = { 0 };

	if (!pf_read(pf, &s, error))
		return NULL;
	return find_free(pf, &s, error);
}

/* ---- provisioning ------------------------------------------------------- */

/* An even share of the pool, within what one controller may hold and
 * what is left, but never below what a controller needs to come up. */
static guint default_amount(const NvfmPfResource *r, guint n_secondary, guint avail, guint min)
{
	guint share = n_secondary ? r->total / n_secondary : r->total;

	if (r->max_per_vf && share > r->max_per_vf)
		share = r->max_per_vf;
	if (share > avail)
		share = avail;
	return MAX(share, min);
}

static gboolean check_amount(NvfmPf *pf, const char *kind, const char *why, guint want,
			     guint min, guint max, guint avail, guint total, GError **error)
{
	if (want < min) {
		g_set_error(error, NVFM_ERROR, NVFM_ERROR_INVALID_ARG,
			    "a secondary controller needs at least %u %s resource%s (%s), %u requested",
			    min, kind, min == 1 ? "" : "s", why, want);
		return FALSE;
	}
	if (want > 0xffff || (max && want > max)) {
		g_set_error(error, NVFM_ERROR, NVFM_ERROR_INVALID_ARG,
			    "%u %s resources requested, but PF %s allows at most %u per secondary controller",
			    want, kind, pf->address, max);
		return FALSE;
	}
	if (want > avail) {
		g_set_error(error, NVFM_ERROR, NVFM_ERROR_BUSY,
			    "%u %s resources requested, but only %u of %u are free on PF %s", want,
			    kind, avail, total, pf->address);
		return FALSE;
	}
	return TRUE;
}

/* Whether the PF's VFs can be disabled: no secondary controller online
 * (other than @except) and no VF bound to a driver. */
static gboolean vfs_idle(NvfmPf *pf, const PfState *s, int except)
{
	for (guint i = 0; i < s->sec->len; i++) {
		const NvfmSecCtrl *c = &g_array_index(s->sec, NvfmSecCtrl, i);
		g_auto(NvfmVfFunc) f = { 0 };

		if (c->vfn == 0 || (int)c->vfn - 1 == except)
			continue;
		if (c->scs & 1)
			return FALSE;
		if (!pf->ops->vf_func(pf, c->vfn - 1, &f, NULL) || f.driver || f.in_use_by)
			return FALSE;
	}
	return TRUE;
}

/* Takes the controller offline, which also hands its resources back on
 * QEMU; assigning 0 makes sure on devices that keep them. */
static gboolean offline_and_drain(NvfmPf *pf, guint16 scid, GError **error)
{
	g_autoptr(GArray) sec = g_array_new(FALSE, TRUE, sizeof(NvfmSecCtrl));

	if (!pf->ops->virt_mgmt(pf, NVFM_VIRT_ACT_OFFLINE, 0, scid, 0, error) ||
	    !pf->ops->list_secondary(pf, sec, error))
		return FALSE;
	for (guint i = 0; i < sec->len; i++) {
		const NvfmSecCtrl *c = &g_array_index(sec, NvfmSecCtrl, i);

		if (c->scid != scid)
			continue;
		if (c->nvq && !pf->ops->virt_mgmt(pf, NVFM_VIRT_ACT_ASSIGN, NVFM_VIRT_RT_VQ, scid, 0,
						  error))
			return FALSE;
		if (c->nvi && !pf->ops->virt_mgmt(pf, NVFM_VIRT_ACT_ASSIGN, NVFM_VIRT_RT_VI, scid, 0,
						  error))
			return FALSE;
	}
	return TRUE;
}

/* Best effort: back to offline, no resources, and VFs disabled again if
 * this call enabled them and nothing else uses them. */
static void provision_undo(NvfmPf *pf, guint index, guint16 scid, gboolean enabled_vfs)
{
	g_autoptr(GError) e = NULL;
	g_auto(PfState) s = { 0 };
	g_auto(NvfmVfFunc) f = { 0 };

	if (pf->ops->vf_func(pf, index, &f, NULL) && f.enabled && !pf->ops->vf_unbind(pf, index, &e)) {
		g_debug("undo: %s", e->message);
		g_clear_error(&e);
	}
	if (!offline_and_drain(pf, scid, &e)) {
		g_debug("undo: %s", e->message);
		g_clear_error(&e);
	}
	if (enabled_vfs && pf_read(pf, &s, NULL) && vfs_idle(pf, &s, -1) &&
	    !pf->ops->set_numvfs(pf, 0, &e))
		g_debug("undo: %s", e->message);
}

/* VFs exist up to @index; enabling goes through 0 as the kernel demands. */
static gboolean ensure_vfs(NvfmPf *pf, const PfState *s, guint index, gboolean *enabled,
			   GError **error)
{
	*enabled = FALSE;
	if (s->num_vfs > index)
		return TRUE;
	if (s->num_vfs > 0) {
		if (!vfs_idle(pf, s, (int)index)) {
			g_set_error(error, NVFM_ERROR, NVFM_ERROR_BUSY,
				    "VF %u of PF %s needs %u VFs enabled but %u are, and some are in use (sriov_numvfs can only change through 0)",
				    index, pf->address, index + 1, s->num_vfs);
			return FALSE;
		}
		if (!pf->ops->set_numvfs(pf, 0, error))
			return FALSE;
	}
	/* before the VFs appear, so no driver probes a VF whose controller is
	 * still offline (the nvme driver would fail on it) */
	if (!pf->ops->set_autoprobe(pf, FALSE, error) ||
	    !pf->ops->set_numvfs(pf, s->total_vfs, error))
		return FALSE;
	*enabled = TRUE;
	return TRUE;
}

/* A driver the caller chose for VF @index, limited by opts->drivers: the
 * VF's own default (what modules.alias names for it), vfio-pci, or one of
 * the list. */
static gboolean driver_permitted(NvfmPf *pf, guint index, const NvfmProvisionOpts *opts,
				 GError **error)
{
	g_autofree char *dflt = NULL;

	if (!opts->drivers || nvfm_driver_same(opts->driver, "vfio-pci"))
		return TRUE;
	for (guint i = 0; opts->drivers[i]; i++)
		if (nvfm_driver_same(opts->driver, opts->drivers[i]))
			return TRUE;
	dflt = pf->ops->vf_default_driver(pf, index, NULL);
	if (dflt && nvfm_driver_same(opts->driver, dflt))
		return TRUE;
	g_set_error(error, NVFM_ERROR, NVFM_ERROR_PERMISSION,
		    "driver '%s' is not for this VF: it would get %s, and vfio-pci or the "
		    "agent's --driver list are the alternatives", opts->driver,
		    dflt ? dflt : "vfio-pci");
	return FALSE;
}

static NvfmVfInfo *provision_locked(NvfmPf *pf, const NvfmProvisionOpts *opts, GError **error)
{
	g_auto(PfState) s = { 0 };
	g_autoptr(NvfmVfInfo) pick = NULL;
	g_autofree char *driver = NULL;
	const NvfmSecCtrl *c;
	NvfmPfCaps caps;
	guint nvq, nvi, avail_q, avail_i, index;
	guint16 scid;
	gboolean enabled_vfs = FALSE;
	GError *err = NULL;

	if (!pf_read(pf, &s, error))
		return NULL;
	caps_from_state(&s, &caps);
	if (opts->vf_index >= 0) {
		c = sec_for_index(&s, (guint)opts->vf_index);
		if (!c) {
			g_set_error(error, NVFM_ERROR, NVFM_ERROR_NOT_FOUND,
				    "PF %s has no VF %d (it has %u secondary controllers)",
				    pf->address, opts->vf_index, caps.n_secondary);
			return NULL;
		}
		pick = vf_info_read(pf, c, error);
		if (!pick)
			return NULL;
		if (!nvfm_vf_info_is_free(pick)) {
			g_set_error(error, NVFM_ERROR, NVFM_ERROR_BUSY,
				    "VF %s of PF %s is not free (%s)",
				    pick->address ? pick->address : "?", pf->address,
				    pick->in_use_by ? pick->in_use_by : "its secondary controller is online");
			return NULL;
		}
	} else {
		pick = find_free(pf, &s, error);
		if (!pick)
			return NULL;
		c = sec_for_index(&s, pick->index);
	}
	index = pick->index;
	scid = c->scid;

	/* what this controller holds comes back when it goes offline */
	avail_q = caps.vq.free + c->nvq;
	avail_i = caps.vi.free + c->nvi;
	nvq = opts->nvq ? opts->nvq : default_amount(&caps.vq, caps.n_secondary, avail_q, 2);
	nvi = opts->nvi ? opts->nvi : default_amount(&caps.vi, caps.n_secondary, avail_i, 1);
	/* $NVFM_PF_NO_PRECHECK leaves the judgement to the device, to see
	 * what its firmware answers (docs/provisioning.md) */
	if (!g_getenv("NVFM_PF_NO_PRECHECK") &&
	    (!check_amount(pf, "VQ", "admin and one I/O queue", nvq, 2, caps.vq.max_per_vf,
			   avail_q, caps.vq.total, error) ||
	     !check_amount(pf, "VI", "one interrupt", nvi, 1, caps.vi.max_per_vf, avail_i,
			   caps.vi.total, error)))
		return NULL;
	/* before anything changes: a name a peer chose binds nothing else */
	if (opts->driver && !driver_permitted(pf, index, opts, error))
		return NULL;
	g_debug("%s: provisioning VF %u (secondary controller %u) with %u VQ, %u VI", pf->address,
		index, scid, nvq, nvi);

	if ((pick->enabled && pick->driver && !pf->ops->vf_unbind(pf, index, &err)) ||
	    !pf->ops->virt_mgmt(pf, NVFM_VIRT_ACT_OFFLINE, 0, scid, 0, &err) ||
	    !pf->ops->virt_mgmt(pf, NVFM_VIRT_ACT_ASSIGN, NVFM_VIRT_RT_VQ, scid, (guint16)nvq, &err) ||
	    !pf->ops->virt_mgmt(pf, NVFM_VIRT_ACT_ASSIGN, NVFM_VIRT_RT_VI, scid, (guint16)nvi, &err) ||
	    !ensure_vfs(pf, &s, index, &enabled_vfs, &err) ||
	    !pf->ops->virt_mgmt(pf, NVFM_VIRT_ACT_ONLINE, 0, scid, 0, &err))
		goto fail;

	driver = opts->driver ? g_strdup(opts->driver) : pf->ops->vf_default_driver(pf, index, &err);
	if (!driver || !pf->ops->vf_bind(pf, index, driver, &err))
		goto fail;

	g_clear_pointer(&pick, nvfm_vf_info_free);
	g_array_set_size(s.sec, 0);
	if (!pf->ops->list_secondary(pf, s.sec, &err) || !(c = sec_for_index(&s, index)))
		goto fail;
	pick = vf_info_read(pf, c, &err);
	if (!pick)
		goto fail;
	if (opts->require_migration) {
		if (!pick->device) {
			g_set_error(&err, NVFM_ERROR, NVFM_ERROR_NOT_SUPPORTED,
				    "VF %s has no migration support: driver %s is not a VFIO driver",
				    pick->address, pick->driver ? pick->driver : "(none)");
			goto fail;
		}
		if (!nvfm_vf_check_migration(pick->vf, NULL, &err))
			goto fail;
	}
	return g_steal_pointer(&pick);

fail:
	if (!err)
		g_set_error(&err, NVFM_ERROR, NVFM_ERROR_FAILED, "VF %u of PF %s vanished", index,
			    pf->address);
	g_debug("%s: provisioning VF %u failed, undoing: %s", pf->address, index, err->message);
	provision_undo(pf, index, scid, enabled_vfs);
	g_propagate_error(error, err);
	return NULL;
}

/* A driver name as the kernel spells them; nothing that modprobe or a
 * path could read as something else (an option, "..", a slash). */
static gboolean driver_name_ok(const char *driver, GError **error)
{
	gsize n = driver ? strlen(driver) : 0;

	for (gsize i = 0; i < n; i++) {
		if (!g_ascii_isalnum(driver[i]) && driver[i] != '_' && driver[i] != '-')
			n = 0;
	}
	if (n == 0 || n > 64 || driver[0] == '-') {
		g_set_error(error, NVFM_ERROR, NVFM_ERROR_INVALID_ARG,
			    "invalid driver name '%s' (expected 1 to 64 of A-Z a-z 0-9 _ -, "
			    "not starting with -)", driver ? driver : "");
		return FALSE;
	}
	return TRUE;
}

NvfmVfInfo *nvfm_pf_provision(NvfmPf *pf, const NvfmProvisionOpts *opts, GError **error)
{
	NvfmProvisionOpts defaults;
	NvfmVfInfo *v;

	if (!opts) {
		nvfm_provision_opts_init(&defaults);
		opts = &defaults;
	}
	if (opts->driver && !driver_name_ok(opts->driver, error))
		return NULL;
	if (!nvfm_pf_lock(pf, opts->lock_timeout_ms, error))
		return NULL;
	v = provision_locked(pf, opts, error);
	nvfm_pf_unlock(pf);
	return v;
}

/* ---- one VF by address -------------------------------------------------- */

/* The PF of VF @vf and the VF's index. */
static NvfmPf *open_vf_pf(const NvfmAddress *vf, guint *index, GError **error)
{
	g_autofree char *pf_addr = NULL;
	g_autoptr(NvfmAddress) pf = NULL;
	const char *addr;
	int r;

	if (!vf) {
		g_set_error(error, NVFM_ERROR, NVFM_ERROR_INVALID_ARG, "no VF address given");
		return NULL;
	}
	if (vf->kind == NVFM_ADDR_EMU) {
		g_autofree char *pf_name = NULL;

		if (!nvfm_emu_pf_split_vf(vf->emu, &pf_name, index)) {
			g_set_error(error, NVFM_ERROR, NVFM_ERROR_INVALID_ARG,
				    "'%s' is not the VF of an emulated PF (expected emu:PF-vfN)",
				    vf->text);
			return NULL;
		}
		pf = nvfm_address_new_emu(pf_name, error);
		return pf ? nvfm_pf_open(pf, error) : NULL;
	}
	if (vf->kind != NVFM_ADDR_PCI) {
		g_set_error(error, NVFM_ERROR, NVFM_ERROR_INVALID_ARG,
			    "%s is not a VF address (expected DDDD:BB:DD.F or emu:PF-vfN)", vf->text);
		return NULL;
	}
	addr = vf->pci;
	if (nvfm_pci_exists(addr) < 0) {
		g_set_error(error, NVFM_ERROR, NVFM_ERROR_NOT_FOUND,
			    "unknown VF %s: no such PCI device", addr);
		return NULL;
	}
	r = nvfm_pci_physfn(addr, &pf_addr);
	if (r == -ENOENT) {
		g_set_error(error, NVFM_ERROR, NVFM_ERROR_INVALID_ARG, "%s is not a VF", addr);
		return NULL;
	}
	if (r < 0) {
		nvfm_set_error_errno(error, r, "cannot find the PF of VF %s", addr);
		return NULL;
	}
	r = nvfm_pci_vf_index(pf_addr, addr, index);
	if (r < 0) {
		nvfm_set_error_errno(error, r, "cannot find VF %s among the VFs of PF %s", addr,
				     pf_addr);
		return NULL;
	}
	pf = nvfm_address_new_pci(pf_addr, error);
	return pf ? nvfm_pf_open(pf, error) : NULL;
}

static NvfmVfInfo *lookup_in(NvfmPf *pf, guint index, GError **error)
{
	g_auto(PfState) s = { 0 };
	const NvfmSecCtrl *c;

	if (!pf_read(pf, &s, error))
		return NULL;
	c = sec_for_index(&s, index);
	if (!c) {
		g_set_error(error, NVFM_ERROR, NVFM_ERROR_NOT_FOUND,
			    "PF %s has no secondary controller for VF %u", pf->address, index);
		return NULL;
	}
	return vf_info_read(pf, c, error);
}

NvfmVfInfo *nvfm_vf_lookup(const NvfmAddress *vf, GError **error)
{
	g_autoptr(NvfmPf) pf = NULL;
	guint index = 0;

	pf = open_vf_pf(vf, &index, error);
	if (!pf)
		return NULL;
	return lookup_in(pf, index, error);
}

static gboolean release_locked(NvfmPf *pf, guint index, GError **error)
{
	g_autoptr(NvfmVfInfo) v = lookup_in(pf, index, error);
	g_auto(PfState) s = { 0 };

	if (!v)
		return FALSE;
	if (v->in_use_by) {
		g_set_error(error, NVFM_ERROR, NVFM_ERROR_BUSY, "VF %s is in use by %s", v->address,
			    v->in_use_by);
		return FALSE;
	}
	if (v->enabled && (v->driver || v->driver_override) && !pf->ops->vf_unbind(pf, index, error))
		return FALSE;
	if (!offline_and_drain(pf, v->scid, error))
		return FALSE;
	/* leave the PF as a fresh one once nothing uses its VFs, so the next
	 * provisioning can enable them with autoprobe off */
	if (!pf_read(pf, &s, error))
		return FALSE;
	if (s.num_vfs > 0 && vfs_idle(pf, &s, -1))
		return pf->ops->set_numvfs(pf, 0, error);
	return TRUE;
}

gboolean nvfm_vf_release(const NvfmAddress *vf, GError **error)
{
	g_autoptr(NvfmPf) pf = NULL;
	guint index = 0;
	gboolean ok;

	pf = open_vf_pf(vf, &index, error);
	if (!pf || !nvfm_pf_lock(pf, 0, error))
		return FALSE;
	ok = release_locked(pf, index, error);
	nvfm_pf_unlock(pf);
	return ok;
}

static gboolean bind_locked(NvfmPf *pf, guint index, const char *driver, GError **error)
{
	g_autoptr(NvfmVfInfo) v = lookup_in(pf, index, error);

	if (!v)
		return FALSE;
	if (!v->enabled) {
		g_set_error(error, NVFM_ERROR, NVFM_ERROR_NOT_FOUND,
			    "VF %s does not exist yet (VFs of PF %s are disabled; provision it first)",
			    v->address ? v->address : "?", pf->address);
		return FALSE;
	}
	if (v->in_use_by) {
		g_set_error(error, NVFM_ERROR, NVFM_ERROR_BUSY, "VF %s is in use by %s", v->address,
			    v->in_use_by);
		return FALSE;
	}
	return pf->ops->vf_bind(pf, index, driver, error);
}

gboolean nvfm_vf_bind(const NvfmAddress *vf, const char *driver, GError **error)
{
	g_autoptr(NvfmPf) pf = NULL;
	guint index = 0;
	gboolean ok;

	if (!driver || !*driver) {
		g_set_error(error, NVFM_ERROR, NVFM_ERROR_INVALID_ARG, "no driver given");
		return FALSE;
	}
	if (!driver_name_ok(driver, error))
		return FALSE;
	pf = open_vf_pf(vf, &index, error);
	if (!pf || !nvfm_pf_lock(pf, 0, error))
		return FALSE;
	ok = bind_locked(pf, index, driver, error);
	nvfm_pf_unlock(pf);
	return ok;
}

char *nvfm_vf_default_driver(const NvfmAddress *vf, GError **error)
{
	g_autoptr(NvfmPf) pf = NULL;
	guint index = 0;

	pf = open_vf_pf(vf, &index, error);
	if (!pf)
		return NULL;
	return pf->ops->vf_default_driver(pf, index, error);
}

gboolean nvfm_vf_check_migration(const NvfmAddress *vf, NvfmMigFeatures *out, GError **error)
{
	g_autoptr(NvfmVfInfo) v = nvfm_vf_lookup(vf, error);
	g_autoptr(NvfmDevice) dev = NULL;
	g_autoptr(GError) e = NULL;
	NvfmMigFeatures feat;

	if (!v)
		return FALSE;
	if (!v->device) {
		g_set_error(error, NVFM_ERROR, NVFM_ERROR_NOT_SUPPORTED,
			    "VF %s has no migration support: %s%s", v->address,
			    v->driver ? "it is bound to " : "it is bound to no driver",
			    v->driver ? v->driver : "");
		return FALSE;
	}
	dev = nvfm_device_open(v->device, &e);
	if (dev && nvfm_device_get_features(dev, &feat, &e)) {
		if (out)
			*out = feat;
		return TRUE;
	}
	g_set_error(error, NVFM_ERROR, e->code, "VF %s (driver %s): %s", v->address,
		    v->driver ? v->driver : "none", e->message);
	return FALSE;
}
