/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The destination of "virsh migrate" (qmp/incoming.c) against an emulated
 * PF: a VF per VF of the arriving domain, the record by domain UUID, the
 * rollback that leaves the PF as it was, and the release when it stops.
 */
#include <string.h>

#include "nvfm/nvfm.h"
#include "tests/common/testutil.h"

#define UUID "4f0c1b2a-5d6e-4f70-8192-a3b4c5d6e7f8"

/* $NVFM_EMU_DIR, set once before any thread exists */
static char *emu_dir;

typedef struct {
	NvfmLedger *ledger;
	GPtrArray *pfs;
	GString *notes;
	NvfmIncomingOpts opts;
} Fixture;

static void note(gpointer data, const char *fmt, ...)
{
	Fixture *f = data;
	va_list ap;

	va_start(ap, fmt);
	g_string_append_vprintf(f->notes, fmt, ap);
	g_string_append_c(f->notes, '\n');
	va_end(ap);
}

/* a PF with room for one VF only */
static void fixture_setup(Fixture *f, gconstpointer data)
{
	g_autoptr(GError) error = NULL;
	g_autofree char *dir = g_build_filename(emu_dir, "hook", NULL);
	NvfmEmuPfConfig cfg;

	g_assert_cmpint(g_mkdir_with_parents(emu_dir, 0700), ==, 0);
	nvfm_emu_pf_config_init(&cfg);
	cfg.total_vfs = 1;
	g_assert_true(nvfm_emu_pf_create("pfB", &cfg, &error));
	g_assert_no_error(error);
	f->ledger = nvfm_ledger_new(dir);
	f->pfs = g_ptr_array_new_with_free_func((GDestroyNotify)nvfm_address_free);
	g_ptr_array_add(f->pfs, nvfm_address_parse_pf("emu:pfB", &error));
	g_assert_no_error(error);
	f->notes = g_string_new(NULL);
	f->opts.pfs = f->pfs;
}

static void fixture_teardown(Fixture *f, gconstpointer data)
{
	nvfm_ledger_free(f->ledger);
	g_ptr_array_unref(f->pfs);
	g_string_free(f->notes, TRUE);
	nvfm_test_rm_rf(emu_dir);
}

/* a domain with @n emulated VFs of the source's pfA, on NUMA node @numa
 * (-1: the metadata does not say) */
static NvfmDomain *domain_on(guint n, int numa)
{
	g_autoptr(GString) xml = g_string_new("<domain type='kvm'><name>vm1</name><uuid>" UUID
					      "</uuid><metadata><nvfm:vfs "
					      "xmlns:nvfm='urn:nvme-vf-migrate:1'>");
	g_autoptr(GError) error = NULL;
	NvfmDomain *dom;

	for (guint i = 0; i < n; i++) {
		g_string_append_printf(xml, "<nvfm:vf alias='ua-emu%u' device='emu:pfA-vf%u' "
				       "nvq='2' nvi='1'", i, i);
		if (numa >= 0)
			g_string_append_printf(xml, " numa='%d'", numa);
		g_string_append(xml, "/>");
	}
	g_string_append(xml, "</nvfm:vfs></metadata><devices/></domain>");
	dom = nvfm_domxml_parse(xml->str, &error);
	g_assert_no_error(error);
	return dom;
}

static NvfmDomain *domain(guint n)
{
	return domain_on(n, -1);
}

static void assert_online(guint want)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(NvfmPf) pf = nvfm_pf_open(nvfm_test_addr("emu:pfB"), &error);
	NvfmPfCaps c;

	g_assert_no_error(error);
	g_assert_true(nvfm_pf_get_caps(pf, &c, &error));
	g_assert_cmpuint(c.n_online, ==, want);
	if (want == 0)
		g_assert_cmpuint(c.vq.free, ==, c.vq.total);
}

static NvfmIncoming *record(Fixture *f)
{
	g_autoptr(GError) error = NULL;
	NvfmIncoming *rec = nvfm_incoming_get(f->ledger, UUID, &error);

	g_assert_no_error(error);
	return rec;
}

