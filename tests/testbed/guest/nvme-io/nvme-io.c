/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The nested NVMe I/O guest: finds up to NVIO_MAX_CTRL NVMe controllers on
 * PCI, brings each up with polled queues and runs verified I/O on several
 * I/O queues of each forever, serving them in turn from one poll loop.
 * Controller k publishes its counters at NVIO_COUNTERS + k *
 * NVIO_CTRL_STRIDE (see counters.h and docs/testbed.md, "The nested NVMe
 * guest"). A controller that fails is marked fatal in its own block; the
 * others go on.
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
#define REGION_MAX	4096	/* LBAs exercised per controller, from its lba0 */
#define BUF_SIZE	4096	/* one page per command: PRP1 only */
#define LOST_SECONDS	10	/* a command is lost after this much guest time */
#define LOST_POLLS	1000000	/* ... and this many passes of the poll loop */
#define ADMIN_SECONDS	10
#define BLK_MAGIC	0x4b4c424e	/* "NBLK" */
#define ADMIN_FAILED	0xffffffffu	/* admin(): fatal, already recorded */

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

static volatile u32 *const PROGRESS = (volatile u32 *)NVIO_PROGRESS;

/* DMA memory, per controller; idbuf only serves the bring-up, one at a time */
static u8 admin_sq[NVIO_MAX_CTRL][4096] PAGE, admin_cq[NVIO_MAX_CTRL][4096] PAGE;
static u8 io_sq[NVIO_MAX_CTRL][NQ_WANT][4096] PAGE, io_cq[NVIO_MAX_CTRL][NQ_WANT][4096] PAGE;
static u8 bufs[NVIO_MAX_CTRL][NQ_WANT][QD][BUF_SIZE] PAGE;
static u8 idbuf[4096] PAGE;

static u32 tsc_khz, nonce;
static u64 lost_tsc, admin_tsc;
static u32 polls, rng = 0x2545f491;

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

struct ctrl {
	u32 k;			/* index: the block, the DMA memory, the console tag */
	volatile u32 *C;	/* its counter block */
	int running;		/* I/O queues up and no fatal error */
	u32 bdf, bar, dstrd, nsid, lbs, region, maxnlb, qd, nq;
	u32 lba0;		/* its first LBA: k * region (the namespace may be shared) */
	/* admin queue (synchronous) */
	u16 asq_tail, acq_head, admin_cid;
	u8 acq_phase;
	/* the I/O */
	struct ioq q[NQ_WANT];
	u32 wseq, written, fill_cursor, sweep_cursor, sweep_outstanding, sweeping;
	u64 t_start;
	u32 expect[REGION_MAX];	/* seq the LBA holds; 0: not written this boot */
	u32 alt[REGION_MAX];	/* after a failed write: the seq it may hold too */
	u8 busy[REGION_MAX];	/* in a command now */
};

static struct ctrl ctl[NVIO_MAX_CTRL];

/* ---- small helpers ---- */

static u32 rnd(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 17;
	rng ^= rng << 5;
	return rng;
}

static u32 reg_r(struct ctrl *c, u32 off) { return mmio_r32(c->bar + off); }
static void reg_w(struct ctrl *c, u32 off, u32 v) { mmio_w32(c->bar + off, v); }
static u32 sq_db(struct ctrl *c, u32 qid) { return c->bar + 0x1000 + (2 * qid) * (4u << c->dstrd); }
static u32 cq_db(struct ctrl *c, u32 qid) { return c->bar + 0x1000 + (2 * qid + 1) * (4u << c->dstrd); }

/* "nvme-io[k]: ", the start of every console line about controller k */
static void con_tag(struct ctrl *c)
{
	con_puts("nvme-io[");
	con_dec(c->k);
	con_puts("]: ");
}

static void set_state(struct ctrl *c, u32 st)
{
	c->C[W_STATE] = st;
	con_tag(c);
	con_puts("step ");
	con_hex(st);
	con_puts("\n");
}

/* Marks controller c fatal in its block and stops serving it; returns -1
 * for the caller to pass up. */
static int fatal(struct ctrl *c, u32 code, u32 detail)
{
	c->running = 0;
	c->C[W_FATAL_CODE] = code;
	c->C[W_FATAL_DETAIL] = detail;
	c->C[W_STATE] = ST_FATAL | (c->C[W_STATE] & 0xff);
	con_tag(c);
	con_puts("FATAL state ");
	con_hex(c->C[W_STATE]);
	con_puts(" code ");
	con_dec(code);
	con_puts(" detail ");
	con_hex(detail);
	con_puts("\n");
	return -1;
}

static void __attribute__((noreturn)) halt(void)
{
	con_puts("nvme-io: no controller left running, halting\n");
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
}

static u64 secs_tsc(u32 s) { return (u64)tsc_khz * 1000 * s; }

static int wait_ready(struct ctrl *c, u32 want)
{
	u64 t0 = rdtsc(), lim = secs_tsc(((reg_r(c, REG_CAP) >> 24) & 0xff) / 2 + 10);
	u32 csts, n = 0;
	for (;;) {
		csts = reg_r(c, REG_CSTS);
		if (csts == 0xffffffffu)
			return fatal(c, F_BAD_REGS, csts);
		if (want && (csts & 2))
			return fatal(c, F_CFS, csts);
		if ((csts & 1) == want)
			break;
		if (rdtsc() - t0 > lim && ++n > 1000)
			return fatal(c, F_RDY_TIMEOUT, csts);
		pause();
	}
	c->C[W_CSTS] = csts;
	return 0;
}

/* ---- admin queue (synchronous) ---- */

/* Returns the command's status, or ADMIN_FAILED when c went fatal. */
static u32 admin(struct ctrl *c, u32 opc, u32 ns, u32 prp1, u32 cdw10, u32 cdw11, u32 *dw0)
{
	u32 *e = (u32 *)(admin_sq[c->k] + 64 * c->asq_tail);
	volatile u32 *cqe = (volatile u32 *)(admin_cq[c->k] + 16 * c->acq_head);
	u32 cid = ++c->admin_cid, n = 0, dw3, status;
	u64 t0;

	memset(e, 0, 64);
	e[0] = opc | (cid << 16);
	e[1] = ns;
	e[6] = prp1;
	e[10] = cdw10;
	e[11] = cdw11;
	c->asq_tail = (u16)((c->asq_tail + 1) % ADMQ_SIZE);
	barrier();
	mmio_w32(sq_db(c, 0), c->asq_tail);
	t0 = rdtsc();
	for (;;) {
		dw3 = cqe[3];
		if (((dw3 >> 16) & 1) == c->acq_phase)
			break;
		if (rdtsc() - t0 > admin_tsc && ++n > 100000) {
			c->C[W_CSTS] = reg_r(c, REG_CSTS);
			fatal(c, F_ADMIN_TIMEOUT, opc);
			return ADMIN_FAILED;
		}
		pause();
	}
	barrier();
	if (dw0)
		*dw0 = cqe[0];
	if ((dw3 & 0xffff) != cid) {
		fatal(c, F_ADMIN_CQE, dw3 & 0xffff);
		return ADMIN_FAILED;
	}
	status = (dw3 >> 17) & 0x7fff;
	if (++c->acq_head == ADMQ_SIZE) {
		c->acq_head = 0;
		c->acq_phase ^= 1;
	}
	mmio_w32(cq_db(c, 0), c->acq_head);
	return status;
}

static int admin_ok(struct ctrl *c, u32 opc, u32 ns, u32 prp1, u32 cdw10, u32 cdw11, u32 *dw0)
{
	u32 st = admin(c, opc, ns, prp1, cdw10, cdw11, dw0);
	if (st == ADMIN_FAILED)
		return -1;
	if (st)
		return fatal(c, F_ADMIN_STATUS, (opc << 16) | st);
	return 0;
}

/* ---- blocks ---- */

static void fill_block(struct ctrl *c, u32 *w, u32 lba, u32 seq, u32 tag)
{
	u32 n = c->lbs / 4, i, x = (lba * 0x9e3779b1u) ^ (seq * 0x85ebca6bu) ^ nonce;
	if (!x)
		x = 1;
	w[0] = BLK_MAGIC;
	w[1] = c->lba0 + lba;
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
	w[n - 1] = crc32(w, c->lbs - 4);
}

static void verify_block(struct ctrl *c, const u32 *w, u32 lba)
{
	u32 n = c->lbs / 4, kind = 0;
	if (!c->expect[lba])
		return;		/* not written this boot: nothing to expect */
	if (w[0] != BLK_MAGIC)
		kind |= 1;
	if (w[1] != c->lba0 + lba || w[2] != 0)
		kind |= 2;
	if (w[4] != nonce)
		kind |= 4;
	if (crc32(w, c->lbs - 4) != w[n - 1])
		kind |= 8;
	if (w[3] != c->expect[lba] && !(c->alt[lba] && w[3] == c->alt[lba]))
		kind |= 16;
	if (!kind) {
		c->C[W_BLOCKS_VERIFIED]++;
		return;
	}
	c->C[W_MISMATCHES]++;
	c->C[W_LAST_MM_LBA] = c->lba0 + lba;
	c->C[W_LAST_MM_KIND] = kind;
	c->C[W_LAST_MM_SEQ] = w[3];
	c->C[W_LAST_MM_EXP] = c->expect[lba];
	con_tag(c);
	con_puts("MISMATCH lba ");
	con_dec(c->lba0 + lba);
	con_puts(" kind ");
	con_hex(kind);
	con_puts("\n");
}

/* ---- I/O queues ---- */

static void submit(struct ctrl *c, struct ioq *iq, u32 i, u8 op, u32 lba, u32 nlb, u8 sweep)
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
		if (!++c->wseq)
			c->wseq = 1;
		s->seq = c->wseq;
		c->C[W_SEQ] = c->wseq;
		for (b = 0; b < nlb; b++)
			fill_block(c, (u32 *)(buf + b * c->lbs), lba + b, c->wseq,
				   (iq->qid << 16) | s->cid);
	}
	for (b = 0; b < nlb; b++)
		c->busy[lba + b] = 1;
	memset(e, 0, 64);
	e[0] = op | ((u32)s->cid << 16);
	e[1] = c->nsid;
	e[6] = (u32)buf;
	e[10] = c->lba0 + lba;
	e[12] = nlb - 1;
	s->state = S_BUSY;
	s->t0 = rdtsc();
	s->p0 = polls;
	iq->inflight++;
	c->C[W_INFLIGHT]++;
	if (++iq->sq_tail == iq->size)
		iq->sq_tail = 0;
}

