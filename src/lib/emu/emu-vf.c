/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The emulated migration-capable NVMe VF as a device backend (emu:NAME).
 *
 * It behaves like a kernel variant driver so the engine has one code path:
 * every combination arc of the v2 state machine is stepped through the
 * kernel's decomposition, the data_fd is a real pipe fed (saving) or
 * drained (RESUMING) by a model thread, RESUMING -> STOP validates the
 * whole stream and commits only a valid one (else ERROR until reset), a
 * session's fd is disabled when the device leaves the saving state, and
 * only one process can have a device open. The sessions' model thread is
 * in emu-session.c; the state, its stream and its files in emu-gen.c,
 * emu-stream.c and emu-files.c.
 *
 * The device must not be what limits a transfer, so its data path does no
 * per-byte work it can avoid: generated pages are copied from a small
 * per-seed pool with their CRCs from the pool's tables (emu-gen.c), and
 * the resume thread compares what it reads with the generator, copying
 * only pages that differ. Every page still reaches the pipe as bytes of
 * its own, as a driver's read() of its migration buffer would.
 */
#define G_LOG_DOMAIN "nvfm-emu"

#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/file.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/uio.h>
#include <time.h>

#include "emu-session.h"


static EmuDev *dev_emu(NvfmDevice *dev)
{
	return dev->priv;
}

static void set_state_locked(EmuDev *d, NvfmMigState s)
{
	g_mutex_lock(&d->mu);
	emu_dev_tick(d);
	d->state = s;
	g_mutex_unlock(&d->mu);
}

/* One arc of the full state machine. */
static int step(EmuDev *d, NvfmMigState to, int *out_fd)
{
	NvfmMigState from = d->state;
	int r;

	if (d->faults.fail_arc && d->faults.fail_from == from && d->faults.fail_to == to) {
		g_debug("%s: fail-arc fault on %s -> %s", d->m->name, nvfm_mig_state_name(from),
			nvfm_mig_state_name(to));
		emu_session_end(d);
		set_state_locked(d, S_ERR);
		return -EIO;
	}
	if (from == S_RES && !d->sess) {
		/* RESUMING kept from an opener that is gone: nothing was
		 * written in this session, and committing it is what crashed
		 * a driver (a NULL dereference, then every ioctl hung). Model
		 * it without the hang: the device fails everything from now,
		 * reset included, for as long as this opener holds it. */
		g_debug("%s: RESUMING -> %s with no session: the device is wedged", d->m->name,
			nvfm_mig_state_name(to));
		d->wedged = TRUE;
		set_state_locked(d, S_ERR);
		return -EIO;
	}
	if (from == S_RES) {
		r = emu_session_finish_resume(d);
		set_state_locked(d, r < 0 ? S_ERR : to);
		return r;
	}
	if ((state_precopy(from) || from == S_SC) && !state_precopy(to) && to != S_SC) {
		/* leaving the saving states: the session's fd goes dead */
		emu_session_end(d);
		set_state_locked(d, to);
		return 0;
	}
	if (state_precopy(from) && to == S_SC && !d->sess) {
		/* a kept PRE_COPY whose session died with its opener */
		return -EINVAL;
	}
	if (state_precopy(from) && to == S_SC) {
		g_mutex_lock(&d->mu);
		emu_dev_tick(d);
		d->state = to;
		d->sess->final = TRUE;
		g_mutex_unlock(&d->mu);
		emu_session_wake(d->sess);
		return 0;
	}
	set_state_locked(d, to);
	if ((from == S_STOP && to == S_SC) || (!state_precopy(from) && state_precopy(to)))
		r = emu_session_start_save(d, to != S_SC, out_fd);
	else if (to == S_RES)
		r = emu_session_start_resume(d, out_fd);
	else
		r = 0;
	if (r < 0)
		set_state_locked(d, from);
	return r;
}

/* ---- ops ---- */

static int emu_get_flags(NvfmDevice *dev, guint32 *flags)
{
	*flags = dev_emu(dev)->m->cfg.flags;
	return 0;
}

