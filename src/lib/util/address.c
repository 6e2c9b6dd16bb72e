// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * Device and PF addresses: the one parser. Everything a user, a peer or
 * libvirt names as text becomes an NvfmAddress here, at the edge.
 */
#define G_LOG_DOMAIN "nvfm-address"

#include <string.h>

#include "nvfm/address.h"
#include "nvfm/error.h"
#include "util-private.h"

#define EMU_NAME_MAX 64

static gboolean parse_hex(const char *s, guint ndigits, guint *out)
{
	guint v = 0;

	for (guint i = 0; i < ndigits; i++) {
		int d = g_ascii_xdigit_value(s[i]);

		if (d < 0)
			return FALSE;
		v = v * 16 + (guint)d;
	}
	*out = v;
	return TRUE;
}

gboolean nvfm_pci_addr_parse(const char *s, char out[NVFM_PCI_ADDR_LEN], GError **error)
{
	gsize len = s ? strlen(s) : 0;
	const char *p = s;
	guint domain = 0, bus, slot, fn;

	if (len == 12) {
		if (!parse_hex(p, 4, &domain) || p[4] != ':')
			goto bad;
		p += 5;
	} else if (len != 7) {
		goto bad;
	}
	if (!parse_hex(p, 2, &bus) || p[2] != ':' || !parse_hex(p + 3, 2, &slot) ||
	    p[5] != '.' || p[6] < '0' || p[6] > '7')
		goto bad;
	fn = (guint)(p[6] - '0');
	if (slot > 0x1f)
		goto bad;
	g_snprintf(out, NVFM_PCI_ADDR_LEN, "%04x:%02x:%02x.%x", domain, bus, slot, fn);
	return TRUE;
bad:
	if (error) {
		g_autofree char *t = nvfm_quote_line(s);

		g_set_error(error, NVFM_ERROR, NVFM_ERROR_INVALID_ARG,
			    "invalid PCI address '%s' (expected DDDD:BB:DD.F or BB:DD.F, e.g. 0000:3b:00.2)",
			    t);
	}
	return FALSE;
}

static gboolean parse_uuid(const char *s, char out[NVFM_UUID_LEN])
{
	if (!s || strlen(s) != NVFM_UUID_LEN - 1)
		return FALSE;
	for (int i = 0; i < NVFM_UUID_LEN - 1; i++) {
		gboolean dash = i == 8 || i == 13 || i == 18 || i == 23;

		if (dash ? s[i] != '-' : !g_ascii_isxdigit(s[i]))
			return FALSE;
		out[i] = g_ascii_tolower(s[i]);
	}
	out[NVFM_UUID_LEN - 1] = '\0';
	return TRUE;
}

static gboolean emu_name_ok(const char *name)
{
	gsize n = name ? strlen(name) : 0;

	if (n == 0 || n > EMU_NAME_MAX || !strcmp(name, ".") || !strcmp(name, ".."))
		return FALSE;
	for (gsize i = 0; i < n; i++) {
		if (!g_ascii_isalnum(name[i]) && !strchr("_.-", name[i]))
			return FALSE;
	}
	return TRUE;
}

/* A sysfs device path names its device by its last component: a PCI
 * address under the PCI bus, a UUID under the mdev bus (a path from
 * /sys/devices/... ends the same way). */
static gboolean parse_sysfs(const char *path, NvfmAddress *a)
{
	g_autofree char *base = NULL;

	if (!g_str_has_prefix(path, "/sys/") || strstr(path, "/../") ||
	    g_str_has_suffix(path, "/.."))
		return FALSE;
	base = g_path_get_basename(path);
	if (nvfm_pci_addr_parse(base, a->pci, NULL) && strlen(base) == 12) {
		a->kind = NVFM_ADDR_PCI;
		return TRUE;
	}
	if (parse_uuid(base, a->uuid)) {
		a->kind = NVFM_ADDR_MDEV;
		return TRUE;
	}
	return FALSE;
}

static gboolean parse_fd(const char *s, int *out)
{
	guint64 n;

	if (!s || !*s)
		return FALSE;
	for (const char *p = s; *p; p++) {
		if (!g_ascii_isdigit(*p))
			return FALSE;
	}
	if (!g_ascii_string_to_unsigned(s, 10, 0, G_MAXINT, &n, NULL))
		return FALSE;
	*out = (int)n;
	return TRUE;
}

static void set_text(NvfmAddress *a)
{
	switch (a->kind) {
	case NVFM_ADDR_PCI:
		a->text = g_strconcat("vfio:", a->pci, NULL);
		break;
	case NVFM_ADDR_MDEV:
		a->text = g_strconcat("vfio:", a->uuid, NULL);
		break;
	case NVFM_ADDR_FD:
		a->text = g_strdup_printf("fd:%d", a->fd);
		break;
	case NVFM_ADDR_EMU:
		a->text = g_strconcat("emu:", a->emu, NULL);
		break;
	}
}

