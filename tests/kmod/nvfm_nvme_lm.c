// SPDX-License-Identifier: GPL-2.0-only
/*
 * nvfm_nvme_lm - a VFIO PCI variant driver for the VFs of QEMU's emulated
 * NVMe controller (1b36:0010) that migrates a VF's controller state with the
 * NVMe 2.1 host-managed live-migration commands, issued on the PF's admin
 * queue. The commands, their fields and the state's byte layout are the
 * contract in docs/nvme-lm.md; the testbed's patched outer QEMU implements
 * the device side (tests/testbed/qemu/).
 *
 * VFIO migration uAPI v2, flags STOP_COPY | P2P (the state is a few hundred
 * bytes: no PRE_COPY), and MIG_DATA_SIZE:
 *
 *   RUNNING -> RUNNING_P2P     Migration Send, Suspend (STYPE 1), this CNTLID
 *   RUNNING_P2P -> STOP        nothing (already suspended)
 *   STOP -> STOP_COPY          Migration Receive, Get Controller State (CSVI
 *                              0, CSUUIDI of our vendor format): the 48-byte
 *                              header first, then the rest in pieces of
 *                              `chunk` bytes into kernel memory; the data_fd
 *                              streams it and reads 0 at the end
 *   STOP -> RESUMING           Suspend (the fresh destination controller)
 *   RESUMING (write)           buffered up to max_state_size; the write that
 *                              completes the state (the header's sizes say
 *                              when) runs the whole check and fails with
 *                              EINVAL when the state cannot be taken, so a
 *                              VMM's load fails before the destination runs
 *   RESUMING -> STOP           the same check, then Set Controller State in
 *                              pieces (SEQIND first/middle/last or entire);
 *                              a refusal fails the arc
 *   RUNNING_P2P -> RUNNING     Migration Send, Resume
 *
 * A failed NVMe command puts the device in ERROR (its migration state is
 * then unknown); a state refused by the checks, or by the controller with
 * Invalid Field (the contract says it is then left as it was), fails the arc
 * and leaves the device where it was. VFIO_DEVICE_RESET / FLR (the core's
 * reset_done hook) and opening the device return it to RUNNING and drop the
 * data_fds; a controller this driver had suspended is then resumed, best
 * effort.
 *
 * How the PF's admin queue is reached, and why that is safe:
 *  - The PF stays bound to the kernel's nvme driver, which owns its admin
 *    queue. The VF -> CNTLID map comes from the PF itself: pci_physfn(vf),
 *    pci_iov_vf_id(vf), and the PF's Secondary Controller List (Identify CNS
 *    15h): the entry whose VFN is vf_id + 1 names the SCID.
 *  - For every operation the driver looks up the PF's controller device
 *    (the child of the PF's struct device in class "nvme", i.e. /dev/nvmeN),
 *    filp_open()s that character device and takes the nvme_ctrl with
 *    nvme_ctrl_from_file() (namespace NVME_TARGET_PASSTHRU, the interface
 *    nvmet's passthrough uses). The open only succeeds on a LIVE controller
 *    (nvme_dev_open), and the open file holds a reference on the controller
 *    and on its transport module for as long as the driver uses it; the
 *    file is closed (fput) when the operation is done. The controller found
 *    must be the PF's (ctrl->dev is the PF's device) or nothing is sent.
 *  - Commands go through __nvme_submit_sync_cmd() on ctrl->admin_q, the
 *    same blk-mq path the kernel's own admin commands and the passthrough
 *    ioctls take: tags serialise them with the nvme driver's own commands,
 *    timeouts and controller resets are handled by the nvme driver, and a
 *    command on a controller that is going away fails instead of hanging.
 *  - Data moves by DMA into kmalloc'd memory whose start is page aligned
 *    (power-of-two sizes of at least a page) and every piece starts at a
 *    dword-aligned offset with a dword-multiple length, which meets the
 *    admin queue's dma_alignment (3): blk_rq_map_kern maps it, no bounce.
 *    One piece is capped by the admin queue's max_hw_sectors.
 *  - The ioctl path's command-effects handling (freezing I/O and rescanning
 *    namespaces for commands that change them) is skipped: Migration Send
 *    and Receive only change a secondary controller's state, never the PF's
 *    namespaces, capabilities or its own queues.
 *  - Nothing of the state travels through the VF's BAR, which belongs to
 *    the guest.
 *
 * Module parameters: chunk (piece size in bytes, default 256 so that the
 * pieces are exercised), max_state_size (largest state accepted, default 1
 * MiB), tamper_version (testing: a destination rewrites the incoming NVMe
 * Controller State version to 0x7fff, CRC fixed up, before checking, so the
 * refusal path can be driven end to end).
 *
 * sysfs, /sys/bus/pci/devices/ADDR/nvfm_lm/: pf, cntlid, vf_id, hmlms,
 * versions, mig_state, state_size, niosq, niocq, pieces, last_op,
 * last_status, last_error, saves, restores, refusals, suspend_us, save_us,
 * restore_us, resume_us.
 */
#include <linux/device.h>
#include <linux/ktime.h>
#include <linux/poll.h>
#include <linux/slab.h>
#include <linux/unaligned.h>
#include <linux/uuid.h>

#include "nvme.h"
#include "nvfm_mig_common.h"

#define LM_NAME "nvfm_nvme_lm"

static unsigned int chunk = 256;
module_param(chunk, uint, 0644);
MODULE_PARM_DESC(chunk,
		 "Bytes per Get/Set Controller State piece (multiple of 4; default 256)");

static unsigned long max_state_size = 1UL << 20;
module_param(max_state_size, ulong, 0644);
MODULE_PARM_DESC(max_state_size,
		 "Largest controller state saved or accepted, bytes (default 1 MiB)");

static bool tamper_version;
module_param(tamper_version, bool, 0644);
MODULE_PARM_DESC(tamper_version,
		 "Testing: rewrite an incoming state's NVMe Controller State version to 0x7fff (CRC fixed up) before checking it");

/* ---- NVMe 2.1 host-managed live migration (docs/nvme-lm.md) ---- */

#define LM_OPC_MIG_SEND		0x41
#define LM_OPC_MIG_RECV		0x42
#define LM_SEL_SUSPEND		0
#define LM_SEL_RESUME		1
#define LM_SEL_SET_STATE	2
#define LM_SEL_GET_STATE	0
#define LM_STYPE_SUSPEND	1
#define LM_SEQ_MIDDLE		0
#define LM_SEQ_FIRST		1
#define LM_SEQ_LAST		2
#define LM_SEQ_ENTIRE		3
#define LM_CNS_SEC_CTRL_LIST	0x15
#define LM_CNS_STATE_FORMATS	0x20
#define LM_OACS_HMLMS		(1U << 11)

#define LM_HDR_LEN		48
#define LM_NCS_HDR_LEN		8
#define LM_SQ_REC_LEN		24
#define LM_CQ_REC_LEN		24
#define LM_VS_MIN_LEN		52	/* vendor fields up to the admin queues + CRC */
#define LM_VS_MAGIC		"NVLM"
#define LM_VS_VERSION		1
#define LM_TAMPERED_VERSION	0x7fff
#define LM_MAX_VERSIONS		64
#define LM_STATUS_INVALID_FIELD	0x002	/* SCT 0, SC 02h */

