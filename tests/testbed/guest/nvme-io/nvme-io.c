/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The nested NVMe I/O guest: finds the NVMe controller on PCI, brings it up
 * with polled queues and runs verified I/O on several I/O queues forever,
 * publishing its counters at NVIO_COUNTERS (see counters.h and
 * docs/testbed.md, "The nested NVMe guest").
 *
 * Every block written holds a magic, its LBA, a sequence number, this
 * boot's nonce and a CRC-32 over the rest; the sequence number each LBA
 * should hold is kept in guest RAM (expect[]), so it migrates with the guest.
 * An LBA is never in two commands at once (busy[]), so every read has one
 * right answer (two after a failed write: the old or the new content).
 */
#include "hw.h"
#include "counters.h"

#ifndef NVIO_FORCE_REASSIGN
#define NVIO_FORCE_REASSIGN 0	/* 1: place BAR0 ourselves even if firmware did (a test) */
#endif

#define NQ_WANT		4	/* I/O queue pairs asked for */
#define QD		8	/* commands kept in flight per I/O queue (<= 16) */
#define IOQ_SIZE	32	/* entries per I/O SQ and CQ */
#define ADMQ_SIZE	16
#define REGION_MAX	4096	/* LBAs exercised, from LBA 0 */
#define BUF_SIZE	4096	/* one page per command: PRP1 only */
#define LOST_SECONDS	10	/* a command is lost after this much guest time */
#define LOST_POLLS	1000000	/* ... and this many passes of the poll loop */
#define ADMIN_SECONDS	10
#define BLK_MAGIC	0x4b4c424e	/* "NBLK" */

#define OPC_WRITE 0x01
#define OPC_READ 0x02

/* controller registers */
#define REG_CAP 0x00
#define REG_VS 0x08
#define REG_CC 0x14
#define REG_CSTS 0x1c
#define REG_AQA 0x24
#define REG_ASQ 0x28
#define REG_ACQ 0x30

#define PAGE __attribute__((aligned(4096)))

static volatile u32 *const C = (volatile u32 *)NVIO_COUNTERS;
static volatile u32 *const PROGRESS = (volatile u32 *)NVIO_PROGRESS;

static u8 admin_sq[4096] PAGE, admin_cq[4096] PAGE, idbuf[4096] PAGE;
static u8 io_sq[NQ_WANT][4096] PAGE, io_cq[NQ_WANT][4096] PAGE;
static u8 bufs[NQ_WANT][QD][BUF_SIZE] PAGE;

static u32 expect[REGION_MAX];	/* seq the LBA holds; 0: not written this boot */
static u32 alt[REGION_MAX];	/* after a failed write: the seq it may hold too */
static u8 busy[REGION_MAX];	/* in a command now */

static u32 bar, dstrd, tsc_khz, nonce, nsid, lbs, region, maxnlb, qd, nq;
static u64 lost_tsc, admin_tsc;
static u32 polls, wseq, rng = 0x2545f491;
static u32 written, fill_cursor, sweep_cursor, sweep_outstanding, sweeping;

enum { S_FREE, S_BUSY, S_LOST };

struct slot {
	u8 state, op, sweep;
	u16 cid, nlb;
	u32 lba, seq, p0;
	u64 t0;
};

struct ioq {
	u32 qid, sqdb, cqdb;
	u16 sq_tail, cq_head, size, gen;
	u8 phase;
	u32 *sq;
	volatile u32 *cq;
	u8 (*buf)[BUF_SIZE];
	u32 inflight;
	struct slot s[QD];
};

static struct ioq q[NQ_WANT];

/* ---- small helpers ---- */

static u32 rnd(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 17;
	rng ^= rng << 5;
	return rng;
}

static u32 reg_r(u32 off) { return mmio_r32(bar + off); }
static void reg_w(u32 off, u32 v) { mmio_w32(bar + off, v); }
static u32 sq_db(u32 qid) { return bar + 0x1000 + (2 * qid) * (4u << dstrd); }
static u32 cq_db(u32 qid) { return bar + 0x1000 + (2 * qid + 1) * (4u << dstrd); }

static void set_state(u32 st)
{
	C[W_STATE] = st;
	con_puts("nvme-io: step ");
	con_hex(st);
	con_puts("\n");
}

