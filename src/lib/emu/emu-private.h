/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Internals of the emulated migration-capable NVMe VF (emu:NAME).
 *
 * The device's state as data: emu-gen.c generates the modelled NVMe
 * controller and the pages of the PF-DMA'd blob from a seed, emu-stream.c
 * carries them through the data_fd (encoder and incremental parser),
 * emu-files.c persists a device, emu-knobs.c holds its fault knobs.
 * emu-vf.c turns that into a VFIO-like device (the migration state machine,
 * the single-opener lock and the public nvfm_emu_*() calls), with the
 * data_fd pipes fed or drained by emu-session.c's model thread.
 */
#pragma once

#include "engine/engine-private.h"

#pragma GCC visibility push(hidden)

/* little-endian helpers of the state's stream and files */

static inline void put16(guint8 *p, guint16 v)
{
	v = GUINT16_TO_LE(v);
	memcpy(p, &v, 2);
}

static inline void put32(guint8 *p, guint32 v)
{
	v = GUINT32_TO_LE(v);
	memcpy(p, &v, 4);
}

static inline void put64(guint8 *p, guint64 v)
{
	v = GUINT64_TO_LE(v);
	memcpy(p, &v, 8);
}

static inline guint16 get16(const guint8 *p)
{
	guint16 v;

	memcpy(&v, p, 2);
	return GUINT16_FROM_LE(v);
}

static inline guint32 get32(const guint8 *p)
{
	guint32 v;

	memcpy(&v, p, 4);
	return GUINT32_FROM_LE(v);
}

static inline guint64 get64(const guint8 *p)
{
	guint64 v;

	memcpy(&v, p, 8);
	return GUINT64_FROM_LE(v);
}

/* the page table's "contents spilled" bit */
#define PAGE_SPILLED_BIT 0x80000000u

/* Granule of the blob: page records carry at most this many bytes. */
#define EMU_PAGE_SIZE (64u << 10)
/* A generated page: this many bytes unique to (seed, index, version),
 * then EMU_WINDOW_SIZE bytes from the seed's pool (emu-gen.c). */
#define EMU_TWEAK_SIZE 16u
#define EMU_WINDOW_SIZE (EMU_PAGE_SIZE - EMU_TWEAK_SIZE)
/* Largest blob a device may have (the page table stays at 4 MiB). */
#define EMU_MAX_BLOB (64ull << 30)
#define EMU_MAX_IO_QUEUES 64
#define EMU_MAX_CMDS 16

/* Stream layout constants; see the comment block in emu-stream.c. */
#define EMU_STREAM_MAGIC "NVFM-EMU"
#define EMU_STREAM_VERSION 1
#define EMU_STREAM_HEADER_SIZE 40
#define EMU_REC_HEADER_SIZE 16
#define EMU_PAGE_SUBHEADER_SIZE 16
#define EMU_END_PAYLOAD_SIZE 16
#define EMU_CTRL_FIXED_SIZE 64
#define EMU_CTRL_QUEUE_SIZE 48
#define EMU_CTRL_CMD_SIZE 24
#define EMU_CTRL_MAX_PAYLOAD \
	(EMU_CTRL_FIXED_SIZE + (1 + EMU_MAX_IO_QUEUES) * EMU_CTRL_QUEUE_SIZE + \
	 EMU_MAX_CMDS * EMU_CTRL_CMD_SIZE)

typedef enum {
	EMU_REC_CTRL = 1,
	EMU_REC_PAGE = 2,
	EMU_REC_END = 3,
} EmuRecType;

/* One submission/completion queue pair; sizes of 0 mean "not created". */
typedef struct {
	guint16 qid;
	guint16 cqid;
	guint32 sq_size;
	guint32 cq_size;
	guint16 sq_head, sq_tail;
	guint16 cq_head, cq_tail;
	guint16 irq_vector;
	guint8 cq_phase;
	guint8 flags;		/* bit 0: physically contiguous, bit 1: irq enabled */
	guint64 sq_base;
	guint64 cq_base;
} EmuQueue;

/* A command the controller has fetched but not completed yet. */
typedef struct {
	guint16 qid;
	guint16 cid;
	guint8 opcode;
	guint32 nsid;
	guint32 nlb;		/* 0-based, as in the NVMe command */
	guint64 slba;
} EmuCmd;

