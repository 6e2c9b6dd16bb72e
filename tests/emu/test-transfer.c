/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The transfer paths against emulated devices, in one process: the
 * zero-copy path over a socket, the rules that keep a zero-copy or
 * over-long stream from being committed, and the agent with its client
 * over a UNIX socket, stopped in the middle of a transfer.
 */
#include <fcntl.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <glib/gstdio.h>

#include "src/lib/util/util-private.h"
#include "tests/common/testutil.h"

typedef struct {
	char *dir;
} Fixture;

static void make_dev(const char *name, guint64 size, guint64 seed)
{
	NvfmEmuConfig cfg;
	GError *error = NULL;

	nvfm_emu_config_init(&cfg);
	cfg.blob_size = size;
	cfg.seed = seed;
	cfg.dirty_rate = 0;
	g_assert_true(nvfm_emu_create(name, &cfg, &error));
	g_assert_no_error(error);
}

static char *digest(const char *name)
{
	char *hex = NULL;
	GError *error = NULL;

	g_assert_true(nvfm_emu_digest(name, &hex, NULL, &error));
	g_assert_no_error(error);
	return hex;
}

static void fixture_setup(Fixture *f, gconstpointer data)
{
	GError *error = NULL;
	g_autofree char *emu = NULL;

	f->dir = g_dir_make_tmp("nvfm-transfer.XXXXXX", &error);
	g_assert_no_error(error);
	emu = g_build_filename(f->dir, "emu", NULL);
	g_setenv("NVFM_EMU_DIR", emu, TRUE);
	make_dev("a", 4u << 20, 1);
	make_dev("b", 4u << 20, 2);
}

static void fixture_teardown(Fixture *f, gconstpointer data)
{
	nvfm_test_rm_rf(f->dir);
	g_free(f->dir);
}

/* ---- save on a thread, load here ---- */

typedef struct {
	int fd;
	gboolean zero_copy;
	gboolean ok;
	NvfmTransferStats st;
	char *error;
} SaveJob;

static gpointer save_thread(gpointer data)
{
	SaveJob *j = data;
	g_autoptr(NvfmDevice) dev = nvfm_device_open(nvfm_test_addr("emu:a"), NULL);
	g_autoptr(NvfmChannel) ch = nvfm_channel_new_fd(j->fd, TRUE);
	NvfmSaveOptions o;
	GError *error = NULL;

	nvfm_save_options_init(&o);
	o.zero_copy = j->zero_copy;
	nvfm_channel_set_timeout(ch, 10000);
	j->ok = dev && nvfm_save(dev, ch, &o, &j->st, &error);
	if (error) {
		j->error = g_strdup(error->message);
		g_error_free(error);
	}
	return NULL;
}

static gboolean load_from(int fd, NvfmLoadOptions *o, NvfmTransferStats *st, GError **error)
{
	g_autoptr(NvfmDevice) dev = nvfm_device_open(nvfm_test_addr("emu:b"), error);
	g_autoptr(NvfmChannel) ch = nvfm_channel_new_fd(fd, TRUE);

	nvfm_channel_set_timeout(ch, 10000);
	return dev && nvfm_load(dev, ch, o, st, error);
}

static void run_pair(gboolean zero_copy, gboolean allow, gboolean *ok, NvfmTransferStats *st,
		     GError **error, SaveJob *j)
{
	int sv[2];
	GThread *t;
	NvfmLoadOptions o;

	g_assert_cmpint(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv), ==, 0);
	memset(j, 0, sizeof(*j));
	j->fd = sv[0];
	j->zero_copy = zero_copy;
	t = g_thread_new("save", save_thread, j);
	nvfm_load_options_init(&o);
	o.allow_unchecked = allow;
	*ok = load_from(sv[1], &o, st, error);
	g_thread_join(t);
}

static void test_zero_copy(Fixture *f, gconstpointer data)
{
	g_autofree char *da = digest("a");
	g_autofree char *db = NULL;
	NvfmTransferStats st;
	GError *error = NULL;
	SaveJob j;
	gboolean ok;

	run_pair(TRUE, TRUE, &ok, &st, &error, &j);
	g_assert_no_error(error);
	g_assert_true(ok);
	g_assert_true(j.ok);
	/* every STOP_COPY byte went by splice, so there is no digest */
	g_assert_cmpuint(j.st.zero_copy_bytes, ==, j.st.total_bytes);
	g_assert_cmpuint(st.zero_copy_bytes, ==, st.total_bytes);
	g_assert_cmpuint(st.total_bytes, ==, j.st.total_bytes);
	g_assert_cmpstr(j.st.sha256, ==, "");
	db = digest("b");
	g_assert_cmpstr(da, ==, db);
}

