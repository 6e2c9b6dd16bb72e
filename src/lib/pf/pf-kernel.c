/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The kernel PF: an NVMe PF bound to the kernel's nvme driver. Its
 * controller side is the admin queue (pf-nvme.c, through libnvme); its
 * function side is sysfs: SR-IOV, driver binding, the VFs' facts.
 */
#define G_LOG_DOMAIN "nvfm-pf"

#include <fcntl.h>
#include <stdarg.h>
#include <string.h>
#include <sys/file.h>

#include "pf-private.h"
#include "util/sysfs.h"

#define PCI_CLASS_NVME 0x010802
#define VFIO_PCI "vfio-pci"

/* ---- the kernel PF's function side ------------------------------------ */

typedef struct {
	char *ctrl;		/* "nvme0" */
} KernelPf;

static gboolean kpf_set_errno(GError **error, int r, const char *fmt, ...) G_GNUC_PRINTF(3, 4);

static gboolean kpf_set_errno(GError **error, int r, const char *fmt, ...)
{
	g_autofree char *msg = NULL;
	va_list ap;

	va_start(ap, fmt);
	msg = g_strdup_vprintf(fmt, ap);
	va_end(ap);
	nvfm_set_error_errno(error, r, "%s", msg);
	return FALSE;
}

static int kpf_numa_node(NvfmPf *pf)
{
	g_autofree char *path = nvfm_pci_path(pf->address, "numa_node");
	g_autofree char *text = NULL;
	gint64 node;

	if (nvfm_sysfs_read(path, &text) < 0 ||
	    !g_ascii_string_to_signed(g_strstrip(text), 10, -1, 1 << 16, &node, NULL))
		return -1;
	return (int)node;
}

static gboolean kpf_sriov_get(NvfmPf *pf, guint *total, guint *num, gboolean *autoprobe,
			      GError **error)
{
	int r = nvfm_pci_sriov_get(pf->address, total, num, autoprobe);

	return r == 0 || kpf_set_errno(error, r, "cannot read the SR-IOV state of PF %s",
				       pf->address);
}

static gboolean kpf_set_autoprobe(NvfmPf *pf, gboolean on, GError **error)
{
	int r = nvfm_pci_sriov_set_autoprobe(pf->address, on);

	/* kernels without the switch always probe; nothing to turn off */
	if (r == -ENOENT)
		return TRUE;
	return r == 0 || kpf_set_errno(error, r, "cannot set sriov_drivers_autoprobe of PF %s",
				       pf->address);
}

static gboolean kpf_set_numvfs(NvfmPf *pf, guint n, GError **error)
{
	int r = nvfm_pci_sriov_set_numvfs(pf->address, n);

	return r == 0 || kpf_set_errno(error, r, "cannot set sriov_numvfs of PF %s to %u",
				       pf->address, n);
}

static gboolean is_vfio_driver(const char *addr, const char *driver)
{
	g_autofree char *vfio_dev = NULL;

	if (!driver)
		return FALSE;
	/* vfio-pci and the variant drivers (mlx5_vfio_pci, ...) */
	if (strstr(driver, "vfio"))
		return TRUE;
	/* any other driver that registered a VFIO device */
	vfio_dev = nvfm_pci_path(addr, "vfio-dev");
	return g_file_test(vfio_dev, G_FILE_TEST_IS_DIR);
}

