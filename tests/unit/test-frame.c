/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Frames and CRC32C: encoding, and every way a frame can be refused. */
#include <string.h>
#include <sys/socket.h>

#include "src/lib/util/util-private.h"

static void test_crc32c_vectors(void)
{
	/* The check value of CRC-32C and the iSCSI (RFC 3720) vectors. */
	guint8 zeros[32] = { 0 }, ones[32], inc[32];

	memset(ones, 0xff, sizeof(ones));
	for (guint i = 0; i < 32; i++)
		inc[i] = (guint8)i;
	g_assert_cmphex(nvfm_crc32c(0, "123456789", 9), ==, 0xe3069283);
	g_assert_cmphex(nvfm_crc32c(0, zeros, 32), ==, 0x8a9136aa);
	g_assert_cmphex(nvfm_crc32c(0, ones, 32), ==, 0x62a8ab43);
	g_assert_cmphex(nvfm_crc32c(0, inc, 32), ==, 0x46dd794e);
	/* Incremental equals one shot, at every split and alignment. */
	for (guint split = 0; split <= 32; split++) {
		guint32 c = nvfm_crc32c(0, inc, split);

		g_assert_cmphex(nvfm_crc32c(c, inc + split, 32 - split), ==, 0x46dd794e);
	}
}

static void test_header_roundtrip(void)
{
	NvfmFrameHeader h = { .type = NVFM_FRAME_DATA, .version = NVFM_PROTO_VERSION, .length = 4096 };
	NvfmFrameHeader out;
	guint8 raw[NVFM_FRAME_HEADER_SIZE];
	GError *error = NULL;

	nvfm_frame_header_encode(&h, raw);
	g_assert_true(memcmp(raw, "NVFM", 4) == 0);
	g_assert_true(nvfm_frame_header_decode(raw, &out, &error));
	g_assert_no_error(error);
	g_assert_cmpuint(out.type, ==, NVFM_FRAME_DATA);
	g_assert_cmpuint(out.length, ==, 4096);
}

/* Re-encode a header with one field forced, CRC recomputed, and check the
 * decoder names the problem. */
static void check_refused(guint8 *raw, gboolean fix_crc, gint code, const char *needle)
{
	NvfmFrameHeader out;
	GError *error = NULL;

	if (fix_crc) {
		guint32 c = GUINT32_TO_LE(nvfm_crc32c(0, raw, 12));

		memcpy(raw + 12, &c, 4);
	}
	g_assert_false(nvfm_frame_header_decode(raw, &out, &error));
	g_assert_error(error, NVFM_ERROR, code);
	g_assert_nonnull(strstr(error->message, needle));
	g_error_free(error);
}

static void test_header_refusals(void)
{
	NvfmFrameHeader h = { .type = NVFM_FRAME_HELLO, .version = NVFM_PROTO_VERSION, .length = 10 };
	guint8 raw[NVFM_FRAME_HEADER_SIZE];
	guint32 big;

	nvfm_frame_header_encode(&h, raw);
	raw[0] = 'X';
	check_refused(raw, TRUE, NVFM_ERROR_PROTOCOL, "magic");

	nvfm_frame_header_encode(&h, raw);
	raw[9] ^= 0x01; /* a flipped length bit */
	check_refused(raw, FALSE, NVFM_ERROR_INTEGRITY, "checksum");

	nvfm_frame_header_encode(&h, raw);
	raw[4] = 9;
	check_refused(raw, TRUE, NVFM_ERROR_PROTOCOL, "version 9");

	nvfm_frame_header_encode(&h, raw);
	raw[5] = 0;
	check_refused(raw, TRUE, NVFM_ERROR_PROTOCOL, "unknown frame type");
	raw[5] = NVFM_FRAME_TYPE_MAX + 1;
	check_refused(raw, TRUE, NVFM_ERROR_PROTOCOL, "unknown frame type");

	nvfm_frame_header_encode(&h, raw);
	raw[6] = 1;
	check_refused(raw, TRUE, NVFM_ERROR_PROTOCOL, "flags");

	h.type = NVFM_FRAME_DATA;
	nvfm_frame_header_encode(&h, raw);
	big = GUINT32_TO_LE(NVFM_FRAME_MAX_DATA + 1);
	memcpy(raw + 8, &big, 4);
	check_refused(raw, TRUE, NVFM_ERROR_PROTOCOL, "exceeds the limit");

	h.type = NVFM_FRAME_COMPAT;
	nvfm_frame_header_encode(&h, raw);
	big = GUINT32_TO_LE(NVFM_FRAME_MAX_CONTROL + 1);
	memcpy(raw + 8, &big, 4);
	check_refused(raw, TRUE, NVFM_ERROR_PROTOCOL, "exceeds the limit");
}

