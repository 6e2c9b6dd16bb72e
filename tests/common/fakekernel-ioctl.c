// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * The fake kernel's ioctl(2): the VFIO and iommufd uAPI on the fake nodes,
 * with the argument checks the kernel makes (argsz, flags, feature
 * GET/SET/PROBE rules), and NVMe admin commands on a fake controller node
 * checked against the ones a test declared (as libnvme's own ioctl mock
 * does). Everything else goes to the kernel. See fakekernel.h.
 */
#include <fcntl.h>
#include <stdarg.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <linux/nvme_ioctl.h>

#include "src/lib/util/util-private.h"
#include "src/lib/engine/vfio-compat.h"
#include "fakekernel.h"

/* ---- NVMe admin commands ---- */

typedef struct {
	guint8 opcode;
	guint32 cdw10, cdw11;
	guint8 *data;
	gsize len;
	int status;
	guint32 result;
} Expected;

static GQueue expected = G_QUEUE_INIT;
static guint unexpected;

void fk_expect_admin(guint8 opcode, guint32 cdw10, guint32 cdw11, const void *data, gsize len,
		     int status, guint32 result)
{
	Expected *e = g_new0(Expected, 1);

	e->opcode = opcode;
	e->cdw10 = cdw10;
	e->cdw11 = cdw11;
	e->data = len ? g_memdup2(data, len) : NULL;
	e->len = len;
	e->status = status;
	e->result = result;
	g_queue_push_tail(&expected, e);
}

void fk_assert_admin_consumed(void)
{
	Expected *e = g_queue_peek_head(&expected);

	if (e)
		g_error("admin command 0x%02x (cdw10 0x%x) was declared but never sent "
			"(%u left)", e->opcode, e->cdw10, g_queue_get_length(&expected));
	g_assert_cmpuint(unexpected, ==, 0);
}

guint fk_admin_unexpected(void)
{
	return unexpected;
}

static void expected_free(Expected *e)
{
	g_free(e->data);
	g_free(e);
}

/* Bit 0 of an admin opcode: the host writes data; bit 1: it reads data. */
static int nvme_ioctl(unsigned long req, void *arg)
{
	struct nvme_passthru_cmd *cmd = arg;
	g_autoptr(GString) why = NULL;
	Expected *e;
	int status;

	if (req != NVME_IOCTL_ADMIN_CMD && req != NVME_IOCTL_ADMIN64_CMD) {
		errno = ENOTTY;
		return -1;
	}
	e = g_queue_peek_head(&expected);
	if (!e || e->opcode != cmd->opcode || e->cdw10 != cmd->cdw10 ||
	    (e->cdw11 != G_MAXUINT32 && e->cdw11 != cmd->cdw11)) {
		g_printerr("fake kernel: unexpected admin command 0x%02x cdw10 0x%x cdw11 0x%x "
			   "(expected %s0x%02x cdw10 0x%x)\n", cmd->opcode, cmd->cdw10, cmd->cdw11,
			   e ? "" : "none; ", e ? e->opcode : 0, e ? e->cdw10 : 0);
		unexpected++;
		errno = EIO;
		return -1;
	}
	g_queue_pop_head(&expected);
	if ((cmd->opcode & 2) && cmd->data_len) {
		memset((void *)(uintptr_t)cmd->addr, 0, cmd->data_len);
		if (e->data)
			memcpy((void *)(uintptr_t)cmd->addr, e->data, MIN(e->len, cmd->data_len));
	}
	if ((cmd->opcode & 1) && e->len &&
	    (cmd->data_len < e->len || memcmp((void *)(uintptr_t)cmd->addr, e->data, e->len))) {
		g_printerr("fake kernel: admin command 0x%02x carried other data\n", cmd->opcode);
		unexpected++;
	}
	if (req == NVME_IOCTL_ADMIN64_CMD)
		((struct nvme_passthru_cmd64 *)arg)->result = e->result;
	else
		cmd->result = e->result;
	status = e->status;
	expected_free(e);
	return status;
}

/* ---- VFIO and iommufd ---- */

