/* SPDX-License-Identifier: GPL-2.0-or-later */
/* A JSON list of records as a text table headed by the records' keys. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

/* What a cell shows: a string as it is, nothing as "-", a real number in
 * up to 10 digits (2097152, 3.5), anything else as its compact JSON
 * (true, 5, [0]). */
static char *cell_text(json_t *v)
{
	char *s;

	if (!v || json_is_null(v))
		return g_strdup("-");
	if (json_is_string(v))
		return g_strdup(*json_string_value(v) ? json_string_value(v) : "-");
	if (json_is_real(v))
		return g_strdup_printf("%.10g", json_real_value(v));
	s = json_dumps(v, JSON_ENCODE_ANY | JSON_COMPACT | JSON_REAL_PRECISION(6));
	if (s) {
		char *copy = g_strdup(s);

		free(s);
		return copy;
	}
	return g_strdup("?");
}

static gboolean has_column(GPtrArray *cols, const char *key)
{
	for (guint i = 0; i < cols->len; i++)
		if (strcmp(cols->pdata[i], key) == 0)
			return TRUE;
	return FALSE;
}

static int cmp_str(gconstpointer a, gconstpointer b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* @first (those some row has), then every other key of the rows, sorted */
static GPtrArray *table_columns(json_t *rows, const char *const *first)
{
	GPtrArray *cols = g_ptr_array_new();
	g_autoptr(GPtrArray) rest = g_ptr_array_new();
	json_t *row, *v;
	const char *key;
	gsize i;

	for (const char *const *c = first; c && *c; c++)
		json_array_foreach(rows, i, row)
			if (json_object_get(row, *c)) {
				g_ptr_array_add(cols, (gpointer)*c);
				break;
			}
	json_array_foreach(rows, i, row)
		json_object_foreach(row, key, v)
			if (!has_column(cols, key) && !has_column(rest, key))
				g_ptr_array_add(rest, (gpointer)key);
	g_ptr_array_sort(rest, cmp_str);
	for (guint c = 0; c < rest->len; c++)
		g_ptr_array_add(cols, rest->pdata[c]);
	return cols;
}

/* Right-aligned: a column whose every cell is a number. */
static gboolean numeric_column(json_t *rows, const char *key)
{
	json_t *row;
	gsize i;

	json_array_foreach(rows, i, row)
		if (!json_is_number(json_object_get(row, key)))
			return FALSE;
	return TRUE;
}

static void print_cell(const char *text, guint width, gboolean right, gboolean last)
{
	guint pad = width - (guint)g_utf8_strlen(text, -1);

	if (right)
		printf("%*s%s", (int)pad, "", text);
	else if (last)
		fputs(text, stdout);
	else
		printf("%s%*s", text, (int)pad, "");
	if (!last)
		fputs(" ", stdout);
}

/*
 * Prints @rows, a JSON array of objects, as a table indented by two
 * spaces: a header of the rows' keys upper-cased, then one line per row.
 * The columns named in @first (NULL-terminated, may be NULL) come first in
 * that order, every other key of the rows follows sorted, so each field
 * of the JSON has its column. A column is as wide as its widest cell.
 */
void cli_print_table(json_t *rows, const char *const *first)
{
	g_autoptr(GPtrArray) cols = table_columns(rows, first);
	guint n = cols->len, nrows = (guint)json_array_size(rows);
	g_autofree guint *width = g_new0(guint, n ? n : 1);
	g_autofree gboolean *right = g_new0(gboolean, n ? n : 1);
	g_autoptr(GPtrArray) cells = g_ptr_array_new_with_free_func(g_free);
	g_autoptr(GPtrArray) heads = g_ptr_array_new_with_free_func(g_free);

	if (!n)
		return;
	for (guint c = 0; c < n; c++) {
		char *h = g_ascii_strup(cols->pdata[c], -1);

		g_ptr_array_add(heads, h);
		width[c] = (guint)strlen(h);
		right[c] = numeric_column(rows, cols->pdata[c]);
	}
	for (guint r = 0; r < nrows; r++)
		for (guint c = 0; c < n; c++) {
			char *t = cell_text(json_object_get(json_array_get(rows, r), cols->pdata[c]));

			width[c] = MAX(width[c], (guint)g_utf8_strlen(t, -1));
			g_ptr_array_add(cells, t);
		}
	fputs("  ", stdout);
	for (guint c = 0; c < n; c++)
		print_cell(heads->pdata[c], width[c], right[c], c + 1 == n);
	fputs("\n", stdout);
	for (guint r = 0; r < nrows; r++) {
		fputs("  ", stdout);
		for (guint c = 0; c < n; c++)
			print_cell(cells->pdata[r * n + c], width[c], right[c], c + 1 == n);
		fputs("\n", stdout);
	}
}
