/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Provisioning against emulated PFs: the generic logic of pf.c above the
 * emulated ops, with the NVMe rules QEMU's controller enforces.
 */
#include "config.h"

#include <glib/gstdio.h>
#include <string.h>

#include "src/lib/pf/pf-private.h"
#include "tests/common/testutil.h"

/* statuses are named by libnvme; a build without it gives the number */
#ifdef HAVE_LIBNVME
#define STATUS_NAME(s) s
#else
#define STATUS_NAME(s) ""
#endif

typedef struct {
	char *dir;
} Fixture;

/* $NVFM_EMU_DIR, set once before any thread exists */
static char *emu_dir;

static void fixture_setup(Fixture *f, gconstpointer data)
{
	g_autoptr(GError) error = NULL;

	f->dir = g_strdup(emu_dir);
	g_assert_cmpint(g_mkdir_with_parents(f->dir, 0700), ==, 0);
	g_assert_true(nvfm_emu_pf_create("pf0", NULL, &error));
	g_assert_no_error(error);
}

static void fixture_teardown(Fixture *f, gconstpointer data)
{
	nvfm_test_rm_rf(f->dir);
	g_free(f->dir);
}

static NvfmPf *open_pf(const char *addr)
{
	g_autoptr(GError) error = NULL;
	NvfmPf *pf = nvfm_pf_open(nvfm_test_addr(addr), &error);

	g_assert_no_error(error);
	g_assert_nonnull(pf);
	return pf;
}

static NvfmVfInfo *provision(NvfmPf *pf, int index, guint nvq, guint nvi, const char *driver,
			     GError **error)
{
	NvfmProvisionOpts o;

	nvfm_provision_opts_init(&o);
	o.vf_index = index;
	o.nvq = nvq;
	o.nvi = nvi;
	o.driver = driver;
	o.lock_timeout_ms = 5000;
	return nvfm_pf_provision(pf, &o, error);
}

static void assert_pristine(NvfmPf *pf)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(GPtrArray) vfs = NULL;
	NvfmPfCaps c;

	g_assert_true(nvfm_pf_get_caps(pf, &c, &error));
	g_assert_no_error(error);
	g_assert_cmpuint(c.vq.free, ==, c.vq.total);
	g_assert_cmpuint(c.vi.free, ==, c.vi.total);
	g_assert_cmpuint(c.num_vfs, ==, 0);
	g_assert_cmpuint(c.n_online, ==, 0);
	vfs = nvfm_pf_list_vfs(pf, &error);
	g_assert_no_error(error);
	for (guint i = 0; i < vfs->len; i++) {
		const NvfmVfInfo *v = vfs->pdata[i];

		g_assert_false(v->online);
		g_assert_cmpuint(v->nvq, ==, 0);
		g_assert_cmpuint(v->nvi, ==, 0);
		g_assert_null(v->driver);
	}
}

static void test_list_fresh(Fixture *f, gconstpointer data)
{
	g_autoptr(NvfmPf) pf = open_pf("emu:pf0");
	g_autoptr(GError) error = NULL;
	g_autoptr(GPtrArray) vfs = NULL;
	g_auto(GStrv) all = NULL;
	NvfmPfCaps c;

	g_assert_true(nvfm_pf_get_caps(pf, &c, &error));
	g_assert_cmpuint(c.total_vfs, ==, 4);
	g_assert_cmpuint(c.vq.total, ==, 16);
	g_assert_cmpuint(c.vi.total, ==, 8);
	g_assert_cmpuint(c.vq.max_per_vf, ==, 8);
	g_assert_cmpuint(c.vi.max_per_vf, ==, 4);
	g_assert_cmpuint(c.n_secondary, ==, 4);
	assert_pristine(pf);
	vfs = nvfm_pf_list_vfs(pf, &error);
	g_assert_cmpuint(vfs->len, ==, 4);
	g_assert_cmpstr(((NvfmVfInfo *)vfs->pdata[2])->address, ==, "emu:pf0-vf2");
	g_assert_cmpuint(((NvfmVfInfo *)vfs->pdata[2])->scid, ==, 3);
	g_assert_false(((NvfmVfInfo *)vfs->pdata[2])->enabled);
	all = nvfm_pf_list(&error);
	g_assert_no_error(error);
	g_assert_true(g_strv_contains((const char *const *)all, "emu:pf0"));
}

