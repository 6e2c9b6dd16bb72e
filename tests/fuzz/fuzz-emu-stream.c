/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Fuzz target for the emulated VF's state stream parser: the bytes an
 * emu: VF accepts on its data_fd in RESUMING (emu-stream.c), which come
 * from a peer. Besides not crashing:
 *  - the parser must not care how the stream was cut: fed whole and in
 *    uneven pieces it gives the same verdict, the same error and the
 *    same state;
 *  - a state it accepts, encoded again canonically (header, CTRL, every
 *    page, END), parses to the same state, and its digest is the
 *    SHA-256 of that image.
 *
 * The generator's seed (header bytes 24..31) only keys the page
 * generator, whose per-seed pool costs a few hundred microseconds to
 * build: seeds other than the four kept here are folded onto them, so
 * runs measure the parser, not the pool.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <glib/gstdio.h>

#include "src/lib/emu/emu-private.h"

/* the largest state a parser here takes, as an agent's --max-emu-state */
#define FUZZ_MAX_BLOB (64ull << 20)

/* covers blobs of a few pages and long runs of small records */
#define FUZZ_MAX_INPUT (1u << 20)

static const guint64 seeds[] = { 1, 2, 0x5eed, G_MAXUINT64 };
static EmuPool *pools[G_N_ELEMENTS(seeds)];
static char *spill_dir;

static void cleanup(void)
{
	g_rmdir(spill_dir);
}

static void setup(void)
{
	g_autoptr(GError) error = NULL;

	if (spill_dir)
		return;
	for (guint i = 0; i < G_N_ELEMENTS(seeds); i++)
		pools[i] = emu_pool_ref(seeds[i]);
	spill_dir = g_dir_make_tmp("nvfm-fuzz-emu.XXXXXX", &error);
	if (!spill_dir)
		g_error("%s", error->message);
	atexit(cleanup);
}

typedef struct {
	gboolean ok;
	char *error;
	EmuState st;
} Verdict;

static void verdict_clear(Verdict *v, const char *spill)
{
	g_free(v->error);
	emu_state_clear(&v->st);
	g_unlink(spill);
}

static size_t uneven(size_t i, size_t left)
{
	size_t n = (i * 7919) % 4099 + 1;

	return n < left ? n : left;
}

static void parse(const guint8 *data, size_t size, gboolean pieces, const char *spill,
		  Verdict *v)
{
	EmuParser *p = emu_parser_new(spill, FUZZ_MAX_BLOB);
	GError *error = NULL;
	size_t off = 0;

	memset(v, 0, sizeof(*v));
	v->st.spill_fd = -1;
	for (size_t i = 0; off < size; i++) {
		size_t n = pieces ? uneven(i, size - off) : size - off;

		emu_parser_feed(p, data + off, n);
		off += n;
	}
	v->ok = emu_parser_finish(p, &v->st, &error);
	if (!v->ok) {
		/* one line that says why */
		if (!error || !error->message[0] || strchr(error->message, '\n'))
			abort();
		v->error = g_strdup(error->message);
		g_error_free(error);
	}
	emu_parser_free(p);
}

static void same_state(const EmuState *a, const EmuState *b)
{
	guint8 ca[EMU_CTRL_MAX_PAYLOAD + EMU_REC_HEADER_SIZE];
	guint8 cb[EMU_CTRL_MAX_PAYLOAD + EMU_REC_HEADER_SIZE];
	gsize na, nb;

	if (a->blob_size != b->blob_size || a->seed != b->seed ||
	    a->n_io_queues != b->n_io_queues || a->n_pages != b->n_pages ||
	    memcmp(a->ver, b->ver, sizeof(guint32) * a->n_pages) != 0)
		abort();
	na = emu_encode_ctrl(&a->ctrl, ca);
	nb = emu_encode_ctrl(&b->ctrl, cb);
	if (na != nb || memcmp(ca, cb, na) != 0)
		abort();
	/* a page is spilled when its bytes are not the generator's */
	if (a->n_spilled != b->n_spilled)
		abort();
	for (guint32 i = 0; i < a->n_pages; i++)
		if (emu_page_spilled(a, i) != emu_page_spilled(b, i))
			abort();
}

/* The canonical image of @st, as a STOP_COPY save from STOP gives it. */
static GByteArray *encode(const EmuState *st)
{
	GByteArray *img = g_byte_array_new();
	g_autofree guint8 *buf = g_malloc(EMU_PAGE_SIZE + EMU_CTRL_MAX_PAYLOAD + 64);
	guint32 crc;
	gsize n;

	n = emu_encode_header(st, buf);
	n += emu_encode_ctrl(&st->ctrl, buf + n);
	g_byte_array_append(img, buf, (guint)n);
	for (guint32 i = 0; i < st->n_pages; i++) {
		gsize len = emu_page_len(st, i);
		gsize h = emu_encode_page_header(i, st->ver[i], (guint32)len, buf);

		if (emu_page_read(st, i, st->ver[i], emu_page_spilled(st, i), buf + h) < 0)
			abort();
		g_byte_array_append(img, buf, (guint)(h + len));
	}
	crc = nvfm_crc32c(0, img->data, img->len);
	n = emu_encode_end(img->len, 1 + st->n_pages, &crc, buf);
	g_byte_array_append(img, buf, (guint)n);
	return img;
}

static void check_roundtrip(const EmuState *st, const char *spill)
{
	g_autoptr(GByteArray) img = encode(st);
	g_autoptr(NvfmSha256) sum = nvfm_sha256_new();
	g_autofree char *hex = NULL;
	char want[65];
	guint8 digest[32];
	guint64 size = 0;
	Verdict again;

	if (img->len != emu_image_size(st))
		abort();
	parse(img->data, img->len, FALSE, spill, &again);
	if (!again.ok)
		abort();
	same_state(st, &again.st);
	verdict_clear(&again, spill);

	if (!emu_image_digest(st, &hex, &size, NULL) || size != img->len)
		abort();
	nvfm_sha256_update(sum, img->data, img->len);
	nvfm_sha256_finish(sum, digest);
	nvfm_sha256_hex(digest, want);
	if (strcmp(hex, want) != 0)
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	g_autofree char *spill_a = NULL, *spill_b = NULL, *spill_c = NULL;
	g_autofree guint8 *in = NULL;
	Verdict whole, cut;

	if (size > FUZZ_MAX_INPUT)
		return 0;
	setup();
	in = g_memdup2(data, size);
	if (size >= 32) {
		guint64 seed;
		gboolean kept = FALSE;

		memcpy(&seed, in + 24, 8);
		seed = GUINT64_FROM_LE(seed);
		for (guint i = 0; i < G_N_ELEMENTS(seeds); i++)
			kept |= seed == seeds[i];
		if (!kept) {
			seed = GUINT64_TO_LE(seeds[seed % G_N_ELEMENTS(seeds)]);
			memcpy(in + 24, &seed, 8);
		}
	}
	spill_a = g_build_filename(spill_dir, "whole", NULL);
	spill_b = g_build_filename(spill_dir, "cut", NULL);
	spill_c = g_build_filename(spill_dir, "again", NULL);

	parse(in, size, FALSE, spill_a, &whole);
	parse(in, size, TRUE, spill_b, &cut);
	if (whole.ok != cut.ok || g_strcmp0(whole.error, cut.error) != 0)
		abort();
	if (whole.ok) {
		same_state(&whole.st, &cut.st);
		check_roundtrip(&whole.st, spill_c);
	}
	verdict_clear(&whole, spill_a);
	verdict_clear(&cut, spill_b);
	return 0;
}
