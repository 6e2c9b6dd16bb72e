/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The kernel VFIO backend without a kernel: a fake sysfs and /dev tree in a
 * temporary directory (through NVFM_SYSFS_ROOT and NVFM_DEV_ROOT) decides
 * which interface is chosen and what the user is told, and a stand-in for
 * ioctl(2), defined here and so linked in place of libc's, plays the VFIO
 * and iommufd uAPI on the fake nodes with the argument checks the kernel
 * makes (argsz, flags, feature GET/SET/PROBE rules).
 */
#include <fcntl.h>
#include <stdarg.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "src/lib/util/util-private.h"
#include "src/lib/engine/vfio-compat.h"
#include "src/lib/engine/vfio-kernel.h"
#include "tests/common/fakekernel.h"
#include "tests/common/testutil.h"

/* ---- the fixture ------------------------------------------------------ */

#define MDEV_A "83b8f4f2-509f-382f-3c1e-e6bfe0fa1001"
#define MDEV_B "83b8f4f2-509f-382f-3c1e-e6bfe0fa1002"
#define MDEV_C "83b8f4f2-509f-382f-3c1e-e6bfe0fa1003"


typedef struct {
	const char *root;
} Fixture;

static void touch(const char *rel)
{
	fk_put(rel, "");
}

static void fixture_setup(Fixture *f, gconstpointer data)
{
	f->root = fk_init();
	/* a VF bound to vfio-pci with a vfio cdev, the legacy-only kind, an
	 * NVMe-bound one, one without an IOMMU group, an unbound one, a
	 * variant driver, and group 14 shared with an NVMe-bound function */
	fk_add_pci("0000:3b:00.2", 0x010802, "vfio-pci", 12, "vfio3");
	fk_add_pci("0000:3b:00.3", 0x010802, "nvme", 13, NULL);
	fk_add_pci("0000:3b:00.4", 0x010802, "vfio-pci", -1, NULL);
	fk_add_pci("0000:3b:00.5", 0x010802, "vfio-pci", 14, NULL);
	fk_add_pci("0000:3b:00.6", 0x010802, NULL, 14, NULL);
	fk_add_pci("0000:3b:00.7", 0x010802, "nvme", 14, NULL);
	fk_add_pci("0000:3a:00.0", 0x060400, "pcieport", 14, NULL);
	fk_add_pci("0000:3c:00.0", 0x010802, "mlx5_vfio_pci", 15, NULL);
	touch("/mock/device");
	touch("/mock/data");
}

static void fixture_teardown(Fixture *f, gconstpointer data)
{
	fk_cleanup();
}

static guint count_open_fds(void)
{
	g_autoptr(GDir) dir = g_dir_open("/proc/self/fd", 0, NULL);
	guint n = 0;

	while (dir && g_dir_read_name(dir))
		n++;
	return n;
}

static void assert_error_has(GError *error, int code, const char *part)
{
	g_assert_nonnull(error);
	if (!strstr(error->message, part))
		g_error("message '%s' lacks '%s'", error->message, part);
	g_assert_error(error, NVFM_ERROR, code);
	g_assert_null(strchr(error->message, '\n'));
}

/* Opens @addr through the PCI constructor and returns the error. */
static GError *open_pci_error(const char *addr)
{
	NvfmDevice dev = { .data_fd = -1 };
	GError *error = NULL;

	if (nvfm_vfio_open_pci(&dev, addr, &error)) {
		dev.ops->close(&dev);
		g_error("%s opened unexpectedly", addr);
	}
	return error;
}

/* ---- tests ------------------------------------------------------------ */

static void test_parse_address(void)
{
	static const struct {
		const char *in, *out;
	} good[] = {
		{ "0000:3b:00.2", "0000:3b:00.2" },
		{ "3b:00.2", "0000:3b:00.2" },
		{ "0000:3B:1F.7", "0000:3b:1f.7" },
		{ "ABCD:ff:00.0", "abcd:ff:00.0" },
	};
	static const char *const bad[] = {
		"", "3b:00", "0000:3b:00", "0000:3b:00.8", "0000:3b:20.0", "00000:3b:00.2",
		"0000:3b:00.2x", "0000:3b:00.", "zz:00.0", "0000-3b-00.2", " 3b:00.2",
		"0000:3b:0.2", "0:3b:00.2", "0000:3b:00:2", "vfio:0000:3b:00.2",
	};
	char out[NVFM_PCI_ADDR_LEN];

	for (guint i = 0; i < G_N_ELEMENTS(good); i++) {
		g_autoptr(GError) error = NULL;

		g_assert_true(nvfm_pci_addr_parse(good[i].in, out, &error));
		g_assert_no_error(error);
		g_assert_cmpstr(out, ==, good[i].out);
	}
	for (guint i = 0; i < G_N_ELEMENTS(bad); i++) {
		g_autoptr(GError) error = NULL;

		g_assert_false(nvfm_pci_addr_parse(bad[i], out, &error));
		assert_error_has(error, NVFM_ERROR_INVALID_ARG, "expected DDDD:BB:DD.F");
		g_assert_nonnull(strstr(error->message, bad[i]));
	}
}

static void test_locate(Fixture *f, gconstpointer data)
{
	g_autoptr(GError) error = NULL;

	{
		g_auto(NvfmVfioLocation) loc = { 0 };

		/* the short form means domain 0000 */
		g_assert_true(nvfm_vfio_locate("3b:00.2", &loc, &error));
		g_assert_no_error(error);
		g_assert_cmpstr(loc.addr, ==, "0000:3b:00.2");
		g_assert_cmpstr(loc.driver, ==, "vfio-pci");
		g_assert_cmpint(loc.iommu_group, ==, 12);
		g_assert_cmpstr(loc.cdev_name, ==, "vfio3");
		g_assert_true(g_str_has_prefix(loc.sysfs_dir, f->root));
	}
	{
		g_auto(NvfmVfioLocation) loc = { 0 };

		g_assert_true(nvfm_vfio_locate("0000:3b:00.5", &loc, &error));
		g_assert_cmpint(loc.iommu_group, ==, 14);
		g_assert_null(loc.cdev_name);
	}
	{
		g_auto(NvfmVfioLocation) loc = { 0 };

		/* variant drivers count as VFIO drivers */
		g_assert_true(nvfm_vfio_locate("0000:3c:00.0", &loc, &error));
		g_assert_cmpstr(loc.driver, ==, "mlx5_vfio_pci");
		g_assert_cmpint(loc.iommu_group, ==, 15);
	}
}

