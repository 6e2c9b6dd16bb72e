/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * sysfs parsing against a fixture tree: a QEMU-like NVMe PF with two VFs
 * (one on vfio-pci held open by a "QEMU", one on nvme), a GPU that is not
 * NVMe, modules.alias with VFIO variant entries, and a fake /proc.
 */
#include <glib/gstdio.h>
#include <string.h>
#include <sys/utsname.h>

#include "src/lib/pf/pf-private.h"
#include "src/lib/util/sysfs.h"
#include "tests/common/testutil.h"

#define PF "0000:01:00.0"
#define VF0 "0000:01:00.1"
#define VF1 "0000:01:00.2"

static char *root;

static void put(const char *rel, const char *text)
{
	g_autofree char *p = g_build_filename(root, rel, NULL);
	g_autofree char *dir = g_path_get_dirname(p);

	g_assert_cmpint(g_mkdir_with_parents(dir, 0755), ==, 0);
	g_assert_true(g_file_set_contents(p, text, -1, NULL));
}

static void put_bin(const char *rel, const guint8 *data, gsize len)
{
	g_autofree char *p = g_build_filename(root, rel, NULL);
	g_autofree char *dir = g_path_get_dirname(p);

	g_assert_cmpint(g_mkdir_with_parents(dir, 0755), ==, 0);
	g_assert_true(g_file_set_contents(p, (const char *)data, (gssize)len, NULL));
}

static void mkdir_p(const char *rel)
{
	g_autofree char *p = g_build_filename(root, rel, NULL);

	g_assert_cmpint(g_mkdir_with_parents(p, 0755), ==, 0);
}

static void link_to(const char *rel, const char *target)
{
	g_autofree char *p = g_build_filename(root, rel, NULL);
	g_autofree char *dir = g_path_get_dirname(p);

	g_assert_cmpint(g_mkdir_with_parents(dir, 0755), ==, 0);
	g_assert_cmpint(symlink(target, p), ==, 0);
}

static char *read_back(const char *rel)
{
	g_autofree char *p = g_build_filename(root, rel, NULL);
	char *s = NULL;

	g_assert_true(g_file_get_contents(p, &s, NULL, NULL));
	return s;
}

