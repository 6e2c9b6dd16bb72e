/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * "migrate" and "check": the orchestrator (include/nvfm/migrate.h) and its
 * preflight alone. Prints the timeline (or --json), a progress bar when
 * stderr is a terminal, and turns SIGINT/SIGTERM into a cancel that takes
 * the same rollback as any failure.
 */
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "cli-progress.h"
#include "cli-transport.h"

typedef struct {
	char *agent, *dest_driver, *mover, *vm, *dest_vm, *uri, *vm_device;
	char *domain, *connect, *dest_connect;
	char *threshold, *state_size, *device_props, *report, *report_svg, *progress;
	char **timeouts;
	char **dest_pfs;
	NvfmAddress *vfs[8];	/* the VF arguments, parsed */
	guint n_vfs;
	int nvq, nvi, rounds, downtime, multifd;
	gboolean keep_source;
	CliTransport t;
} MigrateArgs;

static void add_options(GOptionContext *ctx, MigrateArgs *a)
{
	GOptionEntry entries[] = {
		{ "to", 0, 0, G_OPTION_ARG_STRING, &a->agent, "The destination host's agent: HOST[:PORT] or unix:PATH", "ADDR" },
		{ "dest-pf", 0, 0, G_OPTION_ARG_STRING_ARRAY, &a->dest_pfs, "A destination PF to provision the VF from (PCI address or emu:NAME; repeatable: the agent takes the first that can give the VF, on the source VF's NUMA node first)", "PF" },
		{ "dest-driver", 0, 0, G_OPTION_ARG_STRING, &a->dest_driver, "Driver for the destination VF (default: the agent's choice for the PF)", "DRIVER" },
		{ "device-state", 0, 0, G_OPTION_ARG_STRING, &a->mover, "Who moves the VF's state: direct (default) or qemu", "MOVER" },
		{ "vm", 0, 0, G_OPTION_ARG_STRING, &a->vm, "The source VM's QMP socket (a path, unix:PATH or tcp:HOST:PORT)", "QMP" },
		{ "dest-vm", 0, 0, G_OPTION_ARG_STRING, &a->dest_vm, "The destination QEMU's QMP socket (started with -incoming defer): agent:PATH reaches a UNIX socket on the destination through the agent; tcp:HOST:PORT only with --insecure", "QMP" },
		{ "migrate-uri", 0, 0, G_OPTION_ARG_STRING, &a->uri, "Where the destination QEMU listens for the VM's migration stream (tcp:HOST:PORT)", "URI" },
		{ "domain", 0, 0, G_OPTION_ARG_STRING, &a->domain, "A libvirt domain instead of --vm: libvirt migrates it, QEMU carries the VF (--device-state qemu)", "NAME" },
		{ "connect", 'c', 0, G_OPTION_ARG_STRING, &a->connect, "The source libvirt URI (default: libvirt's default)", "URI" },
		{ "dest-connect", 0, 0, G_OPTION_ARG_STRING, &a->dest_connect, "The destination libvirt URI for the peer-to-peer migration (qemu+tcp://HOST/system)", "URI" },
		{ "vm-device", 0, 0, G_OPTION_ARG_STRING, &a->vm_device, "qemu mover: the id of the VF's vfio-pci device in the VM (default: found by the VF's address)", "ID" },
		{ "dest-device-props", 0, 0, G_OPTION_ARG_STRING, &a->device_props, "qemu mover: extra properties for the destination vfio-pci device (a JSON object)", "JSON" },
		{ "nvq", 0, 0, G_OPTION_ARG_INT, &a->nvq, "Flexible queue resources for the destination VF", "N" },
		{ "nvi", 0, 0, G_OPTION_ARG_INT, &a->nvi, "Flexible interrupt resources for the destination VF", "N" },
		{ "precopy-rounds", 0, 0, G_OPTION_ARG_INT, &a->rounds, "direct mover: PRE_COPY rounds while the VM runs (default 0)", "N" },
		{ "precopy-threshold", 0, 0, G_OPTION_ARG_STRING, &a->threshold, "direct mover: leave PRE_COPY once dirty bytes fall below (default 4M)", "SIZE" },
		{ "downtime-limit", 0, 0, G_OPTION_ARG_INT, &a->downtime, "qemu mover: downtime-limit in ms (default: from the VF's state size and the measured link rate)", "MS" },
		{ "multifd", 0, 0, G_OPTION_ARG_INT, &a->multifd, "With a VM: QEMU's migration stream (and with QEMU >= 10 the VF's state, qemu mover) over N parallel channels (1-64; default one stream)", "N" },
		{ "state-size", 0, 0, G_OPTION_ARG_STRING, &a->state_size, "qemu mover: the VF's state size for that computation (default: the destination VF's MIG_DATA_SIZE)", "SIZE" },
		{ "report", 0, 0, G_OPTION_ARG_FILENAME, &a->report, "migrate: also write the JSON report (timeline, downtime, outcome) to FILE, and its picture to FILE with .svg for .json", "FILE" },
		{ "report-svg", 0, 0, G_OPTION_ARG_FILENAME, &a->report_svg, "migrate: write the report's picture (SVG) to FILE instead", "FILE" },
		CLI_PROGRESS_OPTION(a->progress),
		{ "keep-source", 0, 0, G_OPTION_ARG_NONE, &a->keep_source, "After success, leave the source QEMU and VF as they are", NULL },
		{ "phase-timeout", 0, 0, G_OPTION_ARG_STRING_ARRAY, &a->timeouts, "Bound a phase: PHASE=SECONDS (repeatable; phases: preflight reserve precopy pause stop-copy restore switchover resume release)", "PHASE=S" },
		{ NULL },
	};

	g_option_context_add_main_entries(ctx, entries, NULL);
	cli_transport_add_options(ctx, &a->t, FALSE);
}

