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
struct vfio_device_feature_dma_logging_control {
	__aligned_u64 page_size;
	__u32 num_ranges;
	__u32 __reserved;
	__aligned_u64 ranges;
};
struct vfio_device_feature_dma_logging_range {
	__aligned_u64 iova;
	__aligned_u64 length;
};
#define VFIO_DEVICE_FEATURE_DMA_LOGGING_START 6
#define VFIO_DEVICE_FEATURE_DMA_LOGGING_STOP 7
struct vfio_device_feature_dma_logging_report {
	__aligned_u64 iova;
	__aligned_u64 length;
	__aligned_u64 page_size;
	__aligned_u64 bitmap;
};
#define VFIO_DEVICE_FEATURE_DMA_LOGGING_REPORT 8
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

#ifndef VFIO_DEVICE_ATTACH_IOMMUFD_PT
/* 6.6 layout; later kernels append a pasid field that flags leave unused. */
struct vfio_device_attach_iommufd_pt {
	__u32 argsz;
	__u32 flags;
	__u32 pt_id;
};
#define VFIO_DEVICE_ATTACH_IOMMUFD_PT _IO(VFIO_TYPE, VFIO_BASE + 19)
#endif

/* <linux/iommufd.h> first shipped with 6.2 headers. */
#if defined(__has_include)
#if __has_include(<linux/iommufd.h>)
#include <linux/iommufd.h>
#endif
#endif

/* IOMMU_GET_HW_INFO (6.6); out_capabilities and its DIRTY_TRACKING bit
 * came with 6.7. Older kernels take the smaller struct and leave the
 * capabilities 0, which reads as "no IOMMU dirty tracking". */
struct nvfm_iommu_hw_info {
	__u32 size;
	__u32 flags;
	__u32 dev_id;
	__u32 data_len;
	__aligned_u64 data_uptr;
	__u32 out_data_type;
	__u8 out_max_pasid_log2;
	__u8 __reserved[3];
	__aligned_u64 out_capabilities;
};
#define NVFM_IOMMU_GET_HW_INFO _IO(';', 0x8a)
#define NVFM_IOMMU_HW_CAP_DIRTY_TRACKING (1ull << 0)

#ifndef VFIO_IOMMU_TYPE1_INFO_CAP_MIGRATION
#define VFIO_IOMMU_TYPE1_INFO_CAP_MIGRATION 2
#endif

#ifndef IOMMU_IOAS_ALLOC
struct iommu_ioas_alloc {
	__u32 size;
	__u32 flags;
	__u32 out_ioas_id;
};
#define IOMMU_IOAS_ALLOC _IO(';', 0x81)
#endif

/* Compile-time checks that the fallbacks agree with the uAPI. */
_Static_assert(VFIO_MIG_GET_PRECOPY_INFO == _IO(';', 121), "PRECOPY_INFO number");
_Static_assert(VFIO_DEVICE_FEATURE == 0x3b75, "VFIO_DEVICE_FEATURE number");
_Static_assert(VFIO_DEVICE_RESET == 0x3b6f, "VFIO_DEVICE_RESET number");
_Static_assert(sizeof(struct vfio_precopy_info) == 24, "precopy_info layout");
_Static_assert(VFIO_MIGRATION_PRE_COPY == 4, "PRE_COPY flag");
_Static_assert(VFIO_DEVICE_FEATURE_MIGRATION == 1, "feature MIGRATION");
_Static_assert(VFIO_DEVICE_FEATURE_MIG_DEVICE_STATE == 2, "feature MIG_DEVICE_STATE");
_Static_assert(VFIO_DEVICE_FEATURE_DMA_LOGGING_START == 6, "feature DMA_LOGGING_START");
_Static_assert(VFIO_DEVICE_FEATURE_DMA_LOGGING_STOP == 7 &&
	       VFIO_DEVICE_FEATURE_DMA_LOGGING_REPORT == 8, "features DMA_LOGGING_STOP/REPORT");
_Static_assert(sizeof(struct vfio_device_feature_dma_logging_control) == 24 &&
	       sizeof(struct vfio_device_feature_dma_logging_range) == 16 &&
	       sizeof(struct vfio_device_feature_dma_logging_report) == 32, "dma_logging layouts");
_Static_assert(sizeof(struct nvfm_iommu_hw_info) == 40 &&
	       __builtin_offsetof(struct nvfm_iommu_hw_info, out_capabilities) == 32,
	       "iommu_hw_info layout");
_Static_assert(NVFM_IOMMU_GET_HW_INFO == 0x3b8a, "IOMMU_GET_HW_INFO number");
_Static_assert(sizeof(struct vfio_iommu_type1_info_cap_migration) == 32, "cap_migration layout");
_Static_assert(VFIO_DEVICE_FEATURE_MIG_DATA_SIZE == 9, "feature MIG_DATA_SIZE");
_Static_assert(VFIO_DEVICE_FEATURE_GET == (1 << 16) && VFIO_DEVICE_FEATURE_SET == (1 << 17) &&
	       VFIO_DEVICE_FEATURE_PROBE == (1 << 18), "feature op bits");
_Static_assert(sizeof(struct vfio_device_feature) == 8, "feature header layout");
_Static_assert(sizeof(struct vfio_device_feature_mig_state) == 8, "mig_state layout");
_Static_assert(sizeof(struct vfio_device_feature_mig_data_size) == 8, "mig_data_size layout");
_Static_assert(VFIO_DEVICE_BIND_IOMMUFD == 0x3b76, "BIND_IOMMUFD number");
_Static_assert(__builtin_offsetof(struct vfio_device_bind_iommufd, out_devid) == 12,
	       "bind_iommufd layout");
_Static_assert(VFIO_DEVICE_ATTACH_IOMMUFD_PT == 0x3b77, "ATTACH_IOMMUFD_PT number");
_Static_assert(__builtin_offsetof(struct vfio_device_attach_iommufd_pt, pt_id) == 8,
	       "attach_iommufd_pt layout");
_Static_assert(IOMMU_IOAS_ALLOC == 0x3b81, "IOMMU_IOAS_ALLOC number");
_Static_assert(sizeof(struct iommu_ioas_alloc) == 12, "iommu_ioas_alloc layout");
_Static_assert(VFIO_GROUP_GET_DEVICE_FD == 0x3b6a && VFIO_GROUP_SET_CONTAINER == 0x3b68 &&
	       VFIO_GROUP_GET_STATUS == 0x3b67 && VFIO_SET_IOMMU == 0x3b66 &&
	       VFIO_GET_API_VERSION == 0x3b64 && VFIO_DEVICE_GET_INFO == 0x3b6b,
	       "legacy container/group numbers");
