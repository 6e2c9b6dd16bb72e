/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Which dirty-page tracking QEMU will use for a device. QEMU (hw/vfio,
 * vfio_devices_all_device_dirty_tracking()) logs through the devices when
 * every device of the container offers DMA logging, else asks the
 * container (type1's dirty bitmap, or an iommufd HWPT allocated with
 * dirty tracking, container->dirty_pages_supported). With neither it
 * marks the whole of guest RAM dirty on every bitmap sync, so each pass,
 * the last included, resends all of it.
 */
#define G_LOG_DOMAIN "nvfm-engine"

#include <errno.h>

#include "engine-private.h"

const char *nvfm_dirty_tracking_name(NvfmDirtyTracking mode)
{
	switch (mode) {
	case NVFM_DIRTY_TRACKING_DEVICE:
		return "device-dma-logging";
	case NVFM_DIRTY_TRACKING_IOMMU:
		return "iommu";
	case NVFM_DIRTY_TRACKING_NONE:
	default:
		return "none";
	}
}

gboolean nvfm_device_get_dirty_tracking(NvfmDevice *dev, NvfmDirtyInfo *out, GError **error)
{
	NvfmDirtyInfo d = { .iommu = "unknown" };
	int r;

	r = dev->ops->probe_dma_logging ? dev->ops->probe_dma_logging(dev) : -ENOTTY;
	/* the kernel answers a feature it does not know with ENOTTY, a
	 * driver without log_ops likewise; older cores said EINVAL */
	if (r == 0)
		d.dma_logging = TRUE;
	else if (r != -ENOTTY && r != -EINVAL && r != -EOPNOTSUPP) {
		nvfm_set_error_errno(error, r, "%s: probing DMA logging", dev->address);
		return FALSE;
	}
	r = dev->ops->iommu_dirty ? dev->ops->iommu_dirty(dev, &d) : -ENOTTY;
	if (r < 0 && r != -ENOTTY) {
		nvfm_set_error_errno(error, r, "%s: asking the IOMMU about dirty tracking",
				     dev->address);
		return FALSE;
	}
	if (d.dma_logging)
		d.mode = NVFM_DIRTY_TRACKING_DEVICE;
	else if (d.iommu_dirty)
		d.mode = NVFM_DIRTY_TRACKING_IOMMU;
	*out = d;
	return TRUE;
}

void nvfm_dirty_info_add_json(const NvfmDirtyInfo *info, json_t *obj)
{
	json_t *facts = json_pack("{s:b, s:s, s:b}", "dma_logging", info->dma_logging, "iommu",
				  info->iommu ? info->iommu : "unknown", "iommu_dirty",
				  info->iommu_dirty);

	if (info->iommu_pgsizes)
		json_object_set_new(facts, "iommu_pgsizes",
				    json_sprintf("0x%" G_GINT64_MODIFIER "x", info->iommu_pgsizes));
	if (info->iommu_max_bitmap)
		json_object_set_new(facts, "iommu_max_bitmap",
				    json_integer((json_int_t)info->iommu_max_bitmap));
	json_object_set_new(obj, "dirty_tracking", json_string(nvfm_dirty_tracking_name(info->mode)));
	json_object_set_new(obj, "dirty_tracking_facts", facts);
}
