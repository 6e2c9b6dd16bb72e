/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The per-host agent (docs/agent.md): a listener, one thread per
 * authenticated connection, control requests (status, preflight,
 * provision/reserve, release) and state transfers into local devices.
 *
 * Every transfer in flight has a directory under the runtime directory
 * naming its target device, so that an agent killed mid-transfer resets
 * that device when it starts again. Stopping aborts transfers in flight:
 * their clients get an ABORT frame with the reason and their devices are
 * reset by nvfm_load()'s failure path.
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

#include "agent-private.h"

#define DEFAULT_MAX_SESSIONS 16
#define DEFAULT_TIMEOUT_MS 30000
#define DEFAULT_IDLE_MS 300000
/* After a failed transfer, how long to swallow what the client still
 * sends so that it reads our ABORT rather than a connection reset. */
#define DRAIN_MS 5000

typedef struct _Session Session;

struct _NvfmAgent {
	char *runtime_dir;
	char *mig_dir;
	char *res_dir;
	NvfmTls *tls;
	guint max_sessions;
	int timeout_ms;
	int idle_ms;
	char *fixed_target;
	gboolean one_shot;
	gboolean verify;
	NvfmAgentLogFunc log;
	gpointer log_data;

	NvfmListener *listener;
	int stop_fd;

	GMutex mu;		/* everything below, and sessions' shared fields */
	GPtrArray *sessions;
	guint64 counter;
	gboolean stopping;
	gboolean shot_done;
	GError *shot_error;
	GMutex res_mu;		/* reservation files */
};

struct _Session {
	NvfmAgent *agent;
	int ctl_fd;		/* a dup of the socket, to shut it down from outside */
	char *peer;
	char *identity;
	GThread *thread;
	GCancellable *cancel;
	gboolean finished;
	guint caps;		/* NVFM_CAP_* negotiated on this connection */
	NvfmChannel *ch;	/* session thread only */
	guint8 *buf;
	GPtrArray *leases;	/* reservations that end with this connection */

	/* the transfer in flight, under agent->mu */
	char *mig_id;
	char *mig_path;
	char *target;
	const char *phase;
	int phase_num;
	guint64 bytes;
	gint64 started;
	json_int_t req_id;
};

static void agent_log(NvfmAgent *a, GLogLevelFlags level, const char *fmt, ...)
	G_GNUC_PRINTF(3, 4);

static void agent_log(NvfmAgent *a, GLogLevelFlags level, const char *fmt, ...)
{
	g_autofree char *msg = NULL;
	va_list ap;

	va_start(ap, fmt);
	msg = g_strdup_vprintf(fmt, ap);
	va_end(ap);
	g_debug("%s", msg);
	if (a->log)
		a->log(level, msg, a->log_data);
}

/* ---- runtime directory ---- */

static char *default_runtime_dir(void)
{
	const char *d = g_getenv("RUNTIME_DIRECTORY");	/* systemd RuntimeDirectory= */

	if (d && *d)
		return g_build_filename(d, "agent", NULL);
	if (geteuid() == 0)
		return g_strdup("/run/nvme-vf-migrate/agent");
	d = g_getenv("XDG_RUNTIME_DIR");
	if (d && *d)
		return g_build_filename(d, "nvme-vf-migrate", "agent", NULL);
	return g_strdup_printf("/tmp/nvme-vf-migrate-%u/agent", (guint)geteuid());
}

/* A private directory: ours, 0700, whatever the umask or a previous run did. */
static gboolean private_dir(const char *path, GError **error)
{
	struct stat sb;

	if (g_mkdir_with_parents(path, 0700) < 0 || lstat(path, &sb) < 0) {
		nvfm_set_error_errno(error, -errno, "runtime directory %s", path);
		return FALSE;
	}
	if (!S_ISDIR(sb.st_mode) || sb.st_uid != geteuid()) {
		g_set_error(error, NVFM_ERROR, NVFM_ERROR_PERMISSION,
			    "runtime directory %s is not a directory owned by us", path);
		return FALSE;
	}
	if ((sb.st_mode & 07777) != 0700 && chmod(path, 0700) < 0) {
		nvfm_set_error_errno(error, -errno, "chmod 0700 %s", path);
		return FALSE;
	}
	return TRUE;
}

/* Write @obj to @path atomically, mode 0600. */
static gboolean write_json_file(const char *path, json_t *obj, GError **error)
{
	g_autofree char *tmp = g_strdup_printf("%s.tmp", path);
	g_autofree char *text = json_dumps(obj, JSON_INDENT(2) | JSON_SORT_KEYS);
	gsize len = text ? strlen(text) : 0;
	int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);

	if (fd < 0 || !text || write(fd, text, len) != (gssize)len || write(fd, "\n", 1) != 1) {
		int e = fd < 0 ? errno : EIO;

		if (fd >= 0)
			close(fd);
		unlink(tmp);
		nvfm_set_error_errno(error, -e, "writing %s", path);
		return FALSE;
	}
	close(fd);
	if (rename(tmp, path) < 0) {
		int e = errno;

		unlink(tmp);
		nvfm_set_error_errno(error, -e, "writing %s", path);
		return FALSE;
	}
	return TRUE;
}

static json_t *read_json_file(const char *path)
{
	json_error_t jerr;

	return json_load_file(path, JSON_REJECT_DUPLICATES, &jerr);
}

static void remove_dir(const char *path)
{
	g_autoptr(GDir) d = g_dir_open(path, 0, NULL);
	const char *name;

	while (d && (name = g_dir_read_name(d))) {
		g_autofree char *p = g_build_filename(path, name, NULL);

		unlink(p);
	}
	rmdir(path);
}

