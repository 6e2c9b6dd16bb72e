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
#include <poll.h>

#define CHECK_PROG "tvf-check"
#include "check-common.h"

#define HDR_LEN 48
#define REGS_LEN 64
#define TAIL_LEN (REGS_LEN + 48)

static struct dev dev;

static void digest(char *out, size_t len)
{
	char path[PATH_MAX];

	snprintf(path, sizeof(path), "/sys/bus/pci/devices/%s/nvfm_tvf_digest", dev.addr);
	if (sysfs_read(path, out, len))
		die("cannot read %s (is %s bound to nvfm_tvf?)", path, dev.addr);
}

static uint64_t info_u64(const char *key)
{
	char path[PATH_MAX], buf[4096], *p;

	snprintf(path, sizeof(path), "/sys/bus/pci/devices/%s/nvfm_tvf_info", dev.addr);
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

	snprintf(path, sizeof(path), "/sys/bus/pci/devices/%s/nvfm_tvf_regenerate", dev.addr);
	if (sysfs_write(path, seed))
		die("cannot write %s", path);
}

/* ---- VFIO ---- */

static int precopy_info(int fd, struct vfio_precopy_info *pi)
{
	memset(pi, 0, sizeof(*pi));
	pi->argsz = sizeof(*pi);
	return ioctl(fd, VFIO_MIG_GET_PRECOPY_INFO, pi) ? -errno : 0;
}

