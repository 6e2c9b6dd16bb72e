/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Byte channels under the frame layer: a file descriptor (file, pipe, UNIX
 * or TCP socket) or a GIOStream (TLS). Every wait is bounded by the
 * channel's timeout so a silent peer cannot hang a migration.
 */
#define G_LOG_DOMAIN "nvfm-channel"

#include <poll.h>
#include <sys/socket.h>

#include "private.h"

struct _NvfmChannel {
	int fd;
	gboolean own_fd;
	gboolean is_socket;
	GIOStream *stream;
	int timeout_ms;
};

NvfmChannel *nvfm_channel_new_fd(int fd, gboolean take)
{
	NvfmChannel *ch = g_new0(NvfmChannel, 1);
	int type;
	socklen_t sl = sizeof(type);

	ch->fd = fd;
	ch->own_fd = take;
	ch->timeout_ms = -1;
	ch->is_socket = getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &sl) == 0;
	return ch;
}

NvfmChannel *nvfm_channel_new_stream(GIOStream *stream)
{
	NvfmChannel *ch = g_new0(NvfmChannel, 1);

	ch->fd = -1;
	ch->stream = g_object_ref(stream);
	ch->timeout_ms = -1;
	return ch;
}

void nvfm_channel_free(NvfmChannel *ch)
{
	if (!ch)
		return;
	if (ch->own_fd && ch->fd >= 0)
		close(ch->fd);
	g_clear_object(&ch->stream);
	g_free(ch);
}

void nvfm_channel_set_timeout(NvfmChannel *ch, int timeout_ms)
{
	ch->timeout_ms = timeout_ms;
	if (ch->stream && G_IS_SOCKET_CONNECTION(ch->stream)) {
		GSocket *s = g_socket_connection_get_socket(G_SOCKET_CONNECTION(ch->stream));

		g_socket_set_timeout(s, timeout_ms < 0 ? 0 : (guint)((timeout_ms + 999) / 1000));
	}
}

static gboolean wait_fd(NvfmChannel *ch, short ev, GError **error)
{
	int r = nvfm_poll_fd(ch->fd, ev, ch->timeout_ms);

	if (r > 0)
		return TRUE;
	if (r == 0) {
		g_set_error(error, NVFM_ERROR, NVFM_ERROR_TIMEOUT,
			    "the peer sent or accepted nothing for %d ms", ch->timeout_ms);
		return FALSE;
	}
	nvfm_set_error_errno(error, r, "poll");
	return FALSE;
}

static gboolean write_fd(NvfmChannel *ch, const guint8 *p, gsize len, GError **error)
{
	while (len > 0) {
		gssize n;

		if (ch->is_socket)
			n = send(ch->fd, p, len, MSG_NOSIGNAL);
		else
			n = write(ch->fd, p, len);
		if (n > 0) {
			p += n;
			len -= (gsize)n;
			continue;
		}
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN) {
			if (!wait_fd(ch, POLLOUT, error))
				return FALSE;
			continue;
		}
		nvfm_set_error_errno(error, n < 0 ? -errno : -EIO, "write");
		if (error && *error)
			(*error)->code = NVFM_ERROR_IO;
		return FALSE;
	}
	return TRUE;
}

static gboolean read_fd(NvfmChannel *ch, guint8 *p, gsize len, gsize *got, GError **error)
{
	gsize done = 0;

	if (ch->timeout_ms >= 0 && !wait_fd(ch, POLLIN, error))
		return FALSE;
	while (done < len) {
		gssize n = read(ch->fd, p + done, len - done);

		if (n > 0) {
			done += (gsize)n;
			continue;
		}
		if (n == 0)
			break;
		if (errno == EINTR)
			continue;
		if (errno == EAGAIN) {
			if (!wait_fd(ch, POLLIN, error))
				return FALSE;
			continue;
		}
		nvfm_set_error_errno(error, -errno, "read");
		if (error && *error)
			(*error)->code = NVFM_ERROR_IO;
		return FALSE;
	}
	*got = done;
	return TRUE;
}

static void stream_error(GError **error, GError *gerr)
{
	NvfmErrorCode code = g_error_matches(gerr, G_IO_ERROR, G_IO_ERROR_TIMED_OUT)
		? NVFM_ERROR_TIMEOUT : NVFM_ERROR_IO;

	g_set_error(error, NVFM_ERROR, code, "%s", gerr->message);
	g_error_free(gerr);
}

gboolean nvfm_channel_write(NvfmChannel *ch, const void *buf, gsize len, GError **error)
{
	GError *gerr = NULL;

	if (!ch->stream)
		return write_fd(ch, buf, len, error);
	if (!g_output_stream_write_all(g_io_stream_get_output_stream(ch->stream), buf, len,
				       NULL, NULL, &gerr)) {
		stream_error(error, gerr);
		return FALSE;
	}
	return TRUE;
}

gboolean nvfm_channel_read(NvfmChannel *ch, void *buf, gsize len, gsize *got, GError **error)
{
	GError *gerr = NULL;

	if (!ch->stream)
		return read_fd(ch, buf, len, got, error);
	if (!g_input_stream_read_all(g_io_stream_get_input_stream(ch->stream), buf, len, got,
				     NULL, &gerr)) {
		stream_error(error, gerr);
		return FALSE;
	}
	return TRUE;
}