/* The NVMe controller as a VF's state record carries it. */
typedef struct {
	guint64 cap;
	guint32 vs, intms, intmc, cc, csts, nssr, aqa;
	guint64 asq, acq;
	guint32 n_queues;	/* admin + I/O queue pairs */
	EmuQueue queues[1 + EMU_MAX_IO_QUEUES];
	guint32 n_cmds;
	EmuCmd cmds[EMU_MAX_CMDS];
} EmuCtrl;

/* Per-seed bytes the generator draws pages from; shared, read-only. */
typedef struct _EmuPool EmuPool;

/* The generator's recipe for one page. */
typedef struct {
	guint8 tweak[EMU_TWEAK_SIZE];
	const guint8 *window;	/* the page's bytes from EMU_TWEAK_SIZE on */
	guint32 window_crc;	/* CRC32C of a full page's window */
} EmuPageGen;

/*
 * The whole migratable state. A page's bytes are those the generator
 * gives for (seed, index, version), unless its bit in @spilled is set:
 * then they live in the spill file at index * EMU_PAGE_SIZE.
 */
typedef struct {
	guint64 blob_size;
	guint64 seed;
	guint32 n_io_queues;
	guint32 n_pages;
	guint32 *ver;
	guint64 *spilled;	/* bitmap, n_pages bits */
	guint32 n_spilled;
	int spill_fd;		/* open read-only when n_spilled > 0, else -1 */
	EmuPool *pool;		/* the generator's pool for @seed */
	EmuCtrl ctrl;
} EmuState;

/* Armed fault knobs; see nvfm_emu_set_fault(). -1 / FALSE = disarmed. */
typedef struct {
	gboolean fail_arc;
	NvfmMigState fail_from, fail_to;
	gint64 corrupt_byte;
	guint64 slow_us;
	gint64 stop_after;
	gint64 truncate_after;
	gboolean reject_resume;
	/* the migration state outlives the opener, as with drivers that do
	 * not reset on open (mdev ones): NAME.migstate carries it */
	gboolean keep_state;
	/* deviations a conformance suite must grade (selftest): read() 0
	 * instead of ENOMSG at PRE_COPY's temporary end, no CRC check on
	 * resume, a MIG_DATA_SIZE of this many bytes (0: the truth), and a
	 * VFIO_DEVICE_RESET that succeeds but does nothing */
	gboolean precopy_eof_zero;
	gboolean accept_corrupt;
	guint64 size_lie;
	gboolean no_reset;
	/* every migration state change first sleeps this long (a driver
	 * stuck in an ioctl) */
	guint64 stall_ms;
	/* dirty tracking the device and its "IOMMU" offer (vf state, check,
	 * selftest): DMA logging, IOMMU dirty tracking, and how many pages
	 * of guest memory the running device writes between two REPORTs */
	gboolean dma_logging;
	gboolean iommu_dirty;
	guint64 dma_writes;
	/* a driver that keeps no logging state: REPORT without START and a
	 * second START succeed (selftest's dma-logging cases) */
	gboolean dma_lax;
} EmuFaults;

/* A device as stored in nvfm_emu_dir(). cfg.blob_size, cfg.seed and
 * cfg.n_io_queues mirror st (a load can change them). */
typedef struct {
	char *dir;
	char *name;
	NvfmEmuConfig cfg;
	EmuState st;
	guint64 rng;		/* position of the dirtying workload */
	guint64 dirtied_bytes;	/* statistics: bytes dirtied over the device's life */
} EmuModel;

/* emu-files.c: names, files */
gboolean emu_name_valid(const char *name);
gboolean emu_check_name(const char *name, GError **error);
gboolean emu_ensure_dir(const char *dir, GError **error);
char *emu_path(const char *dir, const char *name, const char *suffix);
/* pid of the process holding the flock on @path (an open device), or 0 */
guint64 emu_lock_holder(const char *path);
gboolean emu_config_check(const NvfmEmuConfig *cfg, GError **error);

/* emu-gen.c: state */
EmuPool *emu_pool_ref(guint64 seed);
void emu_pool_unref(EmuPool *pool);
void emu_page_gen(const EmuState *st, guint32 index, guint32 version, EmuPageGen *g);
/* @crc updated over a generated page of @len bytes (a full page's from the
 * pool's tables) */
