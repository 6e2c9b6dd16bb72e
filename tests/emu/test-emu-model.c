/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The emulated NVMe VF against the kernel semantics it stands for: the
 * state machine (single and combination arcs), the data_fd, PRE_COPY
 * accounting, save -> load -> save identity, validation on RESUMING ->
 * STOP, every fault knob, the single-opener lock and persistence. Driven
 * through the raw ops table (the ioctls) and through the engine.
 */
#include <fcntl.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "src/lib/util/util-private.h"
#include "src/lib/emu/emu-private.h"
#include "tests/common/testutil.h"

#define ALL_FLAGS (NVFM_MIG_FLAG_STOP_COPY | NVFM_MIG_FLAG_P2P | NVFM_MIG_FLAG_PRE_COPY)
#define TIMEOUT_MS 20000

typedef struct {
	char *dir;
} Fixture;

static void fx_setup(Fixture *fx, gconstpointer data)
{
	g_autofree char *base = g_dir_make_tmp("nvfm-emu-XXXXXX", NULL);

	g_assert_nonnull(base);
	fx->dir = g_build_filename(base, "host", NULL);
	setenv("NVFM_EMU_DIR", fx->dir, 1);
}

static void fx_teardown(Fixture *fx, gconstpointer data)
{
	g_autofree char *base = g_path_get_dirname(fx->dir);

	nvfm_test_rm_rf(base);
	g_free(fx->dir);
}

/* ---- helpers ---- */

static void make(const char *name, guint64 size, guint64 seed, guint32 flags, guint64 rate)
{
	g_autoptr(GError) error = NULL;
	NvfmEmuConfig cfg;

	nvfm_emu_config_init(&cfg);
	cfg.blob_size = size;
	cfg.seed = seed;
	cfg.flags = flags;
	cfg.dirty_rate = rate;
	g_assert_true(nvfm_emu_create(name, &cfg, &error));
	g_assert_no_error(error);
}

static NvfmDevice *open_dev(const char *name)
{
	g_autoptr(GError) error = NULL;
	g_autofree char *addr = g_strconcat("emu:", name, NULL);
	NvfmDevice *dev = nvfm_device_open(nvfm_test_addr(addr), &error);

	g_assert_no_error(error);
	g_assert_nonnull(dev);
	return dev;
}

static NvfmMigState raw_state(NvfmDevice *dev)
{
	NvfmMigState s = S_ERR;

	g_assert_cmpint(dev->ops->get_state(dev, &s), ==, 0);
	return s;
}

static char *digest(const char *name, guint64 *size)
{
	g_autoptr(GError) error = NULL;
	char *hex = NULL;

	g_assert_true(nvfm_emu_digest(name, &hex, size, &error));
	g_assert_no_error(error);
	return hex;
}

static char *sha256(GByteArray *b)
{
	return g_compute_checksum_for_data(G_CHECKSUM_SHA256, b->data, b->len);
}

/* Read through the engine until end of stream (or error). */
static GByteArray *engine_read_all(NvfmDevice *dev, int timeout_ms, GError **error)
{
	g_autoptr(GByteArray) out = g_byte_array_new();
	g_autofree guint8 *buf = g_malloc(1 << 20);

	for (;;) {
		NvfmReadStatus st;
		gssize n = nvfm_device_read(dev, buf, 1 << 20, timeout_ms, &st, error);

		if (n < 0)
			return NULL;
		if (st == NVFM_READ_END)
			return g_steal_pointer(&out);
		if (st == NVFM_READ_DATA)
			g_byte_array_append(out, buf, (guint)n);
	}
}

/* A STOP_COPY save from wherever the device is, back to STOP. */
static GByteArray *save(NvfmDevice *dev)
{
	g_autoptr(GError) error = NULL;
	GByteArray *b;

	g_assert_true(nvfm_device_set_state(dev, S_STOP, &error));
	g_assert_true(nvfm_device_set_state(dev, S_SC, &error));
	g_assert_no_error(error);
	b = engine_read_all(dev, TIMEOUT_MS, &error);
	g_assert_no_error(error);
	g_assert_true(nvfm_device_set_state(dev, S_STOP, &error));
	g_assert_no_error(error);
	return b;
}

static gboolean load(NvfmDevice *dev, const guint8 *buf, gsize len, GError **error)
{
	if (!nvfm_device_set_state(dev, S_RES, error))
		return FALSE;
	if (!nvfm_device_write_all(dev, buf, len, TIMEOUT_MS, error))
		return FALSE;
	return nvfm_device_set_state(dev, S_STOP, error);
}

/* Raw (ioctl-level) helpers: plain blocking fds, as a kernel hands out. */
static gssize raw_read_all(NvfmDevice *dev, int fd, GByteArray *out)
{
	g_autofree guint8 *buf = g_malloc(1 << 20);

	for (;;) {
		gssize n = dev->ops->data_read(dev, fd, buf, 1 << 20);

		if (n <= 0)
			return n;
		g_byte_array_append(out, buf, (guint)n);
	}
}

static void raw_write_all(NvfmDevice *dev, int fd, const guint8 *buf, gsize len)
{
	while (len > 0) {
		gssize n = dev->ops->data_write(dev, fd, buf, len);

		g_assert_cmpint(n, >, 0);
		buf += n;
		len -= (gsize)n;
	}
}

/* Load @buf from STOP through the raw ops; returns RESUMING -> STOP's result. */
static int raw_load(NvfmDevice *dev, const guint8 *buf, gsize len)
{
	int fd = -1, fd2 = -1;
	int r;

	g_assert_cmpint(dev->ops->set_state(dev, S_RES, &fd), ==, 0);
	g_assert_cmpint(fd, >=, 0);
	raw_write_all(dev, fd, buf, len);
	r = dev->ops->set_state(dev, S_STOP, &fd2);
	g_assert_cmpint(fd2, ==, -1);
	close(fd);
	return r;
}