static int emu_get_data_size(NvfmDevice *dev, guint64 *len)
{
	EmuDev *d = dev_emu(dev);
	const EmuState *st = &d->m->st;
	EmuSession *s;

	if (!d->m->cfg.report_data_size)
		return -ENOTTY;
	if (d->faults.size_lie) {
		*len = d->faults.size_lie;
		return 0;
	}
	g_mutex_lock(&d->mu);
	emu_dev_tick(d);
	s = d->sess;
	if (s && !s->resume && s->precopy && s->stage <= SAVE_DIRTY) {
		/* what STOP_COPY would still send on top of what is queued */
		guint64 max_rec = emu_page_record_size(EMU_PAGE_SIZE);

		*len = (guint64)(st->n_pages - s->cursor + s->n_dirty) * max_rec +
		       emu_ctrl_record_size(&st->ctrl) + EMU_REC_HEADER_SIZE +
		       EMU_END_PAYLOAD_SIZE;
	} else {
		*len = emu_image_size(st);
	}
	g_mutex_unlock(&d->mu);
	return 0;
}

static void reload_faults(EmuDev *d);

/* The knobs decide what the device offers; they are read afresh, as
 * a state change does, so "emu fault" takes effect on an open device. */
static int emu_probe_dma_logging(NvfmDevice *dev)
{
	EmuDev *d = dev_emu(dev);

	reload_faults(d);
	return d->faults.dma_logging ? 0 : -ENOTTY;
}

static int emu_iommu_dirty(NvfmDevice *dev, NvfmDirtyInfo *out)
{
	EmuDev *d = dev_emu(dev);

	reload_faults(d);
	out->iommu = "emu";
	out->iommu_dirty = d->faults.iommu_dirty;
	return 0;
}

static int emu_dma_log_start_op(NvfmDevice *dev, guint64 *page_size, const NvfmDmaRange *ranges,
				guint32 n)
{
	EmuDev *d = dev_emu(dev);
	int r;

	reload_faults(d);
	g_mutex_lock(&d->mu);
	r = emu_dma_log_start(d, page_size, ranges, n);
	g_mutex_unlock(&d->mu);
	return r;
}

static int emu_dma_log_report_op(NvfmDevice *dev, guint64 iova, guint64 length,
				 guint64 page_size, guint64 *bitmap)
{
	EmuDev *d = dev_emu(dev);
	int r;

	reload_faults(d);
	g_mutex_lock(&d->mu);
	r = emu_dma_log_report(d, iova, length, page_size, bitmap);
	g_mutex_unlock(&d->mu);
	return r;
}

static int emu_dma_log_stop_op(NvfmDevice *dev)
{
	EmuDev *d = dev_emu(dev);
	int r;

	reload_faults(d);
	g_mutex_lock(&d->mu);
	r = emu_dma_log_stop(d);
	g_mutex_unlock(&d->mu);
	return r;
}

static int emu_get_state(NvfmDevice *dev, NvfmMigState *state)
{
	EmuDev *d = dev_emu(dev);

	g_mutex_lock(&d->mu);
	*state = d->state;
	g_mutex_unlock(&d->mu);
	return 0;
}

static void reload_faults(EmuDev *d)
{
	g_autoptr(GError) error = NULL;
	EmuFaults f;

	if (emu_faults_load(d->m->dir, d->m->name, &f, &error))
		d->faults = f;
	else
		g_debug("%s: keeping the previous fault knobs: %s", d->m->name, error->message);
}

static int emu_set_state(NvfmDevice *dev, NvfmMigState target, int *data_fd)
{
	EmuDev *d = dev_emu(dev);
	guint32 flags = d->m->cfg.flags;

	*data_fd = -1;
	if (d->wedged)
		return -EIO;
	reload_faults(d);
	if (d->faults.stall_ms)
		g_usleep(d->faults.stall_ms * 1000);
	while (d->state != target) {
		NvfmMigState next;
		int fd = -1;
		int r;

		/* ERROR as a target, unsupported states, leaving ERROR and
		 * STOP_COPY -> PRE_COPY* all fail here, as in the kernel. */
		if (nvfm_mig_next_state(flags, d->state, target, &next) < 0)
			return -EINVAL;
		r = step(d, next, &fd);
		if (fd >= 0) {
			nvfm_close_fd(data_fd);
			*data_fd = fd;
		}
		if (r < 0) {
			nvfm_close_fd(data_fd);
			return r;
		}
	}
	return 0;
}

static void persist(EmuDev *d)
{
	g_autoptr(GError) error = NULL;

	if (!emu_model_save(d->m, &error))
		g_debug("%s: %s", d->m->name, error->message);
}

