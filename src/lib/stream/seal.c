/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Sealed records: TLS 1.3 application-data records (AES-256-GCM, up to
 * 16 KiB each) keyed from a TLS 1.3 session's exporter (seal.h; the
 * format in docs/protocol.md).
 *
 * Keys: PRK = HMAC-SHA256("nvfm-seal-v1", exporter); each direction's key
 * is HMAC(PRK, "<dir> key" 0x01) and its nonce base the first 12 bytes of
 * HMAC(PRK, "<dir> iv" 0x01), <dir> "client" or "server" for who sends.
 * A record's nonce is the base XOR its 64-bit sequence number (big-endian,
 * in the last 8 bytes) and its AAD the 5-byte record header, as in
 * TLS 1.3, so a kernel given the same key, nonce base and sequence
 * number seals and opens the same records. A direction stops after
 * NVFM_SEAL_KEY_RECORDS records rather than wear its key out.
 */
#define G_LOG_DOMAIN "nvfm-seal"

#include <string.h>

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "util/util-private.h"
#include "seal.h"

#define KEY_SIZE 32
#define NONCE_SIZE 12
/* TLS records a reader skips before the preamble: a few session tickets */
#define PREAMBLE_SKIP_MAX (64u << 10)
#define RECV_MIN (64u << 10)
#define RECV_MAX (1u << 20)

typedef struct {
	EVP_CIPHER_CTX *ctx;
	guint8 key[KEY_SIZE];
	guint8 iv[NONCE_SIZE];
	guint64 seq;
} Direction;

struct _NvfmSeal {
	Direction tx, rx;
	/* received bytes: [head, tail) of @in; an opened record's plaintext
	 * is [p_pos, p_end), served before anything after it */
	guint8 *in;
	gsize cap, head, tail;
	gsize p_pos, p_end, p_next;
	gboolean preamble;	/* the peer's preamble not seen yet */
	gsize skipped;
};

static void expand(const guint8 *prk, gsize prk_len, const char *label, guint8 *out)
{
	guint8 info[64];
	gsize n = strlen(label);
	unsigned int md_len = 0;

	g_assert(n + 1 <= sizeof(info));
	memcpy(info, label, n);
	info[n] = 1;
	HMAC(EVP_sha256(), prk, (int)prk_len, info, n + 1, out, &md_len);
}

static gboolean direction_init(Direction *d, const guint8 *prk, const char *who,
			       gboolean encrypt)
{
	g_autofree char *kl = g_strdup_printf("%s key", who);
	g_autofree char *il = g_strdup_printf("%s iv", who);
	guint8 iv[32];

	expand(prk, 32, kl, d->key);
	expand(prk, 32, il, iv);
	memcpy(d->iv, iv, NONCE_SIZE);
	memset(iv, 0, sizeof(iv));
	d->ctx = EVP_CIPHER_CTX_new();
	return d->ctx &&
	       EVP_CipherInit_ex(d->ctx, EVP_aes_256_gcm(), NULL, d->key, NULL, encrypt) == 1;
}

static void direction_clear(Direction *d)
{
	if (d->ctx)
		EVP_CIPHER_CTX_free(d->ctx);
	d->ctx = NULL;
	memset(d->key, 0, sizeof(d->key));
}

/* The next record's nonce. */
static void next_nonce(Direction *d, guint8 *nonce)
{
	guint64 seq = d->seq++;

	memcpy(nonce, d->iv, NONCE_SIZE);
	for (int i = 0; i < 8; i++)
		nonce[NONCE_SIZE - 1 - i] ^= (guint8)(seq >> (8 * i));
}

NvfmSeal *nvfm_seal_new(const guint8 *secret, gsize len, gboolean server, GError **error)
{
	static const char salt[] = "nvfm-seal-v1";
	g_autoptr(NvfmSeal) s = g_new0(NvfmSeal, 1);
	guint8 prk[32];
	unsigned int prk_len = 0;

	if (len < 32) {
		g_set_error(error, NVFM_ERROR, NVFM_ERROR_AUTH,
			    "sealed records: the TLS exporter gave %zu bytes, 32 needed", len);
		return NULL;
	}
	HMAC(EVP_sha256(), salt, (int)strlen(salt), secret, len, prk, &prk_len);
	if (!direction_init(&s->tx, prk, server ? "server" : "client", TRUE) ||
	    !direction_init(&s->rx, prk, server ? "client" : "server", FALSE)) {
		memset(prk, 0, sizeof(prk));
		g_set_error(error, NVFM_ERROR, NVFM_ERROR_NOT_SUPPORTED,
			    "sealed records: AES-256-GCM is not available from libcrypto");
		return NULL;
	}
	memset(prk, 0, sizeof(prk));
	s->preamble = TRUE;
	s->cap = RECV_MIN;
	s->in = g_malloc(s->cap);
	return g_steal_pointer(&s);
}