/* provisioned and recorded; a repeat before QEMU started replaces the
 * first attempt; after it started the record is not touched; a failed
 * incoming migration gives the VF back */
static void test_lifecycle(Fixture *f, gconstpointer data)
{
	g_autoptr(NvfmDomain) dom = domain(1);
	g_autoptr(GHashTable) map = NULL;
	g_autoptr(GError) error = NULL;
	g_autoptr(NvfmIncoming) rec = NULL;
	g_autoptr(GPtrArray) none = g_ptr_array_new();

	map = nvfm_incoming_provision(f->ledger, dom, nvfm_domain_get_vfs(dom), &f->opts, note, f,
				      &error);
	g_assert_no_error(error);
	g_assert_cmpuint(g_hash_table_size(map), ==, 1);
	g_assert_cmpstr(g_hash_table_lookup(map, "emu:pfA-vf0"), ==, "emu:pfB-vf0");
	rec = record(f);
	g_assert_cmpstr(rec->phase, ==, "incoming");
	g_assert_cmpuint(rec->vfs->len, ==, 1);
	assert_online(1);

	g_clear_pointer(&map, g_hash_table_unref);
	map = nvfm_incoming_provision(f->ledger, dom, nvfm_domain_get_vfs(dom), &f->opts, note, f,
				      &error);
	g_assert_no_error(error);
	g_assert_nonnull(strstr(f->notes->str, "releasing VFs left by an earlier"));
	assert_online(1);

	g_assert_true(nvfm_incoming_started(f->ledger, UUID, &error));
	g_clear_pointer(&rec, nvfm_incoming_free);
	rec = record(f);
	g_assert_cmpstr(rec->phase, ==, "started");
	g_clear_pointer(&map, g_hash_table_unref);
	map = nvfm_incoming_provision(f->ledger, dom, nvfm_domain_get_vfs(dom), &f->opts, note, f,
				      &error);
	g_assert_null(map);
	g_assert_nonnull(strstr(error->message, "already has VFs here"));
	g_clear_error(&error);
	assert_online(1);

	g_assert_true(nvfm_incoming_stopped(f->ledger, UUID, none, "failed", "", note, f, &error));
	g_assert_no_error(error);
	g_assert_null(record(f));
	assert_online(0);
}

/* a domain arrived and later shut down: its VF stays, the record goes */
static void test_keep(Fixture *f, gconstpointer data)
{
	g_autoptr(NvfmDomain) dom = domain(1);
	g_autoptr(GHashTable) map = NULL;
	g_autoptr(GError) error = NULL;
	g_autoptr(GPtrArray) none = g_ptr_array_new();

	map = nvfm_incoming_provision(f->ledger, dom, nvfm_domain_get_vfs(dom), &f->opts, note, f,
				      &error);
	g_assert_no_error(error);
	g_assert_true(nvfm_incoming_started(f->ledger, UUID, &error));
	g_assert_true(nvfm_incoming_stopped(f->ledger, UUID, none, "shutdown", "", note, f,
					    &error));
	g_assert_no_error(error);
	g_assert_null(record(f));
	assert_online(1);
	g_assert_nonnull(strstr(f->notes->str, "keeping its VFs"));
}

/* two VFs, room for one: the one provisioned goes back, nothing recorded */
static void test_rollback(Fixture *f, gconstpointer data)
{
	g_autoptr(NvfmDomain) dom = domain(2);
	g_autoptr(GHashTable) map = NULL;
	g_autoptr(GError) error = NULL;

	map = nvfm_incoming_provision(f->ledger, dom, nvfm_domain_get_vfs(dom), &f->opts, note, f,
				      &error);
	g_assert_null(map);
	g_assert_nonnull(error);
	g_assert_nonnull(strstr(error->message, "no VF for ua-emu1 (emu:pfA-vf1)"));
	g_assert_true(g_str_has_suffix(error->message, "; released the VFs it provisioned"));
	g_assert_null(record(f));
	assert_online(0);
}

