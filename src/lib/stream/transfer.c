/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Save and load: a device's state as a framed stream (docs/protocol.md).
 * The same code serves files, pipes and sockets; memory stays one data
 * buffer (and, zero-copy, one pipe) whatever the state size.
 */
#define G_LOG_DOMAIN "nvfm-transfer"

#include <string.h>

#include "engine/engine-private.h"
#include "splice.h"

#define DEFAULT_TIMEOUT_MS 30000
#define STREAM_PROTOCOL "nvme-vf-migrate"
#define STREAM_ROLE "device-state"

/* Facts that must be equal on both ends when both report them. */
static const char *const compat_must_match[] = {
	"model", "layout_version", "vendor_id", "device_id",
	"subsystem_vendor_id", "subsystem_device_id", "driver",
};

/* The running SHA-256 of a transfer (sha256.c), with the state a failed
 * transfer needs to drop it. The context is made on first use: a
 * zero-copy or TLS transfer never hashes, and making one loads the
 * crypto library's configuration (milliseconds on both ends). */
typedef struct {
	NvfmSha256 *h;
} Sha;

static gboolean sha_init(Sha *s, GError **error)
{
	s->h = NULL;
	return TRUE;
}

static void sha_update(Sha *s, const void *p, gsize len)
{
	if (!s->h)
		s->h = nvfm_sha256_new();
	nvfm_sha256_update(s->h, p, len);
}

/* Writes the 32-byte digest and its hex form; the context is spent. */
static void sha_finish(Sha *s, guint8 *digest, char *hex)
{
	if (!s->h)
		s->h = nvfm_sha256_new();
	nvfm_sha256_finish(s->h, digest);
	nvfm_sha256_hex(digest, hex);
	g_clear_pointer(&s->h, nvfm_sha256_free);
}

static void sha_clear(Sha *s)
{
	g_clear_pointer(&s->h, nvfm_sha256_free);
}

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

gboolean nvfm_compat_check(json_t *src, json_t *dst, GError **error)
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

/* An ABORT frame's reason as an error. */
static void abort_error(const guint8 *payload, gsize len, const char *who, GError **error)
{
	json_auto_t *obj = nvfm_frame_parse_json(payload, len, NULL);
	const char *reason = obj ? json_string_value(json_object_get(obj, "reason")) : NULL;
	g_autofree char *shown = reason ? nvfm_quote_line(reason) : NULL;

	g_set_error(error, NVFM_ERROR, NVFM_ERROR_CANCELLED, "the %s aborted: %s", who,
		    shown ? shown : "no reason given");
}

/* Sender state shared by the precopy and stop-copy loops. */
typedef struct {
	NvfmDevice *dev;
	NvfmChannel *ch;
	const NvfmSaveOptions *opts;
	NvfmTransferStats *stats;
	Sha *sha;
	guint8 *buf;
	NvfmSplicer sp;
	gboolean splicing;	/* the zero-copy path is set up and usable */
	gboolean receiver_gone;	/* do not bother sending an ABORT */
	guint64 next_check;	/* look for the receiver's ABORT at this byte count */
	gboolean initial_sent;	/* opts->initial_sent was called */
	guint64 expect;		/* bytes the current phase should move in all (0: unknown) */
} Sender;

/* Tell the caller, once, that the device's initial bytes are out. */
static gboolean signal_initial_sent(Sender *s, GError **error)
{
	if (s->initial_sent || !s->opts->initial_sent)
		return TRUE;
	s->initial_sent = TRUE;
	return s->opts->initial_sent(s->opts->stop_copy_data, error);
}

#define CHECK_EVERY (4u << 20)

/*
 * On a live connection the receiver tells us why it gives up with an
 * ABORT frame; catch it between frames so the error names its reason
 * rather than the broken pipe that would follow.
 */