static gboolean kpf_vf_func(NvfmPf *pf, guint index, NvfmVfFunc *out, GError **error)
{
	guint num = 0;
	int r;

	memset(out, 0, sizeof(*out));
	if (!kpf_sriov_get(pf, NULL, &num, NULL, error))
		return FALSE;
	if (index >= num) {
		/* the address the VF will have: useful before it exists */
		if (nvfm_pci_vf_predict(pf->address, index, &out->address) < 0)
			out->address = NULL;
		else
			out->vf = nvfm_address_new_pci(out->address, NULL);
		return TRUE;
	}
	r = nvfm_pci_virtfn(pf->address, index, &out->address);
	if (r < 0)
		return kpf_set_errno(error, r, "cannot resolve VF %u of PF %s", index, pf->address);
	out->vf = nvfm_address_new_pci(out->address, NULL);
	out->enabled = TRUE;
	if ((r = nvfm_pci_driver(out->address, &out->driver)) < 0 ||
	    (r = nvfm_pci_iommu_group(out->address, &out->iommu_group)) < 0)
		return kpf_set_errno(error, r, "cannot read the driver of VF %s", out->address);
	if (nvfm_pci_driver_override(out->address, &out->driver_override) < 0)
		out->driver_override = NULL;
	if (is_vfio_driver(out->address, out->driver)) {
		if (nvfm_pci_vfio_cdev(out->address, &out->vfio_device) < 0 || !out->vfio_device) {
			if (out->iommu_group)
				out->vfio_device = g_strdup_printf("/dev/vfio/%s", out->iommu_group);
		}
		out->device = nvfm_address_new_pci(out->address, NULL);
	}
	if (out->driver) {
		g_autoptr(GPtrArray) nodes = nvfm_pci_device_nodes(out->address);

		if (nvfm_proc_find_holder(nodes, &out->in_use_by) < 0)
			out->in_use_by = NULL;
	}
	return TRUE;
}

static gboolean kpf_vf_addr(NvfmPf *pf, guint index, char **addr, GError **error)
{
	int r = nvfm_pci_virtfn(pf->address, index, addr);

	if (r == -ENOENT) {
		g_set_error(error, NVFM_ERROR, NVFM_ERROR_NOT_FOUND,
			    "VF %u of PF %s does not exist (VFs are not enabled)", index,
			    pf->address);
		return FALSE;
	}
	return r == 0 || kpf_set_errno(error, r, "cannot resolve VF %u of PF %s", index,
				       pf->address);
}

static gboolean kpf_vf_unbind(NvfmPf *pf, guint index, GError **error)
{
	g_autofree char *addr = NULL;
	int r;

	if (!kpf_vf_addr(pf, index, &addr, error))
		return FALSE;
	if ((r = nvfm_pci_unbind(addr)) < 0)
		return kpf_set_errno(error, r, "cannot unbind VF %s from its driver", addr);
	r = nvfm_pci_set_driver_override(addr, NULL);
	if (r < 0 && r != -ENOENT)
		return kpf_set_errno(error, r, "cannot clear driver_override of VF %s", addr);
	return TRUE;
}

/* Loads the module behind @driver when no such PCI driver is registered.
 * The name was checked (pf.c) and is one modules.alias gives this VF, or
 * vfio-pci; "--" keeps modprobe from reading any name as an option. */
static void load_driver_module(const char *driver)
{
	const char *argv[] = { "modprobe", "-q", "--", driver, NULL };
	int status = 0;

	/* a fixture tree has no modules to load */
	if (*nvfm_sysfs_root() || driver[0] == '-')
		return;
	if (!g_spawn_sync(NULL, (char **)argv, NULL, G_SPAWN_SEARCH_PATH |
			  G_SPAWN_STDOUT_TO_DEV_NULL | G_SPAWN_STDERR_TO_DEV_NULL,
			  NULL, NULL, NULL, NULL, &status, NULL))
		g_debug("modprobe %s could not run", driver);
}

/* The registered name of @driver: as given, or with '-' and '_' swapped
 * (module and driver names differ in that way), or via the module. */
static char *resolve_driver(const char *driver)
{
	g_autofree char *alt = NULL;
	char *via_module = NULL;

	if (nvfm_pci_driver_present(driver))
		return g_strdup(driver);
	alt = g_strdup(driver);
	if (strchr(alt, '-'))
		g_strdelimit(alt, "-", '_');
	else
		g_strdelimit(alt, "_", '-');
	if (nvfm_pci_driver_present(alt))
		return g_steal_pointer(&alt);
	if (nvfm_module_pci_driver(driver, &via_module) == 0 && nvfm_pci_driver_present(via_module))
		return via_module;
	g_free(via_module);
	return NULL;
}

static char *kpf_vf_default_driver(NvfmPf *pf, guint index, GError **error);

