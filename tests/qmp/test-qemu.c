/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The QMP client and VM operations against real QEMU (TCG, the tiny guest):
 * pause and resume, migration capabilities, a live migration between two
 * network namespaces held in pre-switchover, cancel, PCI devices, a QEMU
 * that dies, and the CLI.
 */
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "qemu-vm.h"

#define T_MS 30000
#define MIGRATE_MS 120000

static const char *skip_reason;

#define REQUIRE_QEMU() \
	do { \
		if (skip_reason) { \
			g_test_skip(skip_reason); \
			return; \
		} \
	} while (0)

static TestVm *start_vm(const char *netns, const char *const *extra)
{
	g_autoptr(GError) error = NULL;
	TestVm *vm = qemu_vm_start(netns, extra, &error);

	g_assert_no_error(error);
	g_assert_nonnull(vm);
	return vm;
}

static guint32 counter(TestVm *vm)
{
	g_autoptr(GError) error = NULL;
	guint32 c = 0;

	g_assert_true(qemu_vm_counter(vm, &c, &error));
	g_assert_no_error(error);
	return c;
}

/* The counter moves: the guest runs (bounded; no speed is assumed). */
static void assert_guest_runs(TestVm *vm)
{
	guint32 first = counter(vm);

	for (int i = 0; i < 500; i++) {
		if (counter(vm) != first)
			return;
		g_usleep(10 * 1000);
	}
	g_error("the guest's counter stayed at %u", first);
}

static char *status_of(TestVm *vm)
{
	g_autoptr(GError) error = NULL;
	char *status = NULL;

	g_assert_true(nvfm_vm_query_status(vm->qmp, &status, NULL, T_MS, &error));
	g_assert_no_error(error);
	return status;
}

static void test_greeting(void)
{
	g_autoptr(TestVm) vm = NULL;
	int major, minor, micro;

	REQUIRE_QEMU();
	vm = start_vm(NULL, NULL);
	nvfm_qmp_get_version(vm->qmp, &major, &minor, &micro);
	g_test_message("QEMU %d.%d.%d", major, minor, micro);
	g_assert_true(nvfm_qmp_version_at_least(vm->qmp, 7, 2, 0));
	/* a dedicated (non-mux) QMP chardev offers oob */
	g_assert_true(nvfm_qmp_has_capability(vm->qmp, "oob"));
	assert_guest_runs(vm);
}

typedef struct {
	GPtrArray *names;
} Seen;

static void on_event(NvfmQmp *qmp, NvfmQmpEvent *ev, gpointer data)
{
	g_ptr_array_add(((Seen *)data)->names, g_strdup(nvfm_qmp_event_get_name(ev)));
}

