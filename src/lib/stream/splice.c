/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Zero-copy moves between a device's data_fd and a stream socket, through
 * a pipe: splice(2) hands page references along instead of copying bytes,
 * which is what lets a plain-TCP transfer run at the speed of the link.
 * The price is that userspace never sees the bytes, so no CRC32C or
 * SHA-256 can be computed on them; docs/protocol.md says what vouches for
 * them instead and when this path is used at all.
 *
 * A data_fd whose driver has no splice support (VFIO migration files only
 * implement read and write) answers EINVAL; the callers then copy.
 */
#define G_LOG_DOMAIN "nvfm-splice"

#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <signal.h>
#include <string.h>
#include <time.h>
#include <sys/socket.h>

#include "channel-private.h"
#include "splice.h"

#define PIPE_WANT (1 << 20)

gboolean nvfm_splicer_init(NvfmSplicer *sp, GError **error)
{
	int p[2];
	int cap;

	memset(sp, 0, sizeof(*sp));
	sp->rd = sp->wr = sp->src = -1;
	sp->dev_pipe = -1;
	if (pipe2(p, O_CLOEXEC | O_NONBLOCK) < 0) {
		nvfm_set_error_errno(error, -errno, "creating a pipe");
		return FALSE;
	}
	sp->rd = p[0];
	sp->wr = p[1];
	/* Bigger steps, fewer syscalls; unprivileged callers may be capped
	 * by fs.pipe-max-size, so keep whatever we got. */
	cap = fcntl(sp->wr, F_SETPIPE_SZ, PIPE_WANT);
	if (cap < 0)
		cap = fcntl(sp->wr, F_GETPIPE_SZ);
	sp->cap = cap > 0 ? (gsize)cap : 65536;
	return TRUE;
}

static void sigpipe_hold(NvfmSplicer *sp);
static void sigpipe_release(NvfmSplicer *sp);

void nvfm_splicer_clear(NvfmSplicer *sp)
{
	sigpipe_release(sp);
	nvfm_close_fd(&sp->rd);
	nvfm_close_fd(&sp->wr);
	sp->fill = 0;
}

gboolean nvfm_splice_fd_ok(int fd)
{
	int type = 0;
	socklen_t sl = sizeof(type);

	return fd >= 0 && getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &sl) == 0 &&
	       type == SOCK_STREAM;
}

static gboolean wait_for(int fd, short ev, int timeout_ms, const char *what, GError **error)
{
	int r = nvfm_poll_fd(fd, ev, timeout_ms);

	if (r > 0)
		return TRUE;
	if (r == 0)
		g_set_error(error, NVFM_ERROR, NVFM_ERROR_TIMEOUT,
			    "%s made no progress for %d ms", what, timeout_ms);
	else
		nvfm_set_error_errno(error, r, "poll on %s", what);
	return FALSE;
}

static void io_error(GError **error, int err, const char *what)
{
	nvfm_set_error_errno(error, -err, "%s", what);
	if (error && *error && (err == EPIPE || err == ECONNRESET))
		(*error)->code = NVFM_ERROR_IO;
}

static gboolean is_pipe(NvfmSplicer *sp, int dfd)
{
	struct stat sb;

	if (sp->dev_pipe < 0)
		sp->dev_pipe = fstat(dfd, &sb) == 0 && S_ISFIFO(sb.st_mode);
	return sp->dev_pipe == 1;
}

/*
 * A pipe data_fd: say how much it holds, and let the socket splice take
 * it from there. We are its only reader, so that much stays available.
 */
static gssize from_device_pipe(NvfmSplicer *sp, NvfmDevice *dev, int dfd, gsize max,
			       int timeout_ms, GError **error)
{
	for (;;) {
		int avail = 0;
		int r;

		if (ioctl(dfd, FIONREAD, &avail) < 0) {
			nvfm_set_error_errno(error, -errno, "%s: FIONREAD on data_fd",
					     nvfm_device_address(dev));
			return -1;
		}
		if (avail > 0) {
			sp->fill = MIN((gsize)avail, max);
			sp->src = dfd;
			return (gssize)sp->fill;
		}
		r = nvfm_poll_fd(dfd, POLLIN, timeout_ms);
		if (r == 0) {
			g_set_error(error, NVFM_ERROR, NVFM_ERROR_TIMEOUT,
				    "the device data_fd made no progress for %d ms", timeout_ms);
			return -1;
		}
		if (r < 0) {
			nvfm_set_error_errno(error, r, "poll on the device data_fd");
			return -1;
		}
		/* readable yet empty: the writer closed, the stream ended */
		if (ioctl(dfd, FIONREAD, &avail) == 0 && avail == 0)
			return 0;
	}
}

