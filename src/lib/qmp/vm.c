/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * VM operations over QMP. Each one is a short exchange whose outcome is
 * checked, not assumed: pause waits for STOP (or sees the VM stopped),
 * settings are read back, migration waits follow events and poll as well.
 */
#define G_LOG_DOMAIN "nvfm-vm"

#include <string.h>

#include "qmp-private.h"

/* Poll interval of waits that also follow events. */
#define POLL_MS 100

static int left_ms(gint64 deadline)
{
	return nvfm_qmp_deadline_to_ms(deadline);
}

static gint64 deadline_of(NvfmQmp *qmp, int timeout_ms)
{
	return g_get_monotonic_time() + (gint64)nvfm_qmp_resolve_timeout(qmp, timeout_ms) * 1000;
}

static gboolean run(NvfmQmp *qmp, const char *command, json_t *args, int timeout_ms,
		    GError **error)
{
	json_auto_t *ret = nvfm_qmp_execute(qmp, command, args, timeout_ms, error);

	return ret != NULL;
}

gboolean nvfm_vm_query_status(NvfmQmp *qmp, char **ret_status, gboolean *ret_running,
			      int timeout_ms, GError **error)
{
	json_auto_t *ret = nvfm_qmp_execute(qmp, "query-status", NULL, timeout_ms, error);
	const char *status;

	if (!ret)
		return FALSE;
	status = json_string_value(json_object_get(ret, "status"));
	if (!status || !json_is_boolean(json_object_get(ret, "running"))) {
		g_set_error(error, NVFM_ERROR, NVFM_ERROR_PROTOCOL,
			    "QMP 'query-status' returned no status");
		return FALSE;
	}
	if (ret_status)
		*ret_status = g_strdup(status);
	if (ret_running)
		*ret_running = json_is_true(json_object_get(ret, "running"));
	return TRUE;
}

/*
 * After "stop" or "cont": QEMU emits the event before its reply on a socket,
 * but through libvirt the event travels separately and may come later. Wait
 * for it in short slices and accept the run state itself as proof too.
 */
static gboolean wait_run_state(NvfmQmp *qmp, const char *event, gboolean want_running,
			       guint64 since, gint64 deadline, GError **error)
{
	for (;;) {
		g_autoptr(NvfmQmpEvent) ev = NULL;
		g_autoptr(GError) local = NULL;
		gboolean running;

		ev = nvfm_qmp_wait_event(qmp, event, NULL, NULL, since, MIN(left_ms(deadline), POLL_MS),
					 &local);
		if (ev)
			return TRUE;
		if (!g_error_matches(local, NVFM_ERROR, NVFM_ERROR_TIMEOUT)) {
			g_propagate_error(error, g_steal_pointer(&local));
			return FALSE;
		}
		g_clear_error(&local);
		if (left_ms(deadline) > 0 &&
		    !nvfm_vm_query_status(qmp, NULL, &running, left_ms(deadline), &local) &&
		    !g_error_matches(local, NVFM_ERROR, NVFM_ERROR_TIMEOUT)) {
			g_propagate_error(error, g_steal_pointer(&local));
			return FALSE;
		}
		if (!local && left_ms(deadline) > 0 && running == want_running) {
			g_debug("VM is %s; no %s event seen yet", running ? "running" : "stopped",
				event);
			return TRUE;
		}
		if (local || left_ms(deadline) == 0) {
			g_set_error(error, NVFM_ERROR, NVFM_ERROR_TIMEOUT,
				    "the VM did not %s within the timeout (no %s event)",
				    want_running ? "resume" : "stop", event);
			return FALSE;
		}
	}
}

gboolean nvfm_vm_pause(NvfmQmp *qmp, int timeout_ms, GError **error)
{
	gint64 deadline = deadline_of(qmp, timeout_ms);
	g_autofree char *status = NULL;
	gboolean running;
	guint64 seq;

	if (!nvfm_vm_query_status(qmp, &status, &running, left_ms(deadline), error))
		return FALSE;
	if (!running) {
		g_debug("VM already stopped (%s)", status);
		return TRUE;
	}
	seq = nvfm_qmp_event_seq(qmp);
	if (!run(qmp, "stop", NULL, left_ms(deadline), error))
		return FALSE;
	return wait_run_state(qmp, "STOP", FALSE, seq, deadline, error);
}

