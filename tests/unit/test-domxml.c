/* SPDX-License-Identifier: GPL-2.0-or-later */
/* libvirt domain XML: parsing a domain's VFs and rewriting their sources. */
#include <string.h>

#include "nvfm/nvfm.h"
#include "tests/common/testutil.h"

/* Shaped like "virsh dumpxml" of a running domain: single quotes, aliases,
 * a hostdev that is no NVMe VF, non-PCI hostdevs, an SR-IOV NIC. */
static const char dom_xml[] =
	"<domain type='kvm' id='3'>\n"
	"  <name>vm1</name>\n"
	"  <uuid>0F1E2D3C-4B5A-6978-8796-A5B4C3D2E1F0</uuid>\n"
	"  <description>Bob&apos;s &lt;test&gt; VM</description>\n"
	"  <metadata>\n"
	"    <other:thing xmlns:other=\"urn:other\" device=\"emu:not-ours-vf0\"/>\n"
	"    <nvfm:vfs xmlns:nvfm=\"urn:nvme-vf-migrate:1\">\n"
	"      <nvfm:vf alias=\"ua-nvme0\" nvq=\"4\" nvi=\"2\"/>\n"
	"      <nvfm:vf alias=\"ua-emu0\" device=\"emu:pfA-vf0\" nvq=\"0x6\"/>\n"
	"    </nvfm:vfs>\n"
	"  </metadata>\n"
	"  <memory unit='KiB'>131072</memory>\n"
	"  <devices>\n"
	"    <emulator>/usr/bin/qemu-system-x86_64</emulator>\n"
	"    <!-- <hostdev mode='subsystem' type='pci'><source><address domain='0x0000' bus='0x3b' slot='0x00' function='0x2'/></source></hostdev> -->\n"
	"    <hostdev mode='subsystem' type='pci' managed='no'>\n"
	"      <driver name='vfio'/>\n"
	"      <source>\n"
	"        <address domain='0x0000' bus='0x3b' slot='0x00' function='0x2'/>\n"
	"      </source>\n"
	"      <alias name='ua-nvme0'/>\n"
	"      <address type='pci' domain='0x0000' bus='0x07' slot='0x00' function='0x0'/>\n"
	"    </hostdev>\n"
	"    <hostdev mode='subsystem' type='pci' managed='yes'>\n"
	"      <source>\n"
	"        <address domain='0x0000' bus='0x5e' slot='0x01' function='0x3'/>\n"
	"      </source>\n"
	"      <alias name='hostdev1'/>\n"
	"      <address type='pci' domain='0x0000' bus='0x08' slot='0x00' function='0x0'/>\n"
	"    </hostdev>\n"
	"    <hostdev mode='subsystem' type='usb' managed='yes'>\n"
	"      <source><vendor id='0x1234'/><product id='0xbeef'/></source>\n"
	"    </hostdev>\n"
	"    <hostdev mode='subsystem' type='mdev' model='vfio-pci'>\n"
	"      <source><address uuid='c2177883-f1bb-47f0-914d-32a22e3a8804'/></source>\n"
	"    </hostdev>\n"
	"    <interface type='hostdev' managed='yes'>\n"
	"      <source><address type='pci' domain='0x0000' bus='0x3b' slot='0x10' function='0x1'/></source>\n"
	"    </interface>\n"
	"  </devices>\n"
	"</domain>\n";

static char *replace_all(const char *s, const char *from, const char *to)
{
	g_auto(GStrv) parts = g_strsplit(s, from, -1);

	return g_strjoinv(to, parts);
}

static GHashTable *map_new(const char *first, ...) G_GNUC_NULL_TERMINATED;

static GHashTable *map_new(const char *first, ...)
{
	GHashTable *map = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, g_free);
	va_list ap;

	va_start(ap, first);
	for (const char *k = first; k; k = va_arg(ap, const char *))
		g_hash_table_insert(map, g_strdup(k), g_strdup(va_arg(ap, const char *)));
	va_end(ap);
	return map;
}

