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

static void options(Fixture *f, NvfmMigrateOptions *o, char **agent)
{
	nvfm_migrate_options_init(o);
	*agent = g_strconcat("unix:", f->sock, NULL);
	o->vf = nvfm_test_addr(f->vf);
	o->agent = *agent;
	o->dest_pf = "emu:pfb";
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
	o.dest_pf = "emu:nosuch";
	o.agent = "unix:/nonexistent/agent.sock";
	bad = nvfm_migrate_check(&o, &error);
	g_assert_no_error(error);
	g_assert_false(json_is_true(json_object_get(bad, "ok")));
	text = json_dumps(bad, 0);
	g_assert_nonnull(strstr(text, "agent unix:/nonexistent/agent.sock"));
	/* nothing changed */
	assert_pristine("emu:pfb");
	/* options the orchestrator cannot run with */
	o.dest_pf = NULL;
	g_assert_null(nvfm_migrate_check(&o, &error));
	g_assert_error(error, NVFM_ERROR, NVFM_ERROR_INVALID_ARG);
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
	r = g_test_run();
	nvfm_test_rm_rf(emu_dir);
	g_free(emu_dir);
	return r;
}
