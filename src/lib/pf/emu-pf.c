/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Emulated NVMe PFs (emu:NAME): the device side of provisioning without
 * hardware. The PF is a JSON file under nvfm_emu_dir()/pf/ that plays the
 * part of the device's registers, so it follows the same rules as QEMU's
 * NVMe SR-IOV emulation and the kernel: resources are assigned only to an
 * offline secondary controller, within the per-controller maximum and the
 * free pool; a controller comes online only with 2+ VQ, 1+ VI and its VF
 * enabled (status 0x4120 otherwise); going offline hands its resources
 * back; sriov_numvfs changes only through 0. A VF bound to the emulated
 * variant driver "emu-vfio-pci" is the emulated device "emu:NAME-vfN".
 */
#define G_LOG_DOMAIN "nvfm-emu-pf"

#include <fcntl.h>
#include <jansson.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>

#include "emu/emu-private.h"
#include "pf-private.h"

#define EMU_PF_MAX_VFS 64
#define EMU_PF_NAME_MAX 48
#define EMU_VARIANT_DRIVER "emu-vfio-pci"

typedef struct {
	gboolean online;
	guint nvq, nvi;
	char *driver;
	char *override;
} EmuSec;

typedef struct {
	char *name;
	char *dir;
	NvfmEmuPfConfig cfg;
	guint num_vfs;
	gboolean autoprobe;
	EmuSec sec[EMU_PF_MAX_VFS];
	json_t *vf_faults;	/* knob -> value, armed on every VF device made */
} EmuPf;

static void emu_pf_free(EmuPf *p)
{
	if (!p)
		return;
	for (guint i = 0; i < EMU_PF_MAX_VFS; i++) {
		g_free(p->sec[i].driver);
		g_free(p->sec[i].override);
	}
	json_decref(p->vf_faults);
	g_free(p->name);
	g_free(p->dir);
	g_free(p);
}

G_DEFINE_AUTOPTR_CLEANUP_FUNC(EmuPf, emu_pf_free)

void nvfm_emu_pf_config_init(NvfmEmuPfConfig *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	cfg->total_vfs = 4;
	cfg->vq_flexible = 16;
	cfg->vi_flexible = 8;
	cfg->vq_max_per_vf = 8;
	cfg->vi_max_per_vf = 4;
	cfg->vq_private = 2;
	cfg->vi_private = 1;
	cfg->blob_size = 16ull << 20;
	cfg->dirty_rate = 16ull << 20;
	cfg->numa_node = -1;
	cfg->lm_supported = TRUE;
	cfg->n_lm_versions = 1;
	cfg->lm_versions[0] = 0;
	cfg->n_lm_uuids = 1;
	g_strlcpy(cfg->lm_uuids[0], NVFM_LM_VENDOR_UUID, sizeof(cfg->lm_uuids[0]));
}

static gboolean name_valid(const char *name)
{
	gsize n = name ? strlen(name) : 0;

	if (n == 0 || n > EMU_PF_NAME_MAX)
		return FALSE;
	for (gsize i = 0; i < n; i++) {
		if (!g_ascii_isalnum(name[i]) && name[i] != '_' && name[i] != '.')
			return FALSE;
	}
	return !g_str_equal(name, ".") && !g_str_equal(name, "..");
}

static gboolean check_name(const char *name, GError **error)
{
	if (name_valid(name))
		return TRUE;
	g_set_error(error, NVFM_ERROR, NVFM_ERROR_INVALID_ARG,
		    "invalid emulated PF name '%s' (expected 1-%d of A-Z a-z 0-9 _ .)",
		    name ? name : "", EMU_PF_NAME_MAX);
	return FALSE;
}

static char *pf_dir(void)
{
	g_autofree char *emu = nvfm_emu_dir();

	/* a subdirectory keeps PF files apart from emulated VFs' NAME.json */
	return g_build_filename(emu, "pf", NULL);
}

static char *pf_file(const char *dir, const char *name, const char *suffix)
{
	g_autofree char *base = g_strconcat(name, suffix, NULL);

	return g_build_filename(dir, base, NULL);
}

static char *vf_dev_name(const char *pf, guint index)
{
	return g_strdup_printf("%s-vf%u", pf, index);
}

gboolean nvfm_emu_pf_split_vf(const char *name, char **pf_name, guint *index)
{
	const char *dash = name ? strrchr(name, '-') : NULL;
	char *end = NULL;
	guint64 i;

	if (!dash || !g_str_has_prefix(dash, "-vf") || !g_ascii_isdigit(dash[3]))
		return FALSE;
	i = g_ascii_strtoull(dash + 3, &end, 10);
	if (*end || i >= EMU_PF_MAX_VFS)
		return FALSE;
	*pf_name = g_strndup(name, (gsize)(dash - name));
	*index = (guint)i;
	return name_valid(*pf_name);
}

/* ---- the state file ----------------------------------------------------- */

static guint json_uint(json_t *o, const char *key, guint dflt)
{
	json_t *v = json_object_get(o, key);

	return json_is_integer(v) && json_integer_value(v) >= 0 ?
		       (guint)json_integer_value(v) : dflt;
}

