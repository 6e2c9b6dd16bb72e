/* SPDX-License-Identifier: GPL-2.0-or-later */
/* PCI configuration through ports 0xCF8/0xCFC: find the NVMe controllers,
 * make each one's BAR0 usable below 4 GiB, enable memory decoding and DMA.
 * A BAR0 placed here is programmed before the next controller is placed,
 * and every programmed BAR counts as used, so two never overlap. */
#include "hw.h"

#define PCI_ADDR 0xcf8
#define PCI_DATA 0xcfc

static u32 cfg_addr(u32 bdf, u32 off) { return 0x80000000u | (bdf << 8) | (off & 0xfc); }

u32 pci_read32(u32 bdf, u32 off)
{
	outl(PCI_ADDR, cfg_addr(bdf, off));
	return inl(PCI_DATA);
}

void pci_write32(u32 bdf, u32 off, u32 v)
{
	outl(PCI_ADDR, cfg_addr(bdf, off));
	outl(PCI_DATA, v);
}

u16 pci_read16(u32 bdf, u32 off)
{
	return (u16)(pci_read32(bdf, off) >> ((off & 2) * 8));
}

void pci_write16(u32 bdf, u32 off, u16 v)
{
	u32 sh = (off & 2) * 8, w = pci_read32(bdf, off);
	w = (w & ~(0xffffu << sh)) | ((u32)v << sh);
	pci_write32(bdf, off, w);
}

/* Calls fn for every present function on buses 0..255. */
static void pci_each(void (*fn)(u32 bdf, void *ctx), void *ctx)
{
	u32 bus, dev, fn_, nfn;
	for (bus = 0; bus < 256; bus++) {
		for (dev = 0; dev < 32; dev++) {
			if ((pci_read32(BDF(bus, dev, 0), 0) & 0xffff) == 0xffff)
				continue;
			nfn = (pci_read32(BDF(bus, dev, 0), 0x0c) & 0x00800000) ? 8 : 1;
			for (fn_ = 0; fn_ < nfn; fn_++) {
				u32 bdf = BDF(bus, dev, fn_);
				if ((pci_read32(bdf, 0) & 0xffff) == 0xffff)
					continue;
				fn(bdf, ctx);
			}
		}
	}
}

struct find_ctx { u32 skip; int found; u32 bdf; };

static void find_one(u32 bdf, void *p)
{
	struct find_ctx *c = p;
	if (c->found || (pci_read32(bdf, 0x08) >> 8) != 0x010802)
		return;
	if (c->skip) {
		c->skip--;
		return;
	}
	c->found = 1;
	c->bdf = bdf;
}

int pci_find_nvme(u32 k, u32 *bdf)
{
	struct find_ctx c = { k, 0, 0 };
	pci_each(find_one, &c);
	*bdf = c.bdf;
	return c.found ? 0 : -1;
}

/* The 32-bit memory in use: every memory BAR (but the one being placed) and
 * every bridge window (but those of the bridges above that device). */
#define HOLE_LO 0xc0000000u	/* above q35's MMCONFIG (0xb0000000-0xbfffffff) */
#define HOLE_HI 0xfec00000u	/* IOAPIC, HPET, LAPIC, firmware above */
#define MAX_RANGES 128
#define MAX_DEPTH 8

struct used_ctx {
	u32 skip, nanc, anc[MAX_DEPTH];
	u32 n, base[MAX_RANGES], end[MAX_RANGES];	/* [base, end), end 0 = 4 GiB */
};

static void note_range(struct used_ctx *c, u32 base, u32 end)
{
	if (c->n < MAX_RANGES && base) {
		c->base[c->n] = base;
		c->end[c->n] = end;
		c->n++;
	}
}

static void window(u32 bdf, u32 *base, u32 *lim)
{
	u32 w = pci_read32(bdf, 0x20);
	*base = (w & 0xfff0) << 16;
	*lim = (w & 0xfff00000u) | 0xfffff;
}

static void used_one(u32 bdf, void *p)
{
	struct used_ctx *c = p;
	u32 hdr = (pci_read32(bdf, 0x0c) >> 16) & 0x7f, nbar = hdr == 0 ? 6 : hdr == 1 ? 2 : 0, i;
	for (i = 0; i < nbar; i++) {
		u32 off = 0x10 + 4 * i, v = pci_read32(bdf, off), hi = 0, sz, cmd;
		if (v & 1)
			continue;
		if (((v >> 1) & 3) == 2)
			hi = pci_read32(bdf, off + 4);
		if (!(bdf == c->skip && i == 0) && !hi && (v & ~0xfu)) {
			/* size it with decoding off, then restore */
			cmd = pci_read16(bdf, 0x04);
			pci_write16(bdf, 0x04, (u16)(cmd & ~2u));
			pci_write32(bdf, off, 0xffffffffu);
			sz = ~(pci_read32(bdf, off) & ~0xfu) + 1;
			pci_write32(bdf, off, v);
			pci_write16(bdf, 0x04, (u16)cmd);
			note_range(c, v & ~0xfu, (v & ~0xfu) + sz);
		}
		if (((v >> 1) & 3) == 2)
			i++;
	}
	if (hdr == 1) {
		u32 base, lim, w;
		for (i = 0; i < c->nanc; i++)
			if (c->anc[i] == bdf)
				return;
		window(bdf, &base, &lim);
		if (base <= lim)
			note_range(c, base, lim + 1);
		w = pci_read32(bdf, 0x24);
		base = (w & 0xfff0) << 16;
		lim = (w & 0xfff00000u) | 0xfffff;
		if (base <= lim && !pci_read32(bdf, 0x28) && !pci_read32(bdf, 0x2c))
			note_range(c, base, lim + 1);
	}
}

