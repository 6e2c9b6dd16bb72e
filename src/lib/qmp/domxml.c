/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * libvirt domain XML: reading a domain's VFs and rewriting their sources.
 *
 * libxml2 parses and locates; the rewrite itself is a splice into the
 * original text. Serializing libxml2's tree would change what libvirt
 * wrote (quote style, the XML declaration, entity spellings), and a hook's
 * output should differ from its input only where it means to. The splice
 * finds the start tags of the elements to change by counting start tags
 * in document order, which matches libxml2's element order because
 * documents with a DOCTYPE (the only way elements could come from
 * elsewhere) are refused.
 */
#define G_LOG_DOMAIN "nvfm-domxml"

#include <limits.h>
#include <string.h>

#include <libxml/parser.h>
#include <libxml/tree.h>
#include <libxml/xmlerror.h>

#include "util/util-private.h"
#include "util/sysfs.h"

#define EMU_PREFIX "emu:"

struct _NvfmDomain {
	char *name;
	char *uuid;
	GPtrArray *vfs;
};

/* ---- small helpers ---------------------------------------------------- */

static void domxml_init(void)
{
	static gsize done;

	/* libxml2 2.9 wants this once before parsing from several threads */
	if (g_once_init_enter(&done)) {
		xmlInitParser();
		g_once_init_leave(&done, 1);
	}
}

void nvfm_dom_vf_free(NvfmDomVf *vf)
{
	if (!vf)
		return;
	g_free(vf->alias);
	g_free(vf->source);
	g_free(vf->guest_address);
	g_free(vf);
}

void nvfm_domain_free(NvfmDomain *dom)
{
	if (!dom)
		return;
	g_free(dom->name);
	g_free(dom->uuid);
	if (dom->vfs)
		g_ptr_array_unref(dom->vfs);
	g_free(dom);
}

const char *nvfm_domain_get_name(NvfmDomain *dom)
{
	return dom->name;
}

const char *nvfm_domain_get_uuid(NvfmDomain *dom)
{
	return dom->uuid;
}

GPtrArray *nvfm_domain_get_vfs(NvfmDomain *dom)
{
	return dom->vfs;
}

/* an emulated VF's source: what the one address parser takes as emu:NAME */
static gboolean emu_source_valid(const char *s)
{
	g_autoptr(NvfmAddress) a = s ? nvfm_address_parse(s, NULL) : NULL;

	return a && a->kind == NVFM_ADDR_EMU;
}

/*
 * A VF source in the one spelling the library compares: "emu:NAME" as is,
 * PCI addresses (optionally "vfio:"-prefixed, domain optional) as
 * "dddd:bb:dd.f". NULL when @s is neither.
 */
/* A hostdev's source as the document spells it: a PCI address, or an
 * emulated VF's emu:NAME; NULL for any other kind. */
static const char *source_of(const NvfmAddress *a)
{
	if (!a)
		return NULL;
	return a->kind == NVFM_ADDR_PCI ? a->pci : a->kind == NVFM_ADDR_EMU ? a->text : NULL;
}

/* The canonical spelling of a VF source given as text (the replacement
 * map's keys and values, from the caller or a peer), or NULL. */
static char *source_canonical(const char *s)
{
	g_autoptr(NvfmAddress) a = s ? nvfm_address_parse(s, NULL) : NULL;

	return g_strdup(source_of(a));
}

const NvfmDomVf *nvfm_domain_find_vf(NvfmDomain *dom, const NvfmAddress *source)
{
	const char *want = source_of(source);

	if (!want)
		return NULL;
	for (guint i = 0; i < dom->vfs->len; i++) {
		const NvfmDomVf *vf = g_ptr_array_index(dom->vfs, i);

		if (g_str_equal(vf->source, want))
			return vf;
	}
	return NULL;
}

static void set_invalid(GError **error, const char *fmt, ...) G_GNUC_PRINTF(2, 3);