static void __attribute__((noreturn)) fatal(u32 code, u32 detail)
{
	C[W_FATAL_CODE] = code;
	C[W_FATAL_DETAIL] = detail;
	C[W_STATE] = ST_FATAL | (C[W_STATE] & 0xff);
	con_puts("nvme-io: FATAL state ");
	con_hex(C[W_STATE]);
	con_puts(" code ");
	con_dec(code);
	con_puts(" detail ");
	con_hex(detail);
	con_puts("\n");
	for (;;)
		__asm__ __volatile__("cli; hlt");
}

/* 50 ms of PIT channel 2 against the TSC. */
static void tsc_calibrate(void)
{
	u8 v = inb(0x61);
	u64 t0, d;
	u32 i;

	outb(0x61, (u8)((v & ~0x02) | 0x01));	/* gate on, speaker off */
	outb(0x43, 0xb0);			/* channel 2, lo/hi, mode 0 */
	outb(0x42, 59659 & 0xff);		/* 1193182 Hz * 50 ms */
	outb(0x42, 59659 >> 8);
	t0 = rdtsc();
	for (i = 0; i < 20000000 && !(inb(0x61) & 0x20); i++)
		;
	d = rdtsc() - t0;
	if (i >= 20000000 || d < 50000)
		d = 50000000;	/* no PIT: guess 1 GHz */
	tsc_khz = (u32)udiv64(d, 50);
	if (!tsc_khz)
		tsc_khz = 1000000;
	C[W_TSC_KHZ] = tsc_khz;
}

static u64 secs_tsc(u32 s) { return (u64)tsc_khz * 1000 * s; }

static void wait_ready(u32 want)
{
	u64 t0 = rdtsc(), lim = secs_tsc(((reg_r(REG_CAP) >> 24) & 0xff) / 2 + 10);
	u32 csts, n = 0;
	for (;;) {
		csts = reg_r(REG_CSTS);
		if (csts == 0xffffffffu)
			fatal(F_BAD_REGS, csts);
		if (want && (csts & 2))
			fatal(F_CFS, csts);
		if ((csts & 1) == want)
			break;
		if (rdtsc() - t0 > lim && ++n > 1000)
			fatal(F_RDY_TIMEOUT, csts);
		pause();
	}
	C[W_CSTS] = csts;
}

/* ---- admin queue (synchronous) ---- */

static u16 asq_tail, acq_head, admin_cid;
static u8 acq_phase = 1;

static u32 admin(u32 opc, u32 ns, u32 prp1, u32 cdw10, u32 cdw11, u32 *dw0)
{
	u32 *e = (u32 *)(admin_sq + 64 * asq_tail);
	volatile u32 *c = (volatile u32 *)(admin_cq + 16 * acq_head);
	u32 cid = ++admin_cid, n = 0, dw3, status;
	u64 t0;

	memset(e, 0, 64);
	e[0] = opc | (cid << 16);
	e[1] = ns;
	e[6] = prp1;
	e[10] = cdw10;
	e[11] = cdw11;
	asq_tail = (u16)((asq_tail + 1) % ADMQ_SIZE);
	barrier();
	mmio_w32(sq_db(0), asq_tail);
	t0 = rdtsc();
	for (;;) {
		dw3 = c[3];
		if (((dw3 >> 16) & 1) == acq_phase)
			break;
		if (rdtsc() - t0 > admin_tsc && ++n > 100000) {
			C[W_CSTS] = reg_r(REG_CSTS);
			fatal(F_ADMIN_TIMEOUT, opc);
		}
		pause();
	}
	barrier();
	if (dw0)
		*dw0 = c[0];
	if ((dw3 & 0xffff) != cid)
		fatal(F_ADMIN_CQE, dw3 & 0xffff);
	status = (dw3 >> 17) & 0x7fff;
	if (++acq_head == ADMQ_SIZE) {
		acq_head = 0;
		acq_phase ^= 1;
	}
	mmio_w32(cq_db(0), acq_head);
	return status;
}

static void admin_ok(u32 opc, u32 ns, u32 prp1, u32 cdw10, u32 cdw11, u32 *dw0)
{
	u32 st = admin(opc, ns, prp1, cdw10, cdw11, dw0);
	if (st)
		fatal(F_ADMIN_STATUS, (opc << 16) | st);
}

/* ---- blocks ---- */

