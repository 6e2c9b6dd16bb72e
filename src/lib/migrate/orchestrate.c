// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * The orchestrator: preflight -> reserve -> precopy -> pause -> stop-copy ->
 * restore -> switchover -> resume -> release, each phase bounded, one commit
 * point (QEMU's "completed" on the source, or without a VM the destination
 * VF's commit), and a single rollback path for every failure before it.
 * What differs between the movers is behind NvfmMoverOps.
 */
#define G_LOG_DOMAIN "nvfm-migrate"

#include <string.h>

#include "nvfm/error.h"
#include "nvfm/pf.h"
#include "migrate-private.h"
#include "qmp/qmp-address.h"
#include "util/util-private.h"

/* 5 s in steps of 100 ms */
#define RELEASE_TRIES 50
/* VFs of one migration: each has a connection of its own to the agent,
 * whose default session limit is 16 */
#define MAX_VFS 8

/* ---- preflight ---- */

static void blocker(json_t *host, const char *fmt, ...) G_GNUC_PRINTF(2, 3);

static void blocker(json_t *host, const char *fmt, ...)
{
	va_list ap;
	g_autofree char *line = NULL;

	va_start(ap, fmt);
	line = g_strdup_vprintf(fmt, ap);
	va_end(ap);
	json_array_append_new(json_object_get(host, "blockers"), json_string(line));
}

/* The source VFs: @vf alone, or @vfs, each once. */
static gboolean check_vfs(const NvfmMigrateOptions *o, GError **error)
{
	if (!o->n_vfs)
		return TRUE;
	if (o->vf || !o->vfs || o->n_vfs > MAX_VFS) {
		g_set_error(error, NVFM_ERROR, NVFM_ERROR_INVALID_ARG,
			    "give one source VF or 1 to %d of them, not %s", MAX_VFS,
			    o->vf ? "both" : "more");
		return FALSE;
	}
	for (guint i = 0; i < o->n_vfs; i++) {
		if (!o->vfs[i]) {
			g_set_error(error, NVFM_ERROR, NVFM_ERROR_INVALID_ARG, "no source VF %u", i);
			return FALSE;
		}
		for (guint j = 0; j < i; j++) {
			if (strcmp(o->vfs[i]->text, o->vfs[j]->text))
				continue;
			g_set_error(error, NVFM_ERROR, NVFM_ERROR_INVALID_ARG,
				    "source VF %s is given twice", o->vfs[i]->text);
			return FALSE;
		}
	}
	if (o->n_vfs > 1 && o->vm_device_id) {
		g_set_error(error, NVFM_ERROR, NVFM_ERROR_INVALID_ARG,
			    "--vm-device names the device of one VF; with several, each is found "
			    "by its host address");
		return FALSE;
	}
	return TRUE;
}

static gboolean check_options(const NvfmMigrateOptions *o, GError **error)
{
	const char *missing = !o->vf && !o->n_vfs ? "the source VF" :
			      !o->agent ? "the destination agent" :
			      !o->dest_pfs || !o->dest_pfs[0] ? "the destination PF" : NULL;

	if (missing) {
		g_set_error(error, NVFM_ERROR, NVFM_ERROR_INVALID_ARG, "no %s given", missing);
		return FALSE;
	}
	if (!check_vfs(o, error))
		return FALSE;
	if (o->vm_qmp && (!o->dest_qmp || !o->migrate_uri)) {
		g_set_error(error, NVFM_ERROR, NVFM_ERROR_INVALID_ARG,
			    "a VM needs the destination QEMU's QMP socket and a migration URI");
		return FALSE;
	}
	if (o->domain && (o->vm_qmp || !o->dest_libvirt_uri || o->mover != NVFM_MOVER_QEMU)) {
		g_set_error(error, NVFM_ERROR, NVFM_ERROR_INVALID_ARG,
			    "a libvirt domain needs the destination libvirt URI, no QMP socket, and "
			    "the qemu mover (libvirt holds the pause window)");
		return FALSE;
	}
	if (o->mover == NVFM_MOVER_QEMU && !o->vm_qmp && !o->domain) {
		g_set_error(error, NVFM_ERROR, NVFM_ERROR_INVALID_ARG,
			    "the qemu mover needs the VM whose QEMU holds the VF");
		return FALSE;
	}
	return TRUE;
}

/*
 * The NVMe live migration format the source VF's PF produces, noted in the
 * source's report; the agent checks its PF against it. A VF that is no
 * PF's (a plain emulated device), a PF without NVMe live migration or one
 * that cannot be read: nothing to check, the movers carry any state.
 */
static void source_lm_format(NvfmMigrationVf *vf)
{
	g_autoptr(GError) err = NULL;
	g_autoptr(NvfmVfInfo) v = nvfm_vf_lookup(vf->src, &err);
	g_autoptr(NvfmAddress) pfa = v ? nvfm_address_parse_pf(v->pf, &err) : NULL;
	g_autoptr(NvfmPf) pf = pfa ? nvfm_pf_open(pfa, &err) : NULL;
	g_autoptr(NvfmLmCaps) caps = pf ? nvfm_pf_get_lm_caps(pf, &err) : NULL;
	g_autofree char *line = NULL;

	if (!caps) {
		g_debug("no NVMe live migration format for %s: %s", vf->src->text, err->message);
		json_object_set_new(vf->facts, "lm", json_sprintf("%s: %s", v ? "unknown" : "no PF",
								  err->message));
		return;
	}
	line = nvfm_lm_caps_describe(caps);
	json_object_set_new(vf->facts, "lm", json_sprintf("PF %s: %s", caps->pf, line));
	vf->src_lm = nvfm_lm_caps_format(caps);
	if (vf->src_lm)
		json_object_set_new(vf->facts, "lm_format", nvfm_lm_format_to_json(vf->src_lm));
}

/* What the destination VF must have, by default as much as the source VF
 * (when it is a PF's VF), and where it may come from: the arguments the
 * agent's preflight and provision share. */
static json_t *dest_vf_args(NvfmMigration *m, NvfmMigrationVf *v)
{
	json_t *pfs = json_array();
	json_t *args;

	for (guint i = 0; m->opts->dest_pfs[i]; i++)
		json_array_append_new(pfs, json_string(m->opts->dest_pfs[i]));
	args = json_pack("{s:o}", "pf", pfs);
	if (v->nvq)
		json_object_set_new(args, "nvq", json_integer(v->nvq));
	if (v->nvi)
		json_object_set_new(args, "nvi", json_integer(v->nvi));
	if (v->numa_node >= 0)
		json_object_set_new(args, "numa_node", json_integer(v->numa_node));
	/* the agent refuses a PF that cannot take the source's format */
	if (v->src_lm)
		json_object_set_new(args, "lm_format", nvfm_lm_format_to_json(v->src_lm));
	return args;
}

/* The destination VF's resources: --nvq/--nvi, else the source VF's. */
static void resource_parity(NvfmMigration *m, NvfmMigrationVf *v)
{
	g_autoptr(NvfmVfInfo) info = nvfm_vf_lookup(v->src, NULL);
	const char *from = "the PF's default";

	v->nvq = m->opts->nvq;
	v->nvi = m->opts->nvi;
	v->numa_node = info ? info->numa_node : -1;
	if (v->nvq || v->nvi)
		from = "--nvq/--nvi";
	else if (info && info->online && (info->nvq || info->nvi)) {
		v->nvq = info->nvq;
		v->nvi = info->nvi;
		from = "the source VF";
	}
	json_object_set_new(v->facts, "resources",
			    json_pack("{s:i, s:i, s:s, s:i}", "nvq", (int)v->nvq, "nvi", (int)v->nvi,
				      "from", from, "numa_node", v->numa_node));
}

/* The object a VF's facts go into on @host: the host's own with one VF,
 * else a new one in its "vfs" that names the (source) VF. */
static json_t *vf_facts(NvfmMigration *m, NvfmMigrationVf *v, json_t *host)
{
	json_t *o;

	if (m->n_vfs == 1)
		return host;
	if (!json_object_get(host, "vfs"))
		json_object_set_new(host, "vfs", json_array());
	o = json_pack("{s:s}", "vf", v->src->text);
	json_array_append_new(json_object_get(host, "vfs"), o);
	return o;
}

/* "VF emu:pfa-vf0: " before a line about one of several VFs */
static const char *vf_prefix(NvfmMigration *m, NvfmMigrationVf *v, char *buf, gsize len)
{
	if (m->n_vfs == 1)
		return "";
	g_snprintf(buf, len, "VF %s: ", v->src->text);
	return buf;
}

/* The destination agent's part: reachable, and one of its PFs can give a
 * VF; its plan says which. */
static void agent_preflight(NvfmMigration *m, json_t *dst, gboolean has_compat)
{
	g_autoptr(GError) err = NULL;
	json_auto_t *args = NULL;
	json_auto_t *res = NULL;
	json_t *check;
	gsize i;

	m->agent = nvfm_migration_agent(m, &err);
	if (!m->agent) {
		blocker(dst, "agent %s: %s", m->opts->agent, err->message);
		return;
	}
	json_object_set(dst, "agent", nvfm_agent_client_get_hello(m->agent));
	for (guint n = 0; n < m->n_vfs; n++) {
		NvfmMigrationVf *v = &m->vfs[n];
		json_t *facts = vf_facts(m, v, dst);
		char pre[300];

		json_decref(args);
		json_decref(res);
		args = dest_vf_args(m, v);
		res = nvfm_agent_client_call(m->agent, "preflight", args, &err);
		if (!res) {
			blocker(dst, "%sagent preflight: %s", vf_prefix(m, v, pre, sizeof(pre)),
				err->message);
			return;
		}
		json_object_set(facts, "checks", json_object_get(res, "checks"));
		if (json_is_object(json_object_get(res, "plan")))
			json_object_set(facts, "plan", json_object_get(res, "plan"));
		json_array_foreach(json_object_get(res, "checks"), i, check) {
			if (!json_is_true(json_object_get(check, "ok")))
				blocker(dst, "%s%s: %s", vf_prefix(m, v, pre, sizeof(pre)),
					json_string_value(json_object_get(check, "check")),
					json_string_value(json_object_get(check, "detail")));
		}
	}
	if (!has_compat)
		return;
	json_object_set_new(dst, "compatibility",
			json_string("checked against the provisioned VF in the reserve phase"));
}

/* What only --insecure accepts: a warning then, else a blocker that says
 * so. */
static void insecure(NvfmMigration *m, json_t *host, const char *fmt, ...) G_GNUC_PRINTF(3, 4);

static void insecure(NvfmMigration *m, json_t *host, const char *fmt, ...)
{
	va_list ap;
	g_autofree char *line = NULL;

	va_start(ap, fmt);
	line = g_strdup_vprintf(fmt, ap);
	va_end(ap);
	if (m->opts->insecure)
		json_array_append_new(json_object_get(host, "warnings"), json_string(line));
	else
		blocker(host, "%s (only --insecure accepts that)", line);
}

/* Whether the VM's migration stream (its RAM, and the VF's state with the
 * qemu mover) would travel in clear: only a plain agent link leaves it so
 * (stream-tls.c; libvirt: VIR_MIGRATE_TLS in mover-libvirt.c); and
 * whether the destination QEMU's monitor would be open to anyone on the
 * network. */
static void stream_security(NvfmMigration *m, json_t *src, json_t *dst)
{
	const NvfmMigrateOptions *o = m->opts;

	if (!o->vm_qmp && !o->domain)
		return;
	json_object_set_new(src, "migration_stream", json_string(o->tls ? "tls" : "clear"));
	if (!o->tls)
		insecure(m, src, "%s migration stream (guest RAM%s) travels in clear: the agent "
			 "link is plain", o->domain ? "libvirt's" : "QEMU's",
			 o->mover == NVFM_MOVER_QEMU ? " and the VF's state" : "");
	if (o->dest_qmp && !o->dest_qmp_via_agent && nvfm_qmp_address_is_tcp(o->dest_qmp))
		insecure(m, dst, "the destination QEMU's QMP %s is unauthenticated TCP: whoever "
			 "reaches it controls that QEMU (use --dest-vm agent:PATH)", o->dest_qmp);
}

static json_t *host_report(void)
{
	return json_pack("{s:[], s:[]}", "blockers", "warnings");
}

/* NULL with @error when the source VF does not exist: an address that
 * names nothing is the caller's mistake (NVFM_ERROR_NOT_FOUND, exit 4),
 * not a blocker. */
static json_t *run_preflight(NvfmMigration *m, gboolean *ok, GError **error)
{
	json_auto_t *src = host_report();
	json_auto_t *dst = host_report();

	*ok = FALSE;
	if (m->opts->vm_qmp)
		nvfm_migration_vm_preflight(m, src, dst, NULL);
	for (guint i = 0; i < m->n_vfs; i++) {
		NvfmMigrationVf *v = &m->vfs[i];

		v->facts = vf_facts(m, v, src);
		if (!m->mover->preflight(m, v, src, json_object_get(src, "blockers"), error))
			return NULL;
		source_lm_format(v);
		resource_parity(m, v);
	}
	stream_security(m, src, dst);
	agent_preflight(m, dst, json_object_get(m->vfs[0].facts, "compat") != NULL);
	nvfm_migration_stream_tls_preflight(m, src, dst);
	*ok = json_array_size(json_object_get(src, "blockers")) == 0 &&
	      json_array_size(json_object_get(dst, "blockers")) == 0;
	return json_pack("{s:b, s:s, s:O, s:O}", "ok", *ok, "mover", m->mover->name, "source",
			 src, "destination", dst);
}

/* ---- reserve ---- */

/* Whether a compatibility block says VFIO_MIGRATION_P2P. */
static gboolean compat_p2p(json_t *compat)
{
	return (json_integer_value(json_object_get(compat, "migration_flags")) &
		NVFM_MIG_FLAG_P2P) != 0;
}

static gboolean reserve_vf(NvfmMigration *m, NvfmMigrationVf *v, GError **error)
{
	/* The reservation ends with our connection until we keep it at the
	 * commit point: if we die or lose the link, the agent releases it. */
	json_auto_t *args = dest_vf_args(m, v);
	json_auto_t *res = NULL;
	json_auto_t *pre = NULL;
	json_t *src_compat = json_object_get(v->facts, "compat");
	json_t *tc;

	json_object_set_new(args, "require_migration", json_true());
	json_object_set_new(args, "lease", json_string("session"));
	if (m->opts->dest_driver)
		json_object_set_new(args, "driver", json_string(m->opts->dest_driver));
	res = nvfm_agent_client_call(m->agent, "provision", args, error);
	if (!res)
		return FALSE;
	v->reservation = g_strdup(json_string_value(json_object_get(res, "reservation")));
	v->dest_vf = g_strdup(json_string_value(json_object_get(res, "device")));
	v->dest_vf_pci = g_strdup(json_string_value(json_object_get(res, "vf")));
	if (!v->reservation || !v->dest_vf) {
		g_set_error(error, NVFM_ERROR, NVFM_ERROR_PROTOCOL,
			    "the agent's provision reply lacks a reservation or a device");
		return FALSE;
	}
	/* Now that a VF exists, check it against the source. */
	json_decref(args);
	args = json_pack("{s:s}", "target", v->dest_vf);
	if (src_compat)
		json_object_set(args, "compat", src_compat);
	pre = nvfm_agent_client_call(m->agent, "preflight", args, error);
	if (!pre)
		return FALSE;
	if (!json_is_true(json_object_get(pre, "ok"))) {
		json_t *c;
		gsize i;

		json_array_foreach(json_object_get(pre, "checks"), i, c) {
			if (json_is_true(json_object_get(c, "ok")))
				continue;
			g_set_error(error, NVFM_ERROR, NVFM_ERROR_NOT_SUPPORTED,
				    "destination VF %s: %s", v->dest_vf,
				    json_string_value(json_object_get(c, "detail")));
			return FALSE;
		}
	}
	tc = json_object_get(pre, "target_compat");
	v->dest_compat = json_incref(tc);
	if (m->n_vfs > 1 && !compat_p2p(tc)) {
		g_set_error(error, NVFM_ERROR, NVFM_ERROR_NOT_SUPPORTED,
			    "destination VF %s does not support VFIO_MIGRATION_P2P, which "
			    "several VFIO devices of one VM need", v->dest_vf);
		return FALSE;
	}
	v->state_size = (guint64)json_integer_value(json_object_get(tc, "stop_copy_length"));
	return TRUE;
}

/* Every destination VF, all or nothing: a VF that cannot be had leaves
 * the ones reserved before it to the rollback, and nothing has moved. */
static gboolean reserve(NvfmMigration *m, GError **error)
{
	guint64 size = 0;

	for (guint i = 0; i < m->n_vfs; i++) {
		NvfmMigrationVf *v = &m->vfs[i];
		char pre[300];

		if (!reserve_vf(m, v, error)) {
			if (m->n_vfs > 1)
				g_prefix_error(error, "%s", vf_prefix(m, v, pre, sizeof(pre)));
			return FALSE;
		}
		size += v->state_size;
	}
	if (!m->state_size)
		m->state_size = size;
	return m->mover->reserve(m, error);
}

/* Just before the commit point: a destination VF now outlives our
 * connection to the agent. */
static gboolean keep_vf(NvfmMigration *m, NvfmMigrationVf *v, GError **error)
{
	json_auto_t *args = json_pack("{s:s}", "reservation", v->reservation);
	json_auto_t *res = nvfm_agent_client_call(m->agent, "keep", args, NULL);
	g_autoptr(NvfmAgentClient) c = NULL;

	if (res) {
		v->reservation_kept = TRUE;
		return TRUE;
	}
	/* An agent that let a whole timeout pass would most likely do it again:
	 * the failure is already one timeout long. */
	if (nvfm_agent_client_is_silent(m->agent)) {
		g_set_error(error, NVFM_ERROR, NVFM_ERROR_TIMEOUT,
			    "keeping reservation %s: the agent did not answer", v->reservation);
		return FALSE;
	}
	/* the transfer's connection may be spent: one more try on a new one */
	c = nvfm_migration_agent(m, error);
	res = c ? nvfm_agent_client_call(c, "keep", args, error) : NULL;
	if (!res)
		g_prefix_error(error, "keeping reservation %s: ", v->reservation);
	v->reservation_kept = res != NULL;
	return res != NULL;
}

static gboolean keep_reservations(NvfmMigration *m, GError **error)
{
	for (guint i = 0; i < m->n_vfs; i++)
		if (!m->vfs[i].reservation_kept && !keep_vf(m, &m->vfs[i], error))
			return FALSE;
	return TRUE;
}

/* ---- rollback and release ---- */

/* One destination VF, on @c (NULL: no connection, @err says why). */
static void release_vf(NvfmAgentClient *c, NvfmMigrationVf *v, GError *conn_err, GString *what)
{
	g_autoptr(GError) err = conn_err ? g_error_copy(conn_err) : NULL;
	json_auto_t *args = json_pack("{s:s}", "reservation", v->reservation);
	json_auto_t *res = NULL;

	/* the agent's own session may still be closing the VF after an
	 * abort: give it a moment (bounded) */
	for (int i = 0; c && i < RELEASE_TRIES; i++) {
		g_clear_error(&err);
		res = nvfm_agent_client_call(c, "release", args, &err);
		if (res || !g_error_matches(err, NVFM_ERROR, NVFM_ERROR_BUSY))
			break;
		g_usleep(100 * 1000);
	}
	if (res)
		g_string_append_printf(what, "; destination VF %s released", v->dest_vf);
	else if (g_error_matches(err, NVFM_ERROR, NVFM_ERROR_NOT_FOUND))
		g_string_append_printf(what, "; destination VF %s released by the agent as our "
				       "connection ended", v->dest_vf);
	else
		g_string_append_printf(what, "; destination VF %s NOT released (reservation %s): %s",
				       v->dest_vf, v->reservation, err->message);
}

static void release_reservations(NvfmMigration *m, GString *what)
{
	g_autoptr(GError) err = NULL;
	g_autoptr(NvfmAgentClient) c = NULL;
	gboolean any = FALSE, kept = FALSE;

	for (guint i = 0; i < m->n_vfs; i++) {
		any |= m->vfs[i].reservation != NULL;
		kept |= m->vfs[i].reservation_kept;
	}
	if (!any)
		return;
	/* The reservations still end with our connection: an agent that went
	 * silent on it would most likely not answer a new one within the
	 * timeout either, and it releases the VFs itself once it notices. */
	if (m->agent && nvfm_agent_client_is_silent(m->agent) && !kept) {
		g_clear_pointer(&m->agent, nvfm_agent_client_free);
		for (guint i = 0; i < m->n_vfs; i++)
			if (m->vfs[i].reservation)
				g_string_append_printf(what, "; destination VF %s NOT released "
						       "(reservation %s): the agent went silent; it "
						       "releases the VF when it notices that our "
						       "connection is gone", m->vfs[i].dest_vf,
						       m->vfs[i].reservation);
		return;
	}
	/* After a failed transfer the agent drains that connection for a
	 * while, holding the VF: end it (which also ends the lease). */
	g_clear_pointer(&m->agent, nvfm_agent_client_free);
	c = nvfm_migration_agent(m, &err);
	for (guint i = 0; i < m->n_vfs; i++)
		if (m->vfs[i].reservation)
			release_vf(c, &m->vfs[i], err, what);
}

static void rollback(NvfmMigration *m, GString *what)
{
	/* Stop QEMU's side first: if its switchover won the race, the VM is
	 * on the destination and nothing may be undone. */
	if (m->src_qmp && !nvfm_migration_vm_cancel(m, what))
		return;
	/* the VF runs again before the vCPUs that use it */
	m->mover->rollback(m, what);
	if (m->src_qmp)
		nvfm_migration_vm_restart_source(m, what);
	release_reservations(m, what);
	for (int i = 0; i < NVFM_MIGRATE_N_PHASES; i++) {
		if (m->rec[i].outcome && strcmp(m->rec[i].outcome, "ok") == 0)
			m->rec[i].outcome = "rolled-back";
	}
}

/* ---- report ---- */

static json_t *timeline(NvfmMigration *m)
{
	json_t *arr = json_array();

	for (int i = 0; i < NVFM_MIGRATE_N_PHASES; i++) {
		NvfmPhaseRecord *r = &m->rec[i];
		json_t *o;

		if (r->start_us < 0)
			continue;
		o = json_pack("{s:s, s:f, s:f, s:I, s:s}", "phase", nvfm_migrate_phase_name(i), "start_ms",
			      r->start_us / 1000.0, "ms",
			      r->end_us >= 0 ? (r->end_us - r->start_us) / 1000.0 : 0.0, "bytes",
			      (json_int_t)r->bytes, "outcome", r->outcome ? r->outcome : "failed");
		if (r->note)
			json_object_set_new(o, "note", json_string(r->note));
		json_array_append_new(arr, o);
	}
	return arr;
}

static json_t *window(gint64 start_us, gint64 end_us)
{
	return json_pack("{s:f, s:f}", "start_ms", start_us / 1000.0, "ms",
			 (end_us - start_us) / 1000.0);
}

/*
 * What the picture of the report draws besides the timeline (all times in
 * ms from the start, like the timeline's): the VM, the pause window (the
 * source VM stopped, until the switchover begins or the run failed), the
 * downtime (until the destination runs), the rollback's steps and when it
 * ran, and the bytes over time.
 */
static void picture_facts(NvfmMigration *m, json_t *r, const char *rb)
{
	const char *vm = m->vm_name ? m->vm_name : m->opts->domain;
	gint64 pause = m->pause_us > 0 ? m->pause_us - m->t0 : -1;
	gint64 pause_end = m->rec[NVFM_MIGRATE_SWITCHOVER].start_us;

	if (vm)
		json_object_set_new(r, "vm", json_string(vm));
	if (pause >= 0 && pause_end < pause && m->rollback_us > 0)
		pause_end = m->rollback_us - m->t0;
	if (pause >= 0 && pause_end >= pause)
		json_object_set_new(r, "pause_window", window(pause, pause_end));
	if (pause >= 0 && m->resume_us > m->pause_us)
		json_object_set_new(r, "downtime_window", window(pause, m->resume_us - m->t0));
	if (rb && m->rollback_us > 0) {
		g_auto(GStrv) steps = g_strsplit(rb, "; ", -1);
		json_t *a = json_array();

		for (char **s = steps; *s; s++)
			if (**s)
				json_array_append_new(a, json_string(*s));
		json_object_set_new(r, "rollback_steps", a);
		json_object_set_new(r, "rollback_window",
				    window(m->rollback_us - m->t0, m->rollback_end_us - m->t0));
	}
	json_object_set_new(r, "samples", nvfm_migration_samples_json(m));
	if (m->n_vfs == 1 && m->vfs[0].dest_report)
		json_object_set(r, "destination", m->vfs[0].dest_report);
}

/* Each VF: where it went, its bytes and times (ms), its digest. */
static json_t *vfs_report(NvfmMigration *m)
{
	json_t *arr = json_array();

	for (guint i = 0; i < m->n_vfs; i++) {
		NvfmMigrationVf *v = &m->vfs[i];
		json_t *o = json_pack("{s:s, s:s?, s:s?}", "source_vf", v->src->text,
				      "destination_vf", v->dest_vf, "reservation", v->reservation);

		/* null: QEMU counted several VFs' bytes together (state_bytes) */
		json_object_set_new(o, "state_bytes", v->counted ?
				    json_integer((json_int_t)v->state_bytes) : json_null());
		json_object_set_new(o, "precopy_bytes", v->counted ?
				    json_integer((json_int_t)v->precopy_bytes) : json_null());

		if (v->transfer_us > 0) {
			json_object_set_new(o, "stop_copy_ms", json_real(v->stop_copy_us / 1000.0));
			json_object_set_new(o, "transfer_ms", json_real(v->transfer_us / 1000.0));
		}
		if (v->source_digest)
			json_object_set_new(o, "source_state_sha256", json_string(v->source_digest));
		if (m->n_vfs > 1 && v->dest_report)
			json_object_set(o, "destination", v->dest_report);
		json_array_append_new(arr, o);
	}
	return arr;
}

static json_t *make_report(NvfmMigration *m, gboolean ok, const GError *err, const char *rb,
			   json_t *preflight, json_t *warnings)
{
	json_t *r = json_pack("{s:b, s:s, s:b, s:o, s:f}", "ok", ok, "mover", m->mover->name,
			      "committed", m->committed, "timeline", timeline(m), "total_ms",
			      (nvfm_now_us() - m->t0) / 1000.0);

	if (m->pause_us > 0 && m->resume_us > m->pause_us)
		json_object_set_new(r, "downtime_ms",
				    json_real((m->resume_us - m->pause_us) / 1000.0));
	if (m->transfer_us > 0)
		json_object_set_new(r, "state_transfer_ms", json_real(m->transfer_us / 1000.0));
	json_object_set_new(r, "state_bytes", json_integer((json_int_t)m->state_bytes));
	json_object_set_new(r, "vfs", vfs_report(m));
	/* one VF: its facts at the top as well */
	if (m->n_vfs == 1) {
		NvfmMigrationVf *v = &m->vfs[0];

		json_object_set_new(r, "source_vf", json_string(v->src->text));
		if (v->dest_vf)
			json_object_set_new(r, "destination_vf", json_string(v->dest_vf));
		if (v->reservation)
			json_object_set_new(r, "reservation", json_string(v->reservation));
		if (v->source_digest)
			json_object_set_new(r, "source_state_sha256",
					    json_string(v->source_digest));
	}
	if (preflight)
		json_object_set(r, "preflight", preflight);
	if (warnings && json_array_size(warnings))
		json_object_set(r, "warnings", warnings);
	if (!ok) {
		json_object_set_new(r, "failed_phase", json_string(nvfm_migrate_phase_name(m->phase)));
		json_object_set_new(r, "error", json_string(err ? err->message : "unknown"));
		if (rb)
			json_object_set_new(r, "rollback", json_string(rb));
		/* 0: the destination's guest never ran */
		if (m->dest_ran_us >= 0)
			json_object_set_new(r, "destination_ran_ms",
					    json_real(m->dest_ran_us / 1000.0));
	}
	picture_facts(m, r, rb);
	return r;
}

/* ---- the run ---- */

static void migration_init(NvfmMigration *m, const NvfmMigrateOptions *opts)
{
	memset(m, 0, sizeof(*m));
	m->opts = opts;
	m->dest_ran_us = -1;
	m->mover = opts->domain ? &nvfm_mover_libvirt :
		   opts->mover == NVFM_MOVER_QEMU ? &nvfm_mover_qemu : &nvfm_mover_direct;
	m->t0 = nvfm_now_us();
	m->state_size = opts->state_size;
	m->n_vfs = opts->n_vfs ? opts->n_vfs : 1;
	m->vfs = g_new0(NvfmMigrationVf, m->n_vfs);
	for (guint i = 0; i < m->n_vfs; i++) {
		m->vfs[i].index = i;
		m->vfs[i].src = opts->n_vfs ? opts->vfs[i] : opts->vf;
		m->vfs[i].numa_node = -1;
	}
	for (int i = 0; i < NVFM_MIGRATE_N_PHASES; i++)
		m->rec[i].start_us = m->rec[i].end_us = -1;
}

static void migration_clear(NvfmMigration *m)
{
	nvfm_migration_publish_end(m);
	nvfm_migration_stream_tls_clear(m);
	m->mover->clear(m);
	nvfm_agent_client_free(m->agent);
	nvfm_qmp_free(m->src_qmp);
	nvfm_qmp_free(m->dst_qmp);
	for (guint i = 0; i < m->n_vfs; i++) {
		NvfmMigrationVf *v = &m->vfs[i];

		g_free(v->reservation);
		g_free(v->dest_vf);
		g_free(v->dest_vf_pci);
		g_free(v->source_digest);
		json_decref(v->dest_report);
		json_decref(v->dest_compat);
		nvfm_lm_format_free(v->src_lm);
	}
	g_free(m->vfs);
	g_free(m->vm_name);
	if (m->series)
		g_ptr_array_unref(m->series);
	for (int i = 0; i < NVFM_MIGRATE_N_PHASES; i++)
		g_free(m->rec[i].note);
	g_clear_error(&m->cancel_error);
}

json_t *nvfm_migrate_check(const NvfmMigrateOptions *opts, GError **error)
{
	NvfmMigration m;
	json_t *rep;
	gboolean ok;

	if (!check_options(opts, error))
		return NULL;
	migration_init(&m, opts);
	m.phase = NVFM_MIGRATE_PREFLIGHT;
	rep = run_preflight(&m, &ok, error);
	migration_clear(&m);
	return rep;
}

/* Every blocker, joined, as the preflight phase's error. */
static void preflight_error(json_t *rep, GError **error)
{
	g_autoptr(GString) s = g_string_new(NULL);
	const char *hosts[] = { "source", "destination" };
	json_t *b;
	gsize i;

	for (guint h = 0; h < G_N_ELEMENTS(hosts); h++) {
		json_array_foreach(json_object_get(json_object_get(rep, hosts[h]), "blockers"), i, b)
			g_string_append_printf(s, "%s%s: %s", s->len ? "; " : "", hosts[h],
					       json_string_value(b));
	}
	g_set_error(error, NVFM_ERROR, NVFM_ERROR_NOT_SUPPORTED, "%s", s->str);
}

static void release_source(NvfmMigration *m, json_t *warnings)
{
	g_autoptr(GError) err = NULL;

	if (m->vm_completed)
		nvfm_migration_vm_sample_final(m);
	if (m->opts->keep_source) {
		m->rec[NVFM_MIGRATE_RELEASE].note = g_strdup("source kept (--keep-source)");
		nvfm_migration_end(m, NVFM_MIGRATE_RELEASE, 0);
		m->rec[NVFM_MIGRATE_RELEASE].outcome = "skipped";
		return;
	}
	if (m->src_qmp && !nvfm_migration_vm_quit_source(m, &err)) {
		json_array_append_new(warnings, json_sprintf("source QEMU did not quit: %s",
							     err->message));
		g_clear_error(&err);
	}
	if (!m->mover->release(m, &err)) {
		json_array_append_new(warnings, json_sprintf("source VF not released: %s",
							     err->message));
		nvfm_migration_end(m, NVFM_MIGRATE_RELEASE, 0);
		m->rec[NVFM_MIGRATE_RELEASE].outcome = "failed";
		return;
	}
	nvfm_migration_end(m, NVFM_MIGRATE_RELEASE, 0);
}

gboolean nvfm_migrate(const NvfmMigrateOptions *opts, json_t **report, GError **error)
{
	NvfmMigration m;
	json_auto_t *pre = NULL;
	json_auto_t *warnings = json_array();
	g_autoptr(GString) rb = NULL;
	GError *err = NULL;
	gboolean ok;

	if (!check_options(opts, error))
		return FALSE;
	migration_init(&m, opts);
	nvfm_migration_publish_start(&m);

	nvfm_migration_begin(&m, NVFM_MIGRATE_PREFLIGHT);
	pre = run_preflight(&m, &ok, &err);
	if (!pre)
		goto fail;
	json_array_extend(warnings, json_object_get(json_object_get(pre, "source"), "warnings"));
	json_array_extend(warnings, json_object_get(json_object_get(pre, "destination"), "warnings"));
	if (!ok) {
		preflight_error(pre, &err);
		goto fail;
	}
	nvfm_migration_end(&m, NVFM_MIGRATE_PREFLIGHT, 0);

	nvfm_migration_begin(&m, NVFM_MIGRATE_RESERVE);
	if (!nvfm_migration_check_cancel(&m, &err) ||
	    !reserve(&m, &err))
		goto fail;
	nvfm_migration_end(&m, NVFM_MIGRATE_RESERVE, 0);

	if (m.mover->commits_in_transfer && !keep_reservations(&m, &err))
		goto fail;
	/* precopy, pause, stop-copy and restore belong to the mover */
	if (!nvfm_migration_check_cancel(&m, &err) || !m.mover->transfer(&m, &err))
		goto fail;

	nvfm_migration_begin(&m, NVFM_MIGRATE_SWITCHOVER);
	if (!m.mover->commits_in_transfer && !keep_reservations(&m, &err))
		goto fail;
	if (m.src_qmp) {
		if (!nvfm_migration_check_cancel(&m, &err))
			goto fail;
		if (!nvfm_migration_vm_switchover(&m, &err)) {
			if (m.mover->switchover_failed)
				m.mover->switchover_failed(&m, &err);
			goto fail;
		}
	}
	/* a held destination commits at our "cont", a confirming mover at
	 * its confirmation */
	m.committed = !m.mover->confirm && !m.dest_held;
	m.mover->switched(&m);
	nvfm_migration_end(&m, NVFM_MIGRATE_SWITCHOVER, 0);

	/* Past the commit point nothing rolls back: a failure to resume is
	 * reported, and the destination is where the VM lives. A mover that
	 * confirms moves the commit point here. */
	nvfm_migration_begin(&m, NVFM_MIGRATE_RESUME);
	if (m.src_qmp && !nvfm_migration_vm_resume(&m, &err))
		goto fail;
	if (m.mover->confirm && !m.mover->confirm(&m, &err))
		goto fail;
	m.committed = TRUE;
	if (!m.resume_us)
		m.resume_us = nvfm_now_us();
	nvfm_migration_end(&m, NVFM_MIGRATE_RESUME, 0);

	nvfm_migration_begin(&m, NVFM_MIGRATE_RELEASE);
	release_source(&m, warnings);
	if (report)
		*report = make_report(&m, TRUE, NULL, NULL, pre, warnings);
	migration_clear(&m);
	return TRUE;

fail:
	if (m.rec[m.phase].start_us < 0)
		m.rec[m.phase].start_us = nvfm_now_us() - m.t0;
	m.rec[m.phase].end_us = nvfm_now_us() - m.t0;
	m.rec[m.phase].outcome = "failed";
	if (!m.committed) {
		rb = g_string_new(NULL);
		m.rollback_us = nvfm_now_us();
		rollback(&m, rb);
		m.rollback_end_us = nvfm_now_us();
		/* "; a; b" -> "a; b" */
		if (rb->len > 2 && rb->str[0] == ';')
			g_string_erase(rb, 0, 2);
	}
	/* the transfer names its phase already where it is ours too */
	if (!g_str_has_prefix(err->message, nvfm_migrate_phase_name(m.phase)) ||
	    strncmp(err->message + strlen(nvfm_migrate_phase_name(m.phase)), ": ", 2))
		g_prefix_error(&err, "%s: ", nvfm_migrate_phase_name(m.phase));
	if (report)
		/* no rollback line when there was nothing to roll back */
		*report = make_report(&m, FALSE, err, rb && rb->len ? rb->str : NULL, pre,
				      warnings);
	migration_clear(&m);
	g_propagate_error(error, err);
	return FALSE;
}
