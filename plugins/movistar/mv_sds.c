#include "mv_sds.h"

#include <arpa/inet.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libxml/parser.h>
#include <libxml/tree.h>
#include <libxml/xmlerror.h>

#define MV_SDS_NS "urn:dvb:ipisdns:2006"
/* No network, no DTD loading, no entity substitution; errors are read
 * back with xmlGetLastError instead of printed. */
#define MV_SDS_PARSE_OPTIONS (XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING)
#define MV_WS " \t\r\n"

static int __attribute__((format(printf, 3, 4)))
mv_fail(char *err, size_t errlen, const char *fmt, ...)
{
    va_list ap;
    if (err == NULL || errlen == 0) return -1;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
    return -1;
}

/* ---- tree helpers ---------------------------------------------------------- */

/* An element called name in the SD&S namespace (or in none: a capture
 * that lost its xmlns should still read). */
static int
mv_is(const xmlNode *n, const char *name)
{
    if (n->type != XML_ELEMENT_NODE || strcmp((const char *)n->name, name) != 0) return 0;
    return n->ns == NULL || n->ns->href == NULL
           || strcmp((const char *)n->ns->href, MV_SDS_NS) == 0;
}

/* An element called name in any namespace (Genre's Name is TV-Anytime). */
static int
mv_is_any(const xmlNode *n, const char *name)
{
    return n->type == XML_ELEMENT_NODE && strcmp((const char *)n->name, name) == 0;
}

/* The first element called name among n and its following siblings. */
static xmlNode *
mv_next(xmlNode *n, const char *name)
{
    for (; n; n = n->next) {
        if (mv_is(n, name)) return n;
    }
    return NULL;
}

static xmlNode *
mv_child(xmlNode *parent, const char *name)
{
    return parent ? mv_next(parent->children, name) : NULL;
}

#define MV_EACH(c, parent, name) \
    for (xmlNode *c = mv_child(parent, name); c; c = mv_next(c->next, name))

/* A malloc'ed copy of s[0..n) with the characters of strip cut from both
 * ends; NULL when nothing is left (or out of memory). */
static char *
mv_trim_dup(const char *s, const char *strip)
{
    size_t b = 0, e = strlen(s);
    char *r;
    while (b < e && strchr(strip, s[b])) b++;
    while (e > b && strchr(strip, s[e - 1])) e--;
    if (b == e) return NULL;
    r = malloc(e - b + 1);
    if (r == NULL) return NULL;
    memcpy(r, s + b, e - b);
    r[e - b] = '\0';
    return r;
}

/* Attribute name of n, trimmed of white space; NULL when absent or blank. */
static char *
mv_attr(xmlNode *n, const char *name)
{
    xmlChar *v;
    char *r;
    if (n == NULL) return NULL;
    v = xmlGetProp(n, (const xmlChar *)name);
    if (v == NULL) return NULL;
    r = mv_trim_dup((const char *)v, MV_WS);
    xmlFree(v);
    return r;
}

/* Text content of n, trimmed of the characters of strip; NULL when absent
 * or blank. */
static char *
mv_text(xmlNode *n, const char *strip)
{
    xmlChar *v;
    char *r;
    if (n == NULL) return NULL;
    v = xmlNodeGetContent(n);
    if (v == NULL) return NULL;
    r = mv_trim_dup((const char *)v, strip);
    xmlFree(v);
    return r;
}

/* s as a whole number: "0x"-prefixed hex or decimal, at most max. */
static int
mv_uint(const char *s, unsigned long max, unsigned long *out)
{
    unsigned long v = 0;
    unsigned base = 10;
    size_t i = 0, digits = 0;

    if (s == NULL) return -1;
    if (s[0] == '0' && (s[1] == 'x' || s[1] == 'X')) {
        base = 16;
        i = 2;
    }
    for (; s[i]; i++, digits++) {
        unsigned d;
        char c = s[i];
        if (c >= '0' && c <= '9') d = (unsigned)(c - '0');
        else if (base == 16 && c >= 'a' && c <= 'f') d = (unsigned)(c - 'a' + 10);
        else if (base == 16 && c >= 'A' && c <= 'F') d = (unsigned)(c - 'A' + 10);
        else return -1;
        if (v > (max - d) / base) return -1;
        v = v * base + d;
    }
    if (digits == 0) return -1;
    *out = v;
    return 0;
}

