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
#include <linux/crc32.h>
#include <linux/kref.h>
#include <linux/unaligned.h>
#include <linux/poll.h>
#include <linux/sched/signal.h>
#include <linux/vmalloc.h>
#include <crypto/sha2.h>

#include "nvfm_mig_common.h"

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
	struct nvfm_mig_file f;
	bool final;		/* tail appended: in STOP_COPY, EOF at the end */
	u64 pos;
	u64 pre_len;		/* header + blob: what PRE_COPY can deliver */
	u64 total_len;
	struct tvf_blob *blob;
	u8 hdr[TVF_HDR_LEN];
	u8 tail[TVF_TAIL_LEN];
};

struct tvf_resume {
	struct nvfm_mig_file f;
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
	struct nvfm_mig_dev m;		/* first; its state_mutex covers all below */
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

static struct tvf_device *tvf_of(struct nvfm_mig_dev *m)
{
	return container_of(m, struct tvf_device, m);
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
	void __iomem *bar = tvf->m.core.barmap[0];
	u64 cap = ~0ULL;

	memset(r, 0, sizeof(*r));
	r->magic = cpu_to_le32(TVF_MAGIC_REGS);
	if (tvf->bar_ok && bar) {
		/* memory_lock keeps a reset or D3 transition out while we read. */
		down_read(&tvf->m.core.memory_lock);
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
		up_read(&tvf->m.core.memory_lock);
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
	void __iomem *bar = tvf->m.core.barmap[0];
	u64 asq = le64_to_cpu(r->asq), acq = le64_to_cpu(r->acq);

	if (!restore_regs || !tvf->bar_ok || !bar ||
	    !(le32_to_cpu(r->flags) & TVF_REGS_VALID))
		return;
	down_read(&tvf->m.core.memory_lock);
	if (!(ioread32(bar + NVME_REG_CC) & NVME_CC_EN)) {
		iowrite32(le32_to_cpu(r->aqa), bar + NVME_REG_AQA);
		iowrite32(lower_32_bits(asq), bar + NVME_REG_ASQ);
		iowrite32(upper_32_bits(asq), bar + NVME_REG_ASQ + 4);
		iowrite32(lower_32_bits(acq), bar + NVME_REG_ACQ);
		iowrite32(upper_32_bits(acq), bar + NVME_REG_ACQ + 4);
	}
	up_read(&tvf->m.core.memory_lock);
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

static ssize_t tvf_save_read(struct nvfm_mig_file *f, char __user *buf, size_t len)
{
	struct tvf_save *s = container_of(f, struct tvf_save, f);
	size_t done = 0;
	u64 avail;

	avail = s->final ? s->total_len : s->pre_len;
	/* PRE_COPY has a temporary end of stream; STOP_COPY a real one. */
	if (s->pos >= avail)
		return s->final ? 0 : -ENOMSG;
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
		if (copy_to_user(buf + done, src, n))
			return done ? done : -EFAULT;
		done += n;
		s->pos += n;
		if (fatal_signal_pending(current))
			break;
	}
	return done;
}

static __poll_t tvf_save_poll(struct nvfm_mig_file *f)
{
	struct tvf_save *s = container_of(f, struct tvf_save, f);

	return s->final || s->pos < s->pre_len ? EPOLLIN | EPOLLRDNORM : 0;
}

static long tvf_save_ioctl(struct nvfm_mig_file *f, unsigned int cmd, unsigned long arg)
{
	struct tvf_save *s = container_of(f, struct tvf_save, f);
	unsigned long minsz = offsetofend(struct vfio_precopy_info, dirty_bytes);
	struct vfio_precopy_info info;
	long ret = 0;

	if (cmd != VFIO_MIG_GET_PRECOPY_INFO)
		return -ENOTTY;
	if (copy_from_user(&info, (void __user *)arg, minsz))
		return -EFAULT;
	if (info.argsz < minsz)
		return -EINVAL;
	mutex_lock(&s->f.lock);
	/* The file is in a PRE_COPY state exactly while it is not final. */
	if (s->f.disabled || s->final) {
		ret = -EINVAL;
	} else {
		info.initial_bytes = s->pos < s->pre_len ? s->pre_len - s->pos : 0;
		info.dirty_bytes = 0;
		info.flags = 0;
	}
	mutex_unlock(&s->f.lock);
	if (!ret && copy_to_user((void __user *)arg, &info, minsz))
		ret = -EFAULT;
	return ret;
}

static void tvf_save_free(struct nvfm_mig_file *f)
{
	struct tvf_save *s = container_of(f, struct tvf_save, f);

	tvf_blob_put(s->blob);
	kfree(s);
}

static const struct nvfm_mig_file_ops tvf_save_fops = {
	.read = tvf_save_read,
	.poll = tvf_save_poll,
	.ioctl = tvf_save_ioctl,
	.free = tvf_save_free,
};

static struct file *tvf_save_start(struct tvf_device *tvf, bool stopped)
{
	struct pci_dev *pdev = tvf->m.core.pdev;
	struct tvf_wire_hdr *h;
	struct tvf_save *s;
	struct file *filp;