static void test_sysfs_errors(Fixture *f, gconstpointer data)
{
	GError *e;

	e = open_pci_error("0000:99:00.0");
	assert_error_has(e, NVFM_ERROR_NOT_FOUND, "no PCI device 0000:99:00.0");
	g_error_free(e);

	e = open_pci_error("3b:00.3");
	assert_error_has(e, NVFM_ERROR_NOT_SUPPORTED,
			 "PCI device 0000:3b:00.3 is bound to nvme, not to a VFIO driver");
	g_error_free(e);

	e = open_pci_error("0000:3b:00.6");
	assert_error_has(e, NVFM_ERROR_NOT_SUPPORTED, "is not bound to any driver");
	g_error_free(e);

	e = open_pci_error("0000:3b:00.4");
	assert_error_has(e, NVFM_ERROR_NOT_SUPPORTED, "0000:3b:00.4 has no IOMMU group");
	g_error_free(e);

	e = open_pci_error("0000:3b:00");
	assert_error_has(e, NVFM_ERROR_INVALID_ARG, "invalid PCI address '0000:3b:00'");
	g_error_free(e);
}

static void test_group_blockers(Fixture *f, gconstpointer data)
{
	g_autofree char *b14 = nvfm_vfio_group_blockers(14);
	g_autofree char *b12 = nvfm_vfio_group_blockers(12);
	g_autofree char *b99 = nvfm_vfio_group_blockers(99);

	/* unbound functions and bridges under pcieport do not block */
	g_assert_cmpstr(b14, ==, "0000:3b:00.7 (nvme)");
	g_assert_null(b12);
	g_assert_null(b99);
}

/* Without the cdev nodes in /dev the group interface is used, even for a
 * device that has a cdev in sysfs; without /dev/vfio/vfio that says so. */
static void test_missing_nodes(Fixture *f, gconstpointer data)
{
	GError *e = open_pci_error("0000:3b:00.2");

	assert_error_has(e, NVFM_ERROR_NOT_FOUND, "/dev/vfio/vfio");
	g_assert_nonnull(strstr(e->message, "is the vfio module loaded?"));
	g_error_free(e);

	/* container present, group node missing */
	touch("/dev/vfio/vfio");
	e = open_pci_error("0000:3b:00.5");
	assert_error_has(e, NVFM_ERROR_NOT_FOUND, "/dev/vfio/14");
	g_error_free(e);
}

/* Nodes that are not what they claim to be: the ioctls fail for real. */
static void test_not_vfio_nodes(Fixture *f, gconstpointer data)
{
	GError *e;

	fk_vfio.passthrough = TRUE; /* the fake kernel is off: plain files answer ENOTTY */
	touch("/dev/vfio/vfio");
	touch("/dev/vfio/devices/vfio3");
	touch("/dev/iommu");

	e = open_pci_error("0000:3b:00.5");
	assert_error_has(e, NVFM_ERROR_NOT_SUPPORTED, "/dev/vfio/vfio is not a VFIO container");
	g_error_free(e);

	/* with the cdev nodes present the cdev interface is chosen */
	e = open_pci_error("0000:3b:00.2");
	assert_error_has(e, NVFM_ERROR_NOT_SUPPORTED, "binding ");
	g_assert_nonnull(strstr(e->message, "/dev/vfio/devices/vfio3 to iommufd failed"));
	g_error_free(e);
}

static void make_cdev_nodes(Fixture *f)
{
	touch("/dev/vfio/devices/vfio3");
	touch("/dev/iommu");
}

static void test_cdev_open(Fixture *f, gconstpointer data)
{
	NvfmDevice dev = { .data_fd = -1 };
	g_autoptr(GError) error = NULL;
	guint fds_before = count_open_fds();
	guint32 flags = 0;
	guint64 size = 0, initial = 0, dirty = 0;
	NvfmMigState st = NVFM_MIG_STATE_ERROR;
	int data_fd = 7;

	make_cdev_nodes(f);
	g_assert_true(nvfm_vfio_open_pci(&dev, "0000:3b:00.2", &error));
	g_assert_no_error(error);
	g_assert_cmpstr(dev.ops->name, ==, "vfio-cdev");
	g_assert_true(fk_vfio.bound);
	g_assert_cmpuint(fk_vfio.attached_pt, ==, 2);

	g_assert_nonnull(dev.ops->get_flags);
	g_assert_null(dev.ops->data_read);
	g_assert_null(dev.ops->data_write);

	g_assert_cmpint(dev.ops->get_flags(&dev, &flags), ==, 0);
	g_assert_cmpuint(flags, ==, fk_vfio.mig_flags);
	g_assert_cmpint(dev.ops->get_data_size(&dev, &size), ==, 0);
	g_assert_cmpuint(size, ==, 123456789);
	g_assert_cmpint(dev.ops->probe_dma_logging(&dev), ==, -ENOTTY);
	fk_vfio.dma_logging = TRUE;
	g_assert_cmpint(dev.ops->probe_dma_logging(&dev), ==, 0);

	g_assert_cmpint(dev.ops->get_state(&dev, &st), ==, 0);
	g_assert_cmpint(st, ==, NVFM_MIG_STATE_RUNNING);
	/* an arc that opens no session hands out -1 */
	g_assert_cmpint(dev.ops->set_state(&dev, NVFM_MIG_STATE_PRE_COPY, &data_fd), ==, 0);
	g_assert_cmpint(data_fd, >=, 0);
	g_assert_cmpint(dev.ops->precopy_info(&dev, data_fd, &initial, &dirty), ==, 0);
	g_assert_cmpuint(initial, ==, 4096);
	g_assert_cmpuint(dirty, ==, 512);
	close(data_fd);
	data_fd = 7;
	g_assert_cmpint(dev.ops->set_state(&dev, NVFM_MIG_STATE_RUNNING, &data_fd), ==, 0);
	g_assert_cmpint(data_fd, ==, -1);
	g_assert_cmpint(dev.ops->get_state(&dev, &st), ==, 0);
	g_assert_cmpint(st, ==, NVFM_MIG_STATE_RUNNING);
	/* the kernel's answer passes through as -errno, data_fd stays -1 */
	data_fd = 7;
	g_assert_cmpint(dev.ops->set_state(&dev, NVFM_MIG_STATE_ERROR, &data_fd), ==, -EINVAL);
	g_assert_cmpint(data_fd, ==, -1);
	/* that request was this test's own, not the tool's */
	g_assert_cmpuint(fk_vfio.n_illegal_arcs, ==, 1);
	fk_vfio.n_illegal_arcs = 0;

	g_assert_cmpint(dev.ops->set_state(&dev, NVFM_MIG_STATE_RUNNING_P2P, &data_fd), ==, 0);
	g_assert_cmpint(dev.ops->reset(&dev), ==, 0);
	g_assert_cmpuint(fk_vfio.n_resets, ==, 1);
	g_assert_cmpint(fk_vfio.state, ==, NVFM_MIG_STATE_RUNNING);

	{
		json_auto_t *obj = json_object();

		g_assert_nonnull(dev.ops->compat_facts);
		g_assert_cmpint(dev.ops->compat_facts(&dev, obj), ==, 0);
		g_assert_cmpint(json_integer_value(json_object_get(obj, "vendor_id")), ==, 0x1b36);
		g_assert_cmpint(json_integer_value(json_object_get(obj, "device_id")), ==, 0x0010);
		g_assert_cmpstr(json_string_value(json_object_get(obj, "driver")), ==, "vfio-pci");
		g_assert_null(json_object_get(obj, "subsystem_vendor_id"));
	}

	dev.ops->close(&dev);
	g_assert_null(dev.priv);
	g_assert_cmpuint(count_open_fds(), ==, fds_before);
}