static void put32le(guint8 *p, guint32 v)
{
	v = GUINT32_TO_LE(v);
	memcpy(p, &v, 4);
}

static guint64 get64le(const guint8 *p)
{
	guint64 v;

	memcpy(&v, p, 8);
	return GUINT64_FROM_LE(v);
}

/* Re-seal a stream edited on purpose so only the edit is "wrong". */
static void fix_crc(GByteArray *b)
{
	put32le(b->data + b->len - 4, nvfm_crc32c(0, b->data, b->len - 4));
}

/* Offset of page 0's bytes in a canonical image. */
static gsize first_page_data(GByteArray *b)
{
	return EMU_STREAM_HEADER_SIZE + EMU_REC_HEADER_SIZE + get64le(b->data + 48) +
	       EMU_REC_HEADER_SIZE + EMU_PAGE_SUBHEADER_SIZE;
}

static json_t *describe(const char *name)
{
	g_autoptr(GError) error = NULL;
	g_autofree char *text = nvfm_emu_describe(name, &error);
	json_t *j;

	g_assert_no_error(error);
	j = json_loads(text, 0, NULL);
	g_assert_nonnull(j);
	return j;
}

/* ---- names, creation, listing ---- */

static void test_names(Fixture *fx, gconstpointer data)
{
	static const char *const bad[] = { "", "a/b", "..x/", "sp ace", "é",
		"0123456789012345678901234567890123456789012345678901234567890123456789" };
	g_autoptr(GError) error = NULL;
	g_auto(GStrv) names = NULL;
	NvfmDevice *dev;
	NvfmEmuConfig cfg;

	nvfm_emu_config_init(&cfg);
	for (guint i = 0; i < G_N_ELEMENTS(bad); i++) {
		g_autofree char *addr = g_strconcat("emu:", bad[i], NULL);

		g_assert_null(nvfm_device_open(nvfm_test_addr(addr), &error));
		g_assert_error(error, NVFM_ERROR, NVFM_ERROR_INVALID_ARG);
		g_clear_error(&error);
		g_assert_false(nvfm_emu_create(bad[i], &cfg, &error));
		g_assert_error(error, NVFM_ERROR, NVFM_ERROR_INVALID_ARG);
		g_clear_error(&error);
	}
	g_assert_false(nvfm_emu_digest("nope", &(char *){ NULL }, NULL, &error));
	g_assert_error(error, NVFM_ERROR, NVFM_ERROR_NOT_FOUND);
	g_clear_error(&error);

	/* Opening a name that does not exist makes nothing: only
	 * nvfm_emu_create() does. */
	g_assert_null(nvfm_device_open(nvfm_test_addr("emu:vf-0.a_B"), &error));
	g_assert_error(error, NVFM_ERROR, NVFM_ERROR_NOT_FOUND);
	g_clear_error(&error);
	names = nvfm_emu_list(&error);
	g_assert_no_error(error);
	g_assert_null(names[0]);
	g_clear_pointer(&names, g_strfreev);
	g_assert_true(nvfm_emu_create("vf-0.a_B", &cfg, &error));
	dev = open_dev("vf-0.a_B");
	g_assert_cmpstr(nvfm_device_backend_name(dev), ==, "emu");
	nvfm_device_close(dev);
	make("another", 0, 1, ALL_FLAGS, 0);
	names = nvfm_emu_list(&error);
	g_assert_no_error(error);
	g_assert_cmpuint(g_strv_length(names), ==, 2);
	g_assert_cmpstr(names[0], ==, "another");
	g_assert_cmpstr(names[1], ==, "vf-0.a_B");
	{
		json_auto_t *j = describe("vf-0.a_B");

		g_assert_cmpint(json_integer_value(json_object_get(json_object_get(j, "config"),
								    "blob_size")), ==, 64 << 20);
		g_assert_false(json_is_true(json_object_get(j, "open")));
	}
	g_assert_true(nvfm_emu_destroy("another", &error));
	g_assert_false(nvfm_emu_destroy("another", &error));
	g_assert_error(error, NVFM_ERROR, NVFM_ERROR_NOT_FOUND);
	g_clear_error(&error);
	cfg.n_io_queues = 65;
	g_assert_false(nvfm_emu_create("x", &cfg, &error));
	g_assert_error(error, NVFM_ERROR, NVFM_ERROR_INVALID_ARG);
}

/* ---- determinism and the canonical image ---- */

static void test_determinism(Fixture *fx, gconstpointer data)
{
	g_autoptr(GError) error = NULL;
	g_autofree char *d1 = NULL, *d2 = NULL, *d3 = NULL, *ds = NULL;
	g_autoptr(GByteArray) img = NULL;
	NvfmMigFeatures feat;
	guint64 s1 = 0, s2 = 0;
	NvfmDevice *dev;

	make("a", (3 << 20) + 123, 42, ALL_FLAGS, 0);
	make("b", (3 << 20) + 123, 42, ALL_FLAGS, 0);
	make("c", (3 << 20) + 123, 43, ALL_FLAGS, 0);
	d1 = digest("a", &s1);
	d2 = digest("b", &s2);
	d3 = digest("c", NULL);
	g_assert_cmpstr(d1, ==, d2);
	g_assert_cmpstr(d1, !=, d3);
	g_assert_cmpuint(s1, ==, s2);

	dev = open_dev("a");
	g_assert_true(nvfm_device_get_features(dev, &feat, &error));
	g_assert_no_error(error);
	g_assert_cmpuint(feat.flags, ==, ALL_FLAGS);
	g_assert_true(feat.has_data_size);
	g_assert_false(feat.dma_logging);
	g_assert_cmpint(dev->ops->probe_dma_logging(dev), ==, -ENOTTY);
	/* MIG_DATA_SIZE is the exact size of the STOP_COPY image */
	g_assert_cmpuint(feat.stop_copy_length, ==, s1);
	img = save(dev);
	g_assert_cmpuint(img->len, ==, s1);
	ds = sha256(img);
	g_assert_cmpstr(ds, ==, d1);
	g_assert_cmpmem(img->data, 8, EMU_STREAM_MAGIC, 8);
	nvfm_device_close(dev);
}

