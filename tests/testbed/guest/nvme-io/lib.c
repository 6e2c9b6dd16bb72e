/* SPDX-License-Identifier: GPL-2.0-or-later */
/* memset/memcpy (gcc may emit calls to them), a COM1 console that costs
 * nothing when no UART is present, CRC-32 and a 64/32-bit division. */
#include "hw.h"

void *memset(void *d, int c, u32 n)
{
	u8 *p = d;
	while (n--)
		*p++ = (u8)c;
	return d;
}

void *memcpy(void *d, const void *s, u32 n)
{
	u8 *p = d;
	const u8 *q = s;
	while (n--)
		*p++ = *q++;
	return d;
}

#define COM1 0x3f8

static void con_putc(char c)
{
	u32 i;
	/* Bounded wait for the transmitter; with no UART the port reads 0xff. */
	for (i = 0; i < 100000 && !(inb(COM1 + 5) & 0x20); i++)
		;
	outb(COM1, (u8)c);
}

void con_puts(const char *s)
{
	while (*s) {
		if (*s == '\n')
			con_putc('\r');
		con_putc(*s++);
	}
}

void con_hex(u32 v)
{
	char b[11];
	int i;
	b[0] = '0';
	b[1] = 'x';
	for (i = 0; i < 8; i++)
		b[2 + i] = "0123456789abcdef"[(v >> (28 - 4 * i)) & 15];
	b[10] = 0;
	con_puts(b);
}

void con_dec(u32 v)
{
	char b[12];
	int i = 11;
	b[i] = 0;
	do {
		b[--i] = (char)('0' + v % 10);
		v /= 10;
	} while (v);
	con_puts(b + i);
}

static u32 crc_table[256];

void crc32_init(void)
{
	u32 i, j, c;
	for (i = 0; i < 256; i++) {
		c = i;
		for (j = 0; j < 8; j++)
			c = (c & 1) ? 0xedb88320u ^ (c >> 1) : c >> 1;
		crc_table[i] = c;
	}
}

u32 crc32(const void *p, u32 n)
{
	const u8 *b = p;
	u32 c = 0xffffffffu;
	while (n--)
		c = crc_table[(c ^ *b++) & 0xff] ^ (c >> 8);
	return ~c;
}

/* n / d without libgcc: two 64/32 divl steps (the remainder of the first is
 * below d, so the second cannot overflow). */
u64 udiv64(u64 n, u32 d)
{
	u32 hi = (u32)(n >> 32), lo = (u32)n, qhi, qlo, r;
	qhi = hi / d;
	r = hi % d;
	__asm__("divl %4" : "=a"(qlo), "=d"(r) : "a"(lo), "d"(r), "rm"(d));
	return ((u64)qhi << 32) | qlo;
}