static void clear_args(MigrateArgs *a)
{
	for (guint i = 0; i < a->n_vfs; i++)
		nvfm_address_free(a->vfs[i]);
	g_free(a->agent);
	g_strfreev(a->dest_pfs);
	g_free(a->dest_driver);
	g_free(a->mover);
	g_free(a->vm);
	g_free(a->dest_vm);
	g_free(a->uri);
	g_free(a->vm_device);
	g_free(a->domain);
	g_free(a->connect);
	g_free(a->dest_connect);
	g_free(a->threshold);
	g_free(a->state_size);
	g_free(a->device_props);
	g_free(a->report);
	g_free(a->report_svg);
	g_free(a->progress);
	g_strfreev(a->timeouts);
	cli_transport_clear(&a->t);
}

/* Fills @o from @a and the VF arguments (@n of them, at most
 * G_N_ELEMENTS(a->vfs)); the strings stay owned by @a. */
static gboolean to_options(const char *cmd, MigrateArgs *a, char **vfs, int n,
			   NvfmMigrateOptions *o, int *code)
{
	GError *error = NULL;

	nvfm_migrate_options_init(o);
	for (int i = 0; i < n; i++) {
		a->vfs[i] = nvfm_address_parse(vfs[i], &error);
		if (!a->vfs[i]) {
			*code = cli_fail(error);
			return FALSE;
		}
		a->n_vfs++;
	}
	/* one VF is the plain case; several move as one unit */
	if (n == 1) {
		o->vf = a->vfs[0];
	} else {
		o->vfs = (const NvfmAddress *const *)a->vfs;
		o->n_vfs = (guint)n;
	}
	if (!cli_transport_config(&a->t, FALSE, cmd, code) ||
	    !cli_config_str(NVFM_CFG_CLIENT_AGENT, "--to", &a->agent, cmd, code) ||
	    !cli_config_strv(NVFM_CFG_CLIENT_DEST_PF, "--dest-pf", &a->dest_pfs, cmd, code) ||
	    !cli_config_str(NVFM_CFG_CLIENT_DRIVER, "--dest-driver", &a->dest_driver, cmd, code) ||
	    !cli_config_str(NVFM_CFG_CLIENT_DEVICE_STATE, "--device-state", &a->mover, cmd, code) ||
	    !cli_config_int(NVFM_CFG_CLIENT_PRECOPY_ROUNDS, "--precopy-rounds", &a->rounds, cmd,
			    code) ||
	    !cli_config_str(NVFM_CFG_CLIENT_PRECOPY_THRESHOLD, "--precopy-threshold",
			    &a->threshold, cmd, code) ||
	    !cli_config_int(NVFM_CFG_CLIENT_DOWNTIME_LIMIT, "--downtime-limit", &a->downtime, cmd,
			    code) ||
	    !cli_config_strv(NVFM_CFG_CLIENT_PHASE_TIMEOUTS, "--phase-timeout", &a->timeouts, cmd,
			     code))
		return FALSE;
	g_free(a->agent);
	a->agent = cli_config_agent_address();
	if (!a->agent || !a->dest_pfs || !a->dest_pfs[0]) {
		*code = cli_usage_error(cmd, "needs --to ADDR and --dest-pf PF (or [client] agent "
					"and dest_pf)");
		return FALSE;
	}
	if (!a->mover || !strcmp(a->mover, "direct")) {
		o->mover = NVFM_MOVER_DIRECT;
	} else if (!strcmp(a->mover, "qemu")) {
		o->mover = NVFM_MOVER_QEMU;
	} else {
		*code = cli_usage_error(cmd, "--device-state must be direct or qemu, not '%s'",
					a->mover);
		return FALSE;
	}
	if (a->multifd < 0 || a->multifd > 64) {
		*code = cli_usage_error(cmd, "--multifd must be 1 to 64 channels, not %d", a->multifd);
		return FALSE;
	}
	if (a->nvq < 0 || a->nvi < 0 || a->rounds < 0 || a->downtime < 0 || a->t.timeout <= 0) {
		*code = cli_usage_error(cmd, "--nvq, --nvi, --precopy-rounds and --downtime-limit "
					"must be >= 0, --timeout > 0");
		return FALSE;
	}
	if ((a->threshold && !nvfm_size_parse(a->threshold, &o->precopy_threshold, &error)) ||
	    (a->state_size && !nvfm_size_parse(a->state_size, &o->state_size, &error))) {
		*code = cli_fail(error);
		return FALSE;
	}
	memcpy(o->timeout_ms, nvfm_config_get_timeouts(cli_config(cmd, code),
						       NVFM_CFG_CLIENT_PHASE_TIMEOUTS),
	       sizeof(o->timeout_ms));
	o->timeout_ms[NVFM_MIGRATE_PREFLIGHT] = o->timeout_ms[NVFM_MIGRATE_PREFLIGHT] ?:
						 a->t.timeout * 1000;
	o->vm_qmp = a->vm;
	o->domain = a->domain;
	o->libvirt_uri = a->connect;
	o->dest_libvirt_uri = a->dest_connect;
	/* agent:PATH: the destination QEMU's UNIX socket, through the agent */
	o->dest_qmp_via_agent = a->dest_vm && g_str_has_prefix(a->dest_vm, "agent:");
	o->dest_qmp = o->dest_qmp_via_agent ? a->dest_vm + strlen("agent:") : a->dest_vm;
	if (o->dest_qmp_via_agent && !g_path_is_absolute(o->dest_qmp)) {
		*code = cli_usage_error(cmd, "--dest-vm agent:PATH needs an absolute PATH, not '%s'",
					o->dest_qmp);
		return FALSE;
	}
	o->migrate_uri = a->uri;
	o->vm_device_id = a->vm_device;
	o->dest_device_props = a->device_props;
	o->agent = a->agent;
	o->dest_pfs = (const char *const *)a->dest_pfs;
	o->dest_driver = a->dest_driver;
	o->nvq = (guint)a->nvq;
	o->nvi = (guint)a->nvi;
	o->precopy_rounds = (guint)a->rounds;
	o->downtime_limit_ms = (guint)a->downtime;
	o->multifd_channels = (guint)a->multifd;
	o->keep_source = a->keep_source;
	o->insecure = a->t.insecure;
	o->tls = cli_transport_tls(&a->t, FALSE, a->agent, &error);
	if (error) {
		*code = cli_fail(error);
		return FALSE;
	}
	return TRUE;
}

