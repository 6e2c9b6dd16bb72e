/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The VFIO migration engine: opens a device through its backend, discovers
 * its migration features, changes its state one planned arc at a time with
 * recovery, and moves bytes through its data_fd.
 */
#define G_LOG_DOMAIN "nvfm-device"

#include <fcntl.h>
#include <poll.h>
#include <string.h>

#include "engine-private.h"

/* Saving and resuming states are the ones in which a data_fd is valid. */
static gboolean state_has_data_fd(NvfmMigState s)
{
	return s == NVFM_MIG_STATE_STOP_COPY || s == NVFM_MIG_STATE_RESUMING ||
	       s == NVFM_MIG_STATE_PRE_COPY || s == NVFM_MIG_STATE_PRE_COPY_P2P;
}

NvfmDevice *nvfm_device_new(const NvfmAddress *address)
{
	NvfmDevice *dev = g_new0(NvfmDevice, 1);

	dev->data_fd = -1;
	dev->address = g_strdup(address->text);
	return dev;
}

void nvfm_device_discard(NvfmDevice *dev)
{
	if (!dev)
		return;
	g_free(dev->address);
	g_free(dev);
}

void nvfm_device_close(NvfmDevice *dev)
{
	if (!dev)
		return;
	nvfm_close_fd(&dev->data_fd);
	if (dev->ops && dev->ops->close)
		dev->ops->close(dev);
	g_free(dev->address);
	g_free(dev);
}

const char *nvfm_device_address(NvfmDevice *dev)
{
	return dev->address;
}

const char *nvfm_device_backend_name(NvfmDevice *dev)
{
	return dev->ops->name;
}

static gboolean load_flags(NvfmDevice *dev, GError **error)
{
	guint32 flags = 0;
	int r;

	if (dev->flags_known)
		return TRUE;
	r = dev->ops->get_flags(dev, &flags);
	if (r == -ENOTTY || r == -EOPNOTSUPP) {
		g_set_error(error, NVFM_ERROR, NVFM_ERROR_NOT_SUPPORTED,
			    "%s: device has no migration support (its driver does not "
			    "implement VFIO_DEVICE_FEATURE_MIGRATION)", dev->address);
		return FALSE;
	}
	if (r < 0) {
		nvfm_set_error_errno(error, r, "%s: reading the migration features", dev->address);
		return FALSE;
	}
	if (!(flags & NVFM_MIG_FLAG_STOP_COPY)) {
		g_set_error(error, NVFM_ERROR, NVFM_ERROR_NOT_SUPPORTED,
			    "%s: device reports migration flags 0x%x without STOP_COPY",
			    dev->address, flags);
		return FALSE;
	}
	dev->flags = flags;
	dev->flags_known = TRUE;
	return TRUE;
}

gboolean nvfm_device_get_features(NvfmDevice *dev, NvfmMigFeatures *out, GError **error)
{
	NvfmMigFeatures f = { 0 };
	int r;

	if (!load_flags(dev, error))
		return FALSE;
	f.flags = dev->flags;
	r = dev->ops->get_data_size ? dev->ops->get_data_size(dev, &f.stop_copy_length) : -ENOTTY;
	if (r == 0) {
		f.has_data_size = TRUE;
	} else if (r != -ENOTTY && r != -EOPNOTSUPP && r != -EINVAL) {
		nvfm_set_error_errno(error, r, "%s: reading MIG_DATA_SIZE", dev->address);
		return FALSE;
	}
	f.dma_logging = dev->ops->probe_dma_logging && dev->ops->probe_dma_logging(dev) == 0;
	*out = f;
	return TRUE;
}

gboolean nvfm_device_get_state(NvfmDevice *dev, NvfmMigState *out, GError **error)
{
	int r;

	if (!load_flags(dev, error))
		return FALSE;
	r = dev->ops->get_state(dev, out);
	if (r < 0) {
		nvfm_set_error_errno(error, r, "%s: reading the migration state", dev->address);
		return FALSE;
	}
	return TRUE;
}

/* Take one arc and keep the data_fd bookkeeping true to the uAPI: a new fd
 * replaces the old one, and leaving the saving/resuming group drops it. */
