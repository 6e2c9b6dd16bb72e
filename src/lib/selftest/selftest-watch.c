/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * A driver that hangs in an ioctl must not hang the selftest. The device's
 * ops are wrapped so each call notes when it started; the cases run in a
 * worker thread, and the caller waits for it, looking every quarter second
 * whether a call has been in flight longer than the bound. If so, the
 * worker is abandoned: a thread stuck in the kernel cannot be stopped, so
 * it, its data and the device stay behind until the process exits (and if
 * the call never returns, the kernel may hold the process at exit too).
 * Waits for data are bounded already (poll with the timeout); this bounds
 * the calls themselves.
 */
#define G_LOG_DOMAIN "nvfm-selftest"

#include <unistd.h>

#include "selftest-private.h"

struct _SelftestWatch {
	int bound_ms;
	NvfmDevice *dev;		/* the device wrapped */
	const NvfmDeviceOps *real;	/* its own ops */
	NvfmDeviceOps ops;		/* the wrapped ones, under the real name */
	GMutex mu;
	GCond cond;
	guint busy;			/* calls in flight */
	gint64 since;			/* when the oldest still running began */
	const char *what;		/* its name */
	gboolean done;			/* the job returned */
};

/* The devices wrapped now, to their watch: any thread may call an op
 * (the save path reads ahead in a thread of its own). */
static GMutex watched_mu;
static GHashTable *watched;

static SelftestWatch *enter(NvfmDevice *dev, const char *what)
{
	SelftestWatch *w;

	g_mutex_lock(&watched_mu);
	w = g_hash_table_lookup(watched, dev);
	g_mutex_unlock(&watched_mu);
	g_mutex_lock(&w->mu);
	if (w->busy++ == 0) {
		w->since = g_get_monotonic_time();
		w->what = what;
	}
	g_mutex_unlock(&w->mu);
	return w;
}

static void leave(SelftestWatch *w)
{
	g_mutex_lock(&w->mu);
	if (--w->busy > 0)
		w->since = g_get_monotonic_time();
	g_mutex_unlock(&w->mu);
}

#define WRAP(ret, op, what, params, args)				\
	static ret w_##op params					\
	{								\
		SelftestWatch *w = enter(dev, what);			\
		ret r = w->real->op args;				\
									\
		leave(w);						\
		return r;						\
	}

WRAP(int, get_flags, "VFIO_DEVICE_FEATURE_MIGRATION", (NvfmDevice *dev, guint32 *f), (dev, f))
WRAP(int, get_data_size, "VFIO_DEVICE_FEATURE_MIG_DATA_SIZE", (NvfmDevice *dev, guint64 *l),
     (dev, l))
WRAP(int, probe_dma_logging, "VFIO_DEVICE_FEATURE_DMA_LOGGING_START", (NvfmDevice *dev), (dev))
WRAP(int, get_state, "MIG_DEVICE_STATE get", (NvfmDevice *dev, NvfmMigState *s), (dev, s))
WRAP(int, set_state, "MIG_DEVICE_STATE set", (NvfmDevice *dev, NvfmMigState s, int *fd),
     (dev, s, fd))
WRAP(int, reset, "VFIO_DEVICE_RESET", (NvfmDevice *dev), (dev))
WRAP(int, precopy_info, "VFIO_MIG_GET_PRECOPY_INFO",
     (NvfmDevice *dev, int fd, guint64 *i, guint64 *d), (dev, fd, i, d))
WRAP(int, compat_facts, "compatibility facts", (NvfmDevice *dev, json_t *o), (dev, o))

/* ops a backend may leave NULL ("not supported") */
#define WRAP_OPTIONAL(op, what, params, args)				\
	static int w_##op params					\
	{								\
		SelftestWatch *w = enter(dev, what);			\
		int r = w->real->op ? w->real->op args : -ENOTTY;	\
									\
		leave(w);						\
		return r;						\
	}

WRAP_OPTIONAL(dma_log_start, "VFIO_DEVICE_FEATURE_DMA_LOGGING_START",
	      (NvfmDevice *dev, guint64 *ps, const NvfmDmaRange *rg, guint32 n), (dev, ps, rg, n))
WRAP_OPTIONAL(dma_log_report, "VFIO_DEVICE_FEATURE_DMA_LOGGING_REPORT",
	      (NvfmDevice *dev, guint64 iova, guint64 len, guint64 ps, guint64 *bm),
	      (dev, iova, len, ps, bm))
WRAP_OPTIONAL(dma_log_stop, "VFIO_DEVICE_FEATURE_DMA_LOGGING_STOP", (NvfmDevice *dev), (dev))
WRAP_OPTIONAL(iommu_dirty, "IOMMU dirty tracking query", (NvfmDevice *dev, NvfmDirtyInfo *o),
	      (dev, o))

