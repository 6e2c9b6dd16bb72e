/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Every setting of nvme-vf-migrate.conf as one table, and the one place
 * that checks a setting's text, whether it comes from the file, the
 * environment or a flag.
 */
#define G_LOG_DOMAIN "nvfm-config"

#include <string.h>

#include "config-private.h"
#include "util/util-private.h"

static const char *const w_device_state[] = { "direct", "qemu", NULL };
static const char *const w_integrity[] = { "auto", "verify", NULL };
static const char *const w_log[] = { "auto", "stderr", "journal", "file", NULL };
static const char *const w_hostdevs[] = { "listed", "all", NULL };
static const char *const w_unknown[] = { "log", "keep", NULL };

#define DAY 86400

const CfgKeyInfo nvfm_cfg_keys[NVFM_CFG_N_KEYS] = {
	[NVFM_CFG_CLIENT_AGENT] = { "client", "agent", CFG_STRING },
	[NVFM_CFG_CLIENT_PORT] = { "client", "port", CFG_UINT, G_STRINGIFY(NVFM_AGENT_DEFAULT_PORT), 1, 65535 },
	[NVFM_CFG_CLIENT_PKI_DIR] = { "client", "pki_dir", CFG_STRING },
	[NVFM_CFG_CLIENT_DEST_PF] = { "client", "dest_pf", CFG_PF_LIST },
	[NVFM_CFG_CLIENT_DRIVER] = { "client", "driver", CFG_STRING },
	[NVFM_CFG_CLIENT_DEVICE_STATE] = { "client", "device_state", CFG_CHOICE, "direct", 0, 0, w_device_state },
	[NVFM_CFG_CLIENT_TIMEOUT] = { "client", "timeout", CFG_UINT, "30", 1, DAY },
	[NVFM_CFG_CLIENT_PHASE_TIMEOUTS] = { "client", "phase_timeouts", CFG_TIMEOUTS },
	[NVFM_CFG_CLIENT_INTEGRITY] = { "client", "integrity", CFG_CHOICE, "auto", 0, 0, w_integrity },
	[NVFM_CFG_CLIENT_DOWNTIME_LIMIT] = { "client", "downtime_limit", CFG_UINT, "0", 0, 3600 * 1000 },
	[NVFM_CFG_CLIENT_PRECOPY_ROUNDS] = { "client", "precopy_rounds", CFG_UINT, "0", 0, 10000 },
	[NVFM_CFG_CLIENT_PRECOPY_THRESHOLD] = { "client", "precopy_threshold", CFG_SIZE, "4M", 0, G_MAXUINT64 },
	[NVFM_CFG_AGENT_LISTEN] = { "agent", "listen", CFG_STRING },
	[NVFM_CFG_AGENT_PKI_DIR] = { "agent", "pki_dir", CFG_STRING },
	[NVFM_CFG_AGENT_ALLOW] = { "agent", "allow", CFG_LIST },
	[NVFM_CFG_AGENT_ADMIN] = { "agent", "admin", CFG_LIST },
	[NVFM_CFG_AGENT_PF] = { "agent", "pf", CFG_PF_LIST },
	[NVFM_CFG_AGENT_DRIVER] = { "agent", "driver", CFG_LIST },
	[NVFM_CFG_AGENT_INTEGRITY] = { "agent", "integrity", CFG_CHOICE, "auto", 0, 0, w_integrity },
	[NVFM_CFG_AGENT_TIMEOUT] = { "agent", "timeout", CFG_UINT, "30", 1, DAY },
	[NVFM_CFG_AGENT_IDLE_TIMEOUT] = { "agent", "idle_timeout", CFG_UINT, "300", 1, DAY },
	[NVFM_CFG_AGENT_MAX_SESSIONS] = { "agent", "max_sessions", CFG_UINT, "16", 1, 4096 },
	[NVFM_CFG_AGENT_RUNTIME_DIR] = { "agent", "runtime_dir", CFG_STRING },
	[NVFM_CFG_AGENT_LOG] = { "agent", "log", CFG_CHOICE, "auto", 0, 0, w_log },
	[NVFM_CFG_AGENT_LOG_FILE] = { "agent", "log_file", CFG_STRING },
	[NVFM_CFG_AGENT_QMP_DIR] = { "agent", "qmp_dir", CFG_STRING },
	[NVFM_CFG_HOOK_PF] = { "hook", "pf", CFG_PF_LIST },
	[NVFM_CFG_HOOK_DRIVER] = { "hook", "driver", CFG_STRING },
	[NVFM_CFG_HOOK_REQUIRE_MIGRATION] = { "hook", "require_migration", CFG_BOOL, "true" },
	[NVFM_CFG_HOOK_HOSTDEVS] = { "hook", "hostdevs", CFG_CHOICE, "listed", 0, 0, w_hostdevs },
	[NVFM_CFG_HOOK_UNKNOWN_REASON] = { "hook", "unknown_reason", CFG_CHOICE, "log", 0, 0, w_unknown },
	[NVFM_CFG_HOOK_QEMU_LOG_DIR] = { "hook", "qemu_log_dir", CFG_STRING, "/var/log/libvirt/qemu" },
	[NVFM_CFG_HOOK_RUNTIME_DIR] = { "hook", "runtime_dir", CFG_STRING },
	[NVFM_CFG_HOOK_AGENT_RUNTIME_DIR] = { "hook", "agent_runtime_dir", CFG_STRING },
	[NVFM_CFG_HOOK_LOG_FILE] = { "hook", "log_file", CFG_STRING },
	[NVFM_CFG_HOOK_EMU_DIR] = { "hook", "emu_dir", CFG_STRING },
	/* the hook parses the domain XML as root under libvirtd: bounded */
	[NVFM_CFG_HOOK_MAX_XML_SIZE] = { "hook", "max_xml_size", CFG_SIZE, "4M", 64u << 10, 64u << 20 },
};

