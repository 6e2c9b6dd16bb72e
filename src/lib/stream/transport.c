/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * TCP and UNIX sockets, and mutual TLS over TCP through GIO (the GnuTLS
 * backend of glib-networking). Sockets are plain fds so that the
 * zero-copy path can splice into them when TLS is off; with TLS the fd
 * is handed to a GSocket for the handshake. After it the channel speaks
 * sealed records (seal.c) on the socket when both ends offered them by
 * ALPN, else through the GIOStream.
 */
#define G_LOG_DOMAIN "nvfm-transport"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>

#include "util/util-private.h"
#include "channel-private.h"
#include "readahead.h"
#include "tls-names.h"
#include "nvfm/transport.h"

struct _NvfmTls {
	gboolean server;
	GTlsCertificate *cert;
	GTlsDatabase *db;
	NvfmNamePatterns *allow;	/* NULL: any certificate from the CA */
	char *server_name;
	char *desc;
	char *files[3];		/* the CA, certificate and key it was made from */
	gboolean seal;		/* offer sealed records (NVFM_TLS_SEALED=0: not) */
	gboolean ktls;		/* ... and hand them to the kernel (NVFM_TLS_KTLS=0: not) */
};

struct _NvfmListener {
	int fd;
	char *address;
	char *unix_path;
};

/* ---- addresses ---- */

typedef struct {
	char *host;		/* NULL: any (listen only) */
	char *port;
	char *unix_path;
} Addr;

static void addr_clear(Addr *a)
{
	g_free(a->host);
	g_free(a->port);
	g_free(a->unix_path);
}

static gboolean parse_port(const char *s, gboolean listen, GError **error)
{
	guint64 v;

	if (!g_ascii_string_to_unsigned(s, 10, listen ? 0 : 1, 65535, &v, NULL)) {
		g_set_error(error, NVFM_ERROR, NVFM_ERROR_INVALID_ARG, "invalid port '%s'", s);
		return FALSE;
	}
	return TRUE;
}

static gboolean parse_address(const char *address, gboolean listen, Addr *a, GError **error)
{
	const char *s = address;
	const char *colon;

	memset(a, 0, sizeof(*a));
	if (g_str_has_prefix(s, "unix:")) {
		if (!s[5]) {
			g_set_error(error, NVFM_ERROR, NVFM_ERROR_INVALID_ARG,
				    "invalid address '%s': unix: needs a path", address);
			return FALSE;
		}
		if (strlen(s + 5) >= sizeof(((struct sockaddr_un *)NULL)->sun_path)) {
			g_set_error(error, NVFM_ERROR, NVFM_ERROR_INVALID_ARG,
				    "socket path too long: %s", s + 5);
			return FALSE;
		}
		a->unix_path = g_strdup(s + 5);
		return TRUE;
	}
	if (g_str_has_prefix(s, "tcp:"))
		s += 4;
	if (s[0] == '[') {
		const char *end = strchr(s, ']');

		if (!end || (end[1] && end[1] != ':'))
			goto bad;
		a->host = g_strndup(s + 1, end - s - 1);
		a->port = g_strdup(end[1] == ':' ? end + 2 : "");
	} else if ((colon = strchr(s, ':')) && !strchr(colon + 1, ':')) {
		a->host = g_strndup(s, colon - s);
		a->port = g_strdup(colon + 1);
	} else {
		/* no port, or a bare IPv6 address */
		a->host = g_strdup(s);
		a->port = g_strdup("");
	}
	if (!*a->port) {
		g_free(a->port);
		a->port = g_strdup_printf("%d", NVFM_AGENT_DEFAULT_PORT);
	}
	if (!parse_port(a->port, listen, error)) {
		addr_clear(a);
		return FALSE;
	}
	if (!*a->host || strcmp(a->host, "*") == 0) {
		if (!listen)
			goto bad;
		g_clear_pointer(&a->host, g_free);
	}
	return TRUE;
bad:
	addr_clear(a);
	g_set_error(error, NVFM_ERROR, NVFM_ERROR_INVALID_ARG,
		    "invalid address '%s' (expected HOST[:PORT], [V6ADDR]:PORT or unix:PATH)",
		    address);
	return FALSE;
}

static char *sockaddr_string(const struct sockaddr *sa)
{
	char host[INET6_ADDRSTRLEN] = "?";

	if (sa->sa_family == AF_INET) {
		const struct sockaddr_in *in = (const void *)sa;

		inet_ntop(AF_INET, &in->sin_addr, host, sizeof(host));
		return g_strdup_printf("%s:%u", host, ntohs(in->sin_port));
	}
	if (sa->sa_family == AF_INET6) {
		const struct sockaddr_in6 *in6 = (const void *)sa;

		inet_ntop(AF_INET6, &in6->sin6_addr, host, sizeof(host));
		return g_strdup_printf("[%s]:%u", host, ntohs(in6->sin6_port));
	}
	return g_strdup("unix");
}

/*
 * Who a plain connection's peer is, for the agent's reservations: its
 * address without the port (a client's next connection comes from
 * another port) or, on a UNIX socket, its uid. Unauthenticated: on
 * plain TCP anybody who can use that address is that peer.
 */