static char *json_str(json_t *o, const char *key)
{
	const char *s = json_string_value(json_object_get(o, key));

	return s ? g_strdup(s) : NULL;
}

/* The live migration part of the state file; a file from before it had
 * one describes the default PF. */
static void lm_load(NvfmEmuPfConfig *cfg, json_t *lm)
{
	json_t *v;
	gsize i;

	if (!json_is_object(lm)) {
		NvfmEmuPfConfig d;

		nvfm_emu_pf_config_init(&d);
		cfg->lm_supported = d.lm_supported;
		cfg->n_lm_versions = d.n_lm_versions;
		memcpy(cfg->lm_versions, d.lm_versions, sizeof(d.lm_versions));
		cfg->n_lm_uuids = d.n_lm_uuids;
		memcpy(cfg->lm_uuids, d.lm_uuids, sizeof(d.lm_uuids));
		return;
	}
	cfg->lm_supported = json_is_true(json_object_get(lm, "supported"));
	cfg->n_lm_versions = 0;
	json_array_foreach(json_object_get(lm, "versions"), i, v) {
		if (cfg->n_lm_versions < NVFM_EMU_LM_MAX_VERSIONS && json_is_integer(v))
			cfg->lm_versions[cfg->n_lm_versions++] =
				(guint16)json_integer_value(v);
	}
	cfg->n_lm_uuids = 0;
	json_array_foreach(json_object_get(lm, "uuids"), i, v) {
		guint8 raw[16];

		if (cfg->n_lm_uuids < NVFM_EMU_LM_MAX_UUIDS &&
		    nvfm_lm_uuid_parse(json_string_value(v), raw))
			nvfm_lm_uuid_format(raw, cfg->lm_uuids[cfg->n_lm_uuids++]);
	}
}

static json_t *lm_json(const NvfmEmuPfConfig *cfg)
{
	json_t *versions = json_array();
	json_t *uuids = json_array();

	for (guint i = 0; i < cfg->n_lm_versions; i++)
		json_array_append_new(versions, json_integer(cfg->lm_versions[i]));
	for (guint i = 0; i < cfg->n_lm_uuids; i++)
		json_array_append_new(uuids, json_string(cfg->lm_uuids[i]));
	return json_pack("{s:b, s:o, s:o}", "supported", cfg->lm_supported, "versions", versions,
			 "uuids", uuids);
}

/* The file of emulated PF @name, or NULL and NOT_FOUND when there is none. */
static char *pf_existing_file(const char *name, GError **error)
{
	g_autofree char *dir = pf_dir();
	char *path = pf_file(dir, name, ".json");

	if (!g_file_test(path, G_FILE_TEST_EXISTS)) {
		g_free(path);
		g_set_error(error, NVFM_ERROR, NVFM_ERROR_NOT_FOUND,
			    "unknown PF emu:%s: no such emulated PF", name);
		return NULL;
	}
	return path;
}

static EmuPf *pf_load(const char *name, GError **error)
{
	g_autoptr(EmuPf) p = g_new0(EmuPf, 1);
	g_autofree char *path = NULL;
	json_auto_t *root = NULL;
	json_error_t jerr;
	json_t *vfs;

	p->name = g_strdup(name);
	p->dir = pf_dir();
	path = pf_existing_file(name, error);
	if (!path)
		return NULL;
	root = json_load_file(path, 0, &jerr);
	if (!root || !json_is_object(root)) {
		g_set_error(error, NVFM_ERROR, NVFM_ERROR_IO, "emulated PF %s: unreadable %s: %s",
			    name, path, jerr.text);
		return NULL;
	}
	p->cfg.total_vfs = MIN(json_uint(root, "total_vfs", 0), EMU_PF_MAX_VFS);
	p->cfg.vq_flexible = json_uint(root, "vq_flexible", 0);
	p->cfg.vi_flexible = json_uint(root, "vi_flexible", 0);
	p->cfg.vq_max_per_vf = json_uint(root, "vq_max_per_vf", 0);
	p->cfg.vi_max_per_vf = json_uint(root, "vi_max_per_vf", 0);
	p->cfg.vq_private = json_uint(root, "vq_private", 0);
	p->cfg.vi_private = json_uint(root, "vi_private", 0);
	p->cfg.blob_size = (guint64)json_integer_value(json_object_get(root, "blob_size"));
	/* a PF file from before the knob: the devices' default */
	p->cfg.dirty_rate = json_is_integer(json_object_get(root, "dirty_rate")) ?
		(guint64)json_integer_value(json_object_get(root, "dirty_rate")) : 16ull << 20;
	p->cfg.numa_node = json_is_integer(json_object_get(root, "numa_node")) ?
			   (int)CLAMP(json_integer_value(json_object_get(root, "numa_node")), -1,
				      1 << 16) : -1;
	p->num_vfs = MIN(json_uint(root, "num_vfs", 0), p->cfg.total_vfs);
	p->autoprobe = json_is_true(json_object_get(root, "autoprobe"));
	p->vf_faults = json_incref(json_object_get(root, "vf_faults"));
	lm_load(&p->cfg, json_object_get(root, "lm"));
	vfs = json_object_get(root, "secondary");
	for (guint i = 0; i < p->cfg.total_vfs && i < json_array_size(vfs); i++) {
		json_t *e = json_array_get(vfs, i);

		p->sec[i].online = json_is_true(json_object_get(e, "online"));
		p->sec[i].nvq = json_uint(e, "nvq", 0);
		p->sec[i].nvi = json_uint(e, "nvi", 0);
		p->sec[i].driver = json_str(e, "driver");
		p->sec[i].override = json_str(e, "driver_override");
	}
	return g_steal_pointer(&p);
}

