/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The QMP client against a scripted peer: the handshake, id matching,
 * events, and every kind of broken or hostile peer. No QEMU needed.
 */
#include <fcntl.h>
#include <string.h>
#include <unistd.h>

#include "src/lib/util/util-private.h"
#include "peer.h"

/* Generous bounds: tests assert outcomes, never speed. */
#define T_MS 5000

static NvfmQmp *connect_peer(Peer *p)
{
	g_autoptr(GError) error = NULL;
	NvfmQmp *qmp = nvfm_qmp_new_for_fd(peer_client_fd(p), T_MS, &error);

	g_assert_no_error(error);
	g_assert_nonnull(qmp);
	return qmp;
}

/* ---- handshake ------------------------------------------------------- */

static void script_greet_oob(Peer *p, gpointer data)
{
	json_t *cmd;

	peer_greet(p, "10.0.2", TRUE);
	cmd = peer_expect(p, "query-status");
	peer_reply(p, cmd, "{\"status\": \"running\", \"running\": true}");
	json_decref(cmd);
}

static void test_handshake_oob(void)
{
	Peer *p = peer_start(script_greet_oob, NULL);
	g_autoptr(NvfmQmp) qmp = connect_peer(p);
	g_autoptr(GError) error = NULL;
	json_auto_t *ret = NULL;
	int major, minor, micro;

	g_assert_true(nvfm_qmp_has_capability(qmp, "oob"));
	nvfm_qmp_get_version(qmp, &major, &minor, &micro);
	g_assert_cmpint(major, ==, 10);
	g_assert_cmpint(minor, ==, 0);
	g_assert_cmpint(micro, ==, 2);
	g_assert_true(nvfm_qmp_version_at_least(qmp, 8, 1, 0));
	g_assert_true(nvfm_qmp_version_at_least(qmp, 10, 0, 2));
	g_assert_false(nvfm_qmp_version_at_least(qmp, 10, 0, 3));
	g_assert_cmpstr(nvfm_qmp_get_transport_name(qmp), ==, "socket");
	g_assert_cmpstr(json_string_value(json_object_get(
		json_object_get(nvfm_qmp_get_greeting(qmp), "version"), "package")), ==, "fake");
	ret = nvfm_qmp_execute(qmp, "query-status", NULL, T_MS, &error);
	g_assert_no_error(error);
	g_assert_cmpstr(json_string_value(json_object_get(ret, "status")), ==, "running");
	peer_join(p);
}

static void script_greet_plain(Peer *p, gpointer data)
{
	peer_greet(p, "7.2.0", FALSE);
}

static void test_handshake_plain(void)
{
	Peer *p = peer_start(script_greet_plain, NULL);
	g_autoptr(NvfmQmp) qmp = connect_peer(p);
	g_autoptr(GError) error = NULL;
	json_t *ret;

	g_assert_false(nvfm_qmp_has_capability(qmp, "oob"));
	g_assert_false(nvfm_qmp_version_at_least(qmp, 8, 1, 0));
	g_assert_true(nvfm_qmp_version_at_least(qmp, 7, 2, 0));
	ret = nvfm_qmp_execute_full(qmp, "migrate-pause", NULL, NULL, 0, NVFM_QMP_EXEC_OOB, T_MS,
				    &error);
	g_assert_null(ret);
	g_assert_error(error, NVFM_ERROR, NVFM_ERROR_NOT_SUPPORTED);
	peer_join(p);
}

static void script_silent(Peer *p, gpointer data)
{
	/* says nothing until the client gives up and closes */
	g_assert_true(peer_wait_eof(p, T_MS));
}

static void test_no_greeting(void)
{
	Peer *p = peer_start(script_silent, NULL);
	g_autoptr(GError) error = NULL;
	NvfmQmp *qmp = nvfm_qmp_new_for_fd(peer_client_fd(p), 200, &error);

	g_assert_null(qmp);
	g_assert_error(error, NVFM_ERROR, NVFM_ERROR_TIMEOUT);
	g_assert_nonnull(strstr(error->message, "greeting"));
	peer_join(p);
}

static void script_not_qmp(Peer *p, gpointer data)
{
	peer_send(p, "SSH-2.0-OpenSSH_9.2\r\n");
	peer_wait_eof(p, T_MS);
}

static void test_not_qmp(void)
{
	Peer *p = peer_start(script_not_qmp, NULL);
	g_autoptr(GError) error = NULL;
	NvfmQmp *qmp = nvfm_qmp_new_for_fd(peer_client_fd(p), T_MS, &error);

	g_assert_null(qmp);
	g_assert_error(error, NVFM_ERROR, NVFM_ERROR_PROTOCOL);
	peer_join(p);
}

static void script_greet_then_refuse(Peer *p, gpointer data)
{
	json_t *cmd;

	peer_send(p, "{\"QMP\": {\"version\": {\"qemu\": {\"micro\": 0, \"minor\": 2, "
		  "\"major\": 7}, \"package\": \"\"}, \"capabilities\": []}}\n");
	cmd = peer_expect(p, "qmp_capabilities");
	peer_reply_error(p, cmd, "CommandNotFound", "Capabilities negotiation is already complete");
	json_decref(cmd);
}

static void test_negotiation_refused(void)
{
	Peer *p = peer_start(script_greet_then_refuse, NULL);
	g_autoptr(GError) error = NULL;
	NvfmQmp *qmp = nvfm_qmp_new_for_fd(peer_client_fd(p), T_MS, &error);

	g_assert_null(qmp);
	g_assert_error(error, NVFM_ERROR, NVFM_ERROR_QMP);
	g_assert_cmpint(nvfm_qmp_error_class(error), ==, NVFM_QMP_ERROR_CLASS_COMMAND_NOT_FOUND);
	peer_join(p);
}

