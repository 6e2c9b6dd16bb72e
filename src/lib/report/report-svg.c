// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * The picture of a migration report: one SVG with the phases on a source
 * and a destination lane over one time axis, the pause window and the
 * downtime as bands with their ms, the rollback steps where it failed, and
 * a line chart of bytes over time per series (RAM, each VF) on the same
 * axis. Everything is drawn from the JSON alone; numbers are written with
 * g_ascii_formatd so that no locale turns a decimal point into a comma.
 */
#define G_LOG_DOMAIN "nvfm-report"

#include <math.h>
#include <string.h>

#include "nvfm/error.h"
#include "nvfm/report.h"

#define WIDTH 960.0
#define LEFT 120.0	/* lane and axis labels */
#define RIGHT 24.0
#define LANE_H 30.0
#define CHART_H 110.0
#define RING 24

typedef struct {
	GString *s;
	double tmax;	/* ms at the right edge */
	char ring[RING][G_ASCII_DTOSTR_BUF_SIZE];
	int next;
} Svg;

/* One colour per phase, in phase order; unknown names get grey. */
static const struct {
	const char *phase;
	const char *color;
} palette[] = {
	{ "preflight", "#9fb3c8" }, { "reserve", "#7aa6d6" }, { "precopy", "#4e8fd1" },
	{ "pause", "#f0a23b" },     { "stop-copy", "#e4572e" }, { "restore", "#a05ec8" },
	{ "switchover", "#3aa776" }, { "resume", "#2f7d5a" },  { "release", "#8c8c8c" },
	{ "handshake", "#9fb3c8" }, { "commit", "#a05ec8" },   { "run", "#2f7d5a" },
};

static const char *series_colors[] = { "#1f5fa8", "#d1495b", "#2f9d6a", "#8a4fc8", "#c88a1f" };

static const char *phase_color(const char *phase)
{
	for (guint i = 0; i < G_N_ELEMENTS(palette); i++)
		if (!g_strcmp0(phase, palette[i].phase))
			return palette[i].color;
	return "#b0b0b0";
}

/* A number as SVG wants it; valid until RING more calls. */
static const char *num(Svg *g, double v)
{
	char *buf = g->ring[g->next++ % RING];

	if (!isfinite(v))
		v = 0;
	return g_ascii_formatd(buf, G_ASCII_DTOSTR_BUF_SIZE, "%.1f", v);
}

static const char *num2(Svg *g, double v)
{
	char *buf = g->ring[g->next++ % RING];

	return g_ascii_formatd(buf, G_ASCII_DTOSTR_BUF_SIZE, "%.2f", isfinite(v) ? v : 0);
}

static double xpos(Svg *g, double ms)
{
	double w = WIDTH - LEFT - RIGHT;

	return LEFT + CLAMP(ms, 0, g->tmax) / g->tmax * w;
}

static double jnum(json_t *o, const char *key)
{
	return json_number_value(json_object_get(o, key));
}

static const char *jstr(json_t *o, const char *key)
{
	return json_string_value(json_object_get(o, key));
}

/* Text as XML 1.0 takes it: control characters (an error message may
 * carry a terminal's escapes) have no place there, not even as character
 * references, so they become spaces. */
static char *escape(const char *str)
{
	g_autofree char *clean = g_strdup(str ? str : "");

	for (char *p = clean; *p; p++)
		if ((guchar)*p < 0x20 || *p == 0x7f)
			*p = ' ';
	return g_markup_escape_text(clean, -1);
}

static void text(Svg *g, double x, double y, const char *anchor, const char *extra,
		 const char *str)
{
	g_autofree char *esc = escape(str);

	g_string_append_printf(g->s, "<text x=\"%s\" y=\"%s\" text-anchor=\"%s\"%s%s>%s</text>\n",
			       num(g, x), num(g, y), anchor, extra ? " " : "", extra ? extra : "",
			       esc);
}

static void textf(Svg *g, double x, double y, const char *anchor, const char *extra,
		  const char *fmt, ...) G_GNUC_PRINTF(6, 7);

static void textf(Svg *g, double x, double y, const char *anchor, const char *extra,
		  const char *fmt, ...)
{
	g_autofree char *str = NULL;
	va_list ap;

	va_start(ap, fmt);
	str = g_strdup_vprintf(fmt, ap);
	va_end(ap);
	text(g, x, y, anchor, extra, str);
}

