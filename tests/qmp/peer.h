/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * A scripted QMP peer for tests: a thread on the far end of a socket that
 * plays QEMU (or a broken QEMU) step by step. Every read is bounded.
 */
#pragma once

#include <glib.h>
#include <jansson.h>

typedef struct _Peer Peer;
typedef void (*PeerFunc)(Peer *p, gpointer data);

/* socketpair; hand peer_client_fd() to nvfm_qmp_new_for_fd() */
Peer *peer_start(PeerFunc fn, gpointer data);
/* listens on a UNIX socket path and runs @fn on the first connection */
Peer *peer_start_unix(const char *path, PeerFunc fn, gpointer data);
/* listens on 127.0.0.1; *port gets the port */
Peer *peer_start_tcp(guint16 *port, PeerFunc fn, gpointer data);
int peer_client_fd(Peer *p);
/* waits for the script to end, then closes the peer's end */
void peer_join(Peer *p);

void peer_write(Peer *p, const void *buf, gsize len);
void peer_send(Peer *p, const char *text);
void peer_sendf(Peer *p, const char *fmt, ...) G_GNUC_PRINTF(2, 3);
/* one message from the client, or NULL on EOF or after @timeout_ms */
json_t *peer_recv(Peer *p, int timeout_ms);
/* receives a command, asserts its name, returns it (caller unrefs) */
json_t *peer_expect(Peer *p, const char *command);
/* {"return": RET, "id": ID-of-@cmd}; @ret_json is JSON text */
void peer_reply(Peer *p, json_t *cmd, const char *ret_json);
void peer_reply_error(Peer *p, json_t *cmd, const char *cls, const char *desc);
void peer_event(Peer *p, const char *name, const char *data_json);
/* greeting with @version, then qmp_capabilities; checks the oob request */
void peer_greet(Peer *p, const char *version, gboolean oob);
/* an fd received with the last message, or -1 */
int peer_take_fd(Peer *p);
/* shuts the connection down (the client sees EOF) */
void peer_hangup(Peer *p);
/* FALSE once the client has closed its end (after @timeout_ms of waiting) */
gboolean peer_wait_eof(Peer *p, int timeout_ms);
