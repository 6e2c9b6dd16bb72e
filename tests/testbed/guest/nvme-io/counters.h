/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The counter blocks the guest publishes: one per NVMe controller it drives
 * (up to NVIO_MAX_CTRL), controller k's at guest-physical
 * NVIO_COUNTERS + k * NVIO_CTRL_STRIDE (0x300000, 0x300100): NVIO_NWORDS
 * little-endian 32-bit words each, read with HMP "xp /40wx 0x300000".
 * Every word is written by the guest only; a reader sees each word whole.
 * A block with no controller behind it stays zero (no magic). Block 0 also
 * carries the steps before and during the PCI scan, and the fatal "no
 * controller at all". read-counters.sh knows the same layout: keep the two
 * in step (the word index is the comment's number).
 */
#ifndef NVIO_COUNTERS_H
#define NVIO_COUNTERS_H

#define NVIO_COUNTERS	0x300000
#define NVIO_PROGRESS	0x200000	/* where counter.S counts: I/Os completed */
#define NVIO_MAGIC	0x4f49564e	/* "NVIO" */
#define NVIO_VERSION	2	/* 2: word 39 is W_CTRL (was reserved, 0) */
#define NVIO_NWORDS	40
#define NVIO_CTRL_STRIDE 0x100	/* bytes between two controllers' blocks */
#define NVIO_MAX_CTRL	2	/* controllers driven at most */

enum nvio_word {
	W_MAGIC,		/*  0 NVIO_MAGIC once the guest has started */
	W_VERSION,		/*  1 layout version */
	W_STATE,		/*  2 enum nvio_state; >= 0xe000 fatal */
	W_FATAL_CODE,		/*  3 enum nvio_fatal, when fatal */
	W_FATAL_DETAIL,		/*  4 e.g. the NVMe status or a register */
	W_HEARTBEAT,		/*  5 +1 every 1024 passes of the poll loop */
	W_QUEUES,		/*  6 I/O queue pairs in use */
	W_QDEPTH,		/*  7 commands kept in flight per queue */
	W_WRITES,		/*  8 write commands completed with success */
	W_READS,		/*  9 read commands completed with success */
	W_BLOCKS_WRITTEN,	/* 10 blocks (LBAs) written with success */
	W_BLOCKS_VERIFIED,	/* 11 blocks read back and found exactly as expected */
	W_ERRORS,		/* 12 completions with a non-zero NVMe status */
	W_MISMATCHES,		/* 13 blocks read back wrong (magic/LBA/boot/checksum/seq) */
	W_LOST,			/* 14 commands outstanding beyond the bound */
	W_UNEXPECTED,		/* 15 CQEs for no outstanding command (doubled, unknown CID/SQ) */
	W_SWEEPS,		/* 16 full read-back sweeps of the region completed */
	W_LATE,			/* 17 completions of commands already counted lost */
	W_INFLIGHT,		/* 18 commands outstanding now */
	W_LBA_SIZE,		/* 19 bytes per LBA */
	W_REGION_LBAS,		/* 20 LBAs in the test region (from LBA 0) */
	W_FILLED,		/* 21 1 once every LBA of the region has been written */
	W_MAX_LAT_US,		/* 22 longest command latency seen, microseconds */
	W_TSC_KHZ,		/* 23 the calibrated TSC frequency */
	W_LAST_ERROR,		/* 24 qid << 24 | opcode << 16 | status (SCT/SC/DNR...) */
	W_LAST_MM_LBA,		/* 25 the last mismatching LBA */
	W_LAST_MM_KIND,		/* 26 its faults: 1 magic, 2 LBA, 4 boot nonce, 8 checksum, 16 seq */
	W_LAST_MM_SEQ,		/* 27 the sequence number found in it */
	W_LAST_MM_EXP,		/* 28 the sequence number expected */
	W_PCI_BDF,		/* 29 bus << 8 | dev << 3 | fn of the controller */
	W_BAR0,			/* 30 BAR0 as used (bit 31 of W_FLAGS: reassigned by us) */
	W_NONCE,		/* 31 this boot's nonce, written into every block */
	W_SEQ,			/* 32 the last write sequence number issued */
	W_COMPLETIONS,		/* 33 CQEs consumed on the I/O queues (any status) */
	W_CSTS,			/* 34 CSTS as last read (at init, and when a command is lost) */
	W_PCI_ID,		/* 35 device id << 16 | vendor id */
	W_FLAGS,		/* 36 1: fewer I/O queues than wanted; 0x80000000: BAR0 reassigned */
	W_NSID,			/* 37 the namespace in use */
	W_TIME_S,		/* 38 seconds of guest time (TSC) since I/O started */
	W_CTRL,			/* 39 this block's controller index k (0, 1) */
};

enum nvio_state {
	ST_START = 0x01,	/* entered main */
	ST_TSC = 0x02,		/* calibrating the TSC against the PIT */
	ST_PCI_SCAN = 0x03,	/* looking for class 01:08:02 (block 0 only) */
	ST_PCI_BAR = 0x04,	/* BAR0, command register */
	ST_DISABLE = 0x05,	/* CC.EN=0, waiting for CSTS.RDY=0 */
	ST_ADMINQ = 0x06,	/* AQA/ASQ/ACQ */
	ST_ENABLE = 0x07,	/* CC.EN=1, waiting for CSTS.RDY=1 */
	ST_ID_CTRL = 0x08,	/* Identify Controller */
	ST_ID_NS = 0x09,	/* Identify active namespaces, Identify Namespace */
	ST_SET_QUEUES = 0x0a,	/* Set Features: Number of Queues */
	ST_CREATE_QUEUES = 0x0b,/* Create I/O CQ/SQ */
	ST_FILL = 0x10,		/* running: first pass writing the whole region */
	ST_RUNNING = 0x11,	/* running: random writes, random reads, sweeps */
	ST_FATAL = 0xe000,	/* | the step that failed (the values above) */
};

enum nvio_fatal {
	F_NONE,
	F_NO_DEVICE = 1,	/* no NVMe controller on buses 0..255 (block 0 only) */
	F_BAR = 2,		/* BAR0 unusable; detail: 1 I/O BAR, 2 too big, 3 no room, 4 no bridge */
	F_RDY_TIMEOUT = 3,	/* CSTS.RDY did not follow CC.EN; detail: CSTS */
	F_CFS = 4,		/* CSTS.CFS set; detail: CSTS */
	F_ADMIN_TIMEOUT = 5,	/* an admin command did not complete; detail: opcode */
	F_ADMIN_STATUS = 6,	/* an admin command failed; detail: opcode << 16 | status */
	F_UNSUPPORTED = 7,	/* detail: 1 no 4 KiB pages, 2 LBA size, 3 metadata, 4 NVM set */
	F_NO_NAMESPACE = 8,	/* no active namespace with blocks */
	F_NO_QUEUES = 9,	/* no I/O queue granted; detail: Set Features dword 0 */
	F_ADMIN_CQE = 10,	/* an admin CQE with a wrong command id; detail: cid */
	F_BAD_REGS = 11,	/* registers read all-ones (device gone); detail: CAP low */
};

#endif