static void fill_block(u32 *w, u32 lba, u32 seq, u32 tag)
{
	u32 n = lbs / 4, i, x = (lba * 0x9e3779b1u) ^ (seq * 0x85ebca6bu) ^ nonce;
	if (!x)
		x = 1;
	w[0] = BLK_MAGIC;
	w[1] = lba;
	w[2] = 0;		/* LBA bits 63:32 */
	w[3] = seq;
	w[4] = nonce;
	w[5] = tag;		/* qid << 16 | cid of the write, for a reader's eyes */
	w[6] = w[7] = 0;
	for (i = 8; i < n - 1; i++) {
		x ^= x << 13;
		x ^= x >> 17;
		x ^= x << 5;
		w[i] = x;
	}
	w[n - 1] = crc32(w, lbs - 4);
}

static void verify_block(const u32 *w, u32 lba)
{
	u32 n = lbs / 4, kind = 0;
	if (!expect[lba])
		return;		/* not written this boot: nothing to expect */
	if (w[0] != BLK_MAGIC)
		kind |= 1;
	if (w[1] != lba || w[2] != 0)
		kind |= 2;
	if (w[4] != nonce)
		kind |= 4;
	if (crc32(w, lbs - 4) != w[n - 1])
		kind |= 8;
	if (w[3] != expect[lba] && !(alt[lba] && w[3] == alt[lba]))
		kind |= 16;
	if (!kind) {
		C[W_BLOCKS_VERIFIED]++;
		return;
	}
	C[W_MISMATCHES]++;
	C[W_LAST_MM_LBA] = lba;
	C[W_LAST_MM_KIND] = kind;
	C[W_LAST_MM_SEQ] = w[3];
	C[W_LAST_MM_EXP] = expect[lba];
	con_puts("nvme-io: MISMATCH lba ");
	con_dec(lba);
	con_puts(" kind ");
	con_hex(kind);
	con_puts("\n");
}

/* ---- I/O queues ---- */

static void submit(struct ioq *iq, u32 i, u8 op, u32 lba, u32 nlb, u8 sweep)
{
	struct slot *s = &iq->s[i];
	u8 *buf = iq->buf[i];
	u32 *e = iq->sq + 16 * iq->sq_tail, b;

	iq->gen++;
	s->cid = (u16)((iq->gen << 4) | i);
	s->op = op;
	s->sweep = sweep;
	s->lba = lba;
	s->nlb = (u16)nlb;
	s->seq = 0;
	if (op == OPC_WRITE) {
		if (!++wseq)
			wseq = 1;
		s->seq = wseq;
		C[W_SEQ] = wseq;
		for (b = 0; b < nlb; b++)
			fill_block((u32 *)(buf + b * lbs), lba + b, wseq, (iq->qid << 16) | s->cid);
	}
	for (b = 0; b < nlb; b++)
		busy[lba + b] = 1;
	memset(e, 0, 64);
	e[0] = op | ((u32)s->cid << 16);
	e[1] = nsid;
	e[6] = (u32)buf;
	e[10] = lba;
	e[12] = nlb - 1;
	s->state = S_BUSY;
	s->t0 = rdtsc();
	s->p0 = polls;
	iq->inflight++;
	C[W_INFLIGHT]++;
	if (++iq->sq_tail == iq->size)
		iq->sq_tail = 0;
}

static int range_busy(u32 lba, u32 n)
{
	u32 i;
	for (i = 0; i < n; i++)
		if (busy[lba + i])
			return 1;
	return 0;
}

static int range_written(u32 lba, u32 n)
{
	u32 i;
	for (i = 0; i < n; i++)
		if (!expect[lba + i])
			return 0;
	return 1;
}

/* The next command: the first pass writes the region in order; then 30%
 * sweep reads in LBA order, the rest random writes and reads. */
static int pick(u8 *op, u32 *lba, u32 *nlb, u8 *sweep)
{
	u32 r, t, l, n;

	*sweep = 0;
	if (fill_cursor < region) {
		n = region - fill_cursor < maxnlb ? region - fill_cursor : maxnlb;
		*op = OPC_WRITE;
		*lba = fill_cursor;
		*nlb = n;
		fill_cursor += n;
		return 1;
	}
	r = rnd() % 100;
	if (r < 30 && sweeping && sweep_cursor < region) {
		n = region - sweep_cursor < maxnlb ? region - sweep_cursor : maxnlb;
		if (!range_busy(sweep_cursor, n)) {
			*op = OPC_READ;
			*lba = sweep_cursor;
			*nlb = n;
			*sweep = 1;
			sweep_cursor += n;
			sweep_outstanding++;
			return 1;
		}
	}
	for (t = 0; t < 4; t++) {
		n = 1 + rnd() % maxnlb;
		l = rnd() % region;
		if (l + n > region)
			n = region - l;
		if (range_busy(l, n))
			continue;
		*op = (r < 65 || !range_written(l, n)) ? OPC_WRITE : OPC_READ;
		*lba = l;
		*nlb = n;
		return 1;
	}
	return 0;
}