static void test_pause_resume(void)
{
	g_autoptr(TestVm) vm = NULL;
	g_autoptr(GError) error = NULL;
	g_autoptr(GMainContext) ctx = g_main_context_new();
	g_autoptr(NvfmQmpEvent) stop = NULL;
	g_autoptr(NvfmQmpEvent) resume = NULL;
	g_autofree char *st1 = NULL;
	g_autofree char *st2 = NULL;
	Seen seen = { g_ptr_array_new_with_free_func(g_free) };
	guint64 seq;
	guint32 a, b;
	gint64 deadline;

	REQUIRE_QEMU();
	vm = start_vm(NULL, NULL);
	g_main_context_push_thread_default(ctx);
	nvfm_qmp_subscribe(vm->qmp, NULL, on_event, &seen, NULL);
	g_main_context_pop_thread_default(ctx);

	seq = nvfm_qmp_event_seq(vm->qmp);
	g_assert_true(nvfm_vm_pause(vm->qmp, T_MS, &error));
	g_assert_no_error(error);
	stop = nvfm_qmp_wait_event(vm->qmp, "STOP", NULL, NULL, seq, T_MS, &error);
	g_assert_no_error(error);
	st1 = status_of(vm);
	g_assert_cmpstr(st1, ==, "paused");
	a = counter(vm);
	g_usleep(50 * 1000);
	b = counter(vm);
	g_assert_cmpuint(a, ==, b);
	/* pausing a paused VM is a no-op, not a wait for a STOP that never comes */
	g_assert_true(nvfm_vm_pause(vm->qmp, T_MS, &error));
	g_assert_no_error(error);

	seq = nvfm_qmp_event_seq(vm->qmp);
	g_assert_true(nvfm_vm_resume(vm->qmp, T_MS, &error));
	g_assert_no_error(error);
	resume = nvfm_qmp_wait_event(vm->qmp, "RESUME", NULL, NULL, seq, T_MS, &error);
	g_assert_no_error(error);
	st2 = status_of(vm);
	g_assert_cmpstr(st2, ==, "running");
	assert_guest_runs(vm);
	g_assert_true(nvfm_vm_resume(vm->qmp, T_MS, &error));
	g_assert_no_error(error);

	deadline = g_get_monotonic_time() + T_MS * 1000;
	while (seen.names->len < 2 && g_get_monotonic_time() < deadline) {
		if (!g_main_context_iteration(ctx, FALSE))
			g_usleep(1000);
	}
	g_assert_cmpuint(seen.names->len, ==, 2);
	g_assert_cmpstr(g_ptr_array_index(seen.names, 0), ==, "STOP");
	g_assert_cmpstr(g_ptr_array_index(seen.names, 1), ==, "RESUME");
	g_clear_pointer(&vm, qemu_vm_free);
	g_ptr_array_unref(seen.names);
}

static void test_migration_caps(void)
{
	g_autoptr(TestVm) vm = NULL;
	g_autoptr(GError) error = NULL;
	json_auto_t *params = NULL;
	json_auto_t *bad = NULL;
	json_auto_t *back = NULL;
	gboolean on = FALSE;
	gboolean ack;
	NvfmVmMigrationCap caps[] = {
		{ "events", TRUE },
		{ "return-path", TRUE },
		{ "pause-before-switchover", TRUE },
		{ "switchover-ack", TRUE },
	};

	REQUIRE_QEMU();
	vm = start_vm(NULL, NULL);
	ack = nvfm_vm_migration_cap_supported(vm->qmp, "switchover-ack");
	g_assert_cmpint(ack, ==, nvfm_qmp_version_at_least(vm->qmp, 8, 1, 0));
	if (ack) {
		g_assert_true(nvfm_vm_set_migration_caps(vm->qmp, caps, G_N_ELEMENTS(caps), T_MS,
							 &error));
		g_assert_no_error(error);
		g_assert_true(nvfm_vm_get_migration_cap(vm->qmp, "switchover-ack", &on, T_MS,
							&error));
		g_assert_true(on);
	} else {
		/* refused before anything is sent; the rest still works */
		g_assert_false(nvfm_vm_set_migration_caps(vm->qmp, caps, G_N_ELEMENTS(caps), T_MS,
							  &error));
		g_assert_error(error, NVFM_ERROR, NVFM_ERROR_NOT_SUPPORTED);
		g_clear_error(&error);
		caps[3].state = FALSE;
		g_assert_true(nvfm_vm_set_migration_caps(vm->qmp, caps, G_N_ELEMENTS(caps), T_MS,
							 &error));
		g_assert_no_error(error);
	}
	for (guint i = 0; i < 3; i++) {
		g_assert_true(nvfm_vm_get_migration_cap(vm->qmp, caps[i].name, &on, T_MS, &error));
		g_assert_no_error(error);
		g_assert_true(on);
	}
	/* and off again */
	caps[2].state = FALSE;
	g_assert_true(nvfm_vm_set_migration_caps(vm->qmp, &caps[2], 1, T_MS, &error));
	g_assert_no_error(error);
	g_assert_true(nvfm_vm_get_migration_cap(vm->qmp, caps[2].name, &on, T_MS, &error));
	g_assert_false(on);

	g_assert_false(nvfm_vm_get_migration_cap(vm->qmp, "no-such-cap", &on, T_MS, &error));
	g_assert_error(error, NVFM_ERROR, NVFM_ERROR_NOT_SUPPORTED);
	g_clear_error(&error);

	params = json_pack("{s:i, s:I}", "downtime-limit", 250, "max-bandwidth",
			   (json_int_t)64 << 20);
	g_assert_true(nvfm_vm_set_migration_params(vm->qmp, params, T_MS, &error));
	g_assert_no_error(error);
	back = nvfm_vm_query_migration_params(vm->qmp, T_MS, &error);
	g_assert_cmpint(json_integer_value(json_object_get(back, "downtime-limit")), ==, 250);
	bad = json_pack("{s:i}", "no-such-parameter", 1);
	g_assert_false(nvfm_vm_set_migration_params(vm->qmp, bad, T_MS, &error));
	g_assert_error(error, NVFM_ERROR, NVFM_ERROR_QMP);
	g_assert_cmpint(nvfm_qmp_error_class(error), ==, NVFM_QMP_ERROR_CLASS_GENERIC);
}

