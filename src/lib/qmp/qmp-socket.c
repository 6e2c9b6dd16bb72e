/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The QMP socket transport: a UNIX or TCP stream to QEMU's monitor, or an fd
 * handed in. A reader thread feeds every message to the core (qmp.c);
 * sends carry fds as SCM_RIGHTS where QMP takes them.
 */
#define G_LOG_DOMAIN "nvfm-qmp"

#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>

#include <gio/gio.h>
#include <gio/gunixfdlist.h>
#include <gio/gunixfdmessage.h>
#include <gio/gunixsocketaddress.h>

#include "qmp-address.h"
#include "qmp-private.h"
#include "qmp-reader.h"

#define READ_CHUNK 65536

static NvfmErrorCode gio_code(const GError *e)
{
	if (e->domain != G_IO_ERROR)
		return NVFM_ERROR_IO;
	switch (e->code) {
	case G_IO_ERROR_NOT_FOUND:
		return NVFM_ERROR_NOT_FOUND;
	case G_IO_ERROR_PERMISSION_DENIED:
		return NVFM_ERROR_PERMISSION;
	case G_IO_ERROR_TIMED_OUT:
		return NVFM_ERROR_TIMEOUT;
	case G_IO_ERROR_CANCELLED:
		return NVFM_ERROR_CANCELLED;
	case G_IO_ERROR_INVALID_ARGUMENT:
		return NVFM_ERROR_INVALID_ARG;
	default:
		return NVFM_ERROR_IO;
	}
}

/* ---- the socket transport -------------------------------------------- */

typedef struct {
	GSocket *sock;
	GCancellable *cancel;
	GThread *thread;
	GMutex write_lock;
	NvfmQmpReader *reader;
} SocketTransport;

static void reader_emit(json_t *msg, gpointer user_data)
{
	nvfm_qmp_transport_deliver(user_data, msg);
}

static gpointer socket_reader_thread(gpointer data)
{
	NvfmQmp *qmp = data;
	SocketTransport *t = nvfm_qmp_transport_get_priv(qmp);
	g_autofree char *buf = g_malloc(READ_CHUNK);

	for (;;) {
		GError *err = NULL;
		gssize n = g_socket_receive_with_blocking(t->sock, buf, READ_CHUNK, TRUE, t->cancel,
							  &err);

		if (n < 0) {
			if (g_error_matches(err, G_IO_ERROR, G_IO_ERROR_CANCELLED)) {
				g_error_free(err);
				nvfm_qmp_transport_dead(qmp, g_error_new(NVFM_ERROR, NVFM_ERROR_IO,
							"QMP connection closed"));
			} else {
				nvfm_qmp_transport_dead(qmp,
					g_error_new(NVFM_ERROR, gio_code(err),
						    "QMP connection failed: %s", err->message));
				g_error_free(err);
			}
			break;
		}
		if (n == 0) {
			if (!nvfm_qmp_reader_finish(t->reader, &err))
				nvfm_qmp_transport_dead(qmp, err);
			else
				nvfm_qmp_transport_dead(qmp, g_error_new(NVFM_ERROR, NVFM_ERROR_IO,
							"QMP connection closed by QEMU"));
			break;
		}
		if (!nvfm_qmp_reader_feed(t->reader, buf, n, reader_emit, qmp, &err)) {
			nvfm_qmp_transport_dead(qmp, err);
			/* Tell the peer too: nothing more will be read. */
			g_socket_shutdown(t->sock, TRUE, TRUE, NULL);
			break;
		}
	}
	return NULL;
}

