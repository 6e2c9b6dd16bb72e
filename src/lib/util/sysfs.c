/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * PCI and SR-IOV through sysfs. The kernel's files are the only record of
 * which VF exists, which driver holds it and who has it open; everything
 * here reads them afresh. $NVFM_SYSFS_ROOT prefixes every path so the
 * unit tests can use a fixture tree.
 */
#define G_LOG_DOMAIN "nvfm-sysfs"

#include <dirent.h>
#include <fcntl.h>
#include <stdarg.h>
#include <string.h>
#include <sys/stat.h>

#include "sysfs.h"

/* SR-IOV extended capability and the fields we read from it */
#define PCI_EXT_CAP_START 0x100
#define PCI_EXT_CAP_ID_SRIOV 0x0010
#define SRIOV_VF_OFFSET 0x14
#define SRIOV_VF_STRIDE 0x16
#define PCI_CLASS_NVME 0x010802

const char *nvfm_sysfs_root(void)
{
	const char *r = g_getenv("NVFM_SYSFS_ROOT");

	return r ? r : "";
}

char *nvfm_sysfs_path(const char *fmt, ...)
{
	g_autofree char *rel = NULL;
	g_autofree char *root = g_strdup(nvfm_sysfs_root());
	gsize n = strlen(root);
	va_list ap;

	va_start(ap, fmt);
	rel = g_strdup_vprintf(fmt, ap);
	va_end(ap);
	while (n > 0 && root[n - 1] == '/')
		root[--n] = '\0';
	return g_strconcat(root, rel, NULL);
}

int nvfm_sysfs_read(const char *path, char **out)
{
	g_autofree char *buf = NULL;
	gsize len = 0, cap = 4096;
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		return -errno;
	buf = g_malloc(cap + 1);
	for (;;) {
		ssize_t r = read(fd, buf + len, cap - len);

		if (r < 0) {
			int err = errno;

			if (err == EINTR)
				continue;
			close(fd);
			return -err;
		}
		if (r == 0)
			break;
		len += (gsize)r;
		if (len == cap) {
			/* sysfs attributes are one page; /proc files need not be */
			cap *= 2;
			buf = g_realloc(buf, cap + 1);
		}
	}
	close(fd);
	while (len > 0 && g_ascii_isspace(buf[len - 1]))
		len--;
	buf[len] = '\0';
	*out = g_steal_pointer(&buf);
	return 0;
}

int nvfm_sysfs_read_u64(const char *path, guint64 *out)
{
	g_autofree char *s = NULL;
	char *end = NULL;
	guint64 v;
	int r = nvfm_sysfs_read(path, &s);

	if (r < 0)
		return r;
	errno = 0;
	if (g_str_has_prefix(s, "0x") || g_str_has_prefix(s, "0X"))
		v = g_ascii_strtoull(s + 2, &end, 16);
	else
		v = g_ascii_strtoull(s, &end, 10);
	if (errno || end == s || *end)
		return -EINVAL;
	*out = v;
	return 0;
}

int nvfm_sysfs_write(const char *path, const char *value)
{
	gsize len = strlen(value);
	ssize_t w;
	int fd = open(path, O_WRONLY | O_TRUNC | O_CLOEXEC);

	if (fd < 0)
		return -errno;
	/* one write: sysfs stores act on a single write() */
	do
		w = write(fd, value, len);
	while (w < 0 && errno == EINTR);
	if (w < 0) {
		int err = errno;

		close(fd);
		return -err;
	}
	if (close(fd) < 0 && errno != EINTR)
		return -errno;
	return (gsize)w == len ? 0 : -EIO;
}

int nvfm_sysfs_link_name(const char *path, char **out)
{
	g_autoptr(GError) error = NULL;
	g_autofree char *target = g_file_read_link(path, &error);

	if (!target)
		return error && error->domain == G_FILE_ERROR && error->code == G_FILE_ERROR_NOENT ?
			       -ENOENT : -EINVAL;
	*out = g_path_get_basename(target);
	return 0;
}

