#include "sg_source.h"

#include <arpa/inet.h>
#include <errno.h>
#include <ifaddrs.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "util/sg_util.h"

static int
sg_source_ip(const char *s, size_t n, struct sockaddr_storage *ss, socklen_t *len)
{
    char host[64];
    if (n >= sizeof(host)) return -1;
    memcpy(host, s, n);
    host[n] = '\0';
    memset(ss, 0, sizeof(*ss));
    if (n >= 2 && host[0] == '[' && host[n - 1] == ']') {
        struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)ss;
        host[n - 1] = '\0';
        if (inet_pton(AF_INET6, host + 1, &in6->sin6_addr) != 1) return -1;
        in6->sin6_family = AF_INET6;
        *len = sizeof(*in6);
        return 0;
    }
    {
        struct sockaddr_in *in = (struct sockaddr_in *)ss;
        if (n == 0) {
            in->sin_addr.s_addr = htonl(INADDR_ANY);
        } else if (inet_pton(AF_INET, host, &in->sin_addr) != 1) {
            return -1;
        }
        in->sin_family = AF_INET;
        *len = sizeof(*in);
    }
    return 0;
}

static int
sg_source_is_multicast(const struct sockaddr_storage *ss)
{
    if (ss->ss_family == AF_INET) {
        return IN_MULTICAST(ntohl(((const struct sockaddr_in *)ss)->sin_addr.s_addr));
    }
    return IN6_IS_ADDR_MULTICAST(&((const struct sockaddr_in6 *)ss)->sin6_addr);
}

static void
sg_source_ipstr(const struct sockaddr_storage *ss, char *buf, size_t n)
{
    char a[INET6_ADDRSTRLEN];
    if (ss->ss_family == AF_INET6) {
        inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)ss)->sin6_addr, a, sizeof(a));
        snprintf(buf, n, "[%s]", a);
    } else {
        inet_ntop(AF_INET, &((const struct sockaddr_in *)ss)->sin_addr, a, sizeof(a));
        snprintf(buf, n, "%s", a);
    }
}

void
sg_source_key(sg_source_addr_t *a)
{
    char g[INET6_ADDRSTRLEN + 3], s[INET6_ADDRSTRLEN + 3] = "";
    unsigned port = ntohs(((struct sockaddr_in *)&a->group)->sin_port);
    if (a->group.ss_family == AF_INET6) port = ntohs(((struct sockaddr_in6 *)&a->group)->sin6_port);
    sg_source_ipstr(&a->group, g, sizeof(g));
    if (a->has_src) sg_source_ipstr(&a->src, s, sizeof(s));
    snprintf(a->key, sizeof(a->key), "udp://%s%s%s:%u%s%s", s, a->has_src ? "@" : "", g, port,
             a->iface[0] ? "%" : "", a->iface);
}

/* "[SRC@]GROUP<sep>PORT" up to end; seps: the characters that may separate
 * group and port. */
static int
sg_source_parse_addr(const char *s, const char *end, const char *seps, sg_source_addr_t *out,
                     const char **why)
{
    const char *at, *sep = NULL, *p;
    int64_t port;
    socklen_t slen;

    at = memchr(s, '@', (size_t)(end - s));
    if (at) {
        if (at > s) {
            if (sg_source_ip(s, (size_t)(at - s), &out->src, &slen) != 0) {
                *why = "bad source address";
                return -1;
            }
            out->has_src = 1;
        }
        s = at + 1;
    }
    /* The separator is the last one of seps after any bracketed address. */
    p = s;
    if (*p == '[') {
        p = memchr(p, ']', (size_t)(end - p));
        if (p == NULL) {
            *why = "unterminated [IPv6] group";
            return -1;
        }
    }
    for (; p < end; p++) {
        if (strchr(seps, *p)) sep = p;
    }
    if (sep == NULL) {
        *why = "missing :port";
        return -1;
    }
    if (sg_parse_int64(sep + 1, (size_t)(end - sep - 1), &port) != 0 || port < 1 || port > 65535) {
        *why = "bad port";
        return -1;
    }
    if (sg_source_ip(s, (size_t)(sep - s), &out->group, &out->glen) != 0) {
        *why = "bad group address";
        return -1;
    }
    if (out->group.ss_family == AF_INET6) {
        ((struct sockaddr_in6 *)&out->group)->sin6_port = htons((uint16_t)port);
    } else {
        ((struct sockaddr_in *)&out->group)->sin_port = htons((uint16_t)port);
    }
    if (out->has_src && out->src.ss_family != out->group.ss_family) {
        *why = "source and group are different address families";
        return -1;
    }
    out->multicast = sg_source_is_multicast(&out->group);
    if (out->has_src && !out->multicast) {
        *why = "a source address needs a multicast group";
        return -1;
    }
    return 0;
}

