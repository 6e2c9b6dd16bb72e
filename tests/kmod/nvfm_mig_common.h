/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * nvfm_mig_common.h - the VFIO plumbing the testbed's two variant drivers
 * (nvfm_tvf.c, nvfm_nvme_lm.c) share: the device's migration state under
 * state_mutex, the deferred reset_done, the uAPI's set/get state loop over
 * the driver's own arcs, open/close, the vfio_device_ops and pci_driver
 * boilerplate. The data_fd helpers, which the mdev driver (nvfm_regs.c)
 * uses too, are in nvfm_mig_file.h. Static inline functions: each module
 * compiles its own copy, no symbol is exported between them.
 *
 * A driver embeds struct nvfm_mig_dev first in its device, fills a struct
 * nvfm_mig_ops with what is its own (the arcs, what a reset does) and uses
 * NVFM_MIG_VFIO_DEVICE_OPS / NVFM_MIG_PCI_DRIVER for the tables.
 */
#ifndef NVFM_MIG_COMMON_H
#define NVFM_MIG_COMMON_H

#include <linux/pci.h>
#include <linux/spinlock.h>
#include <linux/vfio_pci_core.h>

#include "nvfm_mig_file.h"

struct nvfm_mig_dev;

struct nvfm_mig_ops {
	/* One arc of the uAPI's FSM: a new data_fd's file, NULL, or ERR_PTR. */
	struct file *(*step)(struct nvfm_mig_dev *m, enum vfio_device_mig_state next);
	/* After a reset and on open: RUNNING, no data_fds (state_mutex held). */
	void (*back_to_running)(struct nvfm_mig_dev *m);
	/* On close (state_mutex held): drop the data_fds and what else is open. */
	void (*close)(struct nvfm_mig_dev *m);
	/* Optional, on open, after vfio_pci_core_enable (state_mutex not held). */
	void (*open)(struct nvfm_mig_dev *m);
};

struct nvfm_mig_dev {
	struct vfio_pci_core_device core;	/* first: vfio_alloc_device */
	const struct nvfm_mig_ops *ops;
	struct mutex state_mutex;		/* the driver's state, and: */
	enum vfio_device_mig_state mig_state;
	spinlock_t reset_lock;
	bool reset_pending;
};

static inline struct nvfm_mig_dev *nvfm_mig_of(struct vfio_device *vd)
{
	return container_of(vd, struct nvfm_mig_dev, core.vdev);
}

/* The device of a bound VF's struct device (sysfs, reset_done). */
static inline struct nvfm_mig_dev *nvfm_mig_from_dev(struct device *dev)
{
	struct vfio_pci_core_device *core = dev_get_drvdata(dev);

	return container_of(core, struct nvfm_mig_dev, core);
}

static inline void nvfm_mig_lock(struct nvfm_mig_dev *m)
{
	mutex_lock(&m->state_mutex);
}

/*
 * A reset can arrive (reset_done) while vfio-pci-core holds locks the driver
 * must not wait for under state_mutex (memory_lock, to read registers):
 * reset_done only records the reset, and whoever holds or next releases
 * state_mutex applies it here.
 */
static inline void nvfm_mig_unlock(struct nvfm_mig_dev *m)
{
	for (;;) {
		spin_lock(&m->reset_lock);
		if (!m->reset_pending)
			break;
		m->reset_pending = false;
		spin_unlock(&m->reset_lock);
		m->ops->back_to_running(m);
	}
	mutex_unlock(&m->state_mutex);
	spin_unlock(&m->reset_lock);
}

static inline void nvfm_mig_reset_done(struct pci_dev *pdev)
{
	struct nvfm_mig_dev *m = nvfm_mig_from_dev(&pdev->dev);

	spin_lock(&m->reset_lock);
	m->reset_pending = true;
	if (!mutex_trylock(&m->state_mutex)) {
		spin_unlock(&m->reset_lock);
		return;
	}
	spin_unlock(&m->reset_lock);
	nvfm_mig_unlock(m);
}

static inline bool nvfm_mig_arc(enum vfio_device_mig_state cur,
				enum vfio_device_mig_state next,
				enum vfio_device_mig_state from,
				enum vfio_device_mig_state to)
{
	return cur == from && next == to;
}

static inline struct file *nvfm_mig_step_vd(struct vfio_device *vd,
					     enum vfio_device_mig_state next)
{
	struct nvfm_mig_dev *m = nvfm_mig_of(vd);

	return m->ops->step(m, next);
}

static inline struct file *nvfm_mig_set_state(struct vfio_device *vd,
					      enum vfio_device_mig_state new_state)
{
	struct nvfm_mig_dev *m = nvfm_mig_of(vd);
	struct file *res;

	nvfm_mig_lock(m);
	res = nvfm_mig_walk(vd, &m->mig_state, new_state, nvfm_mig_step_vd);
	nvfm_mig_unlock(m);
	return res;
}

