/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Inside the emulated VF: the device and its migration session, shared by
 * the backend (emu-vf.c) and the session threads (emu-session.c).
 */
#pragma once

#include <sys/types.h>

#include "emu-private.h"

#pragma GCC visibility push(hidden)

/* Pages the save thread generates per pass; bounds its buffer to ~1 MiB. */
#define SAVE_BATCH 16
/* The resume thread's reads: a pipeful at a time (wakeups and syscalls
 * cost more than cache misses here). */
#define IO_CHUNK (1u << 20)
#define PIPE_SIZE (1 << 20)
#define MIN_PIPE_SIZE (256 << 10)
/* How often an idle PRE_COPY thread looks for freshly dirtied pages. */
#define PRECOPY_POLL_US 20000
/* Wall time that counts for dirtying at once: a device left open and
 * untouched for an hour should not stall its next call for seconds. */
#define MAX_TICK_US (10 * G_USEC_PER_SEC)

typedef enum {
	SAVE_HEADER,	/* stream header + CTRL */
	SAVE_PAGES,	/* every page once, in index order */
	SAVE_DIRTY,	/* pages dirtied after they were sent */
	SAVE_CTRL,	/* final controller state (PRE_COPY sessions) */
	SAVE_END,
	SAVE_DONE,
} SaveStage;

typedef struct _EmuDev EmuDev;

typedef struct {
	EmuDev *d;
	gboolean resume;
	gboolean precopy;
	int fd;			/* our end of the pipe */
	int wake;		/* eventfd: abort, final, new dirty pages */
	dev_t pipe_dev;
	ino_t pipe_ino;
	EmuFaults faults;
	GThread *thread;

	/* shared with the model thread, under d->mu */
	gboolean abort;
	gboolean final;		/* save: STOP_COPY reached; resume: drain and stop */
	SaveStage stage;
	guint32 cursor;		/* next page of the initial pass */
	guint64 *dirty;		/* pages to send again */
	guint32 n_dirty;
	guint32 scan;
	gboolean busy;		/* the thread holds bytes not yet in the pipe */
	gboolean stalled;	/* stop-after fired */
	gboolean closed;	/* write end closed: end of stream or truncate-after */
	gboolean rejected;	/* resume: the parser refused the stream */
	guint64 produced;	/* bytes written into the pipe */
	guint64 initial_size;
	guint64 last_initial;

	/* model thread only */
	guint64 offset;		/* stream bytes generated (before faults) */
	guint32 crc;
	guint32 n_records;
	EmuParser *parser;
	int io_error;
} EmuSession;

/* DMA logging of the emulated device (emu-dmalog.c): the ranges START
 * gave, the granularity, and the pages written since the last REPORT. */
typedef struct {
	gboolean active;
	guint64 page_size;
	NvfmDmaRange *ranges;
	guint32 n_ranges;
	GHashTable *dirty;	/* page IOVA (guint64 *) set */
} EmuDmaLog;

struct _EmuDev {
	EmuModel *m;
	int lock_fd;
	GMutex mu;
	NvfmMigState state;
	gint64 last_tick;
	guint64 carry;		/* dirtied bytes short of a page */
	EmuFaults faults;
	EmuSession *sess;
	/* committed a RESUMING session with no data: like the driver that
	 * oopsed on it, nothing (not even a reset) works any more here */
	gboolean wedged;
	EmuDmaLog dmalog;
};

static inline gboolean state_running(NvfmMigState s)
{
	return s == S_RUN || s == S_RP2P || s == S_PC || s == S_PCP2P;
}

static inline gboolean state_precopy(NvfmMigState s)
{
	return s == S_PC || s == S_PCP2P;
}

/* emu-session.c */
/* Dirties what the workload did since the last call; under d->mu. */
void emu_dev_tick(EmuDev *d);
/* Wakes the session's model thread (abort, final, new dirty pages). */
void emu_session_wake(EmuSession *s);
/* Whether a saving session has bytes left to produce; under d->mu. */
gboolean emu_session_has_more(EmuSession *s);
/* Start a saving (PRE_COPY when @precopy) or resuming session; *out_fd
 * gets the caller's end of its pipe. -errno. */
int emu_session_start_save(EmuDev *d, gboolean precopy, int *out_fd);
int emu_session_start_resume(EmuDev *d, int *out_fd);
/* Stops and frees the session, if any; its fd goes dead. */
void emu_session_end(EmuDev *d);
/* RESUMING -> STOP: validates the whole stream and commits it. -errno. */
int emu_session_finish_resume(EmuDev *d);

/* emu-dmalog.c: VFIO_DEVICE_FEATURE_DMA_LOGGING_* as the VFIO core and
 * its drivers answer them; -errno. Under d->mu. */
int emu_dma_log_start(EmuDev *d, guint64 *page_size, const NvfmDmaRange *ranges, guint32 n);
int emu_dma_log_report(EmuDev *d, guint64 iova, guint64 length, guint64 page_size,
		       guint64 *bitmap);
int emu_dma_log_stop(EmuDev *d);
/* Logging ends with the opener, as a driver's close_device stops it. */
void emu_dma_log_end(EmuDev *d);
/* Marks the pages of [iova, iova+length) the device wrote, where logged. */
void emu_dma_log_mark(EmuDev *d, guint64 iova, guint64 length);

#pragma GCC visibility pop
