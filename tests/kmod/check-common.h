/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * check-common.h - what tvf-check.c and lm-check.c share: the check/die
 * reporting, sysfs access, opening a VF through the kernel's legacy VFIO
 * container/group uAPI (every device opened joins one container), the
 * migration features and state arcs, BAR0 register access, and the data_fd
 * read/write/resume helpers. Each tool is one static binary built from its
 * own .c file (tests/testbed/run): define CHECK_PROG, then include this.
 */
#ifndef CHECK_COMMON_H
#define CHECK_COMMON_H

#ifndef CHECK_PROG
#error "define CHECK_PROG (the tool's name) before including check-common.h"
#endif

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>
#include <linux/vfio.h>

/* The uAPI additions after Linux 6.1 (the build host's headers may be
 * those), as nvme-vf-migrate itself fills them in. */
#include "../../src/lib/engine/vfio-compat.h"

/* NVMe controller registers (BAR0) */
#define NVME_CAP	0x00
#define NVME_CC		0x14
#define NVME_CSTS	0x1c
#define NVME_AQA	0x24
#define NVME_ASQ	0x28
#define NVME_ACQ	0x30
#define NVME_DB		0x1000

struct dev {
	const char *addr;
	int group_fd;
	int fd;
	uint64_t bar0;		/* region offsets in fd */
	uint64_t cfg;
	unsigned int dstrd;	/* CAP.DSTRD */
};

static int passed, failed;
static int container_fd = -1;

static inline void check(bool ok, const char *fmt, ...)
{
	va_list ap;

	printf("%s - ", ok ? "ok  " : "FAIL");
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	putchar('\n');
	fflush(stdout);
	if (ok)
		passed++;
	else
		failed++;
}

/* "TOOL: N passed, M failed"; the exit status. */
static inline int summary(void)
{
	printf("%s: %d passed, %d failed\n", CHECK_PROG, passed, failed);
	return failed ? 1 : 0;
}

