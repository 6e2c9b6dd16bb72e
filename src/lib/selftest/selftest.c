/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * A conformance suite for VFIO migration drivers. Every case starts from a
 * reset device, checks one promise of the uAPI v2 and leaves the device
 * usable. It runs the same against emu: devices and kernel drivers.
 */
#define G_LOG_DOMAIN "nvfm-selftest"

#include <fcntl.h>
#include <poll.h>
#include <stdarg.h>
#include <string.h>
#include <sys/stat.h>

#include "selftest-private.h"

#define DEFAULT_TIMEOUT_MS 10000
#define RAW_CHUNK (256u << 10)

typedef struct {
	NvfmDevice *dev;
	const NvfmAddress *address;	/* to reopen the device */
	NvfmMigFeatures feat;
	char *detail;		/* set by a case to explain itself */
	char *warning;		/* a finding short of a failure, with its evidence */
	gboolean forbidden_arcs;	/* --forbidden-arcs: the driver gets them raw */
	int timeout_ms;
} Ctx;

/* A case's failure is graded: fail() in a recommendation or robustness case
 * is a warning. hard_fail() is a uAPI requirement broken on the way, which
 * fails whatever the case's grade. */
#define SELFTEST_ERROR (selftest_error_quark())
enum { SELFTEST_FINDING, SELFTEST_HARD };
static G_DEFINE_QUARK(nvfm-selftest-finding, selftest_error)

typedef gboolean (*CaseFunc)(Ctx *c, GError **error);

static gboolean verdict(GError **error, NvfmErrorCode code, const char *fmt, va_list ap)
{
	g_autofree char *msg = g_strdup_vprintf(fmt, ap);

	g_set_error_literal(error, NVFM_ERROR, code, msg);
	return FALSE;
}

/* A case returns fail(...) to fail, or skip(...) when the device lacks
 * what the case needs. */
static gboolean fail(GError **error, const char *fmt, ...) G_GNUC_PRINTF(2, 3);
static gboolean fail(GError **error, const char *fmt, ...)
{
	va_list ap;
	g_autofree char *msg = NULL;

	va_start(ap, fmt);
	msg = g_strdup_vprintf(fmt, ap);
	va_end(ap);
	g_set_error_literal(error, SELFTEST_ERROR, SELFTEST_FINDING, msg);
	return FALSE;
}

static gboolean hard_fail(GError **error, const char *fmt, ...) G_GNUC_PRINTF(2, 3);
static gboolean hard_fail(GError **error, const char *fmt, ...)
{
	va_list ap;
	g_autofree char *msg = NULL;

	va_start(ap, fmt);
	msg = g_strdup_vprintf(fmt, ap);
	va_end(ap);
	g_set_error_literal(error, SELFTEST_ERROR, SELFTEST_HARD, msg);
	return FALSE;
}

/* A finding short of the case's promise: the case goes on, and ends in a
 * warning if nothing fails. */
static void warn(Ctx *c, const char *fmt, ...) G_GNUC_PRINTF(2, 3);
static void warn(Ctx *c, const char *fmt, ...)
{
	va_list ap;
	g_autofree char *msg = NULL;
	char *all;

	va_start(ap, fmt);
	msg = g_strdup_vprintf(fmt, ap);
	va_end(ap);
	all = c->warning ? g_strconcat(c->warning, "; ", msg, NULL) : g_strdup(msg);
	g_free(c->warning);
	c->warning = all;
}

static gboolean skip(GError **error, const char *fmt, ...) G_GNUC_PRINTF(2, 3);
static gboolean skip(GError **error, const char *fmt, ...)
{
	va_list ap;
	gboolean r;

	va_start(ap, fmt);
	r = verdict(error, NVFM_ERROR_NOT_SUPPORTED, fmt, ap);
	va_end(ap);
	return r;
}

static void note(Ctx *c, const char *fmt, ...) G_GNUC_PRINTF(2, 3);
static void note(Ctx *c, const char *fmt, ...)
{
	va_list ap;

	g_free(c->detail);
	va_start(ap, fmt);
	c->detail = g_strdup_vprintf(fmt, ap);
	va_end(ap);
}

static gboolean expect_state(Ctx *c, NvfmMigState want, GError **error)
{
	NvfmMigState st;

	if (!nvfm_device_get_state(c->dev, &st, error))
		return FALSE;
	if (st != want)
		return fail(error, "device reports %s, expected %s", nvfm_mig_state_name(st),
			    nvfm_mig_state_name(want));
	return TRUE;
}

static int tmpfile_fd(GError **error)
{
	const char *dir = g_get_tmp_dir();
	int fd = open(dir, O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);

	if (fd < 0)
		nvfm_set_error_errno(error, -errno, "temporary file in %s", dir);
	return fd;
}

/* One read(2)/write(2) on a data_fd, as the backend does it: -errno. */
static gssize raw_read(Ctx *c, int fd, void *buf, gsize len)
{
	gssize n;

	if (c->dev->ops->data_read)
		return c->dev->ops->data_read(c->dev, fd, buf, len);
	n = read(fd, buf, len);
	return n < 0 ? -errno : n;
}

static gssize raw_write(Ctx *c, int fd, const void *buf, gsize len)
{
	gssize n;

	if (c->dev->ops->data_write)
		return c->dev->ops->data_write(c->dev, fd, buf, len);
	n = write(fd, buf, len);
	return n < 0 ? -errno : n;
}

/* Read the rest of the data stream into @out_fd; returns bytes or -1. */
static gint64 drain_raw(Ctx *c, int out_fd, GError **error)
{
	g_autofree guint8 *buf = g_malloc(RAW_CHUNK);
	gint64 total = 0;

	for (;;) {
		NvfmReadStatus st;
		gssize n = nvfm_device_read(c->dev, buf, RAW_CHUNK, c->timeout_ms, &st, error);

		if (n < 0)
			return -1;
		if (n == 0)
			{
			if (st == NVFM_READ_END)
				return total;
			fail(error, "stream paused outside PRE_COPY");
			return -1;
		}
		if (out_fd >= 0 && write(out_fd, buf, n) != n) {
			nvfm_set_error_errno(error, -errno, "temporary file write");
			return -1;
		}
		total += n;
	}
}

/* A STOP_COPY image of the device, from RUNNING or STOP, in a temp file. */
static int raw_image(Ctx *c, gint64 *size, GError **error)
{
	int fd = tmpfile_fd(error);

	if (fd < 0)
		return -1;
	if (!nvfm_device_set_state(c->dev, NVFM_MIG_STATE_STOP_COPY, error) ||
	    (*size = drain_raw(c, fd, error)) < 0 ||
	    !nvfm_device_set_state(c->dev, NVFM_MIG_STATE_STOP, error)) {
		close(fd);
		return -1;
	}
	return fd;
}

