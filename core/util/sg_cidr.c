#include "sg_cidr.h"

#include <arpa/inet.h>
#include <stdlib.h>
#include <string.h>

#include "sg_util.h"

int
sg_cidr_parse(const char *s, sg_cidr_t *out)
{
    char host[64];
    const char *slash = strchr(s, '/');
    size_t hlen = slash ? (size_t)(slash - s) : strlen(s);
    int64_t bits;
    unsigned max;

    if (hlen == 0 || hlen >= sizeof(host)) return -1;
    memcpy(host, s, hlen);
    host[hlen] = '\0';
    memset(out, 0, sizeof(*out));
    if (inet_pton(AF_INET, host, out->addr) == 1) {
        out->family = AF_INET;
        max = 32;
    } else if (inet_pton(AF_INET6, host, out->addr) == 1) {
        out->family = AF_INET6;
        max = 128;
    } else {
        return -1;
    }
    if (slash) {
        if (sg_parse_int64(slash + 1, strlen(slash + 1), &bits) != 0 || bits < 0 ||
            bits > (int64_t)max) {
            return -1;
        }
        out->prefix = (unsigned)bits;
    } else {
        out->prefix = max;
    }
    /* No host bits beyond the prefix: "10.0.0.1/8" is a typo, not a net. */
    for (unsigned b = out->prefix; b < max; b++) {
        if (out->addr[b / 8] & (0x80u >> (b % 8))) return -1;
    }
    return 0;
}

static int
sg_cidr_bits_match(const uint8_t *a, const uint8_t *net, unsigned prefix)
{
    unsigned full = prefix / 8, rest = prefix % 8;
    if (memcmp(a, net, full) != 0) return 0;
    if (rest == 0) return 1;
    uint8_t mask = (uint8_t)(0xffu << (8 - rest));
    return (a[full] & mask) == (net[full] & mask);
}

int
sg_cidr_match(const sg_cidr_t *c, const struct sockaddr *sa)
{
    static const uint8_t v4mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};

    if (sa->sa_family == AF_INET) {
        const struct sockaddr_in *in = (const struct sockaddr_in *)sa;
        if (c->family != AF_INET) return 0;
        return sg_cidr_bits_match((const uint8_t *)&in->sin_addr, c->addr, c->prefix);
    }
    if (sa->sa_family == AF_INET6) {
        const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)sa;
        const uint8_t *a = (const uint8_t *)&in6->sin6_addr;
        if (c->family == AF_INET6) return sg_cidr_bits_match(a, c->addr, c->prefix);
        if (memcmp(a, v4mapped, 12) == 0) return sg_cidr_bits_match(a + 12, c->addr, c->prefix);
    }
    return 0;
}

int
sg_cidr_list_match(const sg_cidr_t *list, int n, const struct sockaddr *sa)
{
    for (int i = 0; i < n; i++) {
        if (sg_cidr_match(&list[i], sa)) return 1;
    }
    return 0;
}