static void test_no_data_size(Fixture *fx, gconstpointer data)
{
	g_autoptr(GError) error = NULL;
	NvfmEmuConfig cfg;
	NvfmMigFeatures feat;
	guint64 len;
	NvfmDevice *dev;

	nvfm_emu_config_init(&cfg);
	cfg.blob_size = 1 << 20;
	cfg.report_data_size = FALSE;
	cfg.flags = NVFM_MIG_FLAG_STOP_COPY;
	g_assert_true(nvfm_emu_create("nd", &cfg, &error));
	dev = open_dev("nd");
	g_assert_cmpint(dev->ops->get_data_size(dev, &len), ==, -ENOTTY);
	g_assert_true(nvfm_device_get_features(dev, &feat, &error));
	g_assert_no_error(error);
	g_assert_false(feat.has_data_size);
	g_assert_cmpuint(feat.flags, ==, NVFM_MIG_FLAG_STOP_COPY);
	nvfm_device_close(dev);
}

/* ---- the state machine ---- */

static gboolean is_saving(NvfmMigState s)
{
	return s == S_SC || s == S_PC || s == S_PCP2P;
}

/* Put a freshly reset device into @s using only raw combination arcs. */
static int reach(NvfmDevice *dev, NvfmMigState s, GByteArray *valid, int *fd)
{
	int tmp = -1;

	*fd = -1;
	g_assert_cmpint(dev->ops->reset(dev), ==, 0);
	g_assert_cmpint(raw_state(dev), ==, S_RUN);
	if (s == S_RUN)
		return 0;
	if (s == S_RES) {
		g_assert_cmpint(dev->ops->set_state(dev, S_RES, fd), ==, 0);
		g_assert_cmpint(*fd, >=, 0);
		raw_write_all(dev, *fd, valid->data, valid->len);
		return 0;
	}
	g_assert_cmpint(dev->ops->set_state(dev, s, &tmp), ==, 0);
	g_assert_cmpint(raw_state(dev), ==, s);
	/* a saving state entered from RUNNING hands out a data_fd */
	g_assert_cmpint(tmp >= 0, ==, is_saving(s));
	*fd = tmp;
	return 0;
}

static void check_arcs(guint32 flags)
{
	g_autoptr(GByteArray) valid = NULL;
	NvfmDevice *dev;

	make("fsm", 256 << 10, 5, flags, 1 << 20);
	dev = open_dev("fsm");
	valid = save(dev);
	for (int from = S_STOP; from < NVFM_MIG_STATE_COUNT; from++) {
		if (!nvfm_mig_state_supported(flags, (NvfmMigState)from))
			continue;
		for (int to = 0; to < NVFM_MIG_STATE_COUNT; to++) {
			NvfmMigState path[NVFM_MIG_PATH_MAX];
			guint n = 0;
			gboolean allowed = nvfm_mig_plan(flags, (NvfmMigState)from, (NvfmMigState)to,
							  path, &n, NULL);
			gboolean new_fd = FALSE;
			int fd = -1, nfd = -1, r;

			if (to == from)
				continue;
			reach(dev, (NvfmMigState)from, valid, &fd);
			for (guint i = 0; i < n; i++) {
				NvfmMigState prev = i ? path[i - 1] : (NvfmMigState)from;

				if ((path[i] == S_SC && !is_saving(prev)) || path[i] == S_RES ||
				    ((path[i] == S_PC || path[i] == S_PCP2P) && !is_saving(prev)))
					new_fd = TRUE;
			}
			r = dev->ops->set_state(dev, (NvfmMigState)to, &nfd);
			if (!allowed) {
				/* the kernel refuses, state unchanged, no fd */
				g_assert_cmpint(r, ==, -EINVAL);
				g_assert_cmpint(nfd, ==, -1);
				g_assert_cmpint(raw_state(dev), ==, from);
			} else {
				g_assert_cmpint(r, ==, 0);
				g_assert_cmpint(raw_state(dev), ==, to);
				g_assert_cmpint(nfd >= 0, ==, new_fd);
			}
			if (fd >= 0 && nfd < 0 && is_saving((NvfmMigState)to) && allowed) {
				/* PRE_COPY* -> STOP_COPY keeps the same stream, to its end */
				g_autoptr(GByteArray) rest = g_byte_array_new();

				g_assert_cmpint(raw_read_all(dev, fd, rest), ==, to == S_SC ? 0 : -ENOMSG);
				g_assert_cmpuint(rest->len, >, 0);
			}
			if (nfd >= 0)
				close(nfd);
			if (fd >= 0)
				close(fd);
		}
	}
	nvfm_device_close(dev);
	g_assert_true(nvfm_emu_destroy("fsm", NULL));
}

static void test_arcs(Fixture *fx, gconstpointer data)
{
	check_arcs(NVFM_MIG_FLAG_STOP_COPY);
	check_arcs(NVFM_MIG_FLAG_STOP_COPY | NVFM_MIG_FLAG_P2P);
	check_arcs(NVFM_MIG_FLAG_STOP_COPY | NVFM_MIG_FLAG_PRE_COPY);
	check_arcs(ALL_FLAGS);
}