gssize nvfm_splice_from_device(NvfmSplicer *sp, NvfmDevice *dev, gsize max, int timeout_ms,
			       GError **error)
{
	int dfd = nvfm_device_data_fd(dev);

	g_return_val_if_fail(sp->fill == 0, -1);
	if (dfd < 0) {
		g_set_error(error, NVFM_ERROR, NVFM_ERROR_STATE,
			    "%s: no data_fd: the device is not in a saving state",
			    nvfm_device_address(dev));
		return -1;
	}
	if (is_pipe(sp, dfd))
		return from_device_pipe(sp, dev, dfd, max, timeout_ms, error);
	sp->src = sp->rd;
	max = MIN(max, sp->cap);
	while (sp->fill < max) {
		gssize n = splice(dfd, NULL, sp->wr, NULL, max - sp->fill,
				  SPLICE_F_MOVE | SPLICE_F_NONBLOCK);

		if (n > 0) {
			sp->fill += (gsize)n;
			continue;
		}
		if (n == 0)
			break;	/* end of the device's stream */
		if (errno == EINTR)
			continue;
		if (errno == EAGAIN) {
			/* Ship what we have rather than wait for a full frame. */
			if (sp->fill > 0)
				break;
			if (!wait_for(dfd, POLLIN, timeout_ms, "the device data_fd", error))
				return -1;
			continue;
		}
		if (errno == EINVAL && sp->fill == 0) {
			g_debug("%s: data_fd does not splice; copying through userspace",
				nvfm_device_address(dev));
			sp->device_no_splice = TRUE;
			return NVFM_SPLICE_UNSUPPORTED;
		}
		if (errno == ENODEV) {
			g_set_error(error, NVFM_ERROR, NVFM_ERROR_DEVICE,
				    "%s: the data_fd was disabled by the driver (ENODEV)",
				    nvfm_device_address(dev));
			return -1;
		}
		nvfm_set_error_errno(error, -errno, "%s: reading device state",
				     nvfm_device_address(dev));
		if (error && *error)
			(*error)->code = NVFM_ERROR_DEVICE;
		return -1;
	}
	return (gssize)sp->fill;
}

/*
 * splice(2) into a socket or a pipe has no MSG_NOSIGNAL: a reader that
 * went away would kill the process with SIGPIPE. Hold the signal for this
 * thread until the splicer is cleared, then swallow what was raised.
 */
static void sigpipe_hold(NvfmSplicer *sp)
{
	sigset_t set;

	if (sp->sigpipe_held)
		return;
	sigemptyset(&set);
	sigaddset(&set, SIGPIPE);
	pthread_sigmask(SIG_BLOCK, &set, &sp->sigpipe_old);
	sp->sigpipe_held = TRUE;
}

static void sigpipe_release(NvfmSplicer *sp)
{
	sigset_t pending;

	if (!sp->sigpipe_held)
		return;
	sp->sigpipe_held = FALSE;
	if (!sigismember(&sp->sigpipe_old, SIGPIPE) && sigpending(&pending) == 0 &&
	    sigismember(&pending, SIGPIPE)) {
		sigset_t set;
		struct timespec zero = { 0 };

		sigemptyset(&set);
		sigaddset(&set, SIGPIPE);
		while (sigtimedwait(&set, NULL, &zero) > 0)
			;
	}
	pthread_sigmask(SIG_SETMASK, &sp->sigpipe_old, NULL);
}

/*
 * After a move that did nothing (@n <= 0): 1 to try again (EINTR, or
 * EAGAIN and @fd is now ready for @events), -1 when that wait failed
 * (@error set), 0 when the caller must judge errno itself.
 */
