/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The names of a client certificate and the allow-list / --admin patterns
 * (src/lib/stream/tls-names.c), on certificates made here with GnuTLS:
 * text inside another attribute is never a CN, several CNs give none, and
 * subjectAltNames count as names of their own.
 */
#include <string.h>

#include <gnutls/gnutls.h>
#include <gnutls/x509.h>

#include "util/util-private.h"
#include "src/lib/stream/tls-names.h"

#define OK(x) g_assert_cmpint((x), >=, 0)

/* A self-signed certificate for @dn (RFC 4514, as certtool takes it)
 * with the DNS names in @dns and an IPv4 SAN. */
static GBytes *make_cert(const char *dn, const char *const *dns, const guint8 *ip4)
{
	gnutls_x509_privkey_t key;
	gnutls_x509_crt_t crt;
	gnutls_datum_t out = { 0 };
	const char *err = NULL;
	guint8 serial = 1;
	time_t now = time(NULL);
	GBytes *b;

	OK(gnutls_x509_privkey_init(&key));
	OK(gnutls_x509_privkey_generate(key, GNUTLS_PK_ECDSA,
					GNUTLS_CURVE_TO_BITS(GNUTLS_ECC_CURVE_SECP256R1), 0));
	OK(gnutls_x509_crt_init(&crt));
	OK(gnutls_x509_crt_set_version(crt, 3));
	OK(gnutls_x509_crt_set_serial(crt, &serial, 1));
	OK(gnutls_x509_crt_set_activation_time(crt, now - 60));
	OK(gnutls_x509_crt_set_expiration_time(crt, now + 3600));
	OK(gnutls_x509_crt_set_key(crt, key));
	if (gnutls_x509_crt_set_dn(crt, dn, &err) < 0)
		g_error("set_dn %s: at %s", dn, err ? err : "?");
	for (guint i = 0; dns && dns[i]; i++)
		OK(gnutls_x509_crt_set_subject_alt_name(crt, GNUTLS_SAN_DNSNAME, dns[i],
							strlen(dns[i]), GNUTLS_FSAN_APPEND));
	if (ip4)
		OK(gnutls_x509_crt_set_subject_alt_name(crt, GNUTLS_SAN_IPADDRESS, ip4, 4,
							GNUTLS_FSAN_APPEND));
	OK(gnutls_x509_crt_sign2(crt, crt, key, GNUTLS_DIG_SHA256, 0));
	OK(gnutls_x509_crt_export2(crt, GNUTLS_X509_FMT_DER, &out));
	b = g_bytes_new(out.data, out.size);
	gnutls_free(out.data);
	gnutls_x509_crt_deinit(crt);
	gnutls_x509_privkey_deinit(key);
	return b;
}

static NvfmPeerNames *names_of(GBytes *der)
{
	GError *error = NULL;
	gsize len;
	const guint8 *p = g_bytes_get_data(der, &len);
	NvfmPeerNames *n = nvfm_peer_names_from_der(p, len, &error);

	g_assert_no_error(error);
	g_assert_nonnull(n);
	return n;
}

/* Whether the one pattern @pat lets @n in. */
static gboolean allows(const char *pat, const NvfmPeerNames *n)
{
	const char *list[] = { pat, NULL };
	GError *error = NULL;
	g_autoptr(NvfmNamePatterns) p = nvfm_name_patterns_new(list, "allow-list", &error);

	g_assert_no_error(error);
	g_assert_nonnull(p);
	return nvfm_name_patterns_match(p, n);
}

/* The audit's certificate: CN host-c, and "CN=host-a" inside O. */
static void test_cn_inside_other_attribute(void)
{
	g_autoptr(GBytes) der = make_cert("CN=host-c,O=nvfm-test\\, CN=host-a", NULL, NULL);
	g_autoptr(NvfmPeerNames) n = names_of(der);
	g_autofree char *desc = nvfm_peer_names_describe(n);

	g_assert_cmpstr(n->cn, ==, "host-c");
	g_assert_cmpuint(n->n_cn, ==, 1);
	g_assert_cmpuint(n->dns->len, ==, 0);
	g_assert_cmpstr(desc, ==, "CN host-c");
	g_assert_false(allows("host-a", n));
	g_assert_false(allows("CN=host-a", n));
	g_assert_false(allows("*host-a", n));
	g_assert_false(allows("nvfm-test*", n));
	g_assert_true(allows("host-c", n));
	g_assert_true(allows("CN=host-*", n));
	g_assert_true(allows("cn=host-c", n));
}

/* Which of two CNs would the CA have meant? Neither counts. */
static void test_several_cns(void)
{
	g_autoptr(GBytes) der = make_cert("CN=host-a,CN=host-c,O=nvfm-test", NULL, NULL);
	g_autoptr(NvfmPeerNames) n = names_of(der);

	g_assert_null(n->cn);
	g_assert_cmpuint(n->n_cn, ==, 2);
	g_assert_false(allows("host-a", n));
	g_assert_false(allows("host-c", n));
	g_assert_false(allows("*", n));
	g_assert_false(allows("CN=*", n));
}

