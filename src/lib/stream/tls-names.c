/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * A client certificate's names for the allow-list and --admin, taken
 * from the certificate as GnuTLS parses it. A printed subject cannot be
 * split back into attributes: "O=nvfm-test\, CN=host-a" is one
 * organization whose value merely contains "CN=host-a". So the CN is the
 * subject's CN attribute, looked up by its OID, and a subject with
 * several CNs has none we trust: which one would the CA have vouched for?
 */
#define G_LOG_DOMAIN "nvfm-transport"

#include <string.h>

#include <gnutls/gnutls.h>
#include <gnutls/x509.h>

#include "util/util-private.h"
#include "tls-names.h"

/* A certificate is bounded, but so is every loop: nobody needs more. */
#define MAX_CN 16
#define MAX_SAN 256
#define MAX_NAME_LEN 1024

struct _NvfmNamePatterns {
	GPtrArray *items;	/* Pattern */
};

typedef struct {
	gboolean cn_only;
	GPatternSpec *spec;
} Pattern;

/* ---- names ---- */

static NvfmPeerNames *names_new(void)
{
	NvfmPeerNames *n = g_new0(NvfmPeerNames, 1);

	n->dns = g_ptr_array_new_with_free_func(g_free);
	n->ips = g_ptr_array_new_with_free_func(g_free);
	return n;
}

void nvfm_peer_names_free(NvfmPeerNames *names)
{
	if (!names)
		return;
	g_free(names->cn);
	g_ptr_array_free(names->dns, TRUE);
	g_ptr_array_free(names->ips, TRUE);
	g_free(names);
}

/* Text a pattern may be matched against: UTF-8, no NUL inside (a NUL
 * would cut "host-a\0.evil" to "host-a" for a C string compare). */
static char *usable_text(const char *buf, gsize len)
{
	if (len == 0 || len > MAX_NAME_LEN || memchr(buf, 0, len) ||
	    !g_utf8_validate(buf, (gssize)len, NULL))
		return NULL;
	return g_strndup(buf, len);
}

/* The value of the @idx-th CN attribute as UTF-8 text; *@more is FALSE
 * once there is none. A CN GnuTLS cannot decode still counts: it may be
 * the one a second, readable CN would hide. */
static char *cn_value(gnutls_x509_crt_t crt, guint idx, gboolean *more)
{
	size_t size = 0;
	g_autofree char *buf = NULL;
	int r = gnutls_x509_crt_get_dn_by_oid(crt, GNUTLS_OID_X520_COMMON_NAME, idx, 0, NULL,
					      &size);

	*more = r != GNUTLS_E_REQUESTED_DATA_NOT_AVAILABLE;
	if (r != GNUTLS_E_SHORT_MEMORY_BUFFER || size > MAX_NAME_LEN)
		return NULL;
	buf = g_malloc0(size + 1);
	if (gnutls_x509_crt_get_dn_by_oid(crt, GNUTLS_OID_X520_COMMON_NAME, idx, 0, buf,
					  &size) < 0)
		return NULL;
	return usable_text(buf, size);
}

static void read_cns(gnutls_x509_crt_t crt, NvfmPeerNames *n)
{
	gboolean more = TRUE;

	for (guint i = 0; i < MAX_CN && more; i++) {
		g_autofree char *v = cn_value(crt, i, &more);

		if (!more)
			break;
		n->n_cn++;
		if (n->n_cn == 1)
			n->cn = g_steal_pointer(&v);
	}
	if (n->n_cn != 1)
		g_clear_pointer(&n->cn, g_free);
}

static void add_ip(GPtrArray *ips, const guint8 *raw, gsize len)
{
	g_autoptr(GInetAddress) ia = NULL;

	if (len == 4)
		ia = g_inet_address_new_from_bytes(raw, G_SOCKET_FAMILY_IPV4);
	else if (len == 16)
		ia = g_inet_address_new_from_bytes(raw, G_SOCKET_FAMILY_IPV6);
	if (ia)
		g_ptr_array_add(ips, g_inet_address_to_string(ia));
}

static void read_sans(gnutls_x509_crt_t crt, NvfmPeerNames *n)
{
	for (guint seq = 0; seq < MAX_SAN; seq++) {
		size_t size = 0;
		unsigned int critical = 0;
		g_autofree guint8 *buf = NULL;
		int type = gnutls_x509_crt_get_subject_alt_name(crt, seq, NULL, &size, &critical);

		if (type == GNUTLS_E_REQUESTED_DATA_NOT_AVAILABLE)
			return;
		if (type != GNUTLS_E_SHORT_MEMORY_BUFFER || size > MAX_NAME_LEN)
			continue;	/* an empty or oversized entry names nobody */
		buf = g_malloc0(size + 1);
		type = gnutls_x509_crt_get_subject_alt_name(crt, seq, buf, &size, &critical);
		if (type == GNUTLS_SAN_DNSNAME) {
			char *t = usable_text((const char *)buf, size);

			if (t)
				g_ptr_array_add(n->dns, t);
		} else if (type == GNUTLS_SAN_IPADDRESS) {
			add_ip(n->ips, buf, size);
		}
	}
}

