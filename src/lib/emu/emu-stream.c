/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The emulated NVMe VF's state as a record stream: the encoder and the
 * parser. emu-gen.c generates the state, emu-files.c keeps it, emu-vf.c
 * makes a device out of it.
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

#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#define G_LOG_DOMAIN "nvfm-emu"

#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>

#include "emu-private.h"

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
	gboolean skip_crc;
	EmuState st;
	guint64 *seen;
	guint32 n_seen;
	char *spill_path;
	guint64 max_blob;	/* the largest blob the header may claim */
	int spill_fd;
	char *err;
};

EmuParser *emu_parser_new(const char *spill_path, guint64 max_blob)
{
	EmuParser *p = g_new0(EmuParser, 1);

	p->phase = P_HEADER;
	p->need = EMU_STREAM_HEADER_SIZE;
	p->page = g_malloc(EMU_PAGE_SIZE);
	p->spill_path = g_strdup(spill_path);
	p->max_blob = max_blob;
	p->spill_fd = -1;
	p->st.spill_fd = -1;
	return p;
}

void emu_parser_skip_crc(EmuParser *p)
{
	p->skip_crc = TRUE;
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
	/* a peer's claim is checked before a byte of it is staged */
	if (blob > p->max_blob)
		FAIL(p, "blob size %" G_GUINT64_FORMAT " exceeds the %" G_GUINT64_FORMAT
		     "-byte limit of this receiver", blob, p->max_blob);
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
		emu_page_set_spilled(&p->st, idx, FALSE);
	} else {
		int r;

		p->crc = nvfm_crc32c(p->crc, data, p->page_len);
		/* the header's claim bounds every page; say so where it is written */
		if ((guint64)idx * EMU_PAGE_SIZE + p->page_len > p->max_blob)
			FAIL(p, "page %u would stage beyond the %" G_GUINT64_FORMAT "-byte limit",
			     idx, p->max_blob);
		if (p->spill_fd < 0) {
			p->spill_fd = open(p->spill_path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
			if (p->spill_fd < 0)
				FAIL(p, "cannot create %s: %s", p->spill_path,
						  g_strerror(errno));
		}
		r = emu_pwrite_full(p->spill_fd, data, p->page_len, (guint64)idx * EMU_PAGE_SIZE);
		if (r < 0)
			FAIL(p, "writing %s: %s", p->spill_path, g_strerror(-r));
		emu_page_set_spilled(&p->st, idx, TRUE);
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
	if (!p->skip_crc && crc != get32(p->acc + 12))
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
			/* how much follows depends on how the stream was cut: say where */
			parse_fail(p, "data after the end record (byte %" G_GUINT64_FORMAT ")",
				   p->offset);
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
