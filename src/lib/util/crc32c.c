/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * CRC32C (Castagnoli, reflected polynomial 0x82F63B78), the checksum of
 * every frame. Uses the SSE4.2 crc32 instruction when the CPU has it (the
 * data path runs at memory speed), else a slicing-by-8 table.
 */
#define G_LOG_DOMAIN "nvfm-crc"

#include <string.h>

#include "util-private.h"

#define CRC32C_POLY 0x82f63b78u

static guint32 table[8][256];

static gpointer build_table(gpointer unused)
{
	for (guint i = 0; i < 256; i++) {
		guint32 c = i;

		for (int k = 0; k < 8; k++)
			c = (c >> 1) ^ (CRC32C_POLY & (0u - (c & 1)));
		table[0][i] = c;
	}
	for (guint i = 0; i < 256; i++) {
		for (guint t = 1; t < 8; t++)
			table[t][i] = (table[t - 1][i] >> 8) ^ table[0][table[t - 1][i] & 0xff];
	}
	return NULL;
}

static guint32 crc32c_sw(guint32 crc, const guint8 *p, gsize len)
{
	static GOnce once = G_ONCE_INIT;

	g_once(&once, build_table, NULL);
	while (len >= 8) {
		guint64 w;

		memcpy(&w, p, 8);
		w = GUINT64_FROM_LE(w) ^ crc;
		crc = table[7][w & 0xff] ^ table[6][(w >> 8) & 0xff] ^
		      table[5][(w >> 16) & 0xff] ^ table[4][(w >> 24) & 0xff] ^
		      table[3][(w >> 32) & 0xff] ^ table[2][(w >> 40) & 0xff] ^
		      table[1][(w >> 48) & 0xff] ^ table[0][w >> 56];
		p += 8;
		len -= 8;
	}
	while (len--)
		crc = (crc >> 8) ^ table[0][(crc ^ *p++) & 0xff];
	return crc;
}

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#define HAVE_HW_CRC 1
__attribute__((target("sse4.2")))
static guint32 crc32c_hw(guint32 crc, const guint8 *p, gsize len)
{
	guint64 c = crc;

	while (len >= 8) {
		guint64 w;

		memcpy(&w, p, 8);
		c = __builtin_ia32_crc32di(c, w);
		p += 8;
		len -= 8;
	}
	crc = (guint32)c;
	while (len--)
		crc = __builtin_ia32_crc32qi(crc, *p++);
	return crc;
}
#endif

guint32 nvfm_crc32c(guint32 crc, const void *buf, gsize len)
{
	crc = ~crc;
#ifdef HAVE_HW_CRC
	static int hw = -1;

	if (hw < 0) {
		__builtin_cpu_init();
		hw = __builtin_cpu_supports("sse4.2") && !g_getenv("NVFM_CRC_SOFTWARE");
	}
	if (hw)
		return ~crc32c_hw(crc, buf, len);
#endif
	return ~crc32c_sw(crc, buf, len);
}