static int range_busy(struct ctrl *c, u32 lba, u32 n)
{
	u32 i;
	for (i = 0; i < n; i++)
		if (c->busy[lba + i])
			return 1;
	return 0;
}

static int range_written(struct ctrl *c, u32 lba, u32 n)
{
	u32 i;
	for (i = 0; i < n; i++)
		if (!c->expect[lba + i])
			return 0;
	return 1;
}

/* The next command: the first pass writes the region in order; then 30%
 * sweep reads in LBA order, the rest random writes and reads. */
static int pick(struct ctrl *c, u8 *op, u32 *lba, u32 *nlb, u8 *sweep)
{
	u32 r, t, l, n, region = c->region, maxnlb = c->maxnlb;

	*sweep = 0;
	if (c->fill_cursor < region) {
		n = region - c->fill_cursor < maxnlb ? region - c->fill_cursor : maxnlb;
		*op = OPC_WRITE;
		*lba = c->fill_cursor;
		*nlb = n;
		c->fill_cursor += n;
		return 1;
	}
	r = rnd() % 100;
	if (r < 30 && c->sweeping && c->sweep_cursor < region) {
		n = region - c->sweep_cursor < maxnlb ? region - c->sweep_cursor : maxnlb;
		if (!range_busy(c, c->sweep_cursor, n)) {
			*op = OPC_READ;
			*lba = c->sweep_cursor;
			*nlb = n;
			*sweep = 1;
			c->sweep_cursor += n;
			c->sweep_outstanding++;
			return 1;
		}
	}
	for (t = 0; t < 4; t++) {
		n = 1 + rnd() % maxnlb;
		l = rnd() % region;
		if (l + n > region)
			n = region - l;
		if (range_busy(c, l, n))
			continue;
		*op = (r < 65 || !range_written(c, l, n)) ? OPC_WRITE : OPC_READ;
		*lba = l;
		*nlb = n;
		return 1;
	}
	return 0;
}

