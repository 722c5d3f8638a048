/* Movistar parsers: DVB-STP sections and reassembly, the SD&S XML of the
 * Madrid 2014 capture (tests/data/movistar-sds-2014), hand-built binary EPG
 * blobs, and appserver replies about cloud recordings. */
#include <string.h>

#include "mv_cloud.h"
#include "mv_dvbstp.h"
#include "mv_epg.h"
#include "mv_sds.h"
#include "sg_test.h"

#ifndef MV_FIXTURE_DIR
#error "MV_FIXTURE_DIR must name tests/data/movistar-sds-2014"
#endif

/* ---- fixtures --------------------------------------------------------------- */

/* The whole fixture file in a malloc'ed buffer (NUL-terminated for
 * convenience, *len excludes it); NULL counts as a failure. */
static char *
fixture(const char *name, size_t *len)
{
    char path[512];
    FILE *f;
    char *buf = NULL;
    long n;

    snprintf(path, sizeof(path), "%s/%s", getenv("MV_FIXTURE_DIR") ? getenv("MV_FIXTURE_DIR")
                                                                   : MV_FIXTURE_DIR, name);
    if ((f = fopen(path, "rb")) == NULL) {
        SG_FAIL("cannot open %s: %s", path, strerror(errno));
        return NULL;
    }
    if (fseek(f, 0, SEEK_END) == 0 && (n = ftell(f)) > 0 && fseek(f, 0, SEEK_SET) == 0
        && (buf = malloc((size_t)n + 1)) != NULL && fread(buf, 1, (size_t)n, f) == (size_t)n) {
        buf[n] = '\0';
        *len = (size_t)n;
    } else {
        SG_FAIL("cannot read %s", path);
        free(buf);
        buf = NULL;
    }
    fclose(f);
    return buf;
}

#define F_1_0 "entrypoint-239.0.2.129-1_0.xml"
#define F_2_0 "madrid-239.0.2.154-2_0.xml"
#define F_5_0 "madrid-239.0.2.154-5_0.xml"
#define F_6_0 "madrid-239.0.2.154-6_0.xml"

#define CHECK_HAS(hay, needle)                                                      \
    do {                                                                            \
        const char *_h = (hay);                                                     \
        if (strstr(_h, (needle)) == NULL)                                           \
            SG_FAIL("\"%s\" does not contain \"%s\"", _h, (needle));                \
    } while (0)

/* ---- SD&S: 1_0 -------------------------------------------------------------- */

static void
test_sds_provider(void)
{
    size_t len;
    char *xml = fixture(F_1_0, &len);
    char addr[48], err[256];
    int port = -1;

    if (xml == NULL) return;
    CHECK_INT(mv_sds_provider(xml, len, 19, addr, sizeof(addr), &port, err, sizeof(err)), 0);
    CHECK_STR(addr, "239.0.2.154");
    CHECK_INT(port, 3937);
    CHECK_INT(mv_sds_provider(xml, len, 13, addr, sizeof(addr), &port, err, sizeof(err)), 0);
    CHECK_STR(addr, "239.0.2.150");
    CHECK_INT(mv_sds_provider(xml, len, 1, addr, sizeof(addr), &port, err, sizeof(err)), 0);
    CHECK_STR(addr, "239.0.2.140");
    /* DEM_1 must not match DEM_10 or DEM_19, nor 3 match DEM_36... */
    CHECK_INT(mv_sds_provider(xml, len, 3, addr, sizeof(addr), &port, err, sizeof(err)), -1);
    CHECK_HAS(err, "1_0");
    CHECK_HAS(err, "DEM_3");
    CHECK_STR(addr, "");
    CHECK_INT(port, 0);
    /* ...and an absent one is named */
    CHECK_INT(mv_sds_provider(xml, len, 99, addr, sizeof(addr), &port, err, sizeof(err)), -1);
    CHECK_STR(err, "1_0: no ServiceProvider for DEM_99");
    /* 2_0 is XML but has no ServiceProvider at all */
    free(xml);
    if ((xml = fixture(F_2_0, &len)) == NULL) return;
    CHECK_INT(mv_sds_provider(xml, len, 19, addr, sizeof(addr), &port, err, sizeof(err)), -1);
    CHECK_STR(err, "1_0: no ServiceProvider for DEM_19");
    free(xml);
}

static void
test_sds_provider_odd(void)
{
    static const char doc[] =
        "<ServiceDiscovery xmlns='urn:dvb:ipisdns:2006'><ServiceProviderDiscovery>"
        "<ServiceProvider DomainName='DEM_19.x'><Offering><Push Address='not-an-ip' "
        "Port='3937'/></Offering></ServiceProvider>"
        "<ServiceProvider DomainName='DEM_7.x'><Offering><Push Address='239.1.1.1' "
        "Port='70000'/><Push Address='239.1.1.2' Port='4000'/></Offering></ServiceProvider>"
        "</ServiceProviderDiscovery></ServiceDiscovery>";
    char addr[48], small[8], err[256];
    int port;

    CHECK_INT(mv_sds_provider(doc, strlen(doc), 19, addr, sizeof(addr), &port, err, sizeof(err)),
              -1);
    CHECK_STR(err, "1_0: DEM_19 has no usable Push Address/Port");
    /* a Push with a bad port is passed over for the next one */
    CHECK_INT(mv_sds_provider(doc, strlen(doc), 7, addr, sizeof(addr), &port, err, sizeof(err)),
              0);
    CHECK_STR(addr, "239.1.1.2");
    CHECK_INT(port, 4000);
    /* an address that does not fit the caller's buffer is refused */
    CHECK_INT(mv_sds_provider(doc, strlen(doc), 7, small, sizeof(small), &port, err, sizeof(err)),
              -1);
}

/* ---- SD&S: 2_0 -------------------------------------------------------------- */

static void
test_sds_services(void)
{
    size_t len;
    char *xml = fixture(F_2_0, &len);
    char err[256];
    mv_services_t s;
    mv_service_t *sv;
    size_t with_repl = 0, without_addr = 0;

    if (xml == NULL) return;
    CHECK_INT(mv_sds_services(xml, len, &s, err, sizeof(err)), 0);
    CHECK_INT(s.n, 246);
    CHECK_STR(s.v[0].id, "58"); /* document order */
    CHECK_STR(s.v[1].id, "59");
    CHECK_STR(s.v[s.n - 1].id, "2503");
    for (size_t i = 0; i < s.n; i++) {
        with_repl += s.v[i].replacement != NULL;
        without_addr += s.v[i].addr[0] == '\0';
        CHECK_INT(s.v[i].lcn, -1);
    }
    CHECK_INT(with_repl, 79);
    CHECK_INT(without_addr, 0);

    sv = mv_sds_service(&s, "58");
    CHECK(sv != NULL);
    if (sv) {
        CHECK_STR(sv->name, "Telemadrid");
        CHECK_STR(sv->short_name, "TMAD");
        CHECK_STR(sv->addr, "239.0.0.25");
        CHECK_INT(sv->port, 8208);
        CHECK_STR(sv->logo_uri, "MAY_1/imSer/58.jpg");
        CHECK_STR(sv->genre, "Programas"); /* urn:Name, TV-Anytime namespace */
        CHECK(sv->replacement == NULL);
        CHECK_INT(sv->service_type, 1);
    }
    /* La 1 HD takes its EPG from La 1 and has no logo */
    sv = mv_sds_service(&s, "2543");
    CHECK(sv != NULL);
    if (sv) {
        CHECK_STR(sv->name, "La 1 HD");
        CHECK_STR(sv->replacement, "1");
        CHECK(sv->logo_uri == NULL);
        CHECK_INT(sv->service_type, 25);
        CHECK_STR(sv->genre, "Ocio y cultura");
    }
    sv = mv_sds_service(&s, "1825");
    CHECK(sv != NULL);
    if (sv) {
        CHECK_STR(sv->name, "Cuatro HD");
        CHECK_STR(sv->replacement, "5");
        CHECK_STR(sv->addr, "239.0.0.177");
    }
    /* an IPMulticastAddress with a MetaStream child still gives its address */
    sv = mv_sds_service(&s, "2663");
    CHECK(sv != NULL);
    if (sv) {
        CHECK_STR(sv->addr, "239.0.5.248");
        CHECK_INT(sv->port, 8208);
        CHECK_STR(sv->replacement, "2466");
    }
    /* names are trimmed of dots (and spaces and asterisks) */
    sv = mv_sds_service(&s, "2269");
    CHECK(sv != NULL);
    if (sv) CHECK_STR(sv->name, "ETB Sat");
    sv = mv_sds_service(&s, "2443");
    CHECK(sv != NULL);
    if (sv) CHECK_STR(sv->name, "C+1 HD. Loc. Pub");
    sv = mv_sds_service(&s, "2275");
    CHECK(sv != NULL);
    if (sv) CHECK_STR(sv->name, "Canal Sur Andalucía"); /* UTF-8 as is */
    CHECK(mv_sds_service(&s, "4455") == NULL);
    CHECK(mv_sds_service(&s, NULL) == NULL);
    mv_sds_services_free(&s);
    CHECK(s.v == NULL && s.n == 0);
    free(xml);
}