gboolean nvfm_vm_resume(NvfmQmp *qmp, int timeout_ms, GError **error)
{
	gint64 deadline = deadline_of(qmp, timeout_ms);
	g_autofree char *status = NULL;
	gboolean running;

	if (!nvfm_vm_query_status(qmp, &status, &running, left_ms(deadline), error))
		return FALSE;
	if (running) {
		g_debug("VM already running");
		return TRUE;
	}
	/* On an incoming VM, "cont" only arms autostart. */
	if (!strcmp(status, "inmigrate"))
		return run(qmp, "cont", NULL, left_ms(deadline), error);
	return nvfm_vm_cont(qmp, left_ms(deadline), error);
}

gboolean nvfm_vm_cont(NvfmQmp *qmp, int timeout_ms, GError **error)
{
	gint64 deadline = deadline_of(qmp, timeout_ms);
	guint64 seq = nvfm_qmp_event_seq(qmp);

	if (!run(qmp, "cont", NULL, left_ms(deadline), error))
		return FALSE;
	return wait_run_state(qmp, "RESUME", TRUE, seq, deadline, error);
}

/* The capabilities this project relies on and the QEMU that added them. */
static const struct {
	const char *name;
	int major, minor;
} cap_since[] = {
	{ "events", 2, 4 },
	{ "return-path", 2, 5 },
	{ "pause-before-switchover", 2, 11 },
	{ "multifd", 4, 0 },
	{ "zero-copy-send", 7, 1 },
	{ "postcopy-preempt", 7, 1 },
	{ "switchover-ack", 8, 1 },
	{ "dirty-limit", 8, 1 },
	{ "mapped-ram", 9, 0 },
};

static gboolean cap_min_version(const char *name, int *major, int *minor)
{
	for (guint i = 0; i < G_N_ELEMENTS(cap_since); i++) {
		if (!strcmp(cap_since[i].name, name)) {
			*major = cap_since[i].major;
			*minor = cap_since[i].minor;
			return TRUE;
		}
	}
	return FALSE;
}

gboolean nvfm_vm_migration_cap_supported(NvfmQmp *qmp, const char *name)
{
	int major, minor, have;

	nvfm_qmp_get_version(qmp, &have, NULL, NULL);
	/* Without a version (a greeting that lacked one) let QEMU decide. */
	if (have <= 0 || !cap_min_version(name, &major, &minor))
		return TRUE;
	return nvfm_qmp_version_at_least(qmp, major, minor, 0);
}

static json_t *find_cap(json_t *list, const char *name)
{
	json_t *c;
	gsize i;

	json_array_foreach(list, i, c) {
		const char *n = json_string_value(json_object_get(c, "capability"));

		if (n && !strcmp(n, name))
			return c;
	}
	return NULL;
}

gboolean nvfm_vm_get_migration_cap(NvfmQmp *qmp, const char *name, gboolean *ret_state,
				   int timeout_ms, GError **error)
{
	json_auto_t *list = nvfm_qmp_execute(qmp, "query-migrate-capabilities", NULL, timeout_ms,
					     error);
	json_t *c;

	if (!list)
		return FALSE;
	c = find_cap(list, name);
	if (!c) {
		g_set_error(error, NVFM_ERROR, NVFM_ERROR_NOT_SUPPORTED,
			    "QEMU has no migration capability '%s'", name);
		return FALSE;
	}
	*ret_state = json_is_true(json_object_get(c, "state"));
	return TRUE;
}