static void test_error_state(Fixture *fx, gconstpointer data)
{
	NvfmDevice *dev;
	int fd = -1;

	make("e", 64 << 10, 1, NVFM_MIG_FLAG_STOP_COPY, 0);
	dev = open_dev("e");
	/* states the flags do not allow, and ERROR, are not targets */
	g_assert_cmpint(dev->ops->set_state(dev, S_PC, &fd), ==, -EINVAL);
	g_assert_cmpint(dev->ops->set_state(dev, S_RP2P, &fd), ==, -EINVAL);
	g_assert_cmpint(dev->ops->set_state(dev, S_ERR, &fd), ==, -EINVAL);
	g_assert_cmpint(dev->ops->set_state(dev, (NvfmMigState)9, &fd), ==, -EINVAL);
	g_assert_cmpint(fd, ==, -1);
	g_assert_cmpint(raw_state(dev), ==, S_RUN);
	/* an empty stream: RESUMING -> STOP fails and only reset leaves ERROR */
	g_assert_cmpint(dev->ops->set_state(dev, S_RES, &fd), ==, 0);
	close(fd);
	g_assert_cmpint(dev->ops->set_state(dev, S_STOP, &fd), ==, -EINVAL);
	g_assert_cmpint(raw_state(dev), ==, S_ERR);
	g_assert_cmpint(dev->ops->set_state(dev, S_RUN, &fd), ==, -EINVAL);
	g_assert_cmpint(raw_state(dev), ==, S_ERR);
	g_assert_cmpint(dev->ops->reset(dev), ==, 0);
	g_assert_cmpint(raw_state(dev), ==, S_RUN);
	nvfm_device_close(dev);
}

/* ---- save -> load -> save ---- */

static void roundtrip(guint64 size)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(GByteArray) a = NULL, b = NULL, c = NULL;
	g_autofree char *da = NULL, *db = NULL, *dc = NULL;
	NvfmDevice *src, *dst;

	make("src", size, 0xfeedfacecafebeefull, ALL_FLAGS, 1 << 20);
	make("dst", 1 << 20, 3, ALL_FLAGS, 1 << 20);
	src = open_dev("src");
	a = save(src);
	nvfm_device_close(src);
	da = digest("src", NULL);
	dc = sha256(a);
	g_assert_cmpstr(da, ==, dc);
	g_clear_pointer(&dc, g_free);

	dst = open_dev("dst");
	g_assert_true(load(dst, a->data, a->len, &error));
	g_assert_no_error(error);
	b = save(dst);
	g_assert_cmpuint(a->len, ==, b->len);
	g_assert_true(memcmp(a->data, b->data, a->len) == 0);
	nvfm_device_close(dst);
	db = digest("dst", NULL);
	g_assert_cmpstr(da, ==, db);

	/* persistence: the loaded state survives close and reopen */
	dst = open_dev("dst");
	c = save(dst);
	nvfm_device_close(dst);
	dc = sha256(c);
	g_assert_cmpstr(dc, ==, da);
}

static void test_roundtrip_empty(Fixture *fx, gconstpointer data)
{
	roundtrip(0);
}

static void test_roundtrip_small(Fixture *fx, gconstpointer data)
{
	roundtrip((1 << 20) + 4097);
}

static void test_roundtrip_64m(Fixture *fx, gconstpointer data)
{
	roundtrip(64ull << 20);
}

/* Pages whose bytes the generator cannot reproduce are kept (spilled). */
static void test_spill(Fixture *fx, gconstpointer data)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(GByteArray) a = NULL, b = NULL, c = NULL;
	NvfmDevice *dev;
	gsize off;

	make("sp", 1 << 20, 9, ALL_FLAGS, 0);
	dev = open_dev("sp");
	a = save(dev);
	off = first_page_data(a);
	memset(a->data + off + 100, 0x5a, 1000);
	fix_crc(a);
	g_assert_true(load(dev, a->data, a->len, &error));
	g_assert_no_error(error);
	b = save(dev);
	g_assert_cmpuint(a->len, ==, b->len);
	g_assert_true(memcmp(a->data, b->data, a->len) == 0);
	nvfm_device_close(dev);
	{
		json_auto_t *j = describe("sp");

		g_assert_cmpint(json_integer_value(json_object_get(json_object_get(j, "pages"),
								    "spilled")), ==, 1);
	}
	dev = open_dev("sp");
	c = save(dev);
	nvfm_device_close(dev);
	g_assert_true(memcmp(a->data, c->data, a->len) == 0);
	/* dirtying the page gives it back to the generator */
	g_assert_true(nvfm_emu_dirty("sp", 64ull << 20, &error));
	g_assert_no_error(error);
	{
		json_auto_t *j = describe("sp");

		g_assert_cmpint(json_integer_value(json_object_get(json_object_get(j, "pages"),
								    "spilled")), ==, 0);
	}
}

/* ---- PRE_COPY ---- */

