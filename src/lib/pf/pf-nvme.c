/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The kernel PF's admin side: Identify and Virtualization Management
 * through libnvme on the PF's controller device, and the one place where
 * an NVMe result (a status > 0, or -1 with errno) becomes an NVFM_ERROR.
 */
#define G_LOG_DOMAIN "nvfm-pf-nvme"

#include "config.h"

#include <endian.h>
#include <fcntl.h>
#include <stdarg.h>
#include <string.h>

#ifdef HAVE_LIBNVME
#include <libnvme.h>
#endif

#include "pf-private.h"

/* The ioctl hands back the completion's status field without the phase
 * bit: SC in bits 0-7, SCT in 8-10, CRD 11-12, More 13, DNR 14. */
#define NVME_STATUS_CODE_MASK 0x07ff

/* libnvme's names ("Name: what it means"), cut to the name; NULL for a
 * status it does not know, and always without libnvme */
char *nvfm_nvme_status_name(guint status)
{
#ifdef HAVE_LIBNVME
	const char *text = nvme_status_to_string((int)(status & NVME_STATUS_CODE_MASK), false);
	const char *colon;

	if (!text || !*text || g_str_equal(text, "unrecognized"))
		return NULL;
	colon = strstr(text, ": ");
	return colon ? g_strndup(text, (gsize)(colon - text)) : g_strdup(text);
#else
	return NULL;
#endif
}

gboolean nvfm_nvme_set_error(int ret, int errsv, GError **error, const char *fmt, ...)
{
	g_autofree char *what = NULL;
	va_list ap;

	if (ret == 0)
		return TRUE;
	va_start(ap, fmt);
	what = g_strdup_vprintf(fmt, ap);
	va_end(ap);
	if (ret > 0) {
		g_autofree char *name = nvfm_nvme_status_name((guint)ret);

		/* the raw value is what a datasheet or nvme-cli shows */
		if (name)
			g_set_error(error, NVFM_ERROR, NVFM_ERROR_NVME, "%s: NVMe status 0x%04x (%s)",
				    what, (guint)ret, name);
		else
			g_set_error(error, NVFM_ERROR, NVFM_ERROR_NVME,
				    "%s: NVMe status 0x%04x (status code type %u, code 0x%02x)", what,
				    (guint)ret, ((guint)ret >> 8) & 0x7, (guint)ret & 0xff);
		return FALSE;
	}
	if (errsv <= 0)
		errsv = EIO;
	g_set_error(error, NVFM_ERROR, nvfm_error_code_from_errno(errsv), "%s: %s", what,
		    g_strerror(errsv));
	return FALSE;
}

#ifdef HAVE_LIBNVME

gboolean nvfm_nvme_pf_open(NvfmPf *pf, const char *ctrl_dev, GError **error)
{
	/* admin passthrough needs CAP_SYS_ADMIN, not write access */
	int fd = open(ctrl_dev, O_RDONLY | O_CLOEXEC);

	if (fd < 0) {
		int err = errno;

		nvfm_set_error_errno(error, -err, "cannot open %s, the controller of PF %s",
				     ctrl_dev, pf->address);
		return FALSE;
	}
	pf->admin_fd = fd;
	return TRUE;
}

void nvfm_nvme_pf_close(NvfmPf *pf)
{
	nvfm_close_fd(&pf->admin_fd);
}

gboolean nvfm_nvme_identify_primary(NvfmPf *pf, NvfmPrimaryCaps *caps, GError **error)
{
	g_autofree struct nvme_primary_ctrl_cap *cap = g_new0(struct nvme_primary_ctrl_cap, 1);
	int r;

	errno = 0;
	r = nvme_identify_primary_ctrl(pf->admin_fd, 0, cap);
	if (!nvfm_nvme_set_error(r, errno, error,
				 "Identify Primary Controller Capabilities on %s", pf->address))
		return FALSE;
	caps->cntlid = le16toh(cap->cntlid);
	caps->crt = cap->crt;
	caps->vqfrt = le32toh(cap->vqfrt);
	caps->vqrfa = le32toh(cap->vqrfa);
	caps->vqrfap = le16toh(cap->vqrfap);
	caps->vqprt = le16toh(cap->vqprt);
	caps->vqfrsm = le16toh(cap->vqfrsm);
	caps->vqgran = le16toh(cap->vqgran);
	caps->vifrt = le32toh(cap->vifrt);
	caps->virfa = le32toh(cap->virfa);
	caps->virfap = le16toh(cap->virfap);
	caps->viprt = le16toh(cap->viprt);
	caps->vifrsm = le16toh(cap->vifrsm);
	caps->vigran = le16toh(cap->vigran);
	return TRUE;
}

gboolean nvfm_nvme_identify_oacs(NvfmPf *pf, guint16 *oacs, GError **error)
{
	g_autofree struct nvme_id_ctrl *id = g_new0(struct nvme_id_ctrl, 1);
	int r;

	errno = 0;
	r = nvme_identify_ctrl(pf->admin_fd, id);
	if (!nvfm_nvme_set_error(r, errno, error, "Identify Controller on %s", pf->address))
		return FALSE;
	*oacs = le16toh(id->oacs);
	return TRUE;
}

