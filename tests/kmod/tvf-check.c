// SPDX-License-Identifier: GPL-2.0-only
/*
 * tvf-check - exercises nvfm_tvf through the kernel's VFIO uAPI (legacy
 * container/group interface), independently of nvme-vf-migrate:
 *
 *   tvf-check info ADDR    print the migration flags and data size
 *   tvf-check cycle ADDR   save through PRE_COPY and STOP_COPY, then prove
 *                          that resuming commits exactly that state (blob
 *                          digest, NVMe admin queue registers, byte-identical
 *                          re-save) and that bad streams are refused at
 *                          RESUMING -> STOP
 *
 * Runs inside a testbed host as root, with ADDR bound to nvfm_tvf.
 * Prints one line per check and "tvf-check: N passed, M failed".
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <poll.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>
#include <linux/vfio.h>

/* uAPI additions after Linux 6.1, whose headers the build host may have. */
#ifndef VFIO_MIGRATION_PRE_COPY
#define VFIO_MIGRATION_PRE_COPY (1 << 2)
#define VFIO_DEVICE_STATE_PRE_COPY 6
#define VFIO_DEVICE_STATE_PRE_COPY_P2P 7
#endif
#ifndef VFIO_MIG_GET_PRECOPY_INFO
struct vfio_precopy_info {
	__u32 argsz;
	__u32 flags;
	__aligned_u64 initial_bytes;
	__aligned_u64 dirty_bytes;
};
#define VFIO_MIG_GET_PRECOPY_INFO _IO(VFIO_TYPE, VFIO_BASE + 21)
#endif
#ifndef VFIO_DEVICE_FEATURE_MIG_DATA_SIZE
#define VFIO_DEVICE_FEATURE_MIG_DATA_SIZE 9
#endif

#define HDR_LEN 48
#define REGS_LEN 64
#define TAIL_LEN (REGS_LEN + 48)

#define NVME_AQA 0x24
#define NVME_ASQ 0x28
#define NVME_ACQ 0x30

static const char *addr;
static int passed, failed;
static int container_fd = -1, group_fd = -1, dev_fd = -1;
static uint64_t bar0_off;

static void check(bool ok, const char *fmt, ...)
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