/* Element names, not positions: reordered children, prefixed namespace,
 * missing pieces. */
static void
test_sds_services_odd(void)
{
    static const char doc[] =
        "<?xml version='1.0'?>\n"
        "<d:ServiceDiscovery xmlns:d='urn:dvb:ipisdns:2006' xmlns:t='urn:tva:metadata:2007'>"
        "<d:BroadcastDiscovery><d:ServiceList>"
        /* no location at all, SI before TextualIdentifier */
        "<d:SingleService><d:SI ServiceType='22'><d:Description>x</d:Description>"
        "<d:Name> ** Canal Uno... </d:Name><d:Genre><t:Name> Cine </t:Name></d:Genre></d:SI>"
        "<d:TextualIdentifier ServiceName='100'/></d:SingleService>"
        /* empty ServiceLocation, replacement pointing nowhere known */
        "<d:SingleService><d:ServiceLocation/><d:TextualIdentifier ServiceName='101'/>"
        "<d:SI><d:ReplacementService><d:TextualIdentifier ServiceName='4401'/>"
        "</d:ReplacementService></d:SI></d:SingleService>"
        /* no ServiceName: skipped */
        "<d:SingleService><d:ServiceLocation><d:IPMulticastAddress Address='239.0.0.9' "
        "Port='8208'/></d:ServiceLocation><d:TextualIdentifier logoURI='x.jpg'/>"
        "</d:SingleService>"
        /* a duplicate of 100: the first one stays */
        "<d:SingleService><d:ServiceLocation><d:IPMulticastAddress Address='239.0.0.8' "
        "Port='8208'/></d:ServiceLocation><d:TextualIdentifier ServiceName='100'/>"
        "</d:SingleService>"
        /* a bad address, then a good one; a bad port */
        "<d:SingleService><d:ServiceLocation><d:IPMulticastAddress Address='239.0.0.300' "
        "Port='8208'/><d:IPMulticastAddress Address='239.0.0.7' Port='0'/>"
        "</d:ServiceLocation><d:TextualIdentifier ServiceName='102'/></d:SingleService>"
        "</d:ServiceList></d:BroadcastDiscovery></d:ServiceDiscovery>";
    char err[256];
    mv_services_t s;

    CHECK_INT(mv_sds_services(doc, strlen(doc), &s, err, sizeof(err)), 0);
    CHECK_INT(s.n, 3);
    if (s.n == 3) {
        CHECK_STR(s.v[0].id, "100");
        CHECK_STR(s.v[0].name, "Canal Uno");
        CHECK_STR(s.v[0].genre, "Cine");
        CHECK_INT(s.v[0].service_type, 22);
        CHECK_STR(s.v[0].addr, "");
        CHECK_INT(s.v[0].port, 0);
        CHECK(s.v[0].short_name == NULL);
        CHECK(s.v[0].logo_uri == NULL);
        CHECK_STR(s.v[1].id, "101");
        CHECK_STR(s.v[1].name, "101"); /* no SI/Name: the id */
        CHECK_STR(s.v[1].addr, "");
        CHECK_STR(s.v[1].replacement, "4401");
        CHECK(mv_sds_service(&s, s.v[1].replacement) == NULL); /* a dangling reference */
        CHECK_STR(s.v[2].id, "102");
        CHECK_STR(s.v[2].addr, "239.0.0.7");
        CHECK_INT(s.v[2].port, 0);
    }
    mv_sds_services_free(&s);
}

/* ---- SD&S: 5_0 -------------------------------------------------------------- */

static size_t
subscribed(const mv_services_t *s)
{
    size_t n = 0;
    for (size_t i = 0; i < s->n; i++) n += s->v[i].lcn >= 0;
    return n;
}

static int
lcn_of(const mv_services_t *s, const char *id)
{
    mv_service_t *sv = mv_sds_service(s, id);
    return sv ? sv->lcn : -100;
}

static void
test_sds_packages(void)
{
    size_t len2, len5;
    char *x2 = fixture(F_2_0, &len2), *x5 = fixture(F_5_0, &len5);
    char err[256];
    mv_services_t s;
    int matched = -1;

    if (x2 == NULL || x5 == NULL || mv_sds_services(x2, len2, &s, err, sizeof(err)) != 0) {
        SG_FAIL("fixtures");
        free(x2);
        free(x5);
        return;
    }
    CHECK_INT(mv_sds_packages(x5, len5, "UTX00", &s, &matched, err, sizeof(err)), 0);
    CHECK_INT(matched, 1);
    CHECK_INT(lcn_of(&s, "58"), 7);
    CHECK_INT(lcn_of(&s, "1"), 1);
    CHECK_INT(lcn_of(&s, "597"), 0); /* LCN 0 is a channel too */
    CHECK_INT(lcn_of(&s, "2543"), -1); /* La 1 HD is not in UTX00 */
    CHECK_INT(subscribed(&s), 85);

    CHECK_INT(mv_sds_packages(x5, len5, "ALL", &s, &matched, err, sizeof(err)), 0);
    CHECK_INT(matched, 100);
    CHECK_INT(subscribed(&s), 180);
    CHECK_INT(lcn_of(&s, "58"), 7);
    CHECK_INT(lcn_of(&s, "1825"), 4);

    /* unknown names are ignored, blanks and repeats too */
    CHECK_INT(mv_sds_packages(x5, len5, "UTX00| NOPE |UTX6C||UTX00", &s, &matched, err,
                              sizeof(err)), 0);
    CHECK_INT(matched, 2);
    CHECK_INT(subscribed(&s), 102);
    CHECK_INT(lcn_of(&s, "1825"), 4);

    /* a second call starts from scratch */
    CHECK_INT(mv_sds_packages(x5, len5, "UTX0I", &s, &matched, err, sizeof(err)), 0);
    CHECK_INT(matched, 1);
    CHECK_INT(subscribed(&s), 11);
    CHECK_INT(lcn_of(&s, "58"), -1);
    CHECK_INT(lcn_of(&s, "2604"), 16);
    CHECK_INT(lcn_of(&s, "2503"), 773);

    CHECK_INT(mv_sds_packages(x5, len5, "UTXAU", &s, &matched, err, sizeof(err)), 0);
    CHECK_INT(matched, 0);
    CHECK_INT(subscribed(&s), 0);
    CHECK_INT(mv_sds_packages(x5, len5, NULL, &s, NULL, err, sizeof(err)), 0);
    CHECK_INT(subscribed(&s), 0);

    /* not 5_0 */
    CHECK_INT(mv_sds_packages(x2, len2, "ALL", &s, &matched, err, sizeof(err)), -1);
    CHECK_STR(err, "5_0: no PackageDiscovery");
    mv_sds_services_free(&s);
    free(x2);
    free(x5);
}

static void
test_sds_packages_order(void)
{
    static const char svc[] =
        "<ServiceDiscovery xmlns='urn:dvb:ipisdns:2006'><BroadcastDiscovery><ServiceList>"
        "<SingleService><TextualIdentifier ServiceName='58'/></SingleService>"
        "<SingleService><TextualIdentifier ServiceName='59'/></SingleService>"
        "</ServiceList></BroadcastDiscovery></ServiceDiscovery>";
    static const char pkg[] =
        "<ServiceDiscovery xmlns='urn:dvb:ipisdns:2006'><PackageDiscovery>"
        "<Package Id='1'><PackageName>A</PackageName>"
        "<Service><TextualID ServiceName='58'/><LogicalChannelNumber>7</LogicalChannelNumber>"
        "</Service><Service><TextualID ServiceName='59'/>"
        "<LogicalChannelNumber>x</LogicalChannelNumber></Service>"
        "<Service><TextualID ServiceName='999'/><LogicalChannelNumber>9</LogicalChannelNumber>"
        "</Service></Package>"
        "<Package Id='2'><Service><LogicalChannelNumber>70</LogicalChannelNumber>"
        "<TextualID ServiceName='58'/></Service><PackageName>B</PackageName></Package>"
        "<Package Id='3'><PackageName>A</PackageName></Package>"
        "</PackageDiscovery></ServiceDiscovery>";
    char err[256];
    mv_services_t s;
    int matched;

    if (mv_sds_services(svc, strlen(svc), &s, err, sizeof(err)) != 0) {
        SG_FAIL("services: %s", err);
        return;
    }
    /* the last subscribed package in document order wins, whatever the
     * order of the names in tvPackages */
    CHECK_INT(mv_sds_packages(pkg, strlen(pkg), "B|A", &s, &matched, err, sizeof(err)), 0);
    CHECK_INT(matched, 2);
    CHECK_INT(lcn_of(&s, "58"), 70);
    CHECK_INT(lcn_of(&s, "59"), -1); /* its LCN is not a number */
    CHECK_INT(mv_sds_packages(pkg, strlen(pkg), "A", &s, &matched, err, sizeof(err)), 0);
    CHECK_INT(lcn_of(&s, "58"), 7);
    CHECK_INT(mv_sds_packages(pkg, strlen(pkg), "ALL", &s, &matched, err, sizeof(err)), 0);
    CHECK_INT(matched, 2); /* A listed twice counts once */
    CHECK_INT(lcn_of(&s, "58"), 70);
    mv_sds_services_free(&s);
}