typedef struct {
	int fds[2];
	NvfmChannel *tx, *rx;
	guint8 *buf;
} Pair;

static void pair_init(Pair *p)
{
	g_assert_cmpint(socketpair(AF_UNIX, SOCK_STREAM, 0, p->fds), ==, 0);
	p->tx = nvfm_channel_new_fd(p->fds[0], TRUE);
	p->rx = nvfm_channel_new_fd(p->fds[1], TRUE);
	nvfm_channel_set_timeout(p->rx, 2000);
	p->buf = g_malloc(NVFM_FRAME_MAX_DATA);
}

static void pair_clear(Pair *p)
{
	nvfm_channel_free(p->tx);
	nvfm_channel_free(p->rx);
	g_free(p->buf);
}

static void test_send_recv(void)
{
	json_auto_t *obj = json_pack("{s:s, s:i}", "reason", "test", "n", 7);
	json_auto_t *back = NULL;
	NvfmFrameHeader h;
	GError *error = NULL;
	Pair p;

	pair_init(&p);
	g_assert_true(nvfm_frame_send(p.tx, NVFM_FRAME_DATA, "abcdef", 6, &error));
	g_assert_true(nvfm_frame_send(p.tx, NVFM_FRAME_PHASE, NULL, 0, &error));
	g_assert_true(nvfm_frame_send_json(p.tx, NVFM_FRAME_ABORT, obj, &error));
	g_assert_no_error(error);

	g_assert_true(nvfm_frame_recv(p.rx, &h, p.buf, &error));
	g_assert_cmpuint(h.type, ==, NVFM_FRAME_DATA);
	g_assert_cmpmem(p.buf, h.length, "abcdef", 6);
	g_assert_true(nvfm_frame_recv(p.rx, &h, p.buf, &error));
	g_assert_cmpuint(h.type, ==, NVFM_FRAME_PHASE);
	g_assert_cmpuint(h.length, ==, 0);
	g_assert_true(nvfm_frame_recv(p.rx, &h, p.buf, &error));
	back = nvfm_frame_parse_json(p.buf, h.length, &error);
	g_assert_no_error(error);
	g_assert_true(json_equal(obj, back));
	pair_clear(&p);
}

static void test_payload_corruption(void)
{
	guint8 raw[NVFM_FRAME_HEADER_SIZE + 8 + 4];
	NvfmFrameHeader h = { .type = NVFM_FRAME_DATA, .version = NVFM_PROTO_VERSION, .length = 8 };
	guint32 crc = GUINT32_TO_LE(nvfm_crc32c(0, "12345678", 8));
	GError *error = NULL;
	Pair p;

	nvfm_frame_header_encode(&h, raw);
	memcpy(raw + 16, "12345678", 8);
	memcpy(raw + 24, &crc, 4);
	raw[20] ^= 0x10;
	pair_init(&p);
	g_assert_cmpint(write(p.fds[0], raw, sizeof(raw)), ==, sizeof(raw));
	g_assert_false(nvfm_frame_recv(p.rx, &h, p.buf, &error));
	g_assert_error(error, NVFM_ERROR, NVFM_ERROR_INTEGRITY);
	g_error_free(error);
	pair_clear(&p);
}

static void test_truncation(void)
{
	GError *error = NULL;
	NvfmFrameHeader h;
	Pair p;

	/* End of stream between frames, inside a header, inside a payload. */
	for (guint cut = 0; cut < 3; cut++) {
		guint8 raw[NVFM_FRAME_HEADER_SIZE + 6 + 4];
		NvfmFrameHeader hh = { .type = NVFM_FRAME_DATA, .version = NVFM_PROTO_VERSION, .length = 6 };
		gsize len = cut == 0 ? 0 : cut == 1 ? 7 : NVFM_FRAME_HEADER_SIZE + 3;

		nvfm_frame_header_encode(&hh, raw);
		memcpy(raw + 16, "abcdef", 6);
		pair_init(&p);
		g_assert_cmpint(write(p.fds[0], raw, len), ==, (gssize)len);
		shutdown(p.fds[0], SHUT_WR);
		g_assert_false(nvfm_frame_recv(p.rx, &h, p.buf, &error));
		g_assert_error(error, NVFM_ERROR, NVFM_ERROR_PROTOCOL);
		g_assert_nonnull(strstr(error->message, "truncated"));
		g_clear_error(&error);
		pair_clear(&p);
	}
}

