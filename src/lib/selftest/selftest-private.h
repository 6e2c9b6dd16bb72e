/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The selftest's watchdog (selftest-watch.c): the cases run in a worker
 * thread, every device call through a wrapped ops table, and a call that
 * does not return within the bound is abandoned.
 */
#pragma once

#include "engine/engine-private.h"

#pragma GCC visibility push(hidden)

typedef struct _SelftestWatch SelftestWatch;
typedef void (*SelftestJobFunc)(gpointer data);

SelftestWatch *selftest_watch_new(int bound_ms);
/* Wrap @dev's ops (again after the device was reopened); idempotent. */
void selftest_watch_device(SelftestWatch *w, NvfmDevice *dev);
/* Run @fn(@data) in a worker thread. TRUE: it returned. FALSE: a device
 * call stalled past the bound; *@what names it, and the worker, @data and
 * the device must be left alone from then on (they are never freed). */
gboolean selftest_watch_run(SelftestWatch *w, SelftestJobFunc fn, gpointer data, char **what);
/* Unwrap @dev (if it is still the one wrapped) and free @w. Not after a
 * stall. */
void selftest_watch_free(SelftestWatch *w, NvfmDevice *dev);

#pragma GCC visibility pop