/* The vendor-specific format's UUID: 6e76666d-6c6d-4e56-8d51-454d55000001 */
static const u8 lm_vs_uuid[16] = {
	0x6e, 0x76, 0x66, 0x6d, 0x6c, 0x6d, 0x4e, 0x56,
	0x8d, 0x51, 0x45, 0x4d, 0x55, 0x00, 0x00, 0x01,
};

/* The controller state's header (offset 0, 48 bytes). */
struct lm_state_hdr {
	__le16 ver;
	u8 csattr;
	u8 rsvd[13];
	__le64 nvmecss[2];	/* u128, dwords */
	__le64 vss[2];		/* u128, dwords */
} __packed;

struct lm_sq_rec {
	__le64 prp1;
	__le16 qsize;
	__le16 qid;
	__le16 cqid;
	__le16 attr;
	__le16 head;
	__le16 tail;
	u8 rsvd[4];
} __packed;

struct lm_cq_rec {
	__le64 prp1;
	__le16 qsize;
	__le16 qid;
	__le16 head;
	__le16 tail;
	__le32 attr;
	u8 rsvd[4];
} __packed;

#define LM_SQA_PC		(1U << 0)
#define LM_SQA_DEFINED		0x7U
#define LM_CQA_PC		(1U << 0)
#define LM_CQA_DEFINED		0xffff0007U
#define LM_MAX_IV		2048

/* What Identify CNS 20h says this PF takes and produces. */
struct lm_formats {
	unsigned int nv;
	u16 ver[LM_MAX_VERSIONS];
	unsigned int uuid_idx;	/* 1-based CSUUIDI of our format, 0: absent */
};

/* What a checked state holds. */
struct lm_state_info {
	size_t total;
	u16 ncs_ver;
	unsigned int csvi;	/* index of ncs_ver in this PF's version list */
	unsigned int niosq;
	unsigned int niocq;
};

/* ---- CRC-32C (Castagnoli, reflected, init and final xor ~0) ---- */

static u32 lm_crc32c(const u8 *p, size_t len)
{
	u32 crc = ~0U;
	int i;

	while (len--) {
		crc ^= *p++;
		for (i = 0; i < 8; i++)
			crc = (crc >> 1) ^ (0x82f63b78U & -(crc & 1));
	}
	return ~crc;
}

/* ---- the device ---- */

struct lm_save {
	struct nvfm_mig_file f;
	size_t pos;
	size_t len;
	u8 *buf;
};

struct lm_device;

struct lm_resume {
	struct nvfm_mig_file f;
	int error;		/* sticky once the stream is known bad */
	char why[96];
	size_t got;
	size_t total;		/* 0 until the header arrived */
	size_t cap;		/* size of buf */
	u8 hdr[LM_HDR_LEN];
	u8 *buf;
	struct lm_formats fmt;	/* this PF's, taken at STOP -> RESUMING */
	struct lm_device *lm;	/* for last_error; NULLed when dropped */
};

struct lm_device {
	struct nvfm_mig_dev m;		/* first; its state_mutex covers all below */
	bool suspended;			/* this driver suspended the controller */
	bool cmd_failed;		/* an NVMe command failed in this arc */
	struct file *save_file;
	struct lm_save *save;
	struct file *resume_file;
	struct lm_resume *resume;
	/* the PF side */
	int vf_id;
	int cntlid;			/* -1 until found */
	bool hmlms;
	char pf_ctrl[32];		/* "nvmeN" of the PF, last seen */
	/* figures of the last operation (stat_lock for last_error) */
	spinlock_t stat_lock;
	char last_op[24];
	char last_error[128];
	int last_status;
	size_t state_size;
	unsigned int niosq, niocq, pieces;
	u64 suspend_ns, save_ns, restore_ns, resume_ns;
	unsigned int saves, restores, refusals;
};

static struct lm_device *lm_of(struct nvfm_mig_dev *m)
{
	return container_of(m, struct lm_device, m);
}

static void lm_set_error(struct lm_device *lm, const char *fmt, ...) __printf(2, 3);
static void lm_set_error(struct lm_device *lm, const char *fmt, ...)
{
	va_list ap;

	spin_lock(&lm->stat_lock);
	va_start(ap, fmt);
	vscnprintf(lm->last_error, sizeof(lm->last_error), fmt, ap);
	va_end(ap);
	spin_unlock(&lm->stat_lock);
	pci_warn(lm->m.core.pdev, "%s\n", lm->last_error);
}

static void lm_clear_error(struct lm_device *lm)
{
	spin_lock(&lm->stat_lock);
	lm->last_error[0] = 0;
	spin_unlock(&lm->stat_lock);
}

static u64 lm_us(u64 ns)
{
	return div_u64(ns, 1000);
}

/* ---- the PF's admin queue ---- */

struct lm_pf {
	struct file *filp;
	struct nvme_ctrl *ctrl;
};

static int lm_find_ctrl_dev(struct device *dev, void *data)
{
	char *name = data;

	if (dev->class && !strcmp(dev->class->name, "nvme")) {
		strscpy(name, dev_name(dev), 32);
		return 1;
	}
	return 0;
}

/* Opens the PF's controller character device; see the top comment. */
static int lm_pf_get(struct lm_device *lm, struct lm_pf *pf)
{
	struct pci_dev *pdev = pci_physfn(lm->m.core.pdev);
	char name[32] = "", path[48];
	struct file *filp;

	pf->filp = NULL;
	pf->ctrl = NULL;
	if (!device_for_each_child(&pdev->dev, name, lm_find_ctrl_dev)) {
		lm_set_error(lm, "the PF %s has no nvme controller (not bound to nvme?)",
			     pci_name(pdev));
		return -ENODEV;
	}
	strscpy(lm->pf_ctrl, name, sizeof(lm->pf_ctrl));
	snprintf(path, sizeof(path), "/dev/%s", name);
	filp = filp_open(path, O_RDONLY, 0);
	if (IS_ERR(filp)) {
		lm_set_error(lm, "cannot open %s of the PF %s: %ld%s", path, pci_name(pdev),
			     PTR_ERR(filp),
			     PTR_ERR(filp) == -EWOULDBLOCK ? " (controller not live)" : "");
		return PTR_ERR(filp) == -EWOULDBLOCK ? -EBUSY : PTR_ERR(filp);
	}
	pf->ctrl = nvme_ctrl_from_file(filp);
	if (!pf->ctrl || pf->ctrl->dev != &pdev->dev || !pf->ctrl->admin_q) {
		filp_close(filp, NULL);
		pf->ctrl = NULL;
		lm_set_error(lm, "%s is not the nvme controller of the PF %s", path,
			     pci_name(pdev));
		return -ENODEV;
	}
	pf->filp = filp;
	return 0;
}

static void lm_pf_put(struct lm_pf *pf)
{
	if (pf->filp)
		filp_close(pf->filp, NULL);
	pf->filp = NULL;
	pf->ctrl = NULL;
}

/*
 * One admin command on the PF. Returns 0, a negative errno, or the positive
 * NVMe status (DNR 0x4000, More 0x2000, SCT 10:8, SC 7:0).
 */