static gboolean kpf_vf_bind(NvfmPf *pf, guint index, const char *driver, GError **error)
{
	g_autofree char *addr = NULL, *name = NULL, *cur = NULL, *bound = NULL;
	int r;

	if (!kpf_vf_addr(pf, index, &addr, error))
		return FALSE;
	name = resolve_driver(driver);
	if (!name) {
		/* modprobe loads only what this VF would get anyway: the
		 * driver modules.alias names for it, or vfio-pci; a name a
		 * peer sends loads nothing else as root */
		g_autofree char *dflt = kpf_vf_default_driver(pf, index, NULL);

		if (!nvfm_driver_same(driver, dflt) && !nvfm_driver_same(driver, VFIO_PCI)) {
			g_set_error(error, NVFM_ERROR, NVFM_ERROR_NOT_FOUND,
				    "no PCI driver '%s' is loaded and VF %s would get %s, not %s: "
				    "not loading it", driver, addr, dflt ? dflt : VFIO_PCI, driver);
			return FALSE;
		}
		load_driver_module(driver);
		name = resolve_driver(driver);
	}
	if (!name) {
		g_set_error(error, NVFM_ERROR, NVFM_ERROR_NOT_FOUND,
			    "no PCI driver '%s' is loaded and 'modprobe %s' did not load one",
			    driver, driver);
		return FALSE;
	}
	if ((r = nvfm_pci_driver(addr, &cur)) < 0)
		return kpf_set_errno(error, r, "cannot read the driver of VF %s", addr);
	r = nvfm_pci_set_driver_override(addr, name);
	if (r == -ENOENT) {
		g_set_error(error, NVFM_ERROR, NVFM_ERROR_NOT_SUPPORTED,
			    "the kernel has no driver_override for VF %s", addr);
		return FALSE;
	}
	if (r < 0)
		return kpf_set_errno(error, r, "cannot set driver_override of VF %s to %s", addr,
				     name);
	if (cur && g_str_equal(cur, name))
		return TRUE;
	if (cur && (r = nvfm_pci_unbind(addr)) < 0)
		return kpf_set_errno(error, r, "cannot unbind VF %s from %s", addr, cur);
	/* binding through the driver's bind file fails with autoprobe off;
	 * drivers_probe honours driver_override */
	r = nvfm_pci_probe(addr);
	if (r < 0 && r != -EINVAL && r != -ENODEV)
		return kpf_set_errno(error, r, "cannot probe VF %s with %s", addr, name);
	if ((r = nvfm_pci_driver(addr, &bound)) < 0)
		return kpf_set_errno(error, r, "cannot read the driver of VF %s", addr);
	if (!bound || !g_str_equal(bound, name)) {
		g_set_error(error, NVFM_ERROR, NVFM_ERROR_DEVICE,
			    "driver %s did not bind to VF %s%s%s (see the kernel log)", name, addr,
			    bound ? "; bound to " : "", bound ? bound : "");
		return FALSE;
	}
	return TRUE;
}

/* modalias a VF will have, built from the PF while VFs are disabled */
static char *predicted_modalias(const char *pf)
{
	static const char *const attrs[] = { "vendor", "sriov_vf_device", "subsystem_vendor",
					     "subsystem_device" };
	guint64 v[G_N_ELEMENTS(attrs)];
	guint32 cls;

	for (gsize i = 0; i < G_N_ELEMENTS(attrs); i++) {
		g_autofree char *p = nvfm_pci_path(pf, attrs[i]);

		if (nvfm_sysfs_read_u64(p, &v[i]) < 0)
			return NULL;
	}
	if (nvfm_pci_class(pf, &cls) < 0)
		return NULL;
	return g_strdup_printf("pci:v%08Xd%08Xsv%08Xsd%08Xbc%02Xsc%02Xi%02X", (guint)v[0],
			       (guint)v[1], (guint)v[2], (guint)v[3], (cls >> 16) & 0xff,
			       (cls >> 8) & 0xff, cls & 0xff);
}

static char *kpf_vf_default_driver(NvfmPf *pf, guint index, GError **error)
{
	g_autofree char *addr = NULL, *alias = NULL, *moddir = NULL, *module = NULL;
	char *driver = NULL;

	if (nvfm_pci_virtfn(pf->address, index, &addr) == 0)
		nvfm_pci_modalias(addr, &alias);
	else
		alias = predicted_modalias(pf->address);
	moddir = nvfm_vfio_variant_moddir();
	/* no module index (-ENOENT) or no single best match: vfio-pci */
	if (alias && moddir && nvfm_vfio_variant_module(moddir, alias, &module) == 0 && module) {
		g_debug("modules.alias names %s for %s", module, alias);
		if (nvfm_module_pci_driver(module, &driver) == 0)
			return driver;
		return g_steal_pointer(&module);
	}
	return g_strdup(VFIO_PCI);
}

