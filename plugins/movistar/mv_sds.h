/*
 * SD&S XML (ETSI TS 102 034 §5.2, namespace urn:dvb:ipisdns:2006) as
 * Movistar carousels it: 1_0 ServiceProviderDiscovery, 2_0
 * BroadcastDiscovery, 5_0 PackageDiscovery, 6_0 BCGDiscovery. Read with
 * libxml2 by element and attribute names (never by child position), every
 * cross-reference guarded. Pure: no I/O, fuzzed (tests/fuzz/fuzz_sds.c).
 *
 * Every function returns 0 on success or -1 with a one-line reason in err
 * (e.g. "2_0: not XML: line 3: ..." or "1_0: no ServiceProvider for
 * DEM_19"). Results are malloc'ed; free them with the matching *_free.
 */
#ifndef MV_SDS_H
#define MV_SDS_H

#include <stddef.h>
#include <stdint.h>

/* 1_0: the Push Address/Port of the ServiceProvider whose DomainName is
 * "DEM_<demarcation>.<anything>". addr gets the dotted address. */
int mv_sds_provider(const char *xml, size_t len, int demarcation, char *addr, size_t addrlen,
                    int *port, char *err, size_t errlen);

typedef struct mv_service_s {
    char *id;           /* TextualIdentifier@ServiceName, e.g. "58"        */
    char *name;         /* SI/Name, trimmed (spaces, dots, asterisks)       */
    char *short_name;   /* SI/ShortName, may be NULL                        */
    char *logo_uri;     /* TextualIdentifier@logoURI, may be NULL           */
    char *genre;        /* SI/Genre/Name text, may be NULL                  */
    char *replacement;  /* SI/ReplacementService/TextualIdentifier@ServiceName,
                           NULL when absent                                 */
    char addr[48];      /* IPMulticastAddress@Address; "" when the service
                           has no location (such services are still listed) */
    int port;           /* IPMulticastAddress@Port, 0 when none             */
    int service_type;   /* SI@ServiceType, 0 when absent                    */
    int lcn;            /* set by mv_sds_packages: -1 = not subscribed      */
} mv_service_t;

typedef struct mv_services_s {
    mv_service_t *v;
    size_t n;
} mv_services_t;

/* 2_0: every SingleService, in document order. A service without
 * ServiceName is skipped; duplicate ServiceNames keep the first. */
int mv_sds_services(const char *xml, size_t len, mv_services_t *out, char *err, size_t errlen);
void mv_sds_services_free(mv_services_t *s);
/* The service with this id, or NULL. */
mv_service_t *mv_sds_service(const mv_services_t *s, const char *id);

/* 5_0: sets lcn of every service in s that belongs to a subscribed package
 * (packages is "NAME|NAME|..." as getClientProfile's tvPackages, or "ALL").
 * Package names absent from 5_0 are ignored; a service listed by several
 * subscribed packages takes the LCN of the last one in document order;
 * services of s not subscribed get lcn -1. Returns 0, or -1 with err when
 * the XML cannot be read. *matched (may be NULL) gets how many of the
 * subscribed package names 5_0 knows. */
int mv_sds_packages(const char *xml, size_t len, const char *packages, mv_services_t *s,
                    int *matched, char *err, size_t errlen);

typedef struct mv_epg_day_s {
    int day;            /* N of Source="EPG_N[_BIN].<domain>"              */
    char addr[48];      /* Address                                           */
    int port;
    size_t nsegments;   /* PayloadId Id="0xF1" Segment entries              */
    uint16_t *segments; /* Segment@ID                                        */
    uint8_t *versions;  /* Segment@Version                                   */
} mv_epg_day_t;

typedef struct mv_epg_days_s {
    mv_epg_day_t *v;    /* sorted by day                                     */
    size_t n;
} mv_epg_days_t;

/* 6_0: the DVBSTP / DVBBINSTP entries of the BCG whose Id is "EPG" (not the
 * p_f one), sorted by day. */
int mv_sds_epg_days(const char *xml, size_t len, mv_epg_days_t *out, char *err, size_t errlen);
void mv_sds_epg_days_free(mv_epg_days_t *d);

#endif
