/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * sysfs parsing against a fixture tree: a QEMU-like NVMe PF with two VFs
 * (one on vfio-pci held open by a "QEMU", one on nvme), a GPU that is not
 * NVMe, a module tree (stub modules, depmod's index) with VFIO variant
 * aliases, and a fake /proc.
 */
#include <errno.h>
#include <glib/gstdio.h>
#include <string.h>
#include <sys/utsname.h>

#include "config.h"
#include "src/lib/pf/pf-private.h"
#include "src/lib/util/sysfs.h"
#include "tests/common/fakekernel.h"
#include "tests/common/testutil.h"

#define PF "0000:01:00.0"
#define VF0 "0000:01:00.1"
#define VF1 "0000:01:00.2"

static const char *root;
/* why the module trees could not be made (no gcc or depmod), else NULL */
static char *no_kmod_tree;

/* ROOT/lib/modules/REL with one stub module per "NAME=ALIAS[,ALIAS]"
 * (tests/common/kmod-tree.sh); FALSE and no_kmod_tree set if the tools
 * to make it are missing */
static gboolean kmod_tree(const char *dir, const char *rel, const char *const *mods)
{
	g_autoptr(GPtrArray) argv = g_ptr_array_new();
	g_autofree char *script = NULL, *err = NULL;
	g_autoptr(GError) error = NULL;
	int status = 0;

	g_assert_nonnull(g_getenv("NVFM_SOURCE_ROOT")); /* meson test sets it */
	script = g_build_filename(g_getenv("NVFM_SOURCE_ROOT"), "tests", "common", "kmod-tree.sh",
				  NULL);
	g_ptr_array_add(argv, script);
	g_ptr_array_add(argv, (char *)dir);
	g_ptr_array_add(argv, (char *)rel);
	for (guint i = 0; mods[i]; i++)
		g_ptr_array_add(argv, (char *)mods[i]);
	g_ptr_array_add(argv, NULL);
	g_assert_true(g_spawn_sync(NULL, (char **)argv->pdata, NULL, G_SPAWN_STDOUT_TO_DEV_NULL, NULL,
				   NULL, NULL, &err, &status, &error));
	g_assert_no_error(error);
	if (WIFEXITED(status) && WEXITSTATUS(status) == 77) {
		no_kmod_tree = g_strdup_printf("cannot make a module tree: %s", g_strchomp(err));
		return FALSE;
	}
	if (!g_spawn_check_wait_status(status, &error))
		g_error("kmod-tree.sh %s: %s\n%s", rel, error->message, err);
	return TRUE;
}

/* the running kernel's modules, where the library looks for them */
static const char *const modules[] = {
	"mlx5_vfio_pci=vfio_pci:v000015B3d0000101Esv*sd*bc*sc*i*",
	/* class-wide: any 1b36 device */
	"generic_variant=vfio_pci:v00001B36d*sv*sd*bc*sc*i*",
	/* a module's own aliases rank it: its wide one does not hide this */
	"qemu_nvme_vfio=vfio_pci:v*d00000010sv*sd*bc*sc*i*,vfio_pci:v00001B36d00000010sv*sd*bc*sc*i*",
	/* found by the lookup, but not a "vfio_pci:" alias: never counts,
	 * though it would be the most specific */
	"not_a_variant=pci:v00001B36d00000010sv*sd*bc*sc*i*,*:v00001B36d00000010sv00001AF4sd00001100bc01sc08i02",
	NULL
};

/* VF0 on vfio-pci (its override), VF1 on nvme with a namespace */
static void build_tree_vfs(void)
{
	fk_put("/sys/bus/pci/devices/" VF0 "/driver_override", "vfio-pci\n");
	g_assert_cmpint(nvfm_pci_probe(VF0), ==, 0);
	fk_put("/sys/bus/pci/devices/" VF1 "/driver_override", "nvme\n");
	g_assert_cmpint(nvfm_pci_probe(VF1), ==, 0);
	fk_put("/sys/bus/pci/devices/" VF1 "/driver_override", "(null)\n");
	fk_mkdir("/sys/bus/pci/devices/" VF1 "/nvme/nvme1/nvme1n1");
	fk_mkdir("/sys/bus/pci/devices/" VF1 "/nvme/nvme1/power");
}

/* The tree the lookups read: a PF with two VFs, VF0 on vfio-pci (group 5)
 * held by a "QEMU", VF1 on nvme with a namespace, a GPU, an NVMe function
 * without SR-IOV, modules.alias and /proc. */
static void build_tree(void)
{
	struct utsname u;
	guint8 cfg[0x200] = { 0 };
	g_autofree char *lib = NULL;

	fk_add_driver("nvme");
	fk_add_driver("vfio-pci");
	fk_add_driver("qemu-nvme-vfio");
	fk_add_nvme_pf(PF, 2, 0, 5);
	/* SR-IOV capability at 0x100 (ID 0x10), VF offset 1, stride 1 */
	cfg[0x100] = 0x10;
	cfg[0x102] = 0x01; /* version 1, next 0 */
	cfg[0x100 + 0x14] = 1;
	cfg[0x100 + 0x16] = 1;
	fk_put_bin("/sys/bus/pci/devices/" PF "/config", cfg, sizeof(cfg));
	fk_put("/sys/bus/pci/devices/" PF "/subsystem_vendor", "0x1af4\n");
	fk_put("/sys/bus/pci/devices/" PF "/subsystem_device", "0x1100\n");
	/* the PF's own function has no driver_override file */
	fk_put("/sys/bus/pci/devices/" PF "/sriov_drivers_autoprobe", "0\n");
	{
		g_autofree char *ovr = fk_path("/sys/bus/pci/devices/" PF "/driver_override");

		unlink(ovr);
	}
	/* the VFs appear as the kernel makes them: through sriov_numvfs */
	g_assert_cmpint(nvfm_pci_sriov_set_numvfs(PF, 2), ==, 0);
	build_tree_vfs();

	/* something that is not NVMe, and an NVMe function without SR-IOV */
	fk_add_pci("0000:00:02.0", 0x030000, NULL, -1, NULL);
	fk_add_pci("0000:02:00.0", 0x010802, NULL, -1, NULL);

	fk_mkdir("/sys/module/qemu_nvme_vfio/drivers/pci:qemu-nvme-vfio");

	g_assert_cmpint(uname(&u), ==, 0);
	lib = fk_path("/");
	kmod_tree(lib, u.release, modules);

	/* a "QEMU" holding VF0's group open, and a shell holding nothing */
	fk_put("/proc/4242/comm", "qemu-system-x86\n");
	fk_link("/proc/4242/fd/0", "/dev/null");
	fk_link("/proc/4242/fd/17", "/dev/vfio/5");
	fk_put("/proc/77/comm", "sh\n");
	fk_link("/proc/77/fd/1", "/dev/pts/0");
	fk_put("/proc/locks", "");
}

static void test_addr(void)
{
	char out[NVFM_PCI_ADDR_LEN];

	g_assert_true(nvfm_pci_addr_parse("01:00.1", out, NULL));
	g_assert_cmpstr(out, ==, "0000:01:00.1");
	g_assert_true(nvfm_pci_addr_parse("0000:3B:1f.7", out, NULL));
	g_assert_cmpstr(out, ==, "0000:3b:1f.7");
	g_assert_false(nvfm_pci_addr_parse("0000:01:00.8", out, NULL));
	g_assert_false(nvfm_pci_addr_parse("0000:01:20.0", out, NULL));
	g_assert_false(nvfm_pci_addr_parse("0000:01:00.1x", out, NULL));
	g_assert_false(nvfm_pci_addr_parse("emu:x", out, NULL));
	g_assert_false(nvfm_pci_addr_parse("", out, NULL));
	g_assert_false(nvfm_pci_addr_parse(NULL, out, NULL));
}

static void test_read_values(void)
{
	g_autofree char *p = nvfm_pci_path(PF, "class");
	g_autofree char *t = nvfm_pci_path(PF, "sriov_totalvfs");
	g_autofree char *gpu = nvfm_pci_path("0000:00:02.0", "class");
	guint64 v = 0;
	guint32 cls = 0;

	g_assert_true(g_str_has_prefix(p, root));
	g_assert_cmpint(nvfm_sysfs_read_u64(p, &v), ==, 0);
	g_assert_cmphex(v, ==, 0x010802);
	g_assert_cmpint(nvfm_sysfs_read_u64(t, &v), ==, 0);
	g_assert_cmpuint(v, ==, 2);
	g_assert_cmpint(nvfm_pci_class("0000:00:02.0", &cls), ==, 0);
	g_assert_cmphex(cls, ==, 0x030000);
	g_assert_cmpint(nvfm_sysfs_read_u64(gpu, &v), ==, 0);
	/* a missing attribute is -ENOENT, garbage is -EINVAL */
	g_assert_cmpint(nvfm_pci_class("0000:09:00.0", &cls), ==, -ENOENT);
	fk_put("/tmp-garbage", "12ab\n");
	{
		g_autofree char *g = fk_path("/tmp-garbage");

		g_assert_cmpint(nvfm_sysfs_read_u64(g, &v), ==, -EINVAL);
	}
}

static void test_topology(void)
{
	g_autofree char *pf = NULL, *vf = NULL, *none = NULL;
	guint idx = 99, total = 0, num = 0;
	gboolean autoprobe = TRUE;

	g_assert_cmpint(nvfm_pci_physfn(VF1, &pf), ==, 0);
	g_assert_cmpstr(pf, ==, PF);
	g_assert_cmpint(nvfm_pci_physfn(PF, &none), ==, -ENOENT);
	g_assert_cmpint(nvfm_pci_virtfn(PF, 1, &vf), ==, 0);
	g_assert_cmpstr(vf, ==, VF1);
	g_assert_cmpint(nvfm_pci_virtfn(PF, 2, &none), ==, -ENOENT);
	g_assert_cmpint(nvfm_pci_vf_index(PF, VF1, &idx), ==, 0);
	g_assert_cmpuint(idx, ==, 1);
	g_assert_cmpint(nvfm_pci_vf_index(PF, "0000:01:00.5", &idx), ==, -ENOENT);
	g_assert_cmpint(nvfm_pci_sriov_get(PF, &total, &num, &autoprobe), ==, 0);
	g_assert_cmpuint(total, ==, 2);
	g_assert_cmpuint(num, ==, 2);
	g_assert_false(autoprobe);
}

static void test_predict(void)
{
	static const struct {
		guint index;
		const char *addr;
	} cases[] = {
		{ 0, "0000:01:00.1" },
		{ 5, "0000:01:00.6" },
		{ 7, "0000:01:01.0" },
		{ 254, "0000:01:1f.7" },
		{ 255, "0000:02:00.0" },
	};

	for (gsize i = 0; i < G_N_ELEMENTS(cases); i++) {
		g_autofree char *vf = NULL;

		g_assert_cmpint(nvfm_pci_vf_predict(PF, cases[i].index, &vf), ==, 0);
		g_assert_cmpstr(vf, ==, cases[i].addr);
	}
	{
		g_autofree char *vf = NULL;

		/* no config space, or one without SR-IOV */
		g_assert_cmpint(nvfm_pci_vf_predict(VF0, 0, &vf), <, 0);
		g_assert_null(vf);
	}
}

static void test_binding(void)
{
	g_autofree char *d0 = NULL, *d1 = NULL, *o0 = NULL, *o1 = NULL, *g0 = NULL, *c0 = NULL;
	g_autofree char *ctrl = NULL, *after = NULL, *pf_ovr = NULL;

	g_assert_cmpint(nvfm_pci_driver(VF0, &d0), ==, 0);
	g_assert_cmpstr(d0, ==, "vfio-pci");
	g_assert_cmpint(nvfm_pci_driver(VF1, &d1), ==, 0);
	g_assert_cmpstr(d1, ==, "nvme");
	g_assert_cmpint(nvfm_pci_driver_override(VF0, &o0), ==, 0);
	g_assert_cmpstr(o0, ==, "vfio-pci");
	/* the kernel's "(null)" is no override */
	g_assert_cmpint(nvfm_pci_driver_override(VF1, &o1), ==, 0);
	g_assert_null(o1);
	g_assert_cmpint(nvfm_pci_iommu_group(VF0, &g0), ==, 0);
	g_assert_cmpstr(g0, ==, "5");
	g_assert_cmpint(nvfm_pci_vfio_cdev(VF0, &c0), ==, 0);
	g_assert_null(c0);
	/* sysfs shows vfio-dev/ before the kernel has the cdev: the node decides */
	fk_mkdir("/sys/bus/pci/devices/" VF0 "/vfio-dev/vfio3");
	g_assert_cmpint(nvfm_pci_vfio_cdev(VF0, &c0), ==, 0);
	g_assert_null(c0);
	fk_put("/dev/vfio/devices/vfio3", "");
	g_assert_cmpint(nvfm_pci_vfio_cdev(VF0, &c0), ==, 0);
	g_assert_cmpstr(c0, ==, "/dev/vfio/devices/vfio3");
	g_assert_cmpint(nvfm_pci_nvme_ctrl(PF, &ctrl), ==, 0);
	g_assert_cmpstr(ctrl, ==, "nvme0");

	/* writes act as the kernel's do */
	g_assert_cmpint(nvfm_pci_set_driver_override(VF1, "vfio-pci"), ==, 0);
	g_assert_cmpint(nvfm_pci_driver_override(VF1, &o1), ==, 0);
	g_assert_cmpstr(o1, ==, "vfio-pci");
	g_clear_pointer(&o1, g_free);
	g_assert_cmpint(nvfm_pci_set_driver_override(VF1, NULL), ==, 0);
	g_assert_cmpint(nvfm_pci_driver_override(VF1, &o1), ==, 0);
	g_assert_null(o1);
	/* unbind leaves the device without a driver; the probe takes it back
	 * to its override */
	g_assert_cmpint(nvfm_pci_unbind(VF0), ==, 0);
	g_clear_pointer(&d0, g_free);
	g_assert_cmpint(nvfm_pci_driver(VF0, &d0), ==, 0);
	g_assert_null(d0);
	g_assert_cmpint(nvfm_pci_probe(VF0), ==, 0);
	g_assert_cmpint(nvfm_pci_driver(VF0, &d0), ==, 0);
	g_assert_cmpstr(d0, ==, "vfio-pci");
	/* a non-zero VF count changes only through 0; 0 removes the VFs */
	g_assert_cmpint(nvfm_pci_sriov_set_numvfs(PF, 1), ==, -EBUSY);
	g_assert_cmpint(nvfm_pci_sriov_set_numvfs(PF, 0), ==, 0);
	after = fk_read("/sys/bus/pci/devices/" PF "/sriov_numvfs");
	g_assert_cmpstr(after, ==, "0\n");
	g_assert_false(fk_exists("/sys/bus/pci/devices/" VF0));
	g_assert_cmpint(nvfm_pci_sriov_set_numvfs(PF, 2), ==, 0);
	g_assert_true(fk_exists("/sys/bus/pci/devices/" VF1 "/physfn"));
	/* autoprobe is off: the new VFs have no driver until bound again */
	g_clear_pointer(&d1, g_free);
	g_assert_cmpint(nvfm_pci_driver(VF1, &d1), ==, 0);
	g_assert_null(d1);
	build_tree_vfs();
	/* the PF has no override file in the fixture */
	g_assert_cmpint(nvfm_pci_driver_override(PF, &pf_ovr), ==, -ENOENT);
	g_assert_true(nvfm_pci_driver_present("vfio-pci"));
	g_assert_false(nvfm_pci_driver_present("mlx5_vfio_pci"));
}

static gboolean has(const GPtrArray *a, const char *s)
{
	for (guint i = 0; i < a->len; i++) {
		if (g_str_equal(a->pdata[i], s))
			return TRUE;
	}
	return FALSE;
}

static void test_holders(void)
{
	g_autoptr(GPtrArray) n0 = nvfm_pci_device_nodes(VF0);
	g_autoptr(GPtrArray) n1 = nvfm_pci_device_nodes(VF1);
	g_autofree char *w0 = NULL, *w1 = NULL;

	g_assert_true(has(n0, "/dev/vfio/5"));
	g_assert_true(has(n1, "/dev/nvme1"));
	g_assert_true(has(n1, "/dev/nvme1n1"));
	g_assert_false(has(n1, "/dev/vfio/6"));
	g_assert_cmpint(nvfm_proc_find_holder(n0, &w0), ==, 0);
	g_assert_cmpstr(w0, ==, "pid 4242 (qemu-system-x86)");
	g_assert_cmpint(nvfm_proc_find_holder(n1, &w1), ==, 0);
	g_assert_null(w1);
}

static void test_list_pfs(void)
{
	g_autoptr(GPtrArray) pfs = g_ptr_array_new_with_free_func(g_free);

	g_assert_cmpint(nvfm_pci_list_nvme_pfs(pfs), ==, 0);
	g_assert_cmpuint(pfs->len, ==, 1);
	g_assert_cmpstr(pfs->pdata[0], ==, PF);
}

/* the running kernel's tree: most specific wins, class-wide fallback,
 * none, and a modalias that is not PCI */
static void test_modalias(void)
{
	g_autofree char *dir = nvfm_vfio_variant_moddir();
	g_autofree char *m = NULL, *wide = NULL, *none = NULL, *plain = NULL, *drv = NULL;

	if (no_kmod_tree) {
		g_test_skip(no_kmod_tree);
		return;
	}
	g_assert_true(g_str_has_prefix(dir, root));
	g_assert_cmpint(nvfm_vfio_variant_module(dir,
						 "pci:v00001B36d00000010sv00001AF4sd00001100bc01sc08i02",
						 &m), ==, 0);
	g_assert_cmpstr(m, ==, "qemu_nvme_vfio");
	g_assert_cmpint(nvfm_vfio_variant_module(dir,
						 "pci:v00001B36d00000011sv00001AF4sd00001100bc01sc08i02",
						 &wide), ==, 0);
	g_assert_cmpstr(wide, ==, "generic_variant");
	g_assert_cmpint(nvfm_vfio_variant_module(dir,
						 "pci:v00008086d00000A54sv00008086sd00000000bc01sc08i02",
						 &none), ==, 0);
	g_assert_null(none);
	g_assert_cmpint(nvfm_vfio_variant_module(dir, "acpi:XYZ0001:", &plain), ==, 0);
	g_assert_null(plain);
	g_assert_cmpint(nvfm_module_pci_driver("qemu-nvme-vfio", &drv), ==, 0);
	g_assert_cmpstr(drv, ==, "qemu-nvme-vfio");
}

/* two modules as specific as each other: neither (the kernel could bind
 * either); a less specific third does not break the tie, a more specific
 * one does */
static void test_modalias_tie(void)
{
	static const char *const mods[] = {
		"tie_a=vfio_pci:v00001234d00005678sv*sd*bc*sc*i*",
		"tie_b=vfio_pci:v00001234d00005678sv*sd*bc*sc*i*",
		"wide=vfio_pci:v*d*sv*sd*bc01sc08i*",
		"exact=vfio_pci:v00001234d00005679sv*sd*bc*sc*i*",
		"exact_wide=vfio_pci:v00001234d0000567*sv*sd*bc*sc*i*",
		NULL
	};
	g_autofree char *tree = g_build_filename(root, "tie", NULL);
	g_autofree char *dir = g_build_filename(tree, "lib", "modules", "0.0.1-tie", NULL);
	g_autofree char *tie = NULL, *fallback = NULL, *exact = NULL;

	if (no_kmod_tree || !kmod_tree(tree, "0.0.1-tie", mods)) {
		g_test_skip(no_kmod_tree);
		return;
	}
	g_assert_cmpint(nvfm_vfio_variant_module(dir,
						 "pci:v00001234d00005678sv00001AF4sd00001100bc01sc08i02",
						 &tie), ==, 0);
	g_assert_null(tie);
	g_assert_cmpint(nvfm_vfio_variant_module(dir,
						 "pci:v00001234d00005679sv00001AF4sd00001100bc01sc08i02",
						 &exact), ==, 0);
	g_assert_cmpstr(exact, ==, "exact");
	g_assert_cmpint(nvfm_vfio_variant_module(dir,
						 "pci:v0000ABCDd00000001sv00001AF4sd00001100bc01sc08i02",
						 &fallback), ==, 0);
	g_assert_cmpstr(fallback, ==, "wide");
}

/* no depmod index: no variant, told apart by -ENOENT; a tree with only
 * the text modules.alias is such a tree */
static void test_modalias_no_index(void)
{
	g_autofree char *dir = g_build_filename(root, "no-index", "lib", "modules", "x", NULL);
	g_autofree char *text = g_build_filename(dir, "modules.alias", NULL);
	g_autofree char *m = NULL;

	g_assert_cmpint(g_mkdir_with_parents(dir, 0755), ==, 0);
	g_assert_true(g_file_set_contents(text,
					  "alias vfio_pci:v00001B36d00000010sv*sd*bc*sc*i* qemu_nvme_vfio\n",
					  -1, NULL));
	g_assert_cmpint(nvfm_vfio_variant_module(dir,
						 "pci:v00001B36d00000010sv00001AF4sd00001100bc01sc08i02",
						 &m), ==, -ENOENT);
	g_assert_null(m);
}

static void test_pf_open(void)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(NvfmPf) pf = NULL;
	g_autofree char *drv = NULL;

	g_assert_null(nvfm_pf_open(nvfm_test_addr(VF0), &error));
	g_assert_error(error, NVFM_ERROR, NVFM_ERROR_INVALID_ARG);
	g_assert_nonnull(strstr(error->message, "is a VF (of PF 0000:01:00.0)"));
	g_clear_error(&error);
	g_assert_null(nvfm_pf_open(nvfm_test_addr("0000:09:00.0"), &error));
	g_assert_error(error, NVFM_ERROR, NVFM_ERROR_NOT_FOUND);
	g_assert_nonnull(strstr(error->message, "unknown PF 0000:09:00.0"));
	g_clear_error(&error);
	g_assert_null(nvfm_pf_open(nvfm_test_addr("0000:00:02.0"), &error));
	g_assert_error(error, NVFM_ERROR, NVFM_ERROR_INVALID_ARG);
	g_clear_error(&error);
	g_assert_null(nvfm_pf_open(nvfm_test_addr("0000:02:00.0"), &error));
	g_assert_error(error, NVFM_ERROR, NVFM_ERROR_NOT_SUPPORTED);
	g_clear_error(&error);
	g_assert_null(nvfm_pf_open(nvfm_test_addr("nonsense"), &error));
	g_assert_error(error, NVFM_ERROR, NVFM_ERROR_INVALID_ARG);
	g_clear_error(&error);

	pf = nvfm_pf_open(nvfm_test_addr("01:00.0"), &error);
	if (!pf) {
		/* built without libnvme: the admin side is missing */
		g_assert_error(error, NVFM_ERROR, NVFM_ERROR_NOT_SUPPORTED);
		return;
	}
	g_assert_cmpstr(nvfm_pf_address(pf), ==, PF);

	if (no_kmod_tree) {
		g_test_skip(no_kmod_tree);
		return;
	}
	/* libvirt's choice: the variant driver modules.alias names */
	drv = nvfm_vf_default_driver(nvfm_test_addr("vfio:" VF0), &error);
	g_assert_no_error(error);
	g_assert_cmpstr(drv, ==, "qemu-nvme-vfio");
	g_clear_pointer(&drv, g_free);
	/* without depmod's index (the text modules.alias stays): vfio-pci */
	{
		struct utsname u;
		g_autofree char *bin = NULL, *away = NULL;

		g_assert_cmpint(uname(&u), ==, 0);
		bin = g_strdup_printf("%s/lib/modules/%s/modules.alias.bin", root, u.release);
		away = g_strconcat(bin, ".away", NULL);
		g_assert_cmpint(g_rename(bin, away), ==, 0);
		drv = nvfm_vf_default_driver(nvfm_test_addr("vfio:" VF0), &error);
		g_assert_cmpint(g_rename(away, bin), ==, 0);
		g_assert_no_error(error);
		g_assert_cmpstr(drv, ==, "vfio-pci");
		g_clear_pointer(&drv, g_free);
	}
	/* a VF that is not enabled yet: the modalias comes from the PF */
	fk_put("/sys/bus/pci/devices/" PF "/sriov_numvfs", "0\n");
	{
		g_autofree char *vf = NULL;

		g_assert_cmpint(nvfm_pci_vf_predict(PF, 1, &vf), ==, 0);
		g_assert_cmpstr(vf, ==, VF1);
	}
	fk_put("/sys/bus/pci/devices/" PF "/sriov_numvfs", "2\n");
	/* without a matching entry: vfio-pci */
	fk_put("/sys/bus/pci/devices/" VF0 "/modalias",
	    "pci:v00008086d00000A54sv00008086sd00000000bc01sc08i02\n");
	drv = nvfm_vf_default_driver(nvfm_test_addr(VF0), &error);
	g_assert_no_error(error);
	g_assert_cmpstr(drv, ==, "vfio-pci");
}