static gboolean check_receiver(Sender *s, GError **error)
{
	guint8 raw[NVFM_FRAME_HEADER_SIZE];
	NvfmFrameHeader hdr;
	gsize got = 0, more = 0;
	int r;

	/* a look every few MiB is soon enough and costs nothing */
	if (!s->opts->watch_peer || s->stats->total_bytes < s->next_check)
		return TRUE;
	s->next_check = s->stats->total_bytes + CHECK_EVERY;
	if (!nvfm_channel_readable(s->ch, 0))
		return TRUE;
	r = nvfm_channel_try_read(s->ch, raw, sizeof(raw), &got, error);
	if (r == 0)
		return TRUE;
	s->receiver_gone = TRUE;
	if (r < 0) {
		if (error && !*error)
			g_set_error(error, NVFM_ERROR, NVFM_ERROR_IO,
				    "the receiver closed the connection");
		return FALSE;
	}
	if (got < sizeof(raw) &&
	    (!nvfm_channel_read(s->ch, raw + got, sizeof(raw) - got, &more, error) ||
	     got + more < sizeof(raw))) {
		if (error && !*error)
			g_set_error(error, NVFM_ERROR, NVFM_ERROR_IO,
				    "the receiver closed the connection");
		return FALSE;
	}
	if (!nvfm_frame_header_decode(raw, &hdr, error) ||
	    !nvfm_frame_recv_payload(s->ch, &hdr, s->buf, error)) {
		g_prefix_error(error, "reading the receiver's message: ");
		return FALSE;
	}
	if (hdr.type == NVFM_FRAME_ABORT) {
		abort_error(s->buf, hdr.length, "receiver", error);
		return FALSE;
	}
	g_set_error(error, NVFM_ERROR, NVFM_ERROR_PROTOCOL,
		    "the receiver sent a %s frame in the middle of the state stream",
		    nvfm_frame_type_name(hdr.type));
	return FALSE;
}

static gboolean check_cancel(GCancellable *c, GError **error)
{
	if (!c || !g_cancellable_is_cancelled(c))
		return TRUE;
	g_set_error(error, NVFM_ERROR, NVFM_ERROR_CANCELLED, "the transfer was cancelled");
	return FALSE;
}

/* An estimate is only an estimate: the phase's total never reads below
 * what it moved (a device may give more than MIG_DATA_SIZE said). */
static guint64 phase_total(guint64 expect, guint64 moved)
{
	return expect ? MAX(expect, moved) : 0;
}

static void count(Sender *s, int phase, guint64 *moved, gsize n)
{
	*moved += (guint64)n;
	s->stats->total_bytes += (guint64)n;
	if (s->opts->progress)
		s->opts->progress(phase, *moved, phase_total(s->expect, *moved),
				  s->opts->user_data);
}

/*
 * Read until the device has nothing more (for now), framing what it gives,
 * or, with @limit > 0, until @limit bytes moved (*@last is then
 * NVFM_READ_DATA). A PRE_COPY device that dirties as fast as it is read
 * never says "nothing more for now": a round must end by count.
 */
static gboolean pump_out(Sender *s, int phase, guint64 *moved, guint64 limit,
			 NvfmReadStatus *last, GError **error)
{
	for (guint64 got = 0;; ) {
		gsize want = limit ? (gsize)MIN(limit - got, (guint64)NVFM_FRAME_MAX_DATA)
				   : NVFM_FRAME_MAX_DATA;
		gssize n;

		if (limit && got >= limit) {
			*last = NVFM_READ_DATA;
			return TRUE;
		}
		n = nvfm_device_read(s->dev, s->buf, want, s->opts->timeout_ms, last, error);

		if (n < 0)
			return FALSE;
		if (n == 0)
			return TRUE;
		if (s->opts->unchecked) {
			if (!nvfm_frame_send_flags(s->ch, NVFM_FRAME_DATA, NVFM_FRAME_FLAG_NO_CRC,
						   s->buf, (guint32)n, error))
				return FALSE;
			s->stats->unchecked_bytes += (guint64)n;
		} else {
			sha_update(s->sha, s->buf, n);
			if (!nvfm_frame_send(s->ch, NVFM_FRAME_DATA, s->buf, (guint32)n, error))
				return FALSE;
		}
		count(s, phase, moved, (gsize)n);
		got += (guint64)n;
		if (!check_receiver(s, error) || !check_cancel(s->opts->cancellable, error))
			return FALSE;
	}
}