static void set_invalid(GError **error, const char *fmt, ...)
{
	g_autofree char *msg = NULL;
	va_list ap;

	va_start(ap, fmt);
	msg = g_strdup_vprintf(fmt, ap);
	va_end(ap);
	/* quoted values come from the document: the reason stays one line */
	g_strdelimit(msg, "\r\n", ' ');
	g_set_error(error, NVFM_ERROR, NVFM_ERROR_INVALID_ARG, "invalid domain XML: %s", msg);
}

static gboolean is_elem(const xmlNode *n, const char *name)
{
	return n && n->type == XML_ELEMENT_NODE && !n->ns && g_str_equal((const char *)n->name, name);
}

static gboolean is_nvfm_elem(const xmlNode *n, const char *name)
{
	return n && n->type == XML_ELEMENT_NODE && n->ns && n->ns->href &&
	       g_str_equal((const char *)n->ns->href, NVFM_DOMXML_NS) &&
	       g_str_equal((const char *)n->name, name);
}

/*
 * An <nvfm:vf> in the <nvfm:vfs> list. "virsh metadata --set" puts only the
 * list's root element into the namespace, so unprefixed children count too.
 */
static gboolean is_list_vf(const xmlNode *n)
{
	return is_nvfm_elem(n, "vf") || is_elem(n, "vf");
}

static xmlNode *first_child(const xmlNode *parent, const char *name)
{
	for (xmlNode *c = parent ? parent->children : NULL; c; c = c->next)
		if (is_elem(c, name))
			return c;
	return NULL;
}

/* an attribute without namespace, as a g_malloc'ed string, or NULL */
static char *prop(const xmlNode *n, const char *name)
{
	xmlChar *v = xmlGetNoNsProp(n, (const xmlChar *)name);
	char *out;

	if (!v)
		return NULL;
	out = g_strdup((const char *)v);
	xmlFree(v);
	return out;
}

static char *text_of(const xmlNode *n)
{
	xmlChar *v = xmlNodeGetContent(n);
	char *out;

	if (!v)
		return g_strdup("");
	out = g_strdup((const char *)v);
	xmlFree(v);
	return out;
}

/* libvirt reads these numbers with base 0: "0x3b", "59", "073" */
static gboolean parse_num(const char *s, guint64 max, guint *out)
{
	guint64 v;
	char *end = NULL;

	if (!s || !*s || g_ascii_isspace(*s) || *s == '-' || *s == '+')
		return FALSE;
	errno = 0;
	v = g_ascii_strtoull(s, &end, 0);
	if (errno || !end || *end || v > max)
		return FALSE;
	*out = (guint)v;
	return TRUE;
}

/* the "dddd:bb:dd.f" of an <address domain= bus= slot= function=/> */
static char *pci_address_of(const xmlNode *addr)
{
	g_autofree char *d = prop(addr, "domain");
	g_autofree char *b = prop(addr, "bus");
	g_autofree char *s = prop(addr, "slot");
	g_autofree char *f = prop(addr, "function");
	guint dom = 0, bus, slot, fn = 0;

	if (d && !parse_num(d, 0xffff, &dom))
		return NULL;
	if (!parse_num(b, 0xff, &bus) || !parse_num(s, 0x1f, &slot))
		return NULL;
	if (f && !parse_num(f, 7, &fn))
		return NULL;
	return g_strdup_printf("%04x:%02x:%02x.%x", dom, bus, slot, fn);
}

/* "xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx" from the spellings libvirt takes */
static char *uuid_canonical(const char *in)
{
	char hex[33];
	guint n = 0;
	const char *p = in;

	while (g_ascii_isspace(*p))
		p++;
	for (; *p && !g_ascii_isspace(*p); p++) {
		if (*p == '-')
			continue;
		if (!g_ascii_isxdigit(*p) || n == 32)
			return NULL;
		hex[n++] = g_ascii_tolower(*p);
	}
	while (g_ascii_isspace(*p))
		p++;
	if (*p || n != 32)
		return NULL;
	hex[32] = '\0';
	return g_strdup_printf("%.8s-%.4s-%.4s-%.4s-%.12s", hex, hex + 8, hex + 12, hex + 16,
			       hex + 20);
}

