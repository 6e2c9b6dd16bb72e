/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The kernel VFIO backend. A PCI device is opened through its vfio cdev
 * bound to iommufd when the kernel offers one, else through the legacy
 * container/group interface; "fd:N" takes a device fd that somebody else
 * opened. Every op is one ioctl and returns 0 or -errno, so the engine in
 * device.c sees exactly what the kernel said.
 */
#define G_LOG_DOMAIN "nvfm-vfio"

#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>

#include "engine-private.h"
#include "vfio-compat.h"
#include "vfio-kernel.h"

typedef struct {
	int device_fd;
	int group_fd;		/* legacy interface only */
	int container_fd;	/* legacy interface only */
	int iommufd;		/* cdev interface only */
	guint32 iommufd_devid;	/* cdev: our device's id in iommufd */
	char *sysfs_dir;	/* PCI backends: where compat_facts come from */
	char *driver;
} VfioKernel;

static VfioKernel *vfio_kernel_new(void)
{
	VfioKernel *k = g_new0(VfioKernel, 1);

	k->device_fd = k->group_fd = k->container_fd = k->iommufd = -1;
	return k;
}

/* The device goes first: the kernel unbinds it from iommufd or releases
 * it from the group on its last close, and only then can the group leave
 * the container. */
static void vfio_kernel_free(VfioKernel *k)
{
	if (!k)
		return;
	nvfm_close_fd(&k->device_fd);
	nvfm_close_fd(&k->group_fd);
	nvfm_close_fd(&k->container_fd);
	nvfm_close_fd(&k->iommufd);
	g_free(k->sysfs_dir);
	g_free(k->driver);
	g_free(k);
}

G_DEFINE_AUTOPTR_CLEANUP_FUNC(VfioKernel, vfio_kernel_free)

/* ---- sysfs ------------------------------------------------------------ */

static char *link_basename(const char *dir, const char *name)
{
	g_autofree char *path = g_build_filename(dir, name, NULL);
	g_autofree char *target = g_file_read_link(path, NULL);

	return target ? g_path_get_basename(target) : NULL;
}

static gboolean all_digits(const char *s)
{
	if (!*s)
		return FALSE;
	for (; *s; s++) {
		if (!g_ascii_isdigit(*s))
			return FALSE;
	}
	return TRUE;
}

/* vfio-pci and every variant driver (mlx5_vfio_pci, hisi_acc_vfio_pci,
 * a vendor NVMe one, ...) carry "vfio" in their name. */
static gboolean driver_is_vfio(const char *driver)
{
	return driver && strstr(driver, "vfio") != NULL;
}

/* Drivers the kernel lets share a group with a VFIO user because they
 * never do DMA on the device's behalf. */
static gboolean driver_keeps_group_viable(const char *driver)
{
	return !driver || driver_is_vfio(driver) || strcmp(driver, "pci-stub") == 0 ||
	       strcmp(driver, "pcieport") == 0;
}

static char *find_cdev(const char *sysfs_dir)
{
	g_autofree char *path = g_build_filename(sysfs_dir, "vfio-dev", NULL);
	g_autoptr(GDir) dir = g_dir_open(path, 0, NULL);
	const char *name;

	while (dir && (name = g_dir_read_name(dir))) {
		if (g_str_has_prefix(name, "vfio") && all_digits(name + 4))
			return g_strdup(name);
	}
	return NULL;
}

void nvfm_vfio_location_clear(NvfmVfioLocation *loc)
{
	g_clear_pointer(&loc->sysfs_dir, g_free);
	g_clear_pointer(&loc->driver, g_free);
	g_clear_pointer(&loc->cdev_name, g_free);
	loc->iommu_group = -1;
}

/* What sysfs says about the device @loc->addr on @bus: its directory,
 * driver, IOMMU group and vfio cdev. */