static void test_connect_unix_and_tcp(void)
{
	g_autofree char *dir = g_dir_make_tmp("nvfm-qmp-XXXXXX", NULL);
	g_autofree char *path = g_build_filename(dir, "qmp.sock", NULL);
	g_autofree char *addr = g_strdup_printf("unix:%s", path);
	g_autofree char *tcp = NULL;
	g_autoptr(GError) error = NULL;
	guint16 port = 0;
	NvfmQmp *qmp;
	Peer *p;

	p = peer_start_unix(path, script_greet_plain, NULL);
	qmp = nvfm_qmp_connect(path, T_MS, &error);
	g_assert_no_error(error);
	nvfm_qmp_free(qmp);
	peer_join(p);

	p = peer_start_unix(path, script_greet_plain, NULL);
	qmp = nvfm_qmp_connect(addr, T_MS, &error);
	g_assert_no_error(error);
	nvfm_qmp_free(qmp);
	peer_join(p);

	p = peer_start_tcp(&port, script_greet_plain, NULL);
	tcp = g_strdup_printf("tcp:127.0.0.1:%u", port);
	qmp = nvfm_qmp_connect(tcp, T_MS, &error);
	g_assert_no_error(error);
	nvfm_qmp_free(qmp);
	peer_join(p);

	p = peer_start_tcp(&port, script_greet_plain, NULL);
	g_free(tcp);
	/* a name, resolved; ::1 may come first where nothing listens */
	tcp = g_strdup_printf("tcp:localhost:%u", port);
	qmp = nvfm_qmp_connect(tcp, T_MS, &error);
	g_assert_no_error(error);
	nvfm_qmp_free(qmp);
	peer_join(p);

	unlink(path);
	qmp = nvfm_qmp_connect(path, T_MS, &error);
	g_assert_null(qmp);
	g_assert_error(error, NVFM_ERROR, NVFM_ERROR_NOT_FOUND);
	g_clear_error(&error);

	qmp = nvfm_qmp_connect("tcp:nohost", T_MS, &error);
	g_assert_error(error, NVFM_ERROR, NVFM_ERROR_INVALID_ARG);
	g_clear_error(&error);
	qmp = nvfm_qmp_connect("tcp:127.0.0.1:99999", T_MS, &error);
	g_assert_error(error, NVFM_ERROR, NVFM_ERROR_INVALID_ARG);
	g_clear_error(&error);
	qmp = nvfm_qmp_connect("", T_MS, &error);
	g_assert_error(error, NVFM_ERROR, NVFM_ERROR_INVALID_ARG);
	g_clear_error(&error);
	rmdir(dir);
}

/* ---- framing --------------------------------------------------------- */

static void script_split(Peer *p, gpointer data)
{
	/* "é" (c3 a9) is split between two writes as well */
	const char *reply_tail = "\", \"running\": true}, \"id\": \"";
	json_t *cmd;
	const char *id;
	g_autofree char *text = NULL;

	peer_greet(p, "10.0.2", TRUE);
	cmd = peer_expect(p, "query-status");
	id = json_string_value(json_object_get(cmd, "id"));
	text = g_strdup_printf("{\"return\": {\"status\": \"caf\xc3\xa9%s%s\"}\r\n", reply_tail, id);
	for (gsize i = 0; text[i]; i++) {
		peer_write(p, text + i, 1);
		if (i % 7 == 0)
			g_usleep(200);
	}
	json_decref(cmd);
}

static void test_split_reads(void)
{
	Peer *p = peer_start(script_split, NULL);
	g_autoptr(NvfmQmp) qmp = connect_peer(p);
	g_autoptr(GError) error = NULL;
	json_auto_t *ret = nvfm_qmp_execute(qmp, "query-status", NULL, T_MS, &error);

	g_assert_no_error(error);
	g_assert_cmpstr(json_string_value(json_object_get(ret, "status")), ==, "caf\xc3\xa9");
	peer_join(p);
}

static void script_coalesced(Peer *p, gpointer data)
{
	json_t *cmd;
	g_autofree char *id = NULL;

	peer_greet(p, "10.0.2", TRUE);
	cmd = peer_expect(p, "stop");
	id = json_dumps(json_object_get(cmd, "id"), JSON_ENCODE_ANY);
	/* an event, a pretty-printed reply and another event in one write */
	peer_sendf(p,
		   "{\"timestamp\": {\"seconds\": 1, \"microseconds\": 2}, \"event\": \"STOP\"}\r\n"
		   "{\n  \"return\": {\n    \"brace}\": \"[{\\\"\"\n  },\n  \"id\": %s\n}\n"
		   "{\"event\": \"X-AFTER\", \"data\": {\"n\": 1}}",
		   id);
	json_decref(cmd);
}

static void test_coalesced(void)
{
	Peer *p = peer_start(script_coalesced, NULL);
	g_autoptr(NvfmQmp) qmp = connect_peer(p);
	g_autoptr(GError) error = NULL;
	g_autoptr(NvfmQmpEvent) stop = NULL;
	g_autoptr(NvfmQmpEvent) after = NULL;
	guint64 seq = nvfm_qmp_event_seq(qmp);
	json_auto_t *ret = nvfm_qmp_execute(qmp, "stop", NULL, T_MS, &error);

	g_assert_no_error(error);
	g_assert_cmpstr(json_string_value(json_object_get(ret, "brace}")), ==, "[{\"");
	stop = nvfm_qmp_wait_event(qmp, "STOP", NULL, NULL, seq, T_MS, &error);
	g_assert_no_error(error);
	g_assert_cmpint(nvfm_qmp_event_get_timestamp_us(stop), ==, 1000002);
	after = nvfm_qmp_wait_event(qmp, "X-AFTER", NULL, NULL, seq, T_MS, &error);
	g_assert_no_error(error);
	g_assert_cmpint(json_integer_value(json_object_get(nvfm_qmp_event_get_data(after), "n")),
			==, 1);
	g_assert_cmpint(nvfm_qmp_event_get_timestamp_us(after), ==, -1);
	g_assert_cmpuint(nvfm_qmp_event_get_seq(after), >, nvfm_qmp_event_get_seq(stop));
	peer_join(p);
}