static char *plain_identity(int fd, const char *peer)
{
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);
	char host[INET6_ADDRSTRLEN];

	if (getpeername(fd, (struct sockaddr *)&ss, &sl) < 0)
		return g_strdup(peer);
	if (ss.ss_family == AF_UNIX) {
		struct ucred uc;
		socklen_t ul = sizeof(uc);

		if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &uc, &ul) == 0)
			return g_strdup_printf("unix:uid=%u", uc.uid);
		return g_strdup("unix");
	}
	if (ss.ss_family == AF_INET6) {
		const struct sockaddr_in6 *in6 = (const void *)&ss;

		/* a v4 client of a dual-stack listener is still that v4 address */
		if (IN6_IS_ADDR_V4MAPPED(&in6->sin6_addr))
			inet_ntop(AF_INET, &in6->sin6_addr.s6_addr[12], host, sizeof(host));
		else
			inet_ntop(AF_INET6, &in6->sin6_addr, host, sizeof(host));
		return g_strdup(host);
	}
	if (ss.ss_family == AF_INET) {
		const struct sockaddr_in *in = (const void *)&ss;

		inet_ntop(AF_INET, &in->sin_addr, host, sizeof(host));
		return g_strdup(host);
	}
	return g_strdup(peer);
}

/*
 * Who a connection comes from, for limits per source: the IPv4 address,
 * or the IPv6 /64 (what one host is usually given, so one host cannot
 * dodge the limit by cycling its addresses).
 */
static char *source_string(const struct sockaddr *sa)
{
	char host[INET6_ADDRSTRLEN] = "?";

	if (sa->sa_family == AF_INET) {
		const struct sockaddr_in *in = (const void *)sa;

		inet_ntop(AF_INET, &in->sin_addr, host, sizeof(host));
		return g_strdup(host);
	}
	if (sa->sa_family == AF_INET6) {
		struct in6_addr a = ((const struct sockaddr_in6 *)(const void *)sa)->sin6_addr;

		if (IN6_IS_ADDR_V4MAPPED(&a)) {
			inet_ntop(AF_INET, &a.s6_addr[12], host, sizeof(host));
			return g_strdup(host);
		}
		memset(&a.s6_addr[8], 0, 8);
		inet_ntop(AF_INET6, &a, host, sizeof(host));
		return g_strdup_printf("%s/64", host);
	}
	return g_strdup("unix");
}

static void tune_tcp(int fd)
{
	int one = 1;

	/* Requests and replies are small frames written as header + payload;
	 * Nagle with delayed ACKs would stall each exchange. */
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &one, sizeof(one));
}

/*
 * Let the kernel give up on a peer when we would: data it leaves
 * unacknowledged for @timeout_ms ends the connection (ETIMEDOUT) even when
 * our own writes still fit in the socket buffer, and an idle connection is
 * probed from half that time on, once a second, so that a cut link is
 * found within the timeout while nobody is sending (an agent between
 * requests, holding a reservation for the connection). A UNIX socket
 * refuses these options, which is fine: it has no link to lose.
 */
static void bound_silence(int fd, int timeout_ms)
{
	unsigned int user = (unsigned int)timeout_ms;
	int secs = (timeout_ms + 999) / 1000;
	int idle = MAX(1, secs / 2), intvl = 1, cnt = MAX(1, secs - idle);

	if (timeout_ms <= 0 ||
	    setsockopt(fd, IPPROTO_TCP, TCP_USER_TIMEOUT, &user, sizeof(user)) < 0)
		return;
	(void)setsockopt(fd, IPPROTO_TCP, TCP_KEEPIDLE, &idle, sizeof(idle));
	(void)setsockopt(fd, IPPROTO_TCP, TCP_KEEPINTVL, &intvl, sizeof(intvl));
	(void)setsockopt(fd, IPPROTO_TCP, TCP_KEEPCNT, &cnt, sizeof(cnt));
}

/* ---- TLS credentials ---- */

static char *pki_path(const char *dir, const char *file)
{
	return g_build_filename(dir, file, NULL);
}

static gboolean need_file(const char *path, const char *what, GError **error)
{
	if (access(path, R_OK) == 0)
		return TRUE;
	g_set_error(error, NVFM_ERROR,
		    errno == ENOENT ? NVFM_ERROR_NOT_FOUND : NVFM_ERROR_PERMISSION,
		    "TLS %s %s: %s", what, path, g_strerror(errno));
	return FALSE;
}

/* A 0/1 switch from the environment, 1 when unset. */
static gboolean env_switch(const char *name, gboolean *out, GError **error)
{
	const char *v = g_getenv(name);

	if (!v || !*v || g_str_equal(v, "1")) {
		*out = TRUE;
		return TRUE;
	}
	if (g_str_equal(v, "0")) {
		*out = FALSE;
		return TRUE;
	}
	g_set_error(error, NVFM_ERROR, NVFM_ERROR_INVALID_ARG, "%s must be 0 or 1, not '%s'",
		    name, v);
	return FALSE;
}

