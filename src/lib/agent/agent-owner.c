/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Whose a reservation is (docs/agent.md, "Reservations and their
 * owners"): the identity of the connection that made it, kept in its
 * ledger record so that it outlives the agent. Only that identity, or a
 * client that matches --admin, sees its details, keeps it, releases it
 * or restores into it; everybody else is told it belongs to another
 * client. The identity is the certificate's subject with TLS, the
 * client's address on plain TCP and its uid on a UNIX socket
 * (nvfm_transport_accept()).
 */
#define G_LOG_DOMAIN "nvfm-agent"

#include <string.h>

#include "agent-server.h"

void agent_identify(Session *s)
{
	NvfmAgent *a = s->agent;
	GTlsCertificate *cert;
	g_autoptr(NvfmPeerNames) names = NULL;
	g_autoptr(GError) err = NULL;

	if (!a->admin)
		return;
	cert = nvfm_channel_get_peer_certificate(s->ch);
	if (cert)
		names = nvfm_peer_names_from_certificate(cert, &err);
	else if (!a->unix_socket)
		names = nvfm_peer_names_from_address(s->identity);
	/* on a UNIX socket every client is the socket owner's uid: one
	 * identity, nobody to tell apart */
	s->admin = names && nvfm_name_patterns_match(a->admin, names);
	if (s->admin)
		agent_log(a, G_LOG_LEVEL_INFO, "%s (%s) is an administrator (--admin)", s->peer,
			  s->identity);
}

const char *agent_identity(Session *s)
{
	return s->identity ? s->identity : s->peer;
}

gboolean agent_owns(Session *s, json_t *rec)
{
	const char *owner = json_string_value(json_object_get(rec, "identity"));

	/* a record without an owner is nobody's: only an admin touches it */
	return s->admin || (owner && strcmp(owner, agent_identity(s)) == 0);
}

static void set_not_yours(GError **error, const char *what)
{
	g_set_error(error, NVFM_ERROR, NVFM_ERROR_PERMISSION,
		    "%s belongs to another client (only the client that reserved it, or an "
		    "--admin client, may use or release it)", what);
}

/* A reservation's record, or %NULL with the reason. */
json_t *agent_reservation_read(NvfmAgent *a, const char *resv, GError **error)
{
	json_t *rec;

	if (!g_regex_match_simple("^r-[0-9a-f]{1,32}$", resv, 0, 0)) {
		g_set_error(error, NVFM_ERROR, NVFM_ERROR_INVALID_ARG,
			    "invalid reservation id '%s'", resv);
		return NULL;
	}
	rec = nvfm_ledger_get(a->ledger, resv, NULL);
	if (!rec || !json_string_value(json_object_get(rec, "vf"))) {
		json_decref(rec);
		g_set_error(error, NVFM_ERROR, NVFM_ERROR_NOT_FOUND,
			    "no reservation '%s' on this host", resv);
		return NULL;
	}
	return rec;
}

json_t *agent_reservation_open(Session *s, const char *resv, GError **error)
{
	json_auto_t *rec = agent_reservation_read(s->agent, resv, error);
	g_autofree char *what = NULL;

	if (!rec)
		return NULL;
	if (agent_owns(s, rec))
		return g_steal_pointer(&rec);
	what = g_strdup_printf("reservation %s", resv);
	set_not_yours(error, what);
	return NULL;
}

/* The ids of the reservations whose @field names @addr; *@others counts
 * those that are not @s's. */
static GPtrArray *reservations_naming(Session *s, const char *field, const NvfmAddress *addr,
				      guint *others)
{
	NvfmAgent *a = s->agent;
	GPtrArray *ids;

	*others = 0;
	g_mutex_lock(&a->res_mu);
	ids = nvfm_ledger_find_ids(a->ledger, field, addr);
	for (guint i = 0; i < ids->len; i++) {
		json_auto_t *rec = nvfm_ledger_get(a->ledger, g_ptr_array_index(ids, i), NULL);

		*others += !rec || !agent_owns(s, rec);
	}
	g_mutex_unlock(&a->res_mu);
	return ids;
}

gboolean agent_target_usable(Session *s, const NvfmAddress *dev, GError **error)
{
	guint others;
	g_autoptr(GPtrArray) ids = reservations_naming(s, "device", dev, &others);
	g_autofree char *what = NULL;

	if (!others)
		return TRUE;
	what = g_strdup_printf("device %s is reserved and", dev->text);
	set_not_yours(error, what);
	return FALSE;
}

GPtrArray *agent_vf_reservations(Session *s, const NvfmAddress *vf, GError **error)
{
	guint others;
	g_autoptr(GPtrArray) ids = reservations_naming(s, "vf", vf, &others);

	if (others) {
		g_autofree char *what = g_strdup_printf("VF %s is reserved and", vf->text);

		set_not_yours(error, what);
		return NULL;
	}
	if (!ids->len && !s->admin) {
		g_set_error(error, NVFM_ERROR, NVFM_ERROR_PERMISSION,
			    "VF %s has no reservation of this client's (only an --admin client may "
			    "release a VF it did not reserve)", vf->text);
		return NULL;
	}
	return g_steal_pointer(&ids);
}