/* ---- cancel ---- */

static void *watch_signals(void *data)
{
	sigset_t set;
	int sig;

	sigemptyset(&set);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGTERM);
	while (sigwait(&set, &sig) == 0) {
		g_cancellable_cancel(G_CANCELLABLE(data));
		/* a second signal is the user insisting: die as usual */
		break;
	}
	pthread_sigmask(SIG_UNBLOCK, &set, NULL);
	return NULL;
}

/* Blocks SIGINT/SIGTERM in every thread and hands them to one that
 * cancels: called before any other thread exists. */
static void cancel_on_signals(GCancellable *c)
{
	sigset_t set;
	pthread_t th;

	sigemptyset(&set);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGTERM);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	if (pthread_create(&th, NULL, watch_signals, c) == 0)
		pthread_detach(th);
}

/* ---- the report ---- */

static void print_vf(json_t *vf)
{
	const char *k;
	json_t *v;

	printf("vf %s:", json_string_value(json_object_get(vf, "source_vf")));
	json_object_foreach(vf, k, v) {
		if (!strcmp(k, "source_vf") || json_is_object(v))
			continue;
		if (json_is_real(v))
			printf(" %s=%.1f", k, json_real_value(v));
		else if (json_is_integer(v))
			printf(" %s=%" JSON_INTEGER_FORMAT, k, json_integer_value(v));
		else if (json_is_string(v))
			printf(" %s=%s", k, json_string_value(v));
	}
	printf("\n");
}

