/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Frames of the device-state stream and the agent protocol (see
 * docs/protocol.md). Layout, little-endian:
 *
 *   0  u32 magic "NVFM"   4 u8 version   5 u8 type   6 u16 flags
 *   8  u32 payload length 12 u32 CRC32C of bytes 0..11
 *   16 payload, then u32 CRC32C of the payload when the length is not 0
 *      (and the frame is not a DATA frame flagged NO_CRC)
 *
 * Every length is bounded per type before anything is allocated or read.
 */
#define G_LOG_DOMAIN "nvfm-frame"

#include <string.h>

#include "util/util-private.h"

static const char *const type_names[] = {
	[NVFM_FRAME_HELLO] = "HELLO",
	[NVFM_FRAME_COMPAT] = "COMPAT",
	[NVFM_FRAME_PHASE] = "PHASE",
	[NVFM_FRAME_DATA] = "DATA",
	[NVFM_FRAME_TRAILER] = "TRAILER",
	[NVFM_FRAME_ABORT] = "ABORT",
	[NVFM_FRAME_REQUEST] = "REQUEST",
	[NVFM_FRAME_REPLY] = "REPLY",
};

const char *nvfm_frame_type_name(guint type)
{
	if (type >= 1 && type <= NVFM_FRAME_TYPE_MAX)
		return type_names[type];
	return "UNKNOWN";
}

guint32 nvfm_frame_max_payload(guint type)
{
	switch (type) {
	case NVFM_FRAME_DATA:
		return NVFM_FRAME_MAX_DATA;
	case NVFM_FRAME_PHASE:
		return 16;
	case NVFM_FRAME_TRAILER:
		return 40;
	default:
		return NVFM_FRAME_MAX_CONTROL;
	}
}

/* Each flag has one meaning on one frame type; anything else is refused. */
static guint16 frame_allowed_flags(guint type)
{
	switch (type) {
	case NVFM_FRAME_DATA:
		return NVFM_FRAME_FLAG_NO_CRC;
	case NVFM_FRAME_TRAILER:
		return NVFM_FRAME_FLAG_NO_DIGEST;
	default:
		return 0;
	}
}

static gboolean has_payload_crc(const NvfmFrameHeader *hdr)
{
	return hdr->length > 0 && !(hdr->flags & NVFM_FRAME_FLAG_NO_CRC);
}

static void put_le32(guint8 *p, guint32 v)
{
	v = GUINT32_TO_LE(v);
	memcpy(p, &v, 4);
}

static guint32 get_le32(const guint8 *p)
{
	guint32 v;

	memcpy(&v, p, 4);
	return GUINT32_FROM_LE(v);
}

void nvfm_frame_header_encode(const NvfmFrameHeader *hdr, guint8 *raw)
{
	guint16 fl = GUINT16_TO_LE(hdr->flags);

	put_le32(raw, NVFM_PROTO_MAGIC);
	raw[4] = hdr->version;
	raw[5] = hdr->type;
	memcpy(raw + 6, &fl, 2);
	put_le32(raw + 8, hdr->length);
	put_le32(raw + 12, nvfm_crc32c(0, raw, 12));
}