typedef enum {
	ROLE_NONE,
	ROLE_NVME,
	ROLE_CONTAINER,
	ROLE_GROUP,
	ROLE_CDEV,
	ROLE_IOMMUFD,
	ROLE_DEVICE,
	ROLE_DATA,
} Role;

FakeVfio fk_vfio;

void fk_vfio_reset(void)
{
	memset(&fk_vfio, 0, sizeof(fk_vfio));
	fk_vfio.mig_flags = VFIO_MIGRATION_STOP_COPY | VFIO_MIGRATION_P2P | VFIO_MIGRATION_PRE_COPY;
	fk_vfio.state = NVFM_MIG_STATE_RUNNING;
}

/*
 * The arcs the uAPI lists for a device with every optional state. A device
 * without P2P behaves as if RUNNING_P2P were RUNNING (and PRE_COPY_P2P
 * PRE_COPY), which turns RUNNING_P2P -> STOP into RUNNING -> STOP, and so
 * on; arcs touching PRE_COPY* go when PRE_COPY is not supported.
 */
static const guint8 full_arcs[][2] = {
	{ NVFM_MIG_STATE_RUNNING_P2P, NVFM_MIG_STATE_STOP },
	{ NVFM_MIG_STATE_STOP_COPY, NVFM_MIG_STATE_STOP },
	{ NVFM_MIG_STATE_RESUMING, NVFM_MIG_STATE_STOP },
	{ NVFM_MIG_STATE_PRE_COPY, NVFM_MIG_STATE_RUNNING },
	{ NVFM_MIG_STATE_RUNNING_P2P, NVFM_MIG_STATE_RUNNING },
	{ NVFM_MIG_STATE_PRE_COPY_P2P, NVFM_MIG_STATE_RUNNING_P2P },
	{ NVFM_MIG_STATE_RUNNING, NVFM_MIG_STATE_RUNNING_P2P },
	{ NVFM_MIG_STATE_STOP, NVFM_MIG_STATE_RUNNING_P2P },
	{ NVFM_MIG_STATE_RUNNING, NVFM_MIG_STATE_PRE_COPY },
	{ NVFM_MIG_STATE_RUNNING_P2P, NVFM_MIG_STATE_PRE_COPY_P2P },
	{ NVFM_MIG_STATE_STOP, NVFM_MIG_STATE_STOP_COPY },
	{ NVFM_MIG_STATE_PRE_COPY, NVFM_MIG_STATE_PRE_COPY_P2P },
	{ NVFM_MIG_STATE_PRE_COPY_P2P, NVFM_MIG_STATE_PRE_COPY },
	{ NVFM_MIG_STATE_PRE_COPY_P2P, NVFM_MIG_STATE_STOP_COPY },
	{ NVFM_MIG_STATE_STOP, NVFM_MIG_STATE_RESUMING },
};

static const char *const fk_state_names[] = {
	"ERROR", "STOP", "RUNNING", "STOP_COPY", "RESUMING", "RUNNING_P2P", "PRE_COPY",
	"PRE_COPY_P2P",
};

static const char *fk_state_name(guint32 s)
{
	return s < G_N_ELEMENTS(fk_state_names) ? fk_state_names[s] : "INVALID";
}

/* What a state is on a device without P2P. */
static guint32 fold_p2p(guint32 flags, guint32 s)
{
	if (flags & VFIO_MIGRATION_P2P)
		return s;
	if (s == NVFM_MIG_STATE_RUNNING_P2P)
		return NVFM_MIG_STATE_RUNNING;
	if (s == NVFM_MIG_STATE_PRE_COPY_P2P)
		return NVFM_MIG_STATE_PRE_COPY;
	return s;
}

static gboolean fk_state_exists(guint32 flags, guint32 s)
{
	if (s == NVFM_MIG_STATE_ERROR || s >= G_N_ELEMENTS(fk_state_names))
		return FALSE;
	if ((s == NVFM_MIG_STATE_RUNNING_P2P || s == NVFM_MIG_STATE_PRE_COPY_P2P) &&
	    !(flags & VFIO_MIGRATION_P2P))
		return FALSE;
	if ((s == NVFM_MIG_STATE_PRE_COPY || s == NVFM_MIG_STATE_PRE_COPY_P2P) &&
	    !(flags & VFIO_MIGRATION_PRE_COPY))
		return FALSE;
	return TRUE;
}

