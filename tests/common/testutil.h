/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Helpers shared by the C tests. */
#pragma once

/**
 * nvfm_test_rm_rf() - remove a test's temporary tree
 * @path: a file or directory
 *
 * Never follows symbolic links: a link is removed, not what it points to,
 * so a fixture tree that links outside itself cannot harm the machine.
 */
void nvfm_test_rm_rf(const char *path);

#include "nvfm/address.h"

/**
 * nvfm_test_addr() - a device or PF address parsed from @text, as the CLI
 * would parse it
 * @text: the address text
 *
 * Return: the address, or %NULL when @text does not parse; the tests'
 * pool owns it until the program exits.
 */
const NvfmAddress *nvfm_test_addr(const char *text);
