/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Byte channels under the frame layer: a file descriptor (file, pipe, UNIX
 * or TCP socket), a GIOStream (TLS), or a TLS connection's socket carrying
 * sealed records (seal.c) once the handshake is done. Every wait is bounded by the
 * channel's timeout so a silent peer cannot hang a migration, and a peer
 * that let one whole timeout pass gets no second one: from then on nothing
 * on the channel waits (the ABORT that follows a failure, a drain, the
 * close), so a cut link costs one timeout, not one per step.
 */
#define G_LOG_DOMAIN "nvfm-channel"

#include <fcntl.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>

#include "util/util-private.h"
#include "channel-private.h"
#include "ktls.h"
#include "readahead.h"

static void stream_error(NvfmChannel *ch, GError **error, GError *gerr);
static int socket_fd(NvfmChannel *ch);

struct _NvfmChannel {
	int fd;
	gboolean own_fd;
	gboolean is_socket;
	gboolean nonblock;	/* reads never block: no poll needed before them */
	GIOStream *stream;
	int sock_fd;		/* the socket under @stream, for shutdown and polls */
	int timeout_ms;
	gboolean silent;	/* the peer let a whole timeout pass: never wait on it again */
	char *peer;
	NvfmSeal *seal;		/* set: sealed records on the socket under @stream */
	guint8 *out;		/* a sealed record being sent */
	gsize out_cap;
	gboolean ktls_tx;	/* the kernel seals what we send */
	gboolean ktls_rx;	/* ... and opens what comes after @seal's buffer */
};

NvfmChannel *nvfm_channel_new_fd(int fd, gboolean take)
{
	NvfmChannel *ch = g_new0(NvfmChannel, 1);
	int type;
	socklen_t sl = sizeof(type);

	ch->fd = fd;
	ch->sock_fd = -1;
	ch->own_fd = take;
	ch->timeout_ms = -1;
	ch->is_socket = getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &sl) == 0;
	ch->nonblock = (fcntl(fd, F_GETFL) & O_NONBLOCK) != 0;
	/* A shell pipe holds 64 KiB: at GiB/s that is a context switch per
	 * frame on each side. 1 MiB lets sender and receiver run in parallel;
	 * failing (an unprivileged limit) only costs speed. */
	if (!ch->is_socket) {
		struct stat st;

		if (fstat(fd, &st) == 0 && S_ISFIFO(st.st_mode))
			(void)fcntl(fd, F_SETPIPE_SZ, 1 << 20);
	}
	return ch;
}

NvfmChannel *nvfm_channel_new_stream(GIOStream *stream)
{
	NvfmChannel *ch = g_new0(NvfmChannel, 1);

	ch->fd = -1;
	ch->sock_fd = -1;
	ch->stream = g_object_ref(stream);
	ch->timeout_ms = -1;
	return ch;
}

/* The GSocket under a stream: the stream itself or a TLS connection's base. */
static GSocket *stream_socket(GIOStream *stream)
{
	GIOStream *base = NULL;
	GSocket *s = NULL;

	if (G_IS_SOCKET_CONNECTION(stream))
		return g_socket_connection_get_socket(G_SOCKET_CONNECTION(stream));
	if (G_IS_TLS_CONNECTION(stream)) {
		g_object_get(stream, "base-io-stream", &base, NULL);
		if (base && NVFM_IS_READ_AHEAD_STREAM(base))
			s = nvfm_read_ahead_stream_get_socket(NVFM_READ_AHEAD_STREAM(base));
		else if (base && G_IS_SOCKET_CONNECTION(base))
			s = g_socket_connection_get_socket(G_SOCKET_CONNECTION(base));
		g_clear_object(&base);	/* the TLS connection keeps its own ref */
	}
	return s;
}

void nvfm_channel_set_timeout(NvfmChannel *ch, int timeout_ms)
{
	GSocket *s;

	ch->timeout_ms = timeout_ms;
	if (ch->stream && (s = stream_socket(ch->stream)))
		g_socket_set_timeout(s, timeout_ms < 0 ? 0 : (guint)((timeout_ms + 999) / 1000));
}

