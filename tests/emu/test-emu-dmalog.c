/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * DMA logging of the emulated VF, through the device ops the engine and
 * the selftest use: the knobs decide what is offered (and so what
 * nvfm_device_get_dirty_tracking() says), START/REPORT/STOP keep the
 * VFIO core's checks, the running device's writes land only in logged
 * ranges, REPORT clears what it reported, and logging ends with the opener.
 */
#include <errno.h>
#include <stdlib.h>

#include "src/lib/util/util-private.h"
#include "src/lib/emu/emu-private.h"
#include "tests/common/testutil.h"

#define PAGE 4096ull

typedef struct {
	char *dir;
	NvfmDevice *dev;
} Fixture;

static void knob(const char *k, const char *v)
{
	g_autoptr(GError) error = NULL;

	g_assert_true(nvfm_emu_set_fault("d", k, v, &error));
	g_assert_no_error(error);
}

static void fx_setup(Fixture *fx, gconstpointer data)
{
	g_autofree char *base = g_dir_make_tmp("nvfm-dmalog-XXXXXX", NULL);
	g_autoptr(GError) error = NULL;
	NvfmEmuConfig cfg;

	fx->dir = g_build_filename(base, "host", NULL);
	setenv("NVFM_EMU_DIR", fx->dir, 1);
	nvfm_emu_config_init(&cfg);
	cfg.blob_size = 1 << 20;
	g_assert_true(nvfm_emu_create("d", &cfg, &error));
	g_assert_no_error(error);
	fx->dev = nvfm_device_open(nvfm_test_addr("emu:d"), &error);
	g_assert_no_error(error);
}

static void fx_teardown(Fixture *fx, gconstpointer data)
{
	g_autofree char *base = g_path_get_dirname(fx->dir);

	nvfm_device_close(fx->dev);
	nvfm_test_rm_rf(base);
	g_free(fx->dir);
}

static NvfmDirtyTracking mode(NvfmDevice *dev)
{
	g_autoptr(GError) error = NULL;
	NvfmDirtyInfo d;

	g_assert_true(nvfm_device_get_dirty_tracking(dev, &d, &error));
	g_assert_no_error(error);
	g_assert_cmpstr(d.iommu, ==, "emu");
	return d.mode;
}

static int start(NvfmDevice *dev, guint64 page, const NvfmDmaRange *r, guint32 n)
{
	guint64 ps = page;

	return dev->ops->dma_log_start(dev, &ps, r, n);
}

static guint popcount(const guint64 *bm, guint words)
{
	guint n = 0;

	for (guint i = 0; i < words; i++)
		n += (guint)__builtin_popcountll(bm[i]);
	return n;
}

/* none -> iommu -> device-dma-logging, as the knobs are armed */
static void test_modes(Fixture *fx, gconstpointer data)
{
	g_assert_cmpint(mode(fx->dev), ==, NVFM_DIRTY_TRACKING_NONE);
	g_assert_cmpint(fx->dev->ops->dma_log_stop(fx->dev), ==, -ENOTTY);
	knob("iommu-dirty", "1");
	g_assert_cmpint(mode(fx->dev), ==, NVFM_DIRTY_TRACKING_IOMMU);
	knob("dma-logging", "1");
	g_assert_cmpint(mode(fx->dev), ==, NVFM_DIRTY_TRACKING_DEVICE);
	knob("iommu-dirty", NULL);
	g_assert_cmpint(mode(fx->dev), ==, NVFM_DIRTY_TRACKING_DEVICE);
	g_assert_cmpstr(nvfm_dirty_tracking_name(NVFM_DIRTY_TRACKING_DEVICE), ==,
			"device-dma-logging");
}

