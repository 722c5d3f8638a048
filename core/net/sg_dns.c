#include "sg_dns.h"

#include <arpa/inet.h>
#include <arpa/nameser.h>
#include <errno.h>
#include <event2/event.h>
#include <netinet/in.h>
#include <resolv.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define SG_DNS_TRIES 3
#define SG_DNS_TRY_MS 2000
#define SG_DNS_CACHE 64

typedef struct sg_dns_entry_s {
    char server[64];
    char name[256];
    char addr[INET_ADDRSTRLEN];
    time_t expires;
} sg_dns_entry_t;

struct sg_dns_q_s {
    sg_dns_t *d;
    int fd;
    struct event *ev;
    uint8_t query[512];
    int qlen;
    uint16_t id;
    int tries;
    char server[64];
    char name[256];
    sg_dns_pt cb;
    void *arg;
};

struct sg_dns_s {
    struct event_base *base;
    sg_dns_entry_t cache[SG_DNS_CACHE];
    unsigned next;
};

static int
sg_dns_sockaddr(const char *server, struct sockaddr_in *sa)
{
    char ip[64];
    const char *colon = strchr(server, ':');
    size_t n = colon ? (size_t)(colon - server) : strlen(server);
    long port = 53;

    if (n == 0 || n >= sizeof(ip)) return -1;
    memcpy(ip, server, n);
    ip[n] = '\0';
    if (colon) {
        char *end;
        port = strtol(colon + 1, &end, 10);
        if (*end || port <= 0 || port > 65535) return -1;
    }
    memset(sa, 0, sizeof(*sa));
    sa->sin_family = AF_INET;
    sa->sin_port = htons((uint16_t)port);
    return inet_pton(AF_INET, ip, &sa->sin_addr) == 1 ? 0 : -1;
}

int
sg_dns_server_check(const char *server)
{
    struct sockaddr_in sa;
    return sg_dns_sockaddr(server, &sa);
}

int
sg_dns_parse_a(const uint8_t *msg, size_t len, uint16_t id, char *addr, size_t addrlen,
               uint32_t *ttl, const char **why)
{
    ns_msg m;
    ns_rr rr;
    int n;

    if (len < NS_HFIXEDSZ || len > 65535 || ns_initparse(msg, (int)len, &m) != 0) {
        *why = "malformed answer";
        return -1;
    }
    if (ns_msg_id(m) != id || !ns_msg_getflag(m, ns_f_qr)) {
        *why = "not the answer to our query";
        return -1;
    }
    switch (ns_msg_getflag(m, ns_f_rcode)) {
    case ns_r_noerror: break;
    case ns_r_nxdomain: *why = "no such name"; return -1;
    case ns_r_servfail: *why = "server failure"; return -1;
    default: *why = "query refused"; return -1;
    }
    n = ns_msg_count(m, ns_s_an);
    for (int i = 0; i < n; i++) {
        if (ns_parserr(&m, ns_s_an, i, &rr) != 0) {
            *why = "malformed answer";
            return -1;
        }
        if (ns_rr_type(rr) == ns_t_a && ns_rr_class(rr) == ns_c_in && ns_rr_rdlen(rr) == 4) {
            if (inet_ntop(AF_INET, ns_rr_rdata(rr), addr, (socklen_t)addrlen) == NULL) {
                *why = "address buffer too small";
                return -1;
            }
            *ttl = ns_rr_ttl(rr);
            return 0;
        }
    }
    *why = "no address";
    return -1;
}

int
sg_dns_cached(sg_dns_t *d, const char *server, const char *name, char *addr, size_t len)
{
    time_t now = time(NULL);
    for (unsigned i = 0; i < SG_DNS_CACHE; i++) {
        const sg_dns_entry_t *e = &d->cache[i];
        if (e->expires > now && strcmp(e->server, server) == 0 && strcasecmp(e->name, name) == 0) {
            snprintf(addr, len, "%s", e->addr);
            return 1;
        }
    }
    return 0;
}

static void
sg_dns_remember(sg_dns_t *d, const char *server, const char *name, const char *addr, uint32_t ttl)
{
    sg_dns_entry_t *e = &d->cache[d->next++ % SG_DNS_CACHE];
    /* at least a minute (a zero TTL would mean a query per request), at
     * most an hour */
    if (ttl < 60) ttl = 60;
    if (ttl > 3600) ttl = 3600;
    snprintf(e->server, sizeof(e->server), "%s", server);
    snprintf(e->name, sizeof(e->name), "%s", name);
    snprintf(e->addr, sizeof(e->addr), "%s", addr);
    e->expires = time(NULL) + (time_t)ttl;
}

