/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The agent's "receive": a peer's device state restored into a local
 * device, the transfer's record under the runtime directory while it is
 * in flight, progress, and the commit confirmation.
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

/* ---- transfers ---- */

/* the journal fields of a line about the migration in flight on @s */
#define MIG_FIELDS(s, ph) \
	(&(const NvfmLogFields){ .migration_id = (s)->mig_id, .vf = (s)->target, .phase = (ph) })

static const char *phase_name(int phase)
{
	return phase == NVFM_PHASE_PRECOPY ? "precopy" : "stop-copy";
}

/* The fields of a running migration are the ones the source's
 * "nvme-vf-migrate status" lists (migrate/publish.c): phase, bytes and
 * total of the phase, rate in bytes/s, elapsed seconds. */
json_t *agent_migration_json(Session *s)
{
	gint64 now = g_get_monotonic_time();
	double phase_s = s->phase_started ? (now - s->phase_started) / 1e6 : 0;

	return json_pack("{s:s, s:s, s:s, s:s, s:s, s:I, s:I, s:I, s:f, s:f, s:I, s:i}",
			 "id", s->mig_id, "peer", s->peer, "identity",
			 s->identity ? s->identity : s->peer, "target", s->target,
			 "phase", s->phase, "bytes", (json_int_t)s->phase_bytes,
			 "total", (json_int_t)s->phase_total, "total_bytes", (json_int_t)s->bytes,
			 "rate", phase_s > 0 ? s->phase_bytes / phase_s : 0.0,
			 "elapsed", (g_get_real_time() - s->started) / 1e6,
			 "started", (json_int_t)(s->started / G_USEC_PER_SEC),
			 "agent_pid", (int)getpid());
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
	obj = agent_migration_json(s);
	g_mutex_unlock(&s->agent->mu);
	file = g_build_filename(s->mig_path, "state.json", NULL);
	if (!nvfm_json_write_runtime(file, obj, &err))
		agent_log_about(s->agent, G_LOG_LEVEL_WARNING, MIG_FIELDS(s, s->phase), "migration %s: %s", s->mig_id, err->message);
}

/* A phase of this receive begins now (or at @us when >= 0). */
static void mark(Session *s, const char *phase, gint64 us)
{
	gsize n;

	if (!s->marks)
		s->marks = json_array();
	n = json_array_size(s->marks);
	if (n && !g_strcmp0(phase, json_string_value(json_array_get(json_array_get(s->marks,
									    n - 1), 0))))
		return;
	json_array_append_new(s->marks, json_pack("[s, I]", phase,
						  (json_int_t)(us >= 0 ? us : nvfm_now_us())));
}

/* The marks as phases with a start and an end (the next one's start, the
 * last one's @end_us), on this host's clock. */
static json_t *marks_json(Session *s, gint64 end_us)
{
	json_t *arr = json_array();
	json_t *m;
	gsize i;

	json_array_foreach(s->marks, i, m) {
		json_t *next = json_array_get(s->marks, i + 1);
		json_int_t start = json_integer_value(json_array_get(m, 1));
		json_int_t end = next ? json_integer_value(json_array_get(next, 1)) : end_us;

		json_array_append_new(arr, json_pack("{s:s, s:I, s:I}", "phase",
						     json_string_value(json_array_get(m, 0)),
						     "start_us", start, "end_us", MAX(end, start)));
	}
	return arr;
}

static void set_phase(Session *s, const char *phase)
{
	mark(s, phase, -1);
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
	s->bytes = s->phase_bytes = s->phase_total = 0;
	s->phase_started = 0;
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
		agent_remove_dir(s->mig_path);
	g_mutex_lock(&s->agent->mu);
	g_clear_pointer(&s->mig_path, g_free);
	g_clear_pointer(&s->mig_id, g_free);
	g_clear_pointer(&s->target, g_free);
	s->phase = NULL;
	g_clear_pointer(&s->marks, json_decref);
	s->commit_request_us = 0;
	g_mutex_unlock(&s->agent->mu);
}

static void on_progress(int phase, guint64 done, guint64 total, gpointer data)
{
	Session *s = data;
	gboolean changed;

	mark(s, phase_name(phase), -1);
	g_mutex_lock(&s->agent->mu);
	changed = phase != s->phase_num;
	if (changed) {
		s->phase_bytes = 0;
		s->phase_started = g_get_monotonic_time();
	}
	s->bytes += done - s->phase_bytes;
	s->phase_bytes = done;
	s->phase_total = total;
	s->phase_num = phase;
	if (changed)
		s->phase = phase_name(phase);
	g_mutex_unlock(&s->agent->mu);
	if (changed)
		save_migration(s);
	if (s->agent->progress)
		s->agent->progress(phase, done, total, s->agent->progress_data);
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
	if (!agent_reply_ok(s, s->req_id, g_steal_pointer(&res), error))
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
	s->commit_request_us = nvfm_now_us();
	if (strcmp(op, "commit") != 0 || id != s->req_id) {
		g_set_error(error, NVFM_ERROR, NVFM_ERROR_PROTOCOL,
			    "expected the sender's commit after the TRAILER, got '%s'", op);
		return FALSE;
	}
	return TRUE;
}

