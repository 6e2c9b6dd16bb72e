/* SPDX-License-Identifier: GPL-2.0-or-later */
/* "vf list/provision/release/bind": VFs as their PF provisions them. */
#include <stdio.h>
#include <string.h>

#include "cli.h"

static json_t *json_str_or_null(const char *s)
{
	return s ? json_string(s) : json_null();
}

static json_t *resource_json(const NvfmPfResource *r)
{
	return json_pack("{s:i, s:i, s:i, s:i, s:i, s:i, s:i}", "total", (json_int_t)r->total,
			 "assigned", (json_int_t)r->assigned, "primary", (json_int_t)r->primary,
			 "private", (json_int_t)r->private_total, "max_per_vf",
			 (json_int_t)r->max_per_vf, "granularity", (json_int_t)r->granularity,
			 "free", (json_int_t)r->free);
}

static json_t *vf_json(const NvfmVfInfo *v)
{
	json_t *j = json_object();

	json_object_set_new(j, "pf", json_string(v->pf));
	json_object_set_new(j, "address", json_str_or_null(v->address));
	json_object_set_new(j, "index", json_integer(v->index));
	json_object_set_new(j, "scid", json_integer(v->scid));
	json_object_set_new(j, "state", json_string(v->online ? "online" : "offline"));
	json_object_set_new(j, "nvq", json_integer(v->nvq));
	json_object_set_new(j, "nvi", json_integer(v->nvi));
	json_object_set_new(j, "enabled", json_boolean(v->enabled));
	json_object_set_new(j, "driver", json_str_or_null(v->driver));
	json_object_set_new(j, "driver_override", json_str_or_null(v->driver_override));
	json_object_set_new(j, "iommu_group", json_str_or_null(v->iommu_group));
	json_object_set_new(j, "vfio_device", json_str_or_null(v->vfio_device));
	json_object_set_new(j, "device", json_str_or_null(v->device ? v->device->text : NULL));
	json_object_set_new(j, "in_use_by", json_str_or_null(v->in_use_by));
	json_object_set_new(j, "free", json_boolean(nvfm_vf_info_is_free(v)));
	return j;
}

/* "live_migration" of a PF in "vf list --json": what the PF offers, or
 * why it offers nothing, or why that could not be read */
static json_t *lm_json(const NvfmLmCaps *lm, const GError *lm_error)
{
	json_t *versions, *uuids;

	if (!lm)
		return json_pack("{s:b, s:s}", "supported", 0, "error", lm_error->message);
	versions = json_array();
	uuids = json_array();
	for (guint i = 0; i < lm->n_versions; i++)
		json_array_append_new(versions, json_integer(lm->versions[i]));
	for (guint i = 0; i < lm->n_uuids; i++)
		json_array_append_new(uuids, json_string(lm->uuids[i]));
	return json_pack("{s:b, s:o, s:o, s:s?}", "supported", lm->supported, "versions", versions,
			 "uuids", uuids, "reason", lm->reason);
}

/* The order of "vf list"'s VF table: who it is, what it has, where it is
 * bound; last the holder, a free text ("pid 4242 (qemu-system-x86)"). A
 * field of vf_json() not named here gets a column after these. */
static const char *const vf_columns[] = {
	"address", "index", "scid", "state", "nvq", "nvi", "enabled", "free", "driver",
	"driver_override", "vfio_device", "device", "iommu_group", "pf", "in_use_by", NULL,
};

/* One PF of "vf list" as text: its JSON fields as "name: value" lines,
 * "pf" first, then "vfs:" over a table of its VFs headed by their keys. */
static void print_pf(json_t *j)
{
	json_auto_t *fields = json_copy(j);
	json_t *vfs = json_object_get(j, "vfs");

	printf("pf: %s\n", json_string_value(json_object_get(j, "pf")));
	json_object_del(fields, "pf");
	json_object_del(fields, "vfs");
	cli_print_fields(fields);
	if (vfs) {
		printf("vfs:\n");
		cli_print_table(vfs, vf_columns);
	}
}

