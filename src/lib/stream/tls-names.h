/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Who a peer is, for an allow-list (--allow) or the agent's --admin: the
 * names a client certificate carries, read from its parsed subject and
 * subjectAltName (never from a printed subject), and the patterns matched
 * against them (docs/agent.md, "Who may connect"). Internal to libnvfm:
 * transport.c and the agent use it, and tests/unit/test-tls-names.c.
 */
#pragma once

#include <gio/gio.h>

#pragma GCC visibility push(hidden)

/*
 * NvfmPeerNames - what a peer can be called
 * @cn: the subject's CN attribute, %NULL when the subject has none, more
 *	than one (then no CN is trusted, see @n_cn) or one that is not text
 * @n_cn: how many CN attributes the subject has
 * @dns: the dNSName subjectAltNames (strings)
 * @ips: the iPAddress subjectAltNames, as text ("10.0.0.1", "fd00::1");
 *	 for a plain TCP peer, its address
 */
typedef struct {
	char *cn;
	guint n_cn;
	GPtrArray *dns;
	GPtrArray *ips;
} NvfmPeerNames;

/* The names in a DER certificate; %NVFM_ERROR_AUTH if it does not parse. */
NvfmPeerNames *nvfm_peer_names_from_der(const guint8 *der, gsize len, GError **error);

/* The names in a GIO certificate (its "certificate" DER). */
NvfmPeerNames *nvfm_peer_names_from_certificate(GTlsCertificate *cert, GError **error);

/* A plain TCP peer's only name: its address @ip (text). */
NvfmPeerNames *nvfm_peer_names_from_address(const char *ip);

void nvfm_peer_names_free(NvfmPeerNames *names);

/* "CN host-a, DNS host-a.example, IP 10.0.0.1", for log lines. */
char *nvfm_peer_names_describe(const NvfmPeerNames *names);

/*
 * NvfmNamePatterns - compiled allow-list or --admin patterns. "CN=P"
 * matches the subject's one CN; a bare "P" matches that CN, any DNS and
 * any IP subjectAltName. "*" and "?" are wildcards; case matters.
 */
typedef struct _NvfmNamePatterns NvfmNamePatterns;

/*
 * Compile @patterns (%NULL-terminated; empty strings are skipped). @what
 * names the list in errors ("allow-list"). Returns %NULL without an error
 * when no pattern is left, %NULL with %NVFM_ERROR_INVALID_ARG for one
 * that looks like a whole subject or another attribute ("O=x", "CN=a,O=b").
 */
NvfmNamePatterns *nvfm_name_patterns_new(const char *const *patterns, const char *what,
					 GError **error);

void nvfm_name_patterns_free(NvfmNamePatterns *patterns);

/* Whether a pattern of @patterns matches one of @names (%NULL: none). */
gboolean nvfm_name_patterns_match(const NvfmNamePatterns *patterns, const NvfmPeerNames *names);

G_DEFINE_AUTOPTR_CLEANUP_FUNC(NvfmPeerNames, nvfm_peer_names_free)
G_DEFINE_AUTOPTR_CLEANUP_FUNC(NvfmNamePatterns, nvfm_name_patterns_free)

#pragma GCC visibility pop