static void test_provision_release(Fixture *f, gconstpointer data)
{
	g_autoptr(NvfmPf) pf = open_pf("emu:pf0");
	g_autoptr(GError) error = NULL;
	g_autoptr(NvfmVfInfo) v = NULL;
	g_autoptr(NvfmVfInfo) w = NULL;
	g_autoptr(NvfmDevice) dev = NULL;
	NvfmMigFeatures feat;
	NvfmPfCaps c;

	v = provision(pf, -1, 0, 0, NULL, &error);
	g_assert_no_error(error);
	/* the default is an even share: 16/4 VQ, 8/4 VI */
	g_assert_cmpstr(v->address, ==, "emu:pf0-vf0");
	g_assert_true(v->online);
	g_assert_cmpuint(v->nvq, ==, 4);
	g_assert_cmpuint(v->nvi, ==, 2);
	g_assert_cmpstr(v->driver, ==, "emu-vfio-pci");
	g_assert_cmpstr(v->device->text, ==, "emu:pf0-vf0");
	g_assert_true(nvfm_pf_get_caps(pf, &c, &error));
	g_assert_cmpuint(c.num_vfs, ==, 4);
	g_assert_false(c.autoprobe);
	g_assert_cmpuint(c.vq.free, ==, 12);
	g_assert_cmpuint(c.vi.free, ==, 6);

	/* the provisioned VF is a migration-capable emulated device */
	g_assert_true(nvfm_vf_check_migration(nvfm_test_addr(v->address), &feat, &error));
	g_assert_no_error(error);
	g_assert_true(feat.flags & NVFM_MIG_FLAG_STOP_COPY);

	/* a destination gets the source's amounts */
	w = provision(pf, -1, v->nvq, v->nvi, NULL, &error);
	g_assert_no_error(error);
	g_assert_cmpstr(w->address, ==, "emu:pf0-vf1");
	g_assert_cmpuint(w->nvq, ==, 4);

	/* held open: in use, cannot be released */
	dev = nvfm_device_open(nvfm_test_addr("emu:pf0-vf1"), &error);
	g_assert_no_error(error);
	g_clear_pointer(&w, nvfm_vf_info_free);
	w = nvfm_vf_lookup(nvfm_test_addr("emu:pf0-vf1"), &error);
	g_assert_no_error(error);
	g_assert_nonnull(w->in_use_by);
	g_assert_false(nvfm_vf_release(nvfm_test_addr("emu:pf0-vf1"), &error));
	g_assert_error(error, NVFM_ERROR, NVFM_ERROR_BUSY);
	g_assert_nonnull(strstr(error->message, "in use by"));
	g_clear_error(&error);
	g_clear_pointer(&dev, nvfm_device_close);

	g_assert_true(nvfm_vf_release(nvfm_test_addr("emu:pf0-vf1"), &error));
	g_assert_no_error(error);
	g_assert_true(nvfm_vf_release(nvfm_test_addr("emu:pf0-vf0"), &error));
	g_assert_no_error(error);
	assert_pristine(pf);
}

