/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include "nvfm/device.h"
#include "nvfm/stream.h"

G_BEGIN_DECLS

/**
 * NvfmTransferStats - what a save or a load measured
 * @total_bytes: device state bytes moved
 * @precopy_bytes: of those, bytes moved in PRE_COPY
 * @stop_copy_bytes: of those, bytes moved in STOP_COPY
 * @precopy_rounds: PRE_COPY rounds taken
 * @precopy_us: time spent in PRE_COPY
 * @stop_copy_us: time from STOP_COPY entry to end of stream
 * @commit_us: time of RESUMING -> STOP (the driver's validation)
 * @total_us: wall time of the whole call
 * @sha256: hex SHA-256 of the state bytes; empty when some went unchecked
 *	    (see docs/protocol.md) and no digest was computed
 * @zero_copy_bytes: of @total_bytes, bytes moved by splice (unchecked)
 * @unchecked_bytes: of @total_bytes, bytes in DATA frames without a CRC32C:
 *		     spliced, or sent over TLS, whose records authenticate them
 * @phase: the phase reached, or on failure the phase that failed:
 *	   "handshake", "compat", "resume" (entering RESUMING), "precopy",
 *	   "pause" (the @before_stop_copy callback of #NvfmSaveOptions),
 *	   "stop-copy", "trailer", "commit" or "run" (a static string)
 */
typedef struct {
	guint64 total_bytes;
	guint64 precopy_bytes;
	guint64 stop_copy_bytes;
	guint precopy_rounds;
	gint64 precopy_us;
	gint64 stop_copy_us;
	gint64 commit_us;
	gint64 total_us;
	char sha256[65];
	guint64 zero_copy_bytes;
	const char *phase;
	guint64 unchecked_bytes;
} NvfmTransferStats;

/**
 * NvfmProgressFunc - called as state bytes move
 * @phase: an #NvfmPhase
 * @done: bytes moved so far in this phase
 * @total: bytes this phase is expected to move, never below @done: the
 *	   saver's PRE_COPY estimate (moved + initial + dirty bytes) or
 *	   MIG_DATA_SIZE in STOP_COPY, the loader's the sender's hint; 0 when
 *	   unknown
 * @user_data: closure
 */
typedef void (*NvfmProgressFunc)(int phase, guint64 done, guint64 total, gpointer user_data);

/**
 * NvfmSaveOptions - how to save
 * @precopy_rounds: maximum PRE_COPY rounds (0: go straight to STOP_COPY)
 * @precopy_threshold: leave PRE_COPY once the dirty bytes are below this
 * @timeout_ms: bound on each wait for the device (-1: none)
 * @progress: optional progress callback
 * @user_data: its closure
 * @zero_copy: move STOP_COPY data with splice (DATA frames without CRC,
 *	       TRAILER without digest) when the channel is a stream socket
 *	       and the device's data_fd splices; only when the receiver
 *	       agreed to unchecked data
 * @unchecked: send every DATA frame without a CRC32C and the TRAILER
 *	       without a digest (the channel is TLS, whose records are
 *	       authenticated); only when the receiver agreed to it
 * @watch_peer: the receiver may send an ABORT frame while the state
 *		flows (a live connection): look for one after every frame
 * @cancellable: checked between frames (may be %NULL)
 * @initial_sent: optional; called once, when the device's initial bytes
 *		  are all sent (its PRE_COPY reports no initial bytes left),
 *		  or before @before_stop_copy when there was no precopy or it
 *		  ended first. What should not compete with the bulk of the
 *		  state (a VM's RAM migration) starts here. %FALSE fails the
 *		  save in phase "precopy".
 * @before_stop_copy: optional; called after precopy, before STOP_COPY
 *		      (the VM pauses here), again and again while it sets
 *		      *@ready to %FALSE: between calls the receiver hears
 *		      that the stream is alive. It must bound its own wait
 *		      (each call briefly, all calls together by a deadline).
 *		      %FALSE fails the save in phase "pause".
 * @stop_copy_data: the closure of both callbacks
 */
typedef struct {
	guint precopy_rounds;
	guint64 precopy_threshold;
	int timeout_ms;
	NvfmProgressFunc progress;
	gpointer user_data;
	gboolean zero_copy;
	gboolean watch_peer;
	GCancellable *cancellable;
	gboolean unchecked;
	gboolean (*initial_sent)(gpointer user_data, GError **error);
	gboolean (*before_stop_copy)(gpointer user_data, gboolean *ready, GError **error);
	gpointer stop_copy_data;
} NvfmSaveOptions;

