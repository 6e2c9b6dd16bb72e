/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * VM operations against a fake QEMU that answers from a script: the
 * decisions vm.c makes (event or state as proof, version gates, read-back,
 * progress parsing, PCI lookup) without a real QEMU.
 */
#include <string.h>

#include "src/lib/util/util-private.h"
#include "peer.h"

#define T_MS 5000

/* A fake QEMU: answers every command through @respond until EOF. */
typedef struct {
	const char *version;
	/* returns the reply JSON ("return" value), or NULL after replying
	 * itself; may send events first */
	const char *(*respond)(Peer *p, json_t *cmd, const char *name, gpointer data);
	gpointer data;
	GPtrArray *seen;	/* command names, in order */
	GMutex lock;
} Fake;

static void fake_script(Peer *p, gpointer data)
{
	Fake *f = data;
	json_t *cmd;

	peer_greet(p, f->version, TRUE);
	while ((cmd = peer_recv(p, 10000))) {
		const char *name = json_string_value(json_object_get(cmd, "execute"));
		const char *ret;

		g_mutex_lock(&f->lock);
		g_ptr_array_add(f->seen, g_strdup(name));
		g_mutex_unlock(&f->lock);
		ret = f->respond(p, cmd, name, f->data);
		if (ret)
			peer_reply(p, cmd, ret);
		json_decref(cmd);
	}
}

static NvfmQmp *fake_start(Fake *f, Peer **peer)
{
	g_autoptr(GError) error = NULL;
	NvfmQmp *qmp;

	f->seen = g_ptr_array_new_with_free_func(g_free);
	g_mutex_init(&f->lock);
	*peer = peer_start(fake_script, f);
	qmp = nvfm_qmp_new_for_fd(peer_client_fd(*peer), T_MS, &error);
	g_assert_no_error(error);
	return qmp;
}

static void fake_finish(Fake *f, Peer *p, NvfmQmp *qmp)
{
	nvfm_qmp_free(qmp);
	peer_join(p);
	g_ptr_array_unref(f->seen);
	g_mutex_clear(&f->lock);
}

static gboolean fake_saw(Fake *f, const char *name)
{
	gboolean found = FALSE;

	g_mutex_lock(&f->lock);
	for (guint i = 0; i < f->seen->len && !found; i++)
		found = !g_strcmp0(g_ptr_array_index(f->seen, i), name);
	g_mutex_unlock(&f->lock);
	return found;
}

/* ---- pause and resume ------------------------------------------------ */

typedef struct {
	gboolean running;
	gboolean event_after_reply;	/* libvirt delivers events separately */
	gboolean never_stops;
	gboolean inmigrate;
} RunState;

static const char *run_respond(Peer *p, json_t *cmd, const char *name, gpointer data)
{
	RunState *s = data;

	if (!strcmp(name, "query-status")) {
		if (s->inmigrate)
			return "{\"status\": \"inmigrate\", \"running\": false}";
		return s->running ? "{\"status\": \"running\", \"running\": true}"
				  : "{\"status\": \"paused\", \"running\": false}";
	}
	if (!strcmp(name, "stop") || !strcmp(name, "cont")) {
		gboolean stop = !strcmp(name, "stop");
		const char *ev = stop ? "STOP" : "RESUME";

		if (s->never_stops) {
			peer_reply(p, cmd, "{}");
			return NULL;
		}
		s->running = !stop;
		if (s->inmigrate)
			return "{}";
		if (s->event_after_reply) {
			peer_reply(p, cmd, "{}");
			g_usleep(20 * 1000);
			peer_event(p, ev, NULL);
			return NULL;
		}
		peer_event(p, ev, NULL);
		return "{}";
	}
	return "{}";
}

static void test_pause_resume_event_late(void)
{
	RunState s = { .running = TRUE, .event_after_reply = TRUE };
	Fake f = { "10.0.2", run_respond, &s };
	g_autoptr(GError) error = NULL;
	Peer *p;
	NvfmQmp *qmp = fake_start(&f, &p);

	g_assert_true(nvfm_vm_pause(qmp, T_MS, &error));
	g_assert_no_error(error);
	g_assert_false(s.running);
	g_assert_true(nvfm_vm_resume(qmp, T_MS, &error));
	g_assert_no_error(error);
	g_assert_true(s.running);
	fake_finish(&f, p, qmp);
}