/* Devices a crashed predecessor was restoring into hold partial state. */
/* Reservations whose connection died with a previous instance. */
static void recover_leases(NvfmAgent *a)
{
	g_autoptr(GDir) d = g_dir_open(a->res_dir, 0, NULL);
	const char *name;

	while (d && (name = g_dir_read_name(d))) {
		g_autofree char *file = g_build_filename(a->res_dir, name, NULL);
		json_auto_t *rec = read_json_file(file);
		const char *vf = rec ? json_string_value(json_object_get(rec, "vf")) : NULL;
		g_autoptr(GError) err = NULL;

		if (!vf || g_strcmp0(json_string_value(json_object_get(rec, "lease")), "session"))
			continue;
		if (nvfm_vf_release(vf, &err)) {
			unlink(file);
			agent_log(a, G_LOG_LEVEL_WARNING,
				  "reservation %s was left by a previous instance: %s released", name, vf);
		} else {
			agent_log(a, G_LOG_LEVEL_WARNING,
				  "reservation %s was left by a previous instance: cannot release %s: %s",
				  name, vf, err->message);
		}
	}
}

static void recover_stale(NvfmAgent *a)
{
	g_autoptr(GDir) d = g_dir_open(a->mig_dir, 0, NULL);
	const char *name;

	while (d && (name = g_dir_read_name(d))) {
		g_autofree char *dir = g_build_filename(a->mig_dir, name, NULL);
		g_autofree char *file = g_build_filename(dir, "state.json", NULL);
		json_auto_t *st = read_json_file(file);
		const char *target = st ? json_string_value(json_object_get(st, "target")) : NULL;
		g_autoptr(GError) err = NULL;
		g_autoptr(NvfmDevice) dev = NULL;

		if (target) {
			dev = nvfm_device_open(target, &err);
			if (dev && nvfm_device_reset(dev, &err))
				agent_log(a, G_LOG_LEVEL_WARNING,
					  "migration %s was left in flight by a previous instance: %s reset",
					  name, target);
			else
				agent_log(a, G_LOG_LEVEL_WARNING,
					  "migration %s was left in flight by a previous instance: "
					  "cannot reset %s: %s", name, target, err->message);
		}
		remove_dir(dir);
	}
	recover_leases(a);
}

/* ---- setup ---- */

NvfmAgent *nvfm_agent_new(const NvfmAgentOptions *opts, GError **error)
{
	g_autoptr(NvfmAgent) a = g_new0(NvfmAgent, 1);

	g_mutex_init(&a->mu);
	g_mutex_init(&a->res_mu);
	a->stop_fd = -1;
	a->sessions = g_ptr_array_new();
	a->tls = opts->tls;
	a->max_sessions = opts->max_sessions ? opts->max_sessions : DEFAULT_MAX_SESSIONS;
	a->timeout_ms = opts->timeout_ms > 0 ? opts->timeout_ms : DEFAULT_TIMEOUT_MS;
	a->idle_ms = opts->idle_timeout_ms > 0 ? opts->idle_timeout_ms : DEFAULT_IDLE_MS;
	a->fixed_target = g_strdup(opts->fixed_target);
	a->one_shot = opts->one_shot;
	a->verify = opts->verify;
	a->log = opts->log;
	a->log_data = opts->log_data;
	a->runtime_dir = opts->runtime_dir ? g_strdup(opts->runtime_dir) : default_runtime_dir();
	a->mig_dir = g_build_filename(a->runtime_dir, "migrations", NULL);
	a->res_dir = g_build_filename(a->runtime_dir, "reservations", NULL);
	if (!opts->listen) {
		g_set_error(error, NVFM_ERROR, NVFM_ERROR_INVALID_ARG, "no address to listen on");
		return NULL;
	}
	if (!private_dir(a->runtime_dir, error) || !private_dir(a->mig_dir, error) ||
	    !private_dir(a->res_dir, error))
		return NULL;
	a->stop_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (a->stop_fd < 0) {
		nvfm_set_error_errno(error, -errno, "eventfd");
		return NULL;
	}
	recover_stale(a);
	a->listener = nvfm_listener_new(opts->listen, error);
	if (!a->listener)
		return NULL;
	return g_steal_pointer(&a);
}

const char *nvfm_agent_get_address(NvfmAgent *agent)
{
	return nvfm_listener_get_address(agent->listener);
}

void nvfm_agent_stop(NvfmAgent *agent)
{
	guint64 one = 1;

	/* only write(2): this runs in signal handlers */
	if (agent->stop_fd >= 0 && write(agent->stop_fd, &one, sizeof(one)) < 0)
		return;
}

static void session_free(Session *s)
{
	if (s->ctl_fd >= 0)
		close(s->ctl_fd);
	g_clear_object(&s->cancel);
	g_free(s->peer);
	g_free(s->identity);
	g_free(s->buf);
	if (s->leases)
		g_ptr_array_free(s->leases, TRUE);
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
	g_free(agent->res_dir);
	g_free(agent->fixed_target);
	g_mutex_clear(&agent->mu);
	g_mutex_clear(&agent->res_mu);
	g_free(agent);
}

/* ---- replies ---- */

static gboolean reply_ok(Session *s, json_int_t id, json_t *result, GError **error)
{
	json_auto_t *r = json_pack("{s:I, s:b, s:o}", "id", id, "ok", 1, "result",
				   result ? result : json_object());

	return nvfm_frame_send_json(s->ch, NVFM_FRAME_REPLY, r, error);
}

static gboolean reply_error(Session *s, json_int_t id, const GError *err, GError **error)
{
	json_auto_t *r = json_pack("{s:I, s:b, s:{s:s, s:s}}", "id", id, "ok", 0, "error",
				   "code", nvfm_error_code_name(err->domain == NVFM_ERROR ? err->code
							       : NVFM_ERROR_FAILED),
				   "message", err->message);

	return nvfm_frame_send_json(s->ch, NVFM_FRAME_REPLY, r, error);
}

