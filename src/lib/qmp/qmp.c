/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The QMP client core; the transports (qmp-socket.c, qmp-libvirt.c) feed it.
 *
 * Transports hand every received message to the core from their own thread;
 * callers block on one condition variable until their reply (matched by id),
 * an event, the deadline, or the connection's death. Because every waiter
 * re-checks the shared "dead" error, one EOF wakes them all.
 */
#define G_LOG_DOMAIN "nvfm-qmp"

#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>

#include <gio/gio.h>
#include <gio/gunixfdlist.h>
#include <gio/gunixfdmessage.h>
#include <gio/gunixsocketaddress.h>

#include "qmp-private.h"
#include "qmp-reader.h"

/* Events kept for nvfm_qmp_wait_event(); a waiter needs only the few that
 * arrive between taking a sequence number and waiting. */
#define EVENT_BACKLOG 1024
#define READ_CHUNK 65536

struct _NvfmQmpEvent {
	gatomicrefcount ref;
	char *name;
	json_t *data;
	gint64 timestamp_us;
	gint64 received_us;
	guint64 seq;
};

/* Lives on the stack of the thread waiting for the reply. */
typedef struct {
	char *id;
	json_t *reply;
	GError *error;		/* the transport failed this command */
} Pending;

typedef struct {
	gatomicrefcount ref;
	guint id;
	char *name;
	NvfmQmpEventFunc func;
	gpointer user_data;
	GDestroyNotify notify;
	GMainContext *context;
	/* Held while the callback runs, so ending a subscription waits for a
	 * running callback; recursive so a callback may end its own. */
	GRecMutex lock;
	gboolean active;
	NvfmQmp *qmp;
} Subscription;

struct _NvfmQmp {
	const NvfmQmpTransportOps *ops;
	gpointer priv;
	GMutex lock;
	GCond cond;
	int default_timeout_ms;
	guint64 next_id;
	GHashTable *pending;	/* id -> Pending*, not owned */
	GQueue events;		/* NvfmQmpEvent*, oldest first */
	guint64 event_seq;
	GError *dead;
	json_t *greeting;	/* the "QMP" member */
	int version[3];
	GPtrArray *caps;	/* negotiated capability names */
	GPtrArray *subs;	/* Subscription* */
	guint next_sub_id;
};

static const char *const class_names[] = {
	[NVFM_QMP_ERROR_CLASS_NONE] = "",
	[NVFM_QMP_ERROR_CLASS_GENERIC] = "GenericError",
	[NVFM_QMP_ERROR_CLASS_COMMAND_NOT_FOUND] = "CommandNotFound",
	[NVFM_QMP_ERROR_CLASS_DEVICE_NOT_ACTIVE] = "DeviceNotActive",
	[NVFM_QMP_ERROR_CLASS_DEVICE_NOT_FOUND] = "DeviceNotFound",
	[NVFM_QMP_ERROR_CLASS_KVM_MISSING_CAP] = "KVMMissingCap",
	[NVFM_QMP_ERROR_CLASS_OTHER] = "Other",
};

/* ---- events ---------------------------------------------------------- */

NvfmQmpEvent *nvfm_qmp_event_ref(NvfmQmpEvent *event)
{
	g_atomic_ref_count_inc(&event->ref);
	return event;
}

void nvfm_qmp_event_unref(NvfmQmpEvent *event)
{
	if (!event || !g_atomic_ref_count_dec(&event->ref))
		return;
	g_free(event->name);
	json_decref(event->data);
	g_free(event);
}

const char *nvfm_qmp_event_get_name(const NvfmQmpEvent *event)
{
	return event->name;
}

json_t *nvfm_qmp_event_get_data(const NvfmQmpEvent *event)
{
	return event->data;
}

gint64 nvfm_qmp_event_get_timestamp_us(const NvfmQmpEvent *event)
{
	return event->timestamp_us;
}

gint64 nvfm_qmp_event_get_received_us(const NvfmQmpEvent *event)
{
	return event->received_us;
}

guint64 nvfm_qmp_event_get_seq(const NvfmQmpEvent *event)
{
	return event->seq;
}

