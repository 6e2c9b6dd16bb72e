/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The source side of `check`: which dirty-page tracking QEMU will use for
 * the VF, and what "none" costs this VM.
 *
 * Without device DMA logging and without IOMMU dirty tracking, QEMU
 * cannot know which guest pages the VF wrote, so it reports every page
 * of guest RAM dirty at every bitmap sync (hw/vfio: the container's
 * query of its dirty bitmap marks the whole section dirty). Each pass,
 * the last one inside the downtime included, resends all of RAM: the
 * downtime grows by RAM / bandwidth. QEMU 10 refuses to migrate such a
 * device unless it was created with enable-migration=on ("VFIO device
 * doesn't support device and IOMMU dirty tracking" is then a migration
 * blocker; with =on only a warning).
 */
#define G_LOG_DOMAIN "nvfm-migrate"

#include "util/util-private.h"
#include "migrate-private.h"

/* The VM's RAM: base-memory plus hot-plugged memory, as QEMU counts it. */
static gboolean vm_ram(NvfmMigration *m, guint64 *bytes)
{
	json_auto_t *r = NULL;
	json_t *base, *plugged;

	if (!m->src_qmp)
		return FALSE;
	r = nvfm_qmp_execute(m->src_qmp, "query-memory-size-summary", NULL,
			     nvfm_migration_timeout(m), NULL);
	base = json_object_get(r, "base-memory");
	plugged = json_object_get(r, "plugged-memory");
	if (!json_is_integer(base) || json_integer_value(base) <= 0)
		return FALSE;
	*bytes = (guint64)json_integer_value(base) +
		 (json_is_integer(plugged) ? (guint64)json_integer_value(plugged) : 0);
	return TRUE;
}

/* What a pass moves per second: what QEMU measured on a migration of this
 * VM (ram.mbps, megabits), else its max-bandwidth parameter (bytes/s). */
static const char *vm_bandwidth(NvfmMigration *m, guint64 *bytes_per_s)
{
	g_autoptr(NvfmVmMigrationInfo) info = NULL;
	json_auto_t *params = NULL;
	json_t *max;
	int t = nvfm_migration_timeout(m);

	if (!m->src_qmp)
		return NULL;
	info = nvfm_vm_query_migration(m->src_qmp, t, NULL);
	if (info && info->ram_mbps > 0) {
		*bytes_per_s = (guint64)(info->ram_mbps * 1e6 / 8.0);
		return "ram.mbps";
	}
	params = nvfm_vm_query_migration_params(m->src_qmp, t, NULL);
	max = json_object_get(params, "max-bandwidth");
	if (json_is_integer(max) && json_integer_value(max) > 0) {
		*bytes_per_s = (guint64)json_integer_value(max);
		return "max-bandwidth";
	}
	return NULL;
}

static void none_cost(NvfmMigration *m, NvfmMigrationVf *v, json_t *src)
{
	g_autofree char *ram_text = NULL;
	g_autofree char *rate_text = NULL;
	json_t *cost = json_object();
	guint64 ram = 0, rate = 0;
	gboolean has_ram = vm_ram(m, &ram);
	const char *from = vm_bandwidth(m, &rate);

	json_object_set_new(cost, "ram_bytes", has_ram ? json_integer((json_int_t)ram) : json_null());
	json_object_set_new(cost, "bandwidth_bytes_per_s",
			    from ? json_integer((json_int_t)rate) : json_null());
	json_object_set_new(cost, "bandwidth_from", json_string(from ? from : "link"));
	if (has_ram && from) {
		guint64 ms = (ram * 1000 + rate - 1) / rate;

		json_object_set_new(cost, "extra_downtime_ms", json_integer((json_int_t)ms));
		ram_text = nvfm_format_size(ram);
		rate_text = nvfm_format_size(rate);
		json_array_append_new(json_object_get(src, "warnings"),
			json_sprintf("dirty_tracking: none for %s: QEMU counts all guest RAM (%s) "
				     "dirty in every pass; at %s/s (%s) that is %" G_GUINT64_FORMAT
				     " ms more downtime per pass (extra_downtime_ms)",
				     v->src->text, ram_text, rate_text, from, ms));
	} else {
		json_object_set_new(cost, "extra_downtime_ms", json_null());
		ram_text = has_ram ? nvfm_format_size(ram)
				   : g_strdup("the VM's RAM");
		json_array_append_new(json_object_get(src, "warnings"),
			json_sprintf("dirty_tracking: none for %s: QEMU counts all guest RAM "
				     "dirty in every pass; each pass adds %s at the link's rate "
				     "to the downtime%s", v->src->text, ram_text,
				     m->src_qmp ? "" : " (no --vm-qmp: RAM unknown)"));
	}
	json_object_set_new(v->facts, "dirty_cost", cost);
}

void nvfm_migration_dirty_preflight(NvfmMigration *m, NvfmMigrationVf *v, json_t *src,
				    const NvfmDirtyInfo *info)
{
	nvfm_dirty_info_add_json(info, v->facts);
	if (info->mode == NVFM_DIRTY_TRACKING_NONE)
		none_cost(m, v, src);
}