static void refill(struct ctrl *c, struct ioq *iq)
{
	u32 i, nlb, lba, n = 0;
	u8 op, sweep;

	for (i = 0; i < c->qd && iq->inflight < c->qd; i++) {
		if (iq->s[i].state != S_FREE)
			continue;
		if (!pick(c, &op, &lba, &nlb, &sweep))
			break;
		submit(c, iq, i, op, lba, nlb, sweep);
		n++;
	}
	if (n) {
		barrier();
		mmio_w32(iq->sqdb, iq->sq_tail);
	}
}

static void complete(struct ctrl *c, struct ioq *iq, u32 dw2, u32 dw3)
{
	u32 cid = dw3 & 0xffff, sqid = dw2 >> 16, status = (dw3 >> 17) & 0x7fff, i = cid & 0xf, b, lba;
	struct slot *s = &iq->s[i];
	u64 d;

	c->C[W_COMPLETIONS]++;
	if (sqid != iq->qid || i >= c->qd || s->state == S_FREE || s->cid != cid) {
		c->C[W_UNEXPECTED]++;
		con_tag(c);
		con_puts("unexpected CQE cid ");
		con_hex(cid);
		con_puts(" sqid ");
		con_dec(sqid);
		con_puts("\n");
		return;
	}
	if (s->state == S_LOST)
		c->C[W_LATE]++;
	d = udiv64((rdtsc() - s->t0) * 1000, tsc_khz);
	if (d > c->C[W_MAX_LAT_US])
		c->C[W_MAX_LAT_US] = d > 0xffffffffu ? 0xffffffffu : (u32)d;
	if (status) {
		c->C[W_ERRORS]++;
		c->C[W_LAST_ERROR] = (iq->qid << 24) | ((u32)s->op << 16) | status;
		if (s->op == OPC_WRITE)
			for (b = 0; b < s->nlb; b++)
				c->alt[s->lba + b] = s->seq;
	} else if (s->op == OPC_WRITE) {
		for (b = 0; b < s->nlb; b++) {
			lba = s->lba + b;
			if (!c->expect[lba])
				c->written++;
			c->expect[lba] = s->seq;
			c->alt[lba] = 0;
		}
		c->C[W_BLOCKS_WRITTEN] += s->nlb;
		c->C[W_WRITES]++;
		if (c->written == c->region)
			c->C[W_FILLED] = 1;
	} else {
		for (b = 0; b < s->nlb; b++)
			verify_block(c, (const u32 *)(iq->buf[i] + b * c->lbs), s->lba + b);
		c->C[W_READS]++;
	}
	for (b = 0; b < s->nlb; b++)
		c->busy[s->lba + b] = 0;
	if (s->sweep)
		c->sweep_outstanding--;
	s->state = S_FREE;
	iq->inflight--;
	c->C[W_INFLIGHT]--;
	(*PROGRESS)++;
}