/* Attribute name of n as a number in [min, max]; -1 when absent or not. */
static long
mv_attr_num(xmlNode *n, const char *name, unsigned long min, unsigned long max)
{
    unsigned long v;
    char *s = mv_attr(n, name);
    int rc = mv_uint(s, max, &v);
    free(s);
    return rc == 0 && v >= min ? (long)v : -1;
}

/* A multicast address as the SD&S gives it: an IPv4 or IPv6 literal that
 * fits in cap bytes with its NUL. */
static int
mv_addr_ok(const char *a, size_t cap)
{
    unsigned char buf[sizeof(struct in6_addr)];
    if (a == NULL || strlen(a) >= cap) return 0;
    return inet_pton(AF_INET, a, buf) == 1 || inet_pton(AF_INET6, a, buf) == 1;
}

/* The parsed document, its root checked to be ServiceDiscovery; NULL with
 * err set otherwise. what names the file in the messages. */
static xmlDoc *
mv_sds_read(const char *what, const char *xml, size_t len, char *err, size_t errlen)
{
    xmlDoc *doc;
    xmlNode *root;

    if (xml == NULL || len == 0) {
        mv_fail(err, errlen, "%s: empty", what);
        return NULL;
    }
    if (len > INT_MAX) {
        mv_fail(err, errlen, "%s: too large (%zu bytes)", what, len);
        return NULL;
    }
    xmlResetLastError();
    doc = xmlReadMemory(xml, (int)len, NULL, NULL, MV_SDS_PARSE_OPTIONS);
    if (doc == NULL) {
        const xmlError *e = xmlGetLastError();
        char msg[160];
        size_t n;
        snprintf(msg, sizeof(msg), "%s", e && e->message ? e->message : "unreadable");
        /* one line: the message ends with a newline and may quote input */
        for (n = 0; msg[n]; n++) {
            if ((unsigned char)msg[n] < 0x20 || msg[n] == 0x7f) msg[n] = ' ';
        }
        while (n > 0 && msg[n - 1] == ' ') msg[--n] = '\0';
        mv_fail(err, errlen, "%s: not XML: line %d: %s", what, e ? e->line : 0, msg);
        return NULL;
    }
    root = xmlDocGetRootElement(doc);
    if (root == NULL || !mv_is(root, "ServiceDiscovery")) {
        mv_fail(err, errlen, "%s: root element is <%.40s>, not ServiceDiscovery", what,
                root ? (const char *)root->name : "");
        xmlFreeDoc(doc);
        return NULL;
    }
    return doc;
}

/* ---- 1_0 ServiceProviderDiscovery ------------------------------------------ */

/* Whether DomainName is "DEM_<demarcation>.<anything>". */
static int
mv_dem_match(const char *dn, int demarcation)
{
    unsigned long v;
    char num[12];
    size_t i = 0;

    if (dn == NULL || strncmp(dn, "DEM_", 4) != 0) return 0;
    dn += 4;
    while (dn[i] >= '0' && dn[i] <= '9' && i < sizeof(num) - 1) {
        num[i] = dn[i];
        i++;
    }
    num[i] = '\0';
    if (dn[i] != '.' || mv_uint(num, INT_MAX, &v) != 0) return 0;
    return demarcation >= 0 && v == (unsigned long)demarcation;
}