json_t *nvfm_qmp_event_to_json(const NvfmQmpEvent *event)
{
	json_t *obj = json_pack("{s:s, s:O}", "event", event->name, "data", event->data);

	if (event->timestamp_us >= 0)
		json_object_set_new(obj, "timestamp",
				    json_pack("{s:I, s:I}", "seconds",
					      (json_int_t)(event->timestamp_us / G_USEC_PER_SEC),
					      "microseconds",
					      (json_int_t)(event->timestamp_us % G_USEC_PER_SEC)));
	return obj;
}

static NvfmQmpEvent *event_new(json_t *msg, guint64 seq)
{
	NvfmQmpEvent *ev = g_new0(NvfmQmpEvent, 1);
	json_t *data = json_object_get(msg, "data");
	json_t *ts = json_object_get(msg, "timestamp");

	g_atomic_ref_count_init(&ev->ref);
	ev->name = g_strdup(json_string_value(json_object_get(msg, "event")));
	ev->data = json_is_object(data) ? json_incref(data) : json_object();
	ev->timestamp_us = -1;
	if (json_is_object(ts) && json_is_integer(json_object_get(ts, "seconds"))) {
		json_int_t s = json_integer_value(json_object_get(ts, "seconds"));
		json_int_t us = json_integer_value(json_object_get(ts, "microseconds"));

		/* QEMU sends -1/-1 when the host clock failed */
		if (s >= 0 && us >= 0 && s < G_MAXINT64 / G_USEC_PER_SEC)
			ev->timestamp_us = (gint64)s * G_USEC_PER_SEC + us % G_USEC_PER_SEC;
	}
	ev->received_us = g_get_monotonic_time();
	ev->seq = seq;
	return ev;
}

/* ---- subscriptions --------------------------------------------------- */

static Subscription *sub_ref(Subscription *sub)
{
	g_atomic_ref_count_inc(&sub->ref);
	return sub;
}

static void sub_unref(Subscription *sub)
{
	if (!g_atomic_ref_count_dec(&sub->ref))
		return;
	if (sub->notify)
		sub->notify(sub->user_data);
	g_main_context_unref(sub->context);
	g_rec_mutex_clear(&sub->lock);
	g_free(sub->name);
	g_free(sub);
}

static void sub_deactivate(Subscription *sub)
{
	g_rec_mutex_lock(&sub->lock);
	sub->active = FALSE;
	sub->qmp = NULL;
	g_rec_mutex_unlock(&sub->lock);
}

typedef struct {
	Subscription *sub;
	NvfmQmpEvent *event;
} Dispatch;

static gboolean dispatch_cb(gpointer data)
{
	Dispatch *d = data;
	Subscription *sub = d->sub;

	g_rec_mutex_lock(&sub->lock);
	if (sub->active)
		sub->func(sub->qmp, d->event, sub->user_data);
	g_rec_mutex_unlock(&sub->lock);
	return G_SOURCE_REMOVE;
}

static void dispatch_free(gpointer data)
{
	Dispatch *d = data;

	sub_unref(d->sub);
	nvfm_qmp_event_unref(d->event);
	g_free(d);
}

/* Called with qmp->lock held. */
static void dispatch_event(NvfmQmp *qmp, NvfmQmpEvent *ev)
{
	for (guint i = 0; i < qmp->subs->len; i++) {
		Subscription *sub = g_ptr_array_index(qmp->subs, i);
		g_autoptr(GSource) src = NULL;
		Dispatch *d;

		if (sub->name && strcmp(sub->name, ev->name) != 0)
			continue;
		d = g_new0(Dispatch, 1);
		d->sub = sub_ref(sub);
		d->event = nvfm_qmp_event_ref(ev);
		src = g_idle_source_new();
		g_source_set_priority(src, G_PRIORITY_DEFAULT);
		g_source_set_callback(src, dispatch_cb, d, dispatch_free);
		g_source_set_static_name(src, "nvfm-qmp-event");
		g_source_attach(src, sub->context);
	}
}

guint nvfm_qmp_subscribe(NvfmQmp *qmp, const char *name, NvfmQmpEventFunc func,
			 gpointer user_data, GDestroyNotify notify)
{
	Subscription *sub;
	guint id;

	g_return_val_if_fail(qmp && func, 0);
	sub = g_new0(Subscription, 1);
	g_atomic_ref_count_init(&sub->ref);
	g_rec_mutex_init(&sub->lock);
	sub->name = g_strdup(name);
	sub->func = func;
	sub->user_data = user_data;
	sub->notify = notify;
	sub->context = g_main_context_ref_thread_default();
	sub->active = TRUE;
	sub->qmp = qmp;
	g_mutex_lock(&qmp->lock);
	id = sub->id = ++qmp->next_sub_id;
	g_ptr_array_add(qmp->subs, sub);
	g_mutex_unlock(&qmp->lock);
	return id;
}