guint32 emu_page_crc(const EmuState *st, const EmuPageGen *g, gsize len, guint32 crc);
void emu_page_gen_copy(const EmuPageGen *g, guint8 *out, gsize len);
/* whether @buf holds the page's bytes [@off, @off + @len) */
gboolean emu_page_gen_equal(const EmuPageGen *g, gsize off, const guint8 *buf, gsize len);
gsize emu_page_len(const EmuState *st, guint32 index);
gboolean emu_state_init(EmuState *st, guint64 blob_size, guint64 seed, guint32 n_io_queues);
void emu_state_clear(EmuState *st);
void emu_ctrl_generate(EmuCtrl *c, guint64 seed, guint32 n_io_queues);
void emu_ctrl_reset(EmuCtrl *c);
gboolean emu_page_spilled(const EmuState *st, guint32 index);
int emu_page_read(const EmuState *st, guint32 index, guint32 version, gboolean spilled,
		  guint8 *out);
typedef void (*EmuDirtyMark)(gpointer user_data, guint32 index);
void emu_model_dirty(EmuModel *m, guint64 events, EmuDirtyMark mark, gpointer user_data);

/* emu-stream.c: stream encoding */
gsize emu_encode_header(const EmuState *st, guint8 *out);
gsize emu_ctrl_record_size(const EmuCtrl *c);
gsize emu_encode_ctrl(const EmuCtrl *c, guint8 *out);
gsize emu_encode_page_header(guint32 index, guint32 version, guint32 len, guint8 *out);
guint64 emu_page_record_size(gsize len);
gsize emu_encode_end(guint64 offset, guint32 n_records, guint32 *crc, guint8 *out);
guint64 emu_image_size(const EmuState *st);
gboolean emu_image_digest(const EmuState *st, char **out_hex, guint64 *out_size,
			  GError **error);

/* emu-stream.c: incremental stream parser (RESUMING) */
typedef struct _EmuParser EmuParser;
/* @max_blob: the largest blob the stream may claim; no more than that is
 * ever staged in @spill_path */
EmuParser *emu_parser_new(const char *spill_path, guint64 max_blob);
/* the accept-corrupt knob: the end record's CRC32C is not compared */
void emu_parser_skip_crc(EmuParser *p);
void emu_parser_free(EmuParser *p);
void emu_parser_feed(EmuParser *p, const guint8 *buf, gsize len);
gboolean emu_parser_failed(const EmuParser *p);
/* On success the parsed state moves into @out (cleared first). */
gboolean emu_parser_finish(EmuParser *p, EmuState *out, GError **error);

/* emu-files.c: persistence */
EmuModel *emu_model_new(const char *dir, const char *name, const NvfmEmuConfig *cfg,
			GError **error);
EmuModel *emu_model_load(const char *dir, const char *name, GError **error);
gboolean emu_model_save(EmuModel *m, GError **error);
gboolean emu_model_exists(const char *dir, const char *name);
void emu_model_free(EmuModel *m);
json_t *emu_model_to_json(const EmuModel *m);
gboolean emu_model_remove_files(const char *dir, const char *name, GError **error);

/* emu-knobs.c: the fault knobs, in memory and in NAME.faults */
void emu_faults_init(EmuFaults *f);
/* arms (or with a NULL @value disarms) the knob @knob */
gboolean emu_faults_set(EmuFaults *f, const char *knob, const char *value, GError **error);
gboolean emu_faults_load(const char *dir, const char *name, EmuFaults *f, GError **error);
json_t *emu_faults_to_json(const EmuFaults *f);
gboolean emu_faults_save(const char *dir, const char *name, const EmuFaults *f,
			 GError **error);

G_DEFINE_AUTOPTR_CLEANUP_FUNC(EmuModel, emu_model_free)
G_DEFINE_AUTOPTR_CLEANUP_FUNC(EmuParser, emu_parser_free)


/* emu-vf.c: the emulated backend's constructor (fills dev->ops and
 * dev->priv for the emulated VF @name) */
gboolean nvfm_emu_open(NvfmDevice *dev, const char *name, GError **error);

/* emu-gen.c: marks page @index spilled (its bytes are in the spill file)
 * or not; writes all of @buf at @off (-errno) */
void emu_page_set_spilled(EmuState *st, guint32 index, gboolean on);
int emu_pwrite_full(int fd, const guint8 *buf, gsize len, guint64 off);

#pragma GCC visibility pop