/* ---- network namespaces ---------------------------------------------- */

static gboolean sh(GError **error, const char *fmt, ...) G_GNUC_PRINTF(2, 3);

static gboolean sh(GError **error, const char *fmt, ...)
{
	g_autofree char *cmd = NULL;
	g_autofree char *err = NULL;
	va_list ap;
	int status = 0;
	const char *argv[] = { "timeout", "20", "sh", "-c", NULL, NULL };

	va_start(ap, fmt);
	cmd = g_strdup_vprintf(fmt, ap);
	va_end(ap);
	argv[4] = cmd;
	if (!g_spawn_sync(NULL, (char **)argv, NULL, G_SPAWN_SEARCH_PATH | G_SPAWN_STDOUT_TO_DEV_NULL,
			  NULL, NULL, NULL, &err, &status, error))
		return FALSE;
	if (!g_spawn_check_wait_status(status, NULL)) {
		g_set_error(error, G_SPAWN_ERROR, G_SPAWN_ERROR_FAILED, "'%s' failed: %s", cmd,
			    g_strstrip(err));
		return FALSE;
	}
	return TRUE;
}

typedef struct {
	char *a, *b;		/* namespace names */
	char *va, *vb;		/* veth ends */
} NetPair;

/* Namespaces of earlier runs that died before cleaning up. */
static void remove_stale_namespaces(void)
{
	g_autofree char *out = NULL;
	g_auto(GStrv) lines = NULL;
	const char *argv[] = { "timeout", "20", "ip", "netns", "list", NULL };

	if (!g_spawn_sync(NULL, (char **)argv, NULL, G_SPAWN_SEARCH_PATH | G_SPAWN_STDERR_TO_DEV_NULL,
			  NULL, NULL, &out, NULL, NULL, NULL) || !out)
		return;
	lines = g_strsplit(out, "\n", -1);
	for (guint i = 0; lines[i]; i++) {
		int pid = 0;
		char side = 0;

		if (sscanf(lines[i], "nvfmq-%d-%c", &pid, &side) == 2 && pid > 0 &&
		    kill(pid, 0) < 0 && errno == ESRCH) {
			g_autoptr(GError) e = NULL;

			sh(&e, "ip netns del nvfmq-%d-%c", pid, side);
		}
	}
}