NvfmTls *nvfm_tls_new(gboolean server, const NvfmTlsOptions *opts, GError **error)
{
	static const NvfmTlsOptions none = { 0 };
	const char *dir;
	g_autofree char *ca = NULL, *cert = NULL, *key = NULL;
	GError *gerr = NULL;
	NvfmTls *t;

	if (!opts)
		opts = &none;
	if (!g_tls_backend_supports_tls(g_tls_backend_get_default())) {
		g_set_error(error, NVFM_ERROR, NVFM_ERROR_NOT_SUPPORTED,
			    "TLS support is not available (install glib-networking)");
		return NULL;
	}
	dir = opts->dir ? opts->dir : g_getenv("NVFM_PKI_DIR");
	if (!dir || !*dir)
		dir = NVFM_PKI_DIR;
	/* GIO's file database wants an absolute path */
	ca = g_canonicalize_filename(opts->ca_file ? opts->ca_file : "ca-cert.pem",
				     opts->ca_file ? NULL : dir);
	if (opts->cert_file)
		cert = g_canonicalize_filename(opts->cert_file, NULL);
	else
		cert = pki_path(dir, server ? "server-cert.pem" : "client-cert.pem");
	if (opts->key_file)
		key = g_canonicalize_filename(opts->key_file, NULL);
	else
		key = pki_path(dir, server ? "server-key.pem" : "client-key.pem");
	if (!need_file(ca, "CA certificate", error) ||
	    !need_file(cert, "certificate", error) || !need_file(key, "private key", error))
		return NULL;

	t = g_new0(NvfmTls, 1);
	t->server = server;
	t->db = g_tls_file_database_new(ca, &gerr);
	if (!t->db) {
		g_set_error(error, NVFM_ERROR, NVFM_ERROR_AUTH, "TLS CA certificate %s: %s", ca,
			    gerr->message);
		goto fail;
	}
	t->cert = g_tls_certificate_new_from_files(cert, key, &gerr);
	if (!t->cert) {
		g_set_error(error, NVFM_ERROR, NVFM_ERROR_AUTH, "TLS certificate %s / key %s: %s",
			    cert, key, gerr->message);
		goto fail;
	}
	t->allow = nvfm_name_patterns_new(opts->allow, "allow-list", &gerr);
	if (gerr) {
		g_propagate_error(error, g_steal_pointer(&gerr));
		goto fail;
	}
	t->server_name = g_strdup(opts->server_name);
	/* NVFM_TLS_SEALED=0 keeps GIO's TLS records for the whole connection,
	 * NVFM_TLS_KTLS=0 seals in userspace where the kernel could: both for
	 * comparisons, or a peer or kernel that mishandles them */
	if (!env_switch("NVFM_TLS_SEALED", &t->seal, error) ||
	    !env_switch("NVFM_TLS_KTLS", &t->ktls, error))
		goto fail;
	t->desc = g_strdup_printf("ca=%s cert=%s", ca, cert);
	t->files[0] = g_steal_pointer(&ca);
	t->files[1] = g_steal_pointer(&cert);
	t->files[2] = g_steal_pointer(&key);
	return t;
fail:
	g_clear_error(&gerr);
	nvfm_tls_free(t);
	return NULL;
}

void nvfm_tls_free(NvfmTls *tls)
{
	if (!tls)
		return;
	g_clear_object(&tls->cert);
	for (guint i = 0; i < G_N_ELEMENTS(tls->files); i++)
		g_free(tls->files[i]);
	g_clear_object(&tls->db);
	nvfm_name_patterns_free(tls->allow);
	g_free(tls->server_name);
	g_free(tls->desc);
	g_free(tls);
}

gboolean nvfm_tls_link_dir(NvfmTls *tls, const char *dir, GError **error)
{
	const char *side = tls->server ? "server" : "client";
	g_autofree char *cert = g_strdup_printf("%s-cert.pem", side);
	g_autofree char *key = g_strdup_printf("%s-key.pem", side);
	const char *names[] = { "ca-cert.pem", cert, key };

	for (guint i = 0; i < G_N_ELEMENTS(names); i++) {
		g_autofree char *link = g_build_filename(dir, names[i], NULL);

		if (symlink(tls->files[i], link) < 0) {
			nvfm_set_error_errno(error, -errno, "cannot link %s to %s", link,
					     tls->files[i]);
			return FALSE;
		}
	}
	return TRUE;
}

const char *nvfm_tls_describe(NvfmTls *tls)
{
	return tls->desc;
}

static char *cert_errors_string(GTlsCertificateFlags f)
{
	static const struct {
		GTlsCertificateFlags flag;
		const char *text;
	} why[] = {
		{ G_TLS_CERTIFICATE_UNKNOWN_CA, "not signed by the configured CA" },
		{ G_TLS_CERTIFICATE_BAD_IDENTITY, "issued for another name" },
		{ G_TLS_CERTIFICATE_NOT_ACTIVATED, "not valid yet" },
		{ G_TLS_CERTIFICATE_EXPIRED, "expired" },
		{ G_TLS_CERTIFICATE_REVOKED, "revoked" },
		{ G_TLS_CERTIFICATE_INSECURE, "uses an insecure algorithm" },
		{ G_TLS_CERTIFICATE_GENERIC_ERROR, "invalid" },
	};
	GString *s = g_string_new(NULL);

	for (guint i = 0; i < G_N_ELEMENTS(why); i++) {
		if (f & why[i].flag) {
			if (s->len)
				g_string_append(s, ", ");
			g_string_append(s, why[i].text);
		}
	}
	if (!s->len)
		g_string_append(s, "invalid");
	return g_string_free(s, FALSE);
}

