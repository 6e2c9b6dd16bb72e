/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The scripted QMP peer; see peer.h. */
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "peer.h"

#define PEER_WAIT_MS 10000

struct _Peer {
	int fd;
	int client_fd;
	int listen_fd;
	GThread *thread;
	PeerFunc fn;
	gpointer data;
	GByteArray *in;
	GQueue fds;
};

static gpointer peer_thread(gpointer data)
{
	Peer *p = data;

	if (p->listen_fd >= 0) {
		struct pollfd pfd = { .fd = p->listen_fd, .events = POLLIN };

		g_assert_cmpint(poll(&pfd, 1, PEER_WAIT_MS), ==, 1);
		p->fd = accept4(p->listen_fd, NULL, NULL, SOCK_CLOEXEC);
		g_assert_cmpint(p->fd, >=, 0);
	}
	p->fn(p, p->data);
	return NULL;
}

static Peer *peer_new(PeerFunc fn, gpointer data)
{
	Peer *p = g_new0(Peer, 1);

	p->fd = p->client_fd = p->listen_fd = -1;
	p->fn = fn;
	p->data = data;
	p->in = g_byte_array_new();
	g_queue_init(&p->fds);
	return p;
}

Peer *peer_start(PeerFunc fn, gpointer data)
{
	Peer *p = peer_new(fn, data);
	int sv[2];

	g_assert_cmpint(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), ==, 0);
	p->fd = sv[0];
	p->client_fd = sv[1];
	p->thread = g_thread_new("peer", peer_thread, p);
	return p;
}

Peer *peer_start_unix(const char *path, PeerFunc fn, gpointer data)
{
	Peer *p = peer_new(fn, data);
	struct sockaddr_un sa = { .sun_family = AF_UNIX };

	g_assert_cmpuint(strlen(path), <, sizeof(sa.sun_path));
	strcpy(sa.sun_path, path);
	unlink(path);
	p->listen_fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	g_assert_cmpint(bind(p->listen_fd, (struct sockaddr *)&sa, sizeof(sa)), ==, 0);
	g_assert_cmpint(listen(p->listen_fd, 1), ==, 0);
	p->thread = g_thread_new("peer", peer_thread, p);
	return p;
}

Peer *peer_start_tcp(guint16 *port, PeerFunc fn, gpointer data)
{
	Peer *p = peer_new(fn, data);
	struct sockaddr_in sa = { .sin_family = AF_INET };
	socklen_t len = sizeof(sa);

	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	p->listen_fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	g_assert_cmpint(bind(p->listen_fd, (struct sockaddr *)&sa, sizeof(sa)), ==, 0);
	g_assert_cmpint(listen(p->listen_fd, 1), ==, 0);
	g_assert_cmpint(getsockname(p->listen_fd, (struct sockaddr *)&sa, &len), ==, 0);
	*port = ntohs(sa.sin_port);
	p->thread = g_thread_new("peer", peer_thread, p);
	return p;
}

int peer_client_fd(Peer *p)
{
	int fd = p->client_fd;

	p->client_fd = -1;
	return fd;
}

void peer_join(Peer *p)
{
	g_thread_join(p->thread);
	if (p->fd >= 0)
		close(p->fd);
	if (p->client_fd >= 0)
		close(p->client_fd);
	if (p->listen_fd >= 0)
		close(p->listen_fd);
	while (!g_queue_is_empty(&p->fds))
		close(GPOINTER_TO_INT(g_queue_pop_head(&p->fds)));
	g_byte_array_unref(p->in);
	g_free(p);
}

void peer_write(Peer *p, const void *buf, gsize len)
{
	const char *b = buf;

	while (len) {
		ssize_t n = send(p->fd, b, len, MSG_NOSIGNAL);

		if (n < 0 && errno == EINTR)
			continue;
		/* the client may legitimately hang up on a hostile peer */
		if (n < 0)
			return;
		b += n;
		len -= n;
	}
}

void peer_send(Peer *p, const char *text)
{
	peer_write(p, text, strlen(text));
}

void peer_sendf(Peer *p, const char *fmt, ...)
{
	g_autofree char *s = NULL;
	va_list ap;

	va_start(ap, fmt);
	s = g_strdup_vprintf(fmt, ap);
	va_end(ap);
	peer_send(p, s);
}

/* Reads what is there (with any fds) after waiting up to @timeout_ms. */
static gboolean fill(Peer *p, int timeout_ms)
{
	struct pollfd pfd = { .fd = p->fd, .events = POLLIN };
	char buf[65536];
	union {
		char b[CMSG_SPACE(sizeof(int) * 8)];
		struct cmsghdr align;
	} cbuf;
	struct iovec iov = { buf, sizeof(buf) };
	struct msghdr mh = {
		.msg_iov = &iov, .msg_iovlen = 1,
		.msg_control = cbuf.b, .msg_controllen = sizeof(cbuf.b),
	};
	ssize_t n;

	if (poll(&pfd, 1, timeout_ms) != 1)
		return FALSE;
	n = recvmsg(p->fd, &mh, MSG_CMSG_CLOEXEC);
	if (n <= 0)
		return FALSE;
	for (struct cmsghdr *c = CMSG_FIRSTHDR(&mh); c; c = CMSG_NXTHDR(&mh, c)) {
		if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS) {
			int nfd = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
			int fds[8];

			memcpy(fds, CMSG_DATA(c), nfd * sizeof(int));
			for (int i = 0; i < nfd; i++)
				g_queue_push_tail(&p->fds, GINT_TO_POINTER(fds[i]));
		}
	}
	g_byte_array_append(p->in, (guint8 *)buf, n);
	return TRUE;
}

