/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Real QEMU processes for tests; see qemu-vm.h. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "qemu-vm.h"

#define START_TIMEOUT_MS 20000

static const char *qemu_binary(void)
{
	static char *path;
	const char *env = g_getenv("NVFM_QEMU");

	if (env && *env)
		return env;
	if (!path)
		path = g_find_program_in_path("qemu-system-x86_64");
	return path;
}

const char *qemu_vm_skip_reason(void)
{
	const char *guest = g_getenv("NVFM_TINY_GUEST");

	if (!qemu_binary())
		return "qemu-system-x86_64 is not installed (scripts/install-deps.sh qemu)";
	if (!guest || !*guest)
		return "no tiny guest was built (binutils 'as'/'ld' missing at configure time)";
	if (!g_file_test(guest, G_FILE_TEST_EXISTS))
		return "the tiny guest is missing from the build directory";
	return NULL;
}

static void child_setup(gpointer data)
{
	int log = GPOINTER_TO_INT(data);

	/* never outlive the test, even when it aborts */
	prctl(PR_SET_PDEATHSIG, SIGKILL);
	dup2(log, STDOUT_FILENO);
	dup2(log, STDERR_FILENO);
}

static gboolean reap(TestVm *vm, gboolean block)
{
	int st;
	pid_t r;

	if (vm->reaped)
		return TRUE;
	do
		r = waitpid(vm->pid, &st, block ? 0 : WNOHANG);
	while (r < 0 && errno == EINTR);
	if (r == vm->pid) {
		vm->reaped = TRUE;
		vm->wait_status = st;
		return TRUE;
	}
	return FALSE;
}

gboolean qemu_vm_wait_exit(TestVm *vm, int timeout_ms)
{
	gint64 deadline = g_get_monotonic_time() + (gint64)timeout_ms * 1000;

	while (!reap(vm, FALSE)) {
		if (g_get_monotonic_time() >= deadline)
			return FALSE;
		g_usleep(10 * 1000);
	}
	return TRUE;
}

gboolean qemu_vm_wait_pid(GPid pid, int timeout_ms, int *status)
{
	gint64 deadline = g_get_monotonic_time() + (gint64)timeout_ms * 1000;

	for (;;) {
		pid_t r = waitpid(pid, status, WNOHANG);

		if (r == pid)
			return TRUE;
		if (r < 0 && errno != EINTR)
			return FALSE;
		if (g_get_monotonic_time() >= deadline)
			return FALSE;
		g_usleep(10 * 1000);
	}
}

char *qemu_vm_log(TestVm *vm)
{
	g_autofree char *all = NULL;
	gsize len = 0;

	if (!g_file_get_contents(vm->log_path, &all, &len, NULL))
		return g_strdup("");
	return g_strdup(len > 2000 ? all + len - 2000 : all);
}