static int emu_reset(NvfmDevice *dev)
{
	EmuDev *d = dev_emu(dev);

	if (d->wedged)
		return -EIO;
	reload_faults(d);
	if (d->faults.no_reset) {
		g_debug("%s: no-reset fault: the reset does nothing", d->m->name);
		return 0;
	}
	emu_session_end(d);
	g_mutex_lock(&d->mu);
	emu_ctrl_reset(&d->m->st.ctrl);
	d->state = S_RUN;
	d->last_tick = nvfm_now_us();
	d->carry = 0;
	g_mutex_unlock(&d->mu);
	persist(d);
	g_debug("%s: reset", d->m->name);
	return 0;
}

/* Does @fd name the live session's pipe? */
static gboolean fd_is_session(EmuDev *d, int fd, gboolean resume)
{
	struct stat sb;
	EmuSession *s = d->sess;

	if (fstat(fd, &sb) < 0 || !s || s->resume != resume)
		return FALSE;
	return sb.st_ino == s->pipe_ino && sb.st_dev == s->pipe_dev;
}

static guint64 pipe_fill(int fd)
{
	int n = 0;

	if (ioctl(fd, FIONREAD, &n) < 0 || n < 0)
		return 0;
	return (guint64)n;
}

static int emu_precopy_info(NvfmDevice *dev, int data_fd, guint64 *initial, guint64 *dirty)
{
	EmuDev *d = dev_emu(dev);
	EmuSession *s;
	guint64 in_pipe, consumed, init, beyond;
	int r = 0;

	g_mutex_lock(&d->mu);
	if (!state_precopy(d->state)) {
		r = -EINVAL;
	} else if (!fd_is_session(d, data_fd, FALSE)) {
		r = -ENODEV;
	} else {
		s = d->sess;
		emu_dev_tick(d);
		in_pipe = pipe_fill(data_fd);
		consumed = s->produced > in_pipe ? s->produced - in_pipe : 0;
		init = s->initial_size > consumed ? s->initial_size - consumed : 0;
		/* The uAPI promises initial_bytes never grows; keep it so. */
		init = MIN(init, s->last_initial);
		s->last_initial = init;
		beyond = s->produced > MAX(s->initial_size, consumed) ?
			 s->produced - MAX(s->initial_size, consumed) : 0;
		*initial = init;
		*dirty = (guint64)s->n_dirty * emu_page_record_size(EMU_PAGE_SIZE) + beyond;
	}
	g_mutex_unlock(&d->mu);
	return r;
}

static gssize emu_data_read(NvfmDevice *dev, int data_fd, void *buf, gsize len)
{
	EmuDev *d = dev_emu(dev);
	gboolean pc;
	gssize n;

	g_mutex_lock(&d->mu);
	if (!fd_is_session(d, data_fd, FALSE)) {
		g_mutex_unlock(&d->mu);
		return -ENODEV;
	}
	pc = state_precopy(d->state);
	if (pc) {
		emu_dev_tick(d);
		/* PRE_COPY with nothing queued and nothing coming: ENOMSG, as
		 * drivers answer, rather than a read that would wait. */
		if (!emu_session_has_more(d->sess) && pipe_fill(data_fd) == 0) {
			g_mutex_unlock(&d->mu);
			/* the precopy-eof-zero knob: a driver's read() of 0 */
			return d->faults.precopy_eof_zero ? 0 : -ENOMSG;
		}
	}
	g_mutex_unlock(&d->mu);
	n = read(data_fd, buf, len);
	if (n >= 0)
		return n;
	n = -errno;
	if (n == -EAGAIN && pc) {
		g_mutex_lock(&d->mu);
		if (d->sess && !emu_session_has_more(d->sess) && pipe_fill(data_fd) == 0)
			n = d->faults.precopy_eof_zero ? 0 : -ENOMSG;
		g_mutex_unlock(&d->mu);
	}
	return n;
}