	s = kzalloc(sizeof(*s), GFP_KERNEL_ACCOUNT);
	if (!s)
		return ERR_PTR(-ENOMEM);
	nvfm_mig_file_init(&s->f, &tvf_save_fops);
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

	filp = nvfm_mig_file_open("[nvfm_tvf_save]", &s->f, O_RDONLY);
	if (IS_ERR(filp)) {
		tvf_blob_put(s->blob);
		kfree(s);
		return filp;
	}
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
	mutex_lock(&s->f.lock);
	if (!s->final) {
		tvf_save_build_tail(tvf, s, &regs);
		s->final = true;
	}
	mutex_unlock(&s->f.lock);
	wake_up_interruptible(&s->f.wq);
}

static void tvf_save_drop(struct tvf_device *tvf)
{
	struct tvf_save *s = tvf->save;

	if (!tvf->save_file)
		return;
	mutex_lock(&s->f.lock);
	if (s->final && s->pos >= s->total_len)
		tvf->saves++;
	mutex_unlock(&s->f.lock);
	tvf->save = NULL;
	nvfm_mig_file_drop(&tvf->save_file, &s->f);
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

static ssize_t tvf_resume_write(struct nvfm_mig_file *f, const char __user *buf, size_t len)
{
	struct tvf_resume *r = container_of(f, struct tvf_resume, f);
	size_t done = 0;
	ssize_t ret;

	if (r->error)
		return r->error;
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
	return ret;
}

static void tvf_resume_free(struct nvfm_mig_file *f)
{
	struct tvf_resume *r = container_of(f, struct tvf_resume, f);

	tvf_blob_put(r->blob);
	kfree(r);
}

static const struct nvfm_mig_file_ops tvf_resume_fops = {
	.write = tvf_resume_write,
	.free = tvf_resume_free,
};

static struct file *tvf_resume_start(struct tvf_device *tvf)
{
	struct tvf_resume *r;
	struct file *filp;

	r = kzalloc(sizeof(*r), GFP_KERNEL_ACCOUNT);
	if (!r)
		return ERR_PTR(-ENOMEM);
	nvfm_mig_file_init(&r->f, &tvf_resume_fops);
	filp = nvfm_mig_file_open("[nvfm_tvf_resume]", &r->f, O_WRONLY);
	if (IS_ERR(filp)) {
		kfree(r);
		return filp;
	}
	tvf->resume_file = filp;
	tvf->resume = r;
	return filp;
}

static void tvf_resume_drop(struct tvf_device *tvf)
{
	struct tvf_resume *r = tvf->resume;

	if (!tvf->resume_file)
		return;
	tvf->resume = NULL;
	nvfm_mig_file_drop(&tvf->resume_file, &r->f);
}

/* Why the stream in @r cannot become this device's state, or NULL. */
static const char *tvf_resume_verdict(struct tvf_device *tvf, struct tvf_resume *r,
				      struct tvf_wire_regs *regs)
{
	const struct tvf_wire_hdr *h = (const struct tvf_wire_hdr *)r->hdr;
	const struct tvf_wire_end *end =
		(const struct tvf_wire_end *)(r->tail + sizeof(*regs));
	struct pci_dev *pdev = tvf->m.core.pdev;
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

	mutex_lock(&r->f.lock);
	why = tvf_resume_verdict(tvf, r, &regs);
	if (why) {
		/* Later writes fail too; the user must reset the device. */
		if (!r->error)
			tvf_resume_fail(r, -EINVAL, why);
		mutex_unlock(&r->f.lock);
		tvf->refusals++;
		strscpy(tvf->last_error, why, sizeof(tvf->last_error));
		pci_warn(tvf->m.core.pdev, "refusing migrated state: %s\n", why);
		return -EINVAL;
	}
	r->blob->crc = r->crc;
	memcpy(r->blob->sha256, ((struct tvf_wire_end *)(r->tail + sizeof(regs)))->blob_sha256,
	       SHA256_DIGEST_SIZE);
	tvf_blob_put(tvf->blob);
	tvf->blob = r->blob;
	r->blob = NULL;
	mutex_unlock(&r->f.lock);

	tvf_write_regs(tvf, &regs);
	tvf->restored_regs = regs;
	tvf->have_restored_regs = true;
	tvf->restores++;
	tvf->last_error[0] = 0;
	pci_info(tvf->m.core.pdev, "committed migrated state: %zu bytes, sha256 %*phN\n",
		 tvf->blob->len, 8, tvf->blob->sha256);
	return 0;
}

/* ---- the state machine ---- */

static void tvf_drop_files(struct tvf_device *tvf)
{
	tvf_save_drop(tvf);
	tvf_resume_drop(tvf);
}

/* After a reset and on open (nvfm_mig_ops). */
static void tvf_back_to_running(struct nvfm_mig_dev *m)
{
	m->mig_state = VFIO_DEVICE_STATE_RUNNING;
	tvf_drop_files(tvf_of(m));
}

/* One arc of the uAPI's FSM; returns a new data_fd's file, NULL, or ERR_PTR. */
static struct file *tvf_step(struct nvfm_mig_dev *m, enum vfio_device_mig_state next)
{
	struct tvf_device *tvf = tvf_of(m);
	enum vfio_device_mig_state cur = tvf->m.mig_state;
	int ret;

	if (nvfm_mig_arc(cur, next, VFIO_DEVICE_STATE_RUNNING, VFIO_DEVICE_STATE_PRE_COPY) ||
	    nvfm_mig_arc(cur, next, VFIO_DEVICE_STATE_RUNNING_P2P, VFIO_DEVICE_STATE_PRE_COPY_P2P))
		return tvf_save_start(tvf, false);
	if (nvfm_mig_arc(cur, next, VFIO_DEVICE_STATE_STOP, VFIO_DEVICE_STATE_STOP_COPY))
		return tvf_save_start(tvf, true);
	if (nvfm_mig_arc(cur, next, VFIO_DEVICE_STATE_PRE_COPY_P2P, VFIO_DEVICE_STATE_STOP_COPY)) {
		tvf_save_finish(tvf);
		return NULL;
	}
	if (nvfm_mig_arc(cur, next, VFIO_DEVICE_STATE_PRE_COPY, VFIO_DEVICE_STATE_RUNNING) ||
	    nvfm_mig_arc(cur, next, VFIO_DEVICE_STATE_PRE_COPY_P2P, VFIO_DEVICE_STATE_RUNNING_P2P) ||
	    nvfm_mig_arc(cur, next, VFIO_DEVICE_STATE_STOP_COPY, VFIO_DEVICE_STATE_STOP)) {
		tvf_save_drop(tvf);
		return NULL;
	}
	if (nvfm_mig_arc(cur, next, VFIO_DEVICE_STATE_STOP, VFIO_DEVICE_STATE_RESUMING))
		return tvf_resume_start(tvf);
	if (nvfm_mig_arc(cur, next, VFIO_DEVICE_STATE_RESUMING, VFIO_DEVICE_STATE_STOP)) {
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
	if (nvfm_mig_arc(cur, next, VFIO_DEVICE_STATE_RUNNING, VFIO_DEVICE_STATE_RUNNING_P2P) ||
	    nvfm_mig_arc(cur, next, VFIO_DEVICE_STATE_RUNNING_P2P, VFIO_DEVICE_STATE_RUNNING) ||
	    nvfm_mig_arc(cur, next, VFIO_DEVICE_STATE_RUNNING_P2P, VFIO_DEVICE_STATE_STOP) ||
	    nvfm_mig_arc(cur, next, VFIO_DEVICE_STATE_STOP, VFIO_DEVICE_STATE_RUNNING_P2P) ||
	    nvfm_mig_arc(cur, next, VFIO_DEVICE_STATE_PRE_COPY, VFIO_DEVICE_STATE_PRE_COPY_P2P) ||
	    nvfm_mig_arc(cur, next, VFIO_DEVICE_STATE_PRE_COPY_P2P, VFIO_DEVICE_STATE_PRE_COPY))
		return NULL;
	return ERR_PTR(-EINVAL);
}

/*
 * What STOP_COPY would still have to send: everything when no save is in
 * progress, else the unread pre-copy bytes plus the tail, so the estimate
 * shrinks as PRE_COPY drains and the user's switchover decision converges.
 */
static int tvf_get_data_size(struct vfio_device *vd, unsigned long *len)
{
	struct tvf_device *tvf = tvf_of(nvfm_mig_of(vd));
	struct tvf_save *s;

	nvfm_mig_lock(&tvf->m);
	s = tvf->save;
	if (s) {
		mutex_lock(&s->f.lock);
		*len = s->total_len - min(s->pos, s->total_len);
		mutex_unlock(&s->f.lock);
	} else {
		*len = TVF_HDR_LEN + tvf->blob->len + TVF_TAIL_LEN;
	}
	nvfm_mig_unlock(&tvf->m);
	return 0;
}

static const struct vfio_migration_ops tvf_mig_ops = {
	.migration_set_state = nvfm_mig_set_state,
	.migration_get_state = nvfm_mig_get_state,
	.migration_get_data_size = tvf_get_data_size,
};

/* ---- vfio_device ops ---- */

/* Map BAR0 now, before the user can race vfio-pci-core's lazy mapping. */
static void tvf_open(struct nvfm_mig_dev *m)
{
	struct tvf_device *tvf = tvf_of(m);
	struct pci_dev *pdev = m->core.pdev;

	tvf->bar_ok = (pci_resource_flags(pdev, 0) & IORESOURCE_MEM) &&
		      pci_resource_len(pdev, 0) >= NVME_REG_SPAN &&
		      !vfio_pci_core_setup_barmap(&m->core, 0);
	if (!tvf->bar_ok)
		pci_warn(pdev, "BAR0 unavailable: migrated states carry no registers\n");
}

static void tvf_close(struct nvfm_mig_dev *m)
{
	struct tvf_device *tvf = tvf_of(m);

	tvf_drop_files(tvf);
	tvf->bar_ok = false;
}

static const struct nvfm_mig_ops tvf_ops_mig = {
	.step = tvf_step,
	.back_to_running = tvf_back_to_running,
	.close = tvf_close,
	.open = tvf_open,
};

static int tvf_init_dev(struct vfio_device *vd)
{
	struct tvf_device *tvf = tvf_of(nvfm_mig_of(vd));
	struct pci_dev *pdev = to_pci_dev(vd->dev);
	size_t len = min(READ_ONCE(state_size), READ_ONCE(max_state_size));
	int ret;

	tvf->blob = tvf_blob_generate(tvf_device_seed(pdev, READ_ONCE(seed)), len);
	if (!tvf->blob)
		return -ENOMEM;
	ret = nvfm_mig_init_dev(vd, &tvf_ops_mig, &tvf_mig_ops,
				VFIO_MIGRATION_STOP_COPY | VFIO_MIGRATION_P2P |
				VFIO_MIGRATION_PRE_COPY);
	if (ret)
		tvf_blob_put(tvf->blob);
	return ret;
}

static void tvf_release_dev(struct vfio_device *vd)
{
	tvf_blob_put(tvf_of(nvfm_mig_of(vd))->blob);
	nvfm_mig_release_dev(vd);
}

static const struct vfio_device_ops tvf_ops =
	NVFM_MIG_VFIO_DEVICE_OPS(TVF_NAME, tvf_init_dev, tvf_release_dev);

/* ---- sysfs: what the tests read ---- */

static struct tvf_device *tvf_from_dev(struct device *dev)
{
	return tvf_of(nvfm_mig_from_dev(dev));
}

static ssize_t nvfm_tvf_digest_show(struct device *dev, struct device_attribute *attr,
				    char *buf)
{
	struct tvf_device *tvf = tvf_from_dev(dev);
	ssize_t n;

	nvfm_mig_lock(&tvf->m);
	n = sysfs_emit(buf, "%*phN\n", SHA256_DIGEST_SIZE, tvf->blob->sha256);
	nvfm_mig_unlock(&tvf->m);
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

	nvfm_mig_lock(&tvf->m);
	n += sysfs_emit_at(buf, n, "mig_state: %s\n", nvfm_mig_state_name(tvf->m.mig_state));
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
	nvfm_mig_unlock(&tvf->m);
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
	b = tvf_blob_generate(tvf_device_seed(tvf->m.core.pdev, from), len);
	if (!b)
		return -ENOMEM;
	nvfm_mig_lock(&tvf->m);
	if (tvf->save_file || tvf->resume_file) {
		nvfm_mig_unlock(&tvf->m);
		tvf_blob_put(b);
		return -EBUSY;
	}
	tvf_blob_put(tvf->blob);
	tvf->blob = b;
	nvfm_mig_unlock(&tvf->m);
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

	if (!nvfm_mig_is_vf(pdev, TVF_NAME))
		return -ENODEV;
	tvf = vfio_alloc_device(tvf_device, m.core.vdev, &pdev->dev, &tvf_ops);
	if (IS_ERR(tvf))
		return PTR_ERR(tvf);
	ret = nvfm_mig_register(pdev, &tvf->m);
	if (ret)
		return ret;
	pci_info(pdev, "migratable test VF: state %zu bytes, sha256 %*phN\n",
		 tvf->blob->len, 8, tvf->blob->sha256);
	return 0;
}

static struct pci_driver tvf_driver = NVFM_MIG_PCI_DRIVER(TVF_NAME, tvf_probe, tvf_groups);

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
