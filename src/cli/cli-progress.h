/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The one progress renderer of the CLI: "OP PHASE done/total MiB rate
 * MiB/s ETA" on stderr, as a live line on a terminal or as plain lines
 * for logs (--progress=auto|plain|none).
 */
#pragma once

#include "cli.h"

typedef enum {
	CLI_PROGRESS_AUTO,	/* a live line when stderr is a terminal, else nothing */
	CLI_PROGRESS_PLAIN,	/* a line per phase and every few seconds, anywhere */
	CLI_PROGRESS_NONE,
} CliProgressMode;

typedef struct CliProgress CliProgress;

/* The --progress option of a command's entries; @var is a char *. */
#define CLI_PROGRESS_OPTION(var)                                                          \
	{ "progress", 0, 0, G_OPTION_ARG_STRING, &(var),                                  \
	  "Progress on stderr: auto (a live line on a terminal; default), plain "         \
	  "(lines for logs) or none", "MODE" }

/*
 * A renderer for the operation @op ("save", "migrate" ...) from the text
 * of --progress (NULL: auto). NULL with *@code set to the usage error's
 * exit code when the text is no mode. The renderer draws nothing when it
 * is off (auto off a terminal, --quiet, --json): callers need not care.
 */
CliProgress *cli_progress_new(const char *cmd, const char *op, const char *mode, int *code);
/* Whether anything will be drawn: the caller may skip its callback. */
gboolean cli_progress_active(const CliProgress *p);
/* Bytes of @phase: @total 0 when unknown. Cheap to call often: it draws
 * only on a phase change or when the last draw is old enough. */
void cli_progress_bytes(CliProgress *p, const char *phase, guint64 done, guint64 total);
/* A step that moves no bytes (selftest: "3/12 case-name"). */
void cli_progress_step(CliProgress *p, const char *phase);
/* Ends the live line with a newline (if one is drawn) and frees. */
void cli_progress_free(CliProgress *p);

G_DEFINE_AUTOPTR_CLEANUP_FUNC(CliProgress, cli_progress_free)

/* Adapters for the library's callbacks; @data is the CliProgress. */
void cli_progress_transfer_cb(int phase, guint64 done, guint64 total, gpointer data);
void cli_progress_migrate_cb(NvfmMigratePhase phase, guint64 done, guint64 total,
			     gpointer data);
void cli_progress_selftest_cb(guint index, guint count, const char *name, gpointer data);