int nvfm_cfg_key_lookup(const char *section, const char *name)
{
	for (int k = 0; k < NVFM_CFG_N_KEYS; k++)
		if (g_str_equal(nvfm_cfg_keys[k].section, section) &&
		    g_str_equal(nvfm_cfg_keys[k].key, name))
			return k;
	return -1;
}

void nvfm_cfg_slot_clear(CfgSlot *slot)
{
	g_free(slot->text);
	g_strfreev(slot->list);
	g_clear_pointer(&slot->pfs, g_ptr_array_unref);
	memset(slot, 0, sizeof(*slot));
}

static GStrv split_words(const char *text)
{
	g_auto(GStrv) parts = g_strsplit_set(text, ",;", -1);
	GPtrArray *out = g_ptr_array_new();

	for (guint i = 0; parts[i]; i++) {
		char *w = g_strstrip(parts[i]);

		if (*w)
			g_ptr_array_add(out, g_strdup(w));
	}
	g_ptr_array_add(out, NULL);
	return (GStrv)g_ptr_array_free(out, FALSE);
}

static gboolean bad(GError **error, const char *fmt, ...) G_GNUC_PRINTF(2, 3);

static gboolean bad(GError **error, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	g_set_error_literal(error, NVFM_ERROR, NVFM_ERROR_INVALID_ARG, "");
	if (error && *error) {
		g_free((*error)->message);
		(*error)->message = g_strdup_vprintf(fmt, ap);
	}
	va_end(ap);
	return FALSE;
}

static gboolean parse_pfs(CfgSlot *slot, GStrv words, gboolean one, GError **error)
{
	g_autoptr(GString) shown = g_string_new(NULL);

	if (one && g_strv_length(words) != 1)
		return bad(error, "want one PF address");
	slot->pfs = g_ptr_array_new_with_free_func((GDestroyNotify)nvfm_address_free);
	for (guint i = 0; words[i]; i++) {
		NvfmAddress *a = nvfm_address_parse_pf(words[i], error);

		if (!a)
			return FALSE;
		/* kept as spelled: the agent and the messages see what was written */
		g_ptr_array_add(slot->pfs, a);
		g_string_append_printf(shown, "%s%s", i ? ", " : "", words[i]);
	}
	slot->text = g_string_free(g_steal_pointer(&shown), FALSE);
	return TRUE;
}