/* ms and bytes for people, with a '.' whatever the locale */
static char *fmt_ms(double ms)
{
	char buf[G_ASCII_DTOSTR_BUF_SIZE];

	if (ms >= 10000)
		return g_strdup_printf("%s s", g_ascii_formatd(buf, sizeof(buf), "%.2f", ms / 1000));
	return g_strdup_printf("%s ms", g_ascii_formatd(buf, sizeof(buf), "%.1f", ms));
}

static char *fmt_bytes(double b)
{
	static const char *units[] = { "B", "KiB", "MiB", "GiB", "TiB" };
	char buf[G_ASCII_DTOSTR_BUF_SIZE];
	guint u = 0;

	while (b >= 1024 && u + 1 < G_N_ELEMENTS(units)) {
		b /= 1024;
		u++;
	}
	return g_strdup_printf("%s %s", g_ascii_formatd(buf, sizeof(buf), u ? "%.1f" : "%.0f", b),
			       units[u]);
}

/* The rightmost time anything in the report reaches. */
static double time_extent(json_t *rep)
{
	double t = jnum(rep, "total_ms");
	json_t *p, *s, *pt;
	gsize i, j;

	json_array_foreach(json_object_get(rep, "timeline"), i, p)
		t = MAX(t, jnum(p, "start_ms") + jnum(p, "ms"));
	json_array_foreach(json_object_get(json_object_get(rep, "destination"), "timeline"), i, p)
		t = MAX(t, jnum(p, "start_ms") + jnum(p, "ms"));
	json_array_foreach(json_object_get(rep, "samples"), i, s)
		json_array_foreach(json_object_get(s, "points"), j, pt)
			t = MAX(t, json_number_value(json_array_get(pt, 0)));
	return t > 0 ? t : 1;
}

/* ---- the timeline ---- */

static void lane(Svg *g, json_t *phases, double y, const char *name)
{
	json_t *p;
	gsize i;

	g_string_append_printf(g->s, "<rect x=\"%s\" y=\"%s\" width=\"%s\" height=\"%s\" "
			       "fill=\"#f4f6f8\" stroke=\"#d0d5db\"/>\n",
			       num(g, LEFT), num(g, y), num(g, WIDTH - LEFT - RIGHT),
			       num(g, LANE_H));
	text(g, LEFT - 8, y + LANE_H / 2 + 4, "end", "font-weight=\"bold\"", name);
	if (!json_array_size(phases)) {
		text(g, LEFT + 8, y + LANE_H / 2 + 4, "start", "fill=\"#777\"",
		     "no phase times in this report");
		return;
	}
	json_array_foreach(phases, i, p) {
		const char *ph = jstr(p, "phase");
		const char *out = jstr(p, "outcome");
		double x0 = xpos(g, jnum(p, "start_ms"));
		double x1 = xpos(g, jnum(p, "start_ms") + jnum(p, "ms"));
		double w = MAX(x1 - x0, 1.5);
		gboolean bad = !g_strcmp0(out, "failed");
		g_autofree char *ms = fmt_ms(jnum(p, "ms"));
		g_autofree char *esc = escape(ph ? ph : "?");

		g_string_append_printf(g->s, "<rect class=\"phase\" x=\"%s\" y=\"%s\" width=\"%s\" "
				       "height=\"%s\" fill=\"%s\" stroke=\"%s\" stroke-width=\"%s\"%s>"
				       "<title>%s: %s (%s)</title></rect>\n",
				       num(g, x0), num(g, y + 3), num(g, w), num(g, LANE_H - 6),
				       phase_color(ph), bad ? "#b00020" : "#ffffff",
				       bad ? "2.5" : "0.5",
				       !g_strcmp0(out, "rolled-back") ? " fill-opacity=\"0.45\"" : "",
				       esc, ms, out ? out : "ok");
		/* a name only where it fits (about 6 px a character) */
		if (w > 6.2 * (double)strlen(ph ? ph : "?") + 6)
			text(g, x0 + w / 2, y + LANE_H / 2 + 4, "middle",
			     "fill=\"#ffffff\" font-size=\"11\"", ph);
	}
}