TestVm *qemu_vm_start(const char *netns, const char *const *extra, GError **error)
{
	g_autoptr(GPtrArray) argv = g_ptr_array_new_with_free_func(g_free);
	const char *datadir = g_getenv("NVFM_QEMU_DATADIR");
	TestVm *vm = g_new0(TestVm, 1);
	gint64 deadline = g_get_monotonic_time() + (gint64)START_TIMEOUT_MS * 1000;
	int log;

	vm->pid = -1;
	vm->dir = g_dir_make_tmp("nvfm-qemu-XXXXXX", error);
	if (!vm->dir)
		goto fail;
	vm->qmp_path = g_build_filename(vm->dir, "qmp.sock", NULL);
	vm->aux_path = g_build_filename(vm->dir, "aux.sock", NULL);
	vm->log_path = g_build_filename(vm->dir, "qemu.log", NULL);
	if (netns) {
		g_ptr_array_add(argv, g_strdup("ip"));
		g_ptr_array_add(argv, g_strdup("netns"));
		g_ptr_array_add(argv, g_strdup("exec"));
		g_ptr_array_add(argv, g_strdup(netns));
	}
	g_ptr_array_add(argv, g_strdup(qemu_binary()));
	if (datadir && *datadir) {
		g_ptr_array_add(argv, g_strdup("-L"));
		g_ptr_array_add(argv, g_strdup(datadir));
	}
	for (const char *const *a = (const char *const[]){
		     "-machine", "q35,accel=tcg", "-nodefaults", "-no-user-config",
		     "-display", "none", "-serial", "none", "-m", "128", NULL }; *a; a++)
		g_ptr_array_add(argv, g_strdup(*a));
	g_ptr_array_add(argv, g_strdup("-kernel"));
	g_ptr_array_add(argv, g_strdup(g_getenv("NVFM_TINY_GUEST")));
	g_ptr_array_add(argv, g_strdup("-qmp"));
	g_ptr_array_add(argv, g_strdup_printf("unix:%s,server=on,wait=off", vm->qmp_path));
	g_ptr_array_add(argv, g_strdup("-qmp"));
	g_ptr_array_add(argv, g_strdup_printf("unix:%s,server=on,wait=off", vm->aux_path));
	for (; extra && *extra; extra++)
		g_ptr_array_add(argv, g_strdup(*extra));
	g_ptr_array_add(argv, NULL);

	log = open(vm->log_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (log < 0) {
		g_set_error(error, G_FILE_ERROR, g_file_error_from_errno(errno), "open %s",
			    vm->log_path);
		goto fail;
	}
	if (!g_spawn_async(NULL, (char **)argv->pdata, NULL,
			   G_SPAWN_DO_NOT_REAP_CHILD | G_SPAWN_SEARCH_PATH, child_setup,
			   GINT_TO_POINTER(log), &vm->pid, error)) {
		close(log);
		goto fail;
	}
	close(log);

	for (;;) {
		g_autoptr(GError) local = NULL;

		if (reap(vm, FALSE)) {
			g_autofree char *tail = qemu_vm_log(vm);

			g_set_error(error, G_SPAWN_ERROR, G_SPAWN_ERROR_FAILED,
				    "QEMU exited at start (status 0x%x): %s", vm->wait_status, tail);
			goto fail;
		}
		if (g_file_test(vm->qmp_path, G_FILE_TEST_EXISTS)) {
			vm->qmp = nvfm_qmp_connect(vm->qmp_path, 10000, &local);
			if (vm->qmp)
				return vm;
		}
		if (g_get_monotonic_time() >= deadline) {
			g_set_error(error, G_IO_ERROR, G_IO_ERROR_TIMED_OUT,
				    "QEMU's QMP socket did not come up: %s",
				    local ? local->message : "no socket");
			goto fail;
		}
		g_usleep(20 * 1000);
	}
fail:
	qemu_vm_free(vm);
	return NULL;
}

void qemu_vm_kill(TestVm *vm)
{
	if (vm->pid > 0 && !vm->reaped) {
		kill(vm->pid, SIGKILL);
		/* SIGKILL cannot be ignored; the bound only guards a D-state */
		if (!qemu_vm_wait_exit(vm, 10000))
			g_printerr("# QEMU %d did not die\n", vm->pid);
	}
}

void qemu_vm_free(TestVm *vm)
{
	if (!vm)
		return;
	g_clear_pointer(&vm->qmp, nvfm_qmp_free);
	qemu_vm_kill(vm);
	if (vm->dir) {
		if (vm->qmp_path)
			unlink(vm->qmp_path);
		if (vm->aux_path)
			unlink(vm->aux_path);
		if (vm->log_path)
			unlink(vm->log_path);
		rmdir(vm->dir);
	}
	g_free(vm->qmp_path);
	g_free(vm->aux_path);
	g_free(vm->log_path);
	g_free(vm->dir);
	g_free(vm);
}

gboolean qemu_vm_counter(TestVm *vm, guint32 *out, GError **error)
{
	json_auto_t *args = json_pack("{s:s}", "command-line", "xp /1wx 0x200000");
	json_auto_t *ret = nvfm_qmp_execute(vm->qmp, "human-monitor-command", args, 10000, error);
	const char *s, *colon;

	if (!ret)
		return FALSE;
	s = json_string_value(ret);
	colon = s ? strstr(s, ": ") : NULL;
	if (!colon) {
		g_set_error(error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA, "unexpected xp output: %s",
			    s ? s : "(none)");
		return FALSE;
	}
	*out = (guint32)strtoul(colon + 2, NULL, 16);
	return TRUE;
}
