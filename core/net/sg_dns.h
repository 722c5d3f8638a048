/*
 * A small asynchronous DNS client for the HTTP client: resolves a host
 * name's IPv4 address through one given server (an IPTV network's own DNS,
 * which the system resolver does not know), on the event loop. Queries are
 * built by libc's res_mkquery and answers read by libresolv's ns_parse
 * functions; sg_dns_parse_a() is the pure, fuzzed part.
 */
#ifndef SG_DNS_H
#define SG_DNS_H

#include <stddef.h>
#include <stdint.h>

struct event_base;
typedef struct sg_dns_s sg_dns_t;
typedef struct sg_dns_q_s sg_dns_q_t;

/* addr is the dotted address, or NULL with why set. */
typedef void (*sg_dns_pt)(void *arg, const char *addr, const char *why);

sg_dns_t *sg_dns_new(struct event_base *base);
void sg_dns_free(sg_dns_t *d);

/* "ip" or "ip:port" (default 53). 0, or -1 when it is neither. */
int sg_dns_server_check(const char *server);

/* A cached answer for name from server (within its TTL) into addr. 1 when
 * there is one. */
int sg_dns_cached(sg_dns_t *d, const char *server, const char *name, char *addr, size_t len);

/* Ask server for name's A record: 2 s per try, 3 tries. cb runs once, on a
 * later loop turn, unless cancelled. NULL when the query cannot even start
 * (why set). */
sg_dns_q_t *sg_dns_resolve(sg_dns_t *d, const char *server, const char *name, sg_dns_pt cb,
                           void *arg, const char **why);
void sg_dns_cancel(sg_dns_q_t *q);

/* The first A record of a reply to query id, and its TTL. 0, or -1 with why
 * ("no such name", "no address", "server failure", "malformed answer"). */
int sg_dns_parse_a(const uint8_t *msg, size_t len, uint16_t id, char *addr, size_t addrlen,
                   uint32_t *ttl, const char **why);

#endif
