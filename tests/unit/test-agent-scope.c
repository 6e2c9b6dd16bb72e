/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * What a peer may name on an agent (src/lib/agent/agent-scope.c), against
 * the fake kernel: two NVMe PFs with two VFs each, a host bridge and an
 * NVMe function without SR-IOV. With --pf naming the first PF, the second
 * PF's VFs are refused unless the agent reserved one; without --pf every
 * NVMe SR-IOV PF counts; anything that is not a VF is always refused, and
 * nothing refused is ever reset.
 */
#include <glib/gstdio.h>
#include <string.h>

#include "nvfm/emu.h"
#include "src/lib/agent/agent-private.h"
#include "src/lib/util/sysfs.h"
#include "tests/common/fakekernel.h"
#include "tests/common/testutil.h"

#define PF_A "0000:01:00.0"
#define VF_A "0000:01:00.1"
#define PF_B "0000:03:00.0"
#define VF_B "0000:03:00.1"
#define VF_B_RESERVED "0000:03:00.2"
#define BRIDGE "0000:00:00.0"
#define NVME_NO_SRIOV "0000:02:00.0"

static const char *root;

typedef struct {
	NvfmAgent *agent;
	GThread *thread;
	NvfmAgentClient *client;
} Running;

static gpointer run_agent(gpointer data)
{
	nvfm_agent_run(data, NULL);
	return NULL;
}

static void start(Running *r, const char *name, const NvfmAddress *const *pfs)
{
	g_autofree char *dir = g_build_filename(root, name, NULL);
	g_autofree char *rt = g_build_filename(dir, "rt", NULL);
	g_autofree char *listen = g_strdup_printf("unix:%s/agent.sock", dir);
	NvfmAgentOptions o = { 0 };
	GError *error = NULL;

	g_assert_cmpint(g_mkdir_with_parents(dir, 0700), ==, 0);
	o.listen = listen;
	o.runtime_dir = rt;
	o.timeout_ms = 5000;
	o.pfs = pfs;
	r->agent = nvfm_agent_new(&o, &error);
	g_assert_no_error(error);
	r->thread = g_thread_new("agent", run_agent, r->agent);
	r->client = nvfm_agent_client_connect(listen, NULL, 5000, &error);
	g_assert_no_error(error);
}

static void stop(Running *r)
{
	nvfm_agent_client_free(r->client);
	nvfm_agent_stop(r->agent);
	g_thread_join(r->thread);
	nvfm_agent_free(r->agent);
}

/* @op with @key=@value: refused as out of scope (TRUE) or let through */
static gboolean refused(Running *r, const char *op, const char *key, const char *value,
			const char *why)
{
	json_auto_t *args = json_pack("{s:s}", key, value);
	json_auto_t *res = NULL;
	g_autoptr(GError) error = NULL;

	res = nvfm_agent_client_call(r->client, op, args, &error);
	if (g_error_matches(error, NVFM_ERROR, NVFM_ERROR_PERMISSION)) {
		g_test_message("%s %s=%s: %s", op, key, value, error->message);
		g_assert_nonnull(strstr(error->message, why));
		return TRUE;
	}
	return FALSE;
}

/* "receive" into @target: a transfer from an emulated source, on a
 * connection of its own (a failed transfer ends its connection) */
static gboolean receive_refused(Running *r, const char *target, const char *why)
{
	g_autofree char *listen = g_strdup(nvfm_agent_get_address(r->agent));
	g_autoptr(NvfmAgentClient) c = nvfm_agent_client_connect(listen, NULL, 5000, NULL);
	g_autoptr(NvfmDevice) src = nvfm_device_open(nvfm_test_addr("emu:src"), NULL);
	g_autoptr(GError) error = NULL;
	NvfmSendOptions so;

	g_assert_nonnull(c);
	g_assert_nonnull(src);
	nvfm_send_options_init(&so);
	so.target = target;
	g_assert_false(nvfm_agent_client_send(c, src, &so, NULL, NULL, &error));
	g_test_message("receive into %s: %s", target, error->message);
	return strstr(error->message, why) != NULL;
}