static void print_timeline(json_t *rep)
{
	json_t *p, *v;
	gsize i;

	printf("%-11s %10s %10s %12s  %s\n", "phase", "start ms", "ms", "bytes", "outcome");
	json_array_foreach(json_object_get(rep, "timeline"), i, p) {
		const char *note = json_string_value(json_object_get(p, "note"));

		printf("%-11s %10.1f %10.1f %12" JSON_INTEGER_FORMAT "  %s%s%s\n",
		       json_string_value(json_object_get(p, "phase")),
		       json_real_value(json_object_get(p, "start_ms")),
		       json_real_value(json_object_get(p, "ms")),
		       json_integer_value(json_object_get(p, "bytes")),
		       json_string_value(json_object_get(p, "outcome")), note ? " - " : "",
		       note ? note : "");
	}
	if ((v = json_object_get(rep, "downtime_ms"))) {
		double down = json_real_value(v);
		json_t *x = json_object_get(rep, "state_transfer_ms");

		printf("downtime: %.1f ms", down);
		if (x)
			printf(" (VF state transfer %.1f ms, orchestration %.1f ms)",
			       json_real_value(x), down - json_real_value(x));
		printf("\n");
	}
	printf("VF state: %" JSON_INTEGER_FORMAT " bytes; total %.1f ms\n",
	       json_integer_value(json_object_get(rep, "state_bytes")),
	       json_real_value(json_object_get(rep, "total_ms")));
	if ((v = json_object_get(rep, "destination_vf")))
		printf("destination VF: %s\n", json_string_value(v));
	if ((v = json_object_get(rep, "source_state_sha256")))
		printf("source VF state sha256: %s\n", json_string_value(v));
	/* several VFs: a line each, with the JSON's names */
	if (json_array_size(json_object_get(rep, "vfs")) > 1)
		json_array_foreach(json_object_get(rep, "vfs"), i, v)
			print_vf(v);
	json_array_foreach(json_object_get(rep, "warnings"), i, v)
		printf("warning: %s\n", json_string_value(v));
	if ((v = json_object_get(rep, "rollback")))
		printf("rollback: %s\n", json_string_value(v));
}

