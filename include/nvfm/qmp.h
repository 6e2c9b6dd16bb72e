/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * QMP client: one API over two transports (a QMP socket, or libvirt's
 * monitor pass-through), with commands matched to replies by id, events
 * buffered for waiters and delivered to subscribers, and a bounded wait
 * behind every call.
 */
#pragma once

#include <glib.h>
#include <jansson.h>

G_BEGIN_DECLS

/**
 * NvfmQmp - a connection to one QEMU monitor
 *
 * Safe to use from several threads at once: each call waits only for its
 * own reply. When the peer dies or sends something unparsable, every
 * pending and later call fails at once with the same error.
 */
typedef struct _NvfmQmp NvfmQmp;

/**
 * NvfmQmpEvent - one asynchronous QMP event (immutable, reference counted)
 */
typedef struct _NvfmQmpEvent NvfmQmpEvent;

/** NVFM_QMP_DEFAULT_TIMEOUT_MS: the default bound on a wait (30 s). */
#define NVFM_QMP_DEFAULT_TIMEOUT_MS 30000

/** NVFM_QMP_MAX_MESSAGE: the longest message accepted from a peer (16 MiB). */
#define NVFM_QMP_MAX_MESSAGE (16u << 20)

/**
 * NvfmQmpErrorClass - the "class" of a QMP error reply
 * @NVFM_QMP_ERROR_CLASS_NONE: the error is not a QMP error reply
 * @NVFM_QMP_ERROR_CLASS_GENERIC: GenericError
 * @NVFM_QMP_ERROR_CLASS_COMMAND_NOT_FOUND: CommandNotFound
 * @NVFM_QMP_ERROR_CLASS_DEVICE_NOT_ACTIVE: DeviceNotActive
 * @NVFM_QMP_ERROR_CLASS_DEVICE_NOT_FOUND: DeviceNotFound
 * @NVFM_QMP_ERROR_CLASS_KVM_MISSING_CAP: KVMMissingCap
 * @NVFM_QMP_ERROR_CLASS_OTHER: a class this library does not know
 */
typedef enum {
	NVFM_QMP_ERROR_CLASS_NONE,
	NVFM_QMP_ERROR_CLASS_GENERIC,
	NVFM_QMP_ERROR_CLASS_COMMAND_NOT_FOUND,
	NVFM_QMP_ERROR_CLASS_DEVICE_NOT_ACTIVE,
	NVFM_QMP_ERROR_CLASS_DEVICE_NOT_FOUND,
	NVFM_QMP_ERROR_CLASS_KVM_MISSING_CAP,
	NVFM_QMP_ERROR_CLASS_OTHER,
} NvfmQmpErrorClass;

/**
 * NvfmQmpExecFlags - how a command is sent
 * @NVFM_QMP_EXEC_NONE: in-band, the usual way
 * @NVFM_QMP_EXEC_OOB: out-of-band ("exec-oob"); needs the oob capability
 */
typedef enum {
	NVFM_QMP_EXEC_NONE = 0,
	NVFM_QMP_EXEC_OOB = 1 << 0,
} NvfmQmpExecFlags;

/**
 * NvfmQmpEventFunc - a subscriber's callback
 * @qmp: the client
 * @event: the event (borrowed; take a reference to keep it)
 * @user_data: the data given to nvfm_qmp_subscribe()
 */
typedef void (*NvfmQmpEventFunc)(NvfmQmp *qmp, NvfmQmpEvent *event, gpointer user_data);

/**
 * NvfmQmpEventPredicate - decides whether an event ends a wait
 * @event: a candidate event whose name already matched
 * @user_data: the data given to nvfm_qmp_wait_event()
 *
 * Runs with the client's lock held: it must not call into the client.
 *
 * Return: %TRUE to accept the event.
 */
typedef gboolean (*NvfmQmpEventPredicate)(const NvfmQmpEvent *event, gpointer user_data);

/**
 * nvfm_qmp_connect() - connect to a QMP socket and negotiate capabilities
 * @address: "unix:PATH", "tcp:HOST:PORT", or a filesystem path
 * @timeout_ms: bound on connecting, the greeting and the negotiation
 *   (negative: %NVFM_QMP_DEFAULT_TIMEOUT_MS)
 * @error: return location for an error
 *
 * Reads the greeting, then sends "qmp_capabilities", enabling "oob" when the
 * server offers it.
 *
 * Return: a ready client, or %NULL with @error set.
 */
