/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Internals of PF provisioning: the PF ops table that a kernel PF
 * (libnvme + sysfs) and an emulated PF fill in, the NVMe facts the
 * generic logic in pf.c works on, and the one mapping of NVMe results.
 */
#pragma once

#include "util/util-private.h"

#pragma GCC visibility push(hidden)

/* Virtualization Management actions and resource types (NVMe 1.4+). */
enum {
	NVFM_VIRT_ACT_PRIMARY_FLEX = 1,
	NVFM_VIRT_ACT_OFFLINE = 7,
	NVFM_VIRT_ACT_ASSIGN = 8,
	NVFM_VIRT_ACT_ONLINE = 9,
};
enum {
	NVFM_VIRT_RT_VQ = 0,
	NVFM_VIRT_RT_VI = 1,
};

/* Status values (SCT << 8 | SC, plus DNR 0x4000) the logic and the
 * emulation share. */
#define NVFM_NVME_DNR 0x4000
#define NVFM_NVME_SC_INVALID_FIELD 0x0002
#define NVFM_NVME_SC_INVALID_CTRL_ID 0x011f
#define NVFM_NVME_SC_INVALID_SEC_STATE 0x0120
#define NVFM_NVME_SC_INVALID_NUM_RES 0x0121
#define NVFM_NVME_SC_INVALID_RES_ID 0x0122

/* Identify data is one 4 KiB page; OACS bit 11 is HMLMS (NVMe 2.1). */
#define NVFM_NVME_IDENTIFY_SIZE 4096
#define NVFM_NVME_OACS_HMLMS (1u << 11)
#define NVFM_NVME_CNS_LM_FORMATS 0x20

/* One entry of the Secondary Controller List. */
typedef struct {
	guint16 scid;
	guint16 pcid;
	guint8 scs;		/* bit 0: online */
	guint16 vfn;		/* 1-based VF number, 0 if none */
	guint16 nvq;
	guint16 nvi;
} NvfmSecCtrl;

/* Identify Primary Controller Capabilities, in host order. */
typedef struct {
	guint16 cntlid;
	guint8 crt;
	guint32 vqfrt, vqrfa;
	guint16 vqrfap, vqprt, vqfrsm, vqgran;
	guint32 vifrt, virfa;
	guint16 virfap, viprt, vifrsm, vigran;
} NvfmPrimaryCaps;

/* What the function side (SR-IOV, binding) reports about one VF. */
typedef struct {
	char *address;		/* real or predicted, NULL if unknown */
	NvfmAddress *vf;	/* the same as an address value */
	gboolean enabled;
	char *driver;
	char *driver_override;
	char *iommu_group;
	char *vfio_device;
	NvfmAddress *device;	/* engine address, NULL unless VFIO-bound */
	char *in_use_by;
} NvfmVfFunc;

void nvfm_vf_func_clear(NvfmVfFunc *f);
G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC(NvfmVfFunc, nvfm_vf_func_clear)

typedef struct _NvfmPfOps NvfmPfOps;

struct _NvfmPf {
	const NvfmPfOps *ops;
	void *priv;
	char *address;
	int admin_fd;		/* kernel PFs: the controller's /dev/nvmeN */
	int lock_fd;
	guint lock_depth;
};

/*
 * One kind of PF. The NVMe admin calls report failures with GError
 * (through nvfm_nvme_set_error() for device statuses); the function side
 * does SR-IOV and driver binding.
 */
struct _NvfmPfOps {
	const char *kind;
	/* Identify CNS 14h */
	gboolean (*identify_primary)(NvfmPf *pf, NvfmPrimaryCaps *caps, GError **error);
	/* Identify CNS 15h, every entry */
	gboolean (*list_secondary)(NvfmPf *pf, GArray *out, GError **error);
	/* Identify Controller: OACS (bit 11: host-managed live migration) */
	gboolean (*identify_oacs)(NvfmPf *pf, guint16 *oacs, GError **error);
	/* Identify CNS 20h (Supported Controller State Formats) into @buf,
	 * NVFM_NVME_IDENTIFY_SIZE bytes */
	gboolean (*identify_lm_formats)(NvfmPf *pf, guint8 *buf, GError **error);
	/* Virtualization Management */
	gboolean (*virt_mgmt)(NvfmPf *pf, guint act, guint rt, guint16 cntlid, guint16 nr,
			      GError **error);
	/* sriov_totalvfs, sriov_numvfs, sriov_drivers_autoprobe */
	gboolean (*sriov_get)(NvfmPf *pf, guint *total, guint *num, gboolean *autoprobe,
			      GError **error);
	gboolean (*set_autoprobe)(NvfmPf *pf, gboolean on, GError **error);
	gboolean (*set_numvfs)(NvfmPf *pf, guint n, GError **error);
	/* the function side of VF @index; fills @out */
	gboolean (*vf_func)(NvfmPf *pf, guint index, NvfmVfFunc *out, GError **error);
	/* unbind whatever driver is bound and clear driver_override */
	gboolean (*vf_unbind)(NvfmPf *pf, guint index, GError **error);
	/* driver_override + probe; fails unless @driver ends up bound */
	gboolean (*vf_bind)(NvfmPf *pf, guint index, const char *driver, GError **error);
	/* the driver a VF binds by default (newly allocated) */
	char *(*vf_default_driver)(NvfmPf *pf, guint index, GError **error);
	/* where the PF's lock file lives (newly allocated) */
	char *(*lock_path)(NvfmPf *pf);
	/* the NUMA node the PF (and so its VFs) sits on, -1: unknown */
	int (*numa_node)(NvfmPf *pf);
	void (*close)(NvfmPf *pf);
};

