/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Fuzz target for the receiving side of a transfer (nvfm_load in
 * transfer.c) into an emulated VF, fed by a scripted peer. The input is a
 * script of frames, which the harness puts on the wire with correct
 * checksums unless the script asks otherwise, so mutations reach the
 * state machine rather than die at the first CRC:
 *
 *   u8 options: bit 0 allow unchecked DATA, bit 1 run after commit
 *   then records until the input ends:
 *     u8 type (any value), u8 how, u16 flags, u16 length (little-endian),
 *     [u32 declared length, when how has LIE], then length payload bytes
 *   how: BAD_MAGIC, BAD_HEADER_CRC, BAD_PAYLOAD_CRC, BAD_VERSION: spoil
 *     that field; LIE: the header declares another length; TRAILER: the
 *     harness writes the 40-byte payload (total DATA bytes, SHA-256 of the
 *     checked ones); RAW: the payload goes on the wire unframed; CUT: the
 *     frame stops half way and so does the stream.
 *
 * The stream is read from memory (a GIO memory stream as the channel), so
 * runs are deterministic and need no second thread. Besides not crashing:
 * a failed load says why in one line and leaves the device reset (never
 * in RESUMING); a load that succeeds counted every DATA byte, and those
 * bytes are a state the emulated VF's own parser accepts.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <glib/gstdio.h>

#include "src/lib/emu/emu-private.h"

/* the largest state a parser here takes, as an agent's --max-emu-state */
#define FUZZ_MAX_BLOB (64ull << 20)

#define FUZZ_MAX_INPUT (1u << 20)

enum {
	BAD_MAGIC = 0x01,
	BAD_HEADER_CRC = 0x02,
	BAD_PAYLOAD_CRC = 0x04,
	BAD_VERSION = 0x08,
	LIE = 0x10,
	TRAILER = 0x20,
	RAW = 0x40,
	CUT = 0x80,
};

static NvfmDevice *dev;
static char *work;

/*
 * The emulated VF builds its page generator's pool per seed (a few
 * hundred microseconds) and drops it with the last state that uses it:
 * keep the pools of the seeds the corpus uses, so runs measure the
 * transfer rather than the pool.
 */
static const guint64 seeds[] = { 1, 2, 0x5eed, G_MAXUINT64 };
static EmuPool *pools[G_N_ELEMENTS(seeds)];

/* the device's files, then its directories */
static void cleanup(void)
{
	g_autofree char *emu = g_build_filename(work, "emu", NULL);
	g_autoptr(GDir) d = g_dir_open(emu, 0, NULL);
	const char *name;

	g_clear_pointer(&dev, nvfm_device_close);
	while (d && (name = g_dir_read_name(d))) {
		g_autofree char *path = g_build_filename(emu, name, NULL);

		g_unlink(path);
	}
	g_rmdir(emu);
	g_rmdir(work);
}

static void setup(void)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(NvfmAddress) addr = NULL;
	g_autofree char *emu = NULL;
	NvfmEmuConfig cfg;

	if (dev)
		return;
	for (guint i = 0; i < G_N_ELEMENTS(seeds); i++)
		pools[i] = emu_pool_ref(seeds[i]);
	/* the device's files change on every load: keep them in memory */
	work = g_build_filename(g_file_test("/dev/shm", G_FILE_TEST_IS_DIR) ? "/dev/shm"
					: g_get_tmp_dir(), "nvfm-fuzz-transfer.XXXXXX", NULL);
	if (!g_mkdtemp(work))
		g_error("cannot make %s", work);
	emu = g_build_filename(work, "emu", NULL);
	g_setenv("NVFM_EMU_DIR", emu, TRUE);
	nvfm_emu_config_init(&cfg);
	cfg.blob_size = 100;
	cfg.seed = 1;
	cfg.n_io_queues = 1;
	cfg.dirty_rate = 0;
	addr = nvfm_address_parse("emu:fz", &error);
	if (!addr || !nvfm_emu_create("fz", &cfg, &error) ||
	    !(dev = nvfm_device_open(addr, &error)))
		g_error("%s", error->message);
	atexit(cleanup);
}

static guint32 rd16(const uint8_t **p, const uint8_t *end)
{
	guint32 v = 0;

	for (int i = 0; i < 2 && *p < end; i++, (*p)++)
		v |= (guint32)**p << (8 * i);
	return v;
}

static guint32 rd32(const uint8_t **p, const uint8_t *end)
{
	return rd16(p, end) | rd16(p, end) << 16;
}

static void append32(GByteArray *b, guint32 v)
{
	v = GUINT32_TO_LE(v);
	g_byte_array_append(b, (const guint8 *)&v, 4);
}

typedef struct {
	GByteArray *wire;	/* what the peer sends */
	GByteArray *data;	/* the DATA payloads, in order */
	GByteArray *checked;	/* those sent with a CRC (the digest covers them) */
	guint64 total;
} Script;