NvfmQmp *nvfm_qmp_connect(const char *address, int timeout_ms, GError **error);

/**
 * nvfm_qmp_new_for_fd() - run the QMP handshake on a connected stream socket
 * @fd: a connected SOCK_STREAM socket; the client owns it from now on, even
 *   on failure
 * @timeout_ms: bound on the greeting and the negotiation
 * @error: return location for an error
 *
 * Return: a ready client, or %NULL with @error set.
 */
NvfmQmp *nvfm_qmp_new_for_fd(int fd, int timeout_ms, GError **error);

/**
 * nvfm_qmp_connect_libvirt() - reach a libvirt domain's monitor through libvirt
 * @uri: the libvirt connection URI (%NULL: libvirt's default)
 * @domain: the domain's name or UUID
 * @timeout_ms: bound on opening the connection and the first query
 * @error: return location for an error
 *
 * Commands go through virDomainQemuMonitorCommand() and events come from
 * virConnectDomainQemuMonitorEventRegister(); libvirt owns the monitor and
 * has negotiated it already. If the process has no libvirt event loop yet,
 * the library registers libvirt's default one and runs it in a thread.
 * Passing file descriptors is not supported on this transport.
 *
 * Return: a ready client, or %NULL with @error set (%NVFM_ERROR_NOT_SUPPORTED
 * when libnvfm was built without libvirt).
 */
NvfmQmp *nvfm_qmp_connect_libvirt(const char *uri, const char *domain, int timeout_ms,
				  GError **error);

/**
 * nvfm_qmp_free() - close the connection and free the client
 * @qmp: the client, or %NULL
 *
 * Pending calls in other threads must have returned. Subscriptions end; a
 * callback already queued in a main context is skipped.
 */
void nvfm_qmp_free(NvfmQmp *qmp);

/**
 * nvfm_qmp_set_default_timeout() - the bound used when a call passes a
 * negative timeout
 * @qmp: the client
 * @timeout_ms: milliseconds, > 0
 */
void nvfm_qmp_set_default_timeout(NvfmQmp *qmp, int timeout_ms);

/**
 * nvfm_qmp_execute() - run a command and wait for its reply
 * @qmp: the client
 * @command: the command name
 * @args: the "arguments" object (borrowed), or %NULL
 * @timeout_ms: bound on the wait (negative: the client's default)
 * @error: return location for an error
 *
 * On a timeout the command may still run in QEMU; its late reply is
 * dropped. An error reply gives %NVFM_ERROR_QMP with the class and
 * description in the message; see nvfm_qmp_error_class().
 *
 * Return: a new reference to the "return" value, or %NULL with @error set.
 */
json_t *nvfm_qmp_execute(NvfmQmp *qmp, const char *command, json_t *args, int timeout_ms,
			 GError **error);

/**
 * nvfm_qmp_execute_full() - run a command, optionally passing file
 * descriptors or out-of-band
 * @qmp: the client
 * @command: the command name
 * @args: the "arguments" object (borrowed), or %NULL
 * @fds: descriptors sent with the command through SCM_RIGHTS (the caller
 *   keeps its copies), or %NULL
 * @n_fds: number of @fds
 * @flags: #NvfmQmpExecFlags
 * @timeout_ms: bound on the wait (negative: the client's default)
 * @error: return location for an error
 *
 * Return: a new reference to the "return" value, or %NULL with @error set.
 */
json_t *nvfm_qmp_execute_full(NvfmQmp *qmp, const char *command, json_t *args,
			      const int *fds, guint n_fds, NvfmQmpExecFlags flags,
			      int timeout_ms, GError **error);

/**
 * nvfm_qmp_execute_json() - run a command given as a JSON text
 * @qmp: the client
 * @command: the command name
 * @args_json: the arguments as a JSON object text, or %NULL
 * @timeout_ms: bound on the wait (negative: the client's default)
 * @error: return location for an error
 *
 * Return: a new reference to the "return" value, or %NULL with @error set
 * (%NVFM_ERROR_INVALID_ARG when @args_json is not a JSON object).
 */