static int take_arc(NvfmDevice *dev, NvfmMigState next)
{
	int fd = -1;
	int r = dev->ops->set_state(dev, next, &fd);

	if (r < 0) {
		if (fd >= 0)
			close(fd);
		return r;
	}
	if (fd >= 0) {
		int fl = fcntl(fd, F_GETFL);

		/* Non-blocking so every wait goes through poll() with a timeout. */
		if (fl >= 0)
			fcntl(fd, F_SETFL, fl | O_NONBLOCK);
		fcntl(fd, F_SETFD, FD_CLOEXEC);
		nvfm_close_fd(&dev->data_fd);
		dev->data_fd = fd;
	} else if (!state_has_data_fd(next)) {
		nvfm_close_fd(&dev->data_fd);
	}
	return 0;
}

int nvfm_device_set_state_raw(NvfmDevice *dev, NvfmMigState state)
{
	return take_arc(dev, state);
}

gboolean nvfm_device_reset(NvfmDevice *dev, GError **error)
{
	int r;

	nvfm_close_fd(&dev->data_fd);
	r = dev->ops->reset(dev);
	if (r < 0) {
		nvfm_set_error_errno(error, r, "%s: VFIO_DEVICE_RESET", dev->address);
		return FALSE;
	}
	g_debug("%s: reset", dev->address);
	return TRUE;
}

/* After a failed arc: the device may sit anywhere, ERROR included. Go back
 * to @prefer if the planner and the device allow, else reset. */
NvfmMigState nvfm_device_recover(NvfmDevice *dev, NvfmMigState prefer)
{
	NvfmMigState cur = NVFM_MIG_STATE_ERROR;
	NvfmMigState path[NVFM_MIG_PATH_MAX];
	guint n = 0;

	/* RESUMING is left by a commit that worked or by a reset, never by a
	 * second commit of a session that just failed. */
	if (dev->ops->get_state(dev, &cur) == 0 && cur != NVFM_MIG_STATE_ERROR &&
	    cur != NVFM_MIG_STATE_RESUMING &&
	    nvfm_mig_plan(dev->flags, cur, prefer, path, &n, NULL)) {
		guint i;

		for (i = 0; i < n; i++) {
			if (take_arc(dev, path[i]) < 0)
				break;
		}
		if (i == n) {
			g_debug("%s: recovered to %s", dev->address, nvfm_mig_state_name(prefer));
			return prefer;
		}
	}
	g_debug("%s: state %s, recovering through reset", dev->address,
		nvfm_mig_state_name(cur));
	nvfm_close_fd(&dev->data_fd);
	if (dev->ops->reset(dev) == 0)
		return NVFM_MIG_STATE_RUNNING;
	/* Nothing more userspace can do; report what the device says. */
	if (dev->ops->get_state(dev, &cur) < 0)
		cur = NVFM_MIG_STATE_ERROR;
	return cur;
}

/* A reset is the uAPI's last word; one that fails leaves the device where
 * no arc of ours can take it, a failed state change for the caller. */
static gboolean reset_or_fail(NvfmDevice *dev, NvfmMigState found, GError **error)
{
	g_autoptr(GError) e = NULL;

	if (nvfm_device_reset(dev, &e))
		return TRUE;
	g_set_error(error, NVFM_ERROR, NVFM_ERROR_STATE,
		    "%s: found in %s, and the reset that should bring it back failed: %s",
		    dev->address, nvfm_mig_state_name(found), e->message);
	return FALSE;
}

/*
 * Bring a device found in @found, with no session of ours, to a state
 * with no session: the uAPI aborts RESUMING by reset only (RESUMING ->
 * STOP would commit a half-written state), leaves the saving group
 * towards STOP or RUNNING by its own arcs, and leaves ERROR by reset.
 */