char *nvfm_dev_path(const char *abs_path)
{
	const char *root = g_getenv("NVFM_DEV_ROOT");

	return g_strconcat(root ? root : "", abs_path, NULL);
}

char *nvfm_pci_path(const char *addr, const char *attr)
{
	if (attr)
		return nvfm_sysfs_path("/sys/bus/pci/devices/%s/%s", addr, attr);
	return nvfm_sysfs_path("/sys/bus/pci/devices/%s", addr);
}

int nvfm_pci_exists(const char *addr)
{
	g_autofree char *p = nvfm_pci_path(addr, NULL);

	return access(p, F_OK) == 0 ? 0 : -errno;
}

int nvfm_pci_class(const char *addr, guint32 *cls)
{
	g_autofree char *p = nvfm_pci_path(addr, "class");
	guint64 v;
	int r = nvfm_sysfs_read_u64(p, &v);

	if (r < 0)
		return r;
	*cls = (guint32)v;
	return 0;
}

int nvfm_pci_modalias(const char *addr, char **out)
{
	g_autofree char *p = nvfm_pci_path(addr, "modalias");

	return nvfm_sysfs_read(p, out);
}

/* A link named @attr whose target is a PCI function: that address. */
static int pci_link_addr(const char *addr, const char *attr, char **out)
{
	g_autofree char *p = nvfm_pci_path(addr, attr);
	g_autofree char *name = NULL;
	char norm[NVFM_PCI_ADDR_LEN];
	int r = nvfm_sysfs_link_name(p, &name);

	if (r < 0)
		return r;
	if (!nvfm_pci_addr_parse(name, norm, NULL))
		return -EINVAL;
	*out = g_strdup(norm);
	return 0;
}

int nvfm_pci_physfn(const char *addr, char **pf)
{
	return pci_link_addr(addr, "physfn", pf);
}

int nvfm_pci_virtfn(const char *pf, guint index, char **vf)
{
	g_autofree char *attr = g_strdup_printf("virtfn%u", index);

	return pci_link_addr(pf, attr, vf);
}

int nvfm_pci_vf_index(const char *pf, const char *vf, guint *index)
{
	g_autofree char *dir = nvfm_pci_path(pf, NULL);
	g_autoptr(GDir) d = g_dir_open(dir, 0, NULL);
	const char *e;

	if (!d)
		return -ENOENT;
	while ((e = g_dir_read_name(d))) {
		g_autofree char *addr = NULL;
		char *end = NULL;
		guint64 i;

		if (!g_str_has_prefix(e, "virtfn"))
			continue;
		i = g_ascii_strtoull(e + 6, &end, 10);
		if (end == e + 6 || *end || i > G_MAXUINT)
			continue;
		if (nvfm_pci_virtfn(pf, (guint)i, &addr) == 0 && g_str_equal(addr, vf)) {
			*index = (guint)i;
			return 0;
		}
	}
	return -ENOENT;
}

static guint32 le32_at(const guint8 *b)
{
	return (guint32)b[0] | (guint32)b[1] << 8 | (guint32)b[2] << 16 | (guint32)b[3] << 24;
}

static guint16 le16_at(const guint8 *b)
{
	return (guint16)(b[0] | b[1] << 8);
}