static int lm_pf_cmd(struct lm_device *lm, struct lm_pf *pf, struct nvme_command *c,
		     void *buf, unsigned int len, u32 *dw0)
{
	union nvme_result res = {};
	int ret;

	ret = __nvme_submit_sync_cmd(pf->ctrl->admin_q, c, &res, buf, len,
				     NVME_QID_ANY, 0);
	lm->last_status = ret;
	if (dw0)
		*dw0 = ret >= 0 ? le32_to_cpu(res.u32) : 0;
	return ret;
}

static const char *lm_opname(const struct nvme_command *c)
{
	u8 sel = le32_to_cpu(c->common.cdw10) & 0xff;

	if (c->common.opcode == LM_OPC_MIG_RECV)
		return "Get Controller State";
	if (c->common.opcode != LM_OPC_MIG_SEND)
		return "Identify";
	return sel == LM_SEL_SUSPEND ? "Suspend" : sel == LM_SEL_RESUME ? "Resume" :
	       "Set Controller State";
}

/* A command's failure as an errno, recorded in last_error. */
static int lm_cmd_failed(struct lm_device *lm, const struct nvme_command *c, int ret)
{
	lm->cmd_failed = true;
	if (ret > 0) {
		lm_set_error(lm, "%s (opcode 0x%02x) for CNTLID %d: NVMe status 0x%04x",
			     lm_opname(c), c->common.opcode, lm->cntlid, ret);
		return -EIO;
	}
	lm_set_error(lm, "%s (opcode 0x%02x) for CNTLID %d: error %d", lm_opname(c),
		     c->common.opcode, lm->cntlid, ret);
	return ret;
}

/* A zeroed, page-aligned kernel buffer DMA can target without a bounce. */
static void *lm_dma_alloc(size_t len)
{
	return kzalloc(roundup_pow_of_two(max_t(size_t, len, PAGE_SIZE)), GFP_KERNEL);
}

static int lm_identify(struct lm_device *lm, struct lm_pf *pf, u8 cns, u16 cntid,
		       void *buf)
{
	struct nvme_command c = {};
	int ret;

	c.identify.opcode = nvme_admin_identify;
	c.identify.cns = cns;
	c.identify.ctrlid = cpu_to_le16(cntid);
	ret = lm_pf_cmd(lm, pf, &c, buf, NVME_IDENTIFY_DATA_SIZE, NULL);
	if (ret) {
		lm_cmd_failed(lm, &c, ret);
		return ret > 0 ? -EIO : ret;
	}
	return 0;
}

/* VF -> CNTLID through the PF's Secondary Controller List; HMLMS too. */
static int lm_resolve(struct lm_device *lm, struct lm_pf *pf)
{
	struct nvme_id_ctrl *id;
	unsigned int i, n;
	u8 *buf;
	int ret;

	if (lm->cntlid >= 0)
		return 0;
	buf = lm_dma_alloc(NVME_IDENTIFY_DATA_SIZE);
	if (!buf)
		return -ENOMEM;
	ret = lm_identify(lm, pf, NVME_ID_CNS_CTRL, 0, buf);
	if (ret)
		goto out;
	id = (struct nvme_id_ctrl *)buf;
	lm->hmlms = le16_to_cpu(id->oacs) & LM_OACS_HMLMS;
	memset(buf, 0, NVME_IDENTIFY_DATA_SIZE);
	ret = lm_identify(lm, pf, LM_CNS_SEC_CTRL_LIST, 0, buf);
	if (ret)
		goto out;
	/* byte 0: number of entries; 32-byte entries from byte 32 */
	n = min_t(unsigned int, buf[0], 127);
	for (i = 0; i < n; i++) {
		const u8 *e = buf + 32 + 32 * i;

		if (get_unaligned_le16(e + 8) == lm->vf_id + 1) {
			lm->cntlid = get_unaligned_le16(e);
			break;
		}
	}
	if (lm->cntlid < 0) {
		lm_set_error(lm, "VF %d is not in the PF's Secondary Controller List (%u entries)",
			     lm->vf_id, n);
		ret = -ENODEV;
	}
out:
	kfree(buf);
	return ret;
}

/* Identify CNS 20h: the NVMe Controller State versions and vendor formats. */
static int lm_formats(struct lm_device *lm, struct lm_pf *pf, struct lm_formats *f)
{
	unsigned int i, nuuid;
	u8 *buf;
	int ret;

	memset(f, 0, sizeof(*f));
	buf = lm_dma_alloc(NVME_IDENTIFY_DATA_SIZE);
	if (!buf)
		return -ENOMEM;
	ret = lm_identify(lm, pf, LM_CNS_STATE_FORMATS, 0, buf);
	if (ret)
		goto out;
	f->nv = min_t(unsigned int, buf[0], LM_MAX_VERSIONS);
	nuuid = buf[1];
	for (i = 0; i < f->nv; i++)
		f->ver[i] = get_unaligned_le16(buf + 2 + 2 * i);
	for (i = 0; i < nuuid; i++) {
		size_t off = 2 + 2 * (size_t)buf[0] + 16 * (size_t)i;

		if (off + 16 > NVME_IDENTIFY_DATA_SIZE)
			break;
		if (!memcmp(buf + off, lm_vs_uuid, 16)) {
			f->uuid_idx = i + 1;
			break;
		}
	}
	if (!f->nv || !f->uuid_idx) {
		lm_set_error(lm, "the PF offers %u state version(s) and %s our vendor format",
			     f->nv, f->uuid_idx ? "" : "not");
		ret = -EOPNOTSUPP;
	}
out:
	kfree(buf);
	return ret;
}

/* Open the PF and make sure the CNTLID is known. */
static int lm_pf_begin(struct lm_device *lm, struct lm_pf *pf)
{
	int ret = lm_pf_get(lm, pf);

	if (ret)
		return ret;
	ret = lm_resolve(lm, pf);
	if (ret)
		lm_pf_put(pf);
	return ret;
}

static int lm_mig_send(struct lm_device *lm, struct lm_pf *pf, u8 sel)
{
	struct nvme_command c = {};
	u32 cdw11 = (u16)lm->cntlid;
	int ret;

	if (sel == LM_SEL_SUSPEND)
		cdw11 |= LM_STYPE_SUSPEND << 16;
	c.common.opcode = LM_OPC_MIG_SEND;
	c.common.cdw10 = cpu_to_le32(sel);
	c.common.cdw11 = cpu_to_le32(cdw11);
	ret = lm_pf_cmd(lm, pf, &c, NULL, 0, NULL);
	return ret ? lm_cmd_failed(lm, &c, ret) : 0;
}