void nvfm_qmp_unsubscribe(NvfmQmp *qmp, guint id)
{
	Subscription *sub = NULL;

	g_mutex_lock(&qmp->lock);
	for (guint i = 0; i < qmp->subs->len; i++) {
		Subscription *s = g_ptr_array_index(qmp->subs, i);

		if (s->id == id) {
			sub = g_ptr_array_steal_index(qmp->subs, i);
			break;
		}
	}
	g_mutex_unlock(&qmp->lock);
	/* Outside qmp->lock: a running callback may be calling into qmp. */
	if (sub) {
		sub_deactivate(sub);
		sub_unref(sub);
	}
}

/* ---- errors ---------------------------------------------------------- */

NvfmQmpErrorClass nvfm_qmp_error_class(const GError *error)
{
	const char *msg, *open;
	gsize len;

	if (!error || error->domain != NVFM_ERROR || error->code != NVFM_ERROR_QMP)
		return NVFM_QMP_ERROR_CLASS_NONE;
	/* nvfm_qmp_set_error_reply() ends the message with "(Class)" */
	msg = error->message;
	len = strlen(msg);
	if (len < 3 || msg[len - 1] != ')')
		return NVFM_QMP_ERROR_CLASS_OTHER;
	open = g_strrstr(msg, "(");
	if (!open)
		return NVFM_QMP_ERROR_CLASS_OTHER;
	for (guint i = NVFM_QMP_ERROR_CLASS_GENERIC; i < NVFM_QMP_ERROR_CLASS_OTHER; i++) {
		gsize n = strlen(class_names[i]);

		if ((gsize)(msg + len - 1 - (open + 1)) == n && !strncmp(open + 1, class_names[i], n))
			return i;
	}
	return NVFM_QMP_ERROR_CLASS_OTHER;
}

const char *nvfm_qmp_error_class_name(NvfmQmpErrorClass cls)
{
	if ((guint)cls < G_N_ELEMENTS(class_names))
		return class_names[cls];
	return "Other";
}

void nvfm_qmp_set_error_reply(GError **error, const char *command, json_t *err)
{
	const char *cls = json_string_value(json_object_get(err, "class"));
	const char *desc = json_string_value(json_object_get(err, "desc"));
	g_autofree char *clean = NULL;

	/* The message is one line and must end with the class, which
	 * nvfm_qmp_error_class() reads back. */
	clean = g_strdup(desc ? desc : "no description");
	g_strdelimit(clean, "\r\n", ' ');
	g_strdelimit(clean, "()", '-');
	g_set_error(error, NVFM_ERROR, NVFM_ERROR_QMP, "QEMU refused '%s': %s (%s)", command,
		    g_strchomp(clean), cls && *cls && !strpbrk(cls, "()") ? cls : "GenericError");
}

int nvfm_qmp_deadline_to_ms(gint64 deadline_us)
{
	gint64 left = deadline_us - g_get_monotonic_time();

	if (left <= 0)
		return 0;
	return left / 1000 > G_MAXINT ? G_MAXINT : (int)((left + 999) / 1000);
}

int nvfm_qmp_resolve_timeout(NvfmQmp *qmp, int timeout_ms)
{
	if (timeout_ms >= 0)
		return timeout_ms;
	return qmp ? qmp->default_timeout_ms : NVFM_QMP_DEFAULT_TIMEOUT_MS;
}

gint64 nvfm_qmp_deadline_for(NvfmQmp *qmp, int timeout_ms)
{
	return g_get_monotonic_time() + (gint64)nvfm_qmp_resolve_timeout(qmp, timeout_ms) * 1000;
}

/* ---- the core -------------------------------------------------------- */

NvfmQmp *nvfm_qmp_new_with_transport(const NvfmQmpTransportOps *ops, int timeout_ms)
{
	NvfmQmp *qmp = g_new0(NvfmQmp, 1);

	qmp->ops = ops;
	g_mutex_init(&qmp->lock);
	g_cond_init(&qmp->cond);
	qmp->default_timeout_ms = timeout_ms > 0 ? timeout_ms : NVFM_QMP_DEFAULT_TIMEOUT_MS;
	qmp->pending = g_hash_table_new(g_str_hash, g_str_equal);
	g_queue_init(&qmp->events);
	qmp->caps = g_ptr_array_new_with_free_func(g_free);
	qmp->subs = g_ptr_array_new();
	return qmp;
}

