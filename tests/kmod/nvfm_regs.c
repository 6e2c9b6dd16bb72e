// SPDX-License-Identifier: GPL-2.0-only
/*
 * nvfm_regs.c - the testbed's second, different migration driver: an mdev
 * VFIO device (mdev core, emulated IOMMU) whose whole state is a small
 * register file, saved by reading the registers out directly, in the
 * spirit of register-only migration drivers. It differs from nvfm_tvf on
 * purpose, so that nvme-vf-migrate's selftest has deviations to report:
 *
 *   - STOP_COPY only: no P2P, and PRE_COPY only with pre_copy=1, where the
 *     save file's read() returns 0 (not ENOMSG) at the end of the initial
 *     data (there is none: registers are only read once the device stopped);
 *   - no checksum: a resumed image is accepted if its header is right,
 *     whatever the register values (a flipped byte in them goes unnoticed);
 *   - the device keeps its state across close and open: a device left in
 *     RESUMING (or STOP) by one process is found so by the next.
 *
 * Create one with
 *   echo UUID > /sys/class/mdev_bus/nvfm_regs/mdev_supported_types/nvfm_regs-1/create
 * Per device, in sysfs (/sys/bus/mdev/devices/UUID/):
 *   nvfm_regs_digest      FNV-1a 64 of the registers (what a restore must keep)
 *   nvfm_regs_info        "state:", "resets:", "commits:" (RESUMING -> STOP
 *                         arcs that took an image), "saves:" lines
 *   nvfm_regs_regenerate  write a number: fill the registers from it
 * The registers are also the device's one region (index 0, 256 bytes,
 * 32-bit accesses).
 */
#include <linux/device.h>
#include <linux/mdev.h>
#include <linux/slab.h>
#include <linux/uaccess.h>

#include "nvfm_mig_file.h"

#define REGS_N		64
#define REGS_MAGIC	0x5347524eU	/* "NRGS" */
#define REGS_VERSION	1
#define REGS_OFFSET_SHIFT 40		/* region index in a read/write offset */

static bool pre_copy;
module_param(pre_copy, bool, 0644);
MODULE_PARM_DESC(pre_copy, "offer PRE_COPY, whose read() returns 0 (not ENOMSG) at the end of the initial data (read when an mdev is created)");

static uint seed = 1;
module_param(seed, uint, 0444);
MODULE_PARM_DESC(seed, "the registers' value after creation and after a reset");

static uint max_instances = 4;
module_param(max_instances, uint, 0444);
MODULE_PARM_DESC(max_instances, "how many mdevs the parent offers");

/* The migration stream: this header, then the registers, little endian. */
struct regs_image {
	__le32 magic;
	__le16 version;
	__le16 nregs;
	__le32 regs[REGS_N];
};

/* A save (O_RDONLY) or resume (O_WRONLY) data_fd. */
struct regs_file {
	struct nvfm_mig_file mf;
	struct regs_image img;
	size_t len;		/* bytes of img valid (save) or written (resume) */
	size_t pos;		/* bytes read (save) */
	bool precopy;		/* save: the device is in PRE_COPY */
};

struct regs_dev {
	struct vfio_device vdev;
	struct mutex lock;	/* everything below */
	enum vfio_device_mig_state state;
	u32 regs[REGS_N];
	struct file *save_filp;
	struct regs_file *save;
	struct file *resume_filp;
	struct regs_file *resume;
	unsigned long resets, commits, saves;
};

static struct regs_dev *regs_of(struct vfio_device *vd)
{
	return container_of(vd, struct regs_dev, vdev);
}

static void regs_fill(u32 *regs, u32 from)
{
	unsigned int i;

	for (i = 0; i < REGS_N; i++)
		regs[i] = (from * 0x9e3779b1U) ^ (i * 0x85ebca6bU) ^ (i << 24);
}

/* ---- data_fds ---- */

static struct regs_file *regs_file_of(struct nvfm_mig_file *mf)
{
	return container_of(mf, struct regs_file, mf);
}

static void regs_file_free(struct nvfm_mig_file *mf)
{
	kfree(regs_file_of(mf));
}

