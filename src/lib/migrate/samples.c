// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * Bytes over time, per series (the VM's RAM, each VF), for the report's
 * picture. Bounded: a series never holds more than NVFM_REPORT_MAX_POINTS;
 * when full, every other point goes and the spacing between kept points
 * doubles, so a long migration is sampled evenly from start to end.
 */
#define G_LOG_DOMAIN "nvfm-migrate"

#include <string.h>

#include "nvfm/report.h"
#include "migrate-private.h"
#include "util/util-private.h"

typedef struct {
	double ms;
	double bytes;
} Point;

struct _NvfmSeries {
	char *name;
	GArray *points;
	double min_gap_ms;	/* closer points replace the last one */
};

static void series_free(gpointer p)
{
	NvfmSeries *s = p;

	g_free(s->name);
	g_array_unref(s->points);
	g_free(s);
}

static NvfmSeries *series(NvfmMigration *m, const char *name)
{
	NvfmSeries *s;

	if (!m->series)
		m->series = g_ptr_array_new_with_free_func(series_free);
	for (guint i = 0; i < m->series->len; i++) {
		s = g_ptr_array_index(m->series, i);
		if (!strcmp(s->name, name))
			return s;
	}
	s = g_new0(NvfmSeries, 1);
	s->name = g_strdup(name);
	s->points = g_array_new(FALSE, FALSE, sizeof(Point));
	g_ptr_array_add(m->series, s);
	return s;
}

static void thin(NvfmSeries *s)
{
	guint k = 0;

	/* keep the even ones and the last */
	for (guint i = 0; i < s->points->len; i += 2)
		g_array_index(s->points, Point, k++) = g_array_index(s->points, Point, i);
	if (s->points->len % 2 == 0)
		g_array_index(s->points, Point, k++) =
			g_array_index(s->points, Point, s->points->len - 1);
	g_array_set_size(s->points, k);
	s->min_gap_ms = s->min_gap_ms > 0 ? s->min_gap_ms * 2 : 1;
}

void nvfm_migration_sample(NvfmMigration *m, const char *name, guint64 bytes)
{
	NvfmSeries *s = series(m, name);
	Point p = { (nvfm_now_us() - m->t0) / 1000.0, (double)bytes };
	Point *last = s->points->len ? &g_array_index(s->points, Point, s->points->len - 1) : NULL;

	/* too close to the last one (not the first point): it moves */
	if (last && s->points->len > 1 && p.ms - g_array_index(s->points, Point,
				s->points->len - 2).ms < s->min_gap_ms) {
		*last = p;
		return;
	}
	if (s->points->len >= NVFM_REPORT_MAX_POINTS)
		thin(s);
	g_array_append_val(s->points, p);
}

json_t *nvfm_migration_samples_json(NvfmMigration *m)
{
	json_t *arr = json_array();

	for (guint i = 0; m->series && i < m->series->len; i++) {
		NvfmSeries *s = g_ptr_array_index(m->series, i);
		json_t *pts = json_array();

		for (guint k = 0; k < s->points->len; k++) {
			Point *p = &g_array_index(s->points, Point, k);

			json_array_append_new(pts, json_pack("[f, I]", p->ms, (json_int_t)p->bytes));
		}
		json_array_append_new(arr, json_pack("{s:s, s:o}", "series", s->name, "points", pts));
	}
	return arr;
}

void nvfm_migration_sample_vf(NvfmMigration *m, const NvfmMigrationVf *v, guint64 bytes)
{
	g_autofree char *name = g_strdup_printf("VF %s", v->src->text);

	nvfm_migration_sample(m, name, bytes);
}