static inline int nvfm_mig_get_state(struct vfio_device *vd,
				     enum vfio_device_mig_state *state)
{
	struct nvfm_mig_dev *m = nvfm_mig_of(vd);

	nvfm_mig_lock(m);
	*state = m->mig_state;
	nvfm_mig_unlock(m);
	return 0;
}

/* ---- vfio_device ops ---- */

static inline int nvfm_mig_init_dev(struct vfio_device *vd, const struct nvfm_mig_ops *ops,
				    const struct vfio_migration_ops *mig_ops, u32 flags)
{
	struct nvfm_mig_dev *m = nvfm_mig_of(vd);
	int ret;

	ret = vfio_pci_core_init_dev(vd);
	if (ret)
		return ret;
	m->ops = ops;
	mutex_init(&m->state_mutex);
	spin_lock_init(&m->reset_lock);
	m->mig_state = VFIO_DEVICE_STATE_RUNNING;
	vd->migration_flags = flags;
	vd->mig_ops = mig_ops;
	return 0;
}

static inline void nvfm_mig_release_dev(struct vfio_device *vd)
{
	mutex_destroy(&nvfm_mig_of(vd)->state_mutex);
	vfio_pci_core_release_dev(vd);
}

static inline int nvfm_mig_open_device(struct vfio_device *vd)
{
	struct nvfm_mig_dev *m = nvfm_mig_of(vd);
	int ret;

	ret = vfio_pci_core_enable(&m->core);
	if (ret)
		return ret;
	if (m->ops->open)
		m->ops->open(m);
	nvfm_mig_lock(m);
	m->ops->back_to_running(m);
	nvfm_mig_unlock(m);
	vfio_pci_core_finish_enable(&m->core);
	return 0;
}

static inline void nvfm_mig_close_device(struct vfio_device *vd)
{
	struct nvfm_mig_dev *m = nvfm_mig_of(vd);

	nvfm_mig_lock(m);
	m->ops->close(m);
	nvfm_mig_unlock(m);
	vfio_pci_core_close_device(vd);
}

#define NVFM_MIG_VFIO_DEVICE_OPS(_name, _init, _release) {		\
	.name = (_name),						\
	.init = (_init),						\
	.release = (_release),						\
	.open_device = nvfm_mig_open_device,				\
	.close_device = nvfm_mig_close_device,				\
	.ioctl = vfio_pci_core_ioctl,					\
	.device_feature = vfio_pci_core_ioctl_feature,			\
	.read = vfio_pci_core_read,					\
	.write = vfio_pci_core_write,					\
	.mmap = vfio_pci_core_mmap,					\
	.request = vfio_pci_core_request,				\
	.match = vfio_pci_core_match,					\
	.bind_iommufd = vfio_iommufd_physical_bind,			\
	.unbind_iommufd = vfio_iommufd_physical_unbind,			\
	.attach_ioas = vfio_iommufd_physical_attach_ioas,		\
	.detach_ioas = vfio_iommufd_physical_detach_ioas,		\
}

/* ---- PCI driver ---- */

/* VFs only; @m is registered, or released on failure. */
static inline int nvfm_mig_register(struct pci_dev *pdev, struct nvfm_mig_dev *m)
{
	int ret;

	dev_set_drvdata(&pdev->dev, &m->core);
	ret = vfio_pci_core_register_device(&m->core);
	if (ret)
		vfio_put_device(&m->core.vdev);
	return ret;
}

static inline bool nvfm_mig_is_vf(struct pci_dev *pdev, const char *name)
{
	if (pdev->is_virtfn)
		return true;
	pci_info(pdev, "not an SR-IOV VF; %s drives VFs only\n", name);
	return false;
}

static inline void nvfm_mig_remove(struct pci_dev *pdev)
{
	struct vfio_pci_core_device *core = dev_get_drvdata(&pdev->dev);

	vfio_pci_core_unregister_device(core);
	vfio_put_device(&core->vdev);
}

static const struct pci_device_id nvfm_mig_ids[] = {
	/* QEMU's emulated NVMe; its VFs carry the PF's IDs. driver_override only. */
	{ PCI_DRIVER_OVERRIDE_DEVICE_VFIO(PCI_VENDOR_ID_REDHAT, 0x0010) },
	{}
};
MODULE_DEVICE_TABLE(pci, nvfm_mig_ids);

static const struct pci_error_handlers nvfm_mig_err_handlers = {
	.reset_done = nvfm_mig_reset_done,
	.error_detected = vfio_pci_core_aer_err_detected,
};

#define NVFM_MIG_PCI_DRIVER(_name, _probe, _groups) {			\
	.name = (_name),						\
	.id_table = nvfm_mig_ids,					\
	.probe = (_probe),						\
	.remove = nvfm_mig_remove,					\
	.err_handler = &nvfm_mig_err_handlers,				\
	.dev_groups = (_groups),					\
	.driver_managed_dma = true,					\
}

#endif /* NVFM_MIG_COMMON_H */
