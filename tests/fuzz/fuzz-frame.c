/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Fuzz target for the frame parser of the device-state stream and the
 * agent protocol's parsers (HELLO, REQUEST, JSON payloads). Besides not
 * crashing: the in-memory parser (nvfm_frame_parse) and the channel
 * reader (nvfm_frame_recv over a stream) must accept the same frames,
 * with the same contents, and stop at the same place.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "src/lib/agent/agent-private.h"

/* Inputs longer than this only repeat what shorter ones reach. */
#define FUZZ_MAX_INPUT (4u << 20)

static guint8 *recv_buf;

static void check_payload(const NvfmFrameHeader *hdr, const guint8 *p)
{
	json_t *obj = NULL;
	json_int_t id;
	const char *op;
	json_t *args;
	guint caps;

	switch (hdr->type) {
	case NVFM_FRAME_HELLO:
		obj = nvfm_agent_hello_parse(p, hdr->length, "client", &caps, NULL);
		json_decref(obj);
		obj = nvfm_agent_hello_parse(p, hdr->length, "agent", &caps, NULL);
		break;
	case NVFM_FRAME_REQUEST:
		obj = nvfm_agent_request_parse(p, hdr->length, &id, &op, &args, NULL);
		if (obj && (!op || !args || id < 0))
			abort();
		break;
	case NVFM_FRAME_COMPAT:
	case NVFM_FRAME_ABORT:
	case NVFM_FRAME_REPLY:
		obj = nvfm_frame_parse_json(p, hdr->length, NULL);
		break;
	default:
		break;
	}
	json_decref(obj);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	g_autoptr(GInputStream) in = NULL;
	g_autoptr(GOutputStream) out = NULL;
	g_autoptr(GIOStream) io = NULL;
	g_autoptr(NvfmChannel) ch = NULL;
	gsize off = 0;

	if (size > FUZZ_MAX_INPUT)
		return 0;
	if (!recv_buf)
		recv_buf = g_malloc(NVFM_FRAME_MAX_DATA);
	in = g_memory_input_stream_new_from_data(g_memdup2(data, size), size, g_free);
	out = g_memory_output_stream_new_resizable();
	io = g_simple_io_stream_new(in, out);
	ch = nvfm_channel_new_stream(io);

	for (;;) {
		NvfmFrameHeader a, b;
		const guint8 *payload = NULL;
		gsize used = 0;
		GError *ea = NULL, *eb = NULL;
		gboolean ok_a = nvfm_frame_parse(data + off, size - off, &a, &payload, &used, &ea);
		gboolean ok_b = nvfm_frame_recv(ch, &b, recv_buf, &eb);

		/* Same verdict, and for a good frame the same frame. */
		if (ok_a != ok_b)
			abort();
		if (!ok_a) {
			if (!ea || !eb || ea->code != eb->code)
				abort();
			g_error_free(ea);
			g_error_free(eb);
			break;
		}
		if (a.type != b.type || a.flags != b.flags || a.length != b.length ||
		    a.length > nvfm_frame_max_payload(a.type) ||
		    memcmp(payload, recv_buf, a.length) != 0 || used > size - off)
			abort();
		check_payload(&a, payload);
		off += used;
	}
	return 0;
}
