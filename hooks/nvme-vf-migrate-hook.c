/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * nvme-vf-migrate-hook: the libvirt QEMU hook that makes "virsh migrate"
 * work for domains with NVMe VFs. Installed as
 * /etc/libvirt/hooks/qemu.d/nvme-vf-migrate; libvirtd runs it as
 *	nvme-vf-migrate-hook DOMAIN OP SUBOP EXTRA  < domain XML
 *
 *   migrate begin   (destination) provision a VF per VF of the domain,
 *		     print the XML with the new sources, record them
 *   prepare begin   bind the domain's VFs to the VFIO driver
 *   started begin   note that the incoming QEMU started
 *   release end     give back what the hook provisioned for an incoming
 *		     migration that failed, or the VFs a domain left behind
 *		     when it migrated away
 *
 * Everything else exits 0 at once. The hook never talks to libvirtd (it
 * runs under libvirtd's locks: a call back would deadlock) and keeps
 * stdout for the XML alone; see docs/libvirt.md for the policies.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>

#include "nvfm/nvfm.h"

#define PROG "nvme-vf-migrate-hook"
#define STATE_VERSION 1
#define XML_MAX (16u << 20)
#define LOG_TAIL_MAX (256u << 10)
#define DEFAULT_RUNTIME_DIR "/run/nvme-vf-migrate/hook"
/* where this host's agent keeps its reservations (nvme-vf-migrate agent) */
#define DEFAULT_AGENT_RUNTIME_DIR "/run/nvme-vf-migrate/agent"
#define DEFAULT_QEMU_LOG_DIR "/var/log/libvirt/qemu"

#ifndef NVFM_HOOK_CONF_DEFAULT
#define NVFM_HOOK_CONF_DEFAULT "/etc/nvme-vf-migrate/hook.conf"
#endif

typedef struct {
	char *path;		/* the file read, or the default that was absent */
	char **pfs;		/* PFs to provision from, in order */
	char *driver;		/* NULL: nvfm_vf_default_driver() */
	char *runtime_dir;
	char *agent_runtime_dir;
	char *qemu_log_dir;
	char *log_file;
	gboolean all_hostdevs;	/* every PCI hostdev is an NVMe VF */
	gboolean reason_from_log;
	gboolean require_migration;
} HookConf;

typedef struct {
	const char *domain;	/* argv[1] */
	const char *op;
	const char *subop;
	const char *extra;
	HookConf conf;
	GString *pending;	/* action lines, shown only when the call succeeds */
} Hook;

/* ---- output ------------------------------------------------------------ */

static void log_to_file(Hook *h, const char *line)
{
	g_autoptr(GDateTime) now = NULL;
	g_autofree char *stamp = NULL;
	g_autofree char *text = NULL;
	int fd;

	if (!h->conf.log_file)
		return;
	fd = open(h->conf.log_file, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
	if (fd < 0)
		return;
	now = g_date_time_new_now_local();
	stamp = g_date_time_format(now, "%Y-%m-%d %H:%M:%S");
	text = g_strdup_printf("%s [%d] %s\n", stamp, (int)getpid(), line);
	/* one write per line: concurrent hooks do not interleave with O_APPEND */
	if (write(fd, text, strlen(text)) < 0) {
		/* nothing better to do: stderr is reserved for the reason */
	}
	close(fd);
}

static char *one_line(const char *fmt, va_list ap) G_GNUC_PRINTF(1, 0);

static char *one_line(const char *fmt, va_list ap)
{
	char *s = g_strdup_vprintf(fmt, ap);

	return g_strdelimit(s, "\r\n", ' ');
}

/* "PROG: DOMAIN OP SUBOP: message", one line, into the log file too. */
static char *hook_line(Hook *h, const char *fmt, va_list ap)
{
	g_autofree char *msg = one_line(fmt, ap);
	char *line = g_strdup_printf(PROG ": %s %s %s: %s", h->domain, h->op, h->subop, msg);

	log_to_file(h, line);
	return line;
}

/* An action: kept for stderr (shown if the call succeeds) and the log file. */
static void act(Hook *h, const char *fmt, ...) G_GNUC_PRINTF(2, 3);

static void act(Hook *h, const char *fmt, ...)
{
	g_autofree char *line = NULL;
	va_list ap;

	va_start(ap, fmt);
	line = hook_line(h, fmt, ap);
	va_end(ap);
	g_string_append_printf(h->pending, "%s\n", line);
}

/*
 * The one-line reason libvirt puts into its error message. Lines queued by
 * act() are dropped from stderr so the reason is all libvirt shows; the
 * log file has them.
 */
static int fail(Hook *h, const char *fmt, ...) G_GNUC_PRINTF(2, 3);

static int fail(Hook *h, const char *fmt, ...)
{
	g_autofree char *line = NULL;
	va_list ap;

	va_start(ap, fmt);
	line = hook_line(h, fmt, ap);
	va_end(ap);
	fprintf(stderr, "%s\n", line);
	g_string_truncate(h->pending, 0);
	return 1;
}

static int done(Hook *h)
{
	fputs(h->pending->str, stderr);
	return 0;
}

/* ---- configuration ----------------------------------------------------- */

static void conf_clear(HookConf *c)
{
	g_free(c->path);
	g_strfreev(c->pfs);
	g_free(c->driver);
	g_free(c->runtime_dir);
	g_free(c->agent_runtime_dir);
	g_free(c->qemu_log_dir);
	g_free(c->log_file);
}

static char *conf_string(GKeyFile *kf, const char *key)
{
	g_autofree char *v = g_key_file_get_string(kf, "hook", key, NULL);

	if (!v)
		return NULL;
	g_strstrip(v);
	return *v ? g_steal_pointer(&v) : NULL;
}

static gboolean conf_bool(GKeyFile *kf, const char *key, gboolean def, GError **error)
{
	g_autoptr(GError) e = NULL;
	gboolean v;

	if (!g_key_file_has_key(kf, "hook", key, NULL))
		return def;
	v = g_key_file_get_boolean(kf, "hook", key, &e);
	if (e) {
		g_set_error(error, NVFM_ERROR, NVFM_ERROR_INVALID_ARG, "%s must be true or false",
			    key);
		return def;
	}
	return v;
}

/*
 * NVFM_HOOK_CONF, else the default path. libvirtd runs hooks with a
 * cleaned environment (PATH, HOME, LC_ALL=C and little more), so
 * NVFM_HOOK_CONF only arrives through a wrapper or a manual run; a missing
 * file means "all defaults, no PF".
 */
static gboolean conf_load(HookConf *c, GError **error)
{
	g_autoptr(GKeyFile) kf = g_key_file_new();
	g_autoptr(GError) e = NULL;
	const char *env = g_getenv("NVFM_HOOK_CONF");
	g_autofree char *pfs = NULL;
	g_autofree char *hostdevs = NULL;
	g_autofree char *unknown = NULL;
	g_autofree char *emu_dir = NULL;

	c->path = g_strdup(env && *env ? env : NVFM_HOOK_CONF_DEFAULT);
	c->reason_from_log = TRUE;
	c->require_migration = TRUE;
	if (!g_key_file_load_from_file(kf, c->path, G_KEY_FILE_NONE, &e)) {
		/* only the default may be absent: a named file is meant to exist */
		if (!g_error_matches(e, G_FILE_ERROR, G_FILE_ERROR_NOENT) || (env && *env)) {
			g_set_error(error, NVFM_ERROR, NVFM_ERROR_INVALID_ARG, "%s: %s", c->path,
				    e->message);
			return FALSE;
		}
		g_clear_error(&e);
	}
	pfs = conf_string(kf, "pf");
	c->pfs = pfs ? g_strsplit_set(pfs, ";, \t", -1) : g_new0(char *, 1);
	/* drop the empty strings the separators leave */
	{
		guint w = 0;

		for (guint r = 0; c->pfs[r]; r++) {
			if (*c->pfs[r])
				c->pfs[w++] = c->pfs[r];
			else
				g_free(c->pfs[r]);
		}
		c->pfs[w] = NULL;
	}
	c->driver = conf_string(kf, "driver");
	c->runtime_dir = conf_string(kf, "runtime_dir");
	if (!c->runtime_dir)
		c->runtime_dir = g_strdup(DEFAULT_RUNTIME_DIR);
	c->agent_runtime_dir = conf_string(kf, "agent_runtime_dir");
	if (!c->agent_runtime_dir)
		c->agent_runtime_dir = g_strdup(DEFAULT_AGENT_RUNTIME_DIR);
	c->qemu_log_dir = conf_string(kf, "qemu_log_dir");
	if (!c->qemu_log_dir)
		c->qemu_log_dir = g_strdup(DEFAULT_QEMU_LOG_DIR);
	c->log_file = conf_string(kf, "log_file");
	emu_dir = conf_string(kf, "emu_dir");
	if (emu_dir)
		g_setenv("NVFM_EMU_DIR", emu_dir, TRUE);

	hostdevs = conf_string(kf, "hostdevs");
	if (!hostdevs || g_str_equal(hostdevs, "listed")) {
		c->all_hostdevs = FALSE;
	} else if (g_str_equal(hostdevs, "all")) {
		c->all_hostdevs = TRUE;
	} else {
		g_set_error(error, NVFM_ERROR, NVFM_ERROR_INVALID_ARG,
			    "%s: hostdevs must be 'listed' or 'all'", c->path);
		return FALSE;
	}
	unknown = conf_string(kf, "unknown_reason");
	if (!unknown || g_str_equal(unknown, "log")) {
		c->reason_from_log = TRUE;
	} else if (g_str_equal(unknown, "keep")) {
		c->reason_from_log = FALSE;
	} else {
		g_set_error(error, NVFM_ERROR, NVFM_ERROR_INVALID_ARG,
			    "%s: unknown_reason must be 'log' or 'keep'", c->path);
		return FALSE;
	}
	c->require_migration = conf_bool(kf, "require_migration", TRUE, &e);
	if (e) {
		g_set_error(error, NVFM_ERROR, NVFM_ERROR_INVALID_ARG, "%s: %s", c->path,
			    e->message);
		return FALSE;
	}
	return TRUE;
}

/* ---- input ------------------------------------------------------------- */

static char *read_stdin(GError **error)
{
	g_autoptr(GString) buf = g_string_new(NULL);
	char chunk[65536];

	for (;;) {
		ssize_t n = read(STDIN_FILENO, chunk, sizeof(chunk));

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			g_set_error(error, NVFM_ERROR, NVFM_ERROR_IO, "reading the domain XML: %s",
				    g_strerror(errno));
			return NULL;
		}
		if (n == 0)
			break;
		if (buf->len + (gsize)n > XML_MAX) {
			g_set_error(error, NVFM_ERROR, NVFM_ERROR_INVALID_ARG,
				    "the domain XML is larger than %u MiB", XML_MAX >> 20);
			return NULL;
		}
		g_string_append_len(buf, chunk, n);
	}
	if (memchr(buf->str, '\0', buf->len)) {
		g_set_error(error, NVFM_ERROR, NVFM_ERROR_INVALID_ARG,
			    "the domain XML contains a NUL byte");
		return NULL;
	}
	return g_string_free(g_steal_pointer(&buf), FALSE);
}

/* The VFs this hook manages: emulated ones, and PCI hostdevs the metadata
 * marks (or every PCI hostdev with hostdevs=all). */
static GPtrArray *managed_vfs(Hook *h, NvfmDomain *dom)
{
	GPtrArray *all = nvfm_domain_get_vfs(dom);
	GPtrArray *out = g_ptr_array_new();

	for (guint i = 0; i < all->len; i++) {
		NvfmDomVf *vf = g_ptr_array_index(all, i);

		if (vf->kind == NVFM_DOM_VF_EMU || vf->listed || h->conf.all_hostdevs)
			g_ptr_array_add(out, vf);
	}
	return out;
}

static const char *vf_label(const NvfmDomVf *vf)
{
	return vf->alias ? vf->alias : vf->source;
}

/* ---- state files --------------------------------------------------------- */

static char *state_path(Hook *h, const char *uuid)
{
	g_autofree char *name = g_strdup_printf("%s.json", uuid);

	return g_build_filename(h->conf.runtime_dir, name, NULL);
}

static gboolean state_dir_ready(Hook *h, GError **error)
{
	struct stat st;

	if (g_mkdir_with_parents(h->conf.runtime_dir, 0700) < 0 ||
	    stat(h->conf.runtime_dir, &st) < 0) {
		g_set_error(error, NVFM_ERROR, nvfm_error_code_from_errno(errno),
			    "runtime directory %s: %s", h->conf.runtime_dir, g_strerror(errno));
		return FALSE;
	}
	/* an existing directory may have come with a looser mode */
	if ((st.st_mode & 07777) != 0700 && chmod(h->conf.runtime_dir, 0700) < 0) {
		g_set_error(error, NVFM_ERROR, nvfm_error_code_from_errno(errno),
			    "runtime directory %s: %s", h->conf.runtime_dir, g_strerror(errno));
		return FALSE;
	}
	return TRUE;
}

/* NULL without an error when there is no state for @uuid */
static json_t *state_load(Hook *h, const char *uuid, GError **error)
{
	g_autofree char *path = state_path(h, uuid);
	g_autofree char *text = NULL;
	g_autoptr(GError) e = NULL;
	json_error_t jerr;
	json_t *st;

	if (!g_file_get_contents(path, &text, NULL, &e)) {
		if (g_error_matches(e, G_FILE_ERROR, G_FILE_ERROR_NOENT))
			return NULL;
		g_set_error(error, NVFM_ERROR, NVFM_ERROR_IO, "%s", e->message);
		return NULL;
	}
	st = json_loads(text, 0, &jerr);
	if (!st || !json_is_object(st) || !json_is_array(json_object_get(st, "vfs")) ||
	    !json_is_string(json_object_get(st, "phase"))) {
		json_decref(st);
		g_set_error(error, NVFM_ERROR, NVFM_ERROR_PROTOCOL, "state file %s is damaged",
			    path);
		return NULL;
	}
	return st;
}

static gboolean state_save(Hook *h, json_t *st, GError **error)
{
	g_autofree char *path = NULL;
	g_autofree char *text = NULL;

	if (!state_dir_ready(h, error))
		return FALSE;
	path = state_path(h, json_string_value(json_object_get(st, "uuid")));
	text = json_dumps(st, JSON_INDENT(2) | JSON_SORT_KEYS);
	if (!text || !g_file_set_contents_full(path, text, -1,
					       G_FILE_SET_CONTENTS_CONSISTENT, 0600, error))
		return FALSE;
	return TRUE;
}

static void state_remove(Hook *h, const char *uuid)
{
	g_autofree char *path = state_path(h, uuid);

	if (unlink(path) < 0 && errno != ENOENT)
		act(h, "cannot remove %s: %s", path, g_strerror(errno));
}

static json_t *state_new(NvfmDomain *dom)
{
	g_autoptr(GDateTime) now = g_date_time_new_now_utc();
	g_autofree char *stamp = g_date_time_format_iso8601(now);

	return json_pack("{s:i, s:s, s:s, s:s, s:s, s:[]}", "version", STATE_VERSION, "uuid",
			 nvfm_domain_get_uuid(dom), "name", nvfm_domain_get_name(dom), "phase",
			 "incoming", "created", stamp, "vfs");
}

/* ---- VF actions ---------------------------------------------------------- */

/*
 * Those of @vfs that are still provisioned (controller online): what a
 * release has to do. An already released VF drops out, so a repeated
 * call does nothing. Lookup failures other than "no such VF" go to @error.
 */
static GPtrArray *still_online(Hook *h, GPtrArray *vfs, GError **error)
{
	g_autoptr(GPtrArray) out = g_ptr_array_new_with_free_func(g_free);

	for (guint i = 0; i < vfs->len; i++) {
		const char *vf = g_ptr_array_index(vfs, i);
		g_autoptr(NvfmVfInfo) info = NULL;
		g_autoptr(GError) e = NULL;

		info = nvfm_vf_lookup(vf, &e);
		if (!info) {
			if (!g_error_matches(e, NVFM_ERROR, NVFM_ERROR_NOT_FOUND)) {
				g_propagate_prefixed_error(error, g_steal_pointer(&e), "%s: ", vf);
				return NULL;
			}
			act(h, "VF %s: not an NVMe VF of this host, left alone", vf);
			continue;
		}
		if (info->online)
			g_ptr_array_add(out, g_strdup(vf));
	}
	return g_steal_pointer(&out);
}

/* release each of @vfs; the first error, after trying them all */
static gboolean release_list(Hook *h, GPtrArray *vfs, GError **error)
{
	g_autoptr(GError) first = NULL;

	for (guint i = 0; i < vfs->len; i++) {
		g_autoptr(GError) e = NULL;
		const char *vf = g_ptr_array_index(vfs, i);

		if (!nvfm_vf_release(vf, &e)) {
			g_prefix_error(&e, "releasing %s: ", vf);
			if (!first)
				first = g_steal_pointer(&e);
			else
				act(h, "%s", e->message);
			continue;
		}
		act(h, "released VF %s", vf);
	}
	if (first) {
		g_propagate_error(error, g_steal_pointer(&first));
		return FALSE;
	}
	return TRUE;
}

static GPtrArray *state_vfs(json_t *st)
{
	GPtrArray *out = g_ptr_array_new_with_free_func(g_free);
	json_t *v;
	size_t i;

	json_array_foreach(json_object_get(st, "vfs"), i, v) {
		const char *dev = json_string_value(json_object_get(v, "new"));

		if (dev)
			g_ptr_array_add(out, g_strdup(dev));
	}
	return out;
}

static gboolean pf_fits(const char *pf, const NvfmDomVf *vf)
{
	return g_str_has_prefix(pf, "emu:") == (vf->kind == NVFM_DOM_VF_EMU);
}

/* A destination VF for @vf from the configured PFs, or NULL with why none. */
static NvfmVfInfo *provision_for(Hook *h, const NvfmDomVf *vf, GError **error)
{
	g_autoptr(GString) why = g_string_new(NULL);

	for (guint i = 0; h->conf.pfs[i]; i++) {
		const char *addr = h->conf.pfs[i];
		g_autoptr(NvfmPf) pf = NULL;
		g_autoptr(GError) e = NULL;
		NvfmProvisionOpts opts;
		NvfmVfInfo *got;

		if (!pf_fits(addr, vf))
			continue;
		pf = nvfm_pf_open(addr, &e);
		if (pf) {
			nvfm_provision_opts_init(&opts);
			/* the source's amounts, where the metadata recorded them */
			opts.nvq = vf->nvq;
			opts.nvi = vf->nvi;
			opts.driver = h->conf.driver;
			opts.require_migration = h->conf.require_migration;
			got = nvfm_pf_provision(pf, &opts, &e);
			if (got)
				return got;
		}
		g_string_append_printf(why, "%s%s: %s", why->len ? "; " : "", addr, e->message);
	}
	if (!why->len)
		g_set_error(error, NVFM_ERROR, NVFM_ERROR_NOT_FOUND, "no %s PF is configured in %s",
			    vf->kind == NVFM_DOM_VF_EMU ? "emulated" : "PCI", h->conf.path);
	else
		g_set_error(error, NVFM_ERROR, NVFM_ERROR_BUSY, "%s", why->str);
	return NULL;
}

/*
 * Whether @vf already names a VF made for this migration: one of a
 * configured PF's VFs, provisioned (controller online) and held by no
 * process. "nvme-vf-migrate migrate --domain" provisions the destination
 * VF through this host's agent and hands libvirt an XML that names it;
 * provisioning a second VF here would strand the agent's. Such a VF is
 * kept as it is and stays its provisioner's to release: the hook records
 * nothing for it. A source address that means another VF on this host
 * (a PCI address both hosts happen to use) is not free here, or belongs
 * to a PF the hook does not manage, so it is not mistaken for one.
 */
/* Whether this host's agent has reserved @vf (docs/agent.md): together
 * with nobody holding it, the mark of a VF provisioned for a migration
 * that is arriving (the orchestrator keeps the lease before libvirt
 * starts, so any lease counts). */
static gboolean agent_reserved(Hook *h, const char *vf)
{
	g_autofree char *dir = g_build_filename(h->conf.agent_runtime_dir, "reservations", NULL);
	g_autoptr(GDir) d = g_dir_open(dir, 0, NULL);
	const char *name;

	while (d && (name = g_dir_read_name(d))) {
		g_autofree char *path = g_build_filename(dir, name, NULL);
		json_auto_t *rec = json_load_file(path, 0, NULL);

		if (g_strcmp0(json_string_value(json_object_get(rec, "vf")), vf) == 0)
			return TRUE;
	}
	return FALSE;
}

static NvfmVfInfo *provisioned_here(Hook *h, const NvfmDomVf *vf)
{
	g_autoptr(NvfmVfInfo) info = nvfm_vf_lookup(vf->source, NULL);

	/* an idle provisioned VF is not enough: B may use the same address
	 * for a VF of its own; the agent's reservation says it was made for
	 * a migration */
	if (!info || !info->online || info->in_use_by || !agent_reserved(h, info->address))
		return NULL;
	for (guint i = 0; h->conf.pfs[i]; i++) {
		g_autoptr(NvfmPf) pf = NULL;

		if (!pf_fits(h->conf.pfs[i], vf))
			continue;
		pf = nvfm_pf_open(h->conf.pfs[i], NULL);
		if (pf && g_strcmp0(nvfm_pf_address(pf), info->pf) == 0)
			return g_steal_pointer(&info);
	}
	return NULL;
}

/* ---- the operations ------------------------------------------------------ */

static int op_migrate_begin(Hook *h, NvfmDomain *dom, const char *xml)
{
	g_autoptr(GPtrArray) vfs = managed_vfs(h, dom);
	g_autoptr(GHashTable) map = g_hash_table_new(g_str_hash, g_str_equal);
	g_autoptr(GPtrArray) got = g_ptr_array_new_with_free_func(g_free);
	g_autoptr(GError) error = NULL;
	g_autofree char *out = NULL;
	const char *uuid = nvfm_domain_get_uuid(dom);
	json_auto_t *st = NULL;
	json_auto_t *old = NULL;

	if (vfs->len == 0)
		return done(h);	/* empty output: libvirt keeps its XML */

	old = state_load(h, uuid, &error);
	if (error)
		return fail(h, "%s", error->message);
	if (old) {
		g_autoptr(GPtrArray) listed = state_vfs(old);
		g_autoptr(GPtrArray) stale = NULL;

		if (!g_str_equal(json_string_value(json_object_get(old, "phase")), "incoming"))
			return fail(h, "domain %s already has VFs here from an incoming migration "
				    "that started (%s/%s.json)", uuid, h->conf.runtime_dir, uuid);
		/* an earlier attempt that never got as far as starting QEMU */
		stale = still_online(h, listed, &error);
		if (!stale)
			return fail(h, "%s", error->message);
		if (stale->len)
			act(h, "releasing VFs left by an earlier incoming migration");
		if (!release_list(h, stale, &error))
			return fail(h, "%s", error->message);
		state_remove(h, uuid);
	}

	st = state_new(dom);
	for (guint i = 0; i < vfs->len; i++) {
		const NvfmDomVf *vf = g_ptr_array_index(vfs, i);
		g_autoptr(NvfmVfInfo) info = provisioned_here(h, vf);

		if (info) {
			act(h, "kept %s for %s: already provisioned on PF %s for this migration",
			    info->address, vf_label(vf), info->pf);
			continue;
		}
		info = provision_for(h, vf, &error);
		if (!info) {
			g_prefix_error(&error, "no VF for %s (%s): ", vf_label(vf), vf->source);
			goto rollback;
		}
		g_ptr_array_add(got, g_strdup(info->address));
		json_array_append_new(json_object_get(st, "vfs"),
				      json_pack("{s:s?, s:s, s:s, s:s, s:i, s:i, s:s?}", "alias",
						vf->alias, "old", vf->source, "new", info->address,
						"pf", info->pf, "nvq", (json_int_t)info->nvq, "nvi",
						(json_int_t)info->nvi, "driver", info->driver));
		/* recorded at once, so a crash here still leaves a trail to clean */
		if (!state_save(h, st, &error))
			goto rollback;
		g_hash_table_insert(map, (gpointer)vf->source, g_ptr_array_index(got, got->len - 1));
		act(h, "provisioned %s on PF %s for %s (was %s; %u VQ, %u VI, driver %s)",
		    info->address, info->pf, vf_label(vf), vf->source, info->nvq, info->nvi,
		    info->driver ? info->driver : "none");
	}
	/* every VF kept: nothing to record, and libvirt keeps its XML */
	if (got->len == 0)
		return done(h);
	out = nvfm_domxml_rewrite(xml, map, &error);
	if (!out)
		goto rollback;
	if (fputs(out, stdout) == EOF || fflush(stdout) == EOF || ferror(stdout)) {
		g_set_error(&error, NVFM_ERROR, NVFM_ERROR_IO, "writing the new XML: %s",
			    g_strerror(errno));
		goto rollback;
	}
	return done(h);

rollback:
	{
		g_autoptr(GError) e2 = NULL;
		gboolean clean = release_list(h, got, &e2);

		if (clean)
			state_remove(h, uuid);
		return fail(h, "%s; %s", error->message,
			    clean ? (got->len ? "released the VFs it provisioned" : "nothing provisioned")
				  : e2->message);
	}
}

static int op_prepare_begin(Hook *h, NvfmDomain *dom)
{
	g_autoptr(GPtrArray) vfs = managed_vfs(h, dom);

	for (guint i = 0; i < vfs->len; i++) {
		const NvfmDomVf *vf = g_ptr_array_index(vfs, i);
		g_autoptr(NvfmVfInfo) info = NULL;
		g_autoptr(GError) error = NULL;
		g_autofree char *want = NULL;

		info = nvfm_vf_lookup(vf->source, &error);
		if (!info) {
			if (vf->kind == NVFM_DOM_VF_PCI && !vf->listed &&
			    g_error_matches(error, NVFM_ERROR, NVFM_ERROR_NOT_FOUND))
				continue;	/* hostdevs=all: not every hostdev is ours */
			return fail(h, "%s (%s): %s", vf_label(vf), vf->source, error->message);
		}
		if (!info->online)
			return fail(h, "%s (%s): the VF's secondary controller is offline "
				    "(provision it first)", vf_label(vf), vf->source);
		want = h->conf.driver ? g_strdup(h->conf.driver)
				      : nvfm_vf_default_driver(vf->source, &error);
		if (!want)
			return fail(h, "%s (%s): %s", vf_label(vf), vf->source, error->message);
		if (info->driver && g_str_equal(info->driver, want))
			continue;
		if (!nvfm_vf_bind(vf->source, want, &error))
			return fail(h, "%s (%s): %s", vf_label(vf), vf->source, error->message);
		act(h, "bound %s to %s (was %s)", vf->source, want,
		    info->driver ? info->driver : "unbound");
	}
	return done(h);
}

static int op_started_begin(Hook *h, NvfmDomain *dom)
{
	g_autoptr(GError) error = NULL;
	json_auto_t *st = state_load(h, nvfm_domain_get_uuid(dom), &error);

	if (error)
		return fail(h, "%s", error->message);
	if (!st || !g_str_equal(json_string_value(json_object_get(st, "phase")), "incoming"))
		return done(h);
	json_object_set_new(st, "phase", json_string("started"));
	if (!state_save(h, st, &error))
		return fail(h, "%s", error->message);
	return done(h);
}

/*
 * libvirt writes "<time>: starting up ..." into the domain's log when QEMU
 * starts and "<time>: shutting down, reason=R" when it stops, before the
 * stop hooks run. The reason counts only if it comes after the last start.
 */
static char *reason_from_log(Hook *h)
{
	g_autofree char *name = g_strdup_printf("%s.log", h->domain);
	g_autofree char *path = g_build_filename(h->conf.qemu_log_dir, name, NULL);
	g_autofree char *tail = NULL;
	const char *stop, *start, *p, *end;
	off_t size;
	ssize_t n;
	int fd;

	if (strchr(h->domain, '/'))
		return NULL;
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return NULL;
	size = lseek(fd, 0, SEEK_END);
	if (size < 0) {
		close(fd);
		return NULL;
	}
	if (size > (off_t)LOG_TAIL_MAX)
		lseek(fd, size - LOG_TAIL_MAX, SEEK_SET);
	else
		lseek(fd, 0, SEEK_SET);
	tail = g_malloc0(LOG_TAIL_MAX + 1);
	n = read(fd, tail, LOG_TAIL_MAX);
	close(fd);
	if (n <= 0)
		return NULL;
	tail[n] = '\0';
	stop = g_strrstr(tail, ": shutting down, reason=");
	start = g_strrstr(tail, ": starting up ");
	if (!stop || (start && start > stop))
		return NULL;
	p = stop + strlen(": shutting down, reason=");
	for (end = p; g_ascii_isalnum(*end) || *end == '-' || *end == '_'; end++)
		;
	return end > p ? g_strndup(p, end - p) : NULL;
}

/* the 4th argument, or (libvirt < 10.5 passes "-") what the log says */
static char *stop_reason(Hook *h, gboolean *from_log)
{
	char *r;

	*from_log = FALSE;
	if (h->extra && *h->extra && !g_str_equal(h->extra, "-"))
		return g_strdup(h->extra);
	if (!h->conf.reason_from_log)
		return NULL;
	r = reason_from_log(h);
	*from_log = r != NULL;
	return r;
}

static int op_release_end(Hook *h, NvfmDomain *dom)
{
	const char *uuid = nvfm_domain_get_uuid(dom);
	g_autoptr(GError) error = NULL;
	g_autoptr(GPtrArray) release = NULL;
	g_autoptr(GPtrArray) todo = NULL;
	g_autofree char *reason = NULL;
	const char *phase = NULL;
	const char *what;
	gboolean from_log;
	json_auto_t *st = state_load(h, uuid, &error);

	if (error)
		return fail(h, "%s", error->message);
	if (st)
		phase = json_string_value(json_object_get(st, "phase"));
	reason = stop_reason(h, &from_log);

	if (st && g_str_equal(phase, "incoming")) {
		/* QEMU never started here: whatever went wrong, the VFs are ours */
		release = state_vfs(st);
		what = "incoming migration stopped before its QEMU ran";
	} else if (reason && (g_str_equal(reason, "migrated") ||
			      (st && g_str_equal(reason, "failed")))) {
		/* the domain left this host, or its incoming migration failed */
		g_autoptr(GPtrArray) vfs = managed_vfs(h, dom);

		release = st ? state_vfs(st) : g_ptr_array_new_with_free_func(g_free);
		for (guint i = 0; i < vfs->len; i++) {
			const NvfmDomVf *vf = g_ptr_array_index(vfs, i);

			if (!g_ptr_array_find_with_equal_func(release, vf->source, g_str_equal, NULL))
				g_ptr_array_add(release, g_strdup(vf->source));
		}
		what = g_str_equal(reason, "migrated") ? "migrated away" : "incoming migration failed";
	} else {
		/* an ordinary stop (or an unknown reason): the VFs stay with the
		 * domain's configuration; a successful incoming migration's VFs
		 * stop being the hook's */
		if (st) {
			act(h, "stopped (reason %s): keeping its VFs; they are no longer the hook's",
			    reason ? reason : "unknown");
			state_remove(h, uuid);
		}
		return done(h);
	}
	todo = still_online(h, release, &error);
	if (!todo)
		return fail(h, "%s", error->message);
	if (todo->len == 0) {
		if (st)
			state_remove(h, uuid);
		return done(h);
	}
	act(h, "%s (reason %s%s): releasing %u VF%s", what, reason ? reason : "unknown",
	    from_log ? ", from the domain log" : "", todo->len, todo->len == 1 ? "" : "s");
	if (!release_list(h, todo, &error))
		return fail(h, "%s", error->message);
	if (st)
		state_remove(h, uuid);
	return done(h);
}

/* ---- main -------------------------------------------------------------- */

static void usage(FILE *f)
{
	fprintf(f, "usage: %s DOMAIN OPERATION SUB-OPERATION EXTRA < domain.xml\n"
		   "The libvirt QEMU hook of nvme-vf-migrate (see nvme-vf-migrate-hook(8)).\n"
		   "Configuration: $NVFM_HOOK_CONF or %s\n", PROG, NVFM_HOOK_CONF_DEFAULT);
}

int main(int argc, char **argv)
{
	Hook h = { 0 };
	g_autoptr(GError) error = NULL;
	g_autoptr(NvfmDomain) dom = NULL;
	g_autofree char *xml = NULL;
	int rc;

	if (argc == 2 && (g_str_equal(argv[1], "--help") || g_str_equal(argv[1], "-h"))) {
		usage(stdout);
		return 0;
	}
	if (argc == 2 && g_str_equal(argv[1], "--version")) {
		printf("%s %s\n", PROG, nvfm_version());
		return 0;
	}
	if (argc < 4) {
		usage(stderr);
		return 2;
	}
	h.domain = argv[1];
	h.op = argv[2];
	h.subop = argv[3];
	h.extra = argc > 4 ? argv[4] : "-";

	/* the ops that matter; everything else leaves at once, stdin unread
	 * (libvirt ignores a hook that closes its input early) */
	if (!(g_str_equal(h.op, "migrate") && g_str_equal(h.subop, "begin")) &&
	    !(g_str_equal(h.op, "prepare") && g_str_equal(h.subop, "begin")) &&
	    !(g_str_equal(h.op, "started") && g_str_equal(h.subop, "begin")) &&
	    !(g_str_equal(h.op, "release") && g_str_equal(h.subop, "end")))
		return 0;

	umask(077);
	h.pending = g_string_new(NULL);
	if (!conf_load(&h.conf, &error)) {
		rc = fail(&h, "%s", error->message);
		goto out;
	}
	xml = read_stdin(&error);
	if (!xml) {
		rc = fail(&h, "%s", error->message);
		goto out;
	}
	dom = nvfm_domxml_parse(xml, &error);
	if (!dom) {
		rc = fail(&h, "%s", error->message);
		goto out;
	}

	if (g_str_equal(h.op, "migrate"))
		rc = op_migrate_begin(&h, dom, xml);
	else if (g_str_equal(h.op, "prepare"))
		rc = op_prepare_begin(&h, dom);
	else if (g_str_equal(h.op, "started"))
		rc = op_started_begin(&h, dom);
	else
		rc = op_release_end(&h, dom);
out:
	conf_clear(&h.conf);
	g_string_free(h.pending, TRUE);
	return rc;
}
