/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The emulated NVMe VF's state generated from a seed: the per-seed page
 * pool, pages by (index, version), the controller, dirtying, and pages
 * spilled to the sparse file when a stream brought other bytes. The format
 * of the state is described in emu-stream.c.
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

void emu_page_set_spilled(EmuState *st, guint32 index, gboolean on)
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

int emu_pwrite_full(int fd, const guint8 *buf, gsize len, guint64 off)
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
			emu_page_set_spilled(st, idx, FALSE);
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