gboolean nvfm_vm_set_migration_caps(NvfmQmp *qmp, const NvfmVmMigrationCap *caps,
				    gsize n_caps, int timeout_ms, GError **error)
{
	gint64 deadline = deadline_of(qmp, timeout_ms);
	json_auto_t *list = json_array();
	json_auto_t *args = NULL;
	json_auto_t *back = NULL;

	for (gsize i = 0; i < n_caps; i++) {
		int major = 0, minor = 0;
		int v[3];

		if (!caps[i].name || !*caps[i].name) {
			g_set_error(error, NVFM_ERROR, NVFM_ERROR_INVALID_ARG,
				    "empty migration capability name");
			return FALSE;
		}
		if (!nvfm_vm_migration_cap_supported(qmp, caps[i].name)) {
			/* Off is what an older QEMU has anyway. */
			if (!caps[i].state)
				continue;
			cap_min_version(caps[i].name, &major, &minor);
			nvfm_qmp_get_version(qmp, &v[0], &v[1], &v[2]);
			g_set_error(error, NVFM_ERROR, NVFM_ERROR_NOT_SUPPORTED,
				    "migration capability '%s' needs QEMU %d.%d; this is %d.%d.%d",
				    caps[i].name, major, minor, v[0], v[1], v[2]);
			return FALSE;
		}
		json_array_append_new(list, json_pack("{s:s, s:b}", "capability", caps[i].name,
						      "state", caps[i].state));
	}
	if (json_array_size(list) == 0)
		return TRUE;
	args = json_pack("{s:O}", "capabilities", list);
	if (!run(qmp, "migrate-set-capabilities", args, left_ms(deadline), error))
		return FALSE;

	back = nvfm_qmp_execute(qmp, "query-migrate-capabilities", NULL, left_ms(deadline), error);
	if (!back)
		return FALSE;
	for (gsize i = 0; i < n_caps; i++) {
		json_t *c = find_cap(back, caps[i].name);

		if (!c) {
			if (!caps[i].state)
				continue;
			g_set_error(error, NVFM_ERROR, NVFM_ERROR_NOT_SUPPORTED,
				    "QEMU does not report migration capability '%s'", caps[i].name);
			return FALSE;
		}
		if (!!json_is_true(json_object_get(c, "state")) != !!caps[i].state) {
			g_set_error(error, NVFM_ERROR, NVFM_ERROR_STATE,
				    "migration capability '%s' reads back %s after setting it %s",
				    caps[i].name, caps[i].state ? "off" : "on",
				    caps[i].state ? "on" : "off");
			return FALSE;
		}
	}
	return TRUE;
}

json_t *nvfm_vm_query_migration_params(NvfmQmp *qmp, int timeout_ms, GError **error)
{
	return nvfm_qmp_execute(qmp, "query-migrate-parameters", NULL, timeout_ms, error);
}

/* QEMU reads an unset string parameter back as "" and numbers may come
 * back as integers when set as reals. */
static gboolean param_equal(json_t *want, json_t *have)
{
	if (json_equal(want, have))
		return TRUE;
	if (json_is_null(want) && json_is_string(have) && !*json_string_value(have))
		return TRUE;
	if (json_is_number(want) && json_is_number(have))
		return json_number_value(want) == json_number_value(have);
	return FALSE;
}

gboolean nvfm_vm_set_migration_params(NvfmQmp *qmp, json_t *params, int timeout_ms,
				      GError **error)
{
	gint64 deadline = deadline_of(qmp, timeout_ms);
	json_auto_t *back = NULL;
	const char *key;
	json_t *want;

	if (!json_is_object(params)) {
		g_set_error(error, NVFM_ERROR, NVFM_ERROR_INVALID_ARG,
			    "migration parameters must be a JSON object");
		return FALSE;
	}
	if (json_object_size(params) == 0)
		return TRUE;
	if (!run(qmp, "migrate-set-parameters", params, left_ms(deadline), error))
		return FALSE;
	back = nvfm_vm_query_migration_params(qmp, left_ms(deadline), error);
	if (!back)
		return FALSE;
	json_object_foreach(params, key, want) {
		json_t *have = json_object_get(back, key);

		if (!have) {
			g_set_error(error, NVFM_ERROR, NVFM_ERROR_NOT_SUPPORTED,
				    "QEMU does not report migration parameter '%s'", key);
			return FALSE;
		}
		if (!param_equal(want, have)) {
			g_autofree char *w = json_dumps(want, JSON_ENCODE_ANY | JSON_COMPACT);
			g_autofree char *h = json_dumps(have, JSON_ENCODE_ANY | JSON_COMPACT);

			g_set_error(error, NVFM_ERROR, NVFM_ERROR_STATE,
				    "migration parameter '%s' reads back %s after setting it to %s",
				    key, h ? h : "?", w ? w : "?");
			return FALSE;
		}
	}
	return TRUE;
}