static gboolean netpair_setup(NetPair *n, GError **error)
{
	pid_t pid = getpid();

	n->a = g_strdup_printf("nvfmq-%d-a", pid);
	n->b = g_strdup_printf("nvfmq-%d-b", pid);
	/* interface names have at most 15 characters */
	n->va = g_strdup_printf("nvq%da", pid % 1000000);
	n->vb = g_strdup_printf("nvq%db", pid % 1000000);
	return sh(error, "ip netns add %s && ip netns add %s", n->a, n->b) &&
	       sh(error, "ip link add %s type veth peer name %s", n->va, n->vb) &&
	       sh(error, "ip link set %s netns %s && ip link set %s netns %s", n->va, n->a, n->vb,
		  n->b) &&
	       sh(error, "ip -n %s addr add 10.77.0.1/24 dev %s && ip -n %s link set %s up && "
		  "ip -n %s link set lo up", n->a, n->va, n->a, n->va, n->a) &&
	       sh(error, "ip -n %s addr add 10.77.0.2/24 dev %s && ip -n %s link set %s up && "
		  "ip -n %s link set lo up", n->b, n->vb, n->b, n->vb, n->b);
}

static void netpair_teardown(NetPair *n)
{
	g_autoptr(GError) error = NULL;

	if (n->a && !sh(&error, "ip netns del %s; ip netns del %s; ip link del %s 2>/dev/null; true",
			n->a, n->b, n->va))
		g_printerr("# cleanup: %s\n", error->message);
	g_free(n->a);
	g_free(n->b);
	g_free(n->va);
	g_free(n->vb);
}

static void enable_caps(TestVm *vm, gboolean source)
{
	g_autoptr(GError) error = NULL;
	gboolean ack = nvfm_vm_migration_cap_supported(vm->qmp, "switchover-ack");
	NvfmVmMigrationCap caps[] = {
		{ "events", TRUE },
		{ "return-path", TRUE },
		{ "switchover-ack", ack },
		{ "pause-before-switchover", source },
	};

	g_assert_true(nvfm_vm_set_migration_caps(vm->qmp, caps, G_N_ELEMENTS(caps), T_MS, &error));
	g_assert_no_error(error);
}

static gboolean wait_running(TestVm *vm, int timeout_ms)
{
	gint64 deadline = g_get_monotonic_time() + (gint64)timeout_ms * 1000;

	while (g_get_monotonic_time() < deadline) {
		g_autoptr(GError) error = NULL;
		gboolean running = FALSE;

		g_assert_true(nvfm_vm_query_status(vm->qmp, NULL, &running, T_MS, &error));
		if (running)
			return TRUE;
		g_usleep(20 * 1000);
	}
	return FALSE;
}