/* ---- concurrency ----------------------------------------------------- */

static void script_out_of_order(Peer *p, gpointer data)
{
	json_t *a, *b, *first, *second;

	peer_greet(p, "10.0.2", TRUE);
	a = peer_recv(p, T_MS);
	b = peer_recv(p, T_MS);
	g_assert_nonnull(a);
	g_assert_nonnull(b);
	first = a;
	second = b;
	/* answer the later command first, with an event in between */
	peer_sendf(p, "{\"return\": \"for-%s\", \"id\": \"%s\"}\n",
		   json_string_value(json_object_get(second, "execute")),
		   json_string_value(json_object_get(second, "id")));
	peer_event(p, "NOISE", "{}");
	peer_sendf(p, "{\"return\": \"for-%s\", \"id\": \"%s\"}\n",
		   json_string_value(json_object_get(first, "execute")),
		   json_string_value(json_object_get(first, "id")));
	json_decref(a);
	json_decref(b);
}

typedef struct {
	NvfmQmp *qmp;
	const char *command;
	char *result;
	GError *error;
} Call;

static gpointer call_thread(gpointer data)
{
	Call *c = data;
	json_auto_t *ret = nvfm_qmp_execute(c->qmp, c->command, NULL, T_MS, &c->error);

	if (ret)
		c->result = g_strdup(json_string_value(ret));
	return NULL;
}

static void test_out_of_order(void)
{
	Peer *p = peer_start(script_out_of_order, NULL);
	g_autoptr(NvfmQmp) qmp = connect_peer(p);
	Call c1 = { qmp, "cmd-one", NULL, NULL };
	Call c2 = { qmp, "cmd-two", NULL, NULL };
	GThread *t1 = g_thread_new("c1", call_thread, &c1);
	GThread *t2 = g_thread_new("c2", call_thread, &c2);

	g_thread_join(t1);
	g_thread_join(t2);
	g_assert_no_error(c1.error);
	g_assert_no_error(c2.error);
	g_assert_cmpstr(c1.result, ==, "for-cmd-one");
	g_assert_cmpstr(c2.result, ==, "for-cmd-two");
	g_free(c1.result);
	g_free(c2.result);
	peer_join(p);
}

static void script_interleaved(Peer *p, gpointer data)
{
	json_t *cmd;
	g_autofree char *id = NULL;

	peer_greet(p, "10.0.2", TRUE);
	cmd = peer_expect(p, "migrate");
	id = json_dumps(json_object_get(cmd, "id"), JSON_ENCODE_ANY);
	peer_event(p, "MIGRATION", "{\"status\": \"setup\"}");
	peer_sendf(p, "{\"return\": {}, ");
	g_usleep(1000);
	peer_sendf(p, "\"id\": %s}\n", id);
	peer_event(p, "MIGRATION", "{\"status\": \"active\"}");
	peer_event(p, "MIGRATION_PASS", "{\"pass\": 1}");
	peer_event(p, "MIGRATION", "{\"status\": \"pre-switchover\"}");
	json_decref(cmd);
}

static gboolean status_is(const NvfmQmpEvent *ev, gpointer want)
{
	return !g_strcmp0(json_string_value(json_object_get(nvfm_qmp_event_get_data(ev), "status")),
			  want);
}

static void test_interleaved_events(void)
{
	Peer *p = peer_start(script_interleaved, NULL);
	g_autoptr(NvfmQmp) qmp = connect_peer(p);
	g_autoptr(GError) error = NULL;
	g_autoptr(NvfmQmpEvent) ev = NULL;
	g_autoptr(NvfmQmpEvent) setup = NULL;
	g_autoptr(NvfmQmpEvent) none = NULL;
	guint64 seq = nvfm_qmp_event_seq(qmp);
	json_auto_t *ret = nvfm_qmp_execute(qmp, "migrate", NULL, T_MS, &error);
	json_auto_t *as_json = NULL;

	g_assert_no_error(error);
	g_assert_nonnull(ret);
	ev = nvfm_qmp_wait_event(qmp, "MIGRATION", status_is, "pre-switchover", seq, T_MS, &error);
	g_assert_no_error(error);
	g_assert_cmpuint(nvfm_qmp_event_get_seq(ev), ==, seq + 4);
	/* events before the reply still count from the same point */
	setup = nvfm_qmp_wait_event(qmp, "MIGRATION", status_is, "setup", seq, T_MS, &error);
	g_assert_no_error(error);
	g_assert_cmpuint(nvfm_qmp_event_get_seq(setup), ==, seq + 1);
	/* but not once the caller has moved past them */
	none = nvfm_qmp_wait_event(qmp, "MIGRATION", status_is, "setup",
				   nvfm_qmp_event_get_seq(ev), 100, &error);
	g_assert_null(none);
	g_assert_error(error, NVFM_ERROR, NVFM_ERROR_TIMEOUT);
	as_json = nvfm_qmp_event_to_json(ev);
	g_assert_cmpstr(json_string_value(json_object_get(as_json, "event")), ==, "MIGRATION");
	g_assert_true(json_is_object(json_object_get(as_json, "timestamp")));
	peer_join(p);
}

typedef struct {
	GPtrArray *names;
	GMainContext *ctx;
	int notified;
} SubState;

