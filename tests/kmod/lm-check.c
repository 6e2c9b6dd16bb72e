// SPDX-License-Identifier: GPL-2.0-only
/*
 * lm-check - exercises nvfm_nvme_lm through the kernel's VFIO uAPI (legacy
 * container/group interface), independently of nvme-vf-migrate:
 *
 *   lm-check info ADDR      print the migration flags, MIG_DATA_SIZE and the
 *                           state; exit 0 when the flags are STOP_COPY|P2P
 *   lm-check stock ADDR     on a PF without host-managed live migration:
 *                           the first arc that needs the PF fails, the device
 *                           is recoverable by VFIO_DEVICE_RESET
 *   lm-check cycle SRC DST  bring SRC's NVMe controller up through BAR0
 *                           (admin queue, one I/O CQ/SQ pair, one command on
 *                           each), save it (RUNNING -> STOP_COPY), refuse
 *                           bad states on DST (flipped byte, truncated,
 *                           tamper_version), resume the good one into DST and
 *                           prove DST continues SRC's queues: the next admin
 *                           and I/O commands complete in the next slots
 *
 * Both VFs share one container, so DST reaches the queues SRC's guest-side
 * driver (this tool) created at the same IOVAs. Runs inside a testbed host
 * as root. Prints one line per check and "lm-check: N passed, M failed".
 */
#define _GNU_SOURCE
#include <sys/mman.h>
#include <time.h>

#define CHECK_PROG "lm-check"
#include "check-common.h"

#define IOVA		0x10000000ULL
#define DMA_LEN		0x10000
#define OFF_ASQ		0x0000
#define OFF_ACQ		0x1000
#define OFF_IOSQ	0x2000
#define OFF_IOCQ	0x3000
#define OFF_DATA	0x4000
#define QENTRIES	16

#define HDR_LEN		48

static uint8_t *dma;

static void lm_attr(const struct dev *d, const char *name, char *buf, size_t len)
{
	char path[PATH_MAX];

	snprintf(path, sizeof(path), "/sys/bus/pci/devices/%s/nvfm_lm/%s", d->addr, name);
	if (sysfs_read(path, buf, len))
		die("cannot read %s (is %s bound to nvfm_nvme_lm?)", path, d->addr);
}

static uint64_t lm_num(const struct dev *d, const char *name)
{
	char buf[256];

	lm_attr(d, name, buf, sizeof(buf));
	return strtoull(buf, NULL, 0);
}

static void set_tamper(bool on)
{
	if (sysfs_write("/sys/module/nvfm_nvme_lm/parameters/tamper_version", on ? "1" : "0"))
		die("cannot set tamper_version");
}

/* ---- VFIO ---- */

static void dma_map(void)
{
	struct vfio_iommu_type1_dma_map m = { .argsz = sizeof(m) };

	dma = mmap(NULL, DMA_LEN, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (dma == MAP_FAILED)
		die("mmap: %s", strerror(errno));
	memset(dma, 0, DMA_LEN);
	m.flags = VFIO_DMA_MAP_FLAG_READ | VFIO_DMA_MAP_FLAG_WRITE;
	m.vaddr = (uintptr_t)dma;
	m.iova = IOVA;
	m.size = DMA_LEN;
	if (ioctl(container_fd, VFIO_IOMMU_MAP_DMA, &m))
		die("VFIO_IOMMU_MAP_DMA: %s", strerror(errno));
}

static void bus_master(const struct dev *d)
{
	uint16_t cmd = 0;

	if (pread(d->fd, &cmd, 2, d->cfg + 4) != 2)
		die("%s: config read: %s", d->addr, strerror(errno));
	cmd |= 0x6;	/* memory space, bus master */
	if (pwrite(d->fd, &cmd, 2, d->cfg + 4) != 2)
		die("%s: config write: %s", d->addr, strerror(errno));
}

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000ULL + ts.tv_nsec / 1000000;
}

static bool wait_rdy(const struct dev *d, uint32_t want, unsigned int ms)
{
	uint64_t end = now_ms() + ms;

	do {
		if ((rd32(d, NVME_CSTS) & 1) == want)
			return true;
		usleep(1000);
	} while (now_ms() < end);
	return false;
}

