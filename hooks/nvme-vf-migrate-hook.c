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
 *   release end     give back what the release policy says
 *
 * Everything else exits 0 at once. This program only adapts argv, stdin,
 * stdout and its configuration to library calls: PF choice, the agent's
 * reservations, the release policy and the record of incoming VFs by
 * domain UUID are libnvfm's (nvfm_incoming_*()). It never talks to
 * libvirtd (it runs under libvirtd's locks: a call back would deadlock)
 * and keeps stdout for the XML alone; see docs/libvirt.md.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "hook-config.h"

#define PROG "nvme-vf-migrate-hook"

typedef struct {
	const char *domain;	/* argv[1] */
	const char *op;
	const char *subop;
	const char *extra;
	HookConf conf;
	NvfmLedger *incoming;	/* what this hook provisioned, by domain UUID */
	GString *pending;	/* action lines, shown only when the call succeeds */
	NvfmLog *log;		/* NVFM_HOOK_LOG: the journal, stderr, a file or none */
	char *phase;		/* "OP-SUBOP", the PHASE field */
} Hook;

/* ---- output ------------------------------------------------------------ */

static void log_to_file(Hook *h, const char *line)
{
	g_autoptr(GDateTime) now = NULL;
	g_autofree char *stamp = NULL, *text = NULL;
	int fd;

	/* NVFM_HOOK_LOG_FILE is also log_file (the environment layer of the
	 * configuration): the log has the line already */
	if (!h->conf.log_file || (h->log && nvfm_log_get_target(h->log) == NVFM_LOG_FILE))
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

/*
 * The log NVFM_HOOK_LOG names (journal, stderr, file with
 * NVFM_HOOK_LOG_FILE, or auto: the journal when there is one, else none),
 * read before the configuration so that a broken one is logged too.
 */
static gboolean open_log(Hook *h, GError **error)
{
	const char *name = g_getenv("NVFM_HOOK_LOG");
	const char *file = g_getenv("NVFM_HOOK_LOG_FILE");
	NvfmLogTarget target = NVFM_LOG_AUTO;

	if (name && *name && !nvfm_log_target_parse(name, &target, error)) {
		g_prefix_error(error, "NVFM_HOOK_LOG: ");
		return FALSE;
	}
	if (target == NVFM_LOG_AUTO && file && *file)
		target = NVFM_LOG_FILE;
	if (target == NVFM_LOG_AUTO) {
		/* libvirtd keeps a hook's stderr for its error message */
		h->log = nvfm_log_new(NVFM_LOG_JOURNAL, NULL, PROG, NULL);
		return TRUE;
	}
	h->log = nvfm_log_new(target, target == NVFM_LOG_FILE ? file : NULL, PROG, error);
	if (!h->log)
		g_prefix_error(error, "NVFM_HOOK_LOG=%s: ", name ? name : "file");
	return h->log != NULL;
}

/* "PROG: DOMAIN OP SUBOP: message", one line, into the log file too. */
static char *hook_line(Hook *h, GLogLevelFlags level, const char *fmt, va_list ap)
	G_GNUC_PRINTF(3, 0);

static char *hook_line(Hook *h, GLogLevelFlags level, const char *fmt, va_list ap)
{
	g_autofree char *msg = g_strdelimit(g_strdup_vprintf(fmt, ap), "\r\n", ' ');
	char *line = g_strdup_printf(PROG ": %s %s %s: %s", h->domain, h->op, h->subop, msg);
	const NvfmLogFields fields = { .domain = h->domain, .phase = h->phase };

	log_to_file(h, line);
	nvfm_log_write(h->log, level, &fields, msg);
	return line;
}

/* A line kept for stderr, shown if the call succeeds (it is there
 * already when stderr is the log), and written to the log at @level. */
static void keep_line(Hook *h, GLogLevelFlags level, const char *fmt, va_list ap)
	G_GNUC_PRINTF(3, 0);

static void keep_line(Hook *h, GLogLevelFlags level, const char *fmt, va_list ap)
{
	g_autofree char *line = hook_line(h, level, fmt, ap);

	if (!h->log || nvfm_log_get_target(h->log) != NVFM_LOG_STDERR)
		g_string_append_printf(h->pending, "%s\n", line);
}

/* An action: kept for stderr and the log file; an NvfmNoteFunc. */
static void act(gpointer data, const char *fmt, ...) G_GNUC_PRINTF(2, 3);

static void act(gpointer data, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	keep_line(data, G_LOG_LEVEL_MESSAGE, fmt, ap);
	va_end(ap);
}

/* What the caller should know although the call succeeds: on stderr with
 * the actions, and in the log as a warning. */
static void warn(Hook *h, const char *fmt, ...) G_GNUC_PRINTF(2, 3);

static void warn(Hook *h, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	keep_line(h, G_LOG_LEVEL_WARNING, fmt, ap);
	va_end(ap);
}

/* The one-line reason libvirt puts into its error message; the actions
 * queued by act() are dropped from stderr (the log file has them). */
static int fail(Hook *h, const char *fmt, ...) G_GNUC_PRINTF(2, 3);

static int fail(Hook *h, const char *fmt, ...)
{
	g_autofree char *line = NULL;
	va_list ap;

	va_start(ap, fmt);
	line = hook_line(h, G_LOG_LEVEL_WARNING, fmt, ap);
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

/* ---- input ------------------------------------------------------------- */

/*
 * The domain XML, refused past max_xml_size as soon as it gets there, before
 * anything is parsed: the parse costs 20 to 35 times the text in
 * memory, and this runs as root under libvirtd.
 */
static char *read_stdin(const HookConf *c, GError **error)
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
		if (buf->len + (gsize)n > c->max_xml) {
			g_set_error(error, NVFM_ERROR, NVFM_ERROR_INVALID_ARG,
				    "the domain XML is larger than %" G_GSIZE_FORMAT
				    " KiB (max_xml_size in %s)", c->max_xml >> 10, c->path);
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

/* A hostdev's source as an address (its spelling is the XML's). */
static NvfmAddress *vf_address(const NvfmDomVf *vf, GError **error)
{
	return nvfm_address_parse(vf->source, error);
}

/* ---- the operations ------------------------------------------------------ */

static int op_migrate_begin(Hook *h, NvfmDomain *dom, const char *xml)
{
	g_autoptr(GPtrArray) vfs = managed_vfs(h, dom);
	g_autoptr(NvfmLedger) reservations = NULL;
	g_autoptr(GHashTable) map = NULL;
	g_autoptr(GError) error = NULL;
	g_autoptr(GError) e2 = NULL;
	g_autofree char *out = NULL;
	NvfmIncomingOpts opts = {
		.pfs = h->conf.pfs,
		.driver = h->conf.driver,
		.require_migration = h->conf.require_migration,
	};

	if (vfs->len == 0)
		return done(h);	/* empty output: libvirt keeps its XML */
	/* the flags of virsh migrate are not ours to see: only libvirt's
	 * own setting tells that the VF's state cannot go in clear */
	if (!nvfm_libvirt_migrate_tls_forced(NVFM_LIBVIRT_QEMU_CONF))
		warn(h, "libvirt's migration stream (guest RAM and the VF's state) travels in clear "
		     "unless virsh migrate --tls: %s does not set migrate_tls_force = 1",
		     NVFM_LIBVIRT_QEMU_CONF);
	reservations = nvfm_ledger_new_reservations(h->conf.agent_runtime_dir);
	opts.reservations = reservations;
	map = nvfm_incoming_provision(h->incoming, dom, vfs, &opts, act, h, &error);
	if (!map) {
		if (g_error_matches(error, NVFM_ERROR, NVFM_ERROR_NOT_FOUND))
			g_prefix_error(&error, "%s: ", h->conf.path);
		return fail(h, "%s", error->message);
	}
	/* every VF kept: nothing recorded, and libvirt keeps its XML */
	if (g_hash_table_size(map) == 0)
		return done(h);
	out = nvfm_domxml_rewrite(xml, map, &error);
	if (out && (fputs(out, stdout) == EOF || fflush(stdout) == EOF || ferror(stdout)))
		g_set_error(&error, NVFM_ERROR, NVFM_ERROR_IO, "writing the new XML: %s",
			    g_strerror(errno));
	if (!error)
		return done(h);
	if (!nvfm_incoming_release(h->incoming, nvfm_domain_get_uuid(dom), act, h, &e2))
		return fail(h, "%s; %s", error->message, e2->message);
	return fail(h, "%s; released the VFs it provisioned", error->message);
}

static int op_prepare_begin(Hook *h, NvfmDomain *dom)
{
	g_autoptr(GPtrArray) vfs = managed_vfs(h, dom);

	for (guint i = 0; i < vfs->len; i++) {
		const NvfmDomVf *vf = g_ptr_array_index(vfs, i);
		g_autoptr(NvfmAddress) src = NULL;
		g_autoptr(NvfmVfInfo) info = NULL;
		g_autoptr(GError) error = NULL;
		g_autofree char *want = NULL;

		src = vf_address(vf, &error);
		info = src ? nvfm_vf_lookup(src, &error) : NULL;
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
				      : nvfm_vf_default_driver(src, &error);
		if (!want)
			return fail(h, "%s (%s): %s", vf_label(vf), vf->source, error->message);
		if (info->driver && g_str_equal(info->driver, want))
			continue;
		if (!nvfm_vf_bind(src, want, &error))
			return fail(h, "%s (%s): %s", vf_label(vf), vf->source, error->message);
		act(h, "bound %s to %s (was %s)", vf->source, want,
		    info->driver ? info->driver : "unbound");
	}
	return done(h);
}

static int op_started_begin(Hook *h, NvfmDomain *dom)
{
	g_autoptr(GError) error = NULL;

	if (!nvfm_incoming_started(h->incoming, nvfm_domain_get_uuid(dom), &error))
		return fail(h, "%s", error->message);
	return done(h);
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
	r = nvfm_libvirt_stop_reason_from_log(h->conf.qemu_log_dir, h->domain);
	*from_log = r != NULL;
	return r;
}

static int op_release_end(Hook *h, NvfmDomain *dom)
{
	g_autoptr(GPtrArray) vfs = managed_vfs(h, dom);
	g_autoptr(GPtrArray) addrs = g_ptr_array_new_with_free_func((GDestroyNotify)nvfm_address_free);
	g_autoptr(GError) error = NULL;
	g_autofree char *reason = NULL;
	gboolean from_log;

	for (guint i = 0; i < vfs->len; i++) {
		NvfmAddress *a = vf_address(g_ptr_array_index(vfs, i), NULL);

		if (a)
			g_ptr_array_add(addrs, a);
	}
	reason = stop_reason(h, &from_log);
	if (!nvfm_incoming_stopped(h->incoming, nvfm_domain_get_uuid(dom), addrs, reason,
				   from_log ? ", from the domain log" : "", act, h, &error))
		return fail(h, "%s", error->message);
	return done(h);
}

/* ---- main -------------------------------------------------------------- */

static void usage(FILE *f)
{
	fprintf(f, "usage: %s DOMAIN OPERATION SUB-OPERATION EXTRA < domain.xml\n"
		   "The libvirt QEMU hook of nvme-vf-migrate (see nvme-vf-migrate-hook(8)).\n"
		   "Configuration: the [hook] section of $NVFM_CONFIG or %s\n", PROG,
		nvfm_config_default_path());
}

static gboolean is(const Hook *h, const char *op, const char *subop)
{
	return g_str_equal(h->op, op) && g_str_equal(h->subop, subop);
}

int main(int argc, char **argv)
{
	Hook h = { 0 };
	g_autoptr(GError) error = NULL;
	g_autoptr(NvfmDomain) dom = NULL;
	g_autofree char *xml = NULL, *rt = NULL;
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
	if (!is(&h, "migrate", "begin") && !is(&h, "prepare", "begin") &&
	    !is(&h, "started", "begin") && !is(&h, "release", "end"))
		return 0;

	umask(077);
	h.pending = g_string_new(NULL);
	h.phase = g_strdup_printf("%s-%s", h.op, h.subop);
	if (!open_log(&h, &error)) {
		rc = fail(&h, "%s", error->message);
		goto out;
	}
	if (!hook_conf_load(&h.conf, &error)) {
		rc = fail(&h, "%s", error->message);
		goto out;
	}
	rt = h.conf.runtime_dir ? g_strdup(h.conf.runtime_dir) : nvfm_runtime_dir("hook", NULL);
	h.incoming = nvfm_ledger_new(rt);
	xml = read_stdin(&h.conf, &error);
	dom = xml ? nvfm_domxml_parse(xml, &error) : NULL;
	if (!dom)
		rc = fail(&h, "%s", error->message);
	else if (is(&h, "migrate", "begin"))
		rc = op_migrate_begin(&h, dom, xml);
	else if (is(&h, "prepare", "begin"))
		rc = op_prepare_begin(&h, dom);
	else if (is(&h, "started", "begin"))
		rc = op_started_begin(&h, dom);
	else
		rc = op_release_end(&h, dom);
out:
	nvfm_ledger_free(h.incoming);
	hook_conf_clear(&h.conf);
	g_string_free(h.pending, TRUE);
	nvfm_log_free(h.log);
	g_free(h.phase);
	return rc;
}