gboolean fk_vfio_arc_legal(guint32 flags, guint32 from, guint32 to)
{
	if (!fk_state_exists(flags, from) || !fk_state_exists(flags, to) || from == to)
		return FALSE;
	for (guint i = 0; i < G_N_ELEMENTS(full_arcs); i++) {
		guint32 a = fold_p2p(flags, full_arcs[i][0]);
		guint32 b = fold_p2p(flags, full_arcs[i][1]);

		if (a != b && a == from && b == to)
			return TRUE;
	}
	return FALSE;
}

void fk_vfio_assert_arcs_legal(void)
{
	if (fk_vfio.n_illegal_arcs)
		g_error("the tool asked the fake kernel for %u arc(s) the uAPI does not have "
			"(arcs: %s)", fk_vfio.n_illegal_arcs, fk_vfio.arcs);
}

static void log_arc(guint32 from, guint32 to, gboolean legal)
{
	gsize len = strlen(fk_vfio.arcs);

	g_snprintf(fk_vfio.arcs + len, sizeof(fk_vfio.arcs) - len, "%s%s>%s ",
		   legal ? "" : "!", fk_state_name(from), fk_state_name(to));
	if (!legal)
		fk_vfio.n_illegal_arcs++;
}

static Role fd_role(int fd)
{
	static const struct {
		const char *rel;
		Role role;
	} nodes[] = {
		{ "/dev/vfio/vfio", ROLE_CONTAINER },
		{ "/dev/vfio/devices/vfio3", ROLE_CDEV },
		{ "/dev/iommu", ROLE_IOMMUFD },
		{ "/mock/device", ROLE_DEVICE },
		{ "/mock/data", ROLE_DATA },
	};
	char link[64], target[4096];
	ssize_t n;
	gsize rl;

	if (!fk_root() || fk_vfio.passthrough || fd < 0)
		return ROLE_NONE;
	g_snprintf(link, sizeof(link), "/proc/self/fd/%d", fd);
	n = readlink(link, target, sizeof(target) - 1);
	if (n <= 0)
		return ROLE_NONE;
	target[n] = '\0';
	rl = strlen(fk_root());
	if (strncmp(target, fk_root(), rl) != 0)
		return ROLE_NONE;
	for (guint i = 0; i < G_N_ELEMENTS(nodes); i++) {
		if (strcmp(target + rl, nodes[i].rel) == 0)
			return nodes[i].role;
	}
	if (g_str_has_prefix(target + rl, "/dev/vfio/") &&
	    g_ascii_isdigit(target[rl + strlen("/dev/vfio/")]))
		return ROLE_GROUP;
	if (g_str_has_prefix(target + rl, "/dev/nvme") &&
	    g_ascii_isdigit(target[rl + strlen("/dev/nvme")]))
		return ROLE_NVME;
	return ROLE_NONE;
}

static int fail(int err)
{
	errno = err;
	return -1;
}

static int open_fake(const char *rel)
{
	g_autofree char *p = g_strconcat(fk_root(), rel, NULL);

	return open(p, O_RDWR | O_CLOEXEC);
}

static gboolean is_saving(guint32 s)
{
	return s == NVFM_MIG_STATE_STOP_COPY || s == NVFM_MIG_STATE_PRE_COPY ||
	       s == NVFM_MIG_STATE_PRE_COPY_P2P;
}

/* vfio_check_feature() of the kernel: -errno, 0 for a probe, 1 to go on */
static int check_feature(guint32 flags, gsize argsz, guint32 ops, gsize minsz)
{
	if ((flags & (VFIO_DEVICE_FEATURE_GET | VFIO_DEVICE_FEATURE_SET)) & ~ops)
		return -EINVAL;
	if (flags & VFIO_DEVICE_FEATURE_PROBE)
		return 0;
	if (!(flags & (VFIO_DEVICE_FEATURE_GET | VFIO_DEVICE_FEATURE_SET)))
		return -EINVAL;
	if (argsz < minsz)
		return -EINVAL;
	return 1;
}