/* Feed @len bytes of @fd into RESUMING, flipping byte @flip (-1: none). */
static gboolean feed_raw(Ctx *c, int fd, gint64 len, gint64 flip, GError **error)
{
	g_autofree guint8 *buf = g_malloc(RAW_CHUNK);
	gint64 off = 0;

	if (!nvfm_device_set_state(c->dev, NVFM_MIG_STATE_RESUMING, error))
		return FALSE;
	while (off < len) {
		gssize n = pread(fd, buf, MIN((gint64)RAW_CHUNK, len - off), off);

		if (n <= 0)
			return fail(error, "temporary file read failed");
		if (flip >= off && flip < off + n)
			buf[flip - off] ^= 0x5a;
		if (!nvfm_device_write_all(c->dev, buf, n, c->timeout_ms, error))
			return FALSE;
		off += n;
	}
	return TRUE;
}

static gboolean digest_fd(int fd, char **hex, GError **error)
{
	g_autoptr(NvfmSha256) sha = nvfm_sha256_new();
	g_autofree guint8 *buf = g_malloc(RAW_CHUNK);
	guint8 digest[32];
	off_t off = 0;
	gssize n;

	while ((n = pread(fd, buf, RAW_CHUNK, off)) > 0) {
		nvfm_sha256_update(sha, buf, (gsize)n);
		off += n;
	}
	if (n < 0)
		return fail(error, "temporary file read failed");
	nvfm_sha256_finish(sha, digest);
	*hex = g_malloc(65);
	nvfm_sha256_hex(digest, *hex);
	return TRUE;
}

/* ---- the cases ---- */

static gboolean case_features(Ctx *c, GError **error)
{
	g_autofree char *fl = nvfm_mig_flags_to_string(c->feat.flags);

	if (c->feat.has_data_size)
		note(c, "flags %s, MIG_DATA_SIZE %" G_GUINT64_FORMAT " bytes", fl,
		     c->feat.stop_copy_length);
	else
		note(c, "flags %s, no MIG_DATA_SIZE", fl);
	return TRUE;
}

static gboolean case_reset_running(Ctx *c, GError **error)
{
	if (!nvfm_device_set_state(c->dev, NVFM_MIG_STATE_STOP, error) ||
	    !nvfm_device_reset(c->dev, error))
		return FALSE;
	return expect_state(c, NVFM_MIG_STATE_RUNNING, error);
}

/* Every single arc the uAPI defines for these flags, reached by the plan. */
/* Go to @s; a RESUMING device gets a valid image (@img_fd) written, since
 * leaving RESUMING commits what was written and nothing is not a state. */
static gboolean enter_state(Ctx *c, NvfmMigState s, int img_fd, gint64 img_size,
			    GError **error)
{
	if (!nvfm_device_reset(c->dev, error))
		return FALSE;
	if (s == NVFM_MIG_STATE_RESUMING)
		return feed_raw(c, img_fd, img_size, -1, error);
	return nvfm_device_set_state(c->dev, s, error);
}

static gboolean single_arcs(Ctx *c, int img, gint64 img_size, guint *arcs, GError **error)
{

	for (guint s = 1; s < NVFM_MIG_STATE_COUNT; s++) {
		for (guint t = 1; t < NVFM_MIG_STATE_COUNT; t++) {
			NvfmMigState next;

			if (s == t || nvfm_mig_next_state(c->feat.flags, s, t, &next) < 0 ||
			    next != (NvfmMigState)t)
				continue;
			if (!enter_state(c, s, img, img_size, error))
				return FALSE;
			if (nvfm_device_set_state_raw(c->dev, t) < 0)
				return fail(error, "arc %s -> %s failed", nvfm_mig_state_name(s),
					    nvfm_mig_state_name(t));
			if (!expect_state(c, t, error)) {
				g_prefix_error(error, "after %s -> %s: ", nvfm_mig_state_name(s),
					       nvfm_mig_state_name(t));
				return FALSE;
			}
			(*arcs)++;
		}
	}
	return TRUE;
}

static gboolean case_single_arcs(Ctx *c, GError **error)
{
	guint arcs = 0;
	gint64 img_size = 0;
	int img = raw_image(c, &img_size, error);
	gboolean ok = img >= 0 && single_arcs(c, img, img_size, &arcs, error);

	if (img >= 0)
		close(img);
	if (!ok)
		return FALSE;
	note(c, "%u single arcs", arcs);
	return nvfm_device_reset(c->dev, error);
}

/* Combination arcs requested in one call, as the kernel must decompose them. */
static gboolean combination_arcs(Ctx *c, int img, gint64 img_size, guint *pairs,
				 GError **error)
{

	for (guint s = 1; s < NVFM_MIG_STATE_COUNT; s++) {
		for (guint t = 1; t < NVFM_MIG_STATE_COUNT; t++) {
			NvfmMigState path[NVFM_MIG_PATH_MAX];
			guint n;
			int r;

			if (s == t || !nvfm_mig_plan(c->feat.flags, s, t, path, &n, NULL) || n < 2)
				continue;
			if (!enter_state(c, s, img, img_size, error))
				return FALSE;
			r = nvfm_device_set_state_raw(c->dev, t);
			if (r < 0)
				return fail(error, "combination %s -> %s failed: %s", nvfm_mig_state_name(s),
					    nvfm_mig_state_name(t), g_strerror(-r));
			if (!expect_state(c, t, error))
				return FALSE;
			(*pairs)++;
		}
	}
	return TRUE;
}

static gboolean case_combination_arcs(Ctx *c, GError **error)
{
	guint pairs = 0;
	gint64 img_size = 0;
	int img = raw_image(c, &img_size, error);
	gboolean ok = img >= 0 && combination_arcs(c, img, img_size, &pairs, error);

	if (img >= 0)
		close(img);
	if (!ok)
		return FALSE;
	note(c, "%u combination pairs", pairs);
	return nvfm_device_reset(c->dev, error);
}

