/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Transports of the device-state stream and the agent protocol: TCP with
 * mutual TLS (x509, the default), plain TCP (only when asked for), and
 * UNIX sockets. Files are plain fd channels (nvfm_channel_new_fd()).
 */
#pragma once

#include "nvfm/stream.h"

G_BEGIN_DECLS

/** NVFM_AGENT_DEFAULT_PORT: the agent's TCP port when an address has none. */
#define NVFM_AGENT_DEFAULT_PORT 16590

/**
 * NVFM_PKI_DIR: where certificates live unless told otherwise, in the
 * layout QEMU and libvirt use for a TLS credentials directory:
 * ca-cert.pem, server-cert.pem, server-key.pem, client-cert.pem,
 * client-key.pem.
 */
#define NVFM_PKI_DIR "/etc/pki/nvme-vf-migrate"

/**
 * NvfmTlsOptions - where the x509 credentials are, and who may connect
 * @dir: the PKI directory (%NULL: $NVFM_PKI_DIR, else %NVFM_PKI_DIR)
 * @ca_file: the CA certificate(s) peers must chain to (%NULL:
 *	     @dir/ca-cert.pem)
 * @cert_file: our certificate (%NULL: @dir/server-cert.pem for a server,
 *	       @dir/client-cert.pem for a client)
 * @key_file: its private key (%NULL: @dir/server-key.pem or
 *	      @dir/client-key.pem)
 * @allow: server only: a %NULL-terminated list of patterns (* and ?
 *	   wildcards); a client is accepted only if one matches its
 *	   certificate: "PATTERN" the subject's CN attribute, a DNS name or
 *	   an IP address of its subjectAltName, "CN=PATTERN" the CN only. A
 *	   subject with several CNs has no CN to match. A pattern for another
 *	   attribute or a whole subject ("O=x", "CN=a,O=b") makes
 *	   nvfm_tls_new() fail with %NVFM_ERROR_INVALID_ARG. %NULL or empty:
 *	   any certificate from the CA.
 * @server_name: client only: the name the server certificate must carry
 *		 (%NULL: the host part of the address connected to)
 */
typedef struct {
	const char *dir;
	const char *ca_file;
	const char *cert_file;
	const char *key_file;
	const char *const *allow;
	const char *server_name;
} NvfmTlsOptions;

/**
 * NvfmTls - loaded TLS credentials (a CA database and our certificate)
 */
typedef struct _NvfmTls NvfmTls;

/**
 * nvfm_tls_new() - load the credentials of a TLS server or client
 * @server: %TRUE for the agent's side
 * @opts: where they are (%NULL: the defaults)
 * @error: return location for an error
 *
 * Return: the credentials, or %NULL with %NVFM_ERROR_NOT_FOUND (a file is
 * missing), %NVFM_ERROR_INVALID_ARG (an @allow pattern), %NVFM_ERROR_AUTH
 * (a file is not a usable certificate or key)
 * or %NVFM_ERROR_NOT_SUPPORTED (GIO has no TLS backend: install
 * glib-networking).
 */
NvfmTls *nvfm_tls_new(gboolean server, const NvfmTlsOptions *opts, GError **error);

/**
 * nvfm_tls_free() - free credentials (NULL is fine)
 * @tls: the credentials
 */
void nvfm_tls_free(NvfmTls *tls);

/**
 * nvfm_tls_link_dir() - the credentials as QEMU's tls-creds-x509 reads them
 * @tls: the credentials
 * @dir: an empty directory
 * @error: return location for an error
 *
 * Links ca-cert.pem and server-cert.pem/server-key.pem (a server's) or
 * client-cert.pem/client-key.pem (a client's) in @dir to the files @tls
 * was made from, so that a QEMU on this host can encrypt its migration
 * stream with the same PKI as the agent link.
 *
 * Return: %TRUE, or %FALSE with @error set.
 */
gboolean nvfm_tls_link_dir(NvfmTls *tls, const char *dir, GError **error);

/**
 * nvfm_tls_describe() - the files in use, for logs
 * @tls: the credentials
 *
 * Return: "ca=PATH cert=PATH", owned by @tls.
 */
const char *nvfm_tls_describe(NvfmTls *tls);