#ifdef HAVE_LIBNVME
#include <libnvme.h>

#define PF2 "0000:05:00.0"
#define PF2_VF0 "0000:05:00.1"
#define OP_IDENTIFY 0x06
#define OP_VIRT_MGMT 0x1c

static void expect_identify_primary(void)
{
	struct nvme_primary_ctrl_cap cap = { 0 };

	cap.cntlid = htole16(0x41);
	cap.vqfrt = htole32(8);
	cap.vqrfa = htole32(0);
	cap.vqfrsm = htole16(4);
	cap.vqprt = htole16(2);
	cap.vifrt = htole32(4);
	cap.vifrsm = htole16(2);
	cap.viprt = htole16(1);
	fk_expect_admin(OP_IDENTIFY, 0x14, G_MAXUINT32, &cap, sizeof(cap), 0, 0);
}

/* two secondary controllers; the first one online with @nvq/@nvi */
static void expect_secondary_list(gboolean online, guint nvq, guint nvi)
{
	struct nvme_secondary_ctrl_list list = { 0 };

	list.num = 2;
	for (guint i = 0; i < 2; i++) {
		list.sc_entry[i].scid = htole16(1 + i);
		list.sc_entry[i].pcid = htole16(0x41);
		list.sc_entry[i].vfn = htole16(1 + i);
	}
	list.sc_entry[0].scs = online;
	list.sc_entry[0].nvq = htole16(nvq);
	list.sc_entry[0].nvi = htole16(nvi);
	fk_expect_admin(OP_IDENTIFY, 0x15, G_MAXUINT32, &list, sizeof(list), 0, 0);
}

