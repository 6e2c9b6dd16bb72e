/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <glib.h>
#include <jansson.h>

#include "nvfm/address.h"

G_BEGIN_DECLS

/**
 * NvfmLedger - a directory of JSON records, one file per record
 *
 * The agent keeps its reservations in one (nvfm_ledger_new_reservations()),
 * the libvirt hook the VFs it provisioned for incoming domains in another;
 * the hook reads the agent's to learn which VFs the agent reserved. Every
 * write is atomic (a reader sees a whole record or none) and private (the
 * directory 0700, the files 0600); the directory is made at the first
 * write, so reading a ledger never creates anything.
 */
typedef struct _NvfmLedger NvfmLedger;

/**
 * nvfm_ledger_new() - a ledger in a directory
 * @dir: the directory (need not exist yet)
 *
 * Return: the ledger; nothing is read or made yet.
 */
NvfmLedger *nvfm_ledger_new(const char *dir);

/**
 * nvfm_ledger_new_reservations() - the agent's ledger of reservations
 * @agent_runtime_dir: the agent's runtime directory, or %NULL for this
 *	host's default (the "agent" runtime directory)
 *
 * Return: the ledger in @agent_runtime_dir/reservations.
 */
NvfmLedger *nvfm_ledger_new_reservations(const char *agent_runtime_dir);

/**
 * nvfm_ledger_free() - free a ledger; %NULL is fine
 * @ledger: the ledger
 */
void nvfm_ledger_free(NvfmLedger *ledger);

/**
 * nvfm_ledger_dir() - the ledger's directory
 * @ledger: the ledger
 *
 * Return: the path, owned by @ledger.
 */
const char *nvfm_ledger_dir(NvfmLedger *ledger);

/**
 * nvfm_ledger_get() - one record
 * @ledger: the ledger
 * @id: the record's id (1 to 128 of A-Z a-z 0-9 _ . -, not starting with .)
 * @error: return location for an error
 *
 * Return: the record (a new reference), or %NULL with
 * %NVFM_ERROR_NOT_FOUND (no such record), %NVFM_ERROR_INVALID_ARG (a bad
 * id) or %NVFM_ERROR_PROTOCOL (a damaged file).
 */
json_t *nvfm_ledger_get(NvfmLedger *ledger, const char *id, GError **error);

/**
 * nvfm_ledger_put() - write a record, replacing any with the same id
 * @ledger: the ledger
 * @id: the record's id
 * @record: a JSON object
 * @error: return location for an error
 *
 * Return: %TRUE once the record is on disk.
 */
gboolean nvfm_ledger_put(NvfmLedger *ledger, const char *id, json_t *record, GError **error);

/**
 * nvfm_ledger_add() - write a record under a new id
 * @ledger: the ledger
 * @prefix: the id's prefix ("r-")
 * @record: a JSON object
 * @error: return location for an error
 *
 * Return: the new id (free with g_free()), or %NULL.
 */
char *nvfm_ledger_add(NvfmLedger *ledger, const char *prefix, json_t *record, GError **error);

/**
 * nvfm_ledger_remove() - forget a record (an absent one is fine)
 * @ledger: the ledger
 * @id: the record's id
 * @error: return location for an error
 *
 * Return: %TRUE unless the file could not be removed.
 */
gboolean nvfm_ledger_remove(NvfmLedger *ledger, const char *id, GError **error);

/**
 * nvfm_ledger_ids() - the ids of every record
 * @ledger: the ledger
 *
 * Return: a #GPtrArray of strings (empty when the directory is absent).
 */
GPtrArray *nvfm_ledger_ids(NvfmLedger *ledger);

/**
 * nvfm_ledger_find_vf() - the first record whose "vf" is @vf
 * @ledger: the ledger
 * @vf: a VF
 * @id: receives the record's id (free with g_free()), or %NULL
 *
 * Return: the record (a new reference), or %NULL when none names @vf.
 */
json_t *nvfm_ledger_find_vf(NvfmLedger *ledger, const NvfmAddress *vf, char **id);

/**
 * nvfm_ledger_find_ids() - the ids of every record whose @field names
 * the address @addr
 * @ledger: the ledger
 * @field: the record's member holding an address ("vf", "device")
 * @addr: the address
 *
 * Return: a #GPtrArray of strings, sorted (empty when none names @addr).
 */
GPtrArray *nvfm_ledger_find_ids(NvfmLedger *ledger, const char *field, const NvfmAddress *addr);

G_DEFINE_AUTOPTR_CLEANUP_FUNC(NvfmLedger, nvfm_ledger_free)

G_END_DECLS
