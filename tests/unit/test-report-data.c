/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * What the orchestrator records for the report's picture: a series stays
 * within NVFM_REPORT_MAX_POINTS however long the run, keeping its first
 * and last points; the destination's phases land on our clock by the NTP
 * rule, and an older agent's reply (no clock) gives no lane.
 */
#include <string.h>

#include "nvfm/report.h"
#include "src/lib/migrate/migrate-private.h"
#include "tests/common/testutil.h"

static NvfmMigrationVf vf;

static void migration_init(NvfmMigration *m, NvfmMigrateOptions *o)
{
	memset(m, 0, sizeof(*m));
	memset(&vf, 0, sizeof(vf));
	nvfm_migrate_options_init(o);
	o->vf = nvfm_test_addr("emu:src-vf0");
	vf.src = o->vf;
	m->opts = o;
	m->vfs = &vf;
	m->n_vfs = 1;
	m->t0 = g_get_monotonic_time();
}

static void test_bounded(void)
{
	NvfmMigration m;
	NvfmMigrateOptions o;
	json_auto_t *j = NULL;
	json_t *pts;
	const int n = 5000;

	migration_init(&m, &o);
	/* the clock barely moves between these: thinning must still hold */
	for (int i = 0; i < n; i++) {
		nvfm_migration_sample(&m, "RAM", (guint64)i * 4096);
		nvfm_migration_sample_vf(&m, &vf, (guint64)i);
		if (i % 100 == 0)
			g_usleep(1000);
	}
	j = nvfm_migration_samples_json(&m);
	g_assert_cmpuint(json_array_size(j), ==, 2);
	g_assert_cmpstr(json_string_value(json_object_get(json_array_get(j, 0), "series")), ==,
			"RAM");
	g_assert_cmpstr(json_string_value(json_object_get(json_array_get(j, 1), "series")), ==,
			"VF emu:src-vf0");
	for (int s = 0; s < 2; s++) {
		pts = json_object_get(json_array_get(j, s), "points");
		g_assert_cmpuint(json_array_size(pts), <=, NVFM_REPORT_MAX_POINTS);
		g_assert_cmpuint(json_array_size(pts), >=, 16);
		/* the first and the last sample survive */
		g_assert_cmpint(json_integer_value(json_array_get(json_array_get(pts, 0), 1)), ==, 0);
		g_assert_cmpint(json_integer_value(json_array_get(
				json_array_get(pts, json_array_size(pts) - 1), 1)), ==,
				(json_int_t)(n - 1) * (s ? 1 : 4096));
		/* in time order */
		for (gsize k = 1; k < json_array_size(pts); k++)
			g_assert_cmpfloat(json_real_value(json_array_get(json_array_get(pts, k - 1), 0)),
					  <=, json_real_value(json_array_get(json_array_get(pts, k), 0)));
	}
	g_ptr_array_unref(m.series);
}

static void test_clock(void)
{
	NvfmMigration m;
	NvfmMigrateOptions o;
	json_auto_t *res = NULL;
	json_t *tl, *p;
	const gint64 skew = 5000000;	/* the agent's clock runs 5 s ahead */

	migration_init(&m, &o);
	m.t0 = 1000000;
	/* commit left at 1.100 s, reached the agent 2 ms later, which
	 * replied 10 ms after that; the reply took 2 ms */
	res = json_pack("{s:I, s:I, s:I, s:I, s:[{s:s, s:I, s:I}]}",
			"commit_sent_us", (json_int_t)1100000,
			"commit_request_us", (json_int_t)(1102000 + skew),
			"clock_us", (json_int_t)(1112000 + skew),
			"reply_received_us", (json_int_t)1114000,
			"phases", "phase", "commit", "start_us", (json_int_t)(1102000 + skew),
			"end_us", (json_int_t)(1112000 + skew));
	nvfm_migration_dest_phases(&m, &vf, res);
	g_assert_nonnull(vf.dest_report);
	g_assert_cmpfloat_with_epsilon(json_real_value(json_object_get(vf.dest_report,
						"clock_offset_ms")), 5000.0, 0.001);
	g_assert_cmpfloat_with_epsilon(json_real_value(json_object_get(vf.dest_report, "rtt_ms")),
				       4.0, 0.001);
	tl = json_object_get(vf.dest_report, "timeline");
	g_assert_cmpuint(json_array_size(tl), ==, 1);
	p = json_array_get(tl, 0);
	g_assert_cmpstr(json_string_value(json_object_get(p, "phase")), ==, "commit");
	/* 1.102 s on our clock is 102 ms after t0 */
	g_assert_cmpfloat_with_epsilon(json_real_value(json_object_get(p, "start_ms")), 102.0, 0.001);
	g_assert_cmpfloat_with_epsilon(json_real_value(json_object_get(p, "ms")), 10.0, 0.001);
	json_decref(vf.dest_report);

	/* an older agent says nothing of its clock: no lane */
	vf.dest_report = NULL;
	json_object_del(res, "clock_us");
	nvfm_migration_dest_phases(&m, &vf, res);
	g_assert_null(vf.dest_report);
}

int main(int argc, char **argv)
{
	g_test_init(&argc, &argv, NULL);
	g_test_add_func("/report-data/bounded", test_bounded);
	g_test_add_func("/report-data/clock", test_clock);
	return g_test_run();
}
