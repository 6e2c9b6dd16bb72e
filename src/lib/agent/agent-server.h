/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Inside the agent: the agent and its connections, shared by the files of
 * the agent's server side (agent.c and the request handlers).
 */
#pragma once

#include "agent-private.h"
#include "stream/tls-names.h"

#pragma GCC visibility push(hidden)

#define DEFAULT_MAX_SESSIONS 16
/* Connections in their handshake: a legitimate client is there for
 * milliseconds, so these bound only what never authenticates. */
#define DEFAULT_MAX_PREAUTH 64
#define DEFAULT_MAX_PREAUTH_PER_ADDRESS 8
#define DEFAULT_TIMEOUT_MS 30000
#define DEFAULT_IDLE_MS 300000
/* After a failed transfer, how long to swallow what the client still
 * sends so that it reads our ABORT rather than a connection reset. */
#define DRAIN_MS 5000

typedef struct _Session Session;

/* Where a connection is on its way in (agent-preauth.c). */
typedef enum {
	STAGE_WAITING,		/* accepted, the peer has sent nothing: no thread yet */
	STAGE_HANDSHAKE,	/* its thread runs TLS, the allow-list check, HELLO */
	STAGE_SESSION,		/* admitted: counts against max_sessions */
} SessionStage;

struct _NvfmAgent {
	char *runtime_dir;
	char *mig_dir;
	NvfmLedger *ledger;	/* reservations */
	NvfmTls *tls;
	guint max_sessions;
	guint max_preauth;
	guint max_preauth_per_address;
	int timeout_ms;
	int idle_ms;
	NvfmAddress *fixed_target;
	gboolean one_shot;
	gboolean verify;
	gboolean emu;		/* emulated devices served (--emu) */
	GPtrArray *pfs;		/* NvfmAddress: --pf, or NULL for every NVMe SR-IOV PF */
	guint64 max_emu_state;
	char **drivers;		/* --driver: what a peer may bind besides the VF's own */
	NvfmNamePatterns *admin;	/* --admin: may see and release everything */
	char *qmp_dir;		/* --qmp-dir, resolved: the QMP sockets "qmp" may reach */
	gboolean unix_socket;		/* listening on a UNIX socket */
	NvfmAgentLogFunc log;
	gpointer log_data;
	NvfmProgressFunc progress;	/* the embedding program's (receive) */
	gpointer progress_data;

	NvfmListener *listener;
	int stop_fd;
	gint64 drop_quiet_until;	/* main thread: drops logged as warnings until then */
	guint drops_quiet;		/* and how many went to the info level since */

	GMutex mu;		/* everything below, and sessions' shared fields */
	GPtrArray *sessions;
	guint64 counter;
	gboolean stopping;
	gboolean shot_done;
	GError *shot_error;
	GMutex res_mu;		/* reservation files */
};
struct _Session {
	NvfmAgent *agent;
	int ctl_fd;		/* a dup of the socket, to shut it down from outside */
	char *peer;
	char *source;		/* its address, for the per-address limit */
	char *identity;		/* who owns what this connection reserves */
	gboolean admin;		/* matched --admin */
	GThread *thread;	/* main thread only */
	GCancellable *cancel;
	gboolean finished;
	SessionStage stage;	/* under agent->mu */
	gint64 accepted;	/* monotonic µs: its handshake is due by then + timeout */
	char *dropped;		/* why the agent cut it before admission, under agent->mu */
	guint caps;		/* NVFM_CAP_* negotiated on this connection */
	NvfmChannel *ch;	/* session thread only */
	guint8 *buf;
	GPtrArray *leases;	/* reservations that end with this connection */
	GPtrArray *tls_dirs;	/* "qemu-tls" directories, removed with it */

	/* the transfer in flight, under agent->mu */
	char *mig_id;
	char *mig_path;
	char *target;
	const char *phase;
	int phase_num;
	guint64 bytes;		/* in all phases */
	guint64 phase_bytes;	/* in the current phase */
	guint64 phase_total;	/* expected in the current phase (0: unknown) */
	gint64 phase_started;	/* g_get_monotonic_time() at the phase's first byte */
	gint64 started;
	json_int_t req_id;
	/* session thread only: when each of its phases began ([name, µs] on
	 * this host's monotonic clock) and when the sender's commit arrived,
	 * for the sender's timeline (its clocks differ: it aligns them) */
	json_t *marks;
	gint64 commit_request_us;
};

