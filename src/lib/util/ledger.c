// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * A ledger: records as JSON files in one private directory, written with
 * the one atomic writer. The agent's reservations and the libvirt hook's
 * incoming VFs are both kept this way; see include/nvfm/ledger.h.
 */
#define G_LOG_DOMAIN "nvfm-ledger"

#include <string.h>
#include <unistd.h>

#include "nvfm/ledger.h"
#include "util-private.h"

#define ID_MAX 128

struct _NvfmLedger {
	char *dir;
	/* one writer at a time inside this process; files are replaced
	 * atomically, so other processes only ever see whole records */
	GMutex mu;
};

NvfmLedger *nvfm_ledger_new(const char *dir)
{
	NvfmLedger *l = g_new0(NvfmLedger, 1);

	l->dir = g_strdup(dir);
	g_mutex_init(&l->mu);
	return l;
}

NvfmLedger *nvfm_ledger_new_reservations(const char *agent_runtime_dir)
{
	g_autofree char *rt = agent_runtime_dir ? g_strdup(agent_runtime_dir) :
						  nvfm_runtime_dir("agent", NULL);
	g_autofree char *dir = g_build_filename(rt, "reservations", NULL);

	return nvfm_ledger_new(dir);
}

void nvfm_ledger_free(NvfmLedger *ledger)
{
	if (!ledger)
		return;
	g_mutex_clear(&ledger->mu);
	g_free(ledger->dir);
	g_free(ledger);
}

const char *nvfm_ledger_dir(NvfmLedger *ledger)
{
	return ledger->dir;
}

static gboolean id_valid(const char *id)
{
	gsize n = id ? strlen(id) : 0;

	if (n == 0 || n > ID_MAX || id[0] == '.')
		return FALSE;
	for (gsize i = 0; i < n; i++) {
		if (!g_ascii_isalnum(id[i]) && !strchr("_.-", id[i]))
			return FALSE;
	}
	return TRUE;
}

static char *record_path(NvfmLedger *l, const char *id, GError **error)
{
	g_autofree char *name = NULL;

	if (!id_valid(id)) {
		g_set_error(error, NVFM_ERROR, NVFM_ERROR_INVALID_ARG, "invalid record id '%s'",
			    id ? id : "");
		return NULL;
	}
	name = g_strconcat(id, ".json", NULL);
	return g_build_filename(l->dir, name, NULL);
}

json_t *nvfm_ledger_get(NvfmLedger *ledger, const char *id, GError **error)
{
	g_autofree char *path = record_path(ledger, id, error);

	return path ? nvfm_json_read_file(path, error) : NULL;
}

gboolean nvfm_ledger_put(NvfmLedger *ledger, const char *id, json_t *record, GError **error)
{
	g_autofree char *path = record_path(ledger, id, error);
	gboolean ok;

	if (!path)
		return FALSE;
	g_mutex_lock(&ledger->mu);
	ok = nvfm_private_dir(ledger->dir, error) && nvfm_json_write_runtime(path, record, error);
	g_mutex_unlock(&ledger->mu);
	return ok;
}

char *nvfm_ledger_add(NvfmLedger *ledger, const char *prefix, json_t *record, GError **error)
{
	g_autofree char *id = g_strdup_printf("%s%08x%08x", prefix, g_random_int(),
					      g_random_int());

	return nvfm_ledger_put(ledger, id, record, error) ? g_steal_pointer(&id) : NULL;
}

gboolean nvfm_ledger_remove(NvfmLedger *ledger, const char *id, GError **error)
{
	g_autofree char *path = record_path(ledger, id, error);

	if (!path)
		return FALSE;
	if (unlink(path) < 0 && errno != ENOENT) {
		nvfm_set_error_errno(error, -errno, "removing %s", path);
		return FALSE;
	}
	return TRUE;
}

GPtrArray *nvfm_ledger_ids(NvfmLedger *ledger)
{
	GPtrArray *out = g_ptr_array_new_with_free_func(g_free);
	g_autoptr(GDir) d = g_dir_open(ledger->dir, 0, NULL);
	const char *name;

	while (d && (name = g_dir_read_name(d))) {
		g_autofree char *id = NULL;

		if (!g_str_has_suffix(name, ".json"))
			continue;
		id = g_strndup(name, strlen(name) - strlen(".json"));
		if (id_valid(id))
			g_ptr_array_add(out, g_steal_pointer(&id));
	}
	g_ptr_array_sort(out, (GCompareFunc)g_strcmp0);
	return out;
}

/* @rid's record if its @field is the address @addr */
static json_t *record_naming(NvfmLedger *ledger, const char *rid, const char *field,
			     const NvfmAddress *addr)
{
	json_t *rec = nvfm_ledger_get(ledger, rid, NULL);
	const char *text = rec ? json_string_value(json_object_get(rec, field)) : NULL;
	g_autoptr(NvfmAddress) a = text ? nvfm_address_parse(text, NULL) : NULL;

	if (a && nvfm_address_equal(a, addr))
		return rec;
	json_decref(rec);
	return NULL;
}

json_t *nvfm_ledger_find_vf(NvfmLedger *ledger, const NvfmAddress *vf, char **id)
{
	g_autoptr(GPtrArray) ids = nvfm_ledger_ids(ledger);

	for (guint i = 0; vf && i < ids->len; i++) {
		const char *rid = g_ptr_array_index(ids, i);
		json_t *rec = record_naming(ledger, rid, "vf", vf);

		if (rec) {
			if (id)
				*id = g_strdup(rid);
			return rec;
		}
	}
	return NULL;
}

GPtrArray *nvfm_ledger_find_ids(NvfmLedger *ledger, const char *field, const NvfmAddress *addr)
{
	g_autoptr(GPtrArray) ids = nvfm_ledger_ids(ledger);
	GPtrArray *out = g_ptr_array_new_with_free_func(g_free);

	for (guint i = 0; addr && i < ids->len; i++) {
		json_auto_t *rec = record_naming(ledger, g_ptr_array_index(ids, i), field, addr);

		if (rec)
			g_ptr_array_add(out, g_strdup(g_ptr_array_index(ids, i)));
	}
	return out;
}