int
mv_sds_provider(const char *xml, size_t len, int demarcation, char *addr, size_t addrlen,
                int *port, char *err, size_t errlen)
{
    xmlDoc *doc;
    int found = 0, rc = -1;

    if (addr && addrlen) addr[0] = '\0';
    if (port) *port = 0;
    if ((doc = mv_sds_read("1_0", xml, len, err, errlen)) == NULL) return -1;
    MV_EACH(spd, xmlDocGetRootElement(doc), "ServiceProviderDiscovery") {
        MV_EACH(sp, spd, "ServiceProvider") {
            char *dn = mv_attr(sp, "DomainName");
            int match = mv_dem_match(dn, demarcation);
            free(dn);
            if (!match) continue;
            found = 1;
            MV_EACH(off, sp, "Offering") {
                MV_EACH(push, off, "Push") {
                    char *a = mv_attr(push, "Address");
                    long p = mv_attr_num(push, "Port", 1, 65535);
                    if (p > 0 && mv_addr_ok(a, addrlen) && addr) {
                        memcpy(addr, a, strlen(a) + 1);
                        if (port) *port = (int)p;
                        rc = 0;
                    }
                    free(a);
                    if (rc == 0) goto done;
                }
            }
        }
    }
    if (found) {
        mv_fail(err, errlen, "1_0: DEM_%d has no usable Push Address/Port", demarcation);
    } else {
        mv_fail(err, errlen, "1_0: no ServiceProvider for DEM_%d", demarcation);
    }
done:
    xmlFreeDoc(doc);
    return rc;
}

/* ---- 2_0 BroadcastDiscovery ------------------------------------------------ */

static void
mv_service_clear(mv_service_t *sv)
{
    free(sv->id);
    free(sv->name);
    free(sv->short_name);
    free(sv->logo_uri);
    free(sv->genre);
    free(sv->replacement);
    memset(sv, 0, sizeof(*sv));
}

static char *
mv_strdup(const char *s)
{
    size_t n = strlen(s) + 1;
    char *r = malloc(n);
    if (r) memcpy(r, s, n);
    return r;
}

/* Fill sv from one SingleService. 1 when filled, 0 when it has no
 * ServiceName (skipped), -1 out of memory. */
static int
mv_service_read(xmlNode *ss, mv_service_t *sv)
{
    xmlNode *si, *genre, *repl;

    memset(sv, 0, sizeof(*sv));
    sv->lcn = -1;
    MV_EACH(ti, ss, "TextualIdentifier") {
        if ((sv->id = mv_attr(ti, "ServiceName")) != NULL) {
            sv->logo_uri = mv_attr(ti, "logoURI");
            break;
        }
    }
    if (sv->id == NULL) return 0;
    MV_EACH(loc, ss, "ServiceLocation") {
        MV_EACH(mc, loc, "IPMulticastAddress") {
            char *a = mv_attr(mc, "Address");
            if (mv_addr_ok(a, sizeof(sv->addr))) {
                long p = mv_attr_num(mc, "Port", 1, 65535);
                memcpy(sv->addr, a, strlen(a) + 1);
                sv->port = p > 0 ? (int)p : 0;
            }
            free(a);
            if (sv->addr[0]) goto located;
        }
    }
located:
    if ((si = mv_child(ss, "SI")) != NULL) {
        long t = mv_attr_num(si, "ServiceType", 0, 65535);
        sv->service_type = t > 0 ? (int)t : 0;
        sv->name = mv_text(mv_child(si, "Name"), MV_WS ".*");
        sv->short_name = mv_text(mv_child(si, "ShortName"), MV_WS);
        if ((genre = mv_child(si, "Genre")) != NULL) {
            for (xmlNode *c = genre->children; c; c = c->next) {
                if (mv_is_any(c, "Name") && (sv->genre = mv_text(c, MV_WS)) != NULL) break;
            }
        }
        if ((repl = mv_child(si, "ReplacementService")) != NULL) {
            MV_EACH(ti, repl, "TextualIdentifier") {
                if ((sv->replacement = mv_attr(ti, "ServiceName")) != NULL) break;
            }
        }
    }
    /* A service always has a display name: its id when SI says nothing. */
    if (sv->name == NULL && (sv->name = mv_strdup(sv->id)) == NULL) return -1;
    return 1;
}