/* two PFs, the second on the NUMA node the metadata records: the VF comes
 * from the second, and the note says which node was preferred; without
 * the node the first in the list gives it */
static void test_numa(Fixture *f, gconstpointer data)
{
	g_autoptr(NvfmDomain) dom = domain_on(1, 1);
	g_autoptr(NvfmDomain) plain = domain(1);
	g_autoptr(GHashTable) map = NULL;
	g_autoptr(GError) error = NULL;
	g_autoptr(GPtrArray) none = g_ptr_array_new();
	NvfmEmuPfConfig cfg;

	nvfm_emu_pf_config_init(&cfg);
	cfg.numa_node = 1;
	g_assert_true(nvfm_emu_pf_create("pfC", &cfg, &error));
	g_assert_no_error(error);
	g_ptr_array_add(f->pfs, nvfm_address_parse_pf("emu:pfC", &error));
	g_assert_no_error(error);

	map = nvfm_incoming_provision(f->ledger, dom, nvfm_domain_get_vfs(dom), &f->opts, note, f,
				      &error);
	g_assert_no_error(error);
	g_assert_cmpstr(g_hash_table_lookup(map, "emu:pfA-vf0"), ==, "emu:pfC-vf0");
	g_assert_nonnull(strstr(f->notes->str, "provisioned emu:pfC-vf0 on PF emu:pfC for ua-emu0"));
	g_assert_nonnull(strstr(f->notes->str, "; NUMA node 1 preferred, the PF is on node 1)"));
	assert_online(0);
	g_assert_true(nvfm_incoming_stopped(f->ledger, UUID, none, "failed", "", note, f, &error));
	g_assert_no_error(error);

	g_string_truncate(f->notes, 0);
	g_clear_pointer(&map, g_hash_table_unref);
	map = nvfm_incoming_provision(f->ledger, plain, nvfm_domain_get_vfs(plain), &f->opts, note,
				      f, &error);
	g_assert_no_error(error);
	g_assert_cmpstr(g_hash_table_lookup(map, "emu:pfA-vf0"), ==, "emu:pfB-vf0");
	g_assert_null(strstr(f->notes->str, "NUMA"));
	assert_online(1);
}

/* a damaged record refuses the call and provisions nothing */
static void test_damaged(Fixture *f, gconstpointer data)
{
	g_autoptr(NvfmDomain) dom = domain(1);
	g_autoptr(GHashTable) map = NULL;
	g_autoptr(GError) error = NULL;
	json_auto_t *junk = json_pack("{s:i}", "phase", 3);

	g_assert_true(nvfm_ledger_put(f->ledger, UUID, junk, &error));
	map = nvfm_incoming_provision(f->ledger, dom, nvfm_domain_get_vfs(dom), &f->opts, note, f,
				      &error);
	g_assert_null(map);
	g_assert_nonnull(strstr(error->message, "is damaged"));
	assert_online(0);
	g_clear_error(&error);
	g_assert_false(nvfm_incoming_started(f->ledger, UUID, &error));
	g_assert_nonnull(error);
}

int main(int argc, char **argv)
{
	g_autoptr(GError) error = NULL;
	int r;

	g_test_init(&argc, &argv, NULL);
	emu_dir = g_dir_make_tmp("nvfm-incoming-XXXXXX", &error);
	g_assert_no_error(error);
	g_setenv("NVFM_EMU_DIR", emu_dir, TRUE);
#define ADD(path, fn) g_test_add(path, Fixture, NULL, fixture_setup, fn, fixture_teardown)
	ADD("/incoming/lifecycle", test_lifecycle);
	ADD("/incoming/keep", test_keep);
	ADD("/incoming/rollback", test_rollback);
	ADD("/incoming/damaged", test_damaged);
	ADD("/incoming/numa", test_numa);
	r = g_test_run();
	nvfm_test_rm_rf(emu_dir);
	g_free(emu_dir);
	return r;
}
