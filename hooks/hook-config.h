/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The libvirt hook's configuration file (hook.conf, a GKeyFile with one
 * [hook] group; see nvme-vf-migrate-hook(8) and
 * examples/libvirt-hook/hook.conf). Its own file so that the hook and
 * tests/fuzz/fuzz-hook-config.c build the same parser.
 */
#pragma once

#include "nvfm/nvfm.h"

/* Domain XML larger than this is refused unread (max_xml_size). */
#define HOOK_XML_MAX_DEFAULT (4u << 20)
/* the bounds max_xml_size may take */
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

/*
 * Fill @c from the key file @kf (already loaded). Errors name the key and
 * what it accepts; @c is to be cleared either way.
 */
gboolean hook_conf_parse(HookConf *c, GKeyFile *kf, GError **error);

/*
 * Load $NVFM_HOOK_CONF, else @default_path (which alone may be absent:
 * then every setting has its default), and apply emu_dir. Errors are
 * prefixed with the file's path.
 */
gboolean hook_conf_load(HookConf *c, const char *default_path, GError **error);

void hook_conf_clear(HookConf *c);