static void send_abort(Session *s, const char *reason, const char *code, const char *phase)
{
	json_auto_t *obj = json_pack("{s:s, s:s, s:s?, s:s?}", "reason", reason, "code", code,
				     "phase", phase, "migration", s->mig_id);

	nvfm_frame_send_json(s->ch, NVFM_FRAME_ABORT, obj, NULL);
}

/* ---- transfers ---- */

static const char *phase_name(int phase)
{
	return phase == NVFM_PHASE_PRECOPY ? "precopy" : "stop-copy";
}

static json_t *migration_json(Session *s)
{
	return json_pack("{s:s, s:s, s:s, s:s, s:s, s:I, s:I, s:i}", "id", s->mig_id, "peer",
			 s->peer, "identity", s->identity ? s->identity : s->peer, "target",
			 s->target, "phase", s->phase, "bytes", (json_int_t)s->bytes, "started",
			 (json_int_t)(s->started / G_USEC_PER_SEC), "agent_pid", (int)getpid());
}

/* Called with the state unlocked: the file is only the crash record. */
static void save_migration(Session *s)
{
	g_autofree char *file = NULL;
	g_autoptr(GError) err = NULL;
	json_auto_t *obj = NULL;

	if (!s->mig_path)
		return;
	g_mutex_lock(&s->agent->mu);
	obj = migration_json(s);
	g_mutex_unlock(&s->agent->mu);
	file = g_build_filename(s->mig_path, "state.json", NULL);
	if (!write_json_file(file, obj, &err))
		agent_log(s->agent, G_LOG_LEVEL_WARNING, "migration %s: %s", s->mig_id, err->message);
}

static void set_phase(Session *s, const char *phase)
{
	g_mutex_lock(&s->agent->mu);
	s->phase = phase;
	g_mutex_unlock(&s->agent->mu);
	save_migration(s);
}

static gboolean begin_migration(Session *s, const char *target, GError **error)
{
	NvfmAgent *a = s->agent;
	g_autofree char *stamp = NULL;
	GDateTime *now = g_date_time_new_now_utc();
	guint64 n;

	g_mutex_lock(&a->mu);
	n = ++a->counter;
	g_mutex_unlock(&a->mu);
	stamp = g_date_time_format(now, "%Y%m%dT%H%M%S");
	g_date_time_unref(now);
	g_mutex_lock(&a->mu);
	s->mig_id = g_strdup_printf("m%s-%d-%" G_GUINT64_FORMAT, stamp, (int)getpid(), n);
	s->target = g_strdup(target);
	s->phase = "opening";
	s->phase_num = 0;
	s->bytes = 0;
	s->started = g_get_real_time();
	g_mutex_unlock(&a->mu);
	s->mig_path = g_build_filename(a->mig_dir, s->mig_id, NULL);
	if (mkdir(s->mig_path, 0700) < 0) {
		nvfm_set_error_errno(error, -errno, "creating %s", s->mig_path);
		g_clear_pointer(&s->mig_path, g_free);
		return FALSE;
	}
	save_migration(s);
	return TRUE;
}

static void end_migration(Session *s)
{
	if (s->mig_path)
		remove_dir(s->mig_path);
	g_mutex_lock(&s->agent->mu);
	g_clear_pointer(&s->mig_path, g_free);
	g_clear_pointer(&s->mig_id, g_free);
	g_clear_pointer(&s->target, g_free);
	s->phase = NULL;
	g_mutex_unlock(&s->agent->mu);
}

static void on_progress(int phase, guint64 bytes, gpointer data)
{
	Session *s = data;
	gboolean changed;

	g_mutex_lock(&s->agent->mu);
	s->bytes = bytes;
	changed = phase != s->phase_num;
	s->phase_num = phase;
	if (changed)
		s->phase = phase_name(phase);
	g_mutex_unlock(&s->agent->mu);
	if (changed)
		save_migration(s);
}

/*
 * The trailer checked out: tell the client, and commit only on its word.
 * Anything else in its place (a second TRAILER, more DATA, an ABORT, the
 * connection closing) leaves the device uncommitted and reset.
 */
static gboolean confirm_commit(gpointer data, GError **error)
{
	Session *s = data;
	json_auto_t *res = NULL;
	json_auto_t *req = NULL;
	NvfmFrameHeader hdr;
	json_int_t id;
	const char *op;
	json_t *args;

	set_phase(s, "commit");
	g_mutex_lock(&s->agent->mu);
	res = json_pack("{s:s, s:s, s:I}", "stage", "verified", "migration", s->mig_id,
			"total_bytes", (json_int_t)s->bytes);
	g_mutex_unlock(&s->agent->mu);
	if (!reply_ok(s, s->req_id, g_steal_pointer(&res), error))
		return FALSE;
	if (!nvfm_frame_recv(s->ch, &hdr, s->buf, error))
		return FALSE;
	if (hdr.type == NVFM_FRAME_ABORT) {
		json_auto_t *o = nvfm_frame_parse_json(s->buf, hdr.length, NULL);
		const char *why = o ? json_string_value(json_object_get(o, "reason")) : NULL;

		g_set_error(error, NVFM_ERROR, NVFM_ERROR_CANCELLED,
			    "the sender aborted before the commit: %s", why ? why : "no reason given");
		return FALSE;
	}
	if (hdr.type != NVFM_FRAME_REQUEST) {
		g_set_error(error, NVFM_ERROR, NVFM_ERROR_PROTOCOL,
			    "expected the sender's commit after the TRAILER, got a %s frame",
			    nvfm_frame_type_name(hdr.type));
		return FALSE;
	}
	req = nvfm_agent_request_parse(s->buf, hdr.length, &id, &op, &args, error);
	if (!req)
		return FALSE;
	if (strcmp(op, "commit") != 0 || id != s->req_id) {
		g_set_error(error, NVFM_ERROR, NVFM_ERROR_PROTOCOL,
			    "expected the sender's commit after the TRAILER, got '%s'", op);
		return FALSE;
	}
	return TRUE;
}

