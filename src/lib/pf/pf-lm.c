// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * NVMe 2.1 host-managed live migration as a PF offers it: whether it does
 * (Identify Controller OACS bit 11), which controller-state formats it
 * takes (Identify CNS 20h), and whether a destination PF can take the
 * format a source PF produces. See docs/nvme-lm.md.
 */
#define G_LOG_DOMAIN "nvfm-pf"

#include <stdarg.h>
#include <string.h>

#include "pf-private.h"

void nvfm_lm_caps_free(NvfmLmCaps *caps)
{
	if (!caps)
		return;
	g_free(caps->pf);
	g_free(caps->reason);
	g_free(caps->versions);
	g_strfreev(caps->uuids);
	g_free(caps);
}

void nvfm_lm_format_free(NvfmLmFormat *fmt)
{
	if (!fmt)
		return;
	g_free(fmt->pf);
	g_free(fmt->uuid);
	g_free(fmt);
}

void nvfm_lm_uuid_format(const guint8 *u, char out[37])
{
	g_snprintf(out, 37,
		   "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x",
		   u[0], u[1], u[2], u[3], u[4], u[5], u[6], u[7], u[8], u[9], u[10], u[11],
		   u[12], u[13], u[14], u[15]);
}

gboolean nvfm_lm_uuid_parse(const char *text, guint8 out[16])
{
	guint n = 0;

	if (!text || !g_uuid_string_is_valid(text))
		return FALSE;
	for (const char *p = text; *p && n < 32; p++) {
		if (*p == '-')
			continue;
		if (n % 2 == 0)
			out[n / 2] = (guint8)(g_ascii_xdigit_value(*p) << 4);
		else
			out[n / 2] |= (guint8)g_ascii_xdigit_value(*p);
		n++;
	}
	return n == 32;
}

gboolean nvfm_lm_parse_formats(const guint8 *buf, gsize len, NvfmLmCaps *caps, GError **error)
{
	guint nv, nuuid;
	gsize need;
	GStrvBuilder *b;

	if (!buf || len < 2) {
		g_set_error(error, NVFM_ERROR, NVFM_ERROR_PROTOCOL,
			    "Supported Controller State Formats: %" G_GSIZE_FORMAT
			    " bytes, too short for its counts", buf ? len : 0);
		return FALSE;
	}
	nv = buf[0];
	nuuid = buf[1];
	need = 2 + 2 * (gsize)nv + 16 * (gsize)nuuid;
	if (need > len) {
		g_set_error(error, NVFM_ERROR, NVFM_ERROR_PROTOCOL,
			    "Supported Controller State Formats: %u versions and %u UUIDs need %"
			    G_GSIZE_FORMAT " bytes, more than the %" G_GSIZE_FORMAT " returned",
			    nv, nuuid, need, len);
		return FALSE;
	}
	g_clear_pointer(&caps->versions, g_free);
	g_clear_pointer(&caps->uuids, g_strfreev);
	caps->n_versions = nv;
	caps->versions = g_new0(guint16, MAX(nv, 1));
	for (guint i = 0; i < nv; i++)
		caps->versions[i] = (guint16)(buf[2 + 2 * i] | buf[3 + 2 * i] << 8);
	b = g_strv_builder_new();
	for (guint i = 0; i < nuuid; i++) {
		char text[37];

		nvfm_lm_uuid_format(buf + 2 + 2 * nv + 16 * i, text);
		g_strv_builder_add(b, text);
	}
	caps->uuids = g_strv_builder_end(b);
	g_strv_builder_unref(b);
	caps->n_uuids = nuuid;
	return TRUE;
}

static void lm_unsupported(NvfmLmCaps *caps, const char *fmt, ...) G_GNUC_PRINTF(2, 3);

static void lm_unsupported(NvfmLmCaps *caps, const char *fmt, ...)
{
	va_list ap;

	caps->supported = FALSE;
	g_free(caps->reason);
	va_start(ap, fmt);
	caps->reason = g_strdup_vprintf(fmt, ap);
	va_end(ap);
}

