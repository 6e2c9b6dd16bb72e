/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The boundary between the QMP client core (qmp.c) and its transports: the
 * socket transport in qmp.c, libvirt's monitor pass-through in
 * qmp-libvirt.c. A transport sends whole messages and hands every message
 * it receives to the core, from any thread.
 */
#pragma once

#include "util/util-private.h"

#pragma GCC visibility push(hidden)

typedef struct {
	const char *name;
	/*
	 * Sends one command object, which already carries its "id", with
	 * @fds attached. Must return by @deadline_us (monotonic). A failure
	 * that may have left half a message on the wire must also call
	 * nvfm_qmp_transport_dead().
	 */
	gboolean (*send)(NvfmQmp *qmp, json_t *msg, const int *fds, guint n_fds,
			 gint64 deadline_us, GError **error);
	/* No call into the core may happen once this returns. */
	void (*close)(NvfmQmp *qmp);
} NvfmQmpTransportOps;

/* Creates a client around a transport; the transport sets its state with
 * nvfm_qmp_transport_set_priv() before delivering anything. */
NvfmQmp *nvfm_qmp_new_with_transport(const NvfmQmpTransportOps *ops, int timeout_ms);
void nvfm_qmp_transport_set_priv(NvfmQmp *qmp, gpointer priv);
gpointer nvfm_qmp_transport_get_priv(NvfmQmp *qmp);

/* A received message (greeting, reply or event); takes the reference. */
void nvfm_qmp_transport_deliver(NvfmQmp *qmp, json_t *msg);
/* The connection is over: every waiter wakes with @reason (taken). The
 * first reason wins. */
void nvfm_qmp_transport_dead(NvfmQmp *qmp, GError *reason);

/* Fails one command (by the "id" the core gave it) without touching the
 * connection; takes @reason. */
void nvfm_qmp_transport_fail_command(NvfmQmp *qmp, const char *id, GError *reason);

/* Records a greeting the transport made up (libvirt has consumed QEMU's):
 * the "QMP" object's contents; takes the reference. */
void nvfm_qmp_transport_set_greeting(NvfmQmp *qmp, json_t *qmp_member);

/* @timeout_ms, or the client's default when it is negative. */
int nvfm_qmp_resolve_timeout(NvfmQmp *qmp, int timeout_ms);

/* Turns a monotonic deadline into a millisecond timeout, at least 0. */
int nvfm_qmp_deadline_to_ms(gint64 deadline_us);

/* Fills a GError from a QMP "error" object; used by every transport. */
void nvfm_qmp_set_error_reply(GError **error, const char *command, json_t *err);

/* Waits for QEMU's greeting until @deadline (monotonic µs), then negotiates
 * capabilities; every transport that speaks to QEMU itself uses it. */
gboolean nvfm_qmp_transport_handshake(NvfmQmp *qmp, gint64 deadline, GError **error);

/* The monotonic deadline @timeout_ms from now (the client's default when
 * negative). */
gint64 nvfm_qmp_deadline_for(NvfmQmp *qmp, int timeout_ms);

#pragma GCC visibility pop