/* Virtualization Management: CDW10 action bits 3-0, resource type 10-8,
 * controller 31-16; CDW11 the number of resources */
static void expect_virt_mgmt(guint act, guint rt, guint cntlid, guint nr)
{
	fk_expect_admin(OP_VIRT_MGMT, act | rt << 8 | cntlid << 16, nr, NULL, 0, 0, 0);
}

/* Provisioning on a kernel PF runs exactly these admin commands in this
 * order, and sysfs reacts: the VFs appear with autoprobe off, the chosen
 * one ends on vfio-pci. */
static void test_provision(void)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(NvfmPf) pf = NULL;
	g_autoptr(NvfmVfInfo) vf = NULL;
	g_autofree char *drv = NULL, *ap = NULL;
	NvfmProvisionOpts opts;

	/* the refused driver is told apart from the one the index names */
	if (no_kmod_tree) {
		g_test_skip(no_kmod_tree);
		return;
	}
	fk_add_nvme_pf(PF2, 2, 5, 30);
	pf = nvfm_pf_open(nvfm_test_addr(PF2), &error);
	g_assert_no_error(error);

	expect_identify_primary();
	expect_secondary_list(FALSE, 0, 0);
	expect_virt_mgmt(7, 0, 1, 0);	/* offline */
	expect_virt_mgmt(8, 0, 1, 4);	/* assign 4 VQ */
	expect_virt_mgmt(8, 1, 1, 2);	/* assign 2 VI */
	expect_virt_mgmt(9, 0, 1, 0);	/* online, once the VF exists */
	expect_secondary_list(TRUE, 4, 2);

	nvfm_provision_opts_init(&opts);
	opts.nvq = 4;
	opts.nvi = 2;
	opts.driver = "vfio-pci";
	vf = nvfm_pf_provision(pf, &opts, &error);
	g_assert_no_error(error);
	fk_assert_admin_consumed();
	g_assert_cmpstr(vf->address, ==, PF2_VF0);
	g_assert_true(vf->online);
	g_assert_cmpuint(vf->nvq, ==, 4);
	g_assert_cmpuint(vf->nvi, ==, 2);
	g_assert_nonnull(vf->device);
	g_assert_cmpstr(vf->device->text, ==, "vfio:" PF2_VF0);
	ap = fk_read("/sys/bus/pci/devices/" PF2 "/sriov_drivers_autoprobe");
	g_assert_cmpstr(ap, ==, "0");
	g_assert_cmpint(nvfm_pci_driver(PF2_VF0, &drv), ==, 0);
	g_assert_cmpstr(drv, ==, "vfio-pci");

	/* a driver name that is an option, or one this VF would never get
	 * (the fixture's modules.alias names qemu-nvme-vfio), is refused
	 * before modprobe could load it; the VF keeps its driver */
	g_assert_false(nvfm_vf_bind(nvfm_test_addr(PF2_VF0), "-r", &error));
	g_assert_nonnull(strstr(error->message, "invalid driver name '-r'"));
	g_clear_error(&error);
	expect_identify_primary();
	expect_secondary_list(TRUE, 4, 2);
	g_assert_false(nvfm_vf_bind(nvfm_test_addr(PF2_VF0), "e1000e", &error));
	g_assert_nonnull(strstr(error->message, "would get qemu-nvme-vfio, not e1000e: not loading"));
	g_clear_error(&error);
	g_clear_pointer(&drv, g_free);
	g_assert_cmpint(nvfm_pci_driver(PF2_VF0, &drv), ==, 0);
	g_assert_cmpstr(drv, ==, "vfio-pci");
	fk_assert_admin_consumed();

	/* a device answer that is an NVMe status fails with it, and nothing
	 * further is sent */
	expect_identify_primary();
	fk_expect_admin(OP_IDENTIFY, 0x15, G_MAXUINT32, NULL, 0, 0x4002, 0);
	g_clear_pointer(&vf, nvfm_vf_info_free);
	vf = nvfm_pf_provision(pf, &opts, &error);
	g_assert_null(vf);
	g_assert_nonnull(error);
	g_assert_nonnull(strstr(error->message, "Secondary Controller List"));
	fk_assert_admin_consumed();
}

