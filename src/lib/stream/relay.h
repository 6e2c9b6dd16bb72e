/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * A byte relay between a channel (the agent link, TLS or not) and a local
 * stream socket: how a destination QEMU's UNIX QMP socket is reached
 * through the agent (the agent's end and the client's end run the same
 * loop). Internal to libnvfm.
 */
#pragma once

#include "nvfm/stream.h"

#pragma GCC visibility push(hidden)

/*
 * Copies bytes both ways between @ch and @fd (a blocking stream socket)
 * until either end closes or fails. No idle bound: a monitor may be quiet
 * for a whole migration; a dead peer ends it through the transport's
 * keepalive, and a shutdown of either socket ends it at once.
 *
 * Return: %TRUE when an end closed, %FALSE with @error on an I/O error.
 */
gboolean nvfm_relay_run(NvfmChannel *ch, int fd, GError **error);

#pragma GCC visibility pop