/* read(2)/write(2) on the data_fd, the backend's or the plain syscall */
static gssize w_data_read(NvfmDevice *dev, int fd, void *buf, gsize len)
{
	SelftestWatch *w = enter(dev, "read() on the data_fd");
	gssize n = w->real->data_read ? w->real->data_read(dev, fd, buf, len) : read(fd, buf, len);

	if (!w->real->data_read && n < 0)
		n = -errno;
	leave(w);
	return n;
}

static gssize w_data_write(NvfmDevice *dev, int fd, const void *buf, gsize len)
{
	SelftestWatch *w = enter(dev, "write() on the data_fd");
	gssize n = w->real->data_write ? w->real->data_write(dev, fd, buf, len)
				       : write(fd, buf, len);

	if (!w->real->data_write && n < 0)
		n = -errno;
	leave(w);
	return n;
}

static void w_close(NvfmDevice *dev)
{
	SelftestWatch *w = enter(dev, "close");
	const NvfmDeviceOps *real = w->real;

	g_mutex_lock(&watched_mu);
	g_hash_table_remove(watched, dev);
	g_mutex_unlock(&watched_mu);
	real->close(dev);
	leave(w);
}

static const NvfmDeviceOps watch_ops = {
	.get_flags = w_get_flags,
	.get_data_size = w_get_data_size,
	.probe_dma_logging = w_probe_dma_logging,
	.dma_log_start = w_dma_log_start,
	.dma_log_report = w_dma_log_report,
	.dma_log_stop = w_dma_log_stop,
	.iommu_dirty = w_iommu_dirty,
	.get_state = w_get_state,
	.set_state = w_set_state,
	.reset = w_reset,
	.precopy_info = w_precopy_info,
	.data_read = w_data_read,
	.data_write = w_data_write,
	.compat_facts = w_compat_facts,
	.close = w_close,
};

SelftestWatch *selftest_watch_new(int bound_ms)
{
	SelftestWatch *w = g_new0(SelftestWatch, 1);

	w->bound_ms = bound_ms;
	g_mutex_init(&w->mu);
	g_cond_init(&w->cond);
	g_mutex_lock(&watched_mu);
	if (!watched)
		watched = g_hash_table_new(g_direct_hash, g_direct_equal);
	g_mutex_unlock(&watched_mu);
	return w;
}

void selftest_watch_device(SelftestWatch *w, NvfmDevice *dev)
{
	if (!dev || dev->ops == &w->ops)
		return;
	w->dev = dev;
	w->real = dev->ops;
	/* nvfm_device_backend_name() still names the backend */
	w->ops = watch_ops;
	w->ops.name = w->real->name;
	g_mutex_lock(&watched_mu);
	g_hash_table_insert(watched, dev, w);
	g_mutex_unlock(&watched_mu);
	dev->ops = &w->ops;
}

typedef struct {
	SelftestWatch *w;
	SelftestJobFunc fn;
	gpointer data;
} Job;

static gpointer worker(gpointer p)
{
	Job *j = p;

	j->fn(j->data);
	g_mutex_lock(&j->w->mu);
	j->w->done = TRUE;
	g_cond_signal(&j->w->cond);
	g_mutex_unlock(&j->w->mu);
	g_free(j);
	return NULL;
}

gboolean selftest_watch_run(SelftestWatch *w, SelftestJobFunc fn, gpointer data, char **what)
{
	Job *j = g_new0(Job, 1);
	GThread *t;
	gboolean hung = FALSE;

	j->w = w;
	j->fn = fn;
	j->data = data;
	w->done = FALSE;
	t = g_thread_new("nvfm-selftest", worker, j);
	g_mutex_lock(&w->mu);
	while (!w->done && !hung) {
		gint64 now = g_get_monotonic_time();

		if (w->busy && now - w->since > (gint64)w->bound_ms * 1000) {
			hung = TRUE;
			*what = g_strdup(w->what);
			break;
		}
		g_cond_wait_until(&w->cond, &w->mu, now + 250 * 1000);
	}
	g_mutex_unlock(&w->mu);
	if (hung) {
		g_thread_unref(t);
		return FALSE;
	}
	g_thread_join(t);
	return TRUE;
}

void selftest_watch_free(SelftestWatch *w, NvfmDevice *dev)
{
	if (!w)
		return;
	if (dev && dev->ops == &w->ops) {
		g_mutex_lock(&watched_mu);
		g_hash_table_remove(watched, dev);
		g_mutex_unlock(&watched_mu);
		dev->ops = w->real;
	}
	g_mutex_clear(&w->mu);
	g_cond_clear(&w->cond);
	g_free(w);
}