/**
 * NvfmCommitFunc - the last word before a loaded state is committed
 * @user_data: closure
 * @error: return location for an error
 *
 * Return: %TRUE to commit; %FALSE to refuse (the device is reset).
 */
typedef gboolean (*NvfmCommitFunc)(gpointer user_data, GError **error);

/**
 * NvfmLoadOptions - how to load
 * @timeout_ms: bound on each wait for the device or the stream (-1: none)
 * @run: continue to RUNNING after the state was committed
 * @progress: optional progress callback
 * @user_data: its closure
 * @allow_unchecked: accept DATA frames without CRC and a TRAILER without
 *		     digest (negotiated: "zero-copy" on a plain socket,
 *		     "tls-integrity" over TLS); splice them into the device
 *		     when the channel is a socket fd
 * @before_commit: called once the trailer is verified, before RESUMING ->
 *		   STOP (an agent asks its client to confirm). %NULL: the
 *		   stream must end right after the trailer, so a file with
 *		   anything after it (a second trailer) is refused.
 * @commit_data: closure of @before_commit
 * @cancellable: checked between frames (may be %NULL); a cancelled load
 *		 fails with %NVFM_ERROR_CANCELLED and resets the device
 */
typedef struct {
	int timeout_ms;
	gboolean run;
	NvfmProgressFunc progress;
	gpointer user_data;
	gboolean allow_unchecked;
	NvfmCommitFunc before_commit;
	gpointer commit_data;
	GCancellable *cancellable;
} NvfmLoadOptions;

/**
 * nvfm_save_options_init() - defaults: no precopy, 30 s timeout
 * @opts: the options
 */
void nvfm_save_options_init(NvfmSaveOptions *opts);

/**
 * nvfm_load_options_init() - defaults: 30 s timeout, stay in STOP
 * @opts: the options
 */
void nvfm_load_options_init(NvfmLoadOptions *opts);

/**
 * nvfm_device_compat_block() - the compatibility facts of a device
 * @dev: the device
 * @error: return location for an error
 *
 * Return: a new JSON object (address, backend, migration flags, state size
 * estimate, PCI IDs and NVMe identify facts where the backend knows them).
 */
json_t *nvfm_device_compat_block(NvfmDevice *dev, GError **error);

/**
 * nvfm_save() - stream a device's state out as frames
 * @dev: the device, RUNNING or STOP
 * @ch: where the frames go
 * @opts: options (%NULL for defaults)
 * @stats: receives the measurements (may be %NULL)
 * @error: return location for an error
 *
 * Sends HELLO, COMPAT, PHASE and DATA frames and a TRAILER. On success the
 * device is left in STOP (the caller decides whether it runs again). On
 * failure an ABORT frame is sent when the channel still works and the
 * device is brought back to RUNNING (or reset).
 *
 * Return: %TRUE on success.
 */
gboolean nvfm_save(NvfmDevice *dev, NvfmChannel *ch, const NvfmSaveOptions *opts,
		   NvfmTransferStats *stats, GError **error);

/**
 * nvfm_load() - restore a device's state from frames
 * @dev: the device, RUNNING or STOP, whose current state is discarded
 * @ch: where the frames come from
 * @opts: options (%NULL for defaults)
 * @stats: receives the measurements (may be %NULL)
 * @error: return location for an error
 *
 * Checks HELLO and COMPAT, moves the device to RESUMING, writes the DATA
 * payloads, verifies the TRAILER's byte count and SHA-256 (when the stream
 * carries one), checks that nothing follows (or asks @before_commit), and
 * commits with RESUMING -> STOP. Any failure, including an ABORT frame from the sender,
 * resets the device: it is never resumed with a partial state.
 *
 * Return: %TRUE on success.
 */
gboolean nvfm_load(NvfmDevice *dev, NvfmChannel *ch, const NvfmLoadOptions *opts,
		   NvfmTransferStats *stats, GError **error);

/**
 * nvfm_compat_check() - whether a source's compatibility block fits a
 * destination's
 * @src: the source device's block (nvfm_device_compat_block())
 * @dst: the destination device's block
 * @error: return location for an error
 *
 * Return: %TRUE when every fact both blocks report is equal; %FALSE with
 * %NVFM_ERROR_NOT_SUPPORTED naming the first mismatch.
 */
gboolean nvfm_compat_check(json_t *src, json_t *dst, GError **error);

G_END_DECLS
