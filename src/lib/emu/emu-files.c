/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The emulated VF's files in nvfm_emu_dir(), each replaced atomically:
 *   NAME.json    config, controller, workload position, page summary
 *   NAME.pages   page table: "NVEMUPT1", u32 count, u32 reserved, then
 *                one u32 per page: version, bit 31 = contents spilled
 *   NAME.blob    sparse spill file (only when pages are spilled)
 *   NAME.faults  armed fault knobs (JSON), written by nvfm_emu_set_fault()
 *   NAME.dma     guest-memory writes "IOVA LENGTH" lines (nvfm_emu_dma_write()),
 *                taken by the open device's next DMA logging REPORT
 *   NAME.lock    flock()ed by the one process that has the device open
 */
#define G_LOG_DOMAIN "nvfm-emu"

#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>

#include "emu-private.h"

#define PAGES_MAGIC "NVEMUPT1"
#define PAGES_HEADER_SIZE 16
#define MODEL_FORMAT 1

/* ---- names and files ---- */

gboolean emu_name_valid(const char *name)
{
	gsize n = name ? strlen(name) : 0;

	if (n < 1 || n > 64)
		return FALSE;
	for (gsize i = 0; i < n; i++) {
		if (!g_ascii_isalnum(name[i]) && !strchr("_.-", name[i]))
			return FALSE;
	}
	return TRUE;
}

gboolean emu_check_name(const char *name, GError **error)
{
	if (emu_name_valid(name))
		return TRUE;
	g_set_error(error, NVFM_ERROR, NVFM_ERROR_INVALID_ARG,
		    "invalid emulated device name '%s' (expected 1 to 64 of A-Z a-z 0-9 _ . -)",
		    name ? name : "");
	return FALSE;
}

char *emu_path(const char *dir, const char *name, const char *suffix)
{
	g_autofree char *base = g_strconcat(name, suffix, NULL);

	return g_build_filename(dir, base, NULL);
}

gboolean emu_ensure_dir(const char *dir, GError **error)
{
	/* a directory another user planted (in /tmp, say) is not ours to use */
	if (nvfm_private_dir(dir, error))
		return TRUE;
	g_prefix_error(error, "emulated devices: ");
	return FALSE;
}

gboolean emu_config_check(const NvfmEmuConfig *cfg, GError **error)
{
	if (cfg->flags & ~(NVFM_MIG_FLAG_STOP_COPY | NVFM_MIG_FLAG_P2P | NVFM_MIG_FLAG_PRE_COPY)) {
		g_set_error(error, NVFM_ERROR, NVFM_ERROR_INVALID_ARG,
			    "unknown migration flags 0x%x", cfg->flags);
		return FALSE;
	}
	if (cfg->blob_size > EMU_MAX_BLOB) {
		g_autofree char *max = nvfm_format_size(EMU_MAX_BLOB);

		g_set_error(error, NVFM_ERROR, NVFM_ERROR_INVALID_ARG,
			    "state size %" G_GUINT64_FORMAT " is larger than the %s an emulated VF "
			    "supports", cfg->blob_size, max);
		return FALSE;
	}
	if (cfg->n_io_queues > EMU_MAX_IO_QUEUES) {
		g_set_error(error, NVFM_ERROR, NVFM_ERROR_INVALID_ARG,
			    "%u I/O queues requested, at most %u", cfg->n_io_queues,
			    EMU_MAX_IO_QUEUES);
		return FALSE;
	}
	return TRUE;
}

static json_t *hex64(guint64 v)
{
	char buf[24];

	g_snprintf(buf, sizeof(buf), "0x%016" G_GINT64_MODIFIER "x", v);
	return json_string(buf);
}

static gboolean get_hex64(json_t *obj, const char *key, guint64 *out)
{
	const char *s = json_string_value(json_object_get(obj, key));
	char *end = NULL;

	if (!s || !g_str_has_prefix(s, "0x"))
		return FALSE;
	*out = g_ascii_strtoull(s + 2, &end, 16);
	return end && *end == '\0' && end != s + 2;
}