void nvfm_qmp_transport_set_priv(NvfmQmp *qmp, gpointer priv)
{
	qmp->priv = priv;
}

gpointer nvfm_qmp_transport_get_priv(NvfmQmp *qmp)
{
	return qmp->priv;
}

void nvfm_qmp_free(NvfmQmp *qmp)
{
	if (!qmp)
		return;
	/* Subscriptions first: this waits for a callback that is running in
	 * another thread and may still be using the connection. */
	for (guint i = 0; i < qmp->subs->len; i++)
		sub_deactivate(g_ptr_array_index(qmp->subs, i));
	if (qmp->ops && qmp->ops->close)
		qmp->ops->close(qmp);
	for (guint i = 0; i < qmp->subs->len; i++)
		sub_unref(g_ptr_array_index(qmp->subs, i));
	g_ptr_array_unref(qmp->subs);
	g_queue_clear_full(&qmp->events, (GDestroyNotify)nvfm_qmp_event_unref);
	g_hash_table_unref(qmp->pending);
	g_ptr_array_unref(qmp->caps);
	json_decref(qmp->greeting);
	g_clear_error(&qmp->dead);
	g_mutex_clear(&qmp->lock);
	g_cond_clear(&qmp->cond);
	g_free(qmp);
}

void nvfm_qmp_set_default_timeout(NvfmQmp *qmp, int timeout_ms)
{
	if (timeout_ms > 0)
		qmp->default_timeout_ms = timeout_ms;
}

/* Called with qmp->lock held. */
static void set_greeting_locked(NvfmQmp *qmp, json_t *qmp_member)
{
	json_t *v = json_object_get(json_object_get(qmp_member, "version"), "qemu");

	qmp->greeting = qmp_member;
	qmp->version[0] = json_integer_value(json_object_get(v, "major"));
	qmp->version[1] = json_integer_value(json_object_get(v, "minor"));
	qmp->version[2] = json_integer_value(json_object_get(v, "micro"));
	g_debug("greeting from QEMU %d.%d.%d", qmp->version[0], qmp->version[1],
		qmp->version[2]);
	g_cond_broadcast(&qmp->cond);
}

void nvfm_qmp_transport_set_greeting(NvfmQmp *qmp, json_t *qmp_member)
{
	g_mutex_lock(&qmp->lock);
	json_decref(qmp->greeting);
	set_greeting_locked(qmp, qmp_member);
	g_mutex_unlock(&qmp->lock);
}

void nvfm_qmp_transport_dead(NvfmQmp *qmp, GError *reason)
{
	g_mutex_lock(&qmp->lock);
	if (!qmp->dead) {
		g_debug("connection is over: %s", reason->message);
		qmp->dead = reason;
		reason = NULL;
	}
	g_cond_broadcast(&qmp->cond);
	g_mutex_unlock(&qmp->lock);
	g_clear_error(&reason);
}

/* Called with qmp->lock held. */
static void deliver_reply(NvfmQmp *qmp, json_t *msg)
{
	json_t *id = json_object_get(msg, "id");
	Pending *p = NULL;

	if (json_is_string(id)) {
		p = g_hash_table_lookup(qmp->pending, json_string_value(id));
	} else if (!id && json_object_get(msg, "error") &&
		   g_hash_table_size(qmp->pending) == 1) {
		/* QEMU answers input it could not parse without an id; with
		 * one command in flight that answer can only be for it. */
		GHashTableIter it;

		g_hash_table_iter_init(&it, qmp->pending);
		g_hash_table_iter_next(&it, NULL, (gpointer *)&p);
	}
	if (!p || p->reply || p->error) {
		g_debug("dropping a reply nobody waits for (timed out, or a foreign id)");
		return;
	}
	p->reply = json_incref(msg);
	g_cond_broadcast(&qmp->cond);
}

