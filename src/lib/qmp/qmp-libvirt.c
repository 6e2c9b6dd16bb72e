/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The libvirt transport: for domains whose monitor libvirt owns. Commands
 * go through virDomainQemuMonitorCommand(), which blocks, so a worker
 * thread runs them in order and hands the replies to the core as if they
 * had come off a socket; the core's deadline still bounds every caller.
 * A worker stuck inside libvirt is abandoned, never joined: it holds its
 * own reference to the transport state and frees it when libvirt returns.
 */
#define G_LOG_DOMAIN "nvfm-qmp"

#include "config.h"
#include "qmp-private.h"

#ifdef HAVE_LIBVIRT

#include <string.h>

#include <libvirt/libvirt.h>
#include <libvirt/libvirt-qemu.h>
#include <libvirt/virterror.h>

typedef struct {
	char *id;
	char *command;
	char *text;
	gboolean stop;
} Job;

typedef struct {
	gatomicrefcount ref;
	/* Guards qmp and the open result; held while delivering so that
	 * close() returning means no more deliveries. */
	GMutex lock;
	GCond cond;
	NvfmQmp *qmp;
	char *uri;
	char *domain;
	gboolean opened;
	GError *open_error;
	virConnectPtr conn;	/* owned by the worker */
	virDomainPtr dom;
	int monitor_cb;
	int lifecycle_cb;
	GAsyncQueue *jobs;
} LibvirtTransport;

static void job_free(gpointer data)
{
	Job *j = data;

	g_free(j->id);
	g_free(j->command);
	g_free(j->text);
	g_free(j);
}

static LibvirtTransport *lt_ref(LibvirtTransport *t)
{
	g_atomic_ref_count_inc(&t->ref);
	return t;
}

static void lt_unref(gpointer data)
{
	LibvirtTransport *t = data;

	if (!g_atomic_ref_count_dec(&t->ref))
		return;
	g_async_queue_unref(t->jobs);
	g_clear_error(&t->open_error);
	g_free(t->uri);
	g_free(t->domain);
	g_mutex_clear(&t->lock);
	g_cond_clear(&t->cond);
	g_free(t);
}

static void quiet_errors(void *opaque, virErrorPtr err)
{
	(void)opaque;
	g_debug("libvirt: %s", err && err->message ? err->message : "error");
}

static const char *last_error_message(void)
{
	virErrorPtr e = virGetLastError();

	return e && e->message ? e->message : "unknown libvirt error";
}

/* libvirt errors that mean the monitor is gone for good. */
static gboolean last_error_is_fatal(void)
{
	virErrorPtr e = virGetLastError();

	if (!e)
		return FALSE;
	return e->domain == VIR_FROM_RPC || e->code == VIR_ERR_NO_DOMAIN ||
	       e->code == VIR_ERR_OPERATION_INVALID || e->code == VIR_ERR_NO_CONNECT ||
	       e->code == VIR_ERR_INVALID_CONN || e->code == VIR_ERR_SYSTEM_ERROR;
}

static NvfmErrorCode last_error_code(void)
{
	virErrorPtr e = virGetLastError();

	if (!e)
		return NVFM_ERROR_FAILED;
	switch (e->code) {
	case VIR_ERR_NO_DOMAIN:
		return NVFM_ERROR_NOT_FOUND;
	case VIR_ERR_NO_SUPPORT:
		return NVFM_ERROR_NOT_SUPPORTED;
	case VIR_ERR_OPERATION_INVALID:
		return NVFM_ERROR_STATE;
	case VIR_ERR_AUTH_FAILED:
	case VIR_ERR_AUTH_CANCELLED:
		return NVFM_ERROR_AUTH;
	case VIR_ERR_OPERATION_DENIED:
	case VIR_ERR_ACCESS_DENIED:
		return NVFM_ERROR_PERMISSION;
	case VIR_ERR_OPERATION_TIMEOUT:
	case VIR_ERR_AGENT_UNRESPONSIVE:
		return NVFM_ERROR_TIMEOUT;
	default:
		return e->domain == VIR_FROM_RPC ? NVFM_ERROR_IO : NVFM_ERROR_FAILED;
	}
}