/* Get Controller State: @len bytes at byte @off into @buf; CSUP in *csup. */
static int lm_get_ctrl_state(struct lm_device *lm, struct lm_pf *pf, unsigned int uuid_idx,
				u64 off, void *buf, unsigned int len, bool *csup)
{
	struct nvme_command c = {};
	u32 dw0;
	int ret;

	c.common.opcode = LM_OPC_MIG_RECV;
	c.common.cdw10 = cpu_to_le32(LM_SEL_GET_STATE | (0 /* CSVI */ << 16));
	c.common.cdw11 = cpu_to_le32((u16)lm->cntlid | (uuid_idx & 0xff) << 16);
	c.common.cdw12 = cpu_to_le32(lower_32_bits(off));
	c.common.cdw13 = cpu_to_le32(upper_32_bits(off));
	c.common.cdw15 = cpu_to_le32(len / 4 - 1);	/* 0's based */
	ret = lm_pf_cmd(lm, pf, &c, buf, len, &dw0);
	if (ret)
		return lm_cmd_failed(lm, &c, ret);
	if (csup)
		*csup = dw0 & 1;
	return 0;
}

/* Set Controller State: one piece. Returns 0, -errno, or the NVMe status. */
static int lm_set_state_piece(struct lm_device *lm, struct lm_pf *pf, unsigned int csvi,
			      unsigned int uuid_idx, u8 seqind, u64 off, void *buf,
			      unsigned int len)
{
	struct nvme_command c = {};

	c.common.opcode = LM_OPC_MIG_SEND;
	c.common.cdw10 = cpu_to_le32(LM_SEL_SET_STATE | (seqind & 3) << 16);
	c.common.cdw11 = cpu_to_le32((u16)lm->cntlid | (csvi & 0xff) << 16 |
				     (uuid_idx & 0xff) << 24);
	c.common.cdw12 = cpu_to_le32(lower_32_bits(off));
	c.common.cdw13 = cpu_to_le32(upper_32_bits(off));
	c.common.cdw15 = cpu_to_le32(len / 4);
	return lm_pf_cmd(lm, pf, &c, buf, len, NULL);
}

/* The piece size: a dword multiple the admin queue can move in one go. */
static unsigned int lm_chunk(struct lm_pf *pf)
{
	unsigned int n = READ_ONCE(chunk), hw;

	hw = min_t(u64, (u64)queue_max_hw_sectors(pf->ctrl->admin_q) << SECTOR_SHIFT,
		   1U << 20);
	n = clamp_t(unsigned int, n, 4, max_t(unsigned int, hw, 4));
	return round_down(n, 4);
}

/* ---- checking a state ---- */

/* The total size a header announces, or 0 with *why set. */
static size_t lm_hdr_total(const u8 *p, const char **why)
{
	const struct lm_state_hdr *h = (const struct lm_state_hdr *)p;
	u64 ncss = le64_to_cpu(h->nvmecss[0]), vss = le64_to_cpu(h->vss[0]);
	u64 total;

	if (le16_to_cpu(h->ver) != 0) {
		*why = "unsupported controller state data structure version";
		return 0;
	}
	if (h->nvmecss[1] || h->vss[1] || ncss > (1ULL << 32) || vss > (1ULL << 32)) {
		*why = "state sizes out of range";
		return 0;
	}
	total = LM_HDR_LEN + 4 * (ncss + vss);
	if (ncss * 4 < LM_NCS_HDR_LEN) {
		*why = "NVMe Controller State shorter than its header";
		return 0;
	}
	if (vss * 4 < LM_VS_MIN_LEN) {
		*why = "vendor-specific state missing or too short";
		return 0;
	}
	if (total > READ_ONCE(max_state_size)) {
		*why = "state larger than max_state_size";
		return 0;
	}
	return total;
}

/*
 * The whole check of a complete state against this PF's formats. Returns
 * NULL when the state can be taken, else why not.
 */
static const char *lm_check_state(const u8 *p, size_t len, const struct lm_formats *f,
				  struct lm_state_info *info)
{
	const struct lm_state_hdr *h = (const struct lm_state_hdr *)p;
	const u8 *ncs, *vs;
	const char *why = NULL;
	size_t total, ncs_len, vs_len;
	unsigned int i, j, nsq, ncq;
	u16 ver;

	memset(info, 0, sizeof(*info));
	if (len < LM_HDR_LEN)
		return "state truncated (no header)";
	total = lm_hdr_total(p, &why);
	if (!total)
		return why;
	if (len < total)
		return "state truncated";
	if (len > total)
		return "data past the end of the state";
	info->total = total;
	ncs_len = 4 * (size_t)le64_to_cpu(h->nvmecss[0]);
	vs_len = 4 * (size_t)le64_to_cpu(h->vss[0]);
	ncs = p + LM_HDR_LEN;
	vs = ncs + ncs_len;
	if (!(h->csattr & 1))
		return "the state was not taken from a suspended controller";

	ver = get_unaligned_le16(ncs);
	info->ncs_ver = ver;
	for (i = 0; i < f->nv; i++)
		if (f->ver[i] == ver)
			break;
	if (i == f->nv)
		return "NVMe Controller State version not offered by this PF (Identify CNS 20h)";
	info->csvi = i;

	nsq = get_unaligned_le16(ncs + 2);
	ncq = get_unaligned_le16(ncs + 4);
	info->niosq = nsq;
	info->niocq = ncq;
	if (LM_NCS_HDR_LEN + (size_t)LM_SQ_REC_LEN * nsq + (size_t)LM_CQ_REC_LEN * ncq != ncs_len)
		return "NVMe Controller State size does not match its queue counts";
	for (i = 0; i < ncq; i++) {
		const struct lm_cq_rec *cq = (const void *)(ncs + LM_NCS_HDR_LEN +
			LM_SQ_REC_LEN * nsq + LM_CQ_REC_LEN * i);
		u16 qid = le16_to_cpu(cq->qid), qsize = le16_to_cpu(cq->qsize);
		u32 attr = le32_to_cpu(cq->attr);

		if (!qid || !qsize || !(attr & LM_CQA_PC) || (attr & ~LM_CQA_DEFINED) ||
		    (attr >> 16) >= LM_MAX_IV || le16_to_cpu(cq->head) > qsize ||
		    le16_to_cpu(cq->tail) > qsize || !cq->prp1 ||
		    (le64_to_cpu(cq->prp1) & 0xfff))
			return "an I/O completion queue record is malformed";
		for (j = 0; j < i; j++) {
			const struct lm_cq_rec *o = (const void *)(ncs + LM_NCS_HDR_LEN +
				LM_SQ_REC_LEN * nsq + LM_CQ_REC_LEN * j);

			if (o->qid == cq->qid)
				return "two I/O completion queues with one QID";
		}
	}
	for (i = 0; i < nsq; i++) {
		const struct lm_sq_rec *sq = (const void *)(ncs + LM_NCS_HDR_LEN +
							   LM_SQ_REC_LEN * i);
		u16 qid = le16_to_cpu(sq->qid), qsize = le16_to_cpu(sq->qsize);
		u16 attr = le16_to_cpu(sq->attr);
		bool found = false;

		if (!qid || !qsize || !(attr & LM_SQA_PC) || (attr & ~LM_SQA_DEFINED) ||
		    le16_to_cpu(sq->head) > qsize || le16_to_cpu(sq->tail) > qsize ||
		    !sq->prp1 || (le64_to_cpu(sq->prp1) & 0xfff))
			return "an I/O submission queue record is malformed";
		for (j = 0; j < i; j++) {
			const struct lm_sq_rec *o = (const void *)(ncs + LM_NCS_HDR_LEN +
								  LM_SQ_REC_LEN * j);

			if (o->qid == sq->qid)
				return "two I/O submission queues with one QID";
		}
		for (j = 0; j < ncq && !found; j++) {
			const struct lm_cq_rec *cq = (const void *)(ncs + LM_NCS_HDR_LEN +
				LM_SQ_REC_LEN * nsq + LM_CQ_REC_LEN * j);

			found = cq->qid == sq->cqid;
		}
		if (!found)
			return "an I/O submission queue names a completion queue not in the state";
	}

