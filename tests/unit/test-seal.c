/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Sealed records (seal.c): the exact bytes of a record against a vector
 * made outside this code (Python's cryptography, RFC 8446's record
 * layout), round trips in every read size, and each way a record can be
 * wrong: altered, reordered, replayed, from the other direction or
 * another session, cut, or not a sealed stream at all.
 */
#include <string.h>

#include "nvfm/error.h"
#include "src/lib/stream/seal.h"

static const guint8 *secret(guint8 first)
{
	static guint8 s[32];

	for (guint i = 0; i < sizeof(s); i++)
		s[i] = (guint8)(first + i);
	return s;
}

static NvfmSeal *end(gboolean server, guint8 first)
{
	g_autoptr(GError) error = NULL;
	NvfmSeal *s = nvfm_seal_new(secret(first), 32, server, &error);

	g_assert_no_error(error);
	g_assert_nonnull(s);
	return s;
}

/* @len sealed bytes into the receiving end, as the channel would. */
static void feed(NvfmSeal *rx, const guint8 *p, gsize len)
{
	while (len) {
		gsize room;
		guint8 *space = nvfm_seal_recv_space(rx, &room);
		gsize n = MIN(room, len);

		g_assert_cmpuint(room, >, 0);
		memcpy(space, p, n);
		nvfm_seal_received(rx, n);
		p += n;
		len -= n;
	}
}

static GByteArray *seal(NvfmSeal *tx, const guint8 *p, gsize len)
{
	g_autoptr(GError) error = NULL;
	GByteArray *out = g_byte_array_sized_new((guint)nvfm_seal_size(len));
	gsize n;

	g_byte_array_set_size(out, (guint)nvfm_seal_size(len));
	n = nvfm_seal_records(tx, p, len, out->data, &error);
	g_assert_no_error(error);
	g_assert_cmpuint(n, ==, nvfm_seal_size(len));
	return out;
}

/* Everything opened, in reads of @step bytes; -1 and @error on failure. */
static gssize drain(NvfmSeal *rx, guint8 *buf, gsize cap, gsize step, GError **error)
{
	gsize done = 0;

	for (;;) {
		gsize got = 0, need = 0;
		int r = nvfm_seal_take(rx, buf + done, MIN(step, cap - done), &got, &need, error);

		if (r < 0)
			return -1;
		if (r == 0)
			return (gssize)done;
		done += got;
	}
}

static char *hex(const GByteArray *b)
{
	GString *s = g_string_new(NULL);

	for (guint i = 0; i < b->len; i++)
		g_string_append_printf(s, "%02x", b->data[i]);
	return g_string_free(s, FALSE);
}

static void test_vector(void)
{
	static const char want0[] = "170303002402c4371ae0b6914f6830ee7f51f89b4849001d262f7f89af"
				    "8634de038437cd7c8f3e2509";
	static const char want1[] = "17030300175d14a3212935994390b92f1691f53bf7b8e7b561d32e04";
	g_autoptr(NvfmSeal) client = end(FALSE, 0);
	g_autoptr(GByteArray) r0 = seal(client, (const guint8 *)"hello, sealed world", 19);
	g_autoptr(GByteArray) r1 = seal(client, (const guint8 *)"second", 6);
	g_autofree char *h0 = hex(r0);
	g_autofree char *h1 = hex(r1);

	g_assert_cmpstr(h0, ==, want0);
	g_assert_cmpstr(h1, ==, want1);
}

static void round_trip(gsize len, gsize step)
{
	g_autoptr(NvfmSeal) client = end(FALSE, 7);
	g_autoptr(NvfmSeal) server = end(TRUE, 7);
	g_autofree guint8 *data = g_malloc(len);
	g_autofree guint8 *back = g_malloc0(len + 1);
	g_autoptr(GByteArray) rec = NULL;
	g_autoptr(GError) error = NULL;

	for (gsize i = 0; i < len; i++)
		data[i] = (guint8)(i * 131 + 7);
	rec = seal(client, data, len);
	feed(server, (const guint8 *)NVFM_SEAL_PREAMBLE, NVFM_SEAL_PREAMBLE_SIZE);
	feed(server, rec->data, rec->len);
	g_assert_cmpint(drain(server, back, len + 1, step, &error), ==, (gssize)len);
	g_assert_no_error(error);
	g_assert_cmpmem(back, len, data, len);
	g_assert_false(nvfm_seal_has_pending(server));
}

