/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

/**
 * NVFM_ERROR:
 *
 * The error domain of every GError raised by libnvfm.
 */
#define NVFM_ERROR (nvfm_error_quark())

/**
 * NvfmErrorCode - codes of the %NVFM_ERROR domain
 * @NVFM_ERROR_FAILED: anything not covered below
 * @NVFM_ERROR_INVALID_ARG: bad input from the caller (address, name, option)
 * @NVFM_ERROR_NOT_FOUND: a device, file or object does not exist
 * @NVFM_ERROR_BUSY: somebody else holds the device
 * @NVFM_ERROR_NOT_SUPPORTED: the device or peer lacks a needed feature
 * @NVFM_ERROR_STATE: a migration state change the uAPI forbids, or one the
 *   device failed
 * @NVFM_ERROR_DEVICE: the device or its driver failed an operation
 * @NVFM_ERROR_IO: a read or write failed
 * @NVFM_ERROR_TIMEOUT: a bounded wait ran out
 * @NVFM_ERROR_PROTOCOL: malformed or unexpected stream contents
 * @NVFM_ERROR_INTEGRITY: a checksum or digest did not match
 * @NVFM_ERROR_CANCELLED: the operation was cancelled
 * @NVFM_ERROR_AUTH: a peer failed authentication
 * @NVFM_ERROR_NVME: an NVMe command completed with an error status
 * @NVFM_ERROR_QMP: QEMU answered a QMP command with an error
 * @NVFM_ERROR_PERMISSION: the caller lacks a privilege
 */
typedef enum {
	NVFM_ERROR_FAILED,
	NVFM_ERROR_INVALID_ARG,
	NVFM_ERROR_NOT_FOUND,
	NVFM_ERROR_BUSY,
	NVFM_ERROR_NOT_SUPPORTED,
	NVFM_ERROR_STATE,
	NVFM_ERROR_DEVICE,
	NVFM_ERROR_IO,
	NVFM_ERROR_TIMEOUT,
	NVFM_ERROR_PROTOCOL,
	NVFM_ERROR_INTEGRITY,
	NVFM_ERROR_CANCELLED,
	NVFM_ERROR_AUTH,
	NVFM_ERROR_NVME,
	NVFM_ERROR_QMP,
	NVFM_ERROR_PERMISSION,
} NvfmErrorCode;

/**
 * nvfm_error_quark() - the %NVFM_ERROR quark
 *
 * Return: the quark.
 */
GQuark nvfm_error_quark(void);

/**
 * nvfm_error_code_from_errno() - pick the error code that fits an errno
 * @err: a positive errno value
 *
 * Return: the matching #NvfmErrorCode.
 */
NvfmErrorCode nvfm_error_code_from_errno(int err);

/**
 * nvfm_error_code_name() - a short stable name for an error code
 * @code: the code
 *
 * Return: a static string such as "timeout".
 */
const char *nvfm_error_code_name(NvfmErrorCode code);

G_END_DECLS