	if (memcmp(vs, LM_VS_MAGIC, 4))
		return "bad vendor-specific state magic";
	if (get_unaligned_le16(vs + 4) != LM_VS_VERSION)
		return "unsupported vendor-specific state version";
	if (vs_len < LM_VS_MIN_LEN)
		return "vendor-specific state too short";
	if (lm_crc32c(p, total - 4) != get_unaligned_le32(p + total - 4))
		return "state CRC-32C mismatch";
	return NULL;
}

/* The testing knob: make the version one no PF offers, keep the CRC right. */
static void lm_tamper(u8 *p, size_t total)
{
	put_unaligned_le16(LM_TAMPERED_VERSION, p + LM_HDR_LEN);
	put_unaligned_le32(lm_crc32c(p, total - 4), p + total - 4);
}

/* ---- saving: the data_fd of STOP_COPY ---- */

static ssize_t lm_save_read(struct nvfm_mig_file *f, char __user *buf, size_t len)
{
	struct lm_save *s = container_of(f, struct lm_save, f);
	size_t n = min(len, s->len - s->pos);

	if (n && copy_to_user(buf, s->buf + s->pos, n))
		return -EFAULT;
	s->pos += n;
	return n;
}

static __poll_t lm_save_poll(struct nvfm_mig_file *f)
{
	return EPOLLIN | EPOLLRDNORM;
}

static void lm_save_free(struct nvfm_mig_file *f)
{
	struct lm_save *s = container_of(f, struct lm_save, f);

	kfree(s->buf);
	kfree(s);
}

static const struct nvfm_mig_file_ops lm_save_fops = {
	.read = lm_save_read,
	.poll = lm_save_poll,
	.free = lm_save_free,
};

/* The size the controller announces: a header-only Get Controller State. */
static int lm_query_size(struct lm_device *lm, struct lm_pf *pf, unsigned int uuid_idx,
			 size_t *total, bool *csup)
{
	const char *why = NULL;
	u8 *hdr;
	int ret;

	hdr = lm_dma_alloc(LM_HDR_LEN);
	if (!hdr)
		return -ENOMEM;
	ret = lm_get_ctrl_state(lm, pf, uuid_idx, 0, hdr, LM_HDR_LEN, csup);
	if (!ret) {
		*total = lm_hdr_total(hdr, &why);
		if (!*total) {
			lm_set_error(lm, "controller announced a bad state header: %s", why);
			ret = -EIO;
		}
	}
	kfree(hdr);
	return ret;
}

/* STOP -> STOP_COPY: the state of the suspended controller, in pieces. */
static struct file *lm_save_start(struct lm_device *lm)
{
	struct lm_state_info info;
	struct lm_formats fmt;
	struct lm_save *s = NULL;
	struct file *filp;
	struct lm_pf pf;
	size_t total, off;
	unsigned int piece, pieces = 0;
	const char *why;
	u64 t0 = ktime_get_ns();
	u8 *buf = NULL;
	bool csup = false;
	int ret;

	strscpy(lm->last_op, "save", sizeof(lm->last_op));
	ret = lm_pf_begin(lm, &pf);
	if (ret)
		return ERR_PTR(ret);
	ret = lm_formats(lm, &pf, &fmt);
	if (ret)
		goto out;
	ret = lm_query_size(lm, &pf, fmt.uuid_idx, &total, &csup);
	if (ret)
		goto out;
	ret = -ENOMEM;
	buf = lm_dma_alloc(total);
	if (!buf)
		goto out;
	ret = lm_get_ctrl_state(lm, &pf, fmt.uuid_idx, 0, buf, LM_HDR_LEN, NULL);
	if (ret)
		goto out;
	pieces = 1;
	if (lm_hdr_total(buf, &why) != total) {
		lm_set_error(lm, "the state's size changed between two reads");
		ret = -EIO;
		goto out;
	}
	piece = lm_chunk(&pf);
	for (off = LM_HDR_LEN; off < total; off += piece, pieces++) {
		unsigned int n = min_t(size_t, piece, total - off);

		ret = lm_get_ctrl_state(lm, &pf, fmt.uuid_idx, off, buf + off, n, NULL);
		if (ret)
			goto out;
	}
	why = lm_check_state(buf, total, &fmt, &info);
	if (why) {
		lm_set_error(lm, "the controller's own state fails the check: %s", why);
		ret = -EIO;
		goto out;
	}

	s = kzalloc(sizeof(*s), GFP_KERNEL_ACCOUNT);
	if (!s) {
		ret = -ENOMEM;
		goto out;
	}
	nvfm_mig_file_init(&s->f, &lm_save_fops);
	s->buf = buf;
	s->len = total;
	filp = nvfm_mig_file_open("[nvfm_nvme_lm_save]", &s->f, O_RDONLY);
	if (IS_ERR(filp)) {
		ret = PTR_ERR(filp);
		mutex_destroy(&s->f.lock);
		kfree(s);
		goto out;
	}
	buf = NULL;
	lm->save_file = filp;
	lm->save = s;
	lm->state_size = total;
	lm->niosq = info.niosq;
	lm->niocq = info.niocq;
	lm->pieces = pieces;
	lm->save_ns = ktime_get_ns() - t0;
	lm->saves++;
	lm_clear_error(lm);
	pci_info(lm->m.core.pdev, "saved CNTLID %d: %zu bytes, %u I/O SQ, %u I/O CQ, %u pieces, %llu us\n",
		 lm->cntlid, total, info.niosq, info.niocq, pieces, lm_us(lm->save_ns));
	ret = 0;
out:
	lm_pf_put(&pf);
	kfree(buf);
	return ret ? ERR_PTR(ret) : filp;
}

static void lm_save_drop(struct lm_device *lm)
{
	struct lm_save *s = lm->save;

	if (!lm->save_file)
		return;
	lm->save = NULL;
	nvfm_mig_file_drop(&lm->save_file, &s->f);
}

/* ---- resuming: the data_fd of RESUMING ---- */

static int lm_resume_fail(struct lm_resume *r, const char *why)
{
	r->error = -EINVAL;
	strscpy(r->why, why, sizeof(r->why));
	if (r->lm) {
		r->lm->refusals++;
		lm_set_error(r->lm, "refusing the incoming state: %s", why);
	}
	return -EINVAL;
}

/* The state is complete: tamper (testing), then the whole check. */
static int lm_resume_complete(struct lm_resume *r)
{
	struct lm_state_info info;
	const char *why;

	if (READ_ONCE(tamper_version))
		lm_tamper(r->buf, r->total);
	why = lm_check_state(r->buf, r->total, &r->fmt, &info);
	return why ? lm_resume_fail(r, why) : 0;
}

