/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The libvirt hook's settings: the [hook] section of nvme-vf-migrate.conf
 * (see nvme-vf-migrate-hook(8)), checked by the library's configuration
 * (include/nvfm/config-file.h) and taken from it here. Its own file so
 * that the hook and tests/fuzz/fuzz-hook-config.c build the same code.
 */
#pragma once

#include "nvfm/nvfm.h"

/* the bounds max_xml_size may take (config-keys.c says so to the user) */
#define HOOK_XML_MAX_MIN (64u << 10)
#define HOOK_XML_MAX_MAX (64u << 20)

typedef struct {
	char *path;		/* the file read, or the default that was absent */
	GPtrArray *pfs;		/* NvfmAddress *: PFs to provision from, in order */
	char *driver;		/* NULL: the PF's default driver */
	char *runtime_dir;	/* NULL: the "hook" runtime directory */
	char *agent_runtime_dir;	/* NULL: the agent's default */
	char *qemu_log_dir;
	char *log_file;
	char *emu_dir;		/* NULL: NVFM_EMU_DIR as it is */
	gsize max_xml;		/* largest domain XML accepted on stdin */
	gboolean all_hostdevs;	/* every PCI hostdev is an NVMe VF */
	gboolean reason_from_log;
	gboolean require_migration;
} HookConf;

/* Fill @c from the [hook] settings of @cfg; @c is to be cleared. */
void hook_conf_from(HookConf *c, const NvfmConfig *cfg);

/*
 * Load $NVFM_CONFIG, else the default nvme-vf-migrate.conf (which alone
 * may be absent: then every setting has its default), and apply emu_dir.
 * Errors say where the mistake is (FILE:LINE).
 */
gboolean hook_conf_load(HookConf *c, GError **error);

void hook_conf_clear(HookConf *c);
