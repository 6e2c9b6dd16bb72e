/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The emulated VF's migration sessions: the model thread that feeds a
 * saving session's pipe (the initial pass, dirtied pages, the final
 * controller state, faults on the way) or drains a resuming one into the
 * parser, and the dirtying workload that runs while the device does.
 * emu-vf.c steps the state machine and starts and ends them.
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
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <time.h>

#include "emu-session.h"

/* ---- wakeups ---- */

void emu_session_wake(EmuSession *s)
{
	guint64 one = 1;

	if (write(s->wake, &one, sizeof(one)) < 0)
		g_debug("eventfd write: %s", g_strerror(errno));
}

static void drain_wake(EmuSession *s)
{
	guint64 v;

	while (read(s->wake, &v, sizeof(v)) > 0)
		;
}

static gboolean aborted(EmuSession *s)
{
	gboolean a;

	g_mutex_lock(&s->d->mu);
	a = s->abort;
	g_mutex_unlock(&s->d->mu);
	return a;
}

/* Sleep up to @timeout_us (-1: until woken). Returns TRUE when woken. */
static gboolean wait_wake(EmuSession *s, gint64 timeout_us)
{
	struct pollfd p = { .fd = s->wake, .events = POLLIN };
	struct timespec ts = { 0 };
	int r;

	if (timeout_us >= 0) {
		ts.tv_sec = timeout_us / G_USEC_PER_SEC;
		ts.tv_nsec = (timeout_us % G_USEC_PER_SEC) * 1000;
	}
	r = ppoll(&p, 1, timeout_us >= 0 ? &ts : NULL, NULL);
	if (r > 0) {
		drain_wake(s);
		return TRUE;
	}
	return FALSE;
}

/* The slow-us pacing: sleep the whole delay unless the session ends. */
static gboolean pace(EmuSession *s, guint64 us)
{
	gint64 deadline = nvfm_now_us() + (gint64)us;

	for (;;) {
		gint64 left = deadline - nvfm_now_us();

		if (aborted(s))
			return FALSE;
		if (left <= 0)
			return TRUE;
		wait_wake(s, left);
	}
}

static void wait_abort(EmuSession *s)
{
	while (!aborted(s))
		wait_wake(s, -1);
}

/* ---- dirtying ---- */

static void mark_dirty(gpointer user_data, guint32 idx)
{
	EmuDev *d = user_data;
	EmuSession *s = d->sess;
	guint64 bit = 1ull << (idx % 64);

	/* Pages not sent yet go out at their new version anyway. */
	if (!s || s->resume || !s->precopy || idx >= s->cursor || (s->dirty[idx / 64] & bit))
		return;
	s->dirty[idx / 64] |= bit;
	s->n_dirty++;
}

/* Called with d->mu held: account the wall time since the last call. */
void emu_dev_tick(EmuDev *d)
{
	gint64 now = nvfm_now_us();
	gint64 elapsed = MIN(now - d->last_tick, (gint64)MAX_TICK_US);
	guint64 events, bound;
	guint32 before;

	d->last_tick = now;
	if (!state_running(d->state) || !d->m->cfg.dirty_rate || elapsed <= 0)
		return;
	d->carry += (guint64)((double)d->m->cfg.dirty_rate * (double)elapsed / G_USEC_PER_SEC);
	events = d->carry / EMU_PAGE_SIZE;
	d->carry %= EMU_PAGE_SIZE;
	bound = MAX((guint64)d->m->st.n_pages, 64);
	if (events > bound)
		events = bound;
	if (!events)
		return;
	before = d->sess ? d->sess->n_dirty : 0;
	emu_model_dirty(d->m, events, mark_dirty, d);
	if (d->sess && d->sess->n_dirty > before)
		emu_session_wake(d->sess);
}

/* ---- the save side ---- */

/* Called with d->mu held. */
gboolean emu_session_has_more(EmuSession *s)
{
	if (s->closed)
		return FALSE;
	if (s->busy || s->stalled || s->stage < SAVE_DIRTY)
		return TRUE;
	if (s->stage == SAVE_DIRTY)
		return s->n_dirty > 0 || s->final;
	return s->stage != SAVE_DONE;
}