/* ---- reading ---------------------------------------------------------- */

static void doc_free(xmlDoc *doc)
{
	if (doc)
		xmlFreeDoc(doc);
}

G_DEFINE_AUTOPTR_CLEANUP_FUNC(xmlDoc, doc_free)

/* the whole document, or NULL with a one-line reason */
static xmlDoc *doc_read(const char *xml, GError **error)
{
	xmlParserCtxt *ctxt;
	xmlDoc *doc;
	xmlNode *root;
	gsize len;

	domxml_init();
	if (!xml) {
		set_invalid(error, "no XML");
		return NULL;
	}
	len = strlen(xml);
	if (len == 0 || len > INT_MAX) {
		set_invalid(error, len ? "too large" : "empty document");
		return NULL;
	}
	ctxt = xmlNewParserCtxt();
	if (!ctxt) {
		g_set_error(error, NVFM_ERROR, NVFM_ERROR_FAILED, "cannot create an XML parser");
		return NULL;
	}
	/* no network, no entity substitution, nothing printed by libxml2 */
	doc = xmlCtxtReadMemory(ctxt, xml, (int)len, "domain.xml", NULL,
				XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING);
	if (!doc || !ctxt->wellFormed) {
		const xmlError *e = xmlCtxtGetLastError(ctxt);
		g_autofree char *msg = g_strdup(e && e->message ? e->message : "not well-formed");

		g_strdelimit(g_strstrip(msg), "\r\n\t", ' ');
		if (e && e->line > 0)
			set_invalid(error, "line %d: %s", e->line, msg);
		else
			set_invalid(error, "%s", msg);
		doc_free(doc);
		xmlFreeParserCtxt(ctxt);
		return NULL;
	}
	xmlFreeParserCtxt(ctxt);
	if (doc->intSubset || doc->extSubset) {
		set_invalid(error, "a DOCTYPE is not allowed");
		doc_free(doc);
		return NULL;
	}
	root = xmlDocGetRootElement(doc);
	if (!is_elem(root, "domain")) {
		set_invalid(error, "the root element is <%s>, not <domain>",
			    root ? (const char *)root->name : "?");
		doc_free(doc);
		return NULL;
	}
	return doc;
}

static xmlNode *metadata_vfs(xmlNode *root)
{
	xmlNode *md = first_child(root, "metadata");

	for (xmlNode *c = md ? md->children : NULL; c; c = c->next)
		if (is_nvfm_elem(c, "vfs"))
			return c;
	return NULL;
}

/* a <hostdev mode='subsystem' type='pci'> */
static gboolean is_pci_hostdev(const xmlNode *n)
{
	g_autofree char *mode = NULL;
	g_autofree char *type = NULL;

	if (!is_elem(n, "hostdev"))
		return FALSE;
	mode = prop(n, "mode");
	type = prop(n, "type");
	/* libvirt's default mode is subsystem */
	return (!mode || g_str_equal(mode, "subsystem")) && type && g_str_equal(type, "pci");
}

static xmlNode *hostdev_source_address(xmlNode *hostdev)
{
	return first_child(first_child(hostdev, "source"), "address");
}

static char *alias_of(xmlNode *n)
{
	xmlNode *a = first_child(n, "alias");

	return a ? prop(a, "name") : NULL;
}

static NvfmDomVf *parse_hostdev(xmlNode *hd, guint index, GError **error)
{
	g_autoptr(NvfmDomVf) vf = g_new0(NvfmDomVf, 1);
	xmlNode *src = hostdev_source_address(hd);
	g_autofree char *managed = prop(hd, "managed");
	g_autofree char *type = NULL;
	xmlNode *guest;

	vf->kind = NVFM_DOM_VF_PCI;
	vf->numa_node = -1;
	vf->alias = alias_of(hd);
	vf->managed = managed && g_str_equal(managed, "yes");
	vf->source = src ? pci_address_of(src) : NULL;
	if (!vf->source) {
		set_invalid(error, "PCI hostdev %s has no valid <source><address/>",
			    vf->alias ? vf->alias : "(no alias)");
		return NULL;
	}
	guest = first_child(hd, "address");
	type = guest ? prop(guest, "type") : NULL;
	if (type && g_str_equal(type, "pci")) {
		vf->guest_address = pci_address_of(guest);
		if (!vf->guest_address) {
			set_invalid(error, "PCI hostdev %s has an invalid guest address",
				    vf->alias ? vf->alias : vf->source);
			return NULL;
		}
	}
	g_debug("hostdev %u: %s -> guest %s", index, vf->source,
		vf->guest_address ? vf->guest_address : "(auto)");
	return g_steal_pointer(&vf);
}