static gboolean get_uint(json_t *obj, const char *key, guint64 max, guint64 *out)
{
	json_t *v = json_object_get(obj, key);

	if (!json_is_integer(v) || json_integer_value(v) < 0 ||
	    (guint64)json_integer_value(v) > max)
		return FALSE;
	*out = (guint64)json_integer_value(v);
	return TRUE;
}

static json_t *ctrl_to_json(const EmuCtrl *c)
{
	json_t *queues = json_array();
	json_t *cmds = json_array();

	for (guint32 i = 0; i < c->n_queues; i++) {
		const EmuQueue *q = &c->queues[i];

		json_array_append_new(queues, json_pack(
			"{s:i, s:i, s:i, s:i, s:o, s:o, s:i, s:i, s:i, s:i, s:i, s:i, s:i}",
			"qid", (int)q->qid, "cqid", (int)q->cqid,
			"sq_size", (int)q->sq_size, "cq_size", (int)q->cq_size,
			"sq_base", hex64(q->sq_base), "cq_base", hex64(q->cq_base),
			"sq_head", (int)q->sq_head, "sq_tail", (int)q->sq_tail,
			"cq_head", (int)q->cq_head, "cq_tail", (int)q->cq_tail,
			"cq_phase", (int)q->cq_phase, "irq_vector", (int)q->irq_vector,
			"flags", (int)q->flags));
	}
	for (guint32 i = 0; i < c->n_cmds; i++) {
		const EmuCmd *cmd = &c->cmds[i];

		json_array_append_new(cmds, json_pack(
			"{s:i, s:i, s:i, s:I, s:I, s:i}",
			"qid", (int)cmd->qid, "cid", (int)cmd->cid, "opcode", (int)cmd->opcode,
			"nsid", (json_int_t)cmd->nsid, "slba", (json_int_t)cmd->slba,
			"nlb", (int)cmd->nlb));
	}
	return json_pack("{s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o}",
			 "cap", hex64(c->cap), "vs", hex64(c->vs), "intms", hex64(c->intms),
			 "intmc", hex64(c->intmc), "cc", hex64(c->cc), "csts", hex64(c->csts),
			 "nssr", hex64(c->nssr), "aqa", hex64(c->aqa), "asq", hex64(c->asq),
			 "acq", hex64(c->acq), "queues", queues, "commands", cmds);
}