int nvfm_channel_get_timeout(NvfmChannel *ch)
{
	return ch->timeout_ms;
}

int nvfm_channel_get_fd(NvfmChannel *ch)
{
	/* the kernel's TLS both ways, nothing left to open here: its socket
	 * is as good as a plain one, splice included */
	if (ch->ktls_tx && ch->ktls_rx && !nvfm_seal_has_pending(ch->seal))
		return socket_fd(ch);
	return ch->stream ? -1 : ch->fd;
}

void nvfm_channel_set_socket_fd(NvfmChannel *ch, int fd)
{
	ch->sock_fd = fd;
}

/* The descriptor to poll and shut down: the fd, or the socket under a stream. */
static int socket_fd(NvfmChannel *ch)
{
	GSocket *s;

	if (!ch->stream)
		return ch->fd;
	if (ch->sock_fd >= 0)
		return ch->sock_fd;
	s = stream_socket(ch->stream);
	return s ? g_socket_get_fd(s) : -1;
}

int nvfm_channel_poll_fd(NvfmChannel *ch)
{
	return socket_fd(ch);
}

/*
 * A silent peer is not waited for at the close either: no TLS close_notify
 * sent into a full buffer (shutdown makes it fail at once), no unsent
 * bytes kept for a peer that takes none (a zero linger resets instead).
 */
static void let_go(NvfmChannel *ch)
{
	struct linger lg = { .l_onoff = 1, .l_linger = 0 };
	int fd = socket_fd(ch);

	if (fd < 0 || (!ch->stream && !ch->is_socket))
		return;
	(void)setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
	shutdown(fd, SHUT_RDWR);
}

void nvfm_channel_free(NvfmChannel *ch)
{
	if (!ch)
		return;
	if (ch->silent)
		let_go(ch);
	/* the TLS stream's close would send a close_notify record into the
	 * sealed stream: the peer has our last byte before it */
	else if (ch->seal && socket_fd(ch) >= 0)
		shutdown(socket_fd(ch), SHUT_WR);
	if (ch->own_fd && ch->fd >= 0)
		close(ch->fd);
	g_clear_object(&ch->stream);
	nvfm_seal_free(ch->seal);
	g_free(ch->out);
	g_free(ch->peer);
	g_free(ch);
}

void nvfm_channel_shutdown(NvfmChannel *ch)
{
	int fd = socket_fd(ch);

	/* shutdown(2) wakes a thread blocked on the socket; close would not */
	if (fd >= 0)
		shutdown(fd, SHUT_RDWR);
}

gboolean nvfm_channel_is_silent(NvfmChannel *ch)
{
	return ch->silent;
}

/* How long the next wait for the peer may last. */
static int patience(NvfmChannel *ch, int timeout_ms)
{
	return ch->silent ? 0 : timeout_ms;
}

static void mark_silent(NvfmChannel *ch)
{
	if (!ch->silent)
		g_debug("%s: silent for %d ms: no more waits on it",
			nvfm_channel_get_peer(ch), ch->timeout_ms);
	ch->silent = TRUE;
}

gboolean nvfm_channel_wait(NvfmChannel *ch, short events, GError **error)
{
	int fd = socket_fd(ch);
	int r = fd < 0 ? -EBADF : nvfm_poll_fd(fd, events, patience(ch, ch->timeout_ms));

	if (r > 0)
		return TRUE;
	if (r == 0) {
		mark_silent(ch);
		g_set_error(error, NVFM_ERROR, NVFM_ERROR_TIMEOUT,
			    "the peer sent or accepted nothing for %d ms", ch->timeout_ms);
		return FALSE;
	}
	nvfm_set_error_errno(error, r, "poll");
	return FALSE;
}

