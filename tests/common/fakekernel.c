// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * The fake kernel's tree, and the write() stand-in that makes sysfs react
 * like the kernel's to the stores provisioning uses. See fakekernel.h.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "fakekernel.h"
#include "testutil.h"

#define DEVICES "/sys/devices/pci0000:00"
#define BUS "/sys/bus/pci/devices"
#define DRIVERS "/sys/bus/pci/drivers"

static char *root;

const char *fk_root(void)
{
	return root;
}

char *fk_path(const char *rel)
{
	return g_strconcat(root, rel[0] == '/' ? "" : "/", rel, NULL);
}

gboolean fk_exists(const char *rel)
{
	g_autofree char *p = fk_path(rel);
	struct stat st;

	return lstat(p, &st) == 0;
}

void fk_mkdir(const char *rel)
{
	g_autofree char *p = fk_path(rel);

	g_assert_cmpint(g_mkdir_with_parents(p, 0755), ==, 0);
}

void fk_put_bin(const char *rel, const void *data, gsize len)
{
	g_autofree char *p = fk_path(rel);
	g_autofree char *dir = g_path_get_dirname(p);

	g_assert_cmpint(g_mkdir_with_parents(dir, 0755), ==, 0);
	g_assert_true(g_file_set_contents(p, data, (gssize)len, NULL));
}

void fk_put(const char *rel, const char *text)
{
	fk_put_bin(rel, text, strlen(text));
}

void fk_link(const char *rel, const char *target)
{
	g_autofree char *p = fk_path(rel);
	g_autofree char *dir = g_path_get_dirname(p);

	g_assert_cmpint(g_mkdir_with_parents(dir, 0755), ==, 0);
	unlink(p);
	g_assert_cmpint(symlink(target, p), ==, 0);
}

char *fk_read(const char *rel)
{
	g_autofree char *p = fk_path(rel);
	char *s = NULL;

	g_assert_true(g_file_get_contents(p, &s, NULL, NULL));
	return s;
}

static void fk_unlink(const char *rel)
{
	g_autofree char *p = fk_path(rel);

	unlink(p);
}

const char *fk_init(void)
{
	g_autoptr(GError) error = NULL;
	g_autofree char *locks = NULL;

	g_assert_null(root);
	root = g_dir_make_tmp("nvfm-fk-XXXXXX", &error);
	g_assert_no_error(error);
	locks = fk_path("/run/locks");
	g_setenv("NVFM_SYSFS_ROOT", root, TRUE);
	g_setenv("NVFM_DEV_ROOT", root, TRUE);
	g_setenv("NVFM_LOCK_DIR", locks, TRUE);
	fk_mkdir(DRIVERS);
	fk_put("/sys/bus/pci/drivers_probe", "");
	fk_mkdir("/dev/vfio");
	fk_vfio_reset();
	return root;
}

void fk_cleanup(void)
{
	if (!root)
		return;
	/* every test on the fake kernel checks the arcs the tool asked for */
	fk_vfio_assert_arcs_legal();
	g_unsetenv("NVFM_SYSFS_ROOT");
	g_unsetenv("NVFM_DEV_ROOT");
	g_unsetenv("NVFM_LOCK_DIR");
	nvfm_test_rm_rf(root);
	g_clear_pointer(&root, g_free);
}

void fk_add_driver(const char *name)
{
	g_autofree char *d = g_strdup_printf(DRIVERS "/%s", name);
	g_autofree char *bind = g_strconcat(d, "/bind", NULL);
	g_autofree char *unbind = g_strconcat(d, "/unbind", NULL);

	fk_mkdir(d);
	if (!fk_exists(bind))
		fk_put(bind, "");
	if (!fk_exists(unbind))
		fk_put(unbind, "");
}

static void set_driver(const char *addr, const char *driver)
{
	g_autofree char *l = g_strdup_printf(DEVICES "/%s/driver", addr);

	fk_unlink(l);
	if (driver) {
		g_autofree char *target = g_strdup_printf("../../../bus/pci/drivers/%s", driver);

		fk_add_driver(driver);
		fk_link(l, target);
	}
}