static void test_resource_errors(Fixture *f, gconstpointer data)
{
	g_autoptr(NvfmPf) pf = open_pf("emu:pf0");
	g_autoptr(GError) error = NULL;
	g_autoptr(NvfmVfInfo) a = NULL;
	g_autoptr(NvfmVfInfo) b = NULL;
	NvfmVfInfo *v;

	v = provision(pf, -1, 9, 1, NULL, &error);
	g_assert_null(v);
	g_assert_error(error, NVFM_ERROR, NVFM_ERROR_INVALID_ARG);
	g_assert_nonnull(strstr(error->message, "at most 8"));
	g_clear_error(&error);

	v = provision(pf, -1, 1, 1, NULL, &error);
	g_assert_error(error, NVFM_ERROR, NVFM_ERROR_INVALID_ARG);
	g_clear_error(&error);

	a = provision(pf, 0, 8, 4, NULL, &error);
	g_assert_no_error(error);
	b = provision(pf, 1, 8, 4, NULL, &error);
	g_assert_no_error(error);
	/* the pool is empty now */
	v = provision(pf, 2, 2, 1, NULL, &error);
	g_assert_null(v);
	g_assert_error(error, NVFM_ERROR, NVFM_ERROR_BUSY);
	g_assert_nonnull(strstr(error->message, "only 0 of 16 are free"));
	g_clear_error(&error);
	/* a failed provisioning leaves nothing behind */
	g_clear_pointer(&a, nvfm_vf_info_free);
	a = nvfm_vf_lookup(nvfm_test_addr("emu:pf0-vf2"), &error);
	g_assert_no_error(error);
	g_assert_false(a->online);
	g_assert_null(a->driver);

	/* an online VF is not free */
	v = provision(pf, 1, 2, 1, NULL, &error);
	g_assert_error(error, NVFM_ERROR, NVFM_ERROR_BUSY);
	g_clear_error(&error);

	g_assert_true(nvfm_vf_release(nvfm_test_addr("emu:pf0-vf0"), &error));
	g_assert_true(nvfm_vf_release(nvfm_test_addr("emu:pf0-vf1"), &error));
	g_assert_no_error(error);
	assert_pristine(pf);
}

static void test_nvme_rules(Fixture *f, gconstpointer data)
{
	g_autoptr(NvfmPf) pf = open_pf("emu:pf0");
	g_autoptr(GError) error = NULL;
	const NvfmPfOps *ops = pf->ops;

	/* assign works offline; online fails until the VF exists */
	g_assert_true(ops->virt_mgmt(pf, NVFM_VIRT_ACT_ASSIGN, NVFM_VIRT_RT_VQ, 1, 4, &error));
	g_assert_true(ops->virt_mgmt(pf, NVFM_VIRT_ACT_ASSIGN, NVFM_VIRT_RT_VI, 1, 2, &error));
	g_assert_no_error(error);
	g_assert_false(ops->virt_mgmt(pf, NVFM_VIRT_ACT_ONLINE, 0, 1, 0, &error));
	g_assert_error(error, NVFM_ERROR, NVFM_ERROR_NVME);
	g_assert_nonnull(strstr(error->message, "0x4120" STATUS_NAME(" (Invalid Secondary Controller State)")));
	g_clear_error(&error);
	/* more than one controller may hold */
	g_assert_false(ops->virt_mgmt(pf, NVFM_VIRT_ACT_ASSIGN, NVFM_VIRT_RT_VQ, 2, 9, &error));
	g_assert_nonnull(strstr(error->message, "0x4121"));
	g_clear_error(&error);
	/* an unknown controller */
	g_assert_false(ops->virt_mgmt(pf, NVFM_VIRT_ACT_OFFLINE, 0, 99, 0, &error));
	g_assert_nonnull(strstr(error->message, "0x411f" STATUS_NAME(" (Invalid Controller Identifier)")));
	g_clear_error(&error);
	/* numvfs changes only through 0 */
	g_assert_true(ops->set_numvfs(pf, 2, &error));
	g_assert_false(ops->set_numvfs(pf, 3, &error));
	g_assert_error(error, NVFM_ERROR, NVFM_ERROR_BUSY);
	g_clear_error(&error);
	g_assert_true(ops->virt_mgmt(pf, NVFM_VIRT_ACT_ONLINE, 0, 1, 0, &error));
	/* no assigning to an online controller */
	g_assert_false(ops->virt_mgmt(pf, NVFM_VIRT_ACT_ASSIGN, NVFM_VIRT_RT_VQ, 1, 2, &error));
	g_assert_nonnull(strstr(error->message, "0x4120"));
	g_clear_error(&error);
	/* offline hands the resources back */
	g_assert_true(ops->virt_mgmt(pf, NVFM_VIRT_ACT_OFFLINE, 0, 1, 0, &error));
	g_assert_true(ops->set_numvfs(pf, 0, &error));
	g_assert_no_error(error);
	assert_pristine(pf);
}

