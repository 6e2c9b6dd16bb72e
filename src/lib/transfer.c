/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Save and load: a device's state as a framed stream (docs/protocol.md).
 * The same code serves files, pipes and sockets; memory stays one data
 * buffer whatever the state size.
 */
#define G_LOG_DOMAIN "nvfm-transfer"

#include <string.h>

#include "private.h"

#define DEFAULT_TIMEOUT_MS 30000
#define STREAM_PROTOCOL "nvme-vf-migrate"
#define STREAM_ROLE "device-state"

/* Facts that must be equal on both ends when both report them. */
static const char *const compat_must_match[] = {
	"model", "layout_version", "vendor_id", "device_id",
	"subsystem_vendor_id", "subsystem_device_id", "driver",
};

void nvfm_save_options_init(NvfmSaveOptions *opts)
{
	memset(opts, 0, sizeof(*opts));
	opts->precopy_threshold = 4u << 20;
	opts->timeout_ms = DEFAULT_TIMEOUT_MS;
}

void nvfm_load_options_init(NvfmLoadOptions *opts)
{
	memset(opts, 0, sizeof(*opts));
	opts->timeout_ms = DEFAULT_TIMEOUT_MS;
}

json_t *nvfm_device_compat_block(NvfmDevice *dev, GError **error)
{
	NvfmMigFeatures f;
	json_auto_t *obj = NULL;
	int r;

	if (!nvfm_device_get_features(dev, &f, error))
		return NULL;
	obj = json_object();
	json_object_set_new(obj, "address", json_string(dev->address));
	json_object_set_new(obj, "backend", json_string(dev->ops->name));
	json_object_set_new(obj, "migration_flags", json_integer(f.flags));
	if (f.has_data_size)
		json_object_set_new(obj, "stop_copy_length", json_integer((json_int_t)f.stop_copy_length));
	if (dev->ops->compat_facts) {
		r = dev->ops->compat_facts(dev, obj);
		if (r < 0) {
			nvfm_set_error_errno(error, r, "%s: reading compatibility facts", dev->address);
			return NULL;
		}
	}
	return g_steal_pointer(&obj);
}

static gboolean compat_check(json_t *src, json_t *dst, GError **error)
{
	for (guint i = 0; i < G_N_ELEMENTS(compat_must_match); i++) {
		json_t *a = json_object_get(src, compat_must_match[i]);
		json_t *b = json_object_get(dst, compat_must_match[i]);

		if (a && b && !json_equal(a, b)) {
			g_autofree char *sa = json_dumps(a, JSON_ENCODE_ANY);
			g_autofree char *sb = json_dumps(b, JSON_ENCODE_ANY);

			g_set_error(error, NVFM_ERROR, NVFM_ERROR_NOT_SUPPORTED,
				    "incompatible devices: source %s is %s, destination has %s",
				    compat_must_match[i], sa, sb);
			return FALSE;
		}
	}
	return TRUE;
}

static void put_le64(guint8 *p, guint64 v)
{
	v = GUINT64_TO_LE(v);
	memcpy(p, &v, 8);
}

static guint64 get_le64(const guint8 *p)
{
	guint64 v;

	memcpy(&v, p, 8);
	return GUINT64_FROM_LE(v);
}

static gboolean send_phase(NvfmChannel *ch, NvfmPhase phase, guint64 hint, GError **error)
{
	guint8 p[16] = { 0 };

	p[0] = (guint8)phase;
	put_le64(p + 8, hint);
	return nvfm_frame_send(ch, NVFM_FRAME_PHASE, p, sizeof(p), error);
}

/* Sender state shared by the precopy and stop-copy loops. */
typedef struct {
	NvfmDevice *dev;
	NvfmChannel *ch;
	const NvfmSaveOptions *opts;
	NvfmTransferStats *stats;
	NvfmSha256 *sha;
	guint8 *buf;
} Sender;

/* Read until the device has nothing more (for now), framing what it gives. */
static gboolean pump_out(Sender *s, int phase, guint64 *moved, NvfmReadStatus *last,
			 GError **error)
{
	for (;;) {
		gssize n = nvfm_device_read(s->dev, s->buf, NVFM_FRAME_MAX_DATA,
					    s->opts->timeout_ms, last, error);

		if (n < 0)
			return FALSE;
		if (n == 0)
			return TRUE;
		if (!nvfm_frame_send(s->ch, NVFM_FRAME_DATA, s->buf, (guint32)n, error))
			return FALSE;
		nvfm_sha256_update(s->sha, s->buf, (gsize)n);
		*moved += (guint64)n;
		s->stats->total_bytes += (guint64)n;
		if (s->opts->progress)
			s->opts->progress(phase, s->stats->total_bytes, s->opts->user_data);
	}
}