static int device_feature(struct vfio_device_feature *f)
{
	const guint32 known = VFIO_DEVICE_FEATURE_MASK | VFIO_DEVICE_FEATURE_GET |
			      VFIO_DEVICE_FEATURE_SET | VFIO_DEVICE_FEATURE_PROBE;
	gsize argsz;
	int r;

	fk_vfio.n_feature_calls++;
	if (f->argsz < sizeof(*f))
		return fail(EINVAL);
	if (f->flags & ~known)
		return fail(EINVAL);
	if (!(f->flags & VFIO_DEVICE_FEATURE_PROBE) && (f->flags & VFIO_DEVICE_FEATURE_GET) &&
	    (f->flags & VFIO_DEVICE_FEATURE_SET))
		return fail(EINVAL);
	argsz = f->argsz - sizeof(*f);

	switch (f->flags & VFIO_DEVICE_FEATURE_MASK) {
	case VFIO_DEVICE_FEATURE_MIGRATION: {
		struct vfio_device_feature_migration *m = (void *)f->data;

		if (fk_vfio.no_migration)
			return fail(ENOTTY);
		r = check_feature(f->flags, argsz, VFIO_DEVICE_FEATURE_GET, sizeof(*m));
		if (r <= 0)
			return r < 0 ? fail(-r) : 0;
		m->flags = fk_vfio.mig_flags;
		return 0;
	}
	case VFIO_DEVICE_FEATURE_MIG_DEVICE_STATE: {
		struct vfio_device_feature_mig_state *m = (void *)f->data;
		guint32 old = fk_vfio.state;

		if (fk_vfio.no_migration)
			return fail(ENOTTY);
		r = check_feature(f->flags, argsz, VFIO_DEVICE_FEATURE_GET | VFIO_DEVICE_FEATURE_SET,
				  sizeof(*m));
		if (r <= 0)
			return r < 0 ? fail(-r) : 0;
		if (f->flags & VFIO_DEVICE_FEATURE_GET) {
			m->device_state = fk_vfio.state;
			m->data_fd = -1;
			return 0;
		}
		/* the tool takes one arc per request: anything else is a bug */
		if (!fk_vfio_arc_legal(fk_vfio.mig_flags, old, m->device_state)) {
			log_arc(old, m->device_state, FALSE);
			return fail(EINVAL);
		}
		log_arc(old, m->device_state, TRUE);
		if (fk_vfio.fail_arc_to && m->device_state == fk_vfio.fail_arc_to) {
			fk_vfio.state = fk_vfio.fail_arc_lands;
			return fail(EIO);
		}
		if (old == NVFM_MIG_STATE_RESUMING && m->device_state == NVFM_MIG_STATE_STOP)
			fk_vfio.n_resuming_commits++;
		fk_vfio.state = m->device_state;
		m->data_fd = -1;
		/* a session starts when the saving group or RESUMING is entered */
		if ((is_saving(fk_vfio.state) && !is_saving(old)) ||
		    (fk_vfio.state == NVFM_MIG_STATE_RESUMING && old != fk_vfio.state))
			m->data_fd = open_fake("/mock/data");
		return 0;
	}
	case VFIO_DEVICE_FEATURE_MIG_DATA_SIZE: {
		struct vfio_device_feature_mig_data_size *m = (void *)f->data;

		if (fk_vfio.no_migration)
			return fail(ENOTTY);
		r = check_feature(f->flags, argsz, VFIO_DEVICE_FEATURE_GET, sizeof(*m));
		if (r <= 0)
			return r < 0 ? fail(-r) : 0;
		m->stop_copy_length = 123456789;
		return 0;
	}
	case VFIO_DEVICE_FEATURE_DMA_LOGGING_START:
		if (!fk_vfio.dma_logging)
			return fail(ENOTTY);
		/* 24 bytes: struct vfio_device_feature_dma_logging_control */
		r = check_feature(f->flags, argsz, VFIO_DEVICE_FEATURE_SET, 24);
		if (r <= 0)
			return r < 0 ? fail(-r) : 0;
		return fail(EINVAL);
	default:
		return fail(ENOTTY);
	}
}