/* iommufd: IOMMU_GET_HW_INFO's DIRTY_TRACKING capability for our device */
static void test_cdev_dirty(Fixture *f, gconstpointer data)
{
	g_autoptr(GError) error = NULL;
	NvfmDevice *dev;
	NvfmDirtyInfo d;

	make_cdev_nodes(f);
	dev = nvfm_device_open(nvfm_test_addr("vfio:0000:3b:00.2"), &error);
	g_assert_no_error(error);
	g_assert_true(nvfm_device_get_dirty_tracking(dev, &d, &error));
	g_assert_cmpint(d.mode, ==, NVFM_DIRTY_TRACKING_NONE);
	g_assert_cmpstr(d.iommu, ==, "iommufd");
	g_assert_false(d.iommu_dirty);
	fk_vfio.iommu_dirty = TRUE;
	g_assert_true(nvfm_device_get_dirty_tracking(dev, &d, &error));
	g_assert_cmpint(d.mode, ==, NVFM_DIRTY_TRACKING_IOMMU);
	g_assert_true(d.iommu_dirty);
	g_assert_cmpuint(d.iommu_pgsizes, ==, 0);
	/* QEMU prefers the device's own logging */
	fk_vfio.dma_logging = TRUE;
	g_assert_true(nvfm_device_get_dirty_tracking(dev, &d, &error));
	g_assert_cmpint(d.mode, ==, NVFM_DIRTY_TRACKING_DEVICE);
	g_assert_true(d.dma_logging);
	nvfm_device_close(dev);
}

/* type1: the migration capability, found past another one in the chain */
static void test_group_dirty(Fixture *f, gconstpointer data)
{
	g_autoptr(GError) error = NULL;
	NvfmDevice *dev;
	NvfmDirtyInfo d;

	touch("/dev/vfio/vfio");
	touch("/dev/vfio/14");
	dev = nvfm_device_open(nvfm_test_addr("vfio:0000:3b:00.5"), &error);
	g_assert_no_error(error);
	g_assert_true(nvfm_device_get_dirty_tracking(dev, &d, &error));
	g_assert_cmpint(d.mode, ==, NVFM_DIRTY_TRACKING_NONE);
	g_assert_cmpstr(d.iommu, ==, "type1");
	fk_vfio.iommu_dirty = TRUE;
	g_assert_true(nvfm_device_get_dirty_tracking(dev, &d, &error));
	g_assert_cmpint(d.mode, ==, NVFM_DIRTY_TRACKING_IOMMU);
	g_assert_cmpuint(d.iommu_pgsizes, ==, 0x1000);
	g_assert_cmpuint(d.iommu_max_bitmap, ==, 256ull << 20);
	nvfm_device_close(dev);
}

static void test_cdev_in_use(Fixture *f, gconstpointer data)
{
	guint fds_before = count_open_fds();
	GError *e;

	make_cdev_nodes(f);
	fk_vfio.bind_errno = EBUSY;
	e = open_pci_error("0000:3b:00.2");
	assert_error_has(e, NVFM_ERROR_BUSY, "in use by another process (e.g. QEMU)");
	g_error_free(e);

	/* a second bind of an open cdev is refused with EINVAL */
	fk_vfio.bind_errno = EINVAL;
	e = open_pci_error("0000:3b:00.2");
	assert_error_has(e, NVFM_ERROR_BUSY, "in use by another process, e.g. QEMU?");
	g_error_free(e);

	fk_vfio.bind_errno = EACCES;
	e = open_pci_error("0000:3b:00.2");
	assert_error_has(e, NVFM_ERROR_PERMISSION, "permission denied for PCI device 0000:3b:00.2");
	g_error_free(e);

	/* nothing leaks on the failure paths */
	g_assert_cmpuint(count_open_fds(), ==, fds_before);
}