int
mv_sds_services(const char *xml, size_t len, mv_services_t *out, char *err, size_t errlen)
{
    xmlDoc *doc;
    mv_services_t s = {NULL, 0};
    size_t cap = 0;
    int discovery = 0;

    out->v = NULL;
    out->n = 0;
    if ((doc = mv_sds_read("2_0", xml, len, err, errlen)) == NULL) return -1;
    MV_EACH(bd, xmlDocGetRootElement(doc), "BroadcastDiscovery") {
        discovery = 1;
        MV_EACH(list, bd, "ServiceList") {
            MV_EACH(ss, list, "SingleService") {
                mv_service_t sv;
                int rc = mv_service_read(ss, &sv);
                if (rc < 0) {
                    mv_service_clear(&sv);
                    goto oom;
                }
                if (rc == 0 || mv_sds_service(&s, sv.id) != NULL) {
                    mv_service_clear(&sv); /* nameless, or a duplicate */
                    continue;
                }
                if (s.n == cap) {
                    size_t ncap = cap ? cap * 2 : 64;
                    mv_service_t *v = realloc(s.v, ncap * sizeof(*v));
                    if (v == NULL) {
                        mv_service_clear(&sv);
                        goto oom;
                    }
                    s.v = v;
                    cap = ncap;
                }
                s.v[s.n++] = sv;
            }
        }
    }
    xmlFreeDoc(doc);
    if (!discovery) return mv_fail(err, errlen, "2_0: no BroadcastDiscovery");
    if (s.n == 0) return mv_fail(err, errlen, "2_0: no SingleService with a ServiceName");
    *out = s;
    return 0;
oom:
    xmlFreeDoc(doc);
    mv_sds_services_free(&s);
    return mv_fail(err, errlen, "2_0: out of memory");
}

void
mv_sds_services_free(mv_services_t *s)
{
    if (s == NULL) return;
    for (size_t i = 0; i < s->n; i++) mv_service_clear(&s->v[i]);
    free(s->v);
    s->v = NULL;
    s->n = 0;
}

mv_service_t *
mv_sds_service(const mv_services_t *s, const char *id)
{
    if (s == NULL || id == NULL) return NULL;
    for (size_t i = 0; i < s->n; i++) {
        if (s->v[i].id && strcmp(s->v[i].id, id) == 0) return &s->v[i];
    }
    return NULL;
}

/* ---- 5_0 PackageDiscovery -------------------------------------------------- */

/* The subscribed package names: packages split on '|', blanks dropped. */
typedef struct mv_pkgs_s {
    char *buf;
    char **name;
    int *known;
    size_t n;
} mv_pkgs_t;

static int
mv_pkgs_split(const char *packages, mv_pkgs_t *p)
{
    size_t max = 1;
    char *tok, *save = NULL;

    memset(p, 0, sizeof(*p));
    if ((p->buf = mv_strdup(packages)) == NULL) return -1;
    for (const char *c = packages; *c; c++) max += *c == '|';
    p->name = calloc(max, sizeof(*p->name));
    p->known = calloc(max, sizeof(*p->known));
    if (p->name == NULL || p->known == NULL) return -1;
    for (tok = strtok_r(p->buf, "|", &save); tok; tok = strtok_r(NULL, "|", &save)) {
        size_t e = strlen(tok);
        while (*tok && strchr(MV_WS, *tok)) tok++, e--;
        while (e > 0 && strchr(MV_WS, tok[e - 1])) tok[--e] = '\0';
        if (e == 0) continue;
        p->name[p->n++] = tok;
    }
    return 0;
}

static void
mv_pkgs_free(mv_pkgs_t *p)
{
    free(p->buf);
    free(p->name);
    free(p->known);
}

/* Whether package name is subscribed (and note that 5_0 knows it). */
static int
mv_pkgs_match(mv_pkgs_t *p, const char *name)
{
    int hit = 0;
    for (size_t i = 0; i < p->n; i++) {
        if (strcmp(p->name[i], name) == 0) p->known[i] = hit = 1;
    }
    return hit;
}

/* Give the services of s that package pkg lists their LCN. */
static void
mv_pkg_apply(xmlNode *pkg, mv_services_t *s)
{
    MV_EACH(svc, pkg, "Service") {
        char *id = NULL, *lcn;
        unsigned long v;
        mv_service_t *sv;
        for (xmlNode *c = svc->children; c && id == NULL; c = c->next) {
            if (mv_is(c, "TextualID") || mv_is(c, "TextualIdentifier")) {
                id = mv_attr(c, "ServiceName");
            }
        }
        lcn = mv_text(mv_child(svc, "LogicalChannelNumber"), MV_WS);
        if (id && mv_uint(lcn, INT_MAX, &v) == 0 && (sv = mv_sds_service(s, id)) != NULL) {
            sv->lcn = (int)v;
        }
        free(id);
        free(lcn);
    }
}

