/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * PF-side provisioning of NVMe SR-IOV VFs: the PF's flexible resources,
 * its secondary controllers and the VFs they back, and the steps that
 * turn a free VF into a bound, usable migration destination and back.
 *
 * Every fact is read from the device (NVMe Identify) and from sysfs on
 * each call; nothing is remembered between calls, so several tools can
 * share a PF. Changes to one PF are serialized with a lock file.
 */
#pragma once

#include <glib.h>

#include "nvfm/device.h"
#include "nvfm/ledger.h"

G_BEGIN_DECLS

/**
 * NvfmPf - an open NVMe PF: "DDDD:BB:DD.F" (a PCI function bound to the
 * nvme driver) or "emu:NAME" (an emulated PF, see nvfm_emu_pf_create())
 */
typedef struct _NvfmPf NvfmPf;

/**
 * NvfmPfResource - one kind of flexible resource of a PF (VQ or VI), from
 * Identify Primary Controller Capabilities
 * @total: flexible resources of the PF (VQFRT / VIFRT)
 * @assigned: those assigned to secondary controllers (VQRFA / VIRFA)
 * @primary: those allocated to the primary controller (VQRFAP / VIRFAP)
 * @private_total: private resources of the primary (VQPRT / VIPRT)
 * @max_per_vf: most one secondary controller may hold (VQFRSM / VIFRSM)
 * @granularity: preferred granularity (VQGRAN / VIGRAN)
 * @free: @total - @assigned - @primary: what a provisioning may take
 */
typedef struct {
	guint32 total;
	guint32 assigned;
	guint32 primary;
	guint32 private_total;
	guint32 max_per_vf;
	guint32 granularity;
	guint32 free;
} NvfmPfResource;

/**
 * NvfmPfCaps - what a PF offers
 * @cntlid: controller identifier of the primary controller
 * @vq: the virtual queue (VQ) resources
 * @vi: the virtual interrupt (VI) resources
 * @total_vfs: sriov_totalvfs
 * @num_vfs: sriov_numvfs (VFs that exist now)
 * @autoprobe: sriov_drivers_autoprobe
 * @n_secondary: number of secondary controllers
 * @n_online: of those, how many are online
 * @numa_node: the NUMA node the PF sits on (sysfs numa_node), -1: unknown
 */
typedef struct {
	guint16 cntlid;
	NvfmPfResource vq;
	NvfmPfResource vi;
	guint total_vfs;
	guint num_vfs;
	gboolean autoprobe;
	guint n_secondary;
	guint n_online;
	int numa_node;
} NvfmPfCaps;

/**
 * NVFM_LM_VENDOR_UUID - the vendor-specific controller state format of the
 * testbed's NVMe live migration (docs/nvme-lm.md); emulated PFs offer it
 * by default
 */
#define NVFM_LM_VENDOR_UUID "6e76666d-6c6d-4e56-8d51-454d55000001"

/**
 * NvfmLmCaps - a PF's NVMe 2.1 host-managed live migration capability
 * @pf: the PF's address ("0000:01:00.0" or "emu:NAME")
 * @supported: Identify Controller OACS bit 11 (HMLMS) is set and Identify
 *	       CNS 20h (Supported Controller State Formats) lists at least one
 *	       NVMe Controller State version
 * @reason: why @supported is %FALSE (one line), else %NULL
 * @n_versions: number of entries in @versions
 * @versions: the NVMe Controller State versions the PF offers, in its
 *	      order (the first one is what a Get Controller State with CSVI 0
 *	      produces)
 * @n_uuids: number of entries in @uuids
 * @uuids: the vendor-specific state formats it offers, as lower-case UUID
 *	   text, in its order (CSUUIDI 1 names the first); %NULL-terminated,
 *	   never %NULL
 *
 * Free with nvfm_lm_caps_free().
 */
typedef struct {
	char *pf;
	gboolean supported;
	char *reason;
	guint n_versions;
	guint16 *versions;
	guint n_uuids;
	char **uuids;
} NvfmLmCaps;