static void test_parse(void)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(NvfmDomain) dom = nvfm_domxml_parse(dom_xml, &error);
	GPtrArray *vfs;
	const NvfmDomVf *vf;

	g_assert_no_error(error);
	g_assert_cmpstr(nvfm_domain_get_name(dom), ==, "vm1");
	g_assert_cmpstr(nvfm_domain_get_uuid(dom), ==, "0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0");
	vfs = nvfm_domain_get_vfs(dom);
	/* two PCI hostdevs, one emulated VF; USB, mdev and the NIC are not VFs */
	g_assert_cmpuint(vfs->len, ==, 3);

	vf = g_ptr_array_index(vfs, 0);
	g_assert_cmpint(vf->kind, ==, NVFM_DOM_VF_PCI);
	g_assert_cmpstr(vf->alias, ==, "ua-nvme0");
	g_assert_cmpstr(vf->source, ==, "0000:3b:00.2");
	g_assert_cmpstr(vf->guest_address, ==, "0000:07:00.0");
	g_assert_false(vf->managed);
	g_assert_true(vf->listed);
	g_assert_cmpuint(vf->nvq, ==, 4);
	g_assert_cmpuint(vf->nvi, ==, 2);

	vf = g_ptr_array_index(vfs, 1);
	g_assert_cmpint(vf->kind, ==, NVFM_DOM_VF_PCI);
	g_assert_cmpstr(vf->alias, ==, "hostdev1");
	g_assert_cmpstr(vf->source, ==, "0000:5e:01.3");
	g_assert_cmpstr(vf->guest_address, ==, "0000:08:00.0");
	g_assert_true(vf->managed);
	g_assert_false(vf->listed);
	g_assert_cmpuint(vf->nvq, ==, 0);

	vf = g_ptr_array_index(vfs, 2);
	g_assert_cmpint(vf->kind, ==, NVFM_DOM_VF_EMU);
	g_assert_cmpstr(vf->alias, ==, "ua-emu0");
	g_assert_cmpstr(vf->source, ==, "emu:pfA-vf0");
	g_assert_null(vf->guest_address);
	g_assert_true(vf->listed);
	g_assert_cmpuint(vf->nvq, ==, 6);
	g_assert_cmpuint(vf->nvi, ==, 0);

	/* lookups take every spelling of a PCI address */
	g_assert_true(nvfm_domain_find_vf(dom, nvfm_test_addr("3b:00.2")) == g_ptr_array_index(vfs, 0));
	g_assert_true(nvfm_domain_find_vf(dom, nvfm_test_addr("vfio:0000:3B:00.2")) == g_ptr_array_index(vfs, 0));
	g_assert_true(nvfm_domain_find_vf(dom, nvfm_test_addr("emu:pfA-vf0")) == g_ptr_array_index(vfs, 2));
	g_assert_null(nvfm_domain_find_vf(dom, nvfm_test_addr("0000:3b:10.1")));
	g_assert_null(nvfm_domain_find_vf(dom, nvfm_test_addr("emu:not-ours-vf0")));
	g_assert_null(nvfm_domain_find_vf(dom, nvfm_test_addr("garbage")));
}

static void test_parse_minimal(void)
{
	g_autoptr(GError) error = NULL;
	/* decimal numbers, no domain attribute, no alias, no guest address,
	 * mode left to its default, a UUID without dashes */
	g_autoptr(NvfmDomain) dom = nvfm_domxml_parse(
		"<domain><name>m</name><uuid>00112233445566778899aabbccddeeff</uuid>"
		"<devices><hostdev type=\"pci\"><source><address bus=\"59\" slot=\"0\" "
		"function=\"2\"/></source></hostdev></devices></domain>", &error);
	const NvfmDomVf *vf;

	g_assert_no_error(error);
	g_assert_cmpstr(nvfm_domain_get_uuid(dom), ==, "00112233-4455-6677-8899-aabbccddeeff");
	g_assert_cmpuint(nvfm_domain_get_vfs(dom)->len, ==, 1);
	vf = g_ptr_array_index(nvfm_domain_get_vfs(dom), 0);
	g_assert_cmpstr(vf->source, ==, "0000:3b:00.2");
	g_assert_null(vf->alias);
	g_assert_null(vf->guest_address);
	g_assert_false(vf->listed);
}