static void
sg_dns_q_free(sg_dns_q_t *q)
{
    if (q->ev) event_free(q->ev);
    if (q->fd >= 0) close(q->fd);
    free(q);
}

static void
sg_dns_finish(sg_dns_q_t *q, const char *addr, const char *why)
{
    sg_dns_pt cb = q->cb;
    void *arg = q->arg;
    sg_dns_q_free(q);
    cb(arg, addr, why);
}

static int
sg_dns_send(sg_dns_q_t *q)
{
    struct timeval tv = {SG_DNS_TRY_MS / 1000, (SG_DNS_TRY_MS % 1000) * 1000};
    q->tries++;
    if (send(q->fd, q->query, (size_t)q->qlen, 0) != q->qlen) return -1;
    return event_add(q->ev, &tv);
}

static void
sg_dns_event_cb(evutil_socket_t fd, short what, void *arg)
{
    sg_dns_q_t *q = arg;
    uint8_t buf[4096];
    char addr[INET_ADDRSTRLEN];
    uint32_t ttl;
    const char *why = NULL;
    ssize_t n;

    if (what & EV_TIMEOUT) {
        if (q->tries < SG_DNS_TRIES && sg_dns_send(q) == 0) return;
        sg_dns_finish(q, NULL, "no answer");
        return;
    }
    n = recv(fd, buf, sizeof(buf), 0);
    if (n < 0) {
        if (errno == EAGAIN || errno == EINTR) return;
        /* ICMP port unreachable comes back as ECONNREFUSED */
        sg_dns_finish(q, NULL, strerror(errno));
        return;
    }
    if (sg_dns_parse_a(buf, (size_t)n, q->id, addr, sizeof(addr), &ttl, &why) != 0) {
        if (strcmp(why, "not the answer to our query") == 0) return; /* keep waiting */
        sg_dns_finish(q, NULL, why);
        return;
    }
    sg_dns_remember(q->d, q->server, q->name, addr, ttl);
    sg_dns_finish(q, addr, NULL);
}

sg_dns_q_t *
sg_dns_resolve(sg_dns_t *d, const char *server, const char *name, sg_dns_pt cb, void *arg,
               const char **why)
{
    struct sockaddr_in sa;
    sg_dns_q_t *q;

    if (sg_dns_sockaddr(server, &sa) != 0) {
        *why = "the DNS server is not ip[:port]";
        return NULL;
    }
    if (strlen(name) >= sizeof(q->name) || strlen(server) >= sizeof(q->server)) {
        *why = "name too long";
        return NULL;
    }
    q = calloc(1, sizeof(*q));
    if (q == NULL) {
        *why = "out of memory";
        return NULL;
    }
    q->d = d;
    q->cb = cb;
    q->arg = arg;
    q->fd = -1;
    snprintf(q->server, sizeof(q->server), "%s", server);
    snprintf(q->name, sizeof(q->name), "%s", name);
    q->qlen = res_mkquery(ns_o_query, name, ns_c_in, ns_t_a, NULL, 0, NULL, q->query,
                          (int)sizeof(q->query));
    if (q->qlen < NS_HFIXEDSZ) {
        *why = "cannot build the query";
        sg_dns_q_free(q);
        return NULL;
    }
    q->id = (uint16_t)((q->query[0] << 8) | q->query[1]);
    q->fd = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    /* connect(): the kernel drops datagrams from anyone but the server */
    if (q->fd < 0 || connect(q->fd, (struct sockaddr *)&sa, sizeof(sa)) != 0 ||
        (q->ev = event_new(d->base, q->fd, EV_READ | EV_PERSIST, sg_dns_event_cb, q)) == NULL ||
        sg_dns_send(q) != 0) {
        *why = strerror(errno ? errno : EIO);
        sg_dns_q_free(q);
        return NULL;
    }
    return q;
}

void
sg_dns_cancel(sg_dns_q_t *q)
{
    if (q) sg_dns_q_free(q);
}

sg_dns_t *
sg_dns_new(struct event_base *base)
{
    sg_dns_t *d = calloc(1, sizeof(*d));
    if (d) d->base = base;
    return d;
}

void
sg_dns_free(sg_dns_t *d)
{
    free(d);
}