static void on_event(NvfmQmp *qmp, NvfmQmpEvent *ev, gpointer data)
{
	SubState *s = data;

	g_assert_nonnull(qmp);
	g_ptr_array_add(s->names, g_strdup(nvfm_qmp_event_get_name(ev)));
}

static void on_notify(gpointer data)
{
	((SubState *)data)->notified++;
}

static void script_events(Peer *p, gpointer data)
{
	json_t *cmd;

	peer_greet(p, "10.0.2", TRUE);
	cmd = peer_expect(p, "go");
	peer_event(p, "A", NULL);
	peer_event(p, "B", "{\"x\": 1}");
	peer_event(p, "A", NULL);
	peer_event(p, "C", NULL);
	peer_reply(p, cmd, "{}");
	json_decref(cmd);
	cmd = peer_expect(p, "again");
	peer_event(p, "A", NULL);
	peer_reply(p, cmd, "{}");
	json_decref(cmd);
}

static void test_subscribe(void)
{
	Peer *p = peer_start(script_events, NULL);
	g_autoptr(NvfmQmp) qmp = connect_peer(p);
	g_autoptr(GMainContext) ctx = g_main_context_new();
	g_autoptr(GError) error = NULL;
	g_autoptr(NvfmQmpEvent) last = NULL;
	SubState all = { g_ptr_array_new_with_free_func(g_free), ctx, 0 };
	SubState only_a = { g_ptr_array_new_with_free_func(g_free), ctx, 0 };
	json_t *ret;
	guint id_all, id_a;
	gint64 deadline;
	guint64 seq;

	g_main_context_push_thread_default(ctx);
	id_all = nvfm_qmp_subscribe(qmp, NULL, on_event, &all, on_notify);
	id_a = nvfm_qmp_subscribe(qmp, "A", on_event, &only_a, on_notify);
	g_main_context_pop_thread_default(ctx);
	g_assert_cmpuint(id_all, !=, id_a);

	seq = nvfm_qmp_event_seq(qmp);
	ret = nvfm_qmp_execute(qmp, "go", NULL, T_MS, &error);
	g_assert_no_error(error);
	json_decref(ret);
	last = nvfm_qmp_wait_event(qmp, "C", NULL, NULL, seq, T_MS, &error);
	g_assert_no_error(error);
	deadline = g_get_monotonic_time() + T_MS * 1000;
	while (all.names->len < 4 && g_get_monotonic_time() < deadline) {
		if (!g_main_context_iteration(ctx, FALSE))
			g_usleep(1000);
	}
	g_assert_cmpuint(all.names->len, ==, 4);
	g_assert_cmpstr(g_ptr_array_index(all.names, 0), ==, "A");
	g_assert_cmpstr(g_ptr_array_index(all.names, 1), ==, "B");
	g_assert_cmpstr(g_ptr_array_index(all.names, 2), ==, "A");
	g_assert_cmpstr(g_ptr_array_index(all.names, 3), ==, "C");
	while (g_main_context_iteration(ctx, FALSE))
		;
	g_assert_cmpuint(only_a.names->len, ==, 2);

	/* after unsubscribing, queued callbacks are skipped */
	nvfm_qmp_unsubscribe(qmp, id_a);
	g_assert_cmpint(only_a.notified, ==, 1);
	ret = nvfm_qmp_execute(qmp, "again", NULL, T_MS, &error);
	g_assert_no_error(error);
	json_decref(ret);
	while (g_main_context_iteration(ctx, FALSE))
		;
	g_assert_cmpuint(only_a.names->len, ==, 2);
	peer_join(p);
	g_clear_pointer(&qmp, nvfm_qmp_free);
	g_assert_cmpint(all.notified, ==, 1);
	g_ptr_array_unref(all.names);
	g_ptr_array_unref(only_a.names);
}

/* ---- error replies --------------------------------------------------- */

static const char *const classes[] = {
	"GenericError", "CommandNotFound", "DeviceNotActive", "DeviceNotFound",
	"KVMMissingCap", "SomethingNew",
};

static void script_errors(Peer *p, gpointer data)
{
	peer_greet(p, "10.0.2", TRUE);
	for (guint i = 0; i < G_N_ELEMENTS(classes); i++) {
		json_t *cmd = peer_expect(p, "fail");

		peer_reply_error(p, cmd, classes[i], "it broke (badly)\nsecond line");
		json_decref(cmd);
	}
}

static void test_error_classes(void)
{
	static const NvfmQmpErrorClass want[] = {
		NVFM_QMP_ERROR_CLASS_GENERIC, NVFM_QMP_ERROR_CLASS_COMMAND_NOT_FOUND,
		NVFM_QMP_ERROR_CLASS_DEVICE_NOT_ACTIVE, NVFM_QMP_ERROR_CLASS_DEVICE_NOT_FOUND,
		NVFM_QMP_ERROR_CLASS_KVM_MISSING_CAP, NVFM_QMP_ERROR_CLASS_OTHER,
	};
	Peer *p = peer_start(script_errors, NULL);
	g_autoptr(NvfmQmp) qmp = connect_peer(p);

	for (guint i = 0; i < G_N_ELEMENTS(classes); i++) {
		g_autoptr(GError) error = NULL;
		json_t *ret = nvfm_qmp_execute(qmp, "fail", NULL, T_MS, &error);

		g_assert_null(ret);
		g_assert_error(error, NVFM_ERROR, NVFM_ERROR_QMP);
		g_assert_cmpint(nvfm_qmp_error_class(error), ==, want[i]);
		g_assert_null(strchr(error->message, '\n'));
		g_assert_nonnull(strstr(error->message, "it broke"));
		g_assert_nonnull(strstr(error->message, "'fail'"));
		if (want[i] != NVFM_QMP_ERROR_CLASS_OTHER)
			g_assert_nonnull(strstr(error->message, nvfm_qmp_error_class_name(want[i])));
		/* still a QMP error after a caller adds context */
		g_prefix_error(&error, "while testing: ");
		g_assert_cmpint(nvfm_qmp_error_class(error), ==, want[i]);
	}
	g_assert_true(nvfm_qmp_is_connected(qmp));
	peer_join(p);
	{
		g_autoptr(GError) t = g_error_new(NVFM_ERROR, NVFM_ERROR_TIMEOUT, "x (GenericError)");

		g_assert_cmpint(nvfm_qmp_error_class(t), ==, NVFM_QMP_ERROR_CLASS_NONE);
		g_assert_cmpint(nvfm_qmp_error_class(NULL), ==, NVFM_QMP_ERROR_CLASS_NONE);
	}
}

