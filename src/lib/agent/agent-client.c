/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The client side of the agent protocol (docs/agent.md): connection
 * HELLO, control requests, and a state transfer into a device on the
 * agent's host with its receive / verified / commit / done exchange.
 */
#define G_LOG_DOMAIN "nvfm-agent-client"

#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "agent-private.h"
#include "stream/relay.h"
#include "stream/splice.h"

struct _NvfmAgentClient {
	NvfmChannel *ch;
	json_t *hello;
	guint caps;		/* NVFM_CAP_* both ends offered */
	json_int_t next_id;
	gboolean broken;	/* a transfer failed: the stream position is lost */
	guint8 *buf;
	const char *remote_phase; /* the phase the agent's last ABORT named */
};

/* ---- the client ---- */

void nvfm_send_options_init(NvfmSendOptions *opts)
{
	memset(opts, 0, sizeof(*opts));
	nvfm_save_options_init(&opts->save);
}

/* The next frame from the agent: a REPLY (returned) or an ABORT (error). */
static json_t *recv_reply(NvfmAgentClient *c, json_int_t id, GError **error)
{
	NvfmFrameHeader hdr;

	if (!nvfm_frame_recv(c->ch, &hdr, c->buf, error)) {
		g_prefix_error(error, "waiting for the agent's reply: ");
		return NULL;
	}
	return nvfm_agent_reply_parse(hdr.type, c->buf, hdr.length, id, &c->remote_phase, error);
}

static gboolean send_request(NvfmAgentClient *c, json_int_t id, const char *op, json_t *args,
			     GError **error)
{
	json_auto_t *req = json_pack("{s:I, s:s, s:o}", "id", id, "op", op, "args",
				     args ? json_incref(args) : json_object());

	return nvfm_frame_send_json(c->ch, NVFM_FRAME_REQUEST, req, error);
}

NvfmAgentClient *nvfm_agent_client_connect(const char *address, NvfmTls *tls, int timeout_ms,
					   GError **error)
{
	g_autoptr(NvfmAgentClient) c = g_new0(NvfmAgentClient, 1);
	json_auto_t *hello = NULL;
	NvfmFrameHeader hdr;
	guint ours, theirs = 0;

	c->buf = g_malloc(NVFM_FRAME_MAX_DATA);
	c->next_id = 1;
	c->ch = nvfm_transport_connect(address, tls, timeout_ms, error);
	if (!c->ch)
		return NULL;
	ours = (nvfm_splice_fd_ok(nvfm_channel_get_fd(c->ch)) ? NVFM_CAP_ZERO_COPY : 0) |
	       (nvfm_channel_record_layer(c->ch) ? NVFM_CAP_TLS_INTEGRITY : 0);
	hello = nvfm_agent_hello_new(NVFM_ROLE_CLIENT, ours);
	if (!nvfm_frame_send_json(c->ch, NVFM_FRAME_HELLO, hello, error))
		return NULL;
	if (!nvfm_frame_recv(c->ch, &hdr, c->buf, error)) {
		/* With TLS 1.3 our handshake completes before the agent has
		 * judged our certificate: a refusal shows up here. */
		if (tls && error && *error && ((*error)->code == NVFM_ERROR_IO ||
					       (*error)->code == NVFM_ERROR_PROTOCOL)) {
			g_autofree char *why = g_strdup((*error)->message);

			g_clear_error(error);
			g_set_error(error, NVFM_ERROR, NVFM_ERROR_AUTH,
				    "%s closed the connection after the TLS handshake: it did "
				    "not accept our certificate (see the agent's log; %s)",
				    address, why);
			return NULL;
		}
		g_prefix_error(error, "%s: no HELLO from the agent: ", address);
		return NULL;
	}
	if (hdr.type == NVFM_FRAME_ABORT) {
		nvfm_agent_remote_error(c->buf, hdr.length, TRUE, &c->remote_phase, error);
		g_prefix_error(error, "%s: ", address);
		return NULL;
	}
	if (hdr.type != NVFM_FRAME_HELLO) {
		g_set_error(error, NVFM_ERROR, NVFM_ERROR_PROTOCOL,
			    "%s answered with a %s frame instead of HELLO", address,
			    nvfm_frame_type_name(hdr.type));
		return NULL;
	}
	c->hello = nvfm_agent_hello_parse(c->buf, hdr.length, NVFM_ROLE_AGENT, &theirs, error);
	if (!c->hello) {
		g_prefix_error(error, "%s: ", address);
		return NULL;
	}
	c->caps = ours & theirs;
	g_debug("connected to %s (capabilities 0x%x)", address, c->caps);
	return g_steal_pointer(&c);
}

void nvfm_agent_client_free(NvfmAgentClient *client)
{
	if (!client)
		return;
	nvfm_channel_free(client->ch);
	json_decref(client->hello);
	g_free(client->buf);
	g_free(client);
}

