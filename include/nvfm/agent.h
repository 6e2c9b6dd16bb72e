/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The per-host agent and its client: the channel the orchestrator (or
 * "nvme-vf-migrate send") uses to talk to the destination host. One
 * connection carries control requests (status, preflight, provision,
 * release) and device-state streams ("receive"), all as frames of the
 * device-state protocol (docs/protocol.md, docs/agent.md).
 */
#pragma once

#include "nvfm/device.h"
#include "nvfm/log.h"
#include "nvfm/qmp.h"
#include "nvfm/transfer.h"
#include "nvfm/transport.h"

G_BEGIN_DECLS

/**
 * NvfmAgent - a running agent: a listener and its sessions
 */
typedef struct _NvfmAgent NvfmAgent;

/**
 * NvfmAgentLogFunc - where the agent reports what happens
 * @level: G_LOG_LEVEL_MESSAGE for events (a migration started, done),
 *	   G_LOG_LEVEL_WARNING for refusals and failures, G_LOG_LEVEL_INFO
 *	   for details
 * @fields: what the event is about (migration id, VF, phase), or %NULL;
 *	    valid during the call only
 * @message: one line
 * @user_data: closure
 */
typedef void (*NvfmAgentLogFunc)(GLogLevelFlags level, const NvfmLogFields *fields,
				 const char *message, gpointer user_data);

/**
 * NvfmAgentOptions - how an agent runs
 * @listen: "HOST:PORT", ":PORT", "unix:PATH" (see nvfm_listener_new())
 * @tls: server credentials; %NULL serves plain connections, which on TCP
 *	 the caller must only allow when the user said --insecure
 * @runtime_dir: per-migration state and reservations (%NULL:
 *		 $RUNTIME_DIRECTORY, else /run/nvme-vf-migrate/agent for
 *		 root, else $XDG_RUNTIME_DIR/nvme-vf-migrate/agent)
 * @max_sessions: authenticated connections served at once (0: 16); a
 *		  client that authenticates beyond them is told the agent is
 *		  busy
 * @max_preauth: connections still in their handshake (TLS, certificate
 *		 check, HELLO), counted apart from sessions (0: 64); a new
 *		 one beyond them drops the one that has been silent longest
 *		 among those of the address that holds the most
 * @max_preauth_per_address: the same per source address (IPv6: per /64)
 *			     (0: 8)
 * @timeout_ms: bound on every wait for a peer or a device, and on a
 *		connection's whole handshake from accept (<= 0: 30 s)
 * @idle_timeout_ms: how long a connection may sit between requests
 *		     (<= 0: 300 s)
 * @fixed_target: restore only into this device, whatever the client asks
 *		  ("nvme-vf-migrate receive")
 * @one_shot: stop after the first state transfer, successful or not
 * @verify: never let DATA go unchecked: no "zero-copy" or
 *	    "tls-integrity" capability, every DATA frame carries a CRC32C
 *	    and the trailer a SHA-256
 * @emu: serve emulated devices and PFs (emu:NAME); when %FALSE every
 *	 request naming one is refused (a production agent has no use for
 *	 them)
 * @pfs: the PFs whose VFs peers may name and provision from, %NULL
 *	 terminated (PCI PFs, or emulated ones with @emu); %NULL or empty:
 *	 every NVMe-class PF with SR-IOV in sysfs, and with @emu every
 *	 emulated PF. A target must be a VF of one of them or a VF this
 *	 agent reserved; @fixed_target is the operator's and always allowed
 * @max_emu_state: the largest emulated state (blob) a peer may send,
 *		   checked against the stream's claim before any of it is
 *		   staged on disk (0: 1 GiB)
 * @admin: a %NULL-terminated list of patterns (%NULL: none) naming the
 *	   clients that may see and release every reservation; they are
 *	   matched like NvfmTlsOptions.@allow against a client's
 *	   certificate, or on plain TCP against its IP address. Every other
 *	   client sees and acts on only the reservations its own identity
 *	   made (docs/agent.md).
 * @drivers: a %NULL-terminated list (%NULL: none) of the drivers a peer may
 *	     have a provisioned VF bound to besides the one modules.alias
 *	     names for that VF and vfio-pci; no other name a peer sends is
 *	     bound or loaded
 * @log: where events go (%NULL: nowhere)
 * @log_data: closure of @log
 * @progress: optional; state bytes of each transfer as they arrive (the
 *	      phase's bytes and expected total), from the session's thread
 * @progress_data: closure of @progress
 * @qmp_dir: the directory whose UNIX sockets (destination QEMUs' monitors)
 *	     a peer may reach through its connection ("qmp" request;
 *	     symlinks resolved, nothing outside it); %NULL: none
 */
