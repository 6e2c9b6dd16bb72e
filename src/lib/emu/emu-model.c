/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The emulated NVMe VF's state as data: generator, record stream, parser
 * and files. emu-vf.c makes a device out of it.
 *
 * What a VF's migratable state is here
 * ------------------------------------
 * An NVMe controller (the registers a VF exposes, the admin queue pair and
 * n_io_queues I/O queue pairs with their base addresses, sizes, head/tail
 * pointers and completion phase, and a few fetched-but-unfinished
 * commands) plus a "blob": the bulk internal state a PF would DMA out for
 * its VF, blob_size bytes split into 64 KiB pages. Every byte derives from
 * the seed: page i at version v holds 16 bytes of splitmix64 output keyed
 * by (seed, i, v), then the bytes of a per-seed pool of xoshiro256+ output
 * from an offset the same key picks (see "The pool" below), so a page
 * costs four bytes of page table unless its contents came from a stream
 * and differ from the generator's (then they are spilled into a sparse
 * file). Dirtying a page bumps its version.
 *
 * The record stream (the data_fd bytes; all integers little-endian)
 * ------------------------------------------------------------------
 *   Stream header, 40 bytes:
 *      0 char[8] magic "NVFM-EMU"     8 u32 version (1)
 *     12 u32 header size (40)        16 u64 blob size in bytes
 *     24 u64 generator seed          32 u32 page size (65536)
 *     36 u32 I/O queue pairs
 *   then records: a 16-byte header { u32 type, u32 reserved = 0,
 *   u64 payload length } followed by the payload.
 *
 *   CTRL (type 1), 64 + 48 * queues + 24 * commands bytes:
 *      0 u64 CAP    8 u32 VS     12 u32 INTMS  16 u32 INTMC  20 u32 CC
 *     24 u32 CSTS  28 u32 NSSR   32 u32 AQA    36 u32 reserved
 *     40 u64 ASQ   48 u64 ACQ    56 u32 queue count (admin + I/O)
 *     60 u32 command count
 *     then per queue (48 bytes): 0 u16 qid, 2 u16 cqid, 4 u32 SQ size,
 *       8 u32 CQ size, 12 u16 SQ head, 14 u16 SQ tail, 16 u16 CQ head,
 *       18 u16 CQ tail, 20 u16 irq vector, 22 u8 CQ phase, 23 u8 flags
 *       (bit 0 physically contiguous, bit 1 irq enabled), 24 u64 reserved,
 *       32 u64 SQ base, 40 u64 CQ base
 *     then per in-flight command (24 bytes): 0 u16 qid, 2 u16 cid,
 *       4 u8 opcode, 5 u8 + 6 u16 reserved, 8 u32 nsid, 12 u32 nlb
 *       (0-based), 16 u64 slba
 *   PAGE (type 2), 16 + length bytes: u32 page index, u32 version,
 *     u32 length (64 KiB, less for the last page), u32 reserved, then the
 *     page's bytes.
 *   END (type 3), 16 bytes: u64 total stream length (END included),
 *     u32 number of records before END, u32 CRC32C of every stream byte
 *     before this field.
 *
 * CTRL and PAGE records may repeat; the last one wins. A stream is valid
 * when it starts with the header, ends with END (nothing after it), the
 * length and CRC match, and it carried a CTRL record and every page.
 * A STOP_COPY save from STOP is the canonical image: header, CTRL, pages
 * 0..n-1, END, so its size is known in advance (MIG_DATA_SIZE) and equal
 * states give identical bytes. A PRE_COPY session sends header, CTRL and
 * every page (the initial bytes), then pages as they get dirtied; its
 * STOP_COPY phase adds the pages still dirty, the final CTRL and END.
 *
 * Files, in nvfm_emu_dir(), each replaced atomically (temp + rename):
 *   NAME.json    config, controller, workload position, page summary
 *   NAME.pages   page table: "NVEMUPT1", u32 count, u32 reserved, then
 *                one u32 per page: version, bit 31 = contents spilled
 *   NAME.blob    sparse spill file (only when pages are spilled)
 *   NAME.faults  armed fault knobs (JSON), written by nvfm_emu_set_fault()
 *   NAME.lock    flock()ed by the one process that has the device open
 */
#define G_LOG_DOMAIN "nvfm-emu"

#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>

#include "emu-private.h"

#define GOLDEN 0x9e3779b97f4a7c15ull
#define PAGES_MAGIC "NVEMUPT1"
#define PAGES_HEADER_SIZE 16
#define PAGE_SPILLED_BIT 0x80000000u
#define MODEL_FORMAT 1

/* ---- little-endian helpers ---- */

static inline void put16(guint8 *p, guint16 v)
{
	v = GUINT16_TO_LE(v);
	memcpy(p, &v, 2);
}

static inline void put32(guint8 *p, guint32 v)
{
	v = GUINT32_TO_LE(v);
	memcpy(p, &v, 4);
}

static inline void put64(guint8 *p, guint64 v)
{
	v = GUINT64_TO_LE(v);
	memcpy(p, &v, 8);
}

static inline guint16 get16(const guint8 *p)
{
	guint16 v;

	memcpy(&v, p, 2);
	return GUINT16_FROM_LE(v);
}

static inline guint32 get32(const guint8 *p)
{
	guint32 v;

	memcpy(&v, p, 4);
	return GUINT32_FROM_LE(v);
}

static inline guint64 get64(const guint8 *p)
{
	guint64 v;

	memcpy(&v, p, 8);
	return GUINT64_FROM_LE(v);
}

/* ---- generator ---- */