static void test_round_trip(void)
{
	static const gsize lens[] = { 1, 100, 16384, 16385, (1u << 20) + 3 };
	static const gsize steps[] = { 1, 7, 16384, 1u << 21 };

	for (guint i = 0; i < G_N_ELEMENTS(lens); i++)
		for (guint j = 0; j < G_N_ELEMENTS(steps); j++)
			if (lens[i] / steps[j] < 200000)
				round_trip(lens[i], steps[j]);
}

/* Bytes that arrive a few at a time: nothing opens before it is whole. */
static void test_partial(void)
{
	g_autoptr(NvfmSeal) client = end(FALSE, 1);
	g_autoptr(NvfmSeal) server = end(TRUE, 1);
	g_autoptr(GByteArray) rec = seal(client, (const guint8 *)"abcdef", 6);
	guint8 buf[16];
	gsize got, need;

	feed(server, (const guint8 *)NVFM_SEAL_PREAMBLE, 3);
	g_assert_cmpint(nvfm_seal_take(server, buf, sizeof(buf), &got, &need, NULL), ==, 0);
	g_assert_cmpuint(need, ==, 5);
	feed(server, (const guint8 *)NVFM_SEAL_PREAMBLE + 3, 5);
	feed(server, rec->data, 2);
	g_assert_cmpint(nvfm_seal_take(server, buf, sizeof(buf), &got, &need, NULL), ==, 0);
	g_assert_cmpuint(need, ==, 3);
	feed(server, rec->data + 2, rec->len - 3);
	g_assert_cmpint(nvfm_seal_take(server, buf, sizeof(buf), &got, &need, NULL), ==, 0);
	g_assert_cmpuint(need, ==, 1);
	/* a part of a record is nothing to read yet */
	g_assert_false(nvfm_seal_ready(server));
	g_assert_true(nvfm_seal_has_pending(server));
	feed(server, rec->data + rec->len - 1, 1);
	g_assert_true(nvfm_seal_ready(server));
	g_assert_cmpint(nvfm_seal_take(server, buf, sizeof(buf), &got, &need, NULL), ==, 1);
	g_assert_cmpmem(buf, got, "abcdef", 6);
}

/* TLS records before the preamble (session tickets) are passed over. */
static void test_preamble(void)
{
	static const guint8 ticket[] = { 0x17, 0x03, 0x03, 0x00, 0x04, 1, 2, 3, 4 };
	g_autoptr(NvfmSeal) client = end(FALSE, 1);
	g_autoptr(NvfmSeal) server = end(TRUE, 1);
	g_autoptr(NvfmSeal) other = end(TRUE, 1);
	g_autoptr(GByteArray) rec = seal(client, (const guint8 *)"x", 1);
	g_autoptr(GError) error = NULL;
	guint8 buf[8];

	feed(server, ticket, sizeof(ticket));
	feed(server, ticket, sizeof(ticket));
	feed(server, (const guint8 *)NVFM_SEAL_PREAMBLE, NVFM_SEAL_PREAMBLE_SIZE);
	feed(server, rec->data, rec->len);
	g_assert_cmpint(drain(server, buf, sizeof(buf), 8, &error), ==, 1);
	g_assert_no_error(error);

	/* no preamble: not a sealed stream */
	feed(other, (const guint8 *)"HELLO...", 8);
	g_assert_cmpint(drain(other, buf, sizeof(buf), 8, &error), ==, -1);
	g_assert_error(error, NVFM_ERROR, NVFM_ERROR_PROTOCOL);
}

typedef enum { FLIP_BODY, FLIP_TAG, FLIP_LENGTH, FLIP_TYPE, SWAP, REPLAY, OWN_DIRECTION,
	       OTHER_SESSION } Harm;