static gboolean save_precopy(Sender *s, GError **error)
{
	gint64 t0 = nvfm_now_us();
	NvfmReadStatus st;

	if (!nvfm_device_set_state(s->dev, NVFM_MIG_STATE_PRE_COPY, error))
		return FALSE;
	if (!send_phase(s->ch, NVFM_PHASE_PRECOPY, 0, error))
		return FALSE;
	for (guint round = 0; round < s->opts->precopy_rounds; round++) {
		guint64 initial = 0, dirty = 0;

		if (!pump_out(s, NVFM_PHASE_PRECOPY, &s->stats->precopy_bytes, &st, error))
			return FALSE;
		s->stats->precopy_rounds++;
		if (st == NVFM_READ_END) {
			g_set_error(error, NVFM_ERROR, NVFM_ERROR_DEVICE,
				    "%s: end of stream in PRE_COPY", s->dev->address);
			return FALSE;
		}
		if (!nvfm_device_precopy_info(s->dev, &initial, &dirty, error))
			return FALSE;
		g_debug("precopy round %u: initial %" G_GUINT64_FORMAT " dirty %" G_GUINT64_FORMAT,
			round + 1, initial, dirty);
		if (initial == 0 && dirty <= s->opts->precopy_threshold)
			break;
	}
	s->stats->precopy_us = nvfm_now_us() - t0;
	return TRUE;
}

static gboolean save_stop_copy(Sender *s, GError **error)
{
	gint64 t0 = nvfm_now_us();
	NvfmMigFeatures f;
	NvfmReadStatus st;

	if (!nvfm_device_set_state(s->dev, NVFM_MIG_STATE_STOP_COPY, error))
		return FALSE;
	if (!nvfm_device_get_features(s->dev, &f, error))
		return FALSE;
	if (!send_phase(s->ch, NVFM_PHASE_STOP_COPY, f.has_data_size ? f.stop_copy_length : 0,
			error))
		return FALSE;
	if (!pump_out(s, NVFM_PHASE_STOP_COPY, &s->stats->stop_copy_bytes, &st, error))
		return FALSE;
	if (st != NVFM_READ_END) {
		g_set_error(error, NVFM_ERROR, NVFM_ERROR_DEVICE,
			    "%s: STOP_COPY stream paused instead of ending", s->dev->address);
		return FALSE;
	}
	if (!nvfm_device_set_state(s->dev, NVFM_MIG_STATE_STOP, error))
		return FALSE;
	s->stats->stop_copy_us = nvfm_now_us() - t0;
	return TRUE;
}

static void send_abort(NvfmChannel *ch, const char *reason)
{
	json_auto_t *obj = json_pack("{s:s}", "reason", reason);

	/* Best effort: the channel may be what failed. */
	nvfm_frame_send_json(ch, NVFM_FRAME_ABORT, obj, NULL);
}

static void finish_sha(NvfmSha256 *sha, NvfmTransferStats *stats, guint8 *digest)
{
	nvfm_sha256_finish(sha, digest);
	nvfm_sha256_hex(digest, stats->sha256);
}