static void deliver(LibvirtTransport *t, json_t *msg)
{
	g_mutex_lock(&t->lock);
	if (t->qmp)
		nvfm_qmp_transport_deliver(t->qmp, msg);
	else
		json_decref(msg);
	g_mutex_unlock(&t->lock);
}

static void mark_dead(LibvirtTransport *t, GError *reason)
{
	g_mutex_lock(&t->lock);
	if (t->qmp)
		nvfm_qmp_transport_dead(t->qmp, reason);
	else
		g_error_free(reason);
	g_mutex_unlock(&t->lock);
}

static void monitor_event_cb(virConnectPtr conn, virDomainPtr dom, const char *event,
			     long long seconds, unsigned int micros, const char *details,
			     void *opaque)
{
	LibvirtTransport *t = opaque;
	json_t *data = NULL;
	json_t *msg;

	if (details)
		data = json_loads(details, 0, NULL);
	msg = json_pack("{s:s, s:{s:I, s:I}}", "event", event ? event : "", "timestamp",
			"seconds", (json_int_t)seconds, "microseconds", (json_int_t)micros);
	if (!msg) {
		json_decref(data);
		return;
	}
	if (json_is_object(data))
		json_object_set_new(msg, "data", data);
	else
		json_decref(data);
	deliver(t, msg);
}

static int lifecycle_cb(virConnectPtr conn, virDomainPtr dom, int event, int detail,
			void *opaque)
{
	LibvirtTransport *t = opaque;

	if (event == VIR_DOMAIN_EVENT_STOPPED)
		mark_dead(t, g_error_new(NVFM_ERROR, NVFM_ERROR_IO,
					 "libvirt domain '%s' stopped", t->domain));
	return 0;
}

static void connection_closed_cb(virConnectPtr conn, int reason, void *opaque)
{
	LibvirtTransport *t = opaque;

	mark_dead(t, g_error_new(NVFM_ERROR, NVFM_ERROR_IO,
				 "connection to libvirt closed (reason %d)", reason));
}

static void finish_open(LibvirtTransport *t, GError *error)
{
	g_mutex_lock(&t->lock);
	t->opened = TRUE;
	t->open_error = error;
	g_cond_broadcast(&t->cond);
	g_mutex_unlock(&t->lock);
}

static gboolean worker_open(LibvirtTransport *t)
{
	t->conn = virConnectOpen(t->uri);
	if (!t->conn) {
		finish_open(t, g_error_new(NVFM_ERROR, last_error_code() == NVFM_ERROR_FAILED
					   ? NVFM_ERROR_IO : last_error_code(),
					   "cannot connect to libvirt%s%s: %s", t->uri ? " at " : "",
					   t->uri ? t->uri : "", last_error_message()));
		return FALSE;
	}
	virConnSetErrorFunc(t->conn, NULL, quiet_errors);
	t->dom = virDomainLookupByName(t->conn, t->domain);
	if (!t->dom)
		t->dom = virDomainLookupByUUIDString(t->conn, t->domain);
	if (!t->dom) {
		finish_open(t, g_error_new(NVFM_ERROR, NVFM_ERROR_NOT_FOUND,
					   "libvirt has no domain '%s'", t->domain));
		return FALSE;
	}
	if (virDomainIsActive(t->dom) != 1) {
		finish_open(t, g_error_new(NVFM_ERROR, NVFM_ERROR_STATE,
					   "libvirt domain '%s' is not running", t->domain));
		return FALSE;
	}
	t->monitor_cb = virConnectDomainQemuMonitorEventRegister(t->conn, t->dom, NULL,
								 monitor_event_cb, lt_ref(t),
								 lt_unref, 0);
	if (t->monitor_cb < 0) {
		GError *e = g_error_new(NVFM_ERROR, last_error_code(),
					"cannot subscribe to QEMU events of '%s' through libvirt: %s",
					t->domain, last_error_message());

		lt_unref(t);
		finish_open(t, e);
		return FALSE;
	}
	t->lifecycle_cb = virConnectDomainEventRegisterAny(t->conn, t->dom,
							   VIR_DOMAIN_EVENT_ID_LIFECYCLE,
							   VIR_DOMAIN_EVENT_CALLBACK(lifecycle_cb),
							   lt_ref(t), lt_unref);
	if (t->lifecycle_cb < 0)
		lt_unref(t);
	if (virConnectRegisterCloseCallback(t->conn, connection_closed_cb, lt_ref(t),
					    lt_unref) < 0)
		lt_unref(t);
	finish_open(t, NULL);
	return TRUE;
}