static void consume_sigpipe(void)
{
	sigset_t set;
	struct timespec zero = { 0 };

	sigemptyset(&set);
	sigaddset(&set, SIGPIPE);
	while (sigtimedwait(&set, NULL, &zero) > 0)
		;
}

/*
 * @last: these are the batch's final bytes. The (non-blocking) write, the
 * byte count and "busy" change under the lock together, so a reader that
 * finds the pipe empty and the thread not busy under that lock knows
 * nothing more is on its way, and PRECOPY_INFO's arithmetic is exact.
 */
static int write_full(EmuSession *s, struct iovec *iov, int n_iov, gboolean last)
{
	gsize len = 0;

	for (int i = 0; i < n_iov; i++)
		len += iov[i].iov_len;
	while (len > 0) {
		gssize n;
		int e;

		while (iov->iov_len == 0) {
			iov++;
			n_iov--;
		}
		g_mutex_lock(&s->d->mu);
		n = writev(s->fd, iov, MIN(n_iov, IOV_MAX));
		e = errno;
		if (n > 0) {
			s->produced += (guint64)n;
			if (last && (gsize)n == len)
				s->busy = FALSE;
		}
		g_mutex_unlock(&s->d->mu);
		errno = e;
		if (n > 0) {
			len -= (gsize)n;
			for (gsize k = (gsize)n; k > 0;) {
				gsize step = MIN(k, iov->iov_len);

				iov->iov_base = (guint8 *)iov->iov_base + step;
				iov->iov_len -= step;
				k -= step;
				if (k) {
					iov++;
					n_iov--;
				}
			}
			continue;
		}
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN) {
			struct pollfd pf[2] = {
				{ .fd = s->fd, .events = POLLOUT },
				{ .fd = s->wake, .events = POLLIN },
			};

			if (poll(pf, 2, -1) < 0 && errno != EINTR)
				return -errno;
			if (pf[1].revents) {
				drain_wake(s);
				if (aborted(s))
					return -ECANCELED;
			}
			continue;
		}
		if (n < 0 && errno == EPIPE)
			consume_sigpipe();
		return n < 0 ? -errno : -EIO;
	}
	return 0;
}

static void close_write_end(EmuSession *s)
{
	g_mutex_lock(&s->d->mu);
	nvfm_close_fd(&s->fd);
	s->closed = TRUE;
	g_mutex_unlock(&s->d->mu);
}

/*
 * One pass's bytes in stream order: records built in @buf, and the pool
 * windows of generated pages by reference, so the only copy of those is
 * the one into the pipe (a device's DMA'd buffer read by the data_fd).
 */
typedef struct {
	guint8 *buf;
	gsize used;		/* bytes of @buf taken */
	gsize len;		/* bytes in @iov */
	int n_iov;
	struct iovec iov[2 * SAVE_BATCH + 2];
} Batch;

static void batch_ref(Batch *b, const void *p, gsize len)
{
	struct iovec *last = b->n_iov ? &b->iov[b->n_iov - 1] : NULL;

	if (!len)
		return;
	if (last && (const guint8 *)last->iov_base + last->iov_len == p) {
		last->iov_len += len;
	} else {
		g_assert(b->n_iov < (int)G_N_ELEMENTS(b->iov));
		b->iov[b->n_iov++] = (struct iovec){ .iov_base = (void *)p, .iov_len = len };
	}
	b->len += len;
}

/* @len more bytes of @buf, to fill in now */
static guint8 *batch_take(Batch *b, gsize len)
{
	guint8 *p = b->buf + b->used;

	b->used += len;
	batch_ref(b, p, len);
	return p;
}

static gboolean faults_armed(const EmuFaults *f)
{
	return f->corrupt_byte >= 0 || f->slow_us || f->stop_after >= 0 ||
	       f->truncate_after >= 0;
}

/*
 * Push a batch into the pipe through the fault knobs. The CRC was taken
 * before, so a flipped byte is caught by the receiver. With a knob armed
 * every byte of the batch was built in its buffer, so it is one piece.
 * Returns FALSE when the stream must not go on (aborted, stalled,
 * truncated, reader gone).
 */