static void test_migrate_netns(void)
{
	static const char *const incoming[] = { "-incoming", "defer", NULL };
	static const char *const pre[] = { "pre-switchover", NULL };
	static const char *const done[] = { "completed", NULL };
	g_autoptr(TestVm) src = NULL;
	g_autoptr(TestVm) dst = NULL;
	g_autoptr(GError) error = NULL;
	g_autoptr(NvfmVmMigrationInfo) info = NULL;
	g_autoptr(NvfmVmMigrationInfo) held = NULL;
	g_autofree char *reached = NULL;
	g_autofree char *src_status = NULL;
	g_autofree char *dst_status = NULL;
	g_autofree char *after = NULL;
	NetPair net = { 0 };
	guint32 paused_at, c1;

	REQUIRE_QEMU();
	if (geteuid() != 0) {
		g_test_skip("network namespaces need root");
		return;
	}
	remove_stale_namespaces();
	if (!netpair_setup(&net, &error)) {
		g_autofree char *why = g_strdup_printf("cannot create network namespaces: %s",
						       error->message);

		netpair_teardown(&net);
		g_test_skip(why);
		return;
	}
	src = start_vm(net.a, NULL);
	dst = start_vm(net.b, incoming);
	enable_caps(src, TRUE);
	enable_caps(dst, FALSE);
	g_assert_true(nvfm_vm_migrate_incoming(dst->qmp, "tcp:10.77.0.2:4444", T_MS, &error));
	g_assert_no_error(error);
	assert_guest_runs(src);

	g_assert_true(nvfm_vm_migrate(src->qmp, "tcp:10.77.0.2:4444", T_MS, &error));
	g_assert_no_error(error);
	g_assert_true(nvfm_vm_wait_migration(src->qmp, pre, &reached, MIGRATE_MS, &error));
	g_assert_no_error(error);
	g_assert_cmpstr(reached, ==, "pre-switchover");

	/* held: the source is stopped, the destination not yet started */
	src_status = status_of(src);
	g_assert_cmpstr(src_status, ==, "finish-migrate");
	dst_status = status_of(dst);
	g_assert_cmpstr(dst_status, ==, "inmigrate");
	paused_at = counter(src);
	g_usleep(200 * 1000);
	held = nvfm_vm_query_migration(src->qmp, T_MS, &error);
	g_assert_no_error(error);
	g_assert_cmpstr(held->status, ==, "pre-switchover");
	g_assert_cmpuint(counter(src), ==, paused_at);
	g_assert_true(held->has_ram);
	g_assert_cmpuint(held->ram_transferred, >, 0);

	g_assert_true(nvfm_vm_migrate_continue(src->qmp, NULL, T_MS, &error));
	g_assert_no_error(error);
	g_assert_true(nvfm_vm_wait_migration(src->qmp, done, NULL, MIGRATE_MS, &error));
	g_assert_no_error(error);
	info = nvfm_vm_query_migration(src->qmp, T_MS, &error);
	g_assert_no_error(error);
	g_assert_cmpstr(info->status, ==, "completed");
	g_assert_cmpint(info->downtime_ms, >=, 0);
	g_test_message("migrated %" G_GUINT64_FORMAT " bytes of RAM in %" G_GINT64_FORMAT
		       " ms, downtime %" G_GINT64_FORMAT " ms (includes the held window)",
		       info->ram_transferred, info->total_time_ms, info->downtime_ms);

	/* the guest continues on the destination from where it stopped */
	g_assert_true(wait_running(dst, MIGRATE_MS));
	c1 = counter(dst);
	/* QEMU 7.2 under TCG can miss the source's last writes to a page in
	 * the final pass (seen here: the counter resumes a little behind);
	 * 10.0 carries them. The guest runs on either way. */
	if (nvfm_qmp_version_at_least(dst->qmp, 9, 0, 0))
		g_assert_cmpuint(c1, >=, paused_at);
	else if (c1 < paused_at)
		g_test_message("destination resumed at %u, source stopped at %u (QEMU < 9 TCG)",
			       c1, paused_at);
	assert_guest_runs(dst);
	after = status_of(src);
	g_assert_cmpstr(after, ==, "postmigrate");

	g_clear_pointer(&src, qemu_vm_free);
	g_clear_pointer(&dst, qemu_vm_free);
	netpair_teardown(&net);
}

