/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Small helpers shared by the library: clocks, polling, sizes. */
#define G_LOG_DOMAIN "nvfm-util"

#include <poll.h>
#include <stdlib.h>
#include <time.h>

#include "util-private.h"

gint64 nvfm_now_us(void)
{
	return g_get_monotonic_time();
}

/* Returns 1 when ready, 0 on timeout, -errno on failure. EINTR restarts
 * with the remaining time so a signal never shortens the wait. */
int nvfm_poll_fd(int fd, short events, int timeout_ms)
{
	gint64 deadline = timeout_ms < 0 ? -1 : nvfm_now_us() + (gint64)timeout_ms * 1000;
	struct pollfd p = { .fd = fd, .events = events };

	for (;;) {
		int left = -1;
		int r;

		if (deadline >= 0) {
			gint64 now = nvfm_now_us();

			left = now >= deadline ? 0 : (int)((deadline - now + 999) / 1000);
		}
		r = poll(&p, 1, left);
		if (r > 0)
			return 1;
		if (r == 0)
			return 0;
		if (errno != EINTR)
			return -errno;
	}
}

void nvfm_close_fd(int *fd)
{
	if (*fd >= 0) {
		close(*fd);
		*fd = -1;
	}
}

gboolean nvfm_size_parse(const char *s, guint64 *out, GError **error)
{
	char *end = NULL;
	guint64 v, mult = 1;

	if (!s || !g_ascii_isdigit(*s))
		goto bad;
	errno = 0;
	v = g_ascii_strtoull(s, &end, 10);
	if (errno)
		goto bad;
	if (*end) {
		switch (g_ascii_toupper(*end)) {
		case 'K': mult = 1ull << 10; break;
		case 'M': mult = 1ull << 20; break;
		case 'G': mult = 1ull << 30; break;
		case 'T': mult = 1ull << 40; break;
		case 'B': mult = 1; break;
		default: goto bad;
		}
		end++;
		if (g_ascii_toupper(end[0]) == 'I' && g_ascii_toupper(end[1]) == 'B')
			end += 2;
		else if (g_ascii_toupper(end[0]) == 'B')
			end++;
		if (*end)
			goto bad;
	}
	if (v && mult > G_MAXUINT64 / v)
		goto bad;
	*out = v * mult;
	return TRUE;
bad:
	g_set_error(error, NVFM_ERROR, NVFM_ERROR_INVALID_ARG,
		    "invalid size '%s' (expected e.g. 4096, 64M, 1GiB)", s ? s : "");
	return FALSE;
}

char *nvfm_quote_line(const char *s)
{
	GString *out = g_string_new(NULL);

	for (const guchar *p = (const guchar *)(s ? s : ""); *p; p++) {
		if (*p == '\n')
			g_string_append(out, "\\n");
		else if (*p == '\r')
			g_string_append(out, "\\r");
		else if (*p == '\t')
			g_string_append(out, "\\t");
		else if (*p < 0x20 || *p == 0x7f)
			g_string_append_printf(out, "\\x%02x", *p);
		else
			g_string_append_c(out, (char)*p);
	}
	return g_string_free(out, FALSE);
}

char *nvfm_format_size(guint64 bytes)
{
	return g_format_size_full(bytes, G_FORMAT_SIZE_IEC_UNITS);
}