static gboolean socket_send(NvfmQmp *qmp, json_t *msg, const int *fds, guint n_fds,
			    gint64 deadline_us, GError **error)
{
	SocketTransport *t = nvfm_qmp_transport_get_priv(qmp);
	g_autoptr(GSocketControlMessage) cmsg = NULL;
	g_autoptr(GError) local = NULL;
	g_autofree char *line = NULL;
	char *text;
	gsize len, sent = 0;

	text = json_dumps(msg, JSON_COMPACT);
	if (!text) {
		g_set_error(error, NVFM_ERROR, NVFM_ERROR_INVALID_ARG,
			    "cannot encode the command as JSON");
		return FALSE;
	}
	line = g_strconcat(text, "\n", NULL);
	free(text);
	len = strlen(line);

	if (n_fds) {
		g_autoptr(GUnixFDList) list = g_unix_fd_list_new();

		for (guint i = 0; i < n_fds; i++) {
			if (g_unix_fd_list_append(list, fds[i], &local) < 0) {
				g_set_error(error, NVFM_ERROR, NVFM_ERROR_INVALID_ARG,
					    "cannot pass fd %d: %s", fds[i], local->message);
				return FALSE;
			}
		}
		if (g_socket_get_family(t->sock) != G_SOCKET_FAMILY_UNIX) {
			g_set_error(error, NVFM_ERROR, NVFM_ERROR_NOT_SUPPORTED,
				    "file descriptors can only be passed over a UNIX socket");
			return FALSE;
		}
		cmsg = g_unix_fd_message_new_with_fd_list(list);
	}

	g_mutex_lock(&t->write_lock);
	while (sent < len) {
		GOutputVector v = { line + sent, len - sent };
		gint64 left = deadline_us - g_get_monotonic_time();
		gsize written = 0;
		GPollableReturn r;

		g_clear_error(&local);
		r = g_socket_send_message_with_timeout(t->sock, NULL, &v, 1,
						       sent == 0 && cmsg ? &cmsg : NULL,
						       sent == 0 && cmsg ? 1 : 0, G_SOCKET_MSG_NONE,
						       left > 0 ? left : 0, &written, t->cancel,
						       &local);
		if (r == G_POLLABLE_RETURN_OK) {
			sent += written;
			continue;
		}
		if (r == G_POLLABLE_RETURN_WOULD_BLOCK || !local)
			local = g_error_new_literal(G_IO_ERROR, G_IO_ERROR_TIMED_OUT, "timed out");
		break;
	}
	g_mutex_unlock(&t->write_lock);
	if (sent == len)
		return TRUE;

	if (g_error_matches(local, G_IO_ERROR, G_IO_ERROR_TIMED_OUT))
		g_set_error(error, NVFM_ERROR, NVFM_ERROR_TIMEOUT,
			    "QEMU stopped reading its monitor socket");
	else
		g_set_error(error, NVFM_ERROR, gio_code(local), "cannot send to QEMU: %s",
			    local->message);
	if (sent > 0) {
		/* Half a command is on the wire: the stream is unusable. */
		nvfm_qmp_transport_dead(qmp, g_error_new(NVFM_ERROR, NVFM_ERROR_IO,
					"QMP connection abandoned after a partial write"));
		g_socket_shutdown(t->sock, TRUE, TRUE, NULL);
	}
	return FALSE;
}

static void socket_close(NvfmQmp *qmp)
{
	SocketTransport *t = nvfm_qmp_transport_get_priv(qmp);

	if (!t)
		return;
	g_cancellable_cancel(t->cancel);
	if (t->thread)
		g_thread_join(t->thread);
	g_socket_close(t->sock, NULL);
	g_object_unref(t->sock);
	g_object_unref(t->cancel);
	g_mutex_clear(&t->write_lock);
	nvfm_qmp_reader_free(t->reader);
	g_free(t);
	nvfm_qmp_transport_set_priv(qmp, NULL);
}

static const NvfmQmpTransportOps socket_ops = {
	.name = "socket",
	.send = socket_send,
	.close = socket_close,
};