static void test_pause_already_paused(void)
{
	RunState s = { .running = FALSE };
	Fake f = { "7.2.0", run_respond, &s };
	g_autoptr(GError) error = NULL;
	Peer *p;
	NvfmQmp *qmp = fake_start(&f, &p);

	g_assert_true(nvfm_vm_pause(qmp, T_MS, &error));
	g_assert_no_error(error);
	g_assert_false(fake_saw(&f, "stop"));
	fake_finish(&f, p, qmp);
}

static void test_pause_never_stops(void)
{
	RunState s = { .running = TRUE, .never_stops = TRUE };
	Fake f = { "10.0.2", run_respond, &s };
	g_autoptr(GError) error = NULL;
	Peer *p;
	NvfmQmp *qmp = fake_start(&f, &p);

	g_assert_false(nvfm_vm_pause(qmp, 400, &error));
	g_assert_error(error, NVFM_ERROR, NVFM_ERROR_TIMEOUT);
	if (!strstr(error->message, "STOP"))
		g_error("%s", error->message);
	fake_finish(&f, p, qmp);
}

static void test_resume_incoming(void)
{
	RunState s = { .running = FALSE, .inmigrate = TRUE };
	Fake f = { "10.0.2", run_respond, &s };
	g_autoptr(GError) error = NULL;
	Peer *p;
	NvfmQmp *qmp = fake_start(&f, &p);

	/* "cont" on an incoming VM arms autostart; no RESUME to wait for */
	g_assert_true(nvfm_vm_resume(qmp, 400, &error));
	g_assert_no_error(error);
	g_assert_true(fake_saw(&f, "cont"));
	fake_finish(&f, p, qmp);
}

/* ---- capabilities and parameters ------------------------------------- */

typedef struct {
	json_t *caps;		/* what query-migrate-capabilities reports */
	json_t *params;
	gboolean sticky;	/* ignore sets (a QEMU that does not apply them) */
	char *last;
} Settings;

static const char *settings_respond(Peer *p, json_t *cmd, const char *name, gpointer data)
{
	Settings *s = data;
	json_t *args = json_object_get(cmd, "arguments");

	g_clear_pointer(&s->last, free);
	if (!strcmp(name, "migrate-set-capabilities")) {
		json_t *c;
		gsize i;

		json_array_foreach(json_object_get(args, "capabilities"), i, c) {
			json_t *cur;
			gsize j;

			json_array_foreach(s->caps, j, cur) {
				if (!s->sticky && json_equal(json_object_get(cur, "capability"),
							     json_object_get(c, "capability")))
					json_object_set(cur, "state", json_object_get(c, "state"));
			}
		}
		return "{}";
	}
	if (!strcmp(name, "query-migrate-capabilities"))
		return s->last = json_dumps(s->caps, 0);
	if (!strcmp(name, "migrate-set-parameters")) {
		const char *k;
		json_t *v;

		json_object_foreach(args, k, v) {
			if (s->sticky)
				continue;
			/* QEMU stores a null TLS setting as "" */
			json_object_set_new(s->params, k, json_is_null(v) ? json_string("")
								     : json_incref(v));
		}
		return "{}";
	}
	if (!strcmp(name, "query-migrate-parameters"))
		return s->last = json_dumps(s->params, 0);
	return "{}";
}

