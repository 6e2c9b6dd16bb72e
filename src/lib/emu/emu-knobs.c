// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * The emulated VF's fault knobs (nvme-vf-migrate emu fault), as one table:
 * each knob's name, how its value is read and what disarms it. The same
 * table parses a value from the command line, loads NAME.faults and writes
 * it back, so a knob is added in one place.
 */
#define G_LOG_DOMAIN "nvfm-emu"

#include <stddef.h>
#include <string.h>

#include "emu-private.h"

typedef enum {
	KNOB_ARC,	/* "FROM>TO": fail_arc, fail_from, fail_to */
	KNOB_OFFSET,	/* a byte count, gint64, -1 = disarmed */
	KNOB_COUNT,	/* a count, guint64, 0 = disarmed */
	KNOB_FLAG,	/* 0 or 1, gboolean */
} KnobKind;

typedef struct {
	const char *name;
	KnobKind kind;
	gsize field;
	guint64 max;
} Knob;

static const Knob knobs[] = {
	{ "fail-arc", KNOB_ARC, offsetof(EmuFaults, fail_arc), 0 },
	{ "corrupt-byte", KNOB_OFFSET, offsetof(EmuFaults, corrupt_byte), G_MAXINT64 },
	{ "slow-us", KNOB_COUNT, offsetof(EmuFaults, slow_us), 60000000 },
	{ "stop-after", KNOB_OFFSET, offsetof(EmuFaults, stop_after), G_MAXINT64 },
	{ "truncate-after", KNOB_OFFSET, offsetof(EmuFaults, truncate_after), G_MAXINT64 },
	{ "reject-resume", KNOB_FLAG, offsetof(EmuFaults, reject_resume), 1 },
	{ "keep-state", KNOB_FLAG, offsetof(EmuFaults, keep_state), 1 },
	{ "precopy-eof-zero", KNOB_FLAG, offsetof(EmuFaults, precopy_eof_zero), 1 },
	{ "accept-corrupt", KNOB_FLAG, offsetof(EmuFaults, accept_corrupt), 1 },
	{ "size-lie", KNOB_COUNT, offsetof(EmuFaults, size_lie), G_MAXINT64 },
	{ "no-reset", KNOB_FLAG, offsetof(EmuFaults, no_reset), 1 },
	{ "stall-ms", KNOB_COUNT, offsetof(EmuFaults, stall_ms), 3600000 },
	{ "dma-logging", KNOB_FLAG, offsetof(EmuFaults, dma_logging), 1 },
	{ "iommu-dirty", KNOB_FLAG, offsetof(EmuFaults, iommu_dirty), 1 },
	{ "dma-writes", KNOB_COUNT, offsetof(EmuFaults, dma_writes), 1u << 20 },
	{ "dma-lax", KNOB_FLAG, offsetof(EmuFaults, dma_lax), 1 },
};

#define FIELD(f, k, type) ((type *)((char *)(f) + (k)->field))

static const Knob *knob_find(const char *name)
{
	for (guint i = 0; i < G_N_ELEMENTS(knobs); i++)
		if (g_strcmp0(name, knobs[i].name) == 0)
			return &knobs[i];
	return NULL;
}

static void knob_disarm(EmuFaults *f, const Knob *k)
{
	switch (k->kind) {
	case KNOB_ARC:
	case KNOB_FLAG:
		*FIELD(f, k, gboolean) = FALSE;
		break;
	case KNOB_OFFSET:
		*FIELD(f, k, gint64) = -1;
		break;
	case KNOB_COUNT:
		*FIELD(f, k, guint64) = 0;
		break;
	}
}

/* Arms @k from its text form; NULL disarms it. */
static gboolean knob_set(EmuFaults *f, const Knob *k, const char *value, GError **error)
{
	g_autoptr(GError) err = NULL;
	g_auto(GStrv) parts = NULL;
	guint64 v;

	knob_disarm(f, k);
	if (!value)
		return TRUE;
	if (k->kind == KNOB_ARC) {
		parts = g_strsplit(value, ">", 2);
		if (g_strv_length(parts) != 2) {
			g_set_error(error, NVFM_ERROR, NVFM_ERROR_INVALID_ARG,
				    "invalid value '%s' for fault knob fail-arc "
				    "(expected FROM>TO, e.g. STOP>STOP_COPY)", value);
			return FALSE;
		}
		if (!nvfm_mig_state_parse(g_strstrip(parts[0]), &f->fail_from, error) ||
		    !nvfm_mig_state_parse(g_strstrip(parts[1]), &f->fail_to, error))
			return FALSE;
		f->fail_arc = TRUE;
		return TRUE;
	}
	if (!g_ascii_string_to_unsigned(value, 10, 0, k->max, &v, &err)) {
		g_set_error(error, NVFM_ERROR, NVFM_ERROR_INVALID_ARG,
			    "invalid value '%s' for fault knob %s: %s", value, k->name, err->message);
		return FALSE;
	}
	if (k->kind == KNOB_OFFSET)
		*FIELD(f, k, gint64) = (gint64)v;
	else if (k->kind == KNOB_COUNT)
		*FIELD(f, k, guint64) = v;
	else
		*FIELD(f, k, gboolean) = v != 0;
	return TRUE;
}

