/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The kernel's TLS for sealed channels (ktls.h). TLS 1.3 with
 * AES-256-GCM: the kernel's nonce is salt (4 bytes) || iv (8 bytes) XOR
 * the record sequence number, the same nonce seal.c makes, so records
 * sealed on either side open on the other.
 */
#define G_LOG_DOMAIN "nvfm-ktls"

#include <errno.h>
#include <string.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#include <linux/tls.h>

#include "util/util-private.h"
#include "ktls.h"

#ifndef SOL_TLS
#define SOL_TLS 282
#endif

int nvfm_ktls_attach(int fd, GError **error)
{
	if (setsockopt(fd, IPPROTO_TCP, TCP_ULP, "tls", sizeof("tls")) == 0)
		return 1;
	/* no tls module, or one that cannot load: seal in userspace */
	if (errno == ENOENT || errno == ENOPROTOOPT || errno == EOPNOTSUPP)
		return 0;
	nvfm_set_error_errno(error, -errno, "attaching the kernel's TLS to the socket");
	return -1;
}

gboolean nvfm_ktls_set_keys(int fd, gboolean tx, const NvfmSealKeys *k, GError **error)
{
	struct tls12_crypto_info_aes_gcm_256 ci;
	int r;

	memset(&ci, 0, sizeof(ci));
	ci.info.version = TLS_1_3_VERSION;
	ci.info.cipher_type = TLS_CIPHER_AES_GCM_256;
	memcpy(ci.salt, k->iv, sizeof(ci.salt));
	memcpy(ci.iv, k->iv + sizeof(ci.salt), sizeof(ci.iv));
	memcpy(ci.key, k->key, sizeof(ci.key));
	for (int i = 0; i < 8; i++)
		ci.rec_seq[7 - i] = (unsigned char)(k->seq >> (8 * i));
	r = setsockopt(fd, SOL_TLS, tx ? TLS_TX : TLS_RX, &ci, sizeof(ci));
	memset(&ci, 0, sizeof(ci));
	if (r == 0)
		return TRUE;
	nvfm_set_error_errno(error, -errno, "handing the %s key to the kernel's TLS",
			     tx ? "sending" : "receiving");
	return FALSE;
}
