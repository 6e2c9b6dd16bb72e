/* SPDX-License-Identifier: GPL-2.0-or-later */
/* "emu": create, inspect and break emulated devices (emu:NAME). */
#include <stdio.h>
#include <string.h>

#include "cli.h"

static gboolean parse_flags(const char *s, guint32 *out, GError **error)
{
	g_auto(GStrv) parts = g_strsplit(s, ",", -1);
	guint32 flags = NVFM_MIG_FLAG_STOP_COPY;

	for (guint i = 0; parts[i]; i++) {
		g_autofree char *p = g_ascii_strdown(g_strstrip(parts[i]), -1);

		if (!*p || !strcmp(p, "stop-copy") || !strcmp(p, "stop_copy"))
			continue;
		if (!strcmp(p, "p2p"))
			flags |= NVFM_MIG_FLAG_P2P;
		else if (!strcmp(p, "precopy") || !strcmp(p, "pre-copy") || !strcmp(p, "pre_copy"))
			flags |= NVFM_MIG_FLAG_PRE_COPY;
		else {
			g_set_error(error, NVFM_ERROR, NVFM_ERROR_INVALID_ARG,
				    "unknown migration flag '%s' (expected p2p, precopy)", p);
			return FALSE;
		}
	}
	*out = flags;
	return TRUE;
}

static int emu_create(int argc, char **argv)
{
	g_autofree char *size = NULL, *flags = NULL, *dirty = NULL, *max_write = NULL;
	gint64 seed = 1;
	int queues = -1;
	gboolean no_data_size = FALSE;
	GOptionEntry entries[] = {
		{ "size", 0, 0, G_OPTION_ARG_STRING, &size, "Bulk state size (default 64M)", "SIZE" },
		{ "seed", 0, 0, G_OPTION_ARG_INT64, &seed, "Seed of the state generator (default 1)", "N" },
		{ "flags", 0, 0, G_OPTION_ARG_STRING, &flags, "Optional states: p2p,precopy (default both; '' for none)", "LIST" },
		{ "queues", 0, 0, G_OPTION_ARG_INT, &queues, "I/O queue pairs (default 4)", "N" },
		{ "dirty-rate", 0, 0, G_OPTION_ARG_STRING, &dirty, "Bytes/s the running device dirties (default 16M)", "SIZE" },
		{ "max-write", 0, 0, G_OPTION_ARG_STRING, &max_write, "Largest write the device accepts at once", "SIZE" },
		{ "no-data-size", 0, 0, G_OPTION_ARG_NONE, &no_data_size, "Do not answer MIG_DATA_SIZE", NULL },
		{ NULL },
	};
	g_autoptr(GOptionContext) ctx = g_option_context_new(NULL);
	NvfmEmuConfig cfg;
	GError *error = NULL;
	guint64 v;
	int code;

	g_option_context_add_main_entries(ctx, entries, NULL);
	if (!cli_parse(ctx, "emu create", "NAME", "create or replace an emulated VF", &argc,
		       &argv, 1, 1, &code))
		return code;
	nvfm_emu_config_init(&cfg);
	if (size) {
		if (!nvfm_size_parse(size, &cfg.blob_size, &error))
			return cli_fail(error);
	}
	if (flags && !parse_flags(flags, &cfg.flags, &error))
		return cli_fail(error);
	if (dirty) {
		if (!nvfm_size_parse(dirty, &cfg.dirty_rate, &error))
			return cli_fail(error);
	}
	if (max_write) {
		if (!nvfm_size_parse(max_write, &v, &error))
			return cli_fail(error);
		if (v > G_MAXUINT32)
			return cli_usage_error("emu create", "--max-write too large");
		cfg.max_write = (guint32)v;
	}
	if (queues >= 0)
		cfg.n_io_queues = (guint32)queues;
	if (seed < 0)
		return cli_usage_error("emu create", "--seed must be >= 0");
	cfg.seed = (guint64)seed;
	cfg.report_data_size = !no_data_size;
	if (!nvfm_emu_create(argv[1], &cfg, &error))
		return cli_fail(error);
	return cli_report_emu(argv[1], "created");
}