static void test_migrate_cancel(void)
{
	g_autoptr(TestVm) src = NULL;
	g_autoptr(TestVm) dst = NULL;
	g_autoptr(GError) error = NULL;
	g_autofree char *uri = NULL;
	g_autofree char *status = NULL;
	g_autofree char *mig_path = NULL;
	json_auto_t *slow = NULL;
	static const char *const active[] = { "active", NULL };
	static const char *const cancelled[] = { "cancelled", NULL };
	static const char *const incoming[] = { "-incoming", "defer", NULL };
	NvfmVmMigrationCap events = { "events", TRUE };

	REQUIRE_QEMU();
	src = start_vm(NULL, NULL);
	dst = start_vm(NULL, incoming);
	mig_path = g_build_filename(dst->dir, "mig.sock", NULL);
	uri = g_strdup_printf("unix:%s", mig_path);
	g_assert_true(nvfm_vm_migrate_incoming(dst->qmp, uri, T_MS, &error));
	g_assert_no_error(error);
	g_assert_true(nvfm_vm_set_migration_caps(src->qmp, &events, 1, T_MS, &error));
	g_assert_no_error(error);
	/* 256 KiB/s never converges with 4 MiB kept dirty: stays active */
	slow = json_pack("{s:i}", "max-bandwidth", 256 << 10);
	g_assert_true(nvfm_vm_set_migration_params(src->qmp, slow, T_MS, &error));
	g_assert_no_error(error);

	g_assert_true(nvfm_vm_migrate(src->qmp, uri, T_MS, &error));
	g_assert_no_error(error);
	g_assert_true(nvfm_vm_wait_migration(src->qmp, active, NULL, MIGRATE_MS, &error));
	g_assert_no_error(error);
	g_assert_true(nvfm_vm_migrate_cancel(src->qmp, T_MS, &error));
	g_assert_no_error(error);
	g_assert_true(nvfm_vm_wait_migration(src->qmp, cancelled, NULL, MIGRATE_MS, &error));
	g_assert_no_error(error);

	/* waiting for completion now reports the cancellation */
	{
		static const char *const done[] = { "completed", NULL };

		g_assert_false(nvfm_vm_wait_migration(src->qmp, done, NULL, T_MS, &error));
		g_assert_error(error, NVFM_ERROR, NVFM_ERROR_CANCELLED);
		g_clear_error(&error);
	}
	status = status_of(src);
	g_assert_cmpstr(status, ==, "running");
	assert_guest_runs(src);
	/* the destination gives up on its own */
	g_assert_true(qemu_vm_wait_exit(dst, T_MS));
	g_test_message("destination exited with status 0x%x", dst->wait_status);
}

static void test_pci(void)
{
	static const char *const devs[] = {
		"-device", "pcie-root-port,id=rp1,chassis=1",
		"-device", "pcie-root-port,id=rp2,chassis=2",
		"-device", "pci-testdev,id=td0,bus=rp1",
		NULL,
	};
	g_autoptr(TestVm) vm = NULL;
	g_autoptr(GError) error = NULL;
	g_autoptr(GPtrArray) all = NULL;
	g_autoptr(NvfmVmPciDevice) td = NULL;
	g_autoptr(NvfmVmPciDevice) hot = NULL;
	g_autoptr(NvfmVmPciDevice) none = NULL;
	g_autofree char *addr = NULL;
	json_auto_t *props = NULL;
	gboolean ok;

	REQUIRE_QEMU();
	vm = start_vm(NULL, devs);
	/* query-pci shows devices behind a bridge once the firmware has
	 * numbered the buses, a moment after QEMU starts */
	for (int i = 0; i < 1000 && !td; i++) {
		g_clear_error(&error);
		td = nvfm_vm_find_pci_device(vm->qmp, "td0", "pci-testdev", T_MS, &error);
		if (!td)
			g_usleep(10 * 1000);
	}
	g_assert_no_error(error);
	all = nvfm_vm_list_pci_devices(vm->qmp, T_MS, &error);
	g_assert_no_error(error);
	g_assert_cmpuint(all->len, >=, 4);
	for (guint i = 0; i < all->len; i++) {
		NvfmVmPciDevice *d = g_ptr_array_index(all, i);
		g_autofree char *a = nvfm_vm_pci_device_guest_address(d);

		g_test_message("%s %s (%s)", a, d->qdev_id, d->type ? d->type : "-");
	}
	g_assert_cmpuint(td->bus, >, 0);
	g_assert_cmpstr(td->type, ==, "pci-testdev");
	g_assert_null(td->host);
	g_assert_cmpuint(td->vendor_id, ==, 0x1b36);
	addr = nvfm_vm_pci_device_guest_address(td);
	g_test_message("td0 is at %s in the guest", addr);
	g_assert_cmpuint(td->slot, ==, 0);
	none = nvfm_vm_find_vfio_device(vm->qmp, "td0", T_MS, &error);
	g_assert_null(none);
	g_assert_error(error, NVFM_ERROR, NVFM_ERROR_NOT_FOUND);
	g_clear_error(&error);

	props = json_pack("{s:s, s:s, s:s}", "driver", "pci-testdev", "id", "hot1", "bus", "rp2");
	g_assert_true(nvfm_vm_device_add(vm->qmp, props, T_MS, &error));
	g_assert_no_error(error);
	hot = nvfm_vm_find_pci_device(vm->qmp, "hot1", NULL, T_MS, &error);
	g_assert_no_error(error);
	g_assert_cmpstr(hot->type, ==, "pci-testdev");
	g_assert_false(nvfm_vm_device_add(vm->qmp, props, T_MS, &error));
	g_assert_error(error, NVFM_ERROR, NVFM_ERROR_QMP);
	g_clear_error(&error);

	/* the tiny guest has no hotplug driver: removal is requested, never
	 * confirmed, and the bounded wait says so */
	ok = nvfm_vm_device_del(vm->qmp, "hot1", TRUE, 500, &error);
	if (!ok) {
		g_assert_error(error, NVFM_ERROR, NVFM_ERROR_TIMEOUT);
		g_assert_nonnull(strstr(error->message, "hot1"));
		g_clear_error(&error);
	}
	g_assert_false(nvfm_vm_device_del(vm->qmp, "no-such-dev", FALSE, T_MS, &error));
	g_assert_error(error, NVFM_ERROR, NVFM_ERROR_QMP);
	g_assert_cmpint(nvfm_qmp_error_class(error), ==, NVFM_QMP_ERROR_CLASS_DEVICE_NOT_FOUND);
}