static char *driver_of(const char *addr)
{
	g_autofree char *l = g_strdup_printf(DEVICES "/%s/driver", addr);
	g_autofree char *p = fk_path(l);
	g_autofree char *t = g_file_read_link(p, NULL);

	return t ? g_path_get_basename(t) : NULL;
}

void fk_add_mdev(const char *uuid, const char *driver, int group, const char *cdev)
{
	g_autofree char *dev = g_strdup_printf("/sys/devices/virtual/mtty/mtty/%s", uuid);
	g_autofree char *bus = g_strdup_printf("/sys/bus/mdev/devices/%s", uuid);
	g_autofree char *dabs = fk_path(dev);

	fk_mkdir(dev);
	fk_mkdir("/sys/bus/mdev/devices");
	fk_link(bus, dabs);
	if (driver) {
		g_autofree char *drv = g_strdup_printf("/sys/bus/mdev/drivers/%s", driver);
		g_autofree char *l = g_strconcat(dev, "/driver", NULL);
		g_autofree char *drvabs = fk_path(drv);

		fk_mkdir(drv);
		fk_link(l, drvabs);
	}
	if (group >= 0) {
		g_autofree char *grp = g_strdup_printf("/sys/kernel/iommu_groups/%d", group);
		g_autofree char *l = g_strconcat(dev, "/iommu_group", NULL);
		g_autofree char *gabs = fk_path(grp);

		fk_mkdir(grp);
		fk_link(l, gabs);
	}
	if (cdev) {
		g_autofree char *c = g_strdup_printf("%s/vfio-dev/%s", dev, cdev);

		fk_mkdir(c);
	}
	g_strlcpy(fk_vfio.mdev_uuid, uuid, sizeof(fk_vfio.mdev_uuid));
}

void fk_add_pci(const char *addr, guint32 cls, const char *driver, int group, const char *cdev)
{
	g_autofree char *dev = g_strdup_printf(DEVICES "/%s", addr);
	g_autofree char *bus = g_strdup_printf(BUS "/%s", addr);
	g_autofree char *bus_target = g_strdup_printf("../../../devices/pci0000:00/%s", addr);
	g_autofree char *p = NULL;

	fk_mkdir(dev);
	fk_link(bus, bus_target);
	p = g_strconcat(dev, "/class", NULL);
	{
		g_autofree char *c = g_strdup_printf("0x%06x\n", cls);

		fk_put(p, c);
	}
	g_free(p);
	p = g_strconcat(dev, "/vendor", NULL);
	fk_put(p, "0x1b36\n");
	g_free(p);
	p = g_strconcat(dev, "/device", NULL);
	fk_put(p, "0x0010\n");
	g_free(p);
	p = g_strconcat(dev, "/modalias", NULL);
	fk_put(p, "pci:v00001B36d00000010sv00001AF4sd00001100bc01sc08i02\n");
	g_free(p);
	p = g_strconcat(dev, "/driver_override", NULL);
	fk_put(p, "(null)\n");
	set_driver(addr, driver);
	if (group >= 0) {
		g_autofree char *grp = g_strdup_printf("/sys/kernel/iommu_groups/%d", group);
		g_autofree char *back = g_strdup_printf("%s/devices/%s", grp, addr);
		g_autofree char *l = g_strconcat(dev, "/iommu_group", NULL);
		g_autofree char *gabs = fk_path(grp);
		g_autofree char *dabs = fk_path(dev);

		fk_mkdir(grp);
		fk_link(l, gabs);
		fk_link(back, dabs);
	}
	if (cdev) {
		g_autofree char *c = g_strdup_printf("%s/vfio-dev/%s", dev, cdev);

		fk_mkdir(c);
	}
}

/* ---- SR-IOV ---- */