static void test_timeout(void)
{
	GError *error = NULL;
	NvfmFrameHeader h;
	Pair p;

	pair_init(&p);
	nvfm_channel_set_timeout(p.rx, 50);
	g_assert_false(nvfm_frame_recv(p.rx, &h, p.buf, &error));
	g_assert_error(error, NVFM_ERROR, NVFM_ERROR_TIMEOUT);
	g_error_free(error);
	pair_clear(&p);
}

/*
 * A peer that took nothing for a whole timeout gets no second one: the
 * ABORT written after the failure and the look for the peer's reason
 * fail at once instead of waiting again.
 */
static void test_silent_peer(void)
{
	g_autofree guint8 *junk = g_malloc0(1 << 20);
	GError *error = NULL;
	NvfmChannel *tx;
	gint64 t0;
	int fds[2];
	guint n = 0;

	g_assert_cmpint(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, fds), ==, 0);
	tx = nvfm_channel_new_fd(fds[0], TRUE);
	nvfm_channel_set_timeout(tx, 500);
	/* nobody reads fds[1]: the buffer fills, then the wait runs out */
	while (n++ < 64 && nvfm_channel_write(tx, junk, 1 << 20, &error))
		;
	g_assert_error(error, NVFM_ERROR, NVFM_ERROR_TIMEOUT);
	g_clear_error(&error);
	g_assert_true(nvfm_channel_is_silent(tx));

	t0 = nvfm_now_us();
	g_assert_false(nvfm_frame_send(tx, NVFM_FRAME_ABORT, junk, 4096, &error));
	g_assert_error(error, NVFM_ERROR, NVFM_ERROR_TIMEOUT);
	g_clear_error(&error);
	g_assert_false(nvfm_channel_readable(tx, 2000));
	/* neither waited another timeout (a bound, not a speed) */
	g_assert_cmpint(nvfm_now_us() - t0, <, 500 * 1000);
	nvfm_channel_free(tx);
	close(fds[1]);
}

static void test_bad_json(void)
{
	GError *error = NULL;

	g_assert_null(nvfm_frame_parse_json((const guint8 *)"[1,2]", 5, &error));
	g_assert_error(error, NVFM_ERROR, NVFM_ERROR_PROTOCOL);
	g_clear_error(&error);
	g_assert_null(nvfm_frame_parse_json((const guint8 *)"{\"a\":", 5, &error));
	g_assert_error(error, NVFM_ERROR, NVFM_ERROR_PROTOCOL);
	g_clear_error(&error);
	g_assert_null(nvfm_frame_parse_json((const guint8 *)"{\"a\":1,\"a\":2}", 13, &error));
	g_assert_error(error, NVFM_ERROR, NVFM_ERROR_PROTOCOL);
	g_clear_error(&error);
}

static void test_size_parse(void)
{
	guint64 v;
	GError *error = NULL;

	g_assert_true(nvfm_size_parse("4096", &v, NULL));
	g_assert_cmpuint(v, ==, 4096);
	g_assert_true(nvfm_size_parse("64M", &v, NULL));
	g_assert_cmpuint(v, ==, 64u << 20);
	g_assert_true(nvfm_size_parse("1GiB", &v, NULL));
	g_assert_cmpuint(v, ==, 1u << 30);
	g_assert_true(nvfm_size_parse("2kb", &v, NULL));
	g_assert_cmpuint(v, ==, 2048);
	g_assert_false(nvfm_size_parse("12Q", &v, &error));
	g_assert_error(error, NVFM_ERROR, NVFM_ERROR_INVALID_ARG);
	g_clear_error(&error);
	g_assert_false(nvfm_size_parse("-1", &v, NULL));
	g_assert_false(nvfm_size_parse("", &v, NULL));
	g_assert_false(nvfm_size_parse("99999999999999999999", &v, NULL));
	g_assert_false(nvfm_size_parse("17179869184T", &v, NULL));
}

int main(int argc, char **argv)
{
	g_test_init(&argc, &argv, NULL);
	g_test_add_func("/crc32c/vectors", test_crc32c_vectors);
	g_test_add_func("/frame/header-roundtrip", test_header_roundtrip);
	g_test_add_func("/frame/header-refusals", test_header_refusals);
	g_test_add_func("/frame/send-recv", test_send_recv);
	g_test_add_func("/frame/payload-corruption", test_payload_corruption);
	g_test_add_func("/frame/truncation", test_truncation);
	g_test_add_func("/frame/timeout", test_timeout);
	g_test_add_func("/frame/silent-peer", test_silent_peer);
	g_test_add_func("/frame/bad-json", test_bad_json);
	g_test_add_func("/util/size-parse", test_size_parse);
	return g_test_run();
}