/* The kernel gave up on the peer: the connection's TCP_USER_TIMEOUT or
 * keepalive ran out (set by the transport), reporting ETIMEDOUT or what
 * the last retransmission met on its way. As silent as a timeout of ours. */
static gboolean kernel_gave_up(int err)
{
	return err == ETIMEDOUT || err == EHOSTUNREACH || err == ENETUNREACH ||
	       err == EHOSTDOWN || err == ENETDOWN;
}

void nvfm_channel_io_error(NvfmChannel *ch, int err, const char *what, GError **error)
{
	/* the kernel's TLS says a record did not open */
	if (err == EBADMSG && ch->ktls_rx) {
		g_set_error(error, NVFM_ERROR, NVFM_ERROR_INTEGRITY,
			    "%s: a TLS record from the peer does not open: altered, reordered or "
			    "cut in transit", what);
		return;
	}
	if (kernel_gave_up(err))
		mark_silent(ch);
	nvfm_set_error_errno(error, -err, "%s", what);
	if (error && *error)
		(*error)->code = kernel_gave_up(err) ? NVFM_ERROR_TIMEOUT : NVFM_ERROR_IO;
}

/* ---- sealed records ---- */

static gboolean write_all(NvfmChannel *ch, int fd, gboolean sock, const guint8 *p, gsize len,
			  GError **error);

/* Wake for a batch of a large record, as the zero-copy path does. */
static void set_lowat(int fd, gsize want)
{
	int v = nvfm_rcv_lowat(want);

	(void)setsockopt(fd, SOL_SOCKET, SO_RCVLOWAT, &v, sizeof(v));
}

/*
 * Opened bytes into @buf: 1 some, 0 none without waiting (@wait FALSE),
 * -1 the end (@error unset: the peer closed between records) or an error.
 */
static int sealed_pull(NvfmChannel *ch, guint8 *buf, gsize len, gsize *got, gboolean wait,
		       GError **error)
{
	int fd = socket_fd(ch);

	for (;;) {
		gsize need = 0, room;
		guint8 *space;
		gssize n;
		int r = nvfm_seal_take(ch->seal, buf, len, got, &need, error);

		/* with the kernel opening, the buffer only ever empties */
		if (r != 0 || len == 0 || ch->ktls_rx)
			return r;
		space = nvfm_seal_recv_space(ch->seal, &room);
		n = recv(fd, space, room, MSG_DONTWAIT);
		if (n > 0) {
			nvfm_seal_received(ch->seal, (gsize)n);
			continue;
		}
		if (n == 0) {
			if (nvfm_seal_has_pending(ch->seal))
				g_set_error(error, NVFM_ERROR, NVFM_ERROR_IO,
					    "the peer closed the connection in the middle of a "
					    "sealed record");
			return -1;
		}
		if (errno == EINTR)
			continue;
		if (errno != EAGAIN && errno != EWOULDBLOCK) {
			nvfm_channel_io_error(ch, errno, "read", error);
			return -1;
		}
		if (!wait)
			return 0;
		/* a large record: wake when a batch of it is in, then back to
		 * waking at once, which every other poll on the socket expects */
		if (need > 1)
			set_lowat(fd, need);
		if (!nvfm_channel_wait(ch, POLLIN, error)) {
			if (need > 1)
				set_lowat(fd, 1);
			return -1;
		}
		if (need > 1)
			set_lowat(fd, 1);
	}
}

static gboolean read_sealed(NvfmChannel *ch, guint8 *p, gsize len, gsize *got, GError **error)
{
	gsize done = 0;

	while (done < len) {
		gsize n = 0;
		int r = sealed_pull(ch, p + done, len - done, &n, TRUE, error);

		if (r < 0) {
			if (error && *error)
				return FALSE;
			break;
		}
		done += n;
	}
	*got = done;
	return TRUE;
}

/* Up to a MiB of data sealed per send: 64 records, one syscall. */
#define SEAL_SEND_BATCH (1u << 20)