gboolean nvfm_frame_header_decode(const guint8 *raw, NvfmFrameHeader *hdr, GError **error)
{
	guint16 fl;

	if (get_le32(raw) != NVFM_PROTO_MAGIC) {
		g_set_error(error, NVFM_ERROR, NVFM_ERROR_PROTOCOL,
			    "not an nvme-vf-migrate stream (bad frame magic 0x%08x)", get_le32(raw));
		return FALSE;
	}
	if (get_le32(raw + 12) != nvfm_crc32c(0, raw, 12)) {
		g_set_error(error, NVFM_ERROR, NVFM_ERROR_INTEGRITY,
			    "frame header checksum mismatch (corrupted stream)");
		return FALSE;
	}
	if (raw[4] != NVFM_PROTO_VERSION) {
		g_set_error(error, NVFM_ERROR, NVFM_ERROR_PROTOCOL,
			    "unsupported stream format version %u (this build speaks %u)",
			    raw[4], NVFM_PROTO_VERSION);
		return FALSE;
	}
	if (raw[5] < 1 || raw[5] > NVFM_FRAME_TYPE_MAX) {
		g_set_error(error, NVFM_ERROR, NVFM_ERROR_PROTOCOL, "unknown frame type %u", raw[5]);
		return FALSE;
	}
	memcpy(&fl, raw + 6, 2);
	hdr->version = raw[4];
	hdr->type = raw[5];
	hdr->flags = GUINT16_FROM_LE(fl);
	hdr->length = get_le32(raw + 8);
	if (hdr->flags & ~frame_allowed_flags(hdr->type)) {
		g_set_error(error, NVFM_ERROR, NVFM_ERROR_PROTOCOL,
			    "%s frame with unknown flags 0x%x", nvfm_frame_type_name(hdr->type),
			    hdr->flags);
		return FALSE;
	}
	if (hdr->length > nvfm_frame_max_payload(hdr->type)) {
		g_set_error(error, NVFM_ERROR, NVFM_ERROR_PROTOCOL,
			    "%s frame of %u bytes exceeds the limit of %u",
			    nvfm_frame_type_name(hdr->type), hdr->length,
			    nvfm_frame_max_payload(hdr->type));
		return FALSE;
	}
	return TRUE;
}

gboolean nvfm_frame_send_flags(NvfmChannel *ch, NvfmFrameType type, guint16 flags,
			       const void *payload, guint32 len, GError **error)
{
	NvfmFrameHeader hdr = { .type = type, .version = NVFM_PROTO_VERSION, .flags = flags,
				.length = len };
	guint8 raw[NVFM_FRAME_HEADER_SIZE];
	guint8 crc[4];

	g_return_val_if_fail(len <= nvfm_frame_max_payload(type), FALSE);
	g_return_val_if_fail((flags & ~frame_allowed_flags(type)) == 0, FALSE);
	nvfm_frame_header_encode(&hdr, raw);
	if (!nvfm_channel_write(ch, raw, sizeof(raw), error))
		return FALSE;
	if (len == 0)
		return TRUE;
	if (!nvfm_channel_write(ch, payload, len, error))
		return FALSE;
	if (!has_payload_crc(&hdr))
		return TRUE;
	put_le32(crc, nvfm_crc32c(0, payload, len));
	return nvfm_channel_write(ch, crc, sizeof(crc), error);
}

gboolean nvfm_frame_send(NvfmChannel *ch, NvfmFrameType type, const void *payload,
			 guint32 len, GError **error)
{
	return nvfm_frame_send_flags(ch, type, 0, payload, len, error);
}

gboolean nvfm_frame_send_json(NvfmChannel *ch, NvfmFrameType type, json_t *obj,
			      GError **error)
{
	g_autofree char *text = json_dumps(obj, JSON_COMPACT | JSON_SORT_KEYS);
	gsize len = text ? strlen(text) : 0;

	if (!text || len > nvfm_frame_max_payload(type)) {
		g_set_error(error, NVFM_ERROR, NVFM_ERROR_INVALID_ARG,
			    "%s payload cannot be encoded within %u bytes",
			    nvfm_frame_type_name(type), nvfm_frame_max_payload(type));
		return FALSE;
	}
	return nvfm_frame_send(ch, type, text, (guint32)len, error);
}

static gboolean read_exact(NvfmChannel *ch, guint8 *buf, gsize len, const char *what,
			   GError **error)
{
	gsize got = 0;

	if (!nvfm_channel_read(ch, buf, len, &got, error))
		return FALSE;
	if (got != len) {
		g_set_error(error, NVFM_ERROR, NVFM_ERROR_PROTOCOL,
			    "stream truncated in %s (%zu of %zu bytes)", what, got, len);
		return FALSE;
	}
	return TRUE;
}