static ssize_t lm_resume_write(struct nvfm_mig_file *f, const char __user *buf, size_t len)
{
	struct lm_resume *r = container_of(f, struct lm_resume, f);
	size_t done = 0, n;
	const char *why = NULL;
	ssize_t ret;

	if (r->error)
		return r->error;
	while (done < len) {
		if (r->got < LM_HDR_LEN) {
			n = min(len - done, LM_HDR_LEN - r->got);
			if (copy_from_user(r->hdr + r->got, buf + done, n)) {
				ret = -EFAULT;
				goto out;
			}
			r->got += n;
			done += n;
			if (r->got < LM_HDR_LEN)
				continue;
			r->total = lm_hdr_total(r->hdr, &why);
			if (!r->total) {
				ret = lm_resume_fail(r, why);
				goto out;
			}
			r->buf = lm_dma_alloc(r->total);
			if (!r->buf) {
				r->error = -ENOMEM;
				ret = -ENOMEM;
				goto out;
			}
			memcpy(r->buf, r->hdr, LM_HDR_LEN);
		} else if (r->got < r->total) {
			n = min(len - done, r->total - r->got);
			if (copy_from_user(r->buf + r->got, buf + done, n)) {
				ret = -EFAULT;
				goto out;
			}
			r->got += n;
			done += n;
		} else {
			ret = lm_resume_fail(r, "data past the end of the state");
			goto out;
		}
		if (r->total && r->got == r->total) {
			ret = lm_resume_complete(r);
			if (ret)
				goto out;
		}
	}
	ret = done;
out:
	return ret;
}

static void lm_resume_free(struct nvfm_mig_file *f)
{
	struct lm_resume *r = container_of(f, struct lm_resume, f);

	kfree(r->buf);
	kfree(r);
}

static const struct nvfm_mig_file_ops lm_resume_fops = {
	.write = lm_resume_write,
	.free = lm_resume_free,
};

/* STOP -> RESUMING: suspend the fresh controller, learn what it takes. */
static struct file *lm_resume_start(struct lm_device *lm)
{
	struct lm_resume *r;
	struct file *filp;
	struct lm_pf pf;
	u64 t0 = ktime_get_ns();
	int ret;

	strscpy(lm->last_op, "resume-start", sizeof(lm->last_op));
	r = kzalloc(sizeof(*r), GFP_KERNEL_ACCOUNT);
	if (!r)
		return ERR_PTR(-ENOMEM);
	nvfm_mig_file_init(&r->f, &lm_resume_fops);
	ret = lm_pf_begin(lm, &pf);
	if (ret)
		goto fail;
	ret = lm_mig_send(lm, &pf, LM_SEL_SUSPEND);
	if (ret) {
		lm_pf_put(&pf);
		goto fail;
	}
	lm->suspended = true;
	lm->suspend_ns = ktime_get_ns() - t0;
	ret = lm_formats(lm, &pf, &r->fmt);
	lm_pf_put(&pf);
	if (ret)
		goto fail;
	r->lm = lm;
	filp = nvfm_mig_file_open("[nvfm_nvme_lm_resume]", &r->f, O_WRONLY);
	if (IS_ERR(filp)) {
		ret = PTR_ERR(filp);
		goto fail;
	}
	lm->resume_file = filp;
	lm->resume = r;
	return filp;
fail:
	mutex_destroy(&r->f.lock);
	kfree(r);
	return ERR_PTR(ret);
}

static void lm_resume_drop(struct lm_device *lm)
{
	struct lm_resume *r = lm->resume;

	if (!lm->resume_file)
		return;
	mutex_lock(&r->f.lock);
	r->lm = NULL;
	mutex_unlock(&r->f.lock);
	lm->resume = NULL;
	nvfm_mig_file_drop(&lm->resume_file, &r->f);
}

/* RESUMING -> STOP: check again, then Set Controller State in pieces. */
static int lm_resume_commit(struct lm_device *lm)
{
	struct lm_resume *r = lm->resume;
	struct lm_state_info info;
	unsigned int piece, pieces = 0;
	const char *why = NULL;
	struct lm_pf pf;
	u64 t0 = ktime_get_ns();
	size_t off;
	int ret;

	strscpy(lm->last_op, "restore", sizeof(lm->last_op));
	mutex_lock(&r->f.lock);
	if (r->error)
		why = r->why;
	else if (!r->total || r->got < r->total)
		why = "state truncated";
	else
		why = lm_check_state(r->buf, r->total, &r->fmt, &info);
	if (why) {
		if (!r->error)
			lm_resume_fail(r, why);
		else
			lm_set_error(lm, "refusing the incoming state: %s", why);
		mutex_unlock(&r->f.lock);
		return -EINVAL;
	}
	ret = lm_pf_begin(lm, &pf);
	if (ret)
		goto out;
	piece = lm_chunk(&pf);
	for (off = 0; off < r->total; off += piece) {
		unsigned int n = min_t(size_t, piece, r->total - off);
		u8 seq;

		if (off == 0 && n == r->total)
			seq = LM_SEQ_ENTIRE;
		else if (off == 0)
			seq = LM_SEQ_FIRST;
		else if (off + n == r->total)
			seq = LM_SEQ_LAST;
		else
			seq = LM_SEQ_MIDDLE;
		ret = lm_set_state_piece(lm, &pf, info.csvi, r->fmt.uuid_idx, seq, off,
					 r->buf + off, n);
		pieces++;
		if (ret > 0 && (ret & 0x7ff) == LM_STATUS_INVALID_FIELD) {
			/* refused: the controller stays as it was */
			lm->refusals++;
			lm_set_error(lm, "the controller refused the state (Set Controller State piece %u at %zu: NVMe status 0x%04x)",
				     pieces, off, ret);
			ret = -EINVAL;
			break;
		}
		if (ret) {
			struct nvme_command c = { .common.opcode = LM_OPC_MIG_SEND,
						  .common.cdw10 = cpu_to_le32(LM_SEL_SET_STATE) };

			ret = lm_cmd_failed(lm, &c, ret);
			break;
		}
	}
	lm_pf_put(&pf);
	if (!ret) {
		lm->state_size = r->total;
		lm->niosq = info.niosq;
		lm->niocq = info.niocq;
		lm->pieces = pieces;
		lm->restore_ns = ktime_get_ns() - t0;
		lm->restores++;
		lm_clear_error(lm);
		pci_info(lm->m.core.pdev, "restored CNTLID %d: %zu bytes, version 0x%04x, %u I/O SQ, %u I/O CQ, %u pieces, %llu us\n",
			 lm->cntlid, r->total, info.ncs_ver, info.niosq, info.niocq, pieces,
			 lm_us(lm->restore_ns));
	}
out:
	mutex_unlock(&r->f.lock);
	return ret;
}

/* ---- suspend / resume ---- */

