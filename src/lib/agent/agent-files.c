/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The agent's files under its runtime directory: the migrations a
 * previous instance left in flight, whose target devices are reset, and
 * the staged state an interrupted load left beside an emulated device.
 */
#define G_LOG_DOMAIN "nvfm-agent"

#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>

#include "agent-server.h"
#include "nvfm/emu.h"

void agent_remove_dir(const char *path)
{
	g_autoptr(GDir) d = g_dir_open(path, 0, NULL);
	const char *name;

	while (d && (name = g_dir_read_name(d))) {
		g_autofree char *p = g_build_filename(path, name, NULL);

		unlink(p);
	}
	rmdir(path);
}

/*
 * Pages a load into an emulated device was staging (NAME.blob.new) when
 * its process died: the agent's own transfers are reset below, but a
 * killed "load" leaves them too. Opening the device drops them; a device
 * open elsewhere is loading right now and is left alone.
 */
static void drop_stale_spills(NvfmAgent *a)
{
	g_auto(GStrv) names = a->emu ? nvfm_emu_list(NULL) : NULL;
	g_autofree char *dir = names ? nvfm_emu_dir() : NULL;

	for (guint i = 0; names && names[i]; i++) {
		g_autofree char *base = g_strconcat(names[i], ".blob.new", NULL);
		g_autofree char *staged = g_build_filename(dir, base, NULL);
		g_autoptr(NvfmAddress) addr = NULL;
		g_autoptr(NvfmDevice) dev = NULL;

		if (!g_file_test(staged, G_FILE_TEST_EXISTS))
			continue;
		addr = nvfm_address_new_emu(names[i], NULL);
		dev = addr ? nvfm_device_open(addr, NULL) : NULL;
		if (dev)
			agent_log(a, G_LOG_LEVEL_WARNING,
				  "%s: removed the state an interrupted load left in %s",
				  addr->text, staged);
	}
}

void agent_recover_stale(NvfmAgent *a)
{
	g_autoptr(GDir) d = g_dir_open(a->mig_dir, 0, NULL);
	const char *name;

	while (d && (name = g_dir_read_name(d))) {
		g_autofree char *dir = g_build_filename(a->mig_dir, name, NULL);
		g_autofree char *file = g_build_filename(dir, "state.json", NULL);
		json_auto_t *st = nvfm_json_read_file(file, NULL);
		const char *target = st ? json_string_value(json_object_get(st, "target")) : NULL;
		g_autoptr(GError) err = NULL;
		g_autoptr(NvfmDevice) dev = NULL;
		g_autoptr(NvfmAddress) addr = NULL;

		if (target) {
			addr = nvfm_address_parse(target, &err);
			dev = addr ? nvfm_device_open(addr, &err) : NULL;
			if (dev && nvfm_device_reset(dev, &err))
				agent_log(a, G_LOG_LEVEL_WARNING,
					  "migration %s was left in flight by a previous instance: %s reset",
					  name, target);
			else
				agent_log(a, G_LOG_LEVEL_WARNING,
					  "migration %s was left in flight by a previous instance: "
					  "cannot reset %s: %s", name, target, err->message);
		}
		agent_remove_dir(dir);
	}
	drop_stale_spills(a);
}