/* Swallow what the client still sends, until it hangs up or time runs out. */
static void drain(Session *s)
{
	gint64 deadline = nvfm_now_us() + (gint64)MIN(DRAIN_MS, s->agent->timeout_ms) * 1000;

	nvfm_channel_set_timeout(s->ch, 200);
	while (nvfm_now_us() < deadline && !g_cancellable_is_cancelled(s->cancel)) {
		gsize got = 0;

		if (!nvfm_channel_readable(s->ch, 200))
			continue;
		if (!nvfm_channel_read(s->ch, s->buf, NVFM_FRAME_MAX_DATA, &got, NULL) || got == 0)
			break;
	}
}

/* A reservation's record, or %NULL with the reason. */
static json_t *reservation_read(NvfmAgent *a, const char *resv, char **ret_file, GError **error)
{
	g_autofree char *file = NULL;
	json_t *rec;

	if (!g_regex_match_simple("^r-[0-9a-f]{1,32}$", resv, 0, 0)) {
		g_set_error(error, NVFM_ERROR, NVFM_ERROR_INVALID_ARG,
			    "invalid reservation id '%s'", resv);
		return NULL;
	}
	file = g_strdup_printf("%s/%s.json", a->res_dir, resv);
	g_mutex_lock(&a->res_mu);
	rec = read_json_file(file);
	g_mutex_unlock(&a->res_mu);
	if (!rec || !json_string_value(json_object_get(rec, "vf"))) {
		json_decref(rec);
		g_set_error(error, NVFM_ERROR, NVFM_ERROR_NOT_FOUND,
			    "no reservation '%s' on this host", resv);
		return NULL;
	}
	if (ret_file)
		*ret_file = g_steal_pointer(&file);
	return rec;
}

static char *resolve_target(Session *s, json_t *args, GError **error)
{
	NvfmAgent *a = s->agent;
	const char *target = json_string_value(json_object_get(args, "target"));
	const char *resv = json_string_value(json_object_get(args, "reservation"));

	if (resv) {
		json_auto_t *r = reservation_read(a, resv, NULL, error);
		const char *dev = r ? json_string_value(json_object_get(r, "device")) : NULL;

		if (!r)
			return NULL;
		if (!dev) {
			g_set_error(error, NVFM_ERROR, NVFM_ERROR_NOT_FOUND,
				    "reservation '%s' has no device to restore into", resv);
			return NULL;
		}
		if (target && strcmp(target, dev) != 0) {
			g_set_error(error, NVFM_ERROR, NVFM_ERROR_INVALID_ARG,
				    "reservation %s is %s, not %s", resv, dev, target);
			return NULL;
		}
		target = dev;
		return g_strdup(target);
	}
	if (a->fixed_target) {
		if (target && strcmp(target, a->fixed_target) != 0) {
			g_set_error(error, NVFM_ERROR, NVFM_ERROR_INVALID_ARG,
				    "this receiver only restores into %s, not %s", a->fixed_target,
				    target);
			return NULL;
		}
		return g_strdup(a->fixed_target);
	}
	if (!target || !*target) {
		g_set_error(error, NVFM_ERROR, NVFM_ERROR_INVALID_ARG,
			    "receive needs a target device or a reservation");
		return NULL;
	}
	/* a bare PCI address means the VF bound to a VFIO driver */
	if (g_regex_match_simple("^([0-9a-fA-F]{4}:)?[0-9a-fA-F]{2}:[0-9a-fA-F]{2}\\.[0-7]$",
				 target, 0, 0))
		return g_strdup_printf("vfio:%s", target);
	/* "fd:N" would name one of our own descriptors: never from a peer */
	if (!g_str_has_prefix(target, "vfio:") && !g_str_has_prefix(target, "emu:")) {
		g_set_error(error, NVFM_ERROR, NVFM_ERROR_INVALID_ARG,
			    "target '%s' is not a VF (vfio:DDDD:BB:DD.F or a PCI address) or "
			    "an emulated device (emu:NAME)", target);
		return NULL;
	}
	return g_strdup(target);
}

static void shot_result(NvfmAgent *a, const GError *err)
{
	if (!a->one_shot)
		return;
	g_mutex_lock(&a->mu);
	if (!a->shot_done) {
		a->shot_done = TRUE;
		if (err)
			a->shot_error = g_error_copy(err);
	}
	g_mutex_unlock(&a->mu);
	nvfm_agent_stop(a);
}

