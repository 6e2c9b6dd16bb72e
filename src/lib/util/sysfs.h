/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * PCI and SR-IOV through sysfs, plus the few other kernel files that
 * provisioning reads (/proc/PID/fd). Every path goes
 * through nvfm_sysfs_path(), which puts $NVFM_SYSFS_ROOT in front so the
 * tests can run against a fixture tree. All calls return 0 or -errno.
 */
#pragma once

#include "nvfm/address.h"
#include "util-private.h"

#pragma GCC visibility push(hidden)


/* $NVFM_SYSFS_ROOT without a trailing '/', or "" */
const char *nvfm_sysfs_root(void);
/* root + the formatted absolute path */
char *nvfm_sysfs_path(const char *fmt, ...) G_GNUC_PRINTF(1, 2);
/* @abs_path ("/dev/...") under $NVFM_DEV_ROOT, the tests' device tree */
char *nvfm_dev_path(const char *abs_path);

/* whole file with trailing whitespace removed */
int nvfm_sysfs_read(const char *path, char **out);
/* decimal or 0x-prefixed hexadecimal */
int nvfm_sysfs_read_u64(const char *path, guint64 *out);
int nvfm_sysfs_write(const char *path, const char *value);
/* last component of a symlink's target */
int nvfm_sysfs_link_name(const char *path, char **out);

/* "DDDD:BB:DD.F" or "BB:DD.F" (domain 0), lower-cased into @out */

/* /sys/bus/pci/devices/ADDR[/ATTR] (prefixed) */
char *nvfm_pci_path(const char *addr, const char *attr);
int nvfm_pci_exists(const char *addr);
int nvfm_pci_class(const char *addr, guint32 *cls);
int nvfm_pci_modalias(const char *addr, char **out);

/* SR-IOV topology: -ENOENT when @addr is not a VF / has no such VF */
int nvfm_pci_physfn(const char *addr, char **pf);
int nvfm_pci_virtfn(const char *pf, guint index, char **vf);
int nvfm_pci_vf_index(const char *pf, const char *vf, guint *index);
/* the address VF @index gets when enabled, from the SR-IOV capability
 * in config space (First VF Offset, VF Stride) */
int nvfm_pci_vf_predict(const char *pf, guint index, char **vf);
int nvfm_pci_sriov_get(const char *pf, guint *total, guint *num, gboolean *autoprobe);
int nvfm_pci_sriov_set_numvfs(const char *pf, guint n);
int nvfm_pci_sriov_set_autoprobe(const char *pf, gboolean on);

/* binding; *out is NULL (and 0 returned) when there is nothing */
int nvfm_pci_driver(const char *addr, char **out);
int nvfm_pci_driver_override(const char *addr, char **out);
int nvfm_pci_set_driver_override(const char *addr, const char *driver);
int nvfm_pci_unbind(const char *addr);
int nvfm_pci_probe(const char *addr);
gboolean nvfm_pci_driver_present(const char *driver);
int nvfm_pci_iommu_group(const char *addr, char **out);
/* "/dev/vfio/devices/vfioN" from vfio-dev/, else NULL */
int nvfm_pci_vfio_cdev(const char *addr, char **out);
/* "nvme0" from nvme/ */
int nvfm_pci_nvme_ctrl(const char *addr, char **out);
/* device nodes a process must hold open to be using @addr */
GPtrArray *nvfm_pci_device_nodes(const char *addr);

/* the PCI functions of class NVMe that have SR-IOV and are not VFs */
int nvfm_pci_list_nvme_pfs(GPtrArray *out);

/* Two driver or module names alike ('-' and '_' are the same to modprobe). */
gboolean nvfm_driver_same(const char *a, const char *b);
/* the PCI driver a loaded module registers (/sys/module/M/drivers) */
int nvfm_module_pci_driver(const char *module, char **driver);

/* "pid N (comm)" of the first other process holding one of @nodes open
 * (absolute paths as the kernel shows them), else NULL */
int nvfm_proc_find_holder(const GPtrArray *nodes, char **who);

#pragma GCC visibility pop