NvfmAddress *nvfm_address_parse(const char *text, GError **error)
{
	g_autoptr(NvfmAddress) a = g_new0(NvfmAddress, 1);
	const char *rest;
	gboolean ok = FALSE;

	a->fd = -1;
	if (!text || !*text) {
		g_set_error(error, NVFM_ERROR, NVFM_ERROR_INVALID_ARG, "empty device address");
		return NULL;
	}
	if (g_str_has_prefix(text, "vfio:")) {
		rest = text + 5;
		if (*rest == '/') {
			ok = parse_sysfs(rest, a);
		} else if (parse_uuid(rest, a->uuid)) {
			a->kind = NVFM_ADDR_MDEV;
			ok = TRUE;
		} else {
			a->kind = NVFM_ADDR_PCI;
			ok = nvfm_pci_addr_parse(rest, a->pci, NULL);
		}
	} else if (g_str_has_prefix(text, "pci:")) {
		a->kind = NVFM_ADDR_PCI;
		ok = nvfm_pci_addr_parse(text + 4, a->pci, NULL);
	} else if (g_str_has_prefix(text, "fd:")) {
		a->kind = NVFM_ADDR_FD;
		ok = parse_fd(text + 3, &a->fd);
	} else if (g_str_has_prefix(text, "emu:")) {
		a->kind = NVFM_ADDR_EMU;
		ok = emu_name_ok(text + 4);
		if (ok)
			a->emu = g_strdup(text + 4);
	} else {
		a->kind = NVFM_ADDR_PCI;
		ok = nvfm_pci_addr_parse(text, a->pci, NULL);
	}
	if (!ok) {
		g_autofree char *t = nvfm_quote_line(text);

		g_set_error(error, NVFM_ERROR, NVFM_ERROR_INVALID_ARG,
			    "invalid device address '%s' (expected vfio:DDDD:BB:DD.F, vfio:UUID, vfio:/sys/..., fd:N or emu:NAME)",
			    t);
		return NULL;
	}
	set_text(a);
	return g_steal_pointer(&a);
}

NvfmAddress *nvfm_address_parse_pf(const char *text, GError **error)
{
	NvfmAddress *a = nvfm_address_parse(text, NULL);
	g_autofree char *t = NULL;

	if (a && (a->kind == NVFM_ADDR_PCI || a->kind == NVFM_ADDR_EMU))
		return a;
	nvfm_address_free(a);
	t = nvfm_quote_line(text);
	g_set_error(error, NVFM_ERROR, NVFM_ERROR_INVALID_ARG,
		    "invalid PF address '%s' (expected DDDD:BB:DD.F, BB:DD.F or emu:NAME)", t);
	return NULL;
}

NvfmAddress *nvfm_address_new_pci(const char *pci, GError **error)
{
	g_autoptr(NvfmAddress) a = g_new0(NvfmAddress, 1);

	a->kind = NVFM_ADDR_PCI;
	a->fd = -1;
	if (!nvfm_pci_addr_parse(pci, a->pci, error))
		return NULL;
	set_text(a);
	return g_steal_pointer(&a);
}

NvfmAddress *nvfm_address_new_emu(const char *name, GError **error)
{
	g_autoptr(NvfmAddress) a = g_new0(NvfmAddress, 1);

	a->kind = NVFM_ADDR_EMU;
	a->fd = -1;
	if (!emu_name_ok(name)) {
		g_autofree char *t = nvfm_quote_line(name);

		g_set_error(error, NVFM_ERROR, NVFM_ERROR_INVALID_ARG,
			    "invalid emulated device name '%s' (expected 1 to %d of A-Z a-z 0-9 _ . -)",
			    t, EMU_NAME_MAX);
		return NULL;
	}
	a->emu = g_strdup(name);
	set_text(a);
	return g_steal_pointer(&a);
}

NvfmAddress *nvfm_address_copy(const NvfmAddress *addr)
{
	NvfmAddress *a;

	if (!addr)
		return NULL;
	a = g_memdup2(addr, sizeof(*addr));
	a->emu = g_strdup(addr->emu);
	a->text = g_strdup(addr->text);
	return a;
}

void nvfm_address_free(NvfmAddress *addr)
{
	if (!addr)
		return;
	g_free(addr->emu);
	g_free(addr->text);
	g_free(addr);
}

gboolean nvfm_address_equal(const NvfmAddress *a, const NvfmAddress *b)
{
	return a && b && g_strcmp0(a->text, b->text) == 0;
}
