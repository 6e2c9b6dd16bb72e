/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* libnvfm: live migration of NVMe SR-IOV VFs assigned through VFIO. */
#pragma once

#include "nvfm/version.h"
#include "nvfm/error.h"
#include "nvfm/util.h"
#include "nvfm/address.h"
#include "nvfm/ledger.h"
#include "nvfm/device.h"
#include "nvfm/stream.h"
#include "nvfm/transfer.h"
#include "nvfm/transport.h"
#include "nvfm/agent.h"
#include "nvfm/emu.h"
#include "nvfm/selftest.h"
#include "nvfm/pf.h"
#include "nvfm/qmp.h"
#include "nvfm/vm.h"
#include "nvfm/migrate.h"
#include "nvfm/report.h"
#include "nvfm/domxml.h"
#include "nvfm/incoming.h"
