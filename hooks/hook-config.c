/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The libvirt hook's settings: hook-config.h.
 */
#include <string.h>

#include "hook-config.h"

void hook_conf_clear(HookConf *c)
{
	g_free(c->path);
	g_clear_pointer(&c->pfs, g_ptr_array_unref);
	g_free(c->driver);
	g_free(c->runtime_dir);
	g_free(c->agent_runtime_dir);
	g_free(c->qemu_log_dir);
	g_free(c->log_file);
	g_free(c->emu_dir);
	memset(c, 0, sizeof(*c));
}

static char *str(const NvfmConfig *cfg, NvfmConfigKey key)
{
	return g_strdup(nvfm_config_get_string(cfg, key));
}

void hook_conf_from(HookConf *c, const NvfmConfig *cfg)
{
	c->path = g_strdup(nvfm_config_path(cfg, NULL));
	c->pfs = g_ptr_array_ref(nvfm_config_get_pfs(cfg, NVFM_CFG_HOOK_PF));
	c->driver = str(cfg, NVFM_CFG_HOOK_DRIVER);
	c->runtime_dir = str(cfg, NVFM_CFG_HOOK_RUNTIME_DIR);
	c->agent_runtime_dir = str(cfg, NVFM_CFG_HOOK_AGENT_RUNTIME_DIR);
	c->qemu_log_dir = str(cfg, NVFM_CFG_HOOK_QEMU_LOG_DIR);
	c->log_file = str(cfg, NVFM_CFG_HOOK_LOG_FILE);
	c->emu_dir = str(cfg, NVFM_CFG_HOOK_EMU_DIR);
	c->max_xml = (gsize)nvfm_config_get_uint(cfg, NVFM_CFG_HOOK_MAX_XML_SIZE);
	c->all_hostdevs = nvfm_config_get_uint(cfg, NVFM_CFG_HOOK_HOSTDEVS) == 1;
	c->reason_from_log = nvfm_config_get_uint(cfg, NVFM_CFG_HOOK_UNKNOWN_REASON) == 0;
	c->require_migration = nvfm_config_get_uint(cfg, NVFM_CFG_HOOK_REQUIRE_MIGRATION) == 1;
}

/*
 * libvirtd runs hooks with a cleaned environment, so NVFM_CONFIG and the
 * NVFM_HOOK_* variables only arrive through a wrapper or a manual run; a
 * missing default file means "all defaults, no PF".
 */
gboolean hook_conf_load(HookConf *c, GError **error)
{
	g_autoptr(NvfmConfig) cfg = nvfm_config_load(NULL, error);

	if (!cfg)
		return FALSE;
	hook_conf_from(c, cfg);
	if (c->emu_dir)
		g_setenv("NVFM_EMU_DIR", c->emu_dir, TRUE);
	return TRUE;
}