/*
 * VFIO_IOMMU_GET_INFO on a type1 container: the info, then a capability
 * chain of an (empty) IOVA range capability and, when the IOMMU tracks
 * dirty pages, the migration capability. A short argsz learns the size.
 */
static int type1_get_info(void *arg)
{
	struct vfio_iommu_type1_info *info = arg;
	guint32 iova_cap = sizeof(*info), mig_cap = iova_cap + 16;
	guint32 need = fk_vfio.iommu_dirty ? mig_cap + 32 : mig_cap;

	if (!fk_vfio.iommu_type)
		return fail(EINVAL);
	if (info->argsz < 16)
		return fail(EINVAL);
	info->flags = VFIO_IOMMU_INFO_PGSIZES | VFIO_IOMMU_INFO_CAPS;
	info->iova_pgsizes = 0x40201000;
	if (info->argsz < need) {
		info->argsz = need;
		info->cap_offset = 0;
		return 0;
	}
	info->cap_offset = iova_cap;
	{
		struct vfio_info_cap_header *h = (void *)((char *)arg + iova_cap);

		h->id = VFIO_IOMMU_TYPE1_INFO_CAP_IOVA_RANGE;
		h->version = 1;
		h->next = fk_vfio.iommu_dirty ? mig_cap : 0;
	}
	if (fk_vfio.iommu_dirty) {
		struct vfio_iommu_type1_info_cap_migration *m = (void *)((char *)arg + mig_cap);

		m->header.id = VFIO_IOMMU_TYPE1_INFO_CAP_MIGRATION;
		m->header.version = 1;
		m->header.next = 0;
		m->flags = 0;
		m->pgsize_bitmap = 0x1000;
		m->max_dirty_bitmap_size = 256ull << 20;
	}
	return 0;
}

static int device_ioctl(unsigned long req, void *arg)
{
	switch (req) {
	case VFIO_DEVICE_GET_INFO: {
		struct vfio_device_info *info = arg;

		if (info->argsz < 16)
			return fail(EINVAL);
		info->flags = VFIO_DEVICE_FLAGS_PCI | VFIO_DEVICE_FLAGS_RESET;
		info->num_regions = 9;
		info->num_irqs = 5;
		return 0;
	}
	case VFIO_DEVICE_RESET:
		if (fk_vfio.reset_errno)
			return fail(fk_vfio.reset_errno);
		fk_vfio.state = NVFM_MIG_STATE_RUNNING;
		fk_vfio.n_resets++;
		return 0;
	case VFIO_DEVICE_FEATURE:
		return device_feature(arg);
	default:
		return fail(ENOTTY);
	}
}