typedef struct {
	const char *listen;
	NvfmTls *tls;
	const char *runtime_dir;
	guint max_sessions;
	guint max_preauth;
	guint max_preauth_per_address;
	int timeout_ms;
	int idle_timeout_ms;
	const NvfmAddress *fixed_target;
	gboolean one_shot;
	gboolean verify;
	gboolean emu;
	const NvfmAddress *const *pfs;
	guint64 max_emu_state;
	const char *const *admin;
	const char *const *drivers;
	NvfmAgentLogFunc log;
	gpointer log_data;
	NvfmProgressFunc progress;
	gpointer progress_data;
	const char *qmp_dir;
} NvfmAgentOptions;

/**
 * nvfm_agent_new() - listen and prepare the runtime directory
 * @opts: the options
 * @error: return location for an error
 *
 * Creates the runtime directory (0700). Migrations a previous instance
 * left behind (it crashed mid-transfer) have their target device reset
 * and their state removed.
 *
 * Return: the agent, or %NULL.
 */
NvfmAgent *nvfm_agent_new(const NvfmAgentOptions *opts, GError **error);

/**
 * nvfm_agent_get_address() - the address the agent listens on
 * @agent: the agent
 *
 * Return: "10.0.0.2:16590" or "unix:PATH", owned by @agent.
 */
const char *nvfm_agent_get_address(NvfmAgent *agent);

/**
 * nvfm_agent_run() - serve until nvfm_agent_stop() (or one transfer)
 * @agent: the agent
 * @error: return location for an error
 *
 * Each connection is served by its own thread. On stop, the listener
 * closes, transfers in flight are aborted (their destination devices
 * reset, their clients told why) and every session is joined.
 *
 * Return: %TRUE on a clean stop; with @one_shot, the transfer's success.
 */
gboolean nvfm_agent_run(NvfmAgent *agent, GError **error);

/**
 * nvfm_agent_stop() - ask a running agent to stop
 * @agent: the agent
 *
 * Async-signal-safe: call it from a SIGTERM handler.
 */
void nvfm_agent_stop(NvfmAgent *agent);

/**
 * nvfm_agent_free() - free a stopped agent (NULL is fine)
 * @agent: the agent
 */
void nvfm_agent_free(NvfmAgent *agent);

/**
 * NvfmAgentClient - a connection to an agent
 */
typedef struct _NvfmAgentClient NvfmAgentClient;

/**
 * nvfm_agent_client_connect() - connect and exchange HELLO frames
 * @address: the agent's address (see nvfm_transport_connect())
 * @tls: client credentials, or %NULL for a plain connection
 * @timeout_ms: bound on every wait
 * @error: return location for an error
 *
 * Return: the client, or %NULL (%NVFM_ERROR_AUTH when the agent refused
 * us or we refused it).
 */
NvfmAgentClient *nvfm_agent_client_connect(const char *address, NvfmTls *tls, int timeout_ms,
					   GError **error);

/**
 * nvfm_agent_client_free() - close a connection (NULL is fine)
 * @client: the client
 */
void nvfm_agent_client_free(NvfmAgentClient *client);

/**
 * nvfm_agent_client_get_hello() - what the agent said about itself
 * @client: the client
 *
 * Return: the agent's HELLO object (host, version, capabilities), owned
 * by @client.
 */
json_t *nvfm_agent_client_get_hello(NvfmAgentClient *client);

/**
 * nvfm_agent_client_has_capability() - whether both ends agreed on a
 * capability
 * @client: the client
 * @cap: "zero-copy", "tls-integrity", "precopy", "control", ...
 *
 * Return: %TRUE when the agent announced it and this build uses it.
 */
gboolean nvfm_agent_client_has_capability(NvfmAgentClient *client, const char *cap);

/**
 * nvfm_agent_client_is_silent() - whether the agent let a whole timeout pass
 * @client: the client
 *
 * After a request or a transfer failed because the agent (or the link to
 * it) went silent, a new connection would most likely wait as long again:
 * a caller that only tidies up can skip it. The agent ends this connection,
 * and the reservations that end with it, once it notices the silence too.
 *
 * Return: %TRUE when the connection's peer is considered gone.
 */