/* ---- SD&S: 6_0 -------------------------------------------------------------- */

static void
test_sds_epg_days(void)
{
    size_t len;
    char *xml = fixture(F_6_0, &len);
    char err[256], want[48];
    mv_epg_days_t d;

    if (xml == NULL) return;
    CHECK_INT(mv_sds_epg_days(xml, len, &d, err, sizeof(err)), 0);
    CHECK_INT(d.n, 8);
    for (size_t i = 0; i < d.n && i < 8; i++) {
        CHECK_INT(d.v[i].day, i);
        snprintf(want, sizeof(want), "239.0.2.%zu", 130 + i);
        CHECK_STR(d.v[i].addr, want);
        CHECK_INT(d.v[i].port, 3937);
        CHECK(strcmp(d.v[i].addr, "239.0.2.155") != 0); /* not the p_f group */
    }
    if (d.n == 8) {
        CHECK_INT(d.v[0].nsegments, 264);
        CHECK_INT(d.v[0].segments[0], 0x889b);
        CHECK_INT(d.v[0].versions[0], 0);
        CHECK_INT(d.v[0].segments[1], 0x88ed);
        CHECK_INT(d.v[0].segments[2], 0x88ce);
        CHECK_INT(d.v[0].versions[2], 3);
        CHECK_INT(d.v[0].segments[263], 0x8652);
        CHECK_INT(d.v[0].versions[263], 0);
        /* day 1 also lists one 0xF2 segment: not counted */
        CHECK_INT(d.v[1].nsegments, 264);
        CHECK_INT(d.v[1].segments[0], 0x98d6);
        CHECK_INT(d.v[5].nsegments, 259);
        CHECK_INT(d.v[6].nsegments, 257);
        CHECK_INT(d.v[7].segments[d.v[7].nsegments - 1], 0xc34f);
    }
    mv_sds_epg_days_free(&d);
    CHECK(d.v == NULL && d.n == 0);
    free(xml);
}

static void
test_sds_epg_days_bin(void)
{
    static const char doc[] =
        "<ServiceDiscovery xmlns='urn:dvb:ipisdns:2006'><BCGDiscovery>"
        "<BCG Id='p_f'><TransportMode><DVBBINSTP Source='EPG_9_BIN.imagenio.es' "
        "Address='239.0.2.155' Port='3937'/></TransportMode></BCG>"
        "<BCG Id='EPG'><TransportMode>"
        "<DVBBINSTP Source='EPG_1_BIN.imagenio.es' Address='239.0.2.131' Port='3937'>"
        "<PayloadId Id='0xF2'><Segment ID='0x1' Version='1'/></PayloadId>"
        "<PayloadId Id='0xf1'><Segment ID='0xA001' Version='2'/><Segment ID='bogus' "
        "Version='1'/><Segment ID='0x10000' Version='1'/><Segment ID='7' Version='256'/>"
        "<Segment ID='12' Version='255'/></PayloadId></DVBBINSTP>"
        "<DVBBINSTP Source='EPG_0_BIN.imagenio.es' Address='239.0.2.130' Port='3937'/>"
        "<DVBBINSTP Source='EPG_0_BIN.imagenio.es' Address='239.0.2.199' Port='3937'/>"
        "<DVBBINSTP Source='EPG_X_BIN.imagenio.es' Address='239.0.2.198' Port='3937'/>"
        "<DVBBINSTP Source='EPG_2_BIN.imagenio.es' Address='nowhere' Port='3937'/>"
        "<Other Source='EPG_3.imagenio.es' Address='239.0.2.133' Port='3937'/>"
        "</TransportMode></BCG></BCGDiscovery></ServiceDiscovery>";
    static const char no_epg[] =
        "<ServiceDiscovery xmlns='urn:dvb:ipisdns:2006'><BCGDiscovery><BCG Id='p_f'/>"
        "</BCGDiscovery></ServiceDiscovery>";
    char err[256];
    mv_epg_days_t d;

    CHECK_INT(mv_sds_epg_days(doc, strlen(doc), &d, err, sizeof(err)), 0);
    CHECK_INT(d.n, 2);
    if (d.n == 2) {
        CHECK_INT(d.v[0].day, 0);
        CHECK_STR(d.v[0].addr, "239.0.2.130"); /* the first EPG_0 */
        CHECK_INT(d.v[0].nsegments, 0);
        CHECK_INT(d.v[1].day, 1);
        CHECK_INT(d.v[1].nsegments, 2);
        if (d.v[1].nsegments == 2) {
            CHECK_INT(d.v[1].segments[0], 0xa001);
            CHECK_INT(d.v[1].versions[0], 2);
            CHECK_INT(d.v[1].segments[1], 12);
            CHECK_INT(d.v[1].versions[1], 255);
        }
    }
    mv_sds_epg_days_free(&d);
    CHECK_INT(mv_sds_epg_days(no_epg, strlen(no_epg), &d, err, sizeof(err)), -1);
    CHECK_STR(err, "6_0: no BCG with Id \"EPG\"");
    CHECK(d.v == NULL && d.n == 0);
}

/* ---- SD&S: refusals --------------------------------------------------------- */

static void
test_sds_errors(void)
{
    size_t len;
    char *xml = fixture(F_2_0, &len);
    char err[256];
    char addr[48];
    int port;
    mv_services_t s;
    mv_epg_days_t d;
    static const char laughs[] =
        "<?xml version='1.0'?><!DOCTYPE ServiceDiscovery [<!ENTITY a 'aaaaaaaaaa'>"
        "<!ENTITY b '&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;'><!ENTITY c '&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;'>"
        "<!ENTITY d '&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;'><!ENTITY e '&d;&d;&d;&d;&d;&d;&d;&d;&d;&d;'>"
        "]><ServiceDiscovery xmlns='urn:dvb:ipisdns:2006'><BroadcastDiscovery><ServiceList>"
        "<SingleService><TextualIdentifier ServiceName='&e;'/></SingleService>"
        "</ServiceList></BroadcastDiscovery></ServiceDiscovery>";
    static const char external[] =
        "<?xml version='1.0'?><!DOCTYPE x [<!ENTITY e SYSTEM 'file:///etc/passwd'>]>"
        "<ServiceDiscovery xmlns='urn:dvb:ipisdns:2006'><BroadcastDiscovery><ServiceList>"
        "<SingleService><TextualIdentifier ServiceName='1'/><SI><Name>&e;</Name></SI>"
        "</SingleService></ServiceList></BroadcastDiscovery></ServiceDiscovery>";

    if (xml == NULL) return;
    /* cut in the middle, as a lost section would (before the CRC era) */
    CHECK_INT(mv_sds_services(xml, len / 2, &s, err, sizeof(err)), -1);
    CHECK_HAS(err, "2_0: not XML: line ");
    CHECK(strchr(err, '\n') == NULL);
    CHECK(s.v == NULL && s.n == 0);
    CHECK_INT(mv_sds_services("hello", 5, &s, err, sizeof(err)), -1);
    CHECK_HAS(err, "2_0: not XML");
    CHECK_INT(mv_sds_services("", 0, &s, err, sizeof(err)), -1);
    CHECK_HAS(err, "2_0");
    CHECK_INT(mv_sds_services("<a><b></a>", 10, &s, err, sizeof(err)), -1);
    CHECK_HAS(err, "2_0: not XML: line 1: ");
    CHECK_INT(mv_sds_services("<foo/>", 6, &s, err, sizeof(err)), -1);
    CHECK_STR(err, "2_0: root element is <foo>, not ServiceDiscovery");
    /* a root in another namespace is not ours */
    CHECK_INT(mv_sds_services("<ServiceDiscovery xmlns='urn:x'/>", 33, &s, err, sizeof(err)), -1);
    CHECK_HAS(err, "not ServiceDiscovery");
    CHECK_INT(mv_sds_epg_days(xml, len / 3, &d, err, sizeof(err)), -1);
    CHECK_HAS(err, "6_0: not XML: line ");
    CHECK_INT(mv_sds_provider(xml, 100, 19, addr, sizeof(addr), &port, err, sizeof(err)), -1);
    CHECK_HAS(err, "1_0: not XML");
    /* well-formed, wrong file */
    CHECK_INT(mv_sds_epg_days(xml, len, &d, err, sizeof(err)), -1);
    CHECK_STR(err, "6_0: no BCG with Id \"EPG\"");
    free(xml);
    if ((xml = fixture(F_5_0, &len)) == NULL) return;
    CHECK_INT(mv_sds_services(xml, len, &s, err, sizeof(err)), -1);
    CHECK_STR(err, "2_0: no BroadcastDiscovery");
    free(xml);
    /* entity expansion is not substituted into a huge string; nor is an
     * external entity read */
    if (mv_sds_services(laughs, strlen(laughs), &s, err, sizeof(err)) == 0) {
        CHECK_INT(s.n, 1);
        mv_sds_services_free(&s);
    }
    if (mv_sds_services(external, strlen(external), &s, err, sizeof(err)) == 0) {
        CHECK_INT(s.n, 1);
        if (s.n == 1) CHECK(strstr(s.v[0].name, "root:") == NULL);
        mv_sds_services_free(&s);
    }
    /* a NULL err is fine */
    CHECK_INT(mv_sds_services("x", 1, &s, NULL, 0), -1);
}