/* @k's text form, or NULL when it is disarmed. */
static char *knob_get(const EmuFaults *f, const Knob *k)
{
	switch (k->kind) {
	case KNOB_ARC:
		return f->fail_arc ? g_strdup_printf("%s>%s", nvfm_mig_state_name(f->fail_from),
						     nvfm_mig_state_name(f->fail_to)) : NULL;
	case KNOB_OFFSET: {
		gint64 v = *FIELD(f, k, const gint64);

		return v >= 0 ? g_strdup_printf("%" G_GINT64_FORMAT, v) : NULL;
	}
	case KNOB_COUNT: {
		guint64 v = *FIELD(f, k, const guint64);

		return v ? g_strdup_printf("%" G_GUINT64_FORMAT, v) : NULL;
	}
	case KNOB_FLAG:
		return *FIELD(f, k, const gboolean) ? g_strdup("1") : NULL;
	}
	return NULL;
}

void emu_faults_init(EmuFaults *f)
{
	memset(f, 0, sizeof(*f));
	for (guint i = 0; i < G_N_ELEMENTS(knobs); i++)
		knob_disarm(f, &knobs[i]);
}

gboolean emu_faults_set(EmuFaults *f, const char *knob, const char *value, GError **error)
{
	const Knob *k = knob_find(knob);
	g_autoptr(GString) names = NULL;

	if (k)
		return knob_set(f, k, value, error);
	names = g_string_new(NULL);
	for (guint i = 0; i < G_N_ELEMENTS(knobs); i++)
		g_string_append_printf(names, "%s%s", i == 0 ? "" :
				       i + 1 == G_N_ELEMENTS(knobs) ? " or " : ", ", knobs[i].name);
	g_set_error(error, NVFM_ERROR, NVFM_ERROR_INVALID_ARG,
		    "unknown fault knob '%s' (expected %s)", knob ? knob : "", names->str);
	return FALSE;
}

/* Counts are JSON integers, the arc a string: the file reads as it always did. */
json_t *emu_faults_to_json(const EmuFaults *f)
{
	json_t *o = json_object();

	for (guint i = 0; i < G_N_ELEMENTS(knobs); i++) {
		g_autofree char *v = knob_get(f, &knobs[i]);

		if (!v)
			continue;
		json_object_set_new(o, knobs[i].name, knobs[i].kind == KNOB_ARC ? json_string(v) :
				    json_integer((json_int_t)g_ascii_strtoull(v, NULL, 10)));
	}
	return o;
}

gboolean emu_faults_load(const char *dir, const char *name, EmuFaults *f, GError **error)
{
	g_autofree char *path = emu_path(dir, name, ".faults");
	json_auto_t *root = NULL;
	json_error_t jerr;

	emu_faults_init(f);
	if (!g_file_test(path, G_FILE_TEST_EXISTS))
		return TRUE;
	root = json_load_file(path, 0, &jerr);
	if (!json_is_object(root)) {
		g_set_error(error, NVFM_ERROR, NVFM_ERROR_PROTOCOL, "%s is damaged: %s", path,
			    jerr.text);
		return FALSE;
	}
	for (guint i = 0; i < G_N_ELEMENTS(knobs); i++) {
		json_t *v = json_object_get(root, knobs[i].name);
		g_autofree char *text = NULL;

		if (!v)
			continue;
		text = json_is_string(v) ? g_strdup(json_string_value(v)) :
		       json_is_integer(v) && json_integer_value(v) >= 0 ?
			       g_strdup_printf("%" JSON_INTEGER_FORMAT, json_integer_value(v)) : NULL;
		if (!text || !knob_set(f, &knobs[i], text, NULL)) {
			g_set_error(error, NVFM_ERROR, NVFM_ERROR_PROTOCOL, "%s is damaged: %s", path,
				    knobs[i].name);
			return FALSE;
		}
	}
	return TRUE;
}

gboolean emu_faults_save(const char *dir, const char *name, const EmuFaults *f, GError **error)
{
	g_autofree char *path = emu_path(dir, name, ".faults");
	json_auto_t *o = emu_faults_to_json(f);
	g_autofree char *text = NULL;

	if (json_object_size(o) == 0) {
		if (unlink(path) < 0 && errno != ENOENT) {
			nvfm_set_error_errno(error, -errno, "removing %s", path);
			return FALSE;
		}
		return TRUE;
	}
	text = json_dumps(o, JSON_INDENT(2) | JSON_SORT_KEYS);
	return nvfm_file_write_runtime(path, text, strlen(text), 0600, error);
}