/**
 * nvfm_transport_connect() - connect to an agent
 * @address: "HOST", "HOST:PORT", "[V6ADDR]:PORT" or "unix:PATH"
 * @tls: credentials for mutual TLS, or %NULL for a plain connection
 *	 (TCP only when the user asked for --insecure; UNIX sockets are
 *	 protected by file permissions)
 * @timeout_ms: bound on connecting, the handshake and every later wait
 * @error: return location for an error
 *
 * Return: a channel with its timeout set and its peer named, or %NULL.
 * %NVFM_ERROR_AUTH when the TLS handshake fails (certificate refused
 * either way, or a peer that does not speak TLS).
 */
NvfmChannel *nvfm_transport_connect(const char *address, NvfmTls *tls, int timeout_ms,
				    GError **error);

/**
 * NvfmListener - a listening TCP or UNIX socket
 */
typedef struct _NvfmListener NvfmListener;

/**
 * nvfm_listener_new() - listen on an address
 * @address: "HOST:PORT", ":PORT" or "*:PORT" (every address), "HOST"
 *	     (the default port), "[V6ADDR]:PORT" or "unix:PATH" (created
 *	     0600; a stale socket file is replaced)
 * @error: return location for an error
 *
 * Return: the listener, or %NULL.
 */
NvfmListener *nvfm_listener_new(const char *address, GError **error);

/**
 * nvfm_listener_free() - close a listener (NULL is fine); a UNIX socket
 * file is removed
 * @l: the listener
 */
void nvfm_listener_free(NvfmListener *l);

/**
 * nvfm_listener_get_fd() - the listening socket, for poll()
 * @l: the listener
 *
 * Return: the fd, owned by @l.
 */
int nvfm_listener_get_fd(NvfmListener *l);

/**
 * nvfm_listener_get_address() - the address actually bound
 * @l: the listener
 *
 * Return: "10.0.0.2:16590" (port 0 resolved), "unix:PATH"; owned by @l.
 */
const char *nvfm_listener_get_address(NvfmListener *l);

/**
 * nvfm_listener_is_unix() - whether the listener is a UNIX socket
 * @l: the listener
 *
 * Return: %TRUE for "unix:PATH".
 */
gboolean nvfm_listener_is_unix(NvfmListener *l);

/**
 * nvfm_listener_accept() - accept one connection without waiting
 * @l: the listener
 * @peer: receives "10.0.0.1:40312" or "unix:uid=0,pid=812"
 * @source: receives where it comes from, for limits per source (may be
 *	    %NULL): "10.0.0.1", the IPv6 /64 ("2001:db8:1:2::/64") or
 *	    "unix:uid=0"
 * @error: return location for an error
 *
 * Return: the connected socket (non-blocking, close-on-exec), or -1:
 * with @error set on a failure, without when nothing was pending.
 */
int nvfm_listener_accept(NvfmListener *l, char **peer, char **source, GError **error);

/**
 * nvfm_transport_accept() - authenticate an accepted connection
 * @fd: the socket from nvfm_listener_accept(); taken in every case
 * @peer: its printable address
 * @tls: the server credentials, or %NULL for a plain connection
 * @timeout_ms: bound on each wait, in the handshake and later (a bound
 *		on the whole handshake is the caller's: shut the socket
 *		down when it is due, see docs/agent.md)
 * @identity: receives who the peer is, the owner of what it reserves
 *	      (may be %NULL): its certificate's subject with TLS
 *	      ("O=example,CN=host-a"), its IP address without the port on
 *	      plain TCP ("10.0.0.1"), "unix:uid=N" on a UNIX socket
 * @error: return location for an error
 *
 * With @tls, requires a client certificate that chains to the CA, is
 * valid now and matches the allow-list; a client that starts with a
 * plain frame instead of a TLS handshake gets an ABORT frame telling it
 * TLS is required. Without @tls, a client that starts a TLS handshake is
 * refused.
 *
 * Return: the channel, or %NULL with %NVFM_ERROR_AUTH and a message fit
 * for the log.
 */
NvfmChannel *nvfm_transport_accept(int fd, const char *peer, NvfmTls *tls, int timeout_ms,
				   char **identity, GError **error);

G_DEFINE_AUTOPTR_CLEANUP_FUNC(NvfmTls, nvfm_tls_free)
G_DEFINE_AUTOPTR_CLEANUP_FUNC(NvfmListener, nvfm_listener_free)

G_END_DECLS