/*
 * STOP_COPY without copies: data_fd -> pipe -> socket, each DATA frame
 * flagged NO_CRC. Returns through *fallback when the data_fd cannot
 * splice before any byte moved, so the caller copies instead.
 */
static gboolean splice_out(Sender *s, guint64 *moved, gboolean *fallback, GError **error)
{
	guint frames = 0;

	*fallback = FALSE;
	for (;; frames++) {
		gssize n = nvfm_splice_from_device(&s->sp, s->dev, NVFM_FRAME_MAX_DATA,
						   s->opts->timeout_ms, error);
		NvfmFrameHeader hdr = { .type = NVFM_FRAME_DATA, .version = NVFM_PROTO_VERSION,
					.flags = NVFM_FRAME_FLAG_NO_CRC };
		guint8 raw[NVFM_FRAME_HEADER_SIZE];

		if (n == NVFM_SPLICE_UNSUPPORTED) {
			*fallback = TRUE;
			return TRUE;
		}
		if (n < 0)
			return FALSE;
		if (n == 0) {
			g_debug("zero-copy: %" G_GUINT64_FORMAT " bytes in %u DATA frames",
				s->stats->zero_copy_bytes, frames);
			return TRUE;
		}
		hdr.length = (guint32)n;
		nvfm_frame_header_encode(&hdr, raw);
		if (!nvfm_splice_send_header(s->ch, raw, sizeof(raw), error) ||
		    !nvfm_splice_to_socket(&s->sp, s->ch, error))
			return FALSE;
		s->stats->zero_copy_bytes += (guint64)n;
		s->stats->unchecked_bytes += (guint64)n;
		count(s, NVFM_PHASE_STOP_COPY, moved, (gsize)n);
		if (!check_receiver(s, error) || !check_cancel(s->opts->cancellable, error))
			return FALSE;
	}
}