/**
 * NvfmLmFormat - the controller state format a migration source produces
 * @pf: the PF that produces it, or %NULL when unknown
 * @version: the NVMe Controller State version (the PF's first, CSVI 0)
 * @uuid: the vendor-specific format (the PF's first, CSUUIDI 1) as
 *	  lower-case UUID text, or %NULL when the PF offers none
 *
 * Free with nvfm_lm_format_free().
 */
typedef struct {
	char *pf;
	guint16 version;
	char *uuid;
} NvfmLmFormat;

/**
 * nvfm_lm_caps_free() - free a #NvfmLmCaps (NULL is fine)
 * @caps: the capability
 */
void nvfm_lm_caps_free(NvfmLmCaps *caps);

/**
 * nvfm_lm_format_free() - free a #NvfmLmFormat (NULL is fine)
 * @fmt: the format
 */
void nvfm_lm_format_free(NvfmLmFormat *fmt);

/**
 * nvfm_lm_caps_describe() - a PF's live migration capability in one line
 * @caps: the capability
 *
 * "NVMe host-managed, controller state versions 0; vendor formats UUID"
 * or "not supported (REASON)".
 *
 * Return: a newly allocated string.
 */
char *nvfm_lm_caps_describe(const NvfmLmCaps *caps);

/**
 * nvfm_lm_caps_format() - the format a VF of this PF produces
 * @caps: the source PF's capability
 *
 * The variant driver saves with CSVI 0 and CSUUIDI 1 (docs/nvme-lm.md):
 * the PF's first version and its first vendor-specific format.
 *
 * Return: the format, or %NULL when the PF does not support live
 * migration.
 */
NvfmLmFormat *nvfm_lm_caps_format(const NvfmLmCaps *caps);

/**
 * nvfm_lm_format_to_json() - a format as the agent requests carry it
 * @fmt: the format
 *
 * Return: a new reference to {"pf": ..., "version": N, "uuid": ...}
 * ("pf" and "uuid" only when known).
 */
json_t *nvfm_lm_format_to_json(const NvfmLmFormat *fmt);

/**
 * nvfm_lm_format_from_json() - parse the "lm_format" of an agent request
 * @j: the value
 * @error: return location for an error
 *
 * Strict: an object whose "version" is an integer 0..65535, whose "uuid"
 * (optional) is UUID text and whose "pf" (optional) is a string.
 *
 * Return: the format, or %NULL with %NVFM_ERROR_INVALID_ARG and a
 * one-line reason.
 */
NvfmLmFormat *nvfm_lm_format_from_json(json_t *j, GError **error);

/**
 * nvfm_lm_format_accepted() - whether a destination PF can take a state of
 * format @src
 * @src: what the source produces, or %NULL (a source without NVMe live
 *	 migration: nothing to check)
 * @dst: the destination PF's capability
 * @error: return location for the reason
 *
 * The destination takes the state when it supports live migration, offers
 * @src's NVMe Controller State version and, when @src has a vendor-specific
 * part, its format.
 *
 * Return: %TRUE if it can; %FALSE with %NVFM_ERROR_NOT_SUPPORTED and one
 * line naming both PFs and both formats, e.g. "destination PF emu:pfb
 * offers NVMe controller state versions 1 but source PF emu:pfa produces
 * version 0".
 */
gboolean nvfm_lm_format_accepted(const NvfmLmFormat *src, const NvfmLmCaps *dst,
				 GError **error);

/**
 * nvfm_lm_format_compatible() - whether a VF's state moves from one PF to
 * another
 * @src: the source PF's capability
 * @dst: the destination PF's capability
 * @error: return location for the reason
 *
 * When the source does not support NVMe live migration nothing is checked
 * (another mover carries the state). Otherwise as nvfm_lm_format_accepted()
 * with the format nvfm_lm_caps_format() names.
 *
 * Return: %TRUE if compatible.
 */
gboolean nvfm_lm_format_compatible(const NvfmLmCaps *src, const NvfmLmCaps *dst,
				   GError **error);