static gboolean write_sealed(NvfmChannel *ch, const guint8 *p, gsize len, GError **error)
{
	while (len > 0) {
		gsize n = MIN(len, (gsize)SEAL_SEND_BATCH);
		gsize size = nvfm_seal_size(n);

		if (ch->out_cap < size) {
			ch->out_cap = size;
			g_free(ch->out);
			ch->out = g_malloc(ch->out_cap);
		}
		size = nvfm_seal_records(ch->seal, p, n, ch->out, error);
		if (!size || !write_all(ch, socket_fd(ch), TRUE, ch->out, size, error))
			return FALSE;
		p += n;
		len -= n;
	}
	return TRUE;
}

/* Receive until the sealed buffer ends where a record ends (exact reads:
 * nothing past it leaves the socket); the next record's number. */
static gboolean align_for_kernel(NvfmChannel *ch, guint64 *next_seq, GError **error)
{
	int fd = socket_fd(ch);

	for (;;) {
		gssize need = nvfm_seal_align(ch->seal, next_seq, error);
		gsize room;
		guint8 *space;
		gssize n;

		if (need <= 0)
			return need == 0;
		space = nvfm_seal_recv_space(ch->seal, &room);
		n = recv(fd, space, MIN(room, (gsize)need), MSG_DONTWAIT);
		if (n > 0) {
			nvfm_seal_received(ch->seal, (gsize)n);
			continue;
		}
		if (n == 0) {
			/* with TLS 1.3 a server judges our certificate after our
			 * handshake is done: a refusal ends the connection here */
			g_set_error(error, NVFM_ERROR, NVFM_ERROR_AUTH,
				    "the peer closed the connection right after the TLS "
				    "handshake (as a server that refuses our certificate does; "
				    "its log says why)");
			return FALSE;
		}
		if (errno == EINTR)
			continue;
		if (errno != EAGAIN && errno != EWOULDBLOCK) {
			nvfm_channel_io_error(ch, errno, "read", error);
			return FALSE;
		}
		if (!nvfm_channel_wait(ch, POLLIN, error))
			return FALSE;
	}
}

/*
 * The kernel's TLS takes over both directions, where it has one. A kernel
 * that refuses a key leaves that direction to userspace, which reads and
 * writes the same records: only failing to read up to the record boundary
 * (the peer gone) fails the channel.
 */
static gboolean hand_to_kernel(NvfmChannel *ch, GError **error)
{
	g_autoptr(GError) why = NULL;
	int fd = socket_fd(ch);
	NvfmSealKeys k;
	gboolean ok = TRUE;

	if (nvfm_ktls_attach(fd, &why) <= 0)
		goto userspace;
	nvfm_seal_get_keys(ch->seal, TRUE, &k);
	ch->ktls_tx = nvfm_ktls_set_keys(fd, TRUE, &k, &why);
	nvfm_seal_get_keys(ch->seal, FALSE, &k);
	if (!why) {
		ok = align_for_kernel(ch, &k.seq, error);
		ch->ktls_rx = ok && nvfm_ktls_set_keys(fd, FALSE, &k, &why);
	}
	memset(&k, 0, sizeof(k));
userspace:
	if (why)
		g_debug("%s: sealing in userspace where the kernel's TLS would not: %s",
			nvfm_channel_get_peer(ch), why->message);
	return ok;
}

gboolean nvfm_channel_seal(NvfmChannel *ch, NvfmSeal *seal, gboolean kernel, GError **error)
{
	g_return_val_if_fail(!ch->seal && socket_fd(ch) >= 0, FALSE);
	ch->seal = seal;
	if (!write_all(ch, socket_fd(ch), TRUE, (const guint8 *)NVFM_SEAL_PREAMBLE,
		       NVFM_SEAL_PREAMBLE_SIZE, error))
		return FALSE;
	return !kernel || hand_to_kernel(ch, error);
}

