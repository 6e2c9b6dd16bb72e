/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <gio/gio.h>
#include <jansson.h>

G_BEGIN_DECLS

/**
 * NvfmChannel - a byte transport for frames: a file, a socket, a pipe or a
 * GIOStream (TLS). Writes are whole; reads are exact or report EOF.
 */
typedef struct _NvfmChannel NvfmChannel;

/**
 * nvfm_channel_new_fd() - wrap a file descriptor
 * @fd: the descriptor
 * @take: close @fd when the channel is freed
 *
 * Return: the channel.
 */
NvfmChannel *nvfm_channel_new_fd(int fd, gboolean take);

/**
 * nvfm_channel_new_stream() - wrap a GIOStream (a TLS connection, say)
 * @stream: the stream; the channel takes a reference
 *
 * Return: the channel.
 */
NvfmChannel *nvfm_channel_new_stream(GIOStream *stream);

/**
 * nvfm_channel_free() - free a channel (NULL is fine)
 * @ch: the channel
 */
void nvfm_channel_free(NvfmChannel *ch);

/**
 * nvfm_channel_set_timeout() - bound every read and write
 * @ch: the channel
 * @timeout_ms: milliseconds, -1 for none
 *
 * A read or write fails with %NVFM_ERROR_TIMEOUT when the peer moved no
 * byte for @timeout_ms; the channel is then silent (nvfm_channel_is_silent()).
 */
void nvfm_channel_set_timeout(NvfmChannel *ch, int timeout_ms);

/**
 * nvfm_channel_write() - write all of @buf
 * @ch: the channel
 * @buf: the bytes
 * @len: their number
 * @error: return location for an error
 *
 * Return: %TRUE on success.
 */
gboolean nvfm_channel_write(NvfmChannel *ch, const void *buf, gsize len, GError **error);

/**
 * nvfm_channel_read() - read exactly @len bytes unless the peer ends first
 * @ch: the channel
 * @buf: destination
 * @len: bytes wanted
 * @got: receives the bytes read (< @len only at end of stream)
 * @error: return location for an error
 *
 * Return: %TRUE unless an I/O error or a timeout happened.
 */
gboolean nvfm_channel_read(NvfmChannel *ch, void *buf, gsize len, gsize *got, GError **error);

/**
 * nvfm_channel_try_read() - read what is there without waiting
 * @ch: the channel
 * @buf: destination
 * @len: most bytes wanted
 * @got: receives the bytes read
 * @error: return location for an error
 *
 * Return: 1 when bytes were read, 0 when nothing is there yet, -1 at end
 * of stream or on an error (@error set for errors only).
 */
int nvfm_channel_try_read(NvfmChannel *ch, void *buf, gsize len, gsize *got, GError **error);

/**
 * nvfm_channel_get_fd() - the file descriptor under a channel
 * @ch: the channel
 *
 * Return: the fd of a plain fd channel, or -1 for a stream channel (TLS),
 * whose bytes must go through the stream.
 */
int nvfm_channel_get_fd(NvfmChannel *ch);

/**
 * nvfm_channel_set_socket_fd() - name the socket under a stream channel
 * @ch: the channel
 * @fd: the socket (not owned): polled for the stream's waits, shut down by
 *      nvfm_channel_shutdown()
 */
void nvfm_channel_set_socket_fd(NvfmChannel *ch, int fd);

/**
 * nvfm_channel_shutdown() - make every pending and later read and write fail
 * @ch: the channel
 *
 * Thread-safe with respect to one other thread blocked in a read or write
 * on @ch: it is woken with end of stream or an error. Used to abort a
 * transfer from outside (an agent shutting down).
 */
void nvfm_channel_shutdown(NvfmChannel *ch);

/**
 * nvfm_channel_is_silent() - whether the peer let a whole timeout pass
 * @ch: the channel
 *
 * Once a wait for the peer ran out (or the kernel gave up on it: a TCP
 * connection is bounded by its timeout, see nvfm_transport_connect()),
 * nothing on @ch waits again: later writes and reads fail unless they can
 * be done at once, nvfm_channel_readable() only looks, and freeing the
 * channel resets the connection rather than waiting to close it.
 *
 * Return: %TRUE when the peer is considered gone.
 */
gboolean nvfm_channel_is_silent(NvfmChannel *ch);

/**
 * nvfm_channel_readable() - whether the peer has sent something
 * @ch: the channel
 * @timeout_ms: how long to wait (0: just look; a silent channel only looks)
 *
 * Return: %TRUE when a read would not block (data or end of stream).
 */
gboolean nvfm_channel_readable(NvfmChannel *ch, int timeout_ms);

/**
 * nvfm_channel_set_peer() - remember a printable name of the peer
 * @ch: the channel
 * @peer: "10.0.0.1:4711", "unix:/run/x.sock", a certificate subject...
 */
void nvfm_channel_set_peer(NvfmChannel *ch, const char *peer);

/**
 * nvfm_channel_get_peer() - the name set with nvfm_channel_set_peer()
 * @ch: the channel
 *
 * Return: the name (owned by @ch), or "peer".
 */
