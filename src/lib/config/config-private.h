/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The configuration's settings as data (config-keys.c) and the slot each
 * holds its checked value in (config-file.c keeps the layers).
 */
#pragma once

#include "nvfm/nvfm.h"
#include "nvfm/config-file.h"

#pragma GCC visibility push(hidden)

typedef enum {
	CFG_STRING,	/* free text: an address, a path, a driver name */
	CFG_LIST,	/* words separated by ',' or ';' */
	CFG_PF,		/* one PF address */
	CFG_PF_LIST,	/* PF addresses, in order */
	CFG_UINT,	/* a number within [min, max] */
	CFG_SIZE,	/* a byte count within [min, max] */
	CFG_BOOL,
	CFG_CHOICE,	/* one of words[] */
	CFG_TIMEOUTS,	/* PHASE=SECONDS items */
} CfgType;

typedef struct {
	const char *section;
	const char *key;
	CfgType type;
	const char *def;	/* the built-in default, as file text; NULL: unset */
	guint64 min, max;
	const char *const *words;	/* CFG_CHOICE */
} CfgKeyInfo;

/* one setting's checked value */
typedef struct {
	NvfmConfigSource source;
	guint line;		/* NVFM_CONFIG_FILE: its line */
	char *text;		/* normalised; NULL: unset */
	guint64 num;
	GStrv list;
	GPtrArray *pfs;		/* NvfmAddress * */
	int timeouts[NVFM_MIGRATE_N_PHASES];
} CfgSlot;

extern const CfgKeyInfo nvfm_cfg_keys[NVFM_CFG_N_KEYS];

/* the key of @section / @name, or -1 */
int nvfm_cfg_key_lookup(const char *section, const char *name);

/*
 * Checks @text against @key's rules into @slot (cleared first, left
 * cleared on failure). The error says what the setting accepts; the
 * caller prefixes where the text came from.
 */
gboolean nvfm_cfg_slot_parse(NvfmConfigKey key, const char *text, CfgSlot *slot,
			     GError **error);

void nvfm_cfg_slot_clear(CfgSlot *slot);

/* defaults and @text as if read from the file @name, without the
 * environment (for the fuzz target) */
NvfmConfig *nvfm_cfg_load_text(const char *name, const char *text, gsize len, GError **error);

#pragma GCC visibility pop