static int again(gssize n, int fd, short events, int timeout_ms, const char *what,
		 GError **error)
{
	if (n < 0 && errno == EINTR)
		return 1;
	if (n < 0 && errno == EAGAIN)
		return wait_for(fd, events, timeout_ms, what, error) ? 1 : -1;
	return 0;
}

/*
 * After a send to the peer that moved nothing (@n <= 0): TRUE to try
 * again, FALSE with @error set (@what names the step that failed). The
 * waits are the channel's, so that they count against the peer's silence.
 */
static gboolean send_again(gssize n, NvfmChannel *ch, const char *what, GError **error)
{
	if (n < 0 && errno == EINTR)
		return TRUE;
	if (n < 0 && errno == EAGAIN)
		return nvfm_channel_wait(ch, POLLOUT, error);
	nvfm_channel_io_error(ch, n < 0 ? errno : EPIPE, what, error);
	return FALSE;
}

gboolean nvfm_splice_to_socket(NvfmSplicer *sp, NvfmChannel *ch, GError **error)
{
	int fd = nvfm_channel_get_fd(ch);

	sigpipe_hold(sp);
	while (sp->fill > 0) {
		gssize n = splice(sp->src, NULL, fd, NULL, sp->fill,
				  SPLICE_F_MOVE | SPLICE_F_MORE | SPLICE_F_NONBLOCK);

		if (n > 0) {
			sp->fill -= (gsize)n;
			continue;
		}
		if (!send_again(n, ch, "sending device state", error))
			return FALSE;
	}
	return TRUE;
}

gboolean nvfm_splice_send_header(NvfmChannel *ch, const guint8 *raw, gsize len, GError **error)
{
	int fd = nvfm_channel_get_fd(ch);

	while (len > 0) {
		gssize n = send(fd, raw, len, MSG_MORE | MSG_NOSIGNAL);

		if (n > 0) {
			raw += n;
			len -= (gsize)n;
			continue;
		}
		if (!send_again(n, ch, "sending a frame header", error))
			return FALSE;
	}
	return TRUE;
}

/* Empty the pipe into the device. */
static gboolean drain_to_device(NvfmSplicer *sp, NvfmDevice *dev, guint8 *bounce,
				int timeout_ms, GError **error)
{
	int dfd = nvfm_device_data_fd(dev);

	while (sp->fill > 0) {
		gssize n;
		int r;

		if (sp->device_no_splice) {
			n = read(sp->rd, bounce, sp->fill);
			if (n < 0 && errno == EINTR)
				continue;
			if (n <= 0) {
				io_error(error, n < 0 ? errno : EIO, "reading the bounce pipe");
				return FALSE;
			}
			if (!nvfm_device_write_all(dev, bounce, (gsize)n, timeout_ms, error))
				return FALSE;
			sp->fill -= (gsize)n;
			continue;
		}
		n = splice(sp->rd, NULL, dfd, NULL, sp->fill, SPLICE_F_MOVE | SPLICE_F_NONBLOCK);
		if (n > 0) {
			sp->fill -= (gsize)n;
			continue;
		}
		r = again(n, dfd, POLLOUT, timeout_ms, "the device data_fd", error);
		if (r < 0)
			return FALSE;
		if (r > 0)
			continue;
		if (n < 0 && errno == EINVAL) {
			g_debug("%s: data_fd does not splice; copying through userspace",
				nvfm_device_address(dev));
			sp->device_no_splice = TRUE;
			continue;
		}
		if (n < 0 && errno == ENODEV) {
			g_set_error(error, NVFM_ERROR, NVFM_ERROR_DEVICE,
				    "%s: the data_fd was disabled by the driver (ENODEV)",
				    nvfm_device_address(dev));
			return FALSE;
		}
		nvfm_set_error_errno(error, n < 0 ? -errno : -EIO, "%s: writing device state",
				     nvfm_device_address(dev));
		if (error && *error)
			(*error)->code = NVFM_ERROR_DEVICE;
		return FALSE;
	}
	return TRUE;
}

/* Wake only once a batch has arrived (or the frame's rest), and set the
 * socket only when the value changes. */