static void test_caps_version_gate(void)
{
	Settings s = { 0 };
	Fake f = { "7.2.0", settings_respond, &s };
	g_autoptr(GError) error = NULL;
	NvfmVmMigrationCap want[] = {
		{ "return-path", TRUE }, { "switchover-ack", TRUE },
	};
	NvfmVmMigrationCap off[] = {
		{ "return-path", TRUE }, { "switchover-ack", FALSE },
	};
	Peer *p;
	NvfmQmp *qmp;

	s.caps = json_loads("[{\"capability\": \"return-path\", \"state\": false}]", 0, NULL);
	qmp = fake_start(&f, &p);
	g_assert_false(nvfm_vm_migration_cap_supported(qmp, "switchover-ack"));
	g_assert_true(nvfm_vm_migration_cap_supported(qmp, "pause-before-switchover"));
	g_assert_true(nvfm_vm_migration_cap_supported(qmp, "some-future-cap"));
	g_assert_false(nvfm_vm_set_migration_caps(qmp, want, G_N_ELEMENTS(want), T_MS, &error));
	g_assert_error(error, NVFM_ERROR, NVFM_ERROR_NOT_SUPPORTED);
	g_assert_nonnull(strstr(error->message, "8.1"));
	g_clear_error(&error);
	g_assert_false(fake_saw(&f, "migrate-set-capabilities"));
	/* turning it off on a QEMU without it is a no-op */
	g_assert_true(nvfm_vm_set_migration_caps(qmp, off, G_N_ELEMENTS(off), T_MS, &error));
	g_assert_no_error(error);
	fake_finish(&f, p, qmp);
	json_decref(s.caps);
	free(s.last);
}

static void test_caps_read_back(void)
{
	Settings s = { .sticky = TRUE };
	Fake f = { "10.0.2", settings_respond, &s };
	g_autoptr(GError) error = NULL;
	NvfmVmMigrationCap want = { "events", TRUE };
	Peer *p;
	NvfmQmp *qmp;

	s.caps = json_loads("[{\"capability\": \"events\", \"state\": false}]", 0, NULL);
	qmp = fake_start(&f, &p);
	g_assert_false(nvfm_vm_set_migration_caps(qmp, &want, 1, T_MS, &error));
	g_assert_error(error, NVFM_ERROR, NVFM_ERROR_STATE);
	g_assert_nonnull(strstr(error->message, "events"));
	fake_finish(&f, p, qmp);
	json_decref(s.caps);
	free(s.last);
}

static void test_params_read_back(void)
{
	Settings s = { 0 };
	Fake f = { "10.0.2", settings_respond, &s };
	g_autoptr(GError) error = NULL;
	json_auto_t *good = json_loads("{\"downtime-limit\": 300, \"tls-creds\": null}", 0, NULL);
	json_auto_t *unknown = json_loads("{\"brand-new\": 1}", 0, NULL);
	Peer *p;
	NvfmQmp *qmp;

	s.params = json_loads("{\"downtime-limit\": 100, \"tls-creds\": \"\"}", 0, NULL);
	qmp = fake_start(&f, &p);
	g_assert_true(nvfm_vm_set_migration_params(qmp, good, T_MS, &error));
	g_assert_no_error(error);
	s.sticky = TRUE;
	json_object_set_new(good, "downtime-limit", json_integer(50));
	g_assert_false(nvfm_vm_set_migration_params(qmp, good, T_MS, &error));
	g_assert_error(error, NVFM_ERROR, NVFM_ERROR_STATE);
	g_assert_nonnull(strstr(error->message, "downtime-limit"));
	g_clear_error(&error);
	g_assert_false(nvfm_vm_set_migration_params(qmp, unknown, T_MS, &error));
	g_assert_error(error, NVFM_ERROR, NVFM_ERROR_NOT_SUPPORTED);
	fake_finish(&f, p, qmp);
	json_decref(s.params);
	free(s.last);
}

/* ---- migration progress ---------------------------------------------- */

typedef struct {
	const char *const *statuses;	/* query-migrate answers, in turn */
	guint n;
	const char *event_status;	/* sent once as a MIGRATION event */
	char *buf;
} Progress;

static const char *progress_respond(Peer *p, json_t *cmd, const char *name, gpointer data)
{
	Progress *g = data;

	if (strcmp(name, "query-migrate") != 0)
		return "{}";
	if (g->event_status) {
		g_autofree char *d = g_strdup_printf("{\"status\": \"%s\"}", g->event_status);

		peer_event(p, "MIGRATION", d);
		g->event_status = NULL;
	}
	g_free(g->buf);
	g->buf = g_strdup(g->statuses[MIN(g->n, g_strv_length((char **)g->statuses) - 1)]);
	g->n++;
	return g->buf;
}

