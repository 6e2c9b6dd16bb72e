// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * The agent's and the hook's log: journal fields when the journal is
 * there, else one text line per event on stderr or in a file, with the
 * same fields as KEY=VALUE.
 */
#define G_LOG_DOMAIN "nvfm-log"

#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/uio.h>
#include <unistd.h>

#ifdef HAVE_LIBSYSTEMD
#include <systemd/sd-journal.h>
#endif

#include "nvfm/log.h"
#include "util-private.h"

struct _NvfmLog {
	NvfmLogTarget target;
	char *ident;
	char *file;
};

gboolean nvfm_log_target_parse(const char *text, NvfmLogTarget *target, GError **error)
{
	static const struct {
		const char *name;
		NvfmLogTarget target;
	} names[] = {
		{ "auto", NVFM_LOG_AUTO },
		{ "journal", NVFM_LOG_JOURNAL },
		{ "stderr", NVFM_LOG_STDERR },
		{ "file", NVFM_LOG_FILE },
	};

	for (gsize i = 0; text && i < G_N_ELEMENTS(names); i++) {
		if (g_str_equal(text, names[i].name)) {
			*target = names[i].target;
			return TRUE;
		}
	}
	g_set_error(error, NVFM_ERROR, NVFM_ERROR_INVALID_ARG,
		    "unknown log target '%s' (auto, journal, stderr or file)", text ? text : "");
	return FALSE;
}

static gboolean journal_usable(GError **error)
{
#ifdef HAVE_LIBSYSTEMD
	if (access("/run/systemd/journal/socket", W_OK) == 0)
		return TRUE;
	g_set_error(error, NVFM_ERROR, NVFM_ERROR_NOT_SUPPORTED,
		    "no journal on this host (/run/systemd/journal/socket)");
#else
	g_set_error(error, NVFM_ERROR, NVFM_ERROR_NOT_SUPPORTED,
		    "this build has no journal support (built without libsystemd)");
#endif
	return FALSE;
}

NvfmLog *nvfm_log_new(NvfmLogTarget target, const char *file, const char *ident,
		      GError **error)
{
	NvfmLog *log;

	if (target == NVFM_LOG_AUTO)
		target = g_log_writer_is_journald(fileno(stderr)) && journal_usable(NULL)
				 ? NVFM_LOG_JOURNAL : NVFM_LOG_STDERR;
	if ((target == NVFM_LOG_FILE) != (file != NULL && *file)) {
		g_set_error(error, NVFM_ERROR, NVFM_ERROR_INVALID_ARG,
			    target == NVFM_LOG_FILE ? "logging to a file needs the file's name"
						    : "a log file is for the file target only");
		return NULL;
	}
	if (target == NVFM_LOG_JOURNAL && !journal_usable(error))
		return NULL;
	if (target == NVFM_LOG_FILE) {
		int fd = open(file, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC | O_NOCTTY, 0600);

		if (fd < 0) {
			nvfm_set_error_errno(error, -errno, "opening log file %s", file);
			return NULL;
		}
		close(fd);
	}
	log = g_new0(NvfmLog, 1);
	log->target = target;
	log->ident = g_strdup(ident ? ident : "nvme-vf-migrate");
	log->file = g_strdup(file);
	return log;
}

void nvfm_log_free(NvfmLog *log)
{
	if (!log)
		return;
	g_free(log->ident);
	g_free(log->file);
	g_free(log);
}

NvfmLogTarget nvfm_log_get_target(const NvfmLog *log)
{
	return log->target;
}

static const char *level_name(GLogLevelFlags level)
{
	if (level & (G_LOG_LEVEL_ERROR | G_LOG_LEVEL_CRITICAL | G_LOG_LEVEL_WARNING))
		return "warning";
	if (level & G_LOG_LEVEL_MESSAGE)
		return "notice";
	if (level & G_LOG_LEVEL_INFO)
		return "info";
	return "debug";
}

static int syslog_priority(GLogLevelFlags level)
{
	if (level & (G_LOG_LEVEL_ERROR | G_LOG_LEVEL_CRITICAL | G_LOG_LEVEL_WARNING))
		return 4;
	if (level & G_LOG_LEVEL_MESSAGE)
		return 5;
	if (level & G_LOG_LEVEL_INFO)
		return 6;
	return 7;
}