static int emu_list(int argc, char **argv)
{
	g_autoptr(GOptionContext) ctx = g_option_context_new(NULL);
	g_auto(GStrv) names = NULL;
	g_autofree char *dir = NULL;
	GError *error = NULL;
	int code;

	if (!cli_parse(ctx, "emu list", "", "list emulated devices", &argc, &argv, 0, 0, &code))
		return code;
	names = nvfm_emu_list(&error);
	if (!names)
		return cli_fail(error);
	dir = nvfm_emu_dir();
	if (cli_want_json()) {
		json_auto_t *arr = json_array();
		json_auto_t *j = NULL;

		for (guint i = 0; names[i]; i++)
			json_array_append_new(arr, json_string(names[i]));
		j = json_pack("{s:s, s:O}", "dir", dir, "devices", arr);
		cli_print_json(j);
		return CLI_EXIT_OK;
	}
	if (cli_globals.quiet)
		return CLI_EXIT_OK;
	/* the JSON's names; the devices as addresses on one line (bash
	 * completion reads it), nothing after the colon when there is none */
	printf("dir: %s\ndevices:", dir);
	for (guint i = 0; names[i]; i++)
		printf(" emu:%s", names[i]);
	printf("\n");
	return CLI_EXIT_OK;
}

static int emu_show(int argc, char **argv)
{
	g_autoptr(GOptionContext) ctx = g_option_context_new(NULL);
	g_autofree char *text = NULL;
	json_auto_t *j = NULL;
	GError *error = NULL;
	int code;

	if (!cli_parse(ctx, "emu show", "NAME", "configuration, faults and state of a device",
		       &argc, &argv, 1, 1, &code))
		return code;
	text = nvfm_emu_describe(argv[1], &error);
	if (!text)
		return cli_fail(error);
	j = json_loads(text, 0, NULL);
	if (!j)
		return cli_fail(g_error_new(NVFM_ERROR, NVFM_ERROR_FAILED,
					    "emu:%s: the description is not JSON", argv[1]));
	cli_report(j);
	return CLI_EXIT_OK;
}

static int emu_digest(int argc, char **argv)
{
	g_autoptr(GOptionContext) ctx = g_option_context_new(NULL);
	g_autofree char *hex = NULL;
	json_auto_t *j = NULL;
	GError *error = NULL;
	guint64 size = 0;
	int code;

	if (!cli_parse(ctx, "emu digest", "NAME", "SHA-256 of a device's whole state", &argc,
		       &argv, 1, 1, &code))
		return code;
	if (!nvfm_emu_digest(argv[1], &hex, &size, &error))
		return cli_fail(error);
	j = json_pack("{s:s, s:s, s:I}", "device", argv[1], "sha256", hex, "bytes",
		      (json_int_t)size);
	cli_report(j);
	return CLI_EXIT_OK;
}

static int emu_fault(int argc, char **argv)
{
	g_autoptr(GOptionContext) ctx = g_option_context_new(NULL);
	gboolean clear = FALSE;
	GOptionEntry entries[] = {
		{ "clear", 0, 0, G_OPTION_ARG_NONE, &clear, "Disarm every fault", NULL },
		{ NULL },
	};
	g_autofree char *result = NULL;
	GError *error = NULL;
	int code;

	g_option_context_add_main_entries(ctx, entries, NULL);
	if (!cli_parse(ctx, "emu fault", "NAME [KNOB [VALUE]]",
		       "arm (KNOB VALUE), clear (KNOB) or --clear fault knobs: fail-arc FROM>TO, "
		       "corrupt-byte N, slow-us N, stop-after N, truncate-after N, reject-resume 1, keep-state 1, "
		       "precopy-eof-zero 1, accept-corrupt 1, size-lie N, no-reset 1, stall-ms N",
		       &argc, &argv, 1, 3, &code))
		return code;
	if (clear) {
		if (!nvfm_emu_clear_faults(argv[1], &error))
			return cli_fail(error);
		return cli_report_emu(argv[1], "faults cleared");
	}
	if (argc < 3)
		return cli_usage_error("emu fault", "expected KNOB [VALUE] or --clear");
	if (!nvfm_emu_set_fault(argv[1], argv[2], argc > 3 ? argv[3] : NULL, &error))
		return cli_fail(error);
	result = argc > 3 ? g_strdup_printf("fault %s=%s armed", argv[2], argv[3])
			  : g_strdup_printf("fault %s cleared", argv[2]);
	return cli_report_emu(argv[1], result);
}