typedef struct {
	NvfmQmp *qmp;
	GError *error;
} Waiter;

static gpointer waiter_thread(gpointer data)
{
	Waiter *w = data;
	NvfmQmpEvent *ev = nvfm_qmp_wait_event(w->qmp, "NEVER", NULL, NULL, 0, 60000, &w->error);

	g_assert_null(ev);
	return NULL;
}

static void test_qemu_dies(void)
{
	g_autoptr(TestVm) vm = NULL;
	g_autoptr(GError) error = NULL;
	Waiter w = { NULL, NULL };
	GThread *t;
	json_t *ret;

	REQUIRE_QEMU();
	vm = start_vm(NULL, NULL);
	w.qmp = vm->qmp;
	t = g_thread_new("waiter", waiter_thread, &w);
	g_usleep(50 * 1000);
	kill(vm->pid, SIGKILL);
	g_thread_join(t);
	/* a 60 s wait ends as soon as QEMU is gone */
	g_assert_error(w.error, NVFM_ERROR, NVFM_ERROR_IO);
	g_clear_error(&w.error);
	ret = nvfm_qmp_execute(vm->qmp, "query-status", NULL, 60000, &error);
	g_assert_null(ret);
	g_assert_error(error, NVFM_ERROR, NVFM_ERROR_IO);
	g_assert_false(nvfm_qmp_is_connected(vm->qmp));
}

static char *run_cli(int *status, const char *const *args)
{
	g_autoptr(GPtrArray) argv = g_ptr_array_new();
	g_autoptr(GError) error = NULL;
	const char *cli = g_getenv("NVFM_CLI");
	char *out = NULL;

	g_ptr_array_add(argv, (char *)"timeout");
	g_ptr_array_add(argv, (char *)"60");
	g_ptr_array_add(argv, (char *)cli);
	for (; *args; args++)
		g_ptr_array_add(argv, (char *)*args);
	g_ptr_array_add(argv, NULL);
	g_assert_true(g_spawn_sync(NULL, (char **)argv->pdata, NULL, G_SPAWN_SEARCH_PATH, NULL, NULL,
				   &out, NULL, status, &error));
	g_assert_no_error(error);
	return out;
}