json_t *nvfm_qmp_execute_json(NvfmQmp *qmp, const char *command, const char *args_json,
			      int timeout_ms, GError **error);

/**
 * nvfm_qmp_getfd() - hand QEMU a file descriptor under a name ("getfd")
 * @qmp: the client
 * @fdname: the name QEMU will know it by
 * @fd: the descriptor (the caller keeps its copy)
 * @timeout_ms: bound on the wait
 * @error: return location for an error
 *
 * Return: %TRUE on success.
 */
gboolean nvfm_qmp_getfd(NvfmQmp *qmp, const char *fdname, int fd, int timeout_ms,
			GError **error);

/**
 * nvfm_qmp_add_fd() - add a file descriptor to an fd set ("add-fd")
 * @qmp: the client
 * @fd: the descriptor (the caller keeps its copy)
 * @fdset_id: the set to add to, or -1 for a new one
 * @opaque: free-form text stored with the fd, or %NULL
 * @ret_fdset_id: where the set's id goes, or %NULL
 * @ret_fd: where QEMU's number for the fd goes, or %NULL
 * @timeout_ms: bound on the wait
 * @error: return location for an error
 *
 * Return: %TRUE on success.
 */
gboolean nvfm_qmp_add_fd(NvfmQmp *qmp, int fd, gint64 fdset_id, const char *opaque,
			 gint64 *ret_fdset_id, gint64 *ret_fd, int timeout_ms, GError **error);

/**
 * nvfm_qmp_is_connected() - whether the connection is still usable
 * @qmp: the client
 *
 * Return: %FALSE once the peer is gone or broke the protocol.
 */
gboolean nvfm_qmp_is_connected(NvfmQmp *qmp);

/**
 * nvfm_qmp_get_transport_name() - which transport the client uses
 * @qmp: the client
 *
 * Return: "socket" or "libvirt".
 */
const char *nvfm_qmp_get_transport_name(NvfmQmp *qmp);

/**
 * nvfm_qmp_get_greeting() - the server's greeting
 * @qmp: the client
 *
 * The libvirt transport synthesizes one from "query-version".
 *
 * Return: the "QMP" object (borrowed; valid while @qmp lives).
 */
json_t *nvfm_qmp_get_greeting(NvfmQmp *qmp);

/**
 * nvfm_qmp_get_version() - QEMU's version from the greeting
 * @qmp: the client
 * @major: where the major number goes, or %NULL
 * @minor: where the minor number goes, or %NULL
 * @micro: where the micro number goes, or %NULL
 */
void nvfm_qmp_get_version(NvfmQmp *qmp, int *major, int *minor, int *micro);

/**
 * nvfm_qmp_version_at_least() - compare QEMU's version
 * @qmp: the client
 * @major: major number
 * @minor: minor number
 * @micro: micro number
 *
 * Return: %TRUE when QEMU is at least major.minor.micro.
 */
gboolean nvfm_qmp_version_at_least(NvfmQmp *qmp, int major, int minor, int micro);

/**
 * nvfm_qmp_has_capability() - whether a QMP capability was negotiated
 * @qmp: the client
 * @name: a capability name such as "oob"
 *
 * Return: %TRUE when the capability is enabled on this connection.
 */
gboolean nvfm_qmp_has_capability(NvfmQmp *qmp, const char *name);

/**
 * nvfm_qmp_event_seq() - the sequence number of the newest event received
 * @qmp: the client
 *
 * Take it before sending a command whose event you will wait for: QEMU may
 * emit the event before the command's reply (STOP comes before the reply
 * to "stop").
 *
 * Return: the sequence number (0 before the first event).
 */
guint64 nvfm_qmp_event_seq(NvfmQmp *qmp);

/**
 * nvfm_qmp_wait_event() - wait for an event received after a point
 * @qmp: the client
 * @name: the event name, or %NULL for any
 * @predicate: a further test, or %NULL
 * @user_data: data for @predicate
 * @since_seq: only events with a larger sequence number count (from
 *   nvfm_qmp_event_seq())
 * @timeout_ms: bound on the wait (negative: the client's default)
 * @error: return location for an error
 *
 * Events that arrived before the peer went away still count. The client
 * keeps the newest 1024 events for this.
 *
 * Return: a new reference to the first matching event, or %NULL with
 * @error set (%NVFM_ERROR_TIMEOUT, or the connection's error).
 */