static void test_zero_copy_not_negotiated(Fixture *f, gconstpointer data)
{
	g_autofree char *db0 = digest("b");
	g_autofree char *db = NULL;
	NvfmTransferStats st;
	GError *error = NULL;
	SaveJob j;
	gboolean ok;

	run_pair(TRUE, FALSE, &ok, &st, &error, &j);
	g_assert_false(ok);
	g_assert_error(error, NVFM_ERROR, NVFM_ERROR_PROTOCOL);
	g_assert_nonnull(strstr(error->message, "not negotiated"));
	g_assert_cmpstr(st.phase, ==, "handshake");
	g_clear_error(&error);
	g_free(j.error);
	db = digest("b");
	g_assert_cmpstr(db0, ==, db);
}

static void test_verified(Fixture *f, gconstpointer data)
{
	NvfmTransferStats st;
	GError *error = NULL;
	SaveJob j;
	gboolean ok;

	run_pair(FALSE, TRUE, &ok, &st, &error, &j);
	g_assert_no_error(error);
	g_assert_true(ok);
	g_assert_cmpuint(st.zero_copy_bytes, ==, 0);
	g_assert_cmpstr(st.sha256, ==, j.st.sha256);
	g_assert_cmpuint(strlen(st.sha256), ==, 64);
}

/* A file with anything after its trailer is refused, the device reset. */
static void test_trailing_bytes(Fixture *f, gconstpointer data)
{
	g_autofree char *path = g_build_filename(f->dir, "state", NULL);
	g_autoptr(NvfmDevice) a = nvfm_device_open(nvfm_test_addr("emu:a"), NULL);
	g_autofree char *da = digest("a");
	g_autofree char *db = NULL;
	NvfmChannel *ch;
	NvfmTransferStats st;
	GError *error = NULL;
	int fd;

	fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600);
	g_assert_cmpint(fd, >=, 0);
	ch = nvfm_channel_new_fd(fd, FALSE);
	g_assert_true(nvfm_save(a, ch, NULL, NULL, &error));
	g_assert_no_error(error);
	g_assert_cmpint(write(fd, "x", 1), ==, 1);
	nvfm_channel_free(ch);
	g_clear_pointer(&a, nvfm_device_close);
	g_assert_cmpint(lseek(fd, 0, SEEK_SET), ==, 0);
	g_assert_false(load_from(fd, NULL, &st, &error));
	g_assert_error(error, NVFM_ERROR, NVFM_ERROR_PROTOCOL);
	g_assert_nonnull(strstr(error->message, "after its TRAILER"));
	g_clear_error(&error);
	db = digest("b");
	/* nothing committed */
	g_assert_cmpstr(db, !=, da);
}

static gboolean refuse_commit(gpointer data, GError **error)
{
	(*(int *)data)++;
	g_set_error(error, NVFM_ERROR, NVFM_ERROR_CANCELLED, "not today");
	return FALSE;
}

static void test_before_commit(Fixture *f, gconstpointer data)
{
	int sv[2], calls = 0;
	GThread *t;
	NvfmLoadOptions o;
	NvfmTransferStats st;
	GError *error = NULL;
	SaveJob j = { 0 };
	g_autofree char *da = digest("a");
	g_autofree char *db = NULL;

	g_assert_cmpint(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv), ==, 0);
	j.fd = sv[0];
	t = g_thread_new("save", save_thread, &j);
	nvfm_load_options_init(&o);
	o.before_commit = refuse_commit;
	o.commit_data = &calls;
	g_assert_false(load_from(sv[1], &o, &st, &error));
	g_thread_join(t);
	g_assert_error(error, NVFM_ERROR, NVFM_ERROR_CANCELLED);
	g_clear_error(&error);
	g_assert_cmpint(calls, ==, 1);
	db = digest("b");
	g_assert_cmpstr(da, !=, db);
}

/* ---- the agent and its client over a UNIX socket ---- */

typedef struct {
	NvfmAgent *agent;
	gboolean ok;
	GString *log;
	GMutex mu;
} AgentRun;

static void collect(GLogLevelFlags level, const NvfmLogFields *fields, const char *msg,
		    gpointer data)
{
	AgentRun *r = data;

	g_mutex_lock(&r->mu);
	g_string_append_printf(r->log, "%s\n", msg);
	g_mutex_unlock(&r->mu);
}

static gpointer agent_thread(gpointer data)
{
	AgentRun *r = data;

	r->ok = nvfm_agent_run(r->agent, NULL);
	return NULL;
}