gboolean nvfm_agent_client_is_silent(NvfmAgentClient *client);

/**
 * nvfm_agent_client_open_qmp() - a QEMU monitor on the agent's host,
 * through this connection
 * @client: the client; taken, even on failure: from the agent's reply on
 *	    the connection carries the monitor's bytes, and it closes when
 *	    the returned client is freed
 * @path: the monitor's UNIX socket on the agent's host, under the agent's
 *	  QMP directory (its --qmp-dir)
 * @timeout_ms: bound on the request, QEMU's greeting and the negotiation
 * @error: return location for an error
 *
 * The monitor gets the connection's TLS and the agent's check of our
 * certificate, unlike QMP on TCP.
 *
 * Return: a ready QMP client, or %NULL with @error set
 * (%NVFM_ERROR_PERMISSION: @path is outside the agent's QMP directory).
 */
NvfmQmp *nvfm_agent_client_open_qmp(NvfmAgentClient *client, const char *path, int timeout_ms,
				    GError **error);

/**
 * nvfm_agent_client_call() - one control request
 * @client: the client
 * @op: "status", "preflight", "provision" (alias "reserve"), "release"
 * @args: the request's arguments (may be %NULL)
 * @error: return location for an error
 *
 * Return: the reply's result object (new reference), or %NULL with the
 * agent's error (its code and message) in @error.
 */
json_t *nvfm_agent_client_call(NvfmAgentClient *client, const char *op, json_t *args,
			       GError **error);

/**
 * NvfmSendOptions - how to move a device's state to an agent
 * @target: the destination device ("emu:b", a VF's PCI address) or
 *	    %NULL with @reservation
 * @reservation: a reservation made with "provision", whose VF is the
 *		 destination
 * @run: the destination device continues to RUNNING once committed
 * @verify: every DATA frame carries a CRC32C and the trailer a SHA-256,
 *	    even where zero-copy or TLS integrity was negotiated
 * @save: precopy rounds, threshold, timeouts and progress of the source
 * @keep: with @reservation and @run, the agent keeps the reservation (as
 *	  "keep" does) once the device runs, before it answers: one round
 *	  trip less inside a VM's pause window. The result says "kept".
 */
typedef struct {
	const char *target;
	const char *reservation;
	gboolean run;
	gboolean verify;
	NvfmSaveOptions save;
	gboolean keep;
} NvfmSendOptions;

/**
 * nvfm_send_options_init() - defaults: no target, stay STOP, unchecked
 * data where negotiated, nvfm_save_options_init()
 * @opts: the options
 */
void nvfm_send_options_init(NvfmSendOptions *opts);

/**
 * nvfm_agent_client_send() - stream a device's state into a device on
 * the agent's host
 * @client: the client
 * @dev: the source device, RUNNING or STOP
 * @opts: the options
 * @stats: receives the source side's measurements (may be %NULL); on
 *	   failure its @phase names the phase that failed
 * @result: receives the agent's verdict object (migration id, remote
 *	    statistics, destination state; from newer agents its "phases"
 *	    with "start_us"/"end_us", "commit_request_us" and "clock_us" on
 *	    its monotonic clock) on success (may be %NULL); to it are added
 *	    "commit_sent_us" and "reply_received_us", this host's monotonic
 *	    times around the commit, to align the two clocks
 * @error: return location for an error
 *
 * On success the source is left in STOP and the destination holds the
 * state (in STOP, or RUNNING with @run). On any failure the source is
 * back in RUNNING (or reset) and the agent has reset the destination;
 * the error says what failed and why, the receiver's reason included.
 * The connection cannot carry more requests after a failed transfer.
 *
 * Return: %TRUE on success.
 */
gboolean nvfm_agent_client_send(NvfmAgentClient *client, NvfmDevice *dev,
				const NvfmSendOptions *opts, NvfmTransferStats *stats,
				json_t **result, GError **error);

G_DEFINE_AUTOPTR_CLEANUP_FUNC(NvfmAgent, nvfm_agent_free)
G_DEFINE_AUTOPTR_CLEANUP_FUNC(NvfmAgentClient, nvfm_agent_client_free)

G_END_DECLS
