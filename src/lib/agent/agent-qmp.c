// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * "qmp": a destination QEMU's monitor, reached through the agent link
 * instead of QMP on TCP (which anyone who reaches the port controls). The
 * peer names a UNIX socket; the agent connects to it only when it lies
 * under the operator's QMP directory (--qmp-dir, symlinks resolved), says
 * so in its reply, and from then on the connection carries the monitor's
 * bytes both ways until either end closes (stream/relay.c): the link's TLS
 * and the client's certificate check cover the monitor too.
 */
#define G_LOG_DOMAIN "nvfm-agent"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "nvfm/error.h"
#include "agent-server.h"
#include "stream/relay.h"

gboolean agent_qmp_dir_init(NvfmAgent *a, const char *dir, GError **error)
{
	if (!dir)
		return TRUE;
	a->qmp_dir = realpath(dir, NULL);
	if (!a->qmp_dir) {
		nvfm_set_error_errno(error, -errno, "QMP directory %s", dir);
		return FALSE;
	}
	return TRUE;
}

static gboolean under(NvfmAgent *a, const char *p)
{
	gsize n = strlen(a->qmp_dir);

	return strncmp(p, a->qmp_dir, n) == 0 && (p[n] == '/' || a->qmp_dir[n - 1] == '/');
}

/* The socket @path names, if the peer may have it: under the QMP
 * directory once every symlink is resolved, and a socket. Where it is is
 * judged before whether it exists: nothing tells a peer what lies
 * outside. */
static char *allowed_socket(NvfmAgent *a, const char *path, GError **error)
{
	g_autofree char *quoted = nvfm_quote_line(path ? path : "");
	g_autofree char *dir = NULL, *base = NULL, *parent = NULL, *cand = NULL;
	g_autofree char *real = NULL;	/* GLib's allocator is malloc's */
	struct stat st;

	if (!a->qmp_dir) {
		g_set_error(error, NVFM_ERROR, NVFM_ERROR_NOT_SUPPORTED,
			    "this agent serves no QMP sockets (it runs without --qmp-dir)");
		return NULL;
	}
	if (!path || !g_path_is_absolute(path)) {
		g_set_error(error, NVFM_ERROR, NVFM_ERROR_INVALID_ARG,
			    "qmp: the socket must be an absolute path, not '%s'", quoted);
		return NULL;
	}
	dir = g_path_get_dirname(path);
	base = g_path_get_basename(path);
	parent = realpath(dir, NULL);
	if (parent && strcmp(base, ".") && strcmp(base, "..") && strcmp(base, "/"))
		cand = g_build_filename(parent, base, NULL);
	if (!cand || !under(a, cand) || !(real = realpath(cand, NULL)) || !under(a, real)) {
		if (cand && !real && under(a, cand)) {
			nvfm_set_error_errno(error, -errno, "qmp: %s", quoted);
			return NULL;
		}
		g_set_error(error, NVFM_ERROR, NVFM_ERROR_PERMISSION,
			    "qmp: %s is not under this agent's QMP directory", quoted);
		return NULL;
	}
	if (stat(real, &st) < 0 || !S_ISSOCK(st.st_mode)) {
		g_set_error(error, NVFM_ERROR, NVFM_ERROR_INVALID_ARG, "qmp: %s is not a socket",
			    quoted);
		return NULL;
	}
	return g_steal_pointer(&real);
}

static int connect_unix(const char *path, GError **error)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd;

	if (strlen(path) >= sizeof(sa.sun_path)) {
		g_set_error(error, NVFM_ERROR, NVFM_ERROR_INVALID_ARG,
			    "qmp: socket path too long: %s", path);
		return -1;
	}
	strcpy(sa.sun_path, path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		nvfm_set_error_errno(error, -errno, "qmp: cannot connect to %s", path);
		if (fd >= 0)
			close(fd);
		return -1;
	}
	return fd;
}

void agent_do_qmp(Session *s, json_int_t id, json_t *args)
{
	NvfmAgent *a = s->agent;
	g_autoptr(GError) err = NULL;
	g_autofree char *path = NULL;
	int fd = -1;

	path = allowed_socket(a, json_string_value(json_object_get(args, "path")), &err);
	if (path)
		fd = connect_unix(path, &err);
	if (fd < 0) {
		agent_log(a, G_LOG_LEVEL_WARNING, "%s: qmp refused: %s", s->peer, err->message);
		agent_reply_error(s, id, err, NULL);
		return;
	}
	if (!agent_reply_ok(s, id, json_pack("{s:s}", "path", path), &err)) {
		close(fd);
		return;
	}
	agent_log(a, G_LOG_LEVEL_INFO, "%s: relaying QMP %s", s->peer, path);
	if (!nvfm_relay_run(s->ch, fd, &err))
		agent_log(a, G_LOG_LEVEL_WARNING, "%s: QMP relay %s: %s", s->peer, path,
			  err->message);
	else
		agent_log(a, G_LOG_LEVEL_INFO, "%s: QMP relay %s ended", s->peer, path);
	close(fd);
}