static void refill(struct ioq *iq)
{
	u32 i, nlb, lba, n = 0;
	u8 op, sweep;

	for (i = 0; i < qd && iq->inflight < qd; i++) {
		if (iq->s[i].state != S_FREE)
			continue;
		if (!pick(&op, &lba, &nlb, &sweep))
			break;
		submit(iq, i, op, lba, nlb, sweep);
		n++;
	}
	if (n) {
		barrier();
		mmio_w32(iq->sqdb, iq->sq_tail);
	}
}

static void complete(struct ioq *iq, u32 dw2, u32 dw3)
{
	u32 cid = dw3 & 0xffff, sqid = dw2 >> 16, status = (dw3 >> 17) & 0x7fff, i = cid & 0xf, b, lba;
	struct slot *s = &iq->s[i];
	u64 d;

	C[W_COMPLETIONS]++;
	if (sqid != iq->qid || i >= qd || s->state == S_FREE || s->cid != cid) {
		C[W_UNEXPECTED]++;
		con_puts("nvme-io: unexpected CQE cid ");
		con_hex(cid);
		con_puts(" sqid ");
		con_dec(sqid);
		con_puts("\n");
		return;
	}
	if (s->state == S_LOST)
		C[W_LATE]++;
	d = udiv64((rdtsc() - s->t0) * 1000, tsc_khz);
	if (d > C[W_MAX_LAT_US])
		C[W_MAX_LAT_US] = d > 0xffffffffu ? 0xffffffffu : (u32)d;
	if (status) {
		C[W_ERRORS]++;
		C[W_LAST_ERROR] = (iq->qid << 24) | ((u32)s->op << 16) | status;
		if (s->op == OPC_WRITE)
			for (b = 0; b < s->nlb; b++)
				alt[s->lba + b] = s->seq;
	} else if (s->op == OPC_WRITE) {
		for (b = 0; b < s->nlb; b++) {
			lba = s->lba + b;
			if (!expect[lba])
				written++;
			expect[lba] = s->seq;
			alt[lba] = 0;
		}
		C[W_BLOCKS_WRITTEN] += s->nlb;
		C[W_WRITES]++;
		if (written == region)
			C[W_FILLED] = 1;
	} else {
		for (b = 0; b < s->nlb; b++)
			verify_block((const u32 *)(iq->buf[i] + b * lbs), s->lba + b);
		C[W_READS]++;
	}
	for (b = 0; b < s->nlb; b++)
		busy[s->lba + b] = 0;
	if (s->sweep)
		sweep_outstanding--;
	s->state = S_FREE;
	iq->inflight--;
	C[W_INFLIGHT]--;
	(*PROGRESS)++;
}

static void reap(struct ioq *iq)
{
	u32 n = 0, dw3;
	volatile u32 *e;

	while (n < iq->size) {
		e = iq->cq + 4 * iq->cq_head;
		dw3 = e[3];
		if (((dw3 >> 16) & 1) != iq->phase)
			break;
		barrier();
		complete(iq, e[2], dw3);
		if (++iq->cq_head == iq->size) {
			iq->cq_head = 0;
			iq->phase ^= 1;
		}
		n++;
	}
	if (n)
		mmio_w32(iq->cqdb, iq->cq_head);
}

static void check_lost(void)
{
	u64 now = rdtsc();
	u32 i, j;
	for (i = 0; i < nq; i++)
		for (j = 0; j < qd; j++) {
			struct slot *s = &q[i].s[j];
			if (s->state == S_BUSY && now - s->t0 > lost_tsc && polls - s->p0 > LOST_POLLS) {
				s->state = S_LOST;	/* its CID and LBAs stay taken */
				C[W_LOST]++;
				C[W_CSTS] = reg_r(REG_CSTS);
				con_puts("nvme-io: LOST qid ");
				con_dec(q[i].qid);
				con_puts(" cid ");
				con_hex(s->cid);
				con_puts("\n");
			}
		}
}