static void test_parse_no_vfs(void)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(NvfmDomain) dom = nvfm_domxml_parse(
		"<?xml version='1.0'?>\n<domain type='qemu'><name>plain</name>"
		"<uuid>0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0</uuid></domain>", &error);

	g_assert_no_error(error);
	g_assert_cmpuint(nvfm_domain_get_vfs(dom)->len, ==, 0);
}

static void expect_invalid(const char *xml, const char *needle)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(NvfmDomain) dom = nvfm_domxml_parse(xml, &error);

	g_assert_null(dom);
	g_assert_error(error, NVFM_ERROR, NVFM_ERROR_INVALID_ARG);
	if (!strstr(error->message, needle))
		g_error("'%s' lacks '%s'", error->message, needle);
	g_assert_null(strchr(error->message, '\n'));
	g_assert_true(g_str_has_prefix(error->message, "invalid domain XML: "));
}

#define UUID "<uuid>0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0</uuid>"
/* a domain whose nvfm metadata holds ENTRIES */
#define META_VFS(entries) \
	"<domain><name>a</name>" UUID "<metadata><n:vfs xmlns:n='urn:nvme-vf-migrate:1'>" \
	entries "</n:vfs></metadata></domain>"

static void test_malformed(void)
{
	expect_invalid("", "empty");
	expect_invalid("<domain><name>x</name>", "line 1");
	expect_invalid("<domain>\n<name>x</nam></domain>", "line 2");
	expect_invalid("not xml at all", "line 1");
	expect_invalid("<domain><name>a</name>" UUID "</domain><extra/>", "line 1");
	expect_invalid("<network><name>n</name>" UUID "</network>", "<network>, not <domain>");
	expect_invalid("<!DOCTYPE domain [<!ENTITY x \"y\">]><domain><name>&x;</name>" UUID
		       "</domain>", "DOCTYPE");
	expect_invalid("<domain><name>a</name></domain>", "has no <uuid>");
	expect_invalid("<domain><name>a</name><uuid>1234</uuid></domain>", "invalid <uuid> '1234'");
	expect_invalid("<domain><name>a</name><uuid>0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0ff</uuid>"
		       "</domain>", "invalid <uuid>");
	expect_invalid("<domain><name>a</name><uuid>../../etc/passwd/aaaaaaaaaaaaaaaaaa</uuid>"
		       "</domain>", "invalid <uuid>");
	expect_invalid("<domain>" UUID "</domain>", "no <name>");
	expect_invalid("<domain><name>a</name>" UUID "<devices><hostdev mode='subsystem' "
		       "type='pci'><source/></hostdev></devices></domain>",
		       "no valid <source><address/>");
	expect_invalid("<domain><name>a</name>" UUID "<devices><hostdev mode='subsystem' "
		       "type='pci'><source><address bus='0x100' slot='0' function='0'/></source>"
		       "</hostdev></devices></domain>", "no valid <source><address/>");
	expect_invalid("<domain><name>a</name>" UUID "<devices><hostdev mode='subsystem' "
		       "type='pci'><source><address bus='1' slot='0x20' function='0'/></source>"
		       "</hostdev></devices></domain>", "no valid <source><address/>");
	expect_invalid("<domain><name>a</name>" UUID "<devices><hostdev mode='subsystem' "
		       "type='pci'><source><address bus='1' slot='2' function='0'/></source>"
		       "<address type='pci' bus='zz' slot='0'/></hostdev></devices></domain>",
		       "invalid guest address");
	expect_invalid("<domain><name>a</name>" UUID "<metadata><n:vfs xmlns:n='urn:nvme-vf-migrate:1'>"
		       "<n:vf device='0000:3b:00.2'/></n:vfs></metadata></domain>",
		       "is not an emulated VF");
	expect_invalid("<domain><name>a</name>" UUID "<metadata><n:vfs xmlns:n='urn:nvme-vf-migrate:1'>"
		       "<n:vf device='emu:a/../b'/></n:vfs></metadata></domain>",
		       "is not an emulated VF");
	/* names the address parser refuses (found by fuzz-domxml) */
	expect_invalid("<domain><name>a</name>" UUID "<metadata><n:vfs xmlns:n='urn:nvme-vf-migrate:1'>"
		       "<n:vf device='emu:..'/></n:vfs></metadata></domain>",
		       "is not an emulated VF");
	expect_invalid("<domain><name>a</name>" UUID "<metadata><n:vfs xmlns:n='urn:nvme-vf-migrate:1'>"
		       "<n:vf device='emu:.'/></n:vfs></metadata></domain>",
		       "is not an emulated VF");
	expect_invalid(META_VFS("<n:vf/>"), "neither alias nor device");
	expect_invalid(META_VFS("<n:vf device='emu:p-vf0' nvq='many'/>"), "nvq='many'");
	expect_invalid(META_VFS("<n:vf device='emu:p-vf0'/><n:vf device='emu:p-vf0'/>"),
		       "emu:p-vf0 is assigned twice");
}

