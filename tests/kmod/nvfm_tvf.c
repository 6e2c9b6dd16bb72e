// SPDX-License-Identifier: GPL-2.0-only
/*
 * nvfm_tvf - a test VFIO PCI variant driver for the VFs of QEMU's emulated
 * NVMe controller (1b36:0010), used by nvme-vf-migrate's testbed.
 *
 * Real NVMe VF variant drivers ask the PF to save and restore a VF's internal
 * state. QEMU's NVMe emulation has no such interface, so this driver models
 * the VF's migratable state as two parts:
 *
 *  - the controller state it can read through the VF itself: the NVMe
 *    registers in BAR0 (CAP, VS, INTMS, CC, CSTS, AQA, ASQ, ACQ, CMBLOC,
 *    CMBSZ), sampled when the device is stopped and written back (the admin
 *    queue configuration) when a resumed state is committed;
 *  - a bulk blob standing in for state the PF would DMA out of the device.
 *    It is generated deterministically from a seed when the driver binds, so
 *    a test can prove that the destination holds exactly the source's bytes
 *    by comparing the SHA-256 digests both expose in sysfs.
 *
 * The blob is sent during PRE_COPY (it does not change while the device
 * runs, so dirty_bytes stays 0); the registers and a trailer follow in
 * STOP_COPY. A resumed stream is validated (magic, version, lengths, CRCs,
 * SHA-256, PCI IDs, CAP) and committed only on RESUMING -> STOP, which fails
 * otherwise, or always when the refuse_resume parameter is set.
 *
 * Stream layout (little endian): header (48 bytes), blob (blob_len bytes),
 * registers (64 bytes), trailer (48 bytes). See docs/testbed.md.
 */
#include <linux/anon_inodes.h>
#include <linux/crc32.h>
#include <linux/file.h>
#include <linux/fs.h>
#include <linux/kref.h>
#include <linux/module.h>
#include <linux/pci.h>
#include <linux/unaligned.h>
#include <linux/poll.h>
#include <linux/sched/signal.h>
#include <linux/vfio.h>
#include <linux/vfio_pci_core.h>
#include <linux/vmalloc.h>
#include <crypto/sha2.h>

#define TVF_NAME "nvfm_tvf"

static unsigned long state_size = 4UL << 20;
module_param(state_size, ulong, 0644);
MODULE_PARM_DESC(state_size,
		 "Size in bytes of the internal-state blob generated for a newly bound VF (default 4 MiB)");

static unsigned long long seed = 1;
module_param(seed, ullong, 0644);
MODULE_PARM_DESC(seed,
		 "Seed of the generated blob; each VF mixes in its PCI address (default 1)");

static unsigned long max_state_size = 256UL << 20;
module_param(max_state_size, ulong, 0644);
MODULE_PARM_DESC(max_state_size,
		 "Largest blob accepted when resuming or generating (default 256 MiB)");

static bool refuse_resume;
module_param(refuse_resume, bool, 0644);
MODULE_PARM_DESC(refuse_resume,
		 "Fail every RESUMING -> STOP, as a VF that rejects the incoming state would");

static bool restore_regs = true;
module_param(restore_regs, bool, 0644);
MODULE_PARM_DESC(restore_regs,
		 "Write the admin queue registers (AQA, ASQ, ACQ) of a committed state into the VF (default on)");

#define TVF_MAGIC_HDR	0x5654564eU	/* "NVTV" */
#define TVF_MAGIC_REGS	0x5254564eU	/* "NVTR" */
#define TVF_MAGIC_END	0x4554564eU	/* "NVTE" */
#define TVF_VERSION	1

struct tvf_wire_hdr {
	__le32 magic;
	__le16 version;
	__le16 hdr_len;
	__le32 regs_len;
	__le32 end_len;
	__le64 blob_len;
	__le64 seed;		/* where the blob came from; informational */
	__le16 vendor;
	__le16 device;
	__le16 subsys_vendor;
	__le16 subsys_device;
	__le32 reserved;
	__le32 hdr_crc;		/* CRC32 of the bytes above */
} __packed;

#define TVF_REGS_VALID	(1U << 0)	/* BAR0 answered when sampled */

struct tvf_wire_regs {
	__le32 magic;
	__le32 flags;
	__le64 cap;
	__le32 vs;
	__le32 intms;
	__le32 cc;
	__le32 csts;
	__le32 aqa;
	__le32 cmbloc;
	__le64 asq;
	__le64 acq;
	__le32 cmbsz;
	__le32 regs_crc;	/* CRC32 of the bytes above */
} __packed;

struct tvf_wire_end {
	__le32 magic;
	__le32 blob_crc;	/* CRC32 of the blob */
	__le64 total_len;	/* of the whole stream */
	u8 blob_sha256[SHA256_DIGEST_SIZE];
} __packed;

#define TVF_HDR_LEN	sizeof(struct tvf_wire_hdr)
#define TVF_TAIL_LEN	(sizeof(struct tvf_wire_regs) + sizeof(struct tvf_wire_end))

/* NVMe controller register offsets (NVMe base specification, BAR0). */
#define NVME_REG_CAP	0x00
#define NVME_REG_VS	0x08
#define NVME_REG_INTMS	0x0c
#define NVME_REG_CC	0x14
#define NVME_REG_CSTS	0x1c
#define NVME_REG_AQA	0x24
#define NVME_REG_ASQ	0x28
#define NVME_REG_ACQ	0x30
#define NVME_REG_CMBLOC	0x38
#define NVME_REG_CMBSZ	0x3c
#define NVME_REG_SPAN	0x40
#define NVME_CC_EN	(1U << 0)

/*
 * The VF's internal state. Shared by reference with save files so a data_fd
 * keeps a consistent snapshot even if a resume replaces the device's blob.
 */
struct tvf_blob {
	struct kref ref;
	size_t len;
	u64 seed;
	bool restored;		/* came from a resumed stream, not generated */
	u32 crc;
	u8 sha256[SHA256_DIGEST_SIZE];
	u8 *data;
};

