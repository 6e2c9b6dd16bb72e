/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

/* "dddd:bb:dd.f" and its NUL */
#define NVFM_PCI_ADDR_LEN 13
/* "xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx" and its NUL */
#define NVFM_UUID_LEN 37

/**
 * NvfmAddressKind - what a device or PF address names
 * @NVFM_ADDR_PCI: a PCI function (`vfio:DDDD:BB:DD.F`, `pci:…`, a bare
 *	address, or `vfio:/sys/bus/pci/devices/ADDR`)
 * @NVFM_ADDR_MDEV: a mediated device (`vfio:UUID` or
 *	`vfio:/sys/bus/mdev/devices/UUID`)
 * @NVFM_ADDR_FD: a VFIO device fd handed in (`fd:N`)
 * @NVFM_ADDR_EMU: the built-in emulated device or PF (`emu:NAME`)
 */
typedef enum {
	NVFM_ADDR_PCI,
	NVFM_ADDR_MDEV,
	NVFM_ADDR_FD,
	NVFM_ADDR_EMU,
} NvfmAddressKind;

/**
 * NvfmAddress - a device or PF address, parsed once at the edge
 * @kind: which of the fields below is set
 * @pci: the PCI address, normalised to "dddd:bb:dd.f" (%NVFM_ADDR_PCI)
 * @uuid: the mdev UUID in lower case (%NVFM_ADDR_MDEV)
 * @fd: the file descriptor number (%NVFM_ADDR_FD)
 * @emu: the emulated device's name (%NVFM_ADDR_EMU)
 * @text: the canonical text ("vfio:0000:3b:00.2", "fd:5", "emu:a")
 *
 * The CLI, an agent request and the libvirt hook turn text into an
 * NvfmAddress with nvfm_address_parse(); everything below takes the value
 * and never looks at prefixes again.
 */
typedef struct {
	NvfmAddressKind kind;
	char pci[NVFM_PCI_ADDR_LEN];
	char uuid[NVFM_UUID_LEN];
	int fd;
	char *emu;
	char *text;
} NvfmAddress;

/**
 * nvfm_address_parse() - parse a device or PF address
 * @text: `vfio:DDDD:BB:DD.F`, `vfio:BB:DD.F`, `vfio:UUID`, `vfio:/sys/…`,
 *	`pci:ADDR`, a bare PCI address, `fd:N` or `emu:NAME`
 * @error: return location for an error
 *
 * Return: a new address (free with nvfm_address_free()), or %NULL with
 * %NVFM_ERROR_INVALID_ARG naming the accepted forms.
 */
NvfmAddress *nvfm_address_parse(const char *text, GError **error);

/**
 * nvfm_address_parse_pf() - parse a PF address
 * @text: a PCI address (bare, `pci:` or `vfio:`) or `emu:NAME`
 * @error: return location for an error
 *
 * Return: a new address, or %NULL with %NVFM_ERROR_INVALID_ARG.
 */
NvfmAddress *nvfm_address_parse_pf(const char *text, GError **error);

/**
 * nvfm_address_new_pci() - the address of a PCI function
 * @pci: a PCI address in any accepted spelling
 * @error: return location for an error
 *
 * Return: a new address, or %NULL with %NVFM_ERROR_INVALID_ARG.
 */
NvfmAddress *nvfm_address_new_pci(const char *pci, GError **error);

/**
 * nvfm_address_new_emu() - the address of an emulated device or PF
 * @name: its name (1 to 64 of A-Z a-z 0-9 _ . -)
 * @error: return location for an error
 *
 * Return: a new address, or %NULL with %NVFM_ERROR_INVALID_ARG.
 */
NvfmAddress *nvfm_address_new_emu(const char *name, GError **error);

/**
 * nvfm_address_copy() - a copy of @addr
 * @addr: an address
 *
 * Return: a new address.
 */
NvfmAddress *nvfm_address_copy(const NvfmAddress *addr);

/**
 * nvfm_address_free() - free an address; %NULL is fine
 * @addr: the address
 */
void nvfm_address_free(NvfmAddress *addr);

/**
 * nvfm_address_equal() - whether two addresses name the same thing
 * @a: an address
 * @b: another
 *
 * Return: %TRUE when both are set and their canonical texts match.
 */
gboolean nvfm_address_equal(const NvfmAddress *a, const NvfmAddress *b);

/**
 * nvfm_pci_addr_parse() - the one PCI address parser
 * @s: "DDDD:BB:DD.F" or "BB:DD.F" (hexadecimal; function 0-7)
 * @out: receives "dddd:bb:dd.f"
 * @error: return location for an error, or %NULL
 *
 * Return: %TRUE on success; %FALSE with %NVFM_ERROR_INVALID_ARG.
 */
gboolean nvfm_pci_addr_parse(const char *s, char out[NVFM_PCI_ADDR_LEN], GError **error);

G_DEFINE_AUTOPTR_CLEANUP_FUNC(NvfmAddress, nvfm_address_free)

G_END_DECLS