static void frame(Script *s, guint8 type, guint8 how, guint16 flags, const guint8 *payload,
		  guint32 len, guint32 declared)
{
	guint8 raw[NVFM_FRAME_HEADER_SIZE];
	NvfmFrameHeader hdr = { .version = NVFM_PROTO_VERSION, .type = type, .flags = flags,
				.length = declared };
	guint32 crc;

	nvfm_frame_header_encode(&hdr, raw);
	if (how & BAD_VERSION) {
		raw[4] ^= 0x02;
		crc = GUINT32_TO_LE(nvfm_crc32c(0, raw, 12));
		memcpy(raw + 12, &crc, 4);
	}
	if (how & BAD_MAGIC)
		raw[0] ^= 0x20;
	if (how & BAD_HEADER_CRC)
		raw[13] ^= 0x01;
	if (how & CUT) {
		g_byte_array_append(s->wire, raw, sizeof(raw));
		g_byte_array_append(s->wire, payload, len / 2);
		return;
	}
	g_byte_array_append(s->wire, raw, sizeof(raw));
	g_byte_array_append(s->wire, payload, len);
	if (type == NVFM_FRAME_DATA) {
		g_byte_array_append(s->data, payload, len);
		s->total += len;
		if (!(flags & NVFM_FRAME_FLAG_NO_CRC))
			g_byte_array_append(s->checked, payload, len);
	}
	/* an honest sender's CRC: whenever the frame it means to send has one */
	if (len > 0 && !(type == NVFM_FRAME_DATA && (flags & NVFM_FRAME_FLAG_NO_CRC)))
		append32(s->wire, nvfm_crc32c(0, payload, len) ^ (how & BAD_PAYLOAD_CRC ? 1u : 0u));
}

static void make_trailer(Script *s, guint8 *out)
{
	g_autoptr(NvfmSha256) sum = nvfm_sha256_new();
	guint64 total = GUINT64_TO_LE(s->total);

	memcpy(out, &total, 8);
	nvfm_sha256_update(sum, s->checked->data, s->checked->len);
	nvfm_sha256_finish(sum, out + 8);
}

static void decode(const uint8_t *p, const uint8_t *end, Script *s)
{
	while (p < end) {
		guint8 type = *p++;
		guint8 how = p < end ? *p++ : 0;
		guint16 flags = (guint16)rd16(&p, end);
		guint32 len = rd16(&p, end);
		guint32 declared = how & LIE ? rd32(&p, end) : 0;
		guint8 trailer[40];
		const guint8 *payload = p;

		len = MIN(len, (guint32)(end - p));
		p += len;
		if (how & RAW) {
			g_byte_array_append(s->wire, payload, len);
			continue;
		}
		if (how & TRAILER) {
			make_trailer(s, trailer);
			payload = trailer;
			len = sizeof(trailer);
		}
		frame(s, type, how, flags, payload, len, how & LIE ? declared : len);
		if (how & CUT)
			return;
	}
}

/* The DATA bytes of a committed load must be a state the device accepts. */
static void check_state(const GByteArray *data)
{
	g_autofree char *spill = g_build_filename(work, "check.blob", NULL);
	EmuParser *p = emu_parser_new(spill, FUZZ_MAX_BLOB);
	EmuState st = { .spill_fd = -1 };

	emu_parser_feed(p, data->data, data->len);
	if (!emu_parser_finish(p, &st, NULL))
		abort();
	emu_state_clear(&st);
	emu_parser_free(p);
	g_unlink(spill);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	g_autoptr(GInputStream) in = NULL;
	g_autoptr(GOutputStream) out = NULL;
	g_autoptr(GIOStream) io = NULL;
	g_autoptr(NvfmChannel) ch = NULL;
	g_autoptr(GError) error = NULL;
	NvfmTransferStats stats;
	NvfmLoadOptions opts;
	NvfmMigState state;
	Script s;
	gsize wire_len;
	gboolean ok;

	if (size < 1 || size > FUZZ_MAX_INPUT)
		return 0;
	setup();
	s.wire = g_byte_array_new();
	s.data = g_byte_array_new();
	s.checked = g_byte_array_new();
	s.total = 0;
	decode(data + 1, data + size, &s);
	wire_len = s.wire->len;

	nvfm_load_options_init(&opts);
	opts.allow_unchecked = data[0] & 1;
	opts.run = (data[0] & 2) != 0;
	/* every wait is on the device's model thread, never on the peer */
	opts.timeout_ms = 10000;
	in = g_memory_input_stream_new_from_data(g_byte_array_free(s.wire, FALSE), wire_len,
						 g_free);
	out = g_memory_output_stream_new_resizable();
	io = g_simple_io_stream_new(in, out);
	ch = nvfm_channel_new_stream(io);

	ok = nvfm_load(dev, ch, &opts, &stats, &error);
	if (!nvfm_device_get_state(dev, &state, NULL))
		abort();
	if (!ok) {
		if (!error || !error->message[0] || strchr(error->message, '\n'))
			abort();
		/* a refused stream never leaves the device resuming */
		if (state == NVFM_MIG_STATE_RESUMING)
			abort();
	} else {
		if (error || stats.total_bytes != s.total ||
		    state != (opts.run ? NVFM_MIG_STATE_RUNNING : NVFM_MIG_STATE_STOP))
			abort();
		check_state(s.data);
		nvfm_device_reset(dev, NULL);
	}
	g_byte_array_unref(s.checked);
	g_byte_array_unref(s.data);
	return 0;
}