static gboolean run_with_string(NvfmQmp *qmp, const char *command, const char *key,
				const char *value, int timeout_ms, GError **error)
{
	json_auto_t *args = NULL;

	if (!value || !*value) {
		g_set_error(error, NVFM_ERROR, NVFM_ERROR_INVALID_ARG, "QMP '%s' needs a %s",
			    command, key);
		return FALSE;
	}
	args = json_pack("{s:s}", key, value);
	return run(qmp, command, args, timeout_ms, error);
}

gboolean nvfm_vm_migrate(NvfmQmp *qmp, const char *uri, int timeout_ms, GError **error)
{
	return run_with_string(qmp, "migrate", "uri", uri, timeout_ms, error);
}

gboolean nvfm_vm_migrate_incoming(NvfmQmp *qmp, const char *uri, int timeout_ms,
				  GError **error)
{
	return run_with_string(qmp, "migrate-incoming", "uri", uri, timeout_ms, error);
}

gboolean nvfm_vm_migrate_cancel(NvfmQmp *qmp, int timeout_ms, GError **error)
{
	return run(qmp, "migrate_cancel", NULL, timeout_ms, error);
}

gboolean nvfm_vm_migrate_continue(NvfmQmp *qmp, const char *state, int timeout_ms,
				  GError **error)
{
	return run_with_string(qmp, "migrate-continue", "state",
			       state ? state : "pre-switchover", timeout_ms, error);
}

void nvfm_vm_migration_info_free(NvfmVmMigrationInfo *info)
{
	if (!info)
		return;
	g_free(info->status);
	g_strfreev(info->blocked_reasons);
	g_free(info->error_desc);
	json_decref(info->raw);
	g_free(info);
}

static gint64 int_or(json_t *obj, const char *key, gint64 dflt)
{
	json_t *v = json_object_get(obj, key);

	return json_is_integer(v) ? (gint64)json_integer_value(v) : dflt;
}

static guint64 uint_of(json_t *obj, const char *key)
{
	gint64 v = int_or(obj, key, 0);

	return v > 0 ? (guint64)v : 0;
}

NvfmVmMigrationInfo *nvfm_vm_query_migration(NvfmQmp *qmp, int timeout_ms, GError **error)
{
	json_auto_t *ret = nvfm_qmp_execute(qmp, "query-migrate", NULL, timeout_ms, error);
	NvfmVmMigrationInfo *info;
	json_t *ram, *vfio, *blocked;

	if (!ret)
		return NULL;
	if (!json_is_object(ret)) {
		g_set_error(error, NVFM_ERROR, NVFM_ERROR_PROTOCOL,
			    "QMP 'query-migrate' did not return an object");
		return NULL;
	}
	info = g_new0(NvfmVmMigrationInfo, 1);
	/* Before any migration QEMU returns {} */
	info->status = g_strdup(json_string_value(json_object_get(ret, "status")) ?: "none");
	info->total_time_ms = int_or(ret, "total-time", -1);
	info->downtime_ms = int_or(ret, "downtime", -1);
	info->expected_downtime_ms = int_or(ret, "expected-downtime", -1);
	info->setup_time_ms = int_or(ret, "setup-time", -1);
	ram = json_object_get(ret, "ram");
	if (json_is_object(ram)) {
		json_t *mbps = json_object_get(ram, "mbps");

		info->has_ram = TRUE;
		info->ram_total = uint_of(ram, "total");
		info->ram_transferred = uint_of(ram, "transferred");
		info->ram_remaining = uint_of(ram, "remaining");
		info->ram_mbps = json_is_number(mbps) ? json_number_value(mbps) : 0;
		info->ram_dirty_pages_rate = uint_of(ram, "dirty-pages-rate");
		info->ram_dirty_sync_count = uint_of(ram, "dirty-sync-count");
	}
	vfio = json_object_get(ret, "vfio");
	if (json_is_object(vfio)) {
		info->has_vfio = TRUE;
		info->vfio_transferred = uint_of(vfio, "transferred");
	}
	blocked = json_object_get(ret, "blocked-reasons");
	if (json_is_array(blocked) && json_array_size(blocked)) {
		GPtrArray *r = g_ptr_array_new();
		json_t *b;
		gsize i;

		json_array_foreach(blocked, i, b) {
			if (json_is_string(b))
				g_ptr_array_add(r, g_strdup(json_string_value(b)));
		}
		g_ptr_array_add(r, NULL);
		info->blocked_reasons = (char **)g_ptr_array_free(r, FALSE);
	}
	info->error_desc = g_strdup(json_string_value(json_object_get(ret, "error-desc")));
	info->raw = g_steal_pointer(&ret);
	return info;
}