gboolean nvfm_nvme_identify_lm_formats(NvfmPf *pf, guint8 *buf, GError **error)
{
	/* libnvme 1.3 has no name for CNS 20h (NVMe 2.1): the generic call
	 * with the number; CNTID is ignored, the data one 4 KiB page */
	struct nvme_identify_args args = {
		.result = NULL,
		.data = buf,
		.args_size = sizeof(args),
		.fd = pf->admin_fd,
		.timeout = NVME_DEFAULT_IOCTL_TIMEOUT,
		.cns = (enum nvme_identify_cns)NVFM_NVME_CNS_LM_FORMATS,
		.csi = NVME_CSI_NVM,
		.nsid = NVME_NSID_NONE,
		.cntid = 0,
		.cns_specific_id = NVME_CNSSPECID_NONE,
		.uuidx = NVME_UUID_NONE,
	};
	int r;

	G_STATIC_ASSERT(NVFM_NVME_IDENTIFY_SIZE == NVME_IDENTIFY_DATA_SIZE);
	memset(buf, 0, NVFM_NVME_IDENTIFY_SIZE);
	errno = 0;
	r = nvme_identify(&args);
	return nvfm_nvme_set_error(r, errno, error,
				   "Identify Supported Controller State Formats (CNS 20h) on %s",
				   pf->address);
}

gboolean nvfm_nvme_list_secondary(NvfmPf *pf, GArray *out, GError **error)
{
	g_autofree struct nvme_secondary_ctrl_list *list =
		g_new0(struct nvme_secondary_ctrl_list, 1);
	guint start = 0;

	/* one page holds 127 entries; a PF with more VFs needs more pages,
	 * each starting at the identifier after the last one seen */
	for (int page = 0; page < 512; page++) {
		guint n;
		int r;

		memset(list, 0, sizeof(*list));
		errno = 0;
		r = nvme_identify_secondary_ctrl_list(pf->admin_fd, 0, (__u16)start, list);
		if (!nvfm_nvme_set_error(r, errno, error, "Identify Secondary Controller List on %s",
					 pf->address))
			return FALSE;
		n = MIN(list->num, G_N_ELEMENTS(list->sc_entry));
		for (guint i = 0; i < n; i++) {
			const struct nvme_secondary_ctrl *e = &list->sc_entry[i];
			NvfmSecCtrl sc = {
				.scid = le16toh(e->scid),
				.pcid = le16toh(e->pcid),
				.scs = e->scs,
				.vfn = le16toh(e->vfn),
				.nvq = le16toh(e->nvq),
				.nvi = le16toh(e->nvi),
			};

			g_array_append_val(out, sc);
		}
		if (n < G_N_ELEMENTS(list->sc_entry))
			return TRUE;
		start = (guint)le16toh(list->sc_entry[n - 1].scid) + 1;
		if (start > 0xffff)
			return TRUE;
	}
	return TRUE;
}

gboolean nvfm_nvme_virt_mgmt(NvfmPf *pf, guint act, guint rt, guint16 cntlid, guint16 nr,
			     GError **error)
{
	static const char *const acts[] = {
		[NVFM_VIRT_ACT_PRIMARY_FLEX] = "primary flexible allocation",
		[NVFM_VIRT_ACT_OFFLINE] = "offline",
		[NVFM_VIRT_ACT_ASSIGN] = "assign",
		[NVFM_VIRT_ACT_ONLINE] = "online",
	};
	__u32 result = 0;
	struct nvme_virtual_mgmt_args args = {
		.args_size = sizeof(args),
		.fd = pf->admin_fd,
		.result = &result,
		.timeout = 0,
		.act = (enum nvme_virt_mgmt_act)act,
		.rt = (enum nvme_virt_mgmt_rt)rt,
		.cntlid = cntlid,
		.nr = nr,
	};
	const char *name = act < G_N_ELEMENTS(acts) && acts[act] ? acts[act] : "action";
	int r;

	errno = 0;
	r = nvme_virtual_mgmt(&args);
	g_debug("%s: virt-mgmt act %u rt %u cntlid %u nr %u -> %d (result %u)", pf->address, act,
		rt, cntlid, nr, r, result);
	if (act == NVFM_VIRT_ACT_ASSIGN)
		return nvfm_nvme_set_error(r, errno, error,
					   "Virtualization Management (assign %u %s to secondary controller %u) on %s",
					   nr, rt == NVFM_VIRT_RT_VQ ? "VQ" : "VI", cntlid,
					   pf->address);
	return nvfm_nvme_set_error(r, errno, error,
				   "Virtualization Management (%s secondary controller %u) on %s",
				   name, cntlid, pf->address);
}

#else /* !HAVE_LIBNVME */

gboolean nvfm_nvme_pf_open(NvfmPf *pf, const char *ctrl_dev, GError **error)
{
	g_set_error(error, NVFM_ERROR, NVFM_ERROR_NOT_SUPPORTED,
		    "PF %s: built without libnvme, so PF admin commands are unavailable",
		    pf->address);
	return FALSE;
}

void nvfm_nvme_pf_close(NvfmPf *pf)
{
	nvfm_close_fd(&pf->admin_fd);
}

gboolean nvfm_nvme_identify_primary(NvfmPf *pf, NvfmPrimaryCaps *caps, GError **error)
{
	return nvfm_nvme_pf_open(pf, NULL, error);
}

gboolean nvfm_nvme_list_secondary(NvfmPf *pf, GArray *out, GError **error)
{
	return nvfm_nvme_pf_open(pf, NULL, error);
}

gboolean nvfm_nvme_identify_oacs(NvfmPf *pf, guint16 *oacs, GError **error)
{
	return nvfm_nvme_pf_open(pf, NULL, error);
}

gboolean nvfm_nvme_identify_lm_formats(NvfmPf *pf, guint8 *buf, GError **error)
{
	return nvfm_nvme_pf_open(pf, NULL, error);
}

gboolean nvfm_nvme_virt_mgmt(NvfmPf *pf, guint act, guint rt, guint16 cntlid, guint16 nr,
			     GError **error)
{
	return nvfm_nvme_pf_open(pf, NULL, error);
}

#endif /* HAVE_LIBNVME */
