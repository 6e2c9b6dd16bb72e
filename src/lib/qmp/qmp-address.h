/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * What the orchestrator's preflight needs to know of a QMP address before
 * it connects (qmp-socket.c owns the syntax).
 */
#pragma once

#include <glib.h>

#pragma GCC visibility push(hidden)

/* Whether @address is "tcp:...": a monitor anyone who reaches the port
 * controls (QMP over TCP has no authentication of its own). */
gboolean nvfm_qmp_address_is_tcp(const char *address);

#pragma GCC visibility pop