/* PF locks of every process on this host (CLI, agent, hook) meet here. */
static char *lock_dir(void)
{
	return nvfm_runtime_dir("locks", "NVFM_LOCK_DIR");
}

static char *kpf_lock_path(NvfmPf *pf)
{
	g_autofree char *dir = lock_dir();
	g_autofree char *name = g_strdup_printf("pf-%s.lock", pf->address);

	return g_build_filename(dir, name, NULL);
}

static void kpf_close(NvfmPf *pf)
{
	KernelPf *k = pf->priv;

	nvfm_nvme_pf_close(pf);
	if (k) {
		g_free(k->ctrl);
		g_free(k);
	}
}

const NvfmPfOps nvfm_kernel_pf_ops = {
	.kind = "nvme",
	.identify_primary = nvfm_nvme_identify_primary,
	.list_secondary = nvfm_nvme_list_secondary,
	.identify_oacs = nvfm_nvme_identify_oacs,
	.identify_lm_formats = nvfm_nvme_identify_lm_formats,
	.virt_mgmt = nvfm_nvme_virt_mgmt,
	.sriov_get = kpf_sriov_get,
	.set_autoprobe = kpf_set_autoprobe,
	.set_numvfs = kpf_set_numvfs,
	.vf_func = kpf_vf_func,
	.vf_unbind = kpf_vf_unbind,
	.vf_bind = kpf_vf_bind,
	.vf_default_driver = kpf_vf_default_driver,
	.lock_path = kpf_lock_path,
	.numa_node = kpf_numa_node,
	.close = kpf_close,
};

gboolean nvfm_kernel_pf_open(NvfmPf *pf, const char *addr, GError **error)
{
	g_autofree char *phys = NULL, *total = NULL, *ctrl = NULL, *node = NULL, *node_path = NULL;
	KernelPf *k;
	guint32 cls;

	pf->address = g_strdup(addr);
	if (nvfm_pci_exists(addr) < 0) {
		g_set_error(error, NVFM_ERROR, NVFM_ERROR_NOT_FOUND,
			    "unknown PF %s: no such PCI device", addr);
		return FALSE;
	}
	if (nvfm_pci_physfn(addr, &phys) == 0) {
		g_set_error(error, NVFM_ERROR, NVFM_ERROR_INVALID_ARG,
			    "%s is a VF (of PF %s), not a PF", addr, phys);
		return FALSE;
	}
	if (nvfm_pci_class(addr, &cls) < 0 || cls != PCI_CLASS_NVME) {
		g_set_error(error, NVFM_ERROR, NVFM_ERROR_INVALID_ARG,
			    "%s is not an NVMe controller (class 0x%06x)", addr, cls);
		return FALSE;
	}
	total = nvfm_pci_path(addr, "sriov_totalvfs");
	if (!g_file_test(total, G_FILE_TEST_EXISTS)) {
		g_set_error(error, NVFM_ERROR, NVFM_ERROR_NOT_SUPPORTED,
			    "PF %s has no SR-IOV capability", addr);
		return FALSE;
	}
	if (nvfm_pci_nvme_ctrl(addr, &ctrl) < 0 || !ctrl) {
		g_set_error(error, NVFM_ERROR, NVFM_ERROR_NOT_SUPPORTED,
			    "PF %s has no NVMe controller device: bind it to the nvme driver, its admin queue is needed",
			    addr);
		return FALSE;
	}
	k = g_new0(KernelPf, 1);
	k->ctrl = g_strdup(ctrl);
	pf->priv = k;
	pf->ops = &nvfm_kernel_pf_ops;
	node = g_strconcat("/dev/", ctrl, NULL);
	node_path = nvfm_dev_path(node);
	return nvfm_nvme_pf_open(pf, node_path, error);
}
