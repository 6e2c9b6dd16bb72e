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
 * NvfmFrameHeader - a decoded frame header
 * @type: an #NvfmFrameType
 * @version: the sender's frame format version
 * @flags: reserved, 0
 * @length: payload bytes (the payload CRC32C follows when non-zero)
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
