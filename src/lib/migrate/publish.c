/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * What a running migration tells "nvme-vf-migrate status": one small JSON
 * file per migration in the status directory (the runtime directory's
 * "migrations", or $NVFM_STATUS_DIR), rewritten atomically as it advances
 * and removed at the end. The fields are the agent's status fields on the
 * destination: id, phase, bytes and total of the phase, rate (bytes/s),
 * elapsed (s). Publishing is a courtesy: a directory we cannot use costs
 * the migration nothing.
 */
#define G_LOG_DOMAIN "nvfm-migrate"

#include <errno.h>
#include <signal.h>
#include <string.h>
#include <unistd.h>

#include "nvfm/error.h"
#include "migrate-private.h"
#include "util/util-private.h"

/* a file rewritten at most this often, and on every phase change */
#define PUBLISH_INTERVAL_US (500 * 1000)

static char *status_dir(void)
{
	return nvfm_runtime_dir("migrations", "NVFM_STATUS_DIR");
}

static json_t *status_json(NvfmMigration *m)
{
	NvfmPublish *p = &m->pub;
	gint64 now = nvfm_now_us();
	double phase_s = (now - p->phase_start_us) / 1e6;
	guint64 moved = p->done >= p->phase_base ? p->done - p->phase_base : 0;
	const char *vm = m->opts->vm_qmp ? m->opts->vm_qmp : m->opts->domain;
	g_autoptr(GString) vfs = g_string_new(NULL);

	/* several VFs: "a,b" */
	for (guint i = 0; i < m->n_vfs; i++)
		g_string_append_printf(vfs, "%s%s", i ? "," : "", m->vfs[i].src->text);
	return json_pack("{s:s, s:s?, s:s, s:s, s:s, s:I, s:I, s:f, s:f, s:I, s:i}",
			 "id", p->id, "vm", vm, "vf", vfs->str, "to", m->opts->agent,
			 "phase", nvfm_migrate_phase_name(m->phase),
			 "bytes", (json_int_t)p->done, "total", (json_int_t)p->total,
			 "rate", phase_s > 0 ? moved / phase_s : 0.0,
			 "elapsed", (now - m->t0) / 1e6,
			 "started", (json_int_t)(p->started / G_USEC_PER_SEC), "pid", (int)getpid());
}

void nvfm_migration_publish_start(NvfmMigration *m)
{
	g_autofree char *dir = status_dir();
	g_autoptr(GError) err = NULL;
	g_autoptr(GDateTime) now = g_date_time_new_now_utc();
	g_autofree char *stamp = g_date_time_format(now, "%Y%m%dT%H%M%S");

	if (!nvfm_private_dir(dir, &err)) {
		g_debug("not publishing the migration's status: %s", err->message);
		return;
	}
	m->pub.id = g_strdup_printf("s%s-%d", stamp, (int)getpid());
	m->pub.path = g_strdup_printf("%s/%s.json", dir, m->pub.id);
	m->pub.started = g_get_real_time();
	m->pub.phase = NVFM_MIGRATE_N_PHASES;
}

static gboolean in_pause_window(NvfmMigration *m)
{
	return m->src_qmp && m->pause_us > 0 && !m->resume_us && !m->rollback_us;
}

void nvfm_migration_publish(NvfmMigration *m, guint64 done, guint64 total)
{
	NvfmPublish *p = &m->pub;
	gint64 now = nvfm_now_us();
	g_autoptr(GError) err = NULL;
	json_auto_t *obj = NULL;
	gboolean changed = p->phase != m->phase;

	if (!p->path)
		return;
	if (changed) {
		p->phase = m->phase;
		p->phase_start_us = now;
		p->phase_base = done;
	}
	p->done = done;
	p->total = total ? MAX(total, done) : 0;
	/* a new phase is written at once, except inside the VM's pause
	 * window, where every write is downtime: there the next periodic
	 * write shows it */
	if ((!changed || in_pause_window(m)) && now - p->last_us < PUBLISH_INTERVAL_US)
		return;
	p->last_us = now;
	obj = status_json(m);
	if (!nvfm_json_write_runtime(p->path, obj, &err))
		g_debug("publishing the migration's status: %s", err->message);
}

void nvfm_migration_publish_end(NvfmMigration *m)
{
	if (m->pub.path && unlink(m->pub.path) < 0 && errno != ENOENT)
		g_debug("removing %s: %s", m->pub.path, g_strerror(errno));
	g_clear_pointer(&m->pub.path, g_free);
	g_clear_pointer(&m->pub.id, g_free);
}

static gint compare_started(gconstpointer a, gconstpointer b)
{
	json_t *x = *(json_t *const *)a, *y = *(json_t *const *)b;

	return g_strcmp0(json_string_value(json_object_get(x, "id")),
			 json_string_value(json_object_get(y, "id")));
}

json_t *nvfm_migrate_status(GError **error)
{
	g_autofree char *dir = status_dir();
	g_autoptr(GPtrArray) found = g_ptr_array_new();
	g_autoptr(GDir) d = NULL;
	g_autoptr(GError) err = NULL;
	json_t *list = json_array();
	const char *name;

	d = g_dir_open(dir, 0, &err);
	if (!d) {
		if (g_error_matches(err, G_FILE_ERROR, G_FILE_ERROR_NOENT))
			return list;	/* nothing ever ran here */
		g_set_error(error, NVFM_ERROR, NVFM_ERROR_IO, "%s", err->message);
		json_decref(list);
		return NULL;
	}
	while ((name = g_dir_read_name(d))) {
		g_autofree char *path = NULL;
		json_t *obj;
		json_int_t pid;

		if (!g_str_has_suffix(name, ".json"))
			continue;
		path = g_build_filename(dir, name, NULL);
		obj = nvfm_json_read_file(path, NULL);
		if (!obj)
			continue;	/* being replaced, or not ours */
		pid = json_integer_value(json_object_get(obj, "pid"));
		/* a migration killed before its end left its file: it runs no more */
		if (pid <= 0 || (kill((pid_t)pid, 0) < 0 && errno == ESRCH)) {
			json_decref(obj);
			continue;
		}
		g_ptr_array_add(found, obj);
	}
	g_ptr_array_sort(found, compare_started);
	for (guint i = 0; i < found->len; i++)
		json_array_append_new(list, found->pdata[i]);
	return list;
}