static gboolean parse_timeouts(CfgSlot *slot, GStrv words, GError **error)
{
	for (guint i = 0; words[i]; i++) {
		g_auto(GStrv) kv = g_strsplit(words[i], "=", 2);
		int ph = nvfm_migrate_phase_from_name(g_strstrip(kv[0]));
		char *end = NULL;
		double s = kv[1] ? g_ascii_strtod(g_strstrip(kv[1]), &end) : 0;

		if (ph < 0 || !end || end == kv[1] || *end || !(s > 0) || s > DAY) {
			g_autofree char *q = nvfm_quote_line(words[i]);

			return bad(error, "'%s': want PHASE=SECONDS items (0 < SECONDS <= %d)",
				   q, DAY);
		}
		slot->timeouts[ph] = (int)(s * 1000);
	}
	return TRUE;
}

gboolean nvfm_cfg_slot_parse(NvfmConfigKey key, const char *text, CfgSlot *slot,
			     GError **error)
{
	const CfgKeyInfo *k = &nvfm_cfg_keys[key];
	g_autofree char *v = g_strstrip(g_strdup(text));
	/* what a message shows of the text: one line whatever it holds */
	g_autofree char *q = nvfm_quote_line(v);
	gboolean ok = TRUE;

	nvfm_cfg_slot_clear(slot);
	switch (k->type) {
	case CFG_STRING:
		if (!*v)
			return bad(error, "must not be empty");
		slot->text = g_steal_pointer(&v);
		return TRUE;
	case CFG_LIST:
	case CFG_PF:
	case CFG_PF_LIST:
	case CFG_TIMEOUTS:
		slot->list = split_words(v);
		if (k->type == CFG_PF || k->type == CFG_PF_LIST)
			ok = parse_pfs(slot, slot->list, k->type == CFG_PF, error);
		else if (k->type == CFG_TIMEOUTS)
			ok = parse_timeouts(slot, slot->list, error);
		if (ok && !slot->text)
			slot->text = g_strjoinv(", ", slot->list);
		break;
	case CFG_UINT:
		if (!g_ascii_string_to_unsigned(v, 10, k->min, k->max, &slot->num, NULL))
			return bad(error, "must be a number from %" G_GUINT64_FORMAT " to %"
				   G_GUINT64_FORMAT ", not '%s'", k->min, k->max, q);
		slot->text = g_strdup_printf("%" G_GUINT64_FORMAT, slot->num);
		return TRUE;
	case CFG_SIZE:
		if (!nvfm_size_parse(v, &slot->num, NULL) || slot->num < k->min ||
		    slot->num > k->max) {
			if (k->max == G_MAXUINT64)
				return bad(error, "must be a size (4096, 64K, 4M, 1G), not '%s'", q);
			return bad(error, "must be a size from %" G_GUINT64_FORMAT "K to %"
				   G_GUINT64_FORMAT "M, not '%s'", k->min >> 10, k->max >> 20, q);
		}
		slot->text = g_steal_pointer(&v);
		return TRUE;
	case CFG_BOOL:
		if (g_ascii_strcasecmp(v, "true") == 0 || g_str_equal(v, "1") ||
		    g_ascii_strcasecmp(v, "yes") == 0)
			slot->num = 1;
		else if (g_ascii_strcasecmp(v, "false") == 0 || g_str_equal(v, "0") ||
			 g_ascii_strcasecmp(v, "no") == 0)
			slot->num = 0;
		else
			return bad(error, "must be true or false, not '%s'", q);
		slot->text = g_strdup(slot->num ? "true" : "false");
		return TRUE;
	case CFG_CHOICE:
		for (guint i = 0; k->words[i]; i++) {
			if (g_str_equal(v, k->words[i])) {
				slot->num = i;
				slot->text = g_steal_pointer(&v);
				return TRUE;
			}
		}
		{
			g_autofree char *all = g_strjoinv(", ", (GStrv)k->words);

			return bad(error, "must be one of %s, not '%s'", all, q);
		}
	}
	if (!ok)
		nvfm_cfg_slot_clear(slot);
	return ok;
}