/* Swallow what the client still sends, until it hangs up or time runs out;
 * a client that went silent sends nothing more and reads no ABORT. Reads
 * take only what is there: a pause in the client's bytes is no silence. */
static void drain(Session *s)
{
	gint64 deadline = nvfm_now_us() + (gint64)MIN(DRAIN_MS, s->agent->timeout_ms) * 1000;

	while (nvfm_now_us() < deadline && !g_cancellable_is_cancelled(s->cancel) &&
	       !nvfm_channel_is_silent(s->ch)) {
		gsize got = 0;

		if (!nvfm_channel_readable(s->ch, 200))
			continue;
		if (nvfm_channel_try_read(s->ch, s->buf, NVFM_FRAME_MAX_DATA, &got, NULL) < 0)
			break;
	}
}

/* A device a peer names: a VF or an emulated device. "fd:N" would name one
 * of our own descriptors, so never from a peer. */
static NvfmAddress *peer_device(const char *text, GError **error)
{
	g_autoptr(NvfmAddress) addr = nvfm_address_parse(text, error);

	if (!addr)
		return NULL;
	if (addr->kind != NVFM_ADDR_PCI && addr->kind != NVFM_ADDR_EMU) {
		g_set_error(error, NVFM_ERROR, NVFM_ERROR_INVALID_ARG,
			    "target '%s' is not a VF (vfio:DDDD:BB:DD.F or a PCI address) or "
			    "an emulated device (emu:NAME)", text);
		return NULL;
	}
	return g_steal_pointer(&addr);
}