static char *cert_subject(GTlsCertificate *c)
{
	char *dn = c ? g_tls_certificate_get_subject_name(c) : NULL;

	return dn ? dn : g_strdup("(no subject)");
}

/* Whether the allow-list lets @c in (tls-names.c says by which names);
 * *@names_out is "'SUBJECT' (CN x, DNS y, IP z)" for the log. */
static gboolean allowed(NvfmTls *t, GTlsCertificate *c, char **names_out)
{
	g_autoptr(GError) err = NULL;
	g_autoptr(NvfmPeerNames) names = nvfm_peer_names_from_certificate(c, &err);
	g_autofree char *dn = cert_subject(c);
	g_autofree char *desc = names ? nvfm_peer_names_describe(names) : NULL;

	*names_out = g_strdup_printf("'%s' (%s)", dn, names ? desc : err->message);
	return names && (!t->allow || nvfm_name_patterns_match(t->allow, names));
}

typedef struct {
	gboolean called;
	GTlsCertificateFlags errors;
	GTlsCertificate *cert;
} AcceptState;

/*
 * glib-networking 2.74 emits accept-certificate on the server for every
 * client certificate, valid or not, when authentication is required: the
 * verdict is ours, and only a certificate without errors passes.
 */
static gboolean on_accept_certificate(GTlsConnection *conn, GTlsCertificate *peer,
				      GTlsCertificateFlags errors, gpointer data)
{
	AcceptState *st = data;

	st->called = TRUE;
	st->errors = errors;
	g_set_object(&st->cert, peer);
	return errors == 0;
}

/* ---- connecting ---- */

static int connect_unix(const char *path, int timeout_ms, GError **error)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);

	if (fd < 0) {
		nvfm_set_error_errno(error, -errno, "socket");
		return -1;
	}
	g_strlcpy(sa.sun_path, path, sizeof(sa.sun_path));
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		int e = errno;

		close(fd);
		nvfm_set_error_errno(error, -e, "cannot connect to unix:%s", path);
		if (e == ECONNREFUSED && error && *error)
			(*error)->code = NVFM_ERROR_NOT_FOUND;
		return -1;
	}
	return fd;
}

static int connect_one(const struct addrinfo *ai, int timeout_ms, int *err)
{
	int fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC | SOCK_NONBLOCK,
			ai->ai_protocol);
	socklen_t sl = sizeof(*err);
	int r;

	if (fd < 0) {
		*err = errno;
		return -1;
	}
	if (connect(fd, ai->ai_addr, ai->ai_addrlen) == 0)
		return fd;
	if (errno != EINPROGRESS) {
		*err = errno;
		close(fd);
		return -1;
	}
	r = nvfm_poll_fd(fd, POLLOUT, timeout_ms);
	if (r <= 0) {
		*err = r == 0 ? ETIMEDOUT : -r;
		close(fd);
		return -1;
	}
	if (getsockopt(fd, SOL_SOCKET, SO_ERROR, err, &sl) < 0)
		*err = errno;
	if (*err) {
		close(fd);
		return -1;
	}
	return fd;
}

static int connect_tcp(const Addr *a, int timeout_ms, GError **error)
{
	struct addrinfo hints = { .ai_socktype = SOCK_STREAM, .ai_flags = AI_ADDRCONFIG };
	struct addrinfo *res = NULL;
	int err = 0, fd = -1;
	int r = getaddrinfo(a->host, a->port, &hints, &res);

	if (r != 0) {
		g_set_error(error, NVFM_ERROR, NVFM_ERROR_NOT_FOUND, "cannot resolve %s: %s",
			    a->host, gai_strerror(r));
		return -1;
	}
	for (struct addrinfo *ai = res; ai && fd < 0; ai = ai->ai_next)
		fd = connect_one(ai, timeout_ms, &err);
	freeaddrinfo(res);
	if (fd < 0) {
		g_set_error(error, NVFM_ERROR,
			    err == ECONNREFUSED ? NVFM_ERROR_NOT_FOUND
			    : err == ETIMEDOUT ? NVFM_ERROR_TIMEOUT
			    : nvfm_error_code_from_errno(err),
			    "cannot connect to %s:%s: %s%s", a->host, a->port, g_strerror(err),
			    err == ECONNREFUSED ? " (is the agent running?)" : "");
		return -1;
	}
	tune_tcp(fd);
	return fd;
}

