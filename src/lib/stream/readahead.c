/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The read-ahead stream under a TLS connection (readahead.h).
 *
 * Its input stream is pollable, as a TLS connection wants of its base: it
 * is readable while its buffer holds bytes or the socket has some, and a
 * blocking read waits on the socket with the socket's own timeout, as the
 * socket connection's stream would. Nothing is ever held back on the
 * write side, so no flush is needed anywhere.
 */
#define G_LOG_DOMAIN "nvfm-readahead"

#include <string.h>

#include "readahead.h"

/* A few dozen TLS records: one recv() where GnuTLS would make ~30. */
#define READ_AHEAD (256u << 10)

/* ---- the input stream ---- */

#define RA_TYPE_INPUT (ra_input_get_type())
G_DECLARE_FINAL_TYPE(RaInput, ra_input, RA, INPUT, GInputStream)

struct _RaInput {
	GInputStream parent;
	GSocket *sock;
	guint8 *buf;
	gsize pos, len;		/* unread bytes are buf[pos, len) */
};

static void ra_input_pollable_init(GPollableInputStreamInterface *iface);

G_DEFINE_TYPE_WITH_CODE(RaInput, ra_input, G_TYPE_INPUT_STREAM,
			G_IMPLEMENT_INTERFACE(G_TYPE_POLLABLE_INPUT_STREAM,
					      ra_input_pollable_init))

/* Hand out buffered bytes; refill from the socket when there are none. */
static gssize ra_take(RaInput *in, void *out, gsize count, gboolean blocking,
		      GCancellable *cancellable, GError **error)
{
	gsize n;

	if (in->pos == in->len) {
		gssize got;

		/* a large read needs no buffer */
		if (count >= READ_AHEAD)
			return g_socket_receive_with_blocking(in->sock, out, count, blocking,
							      cancellable, error);
		got = g_socket_receive_with_blocking(in->sock, (gchar *)in->buf, READ_AHEAD,
						     blocking, cancellable, error);
		if (got <= 0)
			return got;
		in->pos = 0;
		in->len = (gsize)got;
	}
	n = MIN(count, in->len - in->pos);
	memcpy(out, in->buf + in->pos, n);
	in->pos += n;
	return (gssize)n;
}

static gssize ra_input_read(GInputStream *stream, void *buffer, gsize count,
			    GCancellable *cancellable, GError **error)
{
	return ra_take(RA_INPUT(stream), buffer, count, TRUE, cancellable, error);
}

static gboolean ra_input_is_readable(GPollableInputStream *stream)
{
	RaInput *in = RA_INPUT(stream);

	return in->pos < in->len || g_socket_condition_check(in->sock, G_IO_IN) != 0;
}

static GSource *ra_input_create_source(GPollableInputStream *stream, GCancellable *cancellable)
{
	RaInput *in = RA_INPUT(stream);
	/* bytes in hand: ready at once; else when the socket is */
	g_autoptr(GSource) base = in->pos < in->len ? g_timeout_source_new(0)
						    : g_socket_create_source(in->sock, G_IO_IN, NULL);

	return g_pollable_source_new_full(stream, base, cancellable);
}

static gssize ra_input_read_nonblocking(GPollableInputStream *stream, void *buffer, gsize count,
					GError **error)
{
	return ra_take(RA_INPUT(stream), buffer, count, FALSE, NULL, error);
}

static void ra_input_finalize(GObject *obj)
{
	RaInput *in = RA_INPUT(obj);

	g_clear_object(&in->sock);
	g_free(in->buf);
	G_OBJECT_CLASS(ra_input_parent_class)->finalize(obj);
}

static void ra_input_class_init(RaInputClass *klass)
{
	G_OBJECT_CLASS(klass)->finalize = ra_input_finalize;
	G_INPUT_STREAM_CLASS(klass)->read_fn = ra_input_read;
}

static void ra_input_pollable_init(GPollableInputStreamInterface *iface)
{
	iface->is_readable = ra_input_is_readable;
	iface->create_source = ra_input_create_source;
	iface->read_nonblocking = ra_input_read_nonblocking;
}

static void ra_input_init(RaInput *in)
{
	in->buf = g_malloc(READ_AHEAD);
}

/* ---- the I/O stream ---- */

struct _NvfmReadAheadStream {
	GIOStream parent;
	GSocketConnection *conn;
	RaInput *in;
};

G_DEFINE_TYPE(NvfmReadAheadStream, nvfm_read_ahead_stream, G_TYPE_IO_STREAM)

static GInputStream *ras_get_input(GIOStream *stream)
{
	return G_INPUT_STREAM(NVFM_READ_AHEAD_STREAM(stream)->in);
}

static GOutputStream *ras_get_output(GIOStream *stream)
{
	return g_io_stream_get_output_stream(G_IO_STREAM(NVFM_READ_AHEAD_STREAM(stream)->conn));
}

/* Closing the connection closes the socket; buffered bytes go with it. */
static gboolean ras_close(GIOStream *stream, GCancellable *cancellable, GError **error)
{
	NvfmReadAheadStream *s = NVFM_READ_AHEAD_STREAM(stream);

	s->in->pos = s->in->len = 0;
	return g_io_stream_close(G_IO_STREAM(s->conn), cancellable, error);
}

static void ras_finalize(GObject *obj)
{
	NvfmReadAheadStream *s = NVFM_READ_AHEAD_STREAM(obj);

	g_clear_object(&s->in);
	g_clear_object(&s->conn);
	G_OBJECT_CLASS(nvfm_read_ahead_stream_parent_class)->finalize(obj);
}

static void nvfm_read_ahead_stream_class_init(NvfmReadAheadStreamClass *klass)
{
	GIOStreamClass *io = G_IO_STREAM_CLASS(klass);

	G_OBJECT_CLASS(klass)->finalize = ras_finalize;
	io->get_input_stream = ras_get_input;
	io->get_output_stream = ras_get_output;
	io->close_fn = ras_close;
}

static void nvfm_read_ahead_stream_init(NvfmReadAheadStream *s)
{
	(void)s;
}

GIOStream *nvfm_read_ahead_stream_new(GSocketConnection *conn)
{
	NvfmReadAheadStream *s = g_object_new(NVFM_TYPE_READ_AHEAD_STREAM, NULL);

	s->conn = g_object_ref(conn);
	s->in = g_object_new(RA_TYPE_INPUT, NULL);
	s->in->sock = g_object_ref(g_socket_connection_get_socket(conn));
	return G_IO_STREAM(s);
}

GSocket *nvfm_read_ahead_stream_get_socket(NvfmReadAheadStream *s)
{
	return s->in->sock;
}

gsize nvfm_read_ahead_stream_take_buffered(NvfmReadAheadStream *s, guint8 *buf, gsize len)
{
	RaInput *in = s->in;
	gsize n = MIN(len, in->len - in->pos);

	memcpy(buf, in->buf + in->pos, n);
	in->pos += n;
	return n;
}