static void band(Svg *g, const char *cls, double t0, double ms, double y0, double y1,
		 const char *fill)
{
	double x0 = xpos(g, t0), x1 = xpos(g, t0 + ms);

	g_string_append_printf(g->s, "<rect class=\"%s\" x=\"%s\" y=\"%s\" width=\"%s\" "
			       "height=\"%s\" fill=\"%s\" fill-opacity=\"0.22\" stroke=\"%s\" "
			       "stroke-dasharray=\"4 3\"/>\n",
			       cls, num(g, x0), num(g, y0), num(g, MAX(x1 - x0, 1.5)),
			       num(g, y1 - y0), fill, fill);
}

static void axis(Svg *g, double y)
{
	double step = pow(10, floor(log10(g->tmax / 5)));

	if (g->tmax / step > 10)
		step *= g->tmax / step > 25 ? 5 : 2;
	g_string_append_printf(g->s, "<line x1=\"%s\" y1=\"%s\" x2=\"%s\" y2=\"%s\" "
			       "stroke=\"#555\"/>\n",
			       num(g, LEFT), num(g, y), num(g, WIDTH - RIGHT), num(g, y));
	for (int k = 0; k * step <= g->tmax * 1.0001 && k <= 100; k++) {
		double x = xpos(g, k * step);
		g_autofree char *lbl = fmt_ms(k * step);

		g_string_append_printf(g->s, "<line x1=\"%s\" y1=\"%s\" x2=\"%s\" y2=\"%s\" "
				       "stroke=\"#555\"/>\n",
				       num(g, x), num(g, y), num(g, x), num(g, y + 4));
		text(g, x, y + 15, "middle", "font-size=\"10\" fill=\"#555\"", lbl);
	}
}

/* Where the pause window is: the new field, else (older reports) the
 * pause phase up to the switchover. */
static gboolean pause_window(json_t *rep, double *t0, double *ms)
{
	json_t *w = json_object_get(rep, "pause_window");
	json_t *p;
	gsize i;
	double start = -1, end = -1;

	if (w) {
		*t0 = jnum(w, "start_ms");
		*ms = jnum(w, "ms");
		return TRUE;
	}
	json_array_foreach(json_object_get(rep, "timeline"), i, p) {
		if (!g_strcmp0(jstr(p, "phase"), "pause"))
			start = jnum(p, "start_ms");
		if (!g_strcmp0(jstr(p, "phase"), "switchover"))
			end = jnum(p, "start_ms");
	}
	if (start < 0 || end < start)
		return FALSE;
	*t0 = start;
	*ms = end - start;
	return TRUE;
}

static gboolean downtime_window(json_t *rep, double pause_t0, double *t0, double *ms)
{
	json_t *w = json_object_get(rep, "downtime_window");

	if (w) {
		*t0 = jnum(w, "start_ms");
		*ms = jnum(w, "ms");
		return TRUE;
	}
	if (!json_object_get(rep, "downtime_ms") || pause_t0 < 0)
		return FALSE;
	*t0 = pause_t0;
	*ms = jnum(rep, "downtime_ms");
	return TRUE;
}

/* The rollback's steps: the new array, else the old "; "-joined line. */
static GStrv rollback_steps(json_t *rep)
{
	json_t *a = json_object_get(rep, "rollback_steps");
	g_autoptr(GStrvBuilder) b = g_strv_builder_new();
	json_t *v;
	gsize i;

	if (json_is_array(a)) {
		json_array_foreach(a, i, v)
			if (json_is_string(v))
				g_strv_builder_add(b, json_string_value(v));
		return g_strv_builder_end(b);
	}
	if (!jstr(rep, "rollback"))
		return NULL;
	return g_strsplit(jstr(rep, "rollback"), "; ", -1);
}

/* When the rollback ran: the new field, else from the failed phase's end
 * to the end of the run. */
static void rollback_span(json_t *rep, double *t0, double *t1)
{
	json_t *w = json_object_get(rep, "rollback_window");
	json_t *p;
	gsize i;

	*t0 = *t1 = jnum(rep, "total_ms");
	if (w) {
		*t0 = jnum(w, "start_ms");
		*t1 = *t0 + jnum(w, "ms");
		return;
	}
	json_array_foreach(json_object_get(rep, "timeline"), i, p)
		if (!g_strcmp0(jstr(p, "outcome"), "failed"))
			*t0 = jnum(p, "start_ms") + jnum(p, "ms");
}

/* Marks on the source lane, numbered, and the names listed below.
 * Returns the height used. */