/* Migration Send Suspend (@suspend) or Resume of this VF's controller. */
static int lm_suspend_resume(struct lm_device *lm, bool suspend)
{
	struct lm_pf pf;
	u64 t0 = ktime_get_ns();
	int ret;

	strscpy(lm->last_op, suspend ? "suspend" : "resume", sizeof(lm->last_op));
	ret = lm_pf_begin(lm, &pf);
	if (ret)
		return ret;
	ret = lm_mig_send(lm, &pf, suspend ? LM_SEL_SUSPEND : LM_SEL_RESUME);
	lm_pf_put(&pf);
	if (ret)
		return ret;
	lm->suspended = suspend;
	*(suspend ? &lm->suspend_ns : &lm->resume_ns) = ktime_get_ns() - t0;
	return 0;
}

static int lm_suspend(struct lm_device *lm)
{
	return lm_suspend_resume(lm, true);
}

static int lm_resume(struct lm_device *lm)
{
	return lm_suspend_resume(lm, false);
}

/* ---- the state machine ---- */

static void lm_drop_files(struct lm_device *lm)
{
	lm_save_drop(lm);
	lm_resume_drop(lm);
}

/*
 * After a reset or on open: RUNNING, no data_fds, and a controller this
 * driver left suspended is resumed (best effort: a reset may have done it).
 */
static void lm_back_to_running(struct nvfm_mig_dev *m)
{
	struct lm_device *lm = lm_of(m);

	lm->m.mig_state = VFIO_DEVICE_STATE_RUNNING;
	lm_drop_files(lm);
	if (lm->suspended && lm_resume(lm))
		pci_warn(lm->m.core.pdev, "could not resume CNTLID %d after a reset\n",
			 lm->cntlid);
	lm->suspended = false;
}

/* One arc; returns a new data_fd's file, NULL, or ERR_PTR. */
static struct file *lm_arc_step(struct lm_device *lm, enum vfio_device_mig_state next)
{
	enum vfio_device_mig_state cur = lm->m.mig_state;
	int ret;

	if (nvfm_mig_arc(cur, next, VFIO_DEVICE_STATE_RUNNING, VFIO_DEVICE_STATE_RUNNING_P2P) ||
	    nvfm_mig_arc(cur, next, VFIO_DEVICE_STATE_RUNNING, VFIO_DEVICE_STATE_STOP)) {
		ret = lm_suspend(lm);
		return ret ? ERR_PTR(ret) : NULL;
	}
	if (nvfm_mig_arc(cur, next, VFIO_DEVICE_STATE_RUNNING_P2P, VFIO_DEVICE_STATE_RUNNING) ||
	    nvfm_mig_arc(cur, next, VFIO_DEVICE_STATE_STOP, VFIO_DEVICE_STATE_RUNNING)) {
		ret = lm_resume(lm);
		return ret ? ERR_PTR(ret) : NULL;
	}
	if (nvfm_mig_arc(cur, next, VFIO_DEVICE_STATE_RUNNING_P2P, VFIO_DEVICE_STATE_STOP) ||
	    nvfm_mig_arc(cur, next, VFIO_DEVICE_STATE_STOP, VFIO_DEVICE_STATE_RUNNING_P2P))
		return NULL;	/* suspended either way */
	if (nvfm_mig_arc(cur, next, VFIO_DEVICE_STATE_STOP, VFIO_DEVICE_STATE_STOP_COPY))
		return lm_save_start(lm);
	if (nvfm_mig_arc(cur, next, VFIO_DEVICE_STATE_STOP_COPY, VFIO_DEVICE_STATE_STOP)) {
		lm_save_drop(lm);
		return NULL;
	}
	if (nvfm_mig_arc(cur, next, VFIO_DEVICE_STATE_STOP, VFIO_DEVICE_STATE_RESUMING))
		return lm_resume_start(lm);
	if (nvfm_mig_arc(cur, next, VFIO_DEVICE_STATE_RESUMING, VFIO_DEVICE_STATE_STOP)) {
		ret = lm_resume_commit(lm);
		if (ret)
			return ERR_PTR(ret);
		lm_resume_drop(lm);
		return NULL;
	}
	return ERR_PTR(-EINVAL);
}

/* A failed NVMe command (lm->cmd_failed) leaves the state unknown: ERROR. */
static struct file *lm_step(struct nvfm_mig_dev *m, enum vfio_device_mig_state next)
{
	struct lm_device *lm = lm_of(m);
	struct file *res;

	lm->cmd_failed = false;
	res = lm_arc_step(lm, next);
	if (IS_ERR(res) && lm->cmd_failed) {
		lm_drop_files(lm);
		m->mig_state = VFIO_DEVICE_STATE_ERROR;
	}
	return res;
}

/* What STOP_COPY would move: the rest of a save, else what the PF announces. */
static int lm_get_data_size(struct vfio_device *vd, unsigned long *len)
{
	struct lm_device *lm = lm_of(nvfm_mig_of(vd));
	struct lm_formats fmt;
	struct lm_pf pf;
	size_t total = 0;
	int ret = 0;

	nvfm_mig_lock(&lm->m);
	if (lm->save) {
		mutex_lock(&lm->save->f.lock);
		*len = lm->save->len - lm->save->pos;
		mutex_unlock(&lm->save->f.lock);
		goto out;
	}
	ret = lm_pf_begin(lm, &pf);
	if (ret)
		goto out;
	ret = lm_formats(lm, &pf, &fmt);
	if (!ret)
		ret = lm_query_size(lm, &pf, fmt.uuid_idx, &total, NULL);
	lm_pf_put(&pf);
	if (!ret)
		*len = total;
out:
	nvfm_mig_unlock(&lm->m);
	return ret;
}

static const struct vfio_migration_ops lm_mig_ops = {
	.migration_set_state = nvfm_mig_set_state,
	.migration_get_state = nvfm_mig_get_state,
	.migration_get_data_size = lm_get_data_size,
};

/* ---- vfio_device ops ---- */

static void lm_close(struct nvfm_mig_dev *m)
{
	lm_drop_files(lm_of(m));
}

static const struct nvfm_mig_ops lm_ops_mig = {
	.step = lm_step,
	.back_to_running = lm_back_to_running,
	.close = lm_close,
};

static int lm_init_dev(struct vfio_device *vd)
{
	struct lm_device *lm = lm_of(nvfm_mig_of(vd));
	int ret;

	ret = nvfm_mig_init_dev(vd, &lm_ops_mig, &lm_mig_ops,
				VFIO_MIGRATION_STOP_COPY | VFIO_MIGRATION_P2P);
	if (ret)
		return ret;
	spin_lock_init(&lm->stat_lock);
	lm->vf_id = pci_iov_vf_id(to_pci_dev(vd->dev));
	lm->cntlid = -1;
	return 0;
}

static const struct vfio_device_ops lm_ops =
	NVFM_MIG_VFIO_DEVICE_OPS(LM_NAME, lm_init_dev, nvfm_mig_release_dev);

/* ---- sysfs: /sys/bus/pci/devices/ADDR/nvfm_lm/ ---- */

static struct lm_device *lm_from_dev(struct device *dev)
{
	return lm_of(nvfm_mig_from_dev(dev));
}

/* Resolves the CNTLID (and HMLMS) on first use if probe could not. */
static void lm_sysfs_resolve(struct lm_device *lm)
{
	struct lm_pf pf;

	if (lm->cntlid < 0 && !lm_pf_begin(lm, &pf))
		lm_pf_put(&pf);
}

