/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Internal helpers of libnvfm shared by every wing: errno errors, SHA-256,
 * time, fds and sizes. Nothing here knows a device.
 */
#pragma once

#include <errno.h>
#include <sys/types.h>
#include <unistd.h>

#include "nvfm/nvfm.h"

/* Nothing declared here is part of the shared library's ABI. */
#pragma GCC visibility push(hidden)

/* error.c: set @error from a -errno value with a formatted prefix */
void nvfm_set_error_errno(GError **error, int neg_errno, const char *fmt, ...)
	G_GNUC_PRINTF(3, 4);

/* sha256.c: SHA-256 at data-path speed; nvfm_sha256_finish() once only */
typedef struct _NvfmSha256 NvfmSha256;
NvfmSha256 *nvfm_sha256_new(void);
void nvfm_sha256_update(NvfmSha256 *s, const void *buf, gsize len);
void nvfm_sha256_finish(NvfmSha256 *s, guint8 *digest);
void nvfm_sha256_hex(const guint8 *digest, char *hex);	/* 65 bytes */
void nvfm_sha256_free(NvfmSha256 *s);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(NvfmSha256, nvfm_sha256_free)

/* util.c */
gint64 nvfm_now_us(void);
int nvfm_poll_fd(int fd, short events, int timeout_ms);
void nvfm_close_fd(int *fd);

char *nvfm_format_size(guint64 bytes);

/* Text from a peer or a file, to be quoted in a one-line message: control
 * characters escaped (\n, \r, \t, \xHH), everything else as it is. */
char *nvfm_quote_line(const char *s);

/* Makes @path a directory of ours with mode 0700 in a directory only we
 * or root control, or says why it is not. */
gboolean nvfm_private_dir(const char *path, GError **error);

/* file.c: the atomic writer (temp file, fsync, mode, rename, directory
 * fsync), and the same without the fsyncs for files in a runtime
 * directory (a reboot empties it), JSON records among them */
gboolean nvfm_file_write_atomic(const char *path, const void *data, gsize len, mode_t mode,
				GError **error);
gboolean nvfm_file_write_runtime(const char *path, const void *data, gsize len, mode_t mode,
				 GError **error);
gboolean nvfm_json_write_runtime(const char *path, json_t *obj, GError **error);
/* An object read from a JSON file: NVFM_ERROR_NOT_FOUND when the file is
 * missing, NVFM_ERROR_PROTOCOL when it is not an object. */
json_t *nvfm_json_read_file(const char *path, GError **error);

#pragma GCC visibility pop
