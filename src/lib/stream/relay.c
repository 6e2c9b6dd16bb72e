// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * The relay of relay.h. Bytes, not messages: whatever speaks over it (QMP)
 * frames itself. Each wake-up drains what the channel holds, TLS records
 * already decrypted included, before it polls again.
 */
#define G_LOG_DOMAIN "nvfm-stream"

#include <errno.h>
#include <poll.h>
#include <unistd.h>

#include "nvfm/error.h"
#include "channel-private.h"
#include "relay.h"
#include "util/util-private.h"

#define CHUNK 65536

static gboolean write_all(int fd, const guint8 *p, gsize len, GError **error)
{
	while (len) {
		ssize_t n = write(fd, p, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			nvfm_set_error_errno(error, -errno, "relay: write to the local socket");
			return FALSE;
		}
		p += n;
		len -= (gsize)n;
	}
	return TRUE;
}

/* The channel's bytes to @fd: 1 more may come, 0 it ended, -1 error. */
static int from_channel(NvfmChannel *ch, int fd, guint8 *buf, GError **error)
{
	for (;;) {
		gsize got = 0;
		int r = nvfm_channel_try_read(ch, buf, CHUNK, &got, error);

		if (r == 0)
			return 1;
		if (r < 0)
			return error && *error ? -1 : 0;
		if (!write_all(fd, buf, got, error))
			return -1;
	}
}

/* @fd's bytes to the channel, as for from_channel(). */
static int to_channel(NvfmChannel *ch, int fd, guint8 *buf, GError **error)
{
	ssize_t n;

	do
		n = read(fd, buf, CHUNK);
	while (n < 0 && errno == EINTR);
	if (n == 0)
		return 0;
	if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
		return 1;
	if (n < 0) {
		nvfm_set_error_errno(error, -errno, "relay: read from the local socket");
		return -1;
	}
	return nvfm_channel_write(ch, buf, (gsize)n, error) ? 1 : -1;
}

gboolean nvfm_relay_run(NvfmChannel *ch, int fd, GError **error)
{
	g_autofree guint8 *buf = g_malloc(CHUNK);
	int r = 1;

	/* what came with the request's frame is already there */
	r = from_channel(ch, fd, buf, error);
	while (r > 0) {
		struct pollfd p[2] = {
			{ .fd = nvfm_channel_poll_fd(ch), .events = POLLIN },
			{ .fd = fd, .events = POLLIN },
		};

		if (poll(p, 2, -1) < 0) {
			if (errno == EINTR)
				continue;
			nvfm_set_error_errno(error, -errno, "relay: poll");
			return FALSE;
		}
		if (p[0].revents)
			r = from_channel(ch, fd, buf, error);
		if (r > 0 && p[1].revents)
			r = to_channel(ch, fd, buf, error);
	}
	return r == 0;
}