/* One PF of "vf list" as its JSON object; NULL on error. */
static json_t *list_one(const char *address, GError **error)
{
	g_autoptr(NvfmAddress) addr = nvfm_address_parse_pf(address, error);
	g_autoptr(NvfmPf) pf = addr ? nvfm_pf_open(addr, error) : NULL;
	g_autoptr(GPtrArray) vfs = NULL;
	g_autoptr(NvfmLmCaps) lm = NULL;
	g_autoptr(GError) lm_error = NULL;
	NvfmPfCaps caps;
	json_t *j, *list;

	if (!pf || !nvfm_pf_get_caps(pf, &caps, error) || !(vfs = nvfm_pf_list_vfs(pf, error)))
		return NULL;
	/* a PF whose live migration cannot be read still lists its VFs */
	lm = nvfm_pf_get_lm_caps(pf, &lm_error);
	j = json_object();
	list = json_array();
	json_object_set_new(j, "pf", json_string(nvfm_pf_address(pf)));
	json_object_set_new(j, "cntlid", json_integer(caps.cntlid));
	json_object_set_new(j, "total_vfs", json_integer(caps.total_vfs));
	json_object_set_new(j, "num_vfs", json_integer(caps.num_vfs));
	json_object_set_new(j, "autoprobe", json_boolean(caps.autoprobe));
	json_object_set_new(j, "numa_node", json_integer(caps.numa_node));
	json_object_set_new(j, "vq", resource_json(&caps.vq));
	json_object_set_new(j, "vi", resource_json(&caps.vi));
	json_object_set_new(j, "live_migration", lm_json(lm, lm_error));
	for (guint i = 0; i < vfs->len; i++)
		json_array_append_new(list, vf_json(vfs->pdata[i]));
	json_object_set_new(j, "vfs", list);
	return j;
}

int cmd_vf_list(int argc, char **argv)
{
	g_autofree char *pf = NULL;
	GOptionEntry entries[] = {
		{ "pf", 0, 0, G_OPTION_ARG_STRING, &pf, "Only this PF (DDDD:BB:DD.F or emu:NAME)", "PF" },
		{ NULL },
	};
	g_autoptr(GOptionContext) ctx = g_option_context_new(NULL);
	g_auto(GStrv) pfs = NULL;
	json_auto_t *arr = json_array();
	GError *error = NULL;
	json_t *one;
	gsize i;
	int code;

	g_option_context_add_main_entries(ctx, entries, NULL);
	if (!cli_parse(ctx, "vf list", "[--pf PF]",
		       "list NVMe PFs, their VFs and secondary controllers", &argc, &argv, 0, 0,
		       &code))
		return code;
	if (pf) {
		one = list_one(pf, &error);
		if (!one)
			return cli_fail(error);
		json_array_append_new(arr, one);
	} else {
		pfs = nvfm_pf_list(&error);
		if (!pfs)
			return cli_fail(error);
		for (guint n = 0; pfs[n]; n++) {
			one = list_one(pfs[n], &error);
			/* one broken PF does not hide the others */
			if (!one) {
				one = json_pack("{s:s, s:s}", "pf", pfs[n], "error", error->message);
				g_clear_error(&error);
			}
			json_array_append_new(arr, one);
		}
		if (!pfs[0])
			cli_note("no NVMe PF with SR-IOV found (and no emulated PF)\n");
	}
	if (cli_want_json()) {
		json_auto_t *j = json_pack("{s:O}", "pfs", arr);

		cli_print_json(j);
		return CLI_EXIT_OK;
	}
	/* each PF as the JSON names its fields, a blank line between two */
	json_array_foreach(arr, i, one) {
		if (i > 0)
			printf("\n");
		print_pf(one);
	}
	return CLI_EXIT_OK;
}

