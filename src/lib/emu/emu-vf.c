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
 * only one process can have a device open. The model itself (state,
 * stream format, files) is in emu-model.c.
 *
 * The device must not be what limits a transfer, so its data path does no
 * per-byte work it can avoid: generated pages are copied from a small
 * per-seed pool with their CRCs from the pool's tables (emu-model.c), and
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

#include "emu-private.h"

#define S_ERR NVFM_MIG_STATE_ERROR
#define S_STOP NVFM_MIG_STATE_STOP
#define S_RUN NVFM_MIG_STATE_RUNNING
#define S_SC NVFM_MIG_STATE_STOP_COPY
#define S_RES NVFM_MIG_STATE_RESUMING
#define S_RP2P NVFM_MIG_STATE_RUNNING_P2P
#define S_PC NVFM_MIG_STATE_PRE_COPY
#define S_PCP2P NVFM_MIG_STATE_PRE_COPY_P2P

/* Pages the save thread generates per pass; bounds its buffer to ~1 MiB. */
#define SAVE_BATCH 16
/* The resume thread's reads: a pipeful at a time (wakeups and syscalls
 * cost more than cache misses here). */
#define IO_CHUNK (1u << 20)
#define PIPE_SIZE (1 << 20)
#define MIN_PIPE_SIZE (256 << 10)
/* How often an idle PRE_COPY thread looks for freshly dirtied pages. */
#define PRECOPY_POLL_US 20000
/* Wall time that counts for dirtying at once: a device left open and
 * untouched for an hour should not stall its next call for seconds. */
#define MAX_TICK_US (10 * G_USEC_PER_SEC)

typedef enum {
	SAVE_HEADER,	/* stream header + CTRL */
	SAVE_PAGES,	/* every page once, in index order */
	SAVE_DIRTY,	/* pages dirtied after they were sent */
	SAVE_CTRL,	/* final controller state (PRE_COPY sessions) */
	SAVE_END,
	SAVE_DONE,
} SaveStage;

typedef struct _EmuDev EmuDev;

typedef struct {
	EmuDev *d;
	gboolean resume;
	gboolean precopy;
	int fd;			/* our end of the pipe */
	int wake;		/* eventfd: abort, final, new dirty pages */
	dev_t pipe_dev;
	ino_t pipe_ino;
	EmuFaults faults;
	GThread *thread;

	/* shared with the model thread, under d->mu */
	gboolean abort;
	gboolean final;		/* save: STOP_COPY reached; resume: drain and stop */
	SaveStage stage;
	guint32 cursor;		/* next page of the initial pass */
	guint64 *dirty;		/* pages to send again */
	guint32 n_dirty;
	guint32 scan;
	gboolean busy;		/* the thread holds bytes not yet in the pipe */
	gboolean stalled;	/* stop-after fired */
	gboolean closed;	/* write end closed: end of stream or truncate-after */
	guint64 produced;	/* bytes written into the pipe */
	guint64 initial_size;
	guint64 last_initial;

	/* model thread only */
	guint64 offset;		/* stream bytes generated (before faults) */
	guint32 crc;
	guint32 n_records;
	EmuParser *parser;
	int io_error;
} EmuSession;

struct _EmuDev {
	EmuModel *m;
	int lock_fd;
	GMutex mu;
	NvfmMigState state;
	gint64 last_tick;
	guint64 carry;		/* dirtied bytes short of a page */
	EmuFaults faults;
	EmuSession *sess;
};

static EmuDev *dev_emu(NvfmDevice *dev)
{
	return dev->priv;
}

static gboolean state_running(NvfmMigState s)
{
	return s == S_RUN || s == S_RP2P || s == S_PC || s == S_PCP2P;
}

static gboolean state_precopy(NvfmMigState s)
{
	return s == S_PC || s == S_PCP2P;
}

/* ---- wakeups ---- */

static void wake(EmuSession *s)
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
static void tick(EmuDev *d)
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
		wake(d->sess);
}

/* ---- the save side ---- */

/* Called with d->mu held. */
static gboolean save_has_more(EmuSession *s)
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
		tick(d);
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

static int start_save(EmuDev *d, gboolean precopy, int *out_fd)
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