static gboolean save_precopy(Sender *s, GError **error)
{
	gint64 t0 = nvfm_now_us();
	NvfmReadStatus st;

	s->stats->phase = "precopy";
	if (!nvfm_device_set_state(s->dev, NVFM_MIG_STATE_PRE_COPY, error))
		return FALSE;
	if (!send_phase(s->ch, NVFM_PHASE_PRECOPY, 0, error))
		return FALSE;
	s->expect = 0;
	/* PRE_COPY goes through userspace even when zero-copy is on: only a
	 * read() tells "nothing more for now" (ENOMSG) from "wait". */
	for (guint round = 0; round < s->opts->precopy_rounds; round++) {
		guint64 initial = 0, dirty = 0, limit = 0;

		/* A round moves what the device had at its start: the
		 * precopy total is what moved plus that (a device that
		 * cannot tell leaves both unknown, and the round ends when
		 * the device says "no more for now"). */
		if (nvfm_device_precopy_info(s->dev, &initial, &dirty, NULL)) {
			limit = initial + dirty;
			s->expect = s->stats->precopy_bytes + limit;
			if (!limit)
				limit = 1;	/* a byte that arrives anyway is one round's */
		}
		if (!pump_out(s, NVFM_PHASE_PRECOPY, &s->stats->precopy_bytes, limit, &st, error))
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
		if (initial == 0 && !signal_initial_sent(s, error))
			return FALSE;
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
	NvfmReadStatus st = NVFM_READ_END;
	gboolean fallback = TRUE;

	s->stats->phase = "stop-copy";
	if (!nvfm_device_set_state(s->dev, NVFM_MIG_STATE_STOP_COPY, error))
		return FALSE;
	if (!nvfm_device_get_features(s->dev, &f, error))
		return FALSE;
	s->expect = f.has_data_size ? f.stop_copy_length : 0;
	if (!send_phase(s->ch, NVFM_PHASE_STOP_COPY, s->expect, error))
		return FALSE;
	if (s->splicing &&
	    !splice_out(s, &s->stats->stop_copy_bytes, &fallback, error))
		return FALSE;
	if (fallback) {
		if (!pump_out(s, NVFM_PHASE_STOP_COPY, &s->stats->stop_copy_bytes, 0, &st, error))
			return FALSE;
		if (st != NVFM_READ_END) {
			g_set_error(error, NVFM_ERROR, NVFM_ERROR_DEVICE,
				    "%s: STOP_COPY stream paused instead of ending", s->dev->address);
			return FALSE;
		}
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

static json_t *stream_hello(gboolean zero_copy, gboolean unchecked)
{
	json_t *caps = json_pack("[s,s]", "precopy", "sha256");

	if (zero_copy || unchecked)
		json_array_append_new(caps, json_string("unchecked-data"));
	if (zero_copy)
		json_array_append_new(caps, json_string("zero-copy"));
	return json_pack("{s:s, s:i, s:s, s:o}", "protocol", STREAM_PROTOCOL, "version",
			 NVFM_PROTO_VERSION, "role", STREAM_ROLE, "capabilities", caps);
}

gboolean nvfm_save(NvfmDevice *dev, NvfmChannel *ch, const NvfmSaveOptions *opts,
		   NvfmTransferStats *stats, GError **error)
{
	NvfmSaveOptions defaults;
	NvfmTransferStats local;
	Sha sha = { 0 };
	g_autofree guint8 *buf = g_malloc(NVFM_FRAME_MAX_DATA);
	json_auto_t *hello = NULL;
	json_auto_t *compat = NULL;
	GError *err = NULL;
	NvfmMigState cur;
	guint8 trailer[40] = { 0 };
	guint16 tflags = 0;
	gint64 t0 = nvfm_now_us();
	Sender s;

	if (!opts) {
		nvfm_save_options_init(&defaults);
		opts = &defaults;
	}
	if (!stats)
		stats = &local;
	memset(stats, 0, sizeof(*stats));
	stats->phase = "handshake";
	s = (Sender){ .dev = dev, .ch = ch, .opts = opts, .stats = stats, .sha = &sha,
		      .buf = buf, .sp = { .rd = -1, .wr = -1 } };

	if (!nvfm_device_get_state(dev, &cur, error))
		return FALSE;
	compat = nvfm_device_compat_block(dev, error);
	if (!compat || !sha_init(&sha, error))
		return FALSE;
	s.splicing = opts->zero_copy && nvfm_splice_fd_ok(nvfm_channel_get_fd(ch)) &&
		     nvfm_splicer_init(&s.sp, NULL);
	hello = stream_hello(s.splicing, opts->unchecked);
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
	if (!signal_initial_sent(&s, &err))
		goto fail;
	if (opts->before_stop_copy) {
		gboolean ready = FALSE;

		stats->phase = "pause";
		/* bounded by the callback's deadline; a PHASE frame repeated
		 * tells the receiver, whose every wait is bounded, to wait on */
		for (;;) {
			if (!opts->before_stop_copy(opts->stop_copy_data, &ready, &err))
				goto fail;
			if (ready)
				break;
			if (!send_phase(ch, NVFM_PHASE_PRECOPY, 0, &err))
				goto fail;
		}
	}
	if (!save_stop_copy(&s, &err))
		goto fail;
	stats->phase = "trailer";
	put_le64(trailer, stats->total_bytes);
	if (stats->unchecked_bytes) {
		/* We never saw (or never hashed) those bytes: say so rather
		 * than sign a part. */
		tflags = NVFM_FRAME_FLAG_NO_DIGEST;
		sha_clear(&sha);
	} else {
		sha_finish(&sha, trailer + 8, stats->sha256);
	}
	/* What the receiver says after the trailer is its verdict, which the
	 * caller reads; do not look for it here. */
	if (!nvfm_frame_send_flags(ch, NVFM_FRAME_TRAILER, tflags, trailer, sizeof(trailer),
				   &err))
		goto fail;
	nvfm_splicer_clear(&s.sp);
	stats->total_us = nvfm_now_us() - t0;
	return TRUE;

fail:
	sha_clear(&sha);
	nvfm_splicer_clear(&s.sp);
	/* The device first: it must not wait for a peer that may be gone
	 * (and on a silent channel the ABORT does not wait either). */
	nvfm_device_recover(dev, NVFM_MIG_STATE_RUNNING);
	if (!s.receiver_gone)
		send_abort(ch, err->message);
	g_propagate_error(error, err);
	return FALSE;
}

static gboolean check_hello(const guint8 *p, gsize len, gboolean allow_unchecked,
			    GError **error)
{
	json_auto_t *obj = nvfm_frame_parse_json(p, len, error);
	const char *proto, *role = NULL;
	json_int_t version = 0;
	json_t *caps = NULL;

	if (!obj)
		return FALSE;
	if (json_unpack(obj, "{s:s, s:I, s?s, s?o}", "protocol", &proto, "version", &version,
			"role", &role, "capabilities", &caps) < 0 ||
	    strcmp(proto, STREAM_PROTOCOL) != 0) {
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
		g_autofree char *shown = nvfm_quote_line(role);

		g_set_error(error, NVFM_ERROR, NVFM_ERROR_PROTOCOL,
			    "stream carries '%s', not device state", shown);
		return FALSE;
	}
	if (caps && !json_is_array(caps)) {
		g_set_error(error, NVFM_ERROR, NVFM_ERROR_PROTOCOL,
			    "HELLO capabilities are not a list");
		return FALSE;
	}
	for (gsize i = 0; caps && i < json_array_size(caps); i++) {
		const char *c = json_string_value(json_array_get(caps, i));

		if (c && (strcmp(c, "zero-copy") == 0 || strcmp(c, "unchecked-data") == 0) &&
		    !allow_unchecked) {
			g_set_error(error, NVFM_ERROR, NVFM_ERROR_PROTOCOL,
				    "the sender streams DATA without checksums (%s), which was not "
				    "negotiated", c);
			return FALSE;
		}
	}
	return TRUE;
}

static gboolean expect_frame(NvfmChannel *ch, NvfmFrameHeader *hdr, guint8 *buf,
			     NvfmFrameType type, GError **error)
{
	if (!nvfm_frame_recv(ch, hdr, buf, error))
		return FALSE;
	if (hdr->type == NVFM_FRAME_ABORT) {
		abort_error(buf, hdr->length, "sender", error);
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

/* Receiver state of load_body(). */
typedef struct {
	NvfmDevice *dev;
	NvfmChannel *ch;
	const NvfmLoadOptions *opts;
	NvfmTransferStats *stats;
	Sha *sha;
	guint8 *buf;
	NvfmSplicer sp;
	int phase;
	guint64 expect;		/* the sender's hint for the current phase (0: none) */
} Receiver;

static gboolean load_data(Receiver *r, const NvfmFrameHeader *hdr, GError **error)
{
	int fd = nvfm_channel_get_fd(r->ch);
	guint64 *moved;

	if (!r->phase) {
		g_set_error(error, NVFM_ERROR, NVFM_ERROR_PROTOCOL,
			    "DATA frame before any PHASE frame");
		return FALSE;
	}
	if (hdr->flags & NVFM_FRAME_FLAG_NO_CRC) {
		if (!r->opts->allow_unchecked) {
			g_set_error(error, NVFM_ERROR, NVFM_ERROR_PROTOCOL,
				    "DATA frame without checksum, which was not negotiated");
			return FALSE;
		}
		if (r->sp.rd < 0 && nvfm_splice_fd_ok(fd) && !nvfm_splicer_init(&r->sp, error))
			return FALSE;
		if (r->sp.rd >= 0) {
			if (!nvfm_splice_socket_to_device(&r->sp, r->ch, r->dev, hdr->length, r->buf,
							  r->opts->timeout_ms, error))
				return FALSE;
			r->stats->zero_copy_bytes += hdr->length;
		} else if (!nvfm_frame_recv_payload(r->ch, hdr, r->buf, error) ||
			   !nvfm_device_write_all(r->dev, r->buf, hdr->length,
						  r->opts->timeout_ms, error)) {
			return FALSE;
		}
		r->stats->unchecked_bytes += hdr->length;
	} else {
		if (!nvfm_frame_recv_payload(r->ch, hdr, r->buf, error) ||
		    !nvfm_device_write_all(r->dev, r->buf, hdr->length, r->opts->timeout_ms, error))
			return FALSE;
		sha_update(r->sha, r->buf, hdr->length);
	}
	r->stats->total_bytes += hdr->length;
	moved = r->phase == NVFM_PHASE_PRECOPY ? &r->stats->precopy_bytes
					       : &r->stats->stop_copy_bytes;
	*moved += hdr->length;
	if (r->opts->progress)
		r->opts->progress(r->phase, *moved, phase_total(r->expect, *moved),
				  r->opts->user_data);
	return TRUE;
}

static gboolean load_trailer(Receiver *r, const NvfmFrameHeader *hdr, GError **error)
{
	guint8 digest[32];

	r->stats->phase = "trailer";
	if (hdr->length != 40) {
		g_set_error(error, NVFM_ERROR, NVFM_ERROR_PROTOCOL,
			    "TRAILER frame of %u bytes (expected 40)", hdr->length);
		return FALSE;
	}
	if (get_le64(r->buf) != r->stats->total_bytes) {
		g_set_error(error, NVFM_ERROR, NVFM_ERROR_INTEGRITY,
			    "stream carried %" G_GUINT64_FORMAT " state bytes but its "
			    "trailer says %" G_GUINT64_FORMAT, r->stats->total_bytes,
			    get_le64(r->buf));
		return FALSE;
	}
	/* A digest must cover every byte, and only a stream with unchecked
	 * bytes may go without one. */
	if (hdr->flags & NVFM_FRAME_FLAG_NO_DIGEST) {
		if (!r->opts->allow_unchecked || r->stats->unchecked_bytes == 0) {
			g_set_error(error, NVFM_ERROR, NVFM_ERROR_PROTOCOL,
				    "TRAILER without a digest for a stream that needs one");
			return FALSE;
		}
		return TRUE;
	}
	if (r->stats->unchecked_bytes) {
		g_set_error(error, NVFM_ERROR, NVFM_ERROR_PROTOCOL,
			    "TRAILER digest claims bytes that were sent unchecked");
		return FALSE;
	}
	sha_finish(r->sha, digest, r->stats->sha256);
	if (memcmp(digest, r->buf + 8, 32) != 0) {
		g_set_error(error, NVFM_ERROR, NVFM_ERROR_INTEGRITY,
			    "SHA-256 of the received state does not match the trailer");
		return FALSE;
	}
	return TRUE;
}

/* Everything from RESUMING to the verified trailer. */
static gboolean load_body(Receiver *r, GError **error)
{
	r->stats->phase = "resume";
	if (!nvfm_device_set_state(r->dev, NVFM_MIG_STATE_RESUMING, error))
		return FALSE;
	for (;;) {
		NvfmFrameHeader hdr;

		if (!check_cancel(r->opts->cancellable, error) ||
		    !nvfm_frame_recv_header(r->ch, &hdr, error))
			return FALSE;
		/* DATA payloads may take the zero-copy path: read them there. */
		if (hdr.type == NVFM_FRAME_DATA) {
			if (!load_data(r, &hdr, error))
				return FALSE;
			continue;
		}
		if (!nvfm_frame_recv_payload(r->ch, &hdr, r->buf, error))
			return FALSE;
		switch (hdr.type) {
		case NVFM_FRAME_PHASE:
			if (hdr.length != 16 || (r->buf[0] != NVFM_PHASE_PRECOPY &&
						 r->buf[0] != NVFM_PHASE_STOP_COPY)) {
				g_set_error(error, NVFM_ERROR, NVFM_ERROR_PROTOCOL,
					    "malformed PHASE frame");
				return FALSE;
			}
			if (r->phase == NVFM_PHASE_STOP_COPY) {
				g_set_error(error, NVFM_ERROR, NVFM_ERROR_PROTOCOL,
					    "PHASE frame after STOP_COPY began");
				return FALSE;
			}
			r->phase = r->buf[0];
			r->expect = get_le64(r->buf + 8);
			r->stats->phase = r->phase == NVFM_PHASE_PRECOPY ? "precopy" : "stop-copy";
			break;
		case NVFM_FRAME_TRAILER:
			if (r->phase != NVFM_PHASE_STOP_COPY) {
				g_set_error(error, NVFM_ERROR, NVFM_ERROR_PROTOCOL,
					    "TRAILER before the STOP_COPY phase");
				return FALSE;
			}
			return load_trailer(r, &hdr, error);
		case NVFM_FRAME_ABORT:
			abort_error(r->buf, hdr.length, "sender", error);
			return FALSE;
		default:
			g_set_error(error, NVFM_ERROR, NVFM_ERROR_PROTOCOL,
				    "unexpected %s frame in the state stream",
				    nvfm_frame_type_name(hdr.type));
			return FALSE;
		}
	}
}

/*
 * A verified trailer is not yet permission to commit: a stream that goes
 * on after it (a duplicated trailer, two streams glued together) is as
 * malformed as a truncated one.
 */
static gboolean confirm_end(Receiver *r, GError **error)
{
	guint8 extra;
	gsize got = 0;

	if (r->opts->before_commit)
		return r->opts->before_commit(r->opts->commit_data, error);
	if (!nvfm_channel_read(r->ch, &extra, 1, &got, error))
		return FALSE;
	if (got) {
		g_set_error(error, NVFM_ERROR, NVFM_ERROR_PROTOCOL,
			    "the stream goes on after its TRAILER (duplicate trailer?)");
		return FALSE;
	}
	return TRUE;
}

gboolean nvfm_load(NvfmDevice *dev, NvfmChannel *ch, const NvfmLoadOptions *opts,
		   NvfmTransferStats *stats, GError **error)
{
	NvfmLoadOptions defaults;
	NvfmTransferStats local;
	Sha sha = { 0 };
	g_autofree guint8 *buf = g_malloc(NVFM_FRAME_MAX_DATA);
	json_auto_t *src = NULL;
	json_auto_t *dst = NULL;
	NvfmFrameHeader hdr;
	GError *err = NULL;
	gint64 t0 = nvfm_now_us(), tc;
	Receiver r;

	if (!opts) {
		nvfm_load_options_init(&defaults);
		opts = &defaults;
	}
	if (!stats)
		stats = &local;
	memset(stats, 0, sizeof(*stats));
	stats->phase = "handshake";

	/* Check everything that needs no device change first. */
	if (!expect_frame(ch, &hdr, buf, NVFM_FRAME_HELLO, error) ||
	    !check_hello(buf, hdr.length, opts->allow_unchecked, error))
		return FALSE;
	stats->phase = "compat";
	if (!expect_frame(ch, &hdr, buf, NVFM_FRAME_COMPAT, error))
		return FALSE;
	src = nvfm_frame_parse_json(buf, hdr.length, error);
	if (!src)
		return FALSE;
	dst = nvfm_device_compat_block(dev, error);
	if (!dst || !nvfm_compat_check(src, dst, error) || !sha_init(&sha, error))
		return FALSE;

	r = (Receiver){ .dev = dev, .ch = ch, .opts = opts, .stats = stats, .sha = &sha,
			.buf = buf, .sp = { .rd = -1, .wr = -1 } };
	if (!load_body(&r, &err) || !confirm_end(&r, &err))
		goto fail;
	nvfm_splicer_clear(&r.sp);
	sha_clear(&sha);
	stats->phase = "commit";
	tc = nvfm_now_us();
	if (!nvfm_device_set_state(dev, NVFM_MIG_STATE_STOP, &err)) {
		g_prefix_error(&err, "the device refused the state at RESUMING -> STOP: ");
		goto fail;
	}
	stats->commit_us = nvfm_now_us() - tc;
	if (opts->run) {
		stats->phase = "run";
		if (!nvfm_device_set_state(dev, NVFM_MIG_STATE_RUNNING, &err))
			goto fail;
	}
	stats->total_us = nvfm_now_us() - t0;
	return TRUE;

fail:
	nvfm_splicer_clear(&r.sp);
	sha_clear(&sha);
	/* Never let a device run on a partial or rejected state. */
	nvfm_device_reset(dev, NULL);
	g_propagate_error(error, err);
	return FALSE;
}