static gboolean parse_amount(xmlNode *e, const char *attr, guint *out, GError **error)
{
	g_autofree char *v = prop(e, attr);

	*out = 0;
	if (!v)
		return TRUE;
	if (!parse_num(v, 0xffff, out)) {
		set_invalid(error, "<nvfm:vf %s='%s'> is not a number", attr, v);
		return FALSE;
	}
	return TRUE;
}

/* numa='N', the source VF's NUMA node: -1 when absent */
static gboolean parse_node(xmlNode *e, const char *attr, int *out, GError **error)
{
	g_autofree char *v = prop(e, attr);
	guint n;

	*out = -1;
	if (!v)
		return TRUE;
	if (!parse_num(v, 0xffff, &n)) {
		set_invalid(error, "<nvfm:vf %s='%s'> is not a NUMA node number", attr, v);
		return FALSE;
	}
	*out = (int)n;
	return TRUE;
}

static NvfmDomVf *dom_vf_by_alias(GPtrArray *vfs, const char *alias)
{
	for (guint i = 0; i < vfs->len; i++) {
		NvfmDomVf *vf = g_ptr_array_index(vfs, i);

		if (vf->kind == NVFM_DOM_VF_PCI && vf->alias && g_str_equal(vf->alias, alias))
			return vf;
	}
	return NULL;
}

/* the metadata entries: emulated VFs, and marks on PCI hostdevs */
static gboolean parse_metadata(xmlNode *root, GPtrArray *vfs, GError **error)
{
	xmlNode *list = metadata_vfs(root);
	GPtrArray *emu = g_ptr_array_new();

	for (xmlNode *e = list ? list->children : NULL; e; e = e->next) {
		g_autofree char *alias = NULL;
		g_autofree char *device = NULL;
		guint nvq, nvi;
		int numa_node;

		if (!is_list_vf(e))
			continue;
		alias = prop(e, "alias");
		device = prop(e, "device");
		if (!parse_amount(e, "nvq", &nvq, error) || !parse_amount(e, "nvi", &nvi, error) ||
		    !parse_node(e, "numa", &numa_node, error))
			goto fail;
		if (device) {
			NvfmDomVf *vf;

			if (!emu_source_valid(device)) {
				set_invalid(error, "<nvfm:vf device='%s'> is not an emulated VF (emu:NAME)",
					    device);
				goto fail;
			}
			vf = g_new0(NvfmDomVf, 1);
			vf->kind = NVFM_DOM_VF_EMU;
			vf->alias = g_steal_pointer(&alias);
			vf->source = g_steal_pointer(&device);
			vf->listed = TRUE;
			vf->nvq = nvq;
			vf->nvi = nvi;
			vf->numa_node = numa_node;
			g_ptr_array_add(emu, vf);
		} else if (alias) {
			NvfmDomVf *vf = dom_vf_by_alias(vfs, alias);

			/* inactive XML has no auto-assigned aliases: not an error */
			if (!vf) {
				g_debug("metadata names alias %s, which no PCI hostdev has", alias);
				continue;
			}
			vf->listed = TRUE;
			vf->nvq = nvq;
			vf->nvi = nvi;
			vf->numa_node = numa_node;
		} else {
			set_invalid(error, "an <nvfm:vf> has neither alias nor device");
			goto fail;
		}
	}
	for (guint i = 0; i < emu->len; i++)
		g_ptr_array_add(vfs, g_ptr_array_index(emu, i));
	g_ptr_array_free(emu, TRUE);
	return TRUE;
fail:
	g_ptr_array_set_free_func(emu, (GDestroyNotify)nvfm_dom_vf_free);
	g_ptr_array_free(emu, TRUE);
	return FALSE;
}