static int start_resume(EmuDev *d, int *out_fd)
{
	g_autofree char *spill = emu_path(d->m->dir, d->m->name, ".blob.new");
	int r = 0;
	EmuSession *s = session_new(d, TRUE, out_fd, &r);

	if (!s)
		return r;
	s->parser = emu_parser_new(spill);
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
static void session_end(EmuDev *d)
{
	EmuSession *s = d->sess;

	if (!s)
		return;
	g_mutex_lock(&d->mu);
	s->abort = TRUE;
	d->sess = NULL;
	g_mutex_unlock(&d->mu);
	wake(s);
	g_thread_join(s->thread);
	session_free(s);
}

/* RESUMING -> STOP: drain what the engine wrote, validate, commit. */
static int finish_resume(EmuDev *d)
{
	EmuSession *s = d->sess;
	EmuModel *m = d->m;
	g_autoptr(GError) error = NULL;
	EmuState st = { .spill_fd = -1 };

	g_mutex_lock(&d->mu);
	s->final = TRUE;
	g_mutex_unlock(&d->mu);
	wake(s);
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

static void set_state_locked(EmuDev *d, NvfmMigState s)
{
	g_mutex_lock(&d->mu);
	tick(d);
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
		session_end(d);
		set_state_locked(d, S_ERR);
		return -EIO;
	}
	if (from == S_RES) {
		r = finish_resume(d);
		set_state_locked(d, r < 0 ? S_ERR : to);
		return r;
	}
	if ((state_precopy(from) || from == S_SC) && !state_precopy(to) && to != S_SC) {
		/* leaving the saving states: the session's fd goes dead */
		session_end(d);
		set_state_locked(d, to);
		return 0;
	}
	if (state_precopy(from) && to == S_SC) {
		g_mutex_lock(&d->mu);
		tick(d);
		d->state = to;
		d->sess->final = TRUE;
		g_mutex_unlock(&d->mu);
		wake(d->sess);
		return 0;
	}
	set_state_locked(d, to);
	if ((from == S_STOP && to == S_SC) || (!state_precopy(from) && state_precopy(to)))
		r = start_save(d, to != S_SC, out_fd);
	else if (to == S_RES)
		r = start_resume(d, out_fd);
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
	g_mutex_lock(&d->mu);
	tick(d);
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

static int emu_probe_dma_logging(NvfmDevice *dev)
{
	return -ENOTTY;
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
	reload_faults(d);
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

	session_end(d);
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
		tick(d);
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
		tick(d);
		/* PRE_COPY with nothing queued and nothing coming: ENOMSG, as
		 * drivers answer, rather than a read that would wait. */
		if (!save_has_more(d->sess) && pipe_fill(data_fd) == 0) {
			g_mutex_unlock(&d->mu);
			return -ENOMSG;
		}
	}
	g_mutex_unlock(&d->mu);
	n = read(data_fd, buf, len);
	if (n >= 0)
		return n;
	n = -errno;
	if (n == -EAGAIN && pc) {
		g_mutex_lock(&d->mu);
		if (d->sess && !save_has_more(d->sess) && pipe_fill(data_fd) == 0)
			n = -ENOMSG;
		g_mutex_unlock(&d->mu);
	}
	return n;
}

static gssize emu_data_write(NvfmDevice *dev, int data_fd, const void *buf, gsize len)
{
	EmuDev *d = dev_emu(dev);
	guint32 cap = d->m->cfg.max_write;
	gboolean ok;
	gssize n;

	g_mutex_lock(&d->mu);
	ok = fd_is_session(d, data_fd, TRUE);
	g_mutex_unlock(&d->mu);
	if (!ok)
		return -ENODEV;
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
	emu_model_free(d->m);
	nvfm_close_fd(&d->lock_fd);
	g_mutex_clear(&d->mu);
	g_free(d);
}

/* Like the kernel on the last close: the device goes back to RUNNING
 * (through a reset if it sat in ERROR) and the next opener may have it. */
static void emu_close(NvfmDevice *dev)
{
	EmuDev *d = dev_emu(dev);

	if (!d)
		return;
	session_end(d);
	g_mutex_lock(&d->mu);
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

gboolean nvfm_emu_open(NvfmDevice *dev, const char *name, GError **error)
{
	g_autofree char *dir = NULL;
	g_autoptr(EmuModel) m = NULL;
	EmuDev *d;
	int lock_fd;

	if (!emu_check_name(name, error) || !open_dir(&dir, error))
		return FALSE;
	lock_fd = emu_lock(dir, name, error);
	if (lock_fd < 0)
		return FALSE;
	if (emu_model_exists(dir, name)) {
		m = emu_model_load(dir, name, error);
	} else {
		NvfmEmuConfig cfg;

		/* Like libvirt's test driver: a name that does not exist yet
		 * is a ready-made device with the defaults. */
		nvfm_emu_config_init(&cfg);
		m = emu_model_new(dir, name, &cfg, error);
		if (m && !emu_model_save(m, error))
			g_clear_pointer(&m, emu_model_free);
		if (m)
			g_debug("%s: created with the defaults in %s", name, dir);
	}
	if (!m) {
		close(lock_fd);
		return FALSE;
	}
	d = g_new0(EmuDev, 1);
	g_mutex_init(&d->mu);
	d->m = g_steal_pointer(&m);
	d->lock_fd = lock_fd;
	d->state = S_RUN;
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
	const char *env = g_getenv("NVFM_EMU_DIR");
	const char *xdg = g_getenv("XDG_RUNTIME_DIR");

	if (env && *env)
		return g_strdup(env);
	if (xdg && *xdg)
		return g_build_filename(xdg, "nvme-vf-migrate", "emu", NULL);
	if (geteuid() == 0)
		return g_strdup("/run/nvme-vf-migrate/emu");
	return g_strdup_printf("/tmp/nvme-vf-migrate-%u/emu", (guint)geteuid());
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

static gboolean parse_count(const char *knob, const char *value, guint64 max, guint64 *out,
			    GError **error)
{
	g_autoptr(GError) err = NULL;

	if (g_ascii_string_to_unsigned(value, 10, 0, max, out, &err))
		return TRUE;
	g_set_error(error, NVFM_ERROR, NVFM_ERROR_INVALID_ARG,
		    "invalid value '%s' for fault knob %s: %s", value, knob, err->message);
	return FALSE;
}

gboolean nvfm_emu_set_fault(const char *name, const char *knob, const char *value,
			    GError **error)
{
	g_autofree char *dir = NULL;
	EmuFaults f;
	guint64 v = 0;

	if (!existing_dir(name, &dir, error) || !emu_faults_load(dir, name, &f, error))
		return FALSE;
	if (g_strcmp0(knob, "fail-arc") == 0) {
		f.fail_arc = FALSE;
		if (value) {
			g_auto(GStrv) parts = g_strsplit(value, ">", 2);

			if (g_strv_length(parts) != 2) {
				g_set_error(error, NVFM_ERROR, NVFM_ERROR_INVALID_ARG,
					    "invalid value '%s' for fault knob fail-arc "
					    "(expected FROM>TO, e.g. STOP>STOP_COPY)", value);
				return FALSE;
			}
			if (!nvfm_mig_state_parse(g_strstrip(parts[0]), &f.fail_from, error) ||
			    !nvfm_mig_state_parse(g_strstrip(parts[1]), &f.fail_to, error))
				return FALSE;
			f.fail_arc = TRUE;
		}
	} else if (g_strcmp0(knob, "corrupt-byte") == 0) {
		if (value && !parse_count(knob, value, G_MAXINT64, &v, error))
			return FALSE;
		f.corrupt_byte = value ? (gint64)v : -1;
	} else if (g_strcmp0(knob, "slow-us") == 0) {
		if (value && !parse_count(knob, value, 60000000, &v, error))
			return FALSE;
		f.slow_us = v;
	} else if (g_strcmp0(knob, "stop-after") == 0) {
		if (value && !parse_count(knob, value, G_MAXINT64, &v, error))
			return FALSE;
		f.stop_after = value ? (gint64)v : -1;
	} else if (g_strcmp0(knob, "truncate-after") == 0) {
		if (value && !parse_count(knob, value, G_MAXINT64, &v, error))
			return FALSE;
		f.truncate_after = value ? (gint64)v : -1;
	} else if (g_strcmp0(knob, "reject-resume") == 0) {
		if (value && !parse_count(knob, value, 1, &v, error))
			return FALSE;
		f.reject_resume = v != 0;
	} else {
		g_set_error(error, NVFM_ERROR, NVFM_ERROR_INVALID_ARG,
			    "unknown fault knob '%s' (expected fail-arc, corrupt-byte, slow-us, "
			    "stop-after, truncate-after or reject-resume)", knob ? knob : "");
		return FALSE;
	}
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