/**
 * NvfmVfInfo - one VF and the secondary controller behind it
 * @pf: the PF's address ("0000:01:00.0" or "emu:NAME")
 * @address: the VF's address ("0000:01:00.2" or "emu:NAME-vf1"); while
 *	     VFs are disabled, the address the VF will get
 * @vf: the same as an address value, for nvfm_vf_*(); %NULL when unknown
 * @index: the VF's index (virtfnN; the controller's VFN is @index + 1)
 * @scid: the secondary controller identifier
 * @online: the secondary controller is online
 * @nvq: VQ resources assigned to it
 * @nvi: VI resources assigned to it
 * @enabled: the VF exists (sriov_numvfs > @index)
 * @driver: the bound driver, or %NULL
 * @driver_override: driver_override, or %NULL when unset
 * @iommu_group: the IOMMU group number, or %NULL
 * @vfio_device: the VFIO device node ("/dev/vfio/devices/vfio0" or the
 *		 group node "/dev/vfio/12"), or %NULL when not bound to VFIO
 * @device: the engine address to open with nvfm_device_open()
 *	    (vfio:0000:01:00.2, emu:NAME-vf1), or %NULL
 * @in_use_by: who holds the VF ("pid 812 (qemu-system-x86)"), or %NULL
 * @numa_node: its PF's NUMA node (sysfs numa_node), -1: unknown
 */
typedef struct {
	char *pf;
	char *address;
	NvfmAddress *vf;
	guint index;
	guint16 scid;
	gboolean online;
	guint nvq;
	guint nvi;
	gboolean enabled;
	char *driver;
	char *driver_override;
	char *iommu_group;
	char *vfio_device;
	NvfmAddress *device;
	char *in_use_by;
	int numa_node;
} NvfmVfInfo;

/**
 * nvfm_vf_info_free() - free a #NvfmVfInfo (NULL is fine)
 * @info: the info
 */
void nvfm_vf_info_free(NvfmVfInfo *info);

/**
 * nvfm_vf_info_is_free() - whether a VF can be provisioned
 * @info: the VF
 *
 * A VF is free when its secondary controller is offline and nobody holds
 * the VF.
 *
 * Return: %TRUE if free.
 */
gboolean nvfm_vf_info_is_free(const NvfmVfInfo *info);

/**
 * nvfm_pf_list() - the PFs of this host that can provision VFs
 * @error: return location for an error
 *
 * PCI functions of class NVMe (0x010802) with SR-IOV capability that are
 * not VFs themselves, then the emulated PFs ("emu:NAME").
 *
 * Return: a %NULL-terminated array of addresses (g_strfreev()), or %NULL.
 */
char **nvfm_pf_list(GError **error);

/**
 * nvfm_pf_open() - open a PF by address
 * @address: "DDDD:BB:DD.F", "BB:DD.F" (domain 0) or "emu:NAME"
 * @error: return location for an error
 *
 * A PCI PF must be an NVMe function with SR-IOV, bound to the nvme driver
 * (the admin commands go through its controller device /dev/nvmeN).
 *
 * Return: the PF, or %NULL with %NVFM_ERROR_NOT_FOUND (no such PF),
 * %NVFM_ERROR_INVALID_ARG (a VF, or not NVMe) or
 * %NVFM_ERROR_NOT_SUPPORTED (no SR-IOV, no controller device).
 */
NvfmPf *nvfm_pf_open(const NvfmAddress *address, GError **error);

/**
 * nvfm_pf_close() - close a PF (NULL is fine)
 * @pf: the PF
 */
void nvfm_pf_close(NvfmPf *pf);

/**
 * nvfm_pf_address() - the normalized address of a PF
 * @pf: the PF
 *
 * Return: "0000:01:00.0" or "emu:NAME", owned by @pf.
 */
const char *nvfm_pf_address(NvfmPf *pf);

/**
 * nvfm_pf_get_caps() - read the PF's flexible resources and SR-IOV state
 * @pf: the PF
 * @out: receives the capabilities
 * @error: return location for an error
 *
 * Return: %TRUE on success.
 */
gboolean nvfm_pf_get_caps(NvfmPf *pf, NvfmPfCaps *out, GError **error);

/**
 * nvfm_pf_get_lm_caps() - read the PF's NVMe host-managed live migration
 * capability
 * @pf: the PF
 * @error: return location for an error
 *
 * Identify Controller (OACS bit 11, HMLMS), then, when the bit is set,
 * Identify CNS 20h (Supported Controller State Formats). A PF without the
 * bit, one that answers CNS 20h with an error and one whose answer is
 * malformed do not support it: that is a result (@supported %FALSE with
 * the reason), not an error.
 *
 * Return: the capability, or %NULL when Identify Controller fails.
 */