static void test_precopy(Fixture *fx, gconstpointer data)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(GByteArray) stream = g_byte_array_new();
	g_autoptr(GByteArray) again = NULL;
	g_autofree guint8 *buf = g_malloc(1 << 16);
	g_autofree char *ds = NULL, *dd = NULL;
	guint64 initial = 0, dirty = 0, last_initial = G_MAXUINT64, first_initial = 0;
	gboolean saw_dirty = FALSE;
	NvfmDevice *src, *dst;
	gint64 deadline;

	make("pc", 4 << 20, 77, ALL_FLAGS, 256ull << 20);
	src = open_dev("pc");
	g_assert_true(nvfm_device_set_state(src, S_PC, &error));
	g_assert_no_error(error);
	g_assert_true(nvfm_device_precopy_info(src, &first_initial, &dirty, &error));
	g_assert_cmpuint(first_initial, >, 4 << 20);
	last_initial = first_initial;
	deadline = g_get_monotonic_time() + 10 * G_USEC_PER_SEC;
	/* Drain the initial bytes, then keep reading while pages get dirty. */
	while (g_get_monotonic_time() < deadline) {
		NvfmReadStatus st;
		gssize n = nvfm_device_read(src, buf, 1 << 16, TIMEOUT_MS, &st, &error);

		g_assert_no_error(error);
		g_assert_cmpint(n, >=, 0);
		if (st == NVFM_READ_DATA)
			g_byte_array_append(stream, buf, (guint)n);
		g_assert_true(nvfm_device_precopy_info(src, &initial, &dirty, &error));
		g_assert_cmpuint(initial, <=, last_initial);
		last_initial = initial;
		if (initial == 0 && dirty > 0)
			saw_dirty = TRUE;
		if (saw_dirty && stream->len > first_initial + (1 << 20))
			break;
		if (st == NVFM_READ_NO_MORE_FOR_NOW)
			g_usleep(10000);
	}
	g_assert_true(saw_dirty);
	g_assert_cmpuint(stream->len, >, first_initial);
	/* PRE_COPY_P2P then STOP_COPY keep the same data_fd */
	g_assert_true(nvfm_device_set_state(src, S_PCP2P, &error));
	g_assert_true(nvfm_device_set_state(src, S_SC, &error));
	g_assert_no_error(error);
	again = engine_read_all(src, TIMEOUT_MS, &error);
	g_assert_no_error(error);
	g_byte_array_append(stream, again->data, again->len);
	g_assert_true(nvfm_device_set_state(src, S_STOP, &error));
	nvfm_device_close(src);

	make("pcd", 0, 1, ALL_FLAGS, 0);
	dst = open_dev("pcd");
	g_assert_true(load(dst, stream->data, stream->len, &error));
	g_assert_no_error(error);
	nvfm_device_close(dst);
	ds = digest("pc", NULL);
	dd = digest("pcd", NULL);
	g_assert_cmpstr(ds, ==, dd);
}

/* No dirtying: PRE_COPY drains to ENOMSG and PRECOPY_INFO reaches 0/0. */
static void test_precopy_enomsg(Fixture *fx, gconstpointer data)
{
	g_autoptr(GByteArray) b = g_byte_array_new();
	g_autoptr(GByteArray) rest = g_byte_array_new();
	guint64 initial = 1, dirty = 1, size = 0;
	NvfmDevice *dev;
	int fd = -1, fd2 = -1, dup_fd;

	make("q", 2 << 20, 3, ALL_FLAGS, 0);
	g_free(digest("q", &size));
	dev = open_dev("q");
	g_assert_cmpint(dev->ops->precopy_info(dev, 0, &initial, &dirty), ==, -EINVAL);
	g_assert_cmpint(dev->ops->set_state(dev, S_PC, &fd), ==, 0);
	g_assert_cmpint(fd, >=, 0);
	g_assert_cmpint(raw_read_all(dev, fd, b), ==, -ENOMSG);
	g_assert_cmpint(dev->ops->precopy_info(dev, fd, &initial, &dirty), ==, 0);
	g_assert_cmpuint(initial, ==, 0);
	g_assert_cmpuint(dirty, ==, 0);
	/* the initial image is the canonical one without its END record */
	g_assert_cmpuint(b->len, ==, size - 32);
	g_assert_cmpint(dev->ops->set_state(dev, S_SC, &fd2), ==, 0);
	g_assert_cmpint(fd2, ==, -1);
	g_assert_cmpint(raw_read_all(dev, fd, rest), ==, 0);
	g_assert_cmpuint(rest->len, >, 32);
	/* leaving the saving state disables the fd, through any copy of it */
	dup_fd = dup(fd);
	g_assert_cmpint(dev->ops->set_state(dev, S_STOP, &fd2), ==, 0);
	g_assert_cmpint(dev->ops->data_read(dev, dup_fd, b->data, 16), ==, -ENODEV);
	g_assert_cmpint(dev->ops->data_read(dev, fd, b->data, 16), ==, -ENODEV);
	close(dup_fd);
	close(fd);
	nvfm_device_close(dev);
}

/* A reader that closes its data_fd mid-stream must not kill the process
 * (SIGPIPE) nor wedge the device. */
static void test_reader_gone(Fixture *fx, gconstpointer data)
{
	g_autofree guint8 *buf = g_malloc(4096);
	NvfmDevice *dev;
	int fd = -1, fd2 = -1;

	make("gone", 8 << 20, 2, ALL_FLAGS, 0);
	dev = open_dev("gone");
	g_assert_cmpint(dev->ops->set_state(dev, S_SC, &fd), ==, 0);
	g_assert_cmpint(dev->ops->data_read(dev, fd, buf, 4096), >, 0);
	close(fd);
	g_usleep(100000);
	g_assert_cmpint(dev->ops->set_state(dev, S_STOP, &fd2), ==, 0);
	g_assert_cmpint(dev->ops->set_state(dev, S_SC, &fd), ==, 0);
	close(fd);
	nvfm_device_close(dev);
}

/* ---- faults ---- */

static void set_fault(const char *name, const char *knob, const char *value)
{
	g_autoptr(GError) error = NULL;

	g_assert_true(nvfm_emu_set_fault(name, knob, value, &error));
	g_assert_no_error(error);
}

static void test_fault_fail_arc(Fixture *fx, gconstpointer data)
{
	g_autoptr(GError) error = NULL;
	NvfmMigState st;
	NvfmDevice *dev;
	int fd = -1;

	make("f", 256 << 10, 1, ALL_FLAGS, 0);
	g_assert_false(nvfm_emu_set_fault("f", "fail-arc", "STOP", &error));
	g_assert_error(error, NVFM_ERROR, NVFM_ERROR_INVALID_ARG);
	g_clear_error(&error);
	g_assert_false(nvfm_emu_set_fault("f", "no-such-knob", "1", &error));
	g_assert_error(error, NVFM_ERROR, NVFM_ERROR_INVALID_ARG);
	g_clear_error(&error);
	set_fault("f", "fail-arc", "stop>stop-copy");
	dev = open_dev("f");
	/* RUNNING -> STOP_COPY steps through STOP; the STOP -> STOP_COPY arc fails */
	g_assert_cmpint(dev->ops->set_state(dev, S_SC, &fd), ==, -EIO);
	g_assert_cmpint(fd, ==, -1);
	g_assert_cmpint(raw_state(dev), ==, S_ERR);
	g_assert_cmpint(dev->ops->reset(dev), ==, 0);
	/* faults stay armed; the engine recovers the device from ERROR */
	g_assert_false(nvfm_device_set_state(dev, S_SC, &error));
	g_assert_error(error, NVFM_ERROR, NVFM_ERROR_STATE);
	g_clear_error(&error);
	g_assert_true(nvfm_device_get_state(dev, &st, &error));
	g_assert_cmpint(st, !=, S_ERR);
	g_assert_true(nvfm_emu_clear_faults("f", &error));
	g_assert_true(nvfm_device_set_state(dev, S_SC, &error));
	g_assert_no_error(error);
	nvfm_device_close(dev);
}