static void test_query_migrate_parse(void)
{
	static const char *const answers[] = {
		"{\"status\": \"active\", \"total-time\": 1234, \"expected-downtime\": 42, "
		"\"setup-time\": 3, \"ram\": {\"total\": 134217728, \"transferred\": 1000, "
		"\"remaining\": 5000, \"mbps\": 812.5, \"dirty-pages-rate\": 77, "
		"\"dirty-sync-count\": 4}, \"vfio\": {\"transferred\": 65536}, "
		"\"blocked-reasons\": [\"VFIO migration is not supported in kernel\", \"x\"]}",
		NULL,
	};
	Progress g = { answers };
	Fake f = { "10.0.2", progress_respond, &g };
	g_autoptr(GError) error = NULL;
	g_autoptr(NvfmVmMigrationInfo) info = NULL;
	Peer *p;
	NvfmQmp *qmp = fake_start(&f, &p);

	info = nvfm_vm_query_migration(qmp, T_MS, &error);
	g_assert_no_error(error);
	g_assert_cmpstr(info->status, ==, "active");
	g_assert_cmpint(info->total_time_ms, ==, 1234);
	g_assert_cmpint(info->expected_downtime_ms, ==, 42);
	g_assert_cmpint(info->downtime_ms, ==, -1);
	g_assert_true(info->has_ram);
	g_assert_cmpuint(info->ram_total, ==, 134217728);
	g_assert_cmpuint(info->ram_remaining, ==, 5000);
	g_assert_cmpfloat(info->ram_mbps, ==, 812.5);
	g_assert_cmpuint(info->ram_dirty_sync_count, ==, 4);
	g_assert_true(info->has_vfio);
	g_assert_cmpuint(info->vfio_transferred, ==, 65536);
	g_assert_cmpuint(g_strv_length(info->blocked_reasons), ==, 2);
	g_assert_cmpstr(info->blocked_reasons[0], ==, "VFIO migration is not supported in kernel");
	g_assert_null(info->error_desc);
	g_assert_nonnull(info->raw);
	fake_finish(&f, p, qmp);
	g_free(g.buf);
}

static void test_wait_migration(void)
{
	static const char *const seq_failed[] = {
		"{\"status\": \"setup\"}", "{\"status\": \"active\"}",
		"{\"status\": \"failed\", \"error-desc\": \"Unknown ramblock \\\"x\\\"\"}", NULL,
	};
	static const char *const seq_none[] = { "{}", NULL };
	static const char *const seq_passing[] = {
		"{\"status\": \"active\"}", "{\"status\": \"completed\"}", NULL,
	};
	static const char *const want_done[] = { "completed", NULL };
	static const char *const want_device[] = { "device", NULL };
	g_autoptr(GError) error = NULL;
	g_autofree char *reached = NULL;
	Progress g = { seq_failed };
	Fake f = { "10.0.2", progress_respond, &g };
	Peer *p;
	NvfmQmp *qmp = fake_start(&f, &p);

	g_assert_false(nvfm_vm_wait_migration(qmp, want_done, NULL, T_MS, &error));
	g_assert_error(error, NVFM_ERROR, NVFM_ERROR_FAILED);
	g_assert_nonnull(strstr(error->message, "Unknown ramblock"));
	g_clear_error(&error);

	g.statuses = seq_none;
	g.n = 0;
	g_assert_false(nvfm_vm_wait_migration(qmp, want_done, NULL, 300, &error));
	g_assert_error(error, NVFM_ERROR, NVFM_ERROR_TIMEOUT);
	g_assert_nonnull(strstr(error->message, "none"));
	g_clear_error(&error);

	/* "device" only flashes by as an event; polling alone would miss it */
	g.statuses = seq_passing;
	g.n = 0;
	g.event_status = "device";
	g_assert_true(nvfm_vm_wait_migration(qmp, want_device, &reached, T_MS, &error));
	g_assert_no_error(error);
	g_assert_cmpstr(reached, ==, "device");
	g_clear_pointer(&reached, g_free);

	g.statuses = seq_passing;
	g.n = 0;
	g_assert_false(nvfm_vm_wait_migration(qmp, want_device, NULL, T_MS, &error));
	g_assert_error(error, NVFM_ERROR, NVFM_ERROR_STATE);
	g_clear_error(&error);

	g_assert_false(nvfm_vm_wait_migration(qmp, NULL, NULL, T_MS, &error));
	g_assert_error(error, NVFM_ERROR, NVFM_ERROR_INVALID_ARG);
	fake_finish(&f, p, qmp);
	g_free(g.buf);
}

