/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * libvirt domain XML: the facts nvme-vf-migrate needs from a domain (name,
 * UUID, its NVMe VFs) and the one change it makes to it on a migration
 * destination, the VFs' host-side source addresses.
 *
 * A domain's NVMe VFs are of two kinds:
 *  - PCI hostdevs: <hostdev mode='subsystem' type='pci'> whose
 *    <source><address domain= bus= slot= function=/> names the host VF;
 *    the guest-visible <address type='pci'/> beside it never changes;
 *  - emulated VFs, which no real hostdev can carry, named in the domain's
 *    metadata:
 *	<metadata>
 *	  <nvfm:vfs xmlns:nvfm="urn:nvme-vf-migrate:1">
 *	    <nvfm:vf alias="ua-nvme0" device="emu:pfA-vf0" nvq="4" nvi="2"/>
 *	  </nvfm:vfs>
 *	</metadata>
 *
 * The same metadata marks which PCI hostdevs are NVMe VFs (an entry with
 * the hostdev's alias and no device attribute) and may carry the VF's
 * flexible resources (nvq, nvi) so a destination can match them, and the
 * NUMA node of the VF's PF (numa) so a destination prefers a PF on the
 * same node. The <vf>
 * entries may also be unprefixed, as "virsh metadata --set" can store them.
 */
#pragma once

#include <glib.h>

#include "nvfm/address.h"

G_BEGIN_DECLS

/**
 * NVFM_DOMXML_NS - the namespace URI of nvme-vf-migrate's domain metadata
 */
#define NVFM_DOMXML_NS "urn:nvme-vf-migrate:1"

/**
 * NvfmDomain - the parsed facts of one libvirt domain XML
 */
typedef struct _NvfmDomain NvfmDomain;

/**
 * NvfmDomVfKind - where a domain's VF is described
 * @NVFM_DOM_VF_PCI: a <hostdev mode='subsystem' type='pci'>
 * @NVFM_DOM_VF_EMU: an <nvfm:vf device="emu:..."> metadata entry
 */
typedef enum {
	NVFM_DOM_VF_PCI,
	NVFM_DOM_VF_EMU,
} NvfmDomVfKind;

/**
 * NvfmDomVf - one VF assignment of a domain
 * @kind: a PCI hostdev or an emulated VF
 * @alias: the device alias ("hostdev0", "ua-nvme0"), or %NULL when the
 *	   XML gives none
 * @source: the host side: a PCI address "0000:3b:00.2" (@kind PCI) or an
 *	    emulated VF "emu:pfA-vf0" (@kind EMU)
 * @guest_address: the guest-visible PCI address "0000:07:00.0", or %NULL
 *		   when the XML gives none (always %NULL for emulated VFs)
 * @managed: the hostdev's managed attribute (libvirt binds and unbinds
 *	     the host driver itself); %FALSE for emulated VFs
 * @listed: the nvme-vf-migrate metadata names this VF (always %TRUE for
 *	    emulated VFs; for a PCI hostdev, an entry with its alias)
 * @nvq: VQ flexible resources the metadata records, 0 when unknown
 * @nvi: VI flexible resources the metadata records, 0 when unknown
 * @numa_node: the source VF's NUMA node the metadata records (numa="N"),
 *	       -1 when unknown
 */
typedef struct {
	NvfmDomVfKind kind;
	char *alias;
	char *source;
	char *guest_address;
	gboolean managed;
	gboolean listed;
	guint nvq;
	guint nvi;
	int numa_node;
} NvfmDomVf;

/**
 * nvfm_dom_vf_free() - free a #NvfmDomVf (NULL is fine)
 * @vf: the VF
 */
void nvfm_dom_vf_free(NvfmDomVf *vf);

/**
 * nvfm_domxml_parse() - read a libvirt domain XML
 * @xml: the XML text (as virsh dumpxml or a hook's stdin gives it)
 * @error: return location for an error
 *
 * Every <hostdev mode='subsystem' type='pci'> becomes a PCI VF; other
 * hostdevs (USB, SCSI, mdev...) and <interface type='hostdev'> are not
 * NVMe VFs and are left out. Every <nvfm:vf device="emu:..."> becomes an
 * emulated VF. Documents with a DOCTYPE are refused (no entities are ever
 * expanded).
 *
 * Return: the domain, or %NULL with %NVFM_ERROR_INVALID_ARG and a one-line
 * reason: malformed XML, a root other than <domain>, a missing or invalid
 * <name> or <uuid>, a bad PCI address or metadata entry.
 */
NvfmDomain *nvfm_domxml_parse(const char *xml, GError **error);

/**
 * nvfm_domain_free() - free a parsed domain (NULL is fine)
 * @dom: the domain
 */
void nvfm_domain_free(NvfmDomain *dom);

/**
 * nvfm_domain_get_name() - the domain's name
 * @dom: the domain
 *
 * Return: the <name>, owned by @dom.
 */
const char *nvfm_domain_get_name(NvfmDomain *dom);

/**
 * nvfm_domain_get_uuid() - the domain's UUID
 * @dom: the domain
 *
 * Return: the <uuid> in lower-case 8-4-4-4-12 form (safe as a file name),
 * owned by @dom.
 */
const char *nvfm_domain_get_uuid(NvfmDomain *dom);

/**
 * nvfm_domain_get_vfs() - the domain's VF assignments
 * @dom: the domain
 *
 * PCI hostdevs first, in document order, then the emulated VFs.
 *
 * Return: a #GPtrArray of #NvfmDomVf owned by @dom (possibly empty).
 */
GPtrArray *nvfm_domain_get_vfs(NvfmDomain *dom);

/**
 * nvfm_domain_find_vf() - the VF with a given source
 * @dom: the domain
 * @source: a PCI function or an emulated VF
 *
 * Return: the VF (owned by @dom), or %NULL.
 */
const NvfmDomVf *nvfm_domain_find_vf(NvfmDomain *dom, const NvfmAddress *source);

/**
 * nvfm_domxml_rewrite() - point a domain's VFs at other host VFs
 * @xml: the domain XML
 * @old_to_new: maps a VF source of @xml ("0000:3b:00.2" or "emu:pfA-vf0")
 *		to its replacement (char * to char *); a PCI source must map
 *		to a PCI address, an emulated one to "emu:..."
 * @error: return location for an error
 *
 * Changes only the source side: the four attributes of a PCI hostdev's
 * <source><address/> or the device attribute of an <nvfm:vf>. Everything
 * else, the guest-visible address included, stays byte for byte as in
 * @xml: the new values are spliced into the original text at the places
 * libxml2 located, so quoting, attribute order, whitespace and comments
 * are kept. An empty @old_to_new returns a copy of @xml.
 *
 * Return: the new XML (g_free()), or %NULL with %NVFM_ERROR_INVALID_ARG
 * (malformed @xml, a bad replacement) or %NVFM_ERROR_NOT_FOUND (a key of
 * @old_to_new that is no VF of the domain).
 */
char *nvfm_domxml_rewrite(const char *xml, GHashTable *old_to_new, GError **error);

G_DEFINE_AUTOPTR_CLEANUP_FUNC(NvfmDomain, nvfm_domain_free)
G_DEFINE_AUTOPTR_CLEANUP_FUNC(NvfmDomVf, nvfm_dom_vf_free)

/**
 * NvfmReleaseScope - which VFs a domain stopping on this host gives back
 * @NVFM_RELEASE_KEEP: none (an ordinary stop: the VFs stay with the
 *	domain's configuration)
 * @NVFM_RELEASE_RECORDED: the VFs provisioned for its incoming migration
 *	(its QEMU never ran here)
 * @NVFM_RELEASE_DOMAIN: those and the domain's own VFs (it migrated away,
 *	or its incoming migration failed)
 */
typedef enum {
	NVFM_RELEASE_KEEP,
	NVFM_RELEASE_RECORDED,
	NVFM_RELEASE_DOMAIN,
} NvfmReleaseScope;

/**
 * nvfm_release_scope() - the release policy for a domain that stopped
 * @phase: what the hook recorded of its incoming migration ("incoming"
 *	before its QEMU started, "started" after), or %NULL for none
 * @reason: libvirt's stop reason ("migrated", "failed", "shutdown", ...),
 *	or %NULL when unknown
 * @why: receives the policy's reason in words, or %NULL for %NVFM_RELEASE_KEEP
 *
 * Return: the VFs to release.
 */
NvfmReleaseScope nvfm_release_scope(const char *phase, const char *reason, const char **why);

/**
 * nvfm_libvirt_stop_reason_from_log() - the reason of a domain's last stop,
 * from its libvirt log (libvirt before 10.5 passes none to the hook)
 * @log_dir: libvirt's QEMU log directory (/var/log/libvirt/qemu)
 * @domain: the domain's name
 *
 * Return: the reason ("migrated", ...), or %NULL when the log names none
 * after the domain's last start.
 */
char *nvfm_libvirt_stop_reason_from_log(const char *log_dir, const char *domain);

/**
 * nvfm_libvirt_migrate_tls_forced() - whether libvirt encrypts every
 * migration of its QEMU domains
 * @qemu_conf: libvirt's qemu.conf (%NVFM_LIBVIRT_QEMU_CONF)
 *
 * Return: %TRUE when it sets migrate_tls_force = 1; %FALSE when it does
 * not, or cannot be read: then the stream is encrypted only when the
 * caller asked (virsh migrate --tls, VIR_MIGRATE_TLS).
 */
gboolean nvfm_libvirt_migrate_tls_forced(const char *qemu_conf);

/**
 * NVFM_LIBVIRT_QEMU_CONF - where libvirt's QEMU driver reads its settings
 */
#define NVFM_LIBVIRT_QEMU_CONF "/etc/libvirt/qemu.conf"

G_END_DECLS
