/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

/**
 * NvfmSelftestVerdict - outcome of one conformance case
 */
typedef enum {
	NVFM_SELFTEST_PASS,
	NVFM_SELFTEST_FAIL,
	NVFM_SELFTEST_SKIP,
} NvfmSelftestVerdict;

/**
 * NvfmSelftestResult - one conformance case
 * @name: the case's stable name
 * @verdict: pass, fail or skip
 * @detail: why it failed or was skipped, or a measured fact
 * @duration_us: how long it took
 */
typedef struct {
	char *name;
	NvfmSelftestVerdict verdict;
	char *detail;
	gint64 duration_us;
} NvfmSelftestResult;

/**
 * nvfm_selftest_run() - run the VFIO migration conformance suite
 * @address: the device address; the device's state is overwritten
 * @only: a glob of case names to run (* and ? are its wildcards), or %NULL
 *   for all
 * @timeout_ms: bound on each wait for the device (<= 0: 10 s)
 * @error: return location for an error (the device could not be opened)
 *
 * Return: a #GPtrArray of #NvfmSelftestResult (free with
 * g_ptr_array_unref()), or %NULL (%NVFM_ERROR_INVALID_ARG, before the device
 * is opened, when @only matches no case).
 */
GPtrArray *nvfm_selftest_run(const NvfmAddress *address, const char *only, int timeout_ms,
			     GError **error);

/**
 * NvfmSelftestProgressFunc - called as each case starts
 * @index: the case's position among the selected ones, from 1
 * @count: how many cases were selected
 * @name: the case's name
 * @user_data: closure
 */
typedef void (*NvfmSelftestProgressFunc)(guint index, guint count, const char *name,
					 gpointer user_data);

/**
 * nvfm_selftest_run_progress() - nvfm_selftest_run(), telling as it goes
 * @address: the device address; the device's state is overwritten
 * @only: a glob of case names to run, or %NULL for all
 * @timeout_ms: bound on each wait for the device (<= 0: 10 s)
 * @progress: called before each case (may be %NULL)
 * @user_data: its closure
 * @error: return location for an error
 *
 * Return: as nvfm_selftest_run().
 */
GPtrArray *nvfm_selftest_run_progress(const NvfmAddress *address, const char *only,
				      int timeout_ms, NvfmSelftestProgressFunc progress,
				      gpointer user_data, GError **error);

G_END_DECLS