static void test_group_open(Fixture *f, gconstpointer data)
{
	NvfmDevice dev = { .data_fd = -1 };
	g_autoptr(GError) error = NULL;
	guint fds_before = count_open_fds();
	guint32 flags = 0;

	touch("/dev/vfio/vfio");
	touch("/dev/vfio/14");
	g_assert_true(nvfm_vfio_open_pci(&dev, "3b:00.5", &error));
	g_assert_no_error(error);
	g_assert_cmpstr(dev.ops->name, ==, "vfio-group");
	g_assert_true(fk_vfio.container_set);
	g_assert_cmpuint(fk_vfio.iommu_type, ==, VFIO_TYPE1v2_IOMMU);
	g_assert_cmpstr(fk_vfio.device_name, ==, "0000:3b:00.5");
	g_assert_cmpint(dev.ops->get_flags(&dev, &flags), ==, 0);
	dev.ops->close(&dev);
	g_assert_cmpuint(count_open_fds(), ==, fds_before);

	/* an IOMMU without the v2 semantics */
	fk_vfio_reset();
	fk_vfio.reject_type1v2 = TRUE;
	g_assert_true(nvfm_vfio_open_pci(&dev, "0000:3b:00.5", &error));
	g_assert_cmpuint(fk_vfio.iommu_type, ==, VFIO_TYPE1_IOMMU);
	dev.ops->close(&dev);
	g_assert_cmpuint(count_open_fds(), ==, fds_before);
}

static void test_group_not_viable(Fixture *f, gconstpointer data)
{
	guint fds_before = count_open_fds();
	GError *e;

	touch("/dev/vfio/vfio");
	touch("/dev/vfio/14");
	fk_vfio.group_not_viable = TRUE;
	e = open_pci_error("0000:3b:00.5");
	assert_error_has(e, NVFM_ERROR_NOT_SUPPORTED,
			 "IOMMU group 14 of PCI device 0000:3b:00.5 is not viable");
	g_assert_nonnull(strstr(e->message, "(bound elsewhere: 0000:3b:00.7 (nvme))"));
	g_error_free(e);
	g_assert_cmpuint(count_open_fds(), ==, fds_before);
}

/* What a refused address says is one line whatever the text held (the
 * hook's configuration, an agent request): control characters are
 * escaped, not echoed. Found by fuzz-hook-config. */
static void test_address_error_one_line(void)
{
	static const char *const bad[] = { "e0a0:no\n_x", "emu:a\nb", "vfio:\r\n0000:3b:00.2",
					   "0000:3b:00.2\n", "emu:\033[2J" };

	for (guint i = 0; i < G_N_ELEMENTS(bad); i++) {
		g_autoptr(GError) e1 = NULL, e2 = NULL, e3 = NULL, e4 = NULL;
		char pci[NVFM_PCI_ADDR_LEN];

		g_assert_null(nvfm_address_parse(bad[i], &e1));
		g_assert_null(nvfm_address_parse_pf(bad[i], &e2));
		g_assert_null(nvfm_address_new_emu(bad[i], &e3));
		g_assert_false(nvfm_pci_addr_parse(bad[i], pci, &e4));
		for (GError **e = (GError *[]){ e1, e2, e3, e4 }, **end = e + 4; e < end; e++) {
			g_assert_nonnull(*e);
			for (const char *c = (*e)->message; *c; c++)
				g_assert_false(g_ascii_iscntrl(*c));
		}
	}
}

/* Every spelling of a VFIO device, and its canonical text. */
static void test_address_forms(void)
{
	static const struct {
		const char *in, *text;
		NvfmAddressKind kind;
	} good[] = {
		{ "vfio:0000:3b:00.2", "vfio:0000:3b:00.2", NVFM_ADDR_PCI },
		{ "3B:00.2", "vfio:0000:3b:00.2", NVFM_ADDR_PCI },
		{ "vfio:/sys/bus/pci/devices/0000:3b:00.2", "vfio:0000:3b:00.2", NVFM_ADDR_PCI },
		{ "vfio:/sys/devices/pci0000:3a/0000:3a:00.0/0000:3b:00.2", "vfio:0000:3b:00.2",
		  NVFM_ADDR_PCI },
		{ "vfio:" MDEV_A, "vfio:" MDEV_A, NVFM_ADDR_MDEV },
		{ "vfio:83B8F4F2-509F-382F-3C1E-E6BFE0FA1001", "vfio:" MDEV_A, NVFM_ADDR_MDEV },
		{ "vfio:/sys/bus/mdev/devices/" MDEV_A, "vfio:" MDEV_A, NVFM_ADDR_MDEV },
		{ "fd:7", "fd:7", NVFM_ADDR_FD },
	};
	static const char *const bad[] = {
		"vfio:", "vfio:/sys/bus/mdev/devices/", "vfio:/sys/bus/pci/devices/3b:00.2",
		"vfio:/proc/" MDEV_A, "vfio:/sys/../" MDEV_A, "vfio:/sys/bus/mdev/devices/..",
		"vfio:83b8f4f2509f382f3c1ee6bfe0fa1001", "vfio:83b8f4f2-509f-382f-3c1e-e6bfe0fa100",
		"vfio:83b8f4f2-509f-382f-3c1e-e6bfe0fa1001x", "vfio:g3b8f4f2-509f-382f-3c1e-e6bfe0fa1001",
		"pci:" MDEV_A, "vfio:fd:3",
	};

	for (guint i = 0; i < G_N_ELEMENTS(good); i++) {
		g_autoptr(GError) error = NULL;
		g_autoptr(NvfmAddress) a = nvfm_address_parse(good[i].in, &error);

		g_assert_no_error(error);
		g_assert_cmpint(a->kind, ==, good[i].kind);
		g_assert_cmpstr(a->text, ==, good[i].text);
	}
	for (guint i = 0; i < G_N_ELEMENTS(bad); i++) {
		g_autoptr(GError) error = NULL;

		g_assert_null(nvfm_address_parse(bad[i], &error));
		assert_error_has(error, NVFM_ERROR_INVALID_ARG, "vfio:UUID, vfio:/sys/...");
	}
}

static void test_fd_bad_spec(void)
{
	static const char *const bad[] = {
		"", "abc", "-1", "+3", "3x", " 3", "0x3", "99999999999", "2147483648",
	};

	/* an fd number is parsed with the address, before any backend */
	for (guint i = 0; i < G_N_ELEMENTS(bad); i++) {
		g_autoptr(GError) error = NULL;
		g_autofree char *text = g_strconcat("fd:", bad[i], NULL);
		g_autofree char *want = g_strdup_printf("invalid device address '%s'", text);

		g_assert_null(nvfm_address_parse(text, &error));
		assert_error_has(error, NVFM_ERROR_INVALID_ARG, want);
	}
}