static void reap(struct ctrl *c, struct ioq *iq)
{
	u32 n = 0, dw3;
	volatile u32 *e;

	while (n < iq->size) {
		e = iq->cq + 4 * iq->cq_head;
		dw3 = e[3];
		if (((dw3 >> 16) & 1) != iq->phase)
			break;
		barrier();
		complete(c, iq, e[2], dw3);
		if (++iq->cq_head == iq->size) {
			iq->cq_head = 0;
			iq->phase ^= 1;
		}
		n++;
	}
	if (n)
		mmio_w32(iq->cqdb, iq->cq_head);
}

static void check_lost(struct ctrl *c)
{
	u64 now = rdtsc();
	u32 i, j;
	for (i = 0; i < c->nq; i++)
		for (j = 0; j < c->qd; j++) {
			struct slot *s = &c->q[i].s[j];
			if (s->state == S_BUSY && now - s->t0 > lost_tsc && polls - s->p0 > LOST_POLLS) {
				s->state = S_LOST;	/* its CID and LBAs stay taken */
				c->C[W_LOST]++;
				c->C[W_CSTS] = reg_r(c, REG_CSTS);
				con_tag(c);
				con_puts("LOST qid ");
				con_dec(c->q[i].qid);
				con_puts(" cid ");
				con_hex(s->cid);
				con_puts("\n");
			}
		}
}