/* ---- PCI devices ----------------------------------------------------- */

static const char *pci_respond(Peer *p, json_t *cmd, const char *name, gpointer data)
{
	json_t *args = json_object_get(cmd, "arguments");

	if (!strcmp(name, "query-pci"))
		return "[{\"bus\": 0, \"devices\": ["
		       "{\"bus\": 0, \"slot\": 0, \"function\": 0, \"qdev_id\": \"\","
		       " \"class_info\": {\"class\": 1536}, \"id\": {\"vendor\": 32902, \"device\": 10688}},"
		       "{\"bus\": 0, \"slot\": 2, \"function\": 0, \"qdev_id\": \"pci.1\","
		       " \"class_info\": {\"class\": 1540}, \"id\": {\"vendor\": 6966, \"device\": 12},"
		       " \"pci_bridge\": {\"bus\": {\"number\": 0, \"secondary\": 1, \"subordinate\": 1},"
		       "  \"devices\": [{\"bus\": 1, \"slot\": 0, \"function\": 0, \"qdev_id\": \"hostdev0\","
		       "   \"class_info\": {\"class\": 264}, \"id\": {\"vendor\": 6918, \"device\": 4104}}]}},"
		       "{\"bus\": 0, \"slot\": 5, \"function\": 1, \"qdev_id\": \"hostdev1\","
		       " \"class_info\": {\"class\": 264}, \"id\": {\"vendor\": 6918, \"device\": 4104}},"
		       "{\"bus\": 0, \"slot\": 6, \"function\": 0, \"qdev_id\": \"nic0\","
		       " \"class_info\": {\"class\": 512}, \"id\": {\"vendor\": 32902, \"device\": 4307}}"
		       "]}]";
	if (!strcmp(name, "qom-list"))
		return "[{\"name\": \"type\", \"type\": \"string\"},"
		       " {\"name\": \"pci.1\", \"type\": \"child<pcie-root-port>\"},"
		       " {\"name\": \"hostdev0\", \"type\": \"child<vfio-pci>\"},"
		       " {\"name\": \"hostdev1\", \"type\": \"child<vfio-pci>\"},"
		       " {\"name\": \"nic0\", \"type\": \"child<e1000e>\"}]";
	if (!strcmp(name, "qom-get")) {
		const char *path = json_string_value(json_object_get(args, "path"));
		const char *prop = json_string_value(json_object_get(args, "property"));

		if (!strcmp(path, "/machine/peripheral/hostdev0") && !strcmp(prop, "host"))
			return "\"0000:3B:00.2\"";
		if (!strcmp(path, "/machine/peripheral/hostdev1") && !strcmp(prop, "host"))
			return "\"0000:00:00.0\"";
		if (!strcmp(path, "/machine/peripheral/hostdev1") && !strcmp(prop, "sysfsdev"))
			return "\"/sys/bus/pci/devices/0000:3b:00.3\"";
		peer_reply_error(p, cmd, "GenericError", "no such property");
		return NULL;
	}
	if (!strcmp(name, "device_del")) {
		/* DEVICE_DELETED may come before the reply */
		peer_event(p, "DEVICE_DELETED", "{\"path\": \"/machine/peripheral/other\", "
			   "\"device\": \"other\"}");
		peer_event(p, "DEVICE_DELETED", "{\"path\": \"/machine/peripheral/nic0\", "
			   "\"device\": \"nic0\"}");
		return "{}";
	}
	return "{}";
}

