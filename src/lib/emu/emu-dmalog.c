/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * DMA logging of the emulated VF (VFIO_DEVICE_FEATURE_DMA_LOGGING_START,
 * _REPORT, _STOP), offered when the knob dma-logging is armed.
 *
 * The checks are the VFIO core's (drivers/vfio/vfio_main.c,
 * vfio_ioctl_device_feature_logging_start/_report): at least one range
 * and at most a kernel page's worth of them (E2BIG), ranges aligned to
 * the page size (EINVAL), no overflow (EOVERFLOW), no overlap (EINVAL);
 * a REPORT page size of at least 4 KiB and a power of two. What the core
 * leaves to the driver follows the upstream drivers: START while logging
 * is already on and REPORT while it is off are EINVAL (pds_vfio), STOP
 * while off does nothing. The driver picks the granularity: a page size
 * it cannot do becomes 4 KiB, reported back through START.
 *
 * The running device "DMAs" dma-writes pages into guest memory between
 * two REPORTs, from the start of the first logged range, so a REPORT
 * finds them; REPORT sets their bits and forgets them. Writes another
 * process announces (`emu dirty NAME SIZE --iova ADDR`, NAME.dma) count
 * too, where a logged range covers them. The knob dma-lax
 * plays a driver that keeps no logging state (REPORT while off answers
 * an empty bitmap, a second START replaces the first).
 */
#define G_LOG_DOMAIN "nvfm-emu"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <unistd.h>

#include "emu-session.h"

#define EMU_DMA_PAGE_MIN 4096ull
#define EMU_DMA_PAGE_MAX (2ull << 20)
/* PAGE_SIZE / sizeof(struct vfio_device_feature_dma_logging_range) */
#define EMU_DMA_MAX_RANGES (4096u / 16u)

static gboolean pow2(guint64 v)
{
	return v && !(v & (v - 1));
}

static gboolean aligned(guint64 v, guint64 to)
{
	/* the kernel's IS_ALIGNED(), which a zero page size makes "x == 0" */
	return (v & (to - 1)) == 0;
}

void emu_dma_log_end(EmuDev *d)
{
	EmuDmaLog *l = &d->dmalog;

	g_clear_pointer(&l->ranges, g_free);
	g_clear_pointer(&l->dirty, g_hash_table_unref);
	l->n_ranges = 0;
	l->active = FALSE;
}

int emu_dma_log_start(EmuDev *d, guint64 *page_size, const NvfmDmaRange *ranges, guint32 n)
{
	EmuDmaLog *l = &d->dmalog;

	if (!d->faults.dma_logging)
		return -ENOTTY;
	if (n == 0)
		return -EINVAL;
	if (n > EMU_DMA_MAX_RANGES)
		return -E2BIG;
	for (guint32 i = 0; i < n; i++) {
		guint64 end;

		if (!aligned(ranges[i].iova, *page_size) || !aligned(ranges[i].length, *page_size))
			return -EINVAL;
		if (__builtin_add_overflow(ranges[i].iova, ranges[i].length, &end))
			return -EOVERFLOW;
		for (guint32 j = 0; j < i; j++)
			if (ranges[i].iova < ranges[j].iova + ranges[j].length &&
			    ranges[j].iova < end)
				return -EINVAL;
	}
	if (l->active && !d->faults.dma_lax)
		return -EINVAL;
	emu_dma_log_end(d);
	{
		g_autofree char *path = emu_path(d->m->dir, d->m->name, ".dma");

		unlink(path);
	}
	if (!pow2(*page_size) || *page_size < EMU_DMA_PAGE_MIN || *page_size > EMU_DMA_PAGE_MAX)
		*page_size = EMU_DMA_PAGE_MIN;
	l->page_size = *page_size;
	l->ranges = g_memdup2(ranges, n * sizeof(*ranges));
	l->n_ranges = n;
	l->dirty = g_hash_table_new_full(g_int64_hash, g_int64_equal, g_free, NULL);
	l->active = TRUE;
	g_debug("%s: DMA logging started: %u range(s), page size %" G_GUINT64_FORMAT,
		d->m->name, n, *page_size);
	return 0;
}

