/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Incremental reader of a QMP byte stream: splits it into top-level JSON
 * objects however the bytes were chunked, with a bound on a message's size
 * and UTF-8 validation. Internal; the fuzz target drives it directly.
 */
#pragma once

#include <glib.h>
#include <jansson.h>

#pragma GCC visibility push(hidden)

typedef struct _NvfmQmpReader NvfmQmpReader;

/* Receives each complete message and takes the reference. */
typedef void (*NvfmQmpReaderEmit)(json_t *msg, gpointer user_data);

NvfmQmpReader *nvfm_qmp_reader_new(gsize max_message);
void nvfm_qmp_reader_free(NvfmQmpReader *r);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(NvfmQmpReader, nvfm_qmp_reader_free)

/*
 * Consumes @len bytes. Returns FALSE with %NVFM_ERROR_PROTOCOL on the first
 * violation; the reader then refuses every later feed with the same error,
 * since a byte stream cannot be resynchronised reliably.
 */
gboolean nvfm_qmp_reader_feed(NvfmQmpReader *r, const char *buf, gsize len,
			      NvfmQmpReaderEmit emit, gpointer user_data, GError **error);

/* At end of stream: FALSE when a message was cut short. */
gboolean nvfm_qmp_reader_finish(NvfmQmpReader *r, GError **error);

/* Bytes of an incomplete message held so far. */
gsize nvfm_qmp_reader_pending(const NvfmQmpReader *r);

#pragma GCC visibility pop
