/*
 * libFuzzer target: the URL and address helpers a request's bytes reach:
 * percent-decoding, query lookups, UTF-8 cleaning, host:port and CIDR.
 */
#include <arpa/inet.h>
#undef NDEBUG /* the checks below are the point, in any build type */
#include <assert.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "stream/sg_source.h"
#include "util/sg_cidr.h"
#include "util/sg_util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
fuzz_decode(const uint8_t *data, size_t size)
{
    size_t caps[3] = {size + 1, size / 2 + 1, 1};
    for (int k = 0; k < 3; k++) {
        char *dst = malloc(caps[k]);
        if (dst == NULL) return;
        for (int plus = 0; plus < 2; plus++) {
            ssize_t n = sg_url_decode(dst, caps[k], (const char *)data, size, plus);
            assert(n >= -1 && (n < 0 || ((size_t)n < caps[k] && (size_t)n <= size)));
            if (n >= 0) assert(dst[n] == '\0');
        }
        free(dst);
    }
}

static void
fuzz_query(const char *s)
{
    static const char *const names[] = {"utc", "lutc", "playseek", "token", "a", ""};
    char v[64];
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        ssize_t n = sg_query_get(s, names[i], v, sizeof(v));
        assert(n >= -1 && n < (ssize_t)sizeof(v));
        if (n >= 0) assert(v[n] == '\0');
    }
}

static void
fuzz_utf8(const char *s)
{
    size_t len = strlen(s);
    char *dst = malloc(3 * len + 1);
    size_t n;
    if (dst == NULL) return;
    n = sg_utf8_clean(dst, s);
    assert(n <= 3 * len && dst[n] == '\0' && strlen(dst) == n);
    /* cleaning yields clean text, and clean text is left alone */
    assert(sg_utf8_is_clean(dst));
    if (sg_utf8_is_clean(s)) assert(n == len && memcmp(dst, s, len) == 0);
    free(dst);
}

static void
fuzz_addr(const char *s)
{
    struct sockaddr_storage ss;
    unsigned sslen = 0;
    sg_cidr_t c;

    if (sg_parse_hostport(s, &ss, &sslen) == 0) {
        assert((ss.ss_family == AF_INET && sslen == sizeof(struct sockaddr_in)) ||
               (ss.ss_family == AF_INET6 && sslen == sizeof(struct sockaddr_in6)));
    }
    if (sg_cidr_parse(s, &c) == 0) {
        struct sockaddr_storage net;
        memset(&net, 0, sizeof(net));
        assert(c.family == AF_INET ? c.prefix <= 32 : c.family == AF_INET6 && c.prefix <= 128);
        /* the network address itself is inside the network */
        if (c.family == AF_INET) {
            struct sockaddr_in *in = (struct sockaddr_in *)&net;
            in->sin_family = AF_INET;
            memcpy(&in->sin_addr, c.addr, 4);
        } else {
            struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)&net;
            in6->sin6_family = AF_INET6;
            memcpy(&in6->sin6_addr, c.addr, 16);
        }
        assert(sg_cidr_match(&c, (const struct sockaddr *)&net) == 1);
        assert(sg_cidr_list_match(&c, 1, (const struct sockaddr *)&net) == 1);
        if (ss.ss_family == AF_INET || ss.ss_family == AF_INET6) {
            (void)sg_cidr_match(&c, (const struct sockaddr *)&ss);
        }
    }
}

/* Source addresses: plugin URLs and udpxy path tails. A parsed address
 * has a canonical key that parses back to the same key. */
static void
fuzz_source(const char *s)
{
    sg_source_addr_t a, b;
    const char *why = NULL;
    if (sg_source_parse_udpxy(s, &a, &why) == 0) {
        assert(strncmp(a.key, "udp://", 6) == 0);
        assert(sg_source_parse_url(a.key, &b, &why) == 0 || strchr(a.key, '%'));
    } else {
        assert(why != NULL);
    }
    why = NULL;
    if (sg_source_parse_url(s, &a, &why) == 0) {
        assert(a.glen > 0);
        if (a.has_src) assert(a.multicast);
    } else {
        assert(why != NULL);
    }
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *s = malloc(size + 1);
    int64_t v;

    if (s == NULL) return 0;
    memcpy(s, data, size);
    s[size] = '\0';

    fuzz_decode(data, size);
    fuzz_query(s);
    fuzz_utf8(s);
    fuzz_addr(s);
    fuzz_source(s);
    (void)sg_is_safe_id(s);
    (void)sg_parse_int64((const char *)data, size, &v);
    assert(sg_edit_distance(s, "listen") <= 100);
    assert(sg_secure_streq(s, s));
    free(s);
    return 0;
}