static inline void die(const char *fmt, ...)
{
	va_list ap;

	fputs(CHECK_PROG ": ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(2);
}

/* ---- sysfs ---- */

static inline int sysfs_read(const char *path, char *buf, size_t len)
{
	int fd = open(path, O_RDONLY);
	ssize_t n;

	if (fd < 0)
		return -errno;
	n = read(fd, buf, len - 1);
	close(fd);
	if (n < 0)
		return -errno;
	buf[n] = 0;
	while (n > 0 && buf[n - 1] == '\n')
		buf[--n] = 0;
	return 0;
}

static inline int sysfs_write(const char *path, const char *val)
{
	int fd = open(path, O_WRONLY);
	ssize_t n;

	if (fd < 0)
		return -errno;
	n = write(fd, val, strlen(val));
	close(fd);
	return n < 0 ? -errno : 0;
}

/* ---- BAR0 ---- */

static inline uint32_t rd32(const struct dev *d, uint32_t off)
{
	uint32_t v = 0;

	if (pread(d->fd, &v, 4, d->bar0 + off) != 4)
		die("%s: BAR0 read at 0x%x: %s", d->addr, off, strerror(errno));
	return v;
}

static inline void wr32(const struct dev *d, uint32_t off, uint32_t v)
{
	if (pwrite(d->fd, &v, 4, d->bar0 + off) != 4)
		die("%s: BAR0 write at 0x%x: %s", d->addr, off, strerror(errno));
}

static inline uint64_t rd64(const struct dev *d, uint32_t off)
{
	return rd32(d, off) | (uint64_t)rd32(d, off + 4) << 32;
}

static inline void wr64(const struct dev *d, uint32_t off, uint64_t v)
{
	wr32(d, off, (uint32_t)v);
	wr32(d, off + 4, v >> 32);
}

/* ---- VFIO ---- */

/* Opens @addr into the container (the first call makes it); BAR0 >= @bar0_min. */
static inline void vfio_open(struct dev *d, const char *addr, uint64_t bar0_min)
{
	char path[PATH_MAX], link[PATH_MAX], *g;
	struct vfio_group_status st = { .argsz = sizeof(st) };
	struct vfio_region_info ri = { .argsz = sizeof(ri) };
	bool first = container_fd < 0;
	ssize_t n;

	memset(d, 0, sizeof(*d));
	d->addr = addr;
	snprintf(path, sizeof(path), "/sys/bus/pci/devices/%s/iommu_group", addr);
	n = readlink(path, link, sizeof(link) - 1);
	if (n < 0)
		die("%s: no IOMMU group: %s", addr, strerror(errno));
	link[n] = 0;
	g = strrchr(link, '/');
	if (first) {
		container_fd = open("/dev/vfio/vfio", O_RDWR);
		if (container_fd < 0)
			die("/dev/vfio/vfio: %s", strerror(errno));
		if (ioctl(container_fd, VFIO_GET_API_VERSION) != VFIO_API_VERSION)
			die("unexpected VFIO API version");
	}
	snprintf(path, sizeof(path), "/dev/vfio/%s", g + 1);
	d->group_fd = open(path, O_RDWR);
	if (d->group_fd < 0)
		die("%s: %s", path, strerror(errno));
	if (ioctl(d->group_fd, VFIO_GROUP_GET_STATUS, &st) || !(st.flags & VFIO_GROUP_FLAGS_VIABLE))
		die("group %s is not viable (all its devices must be bound to VFIO drivers)", g + 1);
	if (ioctl(d->group_fd, VFIO_GROUP_SET_CONTAINER, &container_fd))
		die("VFIO_GROUP_SET_CONTAINER: %s", strerror(errno));
	if (first && ioctl(container_fd, VFIO_SET_IOMMU, VFIO_TYPE1v2_IOMMU))
		die("VFIO_SET_IOMMU: %s", strerror(errno));
	d->fd = ioctl(d->group_fd, VFIO_GROUP_GET_DEVICE_FD, addr);
	if (d->fd < 0)
		die("VFIO_GROUP_GET_DEVICE_FD %s: %s", addr, strerror(errno));
	ri.index = VFIO_PCI_BAR0_REGION_INDEX;
	if (ioctl(d->fd, VFIO_DEVICE_GET_REGION_INFO, &ri) || ri.size < bar0_min)
		die("BAR0 region: %s", strerror(errno));
	d->bar0 = ri.offset;
	ri.index = VFIO_PCI_CONFIG_REGION_INDEX;
	if (ioctl(d->fd, VFIO_DEVICE_GET_REGION_INFO, &ri))
		die("config region: %s", strerror(errno));
	d->cfg = ri.offset;
	d->dstrd = (rd64(d, NVME_CAP) >> 32) & 0xf;
}

static inline int feature(const struct dev *d, uint32_t flags, void *data, size_t len)
{
	uint64_t buf[(sizeof(struct vfio_device_feature) + 64) / 8] = { 0 };
	struct vfio_device_feature *f = (void *)buf;

	f->argsz = sizeof(*f) + len;
	f->flags = flags;
	memcpy(f->data, data, len);
	if (ioctl(d->fd, VFIO_DEVICE_FEATURE, f))
		return -errno;
	memcpy(data, f->data, len);
	return 0;
}

static inline int mig_flags(const struct dev *d, uint64_t *flags)
{
	struct vfio_device_feature_migration m = { 0 };
	int ret = feature(d, VFIO_DEVICE_FEATURE_GET | VFIO_DEVICE_FEATURE_MIGRATION,
			  &m, sizeof(m));

	*flags = m.flags;
	return ret;
}

static inline int data_size(const struct dev *d, uint64_t *len)
{
	uint64_t v = 0;
	int ret = feature(d, VFIO_DEVICE_FEATURE_GET | VFIO_DEVICE_FEATURE_MIG_DATA_SIZE,
			  &v, sizeof(v));

	*len = v;
	return ret;
}

static inline int get_state(const struct dev *d)
{
	struct vfio_device_feature_mig_state s = { .data_fd = -1 };
	int ret = feature(d, VFIO_DEVICE_FEATURE_GET | VFIO_DEVICE_FEATURE_MIG_DEVICE_STATE,
			  &s, sizeof(s));

	return ret ? ret : (int)s.device_state;
}

/* Returns 0 and the new data_fd (or -1) in *fd, or -errno. */
static inline int set_state(const struct dev *d, uint32_t state, int *fd)
{
	struct vfio_device_feature_mig_state s = { .device_state = state, .data_fd = -1 };
	int ret = feature(d, VFIO_DEVICE_FEATURE_SET | VFIO_DEVICE_FEATURE_MIG_DEVICE_STATE,
			  &s, sizeof(s));

	if (fd)
		*fd = ret ? -1 : s.data_fd;
	else if (!ret && s.data_fd >= 0)
		close(s.data_fd);
	return ret;
}

static inline int device_reset(const struct dev *d)
{
	return ioctl(d->fd, VFIO_DEVICE_RESET) ? -errno : 0;
}

/*
 * "info": prints the migration flags, MIG_DATA_SIZE and the device state.
 * Returns -errno when the device has no migration, else the MIG_DATA_SIZE
 * result (0 or -errno).
 */
static inline int show_info(const struct dev *d, uint64_t *flags)
{
	uint64_t len = 0;
	int ret = mig_flags(d, flags);

	if (ret) {
		printf("migration=none (%s)\n", strerror(-ret));
		return ret;
	}
	printf("migration_flags=0x%" PRIx64 "%s%s%s\n", *flags,
	       *flags & VFIO_MIGRATION_STOP_COPY ? " STOP_COPY" : "",
	       *flags & VFIO_MIGRATION_P2P ? " P2P" : "",
	       *flags & VFIO_MIGRATION_PRE_COPY ? " PRE_COPY" : "");
	ret = data_size(d, &len);
	if (ret)
		printf("mig_data_size=error (%s)\n", strerror(-ret));
	else
		printf("mig_data_size=%" PRIu64 "\n", len);
	printf("device_state=%d\n", get_state(d));
	return ret;
}

/* ---- data_fds ---- */

/*
 * Reads @fd in reads of at most @seg bytes, appending to *buf, until EOF
 * (0), @limit bytes in all (0: no limit; then 0) or an error (-errno; a
 * PRE_COPY data_fd ends its data for now with -ENOMSG).
 */
static inline int read_all(int fd, uint8_t **buf, size_t *len, size_t limit, size_t seg)
{
	for (;;) {
		size_t want = limit && limit - *len < seg ? limit - *len : seg;
		ssize_t n;

		*buf = realloc(*buf, *len + seg);
		if (!*buf)
			die("out of memory");
		n = read(fd, *buf + *len, want);
		if (n == 0)
			return 0;
		if (n < 0)
			return -errno;
		*len += n;
		if (limit && *len >= limit)
			return 0;
	}
}

/* Feeds @len bytes in writes of @seg; returns the first write error. */
static inline int write_all(int fd, const uint8_t *buf, size_t len, size_t seg)
{
	size_t off = 0;

	while (off < len) {
		size_t n = len - off < seg ? len - off : seg;
		ssize_t w = write(fd, buf + off, n);

		if (w < 0)
			return -errno;
		off += w;
	}
	return 0;
}

/*
 * -> RESUMING, @len bytes of @s in writes of @seg (the first write error in
 * *werr), RESUMING -> STOP: returns that arc's result.
 */
static inline int resume(const struct dev *d, const uint8_t *s, size_t len, size_t seg,
			 int *werr)
{
	int fd, ret;

	*werr = 0;
	ret = set_state(d, VFIO_DEVICE_STATE_RESUMING, &fd);
	if (ret)
		return ret;
	if (fd < 0)
		return -EBADF;
	*werr = write_all(fd, s, len, seg);
	ret = set_state(d, VFIO_DEVICE_STATE_STOP, NULL);
	close(fd);
	return ret;
}

#endif /* CHECK_COMMON_H */
