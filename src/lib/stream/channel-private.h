/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * What the rest of the stream wing (the zero-copy path in splice.c) needs
 * of a channel whose socket it drives itself: its waits and its socket
 * errors count against the peer's silence like the channel's own.
 * Internal to libnvfm.
 */
#pragma once

#include "nvfm/stream.h"
#include "seal.h"

#pragma GCC visibility push(hidden)

/*
 * Wait until the channel's socket is ready for @events (POLLIN, POLLOUT),
 * at most the channel's timeout, and not at all once the peer was silent
 * for a whole timeout. A wait that runs out makes the channel silent.
 */
gboolean nvfm_channel_wait(NvfmChannel *ch, short events, GError **error);

/*
 * A send or receive on the channel's socket failed with @err (an errno
 * value): set @error, naming @what. ETIMEDOUT (the kernel gave up on the
 * peer) makes the channel silent.
 */
void nvfm_channel_io_error(NvfmChannel *ch, int err, const char *what, GError **error);

/* The descriptor to poll for the peer's bytes: the fd, or the socket
 * under a stream (-1: none). A TLS stream may hold bytes the socket no
 * longer shows: read with nvfm_channel_try_read() until it says 0. */
int nvfm_channel_poll_fd(NvfmChannel *ch);

/*
 * From now on the channel speaks sealed records (seal.c) on its socket
 * instead of through its TLS stream, which only keeps the peer's
 * certificate. Sends our preamble; takes @seal, into which the transport
 * put the bytes it had read ahead. @kernel: let the kernel's TLS seal
 * and open where it can (it then first reads up to the end of the
 * peer's preamble, waiting for it).
 */
gboolean nvfm_channel_seal(NvfmChannel *ch, NvfmSeal *seal, gboolean kernel, GError **error);

/*
 * SO_RCVLOWAT for a wait on @want more bytes: wake once a batch of them
 * is in (256 KiB) or their rest, not for every few KiB that land; a
 * wakeup costs more than it brings. Returns the value to set.
 */
#define NVFM_RCV_BATCH (256u << 10)
static inline int nvfm_rcv_lowat(gsize want)
{
	return (int)MAX(MIN(want, (gsize)NVFM_RCV_BATCH), 1);
}

#pragma GCC visibility pop