/* The stream a TLS connection runs on: @fd's socket, read ahead. */
static GIOStream *socket_stream(int fd, int timeout_ms, GError **error)
{
	GError *gerr = NULL;
	g_autoptr(GSocket) gs = g_socket_new_from_fd(fd, &gerr);
	g_autoptr(GSocketConnection) conn = NULL;

	if (!gs) {
		close(fd);
		g_set_error(error, NVFM_ERROR, NVFM_ERROR_IO, "%s", gerr->message);
		g_error_free(gerr);
		return NULL;
	}
	g_socket_set_timeout(gs, timeout_ms < 0 ? 0 : (guint)((timeout_ms + 999) / 1000));
	conn = g_socket_connection_factory_create_connection(gs);
	return nvfm_read_ahead_stream_new(conn);
}

/* Both ends offer sealed records when their credentials say so. */
static void offer_sealed(GIOStream *tls, NvfmTls *t)
{
	static const char *const alpn[] = { NVFM_SEAL_ALPN, NULL };

	if (t->seal)
		g_tls_connection_set_advertised_protocols(G_TLS_CONNECTION(tls), alpn);
}

/*
 * The channel of a TLS connection whose handshake is done: sealed records
 * when both ends chose them by ALPN over TLS 1.3, else GIO's TLS records.
 * Both ends see the same ALPN result and version, so they agree.
 */
static NvfmChannel *tls_channel(GIOStream *tls, GIOStream *base, int fd, NvfmTls *t,
				GError **error)
{
	gboolean server = t->server;
	GTlsConnection *c = G_TLS_CONNECTION(tls);
	g_autoptr(NvfmChannel) ch = nvfm_channel_new_stream(tls);
	g_autoptr(GByteArray) secret = NULL;
	NvfmSeal *seal;
	GError *gerr = NULL;

	nvfm_channel_set_socket_fd(ch, fd);
	if (g_strcmp0(g_tls_connection_get_negotiated_protocol(c), NVFM_SEAL_ALPN) != 0 ||
	    g_tls_connection_get_protocol_version(c) != G_TLS_PROTOCOL_VERSION_TLS_1_3)
		return g_steal_pointer(&ch);
	secret = g_byte_array_new();
	if (!g_tls_connection_get_channel_binding_data(c, G_TLS_CHANNEL_BINDING_TLS_EXPORTER,
						       secret, &gerr)) {
		g_set_error(error, NVFM_ERROR, NVFM_ERROR_AUTH,
			    "sealed records: no TLS exporter from this TLS library: %s",
			    gerr->message);
		g_error_free(gerr);
		return NULL;
	}
	seal = nvfm_seal_new(secret->data, secret->len, server, error);
	memset(secret->data, 0, secret->len);
	if (!seal)
		return NULL;
	/* what the read-ahead took past the handshake is the peer's first
	 * sealed bytes (or a session ticket before them) */
	for (;;) {
		gsize room, n;
		guint8 *space = nvfm_seal_recv_space(seal, &room);

		n = nvfm_read_ahead_stream_take_buffered(NVFM_READ_AHEAD_STREAM(base), space,
							 room);
		if (!n)
			break;
		nvfm_seal_received(seal, n);
	}
	if (!nvfm_channel_seal(ch, seal, t->ktls, error))
		return NULL;
	g_debug("TLS 1.3, %s (%s)", nvfm_channel_record_layer(ch), server ? "server" : "client");
	return g_steal_pointer(&ch);
}

static NvfmChannel *tls_client(int fd, const Addr *a, NvfmTls *t, int timeout_ms,
			       GError **error)
{
	g_autoptr(GIOStream) base = socket_stream(fd, timeout_ms, error);
	g_autoptr(GSocketConnectable) id = NULL;
	g_autoptr(GIOStream) tls = NULL;
	AcceptState st = { 0 };
	GError *gerr = NULL;

	if (!base)
		return NULL;
	id = g_network_address_new(t->server_name ? t->server_name : a->host,
				   (guint16)atoi(a->port));
	/* Our CA database from construction on: a connection made without
	 * one first loads the system's whole CA bundle, twice, for nothing;
	 * tens of ms between our connect and our ClientHello, in which an
	 * agent under a flood of idle connections may drop us as idle. */
	tls = g_initable_new(g_tls_backend_get_client_connection_type(g_tls_backend_get_default()),
			     NULL, &gerr, "base-io-stream", base, "server-identity", id,
			     "database", t->db, "certificate", t->cert, NULL);
	if (!tls)
		goto fail;
	g_signal_connect(tls, "accept-certificate", G_CALLBACK(on_accept_certificate), &st);
	offer_sealed(tls, t);
	if (!g_tls_connection_handshake(G_TLS_CONNECTION(tls), NULL, &gerr))
		goto fail;
	g_clear_object(&st.cert);
	return tls_channel(tls, base, fd, t, error);

fail:
	if (st.called && st.errors) {
		g_autofree char *why = cert_errors_string(st.errors);
		g_autofree char *who = cert_subject(st.cert);

		g_set_error(error, NVFM_ERROR, NVFM_ERROR_AUTH,
			    "refusing %s:%s: its certificate '%s' is %s", a->host, a->port, who, why);
	} else if (g_error_matches(gerr, G_TLS_ERROR, G_TLS_ERROR_NOT_TLS) ||
		   g_error_matches(gerr, G_TLS_ERROR, G_TLS_ERROR_EOF) ||
		   g_error_matches(gerr, G_IO_ERROR, G_IO_ERROR_CONNECTION_CLOSED) ||
		   g_error_matches(gerr, G_IO_ERROR, G_IO_ERROR_BROKEN_PIPE)) {
		/* Nothing here says why: with TLS 1.3 a refused certificate
		 * shows only after the handshake (agent-client.c), so the
		 * agent dropped us unheard: busy, or not speaking TLS. */
		g_set_error(error, NVFM_ERROR, NVFM_ERROR_IO,
			    "%s:%s closed the connection before the TLS handshake finished (%s): "
			    "the agent is busy (too many connections waiting to authenticate) "
			    "or it is a plain (--insecure) agent; its log says which", a->host,
			    a->port, gerr->message);
	} else {
		g_set_error(error, NVFM_ERROR, NVFM_ERROR_AUTH, "TLS handshake with %s:%s failed: %s",
			    a->host, a->port, gerr ? gerr->message : "unknown error");
	}
	g_clear_error(&gerr);
	g_clear_object(&st.cert);
	return NULL;
}