/* The planner refuses these before any ioctl; the device must not move. */
static gboolean case_forbidden(Ctx *c, GError **error)
{
	static const NvfmMigState pc[] = { NVFM_MIG_STATE_PRE_COPY, NVFM_MIG_STATE_PRE_COPY_P2P };
	GError *e = NULL;

	if (!nvfm_device_reset(c->dev, error))
		return FALSE;
	if (nvfm_device_set_state(c->dev, NVFM_MIG_STATE_ERROR, &e))
		return fail(error, "ERROR was accepted as a target");
	if (!g_error_matches(e, NVFM_ERROR, NVFM_ERROR_STATE)) {
		g_propagate_error(error, e);
		return FALSE;
	}
	g_clear_error(&e);
	if (!expect_state(c, NVFM_MIG_STATE_RUNNING, error))
		return FALSE;
	for (guint s = 1; s < NVFM_MIG_STATE_COUNT; s++) {
		if (nvfm_mig_state_supported(c->feat.flags, s))
			continue;
		if (nvfm_device_set_state(c->dev, s, &e))
			return fail(error, "unsupported state %s was accepted", nvfm_mig_state_name(s));
		g_clear_error(&e);
	}
	if (!nvfm_device_set_state(c->dev, NVFM_MIG_STATE_STOP_COPY, error))
		return FALSE;
	for (guint i = 0; i < G_N_ELEMENTS(pc); i++) {
		if (!nvfm_mig_state_supported(c->feat.flags, pc[i]))
			continue;
		if (nvfm_device_set_state(c->dev, pc[i], &e))
			return fail(error, "STOP_COPY -> %s was attempted", nvfm_mig_state_name(pc[i]));
		g_clear_error(&e);
	}
	if (!expect_state(c, NVFM_MIG_STATE_STOP_COPY, error))
		return FALSE;
	return nvfm_device_reset(c->dev, error);
}

static gboolean case_data_fd_stream(Ctx *c, GError **error)
{
	guint8 b;
	NvfmReadStatus st;
	gint64 total;

	if (!nvfm_device_reset(c->dev, error) ||
	    !nvfm_device_set_state(c->dev, NVFM_MIG_STATE_STOP_COPY, error))
		return FALSE;
	/* a stream, as every upstream driver opens it (stream_open) */
	if (pread(nvfm_device_data_fd(c->dev), &b, 1, 0) >= 0 || errno != ESPIPE)
		warn(c, "pread on the data_fd did not fail with ESPIPE");
	total = drain_raw(c, -1, error);
	if (total < 0)
		return FALSE;
	/* The end must stay the end. */
	if (nvfm_device_read(c->dev, &b, 1, c->timeout_ms, &st, error) != 0 ||
	    st != NVFM_READ_END)
		return fail(error, "reading after the end of the STOP_COPY stream did not return 0");
	if (c->feat.has_data_size)
		note(c, "%" G_GINT64_FORMAT " bytes; MIG_DATA_SIZE said %" G_GUINT64_FORMAT, total,
		     c->feat.stop_copy_length);
	else
		note(c, "%" G_GINT64_FORMAT " bytes", total);
	return nvfm_device_reset(c->dev, error);
}

/* After the device leaves STOP_COPY the old data_fd is dead: ENODEV. */
static gboolean case_data_fd_disabled(Ctx *c, GError **error)
{
	guint8 b;
	int dup_fd;
	gssize n;
	int err;

	if (!nvfm_device_reset(c->dev, error) ||
	    !nvfm_device_set_state(c->dev, NVFM_MIG_STATE_STOP_COPY, error))
		return FALSE;
	dup_fd = fcntl(nvfm_device_data_fd(c->dev), F_DUPFD_CLOEXEC, 0);
	if (dup_fd < 0)
		return fail(error, "dup of the data_fd failed");
	if (!nvfm_device_set_state(c->dev, NVFM_MIG_STATE_STOP, error)) {
		close(dup_fd);
		return FALSE;
	}
	n = raw_read(c, dup_fd, &b, 1);
	err = n < 0 ? (int)-n : 0;
	close(dup_fd);
	if (n > 0)
		return fail(error, "a data_fd still gave data after the device left STOP_COPY");
	if (err != ENODEV)
		warn(c, "read on a disabled data_fd returned %s; drivers return ENODEV",
		     err ? g_strerror(err) : "0");
	return nvfm_device_reset(c->dev, error);
}

static gboolean case_precopy_info(Ctx *c, GError **error)
{
	g_autofree guint8 *buf = g_malloc(RAW_CHUNK);
	guint64 initial, dirty, prev;
	guint reads = 0;
	NvfmReadStatus st;

	if (!(c->feat.flags & NVFM_MIG_FLAG_PRE_COPY))
		return skip(error, "device has no PRE_COPY");
	if (!nvfm_device_reset(c->dev, error) ||
	    !nvfm_device_set_state(c->dev, NVFM_MIG_STATE_PRE_COPY, error) ||
	    !nvfm_device_precopy_info(c->dev, &initial, &dirty, error))
		return FALSE;
	prev = initial;
	for (;;) {
		gssize n = nvfm_device_read(c->dev, buf, RAW_CHUNK, c->timeout_ms, &st, error);

		if (n < 0)
			return FALSE;
		if (n == 0)
			break;
		reads++;
		if (!nvfm_device_precopy_info(c->dev, &initial, &dirty, error))
			return FALSE;
		if (initial > prev)
			return fail(error, "initial_bytes grew from %" G_GUINT64_FORMAT " to %" G_GUINT64_FORMAT,
				    prev, initial);
		prev = initial;
		if (reads > (1u << 22))
			return fail(error, "PRE_COPY stream never paused");
	}
	if (st != NVFM_READ_NO_MORE_FOR_NOW)
		return fail(error, "PRE_COPY stream ended instead of pausing");
	if (!nvfm_device_precopy_info(c->dev, &initial, &dirty, error))
		return FALSE;
	if (initial != 0)
		return fail(error, "initial_bytes is %" G_GUINT64_FORMAT " after the stream paused", initial);
	note(c, "%u reads, initial bytes drained to 0, dirty %" G_GUINT64_FORMAT, reads, dirty);
	/* PRECOPY_INFO is a PRE_COPY-only ioctl. */
	if (!nvfm_device_set_state(c->dev, NVFM_MIG_STATE_STOP_COPY, error))
		return FALSE;
	if (c->dev->ops->precopy_info(c->dev, nvfm_device_data_fd(c->dev), &initial, &dirty) == 0)
		return fail(error, "PRECOPY_INFO succeeded in STOP_COPY");
	return nvfm_device_reset(c->dev, error);
}

