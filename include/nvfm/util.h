/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

/**
 * nvfm_size_parse() - parse a byte count such as "4096", "64M" or "1GiB"
 * @s: the text (binary multiples: K, M, G, T; optional "iB" or "B")
 * @out: receives the count
 * @error: return location for an error
 *
 * Return: %TRUE on success; %FALSE with %NVFM_ERROR_INVALID_ARG.
 */
gboolean nvfm_size_parse(const char *s, guint64 *out, GError **error);

G_END_DECLS