struct tvf_save {
	struct mutex lock;
	wait_queue_head_t wq;
	bool disabled;
	bool final;		/* tail appended: in STOP_COPY, EOF at the end */
	u64 pos;
	u64 pre_len;		/* header + blob: what PRE_COPY can deliver */
	u64 total_len;
	struct tvf_blob *blob;
	u8 hdr[TVF_HDR_LEN];
	u8 tail[TVF_TAIL_LEN];
};

struct tvf_resume {
	struct mutex lock;
	bool disabled;
	int error;		/* sticky: the stream is already known bad */
	char why[80];
	size_t hdr_got;
	u64 blob_got;
	size_t tail_got;
	u32 crc;
	struct tvf_blob *blob;
	u8 hdr[TVF_HDR_LEN];
	u8 tail[TVF_TAIL_LEN];
};

struct tvf_device {
	struct vfio_pci_core_device core;
	struct mutex state_mutex;	/* everything below */
	enum vfio_device_mig_state mig_state;
	spinlock_t reset_lock;
	bool reset_pending;
	bool bar_ok;
	struct file *save_file;
	struct tvf_save *save;
	struct file *resume_file;
	struct tvf_resume *resume;
	struct tvf_blob *blob;
	struct tvf_wire_regs saved_regs;
	struct tvf_wire_regs restored_regs;
	bool have_saved_regs;
	bool have_restored_regs;
	unsigned int saves;
	unsigned int restores;
	unsigned int refusals;
	char last_error[96];
};

static struct tvf_device *tvf_of(struct vfio_device *vd)
{
	return container_of(vd, struct tvf_device, core.vdev);
}

/* ---- the blob ---- */

static void tvf_blob_free(struct kref *ref)
{
	struct tvf_blob *b = container_of(ref, struct tvf_blob, ref);

	vfree(b->data);
	kfree(b);
}

static void tvf_blob_put(struct tvf_blob *b)
{
	if (b)
		kref_put(&b->ref, tvf_blob_free);
}

static struct tvf_blob *tvf_blob_alloc(size_t len)
{
	struct tvf_blob *b = kzalloc(sizeof(*b), GFP_KERNEL);

	if (!b)
		return NULL;
	kref_init(&b->ref);
	b->len = len;
	if (len) {
		b->data = vmalloc(len);
		if (!b->data) {
			kfree(b);
			return NULL;
		}
	}
	return b;
}

static void tvf_blob_seal(struct tvf_blob *b)
{
	b->crc = crc32_le(~0U, b->data, b->len);
	sha256(b->data, b->len, b->sha256);
}