/* ---- DVB-STP ---------------------------------------------------------------- */

typedef struct stp_opt_s {
    uint32_t total;
    uint8_t pid;
    uint16_t seg;
    uint8_t ver;
    uint16_t sec, last;
    int crc_flag;
    uint32_t crc;
    int provider;         /* with a ServiceProviderID 0xCAFEBABE */
    unsigned priv_words;  /* private header length */
    uint8_t byte0_extra;  /* or'ed into byte 0 (version, encryption) */
    uint8_t compression;
} stp_opt_t;

/* One datagram in d; returns its length. */
static size_t
stp_build(uint8_t *d, const stp_opt_t *o, const uint8_t *payload, size_t plen)
{
    size_t n = 0;
    d[n++] = (uint8_t)(o->byte0_extra | (o->crc_flag ? 1 : 0));
    d[n++] = (uint8_t)(o->total >> 16);
    d[n++] = (uint8_t)(o->total >> 8);
    d[n++] = (uint8_t)o->total;
    d[n++] = o->pid;
    d[n++] = (uint8_t)(o->seg >> 8);
    d[n++] = (uint8_t)o->seg;
    d[n++] = o->ver;
    d[n++] = (uint8_t)(o->sec >> 4);
    d[n++] = (uint8_t)((o->sec & 0x0f) << 4 | (o->last >> 8 & 0x0f));
    d[n++] = (uint8_t)o->last;
    d[n++] = (uint8_t)(o->compression << 5 | (o->provider ? 0x10 : 0) | (o->priv_words & 0x0f));
    if (o->provider) {
        memcpy(d + n, "\xca\xfe\xba\xbe", 4);
        n += 4;
    }
    memset(d + n, 0xee, 4 * (size_t)o->priv_words);
    n += 4 * (size_t)o->priv_words;
    memcpy(d + n, payload, plen);
    n += plen;
    if (o->crc_flag) {
        d[n++] = (uint8_t)(o->crc >> 24);
        d[n++] = (uint8_t)(o->crc >> 16);
        d[n++] = (uint8_t)(o->crc >> 8);
        d[n++] = (uint8_t)o->crc;
    }
    return n;
}

/* A test segment: payload bytes split into nsec sections of up to 100. */
#define SEG_MAX 4096
typedef struct seg_s {
    uint8_t data[SEG_MAX];
    size_t len;
    unsigned nsec;
    uint8_t pid;
    uint16_t id;
    uint8_t ver;
    uint32_t crc;
    int provider;
    unsigned priv_words;
} seg_t;

static void
seg_init(seg_t *g, uint16_t id, uint8_t ver, size_t len, uint8_t seed)
{
    memset(g, 0, sizeof(*g));
    g->len = len;
    g->nsec = (unsigned)((len + 99) / 100);
    if (g->nsec == 0) g->nsec = 1;
    g->pid = 0xf1;
    g->id = id;
    g->ver = ver;
    for (size_t i = 0; i < len; i++) g->data[i] = (uint8_t)(seed + i * 7);
    g->crc = mv_stp_crc32(0xffffffff, g->data, len);
}

/* Datagram of section sec of g into d; its length. */
static size_t
seg_section(const seg_t *g, unsigned sec, uint8_t *d)
{
    stp_opt_t o = {
        .total = (uint32_t)g->len, .pid = g->pid, .seg = g->id, .ver = g->ver,
        .sec = (uint16_t)sec, .last = (uint16_t)(g->nsec - 1),
        .crc_flag = sec == g->nsec - 1, .crc = g->crc,
        .provider = g->provider, .priv_words = g->priv_words,
    };
    size_t off = 100 * (size_t)sec, plen = g->len - off < 100 ? g->len - off : 100;
    return stp_build(d, &o, g->data + off, plen);
}

typedef struct got_s {
    int count;
    uint8_t pid, ver;
    uint16_t seg;
    uint8_t data[SEG_MAX];
    size_t len;
} got_t;

static void
got_segment(void *arg, uint8_t payload_id, uint16_t segment_id, uint8_t version,
            const uint8_t *data, size_t len)
{
    got_t *g = arg;
    g->count++;
    g->pid = payload_id;
    g->seg = segment_id;
    g->ver = version;
    g->len = len < SEG_MAX ? len : SEG_MAX;
    memcpy(g->data, data, g->len);
}

static int
feed(mv_stp_asm_t *a, const seg_t *g, unsigned sec)
{
    uint8_t d[1500];
    size_t n = seg_section(g, sec, d);
    return mv_stp_asm_feed(a, d, n);
}

#define CHECK_GOT(got, g)                                                         \
    do {                                                                          \
        CHECK_INT((got).seg, (g).id);                                             \
        CHECK_INT((got).ver, (g).ver);                                            \
        CHECK_INT((got).pid, (g).pid);                                            \
        CHECK_INT((got).len, (g).len);                                            \
        CHECK((got).len == (g).len && memcmp((got).data, (g).data, (g).len) == 0);  \
    } while (0)

static void
test_stp_crc(void)
{
    const uint8_t *p = (const uint8_t *)"123456789";
    CHECK_INT(mv_stp_crc32(0xffffffff, p, 9), 0x0376e6e7);
    CHECK_INT(mv_stp_crc32(mv_stp_crc32(0xffffffff, p, 4), p + 4, 5), 0x0376e6e7);
    CHECK_INT(mv_stp_crc32(0xffffffff, p, 0), 0xffffffff);
}

static void
test_stp_parse(void)
{
    uint8_t d[256];
    const uint8_t pl[5] = {1, 2, 3, 4, 5};
    stp_opt_t o = {.total = 0x123456, .pid = 0x02, .seg = 0xbeef, .ver = 0x7a,
                   .sec = 0x123, .last = 0xabc};
    mv_stp_section_t s;
    size_t n = stp_build(d, &o, pl, 5);

    CHECK_INT(n, 17);
    CHECK_INT(d[8], 0x12);
    CHECK_INT(d[9], 0x3a);
    CHECK_INT(d[10], 0xbc);
    CHECK_INT(mv_stp_parse(d, n, &s), 0);
    CHECK_INT(s.version, 0);
    CHECK_INT(s.encryption, 0);
    CHECK_INT(s.crc_flag, 0);
    CHECK_INT(s.total_size, 0x123456);
    CHECK_INT(s.payload_id, 2);
    CHECK_INT(s.segment_id, 0xbeef);
    CHECK_INT(s.segment_version, 0x7a);
    CHECK_INT(s.section, 0x123);
    CHECK_INT(s.last_section, 0xabc);
    CHECK_INT(s.compression, 0);
    CHECK_INT(s.has_provider_id, 0);
    CHECK(s.payload == d + 12);
    CHECK_INT(s.payload_len, 5);

    /* provider id, 2 words of private header, CRC, encryption bits */
    o.provider = 1;
    o.priv_words = 2;
    o.crc_flag = 1;
    o.crc = 0x01020304;
    o.byte0_extra = 0x04;
    o.compression = 2;
    n = stp_build(d, &o, pl, 5);
    CHECK_INT(n, 12 + 4 + 8 + 5 + 4);
    CHECK_INT(mv_stp_parse(d, n, &s), 0);
    CHECK_INT(s.has_provider_id, 1);
    CHECK_INT(s.provider_id, 0xcafebabe);
    CHECK_INT(s.crc_flag, 1);
    CHECK_INT(s.crc, 0x01020304);
    CHECK_INT(s.encryption, 2);
    CHECK_INT(s.compression, 2);
    CHECK(s.payload == d + 24);
    CHECK_INT(s.payload_len, 5);
    CHECK_INT(s.payload[0], 1);
    /* an empty payload is well-formed */
    CHECK_INT(mv_stp_parse(d, 12 + 4 + 8 + 4, &s), 0);
    CHECK_INT(s.payload_len, 0);
    /* CRC flag without room for the CRC */
    CHECK_INT(mv_stp_parse(d, 12 + 4 + 8 + 3, &s), -1);
    /* private header past the end */
    CHECK_INT(mv_stp_parse(d, 12 + 4 + 7, &s), -1);
    /* provider id past the end */
    CHECK_INT(mv_stp_parse(d, 14, &s), -1);
    CHECK_INT(mv_stp_parse(d, 11, &s), -1);
    CHECK_INT(mv_stp_parse(d, 0, &s), -1);

    memset(&o, 0, sizeof(o));
    o.sec = 3;
    o.last = 2;
    n = stp_build(d, &o, pl, 5);
    CHECK_INT(mv_stp_parse(d, n, &s), -1); /* section > last */
    o.sec = 2;
    o.byte0_extra = 0x40; /* version 1 */
    n = stp_build(d, &o, pl, 5);
    CHECK_INT(mv_stp_parse(d, n, &s), -1);
    o.byte0_extra = 0;
    n = stp_build(d, &o, pl, 5);
    CHECK_INT(mv_stp_parse(d, n, &s), 0);
}