static gssize emu_data_write(NvfmDevice *dev, int data_fd, const void *buf, gsize len)
{
	EmuDev *d = dev_emu(dev);
	guint32 cap = d->m->cfg.max_write;
	gboolean ok, rejected;
	gssize n;

	g_mutex_lock(&d->mu);
	ok = fd_is_session(d, data_fd, TRUE);
	rejected = ok && d->sess->rejected;
	g_mutex_unlock(&d->mu);
	if (!ok)
		return -ENODEV;
	/* like a variant driver that checks the state as it arrives: a
	 * stream already refused fails the write, not just the commit */
	if (rejected)
		return -EINVAL;
	if (cap && len > cap)
		len = cap;
	n = write(data_fd, buf, len);
	return n < 0 ? -errno : n;
}

static int emu_compat_facts(NvfmDevice *dev, json_t *obj)
{
	/* as the kernel backend does: the variant driver the VF is bound to */
	json_object_set_new(obj, "driver", json_string("emu-vfio-pci"));
	json_object_set_new(obj, "emu_stream_version", json_integer(EMU_STREAM_VERSION));
	json_object_set_new(obj, "emu_page_size", json_integer(EMU_PAGE_SIZE));
	return 0;
}

static void emu_dev_free(EmuDev *d)
{
	emu_dma_log_end(d);
	emu_model_free(d->m);
	nvfm_close_fd(&d->lock_fd);
	g_mutex_clear(&d->mu);
	g_free(d);
}

/* With keep-state armed, the state an opener left, for the next one. */
static void save_migstate(EmuDev *d, gboolean keep)
{
	g_autofree char *path = emu_path(d->m->dir, d->m->name, ".migstate");
	g_autofree char *text = NULL;
	g_autoptr(GError) error = NULL;

	if (!keep || d->state == S_RUN) {
		unlink(path);
		return;
	}
	text = g_strconcat(nvfm_mig_state_name(d->state), "\n", NULL);
	if (!nvfm_file_write_runtime(path, text, strlen(text), 0600, &error))
		g_debug("%s: %s", d->m->name, error->message);
}

static NvfmMigState load_migstate(const char *dir, const char *name)
{
	g_autofree char *path = emu_path(dir, name, ".migstate");
	g_autofree char *text = NULL;
	NvfmMigState s;

	if (!g_file_get_contents(path, &text, NULL, NULL))
		return S_RUN;
	g_strstrip(text);
	if (!nvfm_mig_state_parse(text, &s, NULL))
		return S_ERR;
	g_debug("%s: kept from its last opener in %s", name, text);
	return s;
}

/* By default the emulated VF behaves like the PCI variant drivers that
 * reset on open: its migration state does not outlive its opener, so the
 * next opener finds it RUNNING (reset, if it sat in ERROR). The VFIO core
 * itself promises no such thing, and with keep-state armed the state
 * stays (the session's data_fd dies with its opener, as in the kernel);
 * the engine never counts on either. */
static void emu_close(NvfmDevice *dev)
{
	EmuDev *d = dev_emu(dev);

	if (!d)
		return;
	emu_session_end(d);
	reload_faults(d);
	g_mutex_lock(&d->mu);
	save_migstate(d, d->faults.keep_state);
	if (d->state == S_ERR)
		emu_ctrl_reset(&d->m->st.ctrl);
	d->state = S_RUN;
	g_mutex_unlock(&d->mu);
	persist(d);
	g_debug("%s: closed", d->m->name);
	emu_dev_free(d);
	dev->priv = NULL;
}

static const NvfmDeviceOps emu_ops = {
	.name = "emu",
	.get_flags = emu_get_flags,
	.get_data_size = emu_get_data_size,
	.probe_dma_logging = emu_probe_dma_logging,
	.dma_log_start = emu_dma_log_start_op,
	.dma_log_report = emu_dma_log_report_op,
	.dma_log_stop = emu_dma_log_stop_op,
	.iommu_dirty = emu_iommu_dirty,
	.get_state = emu_get_state,
	.set_state = emu_set_state,
	.reset = emu_reset,
	.precopy_info = emu_precopy_info,
	.data_read = emu_data_read,
	.data_write = emu_data_write,
	.compat_facts = emu_compat_facts,
	.close = emu_close,
};

/* ---- the single-opener lock ---- */