NvfmLmCaps *nvfm_pf_get_lm_caps(NvfmPf *pf, GError **error)
{
	g_autoptr(NvfmLmCaps) caps = g_new0(NvfmLmCaps, 1);
	g_autofree guint8 *buf = NULL;
	g_autoptr(GError) e = NULL;
	guint16 oacs = 0;

	caps->pf = g_strdup(pf->address);
	caps->uuids = g_new0(char *, 1);
	if (!pf->ops->identify_oacs || !pf->ops->identify_lm_formats) {
		lm_unsupported(caps, "this kind of PF has no live migration commands");
		return g_steal_pointer(&caps);
	}
	if (!pf->ops->identify_oacs(pf, &oacs, error))
		return NULL;
	if (!(oacs & NVFM_NVME_OACS_HMLMS)) {
		lm_unsupported(caps, "Identify Controller OACS bit 11 (HMLMS) is clear");
		return g_steal_pointer(&caps);
	}
	buf = g_malloc0(NVFM_NVME_IDENTIFY_SIZE);
	if (!pf->ops->identify_lm_formats(pf, buf, &e)) {
		/* HMLMS set but the formats unreadable: nothing to migrate with */
		lm_unsupported(caps, "%s", e->message);
		return g_steal_pointer(&caps);
	}
	if (!nvfm_lm_parse_formats(buf, NVFM_NVME_IDENTIFY_SIZE, caps, &e)) {
		lm_unsupported(caps, "%s", e->message);
		return g_steal_pointer(&caps);
	}
	if (caps->n_versions == 0) {
		lm_unsupported(caps, "Identify CNS 20h lists no NVMe Controller State version");
		return g_steal_pointer(&caps);
	}
	caps->supported = TRUE;
	g_debug("%s: live migration, %u versions, %u vendor formats", pf->address,
		caps->n_versions, caps->n_uuids);
	return g_steal_pointer(&caps);
}

/* "0, 1" */
static char *lm_versions_text(const guint16 *v, guint n)
{
	GString *s = g_string_new(NULL);

	for (guint i = 0; i < n; i++)
		g_string_append_printf(s, "%s%u", i ? ", " : "", v[i]);
	return g_string_free(s, FALSE);
}

char *nvfm_lm_caps_describe(const NvfmLmCaps *caps)
{
	g_autofree char *versions = NULL, *uuids = NULL;

	if (!caps->supported)
		return g_strdup_printf("not supported (%s)",
				       caps->reason ? caps->reason : "unknown reason");
	versions = lm_versions_text(caps->versions, caps->n_versions);
	uuids = caps->n_uuids ? g_strjoinv(", ", caps->uuids) : g_strdup("none");
	return g_strdup_printf("NVMe host-managed, controller state version%s %s; "
			       "vendor format%s %s", caps->n_versions == 1 ? "" : "s", versions,
			       caps->n_uuids == 1 ? "" : "s", uuids);
}

NvfmLmFormat *nvfm_lm_caps_format(const NvfmLmCaps *caps)
{
	NvfmLmFormat *f;

	if (!caps || !caps->supported || caps->n_versions == 0)
		return NULL;
	f = g_new0(NvfmLmFormat, 1);
	f->pf = g_strdup(caps->pf);
	f->version = caps->versions[0];
	f->uuid = caps->n_uuids ? g_strdup(caps->uuids[0]) : NULL;
	return f;
}

json_t *nvfm_lm_format_to_json(const NvfmLmFormat *fmt)
{
	json_t *j = json_pack("{s:i}", "version", (int)fmt->version);

	if (fmt->pf)
		json_object_set_new(j, "pf", json_string(fmt->pf));
	if (fmt->uuid)
		json_object_set_new(j, "uuid", json_string(fmt->uuid));
	return j;
}