static json_t *json_str_or_null(const char *s)
{
	return s ? json_string(s) : json_null();
}

static gboolean pf_save(EmuPf *p, GError **error)
{
	g_autofree char *path = pf_file(p->dir, p->name, ".json");
	g_autofree char *text = NULL;
	json_auto_t *root = json_object();
	json_t *vfs = json_array();
	char *dump;

	json_object_set_new(root, "total_vfs", json_integer(p->cfg.total_vfs));
	json_object_set_new(root, "vq_flexible", json_integer(p->cfg.vq_flexible));
	json_object_set_new(root, "vi_flexible", json_integer(p->cfg.vi_flexible));
	json_object_set_new(root, "vq_max_per_vf", json_integer(p->cfg.vq_max_per_vf));
	json_object_set_new(root, "vi_max_per_vf", json_integer(p->cfg.vi_max_per_vf));
	json_object_set_new(root, "vq_private", json_integer(p->cfg.vq_private));
	json_object_set_new(root, "vi_private", json_integer(p->cfg.vi_private));
	json_object_set_new(root, "blob_size", json_integer((json_int_t)p->cfg.blob_size));
	json_object_set_new(root, "dirty_rate", json_integer((json_int_t)p->cfg.dirty_rate));
	json_object_set_new(root, "numa_node", json_integer(p->cfg.numa_node));
	json_object_set_new(root, "num_vfs", json_integer(p->num_vfs));
	json_object_set_new(root, "autoprobe", json_boolean(p->autoprobe));
	json_object_set_new(root, "lm", lm_json(&p->cfg));
	if (p->vf_faults && json_object_size(p->vf_faults))
		json_object_set(root, "vf_faults", p->vf_faults);
	for (guint i = 0; i < p->cfg.total_vfs; i++) {
		json_t *ent = json_object();

		json_object_set_new(ent, "online", json_boolean(p->sec[i].online));
		json_object_set_new(ent, "nvq", json_integer(p->sec[i].nvq));
		json_object_set_new(ent, "nvi", json_integer(p->sec[i].nvi));
		json_object_set_new(ent, "driver", json_str_or_null(p->sec[i].driver));
		json_object_set_new(ent, "driver_override", json_str_or_null(p->sec[i].override));
		json_array_append_new(vfs, ent);
	}
	json_object_set_new(root, "secondary", vfs);
	dump = json_dumps(root, JSON_INDENT(1) | JSON_SORT_KEYS);
	text = g_strdup(dump);
	free(dump);
	if (g_mkdir_with_parents(p->dir, 0700) < 0) {
		nvfm_set_error_errno(error, -errno, "cannot create %s", p->dir);
		return FALSE;
	}
	/* readers never see half a file */
	if (!nvfm_file_write_runtime(path, text, strlen(text), 0600, error)) {
		g_prefix_error(error, "emulated PF %s: ", p->name);
		return FALSE;
	}
	return TRUE;
}

static guint sum_nvq(const EmuPf *p)
{
	guint n = 0;

	for (guint i = 0; i < p->cfg.total_vfs; i++)
		n += p->sec[i].nvq;
	return n;
}

static guint sum_nvi(const EmuPf *p)
{
	guint n = 0;

	for (guint i = 0; i < p->cfg.total_vfs; i++)
		n += p->sec[i].nvi;
	return n;
}

/* ---- the emulated VF device ---------------------------------------------- */

/* Who holds emulated device @dev open: emu-vf.c keeps an exclusive flock
 * on NAME.lock for as long as the device is open. */
static char *emu_dev_holder(const char *dev)
{
	g_autofree char *dir = nvfm_emu_dir();
	g_autofree char *path = emu_path(dir, dev, ".lock");
	g_autofree char *comm = NULL, *comm_path = NULL;
	/* Read /proc/locks rather than probing with flock(): a probe would
	 * briefly hold the lock and make a concurrent open fail with EBUSY. */
	guint64 pid = emu_lock_holder(path);

	if (!pid)
		return NULL;
	comm_path = g_strdup_printf("/proc/%" G_GUINT64_FORMAT "/comm", pid);
	if (g_file_get_contents(comm_path, &comm, NULL, NULL))
		g_strchomp(comm);
	return g_strdup_printf("pid %" G_GUINT64_FORMAT " (%s)", pid, comm ? comm : "?");
}

/* Who holds VF @index's emulated device open, if anybody. */
static char *vf_holder(const EmuPf *p, guint index)
{
	g_autofree char *dev = NULL;

	if (!p->sec[index].driver || !g_str_equal(p->sec[index].driver, EMU_VARIANT_DRIVER))
		return NULL;
	dev = vf_dev_name(p->name, index);
	return emu_dev_holder(dev);
}

