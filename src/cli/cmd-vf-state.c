/* SPDX-License-Identifier: GPL-2.0-or-later */
/* "vf state" and "vf set-state": the migration state machine of one device. */
#include <stdio.h>

#include "cli.h"

int cmd_vf_state(int argc, char **argv)
{
	g_autoptr(GOptionContext) ctx = g_option_context_new(NULL);
	g_autoptr(NvfmAddress) addr = NULL;
	g_autoptr(NvfmDevice) dev = NULL;
	g_autofree char *flags = NULL;
	NvfmMigFeatures f;
	NvfmDirtyInfo dirty;
	NvfmMigState st;
	GError *error = NULL;
	int code;

	if (!cli_parse(ctx, "vf state", "DEV", "migration flags, state and sizes of a device",
		       &argc, &argv, 1, 1, &code))
		return code;
	/* only reads: a session found here is shown as it is, and ended by
	 * the next command that drives the device */
	addr = nvfm_address_parse(argv[1], &error);
	dev = addr ? nvfm_device_open(addr, &error) : NULL;
	if (!dev || !nvfm_device_get_features(dev, &f, &error) ||
	    !nvfm_device_get_state(dev, &st, &error) ||
	    !nvfm_device_get_dirty_tracking(dev, &dirty, &error))
		return cli_fail(error);
	flags = nvfm_mig_flags_to_string(f.flags);
	{
		/* one set of field names for text and JSON (cli_report) */
		json_auto_t *j = json_pack("{s:s, s:s, s:s, s:i, s:s, s:b}",
					   "device", argv[1],
					   "backend", nvfm_device_backend_name(dev),
					   "state", nvfm_mig_state_name(st),
					   "migration_flags", (int)f.flags,
					   "migration_flags_names", flags,
					   "dma_logging", f.dma_logging);

		json_object_set_new(j, "stop_copy_length",
				    f.has_data_size ? json_integer((json_int_t)f.stop_copy_length)
						    : json_null());
		nvfm_dirty_info_add_json(&dirty, j);
		cli_report(j);
	}
	return CLI_EXIT_OK;
}

int cmd_vf_set_state(int argc, char **argv)
{
	g_autoptr(GOptionContext) ctx = g_option_context_new(NULL);
	g_autoptr(NvfmDevice) dev = NULL;
	json_auto_t *steps = json_array();
	json_auto_t *j = NULL;
	NvfmMigState path[NVFM_MIG_PATH_MAX];
	NvfmMigState target, cur, now;
	NvfmMigFeatures f;
	GError *error = NULL;
	guint n = 0;
	int code;

	/* the states, named in --help (bash completion reads them there) */
	g_autoptr(GString) summary = g_string_new("move a device to a migration state; STATE is one of: ");

	for (int s = NVFM_MIG_STATE_STOP; s < NVFM_MIG_STATE_COUNT; s++)
		g_string_append_printf(summary, "%s%s", s > NVFM_MIG_STATE_STOP ? "," : "",
				       nvfm_mig_state_name((NvfmMigState)s));
	if (!cli_parse(ctx, "vf set-state", "DEV STATE", summary->str,
		       &argc, &argv, 2, 2, &code))
		return code;
	if (!nvfm_mig_state_parse(argv[2], &target, &error))
		return cli_fail(error);
	dev = cli_device_open(argv[1], &error);
	if (!dev || !nvfm_device_get_features(dev, &f, &error) ||
	    !nvfm_device_get_state(dev, &cur, &error))
		return cli_fail(error);
	if (!nvfm_mig_plan(f.flags, cur == NVFM_MIG_STATE_ERROR ? NVFM_MIG_STATE_RUNNING : cur,
			   target, path, &n, &error))
		return cli_fail(error);
	if (!nvfm_device_set_state(dev, target, &error) ||
	    !nvfm_device_get_state(dev, &now, &error))
		return cli_fail(error);
	for (guint i = 0; i < n; i++)
		json_array_append_new(steps, json_string(nvfm_mig_state_name(path[i])));
	j = json_pack("{s:s, s:s, s:O, s:s}", "device", argv[1], "from", nvfm_mig_state_name(cur),
		      "path", steps, "state", nvfm_mig_state_name(now));
	if (cli_want_json()) {
		cli_print_json(j);
	} else if (!cli_globals.quiet) {
		/* the JSON's fields; the path as the arcs it took */
		printf("device: %s\nfrom: %s\npath:", argv[1], nvfm_mig_state_name(cur));
		for (guint i = 0; i < n; i++)
			printf("%s%s", i ? " -> " : " ", nvfm_mig_state_name(path[i]));
		printf("\nstate: %s\n", nvfm_mig_state_name(now));
	}
	cli_note("note: the VFIO core does not put the device back to RUNNING when this "
		 "command exits; the next command reads the state and ends a session "
		 "left in it (RESUMING by a device reset)\n");
	return CLI_EXIT_OK;
}