typedef struct {
	char addr[16];
	guint total;
	guint num;		/* the file is truncated by the store's open */
	int first_group;
} FakePf;

static GPtrArray *pfs;

static FakePf *pf_of(const char *addr)
{
	for (guint i = 0; pfs && i < pfs->len; i++) {
		FakePf *p = g_ptr_array_index(pfs, i);

		if (strcmp(p->addr, addr) == 0)
			return p;
	}
	return NULL;
}

static char *vf_addr(const FakePf *p, guint i)
{
	g_autofree char *base = g_strndup(p->addr, 10);

	return g_strdup_printf("%s.%u", base, i + 1);
}

static void attr(const char *addr, const char *name, const char *text)
{
	g_autofree char *rel = g_strdup_printf(DEVICES "/%s/%s", addr, name);

	fk_put(rel, text);
}

static char *attr_get(const char *addr, const char *name)
{
	g_autofree char *rel = g_strdup_printf(DEVICES "/%s/%s", addr, name);
	g_autofree char *s = fk_exists(rel) ? fk_read(rel) : NULL;

	return s ? g_strstrip(g_steal_pointer(&s)) : NULL;
}

void fk_add_nvme_pf(const char *addr, guint total, int ctrl, int first_group)
{
	FakePf *p = g_new0(FakePf, 1);
	g_autofree char *t = g_strdup_printf("%u\n", total);
	g_autofree char *nvme = g_strdup_printf(DEVICES "/%s/nvme/nvme%d", addr, ctrl);
	g_autofree char *node = g_strdup_printf("/dev/nvme%d", ctrl);

	g_strlcpy(p->addr, addr, sizeof(p->addr));
	p->total = total;
	p->first_group = first_group;
	if (!pfs)
		pfs = g_ptr_array_new_with_free_func(g_free);
	g_ptr_array_add(pfs, p);
	fk_add_pci(addr, 0x010802, "nvme", first_group - 1, NULL);
	attr(addr, "sriov_totalvfs", t);
	attr(addr, "sriov_numvfs", "0\n");
	attr(addr, "sriov_drivers_autoprobe", "1\n");
	attr(addr, "sriov_vf_device", "0010\n");
	attr(addr, "sriov_offset", "1\n");
	attr(addr, "sriov_stride", "1\n");
	fk_mkdir(nvme);
	fk_put(node, "");
}

/* sriov_numvfs: the kernel refuses to change a non-zero count except to
 * 0, makes the VFs (bound at once when autoprobe is on) or removes them */
static int store_numvfs(const char *pf_addr, const char *value)
{
	FakePf *p = pf_of(pf_addr);
	g_autofree char *auto_probe = attr_get(pf_addr, "sriov_drivers_autoprobe");
	guint64 n;
	guint have = p ? p->num : 0;

	if (!p || !g_ascii_string_to_unsigned(value, 10, 0, p->total, &n, NULL))
		return -EINVAL;
	if (have && n && n != have)
		return -EBUSY;
	for (guint i = 0; i < MAX(have, (guint)n); i++) {
		g_autofree char *vf = vf_addr(p, i);
		g_autofree char *link = g_strdup_printf(DEVICES "/%s/virtfn%u", pf_addr, i);

		if (i < n && i >= have) {
			g_autofree char *target = g_strdup_printf("../%s", vf);
			g_autofree char *physfn = g_strdup_printf(DEVICES "/%s/physfn", vf);
			g_autofree char *back = g_strdup_printf("../%s", pf_addr);

			fk_add_pci(vf, 0x010802, g_strcmp0(auto_probe, "1") == 0 ? "nvme" : NULL,
				   p->first_group + (int)i, NULL);
			fk_link(link, target);
			fk_link(physfn, back);
		} else if (i >= n) {
			g_autofree char *dir = g_strdup_printf(DEVICES "/%s", vf);
			g_autofree char *bus = g_strdup_printf(BUS "/%s", vf);
			g_autofree char *abs = fk_path(dir);

			fk_unlink(link);
			fk_unlink(bus);
			nvfm_test_rm_rf(abs);
		}
	}
	p->num = (guint)n;
	{
		g_autofree char *text = g_strdup_printf("%u\n", (guint)n);

		attr(pf_addr, "sriov_numvfs", text);
	}
	return 0;
}