static void
test_stp_in_order(void)
{
    static seg_t g;
    got_t got = {0};
    mv_stp_asm_t *a = mv_stp_asm_new(1 << 20, got_segment, &got);

    seg_init(&g, 0x889b, 0, 237, 1);
    CHECK_INT(g.nsec, 3);
    CHECK_INT(feed(a, &g, 0), 0);
    CHECK_INT(feed(a, &g, 1), 0);
    CHECK_INT(got.count, 0);
    CHECK_INT(feed(a, &g, 2), 1);
    CHECK_INT(got.count, 1);
    CHECK_GOT(got, g);
    CHECK_INT(mv_stp_asm_stats(a)->segments, 1);
    CHECK_INT(mv_stp_asm_stats(a)->sections, 3);
    CHECK_INT(mv_stp_asm_stats(a)->bad, 0);
    /* the next cycle hands it out again */
    CHECK_INT(feed(a, &g, 0), 0);
    CHECK_INT(feed(a, &g, 1), 0);
    CHECK_INT(feed(a, &g, 2), 1);
    CHECK_INT(got.count, 2);
    mv_stp_asm_free(a);
}

static void
test_stp_shuffled(void)
{
    static seg_t g;
    got_t got = {0};
    mv_stp_asm_t *a = mv_stp_asm_new(1 << 20, got_segment, &got);

    seg_init(&g, 0x1234, 9, 250, 2);
    CHECK_INT(feed(a, &g, 2), 0);
    CHECK_INT(feed(a, &g, 0), 0);
    CHECK_INT(feed(a, &g, 1), 1);
    CHECK_GOT(got, g);
    /* a one-section segment */
    seg_init(&g, 0x1235, 0, 40, 3);
    CHECK_INT(feed(a, &g, 0), 1);
    CHECK_GOT(got, g);
    /* an empty one */
    seg_init(&g, 0x1236, 0, 0, 3);
    CHECK_INT(feed(a, &g, 0), 1);
    CHECK_INT(got.len, 0);
    CHECK_INT(got.count, 3);
    mv_stp_asm_free(a);
}

static void
test_stp_missing(void)
{
    static seg_t g;
    got_t got = {0};
    mv_stp_asm_t *a = mv_stp_asm_new(1 << 20, got_segment, &got);

    seg_init(&g, 0x2000, 1, 300, 4);
    CHECK_INT(feed(a, &g, 0), 0);
    CHECK_INT(feed(a, &g, 2), 0); /* 1 lost */
    CHECK_INT(got.count, 0);
    /* next cycle: 0 is a duplicate, 1 completes */
    CHECK_INT(feed(a, &g, 0), 0);
    CHECK_INT(feed(a, &g, 1), 1);
    CHECK_GOT(got, g);
    CHECK_INT(mv_stp_asm_stats(a)->segments, 1);
    mv_stp_asm_free(a);
}

static void
test_stp_duplicates(void)
{
    static seg_t g;
    got_t got = {0};
    mv_stp_asm_t *a = mv_stp_asm_new(1 << 20, got_segment, &got);

    seg_init(&g, 0x2001, 1, 300, 5);
    CHECK_INT(feed(a, &g, 0), 0);
    CHECK_INT(feed(a, &g, 0), 0);
    CHECK_INT(feed(a, &g, 1), 0);
    CHECK_INT(feed(a, &g, 1), 0);
    CHECK_INT(feed(a, &g, 0), 0);
    CHECK_INT(feed(a, &g, 2), 1);
    CHECK_INT(got.count, 1);
    CHECK_GOT(got, g);
    CHECK_INT(mv_stp_asm_stats(a)->sections, 6);
    CHECK_INT(mv_stp_asm_stats(a)->bad, 0);
    mv_stp_asm_free(a);
}

static void
test_stp_interleaved(void)
{
    static seg_t x, y;
    got_t got = {0};
    mv_stp_asm_t *a = mv_stp_asm_new(1 << 20, got_segment, &got);

    seg_init(&x, 0x3000, 0, 250, 6);
    seg_init(&y, 0x3001, 0, 320, 7);
    y.pid = 0x02;
    CHECK_INT(feed(a, &x, 0), 0);
    CHECK_INT(feed(a, &y, 0), 0);
    CHECK_INT(feed(a, &y, 3), 0);
    CHECK_INT(feed(a, &x, 1), 0);
    CHECK_INT(feed(a, &y, 1), 0);
    CHECK_INT(feed(a, &x, 2), 1);
    CHECK_GOT(got, x);
    CHECK_INT(feed(a, &y, 2), 1);
    CHECK_GOT(got, y);
    CHECK_INT(got.count, 2);
    /* the same segment id under another payload id is another segment */
    seg_init(&x, 0x3001, 0, 150, 8);
    CHECK_INT(feed(a, &x, 0), 0);
    seg_init(&y, 0x3001, 0, 150, 9);
    y.pid = 0x02;
    CHECK_INT(feed(a, &y, 0), 0);
    CHECK_INT(feed(a, &x, 1), 1);
    CHECK_GOT(got, x);
    CHECK_INT(feed(a, &y, 1), 1);
    CHECK_GOT(got, y);
    CHECK_INT(mv_stp_asm_stats(a)->restarts, 0);
    mv_stp_asm_free(a);
}

static void
test_stp_version_change(void)
{
    static seg_t v1, v2;
    got_t got = {0};
    mv_stp_asm_t *a = mv_stp_asm_new(1 << 20, got_segment, &got);

    seg_init(&v1, 0x4000, 1, 300, 10);
    seg_init(&v2, 0x4000, 2, 280, 11);
    CHECK_INT(feed(a, &v1, 0), 0);
    CHECK_INT(feed(a, &v1, 1), 0);
    CHECK_INT(feed(a, &v2, 2), 0); /* v1's buffer goes */
    CHECK_INT(mv_stp_asm_stats(a)->restarts, 1);
    CHECK_INT(feed(a, &v2, 0), 0);
    CHECK_INT(feed(a, &v2, 1), 1);
    CHECK_GOT(got, v2);
    CHECK_INT(got.ver, 2);
    CHECK_INT(got.count, 1);
    mv_stp_asm_free(a);
}

static void
test_stp_crc_error(void)
{
    static seg_t g;
    got_t got = {0};
    uint32_t good;
    mv_stp_asm_t *a = mv_stp_asm_new(1 << 20, got_segment, &got);

    seg_init(&g, 0x5000, 0, 300, 12);
    good = g.crc;
    g.crc ^= 1;
    CHECK_INT(feed(a, &g, 0), 0);
    CHECK_INT(feed(a, &g, 1), 0);
    CHECK_INT(feed(a, &g, 2), -1);
    CHECK_INT(got.count, 0);
    CHECK_INT(mv_stp_asm_stats(a)->crc_errors, 1);
    /* the buffer went: the next cycle starts afresh and completes */
    g.crc = good;
    CHECK_INT(feed(a, &g, 1), 0);
    CHECK_INT(feed(a, &g, 0), 0);
    CHECK_INT(feed(a, &g, 2), 1);
    CHECK_GOT(got, g);
    /* a corrupted payload byte is caught the same way */
    {
        uint8_t d[1500];
        size_t n;
        CHECK_INT(feed(a, &g, 0), 0);
        n = seg_section(&g, 1, d);
        d[20] ^= 0x40;
        CHECK_INT(mv_stp_asm_feed(a, d, n), 0);
        CHECK_INT(feed(a, &g, 2), -1);
        CHECK_INT(mv_stp_asm_stats(a)->crc_errors, 2);
    }
    mv_stp_asm_free(a);
}

static void
test_stp_provider_private(void)
{
    static seg_t g;
    got_t got = {0};
    mv_stp_asm_t *a = mv_stp_asm_new(1 << 20, got_segment, &got);

    seg_init(&g, 0x6000, 3, 210, 13);
    g.provider = 1;
    g.priv_words = 3;
    CHECK_INT(feed(a, &g, 1), 0);
    CHECK_INT(feed(a, &g, 2), 0);
    CHECK_INT(feed(a, &g, 0), 1);
    CHECK_GOT(got, g); /* neither provider id nor private header in the data */
    mv_stp_asm_free(a);
}