NvfmQmpEvent *nvfm_qmp_wait_event(NvfmQmp *qmp, const char *name,
				  NvfmQmpEventPredicate predicate, gpointer user_data,
				  guint64 since_seq, int timeout_ms, GError **error);

/**
 * nvfm_qmp_subscribe() - call a function for every event
 * @qmp: the client
 * @name: the event name, or %NULL for all
 * @func: the callback
 * @user_data: data for @func
 * @notify: frees @user_data when the subscription ends, or %NULL
 *
 * @func runs in the thread-default main context of the caller of this
 * function, in the order events arrived; that context must be iterated.
 *
 * Return: a subscription id (> 0) for nvfm_qmp_unsubscribe().
 */
guint nvfm_qmp_subscribe(NvfmQmp *qmp, const char *name, NvfmQmpEventFunc func,
			 gpointer user_data, GDestroyNotify notify);

/**
 * nvfm_qmp_unsubscribe() - end a subscription
 * @qmp: the client
 * @id: a value returned by nvfm_qmp_subscribe()
 *
 * Callbacks not yet run are skipped.
 */
void nvfm_qmp_unsubscribe(NvfmQmp *qmp, guint id);

/**
 * nvfm_qmp_event_ref() - take a reference
 * @event: an event
 *
 * Return: @event.
 */
NvfmQmpEvent *nvfm_qmp_event_ref(NvfmQmpEvent *event);

/**
 * nvfm_qmp_event_unref() - drop a reference
 * @event: an event, or %NULL
 */
void nvfm_qmp_event_unref(NvfmQmpEvent *event);

/**
 * nvfm_qmp_event_get_name() - the event's name
 * @event: an event
 *
 * Return: a string such as "STOP" (borrowed).
 */
const char *nvfm_qmp_event_get_name(const NvfmQmpEvent *event);

/**
 * nvfm_qmp_event_get_data() - the event's "data" member
 * @event: an event
 *
 * Return: the data object (borrowed; an empty object when absent).
 */
json_t *nvfm_qmp_event_get_data(const NvfmQmpEvent *event);

/**
 * nvfm_qmp_event_get_timestamp_us() - QEMU's wall-clock time of the event
 * @event: an event
 *
 * Return: microseconds since the Unix epoch, or -1 when QEMU gave none.
 */
gint64 nvfm_qmp_event_get_timestamp_us(const NvfmQmpEvent *event);

/**
 * nvfm_qmp_event_get_received_us() - when the client received the event
 * @event: an event
 *
 * Return: g_get_monotonic_time() at receipt.
 */
gint64 nvfm_qmp_event_get_received_us(const NvfmQmpEvent *event);

/**
 * nvfm_qmp_event_get_seq() - the event's sequence number on its connection
 * @event: an event
 *
 * Return: the sequence number (1 for the first event).
 */
guint64 nvfm_qmp_event_get_seq(const NvfmQmpEvent *event);

/**
 * nvfm_qmp_event_to_json() - the event as QEMU sent it
 * @event: an event
 *
 * Return: a new reference to an object with "event", "data", "timestamp".
 */
json_t *nvfm_qmp_event_to_json(const NvfmQmpEvent *event);

/**
 * nvfm_qmp_error_class() - the QMP class of an error reply
 * @error: an error from a QMP call, or %NULL
 *
 * Return: the class, or %NVFM_QMP_ERROR_CLASS_NONE when @error is not a
 * QMP error reply (a timeout, a dead connection, ...).
 */
NvfmQmpErrorClass nvfm_qmp_error_class(const GError *error);

/**
 * nvfm_qmp_error_class_name() - QEMU's spelling of an error class
 * @cls: a class
 *
 * Return: "GenericError", "CommandNotFound", ... ("" for NONE, "Other").
 */
const char *nvfm_qmp_error_class_name(NvfmQmpErrorClass cls);

G_DEFINE_AUTOPTR_CLEANUP_FUNC(NvfmQmp, nvfm_qmp_free)
G_DEFINE_AUTOPTR_CLEANUP_FUNC(NvfmQmpEvent, nvfm_qmp_event_unref)

G_END_DECLS