static gboolean vf_dev_create(const EmuPf *p, guint index, GError **error)
{
	g_autofree char *dev = vf_dev_name(p->name, index);
	const char *knob;
	json_t *value;
	NvfmEmuConfig cfg;

	nvfm_emu_config_init(&cfg);
	/* the modelled controller has what the secondary controller got */
	cfg.n_io_queues = MIN(p->sec[index].nvq > 1 ? p->sec[index].nvq - 1 : 1, 64u);
	cfg.blob_size = p->cfg.blob_size;
	cfg.dirty_rate = p->cfg.dirty_rate;
	cfg.seed = (guint64)g_str_hash(p->name) * 64 + index + 1;
	if (!nvfm_emu_create(dev, &cfg, error))
		return FALSE;
	json_object_foreach((json_t *)p->vf_faults, knob, value) {
		if (!nvfm_emu_set_fault(dev, knob, json_string_value(value), error))
			return FALSE;
	}
	return TRUE;
}

static gboolean vf_dev_destroy(const EmuPf *p, guint index, GError **error)
{
	g_autofree char *dev = vf_dev_name(p->name, index);
	g_autofree char *who = emu_dev_holder(dev);
	g_autoptr(GError) e = NULL;

	if (who) {
		g_set_error(error, NVFM_ERROR, NVFM_ERROR_BUSY, "VF emu:%s is in use by %s", dev, who);
		return FALSE;
	}
	if (!nvfm_emu_destroy(dev, &e) && e->code != NVFM_ERROR_NOT_FOUND) {
		g_propagate_error(error, g_steal_pointer(&e));
		return FALSE;
	}
	return TRUE;
}

/* What unbinding does to the state, after the device is gone. */
static void sec_drop_driver(EmuSec *s)
{
	g_clear_pointer(&s->driver, g_free);
	g_clear_pointer(&s->override, g_free);
}

/* ---- the PF ops ------------------------------------------------------------ */

#define EMU(pf) ((const char *)(pf)->priv)

static gboolean epf_identify_primary(NvfmPf *pf, NvfmPrimaryCaps *caps, GError **error)
{
	g_autoptr(EmuPf) p = pf_load(EMU(pf), error);

	if (!p)
		return FALSE;
	memset(caps, 0, sizeof(*caps));
	caps->crt = 0x3;
	caps->vqfrt = p->cfg.vq_flexible;
	caps->vqrfa = sum_nvq(p);
	caps->vqprt = (guint16)p->cfg.vq_private;
	caps->vqfrsm = (guint16)p->cfg.vq_max_per_vf;
	caps->vqgran = 1;
	caps->vifrt = p->cfg.vi_flexible;
	caps->virfa = sum_nvi(p);
	caps->viprt = (guint16)p->cfg.vi_private;
	caps->vifrsm = (guint16)p->cfg.vi_max_per_vf;
	caps->vigran = 1;
	return TRUE;
}

/* OACS: Virtualization Management (bit 7), and HMLMS (bit 11) as set */
static gboolean epf_identify_oacs(NvfmPf *pf, guint16 *oacs, GError **error)
{
	g_autoptr(EmuPf) p = pf_load(EMU(pf), error);

	if (!p)
		return FALSE;
	*oacs = (guint16)(1u << 7 | (p->cfg.lm_supported ? NVFM_NVME_OACS_HMLMS : 0));
	return TRUE;
}

/* Identify CNS 20h laid out as a device returns it; a PF without HMLMS
 * does not know the CNS value. */
static gboolean epf_identify_lm_formats(NvfmPf *pf, guint8 *buf, GError **error)
{
	g_autoptr(EmuPf) p = pf_load(EMU(pf), error);
	gsize off = 2;

	if (!p)
		return FALSE;
	memset(buf, 0, NVFM_NVME_IDENTIFY_SIZE);
	if (!p->cfg.lm_supported)
		return nvfm_nvme_set_error(NVFM_NVME_SC_INVALID_FIELD | NVFM_NVME_DNR, 0, error,
					   "Identify Supported Controller State Formats (CNS 20h) on %s",
					   pf->address);
	buf[0] = (guint8)p->cfg.n_lm_versions;
	buf[1] = (guint8)p->cfg.n_lm_uuids;
	for (guint i = 0; i < p->cfg.n_lm_versions; i++, off += 2) {
		buf[off] = (guint8)(p->cfg.lm_versions[i] & 0xff);
		buf[off + 1] = (guint8)(p->cfg.lm_versions[i] >> 8);
	}
	for (guint i = 0; i < p->cfg.n_lm_uuids; i++, off += 16) {
		if (!nvfm_lm_uuid_parse(p->cfg.lm_uuids[i], buf + off))
			memset(buf + off, 0, 16);
	}
	return TRUE;
}