int cmd_vf_provision(int argc, char **argv)
{
	g_autoptr(NvfmAddress) addr = NULL;
	int vq = 0, vi = 0, vf_index = -1, timeout_s = 0;
	g_autofree char *driver = NULL, *like = NULL;
	gboolean require_migration = FALSE;
	GOptionEntry entries[] = {
		{ "vq", 0, 0, G_OPTION_ARG_INT, &vq, "VQ resources (default: the source's via --like, else an even share)", "N" },
		{ "vi", 0, 0, G_OPTION_ARG_INT, &vi, "VI resources (default: as for --vq)", "N" },
		{ "driver", 0, 0, G_OPTION_ARG_STRING, &driver, "Driver to bind (default: the VFIO variant driver modules.alias names, else vfio-pci)", "D" },
		{ "vf", 0, 0, G_OPTION_ARG_INT, &vf_index, "Take this VF index instead of the first free one", "INDEX" },
		{ "like", 0, 0, G_OPTION_ARG_STRING, &like, "Copy VQ/VI amounts from this VF (e.g. the migration source)", "VF" },
		{ "require-migration", 0, 0, G_OPTION_ARG_NONE, &require_migration, "Fail (and release) unless the bound VF supports VFIO migration", NULL },
		{ "lock-timeout", 0, 0, G_OPTION_ARG_INT, &timeout_s, "Seconds to wait for the PF lock (default 30)", "S" },
		{ NULL },
	};
	g_autoptr(GOptionContext) ctx = g_option_context_new(NULL);
	g_autoptr(NvfmPf) pf = NULL;
	g_autoptr(NvfmVfInfo) v = NULL;
	NvfmProvisionOpts opts;
	GError *error = NULL;
	int code;

	g_option_context_add_main_entries(ctx, entries, NULL);
	if (!cli_parse(ctx, "vf provision", "PF [--vq N --vi N --driver D]",
		       "provision and bind a free VF", &argc, &argv, 1, 1, &code))
		return code;
	if (vq < 0 || vi < 0 || vq > 0xffff || vi > 0xffff)
		return cli_usage_error("vf provision", "--vq and --vi take 0..65535");
	if (timeout_s < 0 || timeout_s > 3600)
		return cli_usage_error("vf provision", "--lock-timeout takes 0..3600 seconds");
	nvfm_provision_opts_init(&opts);
	if (like) {
		g_autoptr(NvfmAddress) src_addr = nvfm_address_parse(like, &error);
		g_autoptr(NvfmVfInfo) src = src_addr ? nvfm_vf_lookup(src_addr, &error) : NULL;

		if (!src)
			return cli_fail(error);
		nvfm_provision_opts_like(&opts, src);
	}
	if (vq)
		opts.nvq = (guint)vq;
	if (vi)
		opts.nvi = (guint)vi;
	opts.vf_index = vf_index;
	opts.driver = driver;
	opts.require_migration = require_migration;
	opts.lock_timeout_ms = timeout_s * 1000;
	addr = nvfm_address_parse_pf(argv[1], &error);
	pf = addr ? nvfm_pf_open(addr, &error) : NULL;
	if (!pf)
		return cli_fail(error);
	v = nvfm_pf_provision(pf, &opts, &error);
	if (!v)
		return cli_fail(error);
	{
		json_auto_t *j = vf_json(v);

		/* for the domain's metadata (numa=), beside nvq and nvi */
		json_object_set_new(j, "numa_node", json_integer(v->numa_node));
		cli_report(j);
	}
	return CLI_EXIT_OK;
}

int cmd_vf_release(int argc, char **argv)
{
	g_autoptr(NvfmAddress) addr = NULL;
	g_autoptr(GOptionContext) ctx = g_option_context_new(NULL);
	GError *error = NULL;
	int code;

	if (!cli_parse(ctx, "vf release", "VF", "unbind a VF and return its resources to the PF",
		       &argc, &argv, 1, 1, &code))
		return code;
	addr = nvfm_address_parse(argv[1], &error);
	if (!addr || !nvfm_vf_release(addr, &error))
		return cli_fail(error);
	/* the controller is offline, its resources back in the PF's pool */
	{
		json_auto_t *j = json_pack("{s:s, s:b}", "vf", argv[1], "released", 1);

		cli_report(j);
	}
	return CLI_EXIT_OK;
}