static double rollback(Svg *g, json_t *rep, double lane_y, double list_y)
{
	g_auto(GStrv) steps = rollback_steps(rep);
	guint n = steps ? g_strv_length(steps) : 0;
	double t0, t1;

	if (!n)
		return 0;
	rollback_span(rep, &t0, &t1);
	g_string_append(g->s, "<g class=\"rollback\">\n");
	g_string_append_printf(g->s, "<line x1=\"%s\" y1=\"%s\" x2=\"%s\" y2=\"%s\" "
			       "stroke=\"#b00020\" stroke-width=\"2\"/>\n",
			       num(g, xpos(g, t0)), num(g, lane_y - 32), num(g, xpos(g, t0)),
			       num(g, lane_y + 2 * LANE_H + 16));
	g_string_append_printf(g->s, "<rect x=\"%s\" y=\"%s\" width=\"%s\" height=\"%s\" "
			       "fill=\"#b00020\" fill-opacity=\"0.12\"/>\n",
			       num(g, xpos(g, t0)), num(g, lane_y), num(g, MAX(xpos(g, t1) - xpos(g, t0), 16 * n)),
			       num(g, LANE_H));
	text(g, xpos(g, t0) + 4, lane_y - 22, "start", "fill=\"#b00020\" font-size=\"11\"",
	     "rollback");
	for (guint k = 0; k < n; k++) {
		/* the steps ran in this order inside the span; their own times
		 * are not recorded: spread them over it */
		double x = xpos(g, t0) + 4 + (xpos(g, t1) - xpos(g, t0)) * k / MAX(n, 1);
		g_autofree char *esc = escape(steps[k]);

		g_string_append_printf(g->s, "<g class=\"rollback-step\"><circle cx=\"%s\" cy=\"%s\" "
				       "r=\"7\" fill=\"#b00020\"/><title>%s</title></g>\n",
				       num(g, x + 7), num(g, lane_y + LANE_H / 2), esc);
		textf(g, x + 7, lane_y + LANE_H / 2 + 4, "middle",
		      "fill=\"#ffffff\" font-size=\"10\"", "%u", k + 1);
		textf(g, LEFT, list_y + 16 * k, "start", "fill=\"#b00020\" font-size=\"12\"",
		      "rollback %u: %s", k + 1, steps[k]);
	}
	g_string_append(g->s, "</g>\n");
	return 16.0 * n + 8;
}

static gboolean phase_used(json_t *rep, const char *phase)
{
	json_t *lanes[] = { json_object_get(rep, "timeline"),
			    json_object_get(json_object_get(rep, "destination"), "timeline") };
	json_t *p;
	gsize i;

	for (guint l = 0; l < G_N_ELEMENTS(lanes); l++)
		json_array_foreach(lanes[l], i, p)
			if (!g_strcmp0(jstr(p, "phase"), phase))
				return TRUE;
	return FALSE;
}

/* The colours of the phases the report has, in phase order. */
static double legend(Svg *g, json_t *rep, double y)
{
	double x = LEFT, y0 = y;

	for (guint i = 0; i < G_N_ELEMENTS(palette); i++) {
		double w = 26 + 6.5 * strlen(palette[i].phase);

		if (!phase_used(rep, palette[i].phase))
			continue;
		if (x + w > WIDTH - RIGHT) {
			x = LEFT;
			y += 18;
		}
		g_string_append_printf(g->s, "<rect x=\"%s\" y=\"%s\" width=\"10\" height=\"10\" "
				       "fill=\"%s\"/>\n",
				       num(g, x), num(g, y - 9), palette[i].color);
		text(g, x + 14, y, "start", "font-size=\"11\"", palette[i].phase);
		x += w;
	}
	return y - y0 + 20;
}

/* ---- the charts ---- */

