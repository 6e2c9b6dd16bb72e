/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The way in (docs/agent.md, "Connections that do not authenticate"):
 * what a connection may hold before it is admitted as a session.
 *
 * Anyone who can reach the port can open connections, so those still in
 * their handshake (TLS, the certificate and allow-list check, HELLO) are
 * counted apart from sessions, per source address and in all, and when a
 * new one would exceed a limit the one that has been silent longest (of
 * the address, or of the address holding the most) is dropped: never a
 * client in the middle of its handshake while someone else's connection
 * sits idle. Each has one --timeout from accept for its
 * whole handshake, however it trickles its bytes. Only admitted sessions
 * count against --max-sessions.
 *
 * The main thread drops a connection by shutting its socket down; its
 * thread (if it has one yet) then fails out of whatever read it was in.
 */
#define G_LOG_DOMAIN "nvfm-agent"

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stddef.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>

#include "agent-server.h"

/* After a drop is logged as a warning, later ones go to the info level
 * (-v) for this long: a flood must not flood the journal. */
#define DROP_WARN_EVERY_US (10 * G_USEC_PER_SEC)

/* A connection that never said anything ranks above any that did. */
#define NEVER_SPOKE_MS ((gint64)1 << 40)

static gboolean preauth(const Session *s)
{
	return s->stage != STAGE_SESSION && !s->dropped && !s->finished;
}

static guint count_preauth(NvfmAgent *a, const char *source)
{
	guint n = 0;

	for (guint i = 0; i < a->sessions->len; i++) {
		Session *s = g_ptr_array_index(a->sessions, i);

		n += preauth(s) && (!source || strcmp(s->source, source) == 0);
	}
	return n;
}

void agent_count_locked(NvfmAgent *a, guint *sessions, guint *unauthenticated)
{
	*sessions = 0;
	for (guint i = 0; i < a->sessions->len; i++) {
		Session *s = g_ptr_array_index(a->sessions, i);

		*sessions += s->stage == STAGE_SESSION && !s->finished;
	}
	*unauthenticated = count_preauth(a, NULL);
}

/*
 * How long the peer has been silent: on TCP the kernel knows when data
 * last arrived (or since the connection was made, if none did); on a
 * UNIX socket, since accept. A connection still waiting for its thread
 * whose first bytes are in (the main loop has not polled it yet) has
 * spoken too.
 */
static gint64 silence_ms(const Session *s, gint64 now)
{
	struct tcp_info ti;
	socklen_t len = sizeof(ti);
	int pending = 0;

	if (s->stage == STAGE_WAITING &&
	    (ioctl(s->ctl_fd, FIONREAD, &pending) < 0 || pending <= 0))
		return NEVER_SPOKE_MS + (now - s->accepted) / 1000;
	if (getsockopt(s->ctl_fd, IPPROTO_TCP, TCP_INFO, &ti, &len) == 0 &&
	    len >= offsetof(struct tcp_info, tcpi_last_data_recv) + sizeof(ti.tcpi_last_data_recv))
		return ti.tcpi_last_data_recv;
	return (now - s->accepted) / 1000;
}

/*
 * The connection to drop to make room: the most idle of @source's, or
 * (@source NULL) of the address that holds the most. Churning many
 * connections from a few addresses then cannot push out a client that
 * is still between its connect and its first bytes elsewhere.
 */
static Session *victim(NvfmAgent *a, const char *source, gint64 now)
{
	Session *best = NULL;
	guint best_n = 0;
	gint64 best_ms = -1;

	for (guint i = 0; i < a->sessions->len; i++) {
		Session *s = g_ptr_array_index(a->sessions, i);
		guint n;
		gint64 ms;

		if (!preauth(s) || (source && strcmp(s->source, source) != 0))
			continue;
		n = source ? 0 : count_preauth(a, s->source);
		ms = silence_ms(s, now);
		if (n > best_n || (n == best_n && ms > best_ms)) {
			best = s;
			best_n = n;
			best_ms = ms;
		}
	}
	return best;
}

