// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * The destination's phases on the source's clock. The agent's last reply
 * to a receive carries its phases on its own monotonic clock, the time the
 * sender's commit reached it (t2) and the time it replied (t3); we know
 * when the commit left (t1) and the reply arrived (t4). As NTP does:
 * offset = ((t2 - t1) + (t3 - t4)) / 2, round trip = (t4 - t1) - (t3 - t2).
 * The error is at most half the round trip, on loopback well under a ms.
 */
#define G_LOG_DOMAIN "nvfm-migrate"

#include "migrate-private.h"

static gint64 jint(json_t *o, const char *key)
{
	return (gint64)json_integer_value(json_object_get(o, key));
}

void nvfm_migration_dest_phases(NvfmMigration *m, NvfmMigrationVf *v, json_t *res)
{
	gint64 t1 = jint(res, "commit_sent_us"), t2 = jint(res, "commit_request_us");
	gint64 t3 = jint(res, "clock_us"), t4 = jint(res, "reply_received_us");
	gint64 offset, rtt;
	json_t *tl, *p;
	gsize i;

	/* an older agent, or times that make no sense: no lane */
	if (!json_is_array(json_object_get(res, "phases")) || !t1 || !t2 || !t3 || !t4 ||
	    t4 < t1 || t3 < t2)
		return;
	offset = ((t2 - t1) + (t3 - t4)) / 2;
	rtt = (t4 - t1) - (t3 - t2);
	tl = json_array();
	json_array_foreach(json_object_get(res, "phases"), i, p) {
		gint64 start = jint(p, "start_us") - offset - m->t0;
		gint64 end = jint(p, "end_us") - offset - m->t0;

		json_array_append_new(tl, json_pack("{s:s, s:f, s:f, s:s}", "phase",
						    json_string_value(json_object_get(p, "phase")),
						    "start_ms", start / 1000.0, "ms",
						    MAX(end - start, 0) / 1000.0, "outcome", "ok"));
	}
	json_decref(v->dest_report);
	v->dest_report = json_pack("{s:o, s:f, s:f}", "timeline", tl, "clock_offset_ms",
				   offset / 1000.0, "rtt_ms", MAX(rtt, 0) / 1000.0);
}
