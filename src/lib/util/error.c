/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The NVFM_ERROR domain and the one place errno values become codes. */
#define G_LOG_DOMAIN "nvfm-error"

#include <stdarg.h>
#include <string.h>

#include "util-private.h"

G_DEFINE_QUARK(nvfm-error-quark, nvfm_error)

NvfmErrorCode nvfm_error_code_from_errno(int err)
{
	switch (err) {
	case EINVAL:
	case ERANGE:
	case E2BIG:
		return NVFM_ERROR_INVALID_ARG;
	case ENOENT:
	case ENODEV:
	case ENXIO:
		return NVFM_ERROR_NOT_FOUND;
	case EBUSY:
	case EEXIST:
		return NVFM_ERROR_BUSY;
	case ENOTTY:
	case EOPNOTSUPP:
	case ENOSYS:
		return NVFM_ERROR_NOT_SUPPORTED;
	case ETIMEDOUT:
		return NVFM_ERROR_TIMEOUT;
	case EPERM:
	case EACCES:
		return NVFM_ERROR_PERMISSION;
	case ECANCELED:
		return NVFM_ERROR_CANCELLED;
	case EBADMSG:
	case EPROTO:
		return NVFM_ERROR_PROTOCOL;
	case EIO:
	case EPIPE:
	case ECONNRESET:
	case ENOSPC:
		return NVFM_ERROR_IO;
	default:
		return NVFM_ERROR_FAILED;
	}
}

const char *nvfm_error_code_name(NvfmErrorCode code)
{
	static const char *const names[] = {
		[NVFM_ERROR_FAILED] = "failed",
		[NVFM_ERROR_INVALID_ARG] = "invalid-argument",
		[NVFM_ERROR_NOT_FOUND] = "not-found",
		[NVFM_ERROR_BUSY] = "busy",
		[NVFM_ERROR_NOT_SUPPORTED] = "not-supported",
		[NVFM_ERROR_STATE] = "state",
		[NVFM_ERROR_DEVICE] = "device",
		[NVFM_ERROR_IO] = "io",
		[NVFM_ERROR_TIMEOUT] = "timeout",
		[NVFM_ERROR_PROTOCOL] = "protocol",
		[NVFM_ERROR_INTEGRITY] = "integrity",
		[NVFM_ERROR_CANCELLED] = "cancelled",
		[NVFM_ERROR_AUTH] = "auth",
		[NVFM_ERROR_NVME] = "nvme",
		[NVFM_ERROR_QMP] = "qmp",
		[NVFM_ERROR_PERMISSION] = "permission",
	};

	if ((guint)code < G_N_ELEMENTS(names) && names[code])
		return names[code];
	return "unknown";
}

void nvfm_set_error_errno(GError **error, int neg_errno, const char *fmt, ...)
{
	g_autofree char *msg = NULL;
	int err = neg_errno < 0 ? -neg_errno : neg_errno;
	va_list ap;

	if (!error)
		return;
	va_start(ap, fmt);
	msg = g_strdup_vprintf(fmt, ap);
	va_end(ap);
	g_set_error(error, NVFM_ERROR, nvfm_error_code_from_errno(err), "%s: %s", msg,
		    g_strerror(err));
}