static void script_noid_error(Peer *p, gpointer data)
{
	json_t *cmd;

	peer_greet(p, "10.0.2", TRUE);
	cmd = peer_expect(p, "one");
	/* QEMU's answer to input it could not parse carries no id */
	peer_send(p, "{\"error\": {\"class\": \"GenericError\", \"desc\": \"JSON parse error\"}}\n");
	json_decref(cmd);
	cmd = peer_expect(p, "two");
	peer_send(p, "{\"return\": {}, \"id\": \"somebody-else\"}\n");
	peer_send(p, "{\"return\": {}, \"id\": 42}\n");
	peer_send(p, "{\"neither\": true}\n");
	peer_reply(p, cmd, "\"mine\"");
	json_decref(cmd);
}

static void test_reply_ids(void)
{
	Peer *p = peer_start(script_noid_error, NULL);
	g_autoptr(NvfmQmp) qmp = connect_peer(p);
	g_autoptr(GError) error = NULL;
	json_auto_t *ret = NULL;

	ret = nvfm_qmp_execute(qmp, "one", NULL, T_MS, &error);
	g_assert_null(ret);
	g_assert_error(error, NVFM_ERROR, NVFM_ERROR_QMP);
	g_assert_nonnull(strstr(error->message, "JSON parse error"));
	g_clear_error(&error);
	ret = nvfm_qmp_execute(qmp, "two", NULL, T_MS, &error);
	g_assert_no_error(error);
	g_assert_cmpstr(json_string_value(ret), ==, "mine");
	peer_join(p);
}

/* ---- hostile and broken peers ---------------------------------------- */

typedef struct {
	const char *name;
	const char *bytes;	/* sent instead of the reply */
	gsize len;		/* 0: strlen */
	const char *expect;	/* in the error message */
} Hostile;

static const Hostile hostile[] = {
	{ "garbage", "hello world\n", 0, "where a JSON object should start" },
	{ "non-utf8", "{\"return\": \"\xff\xfe\"}\n", 0, "not valid UTF-8" },
	{ "overlong-utf8", "{\"return\": \"\xc0\xaf\"}\n", 0, "not valid UTF-8" },
	{ "nul-byte", "{\"return\": \"a\0b\"}\n", 18, "not valid UTF-8" },
	{ "escaped-nul", "{\"return\": \"a\\u0000b\"}\n", 0, "malformed JSON" },
	{ "bad-json", "{\"return\": }\n", 0, "malformed JSON" },
	{ "mismatched", "{\"return\": [1, 2}\n", 0, "malformed JSON" },
	{ "duplicate-keys", "{\"return\": 1, \"return\": 2}\n", 0, "malformed JSON" },
	{ "array", "[1, 2, 3]\n", 0, "where a JSON object should start" },
	{ "string", "\"hello\"\n", 0, "where a JSON object should start" },
	{ "closing-first", "}\n", 0, "where a JSON object should start" },
};

static void script_hostile(Peer *p, gpointer data)
{
	const Hostile *h = data;
	json_t *cmd;

	peer_greet(p, "10.0.2", TRUE);
	cmd = peer_expect(p, "query-status");
	peer_write(p, h->bytes, h->len ? h->len : strlen(h->bytes));
	json_decref(cmd);
	/* the client gives up on the connection */
	g_assert_true(peer_wait_eof(p, T_MS));
}

static void test_hostile(gconstpointer data)
{
	const Hostile *h = data;
	Peer *p = peer_start(script_hostile, (gpointer)h);
	g_autoptr(NvfmQmp) qmp = connect_peer(p);
	g_autoptr(GError) error = NULL;
	json_t *ret = nvfm_qmp_execute(qmp, "query-status", NULL, T_MS, &error);

	g_assert_null(ret);
	g_assert_error(error, NVFM_ERROR, NVFM_ERROR_PROTOCOL);
	if (!strstr(error->message, h->expect))
		g_error("%s: unexpected message: %s", h->name, error->message);
	g_assert_false(nvfm_qmp_is_connected(qmp));
	g_clear_error(&error);
	/* later calls fail at once with the same reason */
	ret = nvfm_qmp_execute(qmp, "query-status", NULL, T_MS, &error);
	g_assert_null(ret);
	g_assert_error(error, NVFM_ERROR, NVFM_ERROR_PROTOCOL);
	peer_join(p);
}

static void script_deep(Peer *p, gpointer data)
{
	GString *s = g_string_new("{\"return\": ");
	json_t *cmd;

	peer_greet(p, "10.0.2", TRUE);
	cmd = peer_expect(p, "query-status");
	for (int i = 0; i < 5000; i++)
		g_string_append_c(s, '[');
	peer_write(p, s->str, s->len);
	g_string_free(s, TRUE);
	json_decref(cmd);
	g_assert_true(peer_wait_eof(p, T_MS));
}