/* the VFIO core's START checks, and the drivers' sequence rules */
static void test_checks(Fixture *fx, gconstpointer data)
{
	NvfmDmaRange r[2] = { { 0x100000, 16 * PAGE }, { 0x100000 + 8 * PAGE, 16 * PAGE } };
	NvfmDmaRange unaligned = { 0x100000 + 512, PAGE };
	NvfmDmaRange wrap = { G_MAXUINT64 - PAGE + 1, 2 * PAGE };
	g_autofree NvfmDmaRange *many = g_new0(NvfmDmaRange, 257);
	guint64 bm[1] = { 0 };
	guint64 ps = 3000;

	knob("dma-logging", "1");
	for (guint i = 0; i < 257; i++)
		many[i] = (NvfmDmaRange){ i * 2 * PAGE, PAGE };
	g_assert_cmpint(start(fx->dev, PAGE, r, 0), ==, -EINVAL);
	g_assert_cmpint(start(fx->dev, PAGE, many, 257), ==, -E2BIG);
	g_assert_cmpint(start(fx->dev, PAGE, &unaligned, 1), ==, -EINVAL);
	g_assert_cmpint(start(fx->dev, PAGE, &wrap, 1), ==, -EOVERFLOW);
	g_assert_cmpint(start(fx->dev, PAGE, r, 2), ==, -EINVAL);	/* overlap */
	/* REPORT before START */
	g_assert_cmpint(fx->dev->ops->dma_log_report(fx->dev, 0x100000, 16 * PAGE, PAGE, bm), ==,
			-EINVAL);
	/* the driver picks the granularity it can do, and says so */
	r[0].iova = 0;
	g_assert_cmpint(fx->dev->ops->dma_log_start(fx->dev, &ps, r, 1), ==, 0);
	g_assert_cmpuint(ps, ==, PAGE);
	/* START twice */
	g_assert_cmpint(start(fx->dev, PAGE, r, 1), ==, -EINVAL);
	/* REPORT page sizes the core refuses */
	g_assert_cmpint(fx->dev->ops->dma_log_report(fx->dev, 0, 16 * PAGE, 2048, bm), ==, -EINVAL);
	g_assert_cmpint(fx->dev->ops->dma_log_report(fx->dev, 0, 16 * PAGE, 3 * PAGE, bm), ==,
			-EINVAL);
	g_assert_cmpint(fx->dev->ops->dma_log_stop(fx->dev), ==, 0);
	/* REPORT after STOP; a second STOP is harmless */
	g_assert_cmpint(fx->dev->ops->dma_log_report(fx->dev, 0, 16 * PAGE, PAGE, bm), ==, -EINVAL);
	g_assert_cmpint(fx->dev->ops->dma_log_stop(fx->dev), ==, 0);
	g_assert_cmpint(start(fx->dev, PAGE, r, 1), ==, 0);
}

/* the running device writes dma-writes pages from the first range's
 * start; REPORT sets their bits, clears them, and a stopped device
 * writes nothing */
static void test_report(Fixture *fx, gconstpointer data)
{
	g_autoptr(GError) error = NULL;
	NvfmDmaRange r[2] = { { 64 * PAGE, 8 * PAGE }, { 1024 * PAGE, 128 * PAGE } };
	guint64 bm[4] = { 0 };

	knob("dma-logging", "1");
	knob("dma-writes", "3");
	g_assert_cmpint(start(fx->dev, PAGE, r, 2), ==, 0);
	g_assert_cmpint(fx->dev->ops->dma_log_report(fx->dev, 64 * PAGE, 8 * PAGE, PAGE, bm), ==, 0);
	g_assert_cmpuint(bm[0], ==, 0x7);
	/* the second range saw nothing */
	memset(bm, 0, sizeof(bm));
	g_assert_cmpint(fx->dev->ops->dma_log_report(fx->dev, 1024 * PAGE, 128 * PAGE, PAGE, bm), ==,
			0);
	g_assert_cmpuint(popcount(bm, 2), ==, 0);
	/* a coarser report page folds the three pages into one bit */
	memset(bm, 0, sizeof(bm));
	g_assert_cmpint(fx->dev->ops->dma_log_report(fx->dev, 64 * PAGE, 8 * PAGE, 8 * PAGE, bm),
			==, 0);
	g_assert_cmpuint(bm[0], ==, 0x1);
	/* stopped, the device does no DMA: what was reported is gone */
	g_assert_true(nvfm_device_set_state(fx->dev, NVFM_MIG_STATE_STOP, &error));
	g_assert_no_error(error);
	memset(bm, 0, sizeof(bm));
	g_assert_cmpint(fx->dev->ops->dma_log_report(fx->dev, 64 * PAGE, 8 * PAGE, PAGE, bm), ==, 0);
	g_assert_cmpuint(bm[0], ==, 0);
	/* more writes than the range holds stay inside it */
	knob("dma-writes", "100");
	g_assert_true(nvfm_device_set_state(fx->dev, NVFM_MIG_STATE_RUNNING, &error));
	g_assert_cmpint(fx->dev->ops->dma_log_report(fx->dev, 0, 128 * PAGE, PAGE, bm), ==, 0);
	g_assert_cmpuint(popcount(bm, 2), ==, 8);
	g_assert_cmpuint(bm[1], ==, 0xffull);
}