/* Identify Controller (CNS 01h) with @oacs */
static void expect_identify_ctrl(guint16 oacs)
{
	g_autofree struct nvme_id_ctrl *id = g_new0(struct nvme_id_ctrl, 1);

	id->oacs = htole16(oacs);
	fk_expect_admin(OP_IDENTIFY, 0x01, G_MAXUINT32, id, sizeof(*id), 0, 0);
}

/* The live migration capability of a kernel PF: Identify Controller's
 * OACS bit 11, then Identify CNS 20h, parsed; a PF without the bit gets
 * no CNS 20h, and one that refuses CNS 20h does not support it. */
static void test_lm_caps(void)
{
	static const guint8 vendor[16] = { 0x6e, 0x76, 0x66, 0x6d, 0x6c, 0x6d, 0x4e, 0x56,
					   0x8d, 0x51, 0x45, 0x4d, 0x55, 0x00, 0x00, 0x01 };
	g_autoptr(GError) error = NULL;
	g_autoptr(NvfmPf) pf = NULL;
	g_autoptr(NvfmLmCaps) lm = NULL;
	g_autoptr(NvfmLmCaps) lm2 = NULL;
	guint8 formats[2 + 2 * 2 + 16] = { 2, 1, 0x00, 0x00, 0x07, 0x00 };

	memcpy(formats + 6, vendor, 16);
	if (!fk_exists("/sys/bus/pci/devices/" PF2))
		fk_add_nvme_pf(PF2, 2, 5, 30);
	pf = nvfm_pf_open(nvfm_test_addr(PF2), &error);
	g_assert_no_error(error);

	/* OACS: Virtualization Management and HMLMS */
	expect_identify_ctrl(1u << 7 | 1u << 11);
	fk_expect_admin(OP_IDENTIFY, 0x20, G_MAXUINT32, formats, sizeof(formats), 0, 0);
	lm = nvfm_pf_get_lm_caps(pf, &error);
	g_assert_no_error(error);
	fk_assert_admin_consumed();
	g_assert_nonnull(lm);
	g_assert_cmpstr(lm->pf, ==, PF2);
	g_assert_true(lm->supported);
	g_assert_null(lm->reason);
	g_assert_cmpuint(lm->n_versions, ==, 2);
	g_assert_cmpuint(lm->versions[0], ==, 0);
	g_assert_cmpuint(lm->versions[1], ==, 7);
	g_assert_cmpuint(lm->n_uuids, ==, 1);
	g_assert_cmpstr(lm->uuids[0], ==, NVFM_LM_VENDOR_UUID);

	/* HMLMS clear: one command, not supported, and no error */
	expect_identify_ctrl(1u << 7);
	lm2 = nvfm_pf_get_lm_caps(pf, &error);
	g_assert_no_error(error);
	fk_assert_admin_consumed();
	g_assert_false(lm2->supported);
	g_assert_nonnull(strstr(lm2->reason, "OACS bit 11"));
	g_assert_cmpuint(lm2->n_versions, ==, 0);
	g_assert_nonnull(lm2->uuids);
	g_assert_null(lm2->uuids[0]);
	/* a source on this PF checks nothing; a destination refuses */
	g_assert_true(nvfm_lm_format_compatible(lm2, lm, &error));
	g_assert_false(nvfm_lm_format_compatible(lm, lm2, &error));
	g_assert_error(error, NVFM_ERROR, NVFM_ERROR_NOT_SUPPORTED);
	g_clear_error(&error);
	g_clear_pointer(&lm2, nvfm_lm_caps_free);

	/* HMLMS set but CNS 20h refused (Invalid Field in Command) */
	expect_identify_ctrl(1u << 11);
	fk_expect_admin(OP_IDENTIFY, 0x20, G_MAXUINT32, NULL, 0, 0x4002, 0);
	lm2 = nvfm_pf_get_lm_caps(pf, &error);
	g_assert_no_error(error);
	fk_assert_admin_consumed();
	g_assert_false(lm2->supported);
	g_assert_nonnull(strstr(lm2->reason, "CNS 20h"));
	g_assert_nonnull(strstr(lm2->reason, "0x4002"));
	g_clear_pointer(&lm2, nvfm_lm_caps_free);

	/* counts past the page: malformed, so not supported */
	formats[0] = 255;
	formats[1] = 255;
	expect_identify_ctrl(1u << 11);
	fk_expect_admin(OP_IDENTIFY, 0x20, G_MAXUINT32, formats, sizeof(formats), 0, 0);
	lm2 = nvfm_pf_get_lm_caps(pf, &error);
	g_assert_no_error(error);
	fk_assert_admin_consumed();
	g_assert_false(lm2->supported);
	g_assert_nonnull(strstr(lm2->reason, "4592 bytes"));
	g_clear_pointer(&lm2, nvfm_lm_caps_free);

	/* Identify Controller itself failing is an error */
	fk_expect_admin(OP_IDENTIFY, 0x01, G_MAXUINT32, NULL, 0, 0x0006, 0);
	lm2 = nvfm_pf_get_lm_caps(pf, &error);
	g_assert_null(lm2);
	g_assert_error(error, NVFM_ERROR, NVFM_ERROR_NVME);
	g_assert_nonnull(strstr(error->message, "Identify Controller"));
	fk_assert_admin_consumed();
}
#else
static void test_provision(void)
{
	g_test_skip("built without libnvme");
}

