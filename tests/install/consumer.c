// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * A program outside the project, built against the installed libnvfm with
 * nothing but `pkg-config --cflags --libs nvfm` (tests/install/pkgconfig.py).
 */
#include <nvfm/nvfm.h>
#include <stdio.h>
#include <string.h>

static int failures;

static void check(int ok, const char *what)
{
	if (!ok) {
		fprintf(stderr, "consumer: %s\n", what);
		failures++;
	}
}

int main(void)
{
	g_autoptr(NvfmAddress) addr = NULL;
	g_autoptr(NvfmAddress) bad = NULL;
	g_autoptr(GError) error = NULL;

	check(strcmp(nvfm_version(), NVFM_VERSION) == 0, "library and header versions differ");

	addr = nvfm_address_parse("vfio:3b:00.2", &error);
	check(addr != NULL, "nvfm_address_parse(vfio:3b:00.2) failed");
	if (addr) {
		check(addr->kind == NVFM_ADDR_PCI, "vfio:3b:00.2 is not a PCI address");
		check(strcmp(addr->pci, "0000:3b:00.2") == 0, "vfio:3b:00.2 not normalised");
		check(strcmp(addr->text, "vfio:0000:3b:00.2") == 0, "wrong canonical text");
	}

	bad = nvfm_address_parse("bogus:1", &error);
	check(bad == NULL && g_error_matches(error, NVFM_ERROR, NVFM_ERROR_INVALID_ARG),
	      "bogus:1 was not refused with NVFM_ERROR_INVALID_ARG");

	printf("libnvfm %s: %s\n", nvfm_version(), addr ? addr->text : "?");
	return failures ? 1 : 0;
}