/* The JSON, then its picture drawn from what was written: a report that
 * cannot be saved or drawn is said on stderr; the migration's outcome
 * decides the exit code. Where the picture went is noted only after a
 * success: a failure says one line, its error. */
static void save_report(MigrateArgs *a, json_t *rep, gboolean ok)
{
	g_autoptr(GError) err = NULL;
	g_autofree char *json = NULL;
	g_autofree char *svg = NULL;

	if (!a->report && !a->report_svg)
		return;
	/* --report-svg alone still draws from a file: a private one */
	if (a->report) {
		json = g_strdup(a->report);
	} else {
		int fd = g_file_open_tmp("nvfm-report-XXXXXX.json", &json, &err);

		if (fd < 0) {
			g_printerr("nvme-vf-migrate: cannot write the report: %s\n", err->message);
			return;
		}
		close(fd);
	}
	if (json_dump_file(rep, json, JSON_INDENT(2)) != 0) {
		g_printerr("nvme-vf-migrate: cannot write the report to %s\n", json);
		return;
	}
	svg = a->report_svg ? g_strdup(a->report_svg) : nvfm_report_svg_path(json);
	if (!nvfm_report_write_svg(json, svg, &err))
		g_printerr("nvme-vf-migrate: cannot draw the report into %s: %s\n", svg,
			   err->message);
	else if (ok)
		cli_note("report picture: %s\n", svg);
	if (!a->report)
		unlink(json);
}

static const char *synopsis = "VF... --to AGENT --dest-pf PF [--vm QMP --dest-vm QMP --migrate-uri URI | "
			       "--domain NAME --dest-connect URI]";

int cmd_migrate(int argc, char **argv)
{
	MigrateArgs a = { 0 };
	g_autoptr(GOptionContext) ctx = g_option_context_new(NULL);
	g_autoptr(GCancellable) cancel = g_cancellable_new();
	json_auto_t *rep = NULL;
	g_autoptr(CliProgress) prog = NULL;
	NvfmMigrateOptions o;
	GError *error = NULL;
	gboolean ok;
	int code;

	add_options(ctx, &a);
	a.rounds = a.downtime = CLI_UNSET;
	if (!cli_parse(ctx, "migrate", synopsis,
		       "move a VM's NVMe VFs (and the VM) to another host", &argc, &argv, 1,
		       G_N_ELEMENTS(a.vfs), &code))
		goto out;
	if (!to_options("migrate", &a, argv + 1, argc - 1, &o, &code))
		goto out;
	prog = cli_progress_new("migrate", "migrate", a.progress, &code);
	if (!prog) {
		nvfm_tls_free(o.tls);
		goto out;
	}
	signal(SIGPIPE, SIG_IGN);
	cancel_on_signals(cancel);
	o.cancellable = cancel;
	if (cli_progress_active(prog)) {
		o.progress = cli_progress_migrate_cb;
		o.progress_data = prog;
	}
	ok = nvfm_migrate(&o, &rep, &error);
	g_clear_pointer(&prog, cli_progress_free);
	/* no report: the options were refused before anything ran */
	if (rep)
		save_report(&a, rep, ok);
	if (rep && cli_want_json())
		cli_print_json(rep);
	else if (rep && (!cli_globals.quiet || !ok))
		print_timeline(rep);
	code = ok ? CLI_EXIT_OK : cli_fail(error);
	nvfm_tls_free(o.tls);
out:
	clear_args(&a);
	return code;
}

/* The destination VF the agent would give for the VF whose facts are
 * @src and @dst: its PF and resources, and why those resources. */