NvfmLmCaps *nvfm_pf_get_lm_caps(NvfmPf *pf, GError **error);

/**
 * nvfm_pf_list_vfs() - every VF of the PF, one per secondary controller
 * @pf: the PF
 * @error: return location for an error
 *
 * Return: a #GPtrArray of #NvfmVfInfo ordered by VF index (it frees its
 * elements), or %NULL.
 */
GPtrArray *nvfm_pf_list_vfs(NvfmPf *pf, GError **error);

/**
 * nvfm_pf_find_free_vf() - the free VF with the lowest index
 * @pf: the PF
 * @error: return location for an error
 *
 * Return: the VF, or %NULL with %NVFM_ERROR_BUSY when every VF is taken.
 */
NvfmVfInfo *nvfm_pf_find_free_vf(NvfmPf *pf, GError **error);

/**
 * NvfmProvisionOpts - what nvfm_pf_provision() should do
 * @vf_index: the VF to take, or -1 for the free VF with the lowest index
 * @nvq: VQ resources to assign (0: the default, see nvfm_pf_provision())
 * @nvi: VI resources to assign (0: the default)
 * @driver: the driver to bind, or %NULL for nvfm_vf_default_driver()
 * @drivers: when not %NULL, the only names @driver may take besides the
 *	     VF's nvfm_vf_default_driver() and "vfio-pci" (a %NULL-terminated
 *	     list, perhaps empty): for a @driver a peer chose (the agent
 *	     passes its --driver list), so that it binds nothing else
 * @require_migration: after binding, check with the engine that the VF
 *		       offers VFIO migration; release it and fail otherwise
 * @lock_timeout_ms: how long to wait for the PF's lock (<= 0: 30 s)
 * @numa_node: the source VF's NUMA node, or -1 when unknown: the PFs
 *	       nvfm_provision_from() tries first (nvfm_pf_provision() has
 *	       one PF and ignores it)
 *
 * A migration destination should get the source VF's amounts: copy @nvq
 * and @nvi from the source's #NvfmVfInfo.
 */
typedef struct {
	int vf_index;
	guint nvq;
	guint nvi;
	const char *driver;
	const char *const *drivers;
	gboolean require_migration;
	int lock_timeout_ms;
	int numa_node;
} NvfmProvisionOpts;

/**
 * nvfm_provision_opts_init() - fill @opts with the defaults
 * @opts: the options
 *
 * Any free VF, default amounts, the default driver, no migration check,
 * no NUMA node preferred (-1).
 */
void nvfm_provision_opts_init(NvfmProvisionOpts *opts);

/**
 * nvfm_provision_opts_like() - take the amounts of a source VF
 * @opts: the options
 * @source: the VF the destination must match (e.g. the migration source,
 *	    as its host's agent reported it)
 *
 * Sets @nvq and @nvi to the source's, so the guest finds the same
 * controller after the migration.
 */
void nvfm_provision_opts_like(NvfmProvisionOpts *opts, const NvfmVfInfo *source);

/**
 * nvfm_pf_provision() - make a VF ready for use
 * @pf: the PF
 * @opts: the options, or %NULL for the defaults
 * @error: return location for an error
 *
 * Takes a free VF and, under the PF's lock: unbinds whatever is bound to
 * it, takes its secondary controller offline, assigns VQ and VI flexible
 * resources, enables the PF's VFs if they are not (with
 * sriov_drivers_autoprobe off, so no driver grabs a VF whose controller
 * is still offline), brings the controller online, and binds the driver
 * through driver_override. Any failure undoes the steps taken.
 *
 * Default amounts: an even share of the flexible resources among the
 * PF's secondary controllers, capped by the per-controller maximum and
 * what is free, and at least 2 VQ (admin + one I/O queue) and 1 VI.
 *
 * Return: the provisioned VF, or %NULL. %NVFM_ERROR_INVALID_ARG for
 * amounts a secondary controller cannot take, %NVFM_ERROR_BUSY when no
 * VF or not enough resources are free, %NVFM_ERROR_NVME with the
 * device's status when a command fails, %NVFM_ERROR_NOT_SUPPORTED when
 * @require_migration is set and the VF has no migration support.
 */