NvfmDomain *nvfm_domxml_parse(const char *xml, GError **error)
{
	g_autoptr(xmlDoc) doc = doc_read(xml, error);
	g_autoptr(NvfmDomain) dom = NULL;
	g_autoptr(GHashTable) seen = NULL;
	g_autofree char *uuid = NULL;
	xmlNode *root, *n, *devices;
	guint index = 0;

	if (!doc)
		return NULL;
	root = xmlDocGetRootElement(doc);
	dom = g_new0(NvfmDomain, 1);
	dom->vfs = g_ptr_array_new_with_free_func((GDestroyNotify)nvfm_dom_vf_free);

	n = first_child(root, "name");
	dom->name = n ? text_of(n) : NULL;
	if (!dom->name || !*dom->name) {
		set_invalid(error, "no <name>");
		return NULL;
	}
	n = first_child(root, "uuid");
	if (!n) {
		set_invalid(error, "domain %s has no <uuid>", dom->name);
		return NULL;
	}
	uuid = text_of(n);
	dom->uuid = uuid_canonical(uuid);
	if (!dom->uuid) {
		set_invalid(error, "domain %s has an invalid <uuid> '%s'", dom->name, uuid);
		return NULL;
	}

	devices = first_child(root, "devices");
	for (n = devices ? devices->children : NULL; n; n = n->next) {
		NvfmDomVf *vf;

		if (!is_pci_hostdev(n))
			continue;
		vf = parse_hostdev(n, index++, error);
		if (!vf)
			return NULL;
		g_ptr_array_add(dom->vfs, vf);
	}
	if (!parse_metadata(root, dom->vfs, error))
		return NULL;

	/* a source assigned twice would make the rewrite ambiguous */
	seen = g_hash_table_new(g_str_hash, g_str_equal);
	for (guint i = 0; i < dom->vfs->len; i++) {
		NvfmDomVf *vf = g_ptr_array_index(dom->vfs, i);

		if (!g_hash_table_add(seen, vf->source)) {
			set_invalid(error, "VF %s is assigned twice", vf->source);
			return NULL;
		}
	}
	g_debug("domain %s (%s): %u VFs", dom->name, dom->uuid, dom->vfs->len);
	return g_steal_pointer(&dom);
}

/* ---- rewriting -------------------------------------------------------- */

/* One attribute to set on the start tag of element number @ordinal. */
typedef struct {
	guint ordinal;
	char *qname;	/* the element's name as written, to cross-check */
	char *attr;
	char *value;
} Edit;

static void edit_free(Edit *e)
{
	g_free(e->qname);
	g_free(e->attr);
	g_free(e->value);
	g_free(e);
}

static gint edit_cmp(gconstpointer a, gconstpointer b)
{
	const Edit *x = *(Edit *const *)a;
	const Edit *y = *(Edit *const *)b;

	return x->ordinal < y->ordinal ? -1 : x->ordinal > y->ordinal;
}

static char *qname_of(const xmlNode *n)
{
	if (n->ns && n->ns->prefix)
		return g_strdup_printf("%s:%s", n->ns->prefix, n->name);
	return g_strdup((const char *)n->name);
}

static void add_edit(GPtrArray *edits, guint ordinal, const xmlNode *n, const char *attr,
		     char *value)
{
	Edit *e = g_new0(Edit, 1);

	e->ordinal = ordinal;
	e->qname = qname_of(n);
	e->attr = g_strdup(attr);
	e->value = value;
	g_ptr_array_add(edits, e);
}

/* pre-order numbering of the elements, as their start tags appear */
static void number_elements(xmlNode *n, guint *next, GHashTable *ordinals)
{
	for (; n; n = n->next) {
		if (n->type != XML_ELEMENT_NODE)
			continue;
		g_hash_table_insert(ordinals, n, GUINT_TO_POINTER(*next));
		(*next)++;
		number_elements(n->children, next, ordinals);
	}
}

