// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * The runtime directories: one rule for every part of the tool, so the
 * agent, the CLI and the libvirt hook find each other's files.
 */
#define G_LOG_DOMAIN "nvfm-util"

#include <sys/stat.h>
#include <unistd.h>

#include "util-private.h"

/* root: /run/nvme-vf-migrate (systemd's RuntimeDirectory=nvme-vf-migrate
 * of the agent's unit is the same place); a user: $XDG_RUNTIME_DIR's, else
 * one under /tmp named by the uid. */
static char *runtime_base(void)
{
	const char *xdg = g_getenv("XDG_RUNTIME_DIR");

	if (geteuid() == 0)
		return g_strdup("/run/nvme-vf-migrate");
	if (xdg && *xdg)
		return g_build_filename(xdg, "nvme-vf-migrate", NULL);
	return g_strdup_printf("/tmp/nvme-vf-migrate-%u", (guint)geteuid());
}

char *nvfm_runtime_dir(const char *component, const char *override_env)
{
	const char *o = override_env ? g_getenv(override_env) : NULL;
	g_autofree char *base = NULL;

	if (o && *o)
		return g_strdup(o);
	base = runtime_base();
	return g_build_filename(base, component, NULL);
}

/* Whoever owns the directory a private directory sits in can rename it
 * away or put another in its place (a /tmp/nvme-vf-migrate-UID another user
 * made first): it must be ours or root's, and writable by others only
 * with the sticky bit (as /tmp is). The same check ssh-agent makes. */
static gboolean parent_safe(const char *path, GError **error)
{
	g_autofree char *parent = g_path_get_dirname(path);
	struct stat sb;

	if (lstat(parent, &sb) < 0) {
		nvfm_set_error_errno(error, -errno, "runtime directory %s", parent);
		return FALSE;
	}
	if (!S_ISDIR(sb.st_mode) || (sb.st_uid != geteuid() && sb.st_uid != 0) ||
	    ((sb.st_mode & 0022) && !(sb.st_mode & S_ISVTX))) {
		g_set_error(error, NVFM_ERROR, NVFM_ERROR_PERMISSION,
			    "runtime directory %s sits in %s, which uid %u (mode %04o) controls, "
			    "not this user (uid %u) or root", path, parent, (guint)sb.st_uid,
			    (guint)(sb.st_mode & 07777), (guint)geteuid());
		return FALSE;
	}
	return TRUE;
}

gboolean nvfm_private_dir(const char *path, GError **error)
{
	struct stat sb;

	if (g_mkdir_with_parents(path, 0700) < 0 || lstat(path, &sb) < 0) {
		nvfm_set_error_errno(error, -errno, "runtime directory %s", path);
		return FALSE;
	}
	if (!parent_safe(path, error))
		return FALSE;
	if (!S_ISDIR(sb.st_mode) || sb.st_uid != geteuid()) {
		g_set_error(error, NVFM_ERROR, NVFM_ERROR_PERMISSION,
			    "runtime directory %s is not a directory owned by us", path);
		return FALSE;
	}
	if ((sb.st_mode & 07777) != 0700 && chmod(path, 0700) < 0) {
		nvfm_set_error_errno(error, -errno, "chmod 0700 %s", path);
		return FALSE;
	}
	return TRUE;
}
