/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The orchestrator in one process, without a VM: an emulated PF per
 * "host", an agent on a UNIX socket in a thread, nvfm_migrate() moving a
 * provisioned VF's state into one the agent provisions. Runs under the
 * sanitizers with the emu suite; the VM paths run in tests/hosts.
 */
#include <glib/gstdio.h>
#include <string.h>

#include "nvfm/nvfm.h"
#include "tests/common/testutil.h"

typedef struct {
	char *dir;
	char *sock;
	NvfmAgent *agent;
	GThread *thread;
	char *vf;		/* the source VF's device */
} Fixture;

static char *emu_dir;

static gpointer run_agent(gpointer data)
{
	nvfm_agent_run(data, NULL);
	return NULL;
}

static void fixture_setup(Fixture *f, gconstpointer data)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(NvfmPf) pf = NULL;
	g_autoptr(NvfmVfInfo) vf = NULL;
	g_autofree char *listen = NULL;
	g_autofree char *rt = NULL;
	NvfmEmuPfConfig cfg;
	NvfmProvisionOpts po;
	NvfmAgentOptions ao = { 0 };

	f->dir = g_strdup(emu_dir);
	g_assert_cmpint(g_mkdir_with_parents(f->dir, 0700), ==, 0);
	nvfm_emu_pf_config_init(&cfg);
	cfg.total_vfs = 2;
	cfg.blob_size = 1u << 20;
	g_assert_true(nvfm_emu_pf_create("pfa", &cfg, &error));
	g_assert_true(nvfm_emu_pf_create("pfb", &cfg, &error));
	g_assert_no_error(error);
	pf = nvfm_pf_open(nvfm_test_addr("emu:pfa"), &error);
	g_assert_no_error(error);
	nvfm_provision_opts_init(&po);
	vf = nvfm_pf_provision(pf, &po, &error);
	g_assert_no_error(error);
	f->vf = g_strdup(vf->device->text);

	f->sock = g_build_filename(f->dir, "agent.sock", NULL);
	listen = g_strconcat("unix:", f->sock, NULL);
	rt = g_build_filename(f->dir, "rt", NULL);
	ao.listen = listen;
	ao.runtime_dir = rt;
	ao.timeout_ms = 5000;
	ao.emu = TRUE;
	f->agent = nvfm_agent_new(&ao, &error);
	g_assert_no_error(error);
	f->thread = g_thread_new("agent", run_agent, f->agent);
}

static void fixture_teardown(Fixture *f, gconstpointer data)
{
	nvfm_agent_stop(f->agent);
	g_thread_join(f->thread);
	nvfm_agent_free(f->agent);
	nvfm_test_rm_rf(f->dir);
	g_free(f->dir);
	g_free(f->sock);
	g_free(f->vf);
}

static const char *const pfb[] = { "emu:pfb", NULL };

static void options(Fixture *f, NvfmMigrateOptions *o, char **agent)
{
	nvfm_migrate_options_init(o);
	*agent = g_strconcat("unix:", f->sock, NULL);
	o->vf = nvfm_test_addr(f->vf);
	o->agent = *agent;
	o->dest_pfs = pfb;
}

/* every VF of @pf offline, every resource back */
static void assert_pristine(const char *pf_addr)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(NvfmPf) pf = nvfm_pf_open(nvfm_test_addr(pf_addr), &error);
	g_autoptr(GPtrArray) vfs = NULL;
	NvfmPfCaps caps;

	g_assert_no_error(error);
	g_assert_true(nvfm_pf_get_caps(pf, &caps, &error));
	g_assert_cmpuint(caps.n_online, ==, 0);
	g_assert_cmpuint(caps.vq.assigned, ==, 0);
	g_assert_cmpuint(caps.vi.assigned, ==, 0);
	vfs = nvfm_pf_list_vfs(pf, &error);
	for (guint i = 0; i < vfs->len; i++)
		g_assert_true(nvfm_vf_info_is_free(g_ptr_array_index(vfs, i)));
}

