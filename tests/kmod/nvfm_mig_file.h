/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * nvfm_mig_file.h - what every testbed VFIO migration driver shares,
 * whatever its bus: the data_fd (save/resume file) plumbing and the names
 * of the uAPI's states. nvfm_mig_common.h (the two PCI variant drivers)
 * and nvfm_regs.c (the mdev driver) include it. Static inline functions:
 * each module compiles its own copy, no symbol is exported between them.
 */
#ifndef NVFM_MIG_FILE_H
#define NVFM_MIG_FILE_H

#include <linux/anon_inodes.h>
#include <linux/file.h>
#include <linux/fs.h>
#include <linux/module.h>
#include <linux/mutex.h>
#include <linux/poll.h>
#include <linux/vfio.h>
#include <linux/wait.h>

/* ---- the state machine ---- */

/*
 * The uAPI's combination arcs, one @step (the driver's own arcs) at a time,
 * under the driver's lock; *@cur follows each arc taken.
 */
static inline struct file *
nvfm_mig_walk(struct vfio_device *vd, enum vfio_device_mig_state *cur,
	      enum vfio_device_mig_state new_state,
	      struct file *(*step)(struct vfio_device *vd, enum vfio_device_mig_state next))
{
	enum vfio_device_mig_state next;
	struct file *res = NULL;
	int ret;

	while (*cur != new_state) {
		ret = vfio_mig_get_next_state(vd, *cur, new_state, &next);
		if (ret)
			return ERR_PTR(ret);
		res = step(vd, next);
		if (IS_ERR(res))
			return res;
		*cur = next;
		/* Arcs that open a data_fd only ever end a combination. */
		if (WARN_ON(res && *cur != new_state)) {
			fput(res);
			return ERR_PTR(-EINVAL);
		}
	}
	return res;
}

/* ---- data_fds ---- */

struct nvfm_mig_file;

/* What a driver's data_fd does; read/write/poll run with f->lock held. */
struct nvfm_mig_file_ops {
	ssize_t (*read)(struct nvfm_mig_file *f, char __user *buf, size_t len);
	ssize_t (*write)(struct nvfm_mig_file *f, const char __user *buf, size_t len);
	__poll_t (*poll)(struct nvfm_mig_file *f);
	long (*ioctl)(struct nvfm_mig_file *f, unsigned int cmd, unsigned long arg);
	void (*free)(struct nvfm_mig_file *f);	/* on release: free the holder */
};

/* Embedded in a save or resume file's private data. */
struct nvfm_mig_file {
	const struct nvfm_mig_file_ops *ops;
	struct mutex lock;
	wait_queue_head_t wq;	/* woken when the device drops the file */
	bool disabled;		/* dropped by the device: reads/writes ENODEV */
};

static inline void nvfm_mig_file_init(struct nvfm_mig_file *f,
				      const struct nvfm_mig_file_ops *ops)
{
	f->ops = ops;
	mutex_init(&f->lock);
	init_waitqueue_head(&f->wq);
}

/* A read or write on a data_fd: 0 with f->lock held, or an error without. */
static inline int nvfm_mig_file_enter(struct nvfm_mig_file *f, loff_t *pos)
{
	if (pos)
		return -ESPIPE;
	mutex_lock(&f->lock);
	if (f->disabled) {
		mutex_unlock(&f->lock);
		return -ENODEV;
	}
	return 0;
}

static inline ssize_t nvfm_mig_fop_read(struct file *filp, char __user *buf, size_t len,
					loff_t *pos)
{
	struct nvfm_mig_file *f = filp->private_data;
	ssize_t ret;

	if (!f->ops->read)
		return -EINVAL;
	ret = nvfm_mig_file_enter(f, pos);
	if (ret)
		return ret;
	ret = f->ops->read(f, buf, len);
	mutex_unlock(&f->lock);
	return ret;
}