/* An attribute whose whole value reads as a CN is still not one. */
static void test_value_reading_as_cn(void)
{
	g_autoptr(GBytes) der = make_cert("CN=host-c,OU=CN\\=host-a", NULL, NULL);
	g_autoptr(NvfmPeerNames) n = names_of(der);

	g_assert_cmpstr(n->cn, ==, "host-c");
	g_assert_false(allows("host-a", n));
	g_assert_false(allows("CN=host-a", n));
	g_assert_false(allows("*host-a", n));
}

static void test_subject_alt_names(void)
{
	static const char *const dns[] = { "host-a.example", "b.example", NULL };
	static const guint8 ip[4] = { 10, 9, 9, 9 };
	g_autoptr(GBytes) der = make_cert("CN=ops-d,O=nvfm-test", dns, ip);
	g_autoptr(NvfmPeerNames) n = names_of(der);
	g_autofree char *desc = nvfm_peer_names_describe(n);

	g_assert_cmpstr(desc, ==, "CN ops-d, DNS host-a.example, DNS b.example, IP 10.9.9.9");
	g_assert_true(allows("host-a.example", n));
	g_assert_true(allows("*.example", n));
	g_assert_true(allows("b.example", n));
	g_assert_true(allows("10.9.9.9", n));
	g_assert_true(allows("10.9.9.*", n));
	g_assert_true(allows("CN=ops-d", n));
	/* CN= asks for the CN alone */
	g_assert_false(allows("CN=host-a.example", n));
	g_assert_false(allows("CN=10.9.9.9", n));
	g_assert_false(allows("host-a", n));
}

static void test_plain_address(void)
{
	g_autoptr(NvfmPeerNames) n = nvfm_peer_names_from_address("10.77.0.2");

	g_assert_true(allows("10.77.0.2", n));
	g_assert_true(allows("10.77.0.*", n));
	g_assert_false(allows("CN=10.77.0.2", n));
	g_assert_false(allows("10.77.0.1", n));
}

static void test_patterns_parsed(void)
{
	static const char *const bad[] = { "O=nvfm-test", "CN=host-a,O=nvfm-test", "CN=",
					   "OU=x", "host=a" };
	static const char *const empty[] = { "", "", NULL };
	static const char *const fine[] = { "", "host-a", "CN=host-*", NULL };
	GError *error = NULL;
	NvfmNamePatterns *p;

	for (guint i = 0; i < G_N_ELEMENTS(bad); i++) {
		const char *list[] = { "host-a", bad[i], NULL };

		p = nvfm_name_patterns_new(list, "admin", &error);
		g_assert_null(p);
		g_assert_error(error, NVFM_ERROR, NVFM_ERROR_INVALID_ARG);
		g_assert_nonnull(strstr(error->message, "invalid admin pattern"));
		g_clear_error(&error);
	}
	/* nothing left: no list at all */
	g_assert_null(nvfm_name_patterns_new(empty, "admin", &error));
	g_assert_no_error(error);
	g_assert_null(nvfm_name_patterns_new(NULL, "admin", &error));
	g_assert_no_error(error);
	p = nvfm_name_patterns_new(fine, "admin", &error);
	g_assert_no_error(error);
	g_assert_nonnull(p);
	nvfm_name_patterns_free(p);
}

static void test_garbage(void)
{
	static const guint8 junk[] = { 0x30, 0x03, 0x02, 0x01, 0x01 };
	GError *error = NULL;

	g_assert_null(nvfm_peer_names_from_der(junk, sizeof(junk), &error));
	g_assert_error(error, NVFM_ERROR, NVFM_ERROR_AUTH);
	g_clear_error(&error);
	g_assert_null(nvfm_peer_names_from_der(NULL, 0, &error));
	g_assert_error(error, NVFM_ERROR, NVFM_ERROR_AUTH);
	g_clear_error(&error);
}

int main(int argc, char **argv)
{
	g_test_init(&argc, &argv, NULL);
	g_test_add_func("/tls-names/cn-inside-other-attribute", test_cn_inside_other_attribute);
	g_test_add_func("/tls-names/several-cns", test_several_cns);
	g_test_add_func("/tls-names/value-reading-as-cn", test_value_reading_as_cn);
	g_test_add_func("/tls-names/subject-alt-names", test_subject_alt_names);
	g_test_add_func("/tls-names/plain-address", test_plain_address);
	g_test_add_func("/tls-names/patterns-parsed", test_patterns_parsed);
	g_test_add_func("/tls-names/garbage", test_garbage);
	return g_test_run();
}