#define LM_ATTR(_name, _fmt, _expr, _resolve)					\
static ssize_t _name##_show(struct device *dev, struct device_attribute *attr,	\
			    char *buf)						\
{										\
	struct lm_device *lm = lm_from_dev(dev);				\
	ssize_t n;								\
										\
	nvfm_mig_lock(&lm->m);						\
	if (_resolve)								\
		lm_sysfs_resolve(lm);						\
	n = sysfs_emit(buf, _fmt "\n", _expr);					\
	nvfm_mig_unlock(&lm->m);							\
	return n;								\
}										\
static DEVICE_ATTR_RO(_name)

LM_ATTR(cntlid, "%d", lm->cntlid, true);
LM_ATTR(hmlms, "%d", lm->hmlms ? 1 : 0, true);
LM_ATTR(vf_id, "%d", lm->vf_id, false);
LM_ATTR(mig_state, "%s", nvfm_mig_state_name(lm->m.mig_state), false);
LM_ATTR(state_size, "%zu", lm->state_size, false);
LM_ATTR(niosq, "%u", lm->niosq, false);
LM_ATTR(niocq, "%u", lm->niocq, false);
LM_ATTR(pieces, "%u", lm->pieces, false);
LM_ATTR(last_op, "%s", lm->last_op[0] ? lm->last_op : "none", false);
LM_ATTR(last_status, "0x%04x", lm->last_status > 0 ? lm->last_status : 0, false);
LM_ATTR(saves, "%u", lm->saves, false);
LM_ATTR(restores, "%u", lm->restores, false);
LM_ATTR(refusals, "%u", lm->refusals, false);
LM_ATTR(suspend_us, "%llu", lm_us(lm->suspend_ns), false);
LM_ATTR(save_us, "%llu", lm_us(lm->save_ns), false);
LM_ATTR(restore_us, "%llu", lm_us(lm->restore_ns), false);
LM_ATTR(resume_us, "%llu", lm_us(lm->resume_ns), false);

static ssize_t pf_show(struct device *dev, struct device_attribute *attr, char *buf)
{
	struct lm_device *lm = lm_from_dev(dev);
	ssize_t n;

	nvfm_mig_lock(&lm->m);
	lm_sysfs_resolve(lm);
	n = sysfs_emit(buf, "%s %s\n", pci_name(pci_physfn(lm->m.core.pdev)),
		       lm->pf_ctrl[0] ? lm->pf_ctrl : "-");
	nvfm_mig_unlock(&lm->m);
	return n;
}
static DEVICE_ATTR_RO(pf);

static ssize_t last_error_show(struct device *dev, struct device_attribute *attr, char *buf)
{
	struct lm_device *lm = lm_from_dev(dev);
	ssize_t n;

	spin_lock(&lm->stat_lock);
	n = sysfs_emit(buf, "%s\n", lm->last_error[0] ? lm->last_error : "none");
	spin_unlock(&lm->stat_lock);
	return n;
}
static DEVICE_ATTR_RO(last_error);

/* This PF's Identify CNS 20h: the versions, and our vendor format's CSUUIDI. */
static ssize_t versions_show(struct device *dev, struct device_attribute *attr, char *buf)
{
	struct lm_device *lm = lm_from_dev(dev);
	struct lm_formats fmt;
	struct lm_pf pf;
	unsigned int i;
	ssize_t n = 0;
	int ret;

	nvfm_mig_lock(&lm->m);
	ret = lm_pf_get(lm, &pf);
	if (!ret) {
		ret = lm_formats(lm, &pf, &fmt);
		lm_pf_put(&pf);
	}
	if (ret) {
		n = sysfs_emit(buf, "error %d\n", ret);
	} else {
		for (i = 0; i < fmt.nv; i++)
			n += sysfs_emit_at(buf, n, "%s0x%04x", i ? " " : "", fmt.ver[i]);
		n += sysfs_emit_at(buf, n, " csuuidi=%u\n", fmt.uuid_idx);
	}
	nvfm_mig_unlock(&lm->m);
	return n;
}
static DEVICE_ATTR_RO(versions);

static struct attribute *lm_attrs[] = {
	&dev_attr_pf.attr,
	&dev_attr_cntlid.attr,
	&dev_attr_vf_id.attr,
	&dev_attr_hmlms.attr,
	&dev_attr_versions.attr,
	&dev_attr_mig_state.attr,
	&dev_attr_state_size.attr,
	&dev_attr_niosq.attr,
	&dev_attr_niocq.attr,
	&dev_attr_pieces.attr,
	&dev_attr_last_op.attr,
	&dev_attr_last_status.attr,
	&dev_attr_last_error.attr,
	&dev_attr_saves.attr,
	&dev_attr_restores.attr,
	&dev_attr_refusals.attr,
	&dev_attr_suspend_us.attr,
	&dev_attr_save_us.attr,
	&dev_attr_restore_us.attr,
	&dev_attr_resume_us.attr,
	NULL,
};

static const struct attribute_group lm_group = {
	.name = "nvfm_lm",
	.attrs = lm_attrs,
};

static const struct attribute_group *lm_groups[] = {
	&lm_group,
	NULL,
};

/* ---- PCI driver ---- */

static int lm_probe(struct pci_dev *pdev, const struct pci_device_id *id)
{
	struct lm_device *lm;
	struct lm_pf pf;

	if (!nvfm_mig_is_vf(pdev, LM_NAME))
		return -ENODEV;
	lm = vfio_alloc_device(lm_device, m.core.vdev, &pdev->dev, &lm_ops);
	if (IS_ERR(lm))
		return PTR_ERR(lm);
	/* Not fatal: the PF may come up later; sysfs and every arc retry. */
	if (!lm_pf_begin(lm, &pf)) {
		lm_pf_put(&pf);
		pci_info(pdev, "VF %d of %s (%s) is CNTLID %d; HMLMS %s\n", lm->vf_id,
			 pci_name(pci_physfn(pdev)), lm->pf_ctrl, lm->cntlid,
			 lm->hmlms ? "supported" : "not offered");
	}
	return nvfm_mig_register(pdev, &lm->m);
}

static struct pci_driver lm_driver = NVFM_MIG_PCI_DRIVER(LM_NAME, lm_probe, lm_groups);

static int __init lm_init(void)
{
	BUILD_BUG_ON(sizeof(struct lm_state_hdr) != LM_HDR_LEN);
	BUILD_BUG_ON(sizeof(struct lm_sq_rec) != LM_SQ_REC_LEN);
	BUILD_BUG_ON(sizeof(struct lm_cq_rec) != LM_CQ_REC_LEN);
	if (lm_crc32c((const u8 *)"123456789", 9) != 0xe3069283) {
		pr_err(LM_NAME ": CRC-32C self-test failed\n");
		return -EINVAL;
	}
	return pci_register_driver(&lm_driver);
}

static void __exit lm_exit(void)
{
	pci_unregister_driver(&lm_driver);
}

module_init(lm_init);
module_exit(lm_exit);

MODULE_LICENSE("GPL");
MODULE_IMPORT_NS(NVME_TARGET_PASSTHRU);
MODULE_DESCRIPTION("VFIO variant driver for QEMU NVMe VFs using NVMe 2.1 host-managed live migration through the PF");
