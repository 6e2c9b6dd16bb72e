/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Which VFIO variant module a VF's modalias asks for, as libvirt >= 10
 * picks it: variant drivers declare their IDs as "vfio_pci:..." aliases
 * (so plain PCI matching never loads them), and of the modules whose
 * aliases match, the most specific one wins. The lookup goes through
 * libkmod and depmod's binary index (modules.alias.bin); libkmod does not
 * say which pattern matched, so each candidate's own aliases are read from
 * its module file and ranked here.
 */
#define G_LOG_DOMAIN "nvfm-pf"

#include <errno.h>
#include <fnmatch.h>
#include <libkmod.h>
#include <string.h>
#include <sys/utsname.h>
#include <unistd.h>

#include "pf-private.h"
#include "util/sysfs.h"

#define VFIO_PCI_ALIAS "vfio_pci:"

typedef struct kmod_ctx NvfmKmodCtx;
G_DEFINE_AUTOPTR_CLEANUP_FUNC(NvfmKmodCtx, kmod_unref)

/* libkmod's own messages are ours to show with --verbose only */
static void G_GNUC_PRINTF(6, 0) kmod_log(void *data, int priority, const char *file, int line, const char *fn,
		     const char *format, va_list args)
{
	g_autofree char *msg = g_strdup_vprintf(format, args);

	g_debug("libkmod: %s", g_strchomp(msg));
}

/* How specific a matching pattern is: fewer wildcards, then longer. */
typedef struct {
	guint stars;
	gsize len;
} Rank;

/* <0: @a is more specific than @b, 0: as specific, >0: less */
static int rank_cmp(const Rank *a, const Rank *b)
{
	if (a->stars != b->stars)
		return a->stars < b->stars ? -1 : 1;
	if (a->len != b->len)
		return a->len > b->len ? -1 : 1;
	return 0;
}

/* The best of @mod's own "vfio_pci:" aliases that match @want; FALSE if
 * none does (or its module file cannot be read). */
static gboolean module_rank(struct kmod_module *mod, const char *want, Rank *best)
{
	struct kmod_list *info = NULL, *it;
	gboolean found = FALSE;
	int r = kmod_module_get_info(mod, &info);

	if (r < 0) {
		g_debug("cannot read the aliases of module %s: %s", kmod_module_get_name(mod),
			g_strerror(-r));
		return FALSE;
	}
	kmod_list_foreach(it, info) {
		const char *key = kmod_module_info_get_key(it);
		const char *pat = kmod_module_info_get_value(it);
		Rank rk = { 0, 0 };

		if (!key || !pat || !g_str_equal(key, "alias") ||
		    !g_str_has_prefix(pat, VFIO_PCI_ALIAS) || fnmatch(pat, want, 0) != 0)
			continue;
		for (const char *c = pat; *c; c++)
			rk.stars += *c == '*';
		rk.len = strlen(pat);
		if (!found || rank_cmp(&rk, best) < 0)
			*best = rk;
		found = TRUE;
	}
	kmod_module_info_free_list(info);
	return found;
}

char *nvfm_vfio_variant_moddir(void)
{
	struct utsname u;

	if (uname(&u) < 0)
		return NULL;
	return nvfm_sysfs_path("/lib/modules/%s", u.release);
}

int nvfm_vfio_variant_module(const char *moddir, const char *modalias, char **module)
{
	/* no modprobe.d: like libvirt, only what the modules declare counts */
	static const char *const no_config[] = { NULL };
	g_autofree char *index = NULL, *want = NULL;
	g_autoptr(NvfmKmodCtx) ctx = NULL;
	struct kmod_list *list = NULL, *it;
	const char *best_name = NULL;
	gboolean tie = FALSE;
	Rank best = { 0, 0 };
	int r;

	*module = NULL;
	if (!g_str_has_prefix(modalias, "pci:"))
		return 0;
	/* checked here: kmod_load_resources() fails on trees whose lookups
	 * work, and a lookup without the index would just find nothing */
	index = g_build_filename(moddir, "modules.alias.bin", NULL);
	if (access(index, R_OK) < 0)
		return -errno;
	ctx = kmod_new(moddir, no_config);
	if (!ctx)
		return -ENOMEM;
	kmod_set_log_fn(ctx, kmod_log, NULL);
	want = g_strconcat(VFIO_PCI_ALIAS, modalias + strlen("pci:"), NULL);
	r = kmod_module_new_from_lookup(ctx, want, &list);
	if (r < 0)
		return r;
	kmod_list_foreach(it, list) {
		struct kmod_module *mod = kmod_module_get_module(it);
		const char *name = kmod_module_get_name(mod);
		Rank rk;

		if (module_rank(mod, want, &rk)) {
			int c = best_name ? rank_cmp(&rk, &best) : -1;

			if (c < 0) {
				best = rk;
				g_free(*module);
				*module = g_strdup(name);
				best_name = *module;
				tie = FALSE;
			} else if (c == 0 && !g_str_equal(name, best_name)) {
				tie = TRUE;
			}
		}
		kmod_module_unref(mod);
	}
	kmod_module_unref_list(list);
	if (tie) {
		/* the kernel would load either; we cannot know which binds */
		g_debug("modules tie as the VFIO variant for %s: choosing none", modalias);
		g_clear_pointer(module, g_free);
	}
	return 0;
}