static void test_fault_corrupt(Fixture *fx, gconstpointer data)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(GByteArray) good = NULL, bad = NULL;
	g_autofree char *before = NULL, *after = NULL;
	NvfmDevice *src, *dst;
	int fd = -1;

	make("cs", 512 << 10, 11, ALL_FLAGS, 0);
	make("cd", 128 << 10, 12, ALL_FLAGS, 0);
	src = open_dev("cs");
	good = save(src);
	nvfm_device_close(src);
	set_fault("cs", "corrupt-byte", "5000");
	src = open_dev("cs");
	bad = save(src);
	nvfm_device_close(src);
	g_assert_cmpuint(good->len, ==, bad->len);
	for (guint i = 0; i < good->len; i++)
		g_assert_cmpuint(good->data[i] ^ bad->data[i], ==, i == 5000 ? 0xff : 0);

	dst = open_dev("cd");
	g_assert_cmpint(dst->ops->reset(dst), ==, 0);
	nvfm_device_close(dst);
	before = digest("cd", NULL);
	dst = open_dev("cd");
	g_assert_cmpint(raw_load(dst, bad->data, bad->len), ==, -EINVAL);
	g_assert_cmpint(raw_state(dst), ==, S_ERR);
	g_assert_cmpint(dst->ops->set_state(dst, S_RUN, &fd), ==, -EINVAL);
	g_assert_cmpint(dst->ops->reset(dst), ==, 0);
	nvfm_device_close(dst);
	after = digest("cd", NULL);
	g_assert_cmpstr(before, ==, after);
}

static void test_fault_stop_after(Fixture *fx, gconstpointer data)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(GByteArray) b = g_byte_array_new();
	g_autofree guint8 *buf = g_malloc(1 << 16);
	NvfmDevice *dev;

	make("st", 1 << 20, 1, ALL_FLAGS, 0);
	set_fault("st", "stop-after", "100000");
	dev = open_dev("st");
	g_assert_true(nvfm_device_set_state(dev, S_SC, &error));
	for (;;) {
		NvfmReadStatus rs;
		gssize n = nvfm_device_read(dev, buf, 1 << 16, 300, &rs, &error);

		if (n < 0)
			break;
		g_assert_cmpint(rs, ==, NVFM_READ_DATA);
		g_byte_array_append(b, buf, (guint)n);
	}
	/* no more data and no end of stream: the engine's wait runs out */
	g_assert_error(error, NVFM_ERROR, NVFM_ERROR_TIMEOUT);
	g_assert_cmpuint(b->len, ==, 100000);
	g_clear_error(&error);
	g_assert_true(nvfm_device_set_state(dev, S_RUN, &error));
	g_assert_no_error(error);
	nvfm_device_close(dev);
}

static void test_fault_truncate(Fixture *fx, gconstpointer data)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(GByteArray) b = NULL;
	NvfmDevice *dev;

	make("tr", 1 << 20, 1, ALL_FLAGS, 0);
	set_fault("tr", "truncate-after", "70000");
	dev = open_dev("tr");
	b = save(dev);
	g_assert_cmpuint(b->len, ==, 70000);
	/* a truncated stream is refused; the engine resets the device */
	g_assert_false(load(dev, b->data, b->len, &error));
	g_assert_error(error, NVFM_ERROR, NVFM_ERROR_STATE);
	g_assert_cmpint(raw_state(dev), ==, S_RUN);
	nvfm_device_close(dev);
}

static void test_fault_slow(Fixture *fx, gconstpointer data)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(GByteArray) b = NULL;
	g_autofree char *d = NULL;
	NvfmDevice *dev;

	make("sl", 512 << 10, 1, ALL_FLAGS, 0);
	set_fault("sl", "slow-us", "2000");
	d = digest("sl", NULL);
	dev = open_dev("sl");
	b = save(dev);
	{
		g_autofree char *ds = sha256(b);

		g_assert_cmpstr(ds, ==, d);
	}
	g_assert_true(load(dev, b->data, b->len, &error));
	g_assert_no_error(error);
	nvfm_device_close(dev);
	/* clearing one knob with a NULL value */
	set_fault("sl", "slow-us", NULL);
	{
		json_auto_t *j = describe("sl");

		g_assert_cmpuint(json_object_size(json_object_get(j, "faults")), ==, 0);
	}
}

static void test_fault_reject_resume(Fixture *fx, gconstpointer data)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(GByteArray) b = NULL;
	NvfmDevice *dev;

	make("rr", 256 << 10, 1, ALL_FLAGS, 0);
	dev = open_dev("rr");
	b = save(dev);
	set_fault("rr", "reject-resume", "1");
	g_assert_cmpint(raw_load(dev, b->data, b->len), <, 0);
	g_assert_cmpint(raw_state(dev), ==, S_ERR);
	g_assert_cmpint(dev->ops->reset(dev), ==, 0);
	g_assert_cmpint(raw_load(dev, b->data, b->len), <, 0);
	g_assert_cmpint(dev->ops->reset(dev), ==, 0);
	g_assert_true(nvfm_emu_clear_faults("rr", &error));
	g_assert_cmpint(dev->ops->set_state(dev, S_STOP, &(int){ -1 }), ==, 0);
	g_assert_cmpint(raw_load(dev, b->data, b->len), ==, 0);
	nvfm_device_close(dev);
}