static void build_tree(void)
{
	struct utsname u;
	guint8 cfg[0x200] = { 0 };
	g_autofree char *alias = NULL;

	mkdir_p("sys/bus/pci/drivers/nvme");
	mkdir_p("sys/bus/pci/drivers/vfio-pci");
	mkdir_p("sys/bus/pci/drivers/qemu-nvme-vfio");

	/* the PF: SR-IOV capability at 0x100 (ID 0x10), VF offset 1, stride 1 */
	cfg[0x100] = 0x10;
	cfg[0x102] = 0x01; /* version 1, next 0 */
	cfg[0x100 + 0x14] = 1;
	cfg[0x100 + 0x16] = 1;
	put_bin("sys/bus/pci/devices/" PF "/config", cfg, sizeof(cfg));
	put("sys/bus/pci/devices/" PF "/class", "0x010802\n");
	put("sys/bus/pci/devices/" PF "/vendor", "0x1b36\n");
	put("sys/bus/pci/devices/" PF "/sriov_vf_device", "0010\n");
	put("sys/bus/pci/devices/" PF "/subsystem_vendor", "0x1af4\n");
	put("sys/bus/pci/devices/" PF "/subsystem_device", "0x1100\n");
	put("sys/bus/pci/devices/" PF "/sriov_totalvfs", "2\n");
	put("sys/bus/pci/devices/" PF "/sriov_numvfs", "2\n");
	put("sys/bus/pci/devices/" PF "/sriov_drivers_autoprobe", "0\n");
	link_to("sys/bus/pci/devices/" PF "/virtfn0", "../" VF0);
	link_to("sys/bus/pci/devices/" PF "/virtfn1", "../" VF1);
	link_to("sys/bus/pci/devices/" PF "/driver", "../../drivers/nvme");
	mkdir_p("sys/bus/pci/devices/" PF "/nvme/nvme0");

	/* VF0: vfio-pci, IOMMU group 5 */
	put("sys/bus/pci/devices/" VF0 "/class", "0x010802\n");
	put("sys/bus/pci/devices/" VF0 "/modalias",
	    "pci:v00001B36d00000010sv00001AF4sd00001100bc01sc08i02\n");
	put("sys/bus/pci/devices/" VF0 "/driver_override", "vfio-pci\n");
	link_to("sys/bus/pci/devices/" VF0 "/physfn", "../" PF);
	link_to("sys/bus/pci/devices/" VF0 "/driver", "../../drivers/vfio-pci");
	link_to("sys/bus/pci/devices/" VF0 "/iommu_group", "../../../kernel/iommu_groups/5");
	put("sys/bus/pci/devices/" VF0 "/driver/unbind", "");

	/* VF1: nvme with one namespace */
	put("sys/bus/pci/devices/" VF1 "/class", "0x010802\n");
	put("sys/bus/pci/devices/" VF1 "/driver_override", "(null)\n");
	link_to("sys/bus/pci/devices/" VF1 "/physfn", "../" PF);
	link_to("sys/bus/pci/devices/" VF1 "/driver", "../../drivers/nvme");
	link_to("sys/bus/pci/devices/" VF1 "/iommu_group", "../../../kernel/iommu_groups/6");
	mkdir_p("sys/bus/pci/devices/" VF1 "/nvme/nvme1/nvme1n1");
	mkdir_p("sys/bus/pci/devices/" VF1 "/nvme/nvme1/power");

	/* something that is not NVMe, and an NVMe function without SR-IOV */
	put("sys/bus/pci/devices/0000:00:02.0/class", "0x030000\n");
	put("sys/bus/pci/devices/0000:02:00.0/class", "0x010802\n");

	mkdir_p("sys/module/qemu_nvme_vfio/drivers/pci:qemu-nvme-vfio");
	put("sys/bus/pci/drivers_probe", "");

	g_assert_cmpint(uname(&u), ==, 0);
	alias = g_strdup_printf("lib/modules/%s/modules.alias", u.release);
	put(alias,
	    "# Aliases extracted from modules themselves.\n"
	    "alias pci:v*d*sv*sd*bc01sc08i02* nvme\n"
	    "alias vfio_pci:v000015B3d0000101Esv*sd*bc*sc*i* mlx5_vfio_pci\n"
	    "alias vfio_pci:v00001B36d*sv*sd*bc*sc*i* generic_variant\n"
	    "alias  vfio_pci:v00001B36d00000010sv*sd*bc*sc*i*   qemu_nvme_vfio\n"
	    "alias pci:v00001B36d00000010sv*sd*bc*sc*i* not_a_variant\n");

	/* a "QEMU" holding VF0's group open, and a shell holding nothing */
	put("proc/4242/comm", "qemu-system-x86\n");
	link_to("proc/4242/fd/0", "/dev/null");
	link_to("proc/4242/fd/17", "/dev/vfio/5");
	put("proc/77/comm", "sh\n");
	link_to("proc/77/fd/1", "/dev/pts/0");
	put("proc/locks", "");

	/* the PF's controller device, for nvfm_pf_open() */
	put("dev/nvme0", "");
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
	put("tmp-garbage", "12ab\n");
	{
		g_autofree char *g = g_build_filename(root, "tmp-garbage", NULL);

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
	mkdir_p("sys/bus/pci/devices/" VF0 "/vfio-dev/vfio3");
	g_assert_cmpint(nvfm_pci_vfio_cdev(VF0, &c0), ==, 0);
	g_assert_null(c0);
	put("dev/vfio/devices/vfio3", "");
	g_assert_cmpint(nvfm_pci_vfio_cdev(VF0, &c0), ==, 0);
	g_assert_cmpstr(c0, ==, "/dev/vfio/devices/vfio3");
	g_assert_cmpint(nvfm_pci_nvme_ctrl(PF, &ctrl), ==, 0);
	g_assert_cmpstr(ctrl, ==, "nvme0");

	/* writes go where the kernel expects them */
	g_assert_cmpint(nvfm_pci_set_driver_override(VF1, "vfio-pci"), ==, 0);
	after = read_back("sys/bus/pci/devices/" VF1 "/driver_override");
	g_assert_cmpstr(after, ==, "vfio-pci");
	g_clear_pointer(&after, g_free);
	g_assert_cmpint(nvfm_pci_set_driver_override(VF1, NULL), ==, 0);
	after = read_back("sys/bus/pci/devices/" VF1 "/driver_override");
	g_assert_cmpstr(after, ==, "\n");
	g_assert_cmpint(nvfm_pci_driver_override(VF1, &o1), ==, 0);
	g_assert_null(o1);
	g_clear_pointer(&after, g_free);
	g_assert_cmpint(nvfm_pci_unbind(VF0), ==, 0);
	after = read_back("sys/bus/pci/devices/" VF0 "/driver/unbind");
	g_assert_cmpstr(after, ==, VF0);
	g_clear_pointer(&after, g_free);
	g_assert_cmpint(nvfm_pci_probe(VF0), ==, 0);
	after = read_back("sys/bus/pci/drivers_probe");
	g_assert_cmpstr(after, ==, VF0);
	g_clear_pointer(&after, g_free);
	g_assert_cmpint(nvfm_pci_sriov_set_numvfs(PF, 0), ==, 0);
	after = read_back("sys/bus/pci/devices/" PF "/sriov_numvfs");
	g_assert_cmpstr(after, ==, "0");
	g_assert_cmpint(nvfm_pci_sriov_set_numvfs(PF, 2), ==, 0);
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

static void test_modalias(void)
{
	g_autofree char *file = nvfm_modules_alias_path();
	g_autofree char *m = NULL, *none = NULL, *plain = NULL, *drv = NULL;

	/* the most specific vfio_pci entry; plain pci: entries never count */
	g_assert_cmpint(nvfm_modalias_vfio_variant(file,
						   "pci:v00001B36d00000010sv00001AF4sd00001100bc01sc08i02",
						   &m), ==, 0);
	g_assert_cmpstr(m, ==, "qemu_nvme_vfio");
	g_assert_cmpint(nvfm_modalias_vfio_variant(file,
						   "pci:v00008086d00000A54sv00008086sd00000000bc01sc08i02",
						   &none), ==, 0);
	g_assert_null(none);
	g_assert_cmpint(nvfm_modalias_vfio_variant(file, "acpi:XYZ0001:", &plain), ==, 0);
	g_assert_null(plain);
	g_assert_cmpint(nvfm_module_pci_driver("qemu-nvme-vfio", &drv), ==, 0);
	g_assert_cmpstr(drv, ==, "qemu-nvme-vfio");
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

	/* libvirt's choice: the variant driver modules.alias names */
	drv = nvfm_vf_default_driver(nvfm_test_addr("vfio:" VF0), &error);
	g_assert_no_error(error);
	g_assert_cmpstr(drv, ==, "qemu-nvme-vfio");
	g_clear_pointer(&drv, g_free);
	/* a VF that is not enabled yet: the modalias comes from the PF */
	put("sys/bus/pci/devices/" PF "/sriov_numvfs", "0\n");
	{
		g_autofree char *vf = NULL;

		g_assert_cmpint(nvfm_pci_vf_predict(PF, 1, &vf), ==, 0);
		g_assert_cmpstr(vf, ==, VF1);
	}
	put("sys/bus/pci/devices/" PF "/sriov_numvfs", "2\n");
	/* without a matching entry: vfio-pci */
	put("sys/bus/pci/devices/" VF0 "/modalias",
	    "pci:v00008086d00000A54sv00008086sd00000000bc01sc08i02\n");
	drv = nvfm_vf_default_driver(nvfm_test_addr(VF0), &error);
	g_assert_no_error(error);
	g_assert_cmpstr(drv, ==, "vfio-pci");
}

int main(int argc, char **argv)
{
	g_autoptr(GError) error = NULL;
	g_autofree char *dev = NULL;
	int r;

	g_test_init(&argc, &argv, NULL);
	root = g_dir_make_tmp("nvfm-sysfs-XXXXXX", &error);
	g_assert_no_error(error);
	dev = g_build_filename(root, NULL);
	g_setenv("NVFM_SYSFS_ROOT", root, TRUE);
	g_setenv("NVFM_DEV_ROOT", dev, TRUE);
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
	g_test_add_func("/sysfs/pf-open", test_pf_open);
	r = g_test_run();
	nvfm_test_rm_rf(root);
	return r;
}
