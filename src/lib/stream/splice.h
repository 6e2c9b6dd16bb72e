/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The zero-copy data path (splice.c): device state moves between a
 * device's data_fd and a socket through a pipe, so the bytes never enter
 * userspace. Internal to libnvfm.
 */
#pragma once

#include <signal.h>

#include "util/util-private.h"

#pragma GCC visibility push(hidden)

/*
 * A pipe and what it holds; one per transfer. A data_fd that is itself a
 * pipe (the emulated device's) is spliced to and from directly, without
 * ours in between.
 */
typedef struct {
	int rd;
	int wr;
	gsize cap;	/* the pipe's capacity */
	gsize fill;	/* bytes ready to go to the socket (in our pipe or in @src) */
	int src;	/* where those bytes are: rd, or a pipe data_fd */
	int dev_pipe;	/* -1 unknown, 0 no, 1 the data_fd is a pipe */
	gboolean device_no_splice; /* the data_fd refused splice: copy instead */
	int lowat;	/* the socket's SO_RCVLOWAT as we last set it (0: untouched) */
	gboolean sigpipe_held;	/* SIGPIPE blocked in this thread, see below */
	sigset_t sigpipe_old;
} NvfmSplicer;

/* Return of nvfm_splice_from_device() when the data_fd cannot splice. */
#define NVFM_SPLICE_UNSUPPORTED (-2)

/*
 * A splice into a socket or a pipe has no MSG_NOSIGNAL, so from its first
 * move the splicer keeps SIGPIPE blocked in the calling thread (one mask
 * change per transfer, not two per frame); nvfm_splicer_clear(), called
 * from the same thread, restores the mask and swallows a SIGPIPE that a
 * dead peer raised meanwhile.
 */
gboolean nvfm_splicer_init(NvfmSplicer *sp, GError **error);
void nvfm_splicer_clear(NvfmSplicer *sp);

/*
 * Move what the device has (up to @max bytes, waiting up to @timeout_ms for
 * the first byte) from its data_fd into the pipe. Returns the bytes now in
 * the pipe (> 0), 0 at the end of the device's stream, -1 on an error, or
 * NVFM_SPLICE_UNSUPPORTED when the data_fd does not support splice and
 * nothing was moved (the caller copies through userspace instead).
 */
gssize nvfm_splice_from_device(NvfmSplicer *sp, NvfmDevice *dev, gsize max, int timeout_ms,
			       GError **error);

/*
 * The socket side is a channel's socket (nvfm_channel_get_fd()): waits for
 * the peer are the channel's (channel-private.h), waits for the device
 * are bounded by @timeout_ms.
 */

/* Move all bytes in the pipe to the channel's socket, more to follow. */
gboolean nvfm_splice_to_socket(NvfmSplicer *sp, NvfmChannel *ch, GError **error);

/*
 * Move exactly @len bytes from the channel's socket into the device's
 * data_fd. A data_fd that refuses splice gets them through @bounce (at
 * least sp->cap bytes) and nvfm_device_write_all().
 */
gboolean nvfm_splice_socket_to_device(NvfmSplicer *sp, NvfmChannel *ch, NvfmDevice *dev,
				      gsize len, guint8 *bounce, int timeout_ms, GError **error);

/* Write a frame header that the next splice continues (MSG_MORE: one
 * segment with the payload rather than a tiny one of its own). */
gboolean nvfm_splice_send_header(NvfmChannel *ch, const guint8 *raw, gsize len, GError **error);

/* Whether @fd can be a splice endpoint for the network side. */
gboolean nvfm_splice_fd_ok(int fd);

#pragma GCC visibility pop