/* ---- invalid streams ---- */

typedef void (*Mangle)(GByteArray *b);

static void m_magic(GByteArray *b) { b->data[0] ^= 1; }
static void m_version(GByteArray *b) { b->data[8] = 2; }
static void m_no_end(GByteArray *b) { g_byte_array_set_size(b, b->len - 32); }
static void m_short(GByteArray *b) { g_byte_array_set_size(b, b->len / 2); }
static void m_crc(GByteArray *b) { b->data[first_page_data(b) + 7] ^= 0x10; }
static void m_trailing(GByteArray *b) { g_byte_array_append(b, (const guint8 *)"x", 1); }
static void m_length(GByteArray *b)
{
	b->data[b->len - 16] ^= 1;	/* END's total length */
	fix_crc(b);
}
static void m_missing_page(GByteArray *b)
{
	/* drop page 0's record entirely and re-seal */
	gsize start = first_page_data(b) - 32;
	gsize rec = 32 + EMU_PAGE_SIZE;
	guint64 total;

	memmove(b->data + start, b->data + start + rec, b->len - start - rec);
	g_byte_array_set_size(b, b->len - rec);
	total = GUINT64_TO_LE(b->len);
	memcpy(b->data + b->len - 16, &total, 8);
	put32le(b->data + b->len - 8, GUINT32_FROM_LE(*(guint32 *)(b->data + b->len - 8)) - 1);
	fix_crc(b);
}
static void m_record_type(GByteArray *b)
{
	b->data[EMU_STREAM_HEADER_SIZE] = 9;
	fix_crc(b);
}

static void test_invalid_streams(Fixture *fx, gconstpointer data)
{
	static const struct { const char *what; Mangle fn; } cases[] = {
		{ "bad magic", m_magic }, { "bad version", m_version },
		{ "missing end record", m_no_end }, { "truncated", m_short },
		{ "crc mismatch", m_crc }, { "trailing bytes", m_trailing },
		{ "length mismatch", m_length }, { "missing page", m_missing_page },
		{ "unknown record", m_record_type },
	};
	g_autoptr(GByteArray) good = NULL;
	g_autofree char *before = NULL;
	NvfmDevice *src, *dst;

	make("is", 1 << 20, 21, ALL_FLAGS, 0);
	make("id", 1 << 20, 22, ALL_FLAGS, 0);
	src = open_dev("is");
	good = save(src);
	nvfm_device_close(src);
	/* a refused stream leaves the state as it was (resets aside) */
	dst = open_dev("id");
	g_assert_cmpint(dst->ops->reset(dst), ==, 0);
	nvfm_device_close(dst);
	before = digest("id", NULL);
	dst = open_dev("id");
	for (guint i = 0; i < G_N_ELEMENTS(cases); i++) {
		g_autoptr(GByteArray) b = g_byte_array_new();
		int fd = -1;

		g_test_message("case: %s", cases[i].what);
		g_byte_array_append(b, good->data, good->len);
		cases[i].fn(b);
		g_assert_cmpint(dst->ops->set_state(dst, S_STOP, &fd), ==, 0);
		g_assert_cmpint(raw_load(dst, b->data, b->len), ==, -EINVAL);
		g_assert_cmpint(raw_state(dst), ==, S_ERR);
		g_assert_cmpint(dst->ops->set_state(dst, S_STOP, &fd), ==, -EINVAL);
		g_assert_cmpint(dst->ops->reset(dst), ==, 0);
	}
	nvfm_device_close(dst);
	{
		g_autofree char *after = digest("id", NULL);

		g_assert_cmpstr(before, ==, after);
	}
}

/* ---- write cap ---- */

static void test_max_write(Fixture *fx, gconstpointer data)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(GByteArray) b = NULL;
	NvfmEmuConfig cfg;
	NvfmDevice *dev;
	int fd = -1;

	nvfm_emu_config_init(&cfg);
	cfg.blob_size = 300 << 10;
	cfg.max_write = 1000;
	g_assert_true(nvfm_emu_create("mw", &cfg, &error));
	dev = open_dev("mw");
	b = save(dev);
	g_assert_cmpint(dev->ops->set_state(dev, S_RES, &fd), ==, 0);
	g_assert_cmpint(dev->ops->data_write(dev, fd, b->data, b->len), ==, 1000);
	g_assert_cmpint(dev->ops->reset(dev), ==, 0);
	close(fd);
	/* the engine copes with partial writes */
	g_assert_true(load(dev, b->data, b->len, &error));
	g_assert_no_error(error);
	nvfm_device_close(dev);
}

/* ---- single opener, persistence, reset, isolation ---- */

static void test_busy(Fixture *fx, gconstpointer data)
{
	g_autoptr(GError) error = NULL;
	NvfmEmuConfig cfg;
	NvfmDevice *dev, *dev2;

	make("b", 64 << 10, 1, ALL_FLAGS, 0);
	dev = open_dev("b");
	g_assert_null(nvfm_device_open(nvfm_test_addr("emu:b"), &error));
	g_assert_error(error, NVFM_ERROR, NVFM_ERROR_BUSY);
	g_assert_nonnull(strstr(error->message, "emulated device 'b' is in use"));
	g_clear_error(&error);
	nvfm_emu_config_init(&cfg);
	g_assert_false(nvfm_emu_create("b", &cfg, &error));
	g_assert_error(error, NVFM_ERROR, NVFM_ERROR_BUSY);
	g_clear_error(&error);
	g_assert_false(nvfm_emu_destroy("b", &error));
	g_assert_error(error, NVFM_ERROR, NVFM_ERROR_BUSY);
	g_clear_error(&error);
	g_assert_false(nvfm_emu_dirty("b", 1, &error));
	g_assert_error(error, NVFM_ERROR, NVFM_ERROR_BUSY);
	g_clear_error(&error);
	{
		json_auto_t *j = describe("b");

		g_assert_true(json_is_true(json_object_get(j, "open")));
	}
	nvfm_device_close(dev);
	dev2 = open_dev("b");
	nvfm_device_close(dev2);
}