static void test_deep_nesting(void)
{
	Peer *p = peer_start(script_deep, NULL);
	g_autoptr(NvfmQmp) qmp = connect_peer(p);
	g_autoptr(GError) error = NULL;
	json_t *ret = nvfm_qmp_execute(qmp, "query-status", NULL, T_MS, &error);

	g_assert_null(ret);
	g_assert_error(error, NVFM_ERROR, NVFM_ERROR_PROTOCOL);
	g_assert_nonnull(strstr(error->message, "nested"));
	peer_join(p);
}

static void script_huge(Peer *p, gpointer data)
{
	gsize total = GPOINTER_TO_SIZE(data);
	g_autofree char *chunk = g_malloc(1 << 20);
	json_t *cmd;
	g_autofree char *id = NULL;
	gsize sent = 0;

	memset(chunk, 'a', 1 << 20);
	peer_greet(p, "10.0.2", TRUE);
	cmd = peer_expect(p, "query-status");
	id = json_dumps(json_object_get(cmd, "id"), JSON_ENCODE_ANY);
	peer_sendf(p, "{\"id\": %s, \"return\": \"", id);
	while (sent < total) {
		gsize n = MIN(total - sent, (gsize)1 << 20);

		peer_write(p, chunk, n);
		sent += n;
	}
	peer_send(p, "\"}\n");
	json_decref(cmd);
	peer_wait_eof(p, T_MS);
}

static void test_oversized_line(void)
{
	/* a 16 MiB line: the string alone is the limit, the framing exceeds it */
	Peer *p = peer_start(script_huge, GSIZE_TO_POINTER(NVFM_QMP_MAX_MESSAGE));
	g_autoptr(NvfmQmp) qmp = connect_peer(p);
	g_autoptr(GError) error = NULL;
	json_t *ret = nvfm_qmp_execute(qmp, "query-status", NULL, 20000, &error);

	g_assert_null(ret);
	g_assert_error(error, NVFM_ERROR, NVFM_ERROR_PROTOCOL);
	g_assert_nonnull(strstr(error->message, "longer than"));
	peer_join(p);
}

static void test_large_reply(void)
{
	gsize n = 4u << 20;
	Peer *p = peer_start(script_huge, GSIZE_TO_POINTER(n));
	g_autoptr(NvfmQmp) qmp = connect_peer(p);
	g_autoptr(GError) error = NULL;
	json_auto_t *ret = nvfm_qmp_execute(qmp, "query-status", NULL, 20000, &error);

	g_assert_no_error(error);
	g_assert_cmpuint(json_string_length(ret), ==, n);
	nvfm_qmp_free(g_steal_pointer(&qmp));
	peer_join(p);
}

static void script_dies(Peer *p, gpointer data)
{
	json_t *cmd;

	peer_greet(p, "10.0.2", TRUE);
	cmd = peer_expect(p, "stop");
	if (data)
		peer_send(p, "{\"return\": {}, \"id\": \"nvf");
	json_decref(cmd);
	peer_hangup(p);
}

static void test_dies_mid_command(void)
{
	Peer *p = peer_start(script_dies, NULL);
	g_autoptr(NvfmQmp) qmp = connect_peer(p);
	g_autoptr(GError) error = NULL;
	json_t *ret = nvfm_qmp_execute(qmp, "stop", NULL, 60000, &error);

	g_assert_null(ret);
	g_assert_error(error, NVFM_ERROR, NVFM_ERROR_IO);
	g_assert_nonnull(strstr(error->message, "closed"));
	g_assert_false(nvfm_qmp_is_connected(qmp));
	peer_join(p);
}

static void test_dies_mid_message(void)
{
	Peer *p = peer_start(script_dies, GINT_TO_POINTER(1));
	g_autoptr(NvfmQmp) qmp = connect_peer(p);
	g_autoptr(GError) error = NULL;
	json_t *ret = nvfm_qmp_execute(qmp, "stop", NULL, 60000, &error);

	g_assert_null(ret);
	g_assert_error(error, NVFM_ERROR, NVFM_ERROR_PROTOCOL);
	g_assert_nonnull(strstr(error->message, "cut short"));
	peer_join(p);
}

static void script_slow(Peer *p, gpointer data)
{
	json_t *slow, *next;

	peer_greet(p, "10.0.2", TRUE);
	slow = peer_expect(p, "slow");
	next = peer_expect(p, "next");
	/* the late reply comes after the client stopped waiting */
	peer_reply(p, slow, "\"late\"");
	peer_reply(p, next, "\"on time\"");
	json_decref(slow);
	json_decref(next);
}

static void test_slow_peer(void)
{
	Peer *p = peer_start(script_slow, NULL);
	g_autoptr(NvfmQmp) qmp = connect_peer(p);
	g_autoptr(GError) error = NULL;
	json_auto_t *ret = NULL;

	ret = nvfm_qmp_execute(qmp, "slow", NULL, 100, &error);
	g_assert_null(ret);
	g_assert_error(error, NVFM_ERROR, NVFM_ERROR_TIMEOUT);
	g_assert_true(nvfm_qmp_is_connected(qmp));
	g_clear_error(&error);
	ret = nvfm_qmp_execute(qmp, "next", NULL, T_MS, &error);
	g_assert_no_error(error);
	g_assert_cmpstr(json_string_value(ret), ==, "on time");
	peer_join(p);
}

static void script_never_reads(Peer *p, gpointer data)
{
	json_t *cmd;

	peer_greet(p, "10.0.2", TRUE);
	cmd = peer_recv(p, T_MS);
	json_decref(cmd);
	/* stop reading; wait for the client to give up */
	g_usleep(100 * 1000);
	while (!peer_wait_eof(p, 50))
		;
}