NvfmChannel *nvfm_transport_connect(const char *address, NvfmTls *tls, int timeout_ms,
				    GError **error)
{
	Addr a;
	NvfmChannel *ch;
	int fd;

	if (!parse_address(address, FALSE, &a, error))
		return NULL;
	if (tls && tls->server) {
		addr_clear(&a);
		g_set_error(error, NVFM_ERROR, NVFM_ERROR_INVALID_ARG,
			    "server credentials cannot make a client connection");
		return NULL;
	}
	if (a.unix_path) {
		fd = connect_unix(a.unix_path, timeout_ms, error);
		tls = NULL;	/* a local socket: the file's permissions protect it */
	} else {
		fd = connect_tcp(&a, timeout_ms, error);
	}
	if (fd < 0) {
		addr_clear(&a);
		return NULL;
	}
	bound_silence(fd, timeout_ms);
	if (tls) {
		ch = tls_client(fd, &a, tls, timeout_ms, error);
	} else {
		ch = nvfm_channel_new_fd(fd, TRUE);
	}
	if (ch) {
		g_autofree char *peer = a.unix_path ? g_strdup_printf("unix:%s", a.unix_path)
						    : g_strdup_printf("%s:%s", a.host, a.port);

		nvfm_channel_set_timeout(ch, timeout_ms);
		nvfm_channel_set_peer(ch, peer);
	}
	addr_clear(&a);
	return ch;
}

/* ---- listening ---- */

static int listen_unix(const char *path, GError **error)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct stat sb;
	int fd;

	/* A socket file left by a previous instance is stale: nobody can be
	 * listening on it while we are told to. Never remove anything else. */
	if (lstat(path, &sb) == 0) {
		if (!S_ISSOCK(sb.st_mode)) {
			g_set_error(error, NVFM_ERROR, NVFM_ERROR_BUSY,
				    "%s exists and is not a socket", path);
			return -1;
		}
		unlink(path);
	}
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0) {
		nvfm_set_error_errno(error, -errno, "socket");
		return -1;
	}
	g_strlcpy(sa.sun_path, path, sizeof(sa.sun_path));
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 || chmod(path, 0600) < 0 ||
	    listen(fd, 64) < 0) {
		int e = errno;

		close(fd);
		nvfm_set_error_errno(error, -e, "cannot listen on unix:%s", path);
		return -1;
	}
	return fd;
}

static int listen_tcp(const Addr *a, char **bound, GError **error)
{
	struct addrinfo hints = { .ai_socktype = SOCK_STREAM, .ai_flags = AI_PASSIVE };
	struct addrinfo *res = NULL;
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);
	int one = 1, err = 0, fd = -1;
	int r = getaddrinfo(a->host, a->port, &hints, &res);

	if (r != 0) {
		g_set_error(error, NVFM_ERROR, NVFM_ERROR_NOT_FOUND, "cannot resolve %s: %s",
			    a->host ? a->host : "*", gai_strerror(r));
		return -1;
	}
	for (struct addrinfo *ai = res; ai && fd < 0; ai = ai->ai_next) {
		fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC | SOCK_NONBLOCK,
			    ai->ai_protocol);
		if (fd < 0) {
			err = errno;
			continue;
		}
		setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
		if (bind(fd, ai->ai_addr, ai->ai_addrlen) < 0 || listen(fd, 64) < 0) {
			err = errno;
			close(fd);
			fd = -1;
		}
	}
	freeaddrinfo(res);
	if (fd < 0) {
		g_set_error(error, NVFM_ERROR, nvfm_error_code_from_errno(err),
			    "cannot listen on %s:%s: %s", a->host ? a->host : "*", a->port,
			    g_strerror(err));
		return -1;
	}
	getsockname(fd, (struct sockaddr *)&ss, &sl);
	*bound = sockaddr_string((struct sockaddr *)&ss);
	return fd;
}