static void test_lm_caps(void)
{
	g_test_skip("built without libnvme");
}
#endif

int main(int argc, char **argv)
{
	int r;

	g_test_init(&argc, &argv, NULL);
	root = fk_init();
	g_setenv("NVFM_EMU_DIR", root, TRUE);
	build_tree();
	g_test_add_func("/sysfs/addr", test_addr);
	g_test_add_func("/sysfs/read-values", test_read_values);
	g_test_add_func("/sysfs/topology", test_topology);
	g_test_add_func("/sysfs/predict", test_predict);
	g_test_add_func("/sysfs/binding", test_binding);
	g_test_add_func("/sysfs/holders", test_holders);
	g_test_add_func("/sysfs/list-pfs", test_list_pfs);
	g_test_add_func("/sysfs/modalias", test_modalias);
	g_test_add_func("/sysfs/modalias-tie", test_modalias_tie);
	g_test_add_func("/sysfs/modalias-no-index", test_modalias_no_index);
	g_test_add_func("/sysfs/pf-open", test_pf_open);
	g_test_add_func("/sysfs/provision-kernel-pf", test_provision);
	g_test_add_func("/sysfs/lm-caps-kernel-pf", test_lm_caps);
	r = g_test_run();
	fk_cleanup();
	g_free(no_kmod_tree);
	return r;
}