static void test_peer_stops_reading(void)
{
	Peer *p = peer_start(script_never_reads, NULL);
	g_autoptr(NvfmQmp) qmp = connect_peer(p);
	g_autoptr(GError) error = NULL;
	g_autofree char *big = g_malloc(32u << 20);
	json_auto_t *args = NULL;
	json_t *ret;

	memset(big, 'x', (32u << 20) - 1);
	big[(32u << 20) - 1] = '\0';
	args = json_pack("{s:s}", "blob", big);
	ret = nvfm_qmp_execute(qmp, "hog", args, 300, &error);
	g_assert_null(ret);
	g_assert_error(error, NVFM_ERROR, NVFM_ERROR_TIMEOUT);
	g_assert_false(nvfm_qmp_is_connected(qmp));
	nvfm_qmp_free(g_steal_pointer(&qmp));
	peer_join(p);
}

typedef struct {
	NvfmQmp *qmp;
	GError *error;
} EventWait;

static gpointer event_wait_thread(gpointer data)
{
	EventWait *w = data;
	NvfmQmpEvent *ev = nvfm_qmp_wait_event(w->qmp, "NEVER", NULL, NULL, 0, 60000, &w->error);

	g_assert_null(ev);
	return NULL;
}

static void script_three_then_die(Peer *p, gpointer data)
{
	json_t *a, *b;

	peer_greet(p, "10.0.2", TRUE);
	a = peer_recv(p, T_MS);
	b = peer_recv(p, T_MS);
	g_assert_nonnull(a);
	g_assert_nonnull(b);
	peer_event(p, "SHUTDOWN", "{\"guest\": false}");
	json_decref(a);
	json_decref(b);
	peer_hangup(p);
}

static void test_death_wakes_everyone(void)
{
	Peer *p = peer_start(script_three_then_die, NULL);
	g_autoptr(NvfmQmp) qmp = connect_peer(p);
	g_autoptr(GError) error = NULL;
	g_autoptr(NvfmQmpEvent) shutdown = NULL;
	Call c1 = { qmp, "a", NULL, NULL };
	Call c2 = { qmp, "b", NULL, NULL };
	EventWait w = { qmp, NULL };
	GThread *tw = g_thread_new("w", event_wait_thread, &w);
	GThread *t1 = g_thread_new("c1", call_thread, &c1);
	GThread *t2 = g_thread_new("c2", call_thread, &c2);

	g_thread_join(t1);
	g_thread_join(t2);
	g_thread_join(tw);
	/* 60 s waits, yet everyone is back because the peer went away */
	g_assert_error(c1.error, NVFM_ERROR, NVFM_ERROR_IO);
	g_assert_error(c2.error, NVFM_ERROR, NVFM_ERROR_IO);
	g_assert_error(w.error, NVFM_ERROR, NVFM_ERROR_IO);
	g_clear_error(&c1.error);
	g_clear_error(&c2.error);
	g_clear_error(&w.error);
	/* an event that arrived before the end can still be waited for */
	shutdown = nvfm_qmp_wait_event(qmp, "SHUTDOWN", NULL, NULL, 0, T_MS, &error);
	g_assert_no_error(error);
	g_assert_false(json_is_true(json_object_get(nvfm_qmp_event_get_data(shutdown), "guest")));
	peer_join(p);
}

/* ---- file descriptors ------------------------------------------------ */

static void script_fds(Peer *p, gpointer data)
{
	json_t *cmd, *args;
	int fd;

	peer_greet(p, "10.0.2", TRUE);
	cmd = peer_expect(p, "getfd");
	args = json_object_get(cmd, "arguments");
	g_assert_cmpstr(json_string_value(json_object_get(args, "fdname")), ==, "mig");
	fd = peer_take_fd(p);
	g_assert_cmpint(fd, >=, 0);
	g_assert_cmpint(write(fd, "getfd", 5), ==, 5);
	close(fd);
	peer_reply(p, cmd, "{}");
	json_decref(cmd);

	cmd = peer_expect(p, "add-fd");
	args = json_object_get(cmd, "arguments");
	g_assert_cmpint(json_integer_value(json_object_get(args, "fdset-id")), ==, 3);
	g_assert_cmpstr(json_string_value(json_object_get(args, "opaque")), ==, "note");
	fd = peer_take_fd(p);
	g_assert_cmpint(fd, >=, 0);
	g_assert_cmpint(write(fd, "add-fd", 6), ==, 6);
	close(fd);
	peer_reply(p, cmd, "{\"fdset-id\": 3, \"fd\": 27}");
	json_decref(cmd);
}

static void test_pass_fds(void)
{
	Peer *p = peer_start(script_fds, NULL);
	g_autoptr(NvfmQmp) qmp = connect_peer(p);
	g_autoptr(GError) error = NULL;
	char buf[32] = { 0 };
	gint64 set = 0, qfd = 0;
	int pipefd[2];

	g_assert_cmpint(pipe(pipefd), ==, 0);
	g_assert_true(nvfm_qmp_getfd(qmp, "mig", pipefd[1], T_MS, &error));
	g_assert_no_error(error);
	g_assert_true(nvfm_qmp_add_fd(qmp, pipefd[1], 3, "note", &set, &qfd, T_MS, &error));
	g_assert_no_error(error);
	g_assert_cmpint(set, ==, 3);
	g_assert_cmpint(qfd, ==, 27);
	close(pipefd[1]);
	g_assert_cmpint(read(pipefd[0], buf, sizeof(buf) - 1), ==, 11);
	g_assert_cmpstr(buf, ==, "getfdadd-fd");
	close(pipefd[0]);
	g_assert_false(nvfm_qmp_getfd(qmp, "bad", 9999, T_MS, &error));
	g_assert_error(error, NVFM_ERROR, NVFM_ERROR_INVALID_ARG);
	peer_join(p);
}