static gboolean emit(EmuSession *s, Batch *b, guint64 *out_off)
{
	const EmuFaults *f = &s->faults;
	guint8 *buf = b->buf;
	gsize len = b->len, done = 0;

	if (!faults_armed(f)) {
		int r = write_full(s, b->iov, b->n_iov, TRUE);

		if (r < 0) {
			g_debug("%s: save stream stopped: %s", s->d->m->name, g_strerror(-r));
			return FALSE;
		}
		*out_off += len;
		return TRUE;
	}
	g_assert(b->n_iov <= 1);
	while (done < len) {
		/* whole batches keep the pipe ping-pong coarse; slow-us paces
		 * by 64 KiB */
		gsize chunk = f->slow_us ? MIN(len - done, (gsize)EMU_PAGE_SIZE) : len - done;
		guint64 off = *out_off;
		gboolean trunc = FALSE, stall = FALSE;

		if (f->corrupt_byte >= 0 && (guint64)f->corrupt_byte >= off &&
		    (guint64)f->corrupt_byte < off + chunk)
			buf[done + (f->corrupt_byte - off)] ^= 0xff;
		if (f->truncate_after >= 0 && off + chunk >= (guint64)f->truncate_after) {
			chunk = (gsize)((guint64)f->truncate_after - off);
			trunc = TRUE;
		}
		if (f->stop_after >= 0 && off + chunk >= (guint64)f->stop_after &&
		    (!trunc || f->stop_after < f->truncate_after)) {
			chunk = (gsize)((guint64)f->stop_after - off);
			stall = TRUE;
			trunc = FALSE;
		}
		if (f->slow_us && !pace(s, f->slow_us))
			return FALSE;
		if (chunk) {
			struct iovec one = { .iov_base = buf + done, .iov_len = chunk };
			int r = write_full(s, &one, 1, done + chunk == len && !trunc && !stall);

			if (r < 0) {
				g_debug("%s: save stream stopped: %s", s->d->m->name, g_strerror(-r));
				return FALSE;
			}
		}
		*out_off += chunk;
		done += chunk;
		if (trunc) {
			g_debug("%s: truncate-after fault: stream ends at %" G_GUINT64_FORMAT,
				s->d->m->name, *out_off);
			close_write_end(s);
			return FALSE;
		}
		if (stall) {
			g_debug("%s: stop-after fault: stream stalls at %" G_GUINT64_FORMAT,
				s->d->m->name, *out_off);
			g_mutex_lock(&s->d->mu);
			s->stalled = TRUE;
			g_mutex_unlock(&s->d->mu);
			return FALSE;
		}
	}
	return TRUE;
}

/* Called with d->mu held: take up to SAVE_BATCH dirty pages. */
static guint take_dirty(EmuSession *s, guint32 *idx)
{
	guint32 words = (s->d->m->st.n_pages + 63) / 64;
	guint n = 0;

	for (guint32 w = 0; w < words && n < SAVE_BATCH && s->n_dirty; w++) {
		guint32 wi = (s->scan / 64 + w) % words;

		while (s->dirty[wi] && n < SAVE_BATCH) {
			int b = __builtin_ctzll(s->dirty[wi]);

			s->dirty[wi] &= s->dirty[wi] - 1;
			s->n_dirty--;
			idx[n++] = wi * 64 + (guint32)b;
		}
		if (n)
			s->scan = wi * 64;
	}
	return n;
}