static void worker_run(LibvirtTransport *t, Job *job)
{
	char *result = NULL;
	json_t *reply;

	if (virDomainQemuMonitorCommand(t->dom, job->text, &result, 0) < 0) {
		GError *e = g_error_new(NVFM_ERROR, last_error_code(), "libvirt: %s",
					last_error_message());

		if (last_error_is_fatal()) {
			mark_dead(t, g_error_copy(e));
		}
		g_mutex_lock(&t->lock);
		if (t->qmp)
			nvfm_qmp_transport_fail_command(t->qmp, job->id, e);
		else
			g_error_free(e);
		g_mutex_unlock(&t->lock);
		return;
	}
	reply = json_loads(result, 0, NULL);
	free(result);
	if (!json_is_object(reply)) {
		json_decref(reply);
		g_mutex_lock(&t->lock);
		if (t->qmp)
			nvfm_qmp_transport_fail_command(t->qmp, job->id,
				g_error_new(NVFM_ERROR, NVFM_ERROR_PROTOCOL,
					    "libvirt returned a reply that is not a JSON object"));
		g_mutex_unlock(&t->lock);
		return;
	}
	/* libvirt replaced our id with its own. */
	json_object_set_new(reply, "id", json_string(job->id));
	if (!json_object_get(reply, "return") && !json_object_get(reply, "error"))
		json_object_set_new(reply, "return", json_object());
	deliver(t, reply);
}

static gpointer worker_thread(gpointer data)
{
	LibvirtTransport *t = data;

	if (worker_open(t)) {
		for (;;) {
			Job *job = g_async_queue_pop(t->jobs);
			gboolean stop = job->stop;

			if (!stop)
				worker_run(t, job);
			job_free(job);
			if (stop)
				break;
		}
	}
	if (t->conn) {
		if (t->monitor_cb >= 0)
			virConnectDomainQemuMonitorEventDeregister(t->conn, t->monitor_cb);
		if (t->lifecycle_cb >= 0)
			virConnectDomainEventDeregisterAny(t->conn, t->lifecycle_cb);
		virConnectUnregisterCloseCallback(t->conn, connection_closed_cb);
		if (t->dom)
			virDomainFree(t->dom);
		virConnectClose(t->conn);
	}
	lt_unref(t);
	return NULL;
}

static gboolean libvirt_send(NvfmQmp *qmp, json_t *msg, const int *fds, guint n_fds,
			     gint64 deadline_us, GError **error)
{
	LibvirtTransport *t = nvfm_qmp_transport_get_priv(qmp);
	json_auto_t *copy = NULL;
	Job *job;
	char *text;

	if (n_fds) {
		g_set_error(error, NVFM_ERROR, NVFM_ERROR_NOT_SUPPORTED,
			    "the libvirt transport cannot pass file descriptors");
		return FALSE;
	}
	if (json_object_get(msg, "exec-oob")) {
		g_set_error(error, NVFM_ERROR, NVFM_ERROR_NOT_SUPPORTED,
			    "the libvirt transport cannot run out-of-band commands");
		return FALSE;
	}
	/* libvirt assigns ids itself; keep ours for the reply. */
	copy = json_deep_copy(msg);
	json_object_del(copy, "id");
	text = json_dumps(copy, JSON_COMPACT);
	if (!text) {
		g_set_error(error, NVFM_ERROR, NVFM_ERROR_INVALID_ARG,
			    "cannot encode the command as JSON");
		return FALSE;
	}
	job = g_new0(Job, 1);
	job->id = g_strdup(json_string_value(json_object_get(msg, "id")));
	job->command = g_strdup(json_string_value(json_object_get(msg, "execute")));
	job->text = g_strdup(text);
	free(text);
	g_async_queue_push(t->jobs, job);
	return TRUE;
}