/* Called with the file's lock held, or before the file is published. */
static void regs_snapshot(struct regs_file *f, const struct regs_dev *d)
{
	unsigned int i;

	f->img.magic = cpu_to_le32(REGS_MAGIC);
	f->img.version = cpu_to_le16(REGS_VERSION);
	f->img.nregs = cpu_to_le16(REGS_N);
	for (i = 0; i < REGS_N; i++)
		f->img.regs[i] = cpu_to_le32(d->regs[i]);
	f->len = sizeof(f->img);
	f->pos = 0;
	f->precopy = false;
}

static ssize_t regs_save_read(struct nvfm_mig_file *mf, char __user *buf, size_t len)
{
	struct regs_file *f = regs_file_of(mf);
	size_t n = min(len, f->len - f->pos);

	/*
	 * The end of the data, also in PRE_COPY, where the uAPI asks for
	 * ENOMSG: this driver's deliberate deviation.
	 */
	if (!n)
		return 0;
	if (copy_to_user(buf, (const u8 *)&f->img + f->pos, n))
		return -EFAULT;
	f->pos += n;
	return n;
}

static long regs_save_ioctl(struct nvfm_mig_file *mf, unsigned int cmd, unsigned long arg)
{
	const unsigned long minsz = offsetofend(struct vfio_precopy_info, dirty_bytes);
	struct regs_file *f = regs_file_of(mf);
	struct vfio_precopy_info info;
	long ret = 0;

	if (cmd != VFIO_MIG_GET_PRECOPY_INFO)
		return -ENOTTY;
	if (copy_from_user(&info, (void __user *)arg, minsz))
		return -EFAULT;
	if (info.argsz < minsz)
		return -EINVAL;
	mutex_lock(&mf->lock);
	if (mf->disabled)
		ret = -ENODEV;
	else if (!f->precopy)
		ret = -EINVAL;
	info.initial_bytes = f->len - f->pos;
	info.dirty_bytes = 0;
	mutex_unlock(&mf->lock);
	if (ret)
		return ret;
	return copy_to_user((void __user *)arg, &info, minsz) ? -EFAULT : 0;
}

static const struct nvfm_mig_file_ops regs_save_ops = {
	.read = regs_save_read,
	.ioctl = regs_save_ioctl,
	.free = regs_file_free,
};

static ssize_t regs_resume_write(struct nvfm_mig_file *mf, const char __user *buf, size_t len)
{
	struct regs_file *f = regs_file_of(mf);

	if (len > sizeof(f->img) - f->len)
		return -EINVAL;	/* longer than any image */
	if (copy_from_user((u8 *)&f->img + f->len, buf, len))
		return -EFAULT;
	f->len += len;
	return len;
}

static const struct nvfm_mig_file_ops regs_resume_ops = {
	.write = regs_resume_write,
	.free = regs_file_free,
};

static struct file *regs_file_open(struct regs_dev *d, bool save)
{
	struct regs_file *f = kzalloc(sizeof(*f), GFP_KERNEL);
	struct file *filp;

	if (!f)
		return ERR_PTR(-ENOMEM);
	nvfm_mig_file_init(&f->mf, save ? &regs_save_ops : &regs_resume_ops);
	filp = nvfm_mig_file_open(save ? "nvfm_regs_save" : "nvfm_regs_resume", &f->mf,
				  save ? O_RDONLY : O_WRONLY);
	if (IS_ERR(filp)) {
		kfree(f);
		return filp;
	}
	if (save) {
		d->save = f;
		d->save_filp = filp;
		d->saves++;
	} else {
		d->resume = f;
		d->resume_filp = filp;
	}
	return filp;
}

static void regs_drop_files(struct regs_dev *d)
{
	if (d->save_filp)
		nvfm_mig_file_drop(&d->save_filp, &d->save->mf);
	d->save = NULL;
	if (d->resume_filp)
		nvfm_mig_file_drop(&d->resume_filp, &d->resume->mf);
	d->resume = NULL;
}

/* RESUMING -> STOP: the registers take the image if its header is right. */
static int regs_commit(struct regs_dev *d)
{
	struct regs_file *f = d->resume;
	unsigned int i;
	int ret = 0;

	if (!f)
		return -EINVAL;	/* the resume file went with a close */
	mutex_lock(&f->mf.lock);
	if (f->len != sizeof(f->img) || le32_to_cpu(f->img.magic) != REGS_MAGIC ||
	    le16_to_cpu(f->img.version) != REGS_VERSION || le16_to_cpu(f->img.nregs) != REGS_N)
		ret = -EINVAL;
	else
		for (i = 0; i < REGS_N; i++)
			d->regs[i] = le32_to_cpu(f->img.regs[i]);
	mutex_unlock(&f->mf.lock);
	if (ret)
		return ret;
	nvfm_mig_file_drop(&d->resume_filp, &f->mf);
	d->resume = NULL;
	d->commits++;
	return 0;
}