static void test_drivers(Fixture *f, gconstpointer data)
{
	g_autoptr(NvfmPf) pf = open_pf("emu:pf0");
	g_autoptr(GError) error = NULL;
	g_autoptr(NvfmVfInfo) v = NULL;
	g_autofree char *drv = NULL;

	drv = nvfm_vf_default_driver(nvfm_test_addr("emu:pf0-vf0"), &error);
	g_assert_cmpstr(drv, ==, "emu-vfio-pci");

	/* plain vfio-pci: no migration; required, it fails and is undone */
	{
		NvfmProvisionOpts o;
		NvfmVfInfo *bad;

		nvfm_provision_opts_init(&o);
		o.driver = "vfio-pci";
		o.require_migration = TRUE;
		bad = nvfm_pf_provision(pf, &o, &error);
		g_assert_null(bad);
		g_assert_error(error, NVFM_ERROR, NVFM_ERROR_NOT_SUPPORTED);
		g_assert_nonnull(strstr(error->message, "no migration support"));
		g_clear_error(&error);
		assert_pristine(pf);
	}

	v = provision(pf, -1, 0, 0, "vfio-pci", &error);
	g_assert_no_error(error);
	g_assert_cmpstr(v->driver, ==, "vfio-pci");
	g_assert_null(v->device);
	g_assert_false(nvfm_vf_check_migration(nvfm_test_addr(v->address), NULL, &error));
	g_assert_error(error, NVFM_ERROR, NVFM_ERROR_NOT_SUPPORTED);
	g_clear_error(&error);

	g_assert_true(nvfm_vf_bind(nvfm_test_addr(v->address), "emu-vfio-pci", &error));
	g_assert_no_error(error);
	g_assert_true(nvfm_vf_check_migration(nvfm_test_addr(v->address), NULL, &error));
	g_assert_no_error(error);
	g_assert_true(nvfm_vf_bind(nvfm_test_addr(v->address), "nvme", &error));
	g_assert_false(nvfm_vf_bind(nvfm_test_addr(v->address), "bogus", &error));
	g_assert_error(error, NVFM_ERROR, NVFM_ERROR_NOT_FOUND);
	g_clear_error(&error);

	/* the host driver cannot start an offline controller */
	g_assert_false(nvfm_vf_bind(nvfm_test_addr("emu:pf0-vf3"), "nvme", &error));
	g_assert_error(error, NVFM_ERROR, NVFM_ERROR_DEVICE);
	g_clear_error(&error);

	g_assert_true(nvfm_vf_release(nvfm_test_addr(v->address), &error));
	g_assert_no_error(error);
	assert_pristine(pf);
}

static void test_unknown(Fixture *f, gconstpointer data)
{
	g_autoptr(GError) error = NULL;

	g_assert_null(nvfm_pf_open(nvfm_test_addr("emu:nope"), &error));
	g_assert_error(error, NVFM_ERROR, NVFM_ERROR_NOT_FOUND);
	g_assert_nonnull(strstr(error->message, "unknown PF emu:nope"));
	g_clear_error(&error);
	g_assert_null(nvfm_pf_open(nvfm_test_addr("emu:bad-name"), &error));
	g_assert_error(error, NVFM_ERROR, NVFM_ERROR_INVALID_ARG);
	g_clear_error(&error);
	g_assert_false(nvfm_vf_release(nvfm_test_addr("emu:pf0-vf7"), &error));
	g_assert_error(error, NVFM_ERROR, NVFM_ERROR_NOT_FOUND);
	g_clear_error(&error);
	g_assert_false(nvfm_vf_release(nvfm_test_addr("emu:pf0"), &error));
	g_assert_error(error, NVFM_ERROR, NVFM_ERROR_INVALID_ARG);
	g_clear_error(&error);
}