/* Returns FALSE when the connection cannot carry another request. */
static gboolean do_receive(Session *s, json_int_t id, json_t *args)
{
	NvfmAgent *a = s->agent;
	g_autofree char *target = NULL;
	g_autoptr(NvfmDevice) dev = NULL;
	g_autoptr(GError) err = NULL;
	GError *io = NULL;
	NvfmLoadOptions lo;
	NvfmTransferStats st;
	NvfmMigState state = NVFM_MIG_STATE_ERROR;
	gboolean unchecked, ok;
	const char *phase;

	unchecked = s->caps && json_is_true(json_object_get(args, "unchecked"));
	target = resolve_target(s, args, &err);
	if (!target || !begin_migration(s, target, &err)) {
		agent_log(a, G_LOG_LEVEL_WARNING, "receive from %s refused: %s", s->peer,
			  err->message);
		shot_result(a, err);
		return reply_error(s, id, err, NULL);
	}
	dev = nvfm_device_open(target, &err);
	if (!dev) {
		agent_log(a, G_LOG_LEVEL_WARNING, "migration %s from %s refused: %s", s->mig_id,
			  s->peer, err->message);
		end_migration(s);
		shot_result(a, err);
		return reply_error(s, id, err, NULL);
	}
	agent_log(a, G_LOG_LEVEL_MESSAGE, "migration %s: %s (%s) -> %s%s", s->mig_id, s->peer,
		  s->identity ? s->identity : "-", target,
		  !unchecked ? "" : (s->caps & NVFM_CAP_ZERO_COPY) ? ", zero-copy"
		  : ", TLS-authenticated data");
	set_phase(s, "handshake");
	s->req_id = id;
	if (!reply_ok(s, id, json_pack("{s:s, s:s, s:s, s:b}", "stage", "ready", "migration",
				       s->mig_id, "target", target, "unchecked", unchecked), &io)) {
		agent_log(a, G_LOG_LEVEL_WARNING, "migration %s: %s", s->mig_id, io->message);
		end_migration(s);
		shot_result(a, io);
		g_error_free(io);
		return FALSE;
	}

	nvfm_load_options_init(&lo);
	lo.timeout_ms = a->timeout_ms;
	lo.run = json_is_true(json_object_get(args, "run"));
	lo.allow_unchecked = unchecked;
	lo.progress = on_progress;
	lo.user_data = s;
	lo.before_commit = confirm_commit;
	lo.commit_data = s;
	lo.cancellable = s->cancel;
	nvfm_channel_set_timeout(s->ch, a->timeout_ms);
	ok = nvfm_load(dev, s->ch, &lo, &st, &err);
	phase = st.phase ? st.phase : "handshake";
	if (ok) {
		json_t *res;
		double secs = st.total_us / 1e6;

		nvfm_device_get_state(dev, &state, NULL);
		res = json_pack("{s:s, s:s, s:s, s:I, s:I, s:I, s:I, s:I, s:s, s:s, s:f, s:f}",
				"stage", "done", "migration", s->mig_id, "target", target,
				"total_bytes", (json_int_t)st.total_bytes,
				"precopy_bytes", (json_int_t)st.precopy_bytes,
				"stop_copy_bytes", (json_int_t)st.stop_copy_bytes,
				"zero_copy_bytes", (json_int_t)st.zero_copy_bytes,
				"unchecked_bytes", (json_int_t)st.unchecked_bytes,
				"sha256", st.sha256, "state", nvfm_mig_state_name(state),
				"seconds", secs, "commit_seconds", st.commit_us / 1e6);
		agent_log(a, G_LOG_LEVEL_MESSAGE,
			  "migration %s: %" G_GUINT64_FORMAT " bytes into %s in %.3f s "
			  "(%.1f MiB/s), %s, device %s", s->mig_id, st.total_bytes, target, secs,
			  secs > 0 ? st.total_bytes / secs / (1 << 20) : 0.0,
			  st.zero_copy_bytes ? "zero-copy"
			  : st.unchecked_bytes ? "TLS-authenticated" : "sha256 verified",
			  nvfm_mig_state_name(state));
		if (!reply_ok(s, id, res, &io)) {
			agent_log(a, G_LOG_LEVEL_WARNING, "migration %s: sending the result: %s",
				  s->mig_id, io->message);
			g_clear_error(&io);
		}
		end_migration(s);
		shot_result(a, NULL);
		return TRUE;
	} else {
		gboolean stopping = g_cancellable_is_cancelled(s->cancel);
		gboolean touched = strcmp(phase, "handshake") != 0 && strcmp(phase, "compat") != 0;
		g_autofree char *reason = stopping
			? g_strdup_printf("the agent is shutting down (%s)", err->message)
			: g_strdup(err->message);

		send_abort(s, reason, nvfm_error_code_name(stopping ? NVFM_ERROR_CANCELLED
							       : err->domain == NVFM_ERROR ? err->code
							       : NVFM_ERROR_FAILED), phase);
		agent_log(a, G_LOG_LEVEL_WARNING, "migration %s from %s failed in %s: %s; %s %s",
			  s->mig_id, s->peer, phase, reason, target,
			  touched ? "reset" : "untouched");
		if (!stopping)
			drain(s);
		end_migration(s);
		if (stopping)
			g_prefix_error(&err, "the agent is shutting down: ");
		shot_result(a, err);
		return FALSE;
	}
}

/* ---- control requests ---- */

static json_t *do_status(Session *s, GError **error)
{
	NvfmAgent *a = s->agent;
	json_t *migs = json_array();
	json_t *res = json_array();
	g_autoptr(GDir) d = NULL;
	const char *name;
	guint n_sessions;

	g_mutex_lock(&a->mu);
	n_sessions = a->sessions->len;
	for (guint i = 0; i < a->sessions->len; i++) {
		Session *o = g_ptr_array_index(a->sessions, i);

		if (o->mig_id)
			json_array_append_new(migs, migration_json(o));
	}
	g_mutex_unlock(&a->mu);
	g_mutex_lock(&a->res_mu);
	d = g_dir_open(a->res_dir, 0, NULL);
	while (d && (name = g_dir_read_name(d))) {
		g_autofree char *p = g_build_filename(a->res_dir, name, NULL);
		json_t *r = g_str_has_suffix(name, ".json") ? read_json_file(p) : NULL;

		if (r)
			json_array_append_new(res, r);
	}
	g_mutex_unlock(&a->res_mu);
	return json_pack("{s:s, s:s, s:s, s:s, s:b, s:b, s:i, s:i, s:o, s:o, s:s?}",
			 "host", g_get_host_name(), "version", NVFM_VERSION, "address",
			 nvfm_agent_get_address(a), "runtime_dir", a->runtime_dir,
			 "tls", a->tls != NULL, "verify", a->verify,
			 "sessions", (int)n_sessions, "max_sessions", (int)a->max_sessions,
			 "migrations", migs, "reservations", res, "fixed_target",
			 a->fixed_target);
}