/* Save -> load -> save through the framed format gives the same bytes. */
static gboolean save_to(Ctx *c, int fd, guint rounds, NvfmTransferStats *st, GError **error)
{
	g_autoptr(NvfmChannel) ch = nvfm_channel_new_fd(fd, FALSE);
	NvfmSaveOptions o;

	nvfm_save_options_init(&o);
	o.timeout_ms = c->timeout_ms;
	o.precopy_rounds = rounds;
	if (lseek(fd, 0, SEEK_SET) < 0 || ftruncate(fd, 0) < 0)
		return fail(error, "temporary file reset failed");
	return nvfm_save(c->dev, ch, &o, st, error);
}

static gboolean load_from(Ctx *c, int fd, GError **error)
{
	g_autoptr(NvfmChannel) ch = nvfm_channel_new_fd(fd, FALSE);
	NvfmLoadOptions o;

	nvfm_load_options_init(&o);
	o.timeout_ms = c->timeout_ms;
	if (lseek(fd, 0, SEEK_SET) < 0)
		return fail(error, "temporary file seek failed");
	return nvfm_load(c->dev, ch, &o, NULL, error);
}

static gboolean case_roundtrip(Ctx *c, GError **error)
{
	NvfmTransferStats a, b;
	int fd;
	gboolean ok;

	if (!nvfm_device_reset(c->dev, error))
		return FALSE;
	fd = tmpfile_fd(error);
	if (fd < 0)
		return FALSE;
	ok = save_to(c, fd, 0, &a, error) && load_from(c, fd, error) &&
	     expect_state(c, NVFM_MIG_STATE_STOP, error) && save_to(c, fd, 0, &b, error);
	close(fd);
	if (!ok)
		return FALSE;
	if (a.total_bytes != b.total_bytes || strcmp(a.sha256, b.sha256) != 0)
		return fail(error, "state after load differs: %" G_GUINT64_FORMAT " bytes %.16s… vs %"
			    G_GUINT64_FORMAT " bytes %.16s…", a.total_bytes, a.sha256,
			    b.total_bytes, b.sha256);
	note(c, "%" G_GUINT64_FORMAT " bytes, sha256 %.16s…", a.total_bytes, a.sha256);
	return nvfm_device_reset(c->dev, error);
}

/* A precopy stream restores the state the device had when it stopped. */
static gboolean case_roundtrip_precopy(Ctx *c, GError **error)
{
	NvfmTransferStats pre, at_stop, after;
	int fd_pre, fd_stop;
	gboolean ok;

	if (!(c->feat.flags & NVFM_MIG_FLAG_PRE_COPY))
		return skip(error, "device has no PRE_COPY");
	if (!nvfm_device_reset(c->dev, error))
		return FALSE;
	fd_pre = tmpfile_fd(error);
	if (fd_pre < 0)
		return FALSE;
	fd_stop = tmpfile_fd(error);
	if (fd_stop < 0) {
		close(fd_pre);
		return FALSE;
	}
	ok = save_to(c, fd_pre, 3, &pre, error) && save_to(c, fd_stop, 0, &at_stop, error) &&
	     load_from(c, fd_pre, error) && save_to(c, fd_stop, 0, &after, error);
	close(fd_pre);
	close(fd_stop);
	if (!ok)
		return FALSE;
	if (strcmp(at_stop.sha256, after.sha256) != 0)
		return fail(error, "state restored from a precopy stream differs from the stopped source");
	note(c, "%u precopy round(s), %" G_GUINT64_FORMAT " precopy + %" G_GUINT64_FORMAT
	     " stop-copy bytes", pre.precopy_rounds, pre.precopy_bytes, pre.stop_copy_bytes);
	return nvfm_device_reset(c->dev, error);
}

/* Bad input must fail RESUMING -> STOP, and the device must come back. */
static gboolean refuse_case(Ctx *c, gboolean truncate, GError **error)
{
	g_autofree char *before = NULL, *after = NULL;
	gint64 size = 0;
	g_autoptr(GError) e = NULL;
	NvfmMigState now;
	int fd;
	gboolean fed;

	if (!nvfm_device_reset(c->dev, error))
		return FALSE;
	fd = raw_image(c, &size, error);
	if (fd < 0)
		return FALSE;
	if (!digest_fd(fd, &before, error)) {
		close(fd);
		return FALSE;
	}
	if (size < 2) {
		close(fd);
		return skip(error, "device state is %" G_GINT64_FORMAT " bytes: nothing to damage", size);
	}
	fed = truncate ? feed_raw(c, fd, size / 2, -1, &e) : feed_raw(c, fd, size, size / 2, &e);
	/* A driver may refuse while being written to, or at the commit. */
	if (fed && nvfm_device_set_state(c->dev, NVFM_MIG_STATE_STOP, &e)) {
		if (truncate) {
			close(fd);
			return fail(error, "a truncated state (%" G_GINT64_FORMAT " of %" G_GINT64_FORMAT
				    " bytes) was accepted at RESUMING -> STOP", size / 2, size);
		}
		/* Without a checksum a flipped byte may still be a legal value:
		 * fragile, not forbidden, unless the device is then broken. */
		if (!nvfm_device_set_state(c->dev, NVFM_MIG_STATE_RUNNING, &e) ||
		    !nvfm_device_get_state(c->dev, &now, &e) || now != NVFM_MIG_STATE_RUNNING) {
			close(fd);
			return hard_fail(error, "a state with byte %" G_GINT64_FORMAT " flipped was accepted, "
					 "and then the device could not reach RUNNING: %s", size / 2,
					 e ? e->message : nvfm_mig_state_name(now));
		}
		warn(c, "a state with byte %" G_GINT64_FORMAT " of %" G_GINT64_FORMAT " flipped was accepted "
		     "at RESUMING -> STOP (the device still runs)", size / 2, size);
	} else {
		note(c, "refused: %s", e ? e->message : "?");
	}
	g_clear_error(&e);
	now = nvfm_device_recover(c->dev, NVFM_MIG_STATE_RUNNING);
	if (now == NVFM_MIG_STATE_ERROR) {
		close(fd);
		return fail(error, "device stuck in ERROR after the refusal");
	}
	/* A correct image must still load afterwards. */
	fed = feed_raw(c, fd, size, -1, error) &&
	      nvfm_device_set_state(c->dev, NVFM_MIG_STATE_STOP, error);
	close(fd);
	if (!fed)
		return FALSE;
	fd = raw_image(c, &size, error);
	if (fd < 0)
		return FALSE;
	fed = digest_fd(fd, &after, error);
	close(fd);
	if (!fed)
		return FALSE;
	if (strcmp(before, after) != 0)
		return fail(error, "the intact state did not load correctly after the refusal");
	return nvfm_device_reset(c->dev, error);
}