void nvfm_qmp_transport_deliver(NvfmQmp *qmp, json_t *msg)
{
	json_t *v;

	g_mutex_lock(&qmp->lock);
	if ((v = json_object_get(msg, "QMP"))) {
		if (!qmp->greeting && json_is_object(v))
			set_greeting_locked(qmp, json_incref(v));
		else
			g_debug("ignoring a repeated or malformed greeting");
	} else if ((v = json_object_get(msg, "event"))) {
		NvfmQmpEvent *ev;

		if (!json_is_string(v)) {
			g_debug("ignoring an event without a name");
			goto out;
		}
		ev = event_new(msg, ++qmp->event_seq);
		g_debug("event %s (#%" G_GUINT64_FORMAT ")", ev->name, ev->seq);
		g_queue_push_tail(&qmp->events, ev);
		while (qmp->events.length > EVENT_BACKLOG)
			nvfm_qmp_event_unref(g_queue_pop_head(&qmp->events));
		dispatch_event(qmp, ev);
		g_cond_broadcast(&qmp->cond);
	} else if (json_object_get(msg, "return") || json_is_object(json_object_get(msg, "error"))) {
		deliver_reply(qmp, msg);
	} else {
		g_debug("ignoring a message that is neither greeting, reply nor event");
	}
out:
	g_mutex_unlock(&qmp->lock);
	json_decref(msg);
}

void nvfm_qmp_transport_fail_command(NvfmQmp *qmp, const char *id, GError *reason)
{
	Pending *p;

	g_mutex_lock(&qmp->lock);
	p = g_hash_table_lookup(qmp->pending, id);
	if (p && !p->reply && !p->error) {
		p->error = reason;
		reason = NULL;
		g_cond_broadcast(&qmp->cond);
	}
	g_mutex_unlock(&qmp->lock);
	g_clear_error(&reason);
}

json_t *nvfm_qmp_execute_full(NvfmQmp *qmp, const char *command, json_t *args,
			      const int *fds, guint n_fds, NvfmQmpExecFlags flags,
			      int timeout_ms, GError **error)
{
	gint64 deadline = nvfm_qmp_deadline_for(qmp, timeout_ms);
	g_autoptr(GError) local = NULL;
	json_auto_t *msg = NULL;
	json_t *ret;
	Pending p = { 0 };
	gboolean timed_out = FALSE;

	if (!command || !*command || !g_utf8_validate(command, -1, NULL)) {
		g_set_error(error, NVFM_ERROR, NVFM_ERROR_INVALID_ARG,
			    "QMP command name is empty or not UTF-8");
		return NULL;
	}
	if (args && !json_is_object(args)) {
		g_set_error(error, NVFM_ERROR, NVFM_ERROR_INVALID_ARG,
			    "arguments of QMP '%s' must be a JSON object", command);
		return NULL;
	}
	if ((flags & NVFM_QMP_EXEC_OOB) && !nvfm_qmp_has_capability(qmp, "oob")) {
		g_set_error(error, NVFM_ERROR, NVFM_ERROR_NOT_SUPPORTED,
			    "QMP '%s': out-of-band execution was not negotiated", command);
		return NULL;
	}

	g_mutex_lock(&qmp->lock);
	if (qmp->dead) {
		g_set_error(error, NVFM_ERROR, qmp->dead->code, "QMP '%s': %s", command,
			    qmp->dead->message);
		g_mutex_unlock(&qmp->lock);
		return NULL;
	}
	p.id = g_strdup_printf("nvfm-%" G_GUINT64_FORMAT, ++qmp->next_id);
	g_hash_table_insert(qmp->pending, p.id, &p);
	g_mutex_unlock(&qmp->lock);

	msg = json_pack("{s:s, s:s}", (flags & NVFM_QMP_EXEC_OOB) ? "exec-oob" : "execute",
			command, "id", p.id);
	if (args)
		json_object_set(msg, "arguments", args);
	g_debug("-> %s (%s)", command, p.id);
	if (!qmp->ops->send(qmp, msg, fds, n_fds, deadline, &local)) {
		g_mutex_lock(&qmp->lock);
		g_hash_table_remove(qmp->pending, p.id);
		g_mutex_unlock(&qmp->lock);
		g_free(p.id);
		g_set_error(error, NVFM_ERROR, local->code, "QMP '%s': %s", command, local->message);
		return NULL;
	}

	g_mutex_lock(&qmp->lock);
	while (!p.reply && !p.error && !qmp->dead && !timed_out)
		timed_out = !g_cond_wait_until(&qmp->cond, &qmp->lock, deadline);
	g_hash_table_remove(qmp->pending, p.id);
	if (!p.reply) {
		if (p.error)
			g_set_error(error, NVFM_ERROR, p.error->code, "QMP '%s': %s", command,
				    p.error->message);
		else if (qmp->dead)
			g_set_error(error, NVFM_ERROR, qmp->dead->code, "QMP '%s': %s", command,
				    qmp->dead->message);
		else
			g_set_error(error, NVFM_ERROR, NVFM_ERROR_TIMEOUT,
				    "QMP '%s': no reply within %d ms", command,
				    timeout_ms >= 0 ? timeout_ms : qmp->default_timeout_ms);
	}
	g_mutex_unlock(&qmp->lock);
	g_free(p.id);
	g_clear_error(&p.error);
	if (!p.reply)
		return NULL;

	if (json_is_object(json_object_get(p.reply, "error"))) {
		nvfm_qmp_set_error_reply(error, command, json_object_get(p.reply, "error"));
		json_decref(p.reply);
		return NULL;
	}
	ret = json_incref(json_object_get(p.reply, "return"));
	g_debug("<- %s", command);
	json_decref(p.reply);
	return ret;
}