int
mv_sds_packages(const char *xml, size_t len, const char *packages, mv_services_t *s,
                int *matched, char *err, size_t errlen)
{
    xmlDoc *doc;
    xmlNode *root;
    mv_pkgs_t p;
    int all, known = 0;
    char *trimmed;

    if (matched) *matched = 0;
    if ((doc = mv_sds_read("5_0", xml, len, err, errlen)) == NULL) return -1;
    root = xmlDocGetRootElement(doc);
    if (mv_child(root, "PackageDiscovery") == NULL) {
        xmlFreeDoc(doc);
        return mv_fail(err, errlen, "5_0: no PackageDiscovery");
    }
    trimmed = mv_trim_dup(packages ? packages : "", MV_WS);
    all = trimmed && strcmp(trimmed, "ALL") == 0;
    free(trimmed);
    if (mv_pkgs_split(packages ? packages : "", &p) != 0) {
        mv_pkgs_free(&p);
        xmlFreeDoc(doc);
        return mv_fail(err, errlen, "5_0: out of memory");
    }
    for (size_t i = 0; s && i < s->n; i++) s->v[i].lcn = -1;
    MV_EACH(pd, root, "PackageDiscovery") {
        MV_EACH(pkg, pd, "Package") {
            char *name = mv_text(mv_child(pkg, "PackageName"), MV_WS);
            int sub;
            if (name == NULL) continue;
            if (all) {
                /* every name 5_0 knows counts once */
                int seen = 0;
                for (xmlNode *q = mv_child(pd, "Package"); q && q != pkg && !seen;
                     q = mv_next(q->next, "Package")) {
                    char *qn = mv_text(mv_child(q, "PackageName"), MV_WS);
                    seen = qn && strcmp(qn, name) == 0;
                    free(qn);
                }
                known += !seen;
                sub = 1;
            } else {
                sub = mv_pkgs_match(&p, name);
            }
            free(name);
            if (sub && s) mv_pkg_apply(pkg, s);
        }
    }
    if (!all) {
        for (size_t i = 0; i < p.n; i++) {
            /* a name given twice counts once */
            int dup = 0;
            for (size_t j = 0; j < i && !dup; j++) dup = strcmp(p.name[i], p.name[j]) == 0;
            known += p.known[i] && !dup;
        }
    }
    if (matched) *matched = known;
    mv_pkgs_free(&p);
    xmlFreeDoc(doc);
    return 0;
}

/* ---- 6_0 BCGDiscovery ------------------------------------------------------ */

/* N of "EPG_N.<domain>" or "EPG_N_BIN.<domain>"; -1 otherwise. */
static int
mv_epg_source_day(const char *src)
{
    char num[5];
    size_t i = 0;
    unsigned long v;

    if (src == NULL || strncmp(src, "EPG_", 4) != 0) return -1;
    src += 4;
    while (src[i] >= '0' && src[i] <= '9') {
        if (i == sizeof(num) - 1) return -1;
        num[i] = src[i];
        i++;
    }
    num[i] = '\0';
    src += i;
    if (strncmp(src, "_BIN", 4) == 0) src += 4;
    if (src[0] != '.' || src[1] == '\0' || mv_uint(num, 9999, &v) != 0) return -1;
    return (int)v;
}

static int
mv_is_payload_f1(xmlNode *pl)
{
    return mv_attr_num(pl, "Id", 0, 0xff) == 0xf1;
}

/* Read one DVBSTP/DVBBINSTP entry into d. 1 when it is an EPG day, 0 when
 * not (skipped), -1 out of memory. */
