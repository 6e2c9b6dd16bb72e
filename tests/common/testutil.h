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