static gboolean settle_from(NvfmDevice *dev, NvfmMigState found, GError **error)
{
	NvfmMigState path[NVFM_MIG_PATH_MAX];
	NvfmMigState to;
	guint n = 0, i;

	switch (found) {
	case NVFM_MIG_STATE_RUNNING:
	case NVFM_MIG_STATE_STOP:
	case NVFM_MIG_STATE_RUNNING_P2P:
		if (nvfm_mig_state_supported(dev->flags, found))
			return TRUE;
		break;
	case NVFM_MIG_STATE_STOP_COPY:
		to = NVFM_MIG_STATE_STOP;
		goto leave;
	case NVFM_MIG_STATE_PRE_COPY:
	case NVFM_MIG_STATE_PRE_COPY_P2P:
		to = NVFM_MIG_STATE_RUNNING;
		goto leave;
	default:
		/* RESUMING, ERROR, or a state the device's flags do not have */
		break;
	}
	g_debug("%s: found in %s with no session of ours: reset", dev->address,
		nvfm_mig_state_name(found));
	return reset_or_fail(dev, found, error);

leave:
	if (nvfm_mig_plan(dev->flags, found, to, path, &n, NULL)) {
		for (i = 0; i < n && take_arc(dev, path[i]) == 0; i++)
			;
		if (i == n) {
			g_debug("%s: found in %s with no session of ours: now %s", dev->address,
				nvfm_mig_state_name(found), nvfm_mig_state_name(to));
			return TRUE;
		}
	}
	g_debug("%s: leaving %s failed: reset", dev->address, nvfm_mig_state_name(found));
	return reset_or_fail(dev, found, error);
}

gboolean nvfm_device_settle(NvfmDevice *dev, NvfmMigState *found, GError **error)
{
	NvfmMigState st;

	if (!nvfm_device_get_state(dev, &st, error))
		return FALSE;
	if (found)
		*found = st;
	/* a session this process holds is its own business */
	if (dev->data_fd >= 0 && state_has_data_fd(st))
		return TRUE;
	return settle_from(dev, st, error);
}

gboolean nvfm_device_set_state(NvfmDevice *dev, NvfmMigState target, GError **error)
{
	NvfmMigState path[NVFM_MIG_PATH_MAX];
	NvfmMigState start, cur;
	guint n;

	if (!nvfm_device_get_state(dev, &start, error))
		return FALSE;
	/* Never plan from a session that is not ours, nor from ERROR: the
	 * state another process (or a failed arc) left decides nothing. */
	if (start == NVFM_MIG_STATE_ERROR || !nvfm_mig_state_supported(dev->flags, start) ||
	    (state_has_data_fd(start) && dev->data_fd < 0)) {
		if (!settle_from(dev, start, error) || !nvfm_device_get_state(dev, &start, error))
			return FALSE;
	}
	if (!nvfm_mig_plan(dev->flags, start, target, path, &n, error))
		return FALSE;
	cur = start;
	for (guint i = 0; i < n; i++) {
		int r = take_arc(dev, path[i]);

		if (r < 0) {
			NvfmMigState now;
			/* Where to go back to: the state before the call, unless
			 * it needs a data_fd the failure has made meaningless. */
			NvfmMigState back = state_has_data_fd(start) ? NVFM_MIG_STATE_RUNNING : start;

			now = nvfm_device_recover(dev, back);
			nvfm_set_error_errno(error, r, "%s: migration state %s -> %s failed "
					     "(device now %s)", dev->address,
					     nvfm_mig_state_name(cur), nvfm_mig_state_name(path[i]),
					     nvfm_mig_state_name(now));
			/* a failed arc is a failed state change whatever the
			 * errno: callers (and the CLI's exit code) tell it
			 * apart from a failed read or write of the data */
			if (error && *error)
				(*error)->code = NVFM_ERROR_STATE;
			return FALSE;
		}
		g_debug("%s: %s -> %s", dev->address, nvfm_mig_state_name(cur),
			nvfm_mig_state_name(path[i]));
		cur = path[i];
	}
	return TRUE;
}

int nvfm_device_data_fd(NvfmDevice *dev)
{
	return dev->data_fd;
}

gboolean nvfm_device_precopy_info(NvfmDevice *dev, guint64 *initial_bytes,
				  guint64 *dirty_bytes, GError **error)
{
	int r;

	if (dev->data_fd < 0 || !dev->ops->precopy_info) {
		g_set_error(error, NVFM_ERROR, NVFM_ERROR_STATE,
			    "%s: PRECOPY_INFO needs the device in PRE_COPY", dev->address);
		return FALSE;
	}
	r = dev->ops->precopy_info(dev, dev->data_fd, initial_bytes, dirty_bytes);
	if (r < 0) {
		nvfm_set_error_errno(error, r, "%s: VFIO_MIG_GET_PRECOPY_INFO", dev->address);
		return FALSE;
	}
	return TRUE;
}