int
sg_source_parse_url(const char *url, sg_source_addr_t *out, const char **why)
{
    const char *s, *end, *q;

    memset(out, 0, sizeof(*out));
    if (strncmp(url, "udp://", 6) == 0 || strncmp(url, "rtp://", 6) == 0) {
        s = url + 6;
    } else {
        *why = "not a udp:// or rtp:// URL";
        return -1;
    }
    q = strchr(s, '?');
    end = q ? q : s + strlen(s);
    if (sg_source_parse_addr(s, end, ":", out, why) != 0) return -1;
    if (q) {
        /* Only iface= is understood; anything else is an error, not ignored. */
        const char *v = q + 1;
        if (strncmp(v, "iface=", 6) != 0 || strchr(v, '&')) {
            *why = "unknown source option (only ?iface=)";
            return -1;
        }
        v += 6;
        if (strlen(v) >= sizeof(out->iface) || v[0] == '\0') {
            *why = "bad iface";
            return -1;
        }
        snprintf(out->iface, sizeof(out->iface), "%s", v);
    }
    sg_source_key(out);
    return 0;
}

int
sg_source_parse_udpxy(const char *tail, sg_source_addr_t *out, const char **why)
{
    const char *end = tail + strlen(tail);
    memset(out, 0, sizeof(*out));
    if (end > tail && end[-1] == '/') end--; /* "/udp/G:P/" */
    if (sg_source_parse_addr(tail, end, ":%~+-^", out, why) != 0) return -1;
    sg_source_key(out);
    return 0;
}

/* ---- sockets ------------------------------------------------------------------------------ */

static unsigned
sg_source_ifindex(const char *iface, const char **why)
{
    struct ifaddrs *ifa, *i;
    struct in_addr a4;
    struct in6_addr a6;
    unsigned idx = 0;
    int v4;

    if (iface[0] == '\0') return 0;
    v4 = inet_pton(AF_INET, iface, &a4) == 1;
    if (!v4 && inet_pton(AF_INET6, iface, &a6) != 1) {
        idx = if_nametoindex(iface);
        if (idx == 0) *why = "no such network interface";
        return idx;
    }
    if (getifaddrs(&ifa) != 0) {
        *why = "cannot list network interfaces";
        return 0;
    }
    for (i = ifa; i && idx == 0; i = i->ifa_next) {
        if (i->ifa_addr == NULL) continue;
        if (v4 && i->ifa_addr->sa_family == AF_INET &&
            ((struct sockaddr_in *)i->ifa_addr)->sin_addr.s_addr == a4.s_addr) {
            idx = if_nametoindex(i->ifa_name);
        } else if (!v4 && i->ifa_addr->sa_family == AF_INET6 &&
                   memcmp(&((struct sockaddr_in6 *)i->ifa_addr)->sin6_addr, &a6, sizeof(a6)) == 0) {
            idx = if_nametoindex(i->ifa_name);
        }
    }
    freeifaddrs(ifa);
    if (idx == 0) *why = "no interface has that address";
    return idx;
}

int
sg_source_join(int fd, const sg_source_addr_t *a, int join, const char **why)
{
    int level = a->group.ss_family == AF_INET6 ? IPPROTO_IPV6 : IPPROTO_IP;
    unsigned idx = sg_source_ifindex(a->iface, why);

    if (idx == 0 && a->iface[0]) return -1;
    if (a->has_src) {
        struct group_source_req gsr;
        memset(&gsr, 0, sizeof(gsr));
        gsr.gsr_interface = idx;
        memcpy(&gsr.gsr_group, &a->group, sizeof(a->group));
        memcpy(&gsr.gsr_source, &a->src, sizeof(a->src));
        if (setsockopt(fd, level, join ? MCAST_JOIN_SOURCE_GROUP : MCAST_LEAVE_SOURCE_GROUP,
                       &gsr, sizeof(gsr)) != 0) {
            *why = strerror(errno);
            return -1;
        }
    } else {
        struct group_req gr;
        memset(&gr, 0, sizeof(gr));
        gr.gr_interface = idx;
        memcpy(&gr.gr_group, &a->group, sizeof(a->group));
        if (setsockopt(fd, level, join ? MCAST_JOIN_GROUP : MCAST_LEAVE_GROUP, &gr, sizeof(gr)) !=
            0) {
            *why = strerror(errno);
            return -1;
        }
    }
    return 0;
}

int
sg_source_open(const sg_source_addr_t *a, int rcvbuf, const char **why)
{
    int one = 1, zero = 0, fd;

    fd = socket(a->group.ss_family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        *why = strerror(errno);
        return -1;
    }
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    /* Beyond rmem_max needs CAP_NET_ADMIN; fall back to what is allowed. */
    if (rcvbuf > 0 && setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &rcvbuf, sizeof(rcvbuf)) != 0) {
        setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof(rcvbuf));
    }
    if (a->multicast && a->group.ss_family == AF_INET) {
        /* Only this group's datagrams, even when others share the port. */
        setsockopt(fd, IPPROTO_IP, IP_MULTICAST_ALL, &zero, sizeof(zero));
    }
    if (bind(fd, (const struct sockaddr *)&a->group, a->glen) != 0) {
        *why = strerror(errno);
        close(fd);
        return -1;
    }
    if (a->multicast && sg_source_join(fd, a, 1, why) != 0) {
        close(fd);
        return -1;
    }
    return fd;
}

