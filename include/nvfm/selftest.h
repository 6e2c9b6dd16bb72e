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
	NVFM_SELFTEST_WARN,
} NvfmSelftestVerdict;

/**
 * NvfmSelftestGrade - what a case's promise rests on
 * @NVFM_SELFTEST_REQUIREMENT: the VFIO uAPI says must (or defines it so);
 *   not met: %NVFM_SELFTEST_FAIL
 * @NVFM_SELFTEST_RECOMMENDATION: the uAPI says should, or every upstream
 *   driver does it; not met: %NVFM_SELFTEST_WARN
 * @NVFM_SELFTEST_ROBUSTNESS: not in the uAPI, but a driver that fails it is
 *   fragile; not met: %NVFM_SELFTEST_WARN
 */
typedef enum {
	NVFM_SELFTEST_REQUIREMENT,
	NVFM_SELFTEST_RECOMMENDATION,
	NVFM_SELFTEST_ROBUSTNESS,
} NvfmSelftestGrade;

/**
 * nvfm_selftest_grade_name() - "requirement", "recommendation" or "robustness"
 * @grade: a grade
 *
 * Return: a static string.
 */
const char *nvfm_selftest_grade_name(NvfmSelftestGrade grade);

/**
 * nvfm_selftest_verdict_name() - "pass", "fail", "warn" or "skip"
 * @verdict: a verdict
 *
 * Return: a static string.
 */
const char *nvfm_selftest_verdict_name(NvfmSelftestVerdict verdict);

/**
 * NvfmSelftestResult - one conformance case
 * @name: the case's stable name
 * @verdict: pass, fail, warn or skip
 * @detail: why it failed, warned or was skipped (the evidence), or a
 *   measured fact
 * @duration_us: how long it took
 * @grade: what the case's promise rests on
 */
typedef struct {
	char *name;
	NvfmSelftestVerdict verdict;
	char *detail;
	gint64 duration_us;
	NvfmSelftestGrade grade;
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

/**
 * NvfmSelftestOptions - how nvfm_selftest_run_options() runs
 * @only: a glob of case names, or %NULL for all
 * @timeout_ms: bound on each wait for the device and on each case's
 *   silence (<= 0: 10 s)
 * @forbidden_arcs: send the forbidden arcs to the driver itself (some
 *   kernels spin on them); FALSE: that case is skipped
 * @progress: called before each case (may be %NULL)
 * @user_data: its closure
 */
typedef struct {
	const char *only;
	int timeout_ms;
	gboolean forbidden_arcs;
	NvfmSelftestProgressFunc progress;
	gpointer user_data;
} NvfmSelftestOptions;

/**
 * nvfm_selftest_run_options() - nvfm_selftest_run() with every option
 * @address: the device address; the device's state is overwritten
 * @opts: the options (zeroed: every case but the opt-in ones, 10 s)
 * @error: return location for an error
 *
 * A case whose device call does not return within the bound is abandoned
 * with a "hung" failure, and the cases after it are not run: the stuck
 * call's thread and the device stay behind until the process exits.
 *
 * Return: as nvfm_selftest_run().
 */
GPtrArray *nvfm_selftest_run_options(const NvfmAddress *address,
				     const NvfmSelftestOptions *opts, GError **error);

G_END_DECLS