static inline guint64 mix64(guint64 z)
{
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

static inline guint64 splitmix(guint64 *x)
{
	*x += GOLDEN;
	return mix64(*x);
}

static inline guint64 rotl(guint64 x, int k)
{
	return (x << k) | (x >> (64 - k));
}

typedef struct {
	guint64 s[4];
} Xoshiro;

static inline void xo_seed(Xoshiro *x, guint64 key)
{
	for (int i = 0; i < 4; i++)
		x->s[i] = splitmix(&key);
}

static inline guint64 xo_next(Xoshiro *x)
{
	guint64 r = x->s[0] + x->s[3];
	guint64 t = x->s[1] << 17;

	x->s[2] ^= x->s[0];
	x->s[3] ^= x->s[1];
	x->s[1] ^= x->s[2];
	x->s[0] ^= x->s[3];
	x->s[2] ^= t;
	x->s[3] = rotl(x->s[3], 45);
	return r;
}

/*
 * Polynomial arithmetic modulo the CRC32C polynomial, in the CRC's
 * bit-reflected order (bit 31 holds x^0). With it the CRC of A||B follows
 * from the CRCs of A and B: crc(A||B) = crc(A) * x^(8|B|) + crc(B). That
 * is what lets a page's CRC come from a table instead of its bytes.
 */
#define CRC32C_POLY 0x82f63b78u

static guint32 gf_mul(guint32 a, guint32 b)
{
	guint32 r = 0;

	for (int bit = 31; bit >= 0; bit--) {
		if (a & (1u << bit))
			r ^= b;
		b = (b >> 1) ^ (b & 1 ? CRC32C_POLY : 0);
	}
	return r;
}

/* x^(8n): the factor that moves a CRC past n bytes */
static guint32 gf_xpow8n(guint64 n)
{
	guint32 r = 1u << 31, sq = 1u << 23;

	for (; n; n >>= 1) {
		if (n & 1)
			r = gf_mul(r, sq);
		sq = gf_mul(sq, sq);
	}
	return r;
}

/*
 * The pool: POOL_BYTES of xoshiro256+ output per seed, made once per
 * process and shared by every state with that seed. A page's bytes are
 * a 16-byte tweak (unique to seed, index and version) followed by the
 * pool's bytes from one of POOL_WINDOWS offsets (POOL_STEP apart) that
 * the same key picks. So producing a page costs a copy, checking one a
 * memcmp, and the CRC32C of every full-size window is in win_crc. The
 * memory is made read-only once built, so nothing can change a page
 * behind the generator's back.
 *
 * The pool stays small enough (320 KiB) to sit in cache: the devices'
 * copies and compares are then not what a transfer of their state
 * measures. The bytes still cross the pipe and the socket as bytes of
 * their own, in pages of their own (docs/protocol.md, "Integrity and
 * speed").
 */
#define POOL_STEP 4096u
#define POOL_WINDOWS 64u
#define POOL_BYTES ((gsize)POOL_STEP * POOL_WINDOWS + EMU_PAGE_SIZE)

struct _EmuPool {
	guint64 seed;
	guint refs;
	guint8 *bytes;
	guint32 *win_crc;
	guint32 shift[4][256];	/* multiply by x^(8 * EMU_WINDOW_SIZE), bytewise */
};

static GMutex pools_mu;
static GSList *pools;

static inline guint32 pool_shift(const EmuPool *pool, guint32 crc)
{
	return pool->shift[0][crc & 0xff] ^ pool->shift[1][(crc >> 8) & 0xff] ^
	       pool->shift[2][(crc >> 16) & 0xff] ^ pool->shift[3][crc >> 24];
}

static void pool_build(EmuPool *pool)
{
	guint64 key = pool->seed ^ 0x706f6f6c2d626c6bull;
	gsize words = POOL_BYTES / 8;
	guint32 op = gf_xpow8n(EMU_WINDOW_SIZE);
	g_autofree guint32 *prefix = g_new(guint32, POOL_BYTES / POOL_STEP + 1);
	Xoshiro a, b;

	pool->bytes = mmap(NULL, POOL_BYTES, PROT_READ | PROT_WRITE,
			   MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE,
			   -1, 0);
	if (pool->bytes == MAP_FAILED)
		g_error("%s: cannot map %zu bytes: %s", G_STRLOC, POOL_BYTES, g_strerror(errno));
	/* two interleaved lanes: one lane's dependency chain idles the core */
	xo_seed(&a, key);
	xo_seed(&b, ~key);
	for (gsize i = 0; i < words; i += 2) {
		guint64 w[2] = { GUINT64_TO_LE(xo_next(&a)), GUINT64_TO_LE(xo_next(&b)) };

		memcpy(pool->bytes + i * 8, w, 16);
	}
	mprotect(pool->bytes, POOL_BYTES, PROT_READ);

	for (guint byte = 0; byte < 4; byte++) {
		for (guint v = 0; v < 256; v++)
			pool->shift[byte][v] = gf_mul(op, (guint32)v << (8 * byte));
	}
	/* crc(window) = crc(pool[0, end)) + crc(pool[0, start)) * x^(8 * size) */
	prefix[0] = 0;
	for (gsize k = 0; k < POOL_BYTES / POOL_STEP; k++)
		prefix[k + 1] = nvfm_crc32c(prefix[k], pool->bytes + k * POOL_STEP, POOL_STEP);
	pool->win_crc = g_new(guint32, POOL_WINDOWS);
	for (guint32 w = 0; w < POOL_WINDOWS; w++) {
		gsize end = (gsize)w * POOL_STEP + EMU_WINDOW_SIZE;
		gsize k = end / POOL_STEP;
		guint32 upto_end = nvfm_crc32c(prefix[k], pool->bytes + k * POOL_STEP,
					       end - k * POOL_STEP);

		pool->win_crc[w] = upto_end ^ pool_shift(pool, prefix[w]);
	}
}

EmuPool *emu_pool_ref(guint64 seed)
{
	EmuPool *pool = NULL;

	g_mutex_lock(&pools_mu);
	for (GSList *l = pools; l; l = l->next) {
		EmuPool *p = l->data;

		if (p->seed == seed) {
			pool = p;
			break;
		}
	}
	if (!pool) {
		pool = g_new0(EmuPool, 1);
		pool->seed = seed;
		pool_build(pool);
		pools = g_slist_prepend(pools, pool);
	}
	pool->refs++;
	g_mutex_unlock(&pools_mu);
	return pool;
}

void emu_pool_unref(EmuPool *pool)
{
	if (!pool)
		return;
	g_mutex_lock(&pools_mu);
	if (--pool->refs == 0) {
		pools = g_slist_remove(pools, pool);
		munmap(pool->bytes, POOL_BYTES);
		g_free(pool->win_crc);
		g_free(pool);
	}
	g_mutex_unlock(&pools_mu);
}

void emu_page_gen(const EmuState *st, guint32 index, guint32 version, EmuPageGen *g)
{
	guint64 x = st->seed ^ mix64(((guint64)index << 32 | version) + GOLDEN);
	guint32 w;

	put64(g->tweak, splitmix(&x));
	put64(g->tweak + 8, splitmix(&x));
	w = (guint32)(splitmix(&x) >> 32) % POOL_WINDOWS;
	g->window = st->pool->bytes + (gsize)w * POOL_STEP;
	g->window_crc = st->pool->win_crc[w];
}

guint32 emu_page_crc(const EmuState *st, const EmuPageGen *g, gsize len, guint32 crc)
{
	crc = nvfm_crc32c(crc, g->tweak, MIN(len, (gsize)EMU_TWEAK_SIZE));
	if (len <= EMU_TWEAK_SIZE)
		return crc;
	if (len == EMU_PAGE_SIZE)
		return pool_shift(st->pool, crc) ^ g->window_crc;
	return nvfm_crc32c(crc, g->window, len - EMU_TWEAK_SIZE);
}

/* The first @len bytes of a generated page. */
void emu_page_gen_copy(const EmuPageGen *g, guint8 *out, gsize len)
{
	gsize n = MIN(len, (gsize)EMU_TWEAK_SIZE);

	memcpy(out, g->tweak, n);
	if (len > n)
		memcpy(out + n, g->window, len - n);
}

gboolean emu_page_gen_equal(const EmuPageGen *g, gsize off, const guint8 *buf, gsize len)
{
	if (off < EMU_TWEAK_SIZE) {
		gsize n = MIN(len, EMU_TWEAK_SIZE - off);

		if (memcmp(buf, g->tweak + off, n) != 0)
			return FALSE;
		buf += n;
		off += n;
		len -= n;
	}
	return len == 0 || memcmp(buf, g->window + (off - EMU_TWEAK_SIZE), len) == 0;
}

gsize emu_page_len(const EmuState *st, guint32 index)
{
	guint64 off = (guint64)index * EMU_PAGE_SIZE;

	return (gsize)MIN((guint64)EMU_PAGE_SIZE, st->blob_size - off);
}

static guint64 rand_addr(guint64 *x)
{
	/* 4 KiB aligned, somewhere in the first 64 GiB of guest memory */
	return (splitmix(x) & 0xffffff000ull) | 0x100000000ull;
}

void emu_ctrl_generate(EmuCtrl *c, guint64 seed, guint32 n_io_queues)
{
	static const guint8 io_ops[] = { 0x02, 0x01, 0x00, 0x09 }; /* read write flush dsm */
	guint64 x = seed ^ 0x6e766d652d637472ull;

	memset(c, 0, sizeof(*c));
	/* MQES 1023, CQR, TO 10 s, CSS NVM */
	c->cap = 1023 | (1ull << 16) | (20ull << 24) | (1ull << 37);
	c->vs = 0x00010400;
	/* EN, IOSQES 6 (64 B), IOCQES 4 (16 B) */
	c->cc = 0x00460001;
	c->csts = 0x1;
	c->aqa = (31u << 16) | 31u;
	c->asq = rand_addr(&x);
	c->acq = rand_addr(&x);
	c->n_queues = 1 + n_io_queues;
	for (guint32 i = 0; i < c->n_queues; i++) {
		EmuQueue *q = &c->queues[i];
		guint32 size = i == 0 ? 32 : 64u << (splitmix(&x) % 5);

		q->qid = (guint16)i;
		q->cqid = (guint16)i;
		q->sq_size = size;
		q->cq_size = size;
		q->sq_base = i == 0 ? c->asq : rand_addr(&x);
		q->cq_base = i == 0 ? c->acq : rand_addr(&x);
		q->sq_head = (guint16)(splitmix(&x) % size);
		q->sq_tail = (guint16)(splitmix(&x) % size);
		q->cq_head = (guint16)(splitmix(&x) % size);
		q->cq_tail = (guint16)(splitmix(&x) % size);
		q->cq_phase = (guint8)(splitmix(&x) & 1);
		q->irq_vector = (guint16)i;
		q->flags = 0x3;
	}
	c->n_cmds = 2 + (guint32)(splitmix(&x) % 7);
	for (guint32 i = 0; i < c->n_cmds; i++) {
		EmuCmd *cmd = &c->cmds[i];

		cmd->qid = n_io_queues ? (guint16)(1 + splitmix(&x) % n_io_queues) : 0;
		cmd->cid = (guint16)splitmix(&x);
		cmd->opcode = n_io_queues ? io_ops[splitmix(&x) % G_N_ELEMENTS(io_ops)] : 0x06;
		cmd->nsid = 1;
		cmd->slba = splitmix(&x) & ((1ull << 30) - 1);
		cmd->nlb = (guint32)(splitmix(&x) % 256);
	}
}

/* A controller reset: capabilities stay, everything the host programmed
 * goes, queues are deleted and outstanding commands are dropped. */
void emu_ctrl_reset(EmuCtrl *c)
{
	c->intms = c->intmc = c->cc = c->csts = c->nssr = c->aqa = 0;
	c->asq = c->acq = 0;
	for (guint32 i = 0; i < c->n_queues; i++) {
		EmuQueue *q = &c->queues[i];

		memset(q, 0, sizeof(*q));
		q->qid = (guint16)i;
		q->cqid = (guint16)i;
	}
	memset(c->cmds, 0, sizeof(c->cmds));
	c->n_cmds = 0;
}

gboolean emu_state_init(EmuState *st, guint64 blob_size, guint64 seed, guint32 n_io_queues)
{
	memset(st, 0, sizeof(*st));
	st->spill_fd = -1;
	if (blob_size > EMU_MAX_BLOB || n_io_queues > EMU_MAX_IO_QUEUES)
		return FALSE;
	st->blob_size = blob_size;
	st->seed = seed;
	st->n_io_queues = n_io_queues;
	st->n_pages = (guint32)((blob_size + EMU_PAGE_SIZE - 1) / EMU_PAGE_SIZE);
	st->ver = g_new0(guint32, MAX(st->n_pages, 1));
	st->spilled = g_new0(guint64, (st->n_pages + 63) / 64 + 1);
	st->pool = emu_pool_ref(seed);
	emu_ctrl_generate(&st->ctrl, seed, n_io_queues);
	return TRUE;
}

void emu_state_clear(EmuState *st)
{
	g_clear_pointer(&st->ver, g_free);
	g_clear_pointer(&st->spilled, g_free);
	g_clear_pointer(&st->pool, emu_pool_unref);
	nvfm_close_fd(&st->spill_fd);
	st->n_pages = 0;
	st->n_spilled = 0;
}

gboolean emu_page_spilled(const EmuState *st, guint32 index)
{
	return (st->spilled[index / 64] >> (index % 64)) & 1;
}

static void set_spilled(EmuState *st, guint32 index, gboolean on)
{
	guint64 bit = 1ull << (index % 64);
	gboolean was = (st->spilled[index / 64] & bit) != 0;

	if (on && !was) {
		st->spilled[index / 64] |= bit;
		st->n_spilled++;
	} else if (!on && was) {
		st->spilled[index / 64] &= ~bit;
		st->n_spilled--;
	}
}

static int pread_full(int fd, guint8 *buf, gsize len, guint64 off)
{
	while (len > 0) {
		gssize n = pread(fd, buf, len, (off_t)off);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		if (n == 0)
			return -EIO;
		buf += n;
		len -= (gsize)n;
		off += (guint64)n;
	}
	return 0;
}

static int pwrite_full(int fd, const guint8 *buf, gsize len, guint64 off)
{
	while (len > 0) {
		gssize n = pwrite(fd, buf, len, (off_t)off);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		buf += n;
		len -= (gsize)n;
		off += (guint64)n;
	}
	return 0;
}

int emu_page_read(const EmuState *st, guint32 index, guint32 version, gboolean spilled,
		  guint8 *out)
{
	gsize len = emu_page_len(st, index);
	EmuPageGen g;

	if (spilled) {
		if (st->spill_fd < 0)
			return -EIO;
		return pread_full(st->spill_fd, out, len, (guint64)index * EMU_PAGE_SIZE);
	}
	emu_page_gen(st, index, version, &g);
	emu_page_gen_copy(&g, out, len);
	return 0;
}

/*
 * One dirtying event per page's worth of guest activity: a pseudo-random
 * page gets a new version, one queue pair moves on by an entry (the CQ
 * phase flips on wrap) and one in-flight command is replaced by the next.
 */
void emu_model_dirty(EmuModel *m, guint64 events, EmuDirtyMark mark, gpointer user_data)
{
	EmuState *st = &m->st;
	EmuCtrl *c = &st->ctrl;

	for (guint64 e = 0; e < events; e++) {
		guint64 r = splitmix(&m->rng);

		if (st->n_pages) {
			guint32 idx = (guint32)(r % st->n_pages);

			st->ver[idx] = (st->ver[idx] + 1) & ~PAGE_SPILLED_BIT;
			set_spilled(st, idx, FALSE);
			if (mark)
				mark(user_data, idx);
		}
		if (c->n_queues) {
			guint32 qi = st->n_io_queues ? 1 + (guint32)((r >> 32) % st->n_io_queues) : 0;
			EmuQueue *q = &c->queues[qi];

			if (q->sq_size && q->cq_size) {
				q->sq_tail = (guint16)((q->sq_tail + 1u) % q->sq_size);
				q->sq_head = (guint16)((q->sq_head + 1u) % q->sq_size);
				q->cq_tail = (guint16)((q->cq_tail + 1u) % q->cq_size);
				if (q->cq_tail == 0)
					q->cq_phase ^= 1;
				q->cq_head = (guint16)((q->cq_head + 1u) % q->cq_size);
			}
		}
		if (c->n_cmds) {
			EmuCmd *cmd = &c->cmds[(r >> 16) % c->n_cmds];

			cmd->cid = (guint16)(cmd->cid + 1);
			cmd->slba = (cmd->slba + cmd->nlb + 1) & ((1ull << 30) - 1);
		}
		m->dirtied_bytes += EMU_PAGE_SIZE;
	}
}

/* ---- encoding ---- */

static void put_rec_header(guint8 *out, guint32 type, guint64 len)
{
	put32(out, type);
	put32(out + 4, 0);
	put64(out + 8, len);
}

gsize emu_encode_header(const EmuState *st, guint8 *out)
{
	memcpy(out, EMU_STREAM_MAGIC, 8);
	put32(out + 8, EMU_STREAM_VERSION);
	put32(out + 12, EMU_STREAM_HEADER_SIZE);
	put64(out + 16, st->blob_size);
	put64(out + 24, st->seed);
	put32(out + 32, EMU_PAGE_SIZE);
	put32(out + 36, st->n_io_queues);
	return EMU_STREAM_HEADER_SIZE;
}

static gsize ctrl_payload_size(guint32 n_queues, guint32 n_cmds)
{
	return EMU_CTRL_FIXED_SIZE + (gsize)n_queues * EMU_CTRL_QUEUE_SIZE +
	       (gsize)n_cmds * EMU_CTRL_CMD_SIZE;
}

gsize emu_ctrl_record_size(const EmuCtrl *c)
{
	return EMU_REC_HEADER_SIZE + ctrl_payload_size(c->n_queues, c->n_cmds);
}

gsize emu_encode_ctrl(const EmuCtrl *c, guint8 *out)
{
	gsize plen = ctrl_payload_size(c->n_queues, c->n_cmds);
	guint8 *p = out + EMU_REC_HEADER_SIZE;

	put_rec_header(out, EMU_REC_CTRL, plen);
	memset(p, 0, plen);
	put64(p + 0, c->cap);
	put32(p + 8, c->vs);
	put32(p + 12, c->intms);
	put32(p + 16, c->intmc);
	put32(p + 20, c->cc);
	put32(p + 24, c->csts);
	put32(p + 28, c->nssr);
	put32(p + 32, c->aqa);
	put64(p + 40, c->asq);
	put64(p + 48, c->acq);
	put32(p + 56, c->n_queues);
	put32(p + 60, c->n_cmds);
	p += EMU_CTRL_FIXED_SIZE;
	for (guint32 i = 0; i < c->n_queues; i++, p += EMU_CTRL_QUEUE_SIZE) {
		const EmuQueue *q = &c->queues[i];

		put16(p + 0, q->qid);
		put16(p + 2, q->cqid);
		put32(p + 4, q->sq_size);
		put32(p + 8, q->cq_size);
		put16(p + 12, q->sq_head);
		put16(p + 14, q->sq_tail);
		put16(p + 16, q->cq_head);
		put16(p + 18, q->cq_tail);
		put16(p + 20, q->irq_vector);
		p[22] = q->cq_phase;
		p[23] = q->flags;
		put64(p + 32, q->sq_base);
		put64(p + 40, q->cq_base);
	}
	for (guint32 i = 0; i < c->n_cmds; i++, p += EMU_CTRL_CMD_SIZE) {
		const EmuCmd *cmd = &c->cmds[i];

		put16(p + 0, cmd->qid);
		put16(p + 2, cmd->cid);
		p[4] = cmd->opcode;
		put32(p + 8, cmd->nsid);
		put32(p + 12, cmd->nlb);
		put64(p + 16, cmd->slba);
	}
	return EMU_REC_HEADER_SIZE + plen;
}

gsize emu_encode_page_header(guint32 index, guint32 version, guint32 len, guint8 *out)
{
	put_rec_header(out, EMU_REC_PAGE, EMU_PAGE_SUBHEADER_SIZE + (guint64)len);
	put32(out + 16, index);
	put32(out + 20, version);
	put32(out + 24, len);
	put32(out + 28, 0);
	return EMU_REC_HEADER_SIZE + EMU_PAGE_SUBHEADER_SIZE;
}

guint64 emu_page_record_size(gsize len)
{
	return EMU_REC_HEADER_SIZE + EMU_PAGE_SUBHEADER_SIZE + (guint64)len;
}

/* @offset: stream bytes before this record; @crc: CRC32C of them, updated
 * to cover the whole END record but its own CRC field. */
gsize emu_encode_end(guint64 offset, guint32 n_records, guint32 *crc, guint8 *out)
{
	gsize size = EMU_REC_HEADER_SIZE + EMU_END_PAYLOAD_SIZE;

	put_rec_header(out, EMU_REC_END, EMU_END_PAYLOAD_SIZE);
	put64(out + 16, offset + size);
	put32(out + 24, n_records);
	*crc = nvfm_crc32c(*crc, out, size - 4);
	put32(out + 28, *crc);
	return size;
}

guint64 emu_image_size(const EmuState *st)
{
	return EMU_STREAM_HEADER_SIZE + emu_ctrl_record_size(&st->ctrl) +
	       (guint64)st->n_pages * (EMU_REC_HEADER_SIZE + EMU_PAGE_SUBHEADER_SIZE) +
	       st->blob_size + EMU_REC_HEADER_SIZE + EMU_END_PAYLOAD_SIZE;
}

gboolean emu_image_digest(const EmuState *st, char **out_hex, guint64 *out_size,
			  GError **error)
{
	g_autoptr(NvfmSha256) sum = nvfm_sha256_new();
	g_autofree guint8 *buf = g_malloc(EMU_PAGE_SIZE + EMU_CTRL_MAX_PAYLOAD + 64);
	guint64 off = 0;
	guint32 crc = 0, n_rec = 0;
	guint8 digest[32];
	gsize n;

	n = emu_encode_header(st, buf);
	n += emu_encode_ctrl(&st->ctrl, buf + n);
	crc = nvfm_crc32c(crc, buf, n);
	nvfm_sha256_update(sum, buf, n);
	off += n;
	n_rec++;
	for (guint32 i = 0; i < st->n_pages; i++) {
		gsize len = emu_page_len(st, i);
		gsize h = emu_encode_page_header(i, st->ver[i], (guint32)len, buf);
		int r = emu_page_read(st, i, st->ver[i], emu_page_spilled(st, i), buf + h);

		if (r < 0) {
			nvfm_set_error_errno(error, r, "reading spilled page %u", i);
			return FALSE;
		}
		crc = nvfm_crc32c(crc, buf, h + len);
		nvfm_sha256_update(sum, buf, h + len);
		off += h + len;
		n_rec++;
	}
	n = emu_encode_end(off, n_rec, &crc, buf);
	nvfm_sha256_update(sum, buf, n);
	off += n;
	nvfm_sha256_finish(sum, digest);
	*out_hex = g_malloc(65);
	nvfm_sha256_hex(digest, *out_hex);
	if (out_size)
		*out_size = off;
	return TRUE;
}

/* ---- parser ---- */

typedef enum {
	P_HEADER,
	P_REC_HEADER,
	P_CTRL,
	P_PAGE_SUB,
	P_PAGE_DATA,
	P_END,
	P_DONE,
	P_FAILED,
} ParserPhase;

struct _EmuParser {
	ParserPhase phase;
	guint8 acc[EMU_CTRL_MAX_PAYLOAD];	/* fixed-size parts being collected */
	gsize need, have;
	guint64 rec_len;
	guint32 page_idx, page_ver, page_len;
	gsize page_have;
	EmuPageGen gen;		/* what the generator has for the page */
	gboolean page_match;	/* its bytes so far are the generator's */
	guint8 *page;		/* its bytes so far, once they are not */
	guint64 offset;
	guint32 crc;
	guint32 n_records;
	gboolean have_state, have_ctrl;
	EmuState st;
	guint64 *seen;
	guint32 n_seen;
	char *spill_path;
	int spill_fd;
	char *err;
};

EmuParser *emu_parser_new(const char *spill_path)
{
	EmuParser *p = g_new0(EmuParser, 1);

	p->phase = P_HEADER;
	p->need = EMU_STREAM_HEADER_SIZE;
	p->page = g_malloc(EMU_PAGE_SIZE);
	p->spill_path = g_strdup(spill_path);
	p->spill_fd = -1;
	p->st.spill_fd = -1;
	return p;
}

void emu_parser_free(EmuParser *p)
{
	if (!p)
		return;
	if (p->spill_fd >= 0) {
		close(p->spill_fd);
		unlink(p->spill_path);
	}
	emu_state_clear(&p->st);
	g_free(p->seen);
	g_free(p->page);
	g_free(p->spill_path);
	g_free(p->err);
	g_free(p);
}

/* A parse failure ends the current step; later bytes are ignored. */
#define FAIL(...) do { parse_fail(__VA_ARGS__); return; } while (0)

static void G_GNUC_PRINTF(2, 3) parse_fail(EmuParser *p, const char *fmt, ...)
{
	va_list ap;

	if (p->phase == P_FAILED)
		return;
	va_start(ap, fmt);
	g_free(p->err);
	p->err = g_strdup_vprintf(fmt, ap);
	va_end(ap);
	g_debug("resume stream rejected at byte %" G_GUINT64_FORMAT ": %s", p->offset, p->err);
	p->phase = P_FAILED;
}

gboolean emu_parser_failed(const EmuParser *p)
{
	return p->phase == P_FAILED;
}

static void expect(EmuParser *p, ParserPhase phase, gsize need)
{
	p->phase = phase;
	p->need = need;
	p->have = 0;
}

static void parse_header(EmuParser *p)
{
	const guint8 *h = p->acc;
	guint64 blob = get64(h + 16);
	guint32 nio = get32(h + 36);

	if (memcmp(h, EMU_STREAM_MAGIC, 8) != 0)
		FAIL(p, "bad magic: not an emulated NVMe VF state stream");
	if (get32(h + 8) != EMU_STREAM_VERSION)
		FAIL(p, "unsupported stream version %u", get32(h + 8));
	if (get32(h + 12) != EMU_STREAM_HEADER_SIZE || get32(h + 32) != EMU_PAGE_SIZE)
		FAIL(p, "unexpected header size %u or page size %u", get32(h + 12),
				  get32(h + 32));
	if (blob > EMU_MAX_BLOB || nio > EMU_MAX_IO_QUEUES)
		FAIL(p, "blob size %" G_GUINT64_FORMAT " or %u I/O queues out of range",
				  blob, nio);
	emu_state_init(&p->st, blob, get64(h + 24), nio);
	p->have_state = TRUE;
	p->seen = g_new0(guint64, (p->st.n_pages + 63) / 64 + 1);
	expect(p, P_REC_HEADER, EMU_REC_HEADER_SIZE);
}

static void parse_rec_header(EmuParser *p)
{
	guint32 type = get32(p->acc);
	guint64 len = get64(p->acc + 8);

	if (get32(p->acc + 4) != 0)
		FAIL(p, "reserved record header bits set");
	p->rec_len = len;
	switch (type) {
	case EMU_REC_CTRL:
		if (len < EMU_CTRL_FIXED_SIZE || len > EMU_CTRL_MAX_PAYLOAD)
			FAIL(p, "controller record of %" G_GUINT64_FORMAT " bytes", len);
		expect(p, P_CTRL, (gsize)len);
		return;
	case EMU_REC_PAGE:
		if (len <= EMU_PAGE_SUBHEADER_SIZE || len > EMU_PAGE_SUBHEADER_SIZE + EMU_PAGE_SIZE)
			FAIL(p, "page record of %" G_GUINT64_FORMAT " bytes", len);
		expect(p, P_PAGE_SUB, EMU_PAGE_SUBHEADER_SIZE);
		return;
	case EMU_REC_END:
		if (len != EMU_END_PAYLOAD_SIZE)
			FAIL(p, "end record of %" G_GUINT64_FORMAT " bytes", len);
		expect(p, P_END, EMU_END_PAYLOAD_SIZE);
		return;
	default:
		FAIL(p, "unknown record type %u", type);
	}
}

static void parse_ctrl(EmuParser *p)
{
	const guint8 *b = p->acc;
	EmuCtrl c = { 0 };
	const guint8 *q;

	c.cap = get64(b);
	c.vs = get32(b + 8);
	c.intms = get32(b + 12);
	c.intmc = get32(b + 16);
	c.cc = get32(b + 20);
	c.csts = get32(b + 24);
	c.nssr = get32(b + 28);
	c.aqa = get32(b + 32);
	c.asq = get64(b + 40);
	c.acq = get64(b + 48);
	c.n_queues = get32(b + 56);
	c.n_cmds = get32(b + 60);
	if (c.n_queues != p->st.n_io_queues + 1 || c.n_cmds > EMU_MAX_CMDS ||
	    p->rec_len != ctrl_payload_size(c.n_queues, c.n_cmds))
		FAIL(p, "controller record with %u queues and %u commands",
				  c.n_queues, c.n_cmds);
	q = b + EMU_CTRL_FIXED_SIZE;
	for (guint32 i = 0; i < c.n_queues; i++, q += EMU_CTRL_QUEUE_SIZE) {
		EmuQueue *e = &c.queues[i];

		e->qid = get16(q);
		e->cqid = get16(q + 2);
		e->sq_size = get32(q + 4);
		e->cq_size = get32(q + 8);
		e->sq_head = get16(q + 12);
		e->sq_tail = get16(q + 14);
		e->cq_head = get16(q + 16);
		e->cq_tail = get16(q + 18);
		e->irq_vector = get16(q + 20);
		e->cq_phase = q[22];
		e->flags = q[23];
		e->sq_base = get64(q + 32);
		e->cq_base = get64(q + 40);
		if (e->qid != i || e->sq_size > 65536 || e->cq_size > 65536 || e->cq_phase > 1 ||
		    (e->sq_size && (e->sq_head >= e->sq_size || e->sq_tail >= e->sq_size)) ||
		    (e->cq_size && (e->cq_head >= e->cq_size || e->cq_tail >= e->cq_size)))
			FAIL(p, "inconsistent queue %u in the controller record", i);
	}
	for (guint32 i = 0; i < c.n_cmds; i++, q += EMU_CTRL_CMD_SIZE) {
		EmuCmd *e = &c.cmds[i];

		e->qid = get16(q);
		e->cid = get16(q + 2);
		e->opcode = q[4];
		e->nsid = get32(q + 8);
		e->nlb = get32(q + 12);
		e->slba = get64(q + 16);
		if (e->qid >= c.n_queues)
			FAIL(p, "in-flight command on unknown queue %u", e->qid);
	}
	p->st.ctrl = c;
	p->have_ctrl = TRUE;
	p->n_records++;
	expect(p, P_REC_HEADER, EMU_REC_HEADER_SIZE);
}

static void parse_page_sub(EmuParser *p)
{
	guint32 idx = get32(p->acc), ver = get32(p->acc + 4), len = get32(p->acc + 8);

	if (idx >= p->st.n_pages)
		FAIL(p, "page %u beyond the %u pages of the blob", idx, p->st.n_pages);
	if (len != emu_page_len(&p->st, idx) || p->rec_len != EMU_PAGE_SUBHEADER_SIZE + (guint64)len ||
	    get32(p->acc + 12) != 0 || (ver & PAGE_SPILLED_BIT))
		FAIL(p, "malformed record for page %u", idx);
	p->page_idx = idx;
	p->page_ver = ver;
	p->page_len = len;
	p->page_have = 0;
	emu_page_gen(&p->st, idx, ver, &p->gen);
	p->page_match = TRUE;
	p->phase = P_PAGE_DATA;
}

/*
 * Page bytes are compared with the generator's as they come, so pages it
 * reproduces (all of them, but for loaded foreign states) are never
 * copied and their CRC comes from its tables. The first byte that differs
 * turns the page into a copy: what matched until then is the generator's.
 */
static void page_take(EmuParser *p, const guint8 *buf, gsize len)
{
	if (p->page_match) {
		if (emu_page_gen_equal(&p->gen, p->page_have, buf, len)) {
			p->page_have += len;
			return;
		}
		p->page_match = FALSE;
		emu_page_gen_copy(&p->gen, p->page, p->page_have);
	}
	memcpy(p->page + p->page_have, buf, len);
	p->page_have += len;
}

static void parse_page_done(EmuParser *p)
{
	const guint8 *data = p->page;
	guint32 idx = p->page_idx;

	/* Pages the generator reproduces cost nothing; only others are kept. */
	if (p->page_match) {
		p->crc = emu_page_crc(&p->st, &p->gen, p->page_len, p->crc);
		set_spilled(&p->st, idx, FALSE);
	} else {
		int r;

		p->crc = nvfm_crc32c(p->crc, data, p->page_len);
		if (p->spill_fd < 0) {
			p->spill_fd = open(p->spill_path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
			if (p->spill_fd < 0)
				FAIL(p, "cannot create %s: %s", p->spill_path,
						  g_strerror(errno));
		}
		r = pwrite_full(p->spill_fd, data, p->page_len, (guint64)idx * EMU_PAGE_SIZE);
		if (r < 0)
			FAIL(p, "writing %s: %s", p->spill_path, g_strerror(-r));
		set_spilled(&p->st, idx, TRUE);
	}
	p->st.ver[idx] = p->page_ver;
	if (!((p->seen[idx / 64] >> (idx % 64)) & 1)) {
		p->seen[idx / 64] |= 1ull << (idx % 64);
		p->n_seen++;
	}
	p->n_records++;
	expect(p, P_REC_HEADER, EMU_REC_HEADER_SIZE);
}

static void parse_end(EmuParser *p)
{
	guint64 total = get64(p->acc);
	guint32 n_rec = get32(p->acc + 8);
	guint32 crc = nvfm_crc32c(p->crc, p->acc, EMU_END_PAYLOAD_SIZE - 4);

	p->crc = crc;
	if (crc != get32(p->acc + 12))
		FAIL(p, "CRC32C mismatch (stream 0x%08x, computed 0x%08x)",
				  get32(p->acc + 12), crc);
	if (total != p->offset)
		FAIL(p, "length mismatch (end record says %" G_GUINT64_FORMAT
				  ", stream has %" G_GUINT64_FORMAT ")", total, p->offset);
	if (n_rec != p->n_records)
		FAIL(p, "record count mismatch (%u, counted %u)", n_rec, p->n_records);
	if (!p->have_ctrl)
		FAIL(p, "no controller record");
	if (p->n_seen != p->st.n_pages)
		FAIL(p, "%u of %u pages missing", p->st.n_pages - p->n_seen,
				  p->st.n_pages);
	p->phase = P_DONE;
}

void emu_parser_feed(EmuParser *p, const guint8 *buf, gsize len)
{
	while (len > 0) {
		gsize take;

		switch (p->phase) {
		case P_FAILED:
			return;
		case P_DONE:
			parse_fail(p, "%" G_GSIZE_FORMAT " bytes after the end record", len);
			return;
		case P_PAGE_DATA:
			/* the page's CRC is added when it is complete */
			take = MIN(len, p->page_len - p->page_have);
			page_take(p, buf, take);
			p->offset += take;
			buf += take;
			len -= take;
			if (p->page_have == p->page_len)
				parse_page_done(p);
			continue;
		default:
			break;
		}
		take = MIN(len, p->need - p->have);
		memcpy(p->acc + p->have, buf, take);
		/* The END payload is checked whole: its CRC field is not covered. */
		if (p->phase != P_END)
			p->crc = nvfm_crc32c(p->crc, buf, take);
		p->have += take;
		p->offset += take;
		buf += take;
		len -= take;
		if (p->have < p->need)
			continue;
		switch (p->phase) {
		case P_HEADER:
			parse_header(p);
			break;
		case P_REC_HEADER:
			parse_rec_header(p);
			break;
		case P_CTRL:
			parse_ctrl(p);
			break;
		case P_PAGE_SUB:
			parse_page_sub(p);
			break;
		case P_END:
			parse_end(p);
			break;
		default:
			g_assert_not_reached();
		}
	}
}

gboolean emu_parser_finish(EmuParser *p, EmuState *out, GError **error)
{
	if (p->phase == P_FAILED) {
		g_set_error(error, NVFM_ERROR, NVFM_ERROR_PROTOCOL, "invalid device state: %s",
			    p->err);
		return FALSE;
	}
	if (p->phase != P_DONE) {
		g_set_error(error, NVFM_ERROR, NVFM_ERROR_PROTOCOL,
			    "invalid device state: stream ended after %" G_GUINT64_FORMAT
			    " bytes without an end record", p->offset);
		return FALSE;
	}
	emu_state_clear(out);
	*out = p->st;
	memset(&p->st, 0, sizeof(p->st));
	p->st.spill_fd = -1;
	if (out->n_spilled) {
		out->spill_fd = p->spill_fd;
		p->spill_fd = -1;
	} else if (p->spill_fd >= 0) {
		close(p->spill_fd);
		p->spill_fd = -1;
		unlink(p->spill_path);
	}
	return TRUE;
}

/* ---- names and files ---- */

gboolean emu_name_valid(const char *name)
{
	gsize n = name ? strlen(name) : 0;

	if (n < 1 || n > 64)
		return FALSE;
	for (gsize i = 0; i < n; i++) {
		if (!g_ascii_isalnum(name[i]) && !strchr("_.-", name[i]))
			return FALSE;
	}
	return TRUE;
}

gboolean emu_check_name(const char *name, GError **error)
{
	if (emu_name_valid(name))
		return TRUE;
	g_set_error(error, NVFM_ERROR, NVFM_ERROR_INVALID_ARG,
		    "invalid emulated device name '%s' (expected 1 to 64 of A-Z a-z 0-9 _ . -)",
		    name ? name : "");
	return FALSE;
}

char *emu_path(const char *dir, const char *name, const char *suffix)
{
	g_autofree char *base = g_strconcat(name, suffix, NULL);

	return g_build_filename(dir, base, NULL);
}

gboolean emu_ensure_dir(const char *dir, GError **error)
{
	struct stat sb;

	if (g_mkdir_with_parents(dir, 0700) < 0) {
		int e = errno;

		g_set_error(error, NVFM_ERROR, nvfm_error_code_from_errno(e),
			    "cannot create emulated device directory %s: %s", dir, g_strerror(e));
		return FALSE;
	}
	/* A directory another user planted (in /tmp, say) is not ours to use. */
	if (lstat(dir, &sb) < 0 || !S_ISDIR(sb.st_mode) || sb.st_uid != geteuid()) {
		g_set_error(error, NVFM_ERROR, NVFM_ERROR_PERMISSION,
			    "emulated device directory %s is not a directory owned by uid %u",
			    dir, (guint)geteuid());
		return FALSE;
	}
	return TRUE;
}

gboolean emu_config_check(const NvfmEmuConfig *cfg, GError **error)
{
	if (cfg->flags & ~(NVFM_MIG_FLAG_STOP_COPY | NVFM_MIG_FLAG_P2P | NVFM_MIG_FLAG_PRE_COPY)) {
		g_set_error(error, NVFM_ERROR, NVFM_ERROR_INVALID_ARG,
			    "unknown migration flags 0x%x", cfg->flags);
		return FALSE;
	}
	if (cfg->blob_size > EMU_MAX_BLOB) {
		g_autofree char *max = nvfm_format_size(EMU_MAX_BLOB);

		g_set_error(error, NVFM_ERROR, NVFM_ERROR_INVALID_ARG,
			    "state size %" G_GUINT64_FORMAT " is larger than the %s an emulated VF "
			    "supports", cfg->blob_size, max);
		return FALSE;
	}
	if (cfg->n_io_queues > EMU_MAX_IO_QUEUES) {
		g_set_error(error, NVFM_ERROR, NVFM_ERROR_INVALID_ARG,
			    "%u I/O queues requested, at most %u", cfg->n_io_queues,
			    EMU_MAX_IO_QUEUES);
		return FALSE;
	}
	return TRUE;
}

static json_t *hex64(guint64 v)
{
	char buf[24];

	g_snprintf(buf, sizeof(buf), "0x%016" G_GINT64_MODIFIER "x", v);
	return json_string(buf);
}

static gboolean get_hex64(json_t *obj, const char *key, guint64 *out)
{
	const char *s = json_string_value(json_object_get(obj, key));
	char *end = NULL;

	if (!s || !g_str_has_prefix(s, "0x"))
		return FALSE;
	*out = g_ascii_strtoull(s + 2, &end, 16);
	return end && *end == '\0' && end != s + 2;
}

static gboolean get_uint(json_t *obj, const char *key, guint64 max, guint64 *out)
{
	json_t *v = json_object_get(obj, key);

	if (!json_is_integer(v) || json_integer_value(v) < 0 ||
	    (guint64)json_integer_value(v) > max)
		return FALSE;
	*out = (guint64)json_integer_value(v);
	return TRUE;
}

static json_t *ctrl_to_json(const EmuCtrl *c)
{
	json_t *queues = json_array();
	json_t *cmds = json_array();

	for (guint32 i = 0; i < c->n_queues; i++) {
		const EmuQueue *q = &c->queues[i];

		json_array_append_new(queues, json_pack(
			"{s:i, s:i, s:i, s:i, s:o, s:o, s:i, s:i, s:i, s:i, s:i, s:i, s:i}",
			"qid", (int)q->qid, "cqid", (int)q->cqid,
			"sq_size", (int)q->sq_size, "cq_size", (int)q->cq_size,
			"sq_base", hex64(q->sq_base), "cq_base", hex64(q->cq_base),
			"sq_head", (int)q->sq_head, "sq_tail", (int)q->sq_tail,
			"cq_head", (int)q->cq_head, "cq_tail", (int)q->cq_tail,
			"cq_phase", (int)q->cq_phase, "irq_vector", (int)q->irq_vector,
			"flags", (int)q->flags));
	}
	for (guint32 i = 0; i < c->n_cmds; i++) {
		const EmuCmd *cmd = &c->cmds[i];

		json_array_append_new(cmds, json_pack(
			"{s:i, s:i, s:i, s:I, s:I, s:i}",
			"qid", (int)cmd->qid, "cid", (int)cmd->cid, "opcode", (int)cmd->opcode,
			"nsid", (json_int_t)cmd->nsid, "slba", (json_int_t)cmd->slba,
			"nlb", (int)cmd->nlb));
	}
	return json_pack("{s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o}",
			 "cap", hex64(c->cap), "vs", hex64(c->vs), "intms", hex64(c->intms),
			 "intmc", hex64(c->intmc), "cc", hex64(c->cc), "csts", hex64(c->csts),
			 "nssr", hex64(c->nssr), "aqa", hex64(c->aqa), "asq", hex64(c->asq),
			 "acq", hex64(c->acq), "queues", queues, "commands", cmds);
}

static gboolean ctrl_from_json(json_t *o, guint32 n_io_queues, EmuCtrl *c)
{
	static const struct { const char *key; gsize off; } regs32[] = {
		{ "vs", G_STRUCT_OFFSET(EmuCtrl, vs) },
		{ "intms", G_STRUCT_OFFSET(EmuCtrl, intms) },
		{ "intmc", G_STRUCT_OFFSET(EmuCtrl, intmc) },
		{ "cc", G_STRUCT_OFFSET(EmuCtrl, cc) },
		{ "csts", G_STRUCT_OFFSET(EmuCtrl, csts) },
		{ "nssr", G_STRUCT_OFFSET(EmuCtrl, nssr) },
		{ "aqa", G_STRUCT_OFFSET(EmuCtrl, aqa) },
	};
	json_t *queues = json_object_get(o, "queues");
	json_t *cmds = json_object_get(o, "commands");
	guint64 v;

	memset(c, 0, sizeof(*c));
	if (!json_is_object(o) || !get_hex64(o, "cap", &c->cap) || !get_hex64(o, "asq", &c->asq) ||
	    !get_hex64(o, "acq", &c->acq))
		return FALSE;
	for (guint i = 0; i < G_N_ELEMENTS(regs32); i++) {
		if (!get_hex64(o, regs32[i].key, &v) || v > G_MAXUINT32)
			return FALSE;
		G_STRUCT_MEMBER(guint32, c, regs32[i].off) = (guint32)v;
	}
	if (!json_is_array(queues) || json_array_size(queues) != n_io_queues + 1 ||
	    !json_is_array(cmds) || json_array_size(cmds) > EMU_MAX_CMDS)
		return FALSE;
	c->n_queues = n_io_queues + 1;
	for (guint32 i = 0; i < c->n_queues; i++) {
		json_t *j = json_array_get(queues, i);
		EmuQueue *q = &c->queues[i];
		guint64 qid, cqid, sqs, cqs, sqh, sqt, cqh, cqt, ph, irq, fl;

		if (!get_uint(j, "qid", 0xffff, &qid) || !get_uint(j, "cqid", 0xffff, &cqid) ||
		    !get_uint(j, "sq_size", 65536, &sqs) || !get_uint(j, "cq_size", 65536, &cqs) ||
		    !get_uint(j, "sq_head", 0xffff, &sqh) || !get_uint(j, "sq_tail", 0xffff, &sqt) ||
		    !get_uint(j, "cq_head", 0xffff, &cqh) || !get_uint(j, "cq_tail", 0xffff, &cqt) ||
		    !get_uint(j, "cq_phase", 1, &ph) || !get_uint(j, "irq_vector", 0xffff, &irq) ||
		    !get_uint(j, "flags", 0xff, &fl) || !get_hex64(j, "sq_base", &q->sq_base) ||
		    !get_hex64(j, "cq_base", &q->cq_base) || qid != i)
			return FALSE;
		if ((sqs && (sqh >= sqs || sqt >= sqs)) || (cqs && (cqh >= cqs || cqt >= cqs)))
			return FALSE;
		q->qid = (guint16)qid;
		q->cqid = (guint16)cqid;
		q->sq_size = (guint32)sqs;
		q->cq_size = (guint32)cqs;
		q->sq_head = (guint16)sqh;
		q->sq_tail = (guint16)sqt;
		q->cq_head = (guint16)cqh;
		q->cq_tail = (guint16)cqt;
		q->cq_phase = (guint8)ph;
		q->irq_vector = (guint16)irq;
		q->flags = (guint8)fl;
	}
	c->n_cmds = (guint32)json_array_size(cmds);
	for (guint32 i = 0; i < c->n_cmds; i++) {
		json_t *j = json_array_get(cmds, i);
		EmuCmd *cmd = &c->cmds[i];
		guint64 qid, cid, op, nsid, slba, nlb;

		if (!get_uint(j, "qid", c->n_queues - 1, &qid) || !get_uint(j, "cid", 0xffff, &cid) ||
		    !get_uint(j, "opcode", 0xff, &op) || !get_uint(j, "nsid", G_MAXUINT32, &nsid) ||
		    !get_uint(j, "slba", G_MAXINT64, &slba) || !get_uint(j, "nlb", G_MAXUINT32, &nlb))
			return FALSE;
		cmd->qid = (guint16)qid;
		cmd->cid = (guint16)cid;
		cmd->opcode = (guint8)op;
		cmd->nsid = (guint32)nsid;
		cmd->slba = slba;
		cmd->nlb = (guint32)nlb;
	}
	return TRUE;
}

static guint32 count_modified(const EmuState *st)
{
	guint32 n = 0;

	for (guint32 i = 0; i < st->n_pages; i++)
		n += st->ver[i] != 0;
	return n;
}

json_t *emu_model_to_json(const EmuModel *m)
{
	g_autofree char *flags = nvfm_mig_flags_to_string(m->cfg.flags);
	g_autofree char *pages = g_strconcat(m->name, ".pages", NULL);
	g_autofree char *blob = g_strconcat(m->name, ".blob", NULL);

	return json_pack(
		"{s:i, s:s, s:{s:i, s:s, s:I, s:o, s:i, s:I, s:I, s:b}, s:{s:o, s:I},"
		" s:o, s:{s:i, s:i, s:i, s:i, s:s, s:s?}}",
		"format", MODEL_FORMAT, "name", m->name,
		"config",
		"flags", (int)m->cfg.flags, "flags_text", flags,
		"blob_size", (json_int_t)m->st.blob_size, "seed", hex64(m->st.seed),
		"n_io_queues", (int)m->st.n_io_queues, "dirty_rate", (json_int_t)m->cfg.dirty_rate,
		"max_write", (json_int_t)m->cfg.max_write,
		"report_data_size", m->cfg.report_data_size,
		"workload", "rng", hex64(m->rng), "dirtied_bytes", (json_int_t)m->dirtied_bytes,
		"controller", ctrl_to_json(&m->st.ctrl),
		"pages", "page_size", (int)EMU_PAGE_SIZE, "count", (int)m->st.n_pages,
		"modified", (int)count_modified(&m->st), "spilled", (int)m->st.n_spilled,
		"table", pages, "spill", m->st.n_spilled ? blob : NULL);
}

static gboolean write_atomic(const char *path, const void *data, gsize len, GError **error)
{
	g_autoptr(GError) err = NULL;

	if (g_file_set_contents_full(path, data, (gssize)len, G_FILE_SET_CONTENTS_CONSISTENT,
				     0600, &err))
		return TRUE;
	g_set_error(error, NVFM_ERROR, NVFM_ERROR_IO, "%s", err->message);
	return FALSE;
}

gboolean emu_model_save(EmuModel *m, GError **error)
{
	g_autofree char *pages_path = emu_path(m->dir, m->name, ".pages");
	g_autofree char *json_path = emu_path(m->dir, m->name, ".json");
	gsize tlen = PAGES_HEADER_SIZE + (gsize)m->st.n_pages * 4;
	g_autofree guint8 *table = g_malloc0(tlen);
	g_autofree char *text = NULL;
	json_auto_t *j = NULL;

	memcpy(table, PAGES_MAGIC, 8);
	put32(table + 8, m->st.n_pages);
	for (guint32 i = 0; i < m->st.n_pages; i++)
		put32(table + PAGES_HEADER_SIZE + 4 * (gsize)i,
		      m->st.ver[i] | (emu_page_spilled(&m->st, i) ? PAGE_SPILLED_BIT : 0));
	if (!write_atomic(pages_path, table, tlen, error))
		return FALSE;
	j = emu_model_to_json(m);
	text = json_dumps(j, JSON_INDENT(2) | JSON_SORT_KEYS);
	if (!text) {
		g_set_error(error, NVFM_ERROR, NVFM_ERROR_FAILED, "cannot serialize device %s",
			    m->name);
		return FALSE;
	}
	return write_atomic(json_path, text, strlen(text), error);
}

static void model_free_fields(EmuModel *m)
{
	emu_state_clear(&m->st);
	g_free(m->dir);
	g_free(m->name);
}

void emu_model_free(EmuModel *m)
{
	if (!m)
		return;
	model_free_fields(m);
	g_free(m);
}

EmuModel *emu_model_new(const char *dir, const char *name, const NvfmEmuConfig *cfg,
			GError **error)
{
	g_autoptr(EmuModel) m = NULL;

	if (!emu_check_name(name, error) || !emu_config_check(cfg, error))
		return NULL;
	m = g_new0(EmuModel, 1);
	m->st.spill_fd = -1;
	m->dir = g_strdup(dir);
	m->name = g_strdup(name);
	m->cfg = *cfg;
	m->cfg.flags |= NVFM_MIG_FLAG_STOP_COPY;
	emu_state_init(&m->st, cfg->blob_size, cfg->seed, cfg->n_io_queues);
	m->rng = cfg->seed ^ 0x6469727479776b6cull;
	return g_steal_pointer(&m);
}

gboolean emu_model_exists(const char *dir, const char *name)
{
	g_autofree char *path = emu_path(dir, name, ".json");

	return g_file_test(path, G_FILE_TEST_IS_REGULAR);
}

static gboolean corrupt(GError **error, const char *path, const char *what)
{
	g_set_error(error, NVFM_ERROR, NVFM_ERROR_PROTOCOL, "%s: corrupt emulated device file (%s)",
		    path, what);
	return FALSE;
}

static gboolean load_pages(EmuModel *m, const char *path, GError **error)
{
	g_autofree char *data = NULL;
	gsize len = 0;
	g_autoptr(GError) err = NULL;

	if (!g_file_get_contents(path, &data, &len, &err)) {
		g_set_error(error, NVFM_ERROR, NVFM_ERROR_NOT_FOUND, "%s", err->message);
		return FALSE;
	}
	if (len != PAGES_HEADER_SIZE + (gsize)m->st.n_pages * 4 ||
	    memcmp(data, PAGES_MAGIC, 8) != 0 || get32((guint8 *)data + 8) != m->st.n_pages)
		return corrupt(error, path, "page table does not match the configuration");
	for (guint32 i = 0; i < m->st.n_pages; i++) {
		guint32 e = get32((guint8 *)data + PAGES_HEADER_SIZE + 4 * (gsize)i);

		m->st.ver[i] = e & ~PAGE_SPILLED_BIT;
		set_spilled(&m->st, i, (e & PAGE_SPILLED_BIT) != 0);
	}
	return TRUE;
}

EmuModel *emu_model_load(const char *dir, const char *name, GError **error)
{
	g_autofree char *json_path = emu_path(dir, name, ".json");
	g_autofree char *pages_path = emu_path(dir, name, ".pages");
	g_autoptr(EmuModel) m = NULL;
	json_auto_t *root = NULL;
	json_error_t jerr;
	json_t *cfg, *wl;
	guint64 v, blob, nio, seed;

	if (!emu_check_name(name, error))
		return NULL;
	if (!g_file_test(json_path, G_FILE_TEST_EXISTS)) {
		g_set_error(error, NVFM_ERROR, NVFM_ERROR_NOT_FOUND,
			    "emulated device '%s' does not exist (in %s)", name, dir);
		return NULL;
	}
	root = json_load_file(json_path, 0, &jerr);
	if (!root) {
		corrupt(error, json_path, jerr.text);
		return NULL;
	}
	m = g_new0(EmuModel, 1);
	m->st.spill_fd = -1;
	m->dir = g_strdup(dir);
	m->name = g_strdup(name);
	cfg = json_object_get(root, "config");
	wl = json_object_get(root, "workload");
	if (!get_uint(root, "format", MODEL_FORMAT, &v) || v != MODEL_FORMAT ||
	    !get_uint(cfg, "flags", 7, &v) || !(v & NVFM_MIG_FLAG_STOP_COPY)) {
		corrupt(error, json_path, "format or flags");
		return NULL;
	}
	m->cfg.flags = (guint32)v;
	if (!get_uint(cfg, "blob_size", EMU_MAX_BLOB, &blob) ||
	    !get_uint(cfg, "n_io_queues", EMU_MAX_IO_QUEUES, &nio) || !get_hex64(cfg, "seed", &seed) ||
	    !get_uint(cfg, "dirty_rate", G_MAXINT64, &m->cfg.dirty_rate) ||
	    !get_uint(cfg, "max_write", G_MAXUINT32, &v) ||
	    !json_is_boolean(json_object_get(cfg, "report_data_size"))) {
		corrupt(error, json_path, "config");
		return NULL;
	}
	m->cfg.max_write = (guint32)v;
	m->cfg.report_data_size = json_is_true(json_object_get(cfg, "report_data_size"));
	m->cfg.blob_size = blob;
	m->cfg.seed = seed;
	m->cfg.n_io_queues = (guint32)nio;
	if (!get_hex64(wl, "rng", &m->rng) ||
	    !get_uint(wl, "dirtied_bytes", G_MAXINT64, &m->dirtied_bytes)) {
		corrupt(error, json_path, "workload");
		return NULL;
	}
	emu_state_init(&m->st, blob, seed, (guint32)nio);
	if (!ctrl_from_json(json_object_get(root, "controller"), (guint32)nio, &m->st.ctrl)) {
		corrupt(error, json_path, "controller");
		return NULL;
	}
	if (m->st.n_pages && !load_pages(m, pages_path, error))
		return NULL;
	if (m->st.n_spilled) {
		g_autofree char *blob_path = emu_path(dir, name, ".blob");

		m->st.spill_fd = open(blob_path, O_RDONLY | O_CLOEXEC);
		if (m->st.spill_fd < 0) {
			nvfm_set_error_errno(error, -errno, "%s", blob_path);
			return NULL;
		}
	}
	return g_steal_pointer(&m);
}

gboolean emu_model_remove_files(const char *dir, const char *name, GError **error)
{
	static const char *const suffixes[] = { ".json", ".pages", ".blob", ".blob.new",
						".faults" };

	for (guint i = 0; i < G_N_ELEMENTS(suffixes); i++) {
		g_autofree char *path = emu_path(dir, name, suffixes[i]);

		if (unlink(path) < 0 && errno != ENOENT) {
			nvfm_set_error_errno(error, -errno, "removing %s", path);
			return FALSE;
		}
	}
	return TRUE;
}

/* ---- faults ---- */

void emu_faults_init(EmuFaults *f)
{
	memset(f, 0, sizeof(*f));
	f->corrupt_byte = -1;
	f->stop_after = -1;
	f->truncate_after = -1;
}

json_t *emu_faults_to_json(const EmuFaults *f)
{
	json_t *o = json_object();

	if (f->fail_arc) {
		g_autofree char *arc = g_strdup_printf("%s>%s", nvfm_mig_state_name(f->fail_from),
						       nvfm_mig_state_name(f->fail_to));

		json_object_set_new(o, "fail-arc", json_string(arc));
	}
	if (f->corrupt_byte >= 0)
		json_object_set_new(o, "corrupt-byte", json_integer(f->corrupt_byte));
	if (f->slow_us)
		json_object_set_new(o, "slow-us", json_integer((json_int_t)f->slow_us));
	if (f->stop_after >= 0)
		json_object_set_new(o, "stop-after", json_integer(f->stop_after));
	if (f->truncate_after >= 0)
		json_object_set_new(o, "truncate-after", json_integer(f->truncate_after));
	if (f->reject_resume)
		json_object_set_new(o, "reject-resume", json_integer(1));
	return o;
}

gboolean emu_faults_load(const char *dir, const char *name, EmuFaults *f, GError **error)
{
	g_autofree char *path = emu_path(dir, name, ".faults");
	json_auto_t *root = NULL;
	json_error_t jerr;
	const char *arc;
	guint64 v;

	emu_faults_init(f);
	if (!g_file_test(path, G_FILE_TEST_EXISTS))
		return TRUE;
	root = json_load_file(path, 0, &jerr);
	if (!json_is_object(root))
		return corrupt(error, path, jerr.text);
	arc = json_string_value(json_object_get(root, "fail-arc"));
	if (arc) {
		g_auto(GStrv) parts = g_strsplit(arc, ">", 2);

		if (g_strv_length(parts) != 2 ||
		    !nvfm_mig_state_parse(parts[0], &f->fail_from, NULL) ||
		    !nvfm_mig_state_parse(parts[1], &f->fail_to, NULL))
			return corrupt(error, path, "fail-arc");
		f->fail_arc = TRUE;
	}
	if (get_uint(root, "corrupt-byte", G_MAXINT64, &v))
		f->corrupt_byte = (gint64)v;
	if (get_uint(root, "slow-us", 60000000, &v))
		f->slow_us = v;
	if (get_uint(root, "stop-after", G_MAXINT64, &v))
		f->stop_after = (gint64)v;
	if (get_uint(root, "truncate-after", G_MAXINT64, &v))
		f->truncate_after = (gint64)v;
	if (get_uint(root, "reject-resume", 1, &v))
		f->reject_resume = v != 0;
	return TRUE;
}

gboolean emu_faults_save(const char *dir, const char *name, const EmuFaults *f, GError **error)
{
	g_autofree char *path = emu_path(dir, name, ".faults");
	json_auto_t *o = emu_faults_to_json(f);
	g_autofree char *text = NULL;

	if (json_object_size(o) == 0) {
		if (unlink(path) < 0 && errno != ENOENT) {
			nvfm_set_error_errno(error, -errno, "removing %s", path);
			return FALSE;
		}
		return TRUE;
	}
	text = json_dumps(o, JSON_INDENT(2) | JSON_SORT_KEYS);
	return write_atomic(path, text, strlen(text), error);
}