static void test_persistence(Fixture *fx, gconstpointer data)
{
	g_autoptr(GError) error = NULL;
	g_autofree char *d0 = NULL, *d1 = NULL, *d2 = NULL, *d3 = NULL;
	NvfmDevice *dev;

	make("p", 2 << 20, 8, ALL_FLAGS, 0);
	d0 = digest("p", NULL);
	g_assert_true(nvfm_emu_dirty("p", 1 << 20, &error));
	g_assert_no_error(error);
	d1 = digest("p", NULL);
	g_assert_cmpstr(d0, !=, d1);
	/* open + close without running time keeps the state */
	dev = open_dev("p");
	g_assert_true(nvfm_device_set_state(dev, S_STOP, &error));
	nvfm_device_close(dev);
	d2 = digest("p", NULL);
	g_assert_cmpstr(d1, ==, d2);
	/* reset returns the controller registers to their reset values */
	dev = open_dev("p");
	g_assert_true(nvfm_device_reset(dev, &error));
	nvfm_device_close(dev);
	d3 = digest("p", NULL);
	g_assert_cmpstr(d2, !=, d3);
	{
		json_auto_t *j = describe("p");
		json_t *c = json_object_get(j, "controller");

		g_assert_cmpstr(json_string_value(json_object_get(c, "cc")), ==,
				"0x0000000000000000");
		g_assert_cmpstr(json_string_value(json_object_get(c, "csts")), ==,
				"0x0000000000000000");
		g_assert_cmpuint(json_array_size(json_object_get(c, "commands")), ==, 0);
		g_assert_cmpint(json_integer_value(json_object_get(json_object_get(j, "pages"),
								    "modified")), >, 0);
	}
}

/* A running device dirties state with wall time. */
static void test_running_dirties(Fixture *fx, gconstpointer data)
{
	g_autoptr(GError) error = NULL;
	g_autofree char *d0 = NULL, *d1 = NULL;
	NvfmDevice *dev;
	NvfmMigState st;

	make("r", 1 << 20, 8, ALL_FLAGS, 64ull << 20);
	d0 = digest("r", NULL);
	dev = open_dev("r");
	g_usleep(50000);
	g_assert_true(nvfm_device_get_state(dev, &st, &error));
	g_assert_true(nvfm_device_set_state(dev, S_STOP, &error));
	nvfm_device_close(dev);
	d1 = digest("r", NULL);
	g_assert_cmpstr(d0, !=, d1);
}

static void test_two_dirs(Fixture *fx, gconstpointer data)
{
	g_autofree char *a = g_build_filename(fx->dir, "hostA", NULL);
	g_autofree char *b = g_build_filename(fx->dir, "hostB", NULL);
	g_autofree char *da = NULL, *db = NULL;
	g_auto(GStrv) la = NULL, lb = NULL;
	NvfmDevice *x, *y;

	setenv("NVFM_EMU_DIR", a, 1);
	make("vf", 128 << 10, 100, ALL_FLAGS, 0);
	x = open_dev("vf");
	da = digest("vf", NULL);
	setenv("NVFM_EMU_DIR", b, 1);
	lb = nvfm_emu_list(NULL);
	g_assert_cmpuint(g_strv_length(lb), ==, 0);
	/* the same name in another "host" is another device, and not busy */
	make("vf", 128 << 10, 200, ALL_FLAGS, 0);
	y = open_dev("vf");
	db = digest("vf", NULL);
	g_assert_cmpstr(da, !=, db);
	nvfm_device_close(y);
	nvfm_device_close(x);
	setenv("NVFM_EMU_DIR", a, 1);
	la = nvfm_emu_list(NULL);
	g_assert_cmpuint(g_strv_length(la), ==, 1);
	{
		struct stat sb;

		g_assert_cmpint(stat(a, &sb), ==, 0);
		g_assert_cmpuint(sb.st_mode & 0777, ==, 0700);
	}
	setenv("NVFM_EMU_DIR", fx->dir, 1);
}

int main(int argc, char **argv)
{
	g_test_init(&argc, &argv, NULL);
#define T(path, fn) g_test_add("/emu/" path, Fixture, NULL, fx_setup, fn, fx_teardown)
	T("names", test_names);
	T("determinism", test_determinism);
	T("no-data-size", test_no_data_size);
	T("arcs", test_arcs);
	T("error-state", test_error_state);
	T("roundtrip/empty", test_roundtrip_empty);
	T("roundtrip/small", test_roundtrip_small);
	T("roundtrip/64m", test_roundtrip_64m);
	T("spill", test_spill);
	T("precopy/dirty", test_precopy);
	T("precopy/enomsg", test_precopy_enomsg);
	T("reader-gone", test_reader_gone);
	T("fault/fail-arc", test_fault_fail_arc);
	T("fault/corrupt-byte", test_fault_corrupt);
	T("fault/stop-after", test_fault_stop_after);
	T("fault/truncate-after", test_fault_truncate);
	T("fault/slow-us", test_fault_slow);
	T("fault/reject-resume", test_fault_reject_resume);
	T("invalid-streams", test_invalid_streams);
	T("max-write", test_max_write);
	T("busy", test_busy);
	T("persistence", test_persistence);
	T("running-dirties", test_running_dirties);
	T("two-dirs", test_two_dirs);
#undef T
	return g_test_run();
}