static gboolean case_corrupt_refused(Ctx *c, GError **error)
{
	return refuse_case(c, FALSE, error);
}

static gboolean case_truncated_refused(Ctx *c, GError **error)
{
	return refuse_case(c, TRUE, error);
}

/* A failed arc leaves the device recoverable and usable. */
static gboolean case_recover(Ctx *c, GError **error)
{
	NvfmMigState now;
	gint64 size;
	int fd;

	if (!nvfm_device_reset(c->dev, error) ||
	    !nvfm_device_set_state(c->dev, NVFM_MIG_STATE_RESUMING, error))
		return FALSE;
	/* Garbage, then commit: the arc fails; recovery must follow. */
	if (!nvfm_device_write_all(c->dev, "garbage", 7, c->timeout_ms, NULL) ||
	    nvfm_device_set_state_raw(c->dev, NVFM_MIG_STATE_STOP) == 0) {
		note(c, "driver accepted 7 bytes of garbage or refused them early");
	}
	now = nvfm_device_recover(c->dev, NVFM_MIG_STATE_RUNNING);
	if (now != NVFM_MIG_STATE_RUNNING)
		return fail(error, "recovery ended in %s", nvfm_mig_state_name(now));
	fd = raw_image(c, &size, error);
	if (fd < 0)
		return FALSE;
	close(fd);
	return nvfm_device_reset(c->dev, error);
}

/* MIG_DATA_SIZE is "the estimated data length that will be required to
 * complete stop copy": reading more, or far less, misleads a VMM's
 * downtime estimate. */
static gboolean case_mig_data_size(Ctx *c, GError **error)
{
	guint64 said = 0;
	gint64 total;
	int r;

	if (!c->feat.has_data_size)
		return skip(error, "device reports no MIG_DATA_SIZE");
	if (!nvfm_device_reset(c->dev, error) ||
	    !nvfm_device_set_state(c->dev, NVFM_MIG_STATE_STOP_COPY, error))
		return FALSE;
	r = c->dev->ops->get_data_size(c->dev, &said);
	if (r < 0)
		return fail(error, "MIG_DATA_SIZE failed in STOP_COPY: %s", g_strerror(-r));
	total = drain_raw(c, -1, error);
	if (total < 0)
		return FALSE;
	if ((guint64)total > said)
		return fail(error, "STOP_COPY gave %" G_GINT64_FORMAT " bytes, MIG_DATA_SIZE announced %"
			    G_GUINT64_FORMAT, total, said);
	if (said > 4 * (guint64)total + (1u << 20))
		return fail(error, "MIG_DATA_SIZE announced %" G_GUINT64_FORMAT " bytes, STOP_COPY gave %"
			    G_GINT64_FORMAT, said, total);
	note(c, "announced %" G_GUINT64_FORMAT ", read %" G_GINT64_FORMAT " bytes", said, total);
	return nvfm_device_reset(c->dev, error);
}

/* "When read() is done on this temporary end of stream the kernel driver
 * should return ENOMSG": a 0 would say the end of the whole stream. */
static gboolean case_precopy_end_enomsg(Ctx *c, GError **error)
{
	g_autofree guint8 *buf = g_malloc(RAW_CHUNK);
	gint64 total = 0;
	int fd;

	if (!(c->feat.flags & NVFM_MIG_FLAG_PRE_COPY))
		return skip(error, "device has no PRE_COPY");
	if (!nvfm_device_reset(c->dev, error) ||
	    !nvfm_device_set_state(c->dev, NVFM_MIG_STATE_PRE_COPY, error))
		return FALSE;
	fd = nvfm_device_data_fd(c->dev);
	for (guint reads = 0; reads < (1u << 22); reads++) {
		gssize n = raw_read(c, fd, buf, RAW_CHUNK);
		struct pollfd p = { .fd = fd, .events = POLLIN };

		if (n > 0) {
			total += n;
			continue;
		}
		if (n == -ENOMSG) {
			note(c, "ENOMSG after %" G_GINT64_FORMAT " bytes", total);
			return nvfm_device_reset(c->dev, error);
		}
		if (n == 0)
			return fail(error, "read() returned 0 (the end of the whole stream) at PRE_COPY's "
				    "temporary end, after %" G_GINT64_FORMAT " bytes, not ENOMSG", total);
		if (n != -EAGAIN && n != -EINTR)
			return fail(error, "read() in PRE_COPY failed: %s", g_strerror((int)-n));
		if (n == -EAGAIN && poll(&p, 1, c->timeout_ms) == 0)
			return fail(error, "read() gave EAGAIN at PRE_COPY's temporary end after %"
				    G_GINT64_FORMAT " bytes and the fd stayed unreadable, not ENOMSG", total);
	}
	return fail(error, "the PRE_COPY stream never reached a temporary end");
}

/* VFIO_DEVICE_RESET is the uAPI's way out of any session ("to abort a
 * RESUMING session the device must be reset", and reset brings the device
 * "back to RUNNING"): the device ends RUNNING and the old data_fd is dead. */
static gboolean reset_mid(Ctx *c, gboolean resume, GError **error)
{
	guint8 b = 0;
	gint64 size = 0;
	int img, old;
	gssize n;
	gboolean ok;

	if (!nvfm_device_reset(c->dev, error))
		return FALSE;
	img = raw_image(c, &size, error);
	if (img < 0)
		return FALSE;
	if (size < 2) {
		close(img);
		return skip(error, "device state is %" G_GINT64_FORMAT " bytes: no middle", size);
	}
	if (resume) {
		ok = nvfm_device_reset(c->dev, error) && feed_raw(c, img, size / 2, -1, error);
	} else {
		NvfmReadStatus st;

		ok = nvfm_device_reset(c->dev, error) &&
		     nvfm_device_set_state(c->dev, NVFM_MIG_STATE_STOP_COPY, error) &&
		     nvfm_device_read(c->dev, &b, 1, c->timeout_ms, &st, error) >= 0;
	}
	old = ok ? fcntl(nvfm_device_data_fd(c->dev), F_DUPFD_CLOEXEC, 0) : -1;
	if (ok && old < 0)
		ok = fail(error, "dup of the data_fd failed");
	ok = ok && nvfm_device_reset(c->dev, error) &&
	     expect_state(c, NVFM_MIG_STATE_RUNNING, error);
	if (ok) {
		n = resume ? raw_write(c, old, &b, 1) : raw_read(c, old, &b, 1);
		if (n > 0)
			ok = fail(error, "the old data_fd still %s after the reset",
				  resume ? "accepts data" : "gives data");
	}
	nvfm_close_fd(&old);
	/* the device must work as before: a whole state still loads */
	ok = ok && feed_raw(c, img, size, -1, error) &&
	     nvfm_device_set_state(c->dev, NVFM_MIG_STATE_STOP, error);
	close(img);
	if (!ok)
		return FALSE;
	note(c, "RUNNING after the reset, old data_fd dead");
	return nvfm_device_reset(c->dev, error);
}