static gboolean ctrl_from_json(json_t *o, guint32 n_io_queues, EmuCtrl *c)
{
	static const struct { const char *key; gsize off; } regs32[] = {
		{ "vs", G_STRUCT_OFFSET(EmuCtrl, vs) },
		{ "intms", G_STRUCT_OFFSET(EmuCtrl, intms) },
		{ "intmc", G_STRUCT_OFFSET(EmuCtrl, intmc) },
		{ "cc", G_STRUCT_OFFSET(EmuCtrl, cc) },
		{ "csts", G_STRUCT_OFFSET(EmuCtrl, csts) },
		{ "nssr", G_STRUCT_OFFSET(EmuCtrl, nssr) },
		{ "aqa", G_STRUCT_OFFSET(EmuCtrl, aqa) },
	};
	json_t *queues = json_object_get(o, "queues");
	json_t *cmds = json_object_get(o, "commands");
	guint64 v;

	memset(c, 0, sizeof(*c));
	if (!json_is_object(o) || !get_hex64(o, "cap", &c->cap) || !get_hex64(o, "asq", &c->asq) ||
	    !get_hex64(o, "acq", &c->acq))
		return FALSE;
	for (guint i = 0; i < G_N_ELEMENTS(regs32); i++) {
		if (!get_hex64(o, regs32[i].key, &v) || v > G_MAXUINT32)
			return FALSE;
		G_STRUCT_MEMBER(guint32, c, regs32[i].off) = (guint32)v;
	}
	if (!json_is_array(queues) || json_array_size(queues) != n_io_queues + 1 ||
	    !json_is_array(cmds) || json_array_size(cmds) > EMU_MAX_CMDS)
		return FALSE;
	c->n_queues = n_io_queues + 1;
	for (guint32 i = 0; i < c->n_queues; i++) {
		json_t *j = json_array_get(queues, i);
		EmuQueue *q = &c->queues[i];
		guint64 qid, cqid, sqs, cqs, sqh, sqt, cqh, cqt, ph, irq, fl;

		if (!get_uint(j, "qid", 0xffff, &qid) || !get_uint(j, "cqid", 0xffff, &cqid) ||
		    !get_uint(j, "sq_size", 65536, &sqs) || !get_uint(j, "cq_size", 65536, &cqs) ||
		    !get_uint(j, "sq_head", 0xffff, &sqh) || !get_uint(j, "sq_tail", 0xffff, &sqt) ||
		    !get_uint(j, "cq_head", 0xffff, &cqh) || !get_uint(j, "cq_tail", 0xffff, &cqt) ||
		    !get_uint(j, "cq_phase", 1, &ph) || !get_uint(j, "irq_vector", 0xffff, &irq) ||
		    !get_uint(j, "flags", 0xff, &fl) || !get_hex64(j, "sq_base", &q->sq_base) ||
		    !get_hex64(j, "cq_base", &q->cq_base) || qid != i)
			return FALSE;
		if ((sqs && (sqh >= sqs || sqt >= sqs)) || (cqs && (cqh >= cqs || cqt >= cqs)))
			return FALSE;
		q->qid = (guint16)qid;
		q->cqid = (guint16)cqid;
		q->sq_size = (guint32)sqs;
		q->cq_size = (guint32)cqs;
		q->sq_head = (guint16)sqh;
		q->sq_tail = (guint16)sqt;
		q->cq_head = (guint16)cqh;
		q->cq_tail = (guint16)cqt;
		q->cq_phase = (guint8)ph;
		q->irq_vector = (guint16)irq;
		q->flags = (guint8)fl;
	}
	c->n_cmds = (guint32)json_array_size(cmds);
	for (guint32 i = 0; i < c->n_cmds; i++) {
		json_t *j = json_array_get(cmds, i);
		EmuCmd *cmd = &c->cmds[i];
		guint64 qid, cid, op, nsid, slba, nlb;

		if (!get_uint(j, "qid", c->n_queues - 1, &qid) || !get_uint(j, "cid", 0xffff, &cid) ||
		    !get_uint(j, "opcode", 0xff, &op) || !get_uint(j, "nsid", G_MAXUINT32, &nsid) ||
		    !get_uint(j, "slba", G_MAXINT64, &slba) || !get_uint(j, "nlb", G_MAXUINT32, &nlb))
			return FALSE;
		cmd->qid = (guint16)qid;
		cmd->cid = (guint16)cid;
		cmd->opcode = (guint8)op;
		cmd->nsid = (guint32)nsid;
		cmd->slba = slba;
		cmd->nlb = (guint32)nlb;
	}
	return TRUE;
}

static guint32 count_modified(const EmuState *st)
{
	guint32 n = 0;

	for (guint32 i = 0; i < st->n_pages; i++)
		n += st->ver[i] != 0;
	return n;
}

json_t *emu_model_to_json(const EmuModel *m)
{
	g_autofree char *flags = nvfm_mig_flags_to_string(m->cfg.flags);
	g_autofree char *pages = g_strconcat(m->name, ".pages", NULL);
	g_autofree char *blob = g_strconcat(m->name, ".blob", NULL);

	return json_pack(
		"{s:i, s:s, s:{s:i, s:s, s:I, s:o, s:i, s:I, s:I, s:b}, s:{s:o, s:I},"
		" s:o, s:{s:i, s:i, s:i, s:i, s:s, s:s?}}",
		"format", MODEL_FORMAT, "name", m->name,
		"config",
		"flags", (int)m->cfg.flags, "flags_text", flags,
		"blob_size", (json_int_t)m->st.blob_size, "seed", hex64(m->st.seed),
		"n_io_queues", (int)m->st.n_io_queues, "dirty_rate", (json_int_t)m->cfg.dirty_rate,
		"max_write", (json_int_t)m->cfg.max_write,
		"report_data_size", m->cfg.report_data_size,
		"workload", "rng", hex64(m->rng), "dirtied_bytes", (json_int_t)m->dirtied_bytes,
		"controller", ctrl_to_json(&m->st.ctrl),
		"pages", "page_size", (int)EMU_PAGE_SIZE, "count", (int)m->st.n_pages,
		"modified", (int)count_modified(&m->st), "spilled", (int)m->st.n_spilled,
		"table", pages, "spill", m->st.n_spilled ? blob : NULL);
}