int nvfm_pci_vf_predict(const char *pf, guint index, char **vf)
{
	g_autofree char *p = nvfm_pci_path(pf, "config");
	g_autofree char *cfg = NULL;
	unsigned dom, bus, dev, fn;
	gsize len = 0;
	guint off = PCI_EXT_CAP_START;
	guint32 rid;
	int hops = 0;

	if (!g_file_get_contents(p, &cfg, &len, NULL))
		return -ENOENT;
	if (sscanf(pf, "%x:%x:%x.%x", &dom, &bus, &dev, &fn) != 4)
		return -EINVAL;
	/* without privilege the kernel shows only the first 64 bytes */
	while (off >= PCI_EXT_CAP_START && off + 0x18 <= len && hops++ < 64) {
		const guint8 *c = (const guint8 *)cfg + off;
		guint32 h = le32_at(c);

		if (h == 0 || h == 0xffffffffu)
			break;
		if ((h & 0xffff) == PCI_EXT_CAP_ID_SRIOV) {
			guint16 first = le16_at(c + SRIOV_VF_OFFSET);
			guint16 stride = le16_at(c + SRIOV_VF_STRIDE);

			if (first == 0)
				return -ENODATA;
			rid = ((bus << 8) | (dev << 3) | fn) + first + index * (guint32)stride;
			if (rid > 0xffff)
				return -ERANGE;
			*vf = g_strdup_printf("%04x:%02x:%02x.%x", dom, rid >> 8, (rid >> 3) & 0x1f,
					      rid & 7);
			return 0;
		}
		off = h >> 20;
	}
	return -ENODATA;
}

int nvfm_pci_sriov_get(const char *pf, guint *total, guint *num, gboolean *autoprobe)
{
	g_autofree char *pt = nvfm_pci_path(pf, "sriov_totalvfs");
	g_autofree char *pn = nvfm_pci_path(pf, "sriov_numvfs");
	g_autofree char *pa = nvfm_pci_path(pf, "sriov_drivers_autoprobe");
	guint64 t, n, a = 1;
	int r;

	if ((r = nvfm_sysfs_read_u64(pt, &t)) < 0 || (r = nvfm_sysfs_read_u64(pn, &n)) < 0)
		return r;
	/* old kernels have no autoprobe switch: they always probe */
	r = nvfm_sysfs_read_u64(pa, &a);
	if (r < 0 && r != -ENOENT)
		return r;
	if (total)
		*total = (guint)t;
	if (num)
		*num = (guint)n;
	if (autoprobe)
		*autoprobe = a != 0;
	return 0;
}

int nvfm_pci_sriov_set_numvfs(const char *pf, guint n)
{
	g_autofree char *p = nvfm_pci_path(pf, "sriov_numvfs");
	char v[16];

	g_snprintf(v, sizeof(v), "%u", n);
	return nvfm_sysfs_write(p, v);
}

int nvfm_pci_sriov_set_autoprobe(const char *pf, gboolean on)
{
	g_autofree char *p = nvfm_pci_path(pf, "sriov_drivers_autoprobe");

	return nvfm_sysfs_write(p, on ? "1" : "0");
}

int nvfm_pci_driver(const char *addr, char **out)
{
	g_autofree char *p = nvfm_pci_path(addr, "driver");
	int r = nvfm_sysfs_link_name(p, out);

	if (r == -ENOENT) {
		*out = NULL;
		return 0;
	}
	return r;
}

int nvfm_pci_driver_override(const char *addr, char **out)
{
	g_autofree char *p = nvfm_pci_path(addr, "driver_override");
	g_autofree char *s = NULL;
	int r = nvfm_sysfs_read(p, &s);

	if (r < 0)
		return r;
	/* the kernel shows an unset override as "(null)" */
	if (!*s || g_str_equal(s, "(null)"))
		*out = NULL;
	else
		*out = g_steal_pointer(&s);
	return 0;
}

int nvfm_pci_set_driver_override(const char *addr, const char *driver)
{
	g_autofree char *p = nvfm_pci_path(addr, "driver_override");

	/* a lone newline clears it; an empty write never reaches the kernel */
	return nvfm_sysfs_write(p, driver && *driver ? driver : "\n");
}

int nvfm_pci_unbind(const char *addr)
{
	g_autofree char *p = nvfm_pci_path(addr, "driver/unbind");
	int r = nvfm_sysfs_write(p, addr);

	/* nothing bound is what the caller wants */
	return r == -ENOENT ? 0 : r;
}