static gpointer save_thread(gpointer data)
{
	EmuSession *s = data;
	EmuDev *d = s->d;
	const EmuState *st = &d->m->st;
	g_autofree guint8 *buf = g_malloc(SAVE_BATCH * (EMU_PAGE_SIZE + 64) +
					  EMU_CTRL_MAX_PAYLOAD + 256);
	gboolean by_ref = !faults_armed(&s->faults);
	guint64 out_off = 0;
	sigset_t set;

	/* A reader that goes away must not kill the process with SIGPIPE. */
	sigemptyset(&set);
	sigaddset(&set, SIGPIPE);
	pthread_sigmask(SIG_BLOCK, &set, NULL);

	for (;;) {
		guint32 idx[SAVE_BATCH], ver[SAVE_BATCH];
		gboolean spl[SAVE_BATCH];
		guint n_pages = 0;
		gsize n = 0;
		gboolean end = FALSE, idle = FALSE;
		Batch b = { .buf = buf };

		g_mutex_lock(&d->mu);
		if (s->abort) {
			g_mutex_unlock(&d->mu);
			break;
		}
		emu_dev_tick(d);
		switch (s->stage) {
		case SAVE_HEADER:
			n = emu_encode_header(st, buf);
			n += emu_encode_ctrl(&st->ctrl, buf + n);
			s->n_records++;
			s->stage = SAVE_PAGES;
			break;
		case SAVE_PAGES:
			while (n_pages < SAVE_BATCH && s->cursor < st->n_pages)
				idx[n_pages++] = s->cursor++;
			if (s->cursor == st->n_pages)
				s->stage = SAVE_DIRTY;
			break;
		case SAVE_DIRTY:
			if (s->n_dirty)
				n_pages = take_dirty(s, idx);
			else if (s->final)
				s->stage = s->precopy ? SAVE_CTRL : SAVE_END;
			else
				idle = TRUE;
			break;
		case SAVE_CTRL:
			n = emu_encode_ctrl(&st->ctrl, buf);
			s->n_records++;
			s->stage = SAVE_END;
			break;
		case SAVE_END:
			end = TRUE;
			s->stage = SAVE_DONE;
			break;
		case SAVE_DONE:
			idle = TRUE;
			break;
		}
		for (guint i = 0; i < n_pages; i++) {
			ver[i] = st->ver[idx[i]];
			spl[i] = emu_page_spilled(st, idx[i]);
		}
		s->busy = n || n_pages || end;
		g_mutex_unlock(&d->mu);

		if (idle) {
			if (s->stage == SAVE_DONE) {
				wait_abort(s);
				break;
			}
			wait_wake(s, PRECOPY_POLL_US);
			continue;
		}
		/* Page contents are a pure function of the snapshot taken above. */
		s->crc = nvfm_crc32c(s->crc, buf, n);
		batch_take(&b, n);
		for (guint i = 0; i < n_pages; i++) {
			gsize len = emu_page_len(st, idx[i]);
			guint8 *rec = buf + b.used;
			gsize h = emu_encode_page_header(idx[i], ver[i], (guint32)len, rec);
			EmuPageGen g;
			int r = 0;

			s->crc = nvfm_crc32c(s->crc, rec, h);
			batch_take(&b, h);
			if (spl[i]) {
				r = emu_page_read(st, idx[i], ver[i], TRUE, batch_take(&b, len));
				s->crc = nvfm_crc32c(s->crc, rec + h, len);
			} else {
				/* generated: its CRC comes from the pool's tables */
				emu_page_gen(st, idx[i], ver[i], &g);
				s->crc = emu_page_crc(st, &g, len, s->crc);
				if (by_ref && len > EMU_TWEAK_SIZE) {
					memcpy(batch_take(&b, EMU_TWEAK_SIZE), g.tweak, EMU_TWEAK_SIZE);
					batch_ref(&b, g.window, len - EMU_TWEAK_SIZE);
				} else {
					emu_page_gen_copy(&g, batch_take(&b, len), len);
				}
			}
			if (r < 0) {
				g_debug("%s: reading page %u: %s", d->m->name, idx[i], g_strerror(-r));
				s->io_error = r;
				close_write_end(s);
				wait_abort(s);
				goto out;
			}
			s->n_records++;
		}
		if (end)
			batch_take(&b, emu_encode_end(s->offset, s->n_records, &s->crc,
						      buf + b.used));
		s->offset += b.len;
		if (!emit(s, &b, &out_off)) {
			g_mutex_lock(&d->mu);
			s->busy = FALSE;
			g_mutex_unlock(&d->mu);
			wait_abort(s);
			break;
		}
		g_mutex_lock(&d->mu);
		s->busy = FALSE;
		g_mutex_unlock(&d->mu);
		if (end) {
			g_debug("%s: save stream complete, %" G_GUINT64_FORMAT " bytes", d->m->name,
				s->offset);
			close_write_end(s);
		}
	}
out:
	return NULL;
}

/* ---- the resume side ---- */