static gboolean epf_list_secondary(NvfmPf *pf, GArray *out, GError **error)
{
	g_autoptr(EmuPf) p = pf_load(EMU(pf), error);

	if (!p)
		return FALSE;
	for (guint i = 0; i < p->cfg.total_vfs; i++) {
		NvfmSecCtrl c = {
			.scid = (guint16)(i + 1),
			.pcid = 0,
			.scs = p->sec[i].online ? 1 : 0,
			.vfn = (guint16)(i + 1),
			.nvq = (guint16)p->sec[i].nvq,
			.nvi = (guint16)p->sec[i].nvi,
		};

		g_array_append_val(out, c);
	}
	return TRUE;
}

/* The device's answer to one Virtualization Management command: 0 or an
 * NVMe status with DNR, as QEMU's controller gives it. */
static guint virt_mgmt_status(EmuPf *p, guint act, guint rt, guint16 cntlid, guint16 nr)
{
	EmuSec *s;
	guint index;

	if (act != NVFM_VIRT_ACT_OFFLINE && act != NVFM_VIRT_ACT_ASSIGN &&
	    act != NVFM_VIRT_ACT_ONLINE)
		return NVFM_NVME_SC_INVALID_FIELD | NVFM_NVME_DNR;
	if (cntlid == 0 || cntlid > p->cfg.total_vfs)
		return NVFM_NVME_SC_INVALID_CTRL_ID | NVFM_NVME_DNR;
	index = cntlid - 1u;
	s = &p->sec[index];
	switch (act) {
	case NVFM_VIRT_ACT_ASSIGN: {
		guint limit = rt == NVFM_VIRT_RT_VQ ? p->cfg.vq_max_per_vf : p->cfg.vi_max_per_vf;
		guint total = rt == NVFM_VIRT_RT_VQ ? p->cfg.vq_flexible : p->cfg.vi_flexible;
		guint used = rt == NVFM_VIRT_RT_VQ ? sum_nvq(p) : sum_nvi(p);
		guint cur = rt == NVFM_VIRT_RT_VQ ? s->nvq : s->nvi;

		if (rt > NVFM_VIRT_RT_VI)
			return NVFM_NVME_SC_INVALID_FIELD | NVFM_NVME_DNR;
		if (s->online)
			return NVFM_NVME_SC_INVALID_SEC_STATE | NVFM_NVME_DNR;
		if (nr > limit)
			return NVFM_NVME_SC_INVALID_NUM_RES | NVFM_NVME_DNR;
		if (nr > cur && nr - cur > total - used)
			return NVFM_NVME_SC_INVALID_RES_ID | NVFM_NVME_DNR;
		if (rt == NVFM_VIRT_RT_VQ)
			s->nvq = nr;
		else
			s->nvi = nr;
		return 0;
	}
	case NVFM_VIRT_ACT_ONLINE:
		if (s->nvi == 0 || s->nvq < 2 || index >= p->num_vfs)
			return NVFM_NVME_SC_INVALID_SEC_STATE | NVFM_NVME_DNR;
		s->online = TRUE;
		return 0;
	default:
		s->online = FALSE;
		s->nvq = 0;
		s->nvi = 0;
		return 0;
	}
}

static gboolean epf_virt_mgmt(NvfmPf *pf, guint act, guint rt, guint16 cntlid, guint16 nr,
			      GError **error)
{
	g_autoptr(EmuPf) p = pf_load(EMU(pf), error);
	guint st;

	if (!p)
		return FALSE;
	st = virt_mgmt_status(p, act, rt, cntlid, nr);
	g_debug("%s: virt-mgmt act %u rt %u cntlid %u nr %u -> 0x%04x", pf->address, act, rt,
		cntlid, nr, st);
	if (st == 0)
		return pf_save(p, error);
	if (act == NVFM_VIRT_ACT_ASSIGN)
		return nvfm_nvme_set_error((int)st, 0, error,
					   "Virtualization Management (assign %u %s to secondary controller %u) on %s",
					   nr, rt == NVFM_VIRT_RT_VQ ? "VQ" : "VI", cntlid,
					   pf->address);
	return nvfm_nvme_set_error((int)st, 0, error,
				   "Virtualization Management (%s secondary controller %u) on %s",
				   act == NVFM_VIRT_ACT_ONLINE ? "online" :
				   act == NVFM_VIRT_ACT_OFFLINE ? "offline" : "action",
				   cntlid, pf->address);
}

static int epf_numa_node(NvfmPf *pf)
{
	g_autoptr(EmuPf) p = pf_load(EMU(pf), NULL);

	return p ? p->cfg.numa_node : -1;
}

static gboolean epf_sriov_get(NvfmPf *pf, guint *total, guint *num, gboolean *autoprobe,
			      GError **error)
{
	g_autoptr(EmuPf) p = pf_load(EMU(pf), error);

	if (!p)
		return FALSE;
	if (total)
		*total = p->cfg.total_vfs;
	if (num)
		*num = p->num_vfs;
	if (autoprobe)
		*autoprobe = p->autoprobe;
	return TRUE;
}

static gboolean epf_set_autoprobe(NvfmPf *pf, gboolean on, GError **error)
{
	g_autoptr(EmuPf) p = pf_load(EMU(pf), error);

	if (!p)
		return FALSE;
	p->autoprobe = on;
	return pf_save(p, error);
}