/*
 * pf.c: Identify CNS 20h (@len bytes: byte 0 NV, byte 1 NUUID, NV
 * little-endian u16 versions, NUUID 16-byte UUIDs) into @caps' versions
 * and uuids. FALSE (NVFM_ERROR_PROTOCOL) when the counts run past @len;
 * @caps is then unchanged.
 */
gboolean nvfm_lm_parse_formats(const guint8 *buf, gsize len, NvfmLmCaps *caps, GError **error);
/* 16 bytes <-> "xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx" (lower case) */
void nvfm_lm_uuid_format(const guint8 *uuid, char out[37]);
gboolean nvfm_lm_uuid_parse(const char *text, guint8 out[16]);

/* pf-nvme.c: the kernel PF's admin side through libnvme */
gboolean nvfm_nvme_pf_open(NvfmPf *pf, const char *ctrl_dev, GError **error);
gboolean nvfm_nvme_identify_primary(NvfmPf *pf, NvfmPrimaryCaps *caps, GError **error);
gboolean nvfm_nvme_list_secondary(NvfmPf *pf, GArray *out, GError **error);
gboolean nvfm_nvme_virt_mgmt(NvfmPf *pf, guint act, guint rt, guint16 cntlid, guint16 nr,
			     GError **error);
gboolean nvfm_nvme_identify_oacs(NvfmPf *pf, guint16 *oacs, GError **error);
gboolean nvfm_nvme_identify_lm_formats(NvfmPf *pf, guint8 *buf, GError **error);
void nvfm_nvme_pf_close(NvfmPf *pf);

/*
 * pf-nvme.c: the one place an NVMe result becomes an error. @ret is what
 * libnvme returned: 0 (success: returns TRUE), an NVMe status > 0
 * (NVFM_ERROR_NVME, status and its name in the message) or -1 with
 * @errsv the errno (the matching errno code).
 */
gboolean nvfm_nvme_set_error(int ret, int errsv, GError **error, const char *fmt, ...)
	G_GNUC_PRINTF(4, 5);
/* libnvme's name of a status, "Invalid Secondary Controller State" for
 * 0x4120 (g_free() it); NULL if libnvme does not know it, or is absent. */
char *nvfm_nvme_status_name(guint status);

/* emu-pf.c */
gboolean nvfm_emu_pf_open(NvfmPf *pf, const char *name, GError **error);
/* "emu:PF-vfN" -> PF name and index; FALSE if @name has another shape */
gboolean nvfm_emu_pf_split_vf(const char *name, char **pf_name, guint *index);

/* pf-variant.c: the VFIO variant module (libvirt's choice) */
/* the running kernel's module directory, under NVFM_SYSFS_ROOT */
char *nvfm_vfio_variant_moddir(void);
/* The module whose "vfio_pci:" alias matches @modalias ("pci:v...") most
 * specifically (fewest '*', then the longest pattern), from depmod's index
 * in @moddir. *module is NULL when none matches, when different modules
 * match equally well, or for a modalias that is not PCI. -ENOENT: @moddir
 * has no modules.alias.bin. */
int nvfm_vfio_variant_module(const char *moddir, const char *modalias, char **module);

/* pf.c: the PF's lock file, held across a whole change (re-entrant) */
gboolean nvfm_pf_lock(NvfmPf *pf, int timeout_ms, GError **error);
void nvfm_pf_unlock(NvfmPf *pf);

/* pf.c: the kernel PF's function side uses sysfs.c */
extern const NvfmPfOps nvfm_kernel_pf_ops;
/* pf-kernel.c: opens the kernel PF at PCI address @addr ("dddd:bb:dd.f") */
gboolean nvfm_kernel_pf_open(NvfmPf *pf, const char *addr, GError **error);

#pragma GCC visibility pop