gboolean nvfm_vm_migration_status_is_final(const char *status)
{
	return status && (!strcmp(status, "completed") || !strcmp(status, "failed") ||
			  !strcmp(status, "cancelled"));
}

static gboolean status_in(const char *status, const char *const *statuses)
{
	return status && g_strv_contains(statuses, status);
}

static gboolean migration_event_matches(const NvfmQmpEvent *ev, gpointer user_data)
{
	const char *s = json_string_value(json_object_get(nvfm_qmp_event_get_data(ev), "status"));

	return status_in(s, user_data);
}

gboolean nvfm_vm_wait_migration(NvfmQmp *qmp, const char *const *statuses, char **ret_status,
				int timeout_ms, GError **error)
{
	gint64 deadline = deadline_of(qmp, timeout_ms);
	g_autofree char *wanted = NULL;
	g_autofree char *last = g_strdup("unknown");
	guint64 seq = nvfm_qmp_event_seq(qmp);

	if (!statuses || !statuses[0]) {
		g_set_error(error, NVFM_ERROR, NVFM_ERROR_INVALID_ARG, "no migration status to wait for");
		return FALSE;
	}
	wanted = g_strjoinv("|", (char **)statuses);
	for (;;) {
		g_autoptr(NvfmVmMigrationInfo) info = NULL;
		g_autoptr(NvfmQmpEvent) ev = NULL;
		g_autoptr(GError) local = NULL;

		if (left_ms(deadline) > 0)
			info = nvfm_vm_query_migration(qmp, left_ms(deadline), &local);
		if (!info) {
			if (local && !g_error_matches(local, NVFM_ERROR, NVFM_ERROR_TIMEOUT)) {
				g_propagate_error(error, g_steal_pointer(&local));
				return FALSE;
			}
			g_set_error(error, NVFM_ERROR, NVFM_ERROR_TIMEOUT,
				    "migration did not reach %s within %d ms (it is %s)", wanted,
				    nvfm_qmp_resolve_timeout(qmp, timeout_ms), last);
			return FALSE;
		}
		g_free(last);
		last = g_strdup(info->status);
		if (status_in(info->status, statuses)) {
			if (ret_status)
				*ret_status = g_strdup(info->status);
			return TRUE;
		}
		if (!strcmp(info->status, "failed")) {
			g_set_error(error, NVFM_ERROR, NVFM_ERROR_FAILED, "migration failed: %s",
				    info->error_desc ? info->error_desc : "QEMU gave no reason");
			return FALSE;
		}
		if (!strcmp(info->status, "cancelled")) {
			g_set_error(error, NVFM_ERROR, NVFM_ERROR_CANCELLED,
				    "migration was cancelled");
			return FALSE;
		}
		if (!strcmp(info->status, "completed")) {
			g_set_error(error, NVFM_ERROR, NVFM_ERROR_STATE,
				    "migration completed instead of reaching %s", wanted);
			return FALSE;
		}
		/* A transient status may only show up as an event. */
		ev = nvfm_qmp_wait_event(qmp, "MIGRATION", migration_event_matches,
					 (gpointer)statuses, seq, MIN(left_ms(deadline), POLL_MS),
					 &local);
		if (ev) {
			if (ret_status)
				*ret_status = g_strdup(json_string_value(json_object_get(
					nvfm_qmp_event_get_data(ev), "status")));
			return TRUE;
		}
		if (!g_error_matches(local, NVFM_ERROR, NVFM_ERROR_TIMEOUT)) {
			g_propagate_error(error, g_steal_pointer(&local));
			return FALSE;
		}
	}
}