json_t *nvfm_qmp_execute(NvfmQmp *qmp, const char *command, json_t *args, int timeout_ms,
			 GError **error)
{
	return nvfm_qmp_execute_full(qmp, command, args, NULL, 0, NVFM_QMP_EXEC_NONE, timeout_ms,
				     error);
}

json_t *nvfm_qmp_execute_json(NvfmQmp *qmp, const char *command, const char *args_json,
			      int timeout_ms, GError **error)
{
	json_auto_t *args = NULL;
	json_error_t jerr;

	if (args_json && *args_json) {
		args = json_loads(args_json, 0, &jerr);
		if (!json_is_object(args)) {
			g_set_error(error, NVFM_ERROR, NVFM_ERROR_INVALID_ARG,
				    "arguments of QMP '%s' are not a JSON object%s%s", command,
				    args ? "" : ": ", args ? "" : jerr.text);
			return NULL;
		}
	}
	return nvfm_qmp_execute(qmp, command, args, timeout_ms, error);
}

gboolean nvfm_qmp_getfd(NvfmQmp *qmp, const char *fdname, int fd, int timeout_ms,
			GError **error)
{
	json_auto_t *args = json_pack("{s:s}", "fdname", fdname ? fdname : "");
	json_auto_t *ret = nvfm_qmp_execute_full(qmp, "getfd", args, &fd, 1, NVFM_QMP_EXEC_NONE,
						 timeout_ms, error);

	return ret != NULL;
}

gboolean nvfm_qmp_add_fd(NvfmQmp *qmp, int fd, gint64 fdset_id, const char *opaque,
			 gint64 *ret_fdset_id, gint64 *ret_fd, int timeout_ms, GError **error)
{
	json_auto_t *args = json_object();
	json_auto_t *ret = NULL;

	if (fdset_id >= 0)
		json_object_set_new(args, "fdset-id", json_integer(fdset_id));
	if (opaque)
		json_object_set_new(args, "opaque", json_string(opaque));
	ret = nvfm_qmp_execute_full(qmp, "add-fd", args, &fd, 1, NVFM_QMP_EXEC_NONE, timeout_ms,
				    error);
	if (!ret)
		return FALSE;
	if (ret_fdset_id)
		*ret_fdset_id = json_integer_value(json_object_get(ret, "fdset-id"));
	if (ret_fd)
		*ret_fd = json_integer_value(json_object_get(ret, "fd"));
	return TRUE;
}

gboolean nvfm_qmp_is_connected(NvfmQmp *qmp)
{
	gboolean ok;

	g_mutex_lock(&qmp->lock);
	ok = qmp->dead == NULL;
	g_mutex_unlock(&qmp->lock);
	return ok;
}

const char *nvfm_qmp_get_transport_name(NvfmQmp *qmp)
{
	return qmp->ops->name;
}

json_t *nvfm_qmp_get_greeting(NvfmQmp *qmp)
{
	return qmp->greeting;
}

void nvfm_qmp_get_version(NvfmQmp *qmp, int *major, int *minor, int *micro)
{
	if (major)
		*major = qmp->version[0];
	if (minor)
		*minor = qmp->version[1];
	if (micro)
		*micro = qmp->version[2];
}