/* splitmix64: cheap, stateless per word, and the same on every host. */
static u64 tvf_next(u64 *s)
{
	u64 z = (*s += 0x9e3779b97f4a7c15ULL);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

static struct tvf_blob *tvf_blob_generate(u64 from, size_t len)
{
	struct tvf_blob *b = tvf_blob_alloc(len);
	u64 s = from;
	size_t i;

	if (!b)
		return NULL;
	b->seed = from;
	for (i = 0; i + 8 <= len; i += 8) {
		put_unaligned_le64(tvf_next(&s), b->data + i);
		if (!(i & 0xfffff))
			cond_resched();
	}
	if (i < len) {
		u64 v = tvf_next(&s);

		for (; i < len; i++, v >>= 8)
			b->data[i] = v & 0xff;
	}
	tvf_blob_seal(b);
	return b;
}

static u64 tvf_device_seed(struct pci_dev *pdev, u64 base)
{
	u64 addr = ((u64)pci_domain_nr(pdev->bus) << 16) | pci_dev_id(pdev);

	return base ^ (addr * 0x9e3779b97f4a7c15ULL);
}

/* ---- registers ---- */

static void tvf_read_regs(struct tvf_device *tvf, struct tvf_wire_regs *r)
{
	void __iomem *bar = tvf->core.barmap[0];
	u64 cap = ~0ULL;

	memset(r, 0, sizeof(*r));
	r->magic = cpu_to_le32(TVF_MAGIC_REGS);
	if (tvf->bar_ok && bar) {
		/* memory_lock keeps a reset or D3 transition out while we read. */
		down_read(&tvf->core.memory_lock);
		cap = ioread32(bar + NVME_REG_CAP) |
		      (u64)ioread32(bar + NVME_REG_CAP + 4) << 32;
		r->cap = cpu_to_le64(cap);
		r->vs = cpu_to_le32(ioread32(bar + NVME_REG_VS));
		r->intms = cpu_to_le32(ioread32(bar + NVME_REG_INTMS));
		r->cc = cpu_to_le32(ioread32(bar + NVME_REG_CC));
		r->csts = cpu_to_le32(ioread32(bar + NVME_REG_CSTS));
		r->aqa = cpu_to_le32(ioread32(bar + NVME_REG_AQA));
		r->asq = cpu_to_le64(ioread32(bar + NVME_REG_ASQ) |
				     (u64)ioread32(bar + NVME_REG_ASQ + 4) << 32);
		r->acq = cpu_to_le64(ioread32(bar + NVME_REG_ACQ) |
				     (u64)ioread32(bar + NVME_REG_ACQ + 4) << 32);
		r->cmbloc = cpu_to_le32(ioread32(bar + NVME_REG_CMBLOC));
		r->cmbsz = cpu_to_le32(ioread32(bar + NVME_REG_CMBSZ));
		up_read(&tvf->core.memory_lock);
	}
	/* All ones means the function did not answer (gone, or in D3). */
	if (cap != ~0ULL)
		r->flags = cpu_to_le32(TVF_REGS_VALID);
	r->regs_crc = cpu_to_le32(crc32_le(~0U, (u8 *)r,
					   offsetof(struct tvf_wire_regs, regs_crc)));
}

/*
 * Only the admin queue configuration can be put back through registers: the
 * live queue state (heads, tails, created I/O queues) lives behind admin
 * commands the guest issued, so CC.EN is never set here.
 */
static void tvf_write_regs(struct tvf_device *tvf, const struct tvf_wire_regs *r)
{
	void __iomem *bar = tvf->core.barmap[0];
	u64 asq = le64_to_cpu(r->asq), acq = le64_to_cpu(r->acq);

	if (!restore_regs || !tvf->bar_ok || !bar ||
	    !(le32_to_cpu(r->flags) & TVF_REGS_VALID))
		return;
	down_read(&tvf->core.memory_lock);
	if (!(ioread32(bar + NVME_REG_CC) & NVME_CC_EN)) {
		iowrite32(le32_to_cpu(r->aqa), bar + NVME_REG_AQA);
		iowrite32(lower_32_bits(asq), bar + NVME_REG_ASQ);
		iowrite32(upper_32_bits(asq), bar + NVME_REG_ASQ + 4);
		iowrite32(lower_32_bits(acq), bar + NVME_REG_ACQ);
		iowrite32(upper_32_bits(acq), bar + NVME_REG_ACQ + 4);
	}
	up_read(&tvf->core.memory_lock);
}

/* ---- saving: the data_fd of PRE_COPY / STOP_COPY ---- */

/* @regs was sampled by the caller, outside the save file's lock. */
static void tvf_save_build_tail(struct tvf_device *tvf, struct tvf_save *s,
				const struct tvf_wire_regs *regs)
{
	struct tvf_wire_end *end = (struct tvf_wire_end *)(s->tail + sizeof(*regs));

	memcpy(s->tail, regs, sizeof(*regs));
	tvf->saved_regs = *regs;
	tvf->have_saved_regs = true;
	memset(end, 0, sizeof(*end));
	end->magic = cpu_to_le32(TVF_MAGIC_END);
	end->blob_crc = cpu_to_le32(s->blob->crc);
	end->total_len = cpu_to_le64(s->pre_len + TVF_TAIL_LEN);
	memcpy(end->blob_sha256, s->blob->sha256, SHA256_DIGEST_SIZE);
}

static ssize_t tvf_save_read(struct file *filp, char __user *buf, size_t len,
			     loff_t *pos)
{
	struct tvf_save *s = filp->private_data;
	size_t done = 0;
	ssize_t ret;
	u64 avail;

	if (pos)
		return -ESPIPE;
	mutex_lock(&s->lock);
	if (s->disabled) {
		ret = -ENODEV;
		goto out;
	}
	avail = s->final ? s->total_len : s->pre_len;
	if (s->pos >= avail) {
		/* PRE_COPY has a temporary end of stream; STOP_COPY a real one. */
		ret = s->final ? 0 : -ENOMSG;
		goto out;
	}
	while (done < len && s->pos < avail) {
		const u8 *src;
		u64 off, n;

		if (s->pos < TVF_HDR_LEN) {
			off = s->pos;
			n = TVF_HDR_LEN - off;
			src = s->hdr + off;
		} else if (s->pos < s->pre_len) {
			off = s->pos - TVF_HDR_LEN;
			n = s->blob->len - off;
			src = s->blob->data + off;
		} else {
			off = s->pos - s->pre_len;
			n = TVF_TAIL_LEN - off;
			src = s->tail + off;
		}
		n = min_t(u64, n, len - done);
		if (copy_to_user(buf + done, src, n)) {
			ret = done ? done : -EFAULT;
			goto out;
		}
		done += n;
		s->pos += n;
		if (fatal_signal_pending(current))
			break;
	}
	ret = done;
out:
	mutex_unlock(&s->lock);
	return ret;
}

static __poll_t tvf_save_poll(struct file *filp, struct poll_table_struct *wait)
{
	struct tvf_save *s = filp->private_data;
	__poll_t mask = 0;

	poll_wait(filp, &s->wq, wait);
	mutex_lock(&s->lock);
	if (s->disabled)
		mask = EPOLLERR;
	else if (s->final || s->pos < s->pre_len)
		mask = EPOLLIN | EPOLLRDNORM;
	mutex_unlock(&s->lock);
	return mask;
}

static long tvf_save_ioctl(struct file *filp, unsigned int cmd, unsigned long arg)
{
	struct tvf_save *s = filp->private_data;
	unsigned long minsz = offsetofend(struct vfio_precopy_info, dirty_bytes);
	struct vfio_precopy_info info;
	long ret = 0;

	if (cmd != VFIO_MIG_GET_PRECOPY_INFO)
		return -ENOTTY;
	if (copy_from_user(&info, (void __user *)arg, minsz))
		return -EFAULT;
	if (info.argsz < minsz)
		return -EINVAL;
	mutex_lock(&s->lock);
	/* The file is in a PRE_COPY state exactly while it is not final. */
	if (s->disabled || s->final) {
		ret = -EINVAL;
	} else {
		info.initial_bytes = s->pos < s->pre_len ? s->pre_len - s->pos : 0;
		info.dirty_bytes = 0;
		info.flags = 0;
	}
	mutex_unlock(&s->lock);
	if (!ret && copy_to_user((void __user *)arg, &info, minsz))
		ret = -EFAULT;
	return ret;
}

static int tvf_save_release(struct inode *inode, struct file *filp)
{
	struct tvf_save *s = filp->private_data;

	tvf_blob_put(s->blob);
	mutex_destroy(&s->lock);
	kfree(s);
	return 0;
}

static const struct file_operations tvf_save_fops = {
	.owner = THIS_MODULE,
	.read = tvf_save_read,
	.poll = tvf_save_poll,
	.unlocked_ioctl = tvf_save_ioctl,
	.compat_ioctl = compat_ptr_ioctl,
	.release = tvf_save_release,
};

static struct file *tvf_save_start(struct tvf_device *tvf, bool stopped)
{
	struct pci_dev *pdev = tvf->core.pdev;
	struct tvf_wire_hdr *h;
	struct tvf_save *s;
	struct file *filp;

	s = kzalloc(sizeof(*s), GFP_KERNEL_ACCOUNT);
	if (!s)
		return ERR_PTR(-ENOMEM);
	mutex_init(&s->lock);
	init_waitqueue_head(&s->wq);
	kref_get(&tvf->blob->ref);
	s->blob = tvf->blob;
	s->pre_len = TVF_HDR_LEN + s->blob->len;
	s->total_len = s->pre_len + TVF_TAIL_LEN;

	h = (struct tvf_wire_hdr *)s->hdr;
	h->magic = cpu_to_le32(TVF_MAGIC_HDR);
	h->version = cpu_to_le16(TVF_VERSION);
	h->hdr_len = cpu_to_le16(TVF_HDR_LEN);
	h->regs_len = cpu_to_le32(sizeof(struct tvf_wire_regs));
	h->end_len = cpu_to_le32(sizeof(struct tvf_wire_end));
	h->blob_len = cpu_to_le64(s->blob->len);
	h->seed = cpu_to_le64(s->blob->seed);
	h->vendor = cpu_to_le16(pdev->vendor);
	h->device = cpu_to_le16(pdev->device);
	h->subsys_vendor = cpu_to_le16(pdev->subsystem_vendor);
	h->subsys_device = cpu_to_le16(pdev->subsystem_device);
	h->hdr_crc = cpu_to_le32(crc32_le(~0U, s->hdr,
					  offsetof(struct tvf_wire_hdr, hdr_crc)));
	if (stopped) {
		struct tvf_wire_regs regs;

		tvf_read_regs(tvf, &regs);
		tvf_save_build_tail(tvf, s, &regs);
		s->final = true;
	}

	filp = anon_inode_getfile("[nvfm_tvf_save]", &tvf_save_fops, s, O_RDONLY);
	if (IS_ERR(filp)) {
		tvf_blob_put(s->blob);
		kfree(s);
		return filp;
	}
	stream_open(filp->f_inode, filp);
	/* One reference goes to the user's fd, one stays here to disable it. */
	get_file(filp);
	tvf->save_file = filp;
	tvf->save = s;
	return filp;
}

/* PRE_COPY_P2P -> STOP_COPY: the same stream continues with the tail. */
static void tvf_save_finish(struct tvf_device *tvf)
{
	struct tvf_save *s = tvf->save;
	struct tvf_wire_regs regs;

	tvf_read_regs(tvf, &regs);
	mutex_lock(&s->lock);
	if (!s->final) {
		tvf_save_build_tail(tvf, s, &regs);
		s->final = true;
	}
	mutex_unlock(&s->lock);
	wake_up_interruptible(&s->wq);
}

static void tvf_save_drop(struct tvf_device *tvf)
{
	struct tvf_save *s = tvf->save;

	if (!tvf->save_file)
		return;
	mutex_lock(&s->lock);
	if (s->final && s->pos >= s->total_len)
		tvf->saves++;
	s->disabled = true;
	mutex_unlock(&s->lock);
	wake_up_interruptible(&s->wq);
	fput(tvf->save_file);
	tvf->save_file = NULL;
	tvf->save = NULL;
}

/* ---- resuming: the data_fd of RESUMING ---- */

static int tvf_resume_fail(struct tvf_resume *r, int err, const char *why)
{
	r->error = err;
	strscpy(r->why, why, sizeof(r->why));
	return err;
}

static int tvf_resume_header(struct tvf_resume *r)
{
	const struct tvf_wire_hdr *h = (const struct tvf_wire_hdr *)r->hdr;
	u64 blob_len = le64_to_cpu(h->blob_len);

	if (le32_to_cpu(h->magic) != TVF_MAGIC_HDR)
		return tvf_resume_fail(r, -EINVAL, "bad header magic");
	if (le16_to_cpu(h->version) != TVF_VERSION)
		return tvf_resume_fail(r, -EINVAL, "unsupported stream version");
	if (le16_to_cpu(h->hdr_len) != TVF_HDR_LEN ||
	    le32_to_cpu(h->regs_len) != sizeof(struct tvf_wire_regs) ||
	    le32_to_cpu(h->end_len) != sizeof(struct tvf_wire_end))
		return tvf_resume_fail(r, -EINVAL, "unexpected section lengths");
	if (le32_to_cpu(h->hdr_crc) !=
	    crc32_le(~0U, r->hdr, offsetof(struct tvf_wire_hdr, hdr_crc)))
		return tvf_resume_fail(r, -EINVAL, "header CRC mismatch");
	if (blob_len > READ_ONCE(max_state_size))
		return tvf_resume_fail(r, -EFBIG, "state larger than max_state_size");
	r->blob = tvf_blob_alloc(blob_len);
	if (!r->blob)
		return tvf_resume_fail(r, -ENOMEM, "cannot allocate the state");
	r->blob->seed = le64_to_cpu(h->seed);
	r->blob->restored = true;
	r->crc = ~0U;
	return 0;
}

static ssize_t tvf_resume_write(struct file *filp, const char __user *buf,
				size_t len, loff_t *pos)
{
	struct tvf_resume *r = filp->private_data;
	size_t done = 0;
	ssize_t ret;

	if (pos)
		return -ESPIPE;
	mutex_lock(&r->lock);
	if (r->disabled) {
		ret = -ENODEV;
		goto out;
	}
	if (r->error) {
		ret = r->error;
		goto out;
	}
	while (done < len) {
		size_t n;

		if (r->hdr_got < TVF_HDR_LEN) {
			n = min(len - done, TVF_HDR_LEN - r->hdr_got);
			if (copy_from_user(r->hdr + r->hdr_got, buf + done, n)) {
				ret = -EFAULT;
				goto out;
			}
			r->hdr_got += n;
			done += n;
			if (r->hdr_got == TVF_HDR_LEN) {
				ret = tvf_resume_header(r);
				if (ret)
					goto out;
			}
		} else if (r->blob_got < r->blob->len) {
			u8 *dst = r->blob->data + r->blob_got;

			n = min_t(u64, len - done, r->blob->len - r->blob_got);
			if (copy_from_user(dst, buf + done, n)) {
				ret = -EFAULT;
				goto out;
			}
			r->crc = crc32_le(r->crc, dst, n);
			r->blob_got += n;
			done += n;
			cond_resched();
		} else if (r->tail_got < TVF_TAIL_LEN) {
			n = min(len - done, TVF_TAIL_LEN - r->tail_got);
			if (copy_from_user(r->tail + r->tail_got, buf + done, n)) {
				ret = -EFAULT;
				goto out;
			}
			r->tail_got += n;
			done += n;
		} else {
			ret = tvf_resume_fail(r, -EINVAL, "data past the end of the state");
			goto out;
		}
	}
	ret = done;
out:
	mutex_unlock(&r->lock);
	return ret;
}

static int tvf_resume_release(struct inode *inode, struct file *filp)
{
	struct tvf_resume *r = filp->private_data;

	tvf_blob_put(r->blob);
	mutex_destroy(&r->lock);
	kfree(r);
	return 0;
}

static const struct file_operations tvf_resume_fops = {
	.owner = THIS_MODULE,
	.write = tvf_resume_write,
	.release = tvf_resume_release,
};

static struct file *tvf_resume_start(struct tvf_device *tvf)
{
	struct tvf_resume *r;
	struct file *filp;

	r = kzalloc(sizeof(*r), GFP_KERNEL_ACCOUNT);
	if (!r)
		return ERR_PTR(-ENOMEM);
	mutex_init(&r->lock);
	filp = anon_inode_getfile("[nvfm_tvf_resume]", &tvf_resume_fops, r, O_WRONLY);
	if (IS_ERR(filp)) {
		kfree(r);
		return filp;
	}
	stream_open(filp->f_inode, filp);
	get_file(filp);
	tvf->resume_file = filp;
	tvf->resume = r;
	return filp;
}

static void tvf_resume_drop(struct tvf_device *tvf)
{
	if (!tvf->resume_file)
		return;
	mutex_lock(&tvf->resume->lock);
	tvf->resume->disabled = true;
	mutex_unlock(&tvf->resume->lock);
	fput(tvf->resume_file);
	tvf->resume_file = NULL;
	tvf->resume = NULL;
}

/* Why the stream in @r cannot become this device's state, or NULL. */
static const char *tvf_resume_verdict(struct tvf_device *tvf, struct tvf_resume *r,
				      struct tvf_wire_regs *regs)
{
	const struct tvf_wire_hdr *h = (const struct tvf_wire_hdr *)r->hdr;
	const struct tvf_wire_end *end =
		(const struct tvf_wire_end *)(r->tail + sizeof(*regs));
	struct pci_dev *pdev = tvf->core.pdev;
	u8 sha[SHA256_DIGEST_SIZE];
	struct tvf_wire_regs here;

	if (r->error)
		return r->why;
	if (r->hdr_got < TVF_HDR_LEN || r->blob_got < r->blob->len ||
	    r->tail_got < TVF_TAIL_LEN)
		return "state truncated";
	memcpy(regs, r->tail, sizeof(*regs));
	if (le32_to_cpu(regs->magic) != TVF_MAGIC_REGS)
		return "bad register section magic";
	if (le32_to_cpu(regs->regs_crc) !=
	    crc32_le(~0U, (u8 *)regs, offsetof(struct tvf_wire_regs, regs_crc)))
		return "register section CRC mismatch";
	if (le32_to_cpu(end->magic) != TVF_MAGIC_END)
		return "bad trailer magic";
	if (le64_to_cpu(end->total_len) != TVF_HDR_LEN + r->blob->len + TVF_TAIL_LEN)
		return "trailer length mismatch";
	if (le32_to_cpu(end->blob_crc) != r->crc)
		return "state CRC mismatch";
	sha256(r->blob->data, r->blob->len, sha);
	if (memcmp(sha, end->blob_sha256, sizeof(sha)))
		return "state SHA-256 mismatch";
	if (le16_to_cpu(h->vendor) != pdev->vendor ||
	    le16_to_cpu(h->device) != pdev->device)
		return "state is from a different PCI device type";
	tvf_read_regs(tvf, &here);
	if ((le32_to_cpu(regs->flags) & TVF_REGS_VALID) &&
	    (le32_to_cpu(here.flags) & TVF_REGS_VALID) &&
	    regs->cap != here.cap)
		return "controller capabilities (CAP) differ";
	if (READ_ONCE(refuse_resume))
		return "refused by the refuse_resume parameter";
	return NULL;
}

/* RESUMING -> STOP: the only place a resumed state is accepted. */
static int tvf_resume_commit(struct tvf_device *tvf)
{
	struct tvf_resume *r = tvf->resume;
	struct tvf_wire_regs regs;
	const char *why;

	mutex_lock(&r->lock);
	why = tvf_resume_verdict(tvf, r, &regs);
	if (why) {
		/* Later writes fail too; the user must reset the device. */
		if (!r->error)
			tvf_resume_fail(r, -EINVAL, why);
		mutex_unlock(&r->lock);
		tvf->refusals++;
		strscpy(tvf->last_error, why, sizeof(tvf->last_error));
		pci_warn(tvf->core.pdev, "refusing migrated state: %s\n", why);
		return -EINVAL;
	}
	r->blob->crc = r->crc;
	memcpy(r->blob->sha256, ((struct tvf_wire_end *)(r->tail + sizeof(regs)))->blob_sha256,
	       SHA256_DIGEST_SIZE);
	tvf_blob_put(tvf->blob);
	tvf->blob = r->blob;
	r->blob = NULL;
	mutex_unlock(&r->lock);

	tvf_write_regs(tvf, &regs);
	tvf->restored_regs = regs;
	tvf->have_restored_regs = true;
	tvf->restores++;
	tvf->last_error[0] = 0;
	pci_info(tvf->core.pdev, "committed migrated state: %zu bytes, sha256 %*phN\n",
		 tvf->blob->len, 8, tvf->blob->sha256);
	return 0;
}

/* ---- the state machine ---- */

static void tvf_drop_files(struct tvf_device *tvf)
{
	tvf_save_drop(tvf);
	tvf_resume_drop(tvf);
}

/*
 * A reset can arrive (reset_done) while vfio-pci-core holds memory_lock,
 * which we take under state_mutex to read registers: reset_done only records
 * the reset, and whoever holds or next releases state_mutex applies it here.
 */
static void tvf_state_unlock(struct tvf_device *tvf)
{
	for (;;) {
		spin_lock(&tvf->reset_lock);
		if (!tvf->reset_pending)
			break;
		tvf->reset_pending = false;
		spin_unlock(&tvf->reset_lock);
		tvf->mig_state = VFIO_DEVICE_STATE_RUNNING;
		tvf_drop_files(tvf);
	}
	mutex_unlock(&tvf->state_mutex);
	spin_unlock(&tvf->reset_lock);
}

static void tvf_reset_done(struct pci_dev *pdev)
{
	struct vfio_pci_core_device *core = dev_get_drvdata(&pdev->dev);
	struct tvf_device *tvf = container_of(core, struct tvf_device, core);

	spin_lock(&tvf->reset_lock);
	tvf->reset_pending = true;
	if (!mutex_trylock(&tvf->state_mutex)) {
		spin_unlock(&tvf->reset_lock);
		return;
	}
	spin_unlock(&tvf->reset_lock);
	tvf_state_unlock(tvf);
}

static bool tvf_arc(enum vfio_device_mig_state cur, enum vfio_device_mig_state next,
		    enum vfio_device_mig_state from, enum vfio_device_mig_state to)
{
	return cur == from && next == to;
}

/* One arc of the uAPI's FSM; returns a new data_fd's file, NULL, or ERR_PTR. */
static struct file *tvf_step(struct tvf_device *tvf, enum vfio_device_mig_state next)
{
	enum vfio_device_mig_state cur = tvf->mig_state;
	int ret;

	if (tvf_arc(cur, next, VFIO_DEVICE_STATE_RUNNING, VFIO_DEVICE_STATE_PRE_COPY) ||
	    tvf_arc(cur, next, VFIO_DEVICE_STATE_RUNNING_P2P, VFIO_DEVICE_STATE_PRE_COPY_P2P))
		return tvf_save_start(tvf, false);
	if (tvf_arc(cur, next, VFIO_DEVICE_STATE_STOP, VFIO_DEVICE_STATE_STOP_COPY))
		return tvf_save_start(tvf, true);
	if (tvf_arc(cur, next, VFIO_DEVICE_STATE_PRE_COPY_P2P, VFIO_DEVICE_STATE_STOP_COPY)) {
		tvf_save_finish(tvf);
		return NULL;
	}
	if (tvf_arc(cur, next, VFIO_DEVICE_STATE_PRE_COPY, VFIO_DEVICE_STATE_RUNNING) ||
	    tvf_arc(cur, next, VFIO_DEVICE_STATE_PRE_COPY_P2P, VFIO_DEVICE_STATE_RUNNING_P2P) ||
	    tvf_arc(cur, next, VFIO_DEVICE_STATE_STOP_COPY, VFIO_DEVICE_STATE_STOP)) {
		tvf_save_drop(tvf);
		return NULL;
	}
	if (tvf_arc(cur, next, VFIO_DEVICE_STATE_STOP, VFIO_DEVICE_STATE_RESUMING))
		return tvf_resume_start(tvf);
	if (tvf_arc(cur, next, VFIO_DEVICE_STATE_RESUMING, VFIO_DEVICE_STATE_STOP)) {
		ret = tvf_resume_commit(tvf);
		if (ret)
			return ERR_PTR(ret);
		tvf_resume_drop(tvf);
		return NULL;
	}
	/*
	 * QEMU's NVMe function starts no DMA of its own without doorbell
	 * writes, which the user stops before leaving RUNNING, so the P2P and
	 * STOP arcs have nothing to quiesce in this model.
	 */
	if (tvf_arc(cur, next, VFIO_DEVICE_STATE_RUNNING, VFIO_DEVICE_STATE_RUNNING_P2P) ||
	    tvf_arc(cur, next, VFIO_DEVICE_STATE_RUNNING_P2P, VFIO_DEVICE_STATE_RUNNING) ||
	    tvf_arc(cur, next, VFIO_DEVICE_STATE_RUNNING_P2P, VFIO_DEVICE_STATE_STOP) ||
	    tvf_arc(cur, next, VFIO_DEVICE_STATE_STOP, VFIO_DEVICE_STATE_RUNNING_P2P) ||
	    tvf_arc(cur, next, VFIO_DEVICE_STATE_PRE_COPY, VFIO_DEVICE_STATE_PRE_COPY_P2P) ||
	    tvf_arc(cur, next, VFIO_DEVICE_STATE_PRE_COPY_P2P, VFIO_DEVICE_STATE_PRE_COPY))
		return NULL;
	return ERR_PTR(-EINVAL);
}

static struct file *tvf_set_state(struct vfio_device *vd,
				  enum vfio_device_mig_state new_state)
{
	struct tvf_device *tvf = tvf_of(vd);
	enum vfio_device_mig_state next;
	struct file *res = NULL;
	int ret;

	mutex_lock(&tvf->state_mutex);
	while (tvf->mig_state != new_state) {
		ret = vfio_mig_get_next_state(vd, tvf->mig_state, new_state, &next);
		if (ret) {
			res = ERR_PTR(ret);
			break;
		}
		res = tvf_step(tvf, next);
		if (IS_ERR(res))
			break;
		tvf->mig_state = next;
		/* Arcs that open a data_fd only ever end a combination. */
		if (WARN_ON(res && tvf->mig_state != new_state)) {
			fput(res);
			res = ERR_PTR(-EINVAL);
			break;
		}
	}
	tvf_state_unlock(tvf);
	return res;
}

static int tvf_get_state(struct vfio_device *vd, enum vfio_device_mig_state *state)
{
	struct tvf_device *tvf = tvf_of(vd);

	mutex_lock(&tvf->state_mutex);
	*state = tvf->mig_state;
	tvf_state_unlock(tvf);
	return 0;
}

/*
 * What STOP_COPY would still have to send: everything when no save is in
 * progress, else the unread pre-copy bytes plus the tail, so the estimate
 * shrinks as PRE_COPY drains and the user's switchover decision converges.
 */
static int tvf_get_data_size(struct vfio_device *vd, unsigned long *len)
{
	struct tvf_device *tvf = tvf_of(vd);
	struct tvf_save *s;

	mutex_lock(&tvf->state_mutex);
	s = tvf->save;
	if (s) {
		mutex_lock(&s->lock);
		*len = s->total_len - min(s->pos, s->total_len);
		mutex_unlock(&s->lock);
	} else {
		*len = TVF_HDR_LEN + tvf->blob->len + TVF_TAIL_LEN;
	}
	tvf_state_unlock(tvf);
	return 0;
}

static const struct vfio_migration_ops tvf_mig_ops = {
	.migration_set_state = tvf_set_state,
	.migration_get_state = tvf_get_state,
	.migration_get_data_size = tvf_get_data_size,
};

/* ---- vfio_device ops ---- */

static int tvf_init_dev(struct vfio_device *vd)
{
	struct tvf_device *tvf = tvf_of(vd);
	struct pci_dev *pdev = to_pci_dev(vd->dev);
	size_t len = min(READ_ONCE(state_size), READ_ONCE(max_state_size));
	int ret;

	tvf->blob = tvf_blob_generate(tvf_device_seed(pdev, READ_ONCE(seed)), len);
	if (!tvf->blob)
		return -ENOMEM;
	ret = vfio_pci_core_init_dev(vd);
	if (ret) {
		tvf_blob_put(tvf->blob);
		return ret;
	}
	mutex_init(&tvf->state_mutex);
	spin_lock_init(&tvf->reset_lock);
	tvf->mig_state = VFIO_DEVICE_STATE_RUNNING;
	vd->migration_flags = VFIO_MIGRATION_STOP_COPY | VFIO_MIGRATION_P2P |
			      VFIO_MIGRATION_PRE_COPY;
	vd->mig_ops = &tvf_mig_ops;
	return 0;
}

static void tvf_release_dev(struct vfio_device *vd)
{
	struct tvf_device *tvf = tvf_of(vd);

	tvf_blob_put(tvf->blob);
	mutex_destroy(&tvf->state_mutex);
	vfio_pci_core_release_dev(vd);
}

static int tvf_open_device(struct vfio_device *vd)
{
	struct tvf_device *tvf = tvf_of(vd);
	struct vfio_pci_core_device *core = &tvf->core;
	struct pci_dev *pdev = core->pdev;
	int ret;

	ret = vfio_pci_core_enable(core);
	if (ret)
		return ret;
	/* Map BAR0 now, before the user can race vfio-pci-core's lazy mapping. */
	tvf->bar_ok = (pci_resource_flags(pdev, 0) & IORESOURCE_MEM) &&
		      pci_resource_len(pdev, 0) >= NVME_REG_SPAN &&
		      !vfio_pci_core_setup_barmap(core, 0);
	if (!tvf->bar_ok)
		pci_warn(pdev, "BAR0 unavailable: migrated states carry no registers\n");
	mutex_lock(&tvf->state_mutex);
	tvf->mig_state = VFIO_DEVICE_STATE_RUNNING;
	tvf_state_unlock(tvf);
	vfio_pci_core_finish_enable(core);
	return 0;
}

static void tvf_close_device(struct vfio_device *vd)
{
	struct tvf_device *tvf = tvf_of(vd);

	mutex_lock(&tvf->state_mutex);
	tvf_drop_files(tvf);
	tvf->bar_ok = false;
	tvf_state_unlock(tvf);
	vfio_pci_core_close_device(vd);
}

static const struct vfio_device_ops tvf_ops = {
	.name = TVF_NAME,
	.init = tvf_init_dev,
	.release = tvf_release_dev,
	.open_device = tvf_open_device,
	.close_device = tvf_close_device,
	.ioctl = vfio_pci_core_ioctl,
	.device_feature = vfio_pci_core_ioctl_feature,
	.read = vfio_pci_core_read,
	.write = vfio_pci_core_write,
	.mmap = vfio_pci_core_mmap,
	.request = vfio_pci_core_request,
	.match = vfio_pci_core_match,
	.bind_iommufd = vfio_iommufd_physical_bind,
	.unbind_iommufd = vfio_iommufd_physical_unbind,
	.attach_ioas = vfio_iommufd_physical_attach_ioas,
	.detach_ioas = vfio_iommufd_physical_detach_ioas,
};

/* ---- sysfs: what the tests read ---- */

static struct tvf_device *tvf_from_dev(struct device *dev)
{
	struct vfio_pci_core_device *core = dev_get_drvdata(dev);

	return container_of(core, struct tvf_device, core);
}

static const char * const tvf_state_names[] = {
	[VFIO_DEVICE_STATE_ERROR] = "ERROR",
	[VFIO_DEVICE_STATE_STOP] = "STOP",
	[VFIO_DEVICE_STATE_RUNNING] = "RUNNING",
	[VFIO_DEVICE_STATE_STOP_COPY] = "STOP_COPY",
	[VFIO_DEVICE_STATE_RESUMING] = "RESUMING",
	[VFIO_DEVICE_STATE_RUNNING_P2P] = "RUNNING_P2P",
	[VFIO_DEVICE_STATE_PRE_COPY] = "PRE_COPY",
	[VFIO_DEVICE_STATE_PRE_COPY_P2P] = "PRE_COPY_P2P",
};

static ssize_t nvfm_tvf_digest_show(struct device *dev, struct device_attribute *attr,
				    char *buf)
{
	struct tvf_device *tvf = tvf_from_dev(dev);
	ssize_t n;

	mutex_lock(&tvf->state_mutex);
	n = sysfs_emit(buf, "%*phN\n", SHA256_DIGEST_SIZE, tvf->blob->sha256);
	tvf_state_unlock(tvf);
	return n;
}
static DEVICE_ATTR_RO(nvfm_tvf_digest);

static int tvf_emit_regs(char *buf, int at, const char *name,
			 const struct tvf_wire_regs *r)
{
	return sysfs_emit_at(buf, at,
			     "%s: valid=%u cap=0x%016llx vs=0x%08x intms=0x%08x cc=0x%08x csts=0x%08x aqa=0x%08x asq=0x%016llx acq=0x%016llx cmbloc=0x%08x cmbsz=0x%08x\n",
			     name, le32_to_cpu(r->flags) & TVF_REGS_VALID,
			     le64_to_cpu(r->cap), le32_to_cpu(r->vs),
			     le32_to_cpu(r->intms), le32_to_cpu(r->cc),
			     le32_to_cpu(r->csts), le32_to_cpu(r->aqa),
			     le64_to_cpu(r->asq), le64_to_cpu(r->acq),
			     le32_to_cpu(r->cmbloc), le32_to_cpu(r->cmbsz));
}

static ssize_t nvfm_tvf_info_show(struct device *dev, struct device_attribute *attr,
				  char *buf)
{
	struct tvf_device *tvf = tvf_from_dev(dev);
	int n = 0;

	mutex_lock(&tvf->state_mutex);
	n += sysfs_emit_at(buf, n, "mig_state: %s\n",
			   tvf->mig_state < ARRAY_SIZE(tvf_state_names) ?
			   tvf_state_names[tvf->mig_state] : "?");
	n += sysfs_emit_at(buf, n, "state_size: %zu\n", tvf->blob->len);
	n += sysfs_emit_at(buf, n, "seed: 0x%016llx\n", tvf->blob->seed);
	n += sysfs_emit_at(buf, n, "origin: %s\n",
			   tvf->blob->restored ? "restored" : "generated");
	n += sysfs_emit_at(buf, n, "digest: %*phN\n", SHA256_DIGEST_SIZE,
			   tvf->blob->sha256);
	n += sysfs_emit_at(buf, n, "stream_size: %zu\n",
			   TVF_HDR_LEN + tvf->blob->len + TVF_TAIL_LEN);
	n += sysfs_emit_at(buf, n, "saves: %u\nrestores: %u\nrefusals: %u\n",
			   tvf->saves, tvf->restores, tvf->refusals);
	n += sysfs_emit_at(buf, n, "last_error: %s\n",
			   tvf->last_error[0] ? tvf->last_error : "none");
	if (tvf->have_saved_regs)
		n += tvf_emit_regs(buf, n, "saved_regs", &tvf->saved_regs);
	if (tvf->have_restored_regs)
		n += tvf_emit_regs(buf, n, "restored_regs", &tvf->restored_regs);
	tvf_state_unlock(tvf);
	return n;
}
static DEVICE_ATTR_RO(nvfm_tvf_info);

/* Writing a seed replaces the internal state with a freshly generated one. */
static ssize_t nvfm_tvf_regenerate_store(struct device *dev,
					 struct device_attribute *attr,
					 const char *buf, size_t count)
{
	struct tvf_device *tvf = tvf_from_dev(dev);
	size_t len = min(READ_ONCE(state_size), READ_ONCE(max_state_size));
	struct tvf_blob *b;
	u64 from;
	int ret;

	ret = kstrtoull(buf, 0, &from);
	if (ret)
		return ret;
	b = tvf_blob_generate(tvf_device_seed(tvf->core.pdev, from), len);
	if (!b)
		return -ENOMEM;
	mutex_lock(&tvf->state_mutex);
	if (tvf->save_file || tvf->resume_file) {
		tvf_state_unlock(tvf);
		tvf_blob_put(b);
		return -EBUSY;
	}
	tvf_blob_put(tvf->blob);
	tvf->blob = b;
	tvf_state_unlock(tvf);
	return count;
}
static DEVICE_ATTR_WO(nvfm_tvf_regenerate);

static struct attribute *tvf_attrs[] = {
	&dev_attr_nvfm_tvf_digest.attr,
	&dev_attr_nvfm_tvf_info.attr,
	&dev_attr_nvfm_tvf_regenerate.attr,
	NULL,
};
ATTRIBUTE_GROUPS(tvf);

/* ---- PCI driver ---- */

static int tvf_probe(struct pci_dev *pdev, const struct pci_device_id *id)
{
	struct tvf_device *tvf;
	int ret;

	if (!pdev->is_virtfn) {
		pci_info(pdev, "not an SR-IOV VF; " TVF_NAME " drives VFs only\n");
		return -ENODEV;
	}
	tvf = vfio_alloc_device(tvf_device, core.vdev, &pdev->dev, &tvf_ops);
	if (IS_ERR(tvf))
		return PTR_ERR(tvf);
	dev_set_drvdata(&pdev->dev, &tvf->core);
	ret = vfio_pci_core_register_device(&tvf->core);
	if (ret) {
		vfio_put_device(&tvf->core.vdev);
		return ret;
	}
	pci_info(pdev, "migratable test VF: state %zu bytes, sha256 %*phN\n",
		 tvf->blob->len, 8, tvf->blob->sha256);
	return 0;
}

static void tvf_remove(struct pci_dev *pdev)
{
	struct vfio_pci_core_device *core = dev_get_drvdata(&pdev->dev);

	vfio_pci_core_unregister_device(core);
	vfio_put_device(&core->vdev);
}

static const struct pci_device_id tvf_ids[] = {
	/* QEMU's emulated NVMe; its VFs carry the PF's IDs. driver_override only. */
	{ PCI_DRIVER_OVERRIDE_DEVICE_VFIO(PCI_VENDOR_ID_REDHAT, 0x0010) },
	{}
};
MODULE_DEVICE_TABLE(pci, tvf_ids);

static const struct pci_error_handlers tvf_err_handlers = {
	.reset_done = tvf_reset_done,
	.error_detected = vfio_pci_core_aer_err_detected,
};

static struct pci_driver tvf_driver = {
	.name = TVF_NAME,
	.id_table = tvf_ids,
	.probe = tvf_probe,
	.remove = tvf_remove,
	.err_handler = &tvf_err_handlers,
	.dev_groups = tvf_groups,
	.driver_managed_dma = true,
};

static int __init tvf_init(void)
{
	BUILD_BUG_ON(sizeof(struct tvf_wire_hdr) != 48);
	BUILD_BUG_ON(sizeof(struct tvf_wire_regs) != 64);
	BUILD_BUG_ON(sizeof(struct tvf_wire_end) != 48);
	return pci_register_driver(&tvf_driver);
}

static void __exit tvf_exit(void)
{
	pci_unregister_driver(&tvf_driver);
}

module_init(tvf_init);
module_exit(tvf_exit);

MODULE_LICENSE("GPL");
MODULE_DESCRIPTION("nvme-vf-migrate test VFIO variant driver for QEMU NVMe VFs");
