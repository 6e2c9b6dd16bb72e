/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Logging for the long-running parts (the agent, the libvirt hook): the
 * journal with structured fields when it is there, else stderr or a file
 * with the same fields rendered as KEY=VALUE.
 */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

/**
 * NvfmLogFields - what a log line is about; any member may be %NULL
 * @migration_id: MIGRATION_ID, the migration's id
 * @domain: DOMAIN, the libvirt domain (or VM) name
 * @vf: VF, the VF's address
 * @phase: PHASE, the migration phase or the hook's operation
 */
typedef struct {
	const char *migration_id;
	const char *domain;
	const char *vf;
	const char *phase;
} NvfmLogFields;

/**
 * NvfmLogTarget - where log lines go
 * @NVFM_LOG_AUTO: the journal when stderr is connected to it, else stderr
 * @NVFM_LOG_JOURNAL: the journal, with the fields as journal fields
 * @NVFM_LOG_STDERR: stderr, one line each
 * @NVFM_LOG_FILE: a file, appended to, one line each
 */
typedef enum {
	NVFM_LOG_AUTO,
	NVFM_LOG_JOURNAL,
	NVFM_LOG_STDERR,
	NVFM_LOG_FILE,
} NvfmLogTarget;

/**
 * NvfmLog - a log sink
 */
typedef struct _NvfmLog NvfmLog;

/**
 * nvfm_log_target_parse() - parse "auto", "journal", "stderr" or "file"
 * @text: the name
 * @target: return location
 * @error: return location for an error (NVFM_ERROR_INVALID_ARG)
 *
 * Return: %TRUE on success.
 */
gboolean nvfm_log_target_parse(const char *text, NvfmLogTarget *target, GError **error);

/**
 * nvfm_log_new() - open a log sink
 * @target: where lines go; %NVFM_LOG_AUTO is resolved here
 * @file: the file for %NVFM_LOG_FILE (required then, refused otherwise)
 * @ident: SYSLOG_IDENTIFIER in the journal, the prefix of a line elsewhere
 * @error: return location for an error
 *
 * A journal target in a build without libsystemd, or where no journal
 * listens, is an error (NVFM_ERROR_NOT_SUPPORTED).
 *
 * Return: the sink, or %NULL with @error set.
 */
NvfmLog *nvfm_log_new(NvfmLogTarget target, const char *file, const char *ident,
		      GError **error);

/**
 * nvfm_log_free() - close a sink
 * @log: the sink (%NULL is fine)
 */
void nvfm_log_free(NvfmLog *log);

/**
 * nvfm_log_get_target() - where a sink writes
 * @log: the sink
 *
 * Return: the target, never %NVFM_LOG_AUTO.
 */
NvfmLogTarget nvfm_log_get_target(const NvfmLog *log);

/**
 * nvfm_log_write() - write one event
 * @log: the sink
 * @level: G_LOG_LEVEL_WARNING, _MESSAGE, _INFO or _DEBUG
 * @fields: what the event is about (%NULL: nothing)
 * @message: one line
 */
void nvfm_log_write(NvfmLog *log, GLogLevelFlags level, const NvfmLogFields *fields,
		    const char *message);

/**
 * nvfm_log_render() - the text form of an event, as stderr and files get it
 * @level: the level
 * @fields: the fields (%NULL: none)
 * @message: the message
 *
 * "LEVEL: MESSAGE [MIGRATION_ID=.. DOMAIN=.. VF=.. PHASE=..]": the fields
 * that are set, in that order; a value with a blank, a quote or a
 * backslash is double-quoted with \" and \\ escaped; control characters
 * become '?'. No timestamp and no newline.
 *
 * Return: the line (g_free() it).
 */
char *nvfm_log_render(GLogLevelFlags level, const NvfmLogFields *fields, const char *message);

G_DEFINE_AUTOPTR_CLEANUP_FUNC(NvfmLog, nvfm_log_free)

G_END_DECLS