static void test_fd_not_open(void)
{
	NvfmDevice dev = { .data_fd = -1 };
	g_autoptr(GError) error = NULL;
	g_autofree char *spec = NULL;
	g_autofree char *want = NULL;
	int fd = open("/dev/null", O_RDONLY | O_CLOEXEC);

	g_assert_cmpint(fd, >=, 0);
	close(fd);
	want = g_strdup_printf("fd %d is not open", fd);
	g_assert_false(nvfm_vfio_open_fd(&dev, fd, &error));
	assert_error_has(error, NVFM_ERROR_INVALID_ARG, want);
}

static void test_fd_dev_null(void)
{
	NvfmDevice dev = { .data_fd = -1 };
	g_autoptr(GError) error = NULL;
	g_autofree char *spec = NULL;
	g_autofree char *want = NULL;
	int fd = open("/dev/null", O_RDWR | O_CLOEXEC);

	g_assert_cmpint(fd, >=, 0);
	want = g_strdup_printf("fd %d is not a VFIO device", fd);
	g_assert_false(nvfm_vfio_open_fd(&dev, fd, &error));
	assert_error_has(error, NVFM_ERROR_INVALID_ARG, want);
	close(fd);
}

/* Ops on something that is not a VFIO device report the kernel's ENOTTY,
 * which the engine reads as "no migration support". */
static void test_ops_enotty(void)
{
	NvfmDevice dev = { .data_fd = -1 };
	guint32 flags = 0;
	guint64 v = 0, w = 0;
	NvfmMigState st;
	int data_fd = 5;
	int fd = open("/dev/null", O_RDWR | O_CLOEXEC);

	g_assert_cmpint(fd, >=, 0);
	nvfm_vfio_adopt_fd(&dev, fd);
	g_assert_cmpstr(dev.ops->name, ==, "fd");
	g_assert_null(dev.ops->compat_facts);
	g_assert_cmpint(dev.ops->get_flags(&dev, &flags), ==, -ENOTTY);
	g_assert_cmpint(dev.ops->get_data_size(&dev, &v), ==, -ENOTTY);
	g_assert_cmpint(dev.ops->probe_dma_logging(&dev), ==, -ENOTTY);
	/* an fd handed in: its container or iommufd is its owner's */
	g_assert_cmpint(dev.ops->iommu_dirty(&dev, NULL), ==, -ENOTTY);
	g_assert_cmpint(dev.ops->dma_log_stop(&dev), ==, -ENOTTY);
	g_assert_cmpint(dev.ops->get_state(&dev, &st), ==, -ENOTTY);
	g_assert_cmpint(dev.ops->set_state(&dev, NVFM_MIG_STATE_STOP, &data_fd), ==, -ENOTTY);
	g_assert_cmpint(data_fd, ==, -1);
	g_assert_cmpint(dev.ops->reset(&dev), ==, -ENOTTY);
	g_assert_cmpint(dev.ops->precopy_info(&dev, fd, &v, &w), ==, -ENOTTY);
	dev.ops->close(&dev);
	/* the adopted fd was the backend's to close */
	g_assert_cmpint(fcntl(fd, F_GETFD), ==, -1);
}

static void test_fd_backend(Fixture *f, gconstpointer data)
{
	NvfmDevice dev = { .data_fd = -1 };
	g_autoptr(GError) error = NULL;
	g_autofree char *path = g_strconcat(f->root, "/mock/device", NULL);
	g_autofree char *spec = NULL;
	guint32 flags = 0;
	guint64 size;
	int fd = open(path, O_RDWR | O_CLOEXEC);

	g_assert_cmpint(fd, >=, 0);
	g_assert_true(nvfm_vfio_open_fd(&dev, fd, &error));
	g_assert_no_error(error);
	g_assert_cmpstr(dev.ops->name, ==, "fd");
	g_assert_cmpint(dev.ops->get_flags(&dev, &flags), ==, 0);
	g_assert_cmpuint(flags, ==, fk_vfio.mig_flags);
	fk_vfio.no_migration = TRUE;
	g_assert_cmpint(dev.ops->get_flags(&dev, &flags), ==, -ENOTTY);
	g_assert_cmpint(dev.ops->get_data_size(&dev, &size), ==, -ENOTTY);
	dev.ops->close(&dev);
	/* the caller's fd is still the caller's */
	g_assert_cmpint(fcntl(fd, F_GETFD), >=, 0);
	close(fd);
}

/* Through the engine: the public API drives this backend's ops. */
static void test_engine_over_fd(Fixture *f, gconstpointer data)
{
	g_autoptr(GError) error = NULL;
	g_autofree char *path = g_strconcat(f->root, "/mock/device", NULL);
	g_autofree char *addr = NULL;
	g_autoptr(NvfmDevice) dev = NULL;
	NvfmMigFeatures feat;
	NvfmMigState st;
	int fd = open(path, O_RDWR | O_CLOEXEC);

	g_assert_cmpint(fd, >=, 0);
	addr = g_strdup_printf("fd:%d", fd);
	dev = nvfm_device_open(nvfm_test_addr(addr), &error);
	g_assert_no_error(error);
	g_assert_cmpstr(nvfm_device_backend_name(dev), ==, "fd");
	g_assert_true(nvfm_device_get_features(dev, &feat, &error));
	g_assert_cmpuint(feat.flags, ==, fk_vfio.mig_flags);
	g_assert_true(feat.has_data_size);
	g_assert_cmpuint(feat.stop_copy_length, ==, 123456789);
	g_assert_true(nvfm_device_set_state(dev, NVFM_MIG_STATE_STOP_COPY, &error));
	g_assert_no_error(error);
	g_assert_cmpint(fk_vfio.state, ==, NVFM_MIG_STATE_STOP_COPY);
	g_assert_cmpint(nvfm_device_data_fd(dev), >=, 0);
	g_assert_true(nvfm_device_get_state(dev, &st, &error));
	g_assert_cmpint(st, ==, NVFM_MIG_STATE_STOP_COPY);
	g_assert_true(nvfm_device_set_state(dev, NVFM_MIG_STATE_RUNNING, &error));
	g_assert_cmpint(nvfm_device_data_fd(dev), ==, -1);
	g_clear_pointer(&dev, nvfm_device_close);
	close(fd);
}

/* A device another process left in RESUMING (it died mid-load): the next
 * user aborts that session with a reset and never commits it. */