static void test_pci_lookup(void)
{
	Fake f = { "10.0.2", pci_respond, NULL };
	g_autoptr(GError) error = NULL;
	g_autoptr(GPtrArray) all = NULL;
	g_autoptr(NvfmVmPciDevice) a = NULL;
	g_autoptr(NvfmVmPciDevice) b = NULL;
	g_autoptr(NvfmVmPciDevice) c = NULL;
	g_autoptr(NvfmVmPciDevice) nic = NULL;
	g_autofree char *addr = NULL;
	json_auto_t *props = json_pack("{s:s, s:s}", "driver", "e1000e", "id", "nic1");
	json_auto_t *bad = json_pack("{s:s}", "id", "x");
	Peer *p;
	NvfmQmp *qmp = fake_start(&f, &p);

	all = nvfm_vm_list_pci_devices(qmp, T_MS, &error);
	g_assert_no_error(error);
	g_assert_cmpuint(all->len, ==, 5);

	a = nvfm_vm_find_vfio_device(qmp, "3b:00.2", T_MS, &error);
	g_assert_no_error(error);
	g_assert_cmpstr(a->qdev_id, ==, "hostdev0");
	g_assert_cmpstr(a->host, ==, "0000:3b:00.2");
	addr = nvfm_vm_pci_device_guest_address(a);
	g_assert_cmpstr(addr, ==, "01:00.0");
	g_assert_cmpuint(a->vendor_id, ==, 0x1b06);
	g_assert_cmpuint(a->class_code, ==, 0x0108);

	b = nvfm_vm_find_vfio_device(qmp, "0000:3B:00.3", T_MS, &error);
	g_assert_no_error(error);
	g_assert_cmpstr(b->qdev_id, ==, "hostdev1");
	g_assert_cmpuint(b->slot, ==, 5);
	g_assert_cmpuint(b->function, ==, 1);

	c = nvfm_vm_find_vfio_device(qmp, "hostdev0", T_MS, &error);
	g_assert_no_error(error);
	g_assert_cmpstr(c->host, ==, "0000:3b:00.2");

	nic = nvfm_vm_find_vfio_device(qmp, "nic0", T_MS, &error);
	g_assert_null(nic);
	g_assert_error(error, NVFM_ERROR, NVFM_ERROR_NOT_FOUND);
	g_clear_error(&error);
	nic = nvfm_vm_find_pci_device(qmp, "nic0", NULL, T_MS, &error);
	g_assert_no_error(error);
	g_assert_cmpstr(nic->type, ==, "e1000e");
	g_assert_null(nic->host);

	g_assert_true(nvfm_vm_device_add(qmp, props, T_MS, &error));
	g_assert_no_error(error);
	g_assert_false(nvfm_vm_device_add(qmp, bad, T_MS, &error));
	g_assert_error(error, NVFM_ERROR, NVFM_ERROR_INVALID_ARG);
	g_clear_error(&error);
	g_assert_true(nvfm_vm_device_del(qmp, "nic0", TRUE, T_MS, &error));
	g_assert_no_error(error);
	fake_finish(&f, p, qmp);
}

int main(int argc, char **argv)
{
	g_test_init(&argc, &argv, NULL);
	g_test_add_func("/vm/pause/event-after-reply", test_pause_resume_event_late);
	g_test_add_func("/vm/pause/already-paused", test_pause_already_paused);
	g_test_add_func("/vm/pause/never-stops", test_pause_never_stops);
	g_test_add_func("/vm/resume/incoming", test_resume_incoming);
	g_test_add_func("/vm/caps/version-gate", test_caps_version_gate);
	g_test_add_func("/vm/caps/read-back", test_caps_read_back);
	g_test_add_func("/vm/params/read-back", test_params_read_back);
	g_test_add_func("/vm/migrate/query-parse", test_query_migrate_parse);
	g_test_add_func("/vm/migrate/wait", test_wait_migration);
	g_test_add_func("/vm/pci/lookup", test_pci_lookup);
	return g_test_run();
}
