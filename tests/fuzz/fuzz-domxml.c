/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Fuzz target for the domain XML reader and rewriter (the hook feeds them
 * whatever libvirt, or a caller, puts on its standard input). Besides not
 * crashing: a parse either succeeds or says why; every VF it reports can
 * be found again by its source; and rewriting every VF to another of its
 * kind gives an XML that parses to the same domain with exactly the new
 * sources, in the same order, guest addresses unchanged.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "nvfm/domxml.h"
#include "nvfm/error.h"

/* larger documents only cost time, not coverage */
#define FUZZ_MAX_INPUT (256u << 10)

static char *replacement(const NvfmDomVf *vf, guint i)
{
	if (vf->kind == NVFM_DOM_VF_EMU)
		return g_strdup_printf("emu:fz-vf%u", i);
	return g_strdup_printf("0000:%02x:%02x.%u", 0xa0 + i % 0x40, i % 32, i % 8);
}

static void check_rewrite(const char *xml, NvfmDomain *dom)
{
	GPtrArray *vfs = nvfm_domain_get_vfs(dom);
	g_autoptr(GHashTable) map = g_hash_table_new_full(g_str_hash, g_str_equal, NULL, g_free);
	g_autoptr(GError) error = NULL;
	g_autoptr(NvfmDomain) again = NULL;
	g_autofree char *out = NULL;
	GPtrArray *vfs2;

	for (guint i = 0; i < vfs->len; i++) {
		const NvfmDomVf *vf = g_ptr_array_index(vfs, i);

		/* two VFs with one source: a map cannot tell them apart */
		if (g_hash_table_contains(map, vf->source))
			return;
		g_hash_table_insert(map, vf->source, replacement(vf, i));
	}
	out = nvfm_domxml_rewrite(xml, map, &error);
	if (!out) {
		/* the parse accepted it, so the rewrite must too */
		abort();
	}
	again = nvfm_domxml_parse(out, &error);
	if (!again)
		abort();
	if (strcmp(nvfm_domain_get_name(again), nvfm_domain_get_name(dom)) != 0 ||
	    strcmp(nvfm_domain_get_uuid(again), nvfm_domain_get_uuid(dom)) != 0)
		abort();
	vfs2 = nvfm_domain_get_vfs(again);
	if (vfs2->len != vfs->len)
		abort();
	for (guint i = 0; i < vfs->len; i++) {
		const NvfmDomVf *a = g_ptr_array_index(vfs, i);
		const NvfmDomVf *b = g_ptr_array_index(vfs2, i);
		const char *want = g_hash_table_lookup(map, a->source);

		if (a->kind != b->kind || g_strcmp0(a->alias, b->alias) != 0 ||
		    g_strcmp0(a->guest_address, b->guest_address) != 0 ||
		    g_strcmp0(b->source, want) != 0)
			abort();
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	g_autoptr(NvfmDomain) dom = NULL;
	g_autoptr(GError) error = NULL;
	g_autofree char *xml = NULL;
	GPtrArray *vfs;

	if (size > FUZZ_MAX_INPUT)
		return 0;
	/* the callers hand over C strings: the hook refuses a NUL byte */
	xml = g_strndup((const char *)data, size);
	dom = nvfm_domxml_parse(xml, &error);
	if (!dom) {
		if (!error || error->domain != NVFM_ERROR || !error->message[0] ||
		    strchr(error->message, '\n'))
			abort();
		return 0;
	}
	if (error || !nvfm_domain_get_name(dom) || !nvfm_domain_get_uuid(dom))
		abort();
	vfs = nvfm_domain_get_vfs(dom);
	for (guint i = 0; i < vfs->len; i++) {
		const NvfmDomVf *vf = g_ptr_array_index(vfs, i);
		g_autoptr(NvfmAddress) a = vf->source ? nvfm_address_parse(vf->source, NULL) : NULL;

		/* every source the parser accepts is an address that finds it */
		if (!a || !nvfm_domain_find_vf(dom, a))
			abort();
	}
	check_rewrite(xml, dom);
	return 0;
}