static void libvirt_close(NvfmQmp *qmp)
{
	LibvirtTransport *t = nvfm_qmp_transport_get_priv(qmp);
	Job *stop;

	if (!t)
		return;
	g_mutex_lock(&t->lock);
	t->qmp = NULL;
	g_mutex_unlock(&t->lock);
	stop = g_new0(Job, 1);
	stop->stop = TRUE;
	g_async_queue_push(t->jobs, stop);
	lt_unref(t);
	nvfm_qmp_transport_set_priv(qmp, NULL);
}

static const NvfmQmpTransportOps libvirt_ops = {
	.name = "libvirt",
	.send = libvirt_send,
	.close = libvirt_close,
};

static void noop_timeout(int timer, void *opaque)
{
}

static gpointer event_loop_thread(gpointer data)
{
	for (;;) {
		if (virEventRunDefaultImpl() < 0)
			g_usleep(100 * 1000);
	}
	return NULL;
}

/* Domain events need a libvirt event loop; use the application's if it
 * registered one (adding a timer fails without one). */
static void ensure_event_loop(void)
{
	static gsize once;

	if (g_once_init_enter(&once)) {
		int probe;

		/* libvirt's error state is unusable before this */
		virInitialize();
		probe = virEventAddTimeout(-1, noop_timeout, NULL, NULL);
		if (probe >= 0) {
			virEventRemoveTimeout(probe);
		} else {
			virResetLastError();
			if (virEventRegisterDefaultImpl() == 0)
				g_thread_unref(g_thread_new("nvfm-virt-events", event_loop_thread,
							    NULL));
		}
		g_once_init_leave(&once, 1);
	}
}

NvfmQmp *nvfm_qmp_connect_libvirt(const char *uri, const char *domain, int timeout_ms,
			       GError **error)
{
	gint64 deadline = g_get_monotonic_time() +
			  (gint64)(timeout_ms >= 0 ? timeout_ms : NVFM_QMP_DEFAULT_TIMEOUT_MS) * 1000;
	g_autoptr(NvfmQmp) qmp = NULL;
	json_auto_t *ver = NULL;
	LibvirtTransport *t;
	GError *open_error = NULL;
	gboolean opened;

	if (!domain || !*domain) {
		g_set_error(error, NVFM_ERROR, NVFM_ERROR_INVALID_ARG, "no libvirt domain given");
		return NULL;
	}
	ensure_event_loop();
	t = g_new0(LibvirtTransport, 1);
	g_atomic_ref_count_init(&t->ref);
	g_mutex_init(&t->lock);
	g_cond_init(&t->cond);
	t->uri = g_strdup(uri);
	t->domain = g_strdup(domain);
	t->monitor_cb = -1;
	t->lifecycle_cb = -1;
	t->jobs = g_async_queue_new_full(job_free);
	qmp = nvfm_qmp_new_with_transport(&libvirt_ops, timeout_ms);
	t->qmp = qmp;
	nvfm_qmp_transport_set_priv(qmp, t);
	g_thread_unref(g_thread_new("nvfm-qmp-virt", worker_thread, lt_ref(t)));

	g_mutex_lock(&t->lock);
	while (!t->opened && g_cond_wait_until(&t->cond, &t->lock, deadline))
		;
	opened = t->opened;
	if (t->open_error)
		open_error = g_error_copy(t->open_error);
	g_mutex_unlock(&t->lock);
	if (!opened) {
		g_set_error(error, NVFM_ERROR, NVFM_ERROR_TIMEOUT,
			    "libvirt did not open domain '%s' within the timeout", domain);
		return NULL;
	}
	if (open_error) {
		g_propagate_error(error, open_error);
		return NULL;
	}
	ver = nvfm_qmp_execute(qmp, "query-version", NULL, nvfm_qmp_deadline_to_ms(deadline),
			       error);
	if (!ver)
		return NULL;
	nvfm_qmp_transport_set_greeting(qmp, json_pack("{s:O, s:[]}", "version", ver,
						       "capabilities"));
	return g_steal_pointer(&qmp);
}

#else /* !HAVE_LIBVIRT */

NvfmQmp *nvfm_qmp_connect_libvirt(const char *uri, const char *domain, int timeout_ms,
			       GError **error)
{
	g_set_error(error, NVFM_ERROR, NVFM_ERROR_NOT_SUPPORTED,
		    "libnvfm was built without libvirt: cannot reach domain '%s' through it",
		    domain ? domain : "");
	return NULL;
}

#endif