/* ---- the state machine ---- */

#define ARC(from, to) (cur == VFIO_DEVICE_STATE_##from && next == VFIO_DEVICE_STATE_##to)

static struct file *regs_step(struct vfio_device *vd, enum vfio_device_mig_state next)
{
	struct regs_dev *d = regs_of(vd);
	enum vfio_device_mig_state cur = d->state;
	struct file *filp;
	int ret;

	if (ARC(RUNNING, STOP) || ARC(STOP, RUNNING))
		return NULL;
	/* PRE_COPY -> STOP_COPY goes on with PRE_COPY's data_fd, if it is still open. */
	if (ARC(PRE_COPY, STOP_COPY) && d->save) {
		mutex_lock(&d->save->mf.lock);
		regs_snapshot(d->save, d);
		mutex_unlock(&d->save->mf.lock);
		return NULL;
	}
	if (ARC(STOP, STOP_COPY) || ARC(PRE_COPY, STOP_COPY) || ARC(RUNNING, PRE_COPY)) {
		filp = regs_file_open(d, true);
		if (IS_ERR(filp))
			return filp;
		if (next == VFIO_DEVICE_STATE_STOP_COPY)
			regs_snapshot(d->save, d);
		else
			d->save->precopy = true;
		return filp;
	}
	if (ARC(STOP_COPY, STOP) || ARC(PRE_COPY, RUNNING)) {
		regs_drop_files(d);
		return NULL;
	}
	if (ARC(STOP, RESUMING))
		return regs_file_open(d, false);
	if (ARC(RESUMING, STOP)) {
		ret = regs_commit(d);
		return ret ? ERR_PTR(ret) : NULL;
	}
	return ERR_PTR(-EINVAL);
}

#undef ARC

static struct file *regs_set_state(struct vfio_device *vd, enum vfio_device_mig_state new_state)
{
	struct regs_dev *d = regs_of(vd);
	struct file *res;

	mutex_lock(&d->lock);
	res = nvfm_mig_walk(vd, &d->state, new_state, regs_step);
	mutex_unlock(&d->lock);
	return res;
}

static int regs_get_state(struct vfio_device *vd, enum vfio_device_mig_state *state)
{
	struct regs_dev *d = regs_of(vd);

	mutex_lock(&d->lock);
	*state = d->state;
	mutex_unlock(&d->lock);
	return 0;
}

static int regs_get_data_size(struct vfio_device *vd, unsigned long *stop_copy_length)
{
	*stop_copy_length = sizeof(struct regs_image);
	return 0;
}

static const struct vfio_migration_ops regs_mig_ops = {
	.migration_set_state = regs_set_state,
	.migration_get_state = regs_get_state,
	.migration_get_data_size = regs_get_data_size,
};

/* ---- the VFIO device ---- */

static void regs_reset(struct regs_dev *d)
{
	mutex_lock(&d->lock);
	regs_drop_files(d);
	d->state = VFIO_DEVICE_STATE_RUNNING;
	regs_fill(d->regs, seed);
	d->resets++;
	mutex_unlock(&d->lock);
}

static int regs_init_dev(struct vfio_device *vd)
{
	struct regs_dev *d = regs_of(vd);

	mutex_init(&d->lock);
	d->state = VFIO_DEVICE_STATE_RUNNING;
	regs_fill(d->regs, seed);
	vd->migration_flags = VFIO_MIGRATION_STOP_COPY | (pre_copy ? VFIO_MIGRATION_PRE_COPY : 0);
	vd->mig_ops = &regs_mig_ops;
	return 0;
}

static void regs_release_dev(struct vfio_device *vd)
{
	mutex_destroy(&regs_of(vd)->lock);
}

/* No reset on open or close: the state, migration state included, stays. */
static void regs_close_device(struct vfio_device *vd)
{
	struct regs_dev *d = regs_of(vd);

	mutex_lock(&d->lock);
	regs_drop_files(d);
	mutex_unlock(&d->lock);
}