int nvfm_pci_probe(const char *addr)
{
	g_autofree char *p = nvfm_sysfs_path("/sys/bus/pci/drivers_probe");

	return nvfm_sysfs_write(p, addr);
}

gboolean nvfm_pci_driver_present(const char *driver)
{
	g_autofree char *p = nvfm_sysfs_path("/sys/bus/pci/drivers/%s", driver);

	return g_file_test(p, G_FILE_TEST_IS_DIR);
}

int nvfm_pci_iommu_group(const char *addr, char **out)
{
	g_autofree char *p = nvfm_pci_path(addr, "iommu_group");
	int r = nvfm_sysfs_link_name(p, out);

	if (r == -ENOENT) {
		*out = NULL;
		return 0;
	}
	return r;
}

/* the single entry of @addr/@sub whose name starts with @prefix */
static int pci_child(const char *addr, const char *sub, const char *prefix, char **out)
{
	g_autofree char *dir = nvfm_pci_path(addr, sub);
	g_autoptr(GDir) d = g_dir_open(dir, 0, NULL);
	const char *e;

	*out = NULL;
	if (!d)
		return 0;
	while ((e = g_dir_read_name(d))) {
		if (g_str_has_prefix(e, prefix) && g_ascii_isdigit(e[strlen(prefix)])) {
			*out = g_strdup(e);
			return 0;
		}
	}
	return 0;
}

int nvfm_pci_vfio_cdev(const char *addr, char **out)
{
	g_autofree char *name = NULL, *node = NULL, *path = NULL;
	int r = pci_child(addr, "vfio-dev", "vfio", &name);

	*out = NULL;
	if (r < 0 || !name)
		return r;
	/* kernels before the cdev (6.1) already show vfio-dev/ in sysfs */
	node = g_strdup_printf("/dev/vfio/devices/%s", name);
	path = nvfm_dev_path(node);
	if (access(path, F_OK) == 0)
		*out = g_steal_pointer(&node);
	return 0;
}

int nvfm_pci_nvme_ctrl(const char *addr, char **out)
{
	return pci_child(addr, "nvme", "nvme", out);
}

GPtrArray *nvfm_pci_device_nodes(const char *addr)
{
	GPtrArray *nodes = g_ptr_array_new_with_free_func(g_free);
	g_autofree char *group = NULL, *cdev = NULL, *ctrl = NULL, *driver = NULL;

	if (nvfm_pci_driver(addr, &driver) < 0 || !driver)
		return nodes;
	if (nvfm_pci_vfio_cdev(addr, &cdev) == 0 && cdev)
		g_ptr_array_add(nodes, g_steal_pointer(&cdev));
	/* a VFIO driver exposes the group; the group node is what QEMU opens
	 * on kernels without the cdev */
	if (strstr(driver, "vfio") && nvfm_pci_iommu_group(addr, &group) == 0 && group)
		g_ptr_array_add(nodes, g_strdup_printf("/dev/vfio/%s", group));
	if (nvfm_pci_nvme_ctrl(addr, &ctrl) == 0 && ctrl) {
		g_autofree char *sub = g_strdup_printf("nvme/%s", ctrl);
		g_autofree char *dir = nvfm_pci_path(addr, sub);
		g_autoptr(GDir) d = g_dir_open(dir, 0, NULL);
		const char *e;

		g_ptr_array_add(nodes, g_strdup_printf("/dev/%s", ctrl));
		while (d && (e = g_dir_read_name(d))) {
			if (g_str_has_prefix(e, ctrl) && e[strlen(ctrl)] == 'n')
				g_ptr_array_add(nodes, g_strdup_printf("/dev/%s", e));
		}
	}
	return nodes;
}

static gint cmp_str_ptr(gconstpointer a, gconstpointer b)
{
	return g_strcmp0(*(char *const *)a, *(char *const *)b);
}