/* ---- PCI devices ----------------------------------------------------- */

void nvfm_vm_pci_device_free(NvfmVmPciDevice *dev)
{
	if (!dev)
		return;
	g_free(dev->qdev_id);
	g_free(dev->type);
	g_free(dev->host);
	g_free(dev);
}

char *nvfm_vm_pci_device_guest_address(const NvfmVmPciDevice *dev)
{
	return g_strdup_printf("%02x:%02x.%x", dev->bus & 0xff, dev->slot & 0x1f,
			       dev->function & 7);
}

static void collect_pci(json_t *devices, GPtrArray *out, guint depth)
{
	json_t *d;
	gsize i;

	/* A bus hierarchy deeper than 256 levels cannot exist. */
	if (depth > 256)
		return;
	json_array_foreach(devices, i, d) {
		NvfmVmPciDevice *dev = g_new0(NvfmVmPciDevice, 1);
		json_t *id = json_object_get(d, "id");
		json_t *bridge = json_object_get(d, "pci_bridge");

		dev->qdev_id = g_strdup(json_string_value(json_object_get(d, "qdev_id")) ?: "");
		dev->bus = int_or(d, "bus", 0);
		dev->slot = int_or(d, "slot", 0);
		dev->function = int_or(d, "function", 0);
		dev->vendor_id = int_or(id, "vendor", 0);
		dev->device_id = int_or(id, "device", 0);
		dev->class_code = int_or(json_object_get(d, "class_info"), "class", 0);
		g_ptr_array_add(out, dev);
		if (json_is_object(bridge))
			collect_pci(json_object_get(bridge, "devices"), out, depth + 1);
	}
}

/* "child<vfio-pci>" -> "vfio-pci" */
static char *child_type(const char *t)
{
	if (t && g_str_has_prefix(t, "child<") && g_str_has_suffix(t, ">"))
		return g_strndup(t + 6, strlen(t) - 7);
	return NULL;
}

static char *vfio_host_address(NvfmQmp *qmp, const char *id, gint64 deadline)
{
	g_autofree char *path = g_strdup_printf("/machine/peripheral/%s", id);
	json_auto_t *args = json_pack("{s:s, s:s}", "path", path, "property", "host");
	json_auto_t *host = nvfm_qmp_execute(qmp, "qom-get", args, left_ms(deadline), NULL);
	json_auto_t *sysfs = NULL;
	const char *s;

	s = json_string_value(host);
	if (s && *s && strcmp(s, "0000:00:00.0") != 0)
		return g_ascii_strdown(s, -1);
	/* Given as sysfsdev=/sys/bus/pci/devices/ADDR instead */
	json_object_set_new(args, "property", json_string("sysfsdev"));
	sysfs = nvfm_qmp_execute(qmp, "qom-get", args, left_ms(deadline), NULL);
	s = json_string_value(sysfs);
	if (s && *s)
		return g_path_get_basename(s);
	return NULL;
}

GPtrArray *nvfm_vm_list_pci_devices(NvfmQmp *qmp, int timeout_ms, GError **error)
{
	gint64 deadline = deadline_of(qmp, timeout_ms);
	g_autoptr(GPtrArray) out = g_ptr_array_new_with_free_func(
		(GDestroyNotify)nvfm_vm_pci_device_free);
	g_autoptr(GHashTable) types = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, g_free);
	json_auto_t *buses = NULL;
	json_auto_t *children = NULL;
	json_auto_t *args = NULL;
	json_t *b, *c;
	gsize i;

	buses = nvfm_qmp_execute(qmp, "query-pci", NULL, left_ms(deadline), error);
	if (!buses)
		return NULL;
	json_array_foreach(buses, i, b)
		collect_pci(json_object_get(b, "devices"), out, 0);

	args = json_pack("{s:s}", "path", "/machine/peripheral");
	children = nvfm_qmp_execute(qmp, "qom-list", args, left_ms(deadline), error);
	if (!children)
		return NULL;
	json_array_foreach(children, i, c) {
		const char *name = json_string_value(json_object_get(c, "name"));
		char *type = child_type(json_string_value(json_object_get(c, "type")));

		if (name && type)
			g_hash_table_replace(types, g_strdup(name), type);
		else
			g_free(type);
	}
	for (i = 0; i < out->len; i++) {
		NvfmVmPciDevice *dev = g_ptr_array_index(out, i);
		const char *type;

		if (!*dev->qdev_id)
			continue;
		type = g_hash_table_lookup(types, dev->qdev_id);
		dev->type = g_strdup(type);
		if (type && !strcmp(type, "vfio-pci"))
			dev->host = vfio_host_address(qmp, dev->qdev_id, deadline);
	}
	return g_steal_pointer(&out);
}