static void
test_stp_refused(void)
{
    static seg_t g;
    got_t got = {0};
    uint8_t d[1500];
    size_t n;
    stp_opt_t o;
    mv_stp_asm_t *a = mv_stp_asm_new(1 << 20, got_segment, &got);

    seg_init(&g, 0x7000, 0, 300, 14);
    /* truncated datagrams */
    n = seg_section(&g, 0, d);
    CHECK_INT(mv_stp_asm_feed(a, d, 11), -1);
    CHECK_INT(mv_stp_asm_feed(a, d, 0), -1);
    d[11] = 0x0f; /* 15 words of private header */
    CHECK_INT(mv_stp_asm_feed(a, d, 40), -1);
    CHECK_INT(mv_stp_asm_stats(a)->bad, 3);
    CHECK_INT(mv_stp_asm_stats(a)->sections, 0);
    /* a section disagreeing with its buffer: total size, last section */
    CHECK_INT(feed(a, &g, 0), 0);
    o = (stp_opt_t){.total = 301, .pid = 0xf1, .seg = 0x7000, .sec = 1, .last = 2};
    n = stp_build(d, &o, g.data + 100, 100);
    CHECK_INT(mv_stp_asm_feed(a, d, n), -1);
    o = (stp_opt_t){.total = 300, .pid = 0xf1, .seg = 0x7000, .sec = 1, .last = 3};
    n = stp_build(d, &o, g.data + 100, 100);
    CHECK_INT(mv_stp_asm_feed(a, d, n), -1);
    CHECK_INT(mv_stp_asm_stats(a)->bad, 5);
    /* more payload than the segment holds */
    o = (stp_opt_t){.total = 50, .pid = 0xf1, .seg = 0x7001, .sec = 0, .last = 1};
    n = stp_build(d, &o, g.data, 100);
    CHECK_INT(mv_stp_asm_feed(a, d, n), -1);
    o = (stp_opt_t){.total = 150, .pid = 0xf1, .seg = 0x7001, .sec = 0, .last = 1};
    n = stp_build(d, &o, g.data, 100);
    CHECK_INT(mv_stp_asm_feed(a, d, n), 0);
    o.sec = 1;
    o.crc_flag = 1;
    n = stp_build(d, &o, g.data, 100); /* 200 > 150 */
    CHECK_INT(mv_stp_asm_feed(a, d, n), -1);
    CHECK_INT(mv_stp_asm_stats(a)->bad, 7);
    /* the CRC belongs to the last section, and only there */
    o = (stp_opt_t){.total = 100, .pid = 0xf1, .seg = 0x7002, .sec = 0, .last = 1,
                    .crc_flag = 1};
    n = stp_build(d, &o, g.data, 50);
    CHECK_INT(mv_stp_asm_feed(a, d, n), -1);
    o = (stp_opt_t){.total = 100, .pid = 0xf1, .seg = 0x7002, .sec = 1, .last = 1};
    n = stp_build(d, &o, g.data, 50);
    CHECK_INT(mv_stp_asm_feed(a, d, n), -1);
    /* encrypted or compressed payloads are of no use */
    o = (stp_opt_t){.total = 10, .pid = 0xf1, .seg = 0x7003, .crc_flag = 1,
                    .crc = mv_stp_crc32(0xffffffff, g.data, 10), .byte0_extra = 0x02};
    n = stp_build(d, &o, g.data, 10);
    CHECK_INT(mv_stp_asm_feed(a, d, n), -1);
    o.byte0_extra = 0;
    o.compression = 2;
    n = stp_build(d, &o, g.data, 10);
    CHECK_INT(mv_stp_asm_feed(a, d, n), -1);
    CHECK_INT(mv_stp_asm_stats(a)->bad, 11);
    o.compression = 0;
    n = stp_build(d, &o, g.data, 10);
    CHECK_INT(mv_stp_asm_feed(a, d, n), 1);
    /* the 0x7000 buffer survived all that */
    CHECK_INT(feed(a, &g, 1), 0);
    CHECK_INT(feed(a, &g, 2), 1);
    CHECK_GOT(got, g);
    CHECK_INT(got.count, 2);
    mv_stp_asm_free(a);
}

static void
test_stp_memory_bound(void)
{
    static seg_t x, y, z, big;
    got_t got = {0};
    mv_stp_asm_t *a = mv_stp_asm_new(8192, got_segment, &got);

    seg_init(&x, 0x8000, 0, 3000, 15);
    seg_init(&y, 0x8001, 0, 3000, 16);
    seg_init(&z, 0x8002, 0, 3000, 17);
    CHECK_INT(feed(a, &x, 0), 0);
    CHECK_INT(feed(a, &y, 0), 0);
    CHECK_INT(mv_stp_asm_stats(a)->evicted, 0);
    CHECK_INT(feed(a, &z, 0), 0); /* three do not fit: x, the oldest, goes */
    CHECK_INT(mv_stp_asm_stats(a)->evicted, 1);
    for (unsigned i = 1; i < y.nsec; i++) CHECK_INT(feed(a, &y, i), i + 1 == y.nsec);
    CHECK_GOT(got, y);
    for (unsigned i = 1; i < z.nsec; i++) CHECK_INT(feed(a, &z, i), i + 1 == z.nsec);
    CHECK_GOT(got, z);
    /* x restarted without its section 0: nothing */
    for (unsigned i = 1; i < x.nsec; i++) CHECK_INT(feed(a, &x, i), 0);
    CHECK_INT(got.count, 2);
    CHECK_INT(feed(a, &x, 0), 1);
    CHECK_INT(got.count, 3);
    /* fed most recently wins over created most recently */
    CHECK_INT(feed(a, &x, 0), 0);
    CHECK_INT(feed(a, &y, 0), 0);
    CHECK_INT(feed(a, &x, 1), 0);
    CHECK_INT(feed(a, &z, 0), 0); /* y goes, not x */
    for (unsigned i = 2; i < x.nsec; i++) CHECK_INT(feed(a, &x, i), i + 1 == x.nsec);
    CHECK_GOT(got, x);
    /* larger than the whole budget: never assembled */
    seg_init(&big, 0x8003, 0, SEG_MAX, 18);
    {
        mv_stp_asm_t *b = mv_stp_asm_new(2048, got_segment, &got);
        int before = got.count;
        for (unsigned i = 0; i < big.nsec; i++) CHECK_INT(feed(b, &big, i), -1);
        CHECK_INT(got.count, before);
        CHECK(mv_stp_asm_stats(b)->evicted > 0);
        mv_stp_asm_free(b);
    }
    mv_stp_asm_free(a);
}

static void
test_stp_open_cap(void)
{
    static seg_t g;
    got_t got = {0};
    mv_stp_asm_t *a = mv_stp_asm_new(64 << 20, got_segment, &got);

    /* a thousand segments opened and never finished: the count of open
     * buffers is capped even though memory would allow them */
    for (unsigned i = 0; i < 1000; i++) {
        seg_init(&g, (uint16_t)i, 0, 300, (uint8_t)i);
        CHECK_INT(feed(a, &g, 0), 0);
    }
    CHECK(mv_stp_asm_stats(a)->evicted >= 400);
    CHECK(mv_stp_asm_stats(a)->evicted < 1000);
    CHECK_INT(feed(a, &g, 1), 0);
    CHECK_INT(feed(a, &g, 2), 1); /* the newest is still there */
    CHECK_GOT(got, g);
    mv_stp_asm_free(a);
}

/* ---- binary EPG --------------------------------------------------------------- */

typedef struct rec_in_s {
    uint32_t pid, start;
    uint16_t duration;
    uint8_t genre, age;
    const char *title; /* plain; written XORed */
    uint16_t series_id;
    uint8_t episode, season;
    uint16_t year;
    const char *series;
    uint8_t k; /* trailing block length */
} rec_in_t;

static size_t
put_xor(uint8_t *p, const char *s)
{
    size_t n = strlen(s);
    for (size_t i = 0; i < n; i++) p[i] = (uint8_t)s[i] ^ 0x15;
    return n;
}

static size_t
rec_build(uint8_t *p, const rec_in_t *r)
{
    size_t e, c;
    memset(p, 0, 32);
    p[0] = (uint8_t)(r->pid >> 24);
    p[1] = (uint8_t)(r->pid >> 16);
    p[2] = (uint8_t)(r->pid >> 8);
    p[3] = (uint8_t)r->pid;
    p[4] = (uint8_t)(r->start >> 24);
    p[5] = (uint8_t)(r->start >> 16);
    p[6] = (uint8_t)(r->start >> 8);
    p[7] = (uint8_t)r->start;
    p[8] = (uint8_t)(r->duration >> 8);
    p[9] = (uint8_t)r->duration;
    p[17] = 0x54; /* the descriptor tags seen there, for the look */
    p[20] = r->genre;
    p[21] = 0x55;
    p[24] = r->age;
    p[25] = 0x4d;
    p[31] = (uint8_t)put_xor(p + 32, r->title);
    e = 32 + p[31];
    memset(p + e, 0, 13);
    p[e] = 0xf1;
    p[e + 5] = (uint8_t)(r->series_id >> 8);
    p[e + 6] = (uint8_t)r->series_id;
    p[e + 8] = r->episode;
    p[e + 9] = (uint8_t)(r->year >> 8);
    p[e + 10] = (uint8_t)r->year;
    p[e + 11] = r->season;
    p[e + 12] = (uint8_t)put_xor(p + e + 13, r->series);
    c = e + 13 + p[e + 12];
    memset(p + c, 0, 3);
    p[c + 3] = r->k;
    memset(p + c + 4, 0xab, r->k);
    return c + 4 + r->k;
}