gboolean emu_model_save(EmuModel *m, GError **error)
{
	g_autofree char *pages_path = emu_path(m->dir, m->name, ".pages");
	g_autofree char *json_path = emu_path(m->dir, m->name, ".json");
	gsize tlen = PAGES_HEADER_SIZE + (gsize)m->st.n_pages * 4;
	g_autofree guint8 *table = g_malloc0(tlen);
	g_autofree char *text = NULL;
	json_auto_t *j = NULL;

	memcpy(table, PAGES_MAGIC, 8);
	put32(table + 8, m->st.n_pages);
	for (guint32 i = 0; i < m->st.n_pages; i++)
		put32(table + PAGES_HEADER_SIZE + 4 * (gsize)i,
		      m->st.ver[i] | (emu_page_spilled(&m->st, i) ? PAGE_SPILLED_BIT : 0));
	if (!nvfm_file_write_runtime(pages_path, table, tlen, 0600, error))
		return FALSE;
	j = emu_model_to_json(m);
	text = json_dumps(j, JSON_INDENT(2) | JSON_SORT_KEYS);
	if (!text) {
		g_set_error(error, NVFM_ERROR, NVFM_ERROR_FAILED, "cannot serialize device %s",
			    m->name);
		return FALSE;
	}
	return nvfm_file_write_runtime(json_path, text, strlen(text), 0600, error);
}

static void model_free_fields(EmuModel *m)
{
	emu_state_clear(&m->st);
	g_free(m->dir);
	g_free(m->name);
}

void emu_model_free(EmuModel *m)
{
	if (!m)
		return;
	model_free_fields(m);
	g_free(m);
}

EmuModel *emu_model_new(const char *dir, const char *name, const NvfmEmuConfig *cfg,
			GError **error)
{
	g_autoptr(EmuModel) m = NULL;

	if (!emu_check_name(name, error) || !emu_config_check(cfg, error))
		return NULL;
	m = g_new0(EmuModel, 1);
	m->st.spill_fd = -1;
	m->dir = g_strdup(dir);
	m->name = g_strdup(name);
	m->cfg = *cfg;
	m->cfg.flags |= NVFM_MIG_FLAG_STOP_COPY;
	emu_state_init(&m->st, cfg->blob_size, cfg->seed, cfg->n_io_queues);
	m->rng = cfg->seed ^ 0x6469727479776b6cull;
	return g_steal_pointer(&m);
}

gboolean emu_model_exists(const char *dir, const char *name)
{
	g_autofree char *path = emu_path(dir, name, ".json");

	return g_file_test(path, G_FILE_TEST_IS_REGULAR);
}

static gboolean corrupt(GError **error, const char *path, const char *what)
{
	g_set_error(error, NVFM_ERROR, NVFM_ERROR_PROTOCOL, "%s: corrupt emulated device file (%s)",
		    path, what);
	return FALSE;
}

static gboolean load_pages(EmuModel *m, const char *path, GError **error)
{
	g_autofree char *data = NULL;
	gsize len = 0;
	g_autoptr(GError) err = NULL;

	if (!g_file_get_contents(path, &data, &len, &err)) {
		g_set_error(error, NVFM_ERROR, NVFM_ERROR_NOT_FOUND, "%s", err->message);
		return FALSE;
	}
	if (len != PAGES_HEADER_SIZE + (gsize)m->st.n_pages * 4 ||
	    memcmp(data, PAGES_MAGIC, 8) != 0 || get32((guint8 *)data + 8) != m->st.n_pages)
		return corrupt(error, path, "page table does not match the configuration");
	for (guint32 i = 0; i < m->st.n_pages; i++) {
		guint32 e = get32((guint8 *)data + PAGES_HEADER_SIZE + 4 * (gsize)i);

		m->st.ver[i] = e & ~PAGE_SPILLED_BIT;
		emu_page_set_spilled(&m->st, i, (e & PAGE_SPILLED_BIT) != 0);
	}
	return TRUE;
}

