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

/* tests call it from several threads at once (test-emu-pf's race) */
G_LOCK_DEFINE_STATIC(addr_pool);
static GPtrArray *addr_pool;

static void addr_pool_free(void)
{
	g_clear_pointer(&addr_pool, g_ptr_array_unref);
}

const NvfmAddress *nvfm_test_addr(const char *text)
{
	NvfmAddress *a = nvfm_address_parse(text, NULL);

	if (!a)
		return NULL;
	G_LOCK(addr_pool);
	if (!addr_pool) {
		addr_pool = g_ptr_array_new_with_free_func((GDestroyNotify)nvfm_address_free);
		atexit(addr_pool_free);
	}
	g_ptr_array_add(addr_pool, a);
	G_UNLOCK(addr_pool);
	return a;
}