/* ---- NVMe queues in the shared DMA memory ---- */

struct sqe {
	uint32_t cdw0;
	uint32_t nsid;
	uint64_t rsvd;
	uint64_t mptr;
	uint64_t prp1;
	uint64_t prp2;
	uint32_t cdw10, cdw11, cdw12, cdw13, cdw14, cdw15;
};

struct cqe {
	uint32_t dw0;
	uint32_t dw1;
	uint16_t sqhd;
	uint16_t sqid;
	uint16_t cid;
	uint16_t status;
};

static uint32_t db_sq(const struct dev *d, unsigned int qid)
{
	return NVME_DB + (2 * qid) * (4U << d->dstrd);
}

static uint32_t db_cq(const struct dev *d, unsigned int qid)
{
	return NVME_DB + (2 * qid + 1) * (4U << d->dstrd);
}

/*
 * Submit @c in slot @slot of SQ @qid (ring tail slot+1), wait for the CQE in
 * slot @slot of the CQ at @cq_off with phase 1, ring its head. Returns the
 * status (without phase) or -1 on timeout.
 */
static int submit(const struct dev *d, unsigned int qid, uint32_t sq_off, uint32_t cq_off,
		  unsigned int slot, struct sqe *c, struct cqe *out)
{
	volatile struct cqe *cq = (volatile struct cqe *)(dma + cq_off) + slot;
	uint16_t cid = 0x100 + slot + 0x10 * qid;
	uint64_t end;

	c->cdw0 = (c->cdw0 & 0xffff) | (uint32_t)cid << 16;
	memcpy(dma + sq_off + 64 * slot, c, sizeof(*c));
	__sync_synchronize();
	wr32(d, db_sq(d, qid), slot + 1);
	end = now_ms() + 5000;
	while (!(cq->status & 1)) {
		if (now_ms() > end)
			return -1;
		usleep(1000);
	}
	__sync_synchronize();
	memcpy(out, (const void *)cq, sizeof(*out));
	wr32(d, db_cq(d, qid), slot + 1);
	if (out->cid != cid)
		return -2;
	return out->status >> 1;
}

static bool ctrl_up(struct dev *d)
{
	struct sqe c;
	struct cqe e;
	int st;

	wr32(d, NVME_CC, 0);
	if (!wait_rdy(d, 0, 5000))
		return false;
	wr32(d, NVME_AQA, (QENTRIES - 1) << 16 | (QENTRIES - 1));
	wr64(d, NVME_ASQ, IOVA + OFF_ASQ);
	wr64(d, NVME_ACQ, IOVA + OFF_ACQ);
	wr32(d, NVME_CC, 1 | 6 << 16 | 4 << 20);
	check(wait_rdy(d, 1, 5000), "%s: controller enabled through BAR0 (CSTS 0x%x)", d->addr,
	      rd32(d, NVME_CSTS));

	memset(&c, 0, sizeof(c));
	c.cdw0 = 0x05;	/* Create I/O Completion Queue */
	c.prp1 = IOVA + OFF_IOCQ;
	c.cdw10 = (QENTRIES - 1) << 16 | 1;
	c.cdw11 = 1;	/* PC, interrupts off */
	st = submit(d, 0, OFF_ASQ, OFF_ACQ, 0, &c, &e);
	check(st == 0, "%s: Create I/O CQ 1 (status 0x%x)", d->addr, st);
	memset(&c, 0, sizeof(c));
	c.cdw0 = 0x01;	/* Create I/O Submission Queue */
	c.prp1 = IOVA + OFF_IOSQ;
	c.cdw10 = (QENTRIES - 1) << 16 | 1;
	c.cdw11 = 1 << 16 | 1;
	st = submit(d, 0, OFF_ASQ, OFF_ACQ, 1, &c, &e);
	check(st == 0, "%s: Create I/O SQ 1 on CQ 1 (status 0x%x)", d->addr, st);
	memset(&c, 0, sizeof(c));
	c.cdw0 = 0x00;	/* Flush */
	c.nsid = 1;
	st = submit(d, 1, OFF_IOSQ, OFF_IOCQ, 0, &c, &e);
	check(st >= 0 && e.sqid == 1, "%s: a Flush completes on I/O CQ 1 slot 0 (status 0x%x)",
	      d->addr, st);
	return st >= 0;
}