int cmd_vf_bind(int argc, char **argv)
{
	g_autoptr(NvfmAddress) addr = NULL;
	g_autoptr(GOptionContext) ctx = g_option_context_new(NULL);
	g_autoptr(NvfmVfInfo) v = NULL;
	GError *error = NULL;
	int code;

	if (!cli_parse(ctx, "vf bind", "VF DRIVER", "bind a VF to a driver through driver_override",
		       &argc, &argv, 2, 2, &code))
		return code;
	addr = nvfm_address_parse(argv[1], &error);
	if (!addr || !nvfm_vf_bind(addr, argv[2], &error))
		return cli_fail(error);
	v = nvfm_vf_lookup(addr, &error);
	if (!v)
		return cli_fail(error);
	{
		json_auto_t *j = vf_json(v);

		cli_report(j);
	}
	return CLI_EXIT_OK;
}

/* "emu pf-create" and "emu pf-destroy": emulated PFs for hosts without
 * NVMe SR-IOV hardware; listed in the emu subcommand table. */

/* "0,1" or "none" into @cfg's live migration versions */
static gboolean parse_lm_versions(const char *s, NvfmEmuPfConfig *cfg)
{
	g_auto(GStrv) parts = NULL;
	guint n = 0;

	if (g_str_equal(s, "none")) {
		cfg->n_lm_versions = 0;
		return TRUE;
	}
	parts = g_strsplit(s, ",", -1);
	for (guint i = 0; parts[i]; i++) {
		guint64 v;

		if (n >= NVFM_EMU_LM_MAX_VERSIONS ||
		    !g_ascii_string_to_unsigned(g_strstrip(parts[i]), 10, 0, 0xffff, &v, NULL))
			return FALSE;
		cfg->lm_versions[n++] = (guint16)v;
	}
	if (n == 0)
		return FALSE;
	cfg->n_lm_versions = n;
	return TRUE;
}
int cmd_emu_pf_create(int argc, char **argv)
{
	int vfs = -1, vq = -1, vi = -1, vq_max = -1, vi_max = -1, numa = CLI_UNSET;
	g_autofree char *size = NULL, *dirty = NULL, *lm_versions = NULL, *result = NULL;
	g_auto(GStrv) lm_uuids = NULL;
	gboolean no_lm = FALSE;
	GOptionEntry entries[] = {
		{ "vfs", 0, 0, G_OPTION_ARG_INT, &vfs, "VFs and secondary controllers (default 4)", "N" },
		{ "vq", 0, 0, G_OPTION_ARG_INT, &vq, "Flexible VQ resources (default 16)", "N" },
		{ "vi", 0, 0, G_OPTION_ARG_INT, &vi, "Flexible VI resources (default 8)", "N" },
		{ "vq-max", 0, 0, G_OPTION_ARG_INT, &vq_max, "Most VQ per VF (default 8)", "N" },
		{ "vi-max", 0, 0, G_OPTION_ARG_INT, &vi_max, "Most VI per VF (default 4)", "N" },
		{ "size", 0, 0, G_OPTION_ARG_STRING, &size, "State size of each VF's emulated device (default 16M)", "SIZE" },
		{ "dirty-rate", 0, 0, G_OPTION_ARG_STRING, &dirty, "Bytes/s each VF's running device dirties (default 16M)", "SIZE" },
		{ "numa", 0, 0, G_OPTION_ARG_INT, &numa, "The NUMA node it reports (default none: -1)", "N" },
		{ "lm-versions", 0, 0, G_OPTION_ARG_STRING, &lm_versions, "NVMe controller state versions Identify CNS 20h lists, first = produced (default 0; 'none' for no version)", "N[,N...]" },
		{ "lm-uuid", 0, 0, G_OPTION_ARG_STRING_ARRAY, &lm_uuids, "Vendor-specific state format CNS 20h lists, repeatable, first = produced (default " NVFM_LM_VENDOR_UUID "; 'none' for none)", "UUID" },
		{ "no-lm", 0, 0, G_OPTION_ARG_NONE, &no_lm, "No NVMe live migration: OACS bit 11 (HMLMS) clear", NULL },
		{ NULL },
	};
	g_autoptr(GOptionContext) ctx = g_option_context_new(NULL);
	NvfmEmuPfConfig cfg;
	GError *error = NULL;
	int code;

	g_option_context_add_main_entries(ctx, entries, NULL);
	if (!cli_parse(ctx, "emu pf-create", "NAME [--vfs N --vq N --vi N]",
		       "create or replace an emulated NVMe PF with SR-IOV", &argc, &argv, 1, 1, &code))
		return code;
	nvfm_emu_pf_config_init(&cfg);
	if (vfs >= 0)
		cfg.total_vfs = (guint)vfs;
	if (vq >= 0)
		cfg.vq_flexible = (guint)vq;
	if (vi >= 0)
		cfg.vi_flexible = (guint)vi;
	/* new pool sizes without explicit maxima: derive them again */
	cfg.vq_max_per_vf = vq_max >= 0 ? (guint)vq_max : (vq >= 0 || vfs >= 0 ? 0 : cfg.vq_max_per_vf);
	cfg.vi_max_per_vf = vi_max >= 0 ? (guint)vi_max : (vi >= 0 || vfs >= 0 ? 0 : cfg.vi_max_per_vf);
	if (size && !nvfm_size_parse(size, &cfg.blob_size, &error))
		return cli_fail(error);
	if (dirty && !nvfm_size_parse(dirty, &cfg.dirty_rate, &error))
		return cli_fail(error);
	if (numa != CLI_UNSET && numa < -1)
		return cli_usage_error("emu pf-create", "--numa must be a node number, or -1 for none");
	if (numa != CLI_UNSET)
		cfg.numa_node = numa;
	if (no_lm)
		cfg.lm_supported = FALSE;
	if (lm_versions && !parse_lm_versions(lm_versions, &cfg))
		return cli_usage_error("emu pf-create",
				       "--lm-versions takes up to 8 comma-separated numbers 0..65535, or 'none'");
	if (lm_uuids) {
		guint n = g_strv_length(lm_uuids);

		cfg.n_lm_uuids = 0;
		if (n == 1 && g_str_equal(lm_uuids[0], "none"))
			n = 0;
		if (n > NVFM_EMU_LM_MAX_UUIDS)
			return cli_usage_error("emu pf-create", "at most 4 --lm-uuid");
		for (guint i = 0; i < n; i++) {
			if (!g_uuid_string_is_valid(lm_uuids[i]))
				return cli_usage_error("emu pf-create",
						       "--lm-uuid takes xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx or 'none'");
			g_strlcpy(cfg.lm_uuids[cfg.n_lm_uuids++], lm_uuids[i],
				  sizeof(cfg.lm_uuids[0]));
		}
	}
	if (!nvfm_emu_pf_create(argv[1], &cfg, &error))
		return cli_fail(error);
	result = g_strdup_printf("created PF with %u VFs (VQ %u, VI %u flexible)",
				 cfg.total_vfs, cfg.vq_flexible, cfg.vi_flexible);
	return cli_report_emu(argv[1], result);
}