static void status_line(struct ctrl *c)
{
	static const char *const name[] = { "writes=", " reads=", " verified=", " errors=",
		" mismatches=", " lost=", " unexpected=", " sweeps=" };
	static const u8 word[] = { W_WRITES, W_READS, W_BLOCKS_VERIFIED, W_ERRORS,
		W_MISMATCHES, W_LOST, W_UNEXPECTED, W_SWEEPS };
	u32 i;
	con_tag(c);
	for (i = 0; i < 8; i++) {
		con_puts(name[i]);
		con_dec(c->C[word[i]]);
	}
	con_puts("\n");
}

/* One pass of the poll loop over controller c's queues. */
static void serve(struct ctrl *c)
{
	u32 i;

	for (i = 0; i < c->nq; i++)
		reap(c, &c->q[i]);
	if (!c->sweeping && c->fill_cursor >= c->region) {
		/* the first pass is out: sweeps may start once it is in */
		if (c->written == c->region || c->C[W_INFLIGHT] == 0) {
			c->sweeping = 1;
			set_state(c, ST_RUNNING);
		}
	}
	if (c->sweeping && c->sweep_cursor >= c->region && !c->sweep_outstanding) {
		c->C[W_SWEEPS]++;
		c->sweep_cursor = 0;
		if (!(c->C[W_SWEEPS] & 15))
			status_line(c);
	}
	for (i = 0; i < c->nq; i++)
		refill(c, &c->q[i]);
	if (!(polls & 1023)) {
		c->C[W_HEARTBEAT]++;
		check_lost(c);
		c->C[W_TIME_S] = (u32)udiv64(udiv64(rdtsc() - c->t_start, tsc_khz), 1000);
	}
}

/* ---- bring-up ---- */

static int setup_queues(struct ctrl *c)
{
	u32 cap = reg_r(c, REG_CAP), mqes = (cap & 0xffff) + 1, size, i, st;

	size = mqes < IOQ_SIZE ? mqes : IOQ_SIZE;
	c->qd = size - 1 < QD ? size - 1 : QD;
	c->C[W_QDEPTH] = c->qd;
	for (i = 0; i < c->nq; i++) {
		struct ioq *iq = &c->q[i];
		u8 *sq = io_sq[c->k][i], *cq = io_cq[c->k][i];
		iq->qid = i + 1;
		iq->size = (u16)size;
		iq->phase = 1;
		iq->sq = (u32 *)sq;
		iq->cq = (volatile u32 *)cq;
		iq->buf = bufs[c->k][i];
		iq->sqdb = sq_db(c, iq->qid);
		iq->cqdb = cq_db(c, iq->qid);
		memset(sq, 0, 4096);
		memset(cq, 0, 4096);
		/* Create I/O CQ: physically contiguous, interrupts off */
		st = admin(c, 0x05, 0, (u32)cq, ((size - 1) << 16) | iq->qid, 1, NULL);
		if (!st)	/* Create I/O SQ on that CQ, contiguous, priority 0 */
			st = admin(c, 0x01, 0, (u32)sq, ((size - 1) << 16) | iq->qid,
				   (iq->qid << 16) | 1, NULL);
		if (st == ADMIN_FAILED)
			return -1;
		if (st) {
			if (i == 0)
				return fatal(c, F_ADMIN_STATUS, (0x01u << 16) | st);
			c->nq = i;	/* run with the queues we got */
			c->C[W_FLAGS] |= 1;
			break;
		}
	}
	c->C[W_QUEUES] = c->nq;
	return 0;
}

/* Brings controller c (found at c->bdf) up to its I/O queues; 0 when they
 * are ready, -1 when c went fatal. */