int nvfm_pci_list_nvme_pfs(GPtrArray *out)
{
	g_autofree char *dir = nvfm_sysfs_path("/sys/bus/pci/devices");
	g_autoptr(GDir) d = g_dir_open(dir, 0, NULL);
	g_autoptr(GPtrArray) found = g_ptr_array_new_with_free_func(g_free);
	const char *e;

	if (!d)
		return -ENOENT;
	while ((e = g_dir_read_name(d))) {
		g_autofree char *phys = NULL, *total = NULL;
		char addr[NVFM_PCI_ADDR_LEN];
		guint32 cls;

		if (!nvfm_pci_addr_parse(e, addr, NULL))
			continue;
		if (nvfm_pci_class(addr, &cls) < 0 || cls != PCI_CLASS_NVME)
			continue;
		total = nvfm_pci_path(addr, "sriov_totalvfs");
		if (!g_file_test(total, G_FILE_TEST_EXISTS))
			continue;
		if (nvfm_pci_physfn(addr, &phys) == 0)
			continue;
		g_ptr_array_add(found, g_strdup(addr));
	}
	g_ptr_array_sort(found, cmp_str_ptr);
	for (guint i = 0; i < found->len; i++)
		g_ptr_array_add(out, g_strdup(found->pdata[i]));
	return 0;
}

gboolean nvfm_driver_same(const char *a, const char *b)
{
	g_autofree char *x = g_strdup(a), *y = g_strdup(b);

	if (!x || !y)
		return FALSE;
	g_strdelimit(x, "-", '_');
	g_strdelimit(y, "-", '_');
	return g_str_equal(x, y);
}

int nvfm_module_pci_driver(const char *module, char **driver)
{
	g_autofree char *mod = g_strdelimit(g_strdup(module), "-", '_');
	g_autofree char *dir = nvfm_sysfs_path("/sys/module/%s/drivers", mod);
	g_autoptr(GDir) d = g_dir_open(dir, 0, NULL);
	const char *e;

	*driver = NULL;
	if (!d)
		return -ENOENT;
	while ((e = g_dir_read_name(d))) {
		if (g_str_has_prefix(e, "pci:")) {
			*driver = g_strdup(e + 4);
			return 0;
		}
	}
	return -ENOENT;
}

int nvfm_proc_find_holder(const GPtrArray *nodes, char **who)
{
	g_autofree char *proc = nvfm_sysfs_path("/proc");
	g_autoptr(GDir) d = NULL;
	const char *e;
	pid_t self = getpid();

	*who = NULL;
	if (!nodes || nodes->len == 0)
		return 0;
	d = g_dir_open(proc, 0, NULL);
	if (!d)
		return -ENOENT;
	while ((e = g_dir_read_name(d))) {
		g_autofree char *fddir = NULL;
		g_autoptr(GDir) fds = NULL;
		const char *fd;
		char *end = NULL;
		guint64 pid = g_ascii_strtoull(e, &end, 10);

		if (end == e || *end || (pid_t)pid == self)
			continue;
		fddir = g_build_filename(proc, e, "fd", NULL);
		/* processes come and go, and others' fds need privilege */
		fds = g_dir_open(fddir, 0, NULL);
		if (!fds)
			continue;
		while ((fd = g_dir_read_name(fds))) {
			g_autofree char *link = g_build_filename(fddir, fd, NULL);
			g_autofree char *target = g_file_read_link(link, NULL);

			if (!target)
				continue;
			for (guint i = 0; i < nodes->len; i++) {
				g_autofree char *comm_path = NULL, *comm = NULL;

				if (!g_str_equal(target, nodes->pdata[i]))
					continue;
				comm_path = g_build_filename(proc, e, "comm", NULL);
				if (nvfm_sysfs_read(comm_path, &comm) < 0)
					comm = g_strdup("?");
				*who = g_strdup_printf("pid %s (%s)", e, comm);
				return 0;
			}
		}
	}
	return 0;
}
