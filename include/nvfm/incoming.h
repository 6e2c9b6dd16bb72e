/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The destination side of "virsh migrate": the VFs a host provisions for
 * a domain that migrates in, the record it keeps of them until the
 * domain's QEMU has run, and what it gives back when the domain stops.
 * The libvirt hook is a thin caller of these.
 */
#ifndef NVFM_INCOMING_H
#define NVFM_INCOMING_H

#include <glib.h>

#include "nvfm/domxml.h"
#include "nvfm/ledger.h"
#include "nvfm/pf.h"

G_BEGIN_DECLS

/**
 * NvfmIncoming - the record of one incoming domain's VFs
 * @phase: "incoming" until the domain's QEMU started here, then "started"
 * @vfs: the VFs provisioned for it (#NvfmAddress pointers)
 */
typedef struct {
	char *phase;
	GPtrArray *vfs;
} NvfmIncoming;

/**
 * nvfm_incoming_free() - free a record (NULL is fine)
 * @rec: the record
 */
void nvfm_incoming_free(NvfmIncoming *rec);

/**
 * nvfm_incoming_get() - the record of domain @uuid in @ledger
 * @ledger: the records, one per domain UUID
 * @uuid: the domain's UUID
 * @error: return location for an error (a record that cannot be read or
 *	is damaged)
 *
 * Return: the record; or %NULL, with @error unset when there is none.
 */
NvfmIncoming *nvfm_incoming_get(NvfmLedger *ledger, const char *uuid, GError **error);

/**
 * NvfmIncomingOpts - where and how nvfm_incoming_provision() provisions
 * @pfs: the PFs to provision from, in order (#NvfmAddress pointers); for
 *	a VF whose metadata records its NUMA node, those on that node first
 *	(nvfm_pfs_numa_first())
 * @driver: the driver to bind, or %NULL for each PF's default
 * @require_migration: only VFs whose driver supports VFIO migration
 * @reservations: this host's agent's reservations: a VF the agent already
 *	provisioned for this migration is kept as it is
 */
typedef struct {
	GPtrArray *pfs;
	const char *driver;
	gboolean require_migration;
	NvfmLedger *reservations;
} NvfmIncomingOpts;

/**
 * nvfm_incoming_provision() - provision a VF here for each VF of an
 * incoming domain
 * @ledger: the records, one per domain UUID
 * @dom: the domain as the source describes it
 * @vfs: the VFs of @dom to replace (#NvfmDomVf pointers)
 * @opts: where and how
 * @note: told each VF provisioned, kept or released
 * @data: for @note
 * @error: return location for an error
 *
 * A record of an earlier attempt whose QEMU never started is released
 * first; one whose QEMU started refuses the call. Each VF provisioned is
 * recorded at once, so a crash leaves a trail to clean. On failure every
 * VF this call provisioned is released again and the record removed; the
 * error says so and keeps the first failure's code.
 *
 * Return: the sources to replace in the domain XML, mapped to the new
 * addresses (empty when every VF was kept: nothing is recorded then), or
 * %NULL.
 */
GHashTable *nvfm_incoming_provision(NvfmLedger *ledger, NvfmDomain *dom, GPtrArray *vfs,
				    const NvfmIncomingOpts *opts, NvfmNoteFunc note,
				    gpointer data, GError **error);

/**
 * nvfm_incoming_started() - note that domain @uuid's QEMU started here
 * @ledger: the records
 * @uuid: the domain's UUID
 * @error: return location for an error
 *
 * From then on a stop keeps its VFs unless the policy of
 * nvfm_release_scope() says otherwise. A domain without a record is left
 * alone.
 *
 * Return: %TRUE on success.
 */
gboolean nvfm_incoming_started(NvfmLedger *ledger, const char *uuid, GError **error);

/**
 * nvfm_incoming_release() - release the VFs recorded for domain @uuid and
 * remove its record
 * @ledger: the records
 * @uuid: the domain's UUID
 * @note: told each VF released
 * @data: for @note
 * @error: return location for the first failure (the record stays then)
 *
 * Return: %TRUE when nothing failed (also when there is no record).
 */
gboolean nvfm_incoming_release(NvfmLedger *ledger, const char *uuid, NvfmNoteFunc note,
			       gpointer data, GError **error);

/**
 * nvfm_incoming_stopped() - give back what nvfm_release_scope() says when
 * libvirt stopped domain @uuid here
 * @ledger: the records
 * @uuid: the domain's UUID
 * @domain_vfs: the domain's own VFs (#NvfmAddress pointers)
 * @reason: libvirt's stop reason, or %NULL when unknown
 * @reason_note: how @reason was learnt, for the note ("" or ", from the
 *	domain log")
 * @note: told what was released or kept, and why
 * @data: for @note
 * @error: return location for the first failure
 *
 * The record is removed once nothing failed.
 *
 * Return: %TRUE when nothing failed.
 */
gboolean nvfm_incoming_stopped(NvfmLedger *ledger, const char *uuid, GPtrArray *domain_vfs,
			       const char *reason, const char *reason_note, NvfmNoteFunc note,
			       gpointer data, GError **error);

G_DEFINE_AUTOPTR_CLEANUP_FUNC(NvfmIncoming, nvfm_incoming_free)

G_END_DECLS

#endif