static void test_lock(Fixture *f, gconstpointer data)
{
	g_autoptr(NvfmPf) holder = open_pf("emu:pf0");
	g_autoptr(NvfmPf) pf = open_pf("emu:pf0");
	g_autoptr(GError) error = NULL;
	NvfmProvisionOpts o;
	NvfmVfInfo *v;

	g_assert_true(nvfm_pf_lock(holder, 1000, &error));
	nvfm_provision_opts_init(&o);
	o.lock_timeout_ms = 100;
	v = nvfm_pf_provision(pf, &o, &error);
	g_assert_null(v);
	g_assert_error(error, NVFM_ERROR, NVFM_ERROR_TIMEOUT);
	g_clear_error(&error);
	nvfm_pf_unlock(holder);
	v = nvfm_pf_provision(pf, &o, &error);
	g_assert_no_error(error);
	g_assert_true(nvfm_vf_release(nvfm_test_addr(v->address), &error));
	nvfm_vf_info_free(v);
	assert_pristine(pf);
}

typedef struct {
	GPtrArray *got;
	GMutex mu;
	guint failures;
} Race;

static gpointer race_thread(gpointer data)
{
	Race *r = data;
	g_autoptr(GError) error = NULL;
	g_autoptr(NvfmPf) pf = nvfm_pf_open(nvfm_test_addr("emu:pf0"), &error);
	NvfmVfInfo *v = NULL;

	if (pf)
		v = provision(pf, -1, 2, 1, NULL, &error);
	g_mutex_lock(&r->mu);
	if (v)
		g_ptr_array_add(r->got, v);
	else
		r->failures++;
	g_mutex_unlock(&r->mu);
	return NULL;
}

static void test_concurrent(Fixture *f, gconstpointer data)
{
	g_autoptr(NvfmPf) pf = open_pf("emu:pf0");
	g_autoptr(GError) error = NULL;
	Race r = { .got = g_ptr_array_new_with_free_func((GDestroyNotify)nvfm_vf_info_free) };
	GThread *t[4];

	g_mutex_init(&r.mu);
	for (guint i = 0; i < G_N_ELEMENTS(t); i++)
		t[i] = g_thread_new("provision", race_thread, &r);
	for (guint i = 0; i < G_N_ELEMENTS(t); i++)
		g_thread_join(t[i]);
	g_assert_cmpuint(r.failures, ==, 0);
	g_assert_cmpuint(r.got->len, ==, 4);
	/* every thread got its own VF */
	for (guint i = 0; i < r.got->len; i++) {
		for (guint k = i + 1; k < r.got->len; k++)
			g_assert_cmpstr(((NvfmVfInfo *)r.got->pdata[i])->address, !=,
					((NvfmVfInfo *)r.got->pdata[k])->address);
	}
	for (guint i = 0; i < r.got->len; i++) {
		g_assert_true(nvfm_vf_release(((NvfmVfInfo *)r.got->pdata[i])->vf, &error));
		g_assert_no_error(error);
	}
	g_ptr_array_unref(r.got);
	g_mutex_clear(&r.mu);
	assert_pristine(pf);
}

static void test_replace_destroy(Fixture *f, gconstpointer data)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(NvfmPf) pf = open_pf("emu:pf0");
	g_autoptr(NvfmVfInfo) v = provision(pf, -1, 0, 0, NULL, &error);
	g_auto(GStrv) names = NULL;

	g_assert_no_error(error);
	g_assert_false(nvfm_emu_pf_destroy("pf0", &error));
	g_assert_error(error, NVFM_ERROR, NVFM_ERROR_BUSY);
	g_clear_error(&error);
	g_assert_true(nvfm_vf_release(nvfm_test_addr(v->address), &error));
	g_assert_true(nvfm_emu_pf_destroy("pf0", &error));
	g_assert_no_error(error);
	names = nvfm_emu_pf_list(&error);
	g_assert_cmpuint(g_strv_length(names), ==, 0);
}

/* The live migration capability an emulated PF reports: the testbed's by
 * default, what it was created with otherwise, through the same Identify
 * Controller / CNS 20h ops (and parser) as a kernel PF. */