static int emu_lock(const char *dir, const char *name, GError **error)
{
	g_autofree char *path = emu_path(dir, name, ".lock");

	/* A destroy may unlink the lock file between open() and flock():
	 * holding a lock on an unlinked inode would let a second opener in. */
	for (int tries = 0; tries < 16; tries++) {
		struct stat a, b;
		int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);

		if (fd < 0) {
			nvfm_set_error_errno(error, -errno, "opening %s", path);
			return -1;
		}
		if (flock(fd, LOCK_EX | LOCK_NB) < 0) {
			int e = errno;

			close(fd);
			if (e == EWOULDBLOCK) {
				g_set_error(error, NVFM_ERROR, NVFM_ERROR_BUSY,
					    "emulated device '%s' is in use", name);
			} else {
				nvfm_set_error_errno(error, -e, "locking %s", path);
			}
			return -1;
		}
		if (fstat(fd, &a) == 0 && stat(path, &b) == 0 && a.st_ino == b.st_ino &&
		    a.st_dev == b.st_dev)
			return fd;
		close(fd);
	}
	g_set_error(error, NVFM_ERROR, NVFM_ERROR_BUSY,
		    "emulated device '%s' is being created and removed concurrently", name);
	return -1;
}

/* The pid holding a flock on @path, from /proc/locks, or 0; never takes
 * the lock itself, which would make a concurrent open fail with EBUSY. */
guint64 emu_lock_holder(const char *path)
{
	g_autofree char *locks = NULL;
	g_auto(GStrv) lines = NULL;
	struct stat st;

	if (stat(path, &st) < 0 || !g_file_get_contents("/proc/locks", &locks, NULL, NULL))
		return 0;
	lines = g_strsplit(locks, "\n", -1);
	for (guint i = 0; lines[i]; i++) {
		unsigned maj, min;
		unsigned long long ino, pid;
		char kind[16];

		/* "1: FLOCK  ADVISORY  WRITE 812 00:1f:5678 0 EOF" */
		if (sscanf(lines[i], "%*s %15s %*s %*s %llu %x:%x:%llu", kind, &pid, &maj, &min,
			   &ino) != 5 || !g_str_equal(kind, "FLOCK"))
			continue;
		if (ino == (unsigned long long)st.st_ino && maj == major(st.st_dev) &&
		    min == minor(st.st_dev))
			return pid;
	}
	return 0;
}

static gboolean emu_is_open(const char *dir, const char *name)
{
	g_autofree char *path = emu_path(dir, name, ".lock");

	return emu_lock_holder(path) != 0;
}

static gboolean open_dir(char **out, GError **error)
{
	g_autofree char *dir = nvfm_emu_dir();

	if (!emu_ensure_dir(dir, error))
		return FALSE;
	*out = g_steal_pointer(&dir);
	return TRUE;
}

static gboolean not_found(const char *dir, const char *name, GError **error)
{
	g_set_error(error, NVFM_ERROR, NVFM_ERROR_NOT_FOUND,
		    "emulated device '%s' does not exist in %s (make it with "
		    "`nvme-vf-migrate emu create %s`)", name, dir, name);
	return FALSE;
}

/* Pages a load was staging when its process died (SIGKILL, a crash):
 * only the lock holder writes NAME.blob.new, and we hold the lock now. */
static void drop_stale_spill(const char *dir, const char *name)
{
	g_autofree char *staged = emu_path(dir, name, ".blob.new");

	if (unlink(staged) == 0)
		g_debug("%s: removed the pages an interrupted load left in %s", name, staged);
}

gboolean nvfm_emu_open(NvfmDevice *dev, const char *name, GError **error)
{
	g_autofree char *dir = NULL;
	g_autoptr(EmuModel) m = NULL;
	EmuDev *d;
	int lock_fd;

	if (!emu_check_name(name, error))
		return FALSE;
	dir = nvfm_emu_dir();
	/* Only `emu create` makes a device: a typo, or a peer naming any
	 * device, must not conjure one up, nor leave a file behind (not
	 * even the directory or a lock file) */
	if (!emu_model_exists(dir, name))
		return not_found(dir, name, error);
	g_clear_pointer(&dir, g_free);
	if (!open_dir(&dir, error))
		return FALSE;
	lock_fd = emu_lock(dir, name, error);
	if (lock_fd < 0)
		return FALSE;
	if (emu_model_exists(dir, name)) {
		m = emu_model_load(dir, name, error);
	} else {
		/* destroyed while we waited: its lock file is ours to drop */
		g_autofree char *lock_path = emu_path(dir, name, ".lock");

		unlink(lock_path);
		not_found(dir, name, error);
	}
	if (!m) {
		close(lock_fd);
		return FALSE;
	}
	drop_stale_spill(dir, name);
	d = g_new0(EmuDev, 1);
	g_mutex_init(&d->mu);
	d->m = g_steal_pointer(&m);
	d->lock_fd = lock_fd;
	d->state = load_migstate(dir, name);
	d->last_tick = nvfm_now_us();
	emu_faults_init(&d->faults);
	reload_faults(d);
	dev->ops = &emu_ops;
	dev->priv = d;
	return TRUE;
}

