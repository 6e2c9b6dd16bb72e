/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "util-private.h"

const char *nvfm_version(void)
{
	return NVFM_VERSION;
}
