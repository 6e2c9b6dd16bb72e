/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The per-host agent (docs/agent.md): the listener, one thread per
 * connection from its first byte on (what a connection may hold before
 * it is admitted is agent-preauth.c's), and each connection's requests
 * dispatched through one table to the receive (agent-receive.c), control
 * (agent-control.c) and reservation (agent-reservations.c) handlers.
 *
 * Every transfer in flight has a directory under the runtime directory
 * naming its target device, so that an agent killed mid-transfer resets
 * that device when it starts again (agent-files.c). Stopping aborts
 * transfers in flight: their clients get an ABORT frame with the reason
 * and their devices are reset by nvfm_load()'s failure path.
 */
#define G_LOG_DOMAIN "nvfm-agent"

#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>

#include "agent-server.h"


/* ---- setup ---- */

NvfmAgent *nvfm_agent_new(const NvfmAgentOptions *opts, GError **error)
{
	g_autoptr(NvfmAgent) a = g_new0(NvfmAgent, 1);
	GError *perr = NULL;

	g_mutex_init(&a->mu);
	g_mutex_init(&a->res_mu);
	a->stop_fd = -1;
	a->sessions = g_ptr_array_new();
	a->tls = opts->tls;
	a->max_sessions = opts->max_sessions ? opts->max_sessions : DEFAULT_MAX_SESSIONS;
	a->max_preauth = opts->max_preauth ? opts->max_preauth : DEFAULT_MAX_PREAUTH;
	a->max_preauth_per_address = opts->max_preauth_per_address ? opts->max_preauth_per_address
								    : DEFAULT_MAX_PREAUTH_PER_ADDRESS;
	a->timeout_ms = opts->timeout_ms > 0 ? opts->timeout_ms : DEFAULT_TIMEOUT_MS;
	a->idle_ms = opts->idle_timeout_ms > 0 ? opts->idle_timeout_ms : DEFAULT_IDLE_MS;
	a->fixed_target = nvfm_address_copy(opts->fixed_target);
	a->one_shot = opts->one_shot;
	a->verify = opts->verify;
	a->log = opts->log;
	a->log_data = opts->log_data;
	a->progress = opts->progress;
	a->progress_data = opts->progress_data;
	a->runtime_dir = opts->runtime_dir ? g_strdup(opts->runtime_dir) :
					     nvfm_runtime_dir("agent", NULL);
	a->mig_dir = g_build_filename(a->runtime_dir, "migrations", NULL);
	a->ledger = nvfm_ledger_new_reservations(a->runtime_dir);
	a->admin = nvfm_name_patterns_new(opts->admin, "admin", &perr);
	if (perr) {
		g_propagate_error(error, perr);
		return NULL;
	}
	if (!opts->listen) {
		g_set_error(error, NVFM_ERROR, NVFM_ERROR_INVALID_ARG, "no address to listen on");
		return NULL;
	}
	if (!agent_scope_init(a, opts, error) || !agent_qmp_dir_init(a, opts->qmp_dir, error))
		return NULL;
	if (!nvfm_private_dir(a->runtime_dir, error) || !nvfm_private_dir(a->mig_dir, error) ||
	    !nvfm_private_dir(nvfm_ledger_dir(a->ledger), error))
		return NULL;
	a->stop_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (a->stop_fd < 0) {
		nvfm_set_error_errno(error, -errno, "eventfd");
		return NULL;
	}
	agent_recover_stale(a);
	agent_recover_leases(a);
	agent_recover_qemu_tls(a);
	a->listener = nvfm_listener_new(opts->listen, error);
	if (!a->listener)
		return NULL;
	a->unix_socket = nvfm_listener_is_unix(a->listener);
	return g_steal_pointer(&a);
}

const char *nvfm_agent_get_address(NvfmAgent *agent)
{
	return nvfm_listener_get_address(agent->listener);
}


static void session_free(Session *s)
{
	if (s->ctl_fd >= 0)
		close(s->ctl_fd);
	g_clear_object(&s->cancel);
	g_free(s->peer);
	g_free(s->source);
	g_free(s->dropped);
	g_free(s->identity);
	g_free(s->buf);
	json_decref(s->marks);
	if (s->leases)
		g_ptr_array_free(s->leases, TRUE);
	if (s->tls_dirs)
		g_ptr_array_free(s->tls_dirs, TRUE);
	g_free(s->mig_id);
	g_free(s->mig_path);
	g_free(s->target);
	g_free(s);
}

void nvfm_agent_free(NvfmAgent *agent)
{
	if (!agent)
		return;
	/* nvfm_agent_run() joined every session before returning */
	for (guint i = 0; i < agent->sessions->len; i++) {
		Session *s = g_ptr_array_index(agent->sessions, i);

		if (s->thread)
			g_thread_join(s->thread);
		session_free(s);
	}
	g_ptr_array_free(agent->sessions, TRUE);
	nvfm_listener_free(agent->listener);
	nvfm_close_fd(&agent->stop_fd);
	g_clear_error(&agent->shot_error);
	g_free(agent->runtime_dir);
	g_free(agent->mig_dir);
	g_free(agent->qmp_dir);
	nvfm_ledger_free(agent->ledger);
	nvfm_name_patterns_free(agent->admin);
	nvfm_address_free(agent->fixed_target);
	agent_scope_clear(agent);
	g_mutex_clear(&agent->mu);
	g_mutex_clear(&agent->res_mu);
	g_free(agent);
}

/* ---- sessions ---- */

static gboolean hello_exchange(Session *s, GError **error)
{
	NvfmFrameHeader hdr;
	json_auto_t *peer = NULL;
	json_auto_t *hello = NULL;
	guint theirs = 0, ours;

	if (!nvfm_frame_recv(s->ch, &hdr, s->buf, error))
		return FALSE;
	if (hdr.type != NVFM_FRAME_HELLO) {
		g_set_error(error, NVFM_ERROR, NVFM_ERROR_PROTOCOL,
			    "the client started with a %s frame instead of HELLO",
			    nvfm_frame_type_name(hdr.type));
		return FALSE;
	}
	peer = nvfm_agent_hello_parse(s->buf, hdr.length, NVFM_ROLE_CLIENT, &theirs, error);
	if (!peer || !agent_admit(s, error))
		return FALSE;
	/* the kernel's TLS offers both: splice, and records that authenticate */
	ours = s->agent->verify ? 0
	       : (nvfm_channel_get_fd(s->ch) >= 0 ? NVFM_CAP_ZERO_COPY : 0) |
		 (nvfm_channel_record_layer(s->ch) ? NVFM_CAP_TLS_INTEGRITY : 0);
	s->caps = ours & theirs;
	hello = nvfm_agent_hello_new(NVFM_ROLE_AGENT, ours);
	return nvfm_frame_send_json(s->ch, NVFM_FRAME_HELLO, hello, error);
}

/* The next request, or NULL at a clean end of the connection. */
static json_t *next_request(Session *s, json_int_t *id, const char **op, json_t **args,
			    GError **error)
{
	NvfmAgent *a = s->agent;
	guint8 raw[NVFM_FRAME_HEADER_SIZE];
	NvfmFrameHeader hdr;
	gsize got = 0;

	nvfm_channel_set_timeout(s->ch, a->idle_ms);
	if (!nvfm_channel_read(s->ch, raw, sizeof(raw), &got, error))
		return NULL;
	if (got == 0)
		return NULL;
	nvfm_channel_set_timeout(s->ch, a->timeout_ms);
	if (got < sizeof(raw)) {
		g_set_error(error, NVFM_ERROR, NVFM_ERROR_PROTOCOL,
			    "stream truncated in a frame header (%zu of 16 bytes)", got);
		return NULL;
	}
	if (!nvfm_frame_header_decode(raw, &hdr, error) ||
	    !nvfm_frame_recv_payload(s->ch, &hdr, s->buf, error))
		return NULL;
	if (hdr.type == NVFM_FRAME_ABORT) {
		json_auto_t *o = nvfm_frame_parse_json(s->buf, hdr.length, NULL);
		const char *why = o ? json_string_value(json_object_get(o, "reason")) : NULL;

		g_set_error(error, NVFM_ERROR, NVFM_ERROR_CANCELLED, "the client aborted: %s",
			    why ? why : "no reason given");
		return NULL;
	}
	if (hdr.type != NVFM_FRAME_REQUEST) {
		g_set_error(error, NVFM_ERROR, NVFM_ERROR_PROTOCOL,
			    "expected a REQUEST frame, got %s", nvfm_frame_type_name(hdr.type));
		return NULL;
	}
	return nvfm_agent_request_parse(s->buf, hdr.length, id, op, args, error);
}

/* The requests that answer with one reply; "receive" streams, so serve()
 * runs it itself. */
typedef struct {
	const char *op;
	json_t *(*fn)(Session *s, json_t *args, GError **error);
} Handler;

static const Handler handlers[] = {
	{ "status", agent_do_status },
	{ "preflight", agent_do_preflight },
	{ "provision", agent_do_provision },
	{ "reserve", agent_do_provision },
	{ "keep", agent_do_keep },
	{ "release", agent_do_release },
	{ "qemu-tls", agent_do_qemu_tls },
};

static const Handler *find_handler(const char *op)
{
	for (guint i = 0; i < G_N_ELEMENTS(handlers); i++)
		if (strcmp(op, handlers[i].op) == 0)
			return &handlers[i];
	return NULL;
}

static void serve(Session *s)
{
	NvfmAgent *a = s->agent;

	for (;;) {
		g_autoptr(GError) err = NULL;
		json_auto_t *req = NULL;
		json_t *result = NULL;
		json_int_t id = 0;
		const char *op = NULL;
		json_t *args = NULL;
		const Handler *handler;

		req = next_request(s, &id, &op, &args, &err);
		if (!req) {
			if (err && !g_cancellable_is_cancelled(s->cancel)) {
				agent_log(a, G_LOG_LEVEL_WARNING, "%s: %s", s->peer, err->message);
				agent_send_abort(s, err->message, nvfm_error_code_name(err->code), NULL);
			}
			return;
		}
		if (g_cancellable_is_cancelled(s->cancel)) {
			g_set_error(&err, NVFM_ERROR, NVFM_ERROR_CANCELLED,
				    "the agent is shutting down");
			agent_reply_error(s, id, err, NULL);
			return;
		}
		agent_log(a, G_LOG_LEVEL_INFO, "%s: %s", s->peer, op);
		if (strcmp(op, "receive") == 0) {
			if (!agent_do_receive(s, id, args))
				return;
			continue;
		}
		/* the connection is the monitor's from its reply on */
		if (strcmp(op, "qmp") == 0) {
			agent_do_qmp(s, id, args);
			return;
		}
		handler = find_handler(op);
		if (handler)
			result = handler->fn(s, args, &err);
		else {
			g_autofree char *quoted = nvfm_quote_line(op);

			g_set_error(&err, NVFM_ERROR, NVFM_ERROR_INVALID_ARG,
				    "unknown request '%s' (status, preflight, provision, reserve, "
				    "keep, release, receive, qemu-tls, qmp)", quoted);
		}
		if (!result && err) {
			agent_log(a, G_LOG_LEVEL_WARNING, "%s: %s failed: %s", s->peer, op,
				  err->message);
			if (!agent_reply_error(s, id, err, NULL))
				return;
			continue;
		}
		if (!agent_reply_ok(s, id, result, NULL))
			return;
	}
}

static gpointer session_main(gpointer data)
{
	Session *s = data;
	NvfmAgent *a = s->agent;
	g_autoptr(GError) err = NULL;
	g_autofree char *identity = NULL;
	int fd;

	g_mutex_lock(&a->mu);
	fd = dup(s->ctl_fd);
	g_mutex_unlock(&a->mu);
	if (fd < 0) {
		agent_log(a, G_LOG_LEVEL_WARNING, "%s: dup: %s", s->peer, g_strerror(errno));
		goto out;
	}
	s->ch = nvfm_transport_accept(fd, s->peer, a->tls, a->timeout_ms, &identity, &err);
	if (!s->ch) {
		/* a connection the agent dropped was logged when it was */
		if (!agent_preauth_dropped(s))
			agent_log(a, G_LOG_LEVEL_WARNING, "%s", err->message);
		goto out;
	}
	g_mutex_lock(&a->mu);
	s->identity = g_steal_pointer(&identity);
	g_mutex_unlock(&a->mu);
	agent_identify(s);
	if (!hello_exchange(s, &err)) {
		if (agent_preauth_dropped(s))
			goto out;
		agent_log(a, G_LOG_LEVEL_WARNING, "refused %s: %s", s->peer, err->message);
		agent_send_abort(s, err->message, nvfm_error_code_name(err->code), "handshake");
		goto out;
	}
	agent_log(a, G_LOG_LEVEL_INFO, "%s connected as %s%s%s%s%s", s->peer, s->identity,
		  (s->caps & NVFM_CAP_ZERO_COPY) ? " (zero-copy)"
		  : (s->caps & NVFM_CAP_TLS_INTEGRITY) ? " (tls-integrity)" : "",
		  nvfm_channel_record_layer(s->ch) ? " [records: " : "",
		  nvfm_channel_record_layer(s->ch) ? nvfm_channel_record_layer(s->ch) : "",
		  nvfm_channel_record_layer(s->ch) ? "]" : "");
	serve(s);
	agent_log(a, G_LOG_LEVEL_INFO, "%s disconnected", s->peer);
	agent_end_leases(s);
	agent_end_qemu_tls(s);
out:
	nvfm_channel_free(g_steal_pointer(&s->ch));
	g_mutex_lock(&a->mu);
	s->finished = TRUE;
	g_mutex_unlock(&a->mu);
	return NULL;
}

static void reap(NvfmAgent *a)
{
	for (guint i = 0; i < a->sessions->len;) {
		Session *s = g_ptr_array_index(a->sessions, i);
		gboolean done;

		g_mutex_lock(&a->mu);
		done = s->finished;
		g_mutex_unlock(&a->mu);
		if (!done) {
			i++;
			continue;
		}
		if (s->thread)
			g_thread_join(s->thread);
		g_mutex_lock(&a->mu);
		g_ptr_array_remove_index(a->sessions, i);
		g_mutex_unlock(&a->mu);
		session_free(s);
	}
}

/* A new connection waits in the main loop until its peer sends something:
 * only then does it get a thread (connections that never speak cost none). */
static void accept_one(NvfmAgent *a)
{
	g_autoptr(GError) err = NULL;
	g_autofree char *peer = NULL, *source = NULL;
	Session *s;
	gboolean done;
	int fd = nvfm_listener_accept(a->listener, &peer, &source, &err);

	if (fd < 0) {
		if (err)
			agent_log(a, G_LOG_LEVEL_WARNING, "%s", err->message);
		return;
	}
	g_mutex_lock(&a->mu);
	done = a->one_shot && a->shot_done;
	g_mutex_unlock(&a->mu);
	if (done) {
		agent_log(a, G_LOG_LEVEL_WARNING, "refused %s: this receiver takes one transfer",
			  peer);
		close(fd);
		return;
	}
	agent_preauth_make_room(a, source);
	s = g_new0(Session, 1);
	s->leases = g_ptr_array_new_with_free_func(g_free);
	s->tls_dirs = g_ptr_array_new_with_free_func(g_free);
	s->agent = a;
	s->ctl_fd = fd;
	s->peer = g_steal_pointer(&peer);
	s->source = g_steal_pointer(&source);
	s->stage = STAGE_WAITING;
	s->accepted = g_get_monotonic_time();
	s->cancel = g_cancellable_new();
	s->buf = g_malloc(NVFM_FRAME_MAX_DATA);
	g_mutex_lock(&a->mu);
	g_ptr_array_add(a->sessions, s);
	g_mutex_unlock(&a->mu);
}

/* Its peer spoke (or hung up): the connection's thread takes over. */
static void start_session(NvfmAgent *a, Session *s)
{
	gboolean go;

	g_mutex_lock(&a->mu);
	go = s->stage == STAGE_WAITING && !s->finished;
	if (go)
		s->stage = STAGE_HANDSHAKE;
	g_mutex_unlock(&a->mu);
	if (go)
		s->thread = g_thread_new("nvfm-agent-session", session_main, s);
}

/* What the main loop polls: the listener, the stop eventfd, and each
 * connection waiting for its peer's first byte (also put in @waiting). */
static void poll_set(NvfmAgent *a, GArray *pf, GPtrArray *waiting)
{
	struct pollfd p[2] = {
		{ .fd = nvfm_listener_get_fd(a->listener), .events = POLLIN },
		{ .fd = a->stop_fd, .events = POLLIN },
	};

	g_array_set_size(pf, 0);
	g_array_append_vals(pf, p, 2);
	g_ptr_array_set_size(waiting, 0);
	g_mutex_lock(&a->mu);
	for (guint i = 0; i < a->sessions->len; i++) {
		Session *s = g_ptr_array_index(a->sessions, i);
		struct pollfd w = { .fd = s->ctl_fd, .events = POLLIN };

		if (s->stage != STAGE_WAITING || s->finished)
			continue;
		g_ptr_array_add(waiting, s);
		g_array_append_val(pf, w);
	}
	g_mutex_unlock(&a->mu);
}

gboolean nvfm_agent_run(NvfmAgent *agent, GError **error)
{
	NvfmAgent *a = agent;
	g_autoptr(GArray) fds = g_array_new(FALSE, FALSE, sizeof(struct pollfd));
	g_autoptr(GPtrArray) waiting = g_ptr_array_new();

	agent_log(a, G_LOG_LEVEL_MESSAGE, "listening on %s (%s%s), runtime directory %s",
		  nvfm_agent_get_address(a),
		  a->tls ? "mutual TLS: " : nvfm_listener_is_unix(a->listener)
		  ? "UNIX socket" : "plain TCP, NOT authenticated (--insecure)",
		  a->tls ? nvfm_tls_describe(a->tls) : "", a->runtime_dir);
	for (;;) {
		struct pollfd *pf;
		int r, due;

		reap(a);
		due = agent_preauth_expire(a);
		poll_set(a, fds, waiting);
		pf = (struct pollfd *)(void *)fds->data;
		r = poll(pf, fds->len, due < 0 ? 500 : MIN(due, 500));
		if (r < 0 && errno != EINTR) {
			nvfm_set_error_errno(error, -errno, "poll");
			break;
		}
		if (r <= 0)
			continue;
		if (pf[1].revents)
			break;
		for (guint i = 0; i < waiting->len; i++)
			if (pf[2 + i].revents)
				start_session(a, g_ptr_array_index(waiting, i));
		if (pf[0].revents & POLLIN)
			accept_one(a);
	}

	/* No new connections, then end the ones in flight. */
	g_mutex_lock(&a->mu);
	a->stopping = TRUE;
	g_mutex_unlock(&a->mu);
	nvfm_listener_free(g_steal_pointer(&a->listener));
	g_mutex_lock(&a->mu);
	for (guint i = 0; i < a->sessions->len; i++) {
		Session *s = g_ptr_array_index(a->sessions, i);

		if (s->finished)
			continue;
		if (!s->thread) {
			/* still waiting for its peer's first byte */
			s->finished = TRUE;
			continue;
		}
		g_cancellable_cancel(s->cancel);
		/* Wake a thread blocked reading; writes still work, so the
		 * client can be told why. */
		shutdown(s->ctl_fd, SHUT_RD);
		if (s->mig_id)
			agent_log(a, G_LOG_LEVEL_WARNING, "aborting migration %s from %s (%s)",
				  s->mig_id, s->peer, s->target);
	}
	g_mutex_unlock(&a->mu);
	for (guint i = 0; i < a->sessions->len; i++) {
		Session *s = g_ptr_array_index(a->sessions, i);

		if (s->thread)
			g_thread_join(s->thread);
		s->thread = NULL;
	}
	reap(a);
	agent_log(a, G_LOG_LEVEL_MESSAGE, "stopped");
	if (error && *error)
		return FALSE;
	if (a->one_shot) {
		if (!a->shot_done) {
			g_set_error(error, NVFM_ERROR, NVFM_ERROR_CANCELLED,
				    "stopped before a transfer arrived");
			return FALSE;
		}
		if (a->shot_error) {
			g_propagate_error(error, g_steal_pointer(&a->shot_error));
			return FALSE;
		}
	}
	return TRUE;
}