/* the fields in their one order: names and values side by side */
static gsize field_list(const NvfmLogFields *f, const char *name[4], const char *value[4])
{
	gsize n = 0;

	if (!f)
		return 0;
#define ADD(NAME, MEMBER)                   \
	if (f->MEMBER && *f->MEMBER) {      \
		name[n] = NAME;             \
		value[n++] = f->MEMBER;     \
	}
	ADD("MIGRATION_ID", migration_id);
	ADD("DOMAIN", domain);
	ADD("VF", vf);
	ADD("PHASE", phase);
#undef ADD
	return n;
}

static void append_clean(GString *s, const char *text)
{
	for (const char *p = text; *p; p++)
		g_string_append_c(s, ((guchar)*p < 0x20 || *p == 0x7f) ? '?' : *p);
}

static void append_value(GString *s, const char *v)
{
	if (!v[strcspn(v, " \t\"\\=")]) {
		append_clean(s, v);
		return;
	}
	g_string_append_c(s, '"');
	for (const char *p = v; *p; p++) {
		if (*p == '"' || *p == '\\')
			g_string_append_c(s, '\\');
		if ((guchar)*p < 0x20 || *p == 0x7f)
			g_string_append_c(s, '?');
		else
			g_string_append_c(s, *p);
	}
	g_string_append_c(s, '"');
}

char *nvfm_log_render(GLogLevelFlags level, const NvfmLogFields *fields, const char *message)
{
	const char *name[4], *value[4];
	gsize n = field_list(fields, name, value);
	GString *s = g_string_new(level_name(level));

	g_string_append(s, ": ");
	append_clean(s, message ? message : "");
	for (gsize i = 0; i < n; i++) {
		g_string_append_printf(s, " %s=", name[i]);
		append_value(s, value[i]);
	}
	return g_string_free(s, FALSE);
}

#ifdef HAVE_LIBSYSTEMD
static gboolean write_journal(NvfmLog *log, GLogLevelFlags level, const NvfmLogFields *fields,
			      const char *message)
{
	const char *name[4], *value[4];
	gsize n = field_list(fields, name, value);
	g_autoptr(GPtrArray) strs = g_ptr_array_new_with_free_func(g_free);
	struct iovec iov[8];

	g_ptr_array_add(strs, g_strconcat("MESSAGE=", message ? message : "", NULL));
	g_ptr_array_add(strs, g_strdup_printf("PRIORITY=%d", syslog_priority(level)));
	g_ptr_array_add(strs, g_strconcat("SYSLOG_IDENTIFIER=", log->ident, NULL));
	for (gsize i = 0; i < n; i++)
		g_ptr_array_add(strs, g_strconcat(name[i], "=", value[i], NULL));
	for (guint i = 0; i < strs->len; i++) {
		iov[i].iov_base = strs->pdata[i];
		iov[i].iov_len = strlen(strs->pdata[i]);
	}
	return sd_journal_sendv(iov, (int)strs->len) >= 0;
}
#endif

void nvfm_log_write(NvfmLog *log, GLogLevelFlags level, const NvfmLogFields *fields,
		    const char *message)
{
	g_autoptr(GDateTime) now = NULL;
	g_autofree char *line = NULL, *stamp = NULL, *text = NULL;

	if (!log)
		return;
#ifdef HAVE_LIBSYSTEMD
	if (log->target == NVFM_LOG_JOURNAL && write_journal(log, level, fields, message))
		return;
#endif
	line = nvfm_log_render(level, fields, message);
	now = g_date_time_new_now_local();
	stamp = g_date_time_format(now, "%Y-%m-%dT%H:%M:%S.%f");
	/* milliseconds are enough */
	if (stamp && strlen(stamp) > 23)
		stamp[23] = 0;
	/* stderr goes to one reader, a file may have several writers */
	if (log->target == NVFM_LOG_FILE)
		text = g_strdup_printf("%s %s[%d]: %s\n", stamp ? stamp : "", log->ident,
				       (int)getpid(), line);
	else
		text = g_strdup_printf("%s %s\n", stamp ? stamp : "", line);
	if (log->target == NVFM_LOG_FILE) {
		int fd = open(log->file, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC | O_NOCTTY, 0600);

		/* one write per line: writers sharing the file do not interleave */
		if (fd >= 0) {
			if (write(fd, text, strlen(text)) < 0)
				g_debug("writing %s: %s", log->file, g_strerror(errno));
			close(fd);
			return;
		}
	}
	/* stderr, and where the journal or the file failed */
	fputs(text, stderr);
	fflush(stderr);
}