/* ---- public API ---- */

void nvfm_emu_config_init(NvfmEmuConfig *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	cfg->flags = NVFM_MIG_FLAG_STOP_COPY | NVFM_MIG_FLAG_P2P | NVFM_MIG_FLAG_PRE_COPY;
	cfg->blob_size = 64ull << 20;
	cfg->seed = 1;
	cfg->n_io_queues = 4;
	cfg->dirty_rate = 16ull << 20;
	cfg->max_write = 0;
	cfg->report_data_size = TRUE;
}

char *nvfm_emu_dir(void)
{
	return nvfm_runtime_dir("emu", "NVFM_EMU_DIR");
}

gboolean nvfm_emu_create(const char *name, const NvfmEmuConfig *cfg, GError **error)
{
	g_autofree char *dir = NULL;
	g_autoptr(EmuModel) m = NULL;
	gboolean ok;
	int lock_fd;

	if (!emu_check_name(name, error) || !emu_config_check(cfg, error) ||
	    !open_dir(&dir, error))
		return FALSE;
	lock_fd = emu_lock(dir, name, error);
	if (lock_fd < 0)
		return FALSE;
	m = emu_model_new(dir, name, cfg, error);
	ok = m && emu_model_remove_files(dir, name, error) && emu_model_save(m, error);
	close(lock_fd);
	return ok;
}

gboolean nvfm_emu_destroy(const char *name, GError **error)
{
	g_autofree char *dir = NULL;
	g_autofree char *lock_path = NULL;
	gboolean ok;
	int lock_fd;

	if (!emu_check_name(name, error) || !open_dir(&dir, error))
		return FALSE;
	lock_fd = emu_lock(dir, name, error);
	if (lock_fd < 0)
		return FALSE;
	lock_path = emu_path(dir, name, ".lock");
	if (!emu_model_exists(dir, name)) {
		g_set_error(error, NVFM_ERROR, NVFM_ERROR_NOT_FOUND,
			    "emulated device '%s' does not exist (in %s)", name, dir);
		ok = FALSE;
	} else {
		ok = emu_model_remove_files(dir, name, error);
	}
	unlink(lock_path);
	close(lock_fd);
	return ok;
}

