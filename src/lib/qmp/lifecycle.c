// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * What becomes of a domain's VFs when libvirt stops it on this host: the
 * release policy the libvirt hook applies, and the stop reason libvirt
 * before 10.5 only wrote into the domain's log.
 */
#define G_LOG_DOMAIN "nvfm-domxml"

#include <fcntl.h>
#include <string.h>
#include <unistd.h>

#include "nvfm/domxml.h"
#include "util/util-private.h"

#define LOG_TAIL_MAX (256u << 10)

NvfmReleaseScope nvfm_release_scope(const char *phase, const char *reason, const char **why)
{
	const char *w = NULL;
	NvfmReleaseScope r = NVFM_RELEASE_KEEP;

	if (g_strcmp0(phase, "incoming") == 0) {
		/* QEMU never started here: whatever went wrong, the VFs are ours */
		r = NVFM_RELEASE_RECORDED;
		w = "incoming migration stopped before its QEMU ran";
	} else if (g_strcmp0(reason, "migrated") == 0) {
		r = NVFM_RELEASE_DOMAIN;
		w = "migrated away";
	} else if (phase && g_strcmp0(reason, "failed") == 0) {
		r = NVFM_RELEASE_DOMAIN;
		w = "incoming migration failed";
	}
	if (why)
		*why = w;
	return r;
}

/*
 * libvirt writes "<time>: starting up ..." into the domain's log when QEMU
 * starts and "<time>: shutting down, reason=R" when it stops, before the
 * stop hooks run. The reason counts only if it comes after the last start.
 */
char *nvfm_libvirt_stop_reason_from_log(const char *log_dir, const char *domain)
{
	g_autofree char *name = NULL, *path = NULL, *tail = NULL;
	const char *stop, *start, *p, *end;
	off_t size;
	ssize_t n;
	int fd;

	if (!domain || !*domain || strchr(domain, '/'))
		return NULL;
	name = g_strdup_printf("%s.log", domain);
	path = g_build_filename(log_dir, name, NULL);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return NULL;
	size = lseek(fd, 0, SEEK_END);
	if (size < 0 ||
	    lseek(fd, size > (off_t)LOG_TAIL_MAX ? size - LOG_TAIL_MAX : 0, SEEK_SET) < 0) {
		close(fd);
		return NULL;
	}
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