static void print_plan(json_t *src, json_t *dst)
{
	json_t *plan = json_object_get(dst, "plan");
	json_t *res = json_object_get(src, "resources");

	if (!json_is_object(plan))
		return;
	printf("plan:\n  pf: %s\n  nvq: %" JSON_INTEGER_FORMAT "\n  nvi: %" JSON_INTEGER_FORMAT
	       "\n  from: %s\n  numa_node: %" JSON_INTEGER_FORMAT "\n",
	       json_string_value(json_object_get(plan, "pf")),
	       json_integer_value(json_object_get(plan, "nvq")),
	       json_integer_value(json_object_get(plan, "nvi")),
	       json_string_value(json_object_get(res, "from")) ?: "the PF's default",
	       json_integer_value(json_object_get(plan, "numa_node")));
}

/* The VF's dirty tracking, with the JSON's names ("dirty_cost.ram_bytes"). */
static void print_dirty(json_t *host)
{
	json_t *cost = json_object_get(host, "dirty_cost");
	const char *k;
	json_t *v;

	if (json_object_get(host, "dirty_tracking"))
		printf("  dirty_tracking: %s\n",
		       json_string_value(json_object_get(host, "dirty_tracking")));
	json_object_foreach(cost, k, v) {
		g_autofree char *text = json_is_string(v) ? g_strdup(json_string_value(v))
							  : json_dumps(v, JSON_ENCODE_ANY);

		printf("  dirty_cost.%s: %s\n", k, text);
	}
}

/* Each VF's facts: the hosts' own with one VF, their "vfs" with several. */
static void print_plans(json_t *rep)
{
	json_t *src = json_object_get(rep, "source");
	json_t *dst = json_object_get(rep, "destination");
	json_t *v;
	gsize i;

	if (!json_object_get(src, "vfs")) {
		print_plan(src, dst);
		return;
	}
	json_array_foreach(json_object_get(src, "vfs"), i, v) {
		printf("vf %s:\n", json_string_value(json_object_get(v, "vf")));
		print_dirty(v);
		print_plan(v, json_array_get(json_object_get(dst, "vfs"), i));
	}
}

int cmd_check(int argc, char **argv)
{
	MigrateArgs a = { 0 };
	g_autoptr(GOptionContext) ctx = g_option_context_new(NULL);
	json_auto_t *rep = NULL;
	NvfmMigrateOptions o;
	GError *error = NULL;
	const char *hosts[] = { "source", "destination" };
	int code;

	add_options(ctx, &a);
	a.rounds = a.downtime = CLI_UNSET;
	if (!cli_parse(ctx, "check", synopsis,
		       "run the migration's preflight alone and print what would block it", &argc,
		       &argv, 1, G_N_ELEMENTS(a.vfs), &code))
		goto out;
	if (!to_options("check", &a, argv + 1, argc - 1, &o, &code))
		goto out;
	rep = nvfm_migrate_check(&o, &error);
	nvfm_tls_free(o.tls);
	if (!rep) {
		code = cli_fail(error);
		goto out;
	}
	if (cli_want_json()) {
		cli_print_json(rep);
	} else {
		for (guint h = 0; h < G_N_ELEMENTS(hosts); h++) {
			json_t *host = json_object_get(rep, hosts[h]);
			json_t *b;
			gsize i;

			printf("%s:", hosts[h]);
			if (!json_array_size(json_object_get(host, "blockers")))
				printf(" ready\n");
			else
				printf("\n");
			json_array_foreach(json_object_get(host, "blockers"), i, b)
				printf("  blocker: %s\n", json_string_value(b));
			json_array_foreach(json_object_get(host, "warnings"), i, b)
				printf("  warning: %s\n", json_string_value(b));
			print_dirty(host);
		}
		print_plans(rep);
	}
	code = json_is_true(json_object_get(rep, "ok")) ? CLI_EXIT_OK : CLI_EXIT_NOT_SUPPORTED;
out:
	clear_args(&a);
	return code;
}