/* Takes @sock. */
static NvfmQmp *socket_start(GSocket *sock, gint64 deadline, int timeout_ms, GError **error)
{
	NvfmQmp *qmp = nvfm_qmp_new_with_transport(&socket_ops, timeout_ms);
	SocketTransport *t = g_new0(SocketTransport, 1);
	GError *local = NULL;

	g_socket_set_blocking(sock, FALSE);
	g_socket_set_timeout(sock, 0);
	t->sock = sock;
	t->cancel = g_cancellable_new();
	g_mutex_init(&t->write_lock);
	t->reader = nvfm_qmp_reader_new(NVFM_QMP_MAX_MESSAGE);
	nvfm_qmp_transport_set_priv(qmp, t);
	t->thread = g_thread_try_new("nvfm-qmp-read", socket_reader_thread, qmp, &local);
	if (!t->thread) {
		g_set_error(error, NVFM_ERROR, NVFM_ERROR_FAILED, "cannot start the QMP reader: %s",
			    local->message);
		g_error_free(local);
		nvfm_qmp_free(qmp);
		return NULL;
	}
	if (!nvfm_qmp_transport_handshake(qmp, deadline, error)) {
		nvfm_qmp_free(qmp);
		return NULL;
	}
	return qmp;
}

NvfmQmp *nvfm_qmp_new_for_fd(int fd, int timeout_ms, GError **error)
{
	gint64 deadline = nvfm_qmp_deadline_for(NULL, timeout_ms);
	g_autoptr(GError) local = NULL;
	GSocket *sock;

	sock = g_socket_new_from_fd(fd, &local);
	if (!sock) {
		close(fd);
		g_set_error(error, NVFM_ERROR, NVFM_ERROR_INVALID_ARG, "fd %d is not a usable socket: %s",
			    fd, local->message);
		return NULL;
	}
	if (g_socket_get_socket_type(sock) != G_SOCKET_TYPE_STREAM) {
		g_object_unref(sock);
		g_set_error(error, NVFM_ERROR, NVFM_ERROR_INVALID_ARG,
			    "fd %d is not a stream socket", fd);
		return NULL;
	}
	return socket_start(sock, deadline, timeout_ms, error);
}

typedef struct {
	GList *addresses;
	GError *error;
	gboolean done;
} Resolve;

static void resolve_done(GObject *src, GAsyncResult *res, gpointer data)
{
	Resolve *r = data;

	r->addresses = g_resolver_lookup_by_name_finish(G_RESOLVER(src), res, &r->error);
	r->done = TRUE;
}

/* Host name lookup bounded by the deadline (GResolver has no timeout).
 * Returns a list of GInetAddress. */
static GList *resolve_host(const char *host, gint64 deadline, GError **error)
{
	g_autoptr(GMainContext) ctx = NULL;
	g_autoptr(GCancellable) cancel = NULL;
	g_autoptr(GResolver) resolver = NULL;
	GInetAddress *literal;
	Resolve r = { 0 };
	gboolean timed_out;

	literal = g_inet_address_new_from_string(host);
	if (literal)
		return g_list_prepend(NULL, literal);
	ctx = g_main_context_new();
	cancel = g_cancellable_new();
	g_main_context_push_thread_default(ctx);
	resolver = g_resolver_get_default();
	g_resolver_lookup_by_name_async(resolver, host, cancel, resolve_done, &r);
	while (!r.done) {
		int left = nvfm_qmp_deadline_to_ms(deadline);
		GSource *wake = NULL;

		if (left == 0) {
			g_cancellable_cancel(cancel);
		} else {
			wake = g_timeout_source_new(left);
			g_source_set_dummy_callback(wake);
			g_source_attach(wake, ctx);
		}
		g_main_context_iteration(ctx, TRUE);
		if (wake) {
			g_source_destroy(wake);
			g_source_unref(wake);
		}
	}
	g_main_context_pop_thread_default(ctx);
	if (r.addresses)
		return r.addresses;
	timed_out = g_error_matches(r.error, G_IO_ERROR, G_IO_ERROR_CANCELLED);
	g_set_error(error, NVFM_ERROR, timed_out ? NVFM_ERROR_TIMEOUT : NVFM_ERROR_NOT_FOUND,
		    "cannot resolve '%s': %s", host, timed_out ? "timed out" : r.error->message);
	g_clear_error(&r.error);
	return NULL;
}