static void add_check(json_t *checks, const char *name, gboolean ok, const char *detail)
{
	json_array_append_new(checks, json_pack("{s:s, s:b, s:s}", "check", name, "ok", ok,
						"detail", detail));
}

static json_t *do_preflight(Session *s, json_t *args, GError **error)
{
	NvfmAgent *a = s->agent;
	json_t *checks = json_array();
	json_t *compat = json_object_get(args, "compat");
	const char *target = json_string_value(json_object_get(args, "target"));
	const char *pf = json_string_value(json_object_get(args, "pf"));
	json_int_t nvq = json_integer_value(json_object_get(args, "nvq"));
	json_int_t nvi = json_integer_value(json_object_get(args, "nvi"));
	json_t *target_compat = NULL;
	gboolean all = TRUE;

	if (compat && !json_is_object(compat)) {
		json_decref(checks);
		g_set_error(error, NVFM_ERROR, NVFM_ERROR_INVALID_ARG,
			    "preflight: compat must be an object");
		return NULL;
	}
	if (!target && !pf)
		target = a->fixed_target;
	if (!target && !pf) {
		json_decref(checks);
		g_set_error(error, NVFM_ERROR, NVFM_ERROR_INVALID_ARG,
			    "preflight needs a target device or a PF");
		return NULL;
	}
	if (target) {
		g_autoptr(GError) err = NULL;
		g_autofree char *t = NULL;
		g_autoptr(NvfmDevice) dev = NULL;
		json_auto_t *dst = NULL;
		json_auto_t *targs = json_pack("{s:s}", "target", target);

		t = resolve_target(s, targs, &err);
		dev = t ? nvfm_device_open(t, &err) : NULL;
		add_check(checks, "target-available", dev != NULL,
			  dev ? t : err->message);
		all &= dev != NULL;
		if (dev) {
			dst = nvfm_device_compat_block(dev, &err);
			add_check(checks, "target-migration", dst != NULL,
				  dst ? "VFIO migration supported" : err->message);
			all &= dst != NULL;
		}
		if (dst)
			target_compat = json_incref(dst);
		if (dst && compat) {
			gboolean ok = nvfm_compat_check(compat, dst, &err);

			add_check(checks, "compatible", ok, ok ? "source and target match" :
				  err->message);
			all &= ok;
		}
	}
	if (pf) {
		g_autoptr(GError) err = NULL;
		g_autoptr(NvfmPf) p = nvfm_pf_open(pf, &err);
		g_autoptr(NvfmVfInfo) vf = NULL;
		NvfmPfCaps caps;
		gboolean ok = p && nvfm_pf_get_caps(p, &caps, &err);

		add_check(checks, "pf", ok, ok ? nvfm_pf_address(p) : err->message);
		all &= ok;
		if (ok) {
			vf = nvfm_pf_find_free_vf(p, &err);
			add_check(checks, "free-vf", vf != NULL, vf ? vf->address : err->message);
			all &= vf != NULL;
		}
		if (ok && (nvq > 0 || nvi > 0)) {
			g_autofree char *d = g_strdup_printf("%u VQ and %u VI free, %" JSON_INTEGER_FORMAT
							     " VQ and %" JSON_INTEGER_FORMAT " VI needed",
							     caps.vq.free, caps.vi.free, nvq, nvi);
			gboolean enough = (guint64)MAX(nvq, 0) <= caps.vq.free &&
					  (guint64)MAX(nvi, 0) <= caps.vi.free;

			add_check(checks, "resources", enough, d);
			all &= enough;
		}
	}
	/* the target's own block tells the orchestrator its state size */
	return json_pack("{s:b, s:o, s:o*}", "ok", all, "checks", checks, "target_compat",
			 target_compat);
}

static json_t *do_provision(Session *s, json_t *args, GError **error)
{
	NvfmAgent *a = s->agent;
	const char *pf = json_string_value(json_object_get(args, "pf"));
	json_t *idx = json_object_get(args, "vf_index");
	const char *lease = json_string_value(json_object_get(args, "lease"));
	g_autoptr(NvfmPf) p = NULL;
	g_autoptr(NvfmVfInfo) vf = NULL;
	g_autofree char *id = NULL, *file = NULL;
	json_auto_t *rec = NULL;
	NvfmProvisionOpts po;

	if (!pf) {
		g_set_error(error, NVFM_ERROR, NVFM_ERROR_INVALID_ARG, "provision needs a pf");
		return NULL;
	}
	nvfm_provision_opts_init(&po);
	if (idx)
		po.vf_index = (int)json_integer_value(idx);
	po.nvq = (guint)MAX(json_integer_value(json_object_get(args, "nvq")), 0);
	po.nvi = (guint)MAX(json_integer_value(json_object_get(args, "nvi")), 0);
	po.driver = json_string_value(json_object_get(args, "driver"));
	po.require_migration = json_is_true(json_object_get(args, "require_migration"));
	po.lock_timeout_ms = a->timeout_ms;
	if (lease && strcmp(lease, "session") && strcmp(lease, "kept")) {
		g_set_error(error, NVFM_ERROR, NVFM_ERROR_INVALID_ARG,
			    "lease must be \"session\" or \"kept\", not \"%s\"", lease);
		return NULL;
	}
	p = nvfm_pf_open(pf, error);
	if (!p)
		return NULL;
	vf = nvfm_pf_provision(p, &po, error);
	if (!vf)
		return NULL;
	id = g_strdup_printf("r-%08x%08x", g_random_int(), g_random_int());
	rec = json_pack("{s:s, s:s, s:s, s:s?, s:i, s:i, s:s?, s:s, s:s, s:I}", "reservation", id,
			"pf", nvfm_pf_address(p), "vf", vf->address, "device", vf->device,
			"nvq", (int)vf->nvq, "nvi", (int)vf->nvi, "driver", vf->driver,
			"peer", s->peer, "identity", s->identity ? s->identity : s->peer,
			"created", (json_int_t)(g_get_real_time() / G_USEC_PER_SEC));
	json_object_set_new(rec, "lease", json_string(lease ? lease : "kept"));
	file = g_strdup_printf("%s/%s.json", a->res_dir, id);
	g_mutex_lock(&a->res_mu);
	if (!write_json_file(file, rec, error)) {
		g_mutex_unlock(&a->res_mu);
		nvfm_vf_release(vf->address, NULL);
		return NULL;
	}
	g_mutex_unlock(&a->res_mu);
	if (lease && !strcmp(lease, "session"))
		g_ptr_array_add(s->leases, g_strdup(id));
	agent_log(a, G_LOG_LEVEL_MESSAGE, "reservation %s for %s: %s (%s, %u VQ, %u VI)", id,
		  s->peer, vf->address, vf->device ? vf->device : "no device", vf->nvq, vf->nvi);
	return json_incref(rec);
}