static int
mv_epg_day_read(xmlNode *e, mv_epg_day_t *d)
{
    char *src = mv_attr(e, "Source"), *a;
    long port;
    size_t n = 0;

    memset(d, 0, sizeof(*d));
    d->day = mv_epg_source_day(src);
    free(src);
    if (d->day < 0) return 0;
    a = mv_attr(e, "Address");
    port = mv_attr_num(e, "Port", 1, 65535);
    if (!mv_addr_ok(a, sizeof(d->addr)) || port < 0) {
        free(a);
        return 0;
    }
    memcpy(d->addr, a, strlen(a) + 1);
    free(a);
    d->port = (int)port;
    MV_EACH(pl, e, "PayloadId") {
        if (!mv_is_payload_f1(pl)) continue;
        MV_EACH(seg, pl, "Segment") n++;
    }
    if (n == 0) return 1;
    d->segments = malloc(n * sizeof(*d->segments));
    d->versions = malloc(n * sizeof(*d->versions));
    if (d->segments == NULL || d->versions == NULL) return -1;
    MV_EACH(pl, e, "PayloadId") {
        if (!mv_is_payload_f1(pl)) continue;
        MV_EACH(seg, pl, "Segment") {
            long id = mv_attr_num(seg, "ID", 0, 0xffff);
            long ver = mv_attr_num(seg, "Version", 0, 0xff);
            if (id < 0 || ver < 0) continue;
            d->segments[d->nsegments] = (uint16_t)id;
            d->versions[d->nsegments] = (uint8_t)ver;
            d->nsegments++;
        }
    }
    return 1;
}

static void
mv_epg_day_clear(mv_epg_day_t *d)
{
    free(d->segments);
    free(d->versions);
    d->segments = NULL;
    d->versions = NULL;
    d->nsegments = 0;
}

static int
mv_epg_day_cmp(const void *a, const void *b)
{
    const mv_epg_day_t *x = a, *y = b;
    return (x->day > y->day) - (x->day < y->day);
}

int
mv_sds_epg_days(const char *xml, size_t len, mv_epg_days_t *out, char *err, size_t errlen)
{
    xmlDoc *doc;
    mv_epg_days_t r = {NULL, 0};
    size_t cap = 0;
    int bcg = 0;

    out->v = NULL;
    out->n = 0;
    if ((doc = mv_sds_read("6_0", xml, len, err, errlen)) == NULL) return -1;
    MV_EACH(disc, xmlDocGetRootElement(doc), "BCGDiscovery") {
        MV_EACH(b, disc, "BCG") {
            char *id = mv_attr(b, "Id");
            int epg = id && strcmp(id, "EPG") == 0;
            free(id);
            if (!epg) continue; /* the p_f one, or anything else */
            bcg = 1;
            MV_EACH(tm, b, "TransportMode") {
                for (xmlNode *e = tm->children; e; e = e->next) {
                    mv_epg_day_t d;
                    int rc, dup = 0;
                    if (!mv_is(e, "DVBSTP") && !mv_is(e, "DVBBINSTP")) continue;
                    rc = mv_epg_day_read(e, &d);
                    if (rc < 0) {
                        mv_epg_day_clear(&d);
                        goto oom;
                    }
                    for (size_t i = 0; i < r.n && !dup; i++) dup = r.v[i].day == d.day;
                    if (rc == 0 || dup) {
                        mv_epg_day_clear(&d); /* keep the first of a day */
                        continue;
                    }
                    if (r.n == cap) {
                        size_t ncap = cap ? cap * 2 : 8;
                        mv_epg_day_t *v = realloc(r.v, ncap * sizeof(*v));
                        if (v == NULL) {
                            mv_epg_day_clear(&d);
                            goto oom;
                        }
                        r.v = v;
                        cap = ncap;
                    }
                    r.v[r.n++] = d;
                }
            }
        }
    }
    xmlFreeDoc(doc);
    if (!bcg) return mv_fail(err, errlen, "6_0: no BCG with Id \"EPG\"");
    if (r.n == 0) {
        free(r.v);
        return mv_fail(err, errlen, "6_0: the EPG BCG lists no EPG_<n> source");
    }
    qsort(r.v, r.n, sizeof(*r.v), mv_epg_day_cmp);
    *out = r;
    return 0;
oom:
    xmlFreeDoc(doc);
    mv_sds_epg_days_free(&r);
    return mv_fail(err, errlen, "6_0: out of memory");
}

void
mv_sds_epg_days_free(mv_epg_days_t *d)
{
    if (d == NULL) return;
    for (size_t i = 0; i < d->n; i++) mv_epg_day_clear(&d->v[i]);
    free(d->v);
    d->v = NULL;
    d->n = 0;
}