static void test_lm_caps(Fixture *f, gconstpointer data)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(NvfmPf) pf0 = open_pf("emu:pf0");
	g_autoptr(NvfmPf) pf1 = NULL;
	g_autoptr(NvfmPf) pf2 = NULL;
	g_autoptr(NvfmLmCaps) a = NULL;
	g_autoptr(NvfmLmCaps) b = NULL;
	g_autoptr(NvfmLmCaps) c = NULL;
	NvfmEmuPfConfig cfg;

	a = nvfm_pf_get_lm_caps(pf0, &error);
	g_assert_no_error(error);
	g_assert_true(a->supported);
	g_assert_cmpstr(a->pf, ==, "emu:pf0");
	g_assert_cmpuint(a->n_versions, ==, 1);
	g_assert_cmpuint(a->versions[0], ==, 0);
	g_assert_cmpuint(a->n_uuids, ==, 1);
	g_assert_cmpstr(a->uuids[0], ==, NVFM_LM_VENDOR_UUID);

	nvfm_emu_pf_config_init(&cfg);
	cfg.n_lm_versions = 2;
	cfg.lm_versions[0] = 0x0102;
	cfg.lm_versions[1] = 0;
	g_strlcpy(cfg.lm_uuids[0], "0AB1C2D3-0000-4000-8000-000000000002", 37);
	g_assert_true(nvfm_emu_pf_create("pf1", &cfg, &error));
	g_assert_no_error(error);
	pf1 = open_pf("emu:pf1");
	b = nvfm_pf_get_lm_caps(pf1, &error);
	g_assert_no_error(error);
	g_assert_true(b->supported);
	g_assert_cmpuint(b->n_versions, ==, 2);
	g_assert_cmpuint(b->versions[0], ==, 0x0102);
	g_assert_cmpuint(b->versions[1], ==, 0);
	g_assert_cmpstr(b->uuids[0], ==, "0ab1c2d3-0000-4000-8000-000000000002");
	/* pf1 takes pf0's version 0 but not its vendor format */
	g_assert_false(nvfm_lm_format_compatible(a, b, &error));
	g_assert_error(error, NVFM_ERROR, NVFM_ERROR_NOT_SUPPORTED);
	g_assert_nonnull(strstr(error->message, "destination PF emu:pf1 offers vendor-specific"));
	g_clear_error(&error);
	/* pf0 does not take pf1's version 0x0102 */
	g_assert_false(nvfm_lm_format_compatible(b, a, &error));
	g_assert_cmpstr(error->message, ==,
			"destination PF emu:pf0 offers NVMe controller state version 0 but source "
			"PF emu:pf1 produces version 258");
	g_clear_error(&error);

	cfg.lm_supported = FALSE;
	g_assert_true(nvfm_emu_pf_create("pf2", &cfg, &error));
	pf2 = open_pf("emu:pf2");
	c = nvfm_pf_get_lm_caps(pf2, &error);
	g_assert_no_error(error);
	g_assert_false(c->supported);
	g_assert_nonnull(strstr(c->reason, "OACS bit 11"));
	g_assert_true(nvfm_lm_format_compatible(c, a, &error));

	/* bad configurations are refused */
	cfg.lm_supported = TRUE;
	g_strlcpy(cfg.lm_uuids[0], "not-a-uuid", 37);
	g_assert_false(nvfm_emu_pf_create("pf3", &cfg, &error));
	g_assert_error(error, NVFM_ERROR, NVFM_ERROR_INVALID_ARG);
	g_clear_error(&error);
	nvfm_emu_pf_config_init(&cfg);
	cfg.n_lm_versions = NVFM_EMU_LM_MAX_VERSIONS + 1;
	g_assert_false(nvfm_emu_pf_create("pf3", &cfg, &error));
	g_assert_error(error, NVFM_ERROR, NVFM_ERROR_INVALID_ARG);
}

/* "emu:a emu:b" from @pfs in order, then @pfs freed */
static char *order_text(GPtrArray *pfs)
{
	g_autoptr(GString) s = g_string_new(NULL);

	for (guint i = 0; i < pfs->len; i++)
		g_string_append_printf(s, "%s%s", i ? " " : "",
				       ((NvfmAddress *)g_ptr_array_index(pfs, i))->text);
	g_ptr_array_unref(pfs);
	return g_string_free(g_steal_pointer(&s), FALSE);
}

