/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <sys/stat.h>
#include <unistd.h>

#include <glib.h>
#include <glib/gstdio.h>

#include "testutil.h"

void nvfm_test_rm_rf(const char *path)
{
	struct stat st;
	g_autoptr(GDir) d = NULL;
	const char *e;

	if (lstat(path, &st) < 0)
		return;
	if (!S_ISDIR(st.st_mode)) {
		unlink(path);
		return;
	}
	d = g_dir_open(path, 0, NULL);
	while (d && (e = g_dir_read_name(d))) {
		g_autofree char *p = g_build_filename(path, e, NULL);

		nvfm_test_rm_rf(p);
	}
	rmdir(path);
}