static int ctrl_init(struct ctrl *c)
{
	u32 why, cap, caph, cc, dw0, nsze, flbas, lbaf, fmt, st;

	set_state(c, ST_PCI_BAR);
	c->bar = pci_setup_bar0(c->bdf, &why, NVIO_FORCE_REASSIGN);
	if (!c->bar)
		return fatal(c, F_BAR, why);
	if (why == 0x100)
		c->C[W_FLAGS] |= 0x80000000u;
	c->C[W_BAR0] = c->bar;
	cap = reg_r(c, REG_CAP);
	caph = reg_r(c, REG_CAP + 4);
	if (cap == 0xffffffffu)
		return fatal(c, F_BAD_REGS, cap);
	c->dstrd = caph & 0xf;
	if ((caph >> 16) & 0xf)
		return fatal(c, F_UNSUPPORTED, 1);	/* MPSMIN above 4 KiB */
	if (!((caph >> 5) & 1))
		return fatal(c, F_UNSUPPORTED, 4);	/* no NVM command set */
	con_tag(c);
	con_puts("controller ");
	con_hex(c->C[W_PCI_ID]);
	con_puts(" at ");
	con_hex(c->bdf);
	con_puts(" BAR0 ");
	con_hex(c->bar);
	con_puts(" VS ");
	con_hex(reg_r(c, REG_VS));
	con_puts("\n");

	set_state(c, ST_DISABLE);
	cc = reg_r(c, REG_CC);
	if (cc & 1)
		reg_w(c, REG_CC, cc & ~1u);
	if (wait_ready(c, 0))
		return -1;

	set_state(c, ST_ADMINQ);
	memset(admin_sq[c->k], 0, 4096);
	memset(admin_cq[c->k], 0, 4096);
	c->asq_tail = c->acq_head = c->admin_cid = 0;
	c->acq_phase = 1;
	reg_w(c, REG_AQA, ((ADMQ_SIZE - 1) << 16) | (ADMQ_SIZE - 1));
	reg_w(c, REG_ASQ, (u32)admin_sq[c->k]);
	reg_w(c, REG_ASQ + 4, 0);
	reg_w(c, REG_ACQ, (u32)admin_cq[c->k]);
	reg_w(c, REG_ACQ + 4, 0);

	set_state(c, ST_ENABLE);
	/* IOCQES 16 B, IOSQES 64 B, round robin, 4 KiB pages, NVM set, enable */
	reg_w(c, REG_CC, (4u << 20) | (6u << 16) | 1);
	if (wait_ready(c, 1))
		return -1;

	set_state(c, ST_ID_CTRL);
	if (admin_ok(c, 0x06, 0, (u32)idbuf, 1, 0, NULL))
		return -1;
	c->maxnlb = 0;	/* MDTS >= 1 page always allows our one page */

	set_state(c, ST_ID_NS);
	memset(idbuf, 0, 4096);
	c->nsid = 0;
	st = admin(c, 0x06, 0, (u32)idbuf, 2, 0, NULL);
	if (st == ADMIN_FAILED)
		return -1;
	if (!st)
		c->nsid = *(u32 *)idbuf;
	if (!c->nsid)
		c->nsid = 1;
	c->C[W_NSID] = c->nsid;
	memset(idbuf, 0, 4096);
	if (admin_ok(c, 0x06, c->nsid, (u32)idbuf, 0, 0, NULL))
		return -1;
	nsze = *(u32 *)idbuf;
	if (*(u32 *)(idbuf + 4))
		nsze = 0xffffffffu;
	flbas = idbuf[26];
	fmt = (flbas & 0xf) | (((flbas >> 5) & 3) << 4);
	lbaf = *(u32 *)(idbuf + 128 + 4 * fmt);
	if (!nsze)
		return fatal(c, F_NO_NAMESPACE, c->nsid);
	if (lbaf & 0xffff)
		return fatal(c, F_UNSUPPORTED, 3);	/* metadata */
	if (((lbaf >> 16) & 0xff) < 9 || ((lbaf >> 16) & 0xff) > 12)
		return fatal(c, F_UNSUPPORTED, 2);	/* LBA size not 512..4096 */
	c->lbs = 1u << ((lbaf >> 16) & 0xff);
	c->maxnlb = BUF_SIZE / c->lbs;
	/* Two VFs of one PF may see one namespace: each controller keeps to
	 * its own slice of it, whoever else writes there */
	c->region = nsze / NVIO_MAX_CTRL < REGION_MAX ? nsze / NVIO_MAX_CTRL : REGION_MAX;
	if (!c->region)
		return fatal(c, F_NO_NAMESPACE, c->nsid);
	c->lba0 = c->k * c->region;
	c->C[W_LBA_SIZE] = c->lbs;
	c->C[W_REGION_LBAS] = c->region;

	set_state(c, ST_SET_QUEUES);
	st = admin(c, 0x09, 0, 0, 0x07, ((NQ_WANT - 1) << 16) | (NQ_WANT - 1), &dw0);
	if (st == ADMIN_FAILED)
		return -1;
	if (st && admin_ok(c, 0x0a, 0, 0, 0x07, 0, &dw0))	/* Get Features, then */
		return -1;
	if ((dw0 & 0xffff) == 0xffff || (dw0 >> 16) == 0xffff)
		return fatal(c, F_NO_QUEUES, dw0);
	c->nq = NQ_WANT;
	if ((dw0 & 0xffff) + 1 < c->nq)
		c->nq = (dw0 & 0xffff) + 1;
	if ((dw0 >> 16) + 1 < c->nq)
		c->nq = (dw0 >> 16) + 1;
	if (c->nq < 2)
		c->C[W_FLAGS] |= 1;

	set_state(c, ST_CREATE_QUEUES);
	if (setup_queues(c))
		return -1;
	con_tag(c);
	con_puts("nsid ");
	con_dec(c->nsid);
	con_puts(" lba ");
	con_dec(c->lbs);
	con_puts(" region ");
	con_dec(c->lba0);
	con_puts("+");
	con_dec(c->region);
	con_puts(" queues ");
	con_dec(c->nq);
	con_puts(" depth ");
	con_dec(c->qd);
	con_puts("\n");
	return 0;
}