static int store_bind(const char *driver, const char *addr)
{
	g_autofree char *dev = g_strdup_printf(DEVICES "/%s", addr);
	g_autofree char *cur = NULL;

	if (!fk_exists(dev))
		return -ENODEV;
	cur = driver_of(addr);
	if (cur)
		return -EBUSY;
	set_driver(addr, driver);
	return 0;
}

static int store_unbind(const char *driver, const char *addr)
{
	g_autofree char *cur = driver_of(addr);

	if (g_strcmp0(cur, driver) != 0)
		return -ENODEV;
	set_driver(addr, NULL);
	return 0;
}

/* drivers_probe: the device goes to its driver_override, if any */
static int store_probe(const char *addr)
{
	g_autofree char *ovr = attr_get(addr, "driver_override");
	g_autofree char *cur = driver_of(addr);

	if (cur)
		return 0;
	if (ovr && *ovr && strcmp(ovr, "(null)") != 0) {
		g_autofree char *drv = g_strdup_printf(DRIVERS "/%s", ovr);

		if (fk_exists(drv))
			set_driver(addr, ovr);
	}
	return 0;
}

/*
 * The sysfs stores that act. Returns 1 when @path is none of them (the
 * write goes to the file as is), else 0 or -errno.
 */
static int react(const char *path, const char *value)
{
	g_auto(GStrv) parts = NULL;
	guint n;
	g_autofree char *v = g_strstrip(g_strdup(value));

	if (!g_str_has_prefix(path, root))
		return 1;
	path += strlen(root);
	if (strcmp(path, "/sys/bus/pci/drivers_probe") == 0)
		return store_probe(v);
	parts = g_strsplit(path, "/", -1);
	n = g_strv_length(parts);
	/* /sys/bus/pci/drivers/D/{bind,unbind} */
	if (n == 7 && strcmp(parts[4], "drivers") == 0) {
		if (strcmp(parts[6], "bind") == 0)
			return store_bind(parts[5], v);
		if (strcmp(parts[6], "unbind") == 0)
			return store_unbind(parts[5], v);
	}
	/* /sys/devices/pci0000:00/ADDR/ATTR, or through the bus link */
	/* /sys/devices/pci0000:00/ADDR/ATTR (an fd names the link's target) */
	if (n == 6 && strcmp(parts[2], "devices") == 0) {
		const char *addr = parts[4], *name = parts[5];

		if (strcmp(name, "sriov_numvfs") == 0)
			return store_numvfs(addr, v);
		if (strcmp(name, "driver_override") == 0) {
			g_autofree char *text = g_strdup_printf("%s\n", *v ? v : "(null)");

			attr(addr, name, text);
			return 0;
		}
	}
	return 1;
}

static ssize_t real_write(int fd, const void *buf, size_t n)
{
	return syscall(SYS_write, fd, buf, n);
}

ssize_t write(int fd, const void *buf, size_t n)
{
	char link[64], path[4096];
	ssize_t len;
	int r;

	if (!root || n > 4096)
		return real_write(fd, buf, n);
	g_snprintf(link, sizeof(link), "/proc/self/fd/%d", fd);
	len = readlink(link, path, sizeof(path) - 1);
	if (len <= 0)
		return real_write(fd, buf, n);
	path[len] = '\0';
	if (!g_str_has_prefix(path, root) || !strstr(path, "/sys/"))
		return real_write(fd, buf, n);
	{
		g_autofree char *value = g_strndup(buf, n);

		r = react(path, value);
	}
	if (r == 1)
		return real_write(fd, buf, n);
	if (r < 0) {
		errno = -r;
		return -1;
	}
	return (ssize_t)n;
}