void nvfm_seal_free(NvfmSeal *s)
{
	if (!s)
		return;
	direction_clear(&s->tx);
	direction_clear(&s->rx);
	g_free(s->in);
	g_free(s);
}

#define CONTENT_APP_DATA 0x17

static void put_header(guint8 *p, gsize body)
{
	p[0] = CONTENT_APP_DATA;
	p[1] = 0x03;
	p[2] = 0x03;
	p[3] = (guint8)(body >> 8);
	p[4] = (guint8)body;
}

gsize nvfm_seal_size(gsize len)
{
	gsize records = (len + NVFM_SEAL_RECORD_MAX - 1) / NVFM_SEAL_RECORD_MAX;

	return len + records * NVFM_SEAL_OVERHEAD;
}

/* One record of @len (1 .. NVFM_SEAL_RECORD_MAX) bytes at @out. */
static gsize seal_one(Direction *d, const guint8 *in, gsize len, guint8 *out)
{
	static const guint8 type = CONTENT_APP_DATA;
	guint8 *ct = out + NVFM_SEAL_HEADER_SIZE;
	guint8 nonce[NONCE_SIZE];
	int n = 0, m = 0, t = 0;

	put_header(out, len + 1 + NVFM_SEAL_TAG_SIZE);
	next_nonce(d, nonce);
	/* GCM with a valid key, nonce and length cannot fail here */
	if (EVP_EncryptInit_ex(d->ctx, NULL, NULL, NULL, nonce) != 1 ||
	    EVP_EncryptUpdate(d->ctx, NULL, &n, out, NVFM_SEAL_HEADER_SIZE) != 1 ||
	    EVP_EncryptUpdate(d->ctx, ct, &n, in, (int)len) != 1 ||
	    EVP_EncryptUpdate(d->ctx, ct + n, &t, &type, 1) != 1 ||
	    EVP_EncryptFinal_ex(d->ctx, ct + n + t, &m) != 1 ||
	    EVP_CIPHER_CTX_ctrl(d->ctx, EVP_CTRL_GCM_GET_TAG, NVFM_SEAL_TAG_SIZE,
				ct + len + 1) != 1)
		g_error("AES-256-GCM sealing failed");
	return len + NVFM_SEAL_OVERHEAD;
}

gsize nvfm_seal_records(NvfmSeal *s, const guint8 *in, gsize len, guint8 *out,
			GError **error)
{
	gsize done = 0, put = 0;

	g_assert(len > 0);
	if (s->tx.seq + (len + NVFM_SEAL_RECORD_MAX - 1) / NVFM_SEAL_RECORD_MAX >
	    NVFM_SEAL_KEY_RECORDS) {
		g_set_error(error, NVFM_ERROR, NVFM_ERROR_PROTOCOL,
			    "sealed records: this connection's key has sealed its %u records; "
			    "a new connection gets a new key", NVFM_SEAL_KEY_RECORDS);
		return 0;
	}
	while (done < len) {
		gsize n = MIN(len - done, (gsize)NVFM_SEAL_RECORD_MAX);

		put += seal_one(&s->tx, in + done, n, out + put);
		done += n;
	}
	return put;
}

/* ---- receiving ---- */

static gboolean is_tls_type(guint8 b)
{
	return b >= 0x14 && b <= 0x18;
}

static gsize record_size(const guint8 *p)
{
	return NVFM_SEAL_HEADER_SIZE + ((gsize)p[3] << 8 | p[4]);
}

/* A sealed record's header: application data, TLS 1.2 on the wire, at
 * most a full record. */