static void die(const char *fmt, ...)
{
	va_list ap;

	fputs("tvf-check: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(2);
}

/* ---- sysfs ---- */

static int sysfs_read(const char *path, char *buf, size_t len)
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

static int sysfs_write(const char *path, const char *val)
{
	int fd = open(path, O_WRONLY);
	ssize_t n;

	if (fd < 0)
		return -errno;
	n = write(fd, val, strlen(val));
	close(fd);
	return n < 0 ? -errno : 0;
}

static void digest(char *out, size_t len)
{
	char path[PATH_MAX];

	snprintf(path, sizeof(path), "/sys/bus/pci/devices/%s/nvfm_tvf_digest", addr);
	if (sysfs_read(path, out, len))
		die("cannot read %s (is %s bound to nvfm_tvf?)", path, addr);
}

static uint64_t info_u64(const char *key)
{
	char path[PATH_MAX], buf[4096], *p;

	snprintf(path, sizeof(path), "/sys/bus/pci/devices/%s/nvfm_tvf_info", addr);
	if (sysfs_read(path, buf, sizeof(buf)))
		die("cannot read %s", path);
	for (p = buf; p; p = strchr(p, '\n')) {
		if (*p == '\n')
			p++;
		if (!strncmp(p, key, strlen(key)) && p[strlen(key)] == ':')
			return strtoull(p + strlen(key) + 1, NULL, 0);
	}
	die("no '%s' in %s", key, path);
	return 0;
}

static void set_refuse(bool on)
{
	if (sysfs_write("/sys/module/nvfm_tvf/parameters/refuse_resume", on ? "1" : "0"))
		die("cannot set refuse_resume");
}

static void regenerate(const char *seed)
{
	char path[PATH_MAX];

	snprintf(path, sizeof(path), "/sys/bus/pci/devices/%s/nvfm_tvf_regenerate", addr);
	if (sysfs_write(path, seed))
		die("cannot write %s", path);
}

/* ---- VFIO ---- */

static void vfio_open(void)
{
	char path[PATH_MAX], link[PATH_MAX], *g;
	struct vfio_group_status st = { .argsz = sizeof(st) };
	struct vfio_region_info ri = { .argsz = sizeof(ri) };
	ssize_t n;

	snprintf(path, sizeof(path), "/sys/bus/pci/devices/%s/iommu_group", addr);
	n = readlink(path, link, sizeof(link) - 1);
	if (n < 0)
		die("%s: no IOMMU group: %s", addr, strerror(errno));
	link[n] = 0;
	g = strrchr(link, '/');
	container_fd = open("/dev/vfio/vfio", O_RDWR);
	if (container_fd < 0)
		die("/dev/vfio/vfio: %s", strerror(errno));
	if (ioctl(container_fd, VFIO_GET_API_VERSION) != VFIO_API_VERSION)
		die("unexpected VFIO API version");
	snprintf(path, sizeof(path), "/dev/vfio/%s", g + 1);
	group_fd = open(path, O_RDWR);
	if (group_fd < 0)
		die("%s: %s", path, strerror(errno));
	if (ioctl(group_fd, VFIO_GROUP_GET_STATUS, &st) || !(st.flags & VFIO_GROUP_FLAGS_VIABLE))
		die("group %s is not viable (all its devices must be bound to VFIO drivers)", g + 1);
	if (ioctl(group_fd, VFIO_GROUP_SET_CONTAINER, &container_fd))
		die("VFIO_GROUP_SET_CONTAINER: %s", strerror(errno));
	if (ioctl(container_fd, VFIO_SET_IOMMU, VFIO_TYPE1v2_IOMMU))
		die("VFIO_SET_IOMMU: %s", strerror(errno));
	dev_fd = ioctl(group_fd, VFIO_GROUP_GET_DEVICE_FD, addr);
	if (dev_fd < 0)
		die("VFIO_GROUP_GET_DEVICE_FD %s: %s", addr, strerror(errno));
	ri.index = VFIO_PCI_BAR0_REGION_INDEX;
	if (ioctl(dev_fd, VFIO_DEVICE_GET_REGION_INFO, &ri) || ri.size < 0x40)
		die("BAR0 region: %s", strerror(errno));
	bar0_off = ri.offset;
}

static int feature(uint32_t flags, void *data, size_t len)
{
	uint64_t buf[(sizeof(struct vfio_device_feature) + 64) / 8] = { 0 };
	struct vfio_device_feature *f = (void *)buf;

	f->argsz = sizeof(*f) + len;
	f->flags = flags;
	memcpy(f->data, data, len);
	if (ioctl(dev_fd, VFIO_DEVICE_FEATURE, f))
		return -errno;
	memcpy(data, f->data, len);
	return 0;
}

static int mig_flags(uint64_t *flags)
{
	struct vfio_device_feature_migration m = { 0 };
	int ret = feature(VFIO_DEVICE_FEATURE_GET | VFIO_DEVICE_FEATURE_MIGRATION,
			  &m, sizeof(m));

	*flags = m.flags;
	return ret;
}

static int data_size(uint64_t *len)
{
	uint64_t v = 0;
	int ret = feature(VFIO_DEVICE_FEATURE_GET | VFIO_DEVICE_FEATURE_MIG_DATA_SIZE,
			  &v, sizeof(v));

	*len = v;
	return ret;
}

static int get_state(void)
{
	struct vfio_device_feature_mig_state s = { .data_fd = -1 };
	int ret = feature(VFIO_DEVICE_FEATURE_GET | VFIO_DEVICE_FEATURE_MIG_DEVICE_STATE,
			  &s, sizeof(s));

	return ret ? ret : (int)s.device_state;
}

/* Returns 0 and the new data_fd (or -1) in *fd, or -errno. */
static int set_state(uint32_t state, int *fd)
{
	struct vfio_device_feature_mig_state s = { .device_state = state, .data_fd = -1 };
	int ret = feature(VFIO_DEVICE_FEATURE_SET | VFIO_DEVICE_FEATURE_MIG_DEVICE_STATE,
			  &s, sizeof(s));

	if (fd)
		*fd = ret ? -1 : s.data_fd;
	else if (!ret && s.data_fd >= 0)
		close(s.data_fd);
	return ret;
}

static uint32_t reg_read(uint32_t off)
{
	uint32_t v = 0;

	if (pread(dev_fd, &v, 4, bar0_off + off) != 4)
		die("BAR0 read at 0x%x: %s", off, strerror(errno));
	return v;
}

static void reg_write(uint32_t off, uint32_t v)
{
	if (pwrite(dev_fd, &v, 4, bar0_off + off) != 4)
		die("BAR0 write at 0x%x: %s", off, strerror(errno));
}

static uint64_t reg_read64(uint32_t off)
{
	return reg_read(off) | (uint64_t)reg_read(off + 4) << 32;
}

static int device_reset(void)
{
	return ioctl(dev_fd, VFIO_DEVICE_RESET) ? -errno : 0;
}

static int precopy_info(int fd, struct vfio_precopy_info *pi)
{
	memset(pi, 0, sizeof(*pi));
	pi->argsz = sizeof(*pi);
	return ioctl(fd, VFIO_MIG_GET_PRECOPY_INFO, pi) ? -errno : 0;
}

/* Reads until EOF (STOP_COPY) or ENOMSG (PRE_COPY); returns the errno seen. */
static int read_all(int fd, uint8_t **buf, size_t *len, size_t limit)
{
	for (;;) {
		ssize_t n;

		*buf = realloc(*buf, *len + 65536);
		if (!*buf)
			die("out of memory");
		n = read(fd, *buf + *len, limit && limit - *len < 65536 ? limit - *len : 65536);
		if (n == 0)
			return 0;
		if (n < 0)
			return errno;
		*len += n;
		if (limit && *len >= limit)
			return 0;
	}
}

static int write_chunks(int fd, const uint8_t *buf, size_t len, size_t chunk)
{
	size_t off = 0;

	while (off < len) {
		size_t n = len - off < chunk ? len - off : chunk;
		ssize_t w = write(fd, buf + off, n);

		if (w < 0)
			return -errno;
		off += w;
	}
	return 0;
}

/* Feeds @stream to a RESUMING device; returns the RESUMING -> STOP result. */
static int resume(const uint8_t *stream, size_t len, int *write_err)
{
	int fd, ret;

	*write_err = 0;
	ret = set_state(VFIO_DEVICE_STATE_RESUMING, &fd);
	if (ret)
		return ret;
	if (fd < 0)
		return -EBADF;
	*write_err = write_chunks(fd, stream, len, 4093);
	ret = set_state(VFIO_DEVICE_STATE_STOP, NULL);
	close(fd);
	return ret;
}

static int cmd_info(void)
{
	uint64_t flags = 0, len = 0;
	int ret = mig_flags(&flags);

	if (ret) {
		printf("migration=none (%s)\n", strerror(-ret));
		return 1;
	}
	printf("migration_flags=0x%" PRIx64 "%s%s%s\n", flags,
	       flags & VFIO_MIGRATION_STOP_COPY ? " STOP_COPY" : "",
	       flags & VFIO_MIGRATION_P2P ? " P2P" : "",
	       flags & VFIO_MIGRATION_PRE_COPY ? " PRE_COPY" : "");
	ret = data_size(&len);
	printf("mig_data_size=%s%" PRIu64 "\n", ret ? "error " : "", len);
	printf("device_state=%d\n", get_state());
	return (flags & 7) == 7 && !ret ? 0 : 1;
}

static int cmd_cycle(void)
{
	const uint32_t aqa = 0x001f001f;
	const uint64_t asq = 0x0000000112345000ULL, acq = 0x00000001789ab000ULL;
	uint64_t flags = 0, size0 = 0, size1 = 0, stream_size;
	uint8_t *s1 = NULL, *s2 = NULL, *bad = NULL;
	size_t n1 = 0, n2 = 0, pre = 0;
	struct vfio_precopy_info pi;
	char d0[80], d1[80], d2[80];
	int fd, fd2, ret, werr, e;
	struct pollfd pfd;

	ret = mig_flags(&flags);
	check(!ret && (flags & 7) == 7,
	      "migration flags 0x%" PRIx64 " include STOP_COPY, P2P and PRE_COPY", flags);
	check(get_state() == VFIO_DEVICE_STATE_RUNNING, "device starts RUNNING");
	stream_size = info_u64("stream_size");
	ret = data_size(&size0);
	check(!ret && size0 == stream_size,
	      "MIG_DATA_SIZE %" PRIu64 " = whole state %" PRIu64, size0, stream_size);

	/* Admin queue registers the saved state must carry. */
	reg_write(NVME_AQA, aqa);
	reg_write(NVME_ASQ, (uint32_t)asq);
	reg_write(NVME_ASQ + 4, asq >> 32);
	reg_write(NVME_ACQ, (uint32_t)acq);
	reg_write(NVME_ACQ + 4, acq >> 32);
	check(reg_read(NVME_AQA) == aqa && reg_read64(NVME_ASQ) == asq &&
	      reg_read64(NVME_ACQ) == acq, "VF accepts AQA/ASQ/ACQ through BAR0");

	/* PRE_COPY: the blob, with a temporary end of stream. */
	ret = set_state(VFIO_DEVICE_STATE_PRE_COPY, &fd);
	check(!ret && fd >= 0, "RUNNING -> PRE_COPY opens a data_fd (%s)", strerror(-ret));
	if (ret || fd < 0)
		return 1;
	ret = precopy_info(fd, &pi);
	check(!ret && pi.initial_bytes == stream_size - TAIL_LEN && pi.dirty_bytes == 0,
	      "PRECOPY_INFO initial_bytes %llu dirty_bytes %llu",
	      (unsigned long long)pi.initial_bytes, (unsigned long long)pi.dirty_bytes);
	e = read_all(fd, &s1, &n1, 1000);
	precopy_info(fd, &pi);
	check(!e && n1 == 1000 && pi.initial_bytes == stream_size - TAIL_LEN - 1000,
	      "initial_bytes shrinks as data is read (%llu)", (unsigned long long)pi.initial_bytes);
	e = read_all(fd, &s1, &n1, 0);
	pre = n1;
	check(e == ENOMSG && pre == stream_size - TAIL_LEN,
	      "PRE_COPY drains %zu bytes then reads ENOMSG (%s)", pre, strerror(e));
	precopy_info(fd, &pi);
	check(pi.initial_bytes == 0, "initial_bytes reaches 0");
	pfd = (struct pollfd){ .fd = fd, .events = POLLIN };
	check(poll(&pfd, 1, 0) == 0, "a drained PRE_COPY data_fd does not poll readable");
	ret = data_size(&size1);
	check(!ret && size1 == TAIL_LEN,
	      "MIG_DATA_SIZE during PRE_COPY counts only what is left (%" PRIu64 ")", size1);

	/* STOP_COPY continues the same stream. */
	ret = set_state(VFIO_DEVICE_STATE_STOP_COPY, &fd2);
	check(!ret && fd2 < 0, "PRE_COPY -> STOP_COPY keeps the data_fd (%s)", strerror(-ret));
	check(get_state() == VFIO_DEVICE_STATE_STOP_COPY, "device is in STOP_COPY");
	check(precopy_info(fd, &pi) == -EINVAL, "PRECOPY_INFO is refused in STOP_COPY");
	e = read_all(fd, &s1, &n1, 0);
	check(!e && n1 == stream_size, "STOP_COPY ends at EOF after %zu bytes", n1);
	check(set_state(VFIO_DEVICE_STATE_PRE_COPY, NULL) == -EINVAL &&
	      get_state() == VFIO_DEVICE_STATE_STOP_COPY,
	      "STOP_COPY -> PRE_COPY is refused");
	check(!set_state(VFIO_DEVICE_STATE_STOP, NULL), "STOP_COPY -> STOP");
	check(read(fd, d2, 1) < 0 && errno == ENODEV, "the old data_fd reads ENODEV");
	close(fd);
	digest(d0, sizeof(d0));

	/* A different internal state, and a reset device. */
	check(!device_reset() && get_state() == VFIO_DEVICE_STATE_RUNNING,
	      "VFIO_DEVICE_RESET returns the device to RUNNING");
	/* Another register state too (QEMU's FLR keeps AQA/ASQ/ACQ). */
	reg_write(NVME_AQA, 0);
	reg_write(NVME_ASQ, 0);
	reg_write(NVME_ASQ + 4, 0);
	reg_write(NVME_ACQ, 0);
	reg_write(NVME_ACQ + 4, 0);
	check(reg_read64(NVME_ASQ) == 0 && reg_read64(NVME_ACQ) == 0 && reg_read(NVME_AQA) == 0,
	      "admin queue registers cleared before resuming");
	regenerate("0xdead");
	digest(d1, sizeof(d1));
	check(strcmp(d0, d1) != 0, "regenerated state has another digest");

	/* Streams that must be refused at RESUMING -> STOP. */
	bad = malloc(n1);
	if (!bad)
		die("out of memory");
	memcpy(bad, s1, n1);
	bad[HDR_LEN + (n1 - HDR_LEN - TAIL_LEN) / 2] ^= 0x40;
	ret = resume(bad, n1, &werr);
	check(ret == -EINVAL && !werr && get_state() == VFIO_DEVICE_STATE_RESUMING,
	      "a flipped state byte is refused at RESUMING -> STOP (%s)", strerror(-ret));
	device_reset();
	ret = resume(s1, n1 - 10, &werr);
	check(ret == -EINVAL, "a truncated state is refused (%s)", strerror(-ret));
	device_reset();
	memcpy(bad, s1, n1);
	bad[0] ^= 0xff;
	ret = resume(bad, n1, &werr);
	check(werr == -EINVAL && ret == -EINVAL,
	      "a bad magic fails the write and the commit (%s)", strerror(-werr));
	device_reset();
	set_refuse(true);
	ret = resume(s1, n1, &werr);
	set_refuse(false);
	check(!werr && ret == -EINVAL, "refuse_resume refuses a valid state (%s)", strerror(-ret));
	device_reset();
	digest(d2, sizeof(d2));
	check(!strcmp(d1, d2), "refused states left the device's state alone");

	/* The good stream. */
	ret = resume(s1, n1, &werr);
	check(!werr && !ret, "the saved state is committed at RESUMING -> STOP (%s)",
	      strerror(-(ret ? ret : werr)));
	digest(d2, sizeof(d2));
	check(!strcmp(d0, d2), "digest after resume equals the saved one (%.16s...)", d2);
	check(reg_read(NVME_AQA) == aqa && reg_read64(NVME_ASQ) == asq &&
	      reg_read64(NVME_ACQ) == acq, "AQA/ASQ/ACQ were restored into the VF");
	check(!set_state(VFIO_DEVICE_STATE_RUNNING, NULL) &&
	      get_state() == VFIO_DEVICE_STATE_RUNNING, "STOP -> RUNNING");

	/* Saving again from RUNNING straight to STOP_COPY gives the same bytes. */
	ret = set_state(VFIO_DEVICE_STATE_STOP_COPY, &fd);
	check(!ret && fd >= 0, "RUNNING -> STOP_COPY opens a data_fd (%s)", strerror(-ret));
	if (!ret && fd >= 0) {
		e = read_all(fd, &s2, &n2, 0);
		check(!e && n2 == n1 && !memcmp(s1, s2, n1),
		      "re-saved stream is byte-identical (%zu bytes)", n2);
		close(fd);
	}
	check(!set_state(VFIO_DEVICE_STATE_RUNNING, NULL), "STOP_COPY -> RUNNING");
	device_reset();
	free(s1);
	free(s2);
	free(bad);
	printf("tvf-check: %d passed, %d failed\n", passed, failed);
	return failed ? 1 : 0;
}

int main(int argc, char **argv)
{
	if (argc != 3) {
		fprintf(stderr, "usage: tvf-check info|cycle PCI-ADDRESS\n");
		return 2;
	}
	addr = argv[2];
	vfio_open();
	if (!strcmp(argv[1], "info"))
		return cmd_info();
	if (!strcmp(argv[1], "cycle"))
		return cmd_cycle();
	fprintf(stderr, "tvf-check: unknown command %s\n", argv[1]);
	return 2;
}
