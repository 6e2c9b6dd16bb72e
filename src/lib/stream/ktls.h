/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The kernel's TLS (ktls.c): a sealed channel's records are TLS 1.3
 * records, so a kernel with the "tls" upper-layer protocol can seal and
 * open them itself, and splice works through it. Internal to libnvfm.
 */
#pragma once

#include "seal.h"

#pragma GCC visibility push(hidden)

/*
 * Attach the kernel's TLS to the TCP socket @fd: 1 done, 0 this kernel
 * has none (the caller keeps sealing in userspace), -1 with @error.
 */
int nvfm_ktls_attach(int fd, GError **error);

/* Give the kernel one direction's keys (@tx: what we send); from then on
 * it seals what we send, or opens what we receive, on @fd. */
gboolean nvfm_ktls_set_keys(int fd, gboolean tx, const NvfmSealKeys *k, GError **error);

#pragma GCC visibility pop