static gboolean case_reset_mid_save(Ctx *c, GError **error)
{
	return reset_mid(c, FALSE, error);
}

static gboolean case_reset_mid_resume(Ctx *c, GError **error)
{
	return reset_mid(c, TRUE, error);
}

/* The VFIO core does not promise RUNNING when the last user closes the
 * device; upstream PCI variant drivers reset on open. Whatever is found,
 * the suite brings the device back by the uAPI's own means. */
static gboolean case_state_after_close(Ctx *c, GError **error)
{
	NvfmMigState found;
	GError *e = NULL;

	if (!nvfm_device_reset(c->dev, error) ||
	    !nvfm_device_set_state(c->dev, NVFM_MIG_STATE_STOP_COPY, error))
		return FALSE;
	g_clear_pointer(&c->dev, nvfm_device_close);
	c->dev = nvfm_device_open(c->address, error);
	if (!c->dev) {
		g_prefix_error(error, "reopening: ");
		return FALSE;
	}
	if (!nvfm_device_get_state(c->dev, &found, error))
		return FALSE;
	if (!nvfm_device_settle(c->dev, NULL, &e) ||
	    !nvfm_device_set_state(c->dev, NVFM_MIG_STATE_RUNNING, &e)) {
		hard_fail(error, "closed in STOP_COPY, reopened in %s, and no legal arc or reset "
			  "brought it back: %s", nvfm_mig_state_name(found), e->message);
		g_error_free(e);
		return FALSE;
	}
	if (found != NVFM_MIG_STATE_RUNNING)
		warn(c, "closed in STOP_COPY, reopened in %s (the uAPI allows it; upstream PCI "
		     "variant drivers reset on open); brought back to RUNNING",
		     nvfm_mig_state_name(found));
	else
		note(c, "closed in STOP_COPY, reopened in RUNNING");
	return nvfm_device_reset(c->dev, error);
}

/* Behind --forbidden-arcs: the arcs the uAPI rules out, sent to the driver
 * raw, must fail and leave the device where it was. */
static gboolean forbidden_raw(Ctx *c, NvfmMigState from, NvfmMigState to, guint *arcs,
			      GError **error)
{
	NvfmMigState now;

	if (!enter_state(c, from, -1, 0, error))
		return FALSE;
	if (nvfm_device_set_state_raw(c->dev, to) == 0)
		return fail(error, "the driver accepted %s -> %s", nvfm_mig_state_name(from),
			    nvfm_mig_state_name(to));
	if (!nvfm_device_get_state(c->dev, &now, error))
		return FALSE;
	if (now != from)
		return fail(error, "after the refused %s -> %s the device is in %s",
			    nvfm_mig_state_name(from), nvfm_mig_state_name(to),
			    nvfm_mig_state_name(now));
	(*arcs)++;
	return TRUE;
}

static gboolean case_forbidden_driver(Ctx *c, GError **error)
{
	static const NvfmMigState pc[] = { NVFM_MIG_STATE_PRE_COPY, NVFM_MIG_STATE_PRE_COPY_P2P };
	guint arcs = 0;

	if (!c->forbidden_arcs)
		return skip(error, "opt-in: --forbidden-arcs sends them to the driver (some kernels "
			    "spin on them)");
	for (guint s = 1; s < NVFM_MIG_STATE_COUNT; s++) {
		if (s == NVFM_MIG_STATE_RESUMING || !nvfm_mig_state_supported(c->feat.flags, s))
			continue;
		if (!forbidden_raw(c, s, NVFM_MIG_STATE_ERROR, &arcs, error))
			return FALSE;
	}
	for (guint t = 1; t < NVFM_MIG_STATE_COUNT; t++) {
		if (!nvfm_mig_state_supported(c->feat.flags, t) &&
		    !forbidden_raw(c, NVFM_MIG_STATE_RUNNING, t, &arcs, error))
			return FALSE;
	}
	for (guint i = 0; i < G_N_ELEMENTS(pc); i++) {
		if (nvfm_mig_state_supported(c->feat.flags, pc[i]) &&
		    !forbidden_raw(c, NVFM_MIG_STATE_STOP_COPY, pc[i], &arcs, error))
			return FALSE;
	}
	note(c, "%u forbidden arcs refused", arcs);
	return nvfm_device_reset(c->dev, error);
}

/* ---- DMA logging (VFIO_DEVICE_FEATURE_DMA_LOGGING_*) ---- */

/* One range like a small guest's RAM; the device need not have it
 * mapped: START only tells the device which IOVAs to watch. */
#define DMALOG_IOVA (1ull << 32)
#define DMALOG_LENGTH (64ull << 20)
#define DMALOG_PAGE 4096ull
#define DMALOG_CANARY 0x5a5a5a5a5a5a5a5aull

static int dmalog_start(Ctx *c, guint64 *page_size)
{
	NvfmDmaRange r = { DMALOG_IOVA, DMALOG_LENGTH };

	*page_size = DMALOG_PAGE;
	return c->dev->ops->dma_log_start(c->dev, page_size, &r, 1);
}

static gboolean dmalog_offered(Ctx *c, GError **error)
{
	NvfmDirtyInfo d;

	if (!nvfm_device_get_dirty_tracking(c->dev, &d, error))
		return FALSE;
	if (!d.dma_logging || !c->dev->ops->dma_log_start)
		return skip(error, "device offers no DMA logging (DMA_LOGGING_START probe)");
	return TRUE;
}

/*
 * REPORT over the started range into a bitmap of the uAPI's size (one bit
 * per page, whole u64s) followed by canary words: the driver must write
 * neither past it nor bits for pages beyond the range. *dirty: bits set.
 */