/* ---- streams ---- */

static uint16_t le16(const uint8_t *p)
{
	return p[0] | p[1] << 8;
}

static uint64_t le64(const uint8_t *p)
{
	uint64_t v = 0;
	int i;

	for (i = 7; i >= 0; i--)
		v = v << 8 | p[i];
	return v;
}

/* ---- commands ---- */

static int cmd_info(struct dev *d)
{
	uint64_t flags = 0;

	show_info(d, &flags);	/* no migration: flags 0 */
	return flags == (VFIO_MIGRATION_STOP_COPY | VFIO_MIGRATION_P2P) ? 0 : 1;
}

static int cmd_stock(struct dev *d)
{
	char st[64], err[256];
	uint64_t flags = 0, len;
	int ret, s;

	ret = mig_flags(d, &flags);
	check(!ret && flags == (VFIO_MIGRATION_STOP_COPY | VFIO_MIGRATION_P2P),
	      "migration flags 0x%" PRIx64 " are STOP_COPY|P2P", flags);
	check(get_state(d) == VFIO_DEVICE_STATE_RUNNING, "device starts RUNNING");
	check(data_size(d, &len) < 0, "MIG_DATA_SIZE fails without a PF that saves states");
	ret = set_state(d, VFIO_DEVICE_STATE_STOP, NULL);
	s = get_state(d);
	lm_attr(d, "last_status", st, sizeof(st));
	lm_attr(d, "last_error", err, sizeof(err));
	check(ret == -EIO, "RUNNING -> STOP fails with EIO (%s): %s", strerror(-ret), err);
	check(!strcmp(st, "0x4001"), "the PF answered Suspend with Invalid Command Opcode (%s)", st);
	check(s == VFIO_DEVICE_STATE_ERROR, "the device is in ERROR after the failed arc (%d)", s);
	check(!device_reset(d) && get_state(d) == VFIO_DEVICE_STATE_RUNNING,
	      "VFIO_DEVICE_RESET returns it to RUNNING");
	ret = set_state(d, VFIO_DEVICE_STATE_STOP_COPY, NULL);
	check(ret < 0 && get_state(d) == VFIO_DEVICE_STATE_ERROR,
	      "RUNNING -> STOP_COPY fails too (%s)", strerror(-ret));
	check(!device_reset(d) && get_state(d) == VFIO_DEVICE_STATE_RUNNING,
	      "and the reset recovers it again");
	return summary();
}

