/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Fuzz target for the sealed-record reader (seal.c), the parser of every
 * byte a TLS peer sends once the channel seals. The first byte chooses:
 *   bit 7 clear: the rest is what the peer sent, fed to the reader in
 *                pieces of (bits 0-6) + 1 bytes and read back in pieces of
 *                the same size; it must open or fail, never overrun;
 *   bit 7 set:   the rest is data, sealed by the other end and fed in
 *                such pieces: it must come back exactly, or we abort.
 * Both ends key from the same fixed secret, so seeds can hold records
 * that open.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "src/lib/stream/seal.h"

#define FUZZ_MAX_INPUT (1u << 20)

static NvfmSeal *end(gboolean server)
{
	guint8 secret[32];

	for (guint i = 0; i < sizeof(secret); i++)
		secret[i] = (guint8)i;
	return nvfm_seal_new(secret, sizeof(secret), server, NULL);
}

static void feed(NvfmSeal *rx, const guint8 *p, gsize len)
{
	while (len) {
		gsize room, n;
		guint8 *space = nvfm_seal_recv_space(rx, &room);

		if (room == 0)
			abort();
		n = MIN(room, len);
		memcpy(space, p, n);
		nvfm_seal_received(rx, n);
		p += n;
		len -= n;
	}
}

/* Reads what opens, in pieces of @step; the bytes read, or -1. */
static gssize take_all(NvfmSeal *rx, guint8 *out, gsize cap, gsize step)
{
	gsize done = 0;

	for (;;) {
		gsize got = 0, need = 0;
		GError *error = NULL;
		int r = nvfm_seal_take(rx, out + done, MIN(step, cap - done), &got, &need, &error);

		if (r < 0) {
			if (!error)
				abort();
			g_error_free(error);
			return -1;
		}
		if (r == 0)
			return (gssize)done;
		if (got == 0 || got > step)
			abort();
		done += got;
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	g_autoptr(NvfmSeal) rx = NULL;
	g_autofree guint8 *out = NULL;
	gsize step, fed = 0;
	gssize total = 0;

	if (size < 1 || size > FUZZ_MAX_INPUT)
		return 0;
	step = (data[0] & 0x7f) + 1u;
	rx = end(TRUE);
	data++;
	size--;
	if (!(data[-1] & 0x80)) {
		out = g_malloc(size + 1);
		while (fed < size && total >= 0) {
			gsize n = MIN(step, size - fed);
			gssize r;

			feed(rx, data + fed, n);
			fed += n;
			r = take_all(rx, out + total, size + 1 - (gsize)total, step);
			total = r < 0 ? -1 : total + r;
			/* opened bytes never outnumber the bytes sealed */
			if (total > (gssize)fed)
				abort();
		}
		return 0;
	}
	if (size == 0)
		return 0;
	{
		g_autoptr(NvfmSeal) tx = end(FALSE);
		g_autofree guint8 *sealed = g_malloc(nvfm_seal_size(size));
		gsize n = nvfm_seal_records(tx, data, size, sealed, NULL);

		if (n != nvfm_seal_size(size))
			abort();
		out = g_malloc(size + 1);
		feed(rx, (const guint8 *)NVFM_SEAL_PREAMBLE, NVFM_SEAL_PREAMBLE_SIZE);
		while (fed < n) {
			gsize k = MIN(step * 97, n - fed);
			gssize r;

			feed(rx, sealed + fed, k);
			fed += k;
			r = take_all(rx, out + total, size + 1 - (gsize)total, step);
			if (r < 0)
				abort();
			total += r;
		}
		if ((gsize)total != size || memcmp(out, data, size) != 0)
			abort();
	}
	return 0;
}