const char *nvfm_channel_get_peer(NvfmChannel *ch);

/**
 * nvfm_channel_get_peer_certificate() - the certificate a TLS peer
 * authenticated with
 * @ch: the channel
 *
 * Return: the certificate (owned by @ch's connection), or %NULL for a
 * channel that is not TLS or a peer that presented none.
 */
GTlsCertificate *nvfm_channel_get_peer_certificate(NvfmChannel *ch);

/**
 * nvfm_channel_record_layer() - what protects a TLS channel's bytes
 * @ch: the channel
 *
 * Return: "GIO TLS" (GIO's TLS records), "sealed" (sealed records, see
 * docs/protocol.md) or "sealed, kernel TLS" (the same records, sealed and
 * opened by the kernel); %NULL for a channel without TLS.
 */
const char *nvfm_channel_record_layer(NvfmChannel *ch);

/**
 * nvfm_channel_get_timeout() - the bound set with nvfm_channel_set_timeout()
 * @ch: the channel
 *
 * Return: milliseconds, -1 for none.
 */
int nvfm_channel_get_timeout(NvfmChannel *ch);

/** NVFM_PROTO_MAGIC: "NVFM" as the first four bytes of every frame. */
#define NVFM_PROTO_MAGIC 0x4d46564eu
/** NVFM_PROTO_VERSION: the frame format version this library speaks. */
#define NVFM_PROTO_VERSION 1
/** NVFM_FRAME_HEADER_SIZE: bytes of a frame header. */
#define NVFM_FRAME_HEADER_SIZE 16
/** NVFM_FRAME_MAX_DATA: largest payload of a DATA frame. */
#define NVFM_FRAME_MAX_DATA (1u << 20)
/** NVFM_FRAME_MAX_CONTROL: largest payload of any other frame. */
#define NVFM_FRAME_MAX_CONTROL (64u << 10)

/**
 * NvfmFrameType - frame types of the device-state stream and agent protocol
 */
typedef enum {
	NVFM_FRAME_HELLO = 1,	/* JSON: protocol, version, role, capabilities */
	NVFM_FRAME_COMPAT = 2,	/* JSON: the source device's compatibility block */
	NVFM_FRAME_PHASE = 3,	/* binary: u32 phase, u32 reserved, u64 bytes hint */
	NVFM_FRAME_DATA = 4,	/* raw device state bytes */
	NVFM_FRAME_TRAILER = 5,	/* binary: u64 total bytes, 32-byte SHA-256 */
	NVFM_FRAME_ABORT = 6,	/* JSON: {"reason": "..."} */
	NVFM_FRAME_REQUEST = 7,	/* JSON: control request */
	NVFM_FRAME_REPLY = 8,	/* JSON: control reply */
} NvfmFrameType;

/** NVFM_FRAME_TYPE_MAX: the highest frame type value. */
#define NVFM_FRAME_TYPE_MAX NVFM_FRAME_REPLY

/**
 * NvfmPhase - values carried by PHASE frames
 */
typedef enum {
	NVFM_PHASE_PRECOPY = 1,
	NVFM_PHASE_STOP_COPY = 2,
} NvfmPhase;

/**
 * NVFM_FRAME_FLAG_NO_CRC: on a DATA frame only: no CRC32C follows the
 * payload. Sent only when both ends negotiated the "zero-copy"
 * capability (the payload went from the device to the socket without
 * passing through userspace); see docs/protocol.md.
 */
#define NVFM_FRAME_FLAG_NO_CRC 0x0001u
/**
 * NVFM_FRAME_FLAG_NO_DIGEST: on a TRAILER frame only: its SHA-256 field is
 * zero because some DATA frames were not seen by the sender (zero-copy).
 */
#define NVFM_FRAME_FLAG_NO_DIGEST 0x0002u

/**
 * NvfmFrameHeader - a decoded frame header
 * @type: an #NvfmFrameType
 * @version: the sender's frame format version
 * @flags: NVFM_FRAME_FLAG_* bits; each is valid on one frame type only
 * @length: payload bytes (the payload CRC32C follows when non-zero and
 *	    %NVFM_FRAME_FLAG_NO_CRC is not set)
 */
typedef struct {
	guint8 type;
	guint8 version;
	guint16 flags;
	guint32 length;
} NvfmFrameHeader;

/**
 * nvfm_frame_type_name() - a frame type's name
 * @type: the type
 *
 * Return: "HELLO", "DATA", ... or "UNKNOWN".
 */
const char *nvfm_frame_type_name(guint type);

/**
 * nvfm_frame_max_payload() - the largest payload allowed for a frame type
 * @type: the type
 *
 * Return: a byte count.
 */
guint32 nvfm_frame_max_payload(guint type);

/**
 * nvfm_frame_header_encode() - serialize a header, with its CRC32C
 * @hdr: the header
 * @raw: receives %NVFM_FRAME_HEADER_SIZE bytes
 */
void nvfm_frame_header_encode(const NvfmFrameHeader *hdr, guint8 *raw);