static double chart(Svg *g, json_t *series, guint idx, double y, double pause_t0, double pause_ms)
{
	json_t *pts = json_object_get(series, "points");
	const char *color = series_colors[idx % G_N_ELEMENTS(series_colors)];
	const char *name = jstr(series, "series");
	double maxb = 1;
	gsize n = MIN(json_array_size(pts), NVFM_REPORT_MAX_POINTS);
	gsize stride = json_array_size(pts) > NVFM_REPORT_MAX_POINTS ?
			       (json_array_size(pts) + NVFM_REPORT_MAX_POINTS - 1) /
				       NVFM_REPORT_MAX_POINTS : 1;
	g_autofree char *top = NULL;
	g_autofree char *last = NULL;
	double top_y = y + 22, bot_y = y + 22 + CHART_H;

	for (gsize i = 0; i < json_array_size(pts); i++)
		maxb = MAX(maxb, json_number_value(json_array_get(json_array_get(pts, i), 1)));
	top = fmt_bytes(maxb);
	last = fmt_bytes(json_number_value(
		json_array_get(json_array_get(pts, json_array_size(pts) - 1), 1)));
	textf(g, LEFT, y + 12, "start", "font-weight=\"bold\"", "%s: bytes over time (%s moved)",
	      name ? name : "series", n ? last : "nothing");
	g_string_append_printf(g->s, "<rect x=\"%s\" y=\"%s\" width=\"%s\" height=\"%s\" "
			       "fill=\"#fbfcfd\" stroke=\"#d0d5db\"/>\n",
			       num(g, LEFT), num(g, top_y), num(g, WIDTH - LEFT - RIGHT),
			       num(g, CHART_H));
	if (pause_t0 >= 0)
		band(g, "pause-window", pause_t0, pause_ms, top_y, bot_y, "#f0a23b");
	text(g, LEFT - 6, top_y + 10, "end", "font-size=\"10\" fill=\"#555\"", top);
	text(g, LEFT - 6, bot_y, "end", "font-size=\"10\" fill=\"#555\"", "0");
	g_string_append_printf(g->s, "<polyline class=\"series\" fill=\"none\" stroke=\"%s\" "
			       "stroke-width=\"1.8\" points=\"", color);
	for (gsize i = 0, k = 0; i < json_array_size(pts) && k < NVFM_REPORT_MAX_POINTS;
	     i += stride, k++) {
		json_t *pt = json_array_get(pts, i);
		double t = json_number_value(json_array_get(pt, 0));
		double b = json_number_value(json_array_get(pt, 1));

		g_string_append_printf(g->s, "%s%s,%s", k ? " " : "", num2(g, xpos(g, t)),
				       num2(g, bot_y - b / maxb * CHART_H));
	}
	g_string_append(g->s, "\"/>\n");
	return CHART_H + 34;
}

/* ---- the whole ---- */

/* Long lines (an error) broken at spaces into rows of about @width
 * characters, at most @max_rows (the last one cut with an ellipsis). */
static double wrapped(Svg *g, double x, double y, const char *extra, const char *str,
		      guint width, guint max_rows)
{
	const char *p = str;
	guint rows = 0;

	while (*p && rows < max_rows) {
		gsize n = strlen(p);
		g_autofree char *row = NULL;

		if (n > width && rows + 1 < max_rows) {
			n = width;
			while (n > width / 2 && p[n] != ' ')
				n--;
		}
		row = n > width ? g_strdup_printf("%.*s\u2026", (int)width, p) : g_strndup(p, n);
		text(g, x, y + 16.0 * rows, "start", extra, row);
		p += n;
		while (*p == ' ')
			p++;
		rows++;
	}
	return 16.0 * MAX(rows, 1);
}

/* Returns where the next part may start. */
static double header(Svg *g, json_t *rep)
{
	const char *vm = jstr(rep, "vm");
	const char *src = jstr(rep, "source_vf");
	const char *dst = jstr(rep, "destination_vf");
	gboolean ok = json_is_true(json_object_get(rep, "ok"));
	g_autofree char *total = fmt_ms(jnum(rep, "total_ms"));
	g_autofree char *bytes = fmt_bytes(jnum(rep, "state_bytes"));
	g_autofree char *line = NULL;

	textf(g, 16, 26, "start", "font-size=\"17\" font-weight=\"bold\"",
	      "Migration of %s%s: VF %s \u2192 %s", vm ? "VM " : "", vm ? vm : "a VF without a VM",
	      src ? src : "?", dst ? dst : "(none provisioned)");
	if (ok) {
		textf(g, 16, 46, "start", "fill=\"#2f7d5a\"",
		      "succeeded in %s, %s of VF state moved (%s mover)", total, bytes,
		      jstr(rep, "mover") ? jstr(rep, "mover") : "?");
		return 46 + 16;
	}
	line = g_strdup_printf("FAILED in %s after %s: %s",
			       jstr(rep, "failed_phase") ? jstr(rep, "failed_phase") : "?", total,
			       jstr(rep, "error") ? jstr(rep, "error") : "no reason recorded");
	return 46 + wrapped(g, 16, 46, "fill=\"#b00020\"", line, 140, 4);
}

