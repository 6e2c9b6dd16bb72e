/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

/**
 * nvfm_size_parse() - parse a byte count such as "4096", "64M" or "1GiB"
 * @s: the text (binary multiples: K, M, G, T; optional "iB" or "B")
 * @out: receives the count
 * @error: return location for an error
 *
 * Return: %TRUE on success; %FALSE with %NVFM_ERROR_INVALID_ARG.
 */
gboolean nvfm_size_parse(const char *s, guint64 *out, GError **error);

/**
 * nvfm_runtime_dir() - the runtime directory of one part of the tool
 * @component: "agent", "emu", "locks", "hook"...
 * @override_env: an environment variable that, when set, names the
 *	directory instead (NVFM_EMU_DIR), or %NULL
 *
 * One rule for every part, so the agent, the CLI and the libvirt hook find
 * each other's files: /run/nvme-vf-migrate/@component for root (the agent
 * unit's RuntimeDirectory=), else $XDG_RUNTIME_DIR/nvme-vf-migrate/@component,
 * else /tmp/nvme-vf-migrate-UID/@component.
 *
 * Return: the path (free with g_free()); nothing is created.
 */
char *nvfm_runtime_dir(const char *component, const char *override_env);

G_END_DECLS