/* A blob for service sid with records; size = whole blob. */
static size_t
blob_build(uint8_t *b, uint16_t sid, const rec_in_t *recs, size_t nrecs)
{
    static const char url[] = "1019.imagenio.es";
    size_t n = 7;
    b[0] = 0;
    b[3] = (uint8_t)(sid >> 8);
    b[4] = (uint8_t)sid;
    b[5] = 4;
    b[6] = (uint8_t)strlen(url);
    memcpy(b + n, url, strlen(url));
    n += strlen(url);
    for (size_t i = 0; i < nrecs; i++) n += rec_build(b + n, &recs[i]);
    memcpy(b + n, "\xde\xad\xbe\xef", 4);
    n += 4;
    b[1] = (uint8_t)(n >> 8);
    b[2] = (uint8_t)n;
    return n;
}

typedef struct epg_got_s {
    int n;
    uint16_t sid;
    mv_epg_rec_t r[4];
    char title[4][256], series[4][256];
} epg_got_t;

static void
epg_collect(void *arg, uint16_t service_id, const mv_epg_rec_t *r)
{
    epg_got_t *g = arg;
    if (g->n >= 4) return;
    g->sid = service_id;
    g->r[g->n] = *r;
    snprintf(g->title[g->n], sizeof(g->title[0]), "%s", r->title);
    snprintf(g->series[g->n], sizeof(g->series[0]), "%s", r->series);
    g->n++;
}

static const rec_in_t g_recs[3] = {
    {.pid = 53601715, .start = 1700000000, .duration = 3000, .genre = 0x34, .age = 3,
     .title = "Cuéntame cómo pasó T20 Ep. 5 - Títulos", .series_id = 4711, .episode = 5,
     .season = 20, .year = 2019, .series = "Cuéntame cómo pasó", .k = 6},
    {.pid = 53601716, .start = 1700003000, .duration = 10500, .genre = 0x10, .age = 11,
     .title = "El padrino", .year = 1972, .series = "", .k = 0},
    {.pid = 53601717, .start = 1700013500, .duration = 65535, .genre = 0x70, .age = 7,
     .title = "&quot;ÑOÑO&quot; &amp; café", .series = "Sé &lt;tú&gt;", .k = 255},
};

static void
test_epg_parse(void)
{
    static uint8_t b[4096];
    static epg_got_t got;
    mv_epg_result_t res;
    size_t n = blob_build(b, 1019, g_recs, 3);

    memset(&got, 0, sizeof(got));
    CHECK_INT(mv_epg_parse(b, n, epg_collect, &got, &res), 0);
    CHECK_INT(res.service_id, 1019);
    CHECK_INT(res.version, 4);
    CHECK_INT(res.records, 3);
    CHECK_INT(res.truncated, 0);
    CHECK_INT(got.n, 3);
    CHECK_INT(got.sid, 1019);
    /* a series */
    CHECK_INT(got.r[0].pid, 53601715);
    CHECK_INT(got.r[0].start, 1700000000);
    CHECK_INT(got.r[0].duration, 3000);
    CHECK_INT(got.r[0].genre, 0x34);
    CHECK_INT(got.r[0].age, 7);
    CHECK_STR(got.title[0], "Cuéntame cómo pasó T20 Ep. 5 - Títulos");
    CHECK_INT(got.r[0].series_id, 4711);
    CHECK_INT(got.r[0].season, 20);
    CHECK_INT(got.r[0].episode, 5);
    CHECK_INT(got.r[0].year, 2019);
    CHECK_STR(got.series[0], "Cuéntame cómo pasó");
    /* a film; age index 11 is past the table */
    CHECK_INT(got.r[1].pid, 53601716);
    CHECK_INT(got.r[1].genre, 0x10);
    CHECK_INT(got.r[1].age, 0);
    CHECK_INT(got.r[1].year, 1972);
    CHECK_INT(got.r[1].series_id, 0);
    CHECK_INT(got.r[1].season, 0);
    CHECK_STR(got.title[1], "El padrino");
    CHECK_STR(got.series[1], "");
    /* entities, UTF-8, a long trailing block */
    CHECK_STR(got.title[2], "\"ÑOÑO\" & café");
    CHECK_STR(got.series[2], "Sé <tú>");
    CHECK_INT(got.r[2].duration, 65535);
    CHECK_INT(got.r[2].age, 18);
    /* no callback: counted all the same */
    CHECK_INT(mv_epg_parse(b, n, NULL, NULL, &res), 0);
    CHECK_INT(res.records, 3);
}

static void
test_epg_truncated(void)
{
    static uint8_t b[4096];
    static epg_got_t got;
    mv_epg_result_t res;
    size_t n = blob_build(b, 2543, g_recs, 3), cut;

    /* the blob cut inside the last record: its size says more */
    for (cut = n - 5; cut > n - 300; cut -= 37) {
        memset(&got, 0, sizeof(got));
        CHECK_INT(mv_epg_parse(b, cut, epg_collect, &got, &res), 0);
        CHECK_INT(res.records, 2);
        CHECK_INT(res.truncated, 1);
        CHECK_INT(got.n, 2);
        CHECK_STR(got.title[1], "El padrino");
    }
    /* size consistent, but the last record runs into the trailer */
    n = blob_build(b, 2543, g_recs, 2);
    {
        static uint8_t c[4096];
        size_t m = n - 4;
        memcpy(c, b, m);
        memcpy(c + m, b + 23, 40); /* the start of a record */
        m += 40;
        memcpy(c + m, "\0\0\0\0", 4);
        m += 4;
        c[1] = (uint8_t)(m >> 8);
        c[2] = (uint8_t)m;
        memset(&got, 0, sizeof(got));
        CHECK_INT(mv_epg_parse(c, m, epg_collect, &got, &res), 0);
        CHECK_INT(res.records, 2);
        CHECK_INT(res.truncated, 1);
        /* a title length running past the end */
        c[m - 44 + 31] = 200;
        CHECK_INT(mv_epg_parse(c, m, NULL, NULL, &res), 0);
        CHECK_INT(res.records, 2);
        CHECK_INT(res.truncated, 1);
    }
    /* header only, with its trailer: no records, nothing wrong */
    n = blob_build(b, 7, NULL, 0);
    CHECK_INT(mv_epg_parse(b, n, epg_collect, &got, &res), 0);
    CHECK_INT(res.records, 0);
    CHECK_INT(res.truncated, 0);
    CHECK_INT(res.service_id, 7);
    /* header too short */
    CHECK_INT(mv_epg_parse(b, 6, epg_collect, &got, &res), -1);
    CHECK_INT(res.records, 0);
    CHECK_INT(mv_epg_parse(b, 7 + 15, epg_collect, &got, &res), -1); /* URL cut */
    CHECK_INT(mv_epg_parse(b, 0, epg_collect, &got, &res), -1);
    CHECK_INT(mv_epg_parse(NULL, 0, epg_collect, &got, &res), -1);
}

/* Decode plain text s (XORed here first). */
static size_t
decode(const char *s, size_t slen, char *out, size_t outlen)
{
    uint8_t in[512];
    for (size_t i = 0; i < slen; i++) in[i] = (uint8_t)s[i] ^ 0x15;
    return mv_epg_decode(in, slen, out, outlen);
}

#define CHECK_DECODE(in, want)                                                   \
    do {                                                                         \
        char _o[512];                                                            \
        size_t _n = decode((in), sizeof(in) - 1, _o, sizeof(_o));                \
        CHECK_STR(_o, (want));                                                   \
        CHECK_INT(_n, strlen(want));                                             \
    } while (0)

static void
test_epg_decode(void)
{
    char out[8], plain[64];
    static const char json[] = "Cifras &amp; Letras &quot;x&quot; &#241;\xff";

    /* the same decoder for the appserver's plain (not XORed) strings */
    CHECK_INT(mv_html_decode(json, sizeof(json) - 1, plain, sizeof(plain)),
              strlen("Cifras & Letras \"x\" \xc3\xb1\xef\xbf\xbd"));
    CHECK_STR(plain, "Cifras & Letras \"x\" \xc3\xb1\xef\xbf\xbd");

    CHECK_DECODE("plain", "plain");
    CHECK_DECODE("a&lt;b&gt;c &#65;&#x42;&#X43; &eacute;&Ntilde;&nbsp;.",
                 "a<b>c ABC éÑ\xc2\xa0.");
    CHECK_DECODE("&bogus; &amp &#; &#x; &#65 & &;", "&bogus; &amp &#; &#x; &#65 & &;");
    CHECK_DECODE("&#150;&#128;", "\xe2\x80\x93\xe2\x82\xac"); /* windows-1252 */
    CHECK_DECODE("&#0;&#xD800;&#1114112;&#99999999999;", "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd"
                                                        "\xef\xbf\xbd");
    CHECK_DECODE("&#x1F600;", "\xf0\x9f\x98\x80");
    CHECK_DECODE("&amp;amp;", "&amp;"); /* once, not twice */
    /* invalid UTF-8: lone continuation, overlong, surrogate, truncated, 0xFF */
    CHECK_DECODE("a\x80z", "a\xef\xbf\xbdz");
    CHECK_DECODE("\xc0\x80", "\xef\xbf\xbd\xef\xbf\xbd");
    CHECK_DECODE("\xed\xa0\x80", "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd");
    CHECK_DECODE("x\xc3", "x\xef\xbf\xbd");
    CHECK_DECODE("\xff", "\xef\xbf\xbd");
    CHECK_DECODE("\xf4\x90\x80\x80", "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd");
    /* a NUL byte would end the string early */
    {
        char o[16];
        CHECK_INT(decode("a\0b", 3, o, sizeof(o)), 5);
        CHECK_STR(o, "a\xef\xbf\xbd" "b");
    }
    /* the output bound never splits a character */
    CHECK_INT(decode("ÑÑÑÑ", 8, out, 6), 4);
    CHECK_STR(out, "ÑÑ");
    CHECK_INT(decode("ÑÑÑÑ", 8, out, 5), 4);
    CHECK_INT(decode("ÑÑÑÑ", 8, out, 4), 2);
    CHECK_INT(decode("abc", 3, out, 1), 0);
    CHECK_STR(out, "");
    CHECK_INT(decode("abc", 3, out, 0), 0);
    CHECK_INT(decode("", 0, out, sizeof(out)), 0);
    CHECK_STR(out, "");
}