/* ---- argument checks ------------------------------------------------- */

static void script_args(Peer *p, gpointer data)
{
	json_t *cmd;

	peer_greet(p, "10.0.2", TRUE);
	cmd = peer_expect(p, "with-args");
	g_assert_cmpint(json_integer_value(json_object_get(json_object_get(cmd, "arguments"), "n")),
			==, 5);
	peer_reply(p, cmd, "{}");
	json_decref(cmd);
	cmd = peer_expect(p, "migrate-pause");
	g_assert_nonnull(json_object_get(cmd, "exec-oob"));
	peer_reply(p, cmd, "{}");
	json_decref(cmd);
}

static void test_arguments(void)
{
	Peer *p = peer_start(script_args, NULL);
	g_autoptr(NvfmQmp) qmp = connect_peer(p);
	g_autoptr(GError) error = NULL;
	json_auto_t *arr = json_array();
	json_t *ret;

	ret = nvfm_qmp_execute_json(qmp, "x", "[1]", T_MS, &error);
	g_assert_error(error, NVFM_ERROR, NVFM_ERROR_INVALID_ARG);
	g_clear_error(&error);
	ret = nvfm_qmp_execute_json(qmp, "x", "{bad", T_MS, &error);
	g_assert_error(error, NVFM_ERROR, NVFM_ERROR_INVALID_ARG);
	g_clear_error(&error);
	ret = nvfm_qmp_execute(qmp, "x", arr, T_MS, &error);
	g_assert_error(error, NVFM_ERROR, NVFM_ERROR_INVALID_ARG);
	g_clear_error(&error);
	ret = nvfm_qmp_execute(qmp, "", NULL, T_MS, &error);
	g_assert_error(error, NVFM_ERROR, NVFM_ERROR_INVALID_ARG);
	g_clear_error(&error);
	ret = nvfm_qmp_execute_json(qmp, "with-args", "{\"n\": 5}", T_MS, &error);
	g_assert_no_error(error);
	json_decref(ret);
	ret = nvfm_qmp_execute_full(qmp, "migrate-pause", NULL, NULL, 0, NVFM_QMP_EXEC_OOB, T_MS,
				    &error);
	g_assert_no_error(error);
	json_decref(ret);
	peer_join(p);
}

static void test_libvirt_unavailable(void)
{
	g_autoptr(GError) error = NULL;
	NvfmQmp *qmp;

	/* the test driver has no QEMU monitor; without libvirt at all the
	 * transport says so */
	qmp = nvfm_qmp_connect_libvirt("test:///default", "test", T_MS, &error);
	g_assert_null(qmp);
	g_assert_nonnull(error);
	g_assert_true(error->code == NVFM_ERROR_NOT_SUPPORTED || error->code == NVFM_ERROR_QMP ||
		      error->code == NVFM_ERROR_FAILED);
	g_clear_error(&error);
	qmp = nvfm_qmp_connect_libvirt("test:///default", "no-such-domain", T_MS, &error);
	g_assert_null(qmp);
	g_assert_true(g_error_matches(error, NVFM_ERROR, NVFM_ERROR_NOT_FOUND) ||
		      g_error_matches(error, NVFM_ERROR, NVFM_ERROR_NOT_SUPPORTED));
}

int main(int argc, char **argv)
{
	g_test_init(&argc, &argv, NULL);
	g_test_add_func("/qmp/handshake/oob", test_handshake_oob);
	g_test_add_func("/qmp/handshake/plain", test_handshake_plain);
	g_test_add_func("/qmp/handshake/no-greeting", test_no_greeting);
	g_test_add_func("/qmp/handshake/not-qmp", test_not_qmp);
	g_test_add_func("/qmp/handshake/refused", test_negotiation_refused);
	g_test_add_func("/qmp/connect/unix-and-tcp", test_connect_unix_and_tcp);
	g_test_add_func("/qmp/framing/split-reads", test_split_reads);
	g_test_add_func("/qmp/framing/coalesced", test_coalesced);
	g_test_add_func("/qmp/framing/large-reply", test_large_reply);
	g_test_add_func("/qmp/framing/oversized-line", test_oversized_line);
	g_test_add_func("/qmp/framing/deep-nesting", test_deep_nesting);
	for (guint i = 0; i < G_N_ELEMENTS(hostile); i++) {
		g_autofree char *path = g_strdup_printf("/qmp/hostile/%s", hostile[i].name);

		g_test_add_data_func(path, &hostile[i], test_hostile);
	}
	g_test_add_func("/qmp/ids/out-of-order", test_out_of_order);
	g_test_add_func("/qmp/ids/reply-ids", test_reply_ids);
	g_test_add_func("/qmp/events/interleaved", test_interleaved_events);
	g_test_add_func("/qmp/events/subscribe", test_subscribe);
	g_test_add_func("/qmp/errors/classes", test_error_classes);
	g_test_add_func("/qmp/errors/arguments", test_arguments);
	g_test_add_func("/qmp/peer/dies-mid-command", test_dies_mid_command);
	g_test_add_func("/qmp/peer/dies-mid-message", test_dies_mid_message);
	g_test_add_func("/qmp/peer/slow", test_slow_peer);
	g_test_add_func("/qmp/peer/stops-reading", test_peer_stops_reading);
	g_test_add_func("/qmp/peer/death-wakes-everyone", test_death_wakes_everyone);
	g_test_add_func("/qmp/fds/getfd-add-fd", test_pass_fds);
	g_test_add_func("/qmp/libvirt/unavailable", test_libvirt_unavailable);
	return g_test_run();
}