int ioctl(int fd, unsigned long req, ...)
{
	va_list ap;
	void *arg;

	va_start(ap, req);
	arg = va_arg(ap, void *);
	va_end(ap);

	switch (fd_role(fd)) {
	case ROLE_NONE:
		return (int)syscall(SYS_ioctl, fd, req, arg);
	case ROLE_NVME:
		return nvme_ioctl(req, arg);
	case ROLE_CONTAINER:
		if (req == VFIO_GET_API_VERSION)
			return VFIO_API_VERSION;
		if (req == VFIO_CHECK_EXTENSION)
			return 1;
		if (req == VFIO_IOMMU_GET_INFO)
			return type1_get_info(arg);
		if (req == VFIO_SET_IOMMU) {
			unsigned long type = (unsigned long)arg;

			if (!fk_vfio.container_set)
				return fail(EINVAL);
			if (type == VFIO_TYPE1v2_IOMMU && fk_vfio.reject_type1v2)
				return fail(EINVAL);
			if (type != VFIO_TYPE1v2_IOMMU && type != VFIO_TYPE1_IOMMU)
				return fail(EINVAL);
			fk_vfio.iommu_type = type;
			return 0;
		}
		return fail(ENOTTY);
	case ROLE_GROUP:
		if (req == VFIO_GROUP_GET_STATUS) {
			struct vfio_group_status *st = arg;

			if (st->argsz < sizeof(*st))
				return fail(EINVAL);
			st->flags = (fk_vfio.group_not_viable ? 0 : VFIO_GROUP_FLAGS_VIABLE) |
				    (fk_vfio.container_set ? VFIO_GROUP_FLAGS_CONTAINER_SET : 0);
			return 0;
		}
		if (req == VFIO_GROUP_SET_CONTAINER) {
			if (fd_role(*(int *)arg) != ROLE_CONTAINER)
				return fail(EBADF);
			if (fk_vfio.group_not_viable)
				return fail(EPERM);
			fk_vfio.container_set = TRUE;
			return 0;
		}
		if (req == VFIO_GROUP_GET_DEVICE_FD) {
			if (!fk_vfio.iommu_type)
				return fail(EINVAL);
			g_strlcpy(fk_vfio.device_name, arg, sizeof(fk_vfio.device_name));
			if (strcmp(fk_vfio.device_name, "0000:3b:00.5") != 0 &&
			    (!*fk_vfio.mdev_uuid ||
			     strcmp(fk_vfio.device_name, fk_vfio.mdev_uuid) != 0))
				return fail(ENODEV);
			return open_fake("/mock/device");
		}
		return fail(ENOTTY);
	case ROLE_IOMMUFD:
		if (req == NVFM_IOMMU_GET_HW_INFO) {
			struct nvfm_iommu_hw_info *h = arg;

			/* the 6.6 struct ends after __reserved: 32 bytes */
			if (h->size < 32 || h->flags)
				return fail(EINVAL);
			if (!fk_vfio.bound || h->dev_id != 1)
				return fail(ENOENT);
			h->out_data_type = 1;	/* IOMMU_HW_INFO_TYPE_INTEL_VTD */
			h->data_len = 0;
			if (h->size >= sizeof(*h))
				h->out_capabilities =
					fk_vfio.iommu_dirty ? NVFM_IOMMU_HW_CAP_DIRTY_TRACKING : 0;
			return 0;
		}
		if (req == IOMMU_IOAS_ALLOC) {
			struct iommu_ioas_alloc *a = arg;

			if (a->size < 12 || a->flags)
				return fail(EINVAL);
			fk_vfio.ioas_id = a->out_ioas_id = 2;
			return 0;
		}
		return fail(ENOTTY);
	case ROLE_CDEV:
		if (req == VFIO_DEVICE_BIND_IOMMUFD) {
			struct vfio_device_bind_iommufd *b = arg;

			if (b->argsz < 16 || b->flags)
				return fail(EINVAL);
			if (fd_role(b->iommufd) != ROLE_IOMMUFD)
				return fail(EBADF);
			if (fk_vfio.bind_errno)
				return fail(fk_vfio.bind_errno);
			fk_vfio.bound = TRUE;
			b->out_devid = 1;
			return 0;
		}
		/* a cdev refuses everything until it is bound */
		if (!fk_vfio.bound)
			return fail(EINVAL);
		if (req == VFIO_DEVICE_ATTACH_IOMMUFD_PT) {
			struct vfio_device_attach_iommufd_pt *a = arg;

			if (a->argsz < 12 || a->flags)
				return fail(EINVAL);
			if (a->pt_id != fk_vfio.ioas_id || !fk_vfio.ioas_id)
				return fail(ENOENT);
			fk_vfio.attached_pt = a->pt_id;
			return 0;
		}
		return device_ioctl(req, arg);
	case ROLE_DEVICE:
		return device_ioctl(req, arg);
	case ROLE_DATA:
		if (req == VFIO_MIG_GET_PRECOPY_INFO) {
			struct vfio_precopy_info *info = arg;

			if (info->argsz < sizeof(*info))
				return fail(EINVAL);
			if (fk_vfio.state != NVFM_MIG_STATE_PRE_COPY &&
			    fk_vfio.state != NVFM_MIG_STATE_PRE_COPY_P2P)
				return fail(EINVAL);
			info->initial_bytes = 4096;
			info->dirty_bytes = 512;
			return 0;
		}
		return fail(ENOTTY);
	}
	return fail(ENOTTY);
}