static void harmed(Harm harm, GQuark domain, int code)
{
	g_autoptr(NvfmSeal) client = end(FALSE, 3);
	g_autoptr(NvfmSeal) server = end(harm != OWN_DIRECTION, harm == OTHER_SESSION ? 4 : 3);
	g_autoptr(GByteArray) a = seal(client, (const guint8 *)"first record", 12);
	g_autoptr(GByteArray) b = seal(client, (const guint8 *)"second record", 13);
	g_autoptr(GError) error = NULL;
	guint8 buf[64];

	feed(server, (const guint8 *)NVFM_SEAL_PREAMBLE, NVFM_SEAL_PREAMBLE_SIZE);
	switch (harm) {
	case FLIP_BODY:
		a->data[7] ^= 1;
		break;
	case FLIP_TAG:
		a->data[a->len - 1] ^= 0x80;
		break;
	case FLIP_LENGTH:
		a->data[4] += 1;	/* one byte longer: b's first byte taken */
		break;
	case FLIP_TYPE:
		a->data[0] = 0x16;
		break;
	default:
		break;
	}
	if (harm == SWAP) {
		feed(server, b->data, b->len);
		feed(server, a->data, a->len);
	} else if (harm == REPLAY) {
		feed(server, a->data, a->len);
		feed(server, a->data, a->len);
	} else {
		feed(server, a->data, a->len);
		feed(server, b->data, b->len);
	}
	g_assert_cmpint(drain(server, buf, sizeof(buf), sizeof(buf), &error), ==, -1);
	g_assert_error(error, domain, code);
}

static void test_harm(void)
{
	harmed(FLIP_BODY, NVFM_ERROR, NVFM_ERROR_INTEGRITY);
	harmed(FLIP_TAG, NVFM_ERROR, NVFM_ERROR_INTEGRITY);
	harmed(FLIP_LENGTH, NVFM_ERROR, NVFM_ERROR_INTEGRITY);
	harmed(FLIP_TYPE, NVFM_ERROR, NVFM_ERROR_PROTOCOL);
	harmed(SWAP, NVFM_ERROR, NVFM_ERROR_INTEGRITY);
	harmed(REPLAY, NVFM_ERROR, NVFM_ERROR_INTEGRITY);
	harmed(OWN_DIRECTION, NVFM_ERROR, NVFM_ERROR_INTEGRITY);
	harmed(OTHER_SESSION, NVFM_ERROR, NVFM_ERROR_INTEGRITY);
}

/* A header announcing more than a record holds is refused before any
 * byte of it is waited for. */
static void test_oversize(void)
{
	static const guint8 big[] = { 0x17, 0x03, 0x03, 0x40, 0x17 };
	g_autoptr(NvfmSeal) server = end(TRUE, 1);
	g_autoptr(GError) error = NULL;
	guint8 buf[8];

	feed(server, (const guint8 *)NVFM_SEAL_PREAMBLE, NVFM_SEAL_PREAMBLE_SIZE);
	feed(server, big, sizeof(big));
	g_assert_cmpint(drain(server, buf, sizeof(buf), 8, &error), ==, -1);
	g_assert_error(error, NVFM_ERROR, NVFM_ERROR_PROTOCOL);
}

static void test_short_secret(void)
{
	g_autoptr(GError) error = NULL;

	g_assert_null(nvfm_seal_new(secret(0), 16, FALSE, &error));
	g_assert_error(error, NVFM_ERROR, NVFM_ERROR_AUTH);
}

int main(int argc, char **argv)
{
	g_test_init(&argc, &argv, NULL);
	g_test_add_func("/seal/vector", test_vector);
	g_test_add_func("/seal/round-trip", test_round_trip);
	g_test_add_func("/seal/partial", test_partial);
	g_test_add_func("/seal/preamble", test_preamble);
	g_test_add_func("/seal/harm", test_harm);
	g_test_add_func("/seal/oversize", test_oversize);
	g_test_add_func("/seal/short-secret", test_short_secret);
	return g_test_run();
}