/* whether [b, e) (e > b, e 0 = 4 GiB) meets no used range */
static int is_free(const struct used_ctx *c, u32 b, u32 e)
{
	u32 i;
	for (i = 0; i < c->n; i++)
		if ((c->end[i] == 0 || b < c->end[i]) && (e == 0 || c->base[i] < e))
			return 0;
	return 1;
}

struct bridge_ctx { u32 secondary; int found; u32 bdf; };

static void bridge_one(u32 bdf, void *p)
{
	struct bridge_ctx *c = p;
	if (!c->found && ((pci_read32(bdf, 0x0c) >> 16) & 0x7f) == 1 &&
	    ((pci_read32(bdf, 0x18) >> 8) & 0xff) == c->secondary) {
		c->found = 1;
		c->bdf = bdf;
	}
}

/* The window each bridge above the device needs for [b, e): the slot alone
 * when its window is closed or holds nothing else, else the hull with what
 * it has, if the part added is free. Returns 0 and the windows if all fit. */
static int windows_for(const struct used_ctx *c, u32 b, u32 e, u32 *nb, u32 *nl)
{
	u32 i, mb, ml;
	for (i = 0; i < c->nanc; i++) {
		window(c->anc[i], &mb, &ml);
		if (mb > ml || (i == 0 && is_free(c, mb, ml + 1))) {
			nb[i] = b;
			nl[i] = e - 1;
		} else {
			nb[i] = mb < b ? mb : b;
			nl[i] = ml > e - 1 ? ml : e - 1;
			if (nb[i] < mb && !is_free(c, nb[i], mb))
				return -1;
			if (nl[i] > ml && !is_free(c, ml + 1, nl[i] + 1))
				return -1;
		}
		/* the next bridge up must hold this one's window */
		b = nb[i];
		e = nl[i] + 1;
	}
	return 0;
}

u32 pci_setup_bar0(u32 bdf, u32 *why, int force_reassign)
{
	u32 lo = pci_read32(bdf, 0x10), hi = 0, cmd, addr, sz, align;
	int is64 = ((lo >> 1) & 3) == 2;

	*why = 0;
	if (lo & 1) {
		*why = 1;	/* an I/O BAR: not an NVMe controller we know */
		return 0;
	}
	if (is64)
		hi = pci_read32(bdf, 0x14);
	addr = lo & ~0xfu;
	cmd = pci_read16(bdf, 0x04);
	if (force_reassign || hi || !addr) {
		static struct used_ctx u;
		u32 bus = bdf >> 8, nb[MAX_DEPTH], nl[MAX_DEPTH], i, pb = 1, pl = 0, found = 0;
		memset(&u, 0, sizeof(u));
		u.skip = bdf;
		while (bus) {	/* the bridges above, nearest first */
			struct bridge_ctx bc = { bus, 0, 0 };
			pci_each(bridge_one, &bc);
			if (!bc.found || u.nanc == MAX_DEPTH) {
				*why = 4;	/* no bridge leads to the device's bus */
				return 0;
			}
			u.anc[u.nanc++] = bc.bdf;
			bus = bc.bdf >> 8;
		}
		pci_write16(bdf, 0x04, (u16)(cmd & ~0x6u));
		pci_write32(bdf, 0x10, 0xffffffffu);
		sz = ~(pci_read32(bdf, 0x10) & ~0xfu) + 1;
		if (is64) {
			pci_write32(bdf, 0x14, 0xffffffffu);
			if (pci_read32(bdf, 0x14) != 0xffffffffu) {
				*why = 2;	/* a BAR of 4 GiB or more */
				return 0;
			}
		}
		pci_each(used_one, &u);
		align = sz < 0x100000 ? 0x100000 : sz;	/* bridge windows: 1 MiB */
		if (u.nanc)
			window(u.anc[0], &pb, &pl);
		/* first choice: a free slot in the window the device is behind */
		if (force_reassign < 2 && pb <= pl)
			for (addr = (pb + align - 1) & ~(align - 1); addr >= pb && addr + align - 1 <= pl;
			     addr += align)
				if (is_free(&u, addr, addr + align)) {
					found = 1;
					break;
				}
		/* else: anywhere free in the hole, opening the windows above */
		if (!found)
			for (addr = HOLE_LO; addr >= HOLE_LO && addr + align <= HOLE_HI; addr += align)
				if (is_free(&u, addr, addr + align) &&
				    !windows_for(&u, addr, addr + align, nb, nl)) {
					for (i = 0; i < u.nanc; i++) {
						pci_write32(u.anc[i], 0x20,
							    (nl[i] & 0xfff00000u) | ((nb[i] >> 16) & 0xfff0));
						pci_write16(u.anc[i], 0x04,
							    (u16)(pci_read16(u.anc[i], 0x04) | 0x6));
					}
					found = 1;
					break;
				}
		if (!found) {
			*why = 3;	/* no room below 4 GiB */
			return 0;
		}
		pci_write32(bdf, 0x10, addr | (lo & 0xf));
		if (is64)
			pci_write32(bdf, 0x14, 0);
		*why = 0x100;	/* reassigned (not an error) */
	}
	/* memory space, bus master, INTx off: we poll */
	pci_write16(bdf, 0x04, (u16)((cmd & ~0x1u) | 0x6 | 0x400));
	return addr;
}