/* numa='N' records the source VF's NUMA node (-1 without it), on a
 * hostdev's entry and an emulated VF's; anything but a node number is
 * refused in one line naming the attribute */
static void test_metadata_numa(void)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(NvfmDomain) dom = nvfm_domxml_parse(
		"<domain><name>a</name>" UUID "<metadata><n:vfs xmlns:n='urn:nvme-vf-migrate:1'>"
		"<n:vf alias='ua-a' numa='1' nvq='4'/><n:vf device='emu:p-vf0' numa='0'/>"
		"<n:vf device='emu:p-vf1'/><n:vf device='emu:p-vf2' numa='0x3'/></n:vfs></metadata>"
		"<devices><hostdev mode='subsystem' type='pci'><source><address bus='1' slot='0' "
		"function='2'/></source><alias name='ua-a'/></hostdev><hostdev mode='subsystem' "
		"type='pci'><source><address bus='1' slot='0' function='3'/></source></hostdev>"
		"</devices></domain>", &error);
	GPtrArray *vfs;

	g_assert_no_error(error);
	vfs = nvfm_domain_get_vfs(dom);
	g_assert_cmpuint(vfs->len, ==, 5);
	g_assert_cmpint(((NvfmDomVf *)g_ptr_array_index(vfs, 0))->numa_node, ==, 1);
	g_assert_cmpuint(((NvfmDomVf *)g_ptr_array_index(vfs, 0))->nvq, ==, 4);
	/* a hostdev no entry names, an entry without numa: unknown */
	g_assert_cmpint(((NvfmDomVf *)g_ptr_array_index(vfs, 1))->numa_node, ==, -1);
	g_assert_cmpint(((NvfmDomVf *)g_ptr_array_index(vfs, 2))->numa_node, ==, 0);
	g_assert_cmpint(((NvfmDomVf *)g_ptr_array_index(vfs, 3))->numa_node, ==, -1);
	g_assert_cmpint(((NvfmDomVf *)g_ptr_array_index(vfs, 4))->numa_node, ==, 3);

	expect_invalid(META_VFS("<n:vf device='emu:p-vf0' numa='-1'/>"),
		       "<nvfm:vf numa='-1'> is not a NUMA node number");
	expect_invalid(META_VFS("<n:vf alias='ua-a' numa='one'/>"), "numa='one'");
	expect_invalid(META_VFS("<n:vf device='emu:p-vf0' numa=''/>"), "numa=''");
	expect_invalid(META_VFS("<n:vf device='emu:p-vf0' numa='99999'/>"), "numa='99999'");
}

/* the metadata is recognized by its namespace, not by its prefix */
static void test_metadata_prefix(void)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(NvfmDomain) dom = nvfm_domxml_parse(
		"<domain><name>a</name>" UUID "<metadata>"
		"<x:vfs xmlns:x='urn:nvme-vf-migrate:1'><x:vf device='emu:p-vf1'/></x:vfs>"
		"<y:vfs xmlns:y='urn:nvme-vf-migrate:2'><y:vf device='emu:q-vf1'/></y:vfs>"
		"</metadata></domain>", &error);

	g_assert_no_error(error);
	g_assert_cmpuint(nvfm_domain_get_vfs(dom)->len, ==, 1);
	g_assert_nonnull(nvfm_domain_find_vf(dom, nvfm_test_addr("emu:p-vf1")));
}

