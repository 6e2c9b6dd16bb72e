/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * SHA-256 of device state. Every byte of a migration is hashed on both
 * ends, so this runs at the speed of the data path: libcrypto uses the
 * CPU's SHA extensions where present (several times GChecksum's rate);
 * GChecksum remains the fallback when libcrypto is absent.
 */
#define G_LOG_DOMAIN "nvfm-sha256"

#include "config.h"
#include "util-private.h"

#ifdef HAVE_LIBCRYPTO
#include <openssl/evp.h>
#endif

struct _NvfmSha256 {
#ifdef HAVE_LIBCRYPTO
	EVP_MD_CTX *ctx;
#else
	GChecksum *sum;
#endif
};

NvfmSha256 *nvfm_sha256_new(void)
{
	NvfmSha256 *s = g_new0(NvfmSha256, 1);

#ifdef HAVE_LIBCRYPTO
	s->ctx = EVP_MD_CTX_new();
	if (!s->ctx || EVP_DigestInit_ex(s->ctx, EVP_sha256(), NULL) != 1)
		g_error("libcrypto cannot initialise SHA-256");
#else
	s->sum = g_checksum_new(G_CHECKSUM_SHA256);
#endif
	return s;
}

void nvfm_sha256_update(NvfmSha256 *s, const void *buf, gsize len)
{
#ifdef HAVE_LIBCRYPTO
	EVP_DigestUpdate(s->ctx, buf, len);
#else
	g_checksum_update(s->sum, buf, (gssize)len);
#endif
}

void nvfm_sha256_finish(NvfmSha256 *s, guint8 *digest)
{
#ifdef HAVE_LIBCRYPTO
	unsigned int n = 32;

	EVP_DigestFinal_ex(s->ctx, digest, &n);
#else
	gsize n = 32;

	g_checksum_get_digest(s->sum, digest, &n);
#endif
}

void nvfm_sha256_hex(const guint8 *digest, char *hex)
{
	for (guint i = 0; i < 32; i++)
		g_snprintf(hex + 2 * i, 3, "%02x", digest[i]);
}

void nvfm_sha256_free(NvfmSha256 *s)
{
	if (!s)
		return;
#ifdef HAVE_LIBCRYPTO
	EVP_MD_CTX_free(s->ctx);
#else
	g_checksum_free(s->sum);
#endif
	g_free(s);
}
