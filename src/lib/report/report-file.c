// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * A saved migration report: read back, checked for what the picture needs,
 * and the picture written beside it. The picture is drawn from the file,
 * never from the orchestrator's memory, so what was saved is what is shown.
 */
#define G_LOG_DOMAIN "nvfm-report"

#include <string.h>

#include "nvfm/report.h"
#include "util/util-private.h"

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
