/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * A picture of a migration: the JSON report nvfm_migrate() gives (and
 * "migrate --report" saves) drawn as one self-contained SVG: the phases on
 * the source and destination lanes, the pause window and the downtime, the
 * bytes moved over time for RAM and each VF, and the rollback steps if any.
 * The SVG is always drawn from the JSON, so a saved report can be drawn
 * again at any time.
 */
#pragma once

#include <glib.h>
#include <jansson.h>

G_BEGIN_DECLS

/**
 * NVFM_REPORT_MAX_POINTS - the most points one series of a report carries
 * (and the picture draws)
 */
#define NVFM_REPORT_MAX_POINTS 256

/**
 * nvfm_report_load() - read a saved migration report and check its shape
 * @path: the JSON file ("migrate --report FILE")
 * @error: return location for an error
 *
 * Only what the picture needs is checked: an object with a "timeline"
 * array whose entries name their phase and carry "start_ms" and "ms".
 * Reports older than the picture's fields (samples, pause window,
 * destination phases) load; their picture shows what they have.
 *
 * Return: the report (new reference), or %NULL with @error set
 * (%NVFM_ERROR_NOT_FOUND, %NVFM_ERROR_IO, or %NVFM_ERROR_PROTOCOL for a
 * file that is not such a report).
 */
json_t *nvfm_report_load(const char *path, GError **error);

/**
 * nvfm_report_check() - check that a JSON value is a migration report
 * @report: the value
 * @error: return location for an error (%NVFM_ERROR_PROTOCOL)
 *
 * Return: %TRUE when nvfm_report_render_svg() can draw it.
 */
gboolean nvfm_report_check(json_t *report, GError **error);

/**
 * nvfm_report_render_svg() - draw a migration report
 * @report: a report that passes nvfm_report_check()
 * @error: return location for an error
 *
 * The SVG needs nothing outside itself: no scripts, no fonts, no style
 * sheets, no links (the only URI in it is the SVG namespace).
 *
 * Return: the SVG document (free with g_free()), or %NULL with @error set.
 */
char *nvfm_report_render_svg(json_t *report, GError **error);

/**
 * nvfm_report_svg_path() - where a report's picture goes by default
 * @json_path: the report's path
 *
 * Return: @json_path with its ".json" suffix (if any) replaced by ".svg"
 * (free with g_free()).
 */
char *nvfm_report_svg_path(const char *json_path);

/**
 * nvfm_report_write_svg() - draw a saved report into a file
 * @json_path: the saved report, read back from the file
 * @svg_path: where the picture goes (written atomically)
 * @error: return location for an error
 *
 * Return: %TRUE when the picture was written, %FALSE with @error set.
 */
gboolean nvfm_report_write_svg(const char *json_path, const char *svg_path, GError **error);

G_END_DECLS