static int emu_dirty(int argc, char **argv)
{
	g_autoptr(GOptionContext) ctx = g_option_context_new(NULL);
	g_autofree char *result = NULL;
	g_autofree char *iova_text = NULL;
	GError *error = NULL;
	guint64 bytes, iova = 0;
	int code;
	GOptionEntry entries[] = {
		{ "iova", 0, 0, G_OPTION_ARG_STRING, &iova_text,
		  "Instead: the device wrote SIZE bytes of guest memory at ADDR (for its DMA log)",
		  "ADDR" },
		{ NULL },
	};

	g_option_context_add_main_entries(ctx, entries, NULL);
	if (!cli_parse(ctx, "emu dirty", "NAME SIZE", "let the guest dirty SIZE bytes of state",
		       &argc, &argv, 2, 2, &code))
		return code;
	if (iova_text && !(g_str_has_prefix(iova_text, "0x")
			       ? g_ascii_string_to_unsigned(iova_text + 2, 16, 0, G_MAXUINT64, &iova, NULL)
			       : g_ascii_string_to_unsigned(iova_text, 10, 0, G_MAXUINT64, &iova, NULL))) {
		g_set_error(&error, NVFM_ERROR, NVFM_ERROR_INVALID_ARG,
			    "invalid --iova '%s' (expected an address, e.g. 0x100000000)", iova_text);
		return cli_fail(error);
	}
	if (!nvfm_size_parse(argv[2], &bytes, &error) ||
	    !(iova_text ? nvfm_emu_dma_write(argv[1], iova, bytes, &error)
			: nvfm_emu_dirty(argv[1], bytes, &error)))
		return cli_fail(error);
	result = iova_text ? g_strdup_printf("%" G_GUINT64_FORMAT " bytes of guest memory written "
					     "at 0x%" G_GINT64_MODIFIER "x", bytes, iova)
			   : g_strdup_printf("%" G_GUINT64_FORMAT " bytes dirtied", bytes);
	return cli_report_emu(argv[1], result);
}

static int emu_destroy(int argc, char **argv)
{
	g_autoptr(GOptionContext) ctx = g_option_context_new(NULL);
	GError *error = NULL;
	int code;

	if (!cli_parse(ctx, "emu destroy", "NAME", "remove an emulated device", &argc, &argv, 1,
		       1, &code))
		return code;
	if (!nvfm_emu_destroy(argv[1], &error))
		return cli_fail(error);
	return cli_report_emu(argv[1], "destroyed");
}

static const CliCommand emu_commands[] = {
	{ "create", "NAME [--size S --flags F ...]", "create or replace an emulated VF", emu_create },
	{ "list", "", "list emulated devices of this host", emu_list },
	{ "show", "NAME", "configuration, faults and state", emu_show },
	{ "digest", "NAME", "SHA-256 of the device's whole state", emu_digest },
	{ "fault", "NAME KNOB [VALUE]", "arm or clear fault knobs", emu_fault },
	{ "dirty", "NAME SIZE", "let the guest dirty state", emu_dirty },
	{ "destroy", "NAME", "remove a device", emu_destroy },
	{ "pf-create", "NAME [--vfs N --vq N --vi N]", "create or replace an emulated NVMe PF", cmd_emu_pf_create },
	{ "pf-destroy", "NAME", "remove an emulated PF", cmd_emu_pf_destroy },
	{ "pf-fault", "NAME KNOB [VALUE]", "arm a fault knob on the VFs an emulated PF makes", cmd_emu_pf_fault },
	{ NULL, NULL, NULL, NULL },
};

int cmd_emu(int argc, char **argv)
{
	argc = cli_take_globals(argc, &argv);
	if (argc < 2 || g_str_equal(argv[1], "--help") || g_str_equal(argv[1], "-h")) {
		FILE *out = argc < 2 ? stderr : stdout;
		g_autofree char *dir = nvfm_emu_dir();

		fprintf(out, "Usage: nvme-vf-migrate emu SUBCOMMAND [ARGS...]\n\n"
			"Emulated devices live in %s (set NVFM_EMU_DIR to change).\n\n"
			"Subcommands:\n", dir);
		for (const CliCommand *c = emu_commands; c->name; c++)
			fprintf(out, "  %-8s %-32s %s\n", c->name, c->args, c->summary);
		return argc < 2 ? CLI_EXIT_USAGE : CLI_EXIT_OK;
	}
	return cli_dispatch("nvme-vf-migrate emu", emu_commands, argc - 1, argv + 1);
}