static inline ssize_t nvfm_mig_fop_write(struct file *filp, const char __user *buf,
					 size_t len, loff_t *pos)
{
	struct nvfm_mig_file *f = filp->private_data;
	ssize_t ret;

	if (!f->ops->write)
		return -EINVAL;
	ret = nvfm_mig_file_enter(f, pos);
	if (ret)
		return ret;
	ret = f->ops->write(f, buf, len);
	mutex_unlock(&f->lock);
	return ret;
}

static inline __poll_t nvfm_mig_fop_poll(struct file *filp, struct poll_table_struct *wait)
{
	struct nvfm_mig_file *f = filp->private_data;
	__poll_t mask;

	poll_wait(filp, &f->wq, wait);
	mutex_lock(&f->lock);
	if (f->disabled)
		mask = EPOLLERR;
	else
		mask = f->ops->poll ? f->ops->poll(f) : DEFAULT_POLLMASK;
	mutex_unlock(&f->lock);
	return mask;
}

static inline long nvfm_mig_fop_ioctl(struct file *filp, unsigned int cmd, unsigned long arg)
{
	struct nvfm_mig_file *f = filp->private_data;

	return f->ops->ioctl ? f->ops->ioctl(f, cmd, arg) : -ENOTTY;
}

static inline int nvfm_mig_fop_release(struct inode *inode, struct file *filp)
{
	struct nvfm_mig_file *f = filp->private_data;

	mutex_destroy(&f->lock);
	f->ops->free(f);
	return 0;
}

static const struct file_operations nvfm_mig_fops = {
	.owner = THIS_MODULE,
	.read = nvfm_mig_fop_read,
	.write = nvfm_mig_fop_write,
	.poll = nvfm_mig_fop_poll,
	.unlocked_ioctl = nvfm_mig_fop_ioctl,
	.compat_ioctl = compat_ptr_ioctl,
	.release = nvfm_mig_fop_release,
};

/*
 * Opens a data_fd on @f (O_RDONLY: a save, O_WRONLY: a resume): one
 * reference goes to the user's fd, the caller keeps the other to disable it
 * (nvfm_mig_file_drop).
 */
static inline struct file *nvfm_mig_file_open(const char *name, struct nvfm_mig_file *f,
					      int flags)
{
	struct file *filp = anon_inode_getfile(name, &nvfm_mig_fops, f, flags);

	if (IS_ERR(filp))
		return filp;
	stream_open(filp->f_inode, filp);
	get_file(filp);
	return filp;
}

/*
 * Disables a data_fd, wakes its pollers and drops the device's reference
 * (*filp = NULL): @f may be freed on return.
 */
static inline void nvfm_mig_file_drop(struct file **filp, struct nvfm_mig_file *f)
{
	mutex_lock(&f->lock);
	f->disabled = true;
	mutex_unlock(&f->lock);
	wake_up_interruptible(&f->wq);
	fput(*filp);
	*filp = NULL;
}

/* ---- sysfs ---- */

static inline const char *nvfm_mig_state_name(enum vfio_device_mig_state s)
{
	static const char * const names[] = {
		[VFIO_DEVICE_STATE_ERROR] = "ERROR",
		[VFIO_DEVICE_STATE_STOP] = "STOP",
		[VFIO_DEVICE_STATE_RUNNING] = "RUNNING",
		[VFIO_DEVICE_STATE_STOP_COPY] = "STOP_COPY",
		[VFIO_DEVICE_STATE_RESUMING] = "RESUMING",
		[VFIO_DEVICE_STATE_RUNNING_P2P] = "RUNNING_P2P",
		[VFIO_DEVICE_STATE_PRE_COPY] = "PRE_COPY",
		[VFIO_DEVICE_STATE_PRE_COPY_P2P] = "PRE_COPY_P2P",
	};

	return s < ARRAY_SIZE(names) && names[s] ? names[s] : "?";
}

#endif /* NVFM_MIG_FILE_H */