static gboolean epf_set_numvfs(NvfmPf *pf, guint n, GError **error)
{
	g_autoptr(EmuPf) p = pf_load(EMU(pf), error);

	if (!p)
		return FALSE;
	if (n == p->num_vfs)
		return TRUE;
	if (n > p->cfg.total_vfs) {
		nvfm_set_error_errno(error, -ERANGE, "cannot set sriov_numvfs of PF %s to %u",
				     pf->address, n);
		return FALSE;
	}
	if (n > 0 && p->num_vfs > 0) {
		nvfm_set_error_errno(error, -EBUSY, "cannot set sriov_numvfs of PF %s to %u",
				     pf->address, n);
		return FALSE;
	}
	if (n == 0) {
		/* removing the VFs unbinds their drivers; an open device keeps
		 * its VF (the kernel would wait for it) */
		for (guint i = 0; i < p->num_vfs; i++) {
			if (!vf_dev_destroy(p, i, error))
				return FALSE;
			sec_drop_driver(&p->sec[i]);
		}
	}
	p->num_vfs = n;
	/* with autoprobe on, the host nvme driver takes each new VF; it
	 * only stays bound to a controller that is online */
	for (guint i = 0; p->autoprobe && i < n; i++) {
		if (p->sec[i].online) {
			g_free(p->sec[i].driver);
			p->sec[i].driver = g_strdup("nvme");
		}
	}
	return pf_save(p, error);
}

static gboolean epf_vf_func(NvfmPf *pf, guint index, NvfmVfFunc *out, GError **error)
{
	g_autoptr(EmuPf) p = pf_load(EMU(pf), error);
	g_autofree char *dev = NULL;

	memset(out, 0, sizeof(*out));
	if (!p)
		return FALSE;
	dev = vf_dev_name(p->name, index);
	out->address = g_strdup_printf("emu:%s", dev);
	out->vf = nvfm_address_new_emu(dev, NULL);
	if (index >= p->num_vfs || index >= p->cfg.total_vfs)
		return TRUE;
	out->enabled = TRUE;
	out->driver = g_strdup(p->sec[index].driver);
	out->driver_override = g_strdup(p->sec[index].override);
	if (out->driver && g_str_equal(out->driver, EMU_VARIANT_DRIVER))
		out->device = nvfm_address_new_emu(dev, NULL);
	out->in_use_by = vf_holder(p, index);
	return TRUE;
}

static gboolean epf_vf_unbind(NvfmPf *pf, guint index, GError **error)
{
	g_autoptr(EmuPf) p = pf_load(EMU(pf), error);

	if (!p)
		return FALSE;
	if (index >= p->num_vfs) {
		g_set_error(error, NVFM_ERROR, NVFM_ERROR_NOT_FOUND,
			    "VF %u of PF %s does not exist (VFs are not enabled)", index,
			    pf->address);
		return FALSE;
	}
	/* the VF's emulated device exists only while the variant driver is
	 * bound; one opened by name meanwhile goes too */
	if (!vf_dev_destroy(p, index, error))
		return FALSE;
	sec_drop_driver(&p->sec[index]);
	return pf_save(p, error);
}

static gboolean epf_vf_bind(NvfmPf *pf, guint index, const char *driver, GError **error)
{
	g_autoptr(EmuPf) p = pf_load(EMU(pf), error);
	EmuSec *s;

	if (!p)
		return FALSE;
	if (index >= p->num_vfs) {
		g_set_error(error, NVFM_ERROR, NVFM_ERROR_NOT_FOUND,
			    "VF %u of PF %s does not exist (VFs are not enabled)", index,
			    pf->address);
		return FALSE;
	}
	if (!g_str_equal(driver, EMU_VARIANT_DRIVER) && !g_str_equal(driver, "vfio-pci") &&
	    !g_str_equal(driver, "nvme")) {
		g_set_error(error, NVFM_ERROR, NVFM_ERROR_NOT_FOUND,
			    "no PCI driver '%s' on an emulated host (there are %s, vfio-pci and nvme)",
			    driver, EMU_VARIANT_DRIVER);
		return FALSE;
	}
	s = &p->sec[index];
	if (s->driver && g_str_equal(s->driver, driver)) {
		g_free(s->override);
		s->override = g_strdup(driver);
		return pf_save(p, error);
	}
	if (s->driver && g_str_equal(s->driver, EMU_VARIANT_DRIVER) &&
	    !vf_dev_destroy(p, index, error))
		return FALSE;
	sec_drop_driver(s);
	s->override = g_strdup(driver);
	/* vfio-pci binds to anything; the NVMe drivers have to bring the
	 * controller up, which an offline secondary controller refuses */
	if (!g_str_equal(driver, "vfio-pci") && !s->online) {
		if (!pf_save(p, error))
			return FALSE;
		g_set_error(error, NVFM_ERROR, NVFM_ERROR_DEVICE,
			    "driver %s did not bind to VF emu:%s-vf%u: its secondary controller is offline (CSTS.CFS)",
			    driver, p->name, index);
		return FALSE;
	}
	if (g_str_equal(driver, EMU_VARIANT_DRIVER) && !vf_dev_create(p, index, error))
		return FALSE;
	s->driver = g_strdup(driver);
	return pf_save(p, error);
}