static gint cmp_str(gconstpointer a, gconstpointer b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

char **nvfm_emu_list(GError **error)
{
	g_autofree char *dir = nvfm_emu_dir();
	g_autoptr(GPtrArray) names = g_ptr_array_new_with_free_func(g_free);
	g_autoptr(GError) err = NULL;
	g_autoptr(GDir) gd = NULL;
	const char *ent;

	gd = g_dir_open(dir, 0, &err);
	if (!gd) {
		if (g_error_matches(err, G_FILE_ERROR, G_FILE_ERROR_NOENT)) {
			g_ptr_array_add(names, NULL);
			return (char **)g_ptr_array_free(g_steal_pointer(&names), FALSE);
		}
		g_set_error(error, NVFM_ERROR, NVFM_ERROR_IO, "%s", err->message);
		return NULL;
	}
	while ((ent = g_dir_read_name(gd))) {
		g_autofree char *name = NULL;

		if (!g_str_has_suffix(ent, ".json"))
			continue;
		name = g_strndup(ent, strlen(ent) - 5);
		if (emu_name_valid(name))
			g_ptr_array_add(names, g_steal_pointer(&name));
	}
	g_ptr_array_sort(names, cmp_str);
	g_ptr_array_add(names, NULL);
	return (char **)g_ptr_array_free(g_steal_pointer(&names), FALSE);
}

static gboolean existing_dir(const char *name, char **out_dir, GError **error)
{
	g_autofree char *dir = nvfm_emu_dir();

	if (!emu_check_name(name, error))
		return FALSE;
	if (!emu_model_exists(dir, name)) {
		g_set_error(error, NVFM_ERROR, NVFM_ERROR_NOT_FOUND,
			    "emulated device '%s' does not exist (in %s)", name, dir);
		return FALSE;
	}
	*out_dir = g_steal_pointer(&dir);
	return TRUE;
}

gboolean nvfm_emu_set_fault(const char *name, const char *knob, const char *value,
			    GError **error)
{
	g_autofree char *dir = NULL;
	EmuFaults f;

	if (!existing_dir(name, &dir, error) || !emu_faults_load(dir, name, &f, error) ||
	    !emu_faults_set(&f, knob, value, error))
		return FALSE;
	return emu_faults_save(dir, name, &f, error);
}

gboolean nvfm_emu_clear_faults(const char *name, GError **error)
{
	g_autofree char *dir = NULL;
	EmuFaults f;

	if (!existing_dir(name, &dir, error))
		return FALSE;
	emu_faults_init(&f);
	return emu_faults_save(dir, name, &f, error);
}

char *nvfm_emu_describe(const char *name, GError **error)
{
	g_autofree char *dir = NULL;
	g_autofree char *hex = NULL;
	g_autoptr(EmuModel) m = NULL;
	json_auto_t *j = NULL;
	EmuFaults f;
	guint64 size = 0;

	if (!existing_dir(name, &dir, error))
		return NULL;
	m = emu_model_load(dir, name, error);
	if (!m || !emu_faults_load(dir, name, &f, error) ||
	    !emu_image_digest(&m->st, &hex, &size, error))
		return NULL;
	j = emu_model_to_json(m);
	json_object_set_new(j, "dir", json_string(dir));
	json_object_set_new(j, "open", json_boolean(emu_is_open(dir, name)));
	json_object_set_new(j, "faults", emu_faults_to_json(&f));
	json_object_set_new(j, "state_size", json_integer((json_int_t)size));
	json_object_set_new(j, "digest", json_string(hex));
	return json_dumps(j, JSON_INDENT(2) | JSON_SORT_KEYS);
}

gboolean nvfm_emu_digest(const char *name, char **out_hex, guint64 *out_size, GError **error)
{
	g_autofree char *dir = NULL;
	g_autoptr(EmuModel) m = NULL;

	if (!existing_dir(name, &dir, error))
		return FALSE;
	m = emu_model_load(dir, name, error);
	return m && emu_image_digest(&m->st, out_hex, out_size, error);
}

gboolean nvfm_emu_dirty(const char *name, guint64 bytes, GError **error)
{
	g_autofree char *dir = NULL;
	g_autoptr(EmuModel) m = NULL;
	gboolean ok;
	int lock_fd;

	if (!existing_dir(name, &dir, error))
		return FALSE;
	lock_fd = emu_lock(dir, name, error);
	if (lock_fd < 0)
		return FALSE;
	m = emu_model_load(dir, name, error);
	if (m)
		emu_model_dirty(m, (bytes + EMU_PAGE_SIZE - 1) / EMU_PAGE_SIZE, NULL, NULL);
	ok = m && emu_model_save(m, error);
	close(lock_fd);
	return ok;
}

gboolean nvfm_emu_dma_write(const char *name, guint64 iova, guint64 bytes, GError **error)
{
	g_autofree char *dir = NULL;
	g_autofree char *path = NULL;
	g_autofree char *line = NULL;
	int fd;
	gssize n;

	if (!existing_dir(name, &dir, error))
		return FALSE;
	if (iova + bytes < iova) {
		g_set_error(error, NVFM_ERROR, NVFM_ERROR_INVALID_ARG,
			    "IOVA 0x%" G_GINT64_MODIFIER "x + %" G_GUINT64_FORMAT " bytes overflows",
			    iova, bytes);
		return FALSE;
	}
	/* no lock: the device may be open; one short append is atomic */
	path = emu_path(dir, name, ".dma");
	line = g_strdup_printf("%" G_GINT64_MODIFIER "x %" G_GUINT64_FORMAT "\n", iova, bytes);
	fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
	if (fd < 0) {
		nvfm_set_error_errno(error, -errno, "opening %s", path);
		return FALSE;
	}
	n = write(fd, line, strlen(line));
	if (n < 0)
		nvfm_set_error_errno(error, -errno, "writing %s", path);
	close(fd);
	return n >= 0;
}
