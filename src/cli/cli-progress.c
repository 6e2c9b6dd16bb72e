/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The progress line. On a terminal it is one line redrawn in place: "\r",
 * the text cut to the terminal's width (a wrapped line could not be
 * redrawn), then ESC[K, which clears what a longer earlier text left
 * ("MiBiB"). Off a terminal, and only when asked, plain lines: one per
 * phase and every few seconds, for a log. The library calls back from
 * whichever thread moves the bytes, hence the lock.
 */
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "cli-progress.h"

#define LIVE_INTERVAL_US (200 * 1000)
#define PLAIN_INTERVAL_US (5 * G_USEC_PER_SEC)

struct CliProgress {
	GMutex mu;
	char *op;
	gboolean live;		/* the live line, else plain lines */
	char *phase;		/* the phase shown, or NULL before the first call */
	gboolean has_bytes;
	guint64 done, total;
	gint64 phase_start;	/* monotonic us */
	guint64 phase_base;	/* done when the rate's clock started */
	gint64 last_draw;
	gboolean drawn;		/* the live line holds text */
	gboolean pending;	/* a change not drawn yet */
};

CliProgress *cli_progress_new(const char *cmd, const char *op, const char *mode, int *code)
{
	CliProgressMode m;
	CliProgress *p;

	if (!mode || !strcmp(mode, "auto")) {
		m = CLI_PROGRESS_AUTO;
	} else if (!strcmp(mode, "plain")) {
		m = CLI_PROGRESS_PLAIN;
	} else if (!strcmp(mode, "none")) {
		m = CLI_PROGRESS_NONE;
	} else {
		*code = cli_usage_error(cmd, "--progress must be auto, plain or none, not '%s'",
					mode);
		return NULL;
	}
	p = g_new0(CliProgress, 1);
	g_mutex_init(&p->mu);
	p->op = g_strdup(op);
	if (m == CLI_PROGRESS_AUTO &&
	    (!isatty(STDERR_FILENO) || cli_globals.quiet || cli_globals.json))
		m = CLI_PROGRESS_NONE;
	if (m == CLI_PROGRESS_NONE) {
		g_clear_pointer(&p->op, g_free);
		return p;
	}
	p->live = m == CLI_PROGRESS_AUTO;
	return p;
}

gboolean cli_progress_active(const CliProgress *p)
{
	return p && p->op;
}

static int term_width(void)
{
	struct winsize ws;

	if (ioctl(STDERR_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_col > 1)
		return ws.ws_col;
	return 80;
}

static void append_mib(GString *s, guint64 bytes)
{
	g_string_append_printf(s, "%.1f", bytes / 1048576.0);
}

/* "OP PHASE done/total MiB rate MiB/s ETA m:ss"; parts not known left out */
static char *format_line(CliProgress *p, gint64 now)
{
	GString *s = g_string_new(p->op);
	double secs = (now - p->phase_start) / 1e6;
	double rate = secs > 0 && p->done >= p->phase_base ? (p->done - p->phase_base) / secs : 0;

	g_string_append_printf(s, " %s", p->phase);
	if (!p->has_bytes)
		return g_string_free(s, FALSE);
	g_string_append_c(s, ' ');
	append_mib(s, p->done);
	if (p->total) {
		g_string_append_c(s, '/');
		append_mib(s, p->total);
	}
	g_string_append(s, " MiB");
	if (rate > 0) {
		g_string_append_printf(s, " %.1f MiB/s", rate / 1048576.0);
		if (p->total > p->done) {
			guint64 eta = (guint64)((p->total - p->done) / rate + 0.5);

			g_string_append_printf(s, " ETA %" G_GUINT64_FORMAT ":%02u", eta / 60,
					       (guint)(eta % 60));
		}
	}
	return g_string_free(s, FALSE);
}

static void draw_locked(CliProgress *p, gint64 now)
{
	g_autofree char *line = format_line(p, now);

	if (p->live) {
		int w = term_width() - 1;

		/* the text is ASCII: bytes are columns */
		if ((int)strlen(line) > w)
			line[w] = '\0';
		fprintf(stderr, "\r%s\033[K", line);
		p->drawn = TRUE;
	} else {
		fprintf(stderr, "%s\n", line);
	}
	fflush(stderr);
	p->last_draw = now;
	p->pending = FALSE;
}

static void update(CliProgress *p, const char *phase, gboolean has_bytes, guint64 done,
		   guint64 total)
{
	gint64 now = g_get_monotonic_time();
	gboolean changed;

	if (!cli_progress_active(p))
		return;
	g_mutex_lock(&p->mu);
	changed = g_strcmp0(p->phase, phase) != 0;
	/* a log keeps each phase's last count */
	if (changed && p->phase && p->pending && !p->live)
		draw_locked(p, now);
	if (changed) {
		g_free(p->phase);
		p->phase = g_strdup(phase);
		p->phase_start = now;
		p->phase_base = done;
	}
	p->has_bytes = has_bytes;
	p->done = done;
	/* a total is a promise: never show more done than expected */
	p->total = total ? MAX(total, done) : 0;
	p->pending = TRUE;
	if (changed || now - p->last_draw >= (p->live ? LIVE_INTERVAL_US : PLAIN_INTERVAL_US))
		draw_locked(p, now);
	g_mutex_unlock(&p->mu);
}

void cli_progress_bytes(CliProgress *p, const char *phase, guint64 done, guint64 total)
{
	/* a phase that moves nothing (preflight, reserve) shows no count */
	update(p, phase, done || total, done, total);
}

void cli_progress_step(CliProgress *p, const char *phase)
{
	update(p, phase, FALSE, 0, 0);
}

void cli_progress_free(CliProgress *p)
{
	if (!p)
		return;
	if (cli_progress_active(p)) {
		g_mutex_lock(&p->mu);
		/* the last word is the final count */
		if (p->phase && p->pending)
			draw_locked(p, g_get_monotonic_time());
		if (p->drawn)
			fputc('\n', stderr);
		fflush(stderr);
		g_mutex_unlock(&p->mu);
	}
	g_mutex_clear(&p->mu);
	g_free(p->phase);
	g_free(p->op);
	g_free(p);
}

void cli_progress_transfer_cb(int phase, guint64 done, guint64 total, gpointer data)
{
	cli_progress_bytes(data, phase == NVFM_PHASE_PRECOPY ? "precopy" : "stop-copy", done,
			   total);
}

void cli_progress_migrate_cb(NvfmMigratePhase phase, guint64 done, guint64 total,
			     gpointer data)
{
	cli_progress_bytes(data, nvfm_migrate_phase_name(phase), done, total);
}

void cli_progress_selftest_cb(guint index, guint count, const char *name, gpointer data)
{
	g_autofree char *step = g_strdup_printf("%u/%u %s", index, count, name);

	cli_progress_step(data, step);
}