/* what "virsh metadata --key nvfm --set '<vfs><vf .../></vfs>'" stores */
static void test_metadata_virsh_set(void)
{
	static const char in[] =
		"<domain><name>a</name>" UUID "<metadata>"
		"<nvfm:vfs xmlns:nvfm=\"urn:nvme-vf-migrate:1\">"
		"<vf alias=\"ua-e\" device=\"emu:p-vf1\"/></nvfm:vfs></metadata></domain>";
	g_autoptr(GError) error = NULL;
	g_autoptr(NvfmDomain) dom = nvfm_domxml_parse(in, &error);
	g_autoptr(GHashTable) map = map_new("emu:p-vf1", "emu:q-vf0", NULL);
	g_autofree char *out = NULL;
	g_autofree char *want = NULL;

	g_assert_no_error(error);
	g_assert_cmpuint(nvfm_domain_get_vfs(dom)->len, ==, 1);
	g_assert_nonnull(nvfm_domain_find_vf(dom, nvfm_test_addr("emu:p-vf1")));
	out = nvfm_domxml_rewrite(in, map, &error);
	g_assert_no_error(error);
	want = replace_all(in, "emu:p-vf1", "emu:q-vf0");
	g_assert_cmpstr(out, ==, want);
}

static void test_rewrite(void)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(GHashTable) map = map_new("0000:3b:00.2", "0000:af:1f.7",
					    "emu:pfA-vf0", "emu:pfB-vf3", NULL);
	g_autofree char *out = nvfm_domxml_rewrite(dom_xml, map, &error);
	g_autofree char *want1 = NULL;
	g_autofree char *want = NULL;
	g_autoptr(NvfmDomain) dom = NULL;
	const NvfmDomVf *vf;

	g_assert_no_error(error);
	/* exactly the two sources changed, nothing else, the commented-out
	 * hostdev with the same address included */
	want1 = replace_all(dom_xml,
			    "        <address domain='0x0000' bus='0x3b' slot='0x00' function='0x2'/>",
			    "        <address domain='0x0000' bus='0xaf' slot='0x1f' function='0x7'/>");
	want = replace_all(want1, "device=\"emu:pfA-vf0\"", "device=\"emu:pfB-vf3\"");
	g_assert_cmpstr(out, ==, want);

	dom = nvfm_domxml_parse(out, &error);
	g_assert_no_error(error);
	vf = g_ptr_array_index(nvfm_domain_get_vfs(dom), 0);
	g_assert_cmpstr(vf->source, ==, "0000:af:1f.7");
	/* the guest address never changes */
	g_assert_cmpstr(vf->guest_address, ==, "0000:07:00.0");
	g_assert_cmpstr(vf->alias, ==, "ua-nvme0");
	g_assert_cmpuint(vf->nvq, ==, 4);
	/* the other PCI hostdev is untouched */
	vf = g_ptr_array_index(nvfm_domain_get_vfs(dom), 1);
	g_assert_cmpstr(vf->source, ==, "0000:5e:01.3");
	g_assert_cmpstr(vf->guest_address, ==, "0000:08:00.0");
	vf = g_ptr_array_index(nvfm_domain_get_vfs(dom), 2);
	g_assert_cmpstr(vf->source, ==, "emu:pfB-vf3");
	/* someone else's metadata with a look-alike attribute is untouched */
	g_assert_nonnull(strstr(out, "<other:thing xmlns:other=\"urn:other\" device=\"emu:not-ours-vf0\"/>"));
}