static NvfmAgent *start_agent(Fixture *f, AgentRun *r, guint max_sessions, char **addr)
{
	g_autofree char *rt = g_build_filename(f->dir, "rt", NULL);
	NvfmAgentOptions o = { 0 };
	GError *error = NULL;

	*addr = g_strdup_printf("unix:%s/agent.sock", f->dir);
	memset(r, 0, sizeof(*r));
	g_mutex_init(&r->mu);
	r->log = g_string_new(NULL);
	o.listen = *addr;
	o.runtime_dir = rt;
	o.timeout_ms = 5000;
	o.emu = TRUE;
	o.max_sessions = max_sessions;
	o.log = collect;
	o.log_data = r;
	r->agent = nvfm_agent_new(&o, &error);
	g_assert_no_error(error);
	return r->agent;
}

static void test_agent(Fixture *f, gconstpointer data)
{
	g_autofree char *addr = NULL;
	g_autofree char *rt = g_build_filename(f->dir, "rt", NULL);
	g_autofree char *migs = g_build_filename(rt, "migrations", NULL);
	g_autoptr(NvfmAgentClient) c = NULL;
	g_autoptr(NvfmDevice) a = NULL;
	g_autofree char *da = digest("a");
	g_autofree char *db = NULL;
	json_auto_t *status = NULL;
	json_auto_t *result = NULL;
	NvfmSendOptions so;
	NvfmTransferStats st;
	GError *error = NULL;
	AgentRun r;
	GThread *t;
	struct stat sb;

	start_agent(f, &r, 0, &addr);
	t = g_thread_new("agent", agent_thread, &r);
	g_assert_cmpint(stat(rt, &sb), ==, 0);
	g_assert_cmpuint(sb.st_mode & 0777, ==, 0700);

	c = nvfm_agent_client_connect(addr, NULL, 5000, &error);
	g_assert_no_error(error);
	g_assert_true(nvfm_agent_client_has_capability(c, "zero-copy"));
	status = nvfm_agent_client_call(c, "status", NULL, &error);
	g_assert_no_error(error);
	g_assert_false(json_is_true(json_object_get(status, "tls")));
	g_assert_null(nvfm_agent_client_call(c, "frobnicate", NULL, &error));
	g_assert_error(error, NVFM_ERROR, NVFM_ERROR_INVALID_ARG);
	g_clear_error(&error);

	a = nvfm_device_open(nvfm_test_addr("emu:a"), &error);
	g_assert_no_error(error);
	nvfm_send_options_init(&so);
	so.target = "emu:b";
	g_assert_true(nvfm_agent_client_send(c, a, &so, &st, &result, &error));
	g_assert_no_error(error);
	g_assert_cmpstr(json_string_value(json_object_get(result, "stage")), ==, "done");
	g_assert_cmpuint(st.zero_copy_bytes, ==, st.total_bytes);
	/* the connection carries more requests after a good transfer */
	json_decref(status);
	status = nvfm_agent_client_call(c, "status", NULL, &error);
	g_assert_no_error(error);
	g_clear_pointer(&c, nvfm_agent_client_free);
	g_clear_pointer(&a, nvfm_device_close);
	db = digest("b");
	g_assert_cmpstr(da, ==, db);
	{
		g_autoptr(GDir) d = g_dir_open(migs, 0, NULL);

		g_assert_nonnull(d);
		g_assert_null(g_dir_read_name(d));
	}

	nvfm_agent_stop(r.agent);
	g_thread_join(t);
	g_assert_true(r.ok);
	g_assert_nonnull(strstr(r.log->str, "bytes into emu:b"));
	nvfm_agent_free(r.agent);
	g_string_free(r.log, TRUE);
	g_mutex_clear(&r.mu);
}

static gpointer stop_when_flowing(gpointer data)
{
	AgentRun *r = data;

	/* bounded: 10 s */
	for (int i = 0; i < 1000; i++) {
		gboolean flowing;

		g_mutex_lock(&r->mu);
		flowing = strstr(r->log->str, "migration m") != NULL;
		g_mutex_unlock(&r->mu);
		if (flowing)
			break;
		g_usleep(10000);
	}
	g_usleep(300000);
	nvfm_agent_stop(r->agent);
	return NULL;
}