static void test_foreign_resuming(Fixture *f, gconstpointer data)
{
	g_autoptr(GError) error = NULL;
	g_autofree char *path = g_strconcat(f->root, "/mock/device", NULL);
	g_autofree char *addr = NULL;
	g_autoptr(NvfmDevice) dev = NULL;
	int fd = open(path, O_RDWR | O_CLOEXEC);

	g_assert_cmpint(fd, >=, 0);
	addr = g_strdup_printf("fd:%d", fd);
	dev = nvfm_device_open(nvfm_test_addr(addr), &error);
	g_assert_no_error(error);
	fk_vfio.state = NVFM_MIG_STATE_RESUMING;
	g_assert_true(nvfm_device_set_state(dev, NVFM_MIG_STATE_STOP, &error));
	g_assert_no_error(error);
	g_assert_cmpuint(fk_vfio.n_resuming_commits, ==, 0);
	g_assert_cmpuint(fk_vfio.n_resets, ==, 1);
	g_assert_cmpint(fk_vfio.state, ==, NVFM_MIG_STATE_STOP);
	/* a session of our own is committed as usual */
	g_assert_true(nvfm_device_set_state(dev, NVFM_MIG_STATE_RESUMING, &error));
	g_assert_true(nvfm_device_set_state(dev, NVFM_MIG_STATE_STOP, &error));
	g_assert_no_error(error);
	g_assert_cmpuint(fk_vfio.n_resuming_commits, ==, 1);
	g_assert_cmpuint(fk_vfio.n_resets, ==, 1);
	g_clear_pointer(&dev, nvfm_device_close);
	close(fd);
}

/* ---- mediated devices ------------------------------------------------- */


/* vfio:UUID and vfio:/sys/bus/mdev/devices/UUID, through the legacy
 * group (the device is asked for by its UUID) or the iommufd cdev. */
static void test_mdev_open(Fixture *f, gconstpointer data)
{
	static const char *const spellings[] = {
		"vfio:" MDEV_A,
		"vfio:/sys/bus/mdev/devices/" MDEV_A,
		"vfio:83B8F4F2-509F-382F-3C1E-E6BFE0FA1001",
	};
	guint fds_before = count_open_fds();

	fk_add_mdev(MDEV_A, "vfio_mdev", 16, NULL);
	touch("/dev/vfio/vfio");
	touch("/dev/vfio/16");
	for (guint i = 0; i < G_N_ELEMENTS(spellings); i++) {
		g_autoptr(GError) error = NULL;
		g_autoptr(NvfmDevice) dev = NULL;
		NvfmMigState st;

		fk_vfio_reset();
		fk_add_mdev(MDEV_A, "vfio_mdev", 16, NULL);
		dev = nvfm_device_open(nvfm_test_addr(spellings[i]), &error);
		g_assert_no_error(error);
		g_assert_cmpstr(nvfm_device_backend_name(dev), ==, "vfio-group");
		g_assert_cmpstr(nvfm_device_address(dev), ==, "vfio:" MDEV_A);
		g_assert_cmpstr(fk_vfio.device_name, ==, MDEV_A);
		g_assert_true(nvfm_device_get_state(dev, &st, &error));
		g_assert_cmpint(st, ==, NVFM_MIG_STATE_RUNNING);
	}
	g_assert_cmpuint(count_open_fds(), ==, fds_before);

	/* with a vfio cdev and /dev/iommu, the cdev is used */
	{
		g_autoptr(GError) error = NULL;
		g_autoptr(NvfmDevice) dev = NULL;

		fk_add_mdev(MDEV_B, NULL, 17, "vfio3");
		make_cdev_nodes(f);
		dev = nvfm_device_open(nvfm_test_addr("vfio:" MDEV_B), &error);
		g_assert_no_error(error);
		g_assert_cmpstr(nvfm_device_backend_name(dev), ==, "vfio-cdev");
		g_assert_true(fk_vfio.bound);
	}
	g_assert_cmpuint(count_open_fds(), ==, fds_before);
}

static void test_mdev_errors(Fixture *f, gconstpointer data)
{
	g_autoptr(GError) e1 = NULL;
	g_autoptr(GError) e2 = NULL;
	g_autoptr(GError) e3 = NULL;

	g_assert_null(nvfm_device_open(nvfm_test_addr("vfio:" MDEV_C), &e1));
	assert_error_has(e1, NVFM_ERROR_NOT_FOUND, "no mediated device " MDEV_C);
	fk_add_mdev(MDEV_C, NULL, -1, NULL);
	g_assert_null(nvfm_device_open(nvfm_test_addr("vfio:" MDEV_C), &e2));
	assert_error_has(e2, NVFM_ERROR_NOT_SUPPORTED, "neither an IOMMU group nor a vfio cdev");
	/* a group node that is missing names the device as an mdev */
	fk_add_mdev(MDEV_A, NULL, 16, NULL);
	touch("/dev/vfio/vfio");
	g_assert_null(nvfm_device_open(nvfm_test_addr("vfio:" MDEV_A), &e3));
	assert_error_has(e3, NVFM_ERROR_NOT_FOUND, "mediated device " MDEV_A ": cannot open");
}

/* ---- a device found mid-session (nvfm_device_settle) ------------------ */

/* The engine over the mock device fd, found in @state. */
static NvfmDevice *open_found_in(Fixture *f, guint32 state, int *fd)
{
	g_autoptr(GError) error = NULL;
	g_autofree char *path = g_strconcat(f->root, "/mock/device", NULL);
	g_autofree char *addr = NULL;
	NvfmDevice *dev;

	*fd = open(path, O_RDWR | O_CLOEXEC);
	g_assert_cmpint(*fd, >=, 0);
	addr = g_strdup_printf("fd:%d", *fd);
	dev = nvfm_device_open(nvfm_test_addr(addr), &error);
	g_assert_no_error(error);
	fk_vfio.state = state;
	return dev;
}