/* the replacements, keyed and valued in canonical spelling */
static GHashTable *canonical_map(GHashTable *old_to_new, GError **error)
{
	g_autoptr(GHashTable) map = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, g_free);
	GHashTableIter it;
	gpointer k, v;

	if (!old_to_new)
		return g_steal_pointer(&map);
	g_hash_table_iter_init(&it, old_to_new);
	while (g_hash_table_iter_next(&it, &k, &v)) {
		char *ck = source_canonical(k);
		char *cv = source_canonical(v);

		if (!ck || !cv || g_str_has_prefix(ck, EMU_PREFIX) != g_str_has_prefix(cv, EMU_PREFIX)) {
			g_set_error(error, NVFM_ERROR, NVFM_ERROR_INVALID_ARG,
				    "cannot replace VF '%s' with '%s'", (const char *)k,
				    v ? (const char *)v : "(null)");
			g_free(ck);
			g_free(cv);
			return NULL;
		}
		g_hash_table_replace(map, ck, cv);
	}
	return g_steal_pointer(&map);
}

static void pci_edits(GPtrArray *edits, guint ordinal, const xmlNode *addr, const char *pci)
{
	unsigned d, b, s, f;

	/* canonical_map() only lets "dddd:bb:dd.f" through */
	if (sscanf(pci, "%x:%x:%x.%x", &d, &b, &s, &f) != 4)
		g_assert_not_reached();
	add_edit(edits, ordinal, addr, "domain", g_strdup_printf("0x%04x", d));
	add_edit(edits, ordinal, addr, "bus", g_strdup_printf("0x%02x", b));
	add_edit(edits, ordinal, addr, "slot", g_strdup_printf("0x%02x", s));
	add_edit(edits, ordinal, addr, "function", g_strdup_printf("0x%x", f));
}

/* what to change where; every key of @map must be used */
static GPtrArray *collect_edits(xmlDoc *doc, GHashTable *map, GError **error)
{
	g_autoptr(GPtrArray) edits = g_ptr_array_new_with_free_func((GDestroyNotify)edit_free);
	g_autoptr(GHashTable) ordinals = g_hash_table_new(g_direct_hash, g_direct_equal);
	g_autoptr(GHashTable) used = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
	xmlNode *root = xmlDocGetRootElement(doc);
	xmlNode *devices = first_child(root, "devices");
	xmlNode *list = metadata_vfs(root);
	GHashTableIter it;
	gpointer key;
	guint next = 0;

	number_elements(root, &next, ordinals);
	for (xmlNode *n = devices ? devices->children : NULL; n; n = n->next) {
		xmlNode *addr;
		g_autofree char *src = NULL;
		const char *repl;

		if (!is_pci_hostdev(n))
			continue;
		addr = hostdev_source_address(n);
		src = addr ? pci_address_of(addr) : NULL;
		if (!src) {
			set_invalid(error, "a PCI hostdev has no valid <source><address/>");
			return NULL;
		}
		repl = g_hash_table_lookup(map, src);
		if (!repl)
			continue;
		g_hash_table_add(used, g_strdup(src));
		pci_edits(edits, GPOINTER_TO_UINT(g_hash_table_lookup(ordinals, addr)), addr, repl);
	}
	for (xmlNode *e = list ? list->children : NULL; e; e = e->next) {
		g_autofree char *device = NULL;
		const char *repl;

		if (!is_list_vf(e))
			continue;
		device = prop(e, "device");
		if (!device || !(repl = g_hash_table_lookup(map, device)))
			continue;
		g_hash_table_add(used, g_strdup(device));
		add_edit(edits, GPOINTER_TO_UINT(g_hash_table_lookup(ordinals, e)), e, "device",
			 g_strdup(repl));
	}
	g_hash_table_iter_init(&it, map);
	while (g_hash_table_iter_next(&it, &key, NULL)) {
		if (!g_hash_table_contains(used, key)) {
			g_set_error(error, NVFM_ERROR, NVFM_ERROR_NOT_FOUND,
				    "the domain has no VF %s to replace", (const char *)key);
			return NULL;
		}
	}
	g_ptr_array_sort(edits, edit_cmp);
	return g_steal_pointer(&edits);
}