gboolean nvfm_qmp_version_at_least(NvfmQmp *qmp, int major, int minor, int micro)
{
	int want[3] = { major, minor, micro };

	for (int i = 0; i < 3; i++) {
		if (qmp->version[i] != want[i])
			return qmp->version[i] > want[i];
	}
	return TRUE;
}

gboolean nvfm_qmp_has_capability(NvfmQmp *qmp, const char *name)
{
	for (guint i = 0; i < qmp->caps->len; i++) {
		if (!strcmp(g_ptr_array_index(qmp->caps, i), name))
			return TRUE;
	}
	return FALSE;
}

guint64 nvfm_qmp_event_seq(NvfmQmp *qmp)
{
	guint64 seq;

	g_mutex_lock(&qmp->lock);
	seq = qmp->event_seq;
	g_mutex_unlock(&qmp->lock);
	return seq;
}

NvfmQmpEvent *nvfm_qmp_wait_event(NvfmQmp *qmp, const char *name,
				  NvfmQmpEventPredicate predicate, gpointer user_data,
				  guint64 since_seq, int timeout_ms, GError **error)
{
	gint64 deadline = nvfm_qmp_deadline_for(qmp, timeout_ms);
	guint64 checked = since_seq;
	gboolean timed_out = FALSE;
	NvfmQmpEvent *found = NULL;

	g_mutex_lock(&qmp->lock);
	for (;;) {
		/* Newest last: walk back to the first unchecked event. */
		GList *l = qmp->events.tail;

		while (l && ((NvfmQmpEvent *)l->data)->seq > checked + 1)
			l = l->prev;
		if (!l)
			l = qmp->events.head;
		for (; l && !found; l = l->next) {
			NvfmQmpEvent *ev = l->data;

			if (ev->seq <= checked)
				continue;
			checked = ev->seq;
			if (name && strcmp(name, ev->name) != 0)
				continue;
			if (predicate && !predicate(ev, user_data))
				continue;
			found = nvfm_qmp_event_ref(ev);
		}
		if (found || qmp->dead || timed_out)
			break;
		timed_out = !g_cond_wait_until(&qmp->cond, &qmp->lock, deadline);
	}
	if (!found) {
		if (qmp->dead)
			g_set_error(error, NVFM_ERROR, qmp->dead->code,
				    "waiting for QMP event %s: %s", name ? name : "(any)",
				    qmp->dead->message);
		else
			g_set_error(error, NVFM_ERROR, NVFM_ERROR_TIMEOUT,
				    "no QMP event %s within %d ms", name ? name : "(any)",
				    timeout_ms >= 0 ? timeout_ms : qmp->default_timeout_ms);
	}
	g_mutex_unlock(&qmp->lock);
	return found;
}

/* Waits for the greeting, then negotiates capabilities. */
gboolean nvfm_qmp_transport_handshake(NvfmQmp *qmp, gint64 deadline, GError **error)
{
	json_auto_t *args = NULL;
	json_auto_t *ret = NULL;
	json_t *offered, *c;
	gboolean timed_out = FALSE;
	gboolean oob = FALSE;
	gsize i;

	g_mutex_lock(&qmp->lock);
	while (!qmp->greeting && !qmp->dead && !timed_out)
		timed_out = !g_cond_wait_until(&qmp->cond, &qmp->lock, deadline);
	if (!qmp->greeting) {
		if (qmp->dead)
			g_set_error(error, NVFM_ERROR, qmp->dead->code,
				    "no QMP greeting: %s", qmp->dead->message);
		else
			g_set_error(error, NVFM_ERROR, NVFM_ERROR_TIMEOUT,
				    "no QMP greeting within the timeout (is this a QMP socket?)");
		g_mutex_unlock(&qmp->lock);
		return FALSE;
	}
	offered = json_object_get(qmp->greeting, "capabilities");
	json_array_foreach(offered, i, c) {
		if (json_is_string(c) && !strcmp(json_string_value(c), "oob"))
			oob = TRUE;
	}
	g_mutex_unlock(&qmp->lock);

	if (oob)
		args = json_pack("{s:[s]}", "enable", "oob");
	ret = nvfm_qmp_execute(qmp, "qmp_capabilities", args,
			       nvfm_qmp_deadline_to_ms(deadline), error);
	if (!ret)
		return FALSE;
	if (oob)
		g_ptr_array_add(qmp->caps, g_strdup("oob"));
	return TRUE;
}