static const char *phase_outcome(json_t *rep, const char *phase)
{
	json_t *p;
	gsize i;

	json_array_foreach(json_object_get(rep, "timeline"), i, p) {
		if (!g_strcmp0(json_string_value(json_object_get(p, "phase")), phase))
			return json_string_value(json_object_get(p, "outcome"));
	}
	return NULL;
}

static void test_phase_names(Fixture *f, gconstpointer data)
{
	for (int i = 0; i < NVFM_MIGRATE_N_PHASES; i++) {
		g_assert_cmpint(nvfm_migrate_phase_from_name(nvfm_migrate_phase_name(i)), ==, i);
		g_assert_cmpint(nvfm_migrate_default_timeout_ms(i), >, 0);
	}
	g_assert_cmpint(nvfm_migrate_phase_from_name("warp"), ==, -1);
}

static void test_direct(Fixture *f, gconstpointer data)
{
	g_autoptr(GError) error = NULL;
	g_autofree char *agent = NULL;
	g_autofree char *digest = NULL;
	json_auto_t *rep = NULL;
	NvfmMigrateOptions o;
	const char *dvf;

	options(f, &o, &agent);
	o.precopy_rounds = 2;
	g_assert_true(nvfm_migrate(&o, &rep, &error));
	g_assert_no_error(error);
	g_assert_true(json_is_true(json_object_get(rep, "committed")));
	g_assert_cmpstr(phase_outcome(rep, "restore"), ==, "ok");
	g_assert_cmpstr(phase_outcome(rep, "release"), ==, "ok");
	dvf = json_string_value(json_object_get(rep, "destination_vf"));
	g_assert_true(g_str_has_prefix(dvf, "emu:pfb-vf"));
	g_assert_true(nvfm_emu_digest(dvf + 4, &digest, NULL, &error));
	g_assert_cmpstr(digest, ==,
			json_string_value(json_object_get(rep, "source_state_sha256")));
	/* the source VF went back to its PF */
	assert_pristine("emu:pfa");
}

static void test_refused(Fixture *f, gconstpointer data)
{
	g_autoptr(GError) error = NULL;
	g_autofree char *agent = NULL;
	g_autoptr(NvfmDevice) dev = NULL;
	json_auto_t *rep = NULL;
	NvfmMigrateOptions o;
	NvfmMigState st;

	g_assert_true(nvfm_emu_pf_set_vf_fault("pfb", "reject-resume", "1", &error));
	options(f, &o, &agent);
	g_assert_false(nvfm_migrate(&o, &rep, &error));
	g_assert_nonnull(error);
	g_assert_true(g_str_has_prefix(error->message, "restore: "));
	g_assert_false(json_is_true(json_object_get(rep, "committed")));
	g_assert_cmpstr(json_string_value(json_object_get(rep, "failed_phase")), ==, "restore");
	if (!strstr(json_string_value(json_object_get(rep, "rollback")),
		    "destination VF emu:pfb-vf0 released"))
		g_error("rollback: %s", json_string_value(json_object_get(rep, "rollback")));
	assert_pristine("emu:pfb");
	g_clear_error(&error);
	dev = nvfm_device_open(nvfm_test_addr(f->vf), &error);
	g_assert_no_error(error);
	g_assert_true(nvfm_device_get_state(dev, &st, &error));
	g_assert_cmpint(st, ==, NVFM_MIG_STATE_RUNNING);
}

static void test_cancelled(Fixture *f, gconstpointer data)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(GCancellable) c = g_cancellable_new();
	g_autofree char *agent = NULL;
	json_auto_t *rep = NULL;
	NvfmMigrateOptions o;

	options(f, &o, &agent);
	o.cancellable = c;
	g_cancellable_cancel(c);
	g_assert_false(nvfm_migrate(&o, &rep, &error));
	g_assert_error(error, NVFM_ERROR, NVFM_ERROR_CANCELLED);
	assert_pristine("emu:pfb");
}