/* The words every started block has, beyond the steps. */
static void block_start(struct ctrl *c)
{
	c->C[W_VERSION] = NVIO_VERSION;
	c->C[W_CTRL] = c->k;
	c->C[W_TSC_KHZ] = tsc_khz;
	c->C[W_NONCE] = nonce;
	c->C[W_MAGIC] = NVIO_MAGIC;
}

void main(void)
{
	u32 i, k, n, bdf, alive;
	struct ctrl *c0 = &ctl[0];

	for (k = 0; k < NVIO_MAX_CTRL; k++) {
		ctl[k].k = k;
		ctl[k].C = (volatile u32 *)(NVIO_COUNTERS + k * NVIO_CTRL_STRIDE);
		for (i = 0; i < NVIO_NWORDS; i++)
			ctl[k].C[i] = 0;
	}
	*PROGRESS = 0;
	/* block 0 tells the steps before any controller is found */
	c0->C[W_VERSION] = NVIO_VERSION;
	c0->C[W_MAGIC] = NVIO_MAGIC;
	set_state(c0, ST_START);
	crc32_init();

	set_state(c0, ST_TSC);
	tsc_calibrate();
	lost_tsc = secs_tsc(LOST_SECONDS);
	admin_tsc = secs_tsc(ADMIN_SECONDS);
	nonce = (u32)rdtsc() * 0x9e3779b1u;
	nonce ^= nonce >> 15;
	if (!nonce)
		nonce = 1;
	rng ^= nonce;
	block_start(c0);

	set_state(c0, ST_PCI_SCAN);
	for (n = 0; n < NVIO_MAX_CTRL && !pci_find_nvme(n, &bdf); n++)
		ctl[n].bdf = bdf;
	if (!n) {
		fatal(c0, F_NO_DEVICE, 0);
		halt();
	}
	con_puts("nvme-io: ");
	con_dec(n);
	con_puts(" controller(s)\n");

	/* one after the other: a BAR0 placed for one counts as used for the next */
	for (k = 0; k < n; k++) {
		struct ctrl *c = &ctl[k];
		if (k) {
			c->C[W_STATE] = ST_PCI_SCAN;
			block_start(c);
		}
		c->C[W_PCI_BDF] = c->bdf;
		c->C[W_PCI_ID] = pci_read32(c->bdf, 0);
		if (!ctrl_init(c)) {
			c->running = 1;
			set_state(c, ST_FILL);
			c->t_start = rdtsc();
		}
	}

	for (;;) {
		polls++;
		alive = 0;
		for (k = 0; k < n; k++)
			if (ctl[k].running) {
				serve(&ctl[k]);
				alive++;
			}
		if (!alive)
			halt();
	}
}