static char *epf_vf_default_driver(NvfmPf *pf, guint index, GError **error)
{
	return g_strdup(EMU_VARIANT_DRIVER);
}

static char *epf_lock_path(NvfmPf *pf)
{
	g_autofree char *dir = pf_dir();

	return pf_file(dir, EMU(pf), ".lock");
}

static void epf_close(NvfmPf *pf)
{
	g_free(pf->priv);
	pf->priv = NULL;
}

static const NvfmPfOps emu_pf_ops = {
	.kind = "emu",
	.identify_primary = epf_identify_primary,
	.list_secondary = epf_list_secondary,
	.identify_oacs = epf_identify_oacs,
	.identify_lm_formats = epf_identify_lm_formats,
	.virt_mgmt = epf_virt_mgmt,
	.sriov_get = epf_sriov_get,
	.numa_node = epf_numa_node,
	.set_autoprobe = epf_set_autoprobe,
	.set_numvfs = epf_set_numvfs,
	.vf_func = epf_vf_func,
	.vf_unbind = epf_vf_unbind,
	.vf_bind = epf_vf_bind,
	.vf_default_driver = epf_vf_default_driver,
	.lock_path = epf_lock_path,
	.close = epf_close,
};

gboolean nvfm_emu_pf_open(NvfmPf *pf, const char *name, GError **error)
{
	g_autoptr(EmuPf) p = NULL;

	if (!check_name(name, error))
		return FALSE;
	p = pf_load(name, error);
	if (!p)
		return FALSE;
	pf->ops = &emu_pf_ops;
	pf->priv = g_strdup(name);
	return TRUE;
}

/* ---- public: create, destroy, list ------------------------------------------ */

/* Runs @fn on PF @name under its lock, like provisioning does. Only a
 * create may name a PF that does not exist: no other call leaves a lock
 * file behind for a typo. */
static gboolean with_pf_lock(const char *name, gboolean (*fn)(const char *name,
							     gconstpointer data,
							     GError **error),
			     gconstpointer data, gboolean create, GError **error)
{
	g_autoptr(NvfmPf) pf = g_new0(NvfmPf, 1);
	gboolean ok;

	if (!create) {
		g_autofree char *path = pf_existing_file(name, error);

		if (!path)
			return FALSE;
	}

	pf->admin_fd = -1;
	pf->lock_fd = -1;
	pf->ops = &emu_pf_ops;
	pf->priv = g_strdup(name);
	pf->address = g_strconcat("emu:", name, NULL);
	if (!nvfm_pf_lock(pf, 0, error))
		return FALSE;
	ok = fn(name, data, error);
	nvfm_pf_unlock(pf);
	return ok;
}

static gboolean any_online(const EmuPf *p)
{
	for (guint i = 0; i < p->cfg.total_vfs; i++) {
		if (p->sec[i].online)
			return TRUE;
	}
	return FALSE;
}

/* Unbinds every VF (their emulated devices go) before the PF is replaced
 * or removed; refuses while a controller is online. */
static gboolean drop_existing(const char *name, GError **error)
{
	g_autoptr(EmuPf) old = NULL;
	g_autoptr(GError) e = NULL;

	old = pf_load(name, &e);
	if (!old)
		return e->code == NVFM_ERROR_NOT_FOUND ? TRUE :
		       (g_propagate_error(error, g_steal_pointer(&e)), FALSE);
	if (any_online(old)) {
		g_set_error(error, NVFM_ERROR, NVFM_ERROR_BUSY,
			    "emulated PF %s has online secondary controllers: release its VFs first",
			    name);
		return FALSE;
	}
	for (guint i = 0; i < old->num_vfs; i++) {
		if (old->sec[i].driver && g_str_equal(old->sec[i].driver, EMU_VARIANT_DRIVER) &&
		    !vf_dev_destroy(old, i, error))
			return FALSE;
	}
	return TRUE;
}

static gboolean create_locked(const char *name, gconstpointer data, GError **error)
{
	const NvfmEmuPfConfig *cfg = data;
	g_autoptr(EmuPf) p = g_new0(EmuPf, 1);

	if (!drop_existing(name, error))
		return FALSE;
	p->name = g_strdup(name);
	p->dir = pf_dir();
	p->cfg = *cfg;
	p->autoprobe = TRUE;
	return pf_save(p, error);
}

static gboolean destroy_locked(const char *name, gconstpointer data G_GNUC_UNUSED,
			       GError **error)
{
	g_autofree char *path = pf_existing_file(name, error);

	if (!path)
		return FALSE;
	if (!drop_existing(name, error))
		return FALSE;
	if (unlink(path) < 0 && errno != ENOENT) {
		nvfm_set_error_errno(error, -errno, "cannot remove %s", path);
		return FALSE;
	}
	return TRUE;
}

