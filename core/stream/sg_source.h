/*
 * Source addresses: where a live hub reads its datagrams from.
 *
 * One grammar serves plugins (host->session_source) and the udpxy routes:
 *
 *   udp://[SRC@]GROUP:PORT[?iface=NAME|ADDR]     rtp://... the same
 *   udp://@GROUP:PORT                            (VLC's form, no source)
 *   udp://ADDR:PORT  udp://@:PORT                unicast: bind there
 *   [SRC@]GROUP<sep>PORT                         udpxy path tail; sep one
 *                                                of : % ~ + - ^
 *
 * IPv6 groups go in brackets. The payload framing (raw TS or RTP) is
 * detected from the datagrams, so udp:// and rtp:// name the same source
 * and share one hub.
 */
#ifndef SG_SOURCE_H
#define SG_SOURCE_H

#include <net/if.h>
#include <sys/socket.h>

typedef struct sg_source_addr_s {
    struct sockaddr_storage group; /* group (or local unicast address) + port */
    socklen_t glen;
    struct sockaddr_storage src;   /* source-specific join                     */
    int has_src;
    int multicast;
    char iface[IF_NAMESIZE + 48];  /* name or address; "" = default           */
    char key[160];                 /* canonical: "udp://[src@]group:port[%iface]" */
} sg_source_addr_t;

/* A source URL (udp:// or rtp://). 0, or -1 with why set. */
int sg_source_parse_url(const char *url, sg_source_addr_t *out, const char **why);
/* A udpxy path tail ("239.1.1.1:5000", "10.0.0.1@239.1.1.1%5000"). */
int sg_source_parse_udpxy(const char *tail, sg_source_addr_t *out, const char **why);
/* Fill out->key from the other fields (after changing iface). */
void sg_source_key(sg_source_addr_t *a);

/* A non-blocking UDP socket bound to a's group (or unicast address) and,
 * for a multicast group, joined on a->iface (MCAST_JOIN_(SOURCE_)GROUP,
 * IP_MULTICAST_ALL off so only this group arrives). rcvbuf: bytes, 0 =
 * system default. The fd, or -1 with why set. */
int sg_source_open(const sg_source_addr_t *a, int rcvbuf, const char **why);
/* Join (1) or leave (0) a's group on fd again (periodic re-join). */
int sg_source_join(int fd, const sg_source_addr_t *a, int join, const char **why);

#endif