static gboolean dmalog_report(Ctx *c, guint64 page_size, guint64 *dirty, GError **error)
{
	guint64 words = nvfm_dma_log_bitmap_words(DMALOG_LENGTH, page_size);
	guint64 pages = DMALOG_LENGTH / page_size;
	g_autofree guint64 *bm = g_new0(guint64, words + 2);
	int r;

	bm[words] = bm[words + 1] = DMALOG_CANARY;
	r = c->dev->ops->dma_log_report(c->dev, DMALOG_IOVA, DMALOG_LENGTH, page_size, bm);
	if (r < 0)
		return fail(error, "DMA_LOGGING_REPORT after START failed: %s", g_strerror(-r));
	if (bm[words] != DMALOG_CANARY || bm[words + 1] != DMALOG_CANARY)
		return fail(error, "DMA_LOGGING_REPORT wrote past the bitmap of %" G_GUINT64_FORMAT
			    " u64 words", words);
	*dirty = 0;
	for (guint64 w = 0; w < words; w++) {
		guint64 v = bm[w];

		if (w == words - 1 && pages % 64)
			if (v >> (pages % 64))
				return fail(error, "DMA_LOGGING_REPORT set bits for pages past the "
					    "range's %" G_GUINT64_FORMAT, pages);
		*dirty += (guint64)__builtin_popcountll(v);
	}
	return TRUE;
}

/* START with one range, REPORT what the running device wrote (a device
 * that did no DMA legitimately reports none), STOP; REPORT after STOP
 * fails; START works again. */
static gboolean case_dma_logging(Ctx *c, GError **error)
{
	guint64 page_size, dirty = 0, spare = 0;
	guint64 bm[2] = { 0 };
	int r;

	if (!dmalog_offered(c, error) || !nvfm_device_reset(c->dev, error))
		return FALSE;
	r = dmalog_start(c, &page_size);
	if (r < 0)
		return fail(error, "DMA_LOGGING_START with one range failed: %s", g_strerror(-r));
	if (page_size < DMALOG_PAGE || (page_size & (page_size - 1)))
		return fail(error, "DMA_LOGGING_START chose page size %" G_GUINT64_FORMAT
			    ": not a power of two of at least 4 KiB (REPORT needs one)", page_size);
	if (!dmalog_report(c, page_size, &dirty, error))
		return FALSE;
	r = c->dev->ops->dma_log_stop(c->dev);
	if (r < 0)
		return fail(error, "DMA_LOGGING_STOP failed: %s", g_strerror(-r));
	r = c->dev->ops->dma_log_report(c->dev, DMALOG_IOVA, 64 * page_size, page_size, bm);
	if (r == 0)
		return fail(error, "DMA_LOGGING_REPORT after STOP succeeded: logging did not stop");
	r = dmalog_start(c, &spare);
	if (r < 0)
		return fail(error, "DMA_LOGGING_START after STOP failed: %s", g_strerror(-r));
	r = c->dev->ops->dma_log_stop(c->dev);
	if (r < 0)
		return fail(error, "the second DMA_LOGGING_STOP failed: %s", g_strerror(-r));
	note(c, "page size %" G_GUINT64_FORMAT ", %" G_GUINT64_FORMAT " of %" G_GUINT64_FORMAT
	     " pages reported dirty%s", page_size, dirty, (guint64)(DMALOG_LENGTH / page_size),
	     dirty ? "" : " (the device did no DMA: legitimate)");
	return TRUE;
}

/* Sequences the VFIO core leaves to the driver: REPORT before START and a
 * second START are refused by the upstream drivers (EINVAL); one that
 * takes them would hand QEMU a log it never asked for, or lose one. */
static gboolean case_dma_logging_misuse(Ctx *c, GError **error)
{
	guint64 page_size, spare;
	guint64 bm[2] = { 0 };
	int r;

	if (!dmalog_offered(c, error))
		return FALSE;
	r = c->dev->ops->dma_log_report(c->dev, DMALOG_IOVA, 64 * DMALOG_PAGE, DMALOG_PAGE, bm);
	if (r == 0)
		warn(c, "DMA_LOGGING_REPORT before any START succeeded");
	r = dmalog_start(c, &page_size);
	if (r < 0)
		return fail(error, "DMA_LOGGING_START failed: %s", g_strerror(-r));
	r = dmalog_start(c, &spare);
	if (r == 0)
		warn(c, "a second DMA_LOGGING_START while logging succeeded");
	r = c->dev->ops->dma_log_stop(c->dev);
	if (r < 0)
		return fail(error, "DMA_LOGGING_STOP failed: %s", g_strerror(-r));
	note(c, "REPORT before START and a second START refused");
	return TRUE;
}

static const struct {
	const char *name;
	NvfmSelftestGrade grade;
	CaseFunc fn;
} cases[] = {
#define REQ NVFM_SELFTEST_REQUIREMENT
#define REC NVFM_SELFTEST_RECOMMENDATION
#define ROB NVFM_SELFTEST_ROBUSTNESS
	{ "features", REQ, case_features },
	{ "reset-to-running", REQ, case_reset_running },
	{ "single-arcs", REQ, case_single_arcs },
	{ "combination-arcs", REQ, case_combination_arcs },
	{ "forbidden-arcs-refused", REQ, case_forbidden },
	{ "forbidden-arcs-driver", REQ, case_forbidden_driver },
	{ "data-fd-stream", REQ, case_data_fd_stream },
	{ "data-fd-disabled", REQ, case_data_fd_disabled },
	{ "mig-data-size", REC, case_mig_data_size },
	{ "precopy-info", REC, case_precopy_info },
	{ "precopy-end-enomsg", REC, case_precopy_end_enomsg },
	{ "save-load-save", REQ, case_roundtrip },
	{ "precopy-save-load", REQ, case_roundtrip_precopy },
	{ "corrupt-state-refused", ROB, case_corrupt_refused },
	{ "truncated-state-refused", REQ, case_truncated_refused },
	{ "recover-after-failure", REQ, case_recover },
	{ "reset-mid-save", REQ, case_reset_mid_save },
	{ "reset-mid-resume", REQ, case_reset_mid_resume },
	{ "state-after-close", REC, case_state_after_close },
	{ "dma-logging", REQ, case_dma_logging },
	{ "dma-logging-misuse", ROB, case_dma_logging_misuse },
#undef REQ
#undef REC
#undef ROB
};

static void result_free(gpointer p)
{
	NvfmSelftestResult *r = p;

	g_free(r->name);
	g_free(r->detail);
	g_free(r);
}

static gboolean selection_matches(GPatternSpec *pat, const char *only, GError **error)
{
	g_autoptr(GString) names = g_string_new(NULL);

	for (guint i = 0; i < G_N_ELEMENTS(cases); i++) {
		if (g_pattern_spec_match_string(pat, cases[i].name))
			return TRUE;
		g_string_append_printf(names, "%s%s", i ? " " : "", cases[i].name);
	}
	g_set_error(error, NVFM_ERROR, NVFM_ERROR_INVALID_ARG,
		    "the case pattern '%s' matches no case (wildcards: * and ?; cases: %s)",
		    only, names->str);
	return FALSE;
}