/* "3b:00.2" -> "0000:3b:00.2", lower case; NULL if it is no PCI address. */
static char *normalize_pci(const char *s)
{
	char out[NVFM_PCI_ADDR_LEN];

	return nvfm_pci_addr_parse(s, out, NULL) ? g_strdup(out) : NULL;
}

NvfmVmPciDevice *nvfm_vm_find_pci_device(NvfmQmp *qmp, const char *key, const char *type,
					 int timeout_ms, GError **error)
{
	g_autoptr(GPtrArray) devs = NULL;
	g_autofree char *addr = NULL;

	if (!key || !*key) {
		g_set_error(error, NVFM_ERROR, NVFM_ERROR_INVALID_ARG, "no PCI device id given");
		return NULL;
	}
	devs = nvfm_vm_list_pci_devices(qmp, timeout_ms, error);
	if (!devs)
		return NULL;
	addr = normalize_pci(key);
	for (guint i = 0; i < devs->len; i++) {
		NvfmVmPciDevice *dev = g_ptr_array_index(devs, i);
		g_autofree char *host = dev->host ? normalize_pci(dev->host) : NULL;

		if (type && g_strcmp0(dev->type, type) != 0)
			continue;
		/* its id, its PCI address however spelt, or its host exactly */
		if (!strcmp(dev->qdev_id, key) || (addr && host && !strcmp(addr, host)) ||
		    !g_strcmp0(dev->host, key))
			return g_ptr_array_steal_index(devs, i);
	}
	g_set_error(error, NVFM_ERROR, NVFM_ERROR_NOT_FOUND, "the VM has no %s%sdevice '%s'",
		    type ? type : "PCI", type ? " " : " ", key);
	return NULL;
}

NvfmVmPciDevice *nvfm_vm_find_vfio_device(NvfmQmp *qmp, const char *key, int timeout_ms,
					  GError **error)
{
	return nvfm_vm_find_pci_device(qmp, key, "vfio-pci", timeout_ms, error);
}

gboolean nvfm_vm_device_add(NvfmQmp *qmp, json_t *props, int timeout_ms, GError **error)
{
	if (!json_is_object(props) || !json_is_string(json_object_get(props, "driver"))) {
		g_set_error(error, NVFM_ERROR, NVFM_ERROR_INVALID_ARG,
			    "device_add needs an object with a \"driver\"");
		return FALSE;
	}
	return run(qmp, "device_add", props, timeout_ms, error);
}

static gboolean device_deleted_matches(const NvfmQmpEvent *ev, gpointer user_data)
{
	const char *dev = json_string_value(json_object_get(nvfm_qmp_event_get_data(ev), "device"));

	return dev && !strcmp(dev, user_data);
}

gboolean nvfm_vm_device_del(NvfmQmp *qmp, const char *id, gboolean wait, int timeout_ms,
			    GError **error)
{
	gint64 deadline = deadline_of(qmp, timeout_ms);
	g_autoptr(NvfmQmpEvent) ev = NULL;
	guint64 seq = nvfm_qmp_event_seq(qmp);

	if (!run_with_string(qmp, "device_del", "id", id, left_ms(deadline), error))
		return FALSE;
	if (!wait)
		return TRUE;
	ev = nvfm_qmp_wait_event(qmp, "DEVICE_DELETED", device_deleted_matches, (gpointer)id, seq,
				 left_ms(deadline), error);
	if (!ev) {
		g_prefix_error(error, "device '%s' was not removed: ", id);
		return FALSE;
	}
	return TRUE;
}