static void test_cli(void)
{
	g_autoptr(TestVm) vm = NULL;
	g_autoptr(GError) error = NULL;
	g_autofree char *out = NULL;
	json_auto_t *j = NULL;
	int status = 0;

	REQUIRE_QEMU();
	if (!g_getenv("NVFM_CLI") || !g_file_test(g_getenv("NVFM_CLI"), G_FILE_TEST_IS_EXECUTABLE)) {
		g_test_skip("NVFM_CLI is not set to the built nvme-vf-migrate");
		return;
	}
	vm = start_vm(NULL, NULL);
	out = run_cli(&status, (const char *const[]){ "--json", "qmp", vm->aux_path, "query-status",
						      NULL });
	g_assert_true(g_spawn_check_wait_status(status, NULL));
	j = json_loads(out, 0, NULL);
	g_assert_true(json_is_true(json_object_get(j, "running")));
	g_clear_pointer(&out, g_free);

	out = run_cli(&status, (const char *const[]){ "qmp", vm->aux_path,
						      "human-monitor-command",
						      "{\"command-line\": \"info status\"}", NULL });
	g_assert_true(g_spawn_check_wait_status(status, NULL));
	g_assert_nonnull(strstr(out, "running"));
	g_clear_pointer(&out, g_free);

	out = run_cli(&status, (const char *const[]){ "qmp", vm->aux_path, "no-such-command",
						      NULL });
	g_assert_false(g_spawn_check_wait_status(status, NULL));
	g_assert_cmpint(WEXITSTATUS(status), ==, 1);
	g_clear_pointer(&out, g_free);

	/* events: the stream ends after --timeout. The CLI announces itself
	 * once connected (a note, on stderr: both streams are read here);
	 * then pause and resume through the other monitor. */
	{
		const char *argv[] = { "timeout", "60", "sh", "-c", "exec \"$0\" \"$@\" 2>&1",
				       g_getenv("NVFM_CLI"), "qmp", vm->aux_path, "--events",
				       "--timeout", "5", NULL };
		GString *buf = g_string_new(NULL);
		struct pollfd pfd = { .events = POLLIN };
		gboolean paused = FALSE;
		char chunk[4096];
		GPid pid;
		gssize n;

		g_assert_true(g_spawn_async_with_pipes(NULL, (char **)argv, NULL,
						       G_SPAWN_SEARCH_PATH | G_SPAWN_DO_NOT_REAP_CHILD,
						       NULL, NULL, &pid, NULL, &pfd.fd, NULL,
						       &error));
		g_assert_no_error(error);
		while (poll(&pfd, 1, 60000) == 1 && (n = read(pfd.fd, chunk, sizeof(chunk))) > 0) {
			g_string_append_len(buf, chunk, n);
			if (!paused && strstr(buf->str, "# following events")) {
				paused = TRUE;
				g_assert_true(nvfm_vm_pause(vm->qmp, T_MS, &error));
				g_assert_true(nvfm_vm_resume(vm->qmp, T_MS, &error));
				g_assert_no_error(error);
			}
		}
		close(pfd.fd);
		g_assert_true(qemu_vm_wait_pid(pid, 60000, &status));
		g_assert_true(g_spawn_check_wait_status(status, NULL));
		g_assert_true(paused);
		g_assert_nonnull(strstr(buf->str, "  STOP"));
		g_assert_nonnull(strstr(buf->str, "  RESUME"));
		g_string_free(buf, TRUE);
	}
}

int main(int argc, char **argv)
{
	g_test_init(&argc, &argv, NULL);
	skip_reason = qemu_vm_skip_reason();
	if (skip_reason) {
		/* TAP: the whole program is skipped, with the reason */
		printf("1..0 # SKIP %s\n", skip_reason);
		return 0;
	}
	g_test_add_func("/qemu/greeting", test_greeting);
	g_test_add_func("/qemu/pause-resume", test_pause_resume);
	g_test_add_func("/qemu/migration-caps", test_migration_caps);
	g_test_add_func("/qemu/migrate/netns-pre-switchover", test_migrate_netns);
	g_test_add_func("/qemu/migrate/cancel", test_migrate_cancel);
	g_test_add_func("/qemu/pci", test_pci);
	g_test_add_func("/qemu/dies", test_qemu_dies);
	g_test_add_func("/qemu/cli", test_cli);
	return g_test_run();
}
