/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The libvirt transport against a real libvirt QEMU driver, run embedded in
 * this process (qemu:///embed, no daemon) with the tiny guest as a transient
 * domain. Needs libvirt's QEMU connection driver; as root the test drops to
 * "nobody" first, because a privileged embedded driver wants the
 * libvirt-qemu user that only libvirt-daemon-system creates.
 */
#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <libvirt/libvirt.h>
#include <libvirt/virterror.h>

#include "nvfm/nvfm.h"

#define T_MS 30000

static char *root_dir;
static char *uri;

static gpointer event_loop(gpointer data)
{
	for (;;)
		virEventRunDefaultImpl();
	return NULL;
}

static void quiet(void *opaque, virErrorPtr err)
{
}

static const char *drop_privileges(void)
{
	struct passwd *pw;

	if (geteuid() != 0)
		return NULL;
	pw = getpwnam("nobody");
	if (!pw)
		return "no 'nobody' user to run the embedded driver as";
	if (setgroups(0, NULL) < 0 || setgid(pw->pw_gid) < 0 || setuid(pw->pw_uid) < 0)
		return "cannot drop privileges";
	return NULL;
}

static void test_libvirt_transport(void)
{
	g_autofree char *xml = NULL;
	g_autoptr(NvfmQmp) qmp = NULL;
	g_autoptr(GError) error = NULL;
	g_autoptr(NvfmQmpEvent) stop = NULL;
	g_autoptr(NvfmQmpEvent) resume = NULL;
	g_autoptr(NvfmVmMigrationInfo) info = NULL;
	g_autofree char *status = NULL;
	virConnectPtr conn;
	virDomainPtr dom;
	json_t *ret;
	guint64 seq;
	int fds[2];

	conn = virConnectOpen(uri);
	if (!conn) {
		virErrorPtr e = virGetLastError();
		g_autofree char *why = g_strdup_printf("libvirt's QEMU driver is not usable here: %s",
						       e && e->message ? e->message : "?");

		g_test_skip(why);
		return;
	}
	/* <acpi/> keeps libvirt 9.0 from passing -no-acpi, which QEMU 9+ lacks */
	xml = g_strdup_printf("<domain type='qemu'><name>nvfm-tiny</name>"
			      "<memory unit='MiB'>128</memory>"
			      "<os><type arch='x86_64' machine='q35'>hvm</type>"
			      "<kernel>%s</kernel></os><features><acpi/></features>"
			      "<devices><emulator>%s</emulator></devices></domain>",
			      g_getenv("NVFM_TINY_GUEST"), g_getenv("NVFM_QEMU_PATH"));
	dom = virDomainCreateXML(conn, xml, 0);
	if (!dom) {
		virErrorPtr e = virGetLastError();
		g_autofree char *why = g_strdup_printf("libvirt cannot start the tiny guest: %s",
						       e && e->message ? e->message : "?");

		virConnectClose(conn);
		g_test_skip(why);
		return;
	}

	qmp = nvfm_qmp_connect_libvirt(uri, "nvfm-tiny", T_MS, &error);
	g_assert_no_error(error);
	g_assert_cmpstr(nvfm_qmp_get_transport_name(qmp), ==, "libvirt");
	g_assert_true(nvfm_qmp_version_at_least(qmp, 7, 2, 0));

	seq = nvfm_qmp_event_seq(qmp);
	g_assert_true(nvfm_vm_pause(qmp, T_MS, &error));
	g_assert_no_error(error);
	stop = nvfm_qmp_wait_event(qmp, "STOP", NULL, NULL, seq, T_MS, &error);
	g_assert_no_error(error);
	g_assert_true(nvfm_vm_query_status(qmp, &status, NULL, T_MS, &error));
	g_assert_cmpstr(status, ==, "paused");
	seq = nvfm_qmp_event_seq(qmp);
	g_assert_true(nvfm_vm_resume(qmp, T_MS, &error));
	g_assert_no_error(error);
	resume = nvfm_qmp_wait_event(qmp, "RESUME", NULL, NULL, seq, T_MS, &error);
	g_assert_no_error(error);

	ret = nvfm_qmp_execute(qmp, "no-such-command", NULL, T_MS, &error);
	g_assert_null(ret);
	g_assert_cmpint(nvfm_qmp_error_class(error), ==, NVFM_QMP_ERROR_CLASS_COMMAND_NOT_FOUND);
	g_clear_error(&error);
	info = nvfm_vm_query_migration(qmp, T_MS, &error);
	g_assert_no_error(error);
	g_assert_cmpstr(info->status, ==, "none");

	g_assert_cmpint(pipe(fds), ==, 0);
	g_assert_false(nvfm_qmp_getfd(qmp, "x", fds[0], T_MS, &error));
	g_assert_error(error, NVFM_ERROR, NVFM_ERROR_NOT_SUPPORTED);
	g_clear_error(&error);
	close(fds[0]);
	close(fds[1]);

	/* the domain goes away: the client says so instead of waiting */
	g_assert_cmpint(virDomainDestroy(dom), ==, 0);
	ret = nvfm_qmp_execute(qmp, "query-status", NULL, T_MS, &error);
	g_assert_null(ret);
	g_assert_nonnull(error);
	g_clear_error(&error);
	g_assert_null(nvfm_qmp_wait_event(qmp, "NEVER", NULL, NULL, nvfm_qmp_event_seq(qmp), T_MS,
					  &error));
	/* Either the lifecycle event closed the transport first (IO) or the
	 * wait's own probe found the domain gone (NOT_FOUND); both end the
	 * wait at once instead of running into the timeout. */
	g_assert_true(g_error_matches(error, NVFM_ERROR, NVFM_ERROR_IO) ||
		      g_error_matches(error, NVFM_ERROR, NVFM_ERROR_NOT_FOUND));
	virDomainFree(dom);
	virConnectClose(conn);
}

static void remove_tree(const char *path)
{
	g_autoptr(GDir) d = g_dir_open(path, 0, NULL);
	const char *name;

	while (d && (name = g_dir_read_name(d))) {
		g_autofree char *child = g_build_filename(path, name, NULL);

		if (g_file_test(child, G_FILE_TEST_IS_DIR) && !g_file_test(child, G_FILE_TEST_IS_SYMLINK))
			remove_tree(child);
		else
			unlink(child);
	}
	rmdir(path);
}

int main(int argc, char **argv)
{
	const char *guest = g_getenv("NVFM_TINY_GUEST");
	g_autofree char *qemu = g_find_program_in_path("qemu-system-x86_64");
	g_autofree char *etc = NULL;
	g_autofree char *conf = NULL;
	const char *why;
	int rc;

	g_test_init(&argc, &argv, NULL);
	if (!qemu || !guest || !g_file_test(guest, G_FILE_TEST_EXISTS)) {
		printf("1..0 # SKIP %s\n", qemu ? "no tiny guest was built" :
		       "qemu-system-x86_64 is not installed");
		return 0;
	}
	why = drop_privileges();
	if (why) {
		printf("1..0 # SKIP %s\n", why);
		return 0;
	}
	g_setenv("NVFM_QEMU_PATH", qemu, TRUE);
	root_dir = g_dir_make_tmp("nvfm-virt-XXXXXX", NULL);
	g_assert_nonnull(root_dir);
	g_setenv("HOME", root_dir, TRUE);
	etc = g_build_filename(root_dir, "etc", NULL);
	g_assert_cmpint(g_mkdir_with_parents(etc, 0700), ==, 0);
	conf = g_build_filename(etc, "qemu.conf", NULL);
	/* no virtlogd in an embedded driver */
	g_assert_true(g_file_set_contents(conf, "stdio_handler = \"file\"\n", -1, NULL));
	uri = g_strdup_printf("qemu:///embed?root=%s", root_dir);

	/* an application with its own libvirt event loop: the library uses it */
	virSetErrorFunc(NULL, quiet);
	g_assert_cmpint(virEventRegisterDefaultImpl(), ==, 0);
	g_thread_unref(g_thread_new("virt-events", event_loop, NULL));

	g_test_add_func("/qmp/libvirt/embedded-qemu", test_libvirt_transport);
	rc = g_test_run();
	remove_tree(root_dir);
	return rc;
}