gboolean nvfm_qmp_address_is_tcp(const char *address)
{
	return address && g_str_has_prefix(address, "tcp:");
}

/* Returns the GSocketAddresses to try, in order. */
static GList *parse_address(const char *address, gint64 deadline, GError **error)
{
	const char *path = address;

	if (nvfm_qmp_address_is_tcp(address)) {
		g_autofree char *host = NULL;
		const char *hp = address + 4;
		const char *colon = strrchr(hp, ':');
		GList *ias, *out = NULL;
		char *end = NULL;
		guint64 port;

		if (!colon || colon == hp)
			goto bad;
		port = g_ascii_strtoull(colon + 1, &end, 10);
		if (!colon[1] || *end || port == 0 || port > 65535)
			goto bad;
		host = g_strndup(hp, colon - hp);
		if (host[0] == '[' && host[strlen(host) - 1] == ']') {
			memmove(host, host + 1, strlen(host));
			host[strlen(host) - 1] = '\0';
		}
		ias = resolve_host(host, deadline, error);
		if (!ias)
			return NULL;
		for (GList *l = ias; l; l = l->next)
			out = g_list_append(out, g_inet_socket_address_new(l->data, port));
		g_resolver_free_addresses(ias);
		return out;
	}
	if (g_str_has_prefix(address, "unix:"))
		path = address + 5;
	if (!*path)
		goto bad;
	if (strlen(path) >= sizeof(((struct sockaddr_un *)NULL)->sun_path)) {
		g_set_error(error, NVFM_ERROR, NVFM_ERROR_INVALID_ARG,
			    "QMP socket path too long for a UNIX socket: %s", path);
		return NULL;
	}
	return g_list_prepend(NULL, g_unix_socket_address_new(path));
bad:
	g_set_error(error, NVFM_ERROR, NVFM_ERROR_INVALID_ARG,
		    "invalid QMP address '%s' (expected PATH, unix:PATH or tcp:HOST:PORT)", address);
	return NULL;
}

static GSocket *connect_one(GSocketAddress *sa, gint64 deadline, GError **error)
{
	g_autoptr(GSocket) sock = NULL;

	sock = g_socket_new(g_socket_address_get_family(sa), G_SOCKET_TYPE_STREAM,
			    G_SOCKET_PROTOCOL_DEFAULT, error);
	if (!sock)
		return NULL;
	g_socket_set_blocking(sock, FALSE);
	if (g_socket_connect(sock, sa, NULL, error))
		return g_steal_pointer(&sock);
	if (!g_error_matches(*error, G_IO_ERROR, G_IO_ERROR_PENDING))
		return NULL;
	g_clear_error(error);
	if (!g_socket_condition_timed_wait(sock, G_IO_OUT,
					   MAX(deadline - g_get_monotonic_time(), 0), NULL, error) ||
	    !g_socket_check_connect_result(sock, error))
		return NULL;
	return g_steal_pointer(&sock);
}

NvfmQmp *nvfm_qmp_connect(const char *address, int timeout_ms, GError **error)
{
	gint64 deadline = nvfm_qmp_deadline_for(NULL, timeout_ms);
	g_autoptr(GError) local = NULL;
	GSocket *sock = NULL;
	GList *addrs;

	if (!address) {
		g_set_error(error, NVFM_ERROR, NVFM_ERROR_INVALID_ARG, "no QMP address");
		return NULL;
	}
	addrs = parse_address(address, deadline, error);
	if (!addrs)
		return NULL;
	/* A name may resolve to several addresses (::1 and 127.0.0.1). */
	for (GList *l = addrs; l && !sock; l = l->next) {
		g_clear_error(&local);
		sock = connect_one(l->data, deadline, &local);
	}
	g_list_free_full(addrs, g_object_unref);
	if (!sock) {
		g_set_error(error, NVFM_ERROR, gio_code(local), "cannot connect to QMP at %s: %s",
			    address, local->message);
		return NULL;
	}
	g_debug("connected to %s", address);
	return socket_start(sock, deadline, timeout_ms, error);
}