const char *nvfm_selftest_grade_name(NvfmSelftestGrade grade)
{
	switch (grade) {
	case NVFM_SELFTEST_REQUIREMENT:
		return "requirement";
	case NVFM_SELFTEST_RECOMMENDATION:
		return "recommendation";
	case NVFM_SELFTEST_ROBUSTNESS:
		return "robustness";
	}
	return "?";
}

const char *nvfm_selftest_verdict_name(NvfmSelftestVerdict verdict)
{
	switch (verdict) {
	case NVFM_SELFTEST_PASS:
		return "pass";
	case NVFM_SELFTEST_FAIL:
		return "fail";
	case NVFM_SELFTEST_WARN:
		return "warn";
	case NVFM_SELFTEST_SKIP:
		return "skip";
	}
	return "?";
}

GPtrArray *nvfm_selftest_run(const NvfmAddress *address, const char *only, int timeout_ms,
			     GError **error)
{
	return nvfm_selftest_run_progress(address, only, timeout_ms, NULL, NULL, error);
}

GPtrArray *nvfm_selftest_run_progress(const NvfmAddress *address, const char *only,
				      int timeout_ms, NvfmSelftestProgressFunc progress,
				      gpointer user_data, GError **error)
{
	NvfmSelftestOptions o = {
		.only = only, .timeout_ms = timeout_ms, .progress = progress, .user_data = user_data,
	};

	return nvfm_selftest_run_options(address, &o, error);
}

/* The verdict of a case from its outcome and its grade. */
static void judge(NvfmSelftestResult *r, Ctx *c, gboolean ok, GError *e)
{
	if (ok && !c->warning) {
		r->verdict = NVFM_SELFTEST_PASS;
		r->detail = g_steal_pointer(&c->detail);
	} else if (ok) {
		r->verdict = NVFM_SELFTEST_WARN;
		r->detail = g_steal_pointer(&c->warning);
	} else if (g_error_matches(e, NVFM_ERROR, NVFM_ERROR_NOT_SUPPORTED)) {
		r->verdict = NVFM_SELFTEST_SKIP;
		r->detail = g_strdup(e->message);
	} else {
		r->verdict = g_error_matches(e, SELFTEST_ERROR, SELFTEST_FINDING) &&
			     r->grade != NVFM_SELFTEST_REQUIREMENT ? NVFM_SELFTEST_WARN
								   : NVFM_SELFTEST_FAIL;
		r->detail = g_strdup(e ? e->message : "failed without a reason");
	}
}

/* One case, run in the watchdog's worker: the case, then recovery, so the
 * next one starts from a sane device. */
typedef struct {
	Ctx *c;
	CaseFunc fn;
	gboolean ok;
	GError *e;
} CaseJob;

static void run_case(gpointer p)
{
	CaseJob *j = p;

	j->ok = j->fn(j->c, &j->e);
	if (j->c->dev)
		nvfm_device_recover(j->c->dev, NVFM_MIG_STATE_RUNNING);
}

static NvfmSelftestResult *result_new(guint i)
{
	NvfmSelftestResult *r = g_new0(NvfmSelftestResult, 1);

	r->name = g_strdup(cases[i].name);
	r->grade = cases[i].grade;
	return r;
}

GPtrArray *nvfm_selftest_run_options(const NvfmAddress *address,
				     const NvfmSelftestOptions *opts, GError **error)
{
	g_autoptr(GPtrArray) results = g_ptr_array_new_with_free_func(result_free);
	g_autoptr(GPatternSpec) pat = opts->only ? g_pattern_spec_new(opts->only) : NULL;
	g_autofree char *hung = NULL;
	guint count = 0, index = 0;
	SelftestWatch *watch;
	Ctx *c;

	/* a pattern that selects nothing is a typo, not a passed suite; say
	 * so before the device is touched */
	if (pat && !selection_matches(pat, opts->only, error))
		return NULL;
	c = g_new0(Ctx, 1);
	c->address = address;
	c->forbidden_arcs = opts->forbidden_arcs;
	c->timeout_ms = opts->timeout_ms > 0 ? opts->timeout_ms : DEFAULT_TIMEOUT_MS;
	c->dev = nvfm_device_open(address, error);
	if (!c->dev || !nvfm_device_get_features(c->dev, &c->feat, error)) {
		nvfm_device_close(c->dev);
		g_free(c);
		return NULL;
	}
	watch = selftest_watch_new(c->timeout_ms);
	for (guint i = 0; i < G_N_ELEMENTS(cases); i++)
		count += !pat || g_pattern_spec_match_string(pat, cases[i].name);
	for (guint i = 0; i < G_N_ELEMENTS(cases); i++) {
		NvfmSelftestResult *r;
		CaseJob job = { .c = c, .fn = cases[i].fn };
		char *what = NULL;
		gint64 t0;

		if (pat && !g_pattern_spec_match_string(pat, cases[i].name))
			continue;
		r = result_new(i);
		g_ptr_array_add(results, r);
		if (hung || !c->dev) {
			r->verdict = NVFM_SELFTEST_SKIP;
			r->detail = g_strdup(hung ? "not run: an earlier case hung"
						  : "not run: the device could not be reopened");
			continue;
		}
		if (opts->progress)
			opts->progress(++index, count, cases[i].name, opts->user_data);
		g_clear_pointer(&c->detail, g_free);
		g_clear_pointer(&c->warning, g_free);
		selftest_watch_device(watch, c->dev);
		t0 = nvfm_now_us();
		if (!selftest_watch_run(watch, run_case, &job, &what)) {
			/* the worker, the context and the device stay behind */
			r->duration_us = nvfm_now_us() - t0;
			r->verdict = NVFM_SELFTEST_FAIL;
			r->detail = g_strdup_printf("hung: %s did not return within %d ms; the rest "
						    "of the suite was not run", what, c->timeout_ms);
			hung = what;
			continue;
		}
		r->duration_us = nvfm_now_us() - t0;
		judge(r, c, job.ok, job.e);
		g_clear_error(&job.e);
		g_debug("%s: %s %s", r->name, nvfm_selftest_verdict_name(r->verdict),
			r->detail ? r->detail : "");
	}
	if (hung)
		return g_steal_pointer(&results);
	selftest_watch_free(watch, c->dev);
	nvfm_device_close(c->dev);
	g_free(c->detail);
	g_free(c->warning);
	g_free(c);
	return g_steal_pointer(&results);
}
