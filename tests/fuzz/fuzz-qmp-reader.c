/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Fuzz target for the QMP stream reader. Besides not crashing, the reader
 * must not care how the stream was cut: the same bytes fed whole, one byte
 * at a time, and in uneven pieces must give the same messages and the same
 * verdict.
 */
#include <stdint.h>
#include <stdlib.h>

#include "src/lib/qmp/qmp-reader.h"

/* small, so inputs reach the size bound */
#define FUZZ_MAX_MESSAGE 4096

typedef struct {
	guint count;
	guint64 hash;
} Seen;

static void emit(json_t *msg, gpointer data)
{
	Seen *s = data;
	char *text = json_dumps(msg, JSON_COMPACT | JSON_SORT_KEYS);

	s->count++;
	if (text) {
		s->hash = s->hash * 31 + g_str_hash(text);
		free(text);
	}
	json_decref(msg);
}

static gboolean run(const uint8_t *data, size_t size, size_t (*piece)(size_t i, size_t left),
		    Seen *seen)
{
	g_autoptr(NvfmQmpReader) r = nvfm_qmp_reader_new(FUZZ_MAX_MESSAGE);
	g_autoptr(GError) error = NULL;
	size_t off = 0;

	for (size_t i = 0; off < size; i++) {
		size_t n = piece(i, size - off);

		if (!nvfm_qmp_reader_feed(r, (const char *)data + off, n, emit, seen, &error)) {
			g_assert_nonnull(error);
			return FALSE;
		}
		off += n;
	}
	return nvfm_qmp_reader_finish(r, &error);
}

static size_t whole(size_t i, size_t left)
{
	return left;
}

static size_t bytewise(size_t i, size_t left)
{
	return 1;
}

static size_t uneven(size_t i, size_t left)
{
	size_t n = (i * 7) % 13 + 1;

	return n < left ? n : left;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	Seen a = { 0 }, b = { 0 }, c = { 0 };
	gboolean ok_a = run(data, size, whole, &a);
	gboolean ok_c = run(data, size, uneven, &c);

	if (ok_a != ok_c || a.count != c.count || a.hash != c.hash)
		abort();
	if (size <= 65536) {
		gboolean ok_b = run(data, size, bytewise, &b);

		if (ok_a != ok_b || a.count != b.count || a.hash != b.hash)
			abort();
	}
	return 0;
}