static gpointer resume_thread(gpointer data)
{
	EmuSession *s = data;
	gsize chunk = s->faults.slow_us ? EMU_PAGE_SIZE : IO_CHUNK;
	g_autofree guint8 *buf = g_malloc(chunk);
	gboolean seen_final = FALSE;

	for (;;) {
		gssize n = read(s->fd, buf, chunk);
		gboolean eof = n == 0;
		gboolean ab, fin;

		if (n > 0) {
			if (s->faults.slow_us && !pace(s, s->faults.slow_us))
				break;
			emu_parser_feed(s->parser, buf, (gsize)n);
			if (emu_parser_failed(s->parser)) {
				g_mutex_lock(&s->d->mu);
				s->rejected = TRUE;
				g_mutex_unlock(&s->d->mu);
			}
			continue;
		}
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno != EAGAIN) {
			s->io_error = -errno;
			break;
		}
		/* The pipe is empty. The engine's last write came before it
		 * asked for STOP, so once "final" has been seen, the next empty
		 * pipe means everything has been parsed. */
		g_mutex_lock(&s->d->mu);
		ab = s->abort;
		fin = s->final;
		g_mutex_unlock(&s->d->mu);
		if (ab || (fin && seen_final))
			break;
		if (fin) {
			seen_final = TRUE;
			continue;
		}
		if (eof) {
			wait_wake(s, -1);
		} else {
			struct pollfd pf[2] = {
				{ .fd = s->fd, .events = POLLIN },
				{ .fd = s->wake, .events = POLLIN },
			};

			if (poll(pf, 2, -1) > 0 && pf[1].revents)
				drain_wake(s);
		}
	}
	return NULL;
}

/* ---- sessions ---- */

/* A session's pipe and wake-up eventfd; the device's end is @out_fd.
 * NULL with *err = -errno when either cannot be made. */
static EmuSession *session_new(EmuDev *d, gboolean resume, int *out_fd, int *err)
{
	EmuSession *s;
	int pfd[2], ours, theirs;
	struct stat sb;

	*out_fd = -1;
	if (pipe2(pfd, O_CLOEXEC) < 0) {
		*err = -errno;
		return NULL;
	}
	ours = resume ? pfd[0] : pfd[1];
	theirs = resume ? pfd[1] : pfd[0];
	s = g_new0(EmuSession, 1);
	s->wake = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (s->wake < 0) {
		*err = -errno;
		close(pfd[0]);
		close(pfd[1]);
		g_free(s);
		return NULL;
	}
	s->d = d;
	s->resume = resume;
	s->fd = ours;
	s->faults = d->faults;
	fstat(ours, &sb);
	s->pipe_dev = sb.st_dev;
	s->pipe_ino = sb.st_ino;
	/* A bigger pipe keeps the copy loop in large steps; best effort: an
	 * unprivileged user past fs.pipe-user-pages-soft gets less. */
	for (int want = PIPE_SIZE; want >= MIN_PIPE_SIZE; want /= 2) {
		if (fcntl(ours, F_SETPIPE_SZ, want) >= 0)
			break;
	}
	fcntl(ours, F_SETFL, fcntl(ours, F_GETFL) | O_NONBLOCK);
	*out_fd = theirs;
	return s;
}

/* Make @s the device's session and start its model thread. */
static void session_start(EmuDev *d, EmuSession *s, const char *thread_name,
			  GThreadFunc fn, const char *what)
{
	g_mutex_lock(&d->mu);
	d->sess = s;
	g_mutex_unlock(&d->mu);
	s->thread = g_thread_new(thread_name, fn, s);
	g_debug("%s: %s session started", d->m->name, what);
}

int emu_session_start_save(EmuDev *d, gboolean precopy, int *out_fd)
{
	const EmuState *st = &d->m->st;
	int r = 0;
	EmuSession *s = session_new(d, FALSE, out_fd, &r);

	if (!s)
		return r;
	s->precopy = precopy;
	s->final = !precopy;
	s->stage = SAVE_HEADER;
	if (precopy) {
		s->dirty = g_new0(guint64, (st->n_pages + 63) / 64 + 1);
		s->initial_size = emu_image_size(st) - EMU_REC_HEADER_SIZE - EMU_END_PAYLOAD_SIZE;
		s->last_initial = s->initial_size;
	}
	session_start(d, s, "nvfm-emu-save", save_thread, precopy ? "PRE_COPY" : "STOP_COPY");
	return 0;
}