/* keys and values in any PCI spelling; swapping two VFs works in one go */
static void test_rewrite_swap(void)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(GHashTable) map = map_new("vfio:0000:3B:00.2", "5e:01.3", "5e:01.3", "3b:00.2",
					    NULL);
	g_autofree char *out = nvfm_domxml_rewrite(dom_xml, map, &error);
	g_autoptr(NvfmDomain) dom = NULL;

	g_assert_no_error(error);
	dom = nvfm_domxml_parse(out, &error);
	g_assert_no_error(error);
	g_assert_cmpstr(((NvfmDomVf *)g_ptr_array_index(nvfm_domain_get_vfs(dom), 0))->source, ==,
			"0000:5e:01.3");
	g_assert_cmpstr(((NvfmDomVf *)g_ptr_array_index(nvfm_domain_get_vfs(dom), 1))->source, ==,
			"0000:3b:00.2");
	g_assert_cmpstr(((NvfmDomVf *)g_ptr_array_index(nvfm_domain_get_vfs(dom), 0))->guest_address,
			==, "0000:07:00.0");
}

/* attributes the source address left out are added, in the tag's quotes */
static void test_rewrite_adds_missing(void)
{
	static const char in[] =
		"<domain><name>a</name>" UUID "<devices><hostdev type=\"pci\">"
		"<source><address bus=\"59\" slot=\"0\"/></source></hostdev></devices></domain>";
	g_autoptr(GError) error = NULL;
	g_autoptr(GHashTable) map = map_new("0000:3b:00.0", "0001:02:03.4", NULL);
	g_autofree char *out = nvfm_domxml_rewrite(in, map, &error);

	g_assert_no_error(error);
	g_assert_cmpstr(out, ==,
			"<domain><name>a</name>" UUID "<devices><hostdev type=\"pci\">"
			"<source><address domain=\"0x0001\" function=\"0x4\" bus=\"0x02\" "
			"slot=\"0x03\"/></source></hostdev></devices></domain>");
}

/* whitespace around '=' and odd layout survive; only the values change */
static void test_rewrite_layout(void)
{
	static const char in[] =
		"<?xml version=\"1.0\" encoding=\"UTF-8\"?>\r\n<!-- c -->\r\n<domain>"
		"<name>a</name>" UUID "<devices><hostdev\r\n type = 'pci' >"
		"<source><?pi x?><address\n\tdomain = \"0\" bus= '0x3b'\n slot ='0' function='2' "
		"/></source><![CDATA[<address bus='1'/>]]></hostdev></devices></domain>";
	g_autoptr(GError) error = NULL;
	g_autoptr(GHashTable) map = map_new("0000:3b:00.2", "0000:3c:00.5", NULL);
	g_autofree char *out = nvfm_domxml_rewrite(in, map, &error);
	g_autofree char *want = NULL;

	g_assert_no_error(error);
	want = replace_all(in, "domain = \"0\" bus= '0x3b'\n slot ='0' function='2'",
			   "domain = \"0x0000\" bus= '0x3c'\n slot ='0x00' function='0x5'");
	g_assert_cmpstr(out, ==, want);
}

static void test_rewrite_empty_map(void)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(GHashTable) map = map_new(NULL, NULL);
	g_autofree char *out = nvfm_domxml_rewrite(dom_xml, map, &error);
	g_autofree char *out2 = NULL;

	g_assert_no_error(error);
	g_assert_cmpstr(out, ==, dom_xml);
	out2 = nvfm_domxml_rewrite(dom_xml, NULL, &error);
	g_assert_no_error(error);
	g_assert_cmpstr(out2, ==, dom_xml);
}

static void expect_rewrite_error(const char *xml, GHashTable *map, int code, const char *needle)
{
	g_autoptr(GError) error = NULL;
	g_autofree char *out = nvfm_domxml_rewrite(xml, map, &error);

	g_assert_null(out);
	g_assert_error(error, NVFM_ERROR, code);
	if (!strstr(error->message, needle))
		g_error("'%s' lacks '%s'", error->message, needle);
}