static void status_line(void)
{
	static const char *const name[] = { "writes=", " reads=", " verified=", " errors=",
		" mismatches=", " lost=", " unexpected=", " sweeps=" };
	static const u8 word[] = { W_WRITES, W_READS, W_BLOCKS_VERIFIED, W_ERRORS,
		W_MISMATCHES, W_LOST, W_UNEXPECTED, W_SWEEPS };
	u32 i;
	con_puts("nvme-io: ");
	for (i = 0; i < 8; i++) {
		con_puts(name[i]);
		con_dec(C[word[i]]);
	}
	con_puts("\n");
}

/* ---- bring-up ---- */

static void setup_queues(void)
{
	u32 cap = reg_r(REG_CAP), mqes = (cap & 0xffff) + 1, size, i, st;

	size = mqes < IOQ_SIZE ? mqes : IOQ_SIZE;
	qd = size - 1 < QD ? size - 1 : QD;
	C[W_QDEPTH] = qd;
	for (i = 0; i < nq; i++) {
		struct ioq *iq = &q[i];
		iq->qid = i + 1;
		iq->size = (u16)size;
		iq->phase = 1;
		iq->sq = (u32 *)io_sq[i];
		iq->cq = (volatile u32 *)io_cq[i];
		iq->buf = bufs[i];
		iq->sqdb = sq_db(iq->qid);
		iq->cqdb = cq_db(iq->qid);
		memset(io_sq[i], 0, 4096);
		memset(io_cq[i], 0, 4096);
		/* Create I/O CQ: physically contiguous, interrupts off */
		st = admin(0x05, 0, (u32)io_cq[i], ((size - 1) << 16) | iq->qid, 1, NULL);
		if (!st)	/* Create I/O SQ on that CQ, contiguous, priority 0 */
			st = admin(0x01, 0, (u32)io_sq[i], ((size - 1) << 16) | iq->qid,
				   (iq->qid << 16) | 1, NULL);
		if (st) {
			if (i == 0)
				fatal(F_ADMIN_STATUS, (0x01u << 16) | st);
			nq = i;	/* run with the queues we got */
			C[W_FLAGS] |= 1;
			break;
		}
	}
	C[W_QUEUES] = nq;
}