/* "keep": a reservation made with lease "session" outlives its connection
 * (the orchestrator says so just before its commit point). */
static json_t *do_keep(Session *s, json_t *args, GError **error)
{
	NvfmAgent *a = s->agent;
	const char *resv = json_string_value(json_object_get(args, "reservation"));
	g_autofree char *file = NULL;
	json_auto_t *rec = NULL;
	gboolean ok;

	if (!resv) {
		g_set_error(error, NVFM_ERROR, NVFM_ERROR_INVALID_ARG, "keep needs a reservation");
		return NULL;
	}
	rec = reservation_read(a, resv, &file, error);
	if (!rec)
		return NULL;
	json_object_set_new(rec, "lease", json_string("kept"));
	g_mutex_lock(&a->res_mu);
	ok = write_json_file(file, rec, error);
	g_mutex_unlock(&a->res_mu);
	if (!ok)
		return NULL;
	agent_log(a, G_LOG_LEVEL_MESSAGE, "reservation %s kept for %s", resv, s->peer);
	return json_incref(rec);
}

static json_t *do_release(Session *s, json_t *args, GError **error)
{
	NvfmAgent *a = s->agent;
	const char *resv = json_string_value(json_object_get(args, "reservation"));
	const char *vf = json_string_value(json_object_get(args, "vf"));
	g_autofree char *file = NULL;
	g_autofree char *vf_addr = NULL;
	json_auto_t *rec = NULL;

	if (resv) {
		rec = reservation_read(a, resv, &file, error);
		if (!rec)
			return NULL;
		vf_addr = g_strdup(json_string_value(json_object_get(rec, "vf")));
	} else if (vf) {
		vf_addr = g_strdup(vf);
	} else {
		g_set_error(error, NVFM_ERROR, NVFM_ERROR_INVALID_ARG,
			    "release needs a reservation or a vf");
		return NULL;
	}
	if (!nvfm_vf_release(vf_addr, error))
		return NULL;
	g_mutex_lock(&a->res_mu);
	if (file) {
		unlink(file);
	} else {
		/* forget every reservation of that VF */
		g_autoptr(GDir) d = g_dir_open(a->res_dir, 0, NULL);
		const char *name;

		while (d && (name = g_dir_read_name(d))) {
			g_autofree char *p = g_build_filename(a->res_dir, name, NULL);
			json_auto_t *r = read_json_file(p);

			if (r && g_strcmp0(json_string_value(json_object_get(r, "vf")), vf_addr) == 0)
				unlink(p);
		}
	}
	g_mutex_unlock(&a->res_mu);
	agent_log(a, G_LOG_LEVEL_MESSAGE, "released %s%s%s%s for %s", vf_addr,
		  resv ? " (reservation " : "", resv ? resv : "", resv ? ")" : "", s->peer);
	if (resv)
		agent_log(a, G_LOG_LEVEL_INFO, "reservation %s closed", resv);
	return json_pack("{s:s, s:s?}", "vf", vf_addr, "reservation", resv);
}

/* The connection that made "session" reservations is gone: release those
 * not kept since (their orchestrator failed, was killed or lost the link). */
