/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Fuzz target for nvme-vf-migrate.conf as the libvirt hook reads it
 * (src/lib/config/ and hooks/hook-config.c): the hook runs as root under
 * libvirtd and reads it before anything else. Besides not crashing: a
 * file that is refused gets one line that says why; a file that is
 * accepted gives hook settings that are non-empty, stripped and within
 * their bounds, and written back as a file they load again to the same
 * settings.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "config/config-private.h"
#include "hooks/hook-config.h"

#define FUZZ_MAX_INPUT (64u << 10)

static void one_line(const GError *error)
{
	if (!error || !error->message[0] || strchr(error->message, '\n'))
		abort();
}

static void check_string(const char *s)
{
	if (s && (!*s || g_ascii_isspace(s[0]) || g_ascii_isspace(s[strlen(s) - 1])))
		abort();
}

static void put(GKeyFile *kf, const char *key, const char *value)
{
	if (value)
		g_key_file_set_string(kf, "hook", key, value);
}

static void same(const HookConf *a, const HookConf *b)
{
	if (a->pfs->len != b->pfs->len || g_strcmp0(a->driver, b->driver) ||
	    g_strcmp0(a->runtime_dir, b->runtime_dir) ||
	    g_strcmp0(a->agent_runtime_dir, b->agent_runtime_dir) ||
	    g_strcmp0(a->qemu_log_dir, b->qemu_log_dir) || g_strcmp0(a->log_file, b->log_file) ||
	    g_strcmp0(a->emu_dir, b->emu_dir) || a->max_xml != b->max_xml ||
	    a->all_hostdevs != b->all_hostdevs || a->reason_from_log != b->reason_from_log ||
	    a->require_migration != b->require_migration)
		abort();
	for (guint i = 0; i < a->pfs->len; i++)
		if (!nvfm_address_equal(g_ptr_array_index(a->pfs, i), g_ptr_array_index(b->pfs, i)))
			abort();
}

static void check_roundtrip(const HookConf *c)
{
	g_autoptr(GKeyFile) kf = g_key_file_new();
	g_autoptr(GString) pfs = g_string_new(NULL);
	g_autoptr(GError) error = NULL;
	g_autoptr(NvfmConfig) again = NULL;
	g_autofree char *text = NULL, *max = NULL;
	HookConf c2 = { 0 };
	gsize len;

	for (guint i = 0; i < c->pfs->len; i++) {
		const NvfmAddress *a = g_ptr_array_index(c->pfs, i);

		g_string_append_printf(pfs, "%s%s", i ? ", " : "", a->text);
	}
	if (pfs->len)
		put(kf, "pf", pfs->str);
	put(kf, "driver", c->driver);
	put(kf, "runtime_dir", c->runtime_dir);
	put(kf, "agent_runtime_dir", c->agent_runtime_dir);
	put(kf, "qemu_log_dir", c->qemu_log_dir);
	put(kf, "log_file", c->log_file);
	put(kf, "emu_dir", c->emu_dir);
	max = g_strdup_printf("%" G_GSIZE_FORMAT, c->max_xml);
	put(kf, "max_xml_size", max);
	put(kf, "hostdevs", c->all_hostdevs ? "all" : "listed");
	put(kf, "unknown_reason", c->reason_from_log ? "log" : "keep");
	put(kf, "require_migration", c->require_migration ? "true" : "false");
	text = g_key_file_to_data(kf, &len, NULL);
	again = nvfm_cfg_load_text("again", text, len, &error);
	if (!again)
		abort();
	hook_conf_from(&c2, again);
	same(c, &c2);
	hook_conf_clear(&c2);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	g_autoptr(NvfmConfig) cfg = NULL;
	g_autoptr(GError) error = NULL;
	HookConf c = { 0 };

	if (size > FUZZ_MAX_INPUT)
		return 0;
	cfg = nvfm_cfg_load_text("fuzz.conf", (const char *)data, size, &error);
	if (!cfg) {
		one_line(error);
		return 0;
	}
	hook_conf_from(&c, cfg);
	if (error || !c.pfs || !c.qemu_log_dir || c.max_xml < HOOK_XML_MAX_MIN ||
	    c.max_xml > HOOK_XML_MAX_MAX)
		abort();
	check_string(c.driver);
	check_string(c.runtime_dir);
	check_string(c.agent_runtime_dir);
	check_string(c.qemu_log_dir);
	check_string(c.log_file);
	check_string(c.emu_dir);
	check_roundtrip(&c);
	hook_conf_clear(&c);
	return 0;
}
