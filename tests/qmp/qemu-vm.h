/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Real QEMU processes for tests and benchmarks: the tiny guest under TCG,
 * a QMP socket per process, optionally inside a network namespace. QEMU
 * dies with the test process (PR_SET_PDEATHSIG), and every wait is bounded.
 */
#pragma once

#include "nvfm/nvfm.h"

typedef struct {
	GPid pid;
	char *dir;
	char *qmp_path;		/* the library's monitor */
	char *aux_path;		/* a second monitor, for the CLI */
	char *log_path;
	NvfmQmp *qmp;
	gboolean reaped;
	int wait_status;
} TestVm;

/* NULL when QEMU and the tiny guest are there; else why tests must skip. */
const char *qemu_vm_skip_reason(void);
/* @extra: more QEMU arguments (NULL-terminated), or NULL */
TestVm *qemu_vm_start(const char *netns, const char *const *extra, GError **error);
/* TRUE once the process has exited (status in vm->wait_status) */
gboolean qemu_vm_wait_exit(TestVm *vm, int timeout_ms);
void qemu_vm_kill(TestVm *vm);
/* waitpid() with a bound; TRUE and *status once @pid has exited */
gboolean qemu_vm_wait_pid(GPid pid, int timeout_ms, int *status);
void qemu_vm_free(TestVm *vm);
/* the guest's counter, read through the monitor */
gboolean qemu_vm_counter(TestVm *vm, guint32 *out, GError **error);
/* the last lines QEMU wrote to stderr, for failure messages */
char *qemu_vm_log(TestVm *vm);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(TestVm, qemu_vm_free)