static int cmd_info(void)
{
	uint64_t flags = 0;
	int ret = show_info(&dev, &flags);

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

	ret = mig_flags(&dev, &flags);
	check(!ret && (flags & 7) == 7,
	      "migration flags 0x%" PRIx64 " include STOP_COPY, P2P and PRE_COPY", flags);
	check(get_state(&dev) == VFIO_DEVICE_STATE_RUNNING, "device starts RUNNING");
	stream_size = info_u64("stream_size");
	ret = data_size(&dev, &size0);
	check(!ret && size0 == stream_size,
	      "MIG_DATA_SIZE %" PRIu64 " = whole state %" PRIu64, size0, stream_size);

	/* Admin queue registers the saved state must carry. */
	wr32(&dev, NVME_AQA, aqa);
	wr64(&dev, NVME_ASQ, asq);
	wr64(&dev, NVME_ACQ, acq);
	check(rd32(&dev, NVME_AQA) == aqa && rd64(&dev, NVME_ASQ) == asq &&
	      rd64(&dev, NVME_ACQ) == acq, "VF accepts AQA/ASQ/ACQ through BAR0");

	/* PRE_COPY: the blob, with a temporary end of stream. */
	ret = set_state(&dev, NVFM_VFIO_STATE_PRE_COPY, &fd);
	check(!ret && fd >= 0, "RUNNING -> PRE_COPY opens a data_fd (%s)", strerror(-ret));
	if (ret || fd < 0)
		return 1;
	ret = precopy_info(fd, &pi);
	check(!ret && pi.initial_bytes == stream_size - TAIL_LEN && pi.dirty_bytes == 0,
	      "PRECOPY_INFO initial_bytes %llu dirty_bytes %llu",
	      (unsigned long long)pi.initial_bytes, (unsigned long long)pi.dirty_bytes);
	e = read_all(fd, &s1, &n1, 1000, 65536);
	precopy_info(fd, &pi);
	check(!e && n1 == 1000 && pi.initial_bytes == stream_size - TAIL_LEN - 1000,
	      "initial_bytes shrinks as data is read (%llu)", (unsigned long long)pi.initial_bytes);
	e = read_all(fd, &s1, &n1, 0, 65536);
	pre = n1;
	check(e == -ENOMSG && pre == stream_size - TAIL_LEN,
	      "PRE_COPY drains %zu bytes then reads ENOMSG (%s)", pre, strerror(-e));
	precopy_info(fd, &pi);
	check(pi.initial_bytes == 0, "initial_bytes reaches 0");
	pfd = (struct pollfd){ .fd = fd, .events = POLLIN };
	check(poll(&pfd, 1, 0) == 0, "a drained PRE_COPY data_fd does not poll readable");
	ret = data_size(&dev, &size1);
	check(!ret && size1 == TAIL_LEN,
	      "MIG_DATA_SIZE during PRE_COPY counts only what is left (%" PRIu64 ")", size1);

	/* STOP_COPY continues the same stream. */
	ret = set_state(&dev, VFIO_DEVICE_STATE_STOP_COPY, &fd2);
	check(!ret && fd2 < 0, "PRE_COPY -> STOP_COPY keeps the data_fd (%s)", strerror(-ret));
	check(get_state(&dev) == VFIO_DEVICE_STATE_STOP_COPY, "device is in STOP_COPY");
	check(precopy_info(fd, &pi) == -EINVAL, "PRECOPY_INFO is refused in STOP_COPY");
	e = read_all(fd, &s1, &n1, 0, 65536);
	check(!e && n1 == stream_size, "STOP_COPY ends at EOF after %zu bytes", n1);
	check(set_state(&dev, NVFM_VFIO_STATE_PRE_COPY, NULL) == -EINVAL &&
	      get_state(&dev) == VFIO_DEVICE_STATE_STOP_COPY,
	      "STOP_COPY -> PRE_COPY is refused");
	check(!set_state(&dev, VFIO_DEVICE_STATE_STOP, NULL), "STOP_COPY -> STOP");
	check(read(fd, d2, 1) < 0 && errno == ENODEV, "the old data_fd reads ENODEV");
	close(fd);
	digest(d0, sizeof(d0));

	/* A different internal state, and a reset device. */
	check(!device_reset(&dev) && get_state(&dev) == VFIO_DEVICE_STATE_RUNNING,
	      "VFIO_DEVICE_RESET returns the device to RUNNING");
	/* Another register state too (QEMU's FLR keeps AQA/ASQ/ACQ). */
	wr32(&dev, NVME_AQA, 0);
	wr64(&dev, NVME_ASQ, 0);
	wr64(&dev, NVME_ACQ, 0);
	check(rd64(&dev, NVME_ASQ) == 0 && rd64(&dev, NVME_ACQ) == 0 && rd32(&dev, NVME_AQA) == 0,
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
	ret = resume(&dev, bad, n1, 4093, &werr);
	check(ret == -EINVAL && !werr && get_state(&dev) == VFIO_DEVICE_STATE_RESUMING,
	      "a flipped state byte is refused at RESUMING -> STOP (%s)", strerror(-ret));
	device_reset(&dev);
	ret = resume(&dev, s1, n1 - 10, 4093, &werr);
	check(ret == -EINVAL, "a truncated state is refused (%s)", strerror(-ret));
	device_reset(&dev);
	memcpy(bad, s1, n1);
	bad[0] ^= 0xff;
	ret = resume(&dev, bad, n1, 4093, &werr);
	check(werr == -EINVAL && ret == -EINVAL,
	      "a bad magic fails the write and the commit (%s)", strerror(-werr));
	device_reset(&dev);
	set_refuse(true);
	ret = resume(&dev, s1, n1, 4093, &werr);
	set_refuse(false);
	check(!werr && ret == -EINVAL, "refuse_resume refuses a valid state (%s)", strerror(-ret));
	device_reset(&dev);
	digest(d2, sizeof(d2));
	check(!strcmp(d1, d2), "refused states left the device's state alone");

	/* The good stream. */
	ret = resume(&dev, s1, n1, 4093, &werr);
	check(!werr && !ret, "the saved state is committed at RESUMING -> STOP (%s)",
	      strerror(-(ret ? ret : werr)));
	digest(d2, sizeof(d2));
	check(!strcmp(d0, d2), "digest after resume equals the saved one (%.16s...)", d2);
	check(rd32(&dev, NVME_AQA) == aqa && rd64(&dev, NVME_ASQ) == asq &&
	      rd64(&dev, NVME_ACQ) == acq, "AQA/ASQ/ACQ were restored into the VF");
	check(!set_state(&dev, VFIO_DEVICE_STATE_RUNNING, NULL) &&
	      get_state(&dev) == VFIO_DEVICE_STATE_RUNNING, "STOP -> RUNNING");

	/* Saving again from RUNNING straight to STOP_COPY gives the same bytes. */
	ret = set_state(&dev, VFIO_DEVICE_STATE_STOP_COPY, &fd);
	check(!ret && fd >= 0, "RUNNING -> STOP_COPY opens a data_fd (%s)", strerror(-ret));
	if (!ret && fd >= 0) {
		e = read_all(fd, &s2, &n2, 0, 65536);
		check(!e && n2 == n1 && !memcmp(s1, s2, n1),
		      "re-saved stream is byte-identical (%zu bytes)", n2);
		close(fd);
	}
	check(!set_state(&dev, VFIO_DEVICE_STATE_RUNNING, NULL), "STOP_COPY -> RUNNING");
	device_reset(&dev);
	free(s1);
	free(s2);
	free(bad);
	return summary();
}

int main(int argc, char **argv)
{
	if (argc != 3) {
		fprintf(stderr, "usage: tvf-check info|cycle PCI-ADDRESS\n");
		return 2;
	}
	vfio_open(&dev, argv[2], 0x40);
	if (!strcmp(argv[1], "info"))
		return cmd_info();
	if (!strcmp(argv[1], "cycle"))
		return cmd_cycle();
	fprintf(stderr, "tvf-check: unknown command %s\n", argv[1]);
	return 2;
}