NvfmPeerNames *nvfm_peer_names_from_der(const guint8 *der, gsize len, GError **error)
{
	gnutls_x509_crt_t crt = NULL;
	gnutls_datum_t d = { .data = (unsigned char *)der, .size = (unsigned int)len };
	NvfmPeerNames *n;
	int r;

	if (!der || len == 0 || len > G_MAXUINT) {
		g_set_error(error, NVFM_ERROR, NVFM_ERROR_AUTH, "no certificate");
		return NULL;
	}
	r = gnutls_x509_crt_init(&crt);
	if (r == 0)
		r = gnutls_x509_crt_import(crt, &d, GNUTLS_X509_FMT_DER);
	if (r < 0) {
		g_set_error(error, NVFM_ERROR, NVFM_ERROR_AUTH, "unreadable certificate: %s",
			    gnutls_strerror(r));
		if (crt)
			gnutls_x509_crt_deinit(crt);
		return NULL;
	}
	n = names_new();
	read_cns(crt, n);
	read_sans(crt, n);
	gnutls_x509_crt_deinit(crt);
	return n;
}

NvfmPeerNames *nvfm_peer_names_from_certificate(GTlsCertificate *cert, GError **error)
{
	g_autoptr(GByteArray) der = NULL;

	if (cert)
		g_object_get(cert, "certificate", &der, NULL);
	if (!der) {
		g_set_error(error, NVFM_ERROR, NVFM_ERROR_AUTH, "no certificate");
		return NULL;
	}
	return nvfm_peer_names_from_der(der->data, der->len, error);
}

NvfmPeerNames *nvfm_peer_names_from_address(const char *ip)
{
	NvfmPeerNames *n = names_new();

	if (ip && *ip)
		g_ptr_array_add(n->ips, g_strdup(ip));
	return n;
}

char *nvfm_peer_names_describe(const NvfmPeerNames *n)
{
	GString *s = g_string_new(NULL);

	if (n->cn)
		g_string_append_printf(s, "CN %s", n->cn);
	else if (n->n_cn > 1)
		g_string_append_printf(s, "no CN: the subject has %u", n->n_cn);
	for (guint i = 0; i < n->dns->len; i++)
		g_string_append_printf(s, "%sDNS %s", s->len ? ", " : "",
				       (const char *)g_ptr_array_index(n->dns, i));
	for (guint i = 0; i < n->ips->len; i++)
		g_string_append_printf(s, "%sIP %s", s->len ? ", " : "",
				       (const char *)g_ptr_array_index(n->ips, i));
	if (!s->len)
		g_string_append(s, "no name");
	return g_string_free(s, FALSE);
}

/* ---- patterns ---- */

static void pattern_free(gpointer p)
{
	Pattern *pat = p;

	g_pattern_spec_free(pat->spec);
	g_free(pat);
}

void nvfm_name_patterns_free(NvfmNamePatterns *patterns)
{
	if (!patterns)
		return;
	g_ptr_array_free(patterns->items, TRUE);
	g_free(patterns);
}

NvfmNamePatterns *nvfm_name_patterns_new(const char *const *patterns, const char *what,
					 GError **error)
{
	g_autoptr(NvfmNamePatterns) p = g_new0(NvfmNamePatterns, 1);

	p->items = g_ptr_array_new_with_free_func(pattern_free);
	for (guint i = 0; patterns && patterns[i]; i++) {
		const char *text = patterns[i];
		gboolean cn_only = g_ascii_strncasecmp(text, "CN=", 3) == 0;
		const char *body = cn_only ? text + 3 : text;
		Pattern *pat;

		if (!*text)
			continue;
		/* "O=x" or "CN=a,O=b" would ask for attributes or a whole
		 * subject, which are never matched: say so rather than
		 * refuse every client quietly */
		if (!*body || strchr(body, '=') || (cn_only && strchr(body, ','))) {
			g_set_error(error, NVFM_ERROR, NVFM_ERROR_INVALID_ARG,
				    "invalid %s pattern '%s': give a name (matched against the "
				    "certificate's CN and its DNS and IP subjectAltNames) or CN=NAME; "
				    "whole subjects and other attributes are not matched", what, text);
			return NULL;
		}
		if (!g_utf8_validate(body, -1, NULL)) {
			g_set_error(error, NVFM_ERROR, NVFM_ERROR_INVALID_ARG,
				    "invalid %s pattern: not UTF-8", what);
			return NULL;
		}
		pat = g_new0(Pattern, 1);
		pat->cn_only = cn_only;
		pat->spec = g_pattern_spec_new(body);
		g_ptr_array_add(p->items, pat);
	}
	if (p->items->len == 0)
		return NULL;
	return g_steal_pointer(&p);
}

static gboolean any_matches(GPatternSpec *spec, GPtrArray *values)
{
	for (guint i = 0; i < values->len; i++)
		if (g_pattern_spec_match_string(spec, g_ptr_array_index(values, i)))
			return TRUE;
	return FALSE;
}

gboolean nvfm_name_patterns_match(const NvfmNamePatterns *patterns, const NvfmPeerNames *names)
{
	for (guint i = 0; patterns && names && i < patterns->items->len; i++) {
		const Pattern *pat = g_ptr_array_index(patterns->items, i);

		if (names->cn && g_pattern_spec_match_string(pat->spec, names->cn))
			return TRUE;
		if (!pat->cn_only &&
		    (any_matches(pat->spec, names->dns) || any_matches(pat->spec, names->ips)))
			return TRUE;
	}
	return FALSE;
}