/* One 32-bit register of region 0, or an error. */
static int regs_index(loff_t pos, size_t count)
{
	u64 off = pos & ((1ULL << REGS_OFFSET_SHIFT) - 1);

	if (pos >> REGS_OFFSET_SHIFT || count != 4 || off % 4 || off >= REGS_N * 4)
		return -EINVAL;
	return off / 4;
}

static ssize_t regs_read(struct vfio_device *vd, char __user *buf, size_t count, loff_t *ppos)
{
	struct regs_dev *d = regs_of(vd);
	int i = regs_index(*ppos, count);
	u32 v;

	if (i < 0)
		return i;
	mutex_lock(&d->lock);
	v = d->regs[i];
	mutex_unlock(&d->lock);
	if (copy_to_user(buf, &v, 4))
		return -EFAULT;
	*ppos += 4;
	return 4;
}

static ssize_t regs_write(struct vfio_device *vd, const char __user *buf, size_t count,
			  loff_t *ppos)
{
	struct regs_dev *d = regs_of(vd);
	int i = regs_index(*ppos, count);
	u32 v;

	if (i < 0)
		return i;
	if (copy_from_user(&v, buf, 4))
		return -EFAULT;
	mutex_lock(&d->lock);
	d->regs[i] = v;
	mutex_unlock(&d->lock);
	*ppos += 4;
	return 4;
}

static long regs_ioctl_info(unsigned long arg)
{
	const unsigned long minsz = offsetofend(struct vfio_device_info, num_irqs);
	struct vfio_device_info info;

	if (copy_from_user(&info, (void __user *)arg, minsz))
		return -EFAULT;
	if (info.argsz < minsz)
		return -EINVAL;
	info.flags = VFIO_DEVICE_FLAGS_RESET;
	info.num_regions = 1;
	info.num_irqs = 0;
	return copy_to_user((void __user *)arg, &info, minsz) ? -EFAULT : 0;
}

static long regs_ioctl_region_info(unsigned long arg)
{
	const unsigned long minsz = offsetofend(struct vfio_region_info, offset);
	struct vfio_region_info info;

	if (copy_from_user(&info, (void __user *)arg, minsz))
		return -EFAULT;
	if (info.argsz < minsz)
		return -EINVAL;
	if (info.index != 0)
		return -EINVAL;
	info.flags = VFIO_REGION_INFO_FLAG_READ | VFIO_REGION_INFO_FLAG_WRITE;
	info.cap_offset = 0;
	info.size = REGS_N * 4;
	info.offset = 0;
	return copy_to_user((void __user *)arg, &info, minsz) ? -EFAULT : 0;
}

static long regs_ioctl(struct vfio_device *vd, unsigned int cmd, unsigned long arg)
{
	switch (cmd) {
	case VFIO_DEVICE_GET_INFO:
		return regs_ioctl_info(arg);
	case VFIO_DEVICE_GET_REGION_INFO:
		return regs_ioctl_region_info(arg);
	case VFIO_DEVICE_RESET:
		regs_reset(regs_of(vd));
		return 0;
	}
	return -ENOTTY;
}

static const struct vfio_device_ops regs_vfio_ops = {
	.name = "nvfm-regs",
	.init = regs_init_dev,
	.release = regs_release_dev,
	.close_device = regs_close_device,
	.read = regs_read,
	.write = regs_write,
	.ioctl = regs_ioctl,
	.bind_iommufd = vfio_iommufd_emulated_bind,
	.unbind_iommufd = vfio_iommufd_emulated_unbind,
	.attach_ioas = vfio_iommufd_emulated_attach_ioas,
	.detach_ioas = vfio_iommufd_emulated_detach_ioas,
};

/* ---- sysfs ---- */

static struct regs_dev *regs_from_dev(struct device *dev)
{
	return dev_get_drvdata(dev);
}

static ssize_t nvfm_regs_digest_show(struct device *dev, struct device_attribute *attr,
				     char *buf)
{
	struct regs_dev *d = regs_from_dev(dev);
	u64 h = 0xcbf29ce484222325ULL;
	unsigned int i, b;

	mutex_lock(&d->lock);
	for (i = 0; i < REGS_N; i++)
		for (b = 0; b < 4; b++)
			h = (h ^ ((d->regs[i] >> (8 * b)) & 0xff)) * 0x100000001b3ULL;
	mutex_unlock(&d->lock);
	return sysfs_emit(buf, "%016llx\n", h);
}
static DEVICE_ATTR_RO(nvfm_regs_digest);

