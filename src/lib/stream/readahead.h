/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * A socket connection that reads ahead (readahead.c): the stream a TLS
 * connection is layered on. GnuTLS asks its transport for each record's
 * 5-byte header and then for its body, two recv() calls per 16 KiB record;
 * served from a 256 KiB buffer instead, a bulk transfer makes one recv()
 * per many records. Internal to libnvfm.
 */
#pragma once

#include <gio/gio.h>

#pragma GCC visibility push(hidden)

#define NVFM_TYPE_READ_AHEAD_STREAM (nvfm_read_ahead_stream_get_type())
G_DECLARE_FINAL_TYPE(NvfmReadAheadStream, nvfm_read_ahead_stream, NVFM, READ_AHEAD_STREAM,
		     GIOStream)

/* A stream over @conn's socket: reads go through the buffer, writes and
 * close to @conn. */
GIOStream *nvfm_read_ahead_stream_new(GSocketConnection *conn);

/* The socket underneath. */
GSocket *nvfm_read_ahead_stream_get_socket(NvfmReadAheadStream *s);

/* Up to @len bytes read from the socket that nobody took yet: what the
 * peer sent after the TLS records a switch to sealed records ends. */
gsize nvfm_read_ahead_stream_take_buffered(NvfmReadAheadStream *s, guint8 *buf, gsize len);

#pragma GCC visibility pop