void emu_dma_log_mark(EmuDev *d, guint64 iova, guint64 length)
{
	EmuDmaLog *l = &d->dmalog;

	if (!l->active || !length || iova + length < iova)
		return;
	for (guint32 i = 0; i < l->n_ranges; i++) {
		guint64 lo = MAX(iova, l->ranges[i].iova);
		guint64 hi = MIN(iova + length, l->ranges[i].iova + l->ranges[i].length);

		for (guint64 p = lo & ~(l->page_size - 1); p < hi; p += l->page_size) {
			guint64 *key = g_new(guint64, 1);

			*key = p;
			g_hash_table_add(l->dirty, key);
		}
	}
}

/* Writes another process announced (`emu dirty --iova`): taken by
 * renaming the file, so a line appended meanwhile starts a new one. */
static void take_announced(EmuDev *d)
{
	g_autofree char *path = emu_path(d->m->dir, d->m->name, ".dma");
	g_autofree char *taken = emu_path(d->m->dir, d->m->name, ".dma.taken");
	g_autofree char *text = NULL;
	g_auto(GStrv) lines = NULL;
	guint n = 0;

	if (rename(path, taken) < 0)
		return;
	if (g_file_get_contents(taken, &text, NULL, NULL))
		lines = g_strsplit(text, "\n", -1);
	unlink(taken);
	/* bounded: a line per write, at most this many taken per REPORT */
	for (char **ln = lines; ln && *ln && n < 65536; ln++, n++) {
		guint64 iova, len;

		if (sscanf(*ln, "%" G_GINT64_MODIFIER "x %" G_GINT64_MODIFIER "u", &iova, &len) == 2)
			emu_dma_log_mark(d, iova, len);
	}
}

/* What the running device wrote since the last REPORT. */
static void device_dma(EmuDev *d)
{
	EmuDmaLog *l = &d->dmalog;
	guint64 len;

	take_announced(d);

	if (!d->faults.dma_writes || !state_running(d->state))
		return;
	len = MIN(d->faults.dma_writes * l->page_size, l->ranges[0].length);
	emu_dma_log_mark(d, l->ranges[0].iova, len);
}

int emu_dma_log_report(EmuDev *d, guint64 iova, guint64 length, guint64 page_size,
		       guint64 *bitmap)
{
	EmuDmaLog *l = &d->dmalog;
	GHashTableIter it;
	guint64 *page, end;

	if (!d->faults.dma_logging)
		return -ENOTTY;
	if (page_size < EMU_DMA_PAGE_MIN || !pow2(page_size))
		return -EINVAL;
	if (__builtin_add_overflow(iova, length, &end))
		return -EOVERFLOW;
	if (!l->active)
		return d->faults.dma_lax ? 0 : -EINVAL;
	device_dma(d);
	g_hash_table_iter_init(&it, l->dirty);
	while (g_hash_table_iter_next(&it, (gpointer *)&page, NULL)) {
		guint64 lo = MAX(*page, iova);
		guint64 hi = MIN(*page + l->page_size, end);

		if (lo >= hi)
			continue;
		/* one logged page may span several report pages, or share one */
		for (guint64 b = (lo - iova) / page_size; b <= (hi - 1 - iova) / page_size; b++)
			bitmap[b / 64] |= 1ull << (b % 64);
		/* reported means cleared; a page only partly in this range
		 * stays for the report that covers the rest */
		if (*page >= iova && *page + l->page_size <= end)
			g_hash_table_iter_remove(&it);
	}
	return 0;
}

int emu_dma_log_stop(EmuDev *d)
{
	if (!d->faults.dma_logging)
		return -ENOTTY;
	emu_dma_log_end(d);
	return 0;
}