static void test_rewrite_errors(void)
{
	g_autoptr(GHashTable) unknown = map_new("0000:3b:10.1", "0000:3c:00.1", NULL);
	g_autoptr(GHashTable) kinds = map_new("0000:3b:00.2", "emu:pfB-vf0", NULL);
	g_autoptr(GHashTable) kinds2 = map_new("emu:pfA-vf0", "0000:3b:00.3", NULL);
	g_autoptr(GHashTable) bad = map_new("0000:3b:00.2", "0000:3b:20.0", NULL);
	g_autoptr(GHashTable) inject = map_new("emu:pfA-vf0", "emu:x' evil='1", NULL);
	g_autoptr(GHashTable) ok = map_new("0000:3b:00.2", "0000:3c:00.2", NULL);

	/* the SR-IOV NIC's address is no hostdev VF */
	expect_rewrite_error(dom_xml, unknown, NVFM_ERROR_NOT_FOUND, "no VF 0000:3b:10.1");
	expect_rewrite_error(dom_xml, kinds, NVFM_ERROR_INVALID_ARG, "cannot replace VF");
	expect_rewrite_error(dom_xml, kinds2, NVFM_ERROR_INVALID_ARG, "cannot replace VF");
	expect_rewrite_error(dom_xml, bad, NVFM_ERROR_INVALID_ARG, "cannot replace VF");
	expect_rewrite_error(dom_xml, inject, NVFM_ERROR_INVALID_ARG, "cannot replace VF");
	expect_rewrite_error("<domain><name>a</name>", ok, NVFM_ERROR_INVALID_ARG,
			     "invalid domain XML: line 1");
}

/* qemu.conf's migrate_tls_force as libvirt reads it: the last assignment
 * counts, comments and other keys do not. */
static void test_tls_forced(void)
{
	static const struct {
		const char *text;
		gboolean forced;
	} cases[] = {
		{ "", FALSE },
		{ "#migrate_tls_force = 1\n", FALSE },
		{ "migrate_tls_force = 1\n", TRUE },
		{ "  migrate_tls_force=1  # yes\n", TRUE },
		{ "migrate_tls_force = 0\n", FALSE },
		{ "migrate_tls_force = 1\nmigrate_tls_force = 0\n", FALSE },
		{ "migrate_tls_force = 0\nmigrate_tls_force = 1", TRUE },
		{ "migrate_tls_force_x = 1\n", FALSE },
		{ "migrate_tls_x509_verify = 1\nmigrate_tls_force = 10\n", FALSE },
	};
	g_autofree char *dir = g_dir_make_tmp("nvfm-qconf-XXXXXX", NULL);
	g_autofree char *path = g_build_filename(dir, "qemu.conf", NULL);

	g_assert_false(nvfm_libvirt_migrate_tls_forced(path));
	for (guint i = 0; i < G_N_ELEMENTS(cases); i++) {
		g_assert_true(g_file_set_contents(path, cases[i].text, -1, NULL));
		if (nvfm_libvirt_migrate_tls_forced(path) != cases[i].forced)
			g_error("'%s': expected %d", cases[i].text, cases[i].forced);
	}
	nvfm_test_rm_rf(dir);
}

int main(int argc, char **argv)
{
	g_test_init(&argc, &argv, NULL);
	g_test_add_func("/domxml/parse", test_parse);
	g_test_add_func("/domxml/parse-minimal", test_parse_minimal);
	g_test_add_func("/domxml/parse-no-vfs", test_parse_no_vfs);
	g_test_add_func("/domxml/malformed", test_malformed);
	g_test_add_func("/domxml/metadata-prefix", test_metadata_prefix);
	g_test_add_func("/domxml/metadata-numa", test_metadata_numa);
	g_test_add_func("/domxml/metadata-virsh-set", test_metadata_virsh_set);
	g_test_add_func("/domxml/rewrite", test_rewrite);
	g_test_add_func("/domxml/rewrite-swap", test_rewrite_swap);
	g_test_add_func("/domxml/rewrite-adds-missing", test_rewrite_adds_missing);
	g_test_add_func("/domxml/rewrite-layout", test_rewrite_layout);
	g_test_add_func("/domxml/rewrite-empty-map", test_rewrite_empty_map);
	g_test_add_func("/domxml/rewrite-errors", test_rewrite_errors);
	g_test_add_func("/domxml/libvirt-tls-forced", test_tls_forced);
	return g_test_run();
}