char *nvfm_report_render_svg(json_t *report, GError **error)
{
	g_autoptr(GString) body = g_string_new(NULL);
	Svg g = { .s = body };
	json_t *dest = json_object_get(report, "destination");
	json_t *samples = json_object_get(report, "samples");
	json_t *s;
	double y, lanes_y, pause_t0 = -1, pause_ms = 0, down_t0, down_ms;
	gsize i;

	if (!nvfm_report_check(report, error))
		return NULL;
	g.tmax = time_extent(report);
	/* room above the lanes for two rows of labels: the pause window's
	 * and the rollback's */
	lanes_y = header(&g, report) + 34;

	/* the lanes, the bands over them, the axis below */
	lane(&g, json_object_get(report, "timeline"), lanes_y, "source");
	lane(&g, json_object_get(dest, "timeline"), lanes_y + LANE_H + 6, "destination");
	if (pause_window(report, &pause_t0, &pause_ms)) {
		g_autofree char *ms = fmt_ms(pause_ms);

		band(&g, "pause-window", pause_t0, pause_ms, lanes_y - 4, lanes_y + 2 * LANE_H + 10,
		     "#f0a23b");
		textf(&g, xpos(&g, pause_t0 + pause_ms / 2), lanes_y - 8, "middle",
		      "font-size=\"11\" fill=\"#a35f00\"", "pause window %s", ms);
	} else {
		pause_t0 = -1;
	}
	y = lanes_y + 2 * LANE_H + 12;
	axis(&g, y);
	y += 34;
	if (downtime_window(report, pause_t0, &down_t0, &down_ms)) {
		double x0 = xpos(&g, down_t0), x1 = xpos(&g, down_t0 + down_ms);
		g_autofree char *ms = fmt_ms(down_ms);

		g_string_append_printf(g.s, "<g class=\"downtime\"><line x1=\"%s\" y1=\"%s\" "
				       "x2=\"%s\" y2=\"%s\" stroke=\"#b00020\" stroke-width=\"3\"/>"
				       "<line x1=\"%s\" y1=\"%s\" x2=\"%s\" y2=\"%s\" stroke=\"#b00020\"/>"
				       "<line x1=\"%s\" y1=\"%s\" x2=\"%s\" y2=\"%s\" stroke=\"#b00020\"/>"
				       "</g>\n",
				       num(&g, x0), num(&g, y - 6), num(&g, MAX(x1, x0 + 1.5)),
				       num(&g, y - 6), num(&g, x0), num(&g, y - 11), num(&g, x0),
				       num(&g, y - 1), num(&g, x1), num(&g, y - 11), num(&g, x1),
				       num(&g, y - 1));
		textf(&g, MIN(x1 + 6, WIDTH - RIGHT - 160), y - 2, "start",
		      "font-size=\"11\" fill=\"#b00020\"", "downtime %s", ms);
		y += 14;
	}
	y += rollback(&g, report, lanes_y, y + 4);
	if (json_is_number(json_object_get(dest, "clock_offset_ms")))
		textf(&g, LEFT, (y += 16), "start", "font-size=\"11\" fill=\"#555\"",
		      "destination clock aligned by %s ms (round trip %s ms)",
		      num(&g, jnum(dest, "clock_offset_ms")), num(&g, jnum(dest, "rtt_ms")));
	y += 16;
	y += legend(&g, report, y + 8);

	y += 10;
	if (!json_array_size(samples))
		text(&g, LEFT, (y += 16), "start", "fill=\"#777\"",
		     "no byte samples in this report (written before they were recorded)");
	json_array_foreach(samples, i, s)
		y += chart(&g, s, (guint)i, y, pause_t0, pause_ms);
	y += 10;

	return g_strdup_printf("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
			       "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" "
			       "height=\"%d\" viewBox=\"0 0 %d %d\" font-family=\"sans-serif\" "
			       "font-size=\"12\">\n"
			       "<title>nvme-vf-migrate migration report</title>\n"
			       "<rect width=\"100%%\" height=\"100%%\" fill=\"#ffffff\"/>\n%s</svg>\n",
			       (int)WIDTH, (int)ceil(y), (int)WIDTH, (int)ceil(y), body->str);
}