NvfmVfInfo *nvfm_pf_provision(NvfmPf *pf, const NvfmProvisionOpts *opts, GError **error);

/**
 * nvfm_vf_lookup() - the current facts of one VF
 * @vf: the VF's address (a PCI function or emu:NAME-vfN)
 * @error: return location for an error
 *
 * Return: the VF, or %NULL with %NVFM_ERROR_NOT_FOUND.
 */
NvfmVfInfo *nvfm_vf_lookup(const NvfmAddress *vf, GError **error);

/**
 * nvfm_vf_release() - give a VF back to its PF
 * @vf: the VF's address
 * @error: return location for an error
 *
 * Refuses a VF that somebody holds (%NVFM_ERROR_BUSY). Unbinds the
 * driver, clears driver_override, takes the secondary controller offline
 * and returns its resources to the pool. When no secondary controller of
 * the PF is left online and no VF has a driver, the VFs are disabled
 * again (sriov_numvfs = 0).
 *
 * Return: %TRUE on success.
 */
gboolean nvfm_vf_release(const NvfmAddress *vf, GError **error);

/**
 * nvfm_vf_bind() - bind a VF to a driver through driver_override
 * @vf: the VF's address
 * @driver: the driver's name ("vfio-pci", "nvme", a variant driver)
 * @error: return location for an error
 *
 * Unbinds the current driver first. Refuses a VF that somebody holds.
 *
 * Return: %TRUE when @driver is bound.
 */
gboolean nvfm_vf_bind(const NvfmAddress *vf, const char *driver, GError **error);

/**
 * nvfm_vf_default_driver() - the driver a VF should be bound to
 * @vf: the VF's address
 * @error: return location for an error
 *
 * Like libvirt >= 10: the VFIO variant driver that modules.alias names
 * for the VF's modalias ("vfio_pci:v...d..." entries, read through
 * libkmod from depmod's index; the most specific match wins, two modules
 * matching equally well name none), else "vfio-pci". An emulated VF's variant driver is
 * "emu-vfio-pci".
 *
 * Return: a newly allocated driver name, or %NULL.
 */
char *nvfm_vf_default_driver(const NvfmAddress *vf, GError **error);

/**
 * nvfm_vf_check_migration() - whether a VF can be a migration destination
 * @vf: the VF's address
 * @out: receives the migration features (may be %NULL)
 * @error: return location for an error
 *
 * Opens the VF with the engine and probes VFIO_DEVICE_FEATURE_MIGRATION.
 *
 * Return: %TRUE if the VF supports migration; %FALSE with
 * %NVFM_ERROR_NOT_SUPPORTED ("no migration support") for a VF bound to
 * plain vfio-pci or to a non-VFIO driver.
 */
gboolean nvfm_vf_check_migration(const NvfmAddress *vf, NvfmMigFeatures *out, GError **error);

/**
 * NVFM_EMU_LM_MAX_VERSIONS - most NVMe Controller State versions an
 * emulated PF lists
 */
#define NVFM_EMU_LM_MAX_VERSIONS 8
/**
 * NVFM_EMU_LM_MAX_UUIDS - most vendor-specific formats an emulated PF lists
 */
#define NVFM_EMU_LM_MAX_UUIDS 4

