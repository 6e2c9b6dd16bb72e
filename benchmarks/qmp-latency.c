/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * QMP latency against a real QEMU (TCG, the tiny guest): the round trip of
 * "query-status", the time from sending "stop" to receiving STOP (and to
 * the reply), and a whole nvfm_vm_pause(). Prints median and p99.
 *   qmp-latency [--rounds N] [--pauses N]
 */
#include <stdio.h>
#include <stdlib.h>

#include "tests/qmp/qemu-vm.h"

static int cmp_i64(const void *a, const void *b)
{
	gint64 x = *(const gint64 *)a, y = *(const gint64 *)b;

	return x < y ? -1 : x > y;
}

static void report(const char *what, GArray *us)
{
	gint64 *v = (gint64 *)us->data;
	guint n = us->len;
	double sum = 0;

	qsort(v, n, sizeof(*v), cmp_i64);
	for (guint i = 0; i < n; i++)
		sum += v[i];
	printf("%-38s n=%-5u median %7.1f us  p99 %7.1f us  min %7.1f us  max %8.1f us  mean %7.1f us\n",
	       what, n, (double)v[n / 2], (double)v[MIN(n - 1, (guint)(n * 0.99))], (double)v[0],
	       (double)v[n - 1], sum / n);
}

static void die(GError *error)
{
	fprintf(stderr, "qmp-latency: %s\n", error ? error->message : "failed");
	exit(1);
}

static void measure_rtt(TestVm *vm, int rounds, GArray *out)
{
	GError *error = NULL;

	for (int i = 0; i < rounds + 50; i++) {
		gint64 t0 = g_get_monotonic_time(), dt;
		json_t *ret = nvfm_qmp_execute(vm->qmp, "query-status", NULL, 10000, &error);

		if (!ret)
			die(error);
		dt = g_get_monotonic_time() - t0;
		json_decref(ret);
		if (i >= 50)	/* warm-up */
			g_array_append_val(out, dt);
	}
}

int main(int argc, char **argv)
{
	g_autoptr(GArray) rtt = g_array_new(FALSE, FALSE, sizeof(gint64));
	g_autoptr(GArray) rtt_idle = g_array_new(FALSE, FALSE, sizeof(gint64));
	g_autoptr(GArray) to_event = g_array_new(FALSE, FALSE, sizeof(gint64));
	g_autoptr(GArray) to_reply = g_array_new(FALSE, FALSE, sizeof(gint64));
	g_autoptr(GArray) pause = g_array_new(FALSE, FALSE, sizeof(gint64));
	g_autoptr(TestVm) vm = NULL;
	GError *error = NULL;
	const char *skip = qemu_vm_skip_reason();
	int rounds = 2000, pauses = 200;
	int major, minor, micro;

	for (int i = 1; i + 1 < argc; i += 2) {
		if (!g_strcmp0(argv[i], "--rounds"))
			rounds = MAX(1, atoi(argv[i + 1]));
		else if (!g_strcmp0(argv[i], "--pauses"))
			pauses = MAX(1, atoi(argv[i + 1]));
	}
	if (skip) {
		printf("qmp-latency: skipped: %s\n", skip);
		return 77;
	}
	vm = qemu_vm_start(NULL, (const char *const[]){ "-S", NULL }, &error);
	if (!vm)
		die(error);
	nvfm_qmp_get_version(vm->qmp, &major, &minor, &micro);
	printf("QEMU %d.%d.%d (TCG), socket transport, oob %s\n", major, minor, micro,
	       nvfm_qmp_has_capability(vm->qmp, "oob") ? "on" : "off");

	/* vCPU halted (-S) first: the QMP path alone; then with the TCG vCPU
	 * spinning, which competes with QEMU's main loop for the host CPUs */
	measure_rtt(vm, rounds, rtt_idle);
	report("query-status round trip, vCPU idle", rtt_idle);
	if (!nvfm_vm_resume(vm->qmp, 10000, &error))
		die(error);
	measure_rtt(vm, rounds, rtt);
	report("query-status round trip, vCPU busy", rtt);

	for (int i = 0; i < pauses; i++) {
		guint64 seq = nvfm_qmp_event_seq(vm->qmp);
		gint64 t0 = g_get_monotonic_time(), t_reply, t_event, t1;
		g_autoptr(NvfmQmpEvent) ev = NULL;
		json_t *ret = nvfm_qmp_execute(vm->qmp, "stop", NULL, 10000, &error);

		if (!ret)
			die(error);
		t_reply = g_get_monotonic_time() - t0;
		json_decref(ret);
		ev = nvfm_qmp_wait_event(vm->qmp, "STOP", NULL, NULL, seq, 10000, &error);
		if (!ev)
			die(error);
		t_event = nvfm_qmp_event_get_received_us(ev) - t0;
		g_array_append_val(to_event, t_event);
		g_array_append_val(to_reply, t_reply);
		if (!nvfm_vm_resume(vm->qmp, 10000, &error))
			die(error);

		t0 = g_get_monotonic_time();
		if (!nvfm_vm_pause(vm->qmp, 10000, &error))
			die(error);
		t1 = g_get_monotonic_time() - t0;
		g_array_append_val(pause, t1);
		if (!nvfm_vm_resume(vm->qmp, 10000, &error))
			die(error);
	}
	report("stop sent -> STOP received", to_event);
	report("stop sent -> reply received", to_reply);
	report("nvfm_vm_pause() (status+stop+STOP)", pause);
	return 0;
}