gboolean nvfm_frame_recv_header(NvfmChannel *ch, NvfmFrameHeader *hdr, GError **error)
{
	guint8 raw[NVFM_FRAME_HEADER_SIZE];
	gsize got = 0;

	if (!nvfm_channel_read(ch, raw, sizeof(raw), &got, error))
		return FALSE;
	if (got != sizeof(raw)) {
		g_set_error(error, NVFM_ERROR, NVFM_ERROR_PROTOCOL,
			    got ? "stream truncated in a frame header (%zu of 16 bytes)"
				: "stream truncated: it ended before its trailer", got);
		return FALSE;
	}
	return nvfm_frame_header_decode(raw, hdr, error);
}

static gboolean check_payload_crc(const NvfmFrameHeader *hdr, const guint8 *payload,
				  const guint8 *crc, GError **error)
{
	if (get_le32(crc) != nvfm_crc32c(0, payload, hdr->length)) {
		g_set_error(error, NVFM_ERROR, NVFM_ERROR_INTEGRITY,
			    "%s frame payload checksum mismatch (corrupted stream)",
			    nvfm_frame_type_name(hdr->type));
		return FALSE;
	}
	return TRUE;
}

gboolean nvfm_frame_recv_payload(NvfmChannel *ch, const NvfmFrameHeader *hdr, guint8 *buf,
				 GError **error)
{
	guint8 crc[4];

	if (hdr->length == 0)
		return TRUE;
	if (!read_exact(ch, buf, hdr->length, nvfm_frame_type_name(hdr->type), error))
		return FALSE;
	if (!has_payload_crc(hdr))
		return TRUE;
	if (!read_exact(ch, crc, sizeof(crc), "a payload checksum", error))
		return FALSE;
	return check_payload_crc(hdr, buf, crc, error);
}

gboolean nvfm_frame_recv(NvfmChannel *ch, NvfmFrameHeader *hdr, guint8 *buf, GError **error)
{
	return nvfm_frame_recv_header(ch, hdr, error) &&
	       nvfm_frame_recv_payload(ch, hdr, buf, error);
}

gboolean nvfm_frame_parse(const guint8 *data, gsize len, NvfmFrameHeader *hdr,
			  const guint8 **payload, gsize *consumed, GError **error)
{
	gsize need;

	if (len < NVFM_FRAME_HEADER_SIZE) {
		g_set_error(error, NVFM_ERROR, NVFM_ERROR_PROTOCOL,
			    len ? "stream truncated in a frame header (%zu of 16 bytes)"
				: "stream truncated: it ended before its trailer", len);
		return FALSE;
	}
	if (!nvfm_frame_header_decode(data, hdr, error))
		return FALSE;
	/* length is bounded by the decode above: no overflow here */
	need = NVFM_FRAME_HEADER_SIZE + (gsize)hdr->length + (has_payload_crc(hdr) ? 4 : 0);
	if (len < need) {
		g_set_error(error, NVFM_ERROR, NVFM_ERROR_PROTOCOL,
			    "stream truncated in %s (%zu of %zu bytes)",
			    nvfm_frame_type_name(hdr->type), len - NVFM_FRAME_HEADER_SIZE,
			    need - NVFM_FRAME_HEADER_SIZE);
		return FALSE;
	}
	if (has_payload_crc(hdr) &&
	    !check_payload_crc(hdr, data + NVFM_FRAME_HEADER_SIZE,
			       data + NVFM_FRAME_HEADER_SIZE + hdr->length, error))
		return FALSE;
	*payload = data + NVFM_FRAME_HEADER_SIZE;
	*consumed = need;
	return TRUE;
}

json_t *nvfm_frame_parse_json(const guint8 *payload, gsize len, GError **error)
{
	json_error_t jerr;
	json_t *obj = json_loadb((const char *)payload, len, JSON_REJECT_DUPLICATES, &jerr);

	if (!obj || !json_is_object(obj)) {
		/* Jansson's text quotes the payload near the error */
		g_autofree char *why = nvfm_quote_line(obj ? "not an object" : jerr.text);

		g_set_error(error, NVFM_ERROR, NVFM_ERROR_PROTOCOL,
			    "malformed JSON in a control frame: %s", why);
		json_decref(obj);
		return NULL;
	}
	return obj;
}