NvfmLmFormat *nvfm_lm_format_from_json(json_t *j, GError **error)
{
	g_autoptr(NvfmLmFormat) f = g_new0(NvfmLmFormat, 1);
	json_t *version = json_object_get(j, "version");
	json_t *uuid = json_object_get(j, "uuid");
	json_t *pf = json_object_get(j, "pf");
	guint8 raw[16];
	char text[37];

	if (!json_is_object(j)) {
		g_set_error(error, NVFM_ERROR, NVFM_ERROR_INVALID_ARG,
			    "lm_format must be an object {\"version\": N, \"uuid\": \"...\"}");
		return NULL;
	}
	if (!json_is_integer(version) || json_integer_value(version) < 0 ||
	    json_integer_value(version) > 0xffff) {
		g_set_error(error, NVFM_ERROR, NVFM_ERROR_INVALID_ARG,
			    "lm_format: version must be an integer 0..65535");
		return NULL;
	}
	f->version = (guint16)json_integer_value(version);
	if (uuid && !json_is_null(uuid)) {
		if (!json_is_string(uuid) || !nvfm_lm_uuid_parse(json_string_value(uuid), raw)) {
			g_set_error(error, NVFM_ERROR, NVFM_ERROR_INVALID_ARG,
				    "lm_format: uuid must be UUID text (xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx)");
			return NULL;
		}
		nvfm_lm_uuid_format(raw, text);
		f->uuid = g_strdup(text);
	}
	if (pf && !json_is_null(pf)) {
		if (!json_is_string(pf) || !*json_string_value(pf)) {
			g_set_error(error, NVFM_ERROR, NVFM_ERROR_INVALID_ARG,
				    "lm_format: pf must be a PF address");
			return NULL;
		}
		f->pf = g_strdup(json_string_value(pf));
	}
	return g_steal_pointer(&f);
}

static gboolean lm_has_uuid(const NvfmLmCaps *caps, const char *uuid)
{
	for (guint i = 0; i < caps->n_uuids; i++) {
		if (!g_ascii_strcasecmp(caps->uuids[i], uuid))
			return TRUE;
	}
	return FALSE;
}

gboolean nvfm_lm_format_accepted(const NvfmLmFormat *src, const NvfmLmCaps *dst,
				 GError **error)
{
	g_autofree char *src_pf = NULL, *versions = NULL, *uuids = NULL;
	const char *dst_pf = dst->pf ? dst->pf : "?";
	gboolean version_ok = FALSE;

	if (!src)
		return TRUE;
	src_pf = src->pf ? g_strdup_printf("source PF %s", src->pf) : g_strdup("the source PF");
	if (!dst->supported) {
		g_set_error(error, NVFM_ERROR, NVFM_ERROR_NOT_SUPPORTED,
			    "destination PF %s does not support NVMe live migration (%s) but %s "
			    "produces NVMe controller state version %u", dst_pf,
			    dst->reason ? dst->reason : "unknown reason", src_pf, src->version);
		return FALSE;
	}
	for (guint i = 0; i < dst->n_versions; i++)
		version_ok |= dst->versions[i] == src->version;
	if (!version_ok) {
		versions = lm_versions_text(dst->versions, dst->n_versions);
		g_set_error(error, NVFM_ERROR, NVFM_ERROR_NOT_SUPPORTED,
			    "destination PF %s offers NVMe controller state version%s %s but %s "
			    "produces version %u", dst_pf, dst->n_versions == 1 ? "" : "s",
			    versions, src_pf, src->version);
		return FALSE;
	}
	if (src->uuid && !lm_has_uuid(dst, src->uuid)) {
		if (dst->n_uuids == 0) {
			g_set_error(error, NVFM_ERROR, NVFM_ERROR_NOT_SUPPORTED,
				    "destination PF %s offers no vendor-specific state format but %s "
				    "produces format %s", dst_pf, src_pf, src->uuid);
			return FALSE;
		}
		uuids = g_strjoinv(", ", dst->uuids);
		g_set_error(error, NVFM_ERROR, NVFM_ERROR_NOT_SUPPORTED,
			    "destination PF %s offers vendor-specific state format%s %s but %s "
			    "produces format %s", dst_pf, dst->n_uuids == 1 ? "" : "s", uuids,
			    src_pf, src->uuid);
		return FALSE;
	}
	return TRUE;
}

gboolean nvfm_lm_format_compatible(const NvfmLmCaps *src, const NvfmLmCaps *dst,
				   GError **error)
{
	g_autoptr(NvfmLmFormat) f = nvfm_lm_caps_format(src);

	return nvfm_lm_format_accepted(f, dst, error);
}