static gboolean read_location(NvfmVfioLocation *loc, const char *bus, GError **error)
{
	g_autofree char *rel = g_strconcat("/sys/bus/", bus, "/devices/", loc->addr, NULL);
	g_autofree char *group = NULL;

	loc->sysfs_dir = nvfm_sysfs_path("%s", rel);
	if (!g_file_test(loc->sysfs_dir, G_FILE_TEST_IS_DIR)) {
		g_set_error(error, NVFM_ERROR, NVFM_ERROR_NOT_FOUND,
			    "no %s %s (%s does not exist)", loc->kind, loc->addr, loc->sysfs_dir);
		return FALSE;
	}
	loc->driver = link_basename(loc->sysfs_dir, "driver");
	loc->cdev_name = find_cdev(loc->sysfs_dir);
	group = link_basename(loc->sysfs_dir, "iommu_group");
	if (group && all_digits(group) && strlen(group) < 10)
		loc->iommu_group = atoi(group);
	g_debug("%s: driver %s, iommu group %d, cdev %s", loc->addr,
		loc->driver ? loc->driver : "(none)", loc->iommu_group,
		loc->cdev_name ? loc->cdev_name : "(none)");
	return TRUE;
}

gboolean nvfm_vfio_locate(const char *pci_addr, NvfmVfioLocation *loc, GError **error)
{
	memset(loc, 0, sizeof(*loc));
	loc->iommu_group = -1;
	loc->kind = "PCI device";
	if (!nvfm_pci_addr_parse(pci_addr, loc->addr, error))
		return FALSE;
	if (!read_location(loc, "pci", error))
		return FALSE;

	if (!loc->cdev_name && !driver_is_vfio(loc->driver)) {
		if (!loc->driver)
			g_set_error(error, NVFM_ERROR, NVFM_ERROR_NOT_SUPPORTED,
				    "PCI device %s is not bound to any driver; bind it to vfio-pci "
				    "or its VFIO variant driver", loc->addr);
		else
			g_set_error(error, NVFM_ERROR, NVFM_ERROR_NOT_SUPPORTED,
				    "PCI device %s is bound to %s, not to a VFIO driver; bind it to "
				    "vfio-pci or its VFIO variant driver", loc->addr, loc->driver);
		return FALSE;
	}
	if (loc->iommu_group < 0 && !loc->cdev_name) {
		g_set_error(error, NVFM_ERROR, NVFM_ERROR_NOT_SUPPORTED,
			    "PCI device %s has no IOMMU group (is the IOMMU enabled, e.g. "
			    "intel_iommu=on?)", loc->addr);
		return FALSE;
	}
	return TRUE;
}

/* A mediated device is VFIO's by construction (its parent driver made it
 * for VFIO); what decides is whether it has a group or a cdev, i.e.
 * whether a VFIO mdev driver is bound to it. */
gboolean nvfm_vfio_locate_mdev(const char *uuid, NvfmVfioLocation *loc, GError **error)
{
	memset(loc, 0, sizeof(*loc));
	loc->iommu_group = -1;
	loc->kind = "mediated device";
	g_strlcpy(loc->addr, uuid, sizeof(loc->addr));
	if (!read_location(loc, "mdev", error))
		return FALSE;
	if (loc->iommu_group < 0 && !loc->cdev_name) {
		g_set_error(error, NVFM_ERROR, NVFM_ERROR_NOT_SUPPORTED,
			    "mediated device %s has neither an IOMMU group nor a vfio cdev "
			    "(is a VFIO mdev driver bound to it?)", loc->addr);
		return FALSE;
	}
	return TRUE;
}