const char *nvfm_channel_record_layer(NvfmChannel *ch)
{
	if (!ch->stream)
		return NULL;
	if (ch->ktls_tx && ch->ktls_rx)
		return "sealed, kernel TLS";
	if (ch->ktls_tx || ch->ktls_rx)
		return ch->ktls_tx ? "sealed, kernel TLS sending" : "sealed, kernel TLS receiving";
	return ch->seal ? "sealed" : "GIO TLS";
}

gboolean nvfm_channel_readable(NvfmChannel *ch, int timeout_ms)
{
	int fd;

	if (ch->seal) {
		/* a part of a record is not something to read yet */
		if (nvfm_seal_ready(ch->seal))
			return TRUE;
	} else if (ch->stream) {
		GInputStream *in = g_io_stream_get_input_stream(ch->stream);

		/* TLS may hold a decrypted record that the socket no longer shows */
		if (G_IS_POLLABLE_INPUT_STREAM(in) &&
		    g_pollable_input_stream_can_poll(G_POLLABLE_INPUT_STREAM(in)) &&
		    g_pollable_input_stream_is_readable(G_POLLABLE_INPUT_STREAM(in)))
			return TRUE;
	}
	fd = socket_fd(ch);
	if (fd < 0)
		return FALSE;
	return nvfm_poll_fd(fd, POLLIN, patience(ch, timeout_ms)) > 0;
}

static int try_recv(NvfmChannel *ch, int fd, void *buf, gsize len, gsize *got, GError **error)
{
	gssize n;

	do
		n = recv(fd, buf, len, MSG_DONTWAIT);
	while (n < 0 && errno == EINTR);
	if (n > 0) {
		*got = (gsize)n;
		return 1;
	}
	if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
		return 0;
	if (n < 0)
		nvfm_channel_io_error(ch, errno, "read", error);
	return -1;
}

int nvfm_channel_try_read(NvfmChannel *ch, void *buf, gsize len, gsize *got, GError **error)
{
	GError *gerr = NULL;
	gssize n;

	*got = 0;
	if (ch->seal && (!ch->ktls_rx || nvfm_seal_has_pending(ch->seal)))
		return sealed_pull(ch, buf, len, got, FALSE, error);
	if (ch->seal)
		return try_recv(ch, socket_fd(ch), buf, len, got, error);
	if (!ch->stream) {
		/* a file or pipe never has unsolicited input */
		if (!ch->is_socket)
			return 0;
		return try_recv(ch, ch->fd, buf, len, got, error);
	}
	{
		GInputStream *in = g_io_stream_get_input_stream(ch->stream);

		if (!G_IS_POLLABLE_INPUT_STREAM(in) ||
		    !g_pollable_input_stream_can_poll(G_POLLABLE_INPUT_STREAM(in)))
			return 0;
		/* This also consumes records that carry no data (TLS 1.3
		 * session tickets), which made the socket look readable. */
		n = g_pollable_input_stream_read_nonblocking(G_POLLABLE_INPUT_STREAM(in), buf, len,
							     NULL, &gerr);
	}
	if (n > 0) {
		*got = (gsize)n;
		return 1;
	}
	if (n < 0 && g_error_matches(gerr, G_IO_ERROR, G_IO_ERROR_WOULD_BLOCK)) {
		g_error_free(gerr);
		return 0;
	}
	if (n < 0)
		stream_error(ch, error, gerr);
	return -1;
}

void nvfm_channel_set_peer(NvfmChannel *ch, const char *peer)
{
	g_free(ch->peer);
	ch->peer = g_strdup(peer);
}

const char *nvfm_channel_get_peer(NvfmChannel *ch)
{
	return ch->peer ? ch->peer : "peer";
}

GTlsCertificate *nvfm_channel_get_peer_certificate(NvfmChannel *ch)
{
	if (!ch->stream || !G_IS_TLS_CONNECTION(ch->stream))
		return NULL;
	return g_tls_connection_get_peer_certificate(G_TLS_CONNECTION(ch->stream));
}