/* Under agent->mu; the line to log is added to @log. */
static void drop(Session *s, GPtrArray *log, char *why, gint64 now)
{
	gint64 quiet = silence_ms(s, now);
	g_autofree char *said = quiet >= NEVER_SPOKE_MS ? g_strdup("said nothing")
				: g_strdup_printf("silent for %.3f s", quiet / 1000.0);

	s->dropped = why;
	shutdown(s->ctl_fd, SHUT_RDWR);
	/* without a thread nothing else will end it: reap() frees it */
	if (s->stage == STAGE_WAITING)
		s->finished = TRUE;
	g_ptr_array_add(log, g_strdup_printf("dropped %s (connected %.3f s ago, %s): %s", s->peer,
					     (now - s->accepted) / 1e6, said, why));
}

/* Main thread, without agent->mu. */
static void log_drops(NvfmAgent *a, GPtrArray *log)
{
	for (guint i = 0; i < log->len; i++) {
		const char *line = g_ptr_array_index(log, i);
		gint64 now = g_get_monotonic_time();

		if (now < a->drop_quiet_until) {
			a->drops_quiet++;
			agent_log(a, G_LOG_LEVEL_INFO, "%s", line);
			continue;
		}
		if (a->drops_quiet)
			agent_log(a, G_LOG_LEVEL_WARNING,
				  "%s (and %u more unauthenticated connections dropped since "
				  "the last such warning; -v logs each)", line, a->drops_quiet);
		else
			agent_log(a, G_LOG_LEVEL_WARNING, "%s", line);
		a->drop_quiet_until = now + DROP_WARN_EVERY_US;
		a->drops_quiet = 0;
	}
}

void agent_preauth_make_room(NvfmAgent *a, const char *source)
{
	g_autoptr(GPtrArray) log = g_ptr_array_new_with_free_func(g_free);
	gint64 now = g_get_monotonic_time();
	Session *v;

	g_mutex_lock(&a->mu);
	while (count_preauth(a, source) >= a->max_preauth_per_address &&
	       (v = victim(a, source, now)))
		drop(v, log, g_strdup_printf("too many unauthenticated connections from this "
					     "address (--max-preauth-per-address %u)",
					     a->max_preauth_per_address), now);
	while (count_preauth(a, NULL) >= a->max_preauth && (v = victim(a, NULL, now)))
		drop(v, log, g_strdup_printf("too many unauthenticated connections "
					     "(--max-preauth %u)", a->max_preauth), now);
	g_mutex_unlock(&a->mu);
	log_drops(a, log);
}

int agent_preauth_expire(NvfmAgent *a)
{
	g_autoptr(GPtrArray) log = g_ptr_array_new_with_free_func(g_free);
	gint64 now = g_get_monotonic_time();
	gint64 next = -1;

	g_mutex_lock(&a->mu);
	for (guint i = 0; i < a->sessions->len; i++) {
		Session *s = g_ptr_array_index(a->sessions, i);
		gint64 due = s->accepted + (gint64)a->timeout_ms * 1000;

		if (!preauth(s))
			continue;
		if (now >= due)
			drop(s, log, g_strdup_printf("did not finish its handshake within %d s "
						     "(--timeout)", (a->timeout_ms + 999) / 1000), now);
		else if (next < 0 || due - now < next)
			next = due - now;
	}
	g_mutex_unlock(&a->mu);
	log_drops(a, log);
	return next < 0 ? -1 : (int)MIN((next + 999) / 1000, G_MAXINT);
}

gboolean agent_preauth_dropped(Session *s)
{
	gboolean dropped;

	g_mutex_lock(&s->agent->mu);
	dropped = s->dropped != NULL;
	g_mutex_unlock(&s->agent->mu);
	return dropped;
}

gboolean agent_admit(Session *s, GError **error)
{
	NvfmAgent *a = s->agent;
	guint sessions, unauthenticated;
	gboolean ok = FALSE;

	g_mutex_lock(&a->mu);
	agent_count_locked(a, &sessions, &unauthenticated);
	if (s->dropped)
		g_set_error(error, NVFM_ERROR, NVFM_ERROR_CANCELLED, "%s", s->dropped);
	else if (a->one_shot && (sessions > 0 || a->shot_done))
		g_set_error(error, NVFM_ERROR, NVFM_ERROR_BUSY,
			    "this receiver takes one transfer, and has one already");
	else if (sessions >= a->max_sessions)
		g_set_error(error, NVFM_ERROR, NVFM_ERROR_BUSY,
			    "busy: serving %u sessions already (--max-sessions)", sessions);
	else
		ok = TRUE;
	if (ok)
		s->stage = STAGE_SESSION;
	g_mutex_unlock(&a->mu);
	return ok;
}