/* writes another process announces (emu dirty --iova) reach an open
 * device's log where a logged range covers them; those made before
 * START do not count */
static void test_announced(Fixture *fx, gconstpointer data)
{
	g_autoptr(GError) error = NULL;
	NvfmDmaRange r = { 16 * PAGE, 8 * PAGE };
	guint64 bm[1] = { 0 };

	knob("dma-logging", "1");
	g_assert_true(nvfm_emu_dma_write("d", 16 * PAGE, PAGE, &error));
	g_assert_no_error(error);
	g_assert_cmpint(start(fx->dev, PAGE, &r, 1), ==, 0);
	/* half in the range, half before it; and one wholly outside */
	g_assert_true(nvfm_emu_dma_write("d", 14 * PAGE, 4 * PAGE, &error));
	g_assert_true(nvfm_emu_dma_write("d", 100 * PAGE, PAGE, &error));
	g_assert_true(nvfm_emu_dma_write("d", 23 * PAGE + 1, 1, &error));
	g_assert_cmpint(fx->dev->ops->dma_log_report(fx->dev, 16 * PAGE, 8 * PAGE, PAGE, bm), ==, 0);
	g_assert_cmpuint(bm[0], ==, 0x83);
	bm[0] = 0;
	g_assert_cmpint(fx->dev->ops->dma_log_report(fx->dev, 16 * PAGE, 8 * PAGE, PAGE, bm), ==, 0);
	g_assert_cmpuint(bm[0], ==, 0);
	g_assert_false(nvfm_emu_dma_write("d", G_MAXUINT64, 2, &error));
	g_assert_error(error, NVFM_ERROR, NVFM_ERROR_INVALID_ARG);
}

/* logging ends with the opener, as a driver's close stops it */
static void test_close_stops(Fixture *fx, gconstpointer data)
{
	g_autoptr(GError) error = NULL;
	NvfmDmaRange r = { 0, 8 * PAGE };
	guint64 bm[1] = { 0 };

	knob("dma-logging", "1");
	g_assert_cmpint(start(fx->dev, PAGE, &r, 1), ==, 0);
	nvfm_device_close(fx->dev);
	fx->dev = nvfm_device_open(nvfm_test_addr("emu:d"), &error);
	g_assert_no_error(error);
	g_assert_cmpint(fx->dev->ops->dma_log_report(fx->dev, 0, 8 * PAGE, PAGE, bm), ==, -EINVAL);
	g_assert_cmpint(start(fx->dev, PAGE, &r, 1), ==, 0);
}

int main(int argc, char **argv)
{
	g_test_init(&argc, &argv, NULL);
#define T(path, fn) g_test_add("/emu-dmalog/" path, Fixture, NULL, fx_setup, fn, fx_teardown)
	T("modes", test_modes);
	T("checks", test_checks);
	T("report", test_report);
	T("announced", test_announced);
	T("close-stops", test_close_stops);
	return g_test_run();
}