/**
 * NvfmEmuPfConfig - an emulated PF, shaped like QEMU's NVMe SR-IOV options
 * @total_vfs: VFs and secondary controllers (1..64)
 * @vq_flexible: flexible VQ resources (sriov_vq_flexible)
 * @vi_flexible: flexible VI resources (sriov_vi_flexible)
 * @vq_max_per_vf: VQFRSM (0: @vq_flexible / @total_vfs)
 * @vi_max_per_vf: VIFRSM (0: @vi_flexible / @total_vfs)
 * @vq_private: private VQ resources of the primary
 * @vi_private: private VI resources of the primary
 * @blob_size: bulk state of each VF's emulated device (see #NvfmEmuConfig)
 * @dirty_rate: bytes/s each VF's running device dirties (see #NvfmEmuConfig)
 * @numa_node: the NUMA node it reports, as sysfs numa_node (-1: none)
 * @lm_supported: Identify Controller OACS bit 11 (HMLMS); when clear, the
 *		  PF answers Identify CNS 20h with Invalid Field in Command
 * @n_lm_versions: entries in @lm_versions (0..%NVFM_EMU_LM_MAX_VERSIONS)
 * @lm_versions: the NVMe Controller State versions Identify CNS 20h lists
 * @n_lm_uuids: entries in @lm_uuids (0..%NVFM_EMU_LM_MAX_UUIDS)
 * @lm_uuids: the vendor-specific formats it lists, as UUID text
 */
typedef struct {
	guint total_vfs;
	guint vq_flexible;
	guint vi_flexible;
	guint vq_max_per_vf;
	guint vi_max_per_vf;
	guint vq_private;
	guint vi_private;
	guint64 blob_size;
	guint64 dirty_rate;
	int numa_node;
	gboolean lm_supported;
	guint n_lm_versions;
	guint16 lm_versions[NVFM_EMU_LM_MAX_VERSIONS];
	guint n_lm_uuids;
	char lm_uuids[NVFM_EMU_LM_MAX_UUIDS][37];
} NvfmEmuPfConfig;


/**
 * nvfm_emu_pf_config_init() - fill @cfg with the defaults
 * @cfg: the config
 *
 * 4 VFs, 16 flexible VQ, 8 flexible VI, at most 8 VQ and 4 VI per VF,
 * 2 private VQ and 1 private VI, 16 MiB of state per VF; NVMe live
 * migration supported with NVMe Controller State version 0 and the vendor
 * format %NVFM_LM_VENDOR_UUID, as the testbed's PF (docs/nvme-lm.md).
 */
void nvfm_emu_pf_config_init(NvfmEmuPfConfig *cfg);

/**
 * nvfm_emu_pf_create() - create (or replace) emulated PF @name
 * @name: the PF's name ([A-Za-z0-9_.]{1,48}; no '-')
 * @cfg: its configuration, or %NULL for the defaults
 * @error: return location for an error
 *
 * The PF starts like a fresh device: VFs disabled, every secondary
 * controller offline with no resources. Its VFs are "emu:NAME-vfN"; one
 * bound to the emulated variant driver "emu-vfio-pci" is an emulated
 * device that nvfm_device_open() opens.
 *
 * Return: %TRUE on success; %NVFM_ERROR_BUSY when replacing a PF whose
 * controllers are online.
 */
gboolean nvfm_emu_pf_create(const char *name, const NvfmEmuPfConfig *cfg, GError **error);

/**
 * nvfm_emu_pf_destroy() - remove emulated PF @name
 * @name: the PF's name
 * @error: return location for an error
 *
 * Return: %TRUE on success; %NVFM_ERROR_BUSY while a controller is
 * online.
 */
gboolean nvfm_emu_pf_destroy(const char *name, GError **error);

/**
 * nvfm_emu_pf_set_vf_fault() - arm a fault knob on every VF device the
 * emulated PF makes from now on (a faulty device model, for tests)
 * @name: the PF's name
 * @knob: a knob of nvfm_emu_set_fault(), or %NULL to disarm them all
 * @value: its value, or %NULL to disarm @knob
 * @error: return location for an error
 *
 * VF devices that exist already keep their knobs. A bad knob or value
 * makes the next provisioning fail with nvfm_emu_set_fault()'s error.
 *
 * Return: %TRUE on success.
 */
gboolean nvfm_emu_pf_set_vf_fault(const char *name, const char *knob, const char *value,
				  GError **error);

/**
 * nvfm_emu_pf_list() - names of the emulated PFs
 * @error: return location for an error
 *
 * Return: a %NULL-terminated array of names, without "emu:" (g_strfreev()).
 */
char **nvfm_emu_pf_list(GError **error);

G_DEFINE_AUTOPTR_CLEANUP_FUNC(NvfmPf, nvfm_pf_close)
/**
 * NvfmNoteFunc - receives a line about something done or left alone
 * @data: the caller's data
 * @fmt: printf format of the line
 */