static void set_lowat(NvfmSplicer *sp, int fd, gsize want)
{
	int v = nvfm_rcv_lowat(want);

	/* 0: never set, which is the same as 1 */
	if (v == MAX(sp->lowat, 1))
		return;
	if (setsockopt(fd, SOL_SOCKET, SO_RCVLOWAT, &v, sizeof(v)) == 0)
		sp->lowat = v;
}

/* Socket straight into a pipe data_fd. */
static gboolean socket_to_device_pipe(NvfmSplicer *sp, NvfmChannel *ch, int dfd, gsize len,
				      int timeout_ms, GError **error)
{
	int fd = nvfm_channel_get_fd(ch);
	gboolean ok = FALSE;
	gsize done = 0;

	while (done < len) {
		gssize n = splice(fd, NULL, dfd, NULL, len - done, SPLICE_F_MOVE | SPLICE_F_NONBLOCK);

		if (n > 0) {
			done += (gsize)n;
			continue;
		}
		if (n == 0) {
			g_set_error(error, NVFM_ERROR, NVFM_ERROR_PROTOCOL,
				    "stream truncated in DATA (%zu of %zu bytes)", done, len);
			goto out;
		}
		if (errno == EINTR)
			continue;
		if (errno == EAGAIN) {
			/* either the device is full or the peer is slow: wait for
			 * the one that holds us up */
			if (nvfm_poll_fd(dfd, POLLOUT, 0) <= 0) {
				if (!wait_for(dfd, POLLOUT, timeout_ms, "the device data_fd", error))
					goto out;
			} else {
				set_lowat(sp, fd, len - done);
				if (!nvfm_channel_wait(ch, POLLIN, error))
					goto out;
			}
			continue;
		}
		if (errno == EPIPE || errno == ENODEV) {
			g_set_error(error, NVFM_ERROR, NVFM_ERROR_DEVICE,
				    "the device stopped taking state (%s)", g_strerror(errno));
			goto out;
		}
		nvfm_channel_io_error(ch, errno, "receiving device state", error);
		goto out;
	}
	ok = TRUE;
out:
	/* headers and control frames are read byte-exact: wake for any */
	set_lowat(sp, fd, 1);
	return ok;
}

gboolean nvfm_splice_socket_to_device(NvfmSplicer *sp, NvfmChannel *ch, NvfmDevice *dev,
				      gsize len, guint8 *bounce, int timeout_ms, GError **error)
{
	int fd = nvfm_channel_get_fd(ch);
	int dfd = nvfm_device_data_fd(dev);
	gsize done = 0;

	if (dfd < 0) {
		g_set_error(error, NVFM_ERROR, NVFM_ERROR_STATE,
			    "%s: no data_fd: the device is not RESUMING", nvfm_device_address(dev));
		return FALSE;
	}
	/* a pipe whose reader died raises SIGPIPE */
	sigpipe_hold(sp);
	if (is_pipe(sp, dfd))
		return socket_to_device_pipe(sp, ch, dfd, len, timeout_ms, error);
	while (done < len) {
		gssize n = splice(fd, NULL, sp->wr, NULL, MIN(len - done, sp->cap - sp->fill),
				  SPLICE_F_MOVE | SPLICE_F_NONBLOCK);

		if (n > 0) {
			sp->fill += (gsize)n;
			done += (gsize)n;
			if (sp->fill == sp->cap || done == len) {
				if (!drain_to_device(sp, dev, bounce, timeout_ms, error))
					return FALSE;
			}
			continue;
		}
		if (n == 0) {
			g_set_error(error, NVFM_ERROR, NVFM_ERROR_PROTOCOL,
				    "stream truncated in DATA (%zu of %zu bytes)", done, len);
			return FALSE;
		}
		if (errno == EINTR)
			continue;
		if (errno == EAGAIN) {
			/* The socket is dry: give the device what we hold meanwhile. */
			if (!drain_to_device(sp, dev, bounce, timeout_ms, error) ||
			    !nvfm_channel_wait(ch, POLLIN, error))
				return FALSE;
			continue;
		}
		nvfm_channel_io_error(ch, errno, "receiving device state", error);
		return FALSE;
	}
	return TRUE;
}
