// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * A saved migration report: read back, checked for what the picture needs,
 * and the picture written beside it. The picture is drawn from the file,
 * never from the orchestrator's memory, so what was saved is what is shown.
 */
#define G_LOG_DOMAIN "nvfm-report"

#include <string.h>

#include "nvfm/error.h"
#include "nvfm/report.h"
#include "util/util-private.h"

gboolean nvfm_report_check(json_t *report, GError **error)
{
	json_t *tl = json_object_get(report, "timeline");
	json_t *p;
	gsize i;

	if (!json_is_object(report) || !json_is_array(tl)) {
		g_set_error(error, NVFM_ERROR, NVFM_ERROR_PROTOCOL,
			    "not a migration report: no \"timeline\" array");
		return FALSE;
	}
	json_array_foreach(tl, i, p) {
		if (!json_is_string(json_object_get(p, "phase")) ||
		    !json_is_number(json_object_get(p, "start_ms")) ||
		    !json_is_number(json_object_get(p, "ms"))) {
			g_set_error(error, NVFM_ERROR, NVFM_ERROR_PROTOCOL,
				    "not a migration report: timeline entry %zu lacks phase, "
				    "start_ms or ms", i);
			return FALSE;
		}
	}
	return TRUE;
}

json_t *nvfm_report_load(const char *path, GError **error)
{
	json_auto_t *rep = nvfm_json_read_file(path, error);

	if (!rep)
		return NULL;
	if (!nvfm_report_check(rep, error)) {
		g_prefix_error(error, "%s: ", path);
		return NULL;
	}
	return g_steal_pointer(&rep);
}

char *nvfm_report_svg_path(const char *json_path)
{
	if (g_str_has_suffix(json_path, ".json"))
		return g_strdup_printf("%.*s.svg", (int)(strlen(json_path) - 5), json_path);
	return g_strdup_printf("%s.svg", json_path);
}

gboolean nvfm_report_write_svg(const char *json_path, const char *svg_path, GError **error)
{
	json_auto_t *rep = nvfm_report_load(json_path, error);
	g_autofree char *svg = rep ? nvfm_report_render_svg(rep, error) : NULL;

	return svg && nvfm_file_write_atomic(svg_path, svg, strlen(svg), 0644, error);
}