static int compare_names(gconstpointer a, gconstpointer b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

char *nvfm_vfio_group_blockers(int group)
{
	g_autofree char *rel = g_strdup_printf("/sys/kernel/iommu_groups/%d/devices", group);
	g_autofree char *path = nvfm_sysfs_path("%s", rel);
	g_autoptr(GDir) dir = g_dir_open(path, 0, NULL);
	g_autoptr(GPtrArray) names = g_ptr_array_new_with_free_func(g_free);
	g_autoptr(GString) out = g_string_new(NULL);
	const char *name;

	if (!dir)
		return NULL;
	while ((name = g_dir_read_name(dir)))
		g_ptr_array_add(names, g_strdup(name));
	g_ptr_array_sort(names, compare_names);
	for (guint i = 0; i < names->len; i++) {
		g_autofree char *devdir = g_build_filename(path, names->pdata[i], NULL);
		g_autofree char *driver = link_basename(devdir, "driver");

		if (driver_keeps_group_viable(driver))
			continue;
		g_string_append_printf(out, "%s%s (%s)", out->len ? ", " : "",
				       (const char *)names->pdata[i], driver);
	}
	return out->len ? g_string_free(g_steal_pointer(&out), FALSE) : NULL;
}

/* ---- opening ---------------------------------------------------------- */

static gboolean set_busy_or_denied(GError **error, int err, const NvfmVfioLocation *loc,
				   const char *what)
{
	if (err == EBUSY) {
		g_set_error(error, NVFM_ERROR, NVFM_ERROR_BUSY,
			    "%s %s is in use by another process (e.g. QEMU): %s: %s",
			    loc->kind, loc->addr, what, g_strerror(err));
		return TRUE;
	}
	if (err == EACCES || err == EPERM) {
		g_set_error(error, NVFM_ERROR, NVFM_ERROR_PERMISSION,
			    "permission denied for %s %s: %s: %s (run as root or give "
			    "the user access to the VFIO device nodes)", loc->kind, loc->addr, what,
			    g_strerror(err));
		return TRUE;
	}
	return FALSE;
}

static void set_open_error(GError **error, int err, const NvfmVfioLocation *loc, const char *path,
			   const char *enoent_hint)
{
	g_autofree char *what = g_strdup_printf("opening %s", path);

	if (set_busy_or_denied(error, err, loc, what))
		return;
	g_set_error(error, NVFM_ERROR, nvfm_error_code_from_errno(err),
		    "%s %s: cannot open %s: %s%s%s%s", loc->kind, loc->addr, path, g_strerror(err),
		    err == ENOENT && enoent_hint ? " (" : "",
		    err == ENOENT && enoent_hint ? enoent_hint : "",
		    err == ENOENT && enoent_hint ? ")" : "");
}

static void set_ioctl_error(GError **error, int err, const NvfmVfioLocation *loc,
			    const char *what)
{
	if (set_busy_or_denied(error, err, loc, what))
		return;
	nvfm_set_error_errno(error, -err, "%s %s: %s failed", loc->kind, loc->addr, what);
}

static VfioKernel *open_cdev(const NvfmVfioLocation *loc, const char *cdev_path,
			     const char *iommu_path, GError **error)
{
	g_autoptr(VfioKernel) k = vfio_kernel_new();
	struct vfio_device_bind_iommufd bind;
	struct iommu_ioas_alloc alloc;
	struct vfio_device_attach_iommufd_pt attach;
	g_autofree char *what = NULL;

	k->device_fd = open(cdev_path, O_RDWR | O_CLOEXEC);
	if (k->device_fd < 0) {
		set_open_error(error, errno, loc, cdev_path, NULL);
		return NULL;
	}
	k->iommufd = open(iommu_path, O_RDWR | O_CLOEXEC);
	if (k->iommufd < 0) {
		set_open_error(error, errno, loc, iommu_path, "is the iommufd module loaded?");
		return NULL;
	}

	memset(&bind, 0, sizeof(bind));
	bind.argsz = sizeof(bind);
	bind.iommufd = k->iommufd;
	if (ioctl(k->device_fd, VFIO_DEVICE_BIND_IOMMUFD, &bind) < 0) {
		int err = errno;

		what = g_strdup_printf("binding %s to iommufd", cdev_path);
		/* The cdev refuses a second bind of an open device with EINVAL
		 * and a device whose group is open with EBUSY. */
		if (err == EINVAL) {
			g_set_error(error, NVFM_ERROR, NVFM_ERROR_BUSY,
				    "%s %s: %s failed: %s (is it in use by another "
				    "process, e.g. QEMU?)", loc->kind, loc->addr, what, g_strerror(err));
			return NULL;
		}
		set_ioctl_error(error, err, loc, what);
		return NULL;
	}

	/* Bound but without an IOAS the device is not fully usable. No DMA
	 * is ever mapped: the variant driver moves the state through the
	 * PF's own domain, so an empty IOAS is enough. */
	memset(&alloc, 0, sizeof(alloc));
	alloc.size = sizeof(alloc);
	if (ioctl(k->iommufd, IOMMU_IOAS_ALLOC, &alloc) < 0) {
		set_ioctl_error(error, errno, loc, "IOMMU_IOAS_ALLOC");
		return NULL;
	}
	memset(&attach, 0, sizeof(attach));
	attach.argsz = sizeof(attach);
	attach.pt_id = alloc.out_ioas_id;
	if (ioctl(k->device_fd, VFIO_DEVICE_ATTACH_IOMMUFD_PT, &attach) < 0) {
		set_ioctl_error(error, errno, loc, "VFIO_DEVICE_ATTACH_IOMMUFD_PT");
		return NULL;
	}
	k->iommufd_devid = bind.out_devid;
	g_debug("%s: %s bound to iommufd as device %u, attached to IOAS %u", loc->addr,
		cdev_path, bind.out_devid, alloc.out_ioas_id);
	return g_steal_pointer(&k);
}

static VfioKernel *open_group(const NvfmVfioLocation *loc, GError **error)
{
	g_autoptr(VfioKernel) k = vfio_kernel_new();
	g_autofree char *container_path = nvfm_dev_path("/dev/vfio/vfio");
	g_autofree char *group_rel = g_strdup_printf("/dev/vfio/%d", loc->iommu_group);
	g_autofree char *group_path = nvfm_dev_path(group_rel);
	struct vfio_group_status status;
	int version;

	k->container_fd = open(container_path, O_RDWR | O_CLOEXEC);
	if (k->container_fd < 0) {
		set_open_error(error, errno, loc, container_path,
			       "is the vfio module loaded?");
		return NULL;
	}
	version = ioctl(k->container_fd, VFIO_GET_API_VERSION);
	if (version < 0) {
		nvfm_set_error_errno(error, -errno, "%s is not a VFIO container", container_path);
		return NULL;
	}
	if (version != VFIO_API_VERSION) {
		g_set_error(error, NVFM_ERROR, NVFM_ERROR_NOT_SUPPORTED,
			    "%s speaks VFIO API version %d, expected %d", container_path,
			    version, VFIO_API_VERSION);
		return NULL;
	}

	k->group_fd = open(group_path, O_RDWR | O_CLOEXEC);
	if (k->group_fd < 0) {
		set_open_error(error, errno, loc, group_path,
			       "is the vfio-pci module loaded and the device bound to it?");
		return NULL;
	}
	memset(&status, 0, sizeof(status));
	status.argsz = sizeof(status);
	if (ioctl(k->group_fd, VFIO_GROUP_GET_STATUS, &status) < 0) {
		nvfm_set_error_errno(error, -errno, "%s is not a VFIO group", group_path);
		return NULL;
	}
	if (!(status.flags & VFIO_GROUP_FLAGS_VIABLE)) {
		g_autofree char *blockers = nvfm_vfio_group_blockers(loc->iommu_group);

		g_set_error(error, NVFM_ERROR, NVFM_ERROR_NOT_SUPPORTED,
			    "IOMMU group %d of %s %s is not viable: every device in "
			    "the group must be bound to a VFIO driver or to none%s%s%s",
			    loc->iommu_group, loc->kind, loc->addr, blockers ? " (bound elsewhere: " : "",
			    blockers ? blockers : "", blockers ? ")" : "");
		return NULL;
	}
	if (ioctl(k->group_fd, VFIO_GROUP_SET_CONTAINER, &k->container_fd) < 0) {
		set_ioctl_error(error, errno, loc, "VFIO_GROUP_SET_CONTAINER");
		return NULL;
	}
	if (ioctl(k->container_fd, VFIO_SET_IOMMU, VFIO_TYPE1v2_IOMMU) < 0) {
		g_debug("%s: VFIO_TYPE1v2_IOMMU: %s, trying VFIO_TYPE1_IOMMU", loc->addr,
			g_strerror(errno));
		if (ioctl(k->container_fd, VFIO_SET_IOMMU, VFIO_TYPE1_IOMMU) < 0) {
			set_ioctl_error(error, errno, loc, "VFIO_SET_IOMMU");
			return NULL;
		}
	}
	k->device_fd = ioctl(k->group_fd, VFIO_GROUP_GET_DEVICE_FD, loc->addr);
	if (k->device_fd < 0) {
		int err = errno;

		k->device_fd = -1;
		set_ioctl_error(error, err, loc, "VFIO_GROUP_GET_DEVICE_FD");
		return NULL;
	}
	g_debug("%s: opened through IOMMU group %d", loc->addr, loc->iommu_group);
	return g_steal_pointer(&k);
}

/* ---- ops -------------------------------------------------------------- */

static int vk_fd(NvfmDevice *dev)
{
	return ((VfioKernel *)dev->priv)->device_fd;
}

/* VFIO_DEVICE_FEATURE takes the header and the payload in one buffer,
 * argsz covering both; the payloads used here are a few u64s. */
static int vfio_feature(int fd, guint32 flags, void *payload, gsize len)
{
	guint64 buf[6] = { 0 };
	struct vfio_device_feature *f = (struct vfio_device_feature *)buf;

	g_assert(sizeof(*f) + len <= sizeof(buf));
	f->argsz = (guint32)(sizeof(*f) + len);
	f->flags = flags;
	if (len)
		memcpy(f->data, payload, len);
	if (ioctl(fd, VFIO_DEVICE_FEATURE, f) < 0)
		return -errno;
	if (len)
		memcpy(payload, f->data, len);
	return 0;
}

static int vk_get_flags(NvfmDevice *dev, guint32 *flags)
{
	struct vfio_device_feature_migration mig = { 0 };
	int r = vfio_feature(vk_fd(dev), VFIO_DEVICE_FEATURE_GET | VFIO_DEVICE_FEATURE_MIGRATION,
			     &mig, sizeof(mig));

	if (r == 0)
		*flags = (guint32)mig.flags;
	return r;
}

static int vk_get_data_size(NvfmDevice *dev, guint64 *stop_copy_length)
{
	struct vfio_device_feature_mig_data_size size = { 0 };
	int r = vfio_feature(vk_fd(dev),
			     VFIO_DEVICE_FEATURE_GET | VFIO_DEVICE_FEATURE_MIG_DATA_SIZE,
			     &size, sizeof(size));

	if (r == 0)
		*stop_copy_length = size.stop_copy_length;
	return r;
}

/* A probe needs no payload; asking for SET too checks that logging can be
 * started, not merely that the feature number is known. */
static int vk_probe_dma_logging(NvfmDevice *dev)
{
	return vfio_feature(vk_fd(dev),
			    VFIO_DEVICE_FEATURE_PROBE | VFIO_DEVICE_FEATURE_SET |
				    VFIO_DEVICE_FEATURE_DMA_LOGGING_START,
			    NULL, 0);
}

static int vk_dma_log_start(NvfmDevice *dev, guint64 *page_size, const NvfmDmaRange *ranges,
			    guint32 n_ranges)
{
	g_autofree struct vfio_device_feature_dma_logging_range *r =
		g_new0(struct vfio_device_feature_dma_logging_range, MAX(n_ranges, 1));
	struct vfio_device_feature_dma_logging_control c = {
		.page_size = *page_size,
		.num_ranges = n_ranges,
		.ranges = (guint64)(uintptr_t)r,
	};
	int ret;

	for (guint32 i = 0; i < n_ranges; i++) {
		r[i].iova = ranges[i].iova;
		r[i].length = ranges[i].length;
	}
	ret = vfio_feature(vk_fd(dev), VFIO_DEVICE_FEATURE_SET | VFIO_DEVICE_FEATURE_DMA_LOGGING_START,
			   &c, sizeof(c));
	/* the driver may pick another granularity and says so in place */
	if (ret == 0)
		*page_size = c.page_size;
	return ret;
}

static int vk_dma_log_report(NvfmDevice *dev, guint64 iova, guint64 length, guint64 page_size,
			     guint64 *bitmap)
{
	struct vfio_device_feature_dma_logging_report rep = {
		.iova = iova,
		.length = length,
		.page_size = page_size,
		.bitmap = (guint64)(uintptr_t)bitmap,
	};

	return vfio_feature(vk_fd(dev), VFIO_DEVICE_FEATURE_GET | VFIO_DEVICE_FEATURE_DMA_LOGGING_REPORT,
			    &rep, sizeof(rep));
}

static int vk_dma_log_stop(NvfmDevice *dev)
{
	return vfio_feature(vk_fd(dev), VFIO_DEVICE_FEATURE_SET | VFIO_DEVICE_FEATURE_DMA_LOGGING_STOP,
			    NULL, 0);
}

/* iommufd: IOMMU_GET_HW_INFO for our device id. A 6.6 kernel knows no
 * out_capabilities: it accepts the longer struct because its tail is
 * zero, and leaves the capabilities 0. Before 6.6: ENOTTY, no tracking. */
static int iommufd_dirty(VfioKernel *k, NvfmDirtyInfo *out)
{
	struct nvfm_iommu_hw_info info = { .size = sizeof(info), .dev_id = k->iommufd_devid };

	out->iommu = "iommufd";
	if (ioctl(k->iommufd, NVFM_IOMMU_GET_HW_INFO, &info) < 0)
		return errno == ENOTTY || errno == EOPNOTSUPP ? 0 : -errno;
	out->iommu_dirty = (info.out_capabilities & NVFM_IOMMU_HW_CAP_DIRTY_TRACKING) != 0;
	return 0;
}

/* type1: VFIO_IOMMU_GET_INFO and its capability chain; the migration
 * capability says the container can log dirty pages, with which page
 * sizes and how large one bitmap may be. */
static int type1_dirty(VfioKernel *k, NvfmDirtyInfo *out)
{
	g_autofree guint8 *buf = NULL;
	struct vfio_iommu_type1_info head = { .argsz = sizeof(head) };
	struct vfio_iommu_type1_info *info;
	guint32 off;

	out->iommu = "type1";
	if (ioctl(k->container_fd, VFIO_IOMMU_GET_INFO, &head) < 0)
		return -errno;
	if (!(head.flags & VFIO_IOMMU_INFO_CAPS) || head.argsz <= sizeof(head) ||
	    head.argsz > 65536)
		return 0;
	buf = g_malloc0(head.argsz);
	info = (struct vfio_iommu_type1_info *)buf;
	info->argsz = head.argsz;
	if (ioctl(k->container_fd, VFIO_IOMMU_GET_INFO, info) < 0)
		return -errno;
	/* bounded: each hop must move forward inside the buffer */
	for (off = info->cap_offset; off >= sizeof(*info) &&
	     off + sizeof(struct vfio_info_cap_header) <= info->argsz;) {
		struct vfio_info_cap_header *h = (struct vfio_info_cap_header *)(buf + off);

		if (h->id == VFIO_IOMMU_TYPE1_INFO_CAP_MIGRATION &&
		    off + sizeof(struct vfio_iommu_type1_info_cap_migration) <= info->argsz) {
			struct vfio_iommu_type1_info_cap_migration *mig = (void *)h;

			out->iommu_dirty = TRUE;
			out->iommu_pgsizes = mig->pgsize_bitmap;
			out->iommu_max_bitmap = mig->max_dirty_bitmap_size;
			return 0;
		}
		if (h->next <= off)
			break;
		off = h->next;
	}
	return 0;
}

static int vk_iommu_dirty(NvfmDevice *dev, NvfmDirtyInfo *out)
{
	VfioKernel *k = dev->priv;

	if (k->iommufd >= 0)
		return iommufd_dirty(k, out);
	if (k->container_fd >= 0)
		return type1_dirty(k, out);
	return -ENOTTY;
}

static int vk_get_state(NvfmDevice *dev, NvfmMigState *state)
{
	struct vfio_device_feature_mig_state mig = { .data_fd = -1 };
	int r = vfio_feature(vk_fd(dev),
			     VFIO_DEVICE_FEATURE_GET | VFIO_DEVICE_FEATURE_MIG_DEVICE_STATE,
			     &mig, sizeof(mig));

	if (r == 0)
		*state = (NvfmMigState)mig.device_state;
	return r;
}

static int vk_set_state(NvfmDevice *dev, NvfmMigState state, int *data_fd)
{
	struct vfio_device_feature_mig_state mig = {
		.device_state = (guint32)state,
		.data_fd = -1,
	};
	int r;

	*data_fd = -1;
	r = vfio_feature(vk_fd(dev), VFIO_DEVICE_FEATURE_SET | VFIO_DEVICE_FEATURE_MIG_DEVICE_STATE,
			 &mig, sizeof(mig));
	if (r < 0)
		return r;
	/* The kernel writes -1 back for arcs that open no session. */
	*data_fd = mig.data_fd;
	return 0;
}

static int vk_reset(NvfmDevice *dev)
{
	return ioctl(vk_fd(dev), VFIO_DEVICE_RESET) < 0 ? -errno : 0;
}

static int vk_precopy_info(NvfmDevice *dev, int data_fd, guint64 *initial, guint64 *dirty)
{
	struct vfio_precopy_info info;

	memset(&info, 0, sizeof(info));
	info.argsz = sizeof(info);
	if (ioctl(data_fd, VFIO_MIG_GET_PRECOPY_INFO, &info) < 0)
		return -errno;
	*initial = info.initial_bytes;
	*dirty = info.dirty_bytes;
	return 0;
}

static int read_sysfs_id(const char *dir, const char *attr, guint64 *out)
{
	g_autofree char *path = g_build_filename(dir, attr, NULL);
	g_autofree char *text = NULL;
	char *end = NULL;

	if (!g_file_get_contents(path, &text, NULL, NULL))
		return -ENOENT;
	g_strstrip(text);
	*out = g_ascii_strtoull(text, &end, 16);
	return end && end != text && !*end ? 0 : -EINVAL;
}

/* What a destination VF must match: the PCI identity and the (variant)
 * driver that defines the state format. */
static int vk_compat_facts(NvfmDevice *dev, json_t *obj)
{
	static const struct {
		const char *attr, *key;
	} ids[] = {
		{ "vendor", "vendor_id" },
		{ "device", "device_id" },
		{ "subsystem_vendor", "subsystem_vendor_id" },
		{ "subsystem_device", "subsystem_device_id" },
	};
	VfioKernel *k = dev->priv;

	for (guint i = 0; i < G_N_ELEMENTS(ids); i++) {
		guint64 v;

		if (read_sysfs_id(k->sysfs_dir, ids[i].attr, &v) == 0)
			json_object_set_new(obj, ids[i].key, json_integer((json_int_t)v));
	}
	if (k->driver)
		json_object_set_new(obj, "driver", json_string(k->driver));
	return 0;
}

static void vk_close(NvfmDevice *dev)
{
	vfio_kernel_free(dev->priv);
	dev->priv = NULL;
}

#define VFIO_KERNEL_OPS(backend_name, facts)              \
	{                                                   \
		.name = backend_name,                       \
		.get_flags = vk_get_flags,                  \
		.get_data_size = vk_get_data_size,          \
		.probe_dma_logging = vk_probe_dma_logging,  \
		.dma_log_start = vk_dma_log_start,          \
		.dma_log_report = vk_dma_log_report,        \
		.dma_log_stop = vk_dma_log_stop,            \
		.iommu_dirty = vk_iommu_dirty,              \
		.get_state = vk_get_state,                  \
		.set_state = vk_set_state,                  \
		.reset = vk_reset,                          \
		.precopy_info = vk_precopy_info,            \
		.data_read = NULL,                          \
		.data_write = NULL,                         \
		.compat_facts = facts,                      \
		.close = vk_close,                          \
	}

static const NvfmDeviceOps cdev_ops = VFIO_KERNEL_OPS("vfio-cdev", vk_compat_facts);
static const NvfmDeviceOps group_ops = VFIO_KERNEL_OPS("vfio-group", vk_compat_facts);
/* a bare fd does not say which PCI device it is */
static const NvfmDeviceOps fd_ops = VFIO_KERNEL_OPS("fd", NULL);

/* ---- constructors ----------------------------------------------------- */

/* The cdev bound to iommufd where the kernel offers it, else the group. */
static gboolean open_located(NvfmDevice *dev, const NvfmVfioLocation *loc_, GError **error)
{
	const NvfmVfioLocation loc = *loc_;
	g_autoptr(VfioKernel) k = NULL;
	const NvfmDeviceOps *ops = &group_ops;

	if (loc.cdev_name) {
		g_autofree char *rel = g_strconcat("/dev/vfio/devices/", loc.cdev_name, NULL);
		g_autofree char *cdev_path = nvfm_dev_path(rel);
		g_autofree char *iommu_path = nvfm_dev_path("/dev/iommu");

		if (g_file_test(cdev_path, G_FILE_TEST_EXISTS) &&
		    g_file_test(iommu_path, G_FILE_TEST_EXISTS)) {
			k = open_cdev(loc_, cdev_path, iommu_path, error);
			if (!k)
				return FALSE;
			ops = &cdev_ops;
		} else if (loc.iommu_group < 0) {
			g_set_error(error, NVFM_ERROR, NVFM_ERROR_NOT_FOUND,
				    "%s %s: neither %s and %s nor an IOMMU group to "
				    "open it through", loc.kind, loc.addr, cdev_path, iommu_path);
			return FALSE;
		} else {
			g_debug("%s: no %s or %s, using IOMMU group %d", loc.addr, cdev_path,
				iommu_path, loc.iommu_group);
		}
	}
	if (!k) {
		k = open_group(loc_, error);
		if (!k)
			return FALSE;
	}
	k->sysfs_dir = g_strdup(loc.sysfs_dir);
	k->driver = g_strdup(loc.driver);
	dev->ops = ops;
	dev->priv = g_steal_pointer(&k);
	return TRUE;
}

gboolean nvfm_vfio_open_pci(NvfmDevice *dev, const char *pci_addr, GError **error)
{
	g_auto(NvfmVfioLocation) loc = { .iommu_group = -1 };

	return nvfm_vfio_locate(pci_addr, &loc, error) && open_located(dev, &loc, error);
}

gboolean nvfm_vfio_open_mdev(NvfmDevice *dev, const char *uuid, GError **error)
{
	g_auto(NvfmVfioLocation) loc = { .iommu_group = -1 };

	return nvfm_vfio_locate_mdev(uuid, &loc, error) && open_located(dev, &loc, error);
}

void nvfm_vfio_adopt_fd(NvfmDevice *dev, int device_fd)
{
	VfioKernel *k = vfio_kernel_new();

	k->device_fd = device_fd;
	dev->ops = &fd_ops;
	dev->priv = k;
}

gboolean nvfm_vfio_open_fd(NvfmDevice *dev, int n, GError **error)
{
	struct vfio_device_info info;
	int fd;

	if (fcntl((int)n, F_GETFD) < 0) {
		g_set_error(error, NVFM_ERROR, NVFM_ERROR_INVALID_ARG, "fd %d is not open: %s",
			    (int)n, g_strerror(errno));
		return FALSE;
	}
	memset(&info, 0, sizeof(info));
	info.argsz = sizeof(info);
	if (ioctl((int)n, VFIO_DEVICE_GET_INFO, &info) < 0) {
		g_set_error(error, NVFM_ERROR, NVFM_ERROR_INVALID_ARG,
			    "fd %d is not a VFIO device (VFIO_DEVICE_GET_INFO: %s)", (int)n,
			    g_strerror(errno));
		return FALSE;
	}
	/* The caller keeps its fd; this device closes its own copy. */
	fd = fcntl((int)n, F_DUPFD_CLOEXEC, 3);
	if (fd < 0) {
		nvfm_set_error_errno(error, -errno, "cannot duplicate fd %d", (int)n);
		return FALSE;
	}
	g_debug("fd %d: VFIO device, flags 0x%x, %u regions, %u irqs", (int)n, info.flags,
		info.num_regions, info.num_irqs);
	nvfm_vfio_adopt_fd(dev, fd);
	return TRUE;
}