/* agent-session.c */
void agent_log(NvfmAgent *a, GLogLevelFlags level, const char *fmt, ...) G_GNUC_PRINTF(3, 4);
/* the same, about a migration, a VF or a phase (journal fields) */
void agent_log_about(NvfmAgent *a, GLogLevelFlags level, const NvfmLogFields *fields,
		     const char *fmt, ...) G_GNUC_PRINTF(4, 5);
gboolean agent_reply_ok(Session *s, json_int_t id, json_t *result, GError **error);
gboolean agent_reply_error(Session *s, json_int_t id, const GError *err, GError **error);
void agent_send_abort(Session *s, const char *reason, const char *code, const char *phase);

/* agent-preauth.c; the first two run in the main thread */
/* Before a connection from @source joins: drop the most idle ones in
 * their handshake beyond the per-address and global limits. */
void agent_preauth_make_room(NvfmAgent *a, const char *source);
/* Drop the connections whose handshake is overdue; ms until the next is
 * due, -1 if none is in its handshake. */
int agent_preauth_expire(NvfmAgent *a);
gboolean agent_preauth_dropped(Session *s);
/* After the client's HELLO: the connection becomes a session, or the
 * error says why not (busy). */
gboolean agent_admit(Session *s, GError **error);
/* Under agent->mu: admitted sessions, and connections in their handshake. */
void agent_count_locked(NvfmAgent *a, guint *sessions, guint *preauth);

/* agent-files.c */
void agent_remove_dir(const char *path);
void agent_recover_stale(NvfmAgent *a);

/* agent-scope.c: what a peer may name; a refusal is NVFM_ERROR_PERMISSION
 * with one line, before anything is opened */
gboolean agent_scope_init(NvfmAgent *a, const NvfmAgentOptions *opts, GError **error);
void agent_scope_clear(NvfmAgent *a);
gboolean agent_may_use_pf(NvfmAgent *a, const NvfmAddress *pf, GError **error);
gboolean agent_may_use_device(NvfmAgent *a, const NvfmAddress *dev, GError **error);

/* agent-receive.c */
json_t *agent_migration_json(Session *s);
NvfmAddress *agent_resolve_target(Session *s, json_t *args, GError **error);
gboolean agent_do_receive(Session *s, json_int_t id, json_t *args);

/* agent-control.c */
json_t *agent_do_status(Session *s, json_t *args, GError **error);
json_t *agent_do_preflight(Session *s, json_t *args, GError **error);

/* agent-owner.c */
void agent_identify(Session *s);
/* who owns what @s reserves (never %NULL) */
const char *agent_identity(Session *s);
gboolean agent_owns(Session *s, json_t *rec);
json_t *agent_reservation_open(Session *s, const char *resv, GError **error);
/* The reservations naming @vf if this client may release it: its own
 * (at least one), or any number for an admin. */
GPtrArray *agent_vf_reservations(Session *s, const NvfmAddress *vf, GError **error);
/* Whether @s may restore into @dev: no other client's reservation names it. */
gboolean agent_target_usable(Session *s, const NvfmAddress *dev, GError **error);

/* agent-placement.c: the PFs a preflight or provision request may take a
 * VF from, in the order to try them (NvfmAddress); a PF this agent does not
 * serve is a refusal (NVFM_ERROR_PERMISSION) */
GPtrArray *agent_placement_pfs(NvfmAgent *a, json_t *args, GError **error);

/* agent-qemu-tls.c */
json_t *agent_do_qemu_tls(Session *s, json_t *args, GError **error);
void agent_end_qemu_tls(Session *s);
void agent_recover_qemu_tls(NvfmAgent *a);

/* agent-qmp.c: "qmp" relays the connection to a QEMU monitor under
 * @qmp_dir until either end closes (the session then ends) */
gboolean agent_qmp_dir_init(NvfmAgent *a, const char *dir, GError **error);
void agent_do_qmp(Session *s, json_int_t id, json_t *args);

/* agent-reservations.c */
void agent_recover_leases(NvfmAgent *a);
json_t *agent_reservation_read(NvfmAgent *a, const char *resv, GError **error);
json_t *agent_do_provision(Session *s, json_t *args, GError **error);
json_t *agent_do_keep(Session *s, json_t *args, GError **error);
/* Reservation @resv of this client outlives its connection ("keep"). */
json_t *agent_reservation_keep(Session *s, const char *resv, GError **error);
json_t *agent_do_release(Session *s, json_t *args, GError **error);
void agent_end_leases(Session *s);

#pragma GCC visibility pop