json_t *peer_recv(Peer *p, int timeout_ms)
{
	gint64 deadline = g_get_monotonic_time() + (gint64)timeout_ms * 1000;

	for (;;) {
		guint8 *nl = p->in->len ? memchr(p->in->data, '\n', p->in->len) : NULL;

		if (nl) {
			gsize len = nl - p->in->data;
			json_error_t jerr;
			json_t *msg = json_loadb((char *)p->in->data, len, 0, &jerr);

			if (!msg)
				g_error("peer: client sent bad JSON: %s", jerr.text);
			g_byte_array_remove_range(p->in, 0, len + 1);
			return msg;
		}
		gint64 left = (deadline - g_get_monotonic_time()) / 1000;

		if (left <= 0 || !fill(p, (int)left))
			return NULL;
	}
}

json_t *peer_expect(Peer *p, const char *command)
{
	json_t *msg = peer_recv(p, PEER_WAIT_MS);
	const char *name;

	g_assert_nonnull(msg);
	name = json_string_value(json_object_get(msg, "execute"));
	if (!name)
		name = json_string_value(json_object_get(msg, "exec-oob"));
	g_assert_cmpstr(name, ==, command);
	g_assert_true(json_is_string(json_object_get(msg, "id")));
	return msg;
}

void peer_reply(Peer *p, json_t *cmd, const char *ret_json)
{
	g_autofree char *id = json_dumps(json_object_get(cmd, "id"), JSON_ENCODE_ANY);

	peer_sendf(p, "{\"return\": %s, \"id\": %s}\r\n", ret_json, id);
}

void peer_reply_error(Peer *p, json_t *cmd, const char *cls, const char *desc)
{
	json_t *msg = json_pack("{s:{s:s, s:s}, s:O}", "error", "class", cls, "desc", desc, "id",
				json_object_get(cmd, "id"));
	char *s = json_dumps(msg, 0);

	peer_sendf(p, "%s\r\n", s);
	free(s);
	json_decref(msg);
}

void peer_event(Peer *p, const char *name, const char *data_json)
{
	gint64 now = g_get_real_time();

	peer_sendf(p, "{\"timestamp\": {\"seconds\": %" G_GINT64_FORMAT ", \"microseconds\": %d}, "
		   "\"event\": \"%s\"%s%s}\r\n", now / G_USEC_PER_SEC, (int)(now % G_USEC_PER_SEC),
		   name, data_json ? ", \"data\": " : "", data_json ? data_json : "");
}

void peer_greet(Peer *p, const char *version, gboolean oob)
{
	int v[3] = { 0 };
	json_t *cmd, *args;

	g_assert_cmpint(sscanf(version, "%d.%d.%d", &v[0], &v[1], &v[2]), ==, 3);
	peer_sendf(p, "{\"QMP\": {\"version\": {\"qemu\": {\"micro\": %d, \"minor\": %d, "
		   "\"major\": %d}, \"package\": \"fake\"}, \"capabilities\": [%s]}}\r\n",
		   v[2], v[1], v[0], oob ? "\"oob\"" : "");
	cmd = peer_expect(p, "qmp_capabilities");
	args = json_object_get(cmd, "arguments");
	if (oob) {
		g_assert_true(json_is_array(json_object_get(args, "enable")));
		g_assert_cmpstr(json_string_value(json_array_get(json_object_get(args, "enable"), 0)),
				==, "oob");
	} else {
		g_assert_null(json_object_get(args, "enable"));
	}
	peer_reply(p, cmd, "{}");
	json_decref(cmd);
}

int peer_take_fd(Peer *p)
{
	if (g_queue_is_empty(&p->fds))
		return -1;
	return GPOINTER_TO_INT(g_queue_pop_head(&p->fds));
}

void peer_hangup(Peer *p)
{
	shutdown(p->fd, SHUT_RDWR);
}

gboolean peer_wait_eof(Peer *p, int timeout_ms)
{
	gint64 deadline = g_get_monotonic_time() + (gint64)timeout_ms * 1000;

	for (;;) {
		gint64 left = (deadline - g_get_monotonic_time()) / 1000;
		struct pollfd pfd = { .fd = p->fd, .events = POLLIN };
		char buf[4096];

		if (left <= 0 || poll(&pfd, 1, (int)left) != 1)
			return FALSE;
		if (recv(p->fd, buf, sizeof(buf), 0) <= 0)
			return TRUE;
	}
}