json_t *nvfm_agent_client_get_hello(NvfmAgentClient *client)
{
	return client->hello;
}

gboolean nvfm_agent_client_has_capability(NvfmAgentClient *client, const char *cap)
{
	json_t *caps = json_object_get(client->hello, "capabilities");

	if (strcmp(cap, "zero-copy") == 0)
		return (client->caps & NVFM_CAP_ZERO_COPY) != 0;
	if (strcmp(cap, "tls-integrity") == 0)
		return (client->caps & NVFM_CAP_TLS_INTEGRITY) != 0;
	for (gsize i = 0; i < json_array_size(caps); i++)
		if (g_strcmp0(json_string_value(json_array_get(caps, i)), cap) == 0)
			return TRUE;
	return FALSE;
}

gboolean nvfm_agent_client_is_silent(NvfmAgentClient *client)
{
	return nvfm_channel_is_silent(client->ch);
}

static gboolean usable(NvfmAgentClient *c, GError **error)
{
	if (!c->broken)
		return TRUE;
	g_set_error(error, NVFM_ERROR, NVFM_ERROR_STATE,
		    "the connection to the agent was lost in a failed transfer");
	return FALSE;
}

json_t *nvfm_agent_client_call(NvfmAgentClient *client, const char *op, json_t *args,
			       GError **error)
{
	json_int_t id = client->next_id++;
	json_auto_t *reply = NULL;
	json_t *result;

	if (!usable(client, error))
		return NULL;
	if (strcmp(op, "qmp") == 0) {
		g_set_error(error, NVFM_ERROR, NVFM_ERROR_INVALID_ARG,
			    "'qmp' turns the connection into a monitor's: use "
			    "nvfm_agent_client_open_qmp()");
		return NULL;
	}
	if (strcmp(op, "receive") == 0 || strcmp(op, "commit") == 0) {
		g_set_error(error, NVFM_ERROR, NVFM_ERROR_INVALID_ARG,
			    "'%s' is part of a transfer: use nvfm_agent_client_send()", op);
		return NULL;
	}
	if (!send_request(client, id, op, args, error))
		return NULL;
	reply = recv_reply(client, id, error);
	if (!reply)
		return NULL;
	result = json_object_get(reply, "result");
	return result ? json_incref(result) : json_object();
}

/* The relay's end of the socket pair, and the connection it owns. */
typedef struct {
	NvfmAgentClient *client;
	int fd;
} QmpRelay;

static gpointer qmp_relay_thread(gpointer data)
{
	QmpRelay *r = data;
	g_autoptr(GError) err = NULL;

	if (!nvfm_relay_run(r->client->ch, r->fd, &err))
		g_debug("QMP relay: %s", err->message);
	close(r->fd);
	nvfm_agent_client_free(r->client);
	g_free(r);
	return NULL;
}

/*
 * The QMP client speaks to one end of a socket pair; a thread relays the
 * other end over the agent link. Freeing the QMP client closes its end,
 * which ends the relay and the connection: the QMP socket transport is
 * used as it is, fd passing aside (QMP over the link takes none).
 */
NvfmQmp *nvfm_agent_client_open_qmp(NvfmAgentClient *client, const char *path, int timeout_ms,
				    GError **error)
{
	g_autoptr(NvfmAgentClient) c = client;
	json_int_t id = c->next_id++;
	json_auto_t *args = json_pack("{s:s}", "path", path);
	json_auto_t *reply = NULL;
	g_autoptr(GError) local = NULL;
	QmpRelay *r;
	GThread *th;
	int sv[2];

	if (!usable(c, error) || !send_request(c, id, "qmp", args, error))
		return NULL;
	reply = recv_reply(c, id, error);
	if (!reply) {
		g_prefix_error(error, "QMP %s through the agent: ", path);
		return NULL;
	}
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0) {
		nvfm_set_error_errno(error, -errno, "socketpair");
		return NULL;
	}
	r = g_new0(QmpRelay, 1);
	r->client = g_steal_pointer(&c);
	r->fd = sv[1];
	th = g_thread_try_new("nvfm-qmp-relay", qmp_relay_thread, r, &local);
	if (!th) {
		g_set_error(error, NVFM_ERROR, NVFM_ERROR_FAILED, "cannot start the QMP relay: %s",
			    local->message);
		close(sv[0]);
		close(sv[1]);
		nvfm_agent_client_free(r->client);
		g_free(r);
		return NULL;
	}
	g_thread_unref(th);
	return nvfm_qmp_new_for_fd(sv[0], timeout_ms, error);
}

/*
 * After a write failed, the agent has most likely said why in an ABORT
 * frame that is already on its way: read it, briefly, for a better error.
 * An agent that went silent says nothing more: do not wait for it.
 */