NvfmListener *nvfm_listener_new(const char *address, GError **error)
{
	Addr a;
	NvfmListener *l;
	char *bound = NULL;
	int fd;

	if (!parse_address(address, TRUE, &a, error))
		return NULL;
	if (a.unix_path) {
		fd = listen_unix(a.unix_path, error);
		bound = g_strdup_printf("unix:%s", a.unix_path);
	} else {
		fd = listen_tcp(&a, &bound, error);
	}
	if (fd < 0) {
		g_free(bound);
		addr_clear(&a);
		return NULL;
	}
	l = g_new0(NvfmListener, 1);
	l->fd = fd;
	l->address = bound;
	l->unix_path = g_steal_pointer(&a.unix_path);
	addr_clear(&a);
	return l;
}

void nvfm_listener_free(NvfmListener *l)
{
	if (!l)
		return;
	nvfm_close_fd(&l->fd);
	if (l->unix_path)
		unlink(l->unix_path);
	g_free(l->unix_path);
	g_free(l->address);
	g_free(l);
}

int nvfm_listener_get_fd(NvfmListener *l)
{
	return l->fd;
}

const char *nvfm_listener_get_address(NvfmListener *l)
{
	return l->address;
}

gboolean nvfm_listener_is_unix(NvfmListener *l)
{
	return l->unix_path != NULL;
}

int nvfm_listener_accept(NvfmListener *l, char **peer, char **source, GError **error)
{
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);
	int fd;

	do
		fd = accept4(l->fd, (struct sockaddr *)&ss, &sl, SOCK_NONBLOCK | SOCK_CLOEXEC);
	while (fd < 0 && errno == EINTR);
	if (fd < 0) {
		if (errno == EAGAIN || errno == EWOULDBLOCK || errno == ECONNABORTED)
			return -1;
		nvfm_set_error_errno(error, -errno, "accept on %s", l->address);
		return -1;
	}
	if (l->unix_path) {
		struct ucred uc;
		socklen_t ul = sizeof(uc);

		gboolean cred = getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &uc, &ul) == 0;

		*peer = cred ? g_strdup_printf("unix:uid=%u,pid=%d", uc.uid, (int)uc.pid)
			     : g_strdup("unix");
		if (source)
			*source = cred ? g_strdup_printf("unix:uid=%u", uc.uid) : g_strdup("unix");
	} else {
		*peer = sockaddr_string((struct sockaddr *)&ss);
		if (source)
			*source = source_string((struct sockaddr *)&ss);
		tune_tcp(fd);
	}
	return fd;
}

/*
 * The peer's first byte, left in the socket: does it start a TLS handshake
 * (a record of content type 22) or a frame ("NVFM")? One byte tells them
 * apart; waiting for more would have to poll a socket that is already
 * readable. 1, 0 at end of stream, -1 when nothing came within @timeout_ms.
 */
static gssize peek_start(int fd, guint8 *first, int timeout_ms)
{
	gssize n;

	if (nvfm_poll_fd(fd, POLLIN, timeout_ms) <= 0)
		return -1;
	do
		n = recv(fd, first, 1, MSG_PEEK | MSG_DONTWAIT);
	while (n < 0 && errno == EINTR);
	return n;
}

static NvfmChannel *refuse_plain(int fd, const char *peer, GError **error)
{
	NvfmChannel *ch = nvfm_channel_new_fd(fd, TRUE);
	json_auto_t *obj = json_pack("{s:s, s:s}", "reason",
				     "this agent requires TLS with a client certificate "
				     "(the client connected with --insecure)",
				     "code", nvfm_error_code_name(NVFM_ERROR_AUTH));

	nvfm_channel_set_timeout(ch, 1000);
	nvfm_frame_send_json(ch, NVFM_FRAME_ABORT, obj, NULL);
	nvfm_channel_free(ch);
	g_set_error(error, NVFM_ERROR, NVFM_ERROR_AUTH,
		    "refused %s: plain (non-TLS) client on a TLS port", peer);
	return NULL;
}

/*
 * The client's certificate is valid but the allow-list does not name it:
 * tell the client why (an ABORT with the AUTH code), or it only sees the
 * connection close after a handshake that succeeded. Its HELLO is read
 * first, bounded, so that closing with it unread does not reset the
 * connection before the ABORT is read.
 */
static void refuse_not_allowed(NvfmChannel *ch, const char *names)
{
	g_autofree guint8 *buf = g_malloc(NVFM_FRAME_MAX_DATA);
	g_autofree char *reason = g_strdup_printf(
		"its allow-list does not accept our certificate %s", names);
	json_auto_t *obj = json_pack("{s:s, s:s}", "reason", reason, "code",
				     nvfm_error_code_name(NVFM_ERROR_AUTH));
	NvfmFrameHeader hdr;

	nvfm_channel_set_timeout(ch, 1000);
	nvfm_frame_recv(ch, &hdr, buf, NULL);
	nvfm_frame_send_json(ch, NVFM_FRAME_ABORT, obj, NULL);
}