typedef void (*NvfmNoteFunc)(gpointer data, const char *fmt, ...) G_GNUC_PRINTF(2, 3);

/**
 * nvfm_pfs_numa_first() - PFs in the order a VF from NUMA node
 * @numa_node should try them
 * @pfs: candidate PFs (#NvfmAddress pointers) in order of preference, or
 *	%NULL
 * @numa_node: the source VF's NUMA node, or -1 when unknown
 *
 * Those on @numa_node (each PF's sysfs numa_node, as nvfm_pf_get_caps()
 * reads it) first, then the rest, each group in the order given. A PF
 * that cannot be opened or does not say its node is among the rest. With
 * @numa_node < 0 or fewer than two PFs, the order given (and no PF is
 * opened). The agent's placement and nvfm_provision_from() share it.
 *
 * Return: a new array of copies of @pfs's addresses (it frees them),
 * never %NULL.
 */
GPtrArray *nvfm_pfs_numa_first(GPtrArray *pfs, int numa_node);

/**
 * nvfm_provision_from() - provision a VF from the first PF of a list that
 * can give one
 * @pfs: candidate PFs (#NvfmAddress pointers), in order of preference
 * @kind: only PFs of this kind are tried (%NVFM_ADDR_PCI or %NVFM_ADDR_EMU:
 *	a VF is replaced by one of its own kind)
 * @opts: what to provision
 * @error: return location for an error
 *
 * The PFs are tried in the order of nvfm_pfs_numa_first() with
 * @opts->numa_node: those on the source VF's NUMA node first.
 *
 * Return: the VF; or %NULL with %NVFM_ERROR_NOT_FOUND (no PF of that kind)
 * or %NVFM_ERROR_BUSY naming every PF tried and why it could not.
 */
NvfmVfInfo *nvfm_provision_from(GPtrArray *pfs, NvfmAddressKind kind,
				const NvfmProvisionOpts *opts, GError **error);

/**
 * nvfm_vf_reserved_for_migration() - whether @vf was provisioned for an
 * arriving migration
 * @vf: a VF address named by an incoming domain
 * @pfs: the PFs migrations may use on this host (#NvfmAddress pointers)
 * @reservations: this host's agent's reservations
 *
 * Such a VF is provisioned (controller online), held by no process,
 * reserved through this host's agent and a VF of one of @pfs. A VF that
 * only shares the address of the source's is none of these.
 *
 * Return: the VF's facts, or %NULL.
 */
NvfmVfInfo *nvfm_vf_reserved_for_migration(const NvfmAddress *vf, GPtrArray *pfs,
					   NvfmLedger *reservations);

/**
 * nvfm_vfs_online() - those of @vfs still provisioned (controller online)
 * @vfs: VFs (#NvfmAddress pointers)
 * @note: told each VF left alone because it is none of this host's
 * @data: for @note
 * @error: return location for an error (a lookup that failed otherwise)
 *
 * Return: a new array of #NvfmAddress pointers, or %NULL.
 */
GPtrArray *nvfm_vfs_online(GPtrArray *vfs, NvfmNoteFunc note, gpointer data, GError **error);

/**
 * nvfm_vfs_release_online() - give back those of @vfs still provisioned
 * @vfs: VFs (#NvfmAddress pointers)
 * @note: told each VF released, and each left alone because it is none
 *	of this host's
 * @data: for @note
 * @error: return location for the first failure
 *
 * Every VF is tried; a VF released already is skipped, so a repeated call
 * does nothing.
 *
 * Return: %TRUE when nothing failed.
 */
gboolean nvfm_vfs_release_online(GPtrArray *vfs, NvfmNoteFunc note, gpointer data,
				 GError **error);

G_DEFINE_AUTOPTR_CLEANUP_FUNC(NvfmVfInfo, nvfm_vf_info_free)
G_DEFINE_AUTOPTR_CLEANUP_FUNC(NvfmLmCaps, nvfm_lm_caps_free)
G_DEFINE_AUTOPTR_CLEANUP_FUNC(NvfmLmFormat, nvfm_lm_format_free)

G_END_DECLS