static void explain_failure(NvfmAgentClient *c, GError **error)
{
	NvfmFrameHeader hdr;
	GError *why = NULL;
	int saved = nvfm_channel_get_timeout(c->ch);

	if (!error || !*error || (*error)->code == NVFM_ERROR_CANCELLED ||
	    nvfm_channel_is_silent(c->ch))
		return;
	nvfm_channel_set_timeout(c->ch, 2000);
	if (nvfm_channel_readable(c->ch, 2000) && nvfm_frame_recv(c->ch, &hdr, c->buf, NULL) &&
	    hdr.type == NVFM_FRAME_ABORT) {
		nvfm_agent_remote_error(c->buf, hdr.length, TRUE, &c->remote_phase, &why);
		g_clear_error(error);
		g_propagate_error(error, why);
	}
	nvfm_channel_set_timeout(c->ch, saved);
}

gboolean nvfm_agent_client_send(NvfmAgentClient *client, NvfmDevice *dev,
				const NvfmSendOptions *opts, NvfmTransferStats *stats,
				json_t **result, GError **error)
{
	json_int_t id = client->next_id++;
	json_auto_t *args = json_object();
	json_auto_t *reply = NULL;
	json_auto_t *commit = NULL;
	NvfmTransferStats local;
	NvfmSaveOptions so;
	g_autofree char *mig = NULL;
	GError *err = NULL;
	gint64 sent_us = 0, received_us = 0;

	if (!stats)
		stats = &local;
	memset(stats, 0, sizeof(*stats));
	stats->phase = "handshake";
	client->remote_phase = NULL;
	if (!usable(client, error))
		return FALSE;
	if (opts->target)
		json_object_set_new(args, "target", json_string(opts->target));
	if (opts->reservation)
		json_object_set_new(args, "reservation", json_string(opts->reservation));
	json_object_set_new(args, "run", json_boolean(opts->run));
	if (opts->keep)
		json_object_set_new(args, "keep", json_true());
	json_object_set_new(args, "unchecked", json_boolean(client->caps && !opts->verify));
	if (!send_request(client, id, "receive", args, error))
		goto lost;
	reply = recv_reply(client, id, error);
	if (!reply) {
		/* refused before any state moved: the connection is still good
		 * unless the failure was on the wire */
		if (error && *error && ((*error)->code == NVFM_ERROR_IO ||
					(*error)->code == NVFM_ERROR_PROTOCOL ||
					(*error)->code == NVFM_ERROR_TIMEOUT))
			client->broken = TRUE;
		return FALSE;
	}
	mig = g_strdup(json_string_value(json_object_get(json_object_get(reply, "result"),
							 "migration")));

	so = opts->save;
	if (!opts->verify &&
	    json_is_true(json_object_get(json_object_get(reply, "result"), "unchecked"))) {
		so.zero_copy = (client->caps & NVFM_CAP_ZERO_COPY) != 0;
		so.unchecked = (client->caps & NVFM_CAP_TLS_INTEGRITY) != 0;
	} else {
		so.zero_copy = so.unchecked = FALSE;
	}
	so.watch_peer = TRUE;
	if (!nvfm_save(dev, client->ch, &so, stats, &err)) {
		/* nvfm_save brought the source back to RUNNING */
		client->broken = TRUE;
		explain_failure(client, &err);
		if (client->remote_phase)
			stats->phase = client->remote_phase;
		g_prefix_error(&err, "%s: ", stats->phase);
		g_propagate_error(error, err);
		return FALSE;
	}
	/* The source is stopped with its state sent: from here a failure must
	 * start it again. */
	stats->phase = "commit";
	json_decref(reply);
	reply = recv_reply(client, id, &err);
	if (reply) {
		commit = json_pack("{s:s?}", "migration", mig);
		sent_us = nvfm_now_us();
		if (!send_request(client, id, "commit", commit, &err)) {
			json_decref(reply);
			reply = NULL;
		} else {
			json_decref(reply);
			reply = recv_reply(client, id, &err);
			received_us = nvfm_now_us();
		}
	}
	if (!reply) {
		NvfmMigState back = nvfm_device_recover(dev, NVFM_MIG_STATE_RUNNING);

		client->broken = TRUE;
		/* the agent may have failed on something it read long ago */
		if (client->remote_phase)
			stats->phase = client->remote_phase;
		g_prefix_error(&err, "%s: ", stats->phase);
		g_debug("source %s back in %s", nvfm_device_address(dev), nvfm_mig_state_name(back));
		g_propagate_error(error, err);
		return FALSE;
	}
	if (result) {
		*result = json_deep_copy(json_object_get(reply, "result"));
		if (!json_is_object(*result)) {
			json_decref(*result);
			*result = json_object();
		}
		json_object_set_new(*result, "commit_sent_us", json_integer(sent_us));
		json_object_set_new(*result, "reply_received_us", json_integer(received_us));
	}
	return TRUE;

lost:
	client->broken = TRUE;
	return FALSE;
}