static void settle_case(Fixture *f, guint32 flags, guint32 found_in, const char *arcs,
			guint resets, guint32 ends_in)
{
	g_autoptr(GError) error = NULL;
	NvfmMigState found = NVFM_MIG_STATE_COUNT;
	NvfmDevice *dev;
	int fd;

	fk_vfio_reset();
	fk_vfio.mig_flags = flags;
	dev = open_found_in(f, found_in, &fd);
	g_assert_true(nvfm_device_settle(dev, &found, &error));
	g_assert_no_error(error);
	g_assert_cmpint(found, ==, found_in);
	g_assert_cmpstr(fk_vfio.arcs, ==, arcs);
	g_assert_cmpuint(fk_vfio.n_resets, ==, resets);
	g_assert_cmpuint(fk_vfio.n_resuming_commits, ==, 0);
	g_assert_cmpint(fk_vfio.state, ==, ends_in);
	g_assert_cmpint(nvfm_device_data_fd(dev), ==, -1);
	nvfm_device_close(dev);
	close(fd);
}

/* Each rule of docs/vfio-engine.md, "A device found mid-session". */
static void test_settle_rules(Fixture *f, gconstpointer data)
{
	const guint32 all = VFIO_MIGRATION_STOP_COPY | VFIO_MIGRATION_P2P |
			    VFIO_MIGRATION_PRE_COPY;
	const guint32 no_p2p = VFIO_MIGRATION_STOP_COPY | VFIO_MIGRATION_PRE_COPY;
	const guint32 plain = VFIO_MIGRATION_STOP_COPY;

	/* no session: left where it is */
	settle_case(f, all, NVFM_MIG_STATE_RUNNING, "", 0, NVFM_MIG_STATE_RUNNING);
	settle_case(f, all, NVFM_MIG_STATE_STOP, "", 0, NVFM_MIG_STATE_STOP);
	settle_case(f, all, NVFM_MIG_STATE_RUNNING_P2P, "", 0, NVFM_MIG_STATE_RUNNING_P2P);
	/* RESUMING: aborted by reset, never committed */
	settle_case(f, all, NVFM_MIG_STATE_RESUMING, "", 1, NVFM_MIG_STATE_RUNNING);
	settle_case(f, plain, NVFM_MIG_STATE_RESUMING, "", 1, NVFM_MIG_STATE_RUNNING);
	/* the saving group: left by the uAPI's own arcs */
	settle_case(f, all, NVFM_MIG_STATE_STOP_COPY, "STOP_COPY>STOP ", 0, NVFM_MIG_STATE_STOP);
	settle_case(f, plain, NVFM_MIG_STATE_STOP_COPY, "STOP_COPY>STOP ", 0, NVFM_MIG_STATE_STOP);
	settle_case(f, all, NVFM_MIG_STATE_PRE_COPY, "PRE_COPY>RUNNING ", 0,
		    NVFM_MIG_STATE_RUNNING);
	settle_case(f, no_p2p, NVFM_MIG_STATE_PRE_COPY, "PRE_COPY>RUNNING ", 0,
		    NVFM_MIG_STATE_RUNNING);
	settle_case(f, all, NVFM_MIG_STATE_PRE_COPY_P2P,
		    "PRE_COPY_P2P>RUNNING_P2P RUNNING_P2P>RUNNING ", 0, NVFM_MIG_STATE_RUNNING);
	/* ERROR, a state the flags lack, a state the uAPI lacks: reset */
	settle_case(f, all, NVFM_MIG_STATE_ERROR, "", 1, NVFM_MIG_STATE_RUNNING);
	settle_case(f, plain, NVFM_MIG_STATE_PRE_COPY, "", 1, NVFM_MIG_STATE_RUNNING);
	settle_case(f, no_p2p, NVFM_MIG_STATE_RUNNING_P2P, "", 1, NVFM_MIG_STATE_RUNNING);
	settle_case(f, all, 9, "", 1, NVFM_MIG_STATE_RUNNING);
}

/* A saving session that will not be left by its arcs is reset. */
static void test_settle_arc_fails(Fixture *f, gconstpointer data)
{
	g_autoptr(GError) error = NULL;
	NvfmDevice *dev;
	int fd;

	dev = open_found_in(f, NVFM_MIG_STATE_STOP_COPY, &fd);
	fk_vfio.fail_arc_to = NVFM_MIG_STATE_STOP;
	fk_vfio.fail_arc_lands = NVFM_MIG_STATE_STOP_COPY;
	g_assert_true(nvfm_device_settle(dev, NULL, &error));
	g_assert_no_error(error);
	g_assert_cmpstr(fk_vfio.arcs, ==, "STOP_COPY>STOP ");
	g_assert_cmpuint(fk_vfio.n_resets, ==, 1);
	g_assert_cmpint(fk_vfio.state, ==, NVFM_MIG_STATE_RUNNING);
	nvfm_device_close(dev);
	close(fd);
}

/* A reset that fails is a failed state change (exit code 10), and the
 * RESUMING session is still not committed. */
static void test_settle_reset_fails(Fixture *f, gconstpointer data)
{
	g_autoptr(GError) error = NULL;
	NvfmDevice *dev;
	int fd;

	dev = open_found_in(f, NVFM_MIG_STATE_RESUMING, &fd);
	fk_vfio.reset_errno = EIO;
	g_assert_false(nvfm_device_set_state(dev, NVFM_MIG_STATE_RUNNING, &error));
	assert_error_has(error, NVFM_ERROR_STATE, "found in RESUMING, and the reset");
	g_assert_cmpstr(fk_vfio.arcs, ==, "");
	g_assert_cmpuint(fk_vfio.n_resuming_commits, ==, 0);
	g_assert_cmpint(fk_vfio.state, ==, NVFM_MIG_STATE_RESUMING);
	nvfm_device_close(dev);
	close(fd);
}

/* Found in STOP_COPY, asked for STOP_COPY: the foreign session is left and
 * a session of our own started, with a data_fd of ours. */
static void test_settle_before_plan(Fixture *f, gconstpointer data)
{
	g_autoptr(GError) error = NULL;
	NvfmDevice *dev;
	int fd;

	dev = open_found_in(f, NVFM_MIG_STATE_STOP_COPY, &fd);
	g_assert_true(nvfm_device_set_state(dev, NVFM_MIG_STATE_STOP_COPY, &error));
	g_assert_no_error(error);
	g_assert_cmpstr(fk_vfio.arcs, ==, "STOP_COPY>STOP STOP>STOP_COPY ");
	g_assert_cmpint(nvfm_device_data_fd(dev), >=, 0);
	/* and our own session is not settled away */
	g_assert_true(nvfm_device_settle(dev, NULL, &error));
	g_assert_cmpint(fk_vfio.state, ==, NVFM_MIG_STATE_STOP_COPY);
	g_assert_cmpint(nvfm_device_data_fd(dev), >=, 0);
	nvfm_device_close(dev);
	close(fd);
}