static void end_leases(Session *s)
{
	for (guint i = 0; s->leases && i < s->leases->len; i++) {
		const char *id = g_ptr_array_index(s->leases, i);
		json_auto_t *rec = reservation_read(s->agent, id, NULL, NULL);
		json_auto_t *args = NULL;
		json_auto_t *res = NULL;
		g_autoptr(GError) err = NULL;

		if (!rec || g_strcmp0(json_string_value(json_object_get(rec, "lease")), "session"))
			continue;
		args = json_pack("{s:s}", "reservation", id);
		res = do_release(s, args, &err);
		agent_log(s->agent, res ? G_LOG_LEVEL_MESSAGE : G_LOG_LEVEL_WARNING,
			  "reservation %s ended with its connection: %s%s", id,
			  res ? "released" : "release failed: ", res ? "" : err->message);
	}
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
	if (!peer)
		return FALSE;
	ours = s->agent->verify ? 0
	       : nvfm_channel_get_fd(s->ch) >= 0 ? NVFM_CAP_ZERO_COPY
	       : s->agent->tls ? NVFM_CAP_TLS_INTEGRITY : 0;
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

		req = next_request(s, &id, &op, &args, &err);
		if (!req) {
			if (err && !g_cancellable_is_cancelled(s->cancel)) {
				agent_log(a, G_LOG_LEVEL_WARNING, "%s: %s", s->peer, err->message);
				send_abort(s, err->message, nvfm_error_code_name(err->code), NULL);
			}
			return;
		}
		if (g_cancellable_is_cancelled(s->cancel)) {
			g_set_error(&err, NVFM_ERROR, NVFM_ERROR_CANCELLED,
				    "the agent is shutting down");
			reply_error(s, id, err, NULL);
			return;
		}
		agent_log(a, G_LOG_LEVEL_INFO, "%s: %s", s->peer, op);
		if (strcmp(op, "receive") == 0) {
			if (!do_receive(s, id, args))
				return;
			continue;
		}
		if (strcmp(op, "status") == 0)
			result = do_status(s, &err);
		else if (strcmp(op, "preflight") == 0)
			result = do_preflight(s, args, &err);
		else if (strcmp(op, "provision") == 0 || strcmp(op, "reserve") == 0)
			result = do_provision(s, args, &err);
		else if (strcmp(op, "release") == 0)
			result = do_release(s, args, &err);
		else if (strcmp(op, "keep") == 0)
			result = do_keep(s, args, &err);
		else
			g_set_error(&err, NVFM_ERROR, NVFM_ERROR_INVALID_ARG,
				    "unknown request '%s' (status, preflight, provision, reserve, "
				    "keep, release, receive)", op);
		if (!result && err) {
			agent_log(a, G_LOG_LEVEL_WARNING, "%s: %s failed: %s", s->peer, op,
				  err->message);
			if (!reply_error(s, id, err, NULL))
				return;
			continue;
		}
		if (!reply_ok(s, id, result, NULL))
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
		agent_log(a, G_LOG_LEVEL_WARNING, "%s", err->message);
		goto out;
	}
	g_mutex_lock(&a->mu);
	s->identity = g_steal_pointer(&identity);
	g_mutex_unlock(&a->mu);
	if (!hello_exchange(s, &err)) {
		agent_log(a, G_LOG_LEVEL_WARNING, "refused %s: %s", s->peer, err->message);
		send_abort(s, err->message, nvfm_error_code_name(err->code), "handshake");
		goto out;
	}
	agent_log(a, G_LOG_LEVEL_INFO, "%s connected as %s%s", s->peer, s->identity,
		  (s->caps & NVFM_CAP_ZERO_COPY) ? " (zero-copy)"
		  : (s->caps & NVFM_CAP_TLS_INTEGRITY) ? " (tls-integrity)" : "");
	serve(s);
	agent_log(a, G_LOG_LEVEL_INFO, "%s disconnected", s->peer);
	end_leases(s);
out:
	nvfm_channel_free(g_steal_pointer(&s->ch));
	g_mutex_lock(&a->mu);
	s->finished = TRUE;
	g_mutex_unlock(&a->mu);
	return NULL;
}

static guint active_sessions(NvfmAgent *a)
{
	guint n = 0;

	for (guint i = 0; i < a->sessions->len; i++)
		n += !((Session *)g_ptr_array_index(a->sessions, i))->finished;
	return n;
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

static void accept_one(NvfmAgent *a)
{
	g_autoptr(GError) err = NULL;
	g_autofree char *peer = NULL;
	Session *s;
	guint active;
	int fd = nvfm_listener_accept(a->listener, &peer, &err);

	if (fd < 0) {
		if (err)
			agent_log(a, G_LOG_LEVEL_WARNING, "%s", err->message);
		return;
	}
	g_mutex_lock(&a->mu);
	active = active_sessions(a);
	g_mutex_unlock(&a->mu);
	if (active >= a->max_sessions || (a->one_shot && (active > 0 || a->shot_done))) {
		agent_log(a, G_LOG_LEVEL_WARNING, "refused %s: %s", peer,
			  a->one_shot ? "this receiver takes one transfer"
				      : "too many connections (see --max-sessions)");
		close(fd);
		return;
	}
	s = g_new0(Session, 1);
	s->leases = g_ptr_array_new_with_free_func(g_free);
	s->agent = a;
	s->ctl_fd = fd;
	s->peer = g_steal_pointer(&peer);
	s->cancel = g_cancellable_new();
	s->buf = g_malloc(NVFM_FRAME_MAX_DATA);
	g_mutex_lock(&a->mu);
	g_ptr_array_add(a->sessions, s);
	g_mutex_unlock(&a->mu);
	s->thread = g_thread_new("nvfm-agent-session", session_main, s);
}

gboolean nvfm_agent_run(NvfmAgent *agent, GError **error)
{
	NvfmAgent *a = agent;
	struct pollfd pf[2] = {
		{ .fd = nvfm_listener_get_fd(a->listener), .events = POLLIN },
		{ .fd = a->stop_fd, .events = POLLIN },
	};

	agent_log(a, G_LOG_LEVEL_MESSAGE, "listening on %s (%s%s), runtime directory %s",
		  nvfm_agent_get_address(a),
		  a->tls ? "mutual TLS: " : nvfm_listener_is_unix(a->listener)
		  ? "UNIX socket" : "plain TCP, NOT authenticated (--insecure)",
		  a->tls ? nvfm_tls_describe(a->tls) : "", a->runtime_dir);
	for (;;) {
		int r;

		reap(a);
		r = poll(pf, 2, 500);
		if (r < 0 && errno != EINTR) {
			nvfm_set_error_errno(error, -errno, "poll");
			break;
		}
		if (r <= 0)
			continue;
		if (pf[1].revents)
			break;
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