static GPtrArray *pf_list(const char *const *names)
{
	GPtrArray *pfs = g_ptr_array_new_with_free_func((GDestroyNotify)nvfm_address_free);

	for (; *names; names++)
		g_ptr_array_add(pfs, nvfm_address_copy(nvfm_test_addr(*names)));
	return pfs;
}

static void assert_order(GPtrArray *pfs, int node, const char *want)
{
	g_autofree char *got = order_text(nvfm_pfs_numa_first(pfs, node));

	g_assert_cmpstr(got, ==, want);
}

/* The order a VF from a NUMA node tries PFs in (the agent's placement and
 * nvfm_provision_from() share it): those on the node first, the rest as
 * given; an unknown node, one PF or none on the node keep the order. */
static void test_numa_first(Fixture *f, gconstpointer data)
{
	static const char *const names[] = { "emu:pf0", "emu:n1a", "emu:n0", "emu:ghost",
					      "emu:n1b", NULL };
	static const char *const one[] = { "emu:n0", NULL };
	g_autoptr(GPtrArray) pfs = pf_list(names);
	g_autoptr(GPtrArray) single = pf_list(one);
	g_autoptr(GError) error = NULL;
	NvfmEmuPfConfig cfg;

	/* pf0 says no node; ghost does not exist */
	nvfm_emu_pf_config_init(&cfg);
	cfg.numa_node = 1;
	g_assert_true(nvfm_emu_pf_create("n1a", &cfg, &error));
	g_assert_true(nvfm_emu_pf_create("n1b", &cfg, &error));
	cfg.numa_node = 0;
	g_assert_true(nvfm_emu_pf_create("n0", &cfg, &error));
	g_assert_no_error(error);

	/* the node's PFs first, each group in the order given */
	assert_order(pfs, 1, "emu:n1a emu:n1b emu:pf0 emu:n0 emu:ghost");
	assert_order(pfs, 0, "emu:n0 emu:pf0 emu:n1a emu:ghost emu:n1b");
	/* an unknown node: as given */
	assert_order(pfs, -1, "emu:pf0 emu:n1a emu:n0 emu:ghost emu:n1b");
	/* no PF on the node: as given */
	assert_order(pfs, 7, "emu:pf0 emu:n1a emu:n0 emu:ghost emu:n1b");
	/* one PF, on another node: itself */
	assert_order(single, 1, "emu:n0");
	/* nothing to order */
	assert_order(NULL, 1, "");
	/* the caller's list is left as it was */
	g_assert_cmpstr(((NvfmAddress *)g_ptr_array_index(pfs, 0))->text, ==, "emu:pf0");
}

int main(int argc, char **argv)
{
	g_autoptr(GError) error = NULL;
	int r;

	g_test_init(&argc, &argv, NULL);
	emu_dir = g_dir_make_tmp("nvfm-emu-pf-XXXXXX", &error);
	g_assert_no_error(error);
	g_setenv("NVFM_EMU_DIR", emu_dir, TRUE);
#define ADD(path, fn) g_test_add(path, Fixture, NULL, fixture_setup, fn, fixture_teardown)
	ADD("/emu-pf/list-fresh", test_list_fresh);
	ADD("/emu-pf/provision-release", test_provision_release);
	ADD("/emu-pf/resource-errors", test_resource_errors);
	ADD("/emu-pf/nvme-rules", test_nvme_rules);
	ADD("/emu-pf/drivers", test_drivers);
	ADD("/emu-pf/unknown", test_unknown);
	ADD("/emu-pf/lock", test_lock);
	ADD("/emu-pf/concurrent", test_concurrent);
	ADD("/emu-pf/replace-destroy", test_replace_destroy);
	ADD("/emu-pf/lm-caps", test_lm_caps);
	ADD("/emu-pf/numa-first", test_numa_first);
	r = g_test_run();
	nvfm_test_rm_rf(emu_dir);
	g_free(emu_dir);
	return r;
}
