// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * What makes a JSON value a migration report, as far as reading it back and
 * drawing it need: the one check both report-file.c and report-svg.c rely on.
 */
#define G_LOG_DOMAIN "nvfm-report"

#include "nvfm/error.h"
#include "nvfm/report.h"

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