static void test_check(Fixture *f, gconstpointer data)
{
	g_autoptr(GError) error = NULL;
	g_autofree char *agent = NULL;
	json_auto_t *ok = NULL;
	json_auto_t *bad = NULL;
	NvfmMigrateOptions o;
	g_autofree char *text = NULL;

	options(f, &o, &agent);
	ok = nvfm_migrate_check(&o, &error);
	g_assert_no_error(error);
	g_assert_true(json_is_true(json_object_get(ok, "ok")));
	o.dest_pfs = (const char *const[]){ "emu:nosuch", NULL };
	o.agent = "unix:/nonexistent/agent.sock";
	bad = nvfm_migrate_check(&o, &error);
	g_assert_no_error(error);
	g_assert_false(json_is_true(json_object_get(bad, "ok")));
	text = json_dumps(bad, 0);
	g_assert_nonnull(strstr(text, "agent unix:/nonexistent/agent.sock"));
	/* nothing changed */
	assert_pristine("emu:pfb");
	/* options the orchestrator cannot run with */
	o.dest_pfs = NULL;
	g_assert_null(nvfm_migrate_check(&o, &error));
	g_assert_error(error, NVFM_ERROR, NVFM_ERROR_INVALID_ARG);
}

/* A VF provisioned from emulated PF @pf_name (created with @numa_node) with
 * @nvq VQ and @nvi VI: its device address. */
static char *source_vf(const char *pf_name, int numa_node, guint nvq, guint nvi)
{
	g_autoptr(GError) error = NULL;
	g_autofree char *addr = g_strconcat("emu:", pf_name, NULL);
	g_autoptr(NvfmPf) pf = NULL;
	g_autoptr(NvfmVfInfo) vf = NULL;
	NvfmEmuPfConfig cfg;
	NvfmProvisionOpts po;

	nvfm_emu_pf_config_init(&cfg);
	cfg.total_vfs = 2;
	cfg.blob_size = 1u << 20;
	cfg.numa_node = numa_node;
	g_assert_true(nvfm_emu_pf_create(pf_name, &cfg, &error));
	pf = nvfm_pf_open(nvfm_test_addr(addr), &error);
	g_assert_no_error(error);
	nvfm_provision_opts_init(&po);
	po.nvq = nvq;
	po.nvi = nvi;
	vf = nvfm_pf_provision(pf, &po, &error);
	g_assert_no_error(error);
	return g_strdup(vf->device->text);
}

/* An emulated PF @name on @numa_node with @vq_flexible VQ to give. */
static void dest_pf(const char *name, int numa_node, guint vq_flexible)
{
	g_autoptr(GError) error = NULL;
	NvfmEmuPfConfig cfg;

	nvfm_emu_pf_config_init(&cfg);
	cfg.total_vfs = 2;
	cfg.blob_size = 1u << 20;
	cfg.numa_node = numa_node;
	cfg.vq_flexible = vq_flexible;
	cfg.vq_max_per_vf = MIN(vq_flexible, 8);
	nvfm_emu_pf_create(name, &cfg, &error);
	g_assert_no_error(error);
}

static NvfmVfInfo *dest_vf_info(json_t *rep)
{
	g_autoptr(GError) error = NULL;
	const char *dvf = json_string_value(json_object_get(rep, "destination_vf"));
	NvfmVfInfo *info;

	g_assert_nonnull(dvf);
	info = nvfm_vf_lookup(nvfm_test_addr(dvf), &error);
	g_assert_no_error(error);
	return info;
}

/* Without --nvq/--nvi the destination VF gets the source VF's resources;
 * with them, what they say. */
static void test_parity(Fixture *f, gconstpointer data)
{
	g_autoptr(GError) error = NULL;
	g_autofree char *agent = NULL;
	g_autofree char *src = source_vf("pfp", -1, 3, 1);
	g_autoptr(NvfmVfInfo) got = NULL;
	json_auto_t *rep = NULL;
	json_auto_t *rep2 = NULL;
	json_t *res;
	NvfmMigrateOptions o;

	options(f, &o, &agent);
	o.vf = nvfm_test_addr(src);
	g_assert_true(nvfm_migrate(&o, &rep, &error));
	g_assert_no_error(error);
	got = dest_vf_info(rep);
	g_assert_cmpuint(got->nvq, ==, 3);
	g_assert_cmpuint(got->nvi, ==, 1);
	res = json_object_get(json_object_get(json_object_get(rep, "preflight"), "source"),
			      "resources");
	g_assert_cmpstr(json_string_value(json_object_get(res, "from")), ==, "the source VF");
	g_clear_pointer(&got, nvfm_vf_info_free);

	/* the way back, with an override */
	o.vf = nvfm_test_addr(json_string_value(json_object_get(rep, "destination_vf")));
	o.dest_pfs = (const char *const[]){ "emu:pfp", NULL };
	o.nvq = 2;
	o.nvi = 2;
	g_assert_true(nvfm_migrate(&o, &rep2, &error));
	g_assert_no_error(error);
	got = dest_vf_info(rep2);
	g_assert_cmpuint(got->nvq, ==, 2);
	g_assert_cmpuint(got->nvi, ==, 2);
}