/* A commit of our own that the driver refuses, leaving the device in
 * RESUMING, is not tried a second time: the session ends by reset. */
static void test_failed_commit_not_retried(Fixture *f, gconstpointer data)
{
	g_autoptr(GError) error = NULL;
	NvfmDevice *dev;
	int fd;

	dev = open_found_in(f, NVFM_MIG_STATE_RUNNING, &fd);
	g_assert_true(nvfm_device_set_state(dev, NVFM_MIG_STATE_RESUMING, &error));
	fk_vfio.fail_arc_to = NVFM_MIG_STATE_STOP;
	fk_vfio.fail_arc_lands = NVFM_MIG_STATE_RESUMING;
	g_assert_false(nvfm_device_set_state(dev, NVFM_MIG_STATE_STOP, &error));
	g_assert_error(error, NVFM_ERROR, NVFM_ERROR_STATE);
	g_assert_cmpstr(fk_vfio.arcs, ==,
			"RUNNING>RUNNING_P2P RUNNING_P2P>STOP STOP>RESUMING RESUMING>STOP ");
	g_assert_cmpuint(fk_vfio.n_resets, ==, 1);
	g_assert_cmpint(fk_vfio.state, ==, NVFM_MIG_STATE_RUNNING);
	nvfm_device_close(dev);
	close(fd);
}

/* The fake kernel's own table: what it calls legal is the uAPI's. */
static void test_arc_table(void)
{
	const guint32 all = VFIO_MIGRATION_STOP_COPY | VFIO_MIGRATION_P2P |
			    VFIO_MIGRATION_PRE_COPY;
	const guint32 plain = VFIO_MIGRATION_STOP_COPY;

	g_assert_false(fk_vfio_arc_legal(all, NVFM_MIG_STATE_RUNNING, NVFM_MIG_STATE_STOP));
	g_assert_true(fk_vfio_arc_legal(plain, NVFM_MIG_STATE_RUNNING, NVFM_MIG_STATE_STOP));
	g_assert_true(fk_vfio_arc_legal(all, NVFM_MIG_STATE_RESUMING, NVFM_MIG_STATE_STOP));
	g_assert_false(fk_vfio_arc_legal(all, NVFM_MIG_STATE_RESUMING, NVFM_MIG_STATE_RUNNING));
	g_assert_false(fk_vfio_arc_legal(all, NVFM_MIG_STATE_STOP_COPY, NVFM_MIG_STATE_PRE_COPY));
	g_assert_false(fk_vfio_arc_legal(all, NVFM_MIG_STATE_STOP_COPY,
					 NVFM_MIG_STATE_PRE_COPY_P2P));
	g_assert_false(fk_vfio_arc_legal(all, NVFM_MIG_STATE_RUNNING, NVFM_MIG_STATE_ERROR));
	g_assert_false(fk_vfio_arc_legal(plain, NVFM_MIG_STATE_RUNNING, NVFM_MIG_STATE_PRE_COPY));
	g_assert_true(fk_vfio_arc_legal(VFIO_MIGRATION_STOP_COPY | VFIO_MIGRATION_PRE_COPY,
					NVFM_MIG_STATE_PRE_COPY, NVFM_MIG_STATE_STOP_COPY));
	g_assert_false(fk_vfio_arc_legal(all, NVFM_MIG_STATE_PRE_COPY, NVFM_MIG_STATE_STOP_COPY));
}

#define ADD(path, fn) g_test_add(path, Fixture, NULL, fixture_setup, fn, fixture_teardown)

int main(int argc, char **argv)
{
	g_test_init(&argc, &argv, NULL);
	g_test_add_func("/vfio-kernel/parse-address", test_parse_address);
	g_test_add_func("/vfio-kernel/address-error-one-line", test_address_error_one_line);
	ADD("/vfio-kernel/locate", test_locate);
	ADD("/vfio-kernel/sysfs-errors", test_sysfs_errors);
	ADD("/vfio-kernel/group-blockers", test_group_blockers);
	ADD("/vfio-kernel/missing-nodes", test_missing_nodes);
	ADD("/vfio-kernel/not-vfio-nodes", test_not_vfio_nodes);
	ADD("/vfio-kernel/cdev-open", test_cdev_open);
	ADD("/vfio-kernel/cdev-in-use", test_cdev_in_use);
	ADD("/vfio-kernel/dirty/iommufd", test_cdev_dirty);
	ADD("/vfio-kernel/dirty/type1", test_group_dirty);
	ADD("/vfio-kernel/group-open", test_group_open);
	ADD("/vfio-kernel/group-not-viable", test_group_not_viable);
	g_test_add_func("/vfio-kernel/address-forms", test_address_forms);
	g_test_add_func("/vfio-kernel/fd-bad-spec", test_fd_bad_spec);
	g_test_add_func("/vfio-kernel/fd-not-open", test_fd_not_open);
	g_test_add_func("/vfio-kernel/fd-dev-null", test_fd_dev_null);
	g_test_add_func("/vfio-kernel/ops-enotty", test_ops_enotty);
	ADD("/vfio-kernel/fd-backend", test_fd_backend);
	ADD("/vfio-kernel/engine", test_engine_over_fd);
	ADD("/vfio-kernel/foreign-resuming", test_foreign_resuming);
	ADD("/vfio-kernel/mdev-open", test_mdev_open);
	ADD("/vfio-kernel/mdev-errors", test_mdev_errors);
	ADD("/vfio-kernel/settle/rules", test_settle_rules);
	ADD("/vfio-kernel/settle/arc-fails", test_settle_arc_fails);
	ADD("/vfio-kernel/settle/reset-fails", test_settle_reset_fails);
	ADD("/vfio-kernel/settle/before-plan", test_settle_before_plan);
	ADD("/vfio-kernel/failed-commit-not-retried", test_failed_commit_not_retried);
	g_test_add_func("/vfio-kernel/arc-table", test_arc_table);
	return g_test_run();
}