static gboolean write_all(NvfmChannel *ch, int fd, gboolean sock, const guint8 *p, gsize len,
			  GError **error)
{
	while (len > 0) {
		gssize n;

		if (sock)
			n = send(fd, p, len, MSG_NOSIGNAL);
		else
			n = write(fd, p, len);
		if (n > 0) {
			p += n;
			len -= (gsize)n;
			continue;
		}
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN) {
			if (!nvfm_channel_wait(ch, POLLOUT, error))
				return FALSE;
			continue;
		}
		nvfm_channel_io_error(ch, n < 0 ? errno : EIO, "write", error);
		return FALSE;
	}
	return TRUE;
}

static gboolean write_fd(NvfmChannel *ch, const guint8 *p, gsize len, GError **error)
{
	return write_all(ch, ch->fd, ch->is_socket, p, len, error);
}

static gboolean read_from(NvfmChannel *ch, int fd, gboolean sock, gboolean nonblock, guint8 *p,
			  gsize len, gsize *got, GError **error)
{
	gsize done = 0;

	/* a blocking fd is polled first so the timeout holds; a non-blocking
	 * one says EAGAIN itself, and so does a socket asked not to wait,
	 * which saves a poll per frame when the bytes are already there */
	if (ch->timeout_ms >= 0 && !nonblock && !sock && !nvfm_channel_wait(ch, POLLIN, error))
		return FALSE;
	while (done < len) {
		gssize n = sock ? recv(fd, p + done, len - done,
				       nonblock || ch->timeout_ms < 0 ? 0 : MSG_DONTWAIT)
				: read(fd, p + done, len - done);

		if (n > 0) {
			done += (gsize)n;
			continue;
		}
		if (n == 0)
			break;
		if (errno == EINTR)
			continue;
		if (errno == EAGAIN) {
			if (!nvfm_channel_wait(ch, POLLIN, error))
				return FALSE;
			continue;
		}
		nvfm_channel_io_error(ch, errno, "read", error);
		return FALSE;
	}
	*got = done;
	return TRUE;
}

static gboolean read_fd(NvfmChannel *ch, guint8 *p, gsize len, gsize *got, GError **error)
{
	return read_from(ch, ch->fd, ch->is_socket, ch->nonblock, p, len, got, error);
}

/* The kernel's TLS opens records: what was buffered before it did
 * first, then the socket's bytes. */
static gboolean read_ktls(NvfmChannel *ch, guint8 *p, gsize len, gsize *got, GError **error)
{
	gsize done = 0, more = 0;

	while (done < len && nvfm_seal_has_pending(ch->seal)) {
		gsize n = 0;
		int r = sealed_pull(ch, p + done, len - done, &n, FALSE, error);

		if (r < 0)
			return FALSE;
		if (r == 0)
			break;
		done += n;
	}
	if (done < len &&
	    !read_from(ch, socket_fd(ch), TRUE, TRUE, p + done, len - done, &more, error))
		return FALSE;
	*got = done + more;
	return TRUE;
}

static void stream_error(NvfmChannel *ch, GError **error, GError *gerr)
{
	gboolean gone = g_error_matches(gerr, G_IO_ERROR, G_IO_ERROR_TIMED_OUT) ||
			g_error_matches(gerr, G_IO_ERROR, G_IO_ERROR_HOST_UNREACHABLE) ||
			g_error_matches(gerr, G_IO_ERROR, G_IO_ERROR_NETWORK_UNREACHABLE);

	if (gone)
		mark_silent(ch);
	g_set_error(error, NVFM_ERROR, gone ? NVFM_ERROR_TIMEOUT : NVFM_ERROR_IO, "%s",
		    gerr->message);
	g_error_free(gerr);
}

static gboolean would_block(GError *gerr)
{
	if (!g_error_matches(gerr, G_IO_ERROR, G_IO_ERROR_WOULD_BLOCK))
		return FALSE;
	g_error_free(gerr);
	return TRUE;
}

/*
 * TLS writes and reads do not block inside GIO: there every record and
 * every syscall would wait its own socket timeout, one after the other.
 * They try, and on "would block" wait here, where the channel keeps count.
 */