static gboolean header_ok(const guint8 *p, GError **error)
{
	gsize total = record_size(p);

	if (p[0] == CONTENT_APP_DATA && p[1] == 0x03 && p[2] == 0x03 &&
	    total >= NVFM_SEAL_OVERHEAD && total <= NVFM_SEAL_RECORD_MAX + NVFM_SEAL_OVERHEAD)
		return TRUE;
	g_set_error(error, NVFM_ERROR, NVFM_ERROR_PROTOCOL,
		    "sealed records: the peer's next record header (%02x %02x %02x, %zu bytes) "
		    "is not a sealed record's", p[0], p[1], p[2], total - NVFM_SEAL_HEADER_SIZE);
	return FALSE;
}

/* How many bytes the unit under way needs in all (from @head). */
static gsize unit_size(NvfmSeal *s)
{
	gsize avail = s->tail - s->head;
	const guint8 *p = s->in + s->head;

	if (s->preamble && !(avail >= 1 && is_tls_type(p[0])))
		return NVFM_SEAL_PREAMBLE_SIZE;
	return avail >= NVFM_SEAL_HEADER_SIZE ? record_size(p) : NVFM_SEAL_HEADER_SIZE;
}

guint8 *nvfm_seal_recv_space(NvfmSeal *s, gsize *room)
{
	gsize want = MAX(unit_size(s), (gsize)RECV_MIN);

	if (s->p_pos == s->p_end && s->head > 0 && s->cap - s->head < want) {
		memmove(s->in, s->in + s->head, s->tail - s->head);
		s->tail -= s->head;
		s->head = 0;
		s->p_pos = s->p_end = s->p_next = 0;
	}
	/* grow while the peer fills whatever room there is: a bulk
	 * transfer then gets a MiB per receive */
	if (s->cap - s->head < want || s->tail == s->cap) {
		s->cap = MAX(s->head + want, MIN(MAX(s->cap * 2, (gsize)RECV_MIN),
						 (gsize)RECV_MAX));
		if (s->cap == s->tail)
			s->cap += RECV_MIN;
		s->in = g_realloc(s->in, s->cap);
	}
	*room = s->cap - s->tail;
	return s->in + s->tail;
}

void nvfm_seal_received(NvfmSeal *s, gsize n)
{
	g_assert(n <= s->cap - s->tail);
	s->tail += n;
}

gboolean nvfm_seal_has_pending(NvfmSeal *s)
{
	return s->p_pos < s->p_end || s->tail > s->head;
}

gboolean nvfm_seal_ready(NvfmSeal *s)
{
	return s->p_pos < s->p_end || s->tail - s->head >= unit_size(s);
}

static gsize serve(NvfmSeal *s, guint8 *buf, gsize len)
{
	gsize n = MIN(len, s->p_end - s->p_pos);

	memcpy(buf, s->in + s->p_pos, n);
	s->p_pos += n;
	if (s->p_pos == s->p_end)
		s->head = s->p_next;
	return n;
}

/* Past the TLS records before the peer's preamble, and the preamble. */
static int skip_preamble(NvfmSeal *s, gsize *need_out, GError **error)
{
	while (s->preamble) {
		gsize want = unit_size(s), avail = s->tail - s->head;
		const guint8 *p = s->in + s->head;

		if (avail < want) {
			*need_out = want - avail;
			return 0;
		}
		if (is_tls_type(p[0])) {
			s->skipped += want;
			s->head += want;
			if (s->skipped > PREAMBLE_SKIP_MAX) {
				g_set_error(error, NVFM_ERROR, NVFM_ERROR_PROTOCOL,
					    "sealed records: the peer sent more than %u bytes of "
					    "TLS records after the handshake", PREAMBLE_SKIP_MAX);
				return -1;
			}
			continue;
		}
		if (memcmp(p, NVFM_SEAL_PREAMBLE, NVFM_SEAL_PREAMBLE_SIZE) != 0) {
			g_set_error(error, NVFM_ERROR, NVFM_ERROR_PROTOCOL,
				    "sealed records: the peer's bytes after the TLS handshake are "
				    "not a sealed stream");
			return -1;
		}
		s->head += NVFM_SEAL_PREAMBLE_SIZE;
		s->preamble = FALSE;
	}
	return 1;
}

/* Opens the record at @head, @len bytes of data, into @dst (NULL: where
 * it lies). Its content-type byte must say application data. */