static ssize_t nvfm_regs_info_show(struct device *dev, struct device_attribute *attr, char *buf)
{
	struct regs_dev *d = regs_from_dev(dev);
	ssize_t n;

	mutex_lock(&d->lock);
	n = sysfs_emit(buf, "state: %s\nresets: %lu\ncommits: %lu\nsaves: %lu\n",
		       nvfm_mig_state_name(d->state), d->resets, d->commits, d->saves);
	mutex_unlock(&d->lock);
	return n;
}
static DEVICE_ATTR_RO(nvfm_regs_info);

static ssize_t nvfm_regs_regenerate_store(struct device *dev, struct device_attribute *attr,
					  const char *buf, size_t count)
{
	struct regs_dev *d = regs_from_dev(dev);
	u32 from;
	int ret = kstrtou32(buf, 0, &from);

	if (ret)
		return ret;
	mutex_lock(&d->lock);
	regs_fill(d->regs, from);
	mutex_unlock(&d->lock);
	return count;
}
static DEVICE_ATTR_WO(nvfm_regs_regenerate);

static struct attribute *regs_attrs[] = {
	&dev_attr_nvfm_regs_digest.attr,
	&dev_attr_nvfm_regs_info.attr,
	&dev_attr_nvfm_regs_regenerate.attr,
	NULL,
};
ATTRIBUTE_GROUPS(regs);

/* ---- the mdev driver and its parent ---- */

static int regs_probe(struct mdev_device *mdev)
{
	struct regs_dev *d;
	int ret;

	d = vfio_alloc_device(regs_dev, vdev, &mdev->dev, &regs_vfio_ops);
	if (IS_ERR(d))
		return PTR_ERR(d);
	dev_set_drvdata(&mdev->dev, d);
	ret = vfio_register_emulated_iommu_dev(&d->vdev);
	if (ret) {
		vfio_put_device(&d->vdev);
		return ret;
	}
	return 0;
}

static void regs_remove(struct mdev_device *mdev)
{
	struct regs_dev *d = dev_get_drvdata(&mdev->dev);

	vfio_unregister_group_dev(&d->vdev);
	vfio_put_device(&d->vdev);
}

static struct mdev_driver regs_driver = {
	.device_api = "nvfm-regs",
	.driver = {
		.name = "nvfm_regs",
		.owner = THIS_MODULE,
		.mod_name = KBUILD_MODNAME,
		.dev_groups = regs_groups,
	},
	.probe = regs_probe,
	.remove = regs_remove,
};

static struct mdev_type regs_type = {
	.sysfs_name = "1",
	.pretty_name = "nvfm register file",
};
static struct mdev_type *regs_types[] = { &regs_type };

static const struct class regs_class = { .name = "nvfm_regs" };

static void regs_parent_release(struct device *dev)
{
	/* static: nothing to free */
}

static struct device regs_parent_dev;
static struct mdev_parent regs_parent;

static int __init regs_module_init(void)
{
	int ret;

	regs_driver.max_instances = max_instances;
	ret = mdev_register_driver(&regs_driver);
	if (ret)
		return ret;
	ret = class_register(&regs_class);
	if (ret)
		goto err_driver;
	device_initialize(&regs_parent_dev);
	regs_parent_dev.class = &regs_class;
	regs_parent_dev.release = regs_parent_release;
	ret = dev_set_name(&regs_parent_dev, "nvfm_regs");
	if (!ret)
		ret = device_add(&regs_parent_dev);
	if (ret)
		goto err_dev;
	ret = mdev_register_parent(&regs_parent, &regs_parent_dev, &regs_driver, regs_types,
				   ARRAY_SIZE(regs_types));
	if (ret)
		goto err_del;
	return 0;

err_del:
	device_del(&regs_parent_dev);
err_dev:
	put_device(&regs_parent_dev);
	class_unregister(&regs_class);
err_driver:
	mdev_unregister_driver(&regs_driver);
	return ret;
}

static void __exit regs_module_exit(void)
{
	mdev_unregister_parent(&regs_parent);
	device_unregister(&regs_parent_dev);
	class_unregister(&regs_class);
	mdev_unregister_driver(&regs_driver);
}

module_init(regs_module_init);
module_exit(regs_module_exit);
MODULE_LICENSE("GPL");
MODULE_DESCRIPTION("nvme-vf-migrate testbed: mdev VFIO device with a register-file migration state");