static gboolean write_stream(NvfmChannel *ch, const guint8 *p, gsize len, GError **error)
{
	GPollableOutputStream *out =
		G_POLLABLE_OUTPUT_STREAM(g_io_stream_get_output_stream(ch->stream));

	while (len > 0) {
		GError *gerr = NULL;
		gssize n = g_pollable_output_stream_write_nonblocking(out, p, len, NULL, &gerr);

		if (n > 0) {
			p += n;
			len -= (gsize)n;
			continue;
		}
		if (n < 0 && would_block(gerr)) {
			if (!nvfm_channel_wait(ch, POLLOUT, error))
				return FALSE;
			continue;
		}
		if (!gerr)
			g_set_error(&gerr, G_IO_ERROR, G_IO_ERROR_FAILED, "the stream took no bytes");
		stream_error(ch, error, gerr);
		return FALSE;
	}
	return TRUE;
}

static gboolean read_stream(NvfmChannel *ch, guint8 *p, gsize len, gsize *got, GError **error)
{
	GPollableInputStream *in =
		G_POLLABLE_INPUT_STREAM(g_io_stream_get_input_stream(ch->stream));
	gsize done = 0;

	while (done < len) {
		GError *gerr = NULL;
		gssize n = g_pollable_input_stream_read_nonblocking(in, p + done, len - done, NULL,
								    &gerr);

		if (n > 0) {
			done += (gsize)n;
			continue;
		}
		if (n == 0)
			break;
		if (would_block(gerr)) {
			if (!nvfm_channel_wait(ch, POLLIN, error))
				return FALSE;
			continue;
		}
		stream_error(ch, error, gerr);
		return FALSE;
	}
	*got = done;
	return TRUE;
}

/* A stream that cannot be polled (none we make) blocks inside GIO. */
static gboolean pollable(GIOStream *stream)
{
	GInputStream *in = g_io_stream_get_input_stream(stream);
	GOutputStream *out = g_io_stream_get_output_stream(stream);

	return G_IS_POLLABLE_INPUT_STREAM(in) &&
	       g_pollable_input_stream_can_poll(G_POLLABLE_INPUT_STREAM(in)) &&
	       G_IS_POLLABLE_OUTPUT_STREAM(out) &&
	       g_pollable_output_stream_can_poll(G_POLLABLE_OUTPUT_STREAM(out));
}

gboolean nvfm_channel_write(NvfmChannel *ch, const void *buf, gsize len, GError **error)
{
	GError *gerr = NULL;

	if (ch->ktls_tx)
		return write_all(ch, socket_fd(ch), TRUE, buf, len, error);
	if (ch->seal)
		return write_sealed(ch, buf, len, error);
	if (!ch->stream)
		return write_fd(ch, buf, len, error);
	if (pollable(ch->stream) && socket_fd(ch) >= 0)
		return write_stream(ch, buf, len, error);
	if (!g_output_stream_write_all(g_io_stream_get_output_stream(ch->stream), buf, len,
				       NULL, NULL, &gerr)) {
		stream_error(ch, error, gerr);
		return FALSE;
	}
	return TRUE;
}

gboolean nvfm_channel_read(NvfmChannel *ch, void *buf, gsize len, gsize *got, GError **error)
{
	GError *gerr = NULL;

	if (ch->ktls_rx)
		return read_ktls(ch, buf, len, got, error);
	if (ch->seal)
		return read_sealed(ch, buf, len, got, error);
	if (!ch->stream)
		return read_fd(ch, buf, len, got, error);
	if (pollable(ch->stream) && socket_fd(ch) >= 0)
		return read_stream(ch, buf, len, got, error);
	if (!g_input_stream_read_all(g_io_stream_get_input_stream(ch->stream), buf, len, got,
				     NULL, &gerr)) {
		stream_error(ch, error, gerr);
		return FALSE;
	}
	return TRUE;
}
