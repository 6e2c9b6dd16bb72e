/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Sealed records (seal.c): the record layer a TLS 1.3 channel switches to
 * once its handshake is done, when both ends offered it by ALPN. Keys come
 * from the TLS session's exporter, so the handshake's mutual
 * authentication covers them. Records are sealed and opened many at a
 * time, one send and one receive per MiB, where GIO's TLS stream costs a
 * copy and a syscall or two per 16 KiB record.
 * docs/protocol.md has the wire format. No I/O here: the channel moves
 * the bytes, this file seals and opens them. Internal to libnvfm.
 */
#pragma once

#include <glib.h>

#pragma GCC visibility push(hidden)

/* The ALPN name both ends offer; chosen, the channel seals. */
#define NVFM_SEAL_ALPN "nvfm-sealed/1"
/* Each direction starts with these 8 bytes in clear: the end of the TLS
 * records (a session ticket the reader has not consumed), the start of
 * the sealed ones. */
#define NVFM_SEAL_PREAMBLE "NVFMSEAL"
#define NVFM_SEAL_PREAMBLE_SIZE 8
/* A sealed record is a TLS 1.3 application-data record (RFC 8446 5.2),
 * so the kernel's TLS can send and open them too: 5-byte header, up to
 * 16 KiB of data and its content type byte, encrypted, then the tag. */
#define NVFM_SEAL_HEADER_SIZE 5
#define NVFM_SEAL_TAG_SIZE 16
#define NVFM_SEAL_OVERHEAD (NVFM_SEAL_HEADER_SIZE + 1 + NVFM_SEAL_TAG_SIZE)
#define NVFM_SEAL_RECORD_MAX (1u << 14)
/* A direction's key seals at most this many records (256 GiB): well
 * inside AES-GCM's safe volume (RFC 8446 5.5 allows 2^24.5). */
#define NVFM_SEAL_KEY_RECORDS (1u << 24)

typedef struct _NvfmSeal NvfmSeal;

/*
 * Keys for one end of a connection from @secret (the TLS exporter's
 * output, at least 32 bytes): one key and nonce base per direction, so
 * the client's records never open as the server's.
 */
NvfmSeal *nvfm_seal_new(const guint8 *secret, gsize len, gboolean server, GError **error);
void nvfm_seal_free(NvfmSeal *s);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(NvfmSeal, nvfm_seal_free)

/* ---- sending ---- */

/* The bytes @len bytes of data take sealed. */
gsize nvfm_seal_size(gsize len);

/*
 * @len bytes (at least 1) from @in as records into @out, which has room
 * for nvfm_seal_size(@len). Returns the bytes written, 0 with @error when
 * the key's record budget is spent.
 */
gsize nvfm_seal_records(NvfmSeal *s, const guint8 *in, gsize len, guint8 *out,
			GError **error);

/* ---- receiving ---- */

/*
 * Where the next bytes from the peer go: *@room bytes at the returned
 * address, at least 1. Bytes read ahead before the switch go in first.
 */
guint8 *nvfm_seal_recv_space(NvfmSeal *s, gsize *room);
void nvfm_seal_received(NvfmSeal *s, gsize n);

/*
 * Up to @len opened bytes into @buf. Returns 1 with *@got > 0, 0 when
 * more must arrive first (*@need_out: how many bytes, at least, complete
 * the record under way), -1 with @error when the bytes are not a sealed
 * stream or a record does not open: wrong key, altered, reordered, cut.
 */
int nvfm_seal_take(NvfmSeal *s, guint8 *buf, gsize len, gsize *got, gsize *need_out,
		   GError **error);

/* Whether opened or received bytes wait in the buffer. */
gboolean nvfm_seal_has_pending(NvfmSeal *s);

/* Whether nvfm_seal_take() can go on without more bytes: opened data,
 * or a whole record (or preamble, or TLS record before it) received. */
gboolean nvfm_seal_ready(NvfmSeal *s);

/* ---- handing over to the kernel's TLS ---- */

/* A direction's key, nonce base (salt: the first 4 bytes) and the
 * sequence number of its next record. */
typedef struct {
	guint8 key[32];
	guint8 iv[12];
	guint64 seq;
} NvfmSealKeys;

void nvfm_seal_get_keys(NvfmSeal *s, gboolean tx, NvfmSealKeys *k);

/*
 * How many more bytes the receive buffer needs to end where a record
 * ends, past the peer's preamble: 0 once it does, and then *@next_seq is
 * the sequence number of the first record after the buffered ones. The
 * kernel can open records from there while the buffered ones are opened
 * here. -1 with @error when the bytes are not a sealed stream.
 */
gssize nvfm_seal_align(NvfmSeal *s, guint64 *next_seq, GError **error);

#pragma GCC visibility pop
