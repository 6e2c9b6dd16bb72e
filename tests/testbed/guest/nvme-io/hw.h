/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Freestanding basics for the nested NVMe I/O guest (32-bit, no libc). */
#ifndef NVIO_HW_H
#define NVIO_HW_H

typedef unsigned char u8;
typedef unsigned short u16;
typedef unsigned int u32;
typedef unsigned long long u64;
typedef int s32;

#define NULL ((void *)0)
#define barrier() __asm__ __volatile__("" ::: "memory")

static inline void outb(u16 port, u8 v) { __asm__ __volatile__("outb %0, %1" :: "a"(v), "Nd"(port)); }
static inline u8 inb(u16 port) { u8 v; __asm__ __volatile__("inb %1, %0" : "=a"(v) : "Nd"(port)); return v; }
static inline void outl(u16 port, u32 v) { __asm__ __volatile__("outl %0, %1" :: "a"(v), "Nd"(port)); }
static inline u32 inl(u16 port) { u32 v; __asm__ __volatile__("inl %1, %0" : "=a"(v) : "Nd"(port)); return v; }

static inline u64 rdtsc(void)
{
	u32 lo, hi;
	__asm__ __volatile__("rdtsc" : "=a"(lo), "=d"(hi));
	return ((u64)hi << 32) | lo;
}

static inline void pause(void) { __asm__ __volatile__("pause" ::: "memory"); }

static inline u32 mmio_r32(u32 addr) { return *(volatile u32 *)addr; }
static inline void mmio_w32(u32 addr, u32 v) { *(volatile u32 *)addr = v; }

/* lib.c */
void *memset(void *d, int c, u32 n);
void *memcpy(void *d, const void *s, u32 n);
void con_puts(const char *s);
void con_hex(u32 v);
void con_dec(u32 v);
void crc32_init(void);
u32 crc32(const void *p, u32 n);
u64 udiv64(u64 n, u32 d);

/* pci.c */
u32 pci_read32(u32 bdf, u32 off);
void pci_write32(u32 bdf, u32 off, u32 v);
u16 pci_read16(u32 bdf, u32 off);
void pci_write16(u32 bdf, u32 off, u16 v);
/* Finds the k-th (from 0, in bus/device/function order) device of class
 * 01:08:02; returns 0 on success. */
int pci_find_nvme(u32 k, u32 *bdf);
/* Makes BAR0 of bdf a usable 32-bit address, enables memory decoding and
 * bus mastering. Returns the BAR's address, or 0 (detail in *why). */
u32 pci_setup_bar0(u32 bdf, u32 *why, int force_reassign);

#define BDF(b, d, f) (((b) << 8) | ((d) << 3) | (f))

#endif