NvfmAddress *agent_resolve_target(Session *s, json_t *args, GError **error)
{
	NvfmAgent *a = s->agent;
	const char *text = json_string_value(json_object_get(args, "target"));
	const char *resv = json_string_value(json_object_get(args, "reservation"));
	g_autoptr(NvfmAddress) target = NULL;

	if (text && !(target = peer_device(text, error)))
		return NULL;
	if (resv) {
		json_auto_t *r = agent_reservation_open(s, resv, error);
		const char *dev = r ? json_string_value(json_object_get(r, "device")) : NULL;
		g_autoptr(NvfmAddress) reserved = NULL;

		if (!r)
			return NULL;
		if (!dev || !(reserved = nvfm_address_parse(dev, NULL))) {
			g_set_error(error, NVFM_ERROR, NVFM_ERROR_NOT_FOUND,
				    "reservation '%s' has no device to restore into", resv);
			return NULL;
		}
		if (target && !nvfm_address_equal(target, reserved)) {
			g_set_error(error, NVFM_ERROR, NVFM_ERROR_INVALID_ARG,
				    "reservation %s is %s, not %s", resv, reserved->text, target->text);
			return NULL;
		}
		return g_steal_pointer(&reserved);
	}
	if (target && !agent_target_usable(s, target, error))
		return NULL;
	if (a->fixed_target) {
		if (target && !nvfm_address_equal(target, a->fixed_target)) {
			g_set_error(error, NVFM_ERROR, NVFM_ERROR_INVALID_ARG,
				    "this receiver only restores into %s, not %s",
				    a->fixed_target->text, target->text);
			return NULL;
		}
		return nvfm_address_copy(a->fixed_target);
	}
	if (!target) {
		g_set_error(error, NVFM_ERROR, NVFM_ERROR_INVALID_ARG,
			    "receive needs a target device or a reservation");
		return NULL;
	}
	/* a reservation's VF and the operator's fixed target are ours; a
	 * device the peer names is checked before anything opens it */
	if (!agent_may_use_device(a, target, error))
		return NULL;
	return g_steal_pointer(&target);
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

/* The sender asked with its "receive" that the reservation be kept once
 * the device runs: done here, before the answer, so the sender needs no
 * round trip of its own in its pause window. A failure only says
 * "kept": false; the sender then asks with "keep" itself. */
static void keep_asked(Session *s, json_t *args, json_t *res)
{
	const char *resv = json_string_value(json_object_get(args, "reservation"));
	g_autoptr(GError) err = NULL;
	json_auto_t *rec = NULL;

	if (!json_is_true(json_object_get(args, "keep")) || !resv ||
	    !json_is_true(json_object_get(args, "run")))
		return;
	rec = agent_reservation_keep(s, resv, &err);
	if (!rec)
		agent_log_about(s->agent, G_LOG_LEVEL_WARNING, MIG_FIELDS(s, "done"),
				"migration %s: keeping reservation %s: %s", s->mig_id, resv,
				err->message);
	json_object_set_new(res, "kept", json_boolean(rec != NULL));
}

/* Returns FALSE when the connection cannot carry another request. */
gboolean agent_do_receive(Session *s, json_int_t id, json_t *args)
{
	NvfmAgent *a = s->agent;
	g_autoptr(NvfmAddress) addr = NULL;
	const char *target;
	g_autoptr(NvfmDevice) dev = NULL;
	g_autoptr(GError) err = NULL;
	GError *io = NULL;
	NvfmLoadOptions lo;
	NvfmTransferStats st;
	NvfmMigState state = NVFM_MIG_STATE_ERROR;
	gboolean unchecked, ok;
	const char *phase;

	unchecked = s->caps && json_is_true(json_object_get(args, "unchecked"));
	addr = agent_resolve_target(s, args, &err);
	target = addr ? addr->text : NULL;
	if (!addr || !begin_migration(s, target, &err)) {
		agent_log(a, G_LOG_LEVEL_WARNING, "receive from %s refused: %s", s->peer,
			  err->message);
		shot_result(a, err);
		return agent_reply_error(s, id, err, NULL);
	}
	dev = nvfm_device_open(addr, &err);
	if (!dev) {
		agent_log_about(a, G_LOG_LEVEL_WARNING, MIG_FIELDS(s, "handshake"), "migration %s from %s refused: %s", s->mig_id,
			  s->peer, err->message);
		end_migration(s);
		shot_result(a, err);
		return agent_reply_error(s, id, err, NULL);
	}
	agent_log_about(a, G_LOG_LEVEL_MESSAGE, MIG_FIELDS(s, "handshake"), "migration %s: %s (%s) -> %s%s%s%s%s", s->mig_id, s->peer,
		  s->identity ? s->identity : "-", target,
		  !unchecked ? "" : (s->caps & NVFM_CAP_ZERO_COPY) ? ", zero-copy"
		  : ", TLS-authenticated data",
		  nvfm_channel_record_layer(s->ch) ? " [records: " : "",
		  nvfm_channel_record_layer(s->ch) ? nvfm_channel_record_layer(s->ch) : "",
		  nvfm_channel_record_layer(s->ch) ? "]" : "");
	set_phase(s, "handshake");
	s->req_id = id;
	if (!agent_reply_ok(s, id, json_pack("{s:s, s:s, s:s, s:b}", "stage", "ready", "migration",
				       s->mig_id, "target", target, "unchecked", unchecked), &io)) {
		agent_log_about(a, G_LOG_LEVEL_WARNING, MIG_FIELDS(s, "handshake"), "migration %s: %s", s->mig_id, io->message);
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

		/* the device's commit (RESUMING -> STOP) began at the sender's
		 * word; what followed it was the start */
		if (lo.run && s->commit_request_us)
			mark(s, "run", s->commit_request_us + st.commit_us);
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
		/* this host's phases and clock, for the sender's timeline: it
		 * aligns the clocks from when it sent the commit and when this
		 * reply arrived (NTP's four times) */
		json_object_set_new(res, "phases", marks_json(s, nvfm_now_us()));
		json_object_set_new(res, "commit_request_us", json_integer(s->commit_request_us));
		keep_asked(s, args, res);
		json_object_set_new(res, "clock_us", json_integer(nvfm_now_us()));
		agent_log_about(a, G_LOG_LEVEL_MESSAGE, MIG_FIELDS(s, "done"),
			  "migration %s: %" G_GUINT64_FORMAT " bytes into %s in %.3f s "
			  "(%.1f MiB/s), %s, device %s", s->mig_id, st.total_bytes, target, secs,
			  secs > 0 ? st.total_bytes / secs / (1 << 20) : 0.0,
			  st.zero_copy_bytes ? "zero-copy"
			  : st.unchecked_bytes ? "TLS-authenticated" : "sha256 verified",
			  nvfm_mig_state_name(state));
		if (!agent_reply_ok(s, id, res, &io)) {
			agent_log_about(a, G_LOG_LEVEL_WARNING, MIG_FIELDS(s, "done"), "migration %s: sending the result: %s",
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

		agent_send_abort(s, reason, nvfm_error_code_name(stopping ? NVFM_ERROR_CANCELLED
							       : err->domain == NVFM_ERROR ? err->code
							       : NVFM_ERROR_FAILED), phase);
		agent_log_about(a, G_LOG_LEVEL_WARNING, MIG_FIELDS(s, phase), "migration %s from %s failed in %s: %s; %s %s",
			  s->mig_id, s->peer, phase, reason, target,
			  touched ? "reset" : "untouched");
		/* the device and its record are free for others at once, not
		 * after the drain */
		g_clear_pointer(&dev, nvfm_device_close);
		end_migration(s);
		if (!stopping)
			drain(s);
		if (stopping)
			g_prefix_error(&err, "the agent is shutting down: ");
		shot_result(a, err);
		return FALSE;
	}
}