static gboolean open_record(NvfmSeal *s, gsize len, guint8 *dst, GError **error)
{
	Direction *d = &s->rx;
	guint8 *rec = s->in + s->head;
	guint8 *ct = rec + NVFM_SEAL_HEADER_SIZE;
	guint8 nonce[NONCE_SIZE], type = 0, fin[16];
	int n = 0, t = 0, m = 0;

	if (!dst)
		dst = ct;
	next_nonce(d, nonce);
	if (EVP_DecryptInit_ex(d->ctx, NULL, NULL, NULL, nonce) == 1 &&
	    EVP_DecryptUpdate(d->ctx, NULL, &n, rec, NVFM_SEAL_HEADER_SIZE) == 1 &&
	    (len == 0 || EVP_DecryptUpdate(d->ctx, dst, &n, ct, (int)len) == 1) &&
	    EVP_DecryptUpdate(d->ctx, &type, &t, ct + len, 1) == 1 &&
	    EVP_CIPHER_CTX_ctrl(d->ctx, EVP_CTRL_GCM_SET_TAG, NVFM_SEAL_TAG_SIZE,
				ct + len + 1) == 1 &&
	    EVP_DecryptFinal_ex(d->ctx, fin, &m) == 1) {
		if (type == CONTENT_APP_DATA)
			return TRUE;
		g_set_error(error, NVFM_ERROR, NVFM_ERROR_PROTOCOL,
			    "sealed record %" G_GUINT64_FORMAT " from the peer is of TLS content "
			    "type %u, not application data", d->seq - 1, type);
		return FALSE;
	}
	g_set_error(error, NVFM_ERROR, NVFM_ERROR_INTEGRITY,
		    "sealed record %" G_GUINT64_FORMAT " from the peer does not open: altered, "
		    "reordered or cut in transit", d->seq - 1);
	return FALSE;
}

int nvfm_seal_take(NvfmSeal *s, guint8 *buf, gsize len, gsize *got, gsize *need_out,
		   GError **error)
{
	*got = 0;
	*need_out = 0;
	if (len == 0)
		return 0;
	for (;;) {
		gsize avail, total, dlen;
		const guint8 *p;
		int r;

		if (s->p_pos < s->p_end) {
			*got = serve(s, buf, len);
			return 1;
		}
		r = skip_preamble(s, need_out, error);
		if (r <= 0)
			return r;
		avail = s->tail - s->head;
		p = s->in + s->head;
		if (avail < NVFM_SEAL_HEADER_SIZE) {
			*need_out = NVFM_SEAL_HEADER_SIZE - avail;
			return 0;
		}
		total = record_size(p);
		if (!header_ok(p, error))
			return -1;
		if (avail < total) {
			*need_out = total - avail;
			return 0;
		}
		dlen = total - NVFM_SEAL_OVERHEAD;
		if (len >= dlen) {
			/* straight into the caller's buffer: no second copy */
			if (!open_record(s, dlen, buf, error))
				return -1;
			s->head += total;
			if (dlen == 0)
				continue;
			*got = dlen;
			return 1;
		}
		if (!open_record(s, dlen, NULL, error))
			return -1;
		s->p_pos = s->head + NVFM_SEAL_HEADER_SIZE;
		s->p_end = s->p_pos + dlen;
		s->p_next = s->head + total;
	}
}

/* ---- handing over to the kernel's TLS ---- */

void nvfm_seal_get_keys(NvfmSeal *s, gboolean tx, NvfmSealKeys *k)
{
	Direction *d = tx ? &s->tx : &s->rx;

	memcpy(k->key, d->key, sizeof(k->key));
	memcpy(k->iv, d->iv, sizeof(k->iv));
	k->seq = d->seq;
}

gssize nvfm_seal_align(NvfmSeal *s, guint64 *next_seq, GError **error)
{
	gsize need = 0, at;
	guint64 seq = s->rx.seq;
	int r = skip_preamble(s, &need, error);

	if (r <= 0)
		return r < 0 ? -1 : (gssize)need;
	for (at = s->p_pos < s->p_end ? s->p_next : s->head; at < s->tail;) {
		const guint8 *p = s->in + at;
		gsize avail = s->tail - at, total;

		if (avail < NVFM_SEAL_HEADER_SIZE)
			return (gssize)(NVFM_SEAL_HEADER_SIZE - avail);
		total = record_size(p);
		if (!header_ok(p, error))
			return -1;
		if (avail < total)
			return (gssize)(total - avail);
		at += total;
		seq++;
	}
	*next_seq = seq;
	return 0;
}
