/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The VFIO migration uAPI v2 as libnvfm needs it. Debian 12 ships 6.1
 * headers, which predate PRE_COPY (6.2), VFIO_MIG_GET_PRECOPY_INFO and
 * VFIO_DEVICE_FEATURE_MIG_DATA_SIZE (6.3), and the iommufd cdev (6.6); the
 * values below are those of the uAPI and only fill what is missing.
 */
#pragma once

#include <linux/types.h>
#include <linux/ioctl.h>
#include <linux/vfio.h>

#ifndef VFIO_MIGRATION_PRE_COPY
#define VFIO_MIGRATION_PRE_COPY (1 << 2)
#endif

/* enum vfio_device_mig_state gained these in 6.2; the enum cannot be
 * extended, so the values are used as plain integers. */
#define NVFM_VFIO_STATE_PRE_COPY 6
#define NVFM_VFIO_STATE_PRE_COPY_P2P 7

#ifndef VFIO_MIG_GET_PRECOPY_INFO
struct vfio_precopy_info {
	__u32 argsz;
	__u32 flags;
	__aligned_u64 initial_bytes;
	__aligned_u64 dirty_bytes;
};
#define VFIO_MIG_GET_PRECOPY_INFO _IO(VFIO_TYPE, VFIO_BASE + 21)
#endif

#ifndef VFIO_DEVICE_FEATURE_MIG_DATA_SIZE
struct vfio_device_feature_mig_data_size {
	__aligned_u64 stop_copy_length;
};
#define VFIO_DEVICE_FEATURE_MIG_DATA_SIZE 9
#endif

#ifndef VFIO_DEVICE_FEATURE_DMA_LOGGING_START
#define VFIO_DEVICE_FEATURE_DMA_LOGGING_START 6
#endif

/* iommufd cdev interface (6.6+) */
#ifndef VFIO_DEVICE_BIND_IOMMUFD
struct vfio_device_bind_iommufd {
	__u32 argsz;
	__u32 flags;
	__s32 iommufd;
	__u32 out_devid;
};
#define VFIO_DEVICE_BIND_IOMMUFD _IO(VFIO_TYPE, VFIO_BASE + 18)
#endif

/* Compile-time checks that the fallbacks agree with the uAPI. */
_Static_assert(VFIO_MIG_GET_PRECOPY_INFO == _IO(';', 121), "PRECOPY_INFO number");
_Static_assert(VFIO_DEVICE_FEATURE == 0x3b75, "VFIO_DEVICE_FEATURE number");
_Static_assert(VFIO_DEVICE_RESET == 0x3b6f, "VFIO_DEVICE_RESET number");
_Static_assert(sizeof(struct vfio_precopy_info) == 24, "precopy_info layout");