static int cmd_cycle(struct dev *src, struct dev *dst)
{
	uint8_t *s = NULL, *bad;
	size_t n = 0, ncs, vss, off;
	uint64_t flags = 0, size0 = 0;
	uint32_t aqa;
	uint64_t asq, acq;
	char err[256];
	struct sqe c;
	struct cqe e;
	int fd, ret, werr, st, state;

	ret = mig_flags(src, &flags);
	check(!ret && flags == (VFIO_MIGRATION_STOP_COPY | VFIO_MIGRATION_P2P),
	      "migration flags 0x%" PRIx64 " are STOP_COPY|P2P", flags);
	check(get_state(src) == VFIO_DEVICE_STATE_RUNNING &&
	      get_state(dst) == VFIO_DEVICE_STATE_RUNNING, "both VFs start RUNNING");
	check(lm_num(src, "cntlid") != lm_num(dst, "cntlid"),
	      "the VFs are different secondary controllers (CNTLID %" PRIu64 ", %" PRIu64 ")",
	      lm_num(src, "cntlid"), lm_num(dst, "cntlid"));

	dma_map();
	bus_master(src);
	bus_master(dst);
	if (!ctrl_up(src))
		goto out;
	aqa = rd32(src, NVME_AQA);
	asq = rd64(src, NVME_ASQ);
	acq = rd64(src, NVME_ACQ);

	ret = data_size(src, &size0);
	check(!ret, "MIG_DATA_SIZE on the running source: %" PRIu64 " (%s)", size0,
	      strerror(-ret));

	/* Save: RUNNING -> (RUNNING_P2P -> STOP ->) STOP_COPY */
	ret = set_state(src, VFIO_DEVICE_STATE_STOP_COPY, &fd);
	lm_attr(src, "last_error", err, sizeof(err));
	check(!ret && fd >= 0, "RUNNING -> STOP_COPY opens a data_fd (%s) [%s]", strerror(-ret), err);
	if (ret || fd < 0)
		goto out;
	ret = read_all(fd, &s, &n, 64U << 20, 100);	/* small reads on purpose */
	check(!ret && n > HDR_LEN, "STOP_COPY streams %zu bytes and ends at EOF (%s)", n,
	      strerror(-ret));
	check(size0 == n, "MIG_DATA_SIZE announced %" PRIu64 ", stream is %zu", size0, n);
	check(lm_num(src, "state_size") == n && lm_num(src, "niosq") == 1 &&
	      lm_num(src, "niocq") == 1,
	      "sysfs: state_size %" PRIu64 ", niosq %" PRIu64 ", niocq %" PRIu64 ", pieces %" PRIu64
	      ", save_us %" PRIu64 ", suspend_us %" PRIu64,
	      lm_num(src, "state_size"), lm_num(src, "niosq"), lm_num(src, "niocq"),
	      lm_num(src, "pieces"), lm_num(src, "save_us"), lm_num(src, "suspend_us"));
	check(lm_num(src, "pieces") > 1, "the state moved in %" PRIu64 " pieces",
	      lm_num(src, "pieces"));
	check(!set_state(src, VFIO_DEVICE_STATE_STOP, NULL), "STOP_COPY -> STOP");
	close(fd);
	if (n < HDR_LEN + 8)
		goto out;

	/* What the state says: one SQ and one CQ with the slots we used. */
	ncs = le64(s + 16) * 4;
	vss = le64(s + 32) * 4;
	check(HDR_LEN + ncs + vss == n && (s[2] & 1),
	      "header: NVMECSS %zu + VSS %zu bytes, CSATTR 0x%x (suspended)", ncs, vss, s[2]);
	off = HDR_LEN;
	if (ncs >= 8 + 48) {
		const uint8_t *sq = s + off + 8, *cq = sq + 24;

		check(le16(s + off + 2) == 1 && le16(s + off + 4) == 1 &&
		      le16(sq + 10) == 1 && le16(sq + 12) == 1 && le64(sq) == IOVA + OFF_IOSQ &&
		      le16(sq + 16) == 1 && le16(sq + 18) == 1 &&
		      le16(cq + 10) == 1 && le64(cq) == IOVA + OFF_IOCQ && le16(cq + 14) == 1,
		      "NVMe state v0x%04x: SQ qid %u cq %u head %u tail %u; CQ qid %u head %u tail %u attr 0x%x",
		      le16(s + off), le16(sq + 10), le16(sq + 12), le16(sq + 16), le16(sq + 18),
		      le16(cq + 10), le16(cq + 12), le16(cq + 14), cq[16] | cq[17] << 8);
	}
	check(vss >= 8 && !memcmp(s + HDR_LEN + ncs, "NVLM", 4), "vendor state magic NVLM");

	/* Refusals on the destination. */
	bad = malloc(n);
	if (!bad)
		die("out of memory");
	memcpy(bad, s, n);
	bad[n / 2] ^= 0x40;
	ret = resume(dst, bad, n, 100, &werr);
	lm_attr(dst, "last_error", err, sizeof(err));
	check(werr == -EINVAL && ret == -EINVAL && get_state(dst) == VFIO_DEVICE_STATE_RESUMING,
	      "a flipped byte fails the completing write and the commit (%s / %s): %s",
	      strerror(-werr), strerror(-ret), err);
	check(!device_reset(dst) && get_state(dst) == VFIO_DEVICE_STATE_RUNNING,
	      "reset returns the destination to RUNNING");
	ret = resume(dst, s, n - 12, 100, &werr);
	lm_attr(dst, "last_error", err, sizeof(err));
	check(!werr && ret == -EINVAL, "a truncated state is refused at RESUMING -> STOP (%s): %s",
	      strerror(-ret), err);
	device_reset(dst);
	set_tamper(true);
	ret = resume(dst, s, n, 100, &werr);
	set_tamper(false);
	lm_attr(dst, "last_error", err, sizeof(err));
	check(werr == -EINVAL && ret == -EINVAL && strstr(err, "version"),
	      "tamper_version: the state is refused at the write (%s): %s", strerror(-werr), err);
	device_reset(dst);
	check(lm_num(dst, "restores") == 0 && lm_num(dst, "refusals") >= 3,
	      "nothing was restored, %" PRIu64 " refusals", lm_num(dst, "refusals"));
	free(bad);

	/* The real thing. */
	ret = resume(dst, s, n, 100, &werr);
	lm_attr(dst, "last_error", err, sizeof(err));
	check(!werr && !ret, "the state is taken: RESUMING -> STOP (%s) [%s]",
	      strerror(-(ret ? ret : werr)), err);
	check(lm_num(dst, "restores") == 1 && lm_num(dst, "niosq") == 1 &&
	      lm_num(dst, "niocq") == 1 && lm_num(dst, "state_size") == n,
	      "sysfs: restores %" PRIu64 ", %" PRIu64 " pieces, restore_us %" PRIu64,
	      lm_num(dst, "restores"), lm_num(dst, "pieces"), lm_num(dst, "restore_us"));
	check(!set_state(dst, VFIO_DEVICE_STATE_RUNNING, NULL) &&
	      get_state(dst) == VFIO_DEVICE_STATE_RUNNING, "STOP -> RUNNING (resume_us %" PRIu64 ")",
	      lm_num(dst, "resume_us"));
	state = rd32(dst, NVME_CSTS);
	check((state & 1) && !(state & 2), "destination CSTS 0x%x: ready, no fatal status", state);
	check(rd32(dst, NVME_AQA) == aqa && rd64(dst, NVME_ASQ) == asq && rd64(dst, NVME_ACQ) == acq,
	      "destination AQA/ASQ/ACQ are the source's");

	memset(&c, 0, sizeof(c));
	c.cdw0 = 0x06;	/* Identify Controller */
	c.prp1 = IOVA + OFF_DATA;
	c.cdw10 = 1;
	st = submit(dst, 0, OFF_ASQ, OFF_ACQ, 2, &c, &e);
	check(st == 0 && le16(dma + OFF_DATA) == 0x1b36,
	      "the next admin command (slot 2) completes on the destination (status 0x%x, VID 0x%04x, sqhd %u)",
	      st, le16(dma + OFF_DATA), e.sqhd);
	memset(&c, 0, sizeof(c));
	c.cdw0 = 0x00;	/* Flush */
	c.nsid = 1;
	st = submit(dst, 1, OFF_IOSQ, OFF_IOCQ, 1, &c, &e);
	check(st >= 0 && e.sqid == 1 && e.sqhd == 2,
	      "the next I/O command (SQ 1 slot 1) completes in CQ 1 slot 1 (status 0x%x, sqhd %u)",
	      st, e.sqhd);
out:
	wr32(dst, NVME_CC, 0);
	device_reset(dst);
	device_reset(src);
	check(get_state(src) == VFIO_DEVICE_STATE_RUNNING &&
	      get_state(dst) == VFIO_DEVICE_STATE_RUNNING, "after resets both VFs are RUNNING");
	free(s);
	return summary();
}

int main(int argc, char **argv)
{
	struct dev a, b;

	if (argc < 3) {
		fprintf(stderr, "usage: lm-check info|stock ADDR | lm-check cycle SRC DST\n");
		return 2;
	}
	vfio_open(&a, argv[2], 0x2000);
	if (!strcmp(argv[1], "info"))
		return cmd_info(&a);
	if (!strcmp(argv[1], "stock"))
		return cmd_stock(&a);
	if (!strcmp(argv[1], "cycle") && argc == 4) {
		vfio_open(&b, argv[3], 0x2000);
		return cmd_cycle(&a, &b);
	}
	fprintf(stderr, "lm-check: unknown command %s\n", argv[1]);
	return 2;
}