gboolean nvfm_save(NvfmDevice *dev, NvfmChannel *ch, const NvfmSaveOptions *opts,
		   NvfmTransferStats *stats, GError **error)
{
	NvfmSaveOptions defaults;
	NvfmTransferStats local;
	g_autoptr(NvfmSha256) sha = nvfm_sha256_new();
	g_autofree guint8 *buf = g_malloc(NVFM_FRAME_MAX_DATA);
	json_auto_t *hello = NULL;
	json_auto_t *compat = NULL;
	GError *err = NULL;
	NvfmMigState cur;
	guint8 trailer[40];
	gint64 t0 = nvfm_now_us();
	Sender s;

	if (!opts) {
		nvfm_save_options_init(&defaults);
		opts = &defaults;
	}
	if (!stats)
		stats = &local;
	memset(stats, 0, sizeof(*stats));
	s = (Sender){ dev, ch, opts, stats, sha, buf };

	if (!nvfm_device_get_state(dev, &cur, error))
		return FALSE;
	compat = nvfm_device_compat_block(dev, error);
	if (!compat)
		return FALSE;
	hello = json_pack("{s:s, s:i, s:s, s:[s,s]}", "protocol", STREAM_PROTOCOL,
			  "version", NVFM_PROTO_VERSION, "role", STREAM_ROLE,
			  "capabilities", "precopy", "sha256");
	if (!nvfm_frame_send_json(ch, NVFM_FRAME_HELLO, hello, &err) ||
	    !nvfm_frame_send_json(ch, NVFM_FRAME_COMPAT, compat, &err))
		goto fail;
	/* Precopy only makes sense while the device runs: PRE_COPY is
	 * reachable from STOP only by starting the device again. */
	if (opts->precopy_rounds > 0 && (dev->flags & NVFM_MIG_FLAG_PRE_COPY) &&
	    (cur == NVFM_MIG_STATE_RUNNING || cur == NVFM_MIG_STATE_PRE_COPY)) {
		if (!save_precopy(&s, &err))
			goto fail;
	}
	if (!save_stop_copy(&s, &err))
		goto fail;
	put_le64(trailer, stats->total_bytes);
	finish_sha(sha, stats, trailer + 8);
	if (!nvfm_frame_send(ch, NVFM_FRAME_TRAILER, trailer, sizeof(trailer), &err))
		goto fail;
	stats->total_us = nvfm_now_us() - t0;
	return TRUE;

fail:
	send_abort(ch, err->message);
	nvfm_device_recover(dev, NVFM_MIG_STATE_RUNNING);
	g_propagate_error(error, err);
	return FALSE;
}

static gboolean check_hello(const guint8 *p, gsize len, GError **error)
{
	json_auto_t *obj = nvfm_frame_parse_json(p, len, error);
	const char *proto, *role = NULL;
	json_int_t version = 0;

	if (!obj)
		return FALSE;
	if (json_unpack(obj, "{s:s, s:I, s?s}", "protocol", &proto, "version", &version,
			"role", &role) < 0 || strcmp(proto, STREAM_PROTOCOL) != 0) {
		g_set_error(error, NVFM_ERROR, NVFM_ERROR_PROTOCOL,
			    "HELLO frame does not announce an nvme-vf-migrate stream");
		return FALSE;
	}
	if (version != NVFM_PROTO_VERSION) {
		g_set_error(error, NVFM_ERROR, NVFM_ERROR_PROTOCOL,
			    "stream version %" JSON_INTEGER_FORMAT " is not supported (this build speaks %d)",
			    version, NVFM_PROTO_VERSION);
		return FALSE;
	}
	if (role && strcmp(role, STREAM_ROLE) != 0) {
		g_set_error(error, NVFM_ERROR, NVFM_ERROR_PROTOCOL,
			    "stream carries '%s', not device state", role);
		return FALSE;
	}
	return TRUE;
}

static gboolean expect_frame(NvfmChannel *ch, NvfmFrameHeader *hdr, guint8 *buf,
			     NvfmFrameType type, GError **error)
{
	if (!nvfm_frame_recv(ch, hdr, buf, error))
		return FALSE;
	if (hdr->type == NVFM_FRAME_ABORT) {
		json_auto_t *obj = nvfm_frame_parse_json(buf, hdr->length, NULL);
		const char *reason = obj ? json_string_value(json_object_get(obj, "reason")) : NULL;

		g_set_error(error, NVFM_ERROR, NVFM_ERROR_CANCELLED, "the sender aborted: %s",
			    reason ? reason : "no reason given");
		return FALSE;
	}
	if (type && hdr->type != type) {
		g_set_error(error, NVFM_ERROR, NVFM_ERROR_PROTOCOL,
			    "expected a %s frame, got %s", nvfm_frame_type_name(type),
			    nvfm_frame_type_name(hdr->type));
		return FALSE;
	}
	return TRUE;
}