EmuModel *emu_model_load(const char *dir, const char *name, GError **error)
{
	g_autofree char *json_path = emu_path(dir, name, ".json");
	g_autofree char *pages_path = emu_path(dir, name, ".pages");
	g_autoptr(EmuModel) m = NULL;
	json_auto_t *root = NULL;
	json_error_t jerr;
	json_t *cfg, *wl;
	guint64 v, blob, nio, seed;

	if (!emu_check_name(name, error))
		return NULL;
	if (!g_file_test(json_path, G_FILE_TEST_EXISTS)) {
		g_set_error(error, NVFM_ERROR, NVFM_ERROR_NOT_FOUND,
			    "emulated device '%s' does not exist (in %s)", name, dir);
		return NULL;
	}
	root = json_load_file(json_path, 0, &jerr);
	if (!root) {
		corrupt(error, json_path, jerr.text);
		return NULL;
	}
	m = g_new0(EmuModel, 1);
	m->st.spill_fd = -1;
	m->dir = g_strdup(dir);
	m->name = g_strdup(name);
	cfg = json_object_get(root, "config");
	wl = json_object_get(root, "workload");
	if (!get_uint(root, "format", MODEL_FORMAT, &v) || v != MODEL_FORMAT ||
	    !get_uint(cfg, "flags", 7, &v) || !(v & NVFM_MIG_FLAG_STOP_COPY)) {
		corrupt(error, json_path, "format or flags");
		return NULL;
	}
	m->cfg.flags = (guint32)v;
	if (!get_uint(cfg, "blob_size", EMU_MAX_BLOB, &blob) ||
	    !get_uint(cfg, "n_io_queues", EMU_MAX_IO_QUEUES, &nio) || !get_hex64(cfg, "seed", &seed) ||
	    !get_uint(cfg, "dirty_rate", G_MAXINT64, &m->cfg.dirty_rate) ||
	    !get_uint(cfg, "max_write", G_MAXUINT32, &v) ||
	    !json_is_boolean(json_object_get(cfg, "report_data_size"))) {
		corrupt(error, json_path, "config");
		return NULL;
	}
	m->cfg.max_write = (guint32)v;
	m->cfg.report_data_size = json_is_true(json_object_get(cfg, "report_data_size"));
	m->cfg.blob_size = blob;
	m->cfg.seed = seed;
	m->cfg.n_io_queues = (guint32)nio;
	if (!get_hex64(wl, "rng", &m->rng) ||
	    !get_uint(wl, "dirtied_bytes", G_MAXINT64, &m->dirtied_bytes)) {
		corrupt(error, json_path, "workload");
		return NULL;
	}
	emu_state_init(&m->st, blob, seed, (guint32)nio);
	if (!ctrl_from_json(json_object_get(root, "controller"), (guint32)nio, &m->st.ctrl)) {
		corrupt(error, json_path, "controller");
		return NULL;
	}
	if (m->st.n_pages && !load_pages(m, pages_path, error))
		return NULL;
	if (m->st.n_spilled) {
		g_autofree char *blob_path = emu_path(dir, name, ".blob");

		m->st.spill_fd = open(blob_path, O_RDONLY | O_CLOEXEC);
		if (m->st.spill_fd < 0) {
			nvfm_set_error_errno(error, -errno, "%s", blob_path);
			return NULL;
		}
	}
	return g_steal_pointer(&m);
}

gboolean emu_model_remove_files(const char *dir, const char *name, GError **error)
{
	static const char *const suffixes[] = { ".json", ".pages", ".blob", ".blob.new",
						".faults", ".migstate", ".dma", ".dma.taken" };

	for (guint i = 0; i < G_N_ELEMENTS(suffixes); i++) {
		g_autofree char *path = emu_path(dir, name, suffixes[i]);

		if (unlink(path) < 0 && errno != ENOENT) {
			nvfm_set_error_errno(error, -errno, "removing %s", path);
			return FALSE;
		}
	}
	return TRUE;
}