/* ---- cloud recordings ------------------------------------------------------- */

static int
cloud_list(const char *json, mv_cloud_item_t *out, int max, int *skipped, int *dropped,
           const char **why)
{
    return mv_cloud_list(json, strlen(json), out, max, skipped, dropped, why);
}

static void
test_cloud_list(void)
{
    /* the appserver's shape: numbers, or numbers as strings, ms times */
    static const char ok[] =
        "{\"resultCode\":0,\"resultText\":\"\",\"resultData\":{\"result\":["
        "{\"serviceUID\":1825,\"productID\":20637535,\"beginTime\":1700000000000,"
        "\"endTime\":1700003000000,\"name\":\"Cine\",\"state\":2},"
        "{\"serviceUID\":\"4455\",\"productID\":\"123\",\"beginTime\":\"1700100000000\"},"
        "{\"serviceUID\":-1,\"productID\":1,\"beginTime\":1700000000000},"
        "{\"serviceUID\":1,\"productID\":\"12x\",\"beginTime\":1700000000000},"
        "{\"serviceUID\":1,\"productID\":2,\"beginTime\":5},"
        "{\"serviceUID\":1,\"productID\":2},"
        "7,"
        "{\"serviceUID\":2524,\"productID\":9,\"beginTime\":1700200000000}"
        "],\"totalItems\":8}}";
    mv_cloud_item_t it[8];
    int skipped, dropped;
    const char *why = NULL;

    CHECK_INT(cloud_list(ok, it, 8, &skipped, &dropped, &why), 3);
    CHECK_INT(skipped, 5);
    CHECK_INT(dropped, 0);
    CHECK_STR(it[0].channel, "1825");
    CHECK_STR(it[0].pid, "20637535");
    CHECK_INT(it[0].begin, 1700000000);
    CHECK_STR(it[1].channel, "4455");
    CHECK_STR(it[1].pid, "123");
    CHECK_INT(it[1].begin, 1700100000);
    CHECK_STR(it[2].channel, "2524");
    /* more than max: counted, not written */
    CHECK_INT(cloud_list(ok, it, 2, &skipped, &dropped, &why), 2);
    CHECK_INT(dropped, 1);
    /* an empty list is a list */
    CHECK_INT(cloud_list("{\"resultCode\":0,\"resultData\":{\"result\":[]}}", it, 8, &skipped,
                         &dropped, &why), 0);
    /* not a list reply */
    CHECK_INT(cloud_list("", it, 8, &skipped, &dropped, &why), -1);
    CHECK_STR(why, "not JSON");
    CHECK_INT(cloud_list("[1,2]", it, 8, &skipped, &dropped, &why), -1);
    CHECK_STR(why, "not a JSON object");
    CHECK_INT(cloud_list("{\"resultCode\":-1,\"resultText\":\"x\",\"resultData\":null}", it, 8,
                         &skipped, &dropped, &why), -1);
    CHECK_STR(why, "the appserver answered with an error");
    CHECK_INT(cloud_list("{\"resultCode\":0,\"resultData\":{}}", it, 8, &skipped, &dropped, &why),
              -1);
    CHECK_STR(why, "no result list");
    CHECK_INT(cloud_list("{\"resultCode\":0,\"resultData\":{\"result\":{}}}", it, 8, &skipped,
                         &dropped, &why), -1);
}

static void
test_cloud_data(void)
{
    static const char ok[] =
        "{\"resultCode\":0,\"resultText\":\"\",\"resultData\":{"
        "\"url\":\"rtsp://10.0.0.1:554/1825/20637535?type=npvr&token=ab\","
        "\"duration\":3000,\"beginTime\":1700000000000,\"endTime\":1700003000000,"
        "\"channelName\":\"La 1\",\"name\":\"El Cine de La 1: &iquest;Qu&eacute;?\","
        "\"ageRatingID\":4,\"theme\":\"Cine\",\"seriesID\":0,\"seriesName\":\"\","
        "\"season\":0,\"episode\":0}}";
    static const char series[] =
        "{\"resultCode\":0,\"resultData\":{\"url\":\"rtsp://h/1\",\"name\":\"Ep 5\","
        "\"seriesName\":\"Serie &amp; co\",\"season\":\"2\",\"episode\":5,\"ageRatingID\":99,"
        "\"duration\":-4,\"beginTime\":\"soon\"}}";
    mv_cloud_rec_t r;
    char why[128];

    CHECK_INT(mv_cloud_data(ok, strlen(ok), &r, why, sizeof(why)), 0);
    CHECK_STR(r.url, "rtsp://10.0.0.1:554/1825/20637535?type=npvr&token=ab");
    CHECK_INT(r.start, 1700000000);
    CHECK_INT(r.stop, 1700003000);
    CHECK_INT(r.duration, 3000);
    CHECK_STR(r.title, "El Cine de La 1: \xc2\xbfQu\xc3\xa9?");
    CHECK_STR(r.series, "");
    CHECK_STR(r.genre, "Cine");
    CHECK_INT(r.age, 12);
    CHECK_INT(r.season, 0);

    CHECK_INT(mv_cloud_data(series, strlen(series), &r, why, sizeof(why)), 0);
    CHECK_STR(r.series, "Serie & co");
    CHECK_INT(r.season, 2);
    CHECK_INT(r.episode, 5);
    CHECK_INT(r.age, 0);      /* index out of the table */
    CHECK_INT(r.duration, 0); /* not plausible */
    CHECK_INT(r.start, 0);

    /* refusals say why, in the appserver's words when it gave some */
    static const char refused[] = "{\"resultCode\":-1,\"resultText\":\"No existe la "
                                  "grabaci&oacute;n\",\"resultData\":null}";
    CHECK_INT(mv_cloud_data(refused, strlen(refused), &r, why, sizeof(why)), -1);
    CHECK_STR(why, "No existe la grabaci\xc3\xb3n");
    static const char nourl[] = "{\"resultCode\":0,\"resultData\":{\"url\":\"http://x/\"}}";
    CHECK_INT(mv_cloud_data(nourl, strlen(nourl), &r, why, sizeof(why)), -1);
    CHECK_STR(why, "no rtsp:// URL");
    CHECK_INT(mv_cloud_data("{", 1, &r, why, sizeof(why)), -1);
    CHECK_STR(why, "not JSON");
    /* a short reason buffer truncates, never overflows */
    CHECK_INT(mv_cloud_data(refused, strlen(refused), &r, why, 8), -1);
    CHECK_STR(why, "No exis");
}

int
main(void)
{
    static const sg_test_case_t cases[] = {
        {"sds_provider", test_sds_provider},
        {"sds_provider_odd", test_sds_provider_odd},
        {"sds_services", test_sds_services},
        {"sds_services_odd", test_sds_services_odd},
        {"sds_packages", test_sds_packages},
        {"sds_packages_order", test_sds_packages_order},
        {"sds_epg_days", test_sds_epg_days},
        {"sds_epg_days_bin", test_sds_epg_days_bin},
        {"sds_errors", test_sds_errors},
        {"stp_crc", test_stp_crc},
        {"stp_parse", test_stp_parse},
        {"stp_in_order", test_stp_in_order},
        {"stp_shuffled", test_stp_shuffled},
        {"stp_missing", test_stp_missing},
        {"stp_duplicates", test_stp_duplicates},
        {"stp_interleaved", test_stp_interleaved},
        {"stp_version_change", test_stp_version_change},
        {"stp_crc_error", test_stp_crc_error},
        {"stp_provider_private", test_stp_provider_private},
        {"stp_refused", test_stp_refused},
        {"stp_memory_bound", test_stp_memory_bound},
        {"stp_open_cap", test_stp_open_cap},
        {"epg_parse", test_epg_parse},
        {"epg_truncated", test_epg_truncated},
        {"epg_decode", test_epg_decode},
        {"cloud_list", test_cloud_list},
        {"cloud_data", test_cloud_data},
        {NULL, NULL},
    };
    return sg_test_run(cases);
}
