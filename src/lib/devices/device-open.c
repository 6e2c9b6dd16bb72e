// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * Opening a device: the address's kind picks the backend, the kernel's
 * (engine/vfio-kernel.c) or the emulated one (emu/emu-vf.c). This is the
 * only place that knows both, so it sits above both wings.
 */
#define G_LOG_DOMAIN "nvfm-device"

#include "emu/emu-private.h"
#include "engine/engine-private.h"

NvfmDevice *nvfm_device_open(const NvfmAddress *address, GError **error)
{
	NvfmDevice *dev;
	gboolean ok = FALSE;

	if (!address) {
		g_set_error(error, NVFM_ERROR, NVFM_ERROR_INVALID_ARG, "no device address given");
		return NULL;
	}
	dev = nvfm_device_new(address);
	switch (address->kind) {
	case NVFM_ADDR_PCI:
		ok = nvfm_vfio_open_pci(dev, address->pci, error);
		break;
	case NVFM_ADDR_FD:
		ok = nvfm_vfio_open_fd(dev, address->fd, error);
		break;
	case NVFM_ADDR_EMU:
		ok = nvfm_emu_open(dev, address->emu, error);
		break;
	case NVFM_ADDR_MDEV:
		ok = nvfm_vfio_open_mdev(dev, address->uuid, error);
		break;
	}
	if (!ok) {
		nvfm_device_discard(dev);
		return NULL;
	}
	g_debug("%s: opened through the %s backend", address->text, dev->ops->name);
	return dev;
}