/* The largest state a load accepts in this process (see
 * nvfm_emu_set_max_load()); the agent lowers it for its peers. */
static guint64 max_load = EMU_MAX_BLOB;
G_LOCK_DEFINE_STATIC(max_load);

void nvfm_emu_set_max_load(guint64 bytes)
{
	G_LOCK(max_load);
	max_load = bytes && bytes < EMU_MAX_BLOB ? bytes : EMU_MAX_BLOB;
	G_UNLOCK(max_load);
}

static guint64 emu_max_load(void)
{
	guint64 v;

	G_LOCK(max_load);
	v = max_load;
	G_UNLOCK(max_load);
	return v;
}

int emu_session_start_resume(EmuDev *d, int *out_fd)
{
	g_autofree char *spill = emu_path(d->m->dir, d->m->name, ".blob.new");
	int r = 0;
	EmuSession *s = session_new(d, TRUE, out_fd, &r);

	if (!s)
		return r;
	s->parser = emu_parser_new(spill, emu_max_load());
	if (d->faults.accept_corrupt)
		emu_parser_skip_crc(s->parser);
	session_start(d, s, "nvfm-emu-resume", resume_thread, "RESUMING");
	return 0;
}

static void session_free(EmuSession *s)
{
	nvfm_close_fd(&s->fd);
	nvfm_close_fd(&s->wake);
	emu_parser_free(s->parser);
	g_free(s->dirty);
	g_free(s);
}

/* Disable the data_fd: the thread stops and the pipe's inode no longer
 * names a live session, so reads through any copy of the fd get ENODEV. */
void emu_session_end(EmuDev *d)
{
	EmuSession *s = d->sess;

	if (!s)
		return;
	g_mutex_lock(&d->mu);
	s->abort = TRUE;
	d->sess = NULL;
	g_mutex_unlock(&d->mu);
	emu_session_wake(s);
	g_thread_join(s->thread);
	session_free(s);
}

/* RESUMING -> STOP: drain what the engine wrote, validate, commit. */
int emu_session_finish_resume(EmuDev *d)
{
	EmuSession *s = d->sess;
	EmuModel *m = d->m;
	g_autoptr(GError) error = NULL;
	EmuState st = { .spill_fd = -1 };

	g_mutex_lock(&d->mu);
	s->final = TRUE;
	g_mutex_unlock(&d->mu);
	emu_session_wake(s);
	g_thread_join(s->thread);
	s->thread = NULL;
	g_mutex_lock(&d->mu);
	d->sess = NULL;
	g_mutex_unlock(&d->mu);

	if (s->faults.reject_resume) {
		g_debug("%s: reject-resume fault: refusing the loaded state", m->name);
		session_free(s);
		return -EIO;
	}
	if (s->io_error) {
		g_debug("%s: reading the resume pipe: %s", m->name, g_strerror(-s->io_error));
		session_free(s);
		return -EIO;
	}
	if (!emu_parser_finish(s->parser, &st, &error)) {
		g_debug("%s: %s", m->name, error->message);
		session_free(s);
		return -EINVAL;
	}
	session_free(s);

	{
		g_autofree char *staged = emu_path(m->dir, m->name, ".blob.new");
		g_autofree char *blob = emu_path(m->dir, m->name, ".blob");

		if (st.n_spilled) {
			if (fsync(st.spill_fd) < 0 || rename(staged, blob) < 0) {
				int e = errno;

				g_debug("%s: committing spilled pages: %s", m->name, g_strerror(e));
				emu_state_clear(&st);
				unlink(staged);
				return -EIO;
			}
		} else {
			unlink(blob);
		}
	}
	g_mutex_lock(&d->mu);
	emu_state_clear(&m->st);
	m->st = st;
	m->cfg.blob_size = st.blob_size;
	m->cfg.seed = st.seed;
	m->cfg.n_io_queues = st.n_io_queues;
	g_mutex_unlock(&d->mu);
	if (!emu_model_save(m, &error))
		g_debug("%s: persisting the loaded state: %s", m->name, error->message);
	g_debug("%s: loaded state committed (%u pages, %u spilled)", m->name, st.n_pages,
		st.n_spilled);
	return 0;
}
