// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * The one atomic writer: a temporary file beside the target, written,
 * given its mode and renamed over the target, so a reader sees the old
 * contents or the new, never a part. Durable files are also fsynced, with
 * their directory, so that holds across a crash of the host too. Records
 * in the runtime directory are not: a reboot empties it (and takes the VFs
 * they describe with it), and an fsync costs milliseconds inside a
 * migration's pause window.
 */
#define G_LOG_DOMAIN "nvfm-util"

#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util-private.h"

static int write_all(int fd, const char *p, gsize len)
{
	while (len > 0) {
		gssize n = write(fd, p, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		p += n;
		len -= (gsize)n;
	}
	return 0;
}

static gboolean replace(const char *path, const void *data, gsize len, mode_t mode,
			gboolean durable, GError **error)
{
	g_autofree char *dir = g_path_get_dirname(path);
	g_autofree char *base = g_path_get_basename(path);
	g_autofree char *tmpl = g_strdup_printf("%s/.%s.XXXXXX", dir, base);
	int fd, r, dfd;

	fd = g_mkstemp_full(tmpl, O_WRONLY | O_CLOEXEC, 0600);
	if (fd < 0) {
		nvfm_set_error_errno(error, -errno, "writing %s", path);
		return FALSE;
	}
	r = write_all(fd, data, len);
	if (r == 0 && durable && fsync(fd) < 0)
		r = -errno;
	if (r == 0 && fchmod(fd, mode) < 0)
		r = -errno;
	if (close(fd) < 0 && r == 0)
		r = -errno;
	if (r == 0 && rename(tmpl, path) < 0)
		r = -errno;
	if (r < 0) {
		unlink(tmpl);
		nvfm_set_error_errno(error, r, "writing %s", path);
		return FALSE;
	}
	/* the rename itself must survive a crash too */
	dfd = durable ? open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC) : -1;
	if (dfd >= 0) {
		fsync(dfd);
		close(dfd);
	}
	return TRUE;
}

gboolean nvfm_file_write_atomic(const char *path, const void *data, gsize len, mode_t mode,
				GError **error)
{
	return replace(path, data, len, mode, TRUE, error);
}

gboolean nvfm_file_write_runtime(const char *path, const void *data, gsize len, mode_t mode,
				 GError **error)
{
	return replace(path, data, len, mode, FALSE, error);
}

gboolean nvfm_json_write_runtime(const char *path, json_t *obj, GError **error)
{
	g_autofree char *text = json_dumps(obj, JSON_INDENT(2) | JSON_SORT_KEYS);
	g_autofree char *line = NULL;

	if (!text) {
		g_set_error(error, NVFM_ERROR, NVFM_ERROR_INVALID_ARG, "writing %s: not JSON",
			    path);
		return FALSE;
	}
	line = g_strconcat(text, "\n", NULL);
	return nvfm_file_write_runtime(path, line, strlen(line), 0600, error);
}

json_t *nvfm_json_read_file(const char *path, GError **error)
{
	g_autofree char *text = NULL;
	g_autoptr(GError) e = NULL;
	json_error_t jerr;
	json_t *obj;
	gsize len;

	if (!g_file_get_contents(path, &text, &len, &e)) {
		g_set_error(error, NVFM_ERROR,
			    g_error_matches(e, G_FILE_ERROR, G_FILE_ERROR_NOENT) ?
				    NVFM_ERROR_NOT_FOUND : NVFM_ERROR_IO,
			    "%s", e->message);
		return NULL;
	}
	obj = json_loadb(text, len, 0, &jerr);
	if (!obj || !json_is_object(obj)) {
		json_decref(obj);
		g_set_error(error, NVFM_ERROR, NVFM_ERROR_PROTOCOL, "%s is damaged: %s", path,
			    jerr.text);
		return NULL;
	}
	return obj;
}