static void test_agent_stop_mid_transfer(Fixture *f, gconstpointer data)
{
	g_autofree char *addr = NULL;
	g_autoptr(NvfmAgentClient) c = NULL;
	g_autoptr(NvfmDevice) a = NULL;
	g_autofree char *da = digest("a");
	g_autofree char *db = NULL;
	NvfmSendOptions so;
	NvfmTransferStats st;
	NvfmMigState s;
	GError *error = NULL;
	AgentRun r;
	GThread *t, *stopper;

	/* 4 MiB in 64 KiB steps of 50 ms: the transfer would take 3 s */
	g_assert_true(nvfm_emu_set_fault("a", "slow-us", "50000", NULL));
	start_agent(f, &r, 0, &addr);
	t = g_thread_new("agent", agent_thread, &r);
	c = nvfm_agent_client_connect(addr, NULL, 5000, &error);
	g_assert_no_error(error);
	a = nvfm_device_open(nvfm_test_addr("emu:a"), &error);
	g_assert_no_error(error);
	nvfm_send_options_init(&so);
	so.target = "emu:b";
	stopper = g_thread_new("stop", stop_when_flowing, &r);
	g_assert_false(nvfm_agent_client_send(c, a, &so, &st, NULL, &error));
	g_assert_error(error, NVFM_ERROR, NVFM_ERROR_CANCELLED);
	g_assert_nonnull(strstr(error->message, "shutting down"));
	g_clear_error(&error);
	/* the source runs again */
	g_assert_true(nvfm_device_get_state(a, &s, NULL));
	g_assert_cmpint(s, ==, NVFM_MIG_STATE_RUNNING);
	g_thread_join(stopper);
	g_thread_join(t);
	g_assert_true(r.ok);
	g_assert_nonnull(strstr(r.log->str, "emu:b reset"));
	nvfm_agent_free(r.agent);
	g_string_free(r.log, TRUE);
	g_mutex_clear(&r.mu);
	db = digest("b");
	g_assert_cmpstr(da, !=, db);
}

/* A raw connection to a UNIX socket address, sending @start (may be NULL). */
static int raw_connect(const char *addr, const char *start)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

	g_assert_cmpint(fd, >=, 0);
	g_strlcpy(sa.sun_path, addr + strlen("unix:"), sizeof(sa.sun_path));
	g_assert_cmpint(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), ==, 0);
	if (start)
		g_assert_cmpint(write(fd, start, strlen(start)), ==, (gssize)strlen(start));
	return fd;
}

/*
 * Only admitted sessions count against max_sessions: connections still in
 * their handshake (one silent, one stalled in its HELLO) do not keep a
 * client out, and a client beyond the limit is told the agent is busy.
 */
static void test_agent_admission(Fixture *f, gconstpointer data)
{
	g_autofree char *addr = NULL;
	g_autoptr(NvfmAgentClient) c1 = NULL;
	g_autoptr(NvfmAgentClient) c2 = NULL;
	json_auto_t *status = NULL;
	GError *error = NULL;
	AgentRun r;
	GThread *t;
	int silent, stalled;

	start_agent(f, &r, 1, &addr);
	t = g_thread_new("agent", agent_thread, &r);
	silent = raw_connect(addr, NULL);
	stalled = raw_connect(addr, "NVFM");
	c1 = nvfm_agent_client_connect(addr, NULL, 5000, &error);
	g_assert_no_error(error);
	status = nvfm_agent_client_call(c1, "status", NULL, &error);
	g_assert_no_error(error);
	g_assert_cmpint(json_integer_value(json_object_get(status, "sessions")), ==, 1);
	g_assert_cmpint(json_integer_value(json_object_get(status, "unauthenticated")), ==, 2);
	c2 = nvfm_agent_client_connect(addr, NULL, 5000, &error);
	g_assert_null(c2);
	g_assert_error(error, NVFM_ERROR, NVFM_ERROR_BUSY);
	g_assert_nonnull(strstr(error->message, "--max-sessions"));
	g_clear_error(&error);
	close(silent);
	close(stalled);
	nvfm_agent_stop(r.agent);
	g_thread_join(t);
	g_assert_true(r.ok);
	nvfm_agent_free(r.agent);
	g_string_free(r.log, TRUE);
	g_mutex_clear(&r.mu);
}

int main(int argc, char **argv)
{
	g_test_init(&argc, &argv, NULL);
#define ADD(path, fn) g_test_add(path, Fixture, NULL, fixture_setup, fn, fixture_teardown)
	ADD("/transfer/zero-copy", test_zero_copy);
	ADD("/transfer/zero-copy-not-negotiated", test_zero_copy_not_negotiated);
	ADD("/transfer/verified", test_verified);
	ADD("/transfer/trailing-bytes", test_trailing_bytes);
	ADD("/transfer/before-commit", test_before_commit);
	ADD("/agent/unix", test_agent);
	ADD("/agent/stop-mid-transfer", test_agent_stop_mid_transfer);
	ADD("/agent/admission", test_agent_admission);
	return g_test_run();
}