void main(void)
{
	u32 i, bdf, why, cap, caph, cc, dw0, nsze, flbas, lbaf, fmt;
	u64 t_start;

	for (i = 0; i < NVIO_NWORDS; i++)
		C[i] = 0;
	*PROGRESS = 0;
	C[W_VERSION] = NVIO_VERSION;
	C[W_MAGIC] = NVIO_MAGIC;
	set_state(ST_START);
	crc32_init();

	set_state(ST_TSC);
	tsc_calibrate();
	lost_tsc = secs_tsc(LOST_SECONDS);
	admin_tsc = secs_tsc(ADMIN_SECONDS);
	nonce = (u32)rdtsc() * 0x9e3779b1u;
	nonce ^= nonce >> 15;
	if (!nonce)
		nonce = 1;
	C[W_NONCE] = nonce;
	rng ^= nonce;

	set_state(ST_PCI_SCAN);
	if (pci_find_nvme(&bdf))
		fatal(F_NO_DEVICE, 0);
	C[W_PCI_BDF] = bdf;
	C[W_PCI_ID] = pci_read32(bdf, 0);

	set_state(ST_PCI_BAR);
	bar = pci_setup_bar0(bdf, &why, NVIO_FORCE_REASSIGN);
	if (!bar)
		fatal(F_BAR, why);
	if (why == 0x100)
		C[W_FLAGS] |= 0x80000000u;
	C[W_BAR0] = bar;
	cap = reg_r(REG_CAP);
	caph = reg_r(REG_CAP + 4);
	if (cap == 0xffffffffu)
		fatal(F_BAD_REGS, cap);
	dstrd = caph & 0xf;
	if ((caph >> 16) & 0xf)
		fatal(F_UNSUPPORTED, 1);	/* MPSMIN above 4 KiB */
	if (!((caph >> 5) & 1))
		fatal(F_UNSUPPORTED, 4);	/* no NVM command set */
	con_puts("nvme-io: controller ");
	con_hex(C[W_PCI_ID]);
	con_puts(" at ");
	con_hex(bdf);
	con_puts(" BAR0 ");
	con_hex(bar);
	con_puts(" VS ");
	con_hex(reg_r(REG_VS));
	con_puts("\n");

	set_state(ST_DISABLE);
	cc = reg_r(REG_CC);
	if (cc & 1)
		reg_w(REG_CC, cc & ~1u);
	wait_ready(0);

	set_state(ST_ADMINQ);
	memset(admin_sq, 0, sizeof(admin_sq));
	memset(admin_cq, 0, sizeof(admin_cq));
	reg_w(REG_AQA, ((ADMQ_SIZE - 1) << 16) | (ADMQ_SIZE - 1));
	reg_w(REG_ASQ, (u32)admin_sq);
	reg_w(REG_ASQ + 4, 0);
	reg_w(REG_ACQ, (u32)admin_cq);
	reg_w(REG_ACQ + 4, 0);

	set_state(ST_ENABLE);
	/* IOCQES 16 B, IOSQES 64 B, round robin, 4 KiB pages, NVM set, enable */
	reg_w(REG_CC, (4u << 20) | (6u << 16) | 1);
	wait_ready(1);

	set_state(ST_ID_CTRL);
	admin_ok(0x06, 0, (u32)idbuf, 1, 0, NULL);
	maxnlb = 0;	/* MDTS >= 1 page always allows our one page */

	set_state(ST_ID_NS);
	memset(idbuf, 0, 4096);
	nsid = 0;
	if (!admin(0x06, 0, (u32)idbuf, 2, 0, NULL))
		nsid = *(u32 *)idbuf;
	if (!nsid)
		nsid = 1;
	C[W_NSID] = nsid;
	memset(idbuf, 0, 4096);
	admin_ok(0x06, nsid, (u32)idbuf, 0, 0, NULL);
	nsze = *(u32 *)idbuf;
	if (*(u32 *)(idbuf + 4))
		nsze = 0xffffffffu;
	flbas = idbuf[26];
	fmt = (flbas & 0xf) | (((flbas >> 5) & 3) << 4);
	lbaf = *(u32 *)(idbuf + 128 + 4 * fmt);
	if (!nsze)
		fatal(F_NO_NAMESPACE, nsid);
	if (lbaf & 0xffff)
		fatal(F_UNSUPPORTED, 3);	/* metadata */
	if (((lbaf >> 16) & 0xff) < 9 || ((lbaf >> 16) & 0xff) > 12)
		fatal(F_UNSUPPORTED, 2);	/* LBA size not 512..4096 */
	lbs = 1u << ((lbaf >> 16) & 0xff);
	maxnlb = BUF_SIZE / lbs;
	region = nsze < REGION_MAX ? nsze : REGION_MAX;
	C[W_LBA_SIZE] = lbs;
	C[W_REGION_LBAS] = region;

	set_state(ST_SET_QUEUES);
	if (admin(0x09, 0, 0, 0x07, ((NQ_WANT - 1) << 16) | (NQ_WANT - 1), &dw0))
		admin_ok(0x0a, 0, 0, 0x07, 0, &dw0);	/* Get Features, then */
	if ((dw0 & 0xffff) == 0xffff || (dw0 >> 16) == 0xffff)
		fatal(F_NO_QUEUES, dw0);
	nq = NQ_WANT;
	if ((dw0 & 0xffff) + 1 < nq)
		nq = (dw0 & 0xffff) + 1;
	if ((dw0 >> 16) + 1 < nq)
		nq = (dw0 >> 16) + 1;
	if (nq < 2)
		C[W_FLAGS] |= 1;

	set_state(ST_CREATE_QUEUES);
	setup_queues();
	con_puts("nvme-io: nsid ");
	con_dec(nsid);
	con_puts(" lba ");
	con_dec(lbs);
	con_puts(" region ");
	con_dec(region);
	con_puts(" queues ");
	con_dec(nq);
	con_puts(" depth ");
	con_dec(qd);
	con_puts("\n");

	set_state(ST_FILL);
	t_start = rdtsc();
	for (;;) {
		polls++;
		for (i = 0; i < nq; i++)
			reap(&q[i]);
		if (!sweeping && fill_cursor >= region) {
			/* the first pass is out: sweeps may start once it is in */
			if (written == region || C[W_INFLIGHT] == 0) {
				sweeping = 1;
				set_state(ST_RUNNING);
			}
		}
		if (sweeping && sweep_cursor >= region && !sweep_outstanding) {
			C[W_SWEEPS]++;
			sweep_cursor = 0;
			if (!(C[W_SWEEPS] & 15))
				status_line();
		}
		for (i = 0; i < nq; i++)
			refill(&q[i]);
		if (!(polls & 1023)) {
			C[W_HEARTBEAT]++;
			check_lost();
			C[W_TIME_S] = (u32)udiv64(udiv64(rdtsc() - t_start, tsc_khz), 1000);
		}
	}
}