static void test_with_pf(void)
{
	g_autoptr(NvfmAddress) pf = nvfm_address_new_pci(PF_A, NULL);
	const NvfmAddress *pfs[] = { pf, NULL };
	g_autofree char *rt = g_build_filename(root, "with-pf", "rt", NULL);
	g_autoptr(NvfmLedger) ledger = nvfm_ledger_new_reservations(rt);
	json_auto_t *rec = json_pack("{s:s, s:s, s:s}", "reservation", "r-1", "vf",
				     VF_B_RESERVED, "lease", "kept");
	Running r;
	guint resets = fk_vfio.n_resets;

	start(&r, "with-pf", pfs);
	/* another PF's VF, its PF, what is no VF at all */
	g_assert_true(refused(&r, "preflight", "target", VF_B, "not a PF this agent serves"));
	g_assert_true(receive_refused(&r, VF_B, "not a PF this agent serves"));
	g_assert_true(refused(&r, "release", "vf", VF_B, "not a PF this agent serves"));
	g_assert_true(refused(&r, "provision", "pf", PF_B, "not a PF this agent serves"));
	g_assert_true(refused(&r, "preflight", "pf", PF_B, "not a PF this agent serves"));
	g_assert_true(refused(&r, "preflight", "target", BRIDGE, "is not a VF"));
	g_assert_true(refused(&r, "preflight", "target", PF_A, "is not a VF"));
	g_assert_true(refused(&r, "provision", "pf", BRIDGE, "not a PF this agent serves"));
	g_assert_true(refused(&r, "preflight", "target", "emu:b", "emulated devices are off"));
	g_assert_cmpuint(fk_vfio.n_resets, ==, resets);
	/* the agent's own PF's VF goes through to the device checks */
	g_assert_false(refused(&r, "preflight", "target", VF_A, ""));
	g_assert_false(refused(&r, "preflight", "pf", PF_A, ""));
	/* a VF of another PF that this agent reserved is its own */
	g_assert_true(nvfm_ledger_put(ledger, "r-1", rec, NULL));
	g_assert_false(refused(&r, "preflight", "target", VF_B_RESERVED, ""));
	stop(&r);
}

static void test_default(void)
{
	Running r;
	guint resets = fk_vfio.n_resets;

	/* no --pf: every NVMe PF with SR-IOV */
	start(&r, "default", NULL);
	g_assert_false(refused(&r, "preflight", "target", VF_A, ""));
	g_assert_false(refused(&r, "preflight", "target", VF_B, ""));
	g_assert_false(refused(&r, "preflight", "pf", PF_B, ""));
	g_assert_true(refused(&r, "preflight", "target", BRIDGE, "is not a VF"));
	g_assert_true(refused(&r, "preflight", "target", NVME_NO_SRIOV, "is not a VF"));
	g_assert_true(refused(&r, "provision", "pf", NVME_NO_SRIOV, "not a PF this agent serves"));
	g_assert_true(receive_refused(&r, BRIDGE, "is not a VF"));
	g_assert_cmpuint(fk_vfio.n_resets, ==, resets);
	stop(&r);
}

int main(int argc, char **argv)
{
	int r;

	g_test_init(&argc, &argv, NULL);
	root = fk_init();
	g_setenv("NVFM_EMU_DIR", root, TRUE);
	fk_add_driver("nvme");
	fk_add_driver("vfio-pci");
	fk_add_nvme_pf(PF_A, 2, 0, 5);
	fk_add_nvme_pf(PF_B, 2, 1, 10);
	g_assert_cmpint(nvfm_pci_sriov_set_numvfs(PF_A, 2), ==, 0);
	g_assert_cmpint(nvfm_pci_sriov_set_numvfs(PF_B, 2), ==, 0);
	fk_add_pci(BRIDGE, 0x060000, NULL, -1, NULL);
	fk_add_pci(NVME_NO_SRIOV, 0x010802, NULL, -1, NULL);
	{
		NvfmEmuConfig cfg;

		nvfm_emu_config_init(&cfg);
		cfg.blob_size = 1 << 20;
		g_assert_true(nvfm_emu_create("src", &cfg, NULL));
	}
	g_test_add_func("/agent-scope/with-pf", test_with_pf);
	g_test_add_func("/agent-scope/default", test_default);
	r = g_test_run();
	fk_cleanup();
	return r;
}