/* Several destination PFs: one without the resources is passed over, and
 * one on the source VF's NUMA node is preferred; check names the plan. */
static void test_placement(Fixture *f, gconstpointer data)
{
	g_autoptr(GError) error = NULL;
	g_autofree char *agent = NULL;
	g_autofree char *src = source_vf("pfn", 1, 3, 1);
	g_autoptr(NvfmVfInfo) got = NULL;
	json_auto_t *chk = NULL;
	json_auto_t *rep = NULL;
	json_auto_t *bad = NULL;
	json_t *plan;
	NvfmMigrateOptions o;

	dest_pf("pfsmall", 1, 2);
	dest_pf("pffar", 0, 16);
	dest_pf("pfnear", 1, 16);
	options(f, &o, &agent);
	o.vf = nvfm_test_addr(src);
	o.dest_pfs = (const char *const[]){ "emu:pfsmall", "emu:pffar", "emu:pfnear", NULL };
	chk = nvfm_migrate_check(&o, &error);
	g_assert_no_error(error);
	g_assert_true(json_is_true(json_object_get(chk, "ok")));
	plan = json_object_get(json_object_get(chk, "destination"), "plan");
	g_assert_cmpstr(json_string_value(json_object_get(plan, "pf")), ==, "emu:pfnear");
	g_assert_cmpint(json_integer_value(json_object_get(plan, "numa_node")), ==, 1);
	g_assert_cmpint(json_integer_value(json_object_get(plan, "nvq")), ==, 3);
	g_assert_true(nvfm_migrate(&o, &rep, &error));
	g_assert_no_error(error);
	got = dest_vf_info(rep);
	g_assert_cmpstr(got->pf, ==, "emu:pfnear");
	assert_pristine("emu:pfsmall");
	assert_pristine("emu:pffar");

	/* none can give it: every candidate's reason, nothing provisioned */
	o.vf = nvfm_test_addr(json_string_value(json_object_get(rep, "destination_vf")));
	o.dest_pfs = (const char *const[]){ "emu:pfsmall", NULL };
	o.nvq = 4;
	bad = nvfm_migrate_check(&o, &error);
	g_assert_no_error(error);
	g_assert_false(json_is_true(json_object_get(bad, "ok")));
	g_assert_null(json_object_get(json_object_get(bad, "destination"), "plan"));
	assert_pristine("emu:pfsmall");
}

int main(int argc, char **argv)
{
	g_autoptr(GError) error = NULL;
	int r;

	g_test_init(&argc, &argv, NULL);
	emu_dir = g_dir_make_tmp("nvfm-migrate-XXXXXX", &error);
	g_assert_no_error(error);
	g_setenv("NVFM_EMU_DIR", emu_dir, TRUE);
#define ADD(path, fn) g_test_add(path, Fixture, NULL, fixture_setup, fn, fixture_teardown)
	ADD("/migrate/phase-names", test_phase_names);
	ADD("/migrate/direct", test_direct);
	ADD("/migrate/refused", test_refused);
	ADD("/migrate/cancelled", test_cancelled);
	ADD("/migrate/check", test_check);
	ADD("/migrate/parity", test_parity);
	ADD("/migrate/placement", test_placement);
	r = g_test_run();
	nvfm_test_rm_rf(emu_dir);
	g_free(emu_dir);
	return r;
}