/**
 * nvfm_frame_header_decode() - parse and check a raw header
 * @raw: %NVFM_FRAME_HEADER_SIZE bytes
 * @hdr: receives the header
 * @error: return location for an error
 *
 * Checks the magic, the header CRC32C, the version, the type and the
 * payload bound for that type.
 *
 * Return: %TRUE if the header is valid.
 */
gboolean nvfm_frame_header_decode(const guint8 *raw, NvfmFrameHeader *hdr, GError **error);

/**
 * nvfm_frame_send() - send one frame
 * @ch: the channel
 * @type: the frame type
 * @payload: its payload (may be %NULL when @len is 0)
 * @len: payload bytes, at most nvfm_frame_max_payload(@type)
 * @error: return location for an error
 *
 * Return: %TRUE on success.
 */
gboolean nvfm_frame_send(NvfmChannel *ch, NvfmFrameType type, const void *payload,
			 guint32 len, GError **error);

/**
 * nvfm_frame_send_flags() - send one frame with header flags
 * @ch: the channel
 * @type: the frame type
 * @flags: NVFM_FRAME_FLAG_* bits valid for @type
 * @payload: its payload (may be %NULL when @len is 0)
 * @len: payload bytes, at most nvfm_frame_max_payload(@type)
 * @error: return location for an error
 *
 * With %NVFM_FRAME_FLAG_NO_CRC no payload checksum is written.
 *
 * Return: %TRUE on success.
 */
gboolean nvfm_frame_send_flags(NvfmChannel *ch, NvfmFrameType type, guint16 flags,
			       const void *payload, guint32 len, GError **error);

/**
 * nvfm_frame_send_json() - send a frame whose payload is a JSON object
 * @ch: the channel
 * @type: the frame type
 * @obj: the object
 * @error: return location for an error
 *
 * Return: %TRUE on success.
 */
gboolean nvfm_frame_send_json(NvfmChannel *ch, NvfmFrameType type, json_t *obj,
			      GError **error);

/**
 * nvfm_frame_recv() - receive one frame
 * @ch: the channel
 * @hdr: receives the header
 * @buf: receives the payload; at least %NVFM_FRAME_MAX_DATA bytes
 * @error: return location for an error
 *
 * A stream that ends anywhere, even between frames, is an error
 * (%NVFM_ERROR_PROTOCOL, "truncated"): every stream ends with a TRAILER
 * or an ABORT frame, and the caller stops reading after those.
 *
 * Return: %TRUE with a verified frame.
 */
gboolean nvfm_frame_recv(NvfmChannel *ch, NvfmFrameHeader *hdr, guint8 *buf, GError **error);

/**
 * nvfm_frame_recv_header() - receive and check one frame header
 * @ch: the channel
 * @hdr: receives the header
 * @error: return location for an error
 *
 * The payload (and its checksum) is still unread: read it with
 * nvfm_frame_recv_payload(), or move it some other way.
 *
 * Return: %TRUE with a verified header.
 */
gboolean nvfm_frame_recv_header(NvfmChannel *ch, NvfmFrameHeader *hdr, GError **error);

/**
 * nvfm_frame_recv_payload() - receive the payload announced by @hdr
 * @ch: the channel
 * @hdr: a header from nvfm_frame_recv_header()
 * @buf: receives the payload; at least @hdr->length bytes
 * @error: return location for an error
 *
 * Checks the payload CRC32C unless the frame carries
 * %NVFM_FRAME_FLAG_NO_CRC.
 *
 * Return: %TRUE with a verified payload.
 */
gboolean nvfm_frame_recv_payload(NvfmChannel *ch, const NvfmFrameHeader *hdr, guint8 *buf,
				 GError **error);

/**
 * nvfm_frame_parse() - parse one frame from a buffer
 * @data: the bytes
 * @len: their number
 * @hdr: receives the header
 * @payload: receives a pointer into @data at the payload
 * @consumed: receives the bytes the whole frame took
 * @error: return location for an error
 *
 * The same checks as nvfm_frame_recv(), for callers (and fuzzers) that
 * hold bytes in memory. A frame that does not fit in @len is "truncated".
 *
 * Return: %TRUE with a verified frame.
 */
gboolean nvfm_frame_parse(const guint8 *data, gsize len, NvfmFrameHeader *hdr,
			  const guint8 **payload, gsize *consumed, GError **error);

/**
 * nvfm_frame_parse_json() - parse a JSON-object payload
 * @payload: the bytes
 * @len: their number
 * @error: return location for an error
 *
 * Return: a new reference to the object, or %NULL.
 */
json_t *nvfm_frame_parse_json(const guint8 *payload, gsize len, GError **error);

/**
 * nvfm_crc32c() - CRC32C (Castagnoli) of a buffer
 * @crc: the running value (0 to start)
 * @buf: the bytes
 * @len: their number
 *
 * Return: the updated CRC.
 */
guint32 nvfm_crc32c(guint32 crc, const void *buf, gsize len);

G_DEFINE_AUTOPTR_CLEANUP_FUNC(NvfmChannel, nvfm_channel_free)

G_END_DECLS