static gssize data_read(NvfmDevice *dev, void *buf, gsize len)
{
	gssize n;

	if (dev->ops->data_read)
		return dev->ops->data_read(dev, dev->data_fd, buf, len);
	n = read(dev->data_fd, buf, len);
	return n < 0 ? -errno : n;
}

static gssize data_write(NvfmDevice *dev, const void *buf, gsize len)
{
	gssize n;

	if (dev->ops->data_write)
		return dev->ops->data_write(dev, dev->data_fd, buf, len);
	n = write(dev->data_fd, buf, len);
	return n < 0 ? -errno : n;
}

static gboolean wait_data_fd(NvfmDevice *dev, short events, int timeout_ms, GError **error)
{
	int r = nvfm_poll_fd(dev->data_fd, events, timeout_ms);

	if (r > 0)
		return TRUE;
	if (r == 0) {
		g_set_error(error, NVFM_ERROR, NVFM_ERROR_TIMEOUT,
			    "%s: device data_fd made no progress for %d ms", dev->address,
			    timeout_ms);
		return FALSE;
	}
	nvfm_set_error_errno(error, r, "%s: poll on data_fd", dev->address);
	return FALSE;
}

gssize nvfm_device_read(NvfmDevice *dev, void *buf, gsize len, int timeout_ms,
			NvfmReadStatus *status, GError **error)
{
	NvfmMigState st = NVFM_MIG_STATE_ERROR;

	if (dev->data_fd < 0) {
		g_set_error(error, NVFM_ERROR, NVFM_ERROR_STATE,
			    "%s: no data_fd: the device is not in a saving state", dev->address);
		return -1;
	}
	for (;;) {
		gssize n = data_read(dev, buf, len);

		if (n > 0) {
			*status = NVFM_READ_DATA;
			return n;
		}
		if (n == 0 || n == -ENOMSG) {
			/* 0 ends the stream in STOP_COPY; in PRE_COPY both 0
			 * and ENOMSG only mean "nothing more for now". */
			if (dev->ops->get_state(dev, &st) < 0)
				st = NVFM_MIG_STATE_STOP_COPY;
			if (st == NVFM_MIG_STATE_PRE_COPY || st == NVFM_MIG_STATE_PRE_COPY_P2P) {
				*status = NVFM_READ_NO_MORE_FOR_NOW;
				return 0;
			}
			if (n == 0) {
				*status = NVFM_READ_END;
				return 0;
			}
			g_set_error(error, NVFM_ERROR, NVFM_ERROR_DEVICE,
				    "%s: data_fd returned ENOMSG in state %s", dev->address,
				    nvfm_mig_state_name(st));
			return -1;
		}
		if (n == -EINTR)
			continue;
		if (n == -EAGAIN) {
			if (!wait_data_fd(dev, POLLIN, timeout_ms, error))
				return -1;
			continue;
		}
		if (n == -ENODEV) {
			g_set_error(error, NVFM_ERROR, NVFM_ERROR_DEVICE,
				    "%s: the data_fd was disabled by the driver (ENODEV)",
				    dev->address);
			return -1;
		}
		nvfm_set_error_errno(error, (int)n, "%s: reading device state", dev->address);
		return -1;
	}
}

gboolean nvfm_device_write_all(NvfmDevice *dev, const void *buf, gsize len, int timeout_ms,
			       GError **error)
{
	const guint8 *p = buf;

	if (dev->data_fd < 0) {
		g_set_error(error, NVFM_ERROR, NVFM_ERROR_STATE,
			    "%s: no data_fd: the device is not RESUMING", dev->address);
		return FALSE;
	}
	while (len > 0) {
		gssize n = data_write(dev, p, len);

		if (n > 0) {
			p += n;
			len -= (gsize)n;
			continue;
		}
		if (n == -EINTR)
			continue;
		if (n == -EAGAIN || n == 0) {
			if (!wait_data_fd(dev, POLLOUT, timeout_ms, error))
				return FALSE;
			continue;
		}
		if (n == -ENODEV) {
			g_set_error(error, NVFM_ERROR, NVFM_ERROR_DEVICE,
				    "%s: the data_fd was disabled by the driver (ENODEV)",
				    dev->address);
			return FALSE;
		}
		nvfm_set_error_errno(error, (int)n, "%s: writing device state", dev->address);
		if (error && *error)
			(*error)->code = NVFM_ERROR_DEVICE;
		return FALSE;
	}
	return TRUE;
}