/* Everything from RESUMING to the verified trailer. */
static gboolean load_body(NvfmDevice *dev, NvfmChannel *ch, const NvfmLoadOptions *opts,
			  NvfmTransferStats *stats, NvfmSha256 *sha, guint8 *buf, GError **error)
{
	gboolean seen_phase = FALSE;
	int phase = 0;

	if (!nvfm_device_set_state(dev, NVFM_MIG_STATE_RESUMING, error))
		return FALSE;
	for (;;) {
		NvfmFrameHeader hdr;

		if (!expect_frame(ch, &hdr, buf, 0, error))
			return FALSE;
		switch (hdr.type) {
		case NVFM_FRAME_PHASE:
			if (buf[0] != NVFM_PHASE_PRECOPY && buf[0] != NVFM_PHASE_STOP_COPY) {
				g_set_error(error, NVFM_ERROR, NVFM_ERROR_PROTOCOL,
					    "unknown phase %u in a PHASE frame", buf[0]);
				return FALSE;
			}
			phase = buf[0];
			seen_phase = TRUE;
			break;
		case NVFM_FRAME_DATA:
			if (!seen_phase) {
				g_set_error(error, NVFM_ERROR, NVFM_ERROR_PROTOCOL,
					    "DATA frame before any PHASE frame");
				return FALSE;
			}
			if (!nvfm_device_write_all(dev, buf, hdr.length, opts->timeout_ms, error))
				return FALSE;
			nvfm_sha256_update(sha, buf, hdr.length);
			stats->total_bytes += hdr.length;
			if (phase == NVFM_PHASE_PRECOPY)
				stats->precopy_bytes += hdr.length;
			else
				stats->stop_copy_bytes += hdr.length;
			if (opts->progress)
				opts->progress(phase, stats->total_bytes, opts->user_data);
			break;
		case NVFM_FRAME_TRAILER: {
			guint8 digest[32];

			if (hdr.length != 40) {
				g_set_error(error, NVFM_ERROR, NVFM_ERROR_PROTOCOL,
					    "TRAILER frame of %u bytes (expected 40)", hdr.length);
				return FALSE;
			}
			if (get_le64(buf) != stats->total_bytes) {
				g_set_error(error, NVFM_ERROR, NVFM_ERROR_INTEGRITY,
					    "stream carried %" G_GUINT64_FORMAT " state bytes but its "
					    "trailer says %" G_GUINT64_FORMAT, stats->total_bytes,
					    get_le64(buf));
				return FALSE;
			}
			finish_sha(sha, stats, digest);
			if (memcmp(digest, buf + 8, 32) != 0) {
				g_set_error(error, NVFM_ERROR, NVFM_ERROR_INTEGRITY,
					    "SHA-256 of the received state does not match the trailer");
				return FALSE;
			}
			return TRUE;
		}
		default:
			g_set_error(error, NVFM_ERROR, NVFM_ERROR_PROTOCOL,
				    "unexpected %s frame in the state stream",
				    nvfm_frame_type_name(hdr.type));
			return FALSE;
		}
	}
}

gboolean nvfm_load(NvfmDevice *dev, NvfmChannel *ch, const NvfmLoadOptions *opts,
		   NvfmTransferStats *stats, GError **error)
{
	NvfmLoadOptions defaults;
	NvfmTransferStats local;
	g_autoptr(NvfmSha256) sha = nvfm_sha256_new();
	g_autofree guint8 *buf = g_malloc(NVFM_FRAME_MAX_DATA);
	json_auto_t *src = NULL;
	json_auto_t *dst = NULL;
	NvfmFrameHeader hdr;
	GError *err = NULL;
	gint64 t0 = nvfm_now_us(), tc;

	if (!opts) {
		nvfm_load_options_init(&defaults);
		opts = &defaults;
	}
	if (!stats)
		stats = &local;
	memset(stats, 0, sizeof(*stats));

	/* Check everything that needs no device change first. */
	if (!expect_frame(ch, &hdr, buf, NVFM_FRAME_HELLO, error) ||
	    !check_hello(buf, hdr.length, error) ||
	    !expect_frame(ch, &hdr, buf, NVFM_FRAME_COMPAT, error))
		return FALSE;
	src = nvfm_frame_parse_json(buf, hdr.length, error);
	if (!src)
		return FALSE;
	dst = nvfm_device_compat_block(dev, error);
	if (!dst || !compat_check(src, dst, error))
		return FALSE;

	if (!load_body(dev, ch, opts, stats, sha, buf, &err))
		goto fail;
	tc = nvfm_now_us();
	if (!nvfm_device_set_state(dev, NVFM_MIG_STATE_STOP, &err)) {
		g_prefix_error(&err, "the device refused the state at RESUMING -> STOP: ");
		goto fail;
	}
	stats->commit_us = nvfm_now_us() - tc;
	if (opts->run && !nvfm_device_set_state(dev, NVFM_MIG_STATE_RUNNING, &err))
		goto fail;
	stats->total_us = nvfm_now_us() - t0;
	return TRUE;

fail:
	/* Never let a device run on a partial or rejected state. */
	nvfm_device_reset(dev, NULL);
	g_propagate_error(error, err);
	return FALSE;
}