static NvfmChannel *tls_server(int fd, const char *peer, NvfmTls *t, int timeout_ms,
			       char **identity, GError **error)
{
	g_autoptr(GIOStream) base = socket_stream(fd, timeout_ms, error);
	g_autoptr(GIOStream) tls = NULL;
	g_autofree char *names = NULL;
	GTlsCertificate *pc;
	AcceptState st = { 0 };
	GError *gerr = NULL;
	NvfmChannel *ch;

	if (!base)
		return NULL;
	/* our CA database from the start (see tls_client()): no system CA
	 * bundle parsed for every connection anyone opens */
	tls = g_initable_new(g_tls_backend_get_server_connection_type(g_tls_backend_get_default()),
			     NULL, &gerr, "base-io-stream", base, "certificate", t->cert,
			     "database", t->db, "authentication-mode",
			     G_TLS_AUTHENTICATION_REQUIRED, NULL);
	if (!tls) {
		g_set_error(error, NVFM_ERROR, NVFM_ERROR_AUTH, "TLS with %s: %s", peer,
			    gerr->message);
		g_error_free(gerr);
		return NULL;
	}
	g_signal_connect(tls, "accept-certificate", G_CALLBACK(on_accept_certificate), &st);
	offer_sealed(tls, t);
	if (!g_tls_connection_handshake(G_TLS_CONNECTION(tls), NULL, &gerr)) {
		if (st.called && st.errors) {
			g_autofree char *why = cert_errors_string(st.errors);
			g_autofree char *who = cert_subject(st.cert);

			g_set_error(error, NVFM_ERROR, NVFM_ERROR_AUTH,
				    "refused %s: client certificate '%s' is %s", peer, who, why);
		} else if (g_error_matches(gerr, G_TLS_ERROR, G_TLS_ERROR_CERTIFICATE_REQUIRED) ||
			   (!st.called && gerr && strstr(gerr->message, "certificate"))) {
			g_set_error(error, NVFM_ERROR, NVFM_ERROR_AUTH,
				    "refused %s: the client presented no certificate (%s)", peer,
				    gerr->message);
		} else {
			g_set_error(error, NVFM_ERROR, NVFM_ERROR_AUTH,
				    "refused %s: TLS handshake failed: %s", peer,
				    gerr ? gerr->message : "unknown error");
		}
		g_clear_error(&gerr);
		g_clear_object(&st.cert);
		return NULL;
	}
	g_clear_object(&st.cert);
	pc = g_tls_connection_get_peer_certificate(G_TLS_CONNECTION(tls));
	if (!pc) {
		g_set_error(error, NVFM_ERROR, NVFM_ERROR_AUTH,
			    "refused %s: the client presented no certificate", peer);
		return NULL;
	}
	if (g_tls_connection_get_peer_certificate_errors(G_TLS_CONNECTION(tls))) {
		g_autofree char *why = cert_errors_string(
			g_tls_connection_get_peer_certificate_errors(G_TLS_CONNECTION(tls)));
		g_autofree char *who = cert_subject(pc);

		g_set_error(error, NVFM_ERROR, NVFM_ERROR_AUTH,
			    "refused %s: client certificate '%s' is %s", peer, who, why);
		return NULL;
	}
	ch = tls_channel(tls, base, fd, t, error);
	if (!ch)
		return NULL;
	if (!allowed(t, pc, &names)) {
		refuse_not_allowed(ch, names);
		nvfm_channel_free(ch);
		g_set_error(error, NVFM_ERROR, NVFM_ERROR_AUTH,
			    "refused %s: client certificate %s is not in the allow-list", peer,
			    names);
		return NULL;
	}
	if (identity)
		*identity = cert_subject(pc);
	return ch;
}

NvfmChannel *nvfm_transport_accept(int fd, const char *peer, NvfmTls *tls, int timeout_ms,
				   char **identity, GError **error)
{
	NvfmChannel *ch;
	guint8 start;
	gssize n;

	if (tls && !tls->server) {
		close(fd);
		g_set_error(error, NVFM_ERROR, NVFM_ERROR_INVALID_ARG,
			    "client credentials cannot accept a connection");
		return NULL;
	}
	bound_silence(fd, timeout_ms);
	n = peek_start(fd, &start, timeout_ms);
	if (n <= 0) {
		close(fd);
		g_set_error(error, NVFM_ERROR, n == 0 ? NVFM_ERROR_IO : NVFM_ERROR_TIMEOUT,
			    "%s: %s", peer,
			    n == 0 ? "closed the connection before saying anything"
				   : "sent nothing");
		return NULL;
	}
	/* A TLS connection starts with a handshake record (content type 22),
	 * ours with the frame magic: tell a confused peer what is wrong. */
	if (tls && start == 'N')
		return refuse_plain(fd, peer, error);
	if (!tls && start == 0x16) {
		close(fd);
		g_set_error(error, NVFM_ERROR, NVFM_ERROR_AUTH,
			    "refused %s: TLS client on a plain (--insecure) port", peer);
		return NULL;
	}
	if (tls) {
		ch = tls_server(fd, peer, tls, timeout_ms, identity, error);
		if (!ch)
			return NULL;
	} else {
		if (identity)
			*identity = plain_identity(fd, peer);
		ch = nvfm_channel_new_fd(fd, TRUE);
	}
	nvfm_channel_set_timeout(ch, timeout_ms);
	nvfm_channel_set_peer(ch, peer);
	return ch;
}