/*
 * A scanner for text libxml2 has already accepted as well-formed and
 * DOCTYPE-free: it only needs to tell markup kinds apart and find the
 * attributes of start tags.
 */
typedef struct {
	const char *s;
	gsize len;
	gsize pos;
} Scan;

static gboolean skip_past(Scan *sc, const char *end)
{
	const char *p = g_strstr_len(sc->s + sc->pos, sc->len - sc->pos, end);

	if (!p)
		return FALSE;
	sc->pos = (gsize)(p - sc->s) + strlen(end);
	return TRUE;
}

static gboolean is_xml_space(char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

static gboolean is_name_end(char c)
{
	return is_xml_space(c) || c == '/' || c == '>' || c == '=' || c == '\0';
}

/*
 * Advance to the next start tag; set @name_at/@name_len to its name.
 * The scanner is left just after the name.
 */
static gboolean next_start_tag(Scan *sc, gsize *name_at, gsize *name_len)
{
	while (sc->pos < sc->len) {
		const char *p = sc->s + sc->pos;

		if (*p != '<') {
			const char *lt = memchr(p, '<', sc->len - sc->pos);

			if (!lt)
				return FALSE;
			sc->pos = (gsize)(lt - sc->s);
			continue;
		}
		if (g_str_has_prefix(p, "<!--")) {
			if (!skip_past(sc, "-->"))
				return FALSE;
		} else if (g_str_has_prefix(p, "<![CDATA[")) {
			if (!skip_past(sc, "]]>"))
				return FALSE;
		} else if (g_str_has_prefix(p, "<?")) {
			if (!skip_past(sc, "?>"))
				return FALSE;
		} else if (p[1] == '!' || p[1] == '/') {
			/* end tags; "<!" other than the above cannot occur here */
			if (p[1] == '!')
				return FALSE;
			if (!skip_past(sc, ">"))
				return FALSE;
		} else {
			gsize i = sc->pos + 1;

			while (i < sc->len && !is_name_end(sc->s[i]))
				i++;
			*name_at = sc->pos + 1;
			*name_len = i - *name_at;
			sc->pos = i;
			return *name_len > 0;
		}
	}
	return FALSE;
}

typedef struct {
	gsize name_at, name_len;
	gsize value_at, value_len;	/* between the quotes */
	char quote;
} Attr;

/* The attributes of the start tag whose name the scanner just passed;
 * leaves the scanner after the tag. */
static gboolean scan_attrs(Scan *sc, GArray *attrs)
{
	g_array_set_size(attrs, 0);
	for (;;) {
		Attr a = { 0 };
		const char *q;

		while (sc->pos < sc->len && is_xml_space(sc->s[sc->pos]))
			sc->pos++;
		if (sc->pos >= sc->len)
			return FALSE;
		if (sc->s[sc->pos] == '>') {
			sc->pos++;
			return TRUE;
		}
		if (sc->s[sc->pos] == '/') {
			sc->pos += 2;
			return sc->pos <= sc->len;
		}
		a.name_at = sc->pos;
		while (sc->pos < sc->len && !is_name_end(sc->s[sc->pos]))
			sc->pos++;
		a.name_len = sc->pos - a.name_at;
		while (sc->pos < sc->len && is_xml_space(sc->s[sc->pos]))
			sc->pos++;
		if (sc->pos >= sc->len || sc->s[sc->pos] != '=')
			return FALSE;
		sc->pos++;
		while (sc->pos < sc->len && is_xml_space(sc->s[sc->pos]))
			sc->pos++;
		if (sc->pos >= sc->len || (sc->s[sc->pos] != '\'' && sc->s[sc->pos] != '"'))
			return FALSE;
		a.quote = sc->s[sc->pos++];
		q = memchr(sc->s + sc->pos, a.quote, sc->len - sc->pos);
		if (!q || a.name_len == 0)
			return FALSE;
		a.value_at = sc->pos;
		a.value_len = (gsize)(q - sc->s) - sc->pos;
		sc->pos = a.value_at + a.value_len + 1;
		g_array_append_val(attrs, a);
	}
}

static gboolean span_is(const char *s, gsize at, gsize len, const char *want)
{
	return strlen(want) == len && memcmp(s + at, want, len) == 0;
}

/* Splice @edits (sorted by ordinal) into @xml. */
static char *apply_edits(const char *xml, GPtrArray *edits, GError **error)
{
	g_autoptr(GString) out = g_string_sized_new(strlen(xml) + 64);
	g_autoptr(GArray) attrs = g_array_new(FALSE, TRUE, sizeof(Attr));
	Scan sc = { .s = xml, .len = strlen(xml), .pos = 0 };
	gsize copied = 0;
	guint ordinal = 0, i = 0;

	while (i < edits->len) {
		const Edit *e = g_ptr_array_index(edits, i);
		gsize name_at, name_len, insert_at;
		char quote = '\'';

		if (!next_start_tag(&sc, &name_at, &name_len))
			goto lost;
		if (ordinal++ != e->ordinal)
			continue;
		if (!span_is(xml, name_at, name_len, e->qname))
			goto lost;
		insert_at = name_at + name_len;
		if (!scan_attrs(&sc, attrs))
			goto lost;
		if (attrs->len)
			quote = g_array_index(attrs, Attr, 0).quote;

		/* all edits of this element; attrs are in text order, so
		 * replacements go out in text order too */
		{
			g_autoptr(GPtrArray) mine = g_ptr_array_new();
			g_autoptr(GString) added = g_string_new(NULL);

			while (i < edits->len && ((Edit *)g_ptr_array_index(edits, i))->ordinal == e->ordinal)
				g_ptr_array_add(mine, g_ptr_array_index(edits, i++));
			for (guint m = 0; m < mine->len; m++) {
				const Edit *me = g_ptr_array_index(mine, m);
				gboolean found = FALSE;

				for (guint a = 0; a < attrs->len; a++)
					if (span_is(xml, g_array_index(attrs, Attr, a).name_at,
						    g_array_index(attrs, Attr, a).name_len, me->attr))
						found = TRUE;
				if (!found)
					g_string_append_printf(added, " %s=%c%s%c", me->attr, quote,
							       me->value, quote);
			}
			g_string_append_len(out, xml + copied, insert_at - copied);
			g_string_append(out, added->str);
			copied = insert_at;
			for (guint a = 0; a < attrs->len; a++) {
				const Attr *at = &g_array_index(attrs, Attr, a);

				for (guint m = 0; m < mine->len; m++) {
					const Edit *me = g_ptr_array_index(mine, m);

					if (!span_is(xml, at->name_at, at->name_len, me->attr))
						continue;
					g_string_append_len(out, xml + copied, at->value_at - copied);
					g_string_append(out, me->value);
					copied = at->value_at + at->value_len;
					break;
				}
			}
		}
	}
	g_string_append(out, xml + copied);
	return g_string_free(g_steal_pointer(&out), FALSE);
lost:
	g_set_error(error, NVFM_ERROR, NVFM_ERROR_INVALID_ARG,
		    "invalid domain XML: cannot locate the element to rewrite in the text");
	return NULL;
}

char *nvfm_domxml_rewrite(const char *xml, GHashTable *old_to_new, GError **error)
{
	g_autoptr(xmlDoc) doc = doc_read(xml, error);
	g_autoptr(GHashTable) map = NULL;
	g_autoptr(GPtrArray) edits = NULL;

	if (!doc)
		return NULL;
	map = canonical_map(old_to_new, error);
	if (!map)
		return NULL;
	edits = collect_edits(doc, map, error);
	if (!edits)
		return NULL;
	g_debug("rewriting %u attributes", edits->len);
	return apply_edits(xml, edits, error);
}