gboolean nvfm_emu_pf_create(const char *name, const NvfmEmuPfConfig *cfg, GError **error)
{
	NvfmEmuPfConfig c;

	if (!check_name(name, error))
		return FALSE;
	if (cfg)
		c = *cfg;
	else
		nvfm_emu_pf_config_init(&c);
	if (c.total_vfs == 0 || c.total_vfs > EMU_PF_MAX_VFS) {
		g_set_error(error, NVFM_ERROR, NVFM_ERROR_INVALID_ARG,
			    "an emulated PF has 1 to %d VFs, not %u", EMU_PF_MAX_VFS, c.total_vfs);
		return FALSE;
	}
	/* QEMU's rule: SR-IOV needs both kinds of flexible resources */
	if (c.vq_flexible == 0 || c.vi_flexible == 0 || c.vq_flexible > 0xffff ||
	    c.vi_flexible > 0xffff) {
		g_set_error(error, NVFM_ERROR, NVFM_ERROR_INVALID_ARG,
			    "an emulated PF needs 1 to 65535 flexible VQ and VI resources");
		return FALSE;
	}
	if (c.vq_max_per_vf == 0)
		c.vq_max_per_vf = c.vq_flexible / c.total_vfs;
	if (c.vi_max_per_vf == 0)
		c.vi_max_per_vf = c.vi_flexible / c.total_vfs;
	c.vq_max_per_vf = MIN(c.vq_max_per_vf, c.vq_flexible);
	c.vi_max_per_vf = MIN(c.vi_max_per_vf, c.vi_flexible);
	if (c.vq_max_per_vf < 2 || c.vi_max_per_vf < 1) {
		g_set_error(error, NVFM_ERROR, NVFM_ERROR_INVALID_ARG,
			    "a secondary controller of an emulated PF must be able to hold 2 VQ and 1 VI (max %u VQ, %u VI per VF)",
			    c.vq_max_per_vf, c.vi_max_per_vf);
		return FALSE;
	}
	if (c.blob_size == 0)
		c.blob_size = 16ull << 20;
	if (c.n_lm_versions > NVFM_EMU_LM_MAX_VERSIONS || c.n_lm_uuids > NVFM_EMU_LM_MAX_UUIDS) {
		g_set_error(error, NVFM_ERROR, NVFM_ERROR_INVALID_ARG,
			    "an emulated PF lists at most %d NVMe controller state versions and %d vendor formats",
			    NVFM_EMU_LM_MAX_VERSIONS, NVFM_EMU_LM_MAX_UUIDS);
		return FALSE;
	}
	for (guint i = 0; i < c.n_lm_uuids; i++) {
		guint8 raw[16];

		if (!nvfm_lm_uuid_parse(c.lm_uuids[i], raw)) {
			g_set_error(error, NVFM_ERROR, NVFM_ERROR_INVALID_ARG,
				    "invalid vendor format UUID '%s' (expected xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx)",
				    c.lm_uuids[i]);
			return FALSE;
		}
		nvfm_lm_uuid_format(raw, c.lm_uuids[i]);
	}
	return with_pf_lock(name, create_locked, &c, TRUE, error);
}

static gboolean set_vf_fault_locked(const char *name, gconstpointer data, GError **error)
{
	const char *const *kv = data;
	g_autoptr(EmuPf) p = pf_load(name, error);

	if (!p)
		return FALSE;
	if (!p->vf_faults)
		p->vf_faults = json_object();
	if (!kv[0])
		json_object_clear(p->vf_faults);
	else if (!kv[1])
		json_object_del(p->vf_faults, kv[0]);
	else
		json_object_set_new(p->vf_faults, kv[0], json_string(kv[1]));
	return pf_save(p, error);
}

gboolean nvfm_emu_pf_set_vf_fault(const char *name, const char *knob, const char *value,
				  GError **error)
{
	const char *kv[2] = { knob, value };

	/* a bad knob or value shows when a VF is made, as the device's own
	 * nvfm_emu_set_fault() refuses it */
	if (!check_name(name, error))
		return FALSE;
	return with_pf_lock(name, set_vf_fault_locked, kv, FALSE, error);
}

gboolean nvfm_emu_pf_destroy(const char *name, GError **error)
{
	if (!check_name(name, error))
		return FALSE;
	return with_pf_lock(name, destroy_locked, NULL, FALSE, error);
}

static gint cmp_names(gconstpointer a, gconstpointer b)
{
	return g_strcmp0(*(char *const *)a, *(char *const *)b);
}

char **nvfm_emu_pf_list(GError **error)
{
	g_autofree char *dir = pf_dir();
	g_autoptr(GPtrArray) out = g_ptr_array_new_with_free_func(g_free);
	g_autoptr(GDir) d = g_dir_open(dir, 0, NULL);
	const char *e;

	while (d && (e = g_dir_read_name(d))) {
		g_autofree char *name = NULL;

		if (!g_str_has_suffix(e, ".json"))
			continue;
		name = g_strndup(e, strlen(e) - 5);
		if (name_valid(name))
			g_ptr_array_add(out, g_steal_pointer(&name));
	}
	g_ptr_array_sort(out, cmp_names);
	g_ptr_array_add(out, NULL);
	return (char **)g_ptr_array_free(g_steal_pointer(&out), FALSE);
}