int cmd_emu_pf_destroy(int argc, char **argv)
{
	g_autoptr(GOptionContext) ctx = g_option_context_new(NULL);
	GError *error = NULL;
	int code;

	if (!cli_parse(ctx, "emu pf-destroy", "NAME", "remove an emulated PF", &argc, &argv, 1, 1,
		       &code))
		return code;
	if (!nvfm_emu_pf_destroy(argv[1], &error))
		return cli_fail(error);
	return cli_report_emu(argv[1], "PF destroyed");
}

int cmd_emu_pf_fault(int argc, char **argv)
{
	g_autoptr(GOptionContext) ctx = g_option_context_new(NULL);
	g_autofree char *result = NULL;
	GError *error = NULL;
	const char *knob, *value;
	int code;

	if (!cli_parse(ctx, "emu pf-fault", "NAME KNOB [VALUE] | NAME clear",
		       "arm a fault knob on every VF device the emulated PF makes from now on",
		       &argc, &argv, 2, 3, &code))
		return code;
	knob = g_str_equal(argv[2], "clear") ? NULL : argv[2];
	value = argc > 3 ? argv[3] : NULL;
	if (!nvfm_emu_pf_set_vf_fault(argv[1], knob, value, &error))
		return cli_fail(error);
	result = g_strdup_printf("%s%s%s on VFs provisioned from now on",
				 knob ? knob : "all knobs cleared", value ? "=" : knob ? " cleared" : "",
				 value ? value : "");
	return cli_report_emu(argv[1], result);
}
